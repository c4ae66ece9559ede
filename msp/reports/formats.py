"""Sniffing and unpacking of report files: XML, gzip, zip, JSON and e-mail, with hard limits.

Owns the defence against hostile containers: decompression bombs (absolute and ratio limits,
enforced while streaming), nested archives, too many members, encrypted or truncated archives
and oversized inputs. Nothing here parses a report: it only finds the payloads inside a file and
hands out bounded byte streams for them. A file may come as bytes or as a path: from a path it
is read as a stream, so a large report is never held whole in memory.
"""

from __future__ import annotations

import email
import email.policy
import io
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from email.utils import getaddresses
from pathlib import Path
from typing import IO, BinaryIO, Literal

PayloadKind = Literal["xml", "json", "email"]

MAGIC_GZIP = b"\x1f\x8b"
MAGIC_ZIP = b"PK\x03\x04"
_CHUNK = 64 * 1024
_HEADER_LINE = re.compile(rb"^(From |[\x21-\x39\x3b-\x7e]+:)")
_UTF8_BOM = b"\xef\xbb\xbf"


class FormatError(ValueError):
    """The input is not a report container we accept; the message is the user-facing reason."""


class TooLarge(FormatError):
    """The input, or what it decompresses to, is over a configured limit."""


class NestedArchive(FormatError):
    """An archive inside an archive (gzip in gzip, zip in zip, ...)."""


@dataclass(frozen=True)
class Limits:
    """Caps applied to every input; defaults are generous for real reports, fatal for bombs."""

    max_input_bytes: int = 50 * 1024 * 1024
    max_unpacked_bytes: int = 512 * 1024 * 1024
    max_ratio: int = 200
    ratio_floor_bytes: int = 8 * 1024 * 1024
    max_members: int = 20
    max_email_parts: int = 200


@dataclass(frozen=True)
class Source:
    """One received file's bytes as a stream: in memory, on disk, or stored compressed.

    ``size`` is the file's length as received (what the input limit applies to).
    """

    open: Callable[[], BinaryIO]
    size: int

    @classmethod
    def of(cls, data: bytes | Path | Source) -> Source:
        if isinstance(data, Source):
            return data
        if isinstance(data, Path):
            path = data
            return cls(lambda: path.open("rb"), path.stat().st_size)
        held = data
        return cls(lambda: io.BytesIO(held), len(held))


@dataclass(frozen=True)
class Payload:
    """One report candidate found in a file: its name, kind and a way to stream its bytes."""

    name: str
    kind: PayloadKind
    opener: Callable[[], BinaryIO]

    def open(self) -> BinaryIO:
        return self.opener()

    def read(self) -> bytes:
        with self.open() as stream:
            return stream.read()


def sniff(head: bytes) -> str:
    """Classify bytes by their first bytes: gzip, zip, xml, json, email or unknown."""
    if head.startswith(MAGIC_GZIP):
        return "gzip"
    if head.startswith(MAGIC_ZIP):
        return "zip"
    text = head.removeprefix(_UTF8_BOM).lstrip()
    if text.startswith(b"<"):
        return "xml"
    if text.startswith(b"{"):
        return "json"
    if _HEADER_LINE.match(text):
        return "email"
    return "unknown"


class _Counted(io.RawIOBase):
    """Wraps a readable stream and raises :class:`TooLarge` past ``limit`` bytes or ratio."""

    def __init__(
        self, inner: IO[bytes], limit: int, packed: int, limits: Limits, outer: IO[bytes]
    ) -> None:
        self._inner = inner
        self._outer = outer  # the file the archive member is read from
        self._limit = limit
        self._packed = max(packed, 1)
        self._limits = limits
        self._total = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        self._account(len(data))
        buffer[: len(data)] = data
        return len(data)

    def _account(self, n: int) -> None:
        self._total += n
        _check_growth(self._total, self._packed, self._limit, self._limits)

    def close(self) -> None:
        self._inner.close()
        self._outer.close()
        super().close()


