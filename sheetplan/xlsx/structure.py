"""Structural checks of a written .xlsx against the format and Excel's limits.

Excel refuses or "repairs" (silently dropping parts of) a file that breaks a limit other programs accept,
and Excel cannot run here: these checks are how the writers are held to what Excel needs. Each finding is
one record; an empty list means the file passed. `check_workbook(path)` runs them all.
"""

from __future__ import annotations

import io
import posixpath
import re
import struct
import xml.etree.ElementTree as ET
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from sheetplan.xlsx.text import MAX_PRINT_TEXT, decode_xstring, utf16_len

MAX_SHEET_NAME = 31
MAX_CELL_TEXT = 32767
MAX_ROWS, MAX_COLS = 1_048_576, 16_384
MAX_NAME = 255  # a defined name's own length
MAX_FORMULA = 8192  # a defined name's formula, like a cell's
MAX_LIST = 255  # a data-validation list typed into the rule ("a,b,c")
MAX_PROMPT, MAX_PROMPT_TITLE = 255, 32  # the input and error messages of a validation, and their titles
MAX_HYPERLINKS = 65_530  # per sheet
MAX_LINK = 2079  # characters of a hyperlink's address
MAX_STYLES = 64_000  # cell formats (cellXfs)

_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")
_NAME = re.compile(r"^[A-Za-z_\\\u00c0-\uffff][\w.\\?\u00c0-\uffff]*$")
_A1_LIKE = re.compile(r"^[A-Za-z]{1,3}[0-9]{1,7}$")
_R1C1_LIKE = re.compile(r"^([Rr][0-9]*)?([Cc][0-9]*)?$")
_REF = re.compile(r"^([A-Z]{1,3})([0-9]{1,7})$")
_RANGE = re.compile(r"^([A-Z]{1,3})([0-9]{1,7})(?::([A-Z]{1,3})([0-9]{1,7}))?$")
_HEADERS = ("oddHeader", "oddFooter", "evenHeader", "evenFooter", "firstHeader", "firstFooter")
_OFFICE_DOCUMENT = "/officeDocument"
_HYPERLINK_REL = "/hyperlink"


@dataclass(frozen=True)
class Finding:
    """One breach: the zip entry it is in, a short code, and what is wrong."""

    part: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.part}: {self.code}: {self.message}"


def check_workbook(path: str | Path) -> list[Finding]:
    """Every structural finding of the .xlsx at `path` (an empty list: the file passes)."""
    data = Path(path).read_bytes()
    found = check_zip(data)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        return found + [Finding("", "zip", f"not a readable zip archive: {exc}")]
    with archive:
        found += _Package(archive).check()
    return found


# --- the zip layer -----------------------------------------------------------------------------------------


def _zip64_extra(extra: bytes, fields: list[str], values: dict[str, int]) -> tuple[bool, dict[str, int]]:
    """Read the ZIP64 extra field (id 1): the 64-bit values of the fields whose 32-bit value is all ones."""
    out, pos = dict(values), 0
    while pos + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4:pos + 4 + size]
        if tag == 1:
            offset = 0
            for name in fields:
                if offset + 8 <= len(body):
                    out[name] = struct.unpack_from("<Q", body, offset)[0]
                    offset += 8
            return True, out
        pos += 4 + size
    return False, out


def _zip64_needed() -> int:
    """Sizes and offsets from which ZIP64 is needed: where Python's zipfile switches (2 GiB; the spec's
    limit is 4 GiB), read when called."""
    return zipfile.ZIP64_LIMIT + 1


