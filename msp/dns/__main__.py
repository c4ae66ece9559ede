"""``python -m msp.dns DOMAIN...``: the ``msp check`` command without the Flask CLI."""

from __future__ import annotations

from msp.dns.cli import check

if __name__ == "__main__":
    check(prog_name="python -m msp.dns")
