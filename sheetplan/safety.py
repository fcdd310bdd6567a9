"""Gatekeeper for untrusted returned files: judge the bytes before any parser sees them."""

from __future__ import annotations

import posixpath
import re
import struct
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass, field
from typing import NamedTuple

from sheetplan.errors import ReturnedFileError
from sheetplan.problems import Problem

MiB = 1024 * 1024

# Excel's own grid: a reference beyond it is never legitimate.
MAX_ROWS = 1_048_576
MAX_COLS = 16_384


@dataclass(frozen=True)
class Limits:
    """Every bound applied to one returned file. Defaults fit a sales template with room to spare."""

    max_file_bytes: int = 20 * MiB
    max_entries: int = 1000
    max_uncompressed_bytes: int = 200 * MiB  # sum over the zip entries
    max_part_bytes: int = 50 * MiB  # one zip entry
    max_ratio: float = 200.0  # uncompressed / compressed, per entry ...
    ratio_floor_bytes: int = 1 * MiB  # ... checked only for entries bigger than this
    max_cells: int = 200_000  # <c> elements in all sheets, empty formatted cells included
    # calamine allocates the bounding box of a sheet's values densely (32 bytes a cell), so two
    # values at A1 and XFD1048576 ask for 550 GB and abort the process: bound the box, not the count.
    max_sheet_area: int = 4_000_000
    timeout_seconds: float = 10.0  # wall clock per file in read_many; also the CPU budget
    memory_bytes: int = 1024 * MiB  # address space a read_many worker may add to its start size


class PackageProblem(ReturnedFileError):
    """A returned file failed a check; `code` is the Problem code the reader reports."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def problem(self, file: str) -> Problem:
        return Problem(code=self.code, message=self.message, file=file)


# ---------------------------------------------------------------- sniffing

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")


def _utf16(name: str) -> bytes:
    return name.encode("utf-16-le")


# OLE2 directory entries store stream names in UTF-16LE; a byte search is enough to tell an
# encrypted OOXML package or an .xls apart, and unlike walking the sector chains it cannot loop.
_OLE_ENCRYPTED = (_utf16("EncryptedPackage"), _utf16("EncryptionInfo"))
_OLE_WORKBOOK = (_utf16("Workbook\0"), _utf16("Book\0"), _utf16("WORKBOOK\0"), _utf16("BOOK\0"))
# BIFF2-4 files are a bare record stream that starts with a BOF record.
_BIFF_BOF = (b"\x09\x00", b"\x09\x02", b"\x09\x04", b"\x09\x08")

FORMAT_DESCRIPTIONS = {
    "xlsx": "an Excel workbook (.xlsx)",
    "xltx": "an Excel template (.xltx)",
    "xlsm": "a macro-enabled Excel workbook (.xlsm)",
    "xltm": "a macro-enabled Excel template (.xltm)",
    "xlsb": "an Excel binary workbook (.xlsb)",
    "xls": "an Excel 97-2003 workbook (.xls)",
    "ods": "an OpenDocument spreadsheet (.ods)",
    "ods-encrypted": "a password-protected OpenDocument spreadsheet (.ods)",
    "fods": "a flat OpenDocument spreadsheet (.fods)",
    "numbers": "an Apple Numbers document",
    "xml-spreadsheet": "an Excel 2003 XML spreadsheet",
    "ole2-encrypted": "a password-protected (encrypted) Office file",
    "ole2": "an Office 97-2003 file that is not a workbook",
    "docx": "a Word document",
    "pptx": "a PowerPoint presentation",
    "zip": "a zip archive without a workbook inside",
    "pdf": "a PDF document",
    "html": "a web page (HTML)",
    "xml": "an XML file",
    "csv": "CSV/text",
    "text": "CSV/text",
    "empty": "an empty file",
    "unknown": "not a recognised spreadsheet format",
}


def sniff(data: bytes) -> str:
    """Name the format of `data` from its bytes alone (the file extension is never trusted)."""
    if not data:
        return "empty"
    if data.startswith(OLE2_MAGIC):
        return _sniff_ole2(data)
    if data.startswith(_ZIP_MAGICS):
        try:
            archive = Archive.parse(data, Limits())
        except PackageProblem:
            return "zip"
        try:
            return archive.classify()
        except PackageProblem:
            return "zip"
    return _sniff_other(data)


def _sniff_ole2(data: bytes) -> str:
    if any(name in data for name in _OLE_ENCRYPTED):
        return "ole2-encrypted"
    if any(name in data for name in _OLE_WORKBOOK):
        return "xls"
    return "ole2"


def _sniff_other(data: bytes) -> str:
    if data[:2] in _BIFF_BOF and len(data) > 4 and 4 <= data[2] <= 20 and data[3] == 0:
        return "xls"
    if data.startswith(b"%PDF"):
        return "pdf"
    text = _as_text(data[:8192])
    if text is None:
        return "unknown"
    head = text.lstrip("\ufeff \t\r\n")[:2048].lower()
    if head.startswith("<"):
        if "urn:schemas-microsoft-com:office:spreadsheet" in head:
            return "xml-spreadsheet"
        if "opendocument" in head and "office:document" in head:
            return "fods"
        if "<html" in head or "<!doctype html" in head or "<table" in head:
            return "html"
        if head.startswith("<?xml"):
            return "xml"
    return "csv" if _looks_like_csv(text) else "text"


def _as_text(sample: bytes) -> str | None:
    """Decode a sample if it reads as text; None for binary bytes."""
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return sample.decode("utf-16")
        except UnicodeDecodeError:
            return None
    if b"\0" in sample:
        return None
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 4:  # not just a character cut at the sample's end
            text = sample.decode("latin-1")
        else:
            text = sample[: exc.start].decode("utf-8")
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\r\n\f")
    return text if controls <= len(text) // 100 else None


def _looks_like_csv(text: str) -> bool:
    lines = [line for line in text.splitlines()[:20] if line.strip()]
    if len(lines) > 1:
        lines = lines[:-1]  # the sample may cut the last line short
    for sep in (",", ";", "\t", "|"):
        counts = {line.count(sep) for line in lines}
        if lines and min(counts) > 0 and (len(counts) == 1 or len(lines) == 1):
            return True
    return False


# ---------------------------------------------------------------- zip container

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
                    f"zip entry {entry.name!r} unpacks to {_mb(entry.size)} "
                    f"(limit {_mb(limits.max_part_bytes)})",
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
                f"the archive unpacks to {_mb(total)} (limit {_mb(limits.max_uncompressed_bytes)})",
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


def _mb(size: int) -> str:
    return f"{size / MiB:.1f} MB"


# ---------------------------------------------------------------- XML parts

_DECLARATION = re.compile(rb"<\?xml[^>]{0,200}?\?>")
_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']""")
_UTF8_NAMES = {b"utf-8", b"utf8", b"us-ascii", b"ascii"}
_MARKUP_DECLARATION = re.compile(rb"<!\s*[A-Za-z]")  # DOCTYPE, ENTITY, ELEMENT, ATTLIST, NOTATION