def _check_growth(total: int, packed: int, limit: int, limits: Limits) -> None:
    if total > limit:
        raise TooLarge(f"decompressed data exceeds the {limit} byte limit (decompression bomb?)")
    if total > limits.ratio_floor_bytes and total > packed * limits.max_ratio:
        raise TooLarge(f"compression ratio above {limits.max_ratio}:1 (decompression bomb?)")


class _GzipStream(io.RawIOBase):
    """Streams a gzip member's plain bytes with bounded memory; tolerates trailing bytes."""

    def __init__(self, source: Source, limits: Limits) -> None:
        self._src = source.open()
        self._packed = source.size
        self._inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
        self._limits = limits
        self._total = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        want = max(1, len(buffer))
        while not self._inflater.eof:
            pending = self._inflater.unconsumed_tail or self._src.read(_CHUNK)
            if not pending:
                raise FormatError("truncated gzip stream")
            try:
                out = self._inflater.decompress(pending, want)
            except zlib.error as exc:
                raise FormatError(f"corrupt gzip data: {exc}") from exc
            if out:
                self._total += len(out)
                _check_growth(
                    self._total, self._packed, self._limits.max_unpacked_bytes, self._limits
                )
                buffer[: len(out)] = out
                return len(out)
        return 0

    def close(self) -> None:
        self._src.close()
        super().close()


def _buffered(raw: io.RawIOBase) -> BinaryIO:
    return io.BufferedReader(raw, buffer_size=_CHUNK)


def _peek(opener: Callable[[], BinaryIO], n: int = 512) -> bytes:
    with opener() as stream:
        return stream.read(n)


def _plain_payload(name: str, head: bytes, opener: Callable[[], BinaryIO]) -> Payload:
    kind = sniff(head)
    if kind in ("gzip", "zip"):
        raise NestedArchive(f"nested archive in {name or 'input'} ({kind} inside an archive)")
    if kind == "unknown":
        raise FormatError(f"{name or 'input'}: not XML, JSON, gzip, zip or an e-mail")
    return Payload(name=name, kind=kind, opener=opener)  # type: ignore[arg-type]


def _gzip_payloads(name: str, source: Source, limits: Limits) -> list[Payload]:
    def opener() -> BinaryIO:
        return _buffered(_GzipStream(source, limits))

    inner_name = name[:-3] if name.lower().endswith(".gz") else name
    return [_plain_payload(inner_name, _peek(opener), opener)]


# What archivers put beside the files a user zipped: macOS resource forks and Finder data,
# Windows thumbnails. Such entries are skipped, not read as reports.
_JUNK_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini"})


def is_junk_member(name: str) -> bool:
    """A folder entry, a nameless entry or an archiver's leftover rather than a report.

    Decided on the name alone: ``ZipInfo.is_dir()`` raises IndexError for an empty name on
    Python 3.11.
    """
    if not name or name.endswith(("/", "\\")):
        return True
    parts = name.replace("\\", "/").split("/")
    base = parts[-1].lower()
    return "__MACOSX" in parts[:-1] or base.startswith("._") or base in _JUNK_NAMES


def _zip_members(archive: zipfile.ZipFile, limits: Limits) -> Iterator[zipfile.ZipInfo]:
    entries = archive.infolist()
    members = [info for info in entries if not is_junk_member(info.filename)]
    if not members:
        if entries:
            raise FormatError("zip archive holds no report (only folders or archiver leftovers)")
        raise FormatError("empty zip archive")
    if len(members) > limits.max_members:
        raise FormatError(f"zip archive has {len(members)} members (limit {limits.max_members})")
    for info in members:
        if info.flag_bits & 0x1:
            raise FormatError(f"encrypted zip member {info.filename}")
        if info.file_size > limits.max_unpacked_bytes:
            raise TooLarge(f"zip member {info.filename} declares {info.file_size} bytes")
        yield info


