"""consolidate() plus its files: the summary workbook, the team (and person) workbooks and the exports."""

from __future__ import annotations

from pathlib import Path

from sheetplan.reports.consolidate import Consolidation, consolidate
from sheetplan.reports.summary import csv_safe, write_summary, write_team_books
from sheetplan.workspace.folder import Workspace
from sheetplan.xlsx.writer import write_atomic


def run_consolidation(workspace: Workspace, month: str | None = None, output: Path | None = None,
                      people: bool = False, csv: Path | None = None, parquet: Path | None = None) -> Consolidation:
    """consolidate() plus its files: the summary workbook, team (and person) workbooks, exports."""
    result = consolidate(workspace, month)
    result.flags_cfg = workspace.config.flags
    reports = workspace.folder("reports")
    result.summary = write_summary(workspace, result, Path(output) if output else
                                   reports / f"summary-{result.month}.xlsx")
    result.team_files, result.person_files = write_team_books(workspace, result, reports / result.month, people)
    if csv:
        write_atomic(Path(csv), csv_safe(result.facts).to_csv(index=False).encode("utf-8"))
    if parquet:
        import io

        buffer = io.BytesIO()
        result.facts.to_parquet(buffer, index=False)
        write_atomic(Path(parquet), buffer.getvalue())
    return result