def check_xml(raw: bytes, name: str) -> bytes:
    """Return the part as UTF-8 without a declaration of another encoding; refuse any DTD.

    Re-encoding matters for safety, not only convenience: the cell scans below search bytes, and a
    UTF-16 part would hide its tags from them while calamine still decodes it.
    """
    if raw.startswith((b"\xff\xfe", b"\xfe\xff", b"<\0", b"\0<")):
        codec = (
            "utf-16" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-16-le" if raw[0] else "utf-16-be")
        )
        raw = _transcode(raw, codec, name)
    elif raw.startswith(b"<?xml"):
        decl = _DECLARATION.match(raw)
        enc = _ENCODING.search(decl.group(0)) if decl else None
        if enc and enc.group(1).lower() not in _UTF8_NAMES:
            raw = _transcode(raw, enc.group(1).decode("ascii"), name)
    # memchr for the rare '!' first: '<' is everywhere in XML and makes a '<!' search slow.
    if b"!" in raw and b"<!" in raw and _MARKUP_DECLARATION.search(raw):
        raise PackageProblem("xml-unsafe", f"part {name!r} declares a DOCTYPE/ENTITY (never expanded here)")
    return raw


def _transcode(raw: bytes, codec: str, name: str) -> bytes:
    try:
        text = raw.decode(codec)
    except (LookupError, UnicodeDecodeError) as exc:
        raise PackageProblem("xml-malformed", f"part {name!r} cannot be decoded as {codec}: {exc}") from None
    text = text.lstrip("\ufeff")
    if text.startswith("<?xml"):
        end = text.find("?>")
        text = text[end + 2 :] if end >= 0 else text
    return text.encode("utf-8")


# ---------------------------------------------------------------- sheet XML bounds

