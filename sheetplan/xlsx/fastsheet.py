"""Stream a large table into an xlsx sheet's XML directly: about ten times faster than writing it
cell by cell through xlsxwriter, for the hundreds of thousands of rows of a fact table.

xlsxwriter still writes the workbook (styles, header, autofilter, freeze panes); afterwards the
sheet's <sheetData> is replaced by rows generated here, in chunks, so memory stays flat.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import zipfile

import numpy as np
import pandas as pd

from sheetplan.xlsx.a1 import col_letter
from sheetplan.xlsx.links import portable_rels
from sheetplan.xlsx.sheetlimits import check_extent
from sheetplan.xlsx.text import decode_xstring, needs_shared_string, shared_strings_xml, string_item, xml_text

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
CHUNK = 20_000


def _clean(text: str) -> str:
    return _CONTROL.sub("", text)


def _cell_body(text: str, shared: dict[str, int]) -> str:
    """What follows <c r=".."> for one text: a shared-string reference when the text carries a literal
    _xHHHH_ (openpyxl decodes escapes only in shared strings), else an inline string with edge spaces kept."""
    text = _clean(text)
    if text in shared:
        return f' t="s"><v>{shared[text]}</v></c>'
    space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
    return f' t="inlineStr"><is><t{space}>{xml_text(text)}</t></is></c>'


def _special_texts(frame: pd.DataFrame, kinds: list[str]) -> dict[str, int]:
    """Each text of the frame that must be a shared string, with how many cells hold it."""
    found: dict[str, int] = {}
    for col, kind in enumerate(kinds):
        if kind != "s":
            continue
        uniques, counts = np.unique(frame.iloc[:, col].to_numpy().astype(str), return_counts=True)
        for text, count in zip(uniques.tolist(), counts.tolist()):
            text = _clean(text)
            if text and needs_shared_string(text):
                found[text] = found.get(text, 0) + count
    return found


def _text_column(values: np.ndarray, letter: str, rows: list[str], shared: dict[str, int]) -> tuple[str, list]:
    """A text column's piece of the row template and its arguments; empty text gives no cell at all."""
    codes, uniques = pd.factorize(values.astype(str))  # hashing, not sorting: a few distinct texts per column
    bodies = np.array([_cell_body(u, shared) if u else "" for u in uniques.tolist()] or [""], dtype=object)
    per_row = bodies[codes].tolist()
    if "" not in set(bodies.tolist()):
        return f'<c r="{letter}%s"%s', [rows, per_row]
    return "%s", [[f'<c r="{letter}{r}"{body}' if body else "" for r, body in zip(rows, per_row)]]


def _number_column(values: np.ndarray, letter: str, rows: list[str], style, optional: bool) -> tuple[str, list]:
    """A number column's piece of the row template and its arguments. `style`: one xf index for the
    column or an array of one per row. `optional`: a missing value (NaN) gives no cell instead of 0."""
    raw = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    # repr is the shortest round-trip text, and the costliest step: made once per distinct value (a figure
    # that holds for a whole year repeats on twelve rows)
    codes, uniques = pd.factorize(np.nan_to_num(raw, nan=0.0, posinf=0.0, neginf=0.0))
    texts = np.array(list(map(repr, uniques.tolist())) or [""], dtype=object)[codes].tolist()
    if isinstance(style, np.ndarray):
        head, styles = f'<c r="{letter}%s" s="%s"><v>', [style.astype(str).tolist()]
    else:
        head, styles = f'<c r="{letter}%s"' + (f' s="{style}"' if style else "") + "><v>", []
    missing = np.isnan(raw)
    if not (optional and missing.any()):
        return head + "%s</v></c>", [rows, *styles, texts]
    cells = [head % args + text + "</v></c>" for args, text in zip(zip(rows, *styles), texts)]
    return "%s", [["" if gone else cell for gone, cell in zip(missing.tolist(), cells)]]


