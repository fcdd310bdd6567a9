"""The checked zip container: central directory, entry names and sizes, capped inflating and CRC."""

from __future__ import annotations

import posixpath
import re
import struct
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass, field
from typing import NamedTuple

from sheetplan.returns.limits import Limits, PackageProblem, mb
from sheetplan.returns.xmlcheck import check_xml

_EOCD = struct.Struct("<4sHHHHIIH")
_EOCD64_LOCATOR = struct.Struct("<4sIQI")
_EOCD64 = struct.Struct("<4sQHHIIQQQQ")
_CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")
_LOCAL = struct.Struct("<4sHHHHHIIIHH")
_STORED, _DEFLATED = 0, 8
_XML_SUFFIXES = (".xml", ".rels", ".vml")


class Entry(NamedTuple):
    """One zip member as the central directory declares it."""

    name: str
    method: int
    flags: int
    crc: int
    compressed: int
    size: int
    offset: int


@dataclass
class Archive:
    """A zip read from its central directory only; parts are inflated on demand, with real limits."""

    data: bytes
    limits: Limits
    entries: dict[str, Entry]  # lower-cased name -> entry (OPC part names ignore case)
    inflated: int = 0
    _raw: dict[str, bytes] = field(default_factory=dict)
    _xml: dict[str, bytes] = field(default_factory=dict)
    _rels: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    _types: tuple[dict[str, str], dict[str, str]] | None = None

    @classmethod
    def parse(cls, data: bytes, limits: Limits) -> Archive:
        cd_offset, cd_size, count = _find_central_directory(data)
        if count > limits.max_entries:
            raise PackageProblem(
                "zip-unsafe", f"the zip archive has {count} entries (limit {limits.max_entries})"
            )
        entries: dict[str, Entry] = {}
        pos, end = cd_offset, cd_offset + cd_size
        while pos < end:
            if len(entries) >= count:
                raise PackageProblem("zip-corrupt", "the zip directory holds more entries than it declares")
            entry, pos = _central_entry(data, pos, end)
            reason = _unsafe_name(entry.name)
            if reason:
                raise PackageProblem("zip-unsafe", f"zip entry {entry.name!r} {reason}")
            key = _key(entry.name)
            if key in entries:
                raise PackageProblem("zip-unsafe", f"the zip archive holds {entry.name!r} twice")
            entries[key] = entry
        if len(entries) != count:
            raise PackageProblem("zip-corrupt", "the zip directory is truncated")
        return cls(data, limits, entries)

    def check_entries(self) -> None:
        """Refuse entries whose declared sizes, method or encryption make them unsafe to inflate."""
        limits = self.limits
        total = 0
        for entry in self.entries.values():
            if entry.flags & 0x1:
                raise PackageProblem("encrypted", f"zip entry {entry.name!r} is password-encrypted")
            if entry.method not in (_STORED, _DEFLATED):
                raise PackageProblem(
                    "zip-unsafe", f"zip entry {entry.name!r} uses compression method {entry.method}"
                )
            if entry.size > limits.max_part_bytes:
                raise PackageProblem(
                    "zip-unsafe",
                    f"zip entry {entry.name!r} unpacks to {mb(entry.size)} "
                    f"(limit {mb(limits.max_part_bytes)})",
                )
            ratio = entry.size / max(entry.compressed, 1)
            if entry.size > limits.ratio_floor_bytes and ratio > limits.max_ratio:
                raise PackageProblem(
                    "zip-unsafe", f"zip entry {entry.name!r} is compressed {ratio:.0f}:1 (a zip bomb?)"
                )
            total += entry.size
        if total > limits.max_uncompressed_bytes:
            raise PackageProblem(
                "zip-unsafe",
                f"the archive unpacks to {mb(total)} (limit {mb(limits.max_uncompressed_bytes)})",
            )

    def has(self, name: str) -> bool:
        return _key(name) in self.entries

    def read(self, name: str) -> bytes:
        """Inflate one entry, refusing it if the real bytes differ from what the directory declared."""
        key = _key(name)
        cached = self._raw.get(key)
        if cached is not None:
            return cached
        entry = self.entries.get(key)
        if entry is None:
            raise PackageProblem("zip-corrupt", f"the archive has no part {name!r}")
        out = _inflate(self.data, entry)
        self.inflated += len(out)
        if self.inflated > self.limits.max_uncompressed_bytes:
            raise PackageProblem("zip-unsafe", "the archive unpacks to more data than allowed")
        self._raw[key] = out
        return out

    def read_xml(self, name: str) -> bytes:
        """An XML part as UTF-8 bytes with no DTD: what calamine and ElementTree may be given."""
        key = _key(name)
        cached = self._xml.get(key)
        if cached is None:
            cached = check_xml(self.read(name), name)
            self._xml[key] = cached
        return cached

    def crc(self, name: str, body: bytes) -> int:
        """CRC-32 of a part's checked bytes, reusing the verified one when nothing was re-encoded."""
        key = _key(name)
        if self._raw.get(key) is body:
            return self.entries[key].crc
        return zlib.crc32(body)

    def parse_xml(self, name: str) -> ET.Element:
        # check_xml has refused any DTD, so expat can neither expand nor fetch an entity here.
        try:
            return ET.fromstring(self.read_xml(name))
        except ET.ParseError as exc:
            raise PackageProblem("xml-malformed", f"part {name!r} is not well-formed XML: {exc}") from None

    def relationships(self, source: str) -> dict[str, tuple[str, str]]:
        """Id -> (type suffix, part name) of the relationships of part `source` ('' for the package)."""
        cached = self._rels.get(source)
        if cached is not None:
            return cached
        folder, file = posixpath.split(source)
        rels = posixpath.join(folder, "_rels", file + ".rels")
        out: dict[str, tuple[str, str]] = {}
        self._rels[source] = out
        if not self.has(rels):
            return out
        for rel in self.parse_xml(rels).iter():
            if rel.tag.rpartition("}")[2] != "Relationship" or rel.get("TargetMode") == "External":
                continue
            target = rel.get("Target", "").replace("\\", "/")
            joined = target.lstrip("/") if target.startswith("/") else posixpath.join(folder, target)
            part = posixpath.normpath(joined) if target else ""
            if part and not part.startswith(".."):
                out[rel.get("Id", "")] = (rel.get("Type", "").rpartition("/")[2], part)
        return out

    def main_part(self) -> str | None:
        """The workbook part: the package's officeDocument target, else where Excel puts it."""
        for kind, part in self.relationships("").values():
            if kind == "officeDocument" and self.has(part):
                return part
        return next((p for p in ("xl/workbook.xml", "xl/workbook.bin") if self.has(p)), None)

    def content_types(self) -> tuple[dict[str, str], dict[str, str]]:
        """[Content_Types].xml as (extension -> type, part name -> type), all lower-cased."""
        if self._types is None:
            defaults: dict[str, str] = {}
            overrides: dict[str, str] = {}
            if self.has("[Content_Types].xml"):
                for item in self.parse_xml("[Content_Types].xml"):
                    kind = item.tag.rpartition("}")[2]
                    value = item.get("ContentType", "").lower()
                    if kind == "Default":
                        defaults[item.get("Extension", "").lower()] = value
                    elif kind == "Override":
                        overrides[_key(item.get("PartName", "").lstrip("/"))] = value
            self._types = defaults, overrides
        return self._types

    def content_type(self, part: str) -> str:
        """The part's content type: its Override, else the Default for its extension."""
        defaults, overrides = self.content_types()
        found = overrides.get(_key(part))
        return found if found is not None else defaults.get(part.rpartition(".")[2].lower(), "")

    def classify(self) -> str:
        """Format of the package, judged from its main part's content type and its part names."""
        has = self.has
        if has("mimetype") or has("META-INF/manifest.xml"):
            mimetype = self.read("mimetype")[:200] if has("mimetype") else b""
            manifest = self.read_xml("META-INF/manifest.xml") if has("META-INF/manifest.xml") else b""
            if b"encryption-data" in manifest:
                return "ods-encrypted"
            if b"opendocument" in mimetype or b"opendocument" in manifest:
                return "ods"
        if any(n.endswith((".iwa", "/index.zip", "metadata/properties.plist")) for n in self.entries):
            return "numbers"
        main = self.main_part()
        if main is None:
            return "docx" if has("word/document.xml") else "pptx" if has("ppt/presentation.xml") else "zip"
        kind = self.content_type(main)
        if "sheet.binary" in kind or (not kind and main.lower().endswith(".bin")):
            return "xlsb"
        if "wordprocessingml" in kind or "presentationml" in kind:
            return "docx" if "wordprocessingml" in kind else "pptx"
        template = "template" in kind
        # Only the main part's type, a VBA part or an Override naming one make a workbook macro-enabled:
        # a Default mapping for ".bin" may name the VBA type with nothing behind it.
        macro = (
            "macroenabled" in kind
            or any(n.endswith("vbaproject.bin") or n.startswith("xl/macrosheets/") for n in self.entries)
            or any("vbaproject" in t for t in self.content_types()[1].values())
        )
        if macro:
            return "xltm" if template else "xlsm"
        return "xltx" if template else "xlsx"

    def check_all_xml(self) -> None:
        """Inflate and check every XML-looking part, so no DTD hides in a part nobody reads yet."""
        for entry in self.entries.values():
            if entry.name.lower().endswith(_XML_SUFFIXES):
                self.read_xml(entry.name)


