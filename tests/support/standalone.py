"""Runs ``msp standalone`` in a subprocess on a temp SQLite database (smoke and browser tests)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

# tests/web_domain imports the old private name.
from tests.support.net import free_port as _free_port


def run_standalone(
    tmp_path: Path, *extra: str, port: int | None = None
) -> Iterator[dict[str, Any]]:
    """``msp standalone`` on ``port`` (default: a free one) and a SQLite file in ``tmp_path``;
    yields its base URL, log file and process."""
    port = port or _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSP_")}
    env.update(MSP_DATABASE_URL=f"sqlite:///{tmp_path}/msp.sqlite3", MSP_SECURE_COOKIES="false")
    log = (tmp_path / "standalone.log").open("a")
    msp = Path(sys.executable).with_name("msp")
    proc = subprocess.Popen(
        [str(msp), "standalone", "--port", str(port), *extra],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((tmp_path / "standalone.log").read_text())
            time.sleep(0.2)
        yield {"base": base, "log": tmp_path / "standalone.log", "proc": proc, "port": port}
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(15)
        log.close()


def login(client: httpx.Client, base: str, email: str, password: str) -> httpx.Response:
    page = client.get(f"{base}/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, page
    return client.post(
        f"{base}/login", data={"csrf_token": token.group(1), "email": email, "password": password}
    )


def first_admin(log: Path) -> tuple[str, str]:
    match = re.search(r"First MSP admin: (\S+)\s+password: (\S+)", log.read_text())
    assert match, log.read_text()
    return match.group(1), match.group(2)
