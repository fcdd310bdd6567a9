"""The data workbook of a consolidation: the full fact table and audit trail, split over sheets within Excel's
limits, and the same two tables as Parquet, so the summary stays a workbook a person opens in seconds."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sheetplan.reports.book import ReportBook, close_book
from sheetplan.reports.tables import TablePart, audit_sheet, data_sheet
from sheetplan.workspace.labels import Labels
from sheetplan.xlsx.sheetlimits import MAX_ROWS
from sheetplan.xlsx.writer import write_atomic, write_through_temp


@dataclass(frozen=True)
class DataFiles:
    """Where the long tables went, for the summary's Data sheet."""

    workbook: Path
    facts: list[TablePart]  # the fact table's sheets in `workbook`
    audit: list[TablePart]  # the audit trail's sheets in `workbook`
    facts_rows: int
    audit_rows: int
    facts_parquet: Path
    audit_parquet: Path


def data_paths(folder: Path, month: str) -> tuple[Path, Path, Path]:
    """(data workbook, facts Parquet, audit Parquet) of a month, beside the summary."""
    return (folder / f"data-{month}.xlsx", folder / f"data-{month}-facts.parquet",
            folder / f"data-{month}-audit.parquet")


def write_data_files(workspace, facts: pd.DataFrame, trail: pd.DataFrame, month: str, months: pd.DataFrame | None,
                     folder: Path, rows_per_sheet: int = MAX_ROWS) -> DataFiles:
    """data-<month>.xlsx (fact table and audit trail over as many sheets as they need, then the Months sheet)
    and data-<month>-facts.parquet / -audit.parquet with every row. `rows_per_sheet` (header included) is
    Excel's limit; a smaller one only serves to test the split on small tables."""
    config = workspace.config
    labels = Labels(config.language)
    decimals = {m.key: m.decimals for m in config.metrics}
    book_path, facts_path, audit_path = data_paths(folder, month)
    parts: dict[str, list[TablePart]] = {}

    def write(tmp: str) -> None:
        b = ReportBook(tmp, labels)
        parts["facts"] = data_sheet(b, facts, labels("datafiles.facts_sheet"), rows_per_sheet)
        parts["audit"] = audit_sheet(b, trail, decimals, labels("datafiles.audit_sheet"), rows_per_sheet,
                                     {m.key: m.label(config.language) for m in config.metrics})
        if months is not None:
            b.months_sheet(months, list(config.months))
        b.book.set_properties({"title": labels("datafiles.title", company=config.company, month=month)})
        close_book(b, tmp)

    write_through_temp(book_path, write)
    for frame, path in ((facts, facts_path), (trail, audit_path)):
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        write_atomic(path, buffer.getvalue())
    return DataFiles(book_path, parts["facts"], parts["audit"], len(facts), len(trail), facts_path, audit_path)


def where_sheet(b: ReportBook, files: DataFiles, name: str) -> None:
    """The summary's Data sheet: which file and sheets (and rows) hold the fact table and the audit trail."""
    L = b.labels
    ws = b.sheet(name)
    b.heading(ws, 0, L("datafiles.heading"))
    ws.write_string(1, 0, L("datafiles.intro"))
    b.header(ws, 3, [L(f"datafiles.col_{c}") for c in ("table", "file", "sheet", "first", "last", "rows")])
    row = 4
    for table, parts, total in ((L("datafiles.facts"), files.facts, files.facts_rows),
                                (L("datafiles.audit"), files.audit, files.audit_rows)):
        for part in parts:
            for col, value in enumerate((table, files.workbook.name, part.sheet, part.first, part.last,
                                         part.last - part.first + 1 if part.last else 0)):
                b.value(ws, row, col, value)
            row += 1
        b.value(ws, row, 0, table)
        b.value(ws, row, 1, (files.facts_parquet if parts is files.facts else files.audit_parquet).name)
        b.value(ws, row, 2, L("datafiles.parquet"))
        b.value(ws, row, 5, total)
        row += 1
    ws.set_column(0, 0, 18)
    ws.set_column(1, 1, 34)
    ws.set_column(2, 2, 22)
    ws.set_column(3, 5, 12)