def _zip_payloads(source: Source, limits: Limits) -> list[Payload]:
    try:
        with source.open() as stream, zipfile.ZipFile(stream) as archive:
            members = list(_zip_members(archive, limits))
    except zipfile.BadZipFile as exc:
        raise FormatError(f"corrupt zip archive: {exc}") from exc
    payloads = []
    for info in members:

        def opener(info: zipfile.ZipInfo = info) -> BinaryIO:
            # The caller closes the returned stream, which closes the member and the file.
            stream = source.open()
            try:
                inner = zipfile.ZipFile(stream).open(info)  # noqa: SIM115
            except BaseException:
                stream.close()
                raise
            raw = _Counted(inner, limits.max_unpacked_bytes, info.compress_size, limits, stream)
            return _buffered(raw)

        try:
            head = _peek(opener)
        except (zipfile.BadZipFile, zlib.error, NotImplementedError) as exc:
            raise FormatError(f"corrupt zip member {info.filename}: {exc}") from exc
        payloads.append(_plain_payload(info.filename, head, opener))
    return payloads


def unpack(
    data: bytes | Path | Source, name: str = "", limits: Limits | None = None
) -> list[Payload]:
    """Find the report payloads in one file (one level of gzip or zip at most).

    The file is bytes in memory, a path (read from disk as the payloads are read, never whole)
    or a :class:`Source`. E-mails are returned whole as an ``email`` payload:
    :func:`email_attachments` looks inside.
    """
    limits = limits or Limits()
    source = Source.of(data)
    if source.size > limits.max_input_bytes:
        raise TooLarge(f"input of {source.size} bytes exceeds the {limits.max_input_bytes} limit")
    head = _peek(source.open)
    if not head or (source.size <= len(head) and head.isspace()):
        raise FormatError("empty input")
    kind = sniff(head)
    if kind == "gzip":
        return _gzip_payloads(name, source, limits)
    if kind == "zip":
        return _zip_payloads(source, limits)
    return [_plain_payload(name, head, source.open)]


@dataclass(frozen=True)
class EmailContents:
    """What an e-mail carries: report attachments we parse ourselves, and its envelope facts."""

    payloads: tuple[Payload, ...]
    recipients: tuple[str, ...]
    subject: str
    has_feedback_report: bool


_REPORT_TYPES = {
    "application/gzip",
    "application/x-gzip",
    "application/zip",
    "application/x-zip-compressed",
    "application/xml",
    "text/xml",
    "application/tlsrpt+gzip",
    "application/tlsrpt+json",
    "application/octet-stream",
    "application/x-zip",
}


def _attachment_payloads(part: Message, limits: Limits) -> list[Payload]:
    body = part.get_payload(decode=True)
    if not isinstance(body, bytes) or not body.strip():
        return []
    filename = part.get_filename() or part.get_content_type()
    kind = sniff(body[:512])
    if kind in ("gzip", "zip"):
        return unpack(body, filename, limits)
    if kind in ("xml", "json"):
        return [Payload(name=filename, kind=kind, opener=lambda: io.BytesIO(body))]  # type: ignore[arg-type]
    return []


def email_attachments(data: bytes, limits: Limits | None = None) -> EmailContents:
    """Walk an e-mail's MIME tree and collect its aggregate/TLS report attachments."""
    limits = limits or Limits()
    message = email.message_from_bytes(data, policy=email.policy.compat32)
    payloads: list[Payload] = []
    feedback = False
    for index, part in enumerate(message.walk()):
        if index > limits.max_email_parts:
            raise FormatError(f"e-mail has more than {limits.max_email_parts} MIME parts")
        ctype = part.get_content_type().lower()
        if ctype == "message/feedback-report":
            feedback = True
        if part.is_multipart() or ctype.startswith(("message/", "text/plain", "text/html")):
            continue
        if ctype in _REPORT_TYPES or part.get_filename():
            payloads.extend(_attachment_payloads(part, limits))
    headers = [
        str(value)
        for header in ("Delivered-To", "X-Original-To", "To", "Cc")
        for value in message.get_all(header, [])
    ]
    recipients = tuple(addr.lower() for _name, addr in getaddresses(headers) if "@" in addr)
    return EmailContents(
        payloads=tuple(payloads),
        recipients=recipients,
        subject=str(message.get("Subject", "")),
        has_feedback_report=feedback,
    )
