"""consolidate() plus its files: the summary workbook, the team (and person) workbooks and the exports."""

from __future__ import annotations

from pathlib import Path

from sheetplan.reports.consolidate import Consolidation, consolidate
from sheetplan.reports.databook import write_data_files
from sheetplan.reports.summary import csv_safe, write_summary
from sheetplan.reports.teambooks import TeamBooks
from sheetplan.workspace.folder import Workspace
from sheetplan.xlsx.writer import write_atomic


def run_consolidation(workspace: Workspace, month: str | None = None, output: Path | None = None,
                      people: bool = False, csv: Path | None = None, parquet: Path | None = None,
                      workers: int | None = None) -> Consolidation:
    """consolidate() plus its files: the summary workbook, the data workbook and its Parquet files beside it,
    team (and person) workbooks, exports.

    The team workbooks are written by `workers` processes (default: up to two, one per core) while this
    process writes the data workbook and the summary; every file is written through a temporary file, so a
    failure anywhere leaves no half-written workbook."""
    from sheetplan.plan.audit import audit_trail

    teams = TeamBooks(workers)  # before the fact table exists, so the workers start small
    try:
        result = consolidate(workspace, month)
        result.flags_cfg = workspace.config.flags
        reports = workspace.folder("reports")
        summary = Path(output) if output else reports / f"summary-{result.month}.xlsx"
        teams.submit(workspace, result, reports / result.month, people)
        result.data = write_data_files(workspace, result.facts, audit_trail(workspace), result.month, result.months,
                                       summary.parent)
        result.summary = write_summary(workspace, result, summary, result.data)
    except BaseException:
        teams.stop()
        raise
    result.team_files, result.person_files = teams.result()
    if csv:
        write_atomic(Path(csv), csv_safe(result.facts).to_csv(index=False).encode("utf-8"))
    if parquet:
        import io

        buffer = io.BytesIO()
        result.facts.to_parquet(buffer, index=False)
        write_atomic(Path(parquet), buffer.getvalue())
    return result
