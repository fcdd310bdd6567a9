"""Fast template output: render one workbook per layout shape with xlsxwriter, then stamp each
recipient's values into a copy of it.

Every person template of a run has the same sheets, styles, names, validations and formulas; only
cell values, the print header and _meta differ. Rebuilding just the <sheetData> of each sheet is
several times faster than a full xlsxwriter render and gives the same workbook. Strings are written
inline, so no recipient's text can leak into another's file through a shared-string table.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from dataclasses import dataclass
from xml.sax.saxutils import escape

from sheetplan.xlsx.layout import META_SHEET, Cell, Template
from sheetplan.xlsx.text import fit_print_text, needs_shared_string, shared_strings_xml, xml_text
from sheetplan.xlsx.writer import render_with_styles

_SHEET_DATA = re.compile(rb"<sheetData/>|<sheetData>.*?</sheetData>", re.S)
_ODD_HEADER = re.compile(rb"<oddHeader>.*?</oddHeader>", re.S)
_TITLE = re.compile(rb"<dc:title>.*?</dc:title>", re.S)
_EMPTY_SST = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
              b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="0" uniqueCount="0"/>')
_LETTERS = [""] * 64


def _col(col: int) -> str:
    if col < 64 and _LETTERS[col]:
        return _LETTERS[col]
    letters, n = "", col + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    if col < 64:
        _LETTERS[col] = letters
    return letters


def _text(value: str) -> str:
    """Excel reads _xHHHH_ in cell text as one character: xml_text escapes a literal one (and control
    characters XML cannot hold), as xlsxwriter does for the skeleton's own strings."""
    return xml_text(value)


def _value_xml(cell: Cell, shared: dict[str, int]) -> str:
    """The part of a <c> element after its fixed r= and s= attributes. Text that Excel would store with an
    _xHHHH_ escape goes to this file's shared strings (`shared`: text -> index), all other text inline."""
    value = cell.value
    if type(value) is float and cell.formula is None:
        return f"><v>{value!r}</v></c>"
    if cell.formula is not None:
        formula = escape(cell.formula)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return f"><f>{formula}</f><v>{_number(value)}</v></c>"
        return f' t="str"><f>{formula}</f><v>{_text(str(value or ""))}</v></c>'
    if value is None or value == "":
        return "/>"
    if isinstance(value, bool):
        return f' t="b"><v>{int(value)}</v></c>'
    if isinstance(value, (int, float)):
        return f"><v>{_number(value)}</v></c>"
    text = str(value)
    if needs_shared_string(text):
        return f' t="s"><v>{shared.setdefault(text, len(shared))}</v></c>'
    space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
    return f' t="inlineStr"><is><t{space}>{_text(text)}</t></is></c>'


