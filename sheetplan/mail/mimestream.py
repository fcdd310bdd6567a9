"""Read a MIME message from a file one line at a time, saving attachment bodies to disk as they are decoded.

The email package parses a whole message in memory, several times over its size (a 95 MB message took
888 MB). Collecting must not depend on how large a sender's message is, so this reader keeps only one line
(at most MAX_LINE bytes), the headers of the part it is in, and the stack of multipart boundaries; leaf
bodies are decoded (base64, quoted-printable, or as they are) straight into a temporary file, and only for
parts that `wanted` selects. Forwarded messages (message/rfc822) are read as nested messages.
"""

from __future__ import annotations

import binascii
import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import BinaryIO

MAX_LINE = 64 * 1024  # base64 in mail is wrapped at 76 characters; a longer line is read in pieces
MAX_HEADER_BYTES = 256 * 1024  # a header block larger than this is cut (the rest is read as body)
_PARSER = BytesHeaderParser(policy=policy.default)


@dataclass
class Part:
    """One leaf part: its headers, and where its decoded body was saved (None when not wanted)."""

    headers: EmailMessage
    saved: Path | None = None
    size: int = 0  # decoded bytes (counted until `limit`, then the part is marked too large)
    too_large: bool = False


@dataclass
class Scanned:
    headers: EmailMessage  # the outer message's headers
    parts: list[Part] = field(default_factory=list)
    sha256: str = ""  # of every byte of the message
    size: int = 0

    def discard(self) -> None:
        """Delete the temporary files of every part (those the caller did not move away)."""
        for part in self.parts:
            if part.saved is not None:
                part.saved.unlink(missing_ok=True)
                part.saved = None


class _Lines:
    """Lines of a binary stream, hashed as they pass, with one line of look-back for boundaries."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.hash = hashlib.sha256()
        self.size = 0

    def next(self) -> bytes:
        line = self.handle.readline(MAX_LINE)
        self.hash.update(line)
        self.size += len(line)
        return line


def _headers(lines: _Lines) -> EmailMessage:
    block = bytearray()
    while True:
        line = lines.next()
        if not line or line in (b"\r\n", b"\n"):
            break
        if len(block) < MAX_HEADER_BYTES:
            block += line
    return _PARSER.parsebytes(bytes(block))


def _boundary_of(line: bytes, stack: list[bytes]) -> bytes | None:
    """The line itself when it opens or closes one of the enclosing multiparts, else None."""
    if not line.startswith(b"--"):
        return None
    text = line.rstrip(b" \t\r\n")
    for boundary in stack:
        if text == b"--" + boundary or text == b"--" + boundary + b"--":
            return text
    return None


class _Sink:
    """Decodes a body line by line into a temporary file, counting at most `limit` bytes."""

    def __init__(self, encoding: str, folder: Path, limit: int) -> None:
        self.encoding = encoding
        self.limit = limit
        self.size = 0
        self.too_large = False
        self.carry = b""  # base64 characters not yet a multiple of four
        self.pending_newline = b""  # for bodies taken as they are: the line end before a boundary is not body
        handle, name = tempfile.mkstemp(prefix=".tmp-collect-", suffix=".part", dir=folder)  # swept if killed
        self.path = Path(name)
        self.file = os.fdopen(handle, "wb")

    def _write(self, data: bytes) -> None:
        if self.too_large or not data:
            return
        self.size += len(data)
        if self.size > self.limit:
            self.too_large = True
            self.file.truncate(0)
            return
        self.file.write(data)

    def feed(self, line: bytes) -> None:
        if self.too_large:
            return  # read past the rest of the part
        if self.encoding == "base64":
            chars = self.carry + line.translate(None, b" \t\r\n")
            usable = len(chars) - len(chars) % 4
            self.carry = chars[usable:]
            try:
                self._write(binascii.a2b_base64(chars[:usable]))
            except binascii.Error:
                pass  # a damaged chunk: the workbook will not read, and ingest says so
        elif self.encoding == "quoted-printable":
            body = line.rstrip(b"\r\n")
            soft = body.endswith(b"=")  # a soft line break: the line goes on, no newline in the data
            self._write(self.pending_newline + binascii.a2b_qp(body[:-1] if soft else body))
            self.pending_newline = b"" if soft else b"\n"
        else:
            body = line.rstrip(b"\r\n")
            self._write(self.pending_newline + body)
            self.pending_newline = line[len(body):]

    def close(self) -> Path | None:
        if self.encoding == "base64" and self.carry:
            try:
                self._write(binascii.a2b_base64(self.carry + b"=" * (-len(self.carry) % 4)))
            except binascii.Error:
                pass
        self.file.close()
        if self.too_large:
            self.path.unlink(missing_ok=True)
            return None
        return self.path


def scan(handle: BinaryIO, wanted: Callable[[EmailMessage], bool], folder: Path, limit: int) -> Scanned:
    """Read one message from `handle` to its end; the bodies of leaf parts for which `wanted(headers)` is
    true are saved in `folder` (decoded, each at most `limit` bytes, else marked too large)."""
    lines = _Lines(handle)
    outer = _headers(lines)
    result = Scanned(outer)
    _entity(lines, outer, [], wanted, folder, limit, result)
    while lines.next():  # whatever follows the last boundary still belongs to the message's hash
        pass
    result.sha256, result.size = lines.hash.hexdigest(), lines.size
    return result


def _entity(lines: _Lines, headers: EmailMessage, stack: list[bytes], wanted, folder: Path, limit: int,
            result: Scanned) -> bytes | None:
    """Read one entity's body; returns the enclosing boundary line that ended it (None at the end of input)."""
    content_type = headers.get_content_type()
    boundary = headers.get_param("boundary") if headers.get_content_maintype() == "multipart" else None
    if isinstance(boundary, str) and boundary:
        own = boundary.encode("utf-8", "replace")
        inner = [own, *stack]
        ended = _skip(lines, inner)  # the preamble
        while ended is not None and ended == b"--" + own:
            ended = _entity(lines, _headers(lines), inner, wanted, folder, limit, result)
        if ended == b"--" + own + b"--":
            return _skip(lines, stack)  # the epilogue, up to whatever encloses this multipart
        return ended
    if content_type == "message/rfc822":
        return _entity(lines, _headers(lines), stack, wanted, folder, limit, result)
    part = Part(headers)
    result.parts.append(part)
    if not wanted(headers):
        return _skip(lines, stack)
    encoding = str(headers.get("content-transfer-encoding", "") or "").strip().lower()
    sink = _Sink(encoding, folder, limit)
    try:
        while True:
            line = lines.next()
            ended = _boundary_of(line, stack) if line else None
            if not line or ended is not None:
                break
            sink.feed(line)
    finally:
        part.saved = sink.close()
        part.size, part.too_large = sink.size, sink.too_large
    return ended


def _skip(lines: _Lines, stack: list[bytes]) -> bytes | None:
    while True:
        line = lines.next()
        if not line:
            return None
        ended = _boundary_of(line, stack)
        if ended is not None:
            return ended