# Fold A-Z to A, digits to 0, tag ends to a space and ':' to '<', so that a few C-speed substring
# counts prove every cell tag is the plain `<c r="A1"` form before the cheap path is trusted. Folding
# ':' makes a prefixed tag (<x:c>, which calamine reads as <c>) look like an extra bare one.
_FOLD = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\t\n\r/>:", b"A" * 26 + b"0" * 10 + b"    " + b" <"
)
# A plain cell tag with its self-closing mark. Attribute values may not hold '<', '>' or quotes here,
# so a '>' inside a value cannot fake the end of the tag; any other shape goes to the lexer.
_REFS = re.compile(rb'<c r="([A-Z]{1,3})([0-9]{1,7})"(?:\s+[A-Za-z_][\w:.-]*="[^"<>]*")*\s*(/?)>')
_REF = re.compile(rb"([A-Z]{1,3})([0-9]{1,7})")
# A lexer in document order, as quick-xml tokenizes: comments, CDATA and processing instructions are
# skipped whole, quoted attribute values may hold '>', and prefixes are ignored (calamine matches
# local names only). Only row, c, f and sheetData tags carry groups.
_LEX = re.compile(
    rb"""<!--.*?-->|<!\[CDATA\[.*?\]\]>|<\?.*?\?>"""
    rb"""|<(/?)(?:[^\s/>:!?"']+:)?(row|c|f|sheetData)(?=[\s/>])((?:[^>"']|"[^"]*"|'[^']*')*)>"""
    rb"""|<(?:[^>"']|"[^"]*"|'[^']*')*>""",
    re.S,
)
_ATTR_R = re.compile(rb"""(?:^|\s)r\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_ATTR_T = re.compile(rb"""(?:^|\s)t\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_ATTR_REF = re.compile(rb"""(?:^|\s)ref\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_COLS: dict[bytes, int] = {}


@dataclass(frozen=True)
class SheetScan:
    """What the raw sheet XML says before calamine reads it.

    `formulas` are the zero-based cells holding an <f> element: their cached values are Excel's last
    answer (or xlsxwriter's 0), never something to trust. `arrays` are array-formula ranges whose
    other cells show results without an <f> of their own.
    """

    cell_tags: int
    formulas: frozenset[tuple[int, int]]
    arrays: tuple[tuple[int, int, int, int], ...] = ()


def scan_sheet(xml: bytes, name: str, limits: Limits) -> SheetScan:
    """Count cells, find formula cells and bound the area calamine will allocate for this sheet."""
    start = xml.find(b"sheetData")
    if start < 0:
        return SheetScan(0, frozenset())  # calamine stops before any cell: nothing to bound
    folded = xml.translate(_FOLD)
    tags = folded.count(b"<c ", start)
    if tags > limits.max_cells:
        raise _too_many_cells(name, limits)
    # Comments, CDATA and processing instructions can hide or fake tags: leave them to the lexer.
    hidden = (xml.find(b"!", start) >= 0 and xml.find(b"<!", start) >= 0) or (
        xml.find(b"?", start) >= 0 and xml.find(b"<?", start) >= 0
    )
    if hidden or tags != folded.count(b'<c r="A', start):
        return _scan_slow(xml, name, limits)
    wide = folded.find(b'<c r="AA', start) >= 0  # a column beyond Z
    tall = folded.find(b'<c r="A000000', start) >= 0  # a row beyond 99999
    if wide or tall or 26 * 99_999 > limits.max_sheet_area:
        refs = _REFS.findall(xml, start)
        if len(refs) != tags:
            return _scan_slow(xml, name, limits)
        # calamine drops empty cells before sizing its grid: Gnumeric writes thousands of <c s=".."/>.
        valued = [(letters, digits) for letters, digits, empty in refs if not empty]
        if valued:
            letters, digits = zip(*valued)
            cols = [_col(x) for x in set(letters)]
            rows = [int(x) - 1 for x in set(digits)]
            _check_box(min(rows), min(cols), max(rows), max(cols), name, limits)
    formulas = _formulas_fast(xml, folded, start)
    if formulas is None:
        return _scan_slow(xml, name, limits)
    return SheetScan(tags, frozenset(formulas[0]), tuple(formulas[1]))


def _formulas_fast(xml: bytes, folded: bytes, start: int) -> tuple[set, list] | None:
    """Formula cells when every <f> is the first thing inside its <c r="..">; None means 'ask the lexer'."""
    cells: set[tuple[int, int]] = set()
    arrays: list[tuple[int, int, int, int]] = []
    find, rfind = folded.find, folded.rfind
    pos = find(b"<f ", start)
    while pos >= 0:
        at = rfind(b'<c r="', start, pos)
        if at < 0 or xml[pos] != 60 or xml.find(b"<", at + 1, pos) >= 0:  # 60 is '<'
            return None
        quote = xml.find(b'"', at + 6, pos)
        ref = _REF.fullmatch(xml, at + 6, quote) if quote > 0 else None
        if ref is None:
            return None
        cells.add((int(ref.group(2)) - 1, _col(ref.group(1))))
        if xml[pos + 2] != 62:  # attributes: t="shared" is common, t="array" needs its range
            _note_array(xml[pos : xml.find(b">", pos) + 1], arrays)
        pos = find(b"<f ", pos + 3)
    return cells, arrays


def _scan_slow(xml: bytes, name: str, limits: Limits) -> SheetScan:
    """Tokenize the sheet and place cells exactly as calamine does (r attribute or running index).

    Inside a cell calamine ignores row and cell tags, so such nesting would put the two counts out of
    step: no spreadsheet program writes it, and it is refused rather than modelled.
    """
    row = col = 0
    tags = 0
    inside = in_cell = False
    cell: tuple[int, int] | None = None
    box = [MAX_ROWS, MAX_COLS, -1, -1]
    formulas: set[tuple[int, int]] = set()
    arrays: list[tuple[int, int, int, int]] = []
    for match in _LEX.finditer(xml):
        kind = match.group(2)
        if kind is None:
            continue
        closing, attrs = match.group(1), match.group(3)
        if kind == b"sheetData":
            # Cells after </sheetData> are counted too: harmless, and it keeps the scan a superset.
            inside = inside or not closing
            continue
        if not inside:
            continue
        selfclosing = attrs.endswith(b"/")
        if kind == b"f":
            if not closing and cell is not None:
                formulas.add(cell)
                _note_array(match.group(0), arrays)
            continue
        if in_cell != (kind == b"c" and bool(closing)):
            raise PackageProblem("xml-malformed", f"sheet {name!r} nests rows or cells inside a cell")
        if kind == b"c" and closing:
            in_cell = False
        elif kind == b"row":
            if closing:
                row, col = row + 1, 0
                continue
            ref = _attr(_ATTR_R, attrs)
            parsed = _parse_ref(ref, name) if ref is not None else None
            if parsed is not None:
                row = parsed[0]
            if selfclosing:  # calamine expands <row/> into a start and an end
                row, col = row + 1, 0
        else:
            tags += 1
            if tags > limits.max_cells:
                raise _too_many_cells(name, limits)
            in_cell = not selfclosing
            ref = _attr(_ATTR_R, attrs)
            parsed = _parse_ref(ref, name) if ref is not None else None
            if parsed is not None and parsed[1] is not None:
                cell = (parsed[0], parsed[1])
                col = parsed[1]
            else:
                cell = (row, col)
            col += 1
            if not selfclosing:  # an empty <c/> never reaches calamine's grid
                box[0], box[1] = min(box[0], cell[0]), min(box[1], cell[1])
                box[2], box[3] = max(box[2], cell[0]), max(box[3], cell[1])
    if box[2] >= 0:
        _check_box(box[0], box[1], box[2], box[3], name, limits)
    return SheetScan(tags, frozenset(formulas), tuple(arrays))


def _attr(pattern: re.Pattern[bytes], attrs: bytes) -> bytes | None:
    match = pattern.search(attrs)
    if match is None:
        return None
    return match.group(1) if match.group(1) is not None else match.group(2)


def _parse_ref(ref: bytes, name: str) -> tuple[int, int | None] | None:
    """Zero-based (row, col) of 'B7'/'7'; None where calamine would stop with an error.

    A reference past Excel's grid is refused outright: calamine's u32 arithmetic wraps around
    instead of failing, so it could land anywhere.
    """
    match = re.fullmatch(rb"([A-Za-z]*)([0-9]+)", ref)
    if match is None:
        return None
    letters, digits = match.groups()
    row = int(digits) - 1 if len(digits) <= 8 else MAX_ROWS
    col = _col(letters.upper()) if letters else None
    if row < 0:
        return None
    if row >= MAX_ROWS or (col is not None and col >= MAX_COLS):
        raise PackageProblem(
            "too-many-cells", f"sheet {name!r} has a cell outside Excel's grid ({ref.decode()!r})"
        )
    return row, col


def _col(letters: bytes) -> int:
    """Zero-based column of upper-case letters; anything past XFD maps to MAX_COLS."""
    value = _COLS.get(letters)
    if value is None:
        if len(letters) > 3:
            return MAX_COLS
        value = 0
        for byte in letters:
            value = value * 26 + (byte - 64)
        value -= 1
        _COLS[letters] = value  # at most 18,278 keys: the cache stays small
    return value


def _note_array(tag: bytes, arrays: list[tuple[int, int, int, int]]) -> None:
    if b"array" not in tag and b"dataTable" not in tag:
        return
    kind = _attr(_ATTR_T, tag)
    if kind not in (b"array", b"dataTable"):
        return
    ref = _attr(_ATTR_REF, tag)
    if not ref:
        return
    ends = [_parse_ref_quiet(part) for part in ref.split(b":")]
    if len(ends) in (1, 2) and all(ends):
        first, last = ends[0], ends[-1]
        arrays.append(
            (min(first[0], last[0]), min(first[1], last[1]), max(first[0], last[0]), max(first[1], last[1]))
        )


def _parse_ref_quiet(ref: bytes) -> tuple[int, int] | None:
    match = re.fullmatch(rb"\$?([A-Za-z]{1,3})\$?([0-9]{1,7})", ref)
    if match is None:
        return None
    return int(match.group(2)) - 1, _col(match.group(1).upper())


def _check_box(
    first_row: int, first_col: int, last_row: int, last_col: int, name: str, limits: Limits
) -> None:
    area = (last_row - first_row + 1) * (last_col - first_col + 1)
    if area > limits.max_sheet_area:
        raise PackageProblem(
            "too-many-cells",
            f"sheet {name!r} spreads its cells over {area:,} positions (limit {limits.max_sheet_area:,})",
        )


def _too_many_cells(name: str, limits: Limits) -> PackageProblem:
    return PackageProblem("too-many-cells", f"sheet {name!r} holds more than {limits.max_cells:,} cells")


# ---------------------------------------------------------------- whole file

_FORMAT_PROBLEMS = {
    "empty": "file-empty",
    "xls": "unsupported-format",
    "xlsb": "unsupported-format",
    "ods": "unsupported-format",
    "fods": "unsupported-format",
    "numbers": "unsupported-format",
    "xml-spreadsheet": "unsupported-format",
    "ole2-encrypted": "encrypted",
    "ods-encrypted": "encrypted",
    "xlsm": "macro-enabled",
    "xltm": "macro-enabled",
}
ACCEPTED = ("xlsx", "xltx")


def format_problem(fmt: str) -> PackageProblem:
    """The rejection for a file whose bytes are `fmt`, telling the salesperson what to do."""
    what = FORMAT_DESCRIPTIONS.get(fmt, FORMAT_DESCRIPTIONS["unknown"])
    code = _FORMAT_PROBLEMS.get(fmt, "not-a-workbook")
    if code == "file-empty":
        return PackageProblem(code, "the file is empty (0 bytes)")
    if code == "encrypted":
        return PackageProblem(code, f"the file is {what}: remove the password and save it again as .xlsx")
    if code == "macro-enabled":
        return PackageProblem(
            code, f"the file is {what}: save it as 'Excel Workbook (*.xlsx)' without macros"
        )
    if code == "unsupported-format":
        return PackageProblem(code, f"the file is {what}: open it and save it as 'Excel Workbook (*.xlsx)'")
    if fmt in ("csv", "text"):
        return PackageProblem(code, f"the file looks like {what}, not an Excel workbook: use the template")
    if fmt == "unknown":
        return PackageProblem(code, "the file is not an Excel workbook (unrecognised content)")
    return PackageProblem(code, f"the file is {what}, not an Excel workbook")


def open_package(data: bytes, limits: Limits) -> Archive:
    """Check a returned file's bytes; return its archive ready for the reader or raise PackageProblem.

    Order matters: magic bytes and the zip directory are judged before anything is inflated, and
    entry names and declared sizes before any part is inflated.
    """
    if not data:
        raise format_problem("empty")
    if len(data) > limits.max_file_bytes:
        raise PackageProblem(
            "file-too-large", f"the file is {_mb(len(data))} (limit {_mb(limits.max_file_bytes)})"
        )
    if not data.startswith(_ZIP_MAGICS):
        if data.startswith(b"PK"):
            raise PackageProblem("zip-corrupt", "the file starts like a zip archive but is damaged")
        raise format_problem(_sniff_ole2(data) if data.startswith(OLE2_MAGIC) else _sniff_other(data))
    archive = Archive.parse(data, limits)
    archive.check_entries()
    fmt = archive.classify()
    if fmt not in ACCEPTED:
        raise format_problem(fmt)
    archive.check_all_xml()
    return archive


def check_file(data: bytes, name: str, limits: Limits = Limits()) -> Archive | list[Problem]:
    """The checked archive of a returned file's bytes, or the problems that rule it out."""
    try:
        return open_package(data, limits)
    except PackageProblem as exc:
        return [exc.problem(name)]


def too_large(size: int, limits: Limits) -> PackageProblem:
    return PackageProblem("file-too-large", f"the file is {_mb(size)} (limit {_mb(limits.max_file_bytes)})")
