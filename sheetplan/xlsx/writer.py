"""Render a Template into .xlsx bytes with xlsxwriter (in memory), and write files atomically."""

from __future__ import annotations

import io
import math
import numbers
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import xlsxwriter

from sheetplan.xlsx.layout import META_SHEET, Template
from sheetplan.xlsx.sheetlimits import check_cell
from sheetplan.xlsx.text import fit_print_text, utf16_prefix

INPUT_FILL = "#FFF2CC"
LOCKED_FILL = "#F2F2F2"
HEADER_FILL = "#D9E1F2"

# xlsxwriter would turn text such as "=cmd" into a formula and URLs into links; user and roster text
# must stay text, so both conversions are off for every workbook we write.
WORKBOOK_OPTIONS = {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
                    "strings_to_numbers": False}


def _number_format(decimals: int) -> str:
    return "#,##0" if decimals == 0 else "#,##0." + "0" * decimals


def _formats(book: xlsxwriter.Workbook) -> dict:
    base = {"font_name": "Calibri", "font_size": 10, "valign": "top"}
    made: dict = {}

    def add(**kw):
        # Identical properties share one Format: xlsxwriter gives duplicates no index of their own,
        # and the stamper needs an index for every style name.
        key = tuple(sorted(kw.items()))
        if key not in made:
            made[key] = book.add_format({**base, **kw})
        return made[key]

    styles = {
        "title": add(bold=True, font_size=14),
        "subtitle": add(bold=True, font_size=12),
        "note": add(italic=True, font_color="#595959"),
        "returned": add(bold=True, font_color="#C00000"),
        "wrap": add(text_wrap=True),
        "text": add(),
        "key": add(bold=True),
        "header": add(bold=True, bg_color=HEADER_FILL, border=1, text_wrap=True, align="center"),
        "header_input": add(bold=True, bg_color=INPUT_FILL, border=1, text_wrap=True, align="center"),
        "total_label": add(bold=True),
        "input_text": add(bg_color=INPUT_FILL, border=1, locked=False, text_wrap=True),
        "legend": add(bg_color=INPUT_FILL, border=1),  # shows the input colour, but is locked
        "pct_locked": add(num_format="0.0%", bg_color=LOCKED_FILL, border=1),
        "bad": add(bg_color="#F8CBAD", font_color="#9C0006"),
        "good": add(bg_color="#C6EFCE", font_color="#006100"),
        "changed": add(bg_color="#FFEB9C", font_color="#9C5700", bold=True),
    }
    for decimals in range(5):
        fmt = _number_format(decimals)
        styles[f"locked_{decimals}"] = add(num_format=fmt, bg_color=LOCKED_FILL, border=1)
        styles[f"input_{decimals}"] = add(num_format=fmt, bg_color=INPUT_FILL, border=1, locked=False)
        styles[f"total_{decimals}"] = add(num_format=fmt, bold=True, border=1)
    return styles


def _conditional(ws, area, spec: dict, styles: dict) -> None:
    ref = (area.first_row, area.first_col, area.last_row, area.last_col)
    if spec["kind"] == "zero_check":
        ws.conditional_format(*ref, {"type": "cell", "criteria": "!=", "value": 0, "format": styles["bad"]})
        ws.conditional_format(*ref, {"type": "cell", "criteria": "==", "value": 0, "format": styles["good"]})
    elif spec["kind"] == "nonzero":  # a change worth a second look, neither good nor bad
        ws.conditional_format(*ref, {"type": "cell", "criteria": "!=", "value": 0, "format": styles["changed"]})
    elif spec["kind"] == "variance":
        worse, better = ("<", ">") if spec["higher_is_better"] else (">", "<")
        ws.conditional_format(*ref, {"type": "cell", "criteria": worse, "value": 0, "format": styles["bad"]})
        ws.conditional_format(*ref, {"type": "cell", "criteria": better, "value": 0, "format": styles["good"]})


def render(template: Template, password: str) -> bytes:
    """The workbook's bytes; nothing touches the disk here."""
    return render_with_styles(template, password)[0]


