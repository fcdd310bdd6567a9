"""Excel's size limits of one sheet, checked wherever sheetplan writes cells: past them Excel will not open
the workbook (and xlsxwriter drops such a cell without a word)."""

from __future__ import annotations

from sheetplan.errors import SheetplanError

MAX_ROWS = 1_048_576
MAX_COLS = 16_384


class SheetTooLarge(SheetplanError):
    """A sheet would hold more rows or columns than Excel opens: the writer must split it."""


def check_extent(sheet: str, rows: int, cols: int) -> None:
    """Refuse a sheet of `rows` rows and `cols` columns (counts, not indexes) beyond Excel's limits."""
    if rows > MAX_ROWS or cols > MAX_COLS:
        raise SheetTooLarge(f"sheet {sheet!r} would have {rows:,} rows and {cols:,} columns; Excel opens at most "
                            f"{MAX_ROWS:,} rows and {MAX_COLS:,} columns")


def check_cell(sheet: str, row: int, col: int) -> None:
    """Refuse a cell (zero-based row and column) beyond Excel's limits."""
    if row >= MAX_ROWS or col >= MAX_COLS or row < 0 or col < 0:
        check_extent(sheet, max(row + 1, MAX_ROWS + 1), col + 1)


def row_slices(rows: int, header_rows: int = 1, limit: int = MAX_ROWS) -> list[tuple[int, int]]:
    """(start, stop) of each sheet's share of a `rows`-row table under `header_rows` header rows: as few
    sheets as hold it within `limit` rows each (one, possibly empty, for an empty table)."""
    per_sheet = limit - header_rows
    if per_sheet < 1:
        raise ValueError(f"a sheet of {limit} rows has no room below {header_rows} header rows")
    return [(start, min(start + per_sheet, rows)) for start in range(0, max(rows, 1), per_sheet)] or [(0, 0)]