def sheet_rows(frame: pd.DataFrame, kinds: list[str], styles: list[int | None], first_row: int,
               shared: dict[str, int] | None = None):
    """Yield the <row> elements of `frame` as UTF-8 chunks; kinds per column: 's' text, 'n' number,
    'o' optional number (blank when missing) or 'b' boolean. `shared`: texts stored as shared strings.

    Each chunk is one %-template per row filled from per-column lists: a few string operations per cell in C,
    where building every cell through numpy string arrays cost four times as much."""
    shared = shared or {}
    for start in range(0, len(frame), CHUNK):
        part = frame.iloc[start:start + CHUNK]
        rows = [str(r) for r in range(first_row + start + 1, first_row + start + 1 + len(part))]
        template, arguments = ['<row r="%s">'], [rows]
        for col, (kind, style) in enumerate(zip(kinds, styles)):
            values = part.iloc[:, col].to_numpy()
            letter = col_letter(col)
            if isinstance(style, np.ndarray):
                style = style[start:start + CHUNK]
            if kind == "s":
                piece, args = _text_column(values, letter, rows, shared)
            elif kind == "b":
                piece, args = f'<c r="{letter}%s" t="b"><v>%s</v></c>', [rows, np.where(
                    values.astype(bool), "1", "0").tolist()]
            else:
                piece, args = _number_column(values, letter, rows, style, optional=kind == "o")
            template.append(piece)
            arguments += args
        row = "".join(template) + "</row>"
        yield "".join([row % cells for cells in zip(*arguments)]).encode("utf-8")


def replace_sheet_rows(path: str, sheet_number: int, frame: pd.DataFrame, kinds: list[str],
                       styles: list[int | None], header_rows: int = 1) -> None:
    """Keep the first `header_rows` rows xlsxwriter wrote and stream `frame` below them; a sheet that would
    pass Excel's limits is refused before anything is written (SheetTooLarge)."""
    check_extent(f"sheet{sheet_number}", header_rows + len(frame), len(kinds))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".xlsx", dir=os.path.dirname(path))
    os.close(fd)
    try:
        try:
            _rewrite(path, tmp, sheet_number, frame, kinds, styles, header_rows, zip64=False)
        except _NeedsZip64:
            _rewrite(path, tmp, sheet_number, frame, kinds, styles, header_rows, zip64=True)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class _NeedsZip64(Exception):
    """The streamed sheet came out larger than a standard ZIP entry holds."""


def _rewrite(path: str, tmp: str, sheet_number: int, frame: pd.DataFrame, kinds: list[str],
             styles: list[int | None], header_rows: int, zip64: bool) -> None:
    """Copy the workbook into `tmp` with the sheet's rows streamed in.

    The streamed entry's size is unknown when its local header is written. Declaring it ZIP64 up front
    (force_zip64) puts 0xFFFFFFFF sizes in the local header while the central directory holds 32-bit ones,
    and SheetJS refuses such a file. So the entry is written as standard ZIP, and only when it turns out
    too large for that is the whole file written again with the entry in ZIP64, where both headers agree.
    """
    entry = f"xl/worksheets/sheet{sheet_number}.xml"
    special = _special_texts(frame, kinds)
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED,
                                                          compresslevel=1) as target:
        present = set(source.namelist())
        table = source.read(SST).decode("utf-8") if SST in present else None
        base = table.count("<si>") + table.count("<si ") if table is not None else 0
        shared = {text: base + i for i, text in enumerate(special)}
        for info in source.infolist():
            if info.filename.endswith(".rels"):
                body = source.read(info)
                if special and table is None and info.filename == "xl/_rels/workbook.xml.rels":
                    body = body.replace(b"</Relationships>", _SST_REL + b"</Relationships>")
                target.writestr(info, portable_rels(body))
                continue
            if special and info.filename == SST:
                target.writestr(info, _extended_table(table, special))
                continue
            if special and table is None and info.filename == "[Content_Types].xml":
                target.writestr(info, source.read(info).replace(b"</Types>", _SST_TYPE + b"</Types>"))
                continue
            if info.filename != entry:
                with source.open(info) as src, target.open(info, "w") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                continue
            xml = source.read(info).decode("utf-8")
            head, _, rest = xml.partition("<sheetData>")
            body, _, tail = rest.partition("</sheetData>")
            kept = "".join(re.findall(r"<row [^>]*>.*?</row>", body, re.S)[:header_rows])
            last = f"{col_letter(len(kinds) - 1)}{header_rows + len(frame)}"
            head = re.sub(r'<dimension ref="[^"]*"/>', f'<dimension ref="A1:{last}"/>', head, count=1)
            # opened by name, the entry takes the archive's compression (deflate, level 1)
            try:
                with target.open(entry, "w", force_zip64=zip64) as dst:
                    dst.write((head + "<sheetData>" + kept).encode("utf-8"))
                    for chunk in sheet_rows(frame, kinds, styles, header_rows, shared):
                        dst.write(chunk)
                    dst.write(("</sheetData>" + tail).encode("utf-8"))
            except RuntimeError as exc:  # zipfile: "File size too large, try using force_zip64"
                if zip64 or "force_zip64" not in str(exc):
                    raise
                raise _NeedsZip64() from exc
        if special and table is None:
            target.writestr(SST, shared_strings_xml(list(special), sum(special.values())))