def render_with_styles(template: Template, password: str) -> tuple[bytes, dict[str, int]]:
    """Render with xlsxwriter; also return each used style's xf index (the stamper reuses them)."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, WORKBOOK_OPTIONS)
    book.set_properties({"title": f"{template.kind} {template.period} {template.owner}",
                         "subject": "sheetplan template", "creator": "sheetplan"})
    styles = _formats(book)
    protect = {"select_locked_cells": True, "select_unlocked_cells": True, "format_columns": True,
               "format_rows": True}
    for sheet in template.sheets:
        ws = book.add_worksheet(sheet.name)
        for col, width in sheet.widths.items():
            ws.set_column(col, col, width)
        for row, height in sheet.heights.items():
            ws.set_row(row, height)
        for cell in sheet.cells:
            style = styles[cell.style]
            if cell.formula is not None:
                ws.write_formula(cell.row, cell.col, "=" + cell.formula, style,
                                 "" if cell.value is None else cell.value)
            elif cell.value is None or cell.value == "":
                ws.write_blank(cell.row, cell.col, None, style)
            elif isinstance(cell.value, bool):
                ws.write_boolean(cell.row, cell.col, cell.value, style)
            elif isinstance(cell.value, (int, float)):
                ws.write_number(cell.row, cell.col, cell.value, style)
            else:
                ws.write_string(cell.row, cell.col, str(cell.value), style)
        for area, value, style in sheet.merges:
            ws.merge_range(area.first_row, area.first_col, area.last_row, area.last_col,
                           "" if value is None else value, styles[style])
        for rule in sheet.validations:
            area = rule.area
            # Excel's limits are UTF-16 units; xlsxwriter drops the whole rule when a text is over them
            options = {"validate": rule.kind, "input_title": utf16_prefix(rule.title, 32),
                       "input_message": utf16_prefix(rule.message, 255),
                       "error_title": utf16_prefix(rule.error_title, 32),
                       "error_message": utf16_prefix(rule.error, 255), "error_type": "stop", "ignore_blank": True}
            if rule.kind == "list":
                options["source"] = list(rule.choices)
            else:
                options.update(criteria="between", minimum=rule.minimum, maximum=rule.maximum)
            ws.data_validation(area.first_row, area.first_col, area.last_row, area.last_col, options)
        for area, spec in sheet.conditional:
            _conditional(ws, area, spec, styles)
        if sheet.freeze:
            ws.freeze_panes(*sheet.freeze)
        ws.set_landscape()
        ws.set_paper(9)
        ws.fit_to_pages(1, 0)
        if sheet.header:  # over 255 UTF-16 units xlsxwriter would drop it without a word
            ws.set_header(fit_print_text(sheet.header))
        if sheet.footer:
            ws.set_footer(fit_print_text(sheet.footer))
        ws.protect(password, protect)
    meta = book.add_worksheet(META_SHEET)
    meta.set_column(0, 0, 18)
    meta.set_column(1, 1, 70)
    rows = list(template.meta.items()) + [("signature", template.signature)]
    for row, (key, value) in enumerate(rows):
        meta.write_string(row, 0, key)
        meta.write_string(row, 1, str(value))
    meta.very_hidden()
    meta.protect(password, protect)
    for name, area in template.names.items():
        book.define_name(name, "=" + area.ref)
    book.close()
    used = {name: fmt.xf_index for name, fmt in styles.items() if fmt.xf_index is not None}
    return buffer.getvalue(), used


MAX_CELL_TEXT = 32767  # Excel's limit on the characters of one cell


def write_value(ws, row: int, col: int, value, fmt=None) -> None:
    """Write any value a store, a problem record or a frame can hold without failing: Excel has no INF or
    NaN (xlsxwriter refuses them), so a non-finite number is shown as text; NaN and None are blank; text
    stays text (never a formula) and is cut to what one cell holds. A cell beyond Excel's sheet limits is
    refused (SheetTooLarge)."""
    check_cell(ws.name, row, col)
    if value is None:
        ws.write_blank(row, col, None, fmt)
    elif isinstance(value, bool) or type(value).__name__ == "bool_":
        ws.write_boolean(row, col, bool(value), fmt)
    elif isinstance(value, numbers.Real):
        number = float(value)
        if math.isfinite(number):
            ws.write_number(row, col, number, fmt)
        elif math.isnan(number):
            ws.write_blank(row, col, None, fmt)
        else:
            ws.write_string(row, col, str(number), fmt)
    else:
        ws.write_string(row, col, str(value)[:MAX_CELL_TEXT], fmt)


def write_through_temp(path: Path, write: Callable[[str], None]) -> Path:
    """Let `write` fill a temporary file beside the target, then rename it into place: nobody ever sees half
    a file, and a failed write leaves the old file (or none) and no temporary behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; a shared file follows the umask
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def current_umask() -> int:
    """The process umask (reading it means setting it; it is put back at once)."""
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def write_atomic(path: Path, data: bytes) -> None:
    """Write bytes through a temporary file beside the target (see write_through_temp)."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            handle.write(data)

    write_through_temp(path, write)
