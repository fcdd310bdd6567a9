"""The Problems sheet of a feedback copy, laid out to be read and printed by the person who must fix the file."""

from __future__ import annotations

import math

from sheetplan.problems import Problem
from sheetplan.xlsx.layout import Area

# a grid or split that does not add up: the fix is in its inputs, never in the locked target
MISMATCH_CODES = ("split-mismatch", "plan-mismatch")
WIDTHS = {"A": 26, "B": 12, "C": 16, "D": 80}
FONT = "Calibri"  # as the templates: without a name LibreOffice falls back to a serif


def input_area(problem: Problem, blocks: dict[str, str]) -> Area | None:
    """For a mismatch, the input block that must change (its name is the problem's field), else None."""
    if problem.code not in MISMATCH_CODES or problem.field not in blocks:
        return None
    try:
        return Area.parse(blocks[problem.field])
    except (ValueError, TypeError):
        return None


def shown_value(value):
    """What the person typed, as they would see it: 1647.0 comes back as the number 1647, not '1647.0'."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # a cell cannot hold inf or nan as a number: shown as the text that was read
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def fill_problem_sheet(sheet, title: str, heading: list[str], rows: list[tuple], set_text) -> None:
    """Title, a header row repeated on every printed page, wrapped texts, one page wide in landscape.

    rows: (sheet, cell, value, what to do); a number is written as a number, text through `set_text` (which
    keeps text that looks like a formula from becoming one)."""
    from openpyxl.styles import Alignment, Font, PatternFill

    set_text(sheet.cell(1, 1), title)
    sheet.cell(1, 1).font = Font(name=FONT, bold=True, size=12)
    header_fill = PatternFill("solid", fgColor="D9E1F2")
    for col, text in enumerate(heading, start=1):
        cell = sheet.cell(2, col)
        set_text(cell, text)
        cell.font = Font(name=FONT, bold=True)
        cell.fill = header_fill
        cell.alignment = Alignment(vertical="top", wrap_text=True)
    top, body = Alignment(vertical="top", wrap_text=True), Font(name=FONT)
    for r, row in enumerate(rows, start=3):
        for col, value in enumerate(row, start=1):
            cell = sheet.cell(r, col)
            if isinstance(value, (int, float)):
                cell.value = value
            elif value:
                set_text(cell, str(value))
            cell.alignment = top
            cell.font = body
    for letter, width in WIDTHS.items():
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A3"
    sheet.print_title_rows = "2:2"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
