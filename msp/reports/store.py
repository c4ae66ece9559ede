"""Raw report storage: bytes are kept first (compressed, with their sha256), parsed later.

Owns where raw bytes live: inline in the database (the default; PostgreSQL ``bytea`` or SQLite
blob) or in an object store behind :class:`ObjectStore` (a filesystem backend is provided; an
S3-style backend only has to implement the same three methods). Already-compressed inputs
(gzip, zip) are stored as they came; anything else is gzip-compressed. A file given by its path
is hashed and compressed while it is read in chunks, so only its compressed bytes are held;
:func:`open_raw` hands the stored bytes back as a stream that decompresses as it is read.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, cast

from msp.extensions import db
from msp.reports.formats import MAGIC_GZIP, MAGIC_ZIP, Source
from msp.reports.models import RawReport
from msp.reports.origin import Origin

_CHUNK = 1024 * 1024
_GZIP_WBITS = zlib.MAX_WBITS | 16  # a gzip stream, as gzip.compress writes


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


@dataclass(frozen=True)
class Encoded:
    """A received file as it is stored: its digest, length, codec and stored bytes."""

    sha256: str
    size: int
    codec: str
    stored: bytes


def encode(data: bytes) -> Encoded:
    """A file held in memory, hashed and (unless already compressed) gzip-compressed."""
    codec, stored = _encode(data)
    return Encoded(hashlib.sha256(data).hexdigest(), len(data), codec, stored)


def encode_file(path: Path) -> Encoded:
    """A file on disk, hashed and compressed while it is read in chunks: only the compressed
    bytes are held (a gzip or zip file, already compressed, is kept as it is)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        first = handle.read(_CHUNK)
        if first.startswith((MAGIC_GZIP, MAGIC_ZIP)):
            chunks = [first]
            compress = None
        else:
            compress = zlib.compressobj(6, zlib.DEFLATED, _GZIP_WBITS)
            chunks = [compress.compress(first)]
        chunk = first
        while chunk:
            digest.update(chunk)
            size += len(chunk)
            chunk = handle.read(_CHUNK)
            if chunk:
                chunks.append(compress.compress(chunk) if compress else chunk)
    if compress is None:
        return Encoded(digest.hexdigest(), size, "none", b"".join(chunks))
    chunks.append(compress.flush())
    return Encoded(digest.hexdigest(), size, "gzip", b"".join(chunks))


def store_raw(
    data: bytes | Path,
    origin: Origin,
    *,
    object_store: ObjectStore | None = None,
    flush: bool = True,
) -> RawReport:
    """Keep one received file as a ``pending`` raw report (flushed unless told otherwise).

    ``data`` is the file's bytes, or its path: then it is read in chunks, never whole.
    """
    encoded = encode_file(data) if isinstance(data, Path) else encode(data)
    digest, codec, stored = encoded.sha256, encoded.codec, encoded.stored
    recipient = origin.recipient
    raw = RawReport(
        tenant_id=origin.tenant_id,
        source=origin.source,
        filename=origin.filename[:255],
        recipient=(recipient or None) and recipient[:320].lower(),
        mailbox_id=origin.mailbox_id,
        mailbox_uid=origin.mailbox_uid,
        sha256=digest,
        size=encoded.size,
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


def open_raw(raw: RawReport, object_store: ObjectStore | None = None) -> Source:
    """The original bytes of a raw report as a stream, decompressed as they are read."""
    stored = _stored(raw, object_store)
    if raw.codec != "gzip":
        return Source(lambda: io.BytesIO(stored), len(stored))

    def inflated() -> BinaryIO:
        return cast(BinaryIO, gzip.GzipFile(fileobj=io.BytesIO(stored), mode="rb"))

    return Source(inflated, raw.size)


def _stored(raw: RawReport, object_store: ObjectStore | None) -> bytes:
    if raw.content is not None:
        return bytes(raw.content)
    if raw.storage_key and object_store is not None:
        return object_store.get(raw.storage_key)
    raise LookupError(f"raw report {raw.id} has no stored bytes")


def load_raw(raw: RawReport, object_store: ObjectStore | None = None) -> bytes:
    """The original bytes of a raw report, whole (:func:`open_raw` streams them)."""
    stored = _stored(raw, object_store)
    return gzip.decompress(stored) if raw.codec == "gzip" else stored