def _key(name: str) -> str:
    # OPC part names ignore case, and some Windows tools write 'xl\\styles.xml': a separator, not an
    # attack, once absolute names and '..' have been refused.
    return name.replace("\\", "/").lower()


def _find_central_directory(data: bytes) -> tuple[int, int, int]:
    """(offset, size, entry count) of the central directory; the archive must span the whole file."""
    eocd = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if eocd < 0 or eocd + _EOCD.size > len(data):
        raise PackageProblem("zip-corrupt", "the zip archive is truncated (no end-of-directory record)")
    _sig, disk, cd_disk, _n_disk, count, cd_size, cd_offset, comment = _EOCD.unpack_from(data, eocd)
    if eocd + _EOCD.size + comment > len(data):
        raise PackageProblem("zip-corrupt", "the zip archive's end record is truncated")
    # Bytes after the end record (a stray newline from some tools) are ignored: nothing reads them.
    end = eocd
    if 0xFFFF in (disk, cd_disk, count) or 0xFFFFFFFF in (cd_size, cd_offset):
        locator = eocd - _EOCD64_LOCATOR.size
        if locator < 0 or data[locator : locator + 4] != b"PK\x06\x07":
            raise PackageProblem("zip-corrupt", "the zip64 end record is missing")
        rec = _EOCD64_LOCATOR.unpack_from(data, locator)[2]
        if rec + _EOCD64.size > locator or data[rec : rec + 4] != b"PK\x06\x06":
            raise PackageProblem("zip-corrupt", "the zip64 end record is damaged")
        fields = _EOCD64.unpack_from(data, rec)
        disk, cd_disk, count, cd_size, cd_offset = fields[4], fields[5], fields[7], fields[8], fields[9]
        end = rec
    if disk != 0 or cd_disk != 0:
        raise PackageProblem("zip-corrupt", "the zip archive is split over several disks")
    if cd_offset + cd_size != end:
        # Prepended or embedded data makes readers disagree about where entries start.
        raise PackageProblem("zip-unsafe", "the zip directory does not end where the archive ends")
    if not data.startswith(b"PK\x03\x04") and count:
        raise PackageProblem("zip-unsafe", "the zip archive has data before its first entry")
    return cd_offset, cd_size, count


