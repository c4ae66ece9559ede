"""Raw report storage: bytes are kept first (compressed, with their sha256), parsed later.

Owns where raw bytes live: inline in the database (the default; PostgreSQL ``bytea`` or SQLite
blob) or in an object store behind :class:`ObjectStore` (a filesystem backend is provided; an
S3-style backend only has to implement the same three methods). Already-compressed inputs
(gzip, zip) are stored as they came; anything else is gzip-compressed.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol

from msp.extensions import db
from msp.reports.formats import MAGIC_GZIP, MAGIC_ZIP
from msp.reports.models import RawReport
from msp.reports.origin import Origin


class ObjectStore(Protocol):
    """Where raw bytes go when not in the database."""

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def delete(self, key: str) -> None: ...


class FilesystemStore:
    """Objects as files under ``root``, written atomically (temp file + rename)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if "/" in key.strip("/") or key.startswith(".") or not key:
            raise ValueError(f"invalid object key {key!r}")
        return self.root / key[:2] / key

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


def object_store_from_setting(value: str | None) -> ObjectStore | None:
    """``database`` (or empty): None, keep bytes inline; otherwise a directory path."""
    if not value or value == "database":
        return None
    return FilesystemStore(value.removeprefix("file://"))


def _encode(data: bytes) -> tuple[str, bytes]:
    if data.startswith((MAGIC_GZIP, MAGIC_ZIP)):
        return "none", data
    return "gzip", gzip.compress(data, compresslevel=6, mtime=0)


def store_raw(
    data: bytes,
    origin: Origin,
    *,
    object_store: ObjectStore | None = None,
    flush: bool = True,
) -> RawReport:
    """Keep one received file as a ``pending`` raw report (flushed unless told otherwise)."""
    digest = hashlib.sha256(data).hexdigest()
    codec, stored = _encode(data)
    recipient = origin.recipient
    raw = RawReport(
        tenant_id=origin.tenant_id,
        source=origin.source,
        filename=origin.filename[:255],
        recipient=(recipient or None) and recipient[:320].lower(),
        mailbox_id=origin.mailbox_id,
        mailbox_uid=origin.mailbox_uid,
        sha256=digest,
        size=len(data),
        codec=codec,
        status="pending",
    )
    if object_store is None:
        raw.content = stored
    else:
        raw.storage_key = f"{digest}.{codec}"
        object_store.put(raw.storage_key, stored)
    db.session.add(raw)
    if flush:
        db.session.flush()
    return raw


def load_raw(raw: RawReport, object_store: ObjectStore | None = None) -> bytes:
    """The original bytes of a raw report."""
    if raw.content is not None:
        stored = bytes(raw.content)
    elif raw.storage_key and object_store is not None:
        stored = object_store.get(raw.storage_key)
    else:
        raise LookupError(f"raw report {raw.id} has no stored bytes")
    return gzip.decompress(stored) if raw.codec == "gzip" else stored
