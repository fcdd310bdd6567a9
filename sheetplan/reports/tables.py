"""The long tables of a report (the fact table, the audit trail): header and layout through xlsxwriter, rows
streamed in after closing."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sheetplan.reports.book import ReportBook
from sheetplan.reports.facts import FACT_COLUMNS
from sheetplan.reports.print_layout import print_first_page


# --- audit sheet ---------------------------------------------------------------------------------------
def audit_sheet(b: ReportBook, trail: pd.DataFrame, decimals: dict[str, int], name: str) -> None:
    """Every official target version with the file that brought it and who approved it: values only, user
    text as text. Tens of thousands of rows, so they are streamed in after closing, like the Data sheet."""
    from sheetplan.plan.audit import AUDIT_COLUMNS

    ws = b.sheet(name)
    b.header(ws, 0, [b.labels(f"audit.{column}") for column in AUDIT_COLUMNS])
    figures = {"value", "previous_value", "change"}
    numbers = figures | {"version", "submission_revision"}
    kinds = ["o" if column in numbers else "s" for column in AUDIT_COLUMNS]
    places = trail["metric"].map(decimals).fillna(2).astype(int).to_numpy() if len(trail) else np.zeros(0, int)
    for col, places_used in enumerate(sorted(set(places.tolist()))):  # registers the formats used
        ws.write_blank(1, col, None, b.money[places_used])
    b.finish_table(ws, len(trail), len(AUDIT_COLUMNS),
                   {(0, 5): 13, (6, 8): 15, (9, 9): 11, (10, 11): 40, (12, 15): 20, (16, 16): 40, (17, 17): 20,
                    (18, 18): 40})
    print_first_page(ws, len(trail), len(AUDIT_COLUMNS), b.labels("summary.print_first_page", total=len(trail)))
    frame = trail[AUDIT_COLUMNS].astype({c: object for c in AUDIT_COLUMNS if c not in numbers})
    frame = frame.fillna({c: "" for c in AUDIT_COLUMNS if c not in numbers})
    per_row = (places, b.money)
    b.pending.append((len(b.book.worksheets()), frame, kinds,
                      [per_row if column in figures else None for column in AUDIT_COLUMNS]))
# --- end audit sheet -----------------------------------------------------------------------------------


def data_sheet(b: ReportBook, facts: pd.DataFrame, name: str) -> None:
    """The tidy fact table: header and layout through xlsxwriter, rows streamed in after closing."""
    ws = b.sheet(name)
    columns = FACT_COLUMNS
    b.header(ws, 0, columns)
    pct = {"attainment", "ytd_attainment"}
    # attainment is empty for a month without a report ("o": no cell), never a 0 that reads as a figure
    kinds = ["s" if c in ("level", "team", "person", "month", "metric", "customer_group", "source") else
             "b" if c == "reported" else "o" if c in pct else "n" for c in columns]
    for col, column in enumerate(columns):  # registers the formats; the rows themselves come later
        if column in pct:
            ws.write_blank(1, col, None, b.pct)
    b.finish_table(ws, len(facts), len(columns), {(0, 5): 13, (6, len(columns) - 1): 14})
    print_first_page(ws, len(facts), len(columns), b.labels("summary.print_first_page", total=len(facts)))
    b.pending.append((len(b.book.worksheets()), facts[columns], kinds,
                      [b.pct if c in pct else None for c in columns]))
