"""Name a file's format from its bytes alone, so a wrong extension never decides how it is read."""

from __future__ import annotations

from sheetplan.returns.limits import Limits, PackageProblem
from sheetplan.returns.package import Archive

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")


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
    if data.startswith(ZIP_MAGICS):
        try:
            archive = Archive.parse(data, Limits())
        except PackageProblem:
            return "zip"
        try:
            return archive.classify()
        except PackageProblem:
            return "zip"
    return _sniff_other(data)


def sniff_not_zip(data: bytes) -> str:
    """The format of non-empty bytes that do not open like a zip: no archive is parsed for them."""
    return _sniff_ole2(data) if data.startswith(OLE2_MAGIC) else _sniff_other(data)


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
