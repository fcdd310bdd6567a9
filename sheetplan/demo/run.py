"""The demo cycle: a fictional company plans top-down and reports bottom-up, through real files."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sheetplan.errors import WorkspaceError

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
    """Init, then the year: plans top-down, each approved up its chain (one sent back and resubmitted),
    month reports with a revision request that is approved, the July review with H2 re-forecasts, and
    (when the demo runs to the last month) the annual summary. Every step goes through real files.

    A demo that fails on the way removes its folder: it never leaves a half-made workspace."""
    from sheetplan.workspace.folder import undo_on_failure

    root = Path(root).resolve()
    _prepare(root)
    with undo_on_failure(root):
        return _year(root, year, lang, through, say)


def _year(root: Path, year: int, lang: str, through: str | None, say: Callable[[str], None]) -> DemoRun:
    from sheetplan import api
    from sheetplan.api import ingest, init_workspace, mail_round, open_workspace, remind
    from sheetplan.demo import simulate
    from sheetplan.workspace.labels import Labels
    from sheetplan.workspace.problem_text import term

    run = DemoRun(root)
    words = Labels(lang)
    init_workspace(root, demo=True, year=year, lang=lang)
    (root / ".sheetplan" / MARKER).write_text("created by sheetplan demo\n")
    ws = open_workspace(root)
    decimals = {m.key: m.decimals for m in ws.config.metrics}
    inbox = ws.folder("inbox")
    sellers = ws.roster.sellers(ws.config)
    months = ws.config.months
    through = through or months[-1]
    if through not in months:
        raise WorkspaceError(f"--through {through} is not a month of fiscal year {year} ({months[0]} to {months[-1]})")

    def record(line: str) -> None:
        run.steps.append(line)
        say(line)

    def round_trip(kind: str, month: str | None, fill: Callable[[list[Path], Path], list],
                   files: list[Path] | None = None, label: str = "") -> None:
        nonlocal ws
        if files is None:
            result = api.generate(ws, kind, month=month)
            files, period = result.files, result.period
            drafts = _drafted(mail_round(ws, kind, period, mode="drafts"))  # what the manager would send
        else:  # templates sent back by an approver: only these go out again
            period = label
            drafts = _drafted(mail_round(ws, kind, str(ws.config.fiscal_year), mode="drafts"))
        folder = inbox / (month or f"{kind}-{period}")
        filled = fill(files, folder)
        report = ingest(ws, [folder])
        counts = report.counts
        run.reports.append(report.report_path)
        effects = report.approvals
        waiting = words("demo_lines.waiting", count=len(effects.opened)) if effects.opened else ""
        record(words("demo_lines.round", kind=term("kind", kind, lang), period=period, sent=len(files), drafts=drafts,
                    returned=len(filled), accepted=counts["accepted"], rejected=counts["rejected"],
                    duplicate=counts["duplicate"], waiting=waiting))
        ws = open_workspace(root)

    def approve(decide: Callable[[str, str], tuple[str, str] | None] | None = None) -> list[Path]:
        """Approval rounds until nothing waits: every approver gets a workbook and decides on it."""
        nonlocal ws
        returned: list[Path] = []
        for number in range(1, 10):
            result = api.generate(ws, "approval")
            if not result.files:
                break
            mail_round(ws, "approval", result.period, mode="drafts")
            folder = inbox / f"approvals-{len(run.steps):02d}"
            for path in result.files:
                simulate.fill_decisions(path, folder / path.name,
                                        lambda ref, owner: (decide(ref, owner) if decide else None)
                                        or ("approve", ""))
            report = ingest(ws, [folder])
            effects = report.approvals
            returned += report.returned
            record(words("demo_lines.approval", step=words("demo_lines.step_approval"), number=number,
                        approvers=result.count, advanced=len(effects.advanced), official=len(effects.official),
                        returned=len(effects.returned)))
            ws = open_workspace(root)
        return returned

    round_trip("company", None, lambda files, folder: simulate.fill_plans(files, folder, decimals))
    approve()
    managers = [ws.roster.manager(t).person_id for t in ws.roster.teams]
    round_trip("team", None, lambda files, folder: simulate.fill_plans(
        files, folder, decimals, mistakes={managers[1]: "tamper"}))
    sent_back = managers[2]  # the VP returns this team's split once, then approves the corrected one
    returned = approve(lambda ref, owner: ("reject", _REJECTION[lang]) if owner == sent_back else None)
    round_trip("team", None, lambda files, folder: simulate.fill_plans(files, folder, decimals, seed=8),
               files=returned, label=words("demo_lines.resubmitted"))
    approve()
    late = {sellers[5].person_id, sellers[17].person_id}  # these two never send their plan back

    def fill_people(files: list[Path], folder: Path) -> list:
        on_time = [f for f in files if not any(f"-{pid}-" in f.name for pid in late)]
        filled = simulate.fill_plans(on_time, folder, decimals, mistakes={sellers[2].person_id: "grid-off"})
        simulate.copy_as(filled[0].path, folder / f"copy-of-{filled[0].path.name}")  # sent twice
        (folder / "notes-from-sales.xlsx").write_text("owner,comment\nP004,see attachment\n")  # not a workbook
        return filled

    round_trip("person", None, fill_people)
    approve()
    for month in months:
        if month > through:
            break
        if month == months[6]:
            _half_year(ws, run, record, round_trip, approve, decimals)
            ws = open_workspace(root)
        index = months.index(month)
        missing = {sellers[((index + 1) * 7) % len(sellers)].person_id}
        mistakes = {sellers[3].person_id: "text-na"} if index == 0 else {sellers[8].person_id: "negative"}
        comments = {sellers[1].person_id: _COMMENT[lang],
                    sellers[4].person_id: "=HYPERLINK(\"http://example.invalid\",\"click\")"}
        revisions = {sellers[6].person_id: (ws.config.metrics[0].key, 0.85, _REASON[lang])} if index == 1 else {}

        def fill_month(files: list[Path], folder: Path, missing=missing, mistakes=mistakes, comments=comments,
                       revisions=revisions, index=index) -> list:
            present = [f for f in files if not any(f"-{pid}-" in f.name for pid in missing)]
            return simulate.fill_months(present, folder, decimals, seed=index + 1, mistakes=mistakes,
                                        comments=comments, revisions=revisions)

        round_trip("month", month, fill_month)
        if index == 0:  # the ERP's export of the first month, reconciled with what people reported
            ws = _erp_month(root, month, lang, sellers[0].person_id, record)
        if revisions:
            approve()  # the revision request climbs supervisor -> manager -> vp
        if month != through:  # the month's books close once its round is in; the last one stays open a while
            api.close_month(ws, month)
            record(words("demo_lines.close", step=words("demo_lines.step_close"), month=month))
    reminders = remind(ws, "month", through, mode="drafts")
    say(words("demo_lines.reminders", month=through, count=len(reminders)))
    from sheetplan.api import run_consolidation

    result = run_consolidation(ws, through)
    run.reports.append(result.summary)
    say(words("demo_lines.consolidated", month=result.month, flags=len(result.flags), path=result.summary))
    if through == months[-1]:
        from sheetplan.api import run_annual

        api.close_month(ws, through)  # the annual review needs the whole year closed
        record(words("demo_lines.close", step=words("demo_lines.step_close"), month=through))
        annual = run_annual(ws)
        run.reports.append(annual.workbook)
        say(words("demo_lines.annual", year=year, path=annual.workbook, history=annual.history_file))
    say(words("demo_lines.workspace", root=root))
    say(words("demo_lines.folders", outbox=root / "outbox", inbox=inbox, reports=root / "reports"))
    say(words("demo_lines.feedback", folder=root / "outbox" / "feedback"))
    say(words("demo_lines.try", root=root, person=sellers[6].person_id))
    return run


def _erp_month(root: Path, month: str, lang: str, late_invoice: str, record):
    """The analyst maps the ERP's columns ([actuals] source = "both"), imports its export of `month` (the
    first file has three mistakes and is rejected whole), then the corrected export; one salesperson left
    an invoice out of their report, which consolidate flags as actuals-mismatch."""
    from sheetplan.api import import_actuals, open_workspace
    from sheetplan.demo import erp
    from sheetplan.workspace.labels import Labels
    from sheetplan.workspace.problem_text import code_name

    words = Labels(lang)

    with (root / "sheetplan.toml").open("a", encoding="utf-8") as handle:
        handle.write(erp.mapping(lang))
    ws = open_workspace(root)
    with ws.store() as store:
        reported = store.db.execute("SELECT owner, customer_group, metric, value FROM accepted_values WHERE"
                                    " source = 'reported' AND period = ?", (month,)).fetchall()
    exports = root / "exports"
    for name, mistakes in ((f"erp-{month}.csv", True), (f"erp-{month}-corrected.csv", False)):
        path = erp.write_export(exports / name, lang, month, reported, mistakes, late_invoice)
        (outcome,) = import_actuals(ws, [path]).outcomes
        step = words("demo_lines.step_actuals")
        if outcome.problems:
            shown = words("demo_lines.actuals_separator").join(
                words("demo_lines.actuals_problem", row=p.row, code=code_name(p.code, lang)) for p in outcome.problems)
            record(words("demo_lines.actuals_rejected", step=step, month=month, file=name, problems=shown))
        else:
            record(words("demo_lines.actuals_imported", step=step, month=month, file=name, lines=outcome.lines,
                         read_as=outcome.read_as))
    return ws


def _drafted(results: list) -> int:
    return sum(1 for r in results if r.status == "drafted")


def _half_year(ws, run: DemoRun, record, round_trip, approve, decimals: dict[str, int]) -> None:
    """July: the H1 review workbook, then every salesperson's H2 re-forecast, approved up the chain."""
    from sheetplan.api import run_half
    from sheetplan.demo import simulate
    from sheetplan.workspace.labels import Labels

    review = run_half(ws)
    run.reports.append(review.workbook)
    words = Labels(ws.config.language)
    record(words("demo_lines.review", step=words("demo_lines.step_review"), file=review.workbook.name))
    round_trip("reforecast", None, lambda files, folder: simulate.fill_plans(files, folder, decimals, seed=9))
    approve()


_REJECTION = {"en": "Too much of the growth sits with two people; spread it more evenly and resend.",
              "zh": "增长过多集中在两个人身上，请更均衡地分配后重新提交。"}
_COMMENT = {"en": "Two key accounts postponed orders to next month.", "zh": "两个重点客户把订单推迟到了下个月。"}
_REASON = {"en": "Lost our largest OEM customer.", "zh": "失去了最大的OEM客户。"}
