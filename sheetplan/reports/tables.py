"""The long tables of a report (the fact table, the audit trail): header and layout through xlsxwriter, rows
streamed in after closing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sheetplan.reports.book import ReportBook
from sheetplan.reports.facts import FACT_COLUMNS
from sheetplan.reports.print_layout import print_first_page
from sheetplan.workspace.problem_text import term
from sheetplan.xlsx.sheetlimits import MAX_ROWS, row_slices


@dataclass(frozen=True)
class TablePart:
    """Where one sheet's share of a long table went: rows `first` to `last` of the table (1-based, as a
    person counts them; 0 and 0 for an empty table), below the sheet's header row."""

    sheet: str
    first: int
    last: int


def _part_name(name: str, number: int, parts: int) -> str:
    """'Data', or 'Data 1', 'Data 2' ... when the table needs more than one sheet (31 characters at most)."""
    if parts == 1:
        return name
    suffix = f" {number}"
    return name[:31 - len(suffix)] + suffix


# --- audit sheet ---------------------------------------------------------------------------------------
def audit_sheet(b: ReportBook, trail: pd.DataFrame, decimals: dict[str, int], name: str,
                rows_per_sheet: int = MAX_ROWS, metric_labels: dict[str, str] | None = None) -> list[TablePart]:
    """Every official target version with the file that brought it and who approved it: values only, user
    text as text. Streamed in after closing, like the Data sheet, over as many sheets as Excel's row limit
    needs (`rows_per_sheet` rows each, header included)."""
    from sheetplan.plan.audit import AUDIT_COLUMNS

    figures = {"value", "previous_value", "change"}
    numbers = figures | {"version", "submission_revision"}
    kinds = ["o" if column in numbers else "s" for column in AUDIT_COLUMNS]
    places = trail["metric"].map(decimals).fillna(2).astype(int).to_numpy() if len(trail) else np.zeros(0, int)
    frame = trail[AUDIT_COLUMNS].astype({c: object for c in AUDIT_COLUMNS if c not in numbers})
    frame = frame.fillna({c: "" for c in AUDIT_COLUMNS if c not in numbers})
    frame = _audit_words(frame, b.labels.lang, metric_labels or {})
    slices = row_slices(len(frame), 1, rows_per_sheet)
    parts = []
    for number, (start, stop) in enumerate(slices, start=1):
        sheet = _part_name(name, number, len(slices))
        ws = b.sheet(sheet)
        b.header(ws, 0, [b.labels(f"audit.{column}") for column in AUDIT_COLUMNS])
        mine = places[start:stop]
        for col, places_used in enumerate(sorted(set(mine.tolist()))):  # registers the formats used
            ws.write_blank(1, col, None, b.money[places_used])
        b.finish_table(ws, stop - start, len(AUDIT_COLUMNS),
                       {(0, 5): 13, (6, 8): 15, (9, 9): 11, (10, 11): 40, (12, 15): 20, (16, 16): 40, (17, 17): 20,
                        (18, 18): 40})
        print_first_page(ws, stop - start, len(AUDIT_COLUMNS), b.labels("summary.print_first_page", total=stop - start))
        per_row = (mine, b.money)
        b.pending.append((len(b.book.worksheets()), frame.iloc[start:stop], kinds,
                          [per_row if column in figures else None for column in AUDIT_COLUMNS]))
        parts.append(TablePart(sheet, start + 1 if stop > start else 0, stop))
    return parts
def _audit_words(frame: pd.DataFrame, lang: str, metric_labels: dict[str, str]) -> pd.DataFrame:
    """Level, metric, source and template kind as words of the workspace language (the store keeps the keys).
    English workspaces show the keys themselves, which read as English words."""
    if lang == "en":
        return frame
    words = {column: {value: term(kind, value, lang) for value in frame[column].unique()}
             for column, kind in (("level", "level"), ("source", "source"), ("submission_kind", "kind"))}
    words["metric"] = {value: metric_labels.get(value, value) for value in frame["metric"].unique()}
    return frame.assign(**{column: frame[column].map(mapping) for column, mapping in words.items()})



# --- end audit sheet -----------------------------------------------------------------------------------


def data_sheet(b: ReportBook, facts: pd.DataFrame, name: str, rows_per_sheet: int = MAX_ROWS) -> list[TablePart]:
    """The tidy fact table: header and layout through xlsxwriter, rows streamed in after closing, over as
    many sheets as Excel's row limit needs (`rows_per_sheet` rows each, header included)."""
    columns = FACT_COLUMNS
    pct = {"attainment", "ytd_attainment"}
    # attainment is empty for a month without a report ("o": no cell), never a 0 that reads as a figure
    kinds = ["s" if c in ("level", "team", "person", "month", "metric", "customer_group", "source") else
             "b" if c == "reported" else "o" if c in pct else "n" for c in columns]
    table = facts[columns]
    slices = row_slices(len(table), 1, rows_per_sheet)
    parts = []
    for number, (start, stop) in enumerate(slices, start=1):
        sheet = _part_name(name, number, len(slices))
        ws = b.sheet(sheet)
        b.header(ws, 0, columns)  # machine names, stable for other programs; each header's note explains it
        for col, column in enumerate(columns):
            ws.write_comment(0, col, b.labels(f"data_columns.{column}"), {"x_scale": 2, "y_scale": 1.2})
        for col, column in enumerate(columns):  # registers the formats; the rows themselves come later
            if column in pct:
                ws.write_blank(1, col, None, b.pct)
        b.finish_table(ws, stop - start, len(columns), {(0, 5): 13, (6, len(columns) - 1): 14})
        print_first_page(ws, stop - start, len(columns), b.labels("summary.print_first_page", total=stop - start))
        b.pending.append((len(b.book.worksheets()), table.iloc[start:stop], kinds,
                          [b.pct if c in pct else None for c in columns]))
        parts.append(TablePart(sheet, start + 1 if stop > start else 0, stop))
    return parts
