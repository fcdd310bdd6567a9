"""Scan raw sheet XML before calamine reads it: count cells, find formulas, bound the grid it allocates."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sheetplan.returns.limits import Limits, PackageProblem

# Excel's own grid: a reference beyond it is never legitimate.
MAX_ROWS = 1_048_576
MAX_COLS = 16_384

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
