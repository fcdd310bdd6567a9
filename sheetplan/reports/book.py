"""The workbook every report is written into: one set of formats, table finishing, deferred big tables."""

from __future__ import annotations

import math
import numbers
import os

import numpy as np
import xlsxwriter

from sheetplan.reports.facts import standing
from sheetplan.workspace.labels import Labels
from sheetplan.xlsx.a1 import cell_name
from sheetplan.xlsx.fit import row_height, wrapped_lines
from sheetplan.xlsx.sheetlimits import check_cell
from sheetplan.xlsx.writer import write_value

GREEN, AMBER, RED = "#C6EFCE", "#FFEB9C", "#FFC7CE"
# every chart draws a target and an actual in these, so the colours mean the same in every report
TARGET_COLOUR, ACTUAL_COLOUR = "#4472C4", "#ED7D31"
CHART_WIDTH = 620
# constant_memory streams rows to disk: a 2000-person fact table stays far below 1 GB of memory.
OPTIONS = {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
           "strings_to_numbers": False}
HEADER_WIDTH = 13.0  # the narrowest column a report table gives a header, in characters

class ReportBook:
    """An xlsxwriter workbook with the formats every report sheet uses.

    `draft`: the workbook is a draft (a review of a period not closed yet): every sheet's tab, print header
    and footer say so. Callers keep using the plain sheet names; charts and caches follow the marked ones."""

    def __init__(self, path: str, labels: Labels, draft: bool = False) -> None:
        self.book = xlsxwriter.Workbook(path, OPTIONS)
        self.labels = labels
        self.mark = labels("closing.draft") if draft else ""
        self.names: dict[str, str] = {}  # the name a caller gave a sheet -> its name in the workbook
        add = self.book.add_format
        self.title = add({"bold": True, "font_size": 14})
        self.head = add({"bold": True, "bg_color": "#D9E1F2", "border": 1, "text_wrap": True, "valign": "top"})
        self.pct = add({"num_format": "0.0%"})
        self.text = add({})
        self.link = add({"font_color": "#0563C1", "underline": 1})
        self.wrap = add({"text_wrap": True, "valign": "top"})
        self.money = {d: add({"num_format": "#,##0" + ("." + "0" * d if d else "")}) for d in range(5)}
        self.green, self.amber, self.red = (add({"bg_color": c}) for c in (GREEN, AMBER, RED))
        self.lights = {light: add({"num_format": "0.0%", "bg_color": c})
                       for light, c in (("green", GREEN), ("amber", AMBER), ("red", RED))}
        self.pending: list = []  # big tables streamed in after close (see fastsheet)
        self.folder = os.path.dirname(os.path.abspath(path))
        # what value() and header() wrote, per sheet: constant_memory keeps no cells to fill chart caches from
        self.written: dict[str, dict[tuple[int, int], object]] = {}

    def sheet(self, name: str, landscape: bool = True):
        actual = f"{self.mark} {name}"[:31] if self.mark else name[:31]
        self.names[name] = actual
        ws = self.book.add_worksheet(actual)
        if landscape:
            ws.set_landscape()
        ws.set_paper(9)
        ws.fit_to_pages(1, 0)
        if self.mark:
            ws.set_header(f"&C&B{_header_text(self.mark)}")
            ws.set_footer(f"&L&A&C{_header_text(self.mark)}&R&P / &N")
            ws.set_tab_color(RED)
        else:
            ws.set_footer("&L&A&R&P / &N")
        return ws

    def attainment(self, ws, row: int, col: int, value, higher_is_better: bool, flags) -> None:
        """An attainment cell coloured by its own standing (facts.standing): the colour means the same for a
        sales figure and a budget used; no report (None or NaN) is a blank cell with no colour."""
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            self.value(ws, row, col, None, self.pct)
            return
        light = standing(float(value), higher_is_better, flags)
        self.value(ws, row, col, float(value), self.lights[light] if light else self.pct)

    def months_sheet(self, states, all_months: list[str]) -> None:
        """Which months are closed and, for open ones, how many returns are still missing: every report
        carries this sheet, last, so nobody reads an open month's figures as final."""
        from sheetplan.reports.status import closing_line

        L = self.labels
        ws = self.sheet(L("closing.sheet"))
        ws.write_string(0, 0, closing_line(states, L, all_months))
        columns = [L(f"closing.col_{c}") for c in ("month", "state", "closed_at", "sent", "missing", "late")]
        self.header(ws, 2, columns)
        for i, rec in enumerate(states.itertuples(index=False)):
            r = 3 + i
            self.value(ws, r, 0, rec.month)
            self.value(ws, r, 1, L("closing.state_closed" if rec.closed else "closing.state_open"))
            self.value(ws, r, 2, rec.closed_at or None)
            self.value(ws, r, 3, int(rec.sent))
            self.value(ws, r, 4, int(rec.missing))
            self.value(ws, r, 5, int(rec.late))
        ws.set_column(0, 0, 12)
        ws.set_column(1, 1, 10)
        ws.set_column(2, 2, 26)
        ws.set_column(3, 5, 14)

    def finish_table(self, ws, rows: int, columns: int, widths: dict[tuple[int, int], float]) -> None:
        """A table with its header in row 1: filter over all rows, header frozen and printed on every page,
        column widths."""
        ws.autofilter(0, 0, max(rows, 1), columns - 1)
        ws.freeze_panes(1, 0)
        ws.repeat_rows(0)
        for (first, last), width in widths.items():
            ws.set_column(first, last, width)

    def header(self, ws, row: int, names: list[str], col: int = 0, width: float = HEADER_WIDTH) -> None:
        """A header row, tall enough for its longest name wrapped in a column `width` characters wide (the
        narrowest a table here uses): constant_memory writes the row now, so its height cannot come later."""
        lines = max((wrapped_lines(name, width) for name in names), default=1)
        if lines > 1:
            ws.set_row(row, row_height(lines))
        for offset, name in enumerate(names):
            check_cell(ws.name, row, col + offset)
            ws.write_string(row, col + offset, name, self.head)
            self.written.setdefault(ws.name, {})[(row, col + offset)] = name

    def heading(self, ws, row: int, text: str) -> None:
        """A sheet's title line; a draft's says so first."""
        ws.write_string(row, 0, f"{self.mark}: {text}" if self.mark else text, self.title)

    def value(self, ws, row: int, col: int, value, fmt=None) -> None:
        write_value(ws, row, col, value, fmt)  # user text stays text, never a formula; INF/NaN never fail
        self.written.setdefault(ws.name, {})[(row, col)] = value

    def add_series(self, chart, name, categories: list, values: list, **options) -> None:
        """chart.add_series with its caches filled from what value() and header() wrote.

        In constant_memory mode xlsxwriter has no cells to cache: the categories are declared numeric with
        empty caches (Gnumeric labels months 46388...) and previewers draw an empty chart. `name` is a
        [sheet, row, col] cell or a literal; `categories` and `values` are [sheet, first_row, col,
        last_row, col]. Categories are cached as text.
        """
        spec = {"categories": self._marked(categories), "values": self._marked(values), **options,
                "categories_data": [_as_text(v) for v in self._column(categories)],
                "values_data": [_as_number(v) for v in self._column(values)]}
        if isinstance(name, list):
            spec.update(name=self._marked(name), name_data=[_as_text(self._cells(name[0])[(name[1], name[2])])])
        else:
            spec["name"] = name
        chart.add_series(spec)

    def _marked(self, ref: list) -> list:
        return [self.names.get(ref[0], ref[0]), *ref[1:]]

    def _cells(self, sheet: str) -> dict[tuple[int, int], object]:
        sheet = self.names.get(sheet, sheet)
        if sheet not in self.written:
            raise KeyError(f"a chart refers to sheet {sheet!r}, which has no values written through ReportBook")
        return self.written[sheet]

    def _column(self, ref: list) -> list:
        sheet, first, col, last, last_col = ref
        if col != last_col:
            raise ValueError(f"a chart series is one column, not {ref}")
        cells = self._cells(sheet)
        return [cells.get((row, col)) for row in range(first, last + 1)]

    def traffic(self, ws, first_row: int, first_col: int, last_row: int, last_col: int, flags) -> None:
        """Traffic lights on a range of scores (higher is better). Each rule asks ISNUMBER first: a cell
        "below 75 %" rule would also match an empty cell (which compares as 0), painting "no figure" red."""
        if last_row < first_row:
            return
        top = cell_name(first_row, first_col)
        for fmt, test in ((self.green, f"{top}>={flags.behind_pace!r}"),
                          (self.amber, f"AND({top}>={flags.far_behind!r},{top}<{flags.behind_pace!r})"),
                          (self.red, f"{top}<{flags.far_behind!r}")):
            ws.conditional_format(first_row, first_col, last_row, last_col, {
                "type": "formula", "criteria": f"=AND(ISNUMBER({top}),{test})", "format": fmt})


