"""What a report prints: readable tables, big machine tables cut to a first page, and no links that break."""

from __future__ import annotations

from pathlib import Path

FLAG_MESSAGE_WIDTH = 90  # characters: the Flags sheet's message column, wrapped
SAMPLE_ROWS = 40  # a Data or Audit sheet prints its header and this many rows, not a hundred pages


def source_text(file: str, sheet: str, cell: str) -> str:
    """Where a figure came from, as text ('Report!C6 (3f2a....xlsx)'): a link to the archive would break in
    the copy mailed to a manager or the VP, so the analyst finds the file under archive/ by its name."""
    where = f"{sheet}!{cell}" if sheet and cell else sheet or cell
    name = Path(file).name if file else ""
    return f"{where} ({name})" if where and name else where or name


def print_first_page(ws, rows: int, columns: int, note: str) -> None:
    """Print the header and the first SAMPLE_ROWS rows of a table of `rows` rows, the print header saying so
    (`note`); the whole table stays in the sheet, to filter or export."""
    ws.print_area(0, 0, min(rows, SAMPLE_ROWS), max(columns - 1, 0))
    if rows > SAMPLE_ROWS:
        ws.set_header("&C" + note.replace("&", "&&"))