def check_zip(data: bytes) -> list[Finding]:
    """Local headers agree with the central directory, ZIP64 only where an entry needs it, no duplicate
    names (OPC part names are case-insensitive)."""
    found: list[Finding] = []
    needed = _zip64_needed()
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if end < 0:
        return [Finding("", "zip", "no end of central directory record")]
    count, size, offset = struct.unpack_from("<HII", data, end + 10)
    if count == 0xFFFF or 0xFFFFFFFF in (size, offset):
        locator = data.rfind(b"PK\x06\x07", 0, end)
        if locator < 0:
            return [Finding("", "zip", "ZIP64 end record announced but missing")]
        record = struct.unpack_from("<Q", data, locator + 8)[0]
        count, size, offset = struct.unpack_from("<QQQ", data, record + 32)
    seen: dict[str, str] = {}
    pos = offset
    for _ in range(count):
        if data[pos:pos + 4] != b"PK\x01\x02":
            found.append(Finding("", "zip", f"central directory entry expected at byte {pos}"))
            break
        (flags, method, crc, csize, usize, name_len, extra_len, comment_len,
         local) = (*struct.unpack_from("<HHxxxxIIIHHH", data, pos + 8), struct.unpack_from("<I", data, pos + 42)[0])
        name = data[pos + 46:pos + 46 + name_len].decode("utf-8" if flags & 0x800 else "cp437")
        extra = data[pos + 46 + name_len:pos + 46 + name_len + extra_len]
        pos += 46 + name_len + extra_len + comment_len
        wanted = [k for k, v in (("usize", usize), ("csize", csize), ("local", local)) if v == 0xFFFFFFFF]
        has64, real = _zip64_extra(extra, wanted, {"usize": usize, "csize": csize, "local": local})
        key = name.casefold()
        if key in seen:
            found.append(Finding(name, "duplicate_entry", f"the archive holds {seen[key]!r} and {name!r}"))
        seen[key] = name
        if has64 and max(real["usize"], real["csize"]) < needed and real["local"] < needed:
            found.append(Finding(name, "zip64", "central directory uses ZIP64 for an entry that does not need it"))
        found += _check_local(data, name, flags, method, crc, real)
    return found


def _check_local(data: bytes, name: str, flags: int, method: int, crc: int, real: dict[str, int]) -> list[Finding]:
    at = real["local"]
    if data[at:at + 4] != b"PK\x03\x04":
        return [Finding(name, "zip_local", f"no local header at byte {at}")]
    l_flags, l_method, _t, _d, l_crc, l_csize, l_usize, l_name, l_extra = struct.unpack_from("<HHHHIIIHH", data,
                                                                                             at + 6)
    local_name = data[at + 30:at + 30 + l_name].decode("utf-8" if l_flags & 0x800 else "cp437")
    extra = data[at + 30 + l_name:at + 30 + l_name + l_extra]
    found = []
    if local_name != name:
        found.append(Finding(name, "zip_local", f"local header names {local_name!r}"))
    if l_method != method or (l_flags & 0x8) != (flags & 0x8):
        found.append(Finding(name, "zip_local", "local header and central directory differ in method or flags"))
    wanted = [k for k, v in (("usize", l_usize), ("csize", l_csize)) if v == 0xFFFFFFFF]
    if wanted and len(wanted) < 2:
        wanted = ["usize", "csize"]  # the local ZIP64 field always holds both sizes
    has64, local = _zip64_extra(extra, wanted, {"usize": l_usize, "csize": l_csize})
    if (l_usize == 0xFFFFFFFF or l_csize == 0xFFFFFFFF) and not has64:
        found.append(Finding(name, "zip64", "local header has 0xFFFFFFFF sizes and no ZIP64 field"))
    if has64 and max(real["usize"], real["csize"]) < _zip64_needed():
        found.append(Finding(name, "zip64", f"local header is ZIP64 (sizes {l_csize:#x}/{l_usize:#x}) for an entry "
                                           f"of {real['csize']} bytes; the central directory says otherwise"))
    if flags & 0x8:  # sizes in a data descriptor after the data
        start = at + 30 + l_name + l_extra + real["csize"]
        if data[start:start + 4] == b"PK\x07\x08":
            start += 4
        wide = real["usize"] >= 0xFFFFFFFF or real["csize"] >= 0xFFFFFFFF
        l_crc, local["csize"], local["usize"] = struct.unpack_from("<IQQ" if wide else "<III", data, start)
    if (l_crc, local["csize"], local["usize"]) != (crc, real["csize"], real["usize"]):
        found.append(Finding(name, "zip_local", f"local header says crc {l_crc:#x}, {local['csize']} / "
                                               f"{local['usize']} bytes; central directory {crc:#x}, "
                                               f"{real['csize']} / {real['usize']}"))
    return found


# --- the package ---------------------------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _text_of(element: ET.Element) -> str:
    """A string item's text (<t>, or the <t> of each run; phonetic hints left out) as Excel shows it."""
    parts = []
    for child in element:
        tag = _local(child.tag)
        if tag == "t":
            parts.append(child.text or "")
        elif tag == "r":
            parts += [t.text or "" for t in child if _local(t.tag) == "t"]
    return decode_xstring("".join(parts))


def _col_number(letters: str) -> int:
    number = 0
    for ch in letters:
        number = number * 26 + ord(ch) - 64
    return number