def _central_entry(data: bytes, pos: int, end: int) -> tuple[Entry, int]:
    if pos + _CENTRAL.size > end:
        raise PackageProblem("zip-corrupt", "the zip directory is truncated")
    fields = _CENTRAL.unpack_from(data, pos)
    if fields[0] != b"PK\x01\x02":
        raise PackageProblem("zip-corrupt", "the zip directory is damaged")
    flags, method, crc, csize, usize, n_name, n_extra, n_comment = fields[3:5] + fields[7:13]
    offset = fields[16]
    start = pos + _CENTRAL.size
    nxt = start + n_name + n_extra + n_comment
    if nxt > end:
        raise PackageProblem("zip-corrupt", "the zip directory is truncated")
    name = data[start : start + n_name].decode("utf-8" if flags & 0x800 else "cp437", errors="replace")
    if 0xFFFFFFFF in (usize, csize, offset):
        extra = data[start + n_name : start + n_name + n_extra]
        usize, csize, offset = _zip64_sizes(extra, usize, csize, offset)
    return Entry(name, method, flags, crc, csize, usize, offset), nxt


def _zip64_sizes(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4 : pos + 4 + length]
        if tag == 0x0001:
            values = [v for (v,) in struct.iter_unpack("<Q", body[: len(body) // 8 * 8])]
            out = []
            for declared in (usize, csize, offset):
                out.append(values.pop(0) if declared == 0xFFFFFFFF and values else declared)
            return out[0], out[1], out[2]
        pos += 4 + length
    raise PackageProblem("zip-corrupt", "a zip64 entry lacks its size record")


def _unsafe_name(name: str) -> str:
    """Why a zip entry name would be dangerous to anyone who unpacks the archive; '' when it is not."""
    if not name or "\0" in name:
        return "has an empty or binary name"
    if name[0] in "/\\" or name[1:2] == ":":
        return "is an absolute path"
    if ".." in name and ".." in re.split(r"[/\\]", name):
        return "climbs out of the archive with '..'"
    return ""


def _inflate(data: bytes, entry: Entry) -> bytes:
    off = entry.offset
    if off + _LOCAL.size > len(data) or data[off : off + 4] != b"PK\x03\x04":
        raise PackageProblem("zip-corrupt", f"zip entry {entry.name!r} points at damaged data")
    n_name, n_extra = _LOCAL.unpack_from(data, off)[9:11]
    start = off + _LOCAL.size + n_name + n_extra
    raw = data[start : start + entry.compressed]
    if len(raw) != entry.compressed:
        raise PackageProblem("zip-corrupt", f"zip entry {entry.name!r} is truncated")
    if entry.method == _STORED:
        out = raw
        if entry.compressed != entry.size:
            raise PackageProblem("zip-corrupt", f"zip entry {entry.name!r} has inconsistent sizes")
    else:
        inflater = zlib.decompressobj(-15)
        try:
            # One byte more than declared is enough to prove the directory lied.
            out = inflater.decompress(raw, entry.size + 1)
        except zlib.error as exc:
            raise PackageProblem(
                "zip-corrupt", f"zip entry {entry.name!r} cannot be decompressed: {exc}"
            ) from None
        if len(out) > entry.size:
            raise PackageProblem(
                "zip-unsafe",
                f"zip entry {entry.name!r} unpacks to more than the {entry.size} bytes it declares",
            )
        if len(out) < entry.size or not inflater.eof:
            raise PackageProblem("zip-corrupt", f"zip entry {entry.name!r} is truncated")
    if zlib.crc32(out) != entry.crc:
        raise PackageProblem("zip-corrupt", f"zip entry {entry.name!r} fails its checksum")
    return out