def _number(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return repr(float(value))


@dataclass(frozen=True)
class _SheetPlan:
    """Per shape: the row-major order of a sheet's cells and each cell's fixed '<c r=.. s=..' text."""

    order: tuple[int, ...]
    prefixes: tuple[str, ...]  # row openings are folded into the first cell's prefix of each row


def _sheet_plan(cells: list[Cell], styles: dict[str, int], heights: dict[int, float] | None = None) -> _SheetPlan:
    """`heights`: the sheet's set row heights, written as xlsxwriter writes them (ht, customHeight)."""
    heights = heights or {}
    order = sorted(range(len(cells)), key=lambda i: (cells[i].row, cells[i].col))
    prefixes, current = [], None
    for i in order:
        cell = cells[i]
        opening = ""
        if cell.row != current:
            height = f' ht="{heights[cell.row]:g}" customHeight="1"' if cell.row in heights else ""
            opening = ("</row>" if current is not None else "") + f'<row r="{cell.row + 1}"{height}>'
            current = cell.row
        style = styles.get(cell.style)
        s = f' s="{style}"' if style else ""
        prefixes.append(f'{opening}<c r="{_col(cell.col)}{cell.row + 1}"{s}')
    return _SheetPlan(tuple(order), tuple(prefixes))


def _sheet_data(plan: _SheetPlan, cells: list[Cell], shared: dict[str, int]) -> bytes:
    if not plan.order:
        return b"<sheetData/>"
    body = "".join(prefix + _value_xml(cells[i], shared) for i, prefix in zip(plan.order, plan.prefixes))
    return ("<sheetData>" + body + "</row></sheetData>").encode("utf-8")


def _all_cells(sheet) -> list[Cell]:
    """The sheet's cells plus every cell of its merged ranges, as xlsxwriter would write them."""
    cells = {(c.row, c.col): c for c in sheet.cells}
    for area, value, style in sheet.merges:
        for row, col in area.cells():
            first = (row, col) == (area.first_row, area.first_col)
            cells[(row, col)] = Cell(row, col, value if first else None, style)
    return list(cells.values())


def _meta_cells(template: Template) -> list[Cell]:
    rows = list(template.meta.items()) + [("signature", template.signature)]
    return [c for r, (key, value) in enumerate(rows) for c in (Cell(r, 0, key), Cell(r, 1, str(value)))]


def shape_key(template: Template) -> str:
    """Everything about a template except its values: templates with equal keys share a skeleton."""
    digest = hashlib.blake2b(digest_size=16)
    for sheet in template.sheets:
        digest.update(repr((sheet.name, sheet.widths, sheet.heights, sheet.freeze, sheet.very_hidden,
                            [(c.row, c.col, c.style, c.formula) for c in sheet.cells],
                            [(a, s) for a, _, s in sheet.merges], sheet.validations,
                            sheet.conditional, bool(sheet.header), sheet.footer)).encode())
    digest.update(repr(sorted((n, a.ref) for n, a in template.names.items())).encode())
    digest.update(repr(list(template.meta)).encode())
    return digest.hexdigest()


def _stamp_header(data: bytes, header: str, entry: str) -> bytes:
    """This recipient's print header, fitted to Excel's 255 UTF-16 units on its own: the skeleton came
    from another recipient of the layout, whose header may have been shorter or longer."""
    element = b"<oddHeader>" + _text(fit_print_text(header)).encode() + b"</oddHeader>"
    stamped, count = _ODD_HEADER.subn(lambda _m: element, data, count=1)
    if not count:
        raise ValueError(f"{entry}: the skeleton has no print header to replace")
    return stamped


@dataclass
class _Skeleton:
    entries: list[tuple[zipfile.ZipInfo, bytes]]
    sheet_entries: dict[str, int]  # zip entry name -> index of the template sheet (-1 for _meta)
    plans: dict[int, _SheetPlan]


class Stamper:
    """Caches one skeleton per shape; `render` gives the same workbook xlsxwriter would, faster."""

    def __init__(self, password: str) -> None:
        self.password = password
        self._skeletons: dict[str, _Skeleton] = {}

    def render(self, template: Template) -> bytes:
        key = shape_key(template)
        skeleton = self._skeletons.get(key)
        if skeleton is None:
            skeleton = self._skeletons[key] = self._skeleton(template)
        return self._stamp(skeleton, template)

    def _skeleton(self, template: Template) -> _Skeleton:
        data, styles = render_with_styles(template, self.password)
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = [(info, archive.read(info)) for info in archive.infolist()]
        count = len(template.sheets)
        sheet_entries = {f"xl/worksheets/sheet{i + 1}.xml": i for i in range(count)}
        sheet_entries[f"xl/worksheets/sheet{count + 1}.xml"] = -1
        plans = {i: _sheet_plan(_all_cells(sheet), styles, sheet.heights) for i, sheet in enumerate(template.sheets)}
        plans[-1] = _sheet_plan(_meta_cells(template), styles)
        return _Skeleton(entries, sheet_entries, plans)

    def _stamp(self, skeleton: _Skeleton, template: Template) -> bytes:
        shared: dict[str, int] = {}  # this recipient's own strings only: nothing leaks between files
        sheets = {}
        for name, index in skeleton.sheet_entries.items():
            cells = _meta_cells(template) if index < 0 else _all_cells(template.sheets[index])
            sheets[name] = _sheet_data(skeleton.plans[index], cells, shared)
        names = {info.filename for info, _data in skeleton.entries}
        if shared and "xl/sharedStrings.xml" not in names:
            raise ValueError("the skeleton has no shared-string table for text with _xHHHH_ in it")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            for info, data in skeleton.entries:
                name = info.filename
                if name in skeleton.sheet_entries:
                    index = skeleton.sheet_entries[name]
                    if index >= 0 and template.sheets[index].header:
                        data = _stamp_header(data, template.sheets[index].header, name)
                    data = _SHEET_DATA.sub(lambda _m, b=sheets[name]: b, data, count=1)
                elif name == "xl/sharedStrings.xml":
                    data = shared_strings_xml(list(shared)) if shared else _EMPTY_SST
                elif name == "docProps/core.xml":
                    title = f"{template.kind} {template.period} {template.owner}"
                    data = _TITLE.sub(lambda _m, t=title: b"<dc:title>" + _text(t).encode() + b"</dc:title>",
                                      data, count=1)
                archive.writestr(info.filename, data)
        return buffer.getvalue()


__all__ = ["Stamper", "shape_key", "META_SHEET"]