def _header_text(text: str) -> str:
    return text.replace("&", "&&")


def _as_text(value) -> str:
    return "" if value is None else str(value)


def _as_number(value) -> str | None:
    """A chart cache holds finite numbers (as xlsxwriter caches cells: 16 digits); a blank, text or
    non-finite cell is a gap."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    number = float(value)
    return f"{number:.16g}" if math.isfinite(number) else None


def _xf(fmt):
    """A column's style after closing: none, one format, or (key per row, {key: format}) for one per row."""
    if fmt is None:
        return None
    if isinstance(fmt, tuple):
        keys, by_key = fmt
        indices = {key: by_key[key].xf_index for key in set(keys.tolist())}
        return np.array([indices[key] for key in keys.tolist()], dtype=int)
    return fmt.xf_index


def close_book(b: ReportBook, path: str) -> None:
    """Close the workbook, then stream every deferred table into its sheet."""
    from sheetplan.xlsx.fastsheet import replace_sheet_rows, share_escaped_strings

    b.book.close()
    if not b.pending:  # replace_sheet_rows makes file links portable; without a table to stream, do it here
        _portable_file(path)
    for number, frame, kinds, formats in b.pending:
        styles = [_xf(f) for f in formats]
        replace_sheet_rows(path, number, frame, kinds, styles)  # also makes file links portable
    share_escaped_strings(path, skip={number for number, *_ in b.pending})  # constant_memory wrote them inline


def _portable_file(path: str) -> None:
    """Rewrite the closed workbook with forward-slash file links, when it has any with backslashes."""
    import zipfile

    from sheetplan.xlsx.links import portable_links, portable_rels

    with zipfile.ZipFile(path) as archive:
        rels = [archive.read(n) for n in archive.namelist() if n.endswith(".rels")]
    if all(portable_rels(body) == body for body in rels):
        return
    with open(path, "rb") as handle:
        data = portable_links(handle.read())
    with open(path, "wb") as handle:
        handle.write(data)