SST = "xl/sharedStrings.xml"
_SST_REL = (b'<Relationship Id="rIdSheetplanSst" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            b'relationships/sharedStrings" Target="sharedStrings.xml"/>')
_SST_TYPE = (b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
             b'officedocument.spreadsheetml.sharedStrings+xml"/>')


def _extended_table(table: str, special: dict[str, int]) -> bytes:
    """xlsxwriter's shared-string table with the streamed texts appended and both counts raised."""
    def raised(match: re.Match, by: int) -> str:
        return f'{match.group(1)}="{int(match.group(2)) + by}"'

    table = re.sub(r"<sst\b([^>]*)/>", r"<sst\1></sst>", table, count=1)
    head, _, _ = table.rpartition("</sst>")
    head = re.sub(r'\b(count)="(\d+)"', lambda m: raised(m, sum(special.values())), head, count=1)
    head = re.sub(r'\b(uniqueCount)="(\d+)"', lambda m: raised(m, len(special)), head, count=1)
    return (head + "".join(string_item(t) for t in special) + "</sst>").encode("utf-8")


_ESCAPED_INLINE = re.compile(rb'(<c\b[^>]*?) t="inlineStr"((?: [^>]*)?)><is><t(?: xml:space="preserve")?>'
                             rb'([^<]*_x[0-9A-Fa-f]{4}_[^<]*)</t></is></c>')
_XML_ENTITY = {b"&amp;": "&", b"&lt;": "<", b"&gt;": ">", b"&quot;": '"', b"&apos;": "'"}


def share_escaped_strings(path: str, skip: set[int] = frozenset()) -> None:
    """Move every inline string that holds an _xHHHH_ escape into the shared-string table.

    xlsxwriter's constant_memory mode writes all text inline; Excel, calamine, LibreOffice and SheetJS decode
    the escape there, openpyxl and ExcelJS only in shared strings, so a name like "Ann _x0041_" read back
    as "Ann _x005F_x0041_". `skip`: sheet numbers streamed by replace_sheet_rows (they share such text already).
    """
    with zipfile.ZipFile(path) as source:
        sheets = {}
        for info in source.infolist():
            match = re.fullmatch(r"xl/worksheets/sheet(\d+)\.xml", info.filename)
            if match and int(match.group(1)) not in skip:
                data = source.read(info)
                if b"_x" in data and _ESCAPED_INLINE.search(data):
                    sheets[info.filename] = data
        if not sheets:
            return
        present = set(source.namelist())
        table = source.read(SST).decode("utf-8") if SST in present else None
        base = table.count("<si>") + table.count("<si ") if table is not None else 0
        special: dict[str, int] = {}  # text -> cells
        index: dict[str, int] = {}

        def shared(match: re.Match) -> bytes:
            text = decode_xstring(re.sub(rb"&(amp|lt|gt|quot|apos);", lambda m: _XML_ENTITY[m.group()].encode(),
                                         match.group(3)).decode("utf-8"))
            special[text] = special.get(text, 0) + 1
            number = index.setdefault(text, base + len(index))
            return match.group(1) + b' t="s"' + match.group(2) + f"><v>{number}</v></c>".encode()

        rewritten = {name: _ESCAPED_INLINE.sub(shared, data) for name, data in sheets.items()}
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".xlsx", dir=os.path.dirname(path))
        os.close(fd)
        try:
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as target:
                for info in source.infolist():
                    name = info.filename
                    if name in rewritten:
                        target.writestr(info, rewritten[name])
                    elif name == SST:
                        target.writestr(info, _extended_table(table, special))
                    elif table is None and name == "xl/_rels/workbook.xml.rels":
                        target.writestr(info, source.read(info).replace(b"</Relationships>",
                                                                        _SST_REL + b"</Relationships>"))
                    elif table is None and name == "[Content_Types].xml":
                        target.writestr(info, source.read(info).replace(b"</Types>", _SST_TYPE + b"</Types>"))
                    else:
                        with source.open(info) as src, target.open(info, "w") as dst:
                            shutil.copyfileobj(src, dst, 1 << 20)
                if table is None:
                    target.writestr(SST, shared_strings_xml(list(special), sum(special.values())))
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
