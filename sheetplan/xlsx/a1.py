"""Pure helpers between A1 references and zero-based (row, col) pairs.

The conversions are cached: ingest checks tens of thousands of references per batch, the same few hundred
of them in every file, and a bounded cache of a pure function changes no answer."""

from __future__ import annotations

import re
from functools import cache, lru_cache

_CELL = re.compile(r"^\$?([A-Za-z]{1,3})\$?([0-9]{1,7})$")
MAX_ROWS = 1_048_576
MAX_COLS = 16_384


@cache  # every column: 16,384 at most
def col_letter(col: int) -> str:
    """Zero-based column index to letters: 0 -> A, 26 -> AA."""
    if col < 0 or col >= MAX_COLS:
        raise ValueError(f"column index out of range: {col}")
    letters = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def col_index(letters: str) -> int:
    """Column letters to a zero-based index: A -> 0, AA -> 26."""
    value = 0
    for char in letters.upper():
        if not "A" <= char <= "Z":
            raise ValueError(f"not a column: {letters!r}")
        value = value * 26 + (ord(char) - 64)
    if not 1 <= value <= MAX_COLS:
        raise ValueError(f"column out of range: {letters!r}")
    return value - 1


@lru_cache(maxsize=65536)  # bounded
def cell_name(row: int, col: int, absolute: bool = False) -> str:
    """Zero-based (row, col) to A1; absolute adds $ signs for defined names."""
    if row < 0 or row >= MAX_ROWS:
        raise ValueError(f"row index out of range: {row}")
    if absolute:
        return f"${col_letter(col)}${row + 1}"
    return f"{col_letter(col)}{row + 1}"


@lru_cache(maxsize=65536)  # bounded
def parse_cell(ref: str) -> tuple[int, int]:
    """A1 (with or without $) to zero-based (row, col)."""
    match = _CELL.match(ref.strip())
    if not match:
        raise ValueError(f"not a cell reference: {ref!r}")
    row = int(match.group(2))
    if not 1 <= row <= MAX_ROWS:
        raise ValueError(f"row out of range: {ref!r}")
    return row - 1, col_index(match.group(1))


def range_name(first_row: int, first_col: int, last_row: int, last_col: int, absolute: bool = False) -> str:
    start = cell_name(first_row, first_col, absolute)
    end = cell_name(last_row, last_col, absolute)
    return start if start == end else f"{start}:{end}"


@lru_cache(maxsize=16384)  # bounded
def parse_range(ref: str) -> tuple[int, int, int, int]:
    """'B2:D5' or 'B2' to zero-based (first_row, first_col, last_row, last_col)."""
    parts = ref.split(":")
    if len(parts) == 1:
        row, col = parse_cell(parts[0])
        return row, col, row, col
    if len(parts) != 2:
        raise ValueError(f"not a range: {ref!r}")
    r1, c1 = parse_cell(parts[0])
    r2, c2 = parse_cell(parts[1])
    return min(r1, r2), min(c1, c2), max(r1, r2), max(c1, c2)


def quote_sheet(sheet: str) -> str:
    """Sheet name as it must appear in a formula or a defined name."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", sheet) and not _CELL.match(sheet):
        return sheet
    return "'" + sheet.replace("'", "''") + "'"


@lru_cache(maxsize=16384)  # bounded
def split_sheet_ref(ref: str) -> tuple[str, str]:
    """"'My sheet'!$A$1:$B$2" -> ("My sheet", "A1:B2"); spreadsheet programs differ in quoting and $."""
    ref = ref.strip().lstrip("=")
    if "!" not in ref:
        raise ValueError(f"reference has no sheet: {ref!r}")
    sheet, _, cells = ref.rpartition("!")
    if sheet.startswith("'") and sheet.endswith("'") and len(sheet) >= 2:
        sheet = sheet[1:-1].replace("''", "'")
    return sheet, cells.replace("$", "").upper()


def iter_range(first_row: int, first_col: int, last_row: int, last_col: int):
    for row in range(first_row, last_row + 1):
        for col in range(first_col, last_col + 1):
            yield row, col
