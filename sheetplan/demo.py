"""The demo cycle: a fictional company plans top-down and reports bottom-up, through real files."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import WorkspaceError

MARKER = "demo"


@dataclass
class DemoRun:
    root: Path
    steps: list[str] = field(default_factory=list)
    reports: list[Path] = field(default_factory=list)


def _prepare(root: Path) -> None:
    """A previous demo workspace is replaced; any other non-empty folder is left alone."""
    if root.exists() and any(root.iterdir()):
        if not (root / ".sheetplan" / MARKER).exists():
            raise WorkspaceError(f"{root} exists and is not a demo workspace; choose an empty or new folder")
        shutil.rmtree(root)


def run_demo(root: str | Path, year: int = 2027, lang: str = "en", through: str | None = None,
             say: Callable[[str], None] = print) -> DemoRun:
    """Init, then company → team → person plans and month reports, each generated, filled and ingested."""
    from . import api, simulate
    from .ingest import ingest
    from .mail import mail_round, remind
    from .workspace import init_workspace, open_workspace

    root = Path(root).resolve()
    _prepare(root)
    run = DemoRun(root)
    init_workspace(root, demo=True, year=year, lang=lang)
    (root / ".sheetplan" / MARKER).write_text("created by sheetplan demo\n")
    ws = open_workspace(root)
    decimals = {m.key: m.decimals for m in ws.config.metrics}
    inbox = ws.folder("inbox")
    sellers = ws.roster.sellers(ws.config)
    through = through or ws.config.months[2]

    def round_trip(kind: str, month: str | None, fill: Callable[[list[Path], Path], list]) -> None:
        nonlocal ws
        result = api.generate(ws, kind, month=month)
        folder = inbox / (month or f"{kind}-{ws.config.fiscal_year}")
        filled = fill(result.files, folder)
        drafts = mail_round(ws, kind, result.period, mode="drafts")  # what the manager would send
        report = ingest(ws, [folder])
        counts = report.counts
        run.reports.append(report.report_path)
        line = (f"{kind:<7} {result.period}: sent {result.count} ({len(drafts)} mail drafts), "
                f"returned {len(filled)}, "
                f"accepted {counts['accepted']}, rejected {counts['rejected']}, duplicate {counts['duplicate']}")
        run.steps.append(line)
        say(line)
        ws = open_workspace(root)

    round_trip("company", None, lambda files, folder: simulate.fill_plans(files, folder, decimals))
    managers = [ws.roster.manager(t).person_id for t in ws.roster.teams]
    round_trip("team", None, lambda files, folder: simulate.fill_plans(
        files, folder, decimals, mistakes={managers[1]: "tamper"}))
    late = {sellers[5].person_id, sellers[17].person_id}  # these two never send their plan back

    def fill_people(files: list[Path], folder: Path) -> list:
        on_time = [f for f in files if not any(f"-{pid}-" in f.name for pid in late)]
        filled = simulate.fill_plans(on_time, folder, decimals, mistakes={sellers[2].person_id: "grid-off"})
        simulate.copy_as(filled[0].path, folder / f"copy-of-{filled[0].path.name}")  # sent twice
        (folder / "notes-from-sales.xlsx").write_text("owner,comment\nP004,see attachment\n")  # not a workbook
        return filled

    round_trip("person", None, fill_people)
    for month in ws.config.months:
        if month > through:
            break
        missing = {sellers[(int(month[-2:]) * 7) % len(sellers)].person_id}
        mistakes = {sellers[3].person_id: "text-na"} if month == ws.config.months[0] else {
            sellers[8].person_id: "negative"}
        comments = {sellers[1].person_id: "Two key accounts postponed orders to next month.",
                    sellers[4].person_id: "=HYPERLINK(\"http://example.invalid\",\"click\")"}
        revisions = {sellers[6].person_id: (ws.config.metrics[0].key, 0.85, "Lost our largest OEM customer.")}

        def fill_month(files: list[Path], folder: Path, missing=missing, mistakes=mistakes, comments=comments,
                       revisions=revisions, month=month) -> list:
            present = [f for f in files if not any(f"-{pid}-" in f.name for pid in missing)]
            return simulate.fill_months(present, folder, decimals, seed=int(month[-2:]), mistakes=mistakes,
                                        comments=comments, revisions=revisions)

        round_trip("month", month, fill_month)
    reminders = remind(ws, "month", through, mode="drafts")
    say(f"reminders for {through}: {len(reminders)} drafts (missing and rejected returns)")
    from .consolidate import run_consolidation

    result = run_consolidation(ws, through)
    run.reports.append(result.summary)
    say(f"consolidated {result.month}: {len(result.flags)} flags; summary {result.summary}")
    say(f"Workspace: {root}")
    say(f"Templates: {root / 'outbox'}   Returned files: {inbox}   Reports: {root / 'reports'}")
    say(f"Feedback for rejected files: {root / 'outbox' / 'feedback'}")
    say(f"Try: sheetplan -w {root} status")
    return run
