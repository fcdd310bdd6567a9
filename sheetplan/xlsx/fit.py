"""How many lines a wrapped text takes in a column, so a header row can be made tall enough to show it."""

from __future__ import annotations

import math
import unicodedata

from sheetplan.xlsx.layout import Sheet

DEFAULT_WIDTH = 8.43  # Excel's default column width, in characters of the default font
LINE_POINTS = 13.0  # one line of 10-point text, with Excel's leading
PADDING_POINTS = 4.0  # two lines make 30 points, the height the Dashboard's header row has always had
WRAPPING_STYLES = {"header": True, "header_input": True, "wrap": False, "input_text": False}  # style -> bold


def display_width(text: str) -> float:
    """Width in characters of the default font: a CJK character is as wide as two Latin ones."""
    return sum(2.0 if unicodedata.east_asian_width(ch) in "WF" else 1.0 for ch in text)


def wrapped_lines(text: str, width: float, bold: bool = True) -> int:
    """Lines Excel needs for `text` wrapped in a column `width` characters wide (breaking at spaces, and
    anywhere in CJK text). A slight over-estimate: a row a little too tall reads better than a cut word."""
    usable = max(width - 1.0, 1.0) / (1.1 if bold else 1.0)
    lines = 0
    for paragraph in str(text).split("\n"):
        current, count = 0.0, 1
        for word in paragraph.split(" "):
            size = display_width(word)
            if current and current + 1 + size > usable:
                count, current = count + 1, 0.0
            if size > usable:  # a long word (or CJK run) breaks inside itself
                count += math.ceil(size / usable) - 1
                size = size % usable or usable
            current += size + (1 if current else 0)
        lines += count
    return lines


def row_height(lines: int) -> float:
    return lines * LINE_POINTS + PADDING_POINTS


def fit_row(sheet: Sheet, row: int) -> None:
    """Make `row` of `sheet` tall enough for the longest text that wraps in it (cells of the wrapping
    styles); never lower than Excel's one line."""
    lines = max([wrapped_lines(c.value, sheet.widths.get(c.col, DEFAULT_WIDTH), WRAPPING_STYLES[c.style])
                 for c in sheet.cells
                 if c.row == row and c.style in WRAPPING_STYLES and isinstance(c.value, str) and c.value] or [1])
    if lines > 1:
        sheet.heights[row] = max(sheet.heights.get(row, 0.0), row_height(lines))