class _Package:
    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        self.names = {info.filename.casefold(): info.filename for info in archive.infolist()
                      if not info.filename.endswith("/")}
        self.found: list[Finding] = []

    def add(self, part: str, code: str, message: str) -> None:
        self.found.append(Finding(part, code, message))

    def parse(self, name: str) -> ET.Element | None:
        try:
            return ET.fromstring(self.archive.read(self.names[name.casefold()]))
        except (KeyError, ET.ParseError, zipfile.BadZipFile, zlib.error) as exc:
            self.add(name, "xml", f"cannot be read: {exc}")
            return None

    def check(self) -> list[Finding]:
        self._content_types()
        rels = self._relationships()
        main = next((t for source, kind, t, _ in rels.get("", []) if kind.endswith(_OFFICE_DOCUMENT)), None)
        if main is None:
            self.add("_rels/.rels", "relationship", "no officeDocument relationship")
            return self.found
        self._workbook(main, rels)
        self._charts()
        return self.found

    def _content_types(self) -> None:
        root = self.parse("[Content_Types].xml")
        if root is None:
            return
        defaults = {e.get("Extension", "").casefold() for e in root if _local(e.tag) == "Default"}
        overrides = {e.get("PartName", "").lstrip("/").casefold() for e in root if _local(e.tag) == "Override"}
        for key, name in self.names.items():
            if key == "[content_types].xml":
                continue
            base = posixpath.basename(key)
            extension = base.rpartition(".")[2] if "." in base else ""  # "_rels/.rels" has the extension rels
            if key not in overrides and extension not in defaults:
                self.add(name, "content_type", "no content type covers this part")
        for key in sorted(overrides - set(self.names)):
            self.add("[Content_Types].xml", "content_type", f"an Override names /{key}, which is not in the archive")

    def _relationships(self) -> dict[str, list[tuple[str, str, str, str]]]:
        """source part -> [(source, type, resolved target or external target, mode)]; missing targets noted."""
        out: dict[str, list[tuple[str, str, str, str]]] = {}
        for key, name in self.names.items():
            if not key.endswith(".rels"):
                continue
            folder, _, file = name.rpartition("/")
            if posixpath.basename(folder) != "_rels":
                continue
            source = posixpath.join(posixpath.dirname(folder), file[:-5]) if file != ".rels" else ""
            root = self.parse(name)
            if root is None:
                continue
            ids = set()
            for rel in root:
                rid, kind, target, mode = rel.get("Id"), rel.get("Type", ""), rel.get("Target", ""), rel.get(
                    "TargetMode", "Internal")
                if rid in ids:
                    self.add(name, "relationship", f"Id {rid} is used twice")
                ids.add(rid)
                if mode == "External":
                    out.setdefault(source, []).append((source, kind, target, mode))
                    if kind.endswith(_HYPERLINK_REL) and len(target) > MAX_LINK:
                        self.add(name, "hyperlink", f"{rid}: address of {len(target)} characters (Excel: {MAX_LINK})")
                    continue
                clean = unquote(target.split("#")[0])
                resolved = clean.lstrip("/") if clean.startswith("/") else posixpath.normpath(
                    posixpath.join(posixpath.dirname(source), clean))
                if resolved.casefold() not in self.names:
                    self.add(name, "relationship", f"{rid} points to {target!r}, which is not in the archive")
                out.setdefault(source, []).append((source, kind, resolved, mode))
        return out

    def _workbook(self, main: str, rels: dict) -> None:
        root = self.parse(main)
        if root is None:
            return
        targets = {}
        rels_root = self.parse(posixpath.join(posixpath.dirname(main), "_rels", posixpath.basename(main) + ".rels"))
        by_id = {rel.get("Id"): rel for rel in rels_root} if rels_root is not None else {}
        for _source, kind, target, _mode in rels.get(main, []):
            targets.setdefault(kind.rpartition("/")[2], []).append(target)
        shared = self._shared_strings(targets.get("sharedStrings", []))
        styles = self._styles(targets.get("styles", []))
        sheet_names: list[str] = []
        for element in root.iter():
            tag = _local(element.tag)
            if tag == "sheet":
                name = element.get("name", "")
                self._sheet_name(main, name, sheet_names)
                sheet_names.append(name)
                rid = next((v for k, v in element.attrib.items() if _local(k) == "id"), None)
                rel = by_id.get(rid)
                if rel is None:
                    self.add(main, "relationship", f"sheet {name!r} has no relationship {rid}")
                    continue
                target = posixpath.normpath(posixpath.join(posixpath.dirname(main), unquote(rel.get("Target", ""))))
                if rel.get("Target", "").startswith("/"):
                    target = rel.get("Target", "").lstrip("/")
                if target.casefold() in self.names and rel.get("Type", "").endswith("/worksheet"):
                    self._sheet(self.names[target.casefold()], shared, styles, rels.get(self.names[target.casefold()],
                                                                                         []))
        seen = set()
        for element in root.iter():
            if _local(element.tag) != "definedName":
                continue
            name, scope = element.get("name", ""), element.get("localSheetId")
            self._defined_name(main, name, element.text or "")
            if (scope, name.casefold()) in seen:
                self.add(main, "defined_name", f"{name!r} is defined twice in one scope")
            seen.add((scope, name.casefold()))

    def _sheet_name(self, part: str, name: str, taken: list[str]) -> None:
        if not name or utf16_len(name) > MAX_SHEET_NAME:
            self.add(part, "sheet_name", f"sheet name {name!r} is empty or over {MAX_SHEET_NAME} characters")
        if _BAD_SHEET_CHARS.search(name) or name.startswith("'") or name.endswith("'"):
            self.add(part, "sheet_name", f"sheet name {name!r} has a character Excel forbids")
        if name.casefold() in (t.casefold() for t in taken):
            self.add(part, "sheet_name", f"sheet name {name!r} is used twice")

    def _defined_name(self, part: str, name: str, formula: str) -> None:
        bare = name[len("_xlnm."):] if name.startswith("_xlnm.") else name
        if (not name or len(name) > MAX_NAME or not _NAME.match(bare) or _A1_LIKE.match(bare)
                or _R1C1_LIKE.match(bare)):
            self.add(part, "defined_name", f"{name!r} is not a name Excel accepts")
        if len(formula) > MAX_FORMULA:
            self.add(part, "defined_name", f"{name!r} refers to a formula of {len(formula)} characters")

    def _shared_strings(self, parts: list[str]) -> int:
        """How many shared strings there are (each checked for length)."""
        if not parts:
            return 0
        root = self.parse(parts[0])
        if root is None:
            return 0
        items = [e for e in root if _local(e.tag) == "si"]
        for index, item in enumerate(items):
            if utf16_len(_text_of(item)) > MAX_CELL_TEXT:
                self.add(parts[0], "cell_text", f"shared string {index} is over {MAX_CELL_TEXT} characters")
        return len(items)

    def _styles(self, parts: list[str]) -> int:
        """How many cell formats there are."""
        if not parts:
            return 1  # Excel's built-in default
        root = self.parse(parts[0])
        if root is None:
            return 1
        cell_xfs = next((e for e in root if _local(e.tag) == "cellXfs"), None)
        count = 0 if cell_xfs is None else sum(1 for e in cell_xfs if _local(e.tag) == "xf")
        if count > MAX_STYLES:
            self.add(parts[0], "styles", f"{count} cell formats (Excel: {MAX_STYLES})")
        return max(count, 1)

    def _sheet(self, part: str, shared: int, styles: int, rels: list) -> None:
        """Rows in order, cells in order within their row, indices in range, texts and print headers within
        Excel's limits, validations and hyperlinks within theirs, merged ranges apart."""
        last_row, last_col, hyperlinks, merges = 0, 0, 0, []
        report = 0  # at most a few findings of one kind per sheet
        try:
            stream = self.archive.open(part)
            for event, element in ET.iterparse(stream, events=("start", "end")):
                tag = _local(element.tag)
                if event == "start":
                    if tag == "row":  # its number is known at the start; its cells come before its end
                        number = int(element.get("r") or last_row + 1)
                        if (number <= last_row or number > MAX_ROWS) and report < 20:
                            self.add(part, "row_order", f"row {number} after row {last_row}")
                            report += 1
                        last_row, last_col = number, 0
                    continue
                if tag == "c":
                    ref = element.get("r")
                    problem = self._cell(element, ref, last_row, last_col, shared, styles)
                    match = _REF.match(ref or "")
                    last_col = _col_number(match.group(1)) if match else last_col + 1
                    if problem and report < 20:
                        self.add(part, *problem)
                        report += 1
                    element.clear()
                elif tag == "row":
                    element.clear()
                elif tag in _HEADERS:
                    text = decode_xstring(element.text or "")
                    if utf16_len(text) > MAX_PRINT_TEXT:
                        self.add(part, "header_footer", f"{tag} of {utf16_len(text)} UTF-16 units "
                                                        f"(Excel: {MAX_PRINT_TEXT}): Excel drops it")
                elif tag == "dataValidation":
                    self._validation(part, element)
                elif tag == "hyperlink":
                    hyperlinks += 1
                    if len(element.get("location", "")) > MAX_LINK:
                        self.add(part, "hyperlink", f"a link to a location of over {MAX_LINK} characters")
                elif tag == "mergeCell":
                    merges.append(element.get("ref", ""))
        except (ET.ParseError, zipfile.BadZipFile, zlib.error) as exc:
            self.add(part, "xml", f"cannot be read: {exc}")
            return
        if hyperlinks > MAX_HYPERLINKS:
            self.add(part, "hyperlink", f"{hyperlinks} hyperlinks (Excel: {MAX_HYPERLINKS} a sheet)")
        self._merges(part, merges)

    def _cell(self, element: ET.Element, ref: str | None, row: int, after_col: int, shared: int,
              styles: int) -> tuple[str, str] | None:
        match = _REF.match(ref or "")
        if ref is not None:
            if not match or int(match.group(2)) != row:
                return "cell_ref", f"cell {ref!r} in row {row}"
            col = _col_number(match.group(1))
            if col <= after_col or col > MAX_COLS:
                return "cell_order", f"cell {ref} after column {after_col}"
        style = element.get("s")
        if style is not None and not (style.isdigit() and int(style) < styles):
            return "style", f"cell {ref} uses style {style} of {styles}"
        kind = element.get("t", "n")
        value = next((e for e in element if _local(e.tag) == "v"), None)
        if kind == "s":
            text = value.text if value is not None else ""
            if not (text or "").strip().isdigit() or int(text) >= shared:
                return "shared_string", f"cell {ref} refers to shared string {text!r} of {shared}"
        elif kind == "inlineStr":
            item = next((e for e in element if _local(e.tag) == "is"), None)
            if item is not None and utf16_len(_text_of(item)) > MAX_CELL_TEXT:
                return "cell_text", f"cell {ref} holds over {MAX_CELL_TEXT} characters"
        elif kind == "str" and value is not None and utf16_len(decode_xstring(value.text or "")) > MAX_CELL_TEXT:
            return "cell_text", f"cell {ref} holds over {MAX_CELL_TEXT} characters"
        return None

    def _validation(self, part: str, element: ET.Element) -> None:
        where = element.get("sqref", "")
        for attribute, limit in (("prompt", MAX_PROMPT), ("error", MAX_PROMPT), ("promptTitle", MAX_PROMPT_TITLE),
                                 ("errorTitle", MAX_PROMPT_TITLE)):
            text = decode_xstring(element.get(attribute, ""))
            if utf16_len(text) > limit:
                self.add(part, "validation", f"{where}: {attribute} of {utf16_len(text)} characters (Excel: {limit})")
        formula = next((e.text or "" for e in element if _local(e.tag) == "formula1"), "")
        if element.get("type") == "list" and formula.startswith('"'):
            if utf16_len(formula[1:-1]) > MAX_LIST:
                self.add(part, "validation", f"{where}: a list of {utf16_len(formula) - 2} characters "
                                             f"(Excel: {MAX_LIST})")

    def _merges(self, part: str, refs: list[str]) -> None:
        boxes = []
        for ref in refs:
            match = _RANGE.match(ref)
            if not match:
                self.add(part, "merge", f"merged range {ref!r} is not a range")
                continue
            c1, r1 = _col_number(match.group(1)), int(match.group(2))
            c2, r2 = (_col_number(match.group(3)), int(match.group(4))) if match.group(3) else (c1, r1)
            boxes.append((r1, c1, r2, c2, ref))
        boxes.sort()
        for i, (_r1, c1, r2, c2, ref) in enumerate(boxes):
            for other in boxes[i + 1:]:
                if other[0] > r2:
                    break
                if not (other[1] > c2 or other[3] < c1):
                    self.add(part, "merge", f"merged ranges {ref} and {other[4]} overlap")

    def _charts(self) -> None:
        """Every series reference in a chart carries its cache (a previewer draws from it; blank cells are
        simply points left out)."""
        for key, name in self.names.items():
            if not (key.startswith("xl/charts/chart") and key.endswith(".xml")):
                continue
            root = self.parse(name)
            if root is None:
                continue
            for element in root.iter():
                tag = _local(element.tag)
                if tag not in ("numRef", "strRef"):
                    continue
                cache = next((e for e in element if _local(e.tag) in ("numCache", "strCache")), None)
                formula = next((e.text for e in element if _local(e.tag) == "f"), "")
                count = None if cache is None else next((e.get("val") for e in cache if _local(e.tag) == "ptCount"),
                                                        None)
                if count in (None, "0"):
                    self.add(name, "chart_cache", f"{tag} {formula} has no cache")


__all__ = ["Finding", "check_workbook", "check_zip"]
