"""The Python API: the one import surface for notebooks and the CLI. Every command is one call here and
returns plain data (dataclasses and DataFrames).

The functions that join stages live here: init (workspace + demo data + the first plan), generate (plan
state, approvals and the half-year review feed the template writers) and ingest (returned files, with the
templates an approver sent back written again). Everything else is the stage's own function, re-exported
lazily so that `import sheetplan.api` stays cheap for commands that need little.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import import_module
from pathlib import Path

from sheetplan.errors import ConfigError
from sheetplan.plan.refresh import plan_state, refresh_if_inputs_changed, refresh_plan
from sheetplan.plan.state import PlanState
from sheetplan.templates.jobs import GenerateResult, Job, run_jobs, sent_records
from sheetplan.templates.parts import Context
from sheetplan.workspace.folder import STARTER_CONFIG, Workspace, create_workspace, open_workspace, undo_on_failure
from sheetplan.workspace.labels import Labels
from sheetplan.workspace.problem_text import metric_labels
from sheetplan.xlsx.layout import KINDS, safe_part

# name -> module that defines it; imported on first use (pandas and friends load only when needed)
_LAZY = {
    "ingest_files": "sheetplan.returns.ingest:ingest",
    "IngestReport": "sheetplan.returns.ingest:IngestReport",
    "round_status": "sheetplan.reports.status:round_status",
    "consolidate": "sheetplan.reports.consolidate:consolidate",
    "Consolidation": "sheetplan.reports.consolidate:Consolidation",
    "run_consolidation": "sheetplan.reports.monthend:run_consolidation",
    "half_review": "sheetplan.reports.halfyear:half_review",
    "run_half": "sheetplan.reports.halfyear:run_half",
    "annual_summary": "sheetplan.reports.annual:annual_summary",
    "run_annual": "sheetplan.reports.annual:run_annual",
    "target_history": "sheetplan.plan.audit:target_history",
    "approval_items": "sheetplan.plan.approvals:items",
    "PENDING": "sheetplan.plan.approvals:PENDING",
    "Labels": "sheetplan.workspace.labels:Labels",
    "mail_round": "sheetplan.mail.compose:mail_round",
    "remind": "sheetplan.mail.compose:remind",
    "sent_mail": "sheetplan.mail.compose:sent_mail",
    "collect": "sheetplan.mail.collect:collect",
    "run_demo": "sheetplan.demo.run:run_demo",
    "workspace_lock": "sheetplan.workspace.folder:workspace_lock",
    "quarantined": "sheetplan.returns.quarantine:held",
    "round_copies": "sheetplan.reports.status:round_copies",
    "close_month": "sheetplan.workspace.closing:close_month",
    "reopen_month": "sheetplan.workspace.closing:reopen_month",
    "month_states": "sheetplan.reports.status:month_states",
    "open_month": "sheetplan.reports.summary:open_month",
    "history_warnings": "sheetplan.workspace.history_check:workspace_history_warnings",
    "import_actuals": "sheetplan.actuals.importer:import_actuals",
    "imported_status": "sheetplan.actuals.importer:imported_status",
    "imported_history": "sheetplan.actuals.importer:imported_history",
    "round_deadlines": "sheetplan.workspace.deadlines:round_deadlines",
    # the command line's lines in the workspace language (sheetplan/console.py)
    "metric_labels": "sheetplan.workspace.problem_text:metric_labels",
    "term": "sheetplan.workspace.problem_text:term",
    "init_lines": "sheetplan.cycle_lines:init_lines",
    "writing_label": "sheetplan.cycle_lines:writing_label",
    "generate_lines": "sheetplan.cycle_lines:generate_lines",
    "refresh_lines": "sheetplan.cycle_lines:refresh_lines",
    "mail_line": "sheetplan.cycle_lines:mail_line",
    "mail_summary": "sheetplan.cycle_lines:mail_summary",
    "sent_mail_lines": "sheetplan.cycle_lines:sent_mail_lines",
    "collect_lines": "sheetplan.cycle_lines:collect_lines",
    "quarantine_lines": "sheetplan.cycle_lines:quarantine_lines",
    "release_lines": "sheetplan.cycle_lines:release_lines",
    "half_lines": "sheetplan.cycle_lines:half_lines",
    "annual_lines": "sheetplan.cycle_lines:annual_lines",
    "ingest_lines": "sheetplan.console:ingest_lines",
    "status_lines": "sheetplan.console:status_lines",
    "consolidate_lines": "sheetplan.console:consolidate_lines",
    "history_lines": "sheetplan.console:history_lines",
    "copies_lines": "sheetplan.console:copies_lines",
    "approval_lines": "sheetplan.console:approval_lines",
}

__all__ = ["init_workspace", "open_workspace", "refresh_plan", "plan_state", "generate", "ingest", "KINDS",
           "release_quarantined", *_LAZY]


def __getattr__(name: str):
    """PEP 562: the re-exported names load their module on first use."""
    if name not in _LAZY:
        raise AttributeError(f"module 'sheetplan.api' has no attribute {name!r}")
    module, _, attribute = _LAZY[name].partition(":")
    value = getattr(import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def init_workspace(root: str | Path, demo: bool = False, year: int | None = None, lang: str = "en") -> Workspace:
    """Create a workspace: folders, sheetplan.toml, roster (for the demo also history) and, for the demo,
    the first plan. Nothing is overwritten, and a failure leaves nothing behind."""
    if lang not in ("en", "zh"):
        raise ConfigError(f"--lang must be en or zh, got {lang!r}")
    year = year or date.today().year + 1
    if demo:
        from sheetplan.workspace.demo_company import build_demo

        data = build_demo(year=year, lang=lang)
        config_text, roster_rows, history = data.config_toml, data.roster.to_dict("records"), data.history
    else:
        config_text, roster_rows, history = STARTER_CONFIG.format(year=year, lang=lang), [], None
    with undo_on_failure(root):
        path = create_workspace(root, config_text, roster_rows, history)
        if not demo:
            from sheetplan.workspace.config import parse_config
            from sheetplan.workspace.roster import Roster

            return Workspace(path, parse_config(config_text), Roster(()))
        workspace = open_workspace(path)
        refresh_plan(workspace)
    return workspace


def ingest(workspace: Workspace, paths: Iterable[Path] | None = None, **options):
    """Read, check and record returned workbooks (sheetplan.returns.ingest.ingest: dry_run, move, workers,
    progress, start, write_report); templates that an approver sent back in the batch are written again."""
    from sheetplan.returns.ingest import ingest as ingest_files

    return ingest_files(workspace, paths, send_back=send_back, **options)


def release_quarantined(workspace: Workspace, ids: list[int], by: str, **options):
    """Let held workbooks through (an analyst's decision, recorded with `by`) and ingest them now."""
    from sheetplan.returns.quarantine import release

    return ingest(workspace, release(workspace, list(ids), by), **options)


_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class _Recipient:
    """Who gets a template; the view itself is built only when its turn comes (memory stays flat)."""

    owner: str
    name: str
    heading: str
    view: Callable[[], object]


def _recipients(workspace: Workspace, state: PlanState, kind: str, month: str | None,
                only: set[str] | None) -> tuple[str, list[_Recipient], list[str]]:
    """The recipients of one kind, and notes on figures that are still suggestions or waiting for approval.

    An owner whose plan was sent back by an approver gets the template again with their figures and the
    approver's comment on it.
    """
    config, roster, fy = workspace.config, workspace.roster, str(workspace.config.fiscal_year)
    labels = Labels(config.language)
    notes: list[str] = []
    if kind in ("approval", "reforecast"):
        return _review_recipients(workspace, state, kind, only)
    period = month if kind == "month" else fy
    if kind == "month":
        if not month or not _MONTH.match(month):
            raise ConfigError("generate month needs --month YYYY-MM")
        if month not in config.months:
            raise ConfigError(f"{month} is not in fiscal year {fy} ({config.months[0]} to {config.months[-1]})")
    returned = _returned(workspace, kind, period)
    if kind == "company":
        owner = roster.company_owner()
        recipients = [_Recipient(owner.person_id, owner.name, config.company,
                                 lambda: state.company_plan(returned.get(owner.person_id)))]
    elif kind == "team":
        teams = [t for t in roster.teams if roster.manager(t) and roster.sellers(config, t)]
        recipients = [_Recipient(roster.manager(t).person_id, roster.manager(t).name, t,
                                 lambda t=t: state.team_plan(t, returned.get(roster.manager(t).person_id)))
                      for t in teams]
        pending = [t for t in roster.teams if state.is_suggestion("team", t, fy, config.metrics[0].key)]
        if pending:
            notes.append(labels("cycle.note_team_pending", pending=len(pending), teams=len(roster.teams)))
    elif kind == "person":
        people = roster.sellers(config)
        recipients = [_Recipient(p.person_id, p.name, "", lambda p=p: state.person_plan(p, returned.get(p.person_id)))
                      for p in people]
        pending = [p for p in people if state.is_suggestion("person", p.person_id, fy, config.metrics[0].key)]
        if pending:
            notes.append(labels("cycle.note_person_pending", pending=len(pending)))
    else:
        people = [p for p in roster.sellers(config) if state.is_active_in(p, month)]
        from sheetplan.actuals.reconcile import month_figures

        imported = month_figures(workspace, month) if config.actuals.source == "imported" else {}
        recipients = [_Recipient(p.person_id, p.name, "", lambda p=p: state.month_plan(
            p, month, returned.get(p.person_id), imported.get(p.person_id))) for p in people]
        pending = [p for p in people if state.is_suggestion("person", p.person_id, month, config.metrics[0].key,
                                                             config.customer_groups[0])]
        if pending:
            notes.append(labels("cycle.note_month_pending", pending=len(pending)))
    return period, _only(recipients, kind, only), notes


def _only(recipients: list[_Recipient], kind: str, only: set[str] | None) -> list[_Recipient]:
    if not only:
        return recipients
    unknown = sorted(only - {r.owner for r in recipients} - {r.heading for r in recipients})
    if unknown:
        raise ConfigError(f"--only names no {kind} template recipient: {', '.join(unknown)}")
    return [r for r in recipients if r.owner in only or r.heading in only]


def _returned(workspace: Workspace, kind: str, period: str) -> dict:
    from sheetplan.plan.approvals import returned_for

    with workspace.store() as store:
        return returned_for(store.db, kind, period)


def _review_recipients(workspace: Workspace, state: PlanState, kind: str,
                       only: set[str] | None) -> tuple[str, list[_Recipient], list[str]]:
    """Approval workbooks go to whoever has something waiting; re-forecasts to every seller active in H2."""
    fy = str(workspace.config.fiscal_year)
    labels = Labels(workspace.config.language)
    notes: list[str] = []
    if kind == "approval":
        from sheetplan.plan.approval_view import approval_plans

        for person_id in sorted(only or ()):
            if workspace.roster.get(person_id) is None:
                raise ConfigError(f"--approver {person_id} is not in the roster")
        from sheetplan.plan.approvals import reroute

        with workspace.store() as store:
            with store.transaction() as db:
                moved = reroute(db, workspace.config, workspace.roster)
            plans = approval_plans(store.db, workspace)
        for item in moved:
            notes.append(labels("cycle.note_moved", ref=item.ref, approver=item.waiting_on.approver,
                                owner=item.owner))
        waiting = {p.owner for p in plans}
        for person_id in sorted((only or set()) - waiting):
            notes.append(labels("cycle.note_nothing_waiting", person=person_id))
        plans = [p for p in plans if not only or p.owner in only]
        return fy, [_Recipient(p.owner, p.owner_name, "", lambda p=p: p) for p in plans], notes
    from dataclasses import replace

    from sheetplan.reports.halfyear import reforecast_plans

    period = f"{fy}-H2"
    returned = _returned(workspace, kind, period)
    plans = reforecast_plans(workspace)
    recipients = []
    for owner, plan in plans.items():
        back = returned.get(owner)
        if back is not None:
            sent = {(b, r, c): v for b, r, c, v in back.numbers}
            metrics = tuple(replace(m, h2_prefill={g: tuple(sent.get((f"in_{m.metric.key}", g, month), 0.0)
                                                            for month in plan.months[6:]) for g in plan.groups})
                            for m in plan.metrics)
            plan = replace(plan, metrics=metrics, note=state.returned_note(back))
        recipients.append(_Recipient(owner, plan.owner_name, "", lambda plan=plan: plan))
    return period, _only(recipients, kind, only), notes


# What was sent is recorded in batches while the workbooks are written, not all at the end.
RECORD_BATCH = 200


def generate(workspace: Workspace, kind: str, month: str | None = None, only: Iterable[str] | None = None,
             progress: Callable[[int], None] | None = None, start: Callable[[int], None] | None = None,
             workers: int | None = None, deadline: str | None = None) -> GenerateResult:
    """Write one locked workbook per recipient into outbox/<kind>/<period>/ and record what was sent;
    `deadline` (YYYY-MM-DD) is the round's return deadline, which its mails and reminders give."""
    from sheetplan.workspace.deadlines import checked_date, round_deadline, set_deadline

    if kind not in KINDS:
        raise ConfigError(f"unknown template kind {kind!r}; choose one of {', '.join(KINDS)}")
    if deadline is not None:
        deadline = checked_date(deadline)  # before anything is written
    began = time.perf_counter()
    refreshed = refresh_if_inputs_changed(workspace)
    state = plan_state(workspace)
    period, recipients, notes = _recipients(workspace, state, kind, month, set(only) if only else None)
    if refreshed is not None:
        lang = workspace.config.language
        notes = [*refreshed.lines(Labels(lang), metric_labels(workspace.config, lang)), *notes]
    result = GenerateResult(kind, period, notes=notes)
    if kind in ("company", "team", "person", "month"):  # what shows suggestions or last year's figures
        from sheetplan.workspace.history_check import workspace_history_warnings

        result.warnings = workspace_history_warnings(workspace)
    if not recipients:
        return result
    generated_at = datetime.now(UTC).isoformat(timespec="seconds")
    ctx = Context(workspace.config.company, workspace.config.language, workspace.config.fiscal_year,
                  workspace.config.currency, workspace.workspace_id, generated_at, workspace.key)
    folder = workspace.folder("outbox") / kind / safe_part(period)
    with workspace.store() as store:
        revisions = store.latest_revisions(kind, period)

    def jobs():
        for recipient in recipients:
            revision = revisions.get(recipient.owner, 0) + 1
            name = _file_name(kind, period, recipient.owner, recipient.name, revision)
            yield Job(recipient.view(), revision, str(folder / name))

    if start:
        start(len(recipients))
    with workspace.store() as store:
        batch = []
        for done in run_jobs(jobs(), ctx, workspace.password, workers, progress, count=len(recipients)):
            batch.append(done)
            result.files.append(Path(done[1][0]))
            if len(batch) >= RECORD_BATCH:
                store.record_sent(sent_records(kind, batch, workspace.root, generated_at))
                batch = []
        store.record_sent(sent_records(kind, batch, workspace.root, generated_at))
        if kind == "month":
            store.record_assignments(period, {r.owner: workspace.roster.get(r.owner).team for r in recipients})
        if deadline is not None:
            set_deadline(store, kind, period, deadline)
        result.deadline = round_deadline(store, workspace.config.mail, kind, period)
    result.seconds = time.perf_counter() - began
    return result


def _file_name(kind: str, period: str, owner: str, owner_name: str, revision: int) -> str:
    from sheetplan.xlsx.layout import template_file_name

    base = template_file_name(kind, period, owner, owner_name)
    if revision > 1:  # earlier revisions may already be out by email: never overwrite them
        base = base[:-5] + f"-r{revision}.xlsx"
    return base


def send_back(workspace: Workspace, returned: list) -> list[Path]:
    """Regenerate each rejected item's template for its owner, showing the approver's comment."""
    from sheetplan.plan.approvals import TEMPLATE_OF_ITEM

    rounds: dict[tuple[str, str], list[str]] = {}
    for item in returned:
        if item.item_kind not in TEMPLATE_OF_ITEM:
            continue  # a rejected handover sends nothing back: its gap goes by the [replan] policy
        rounds.setdefault((TEMPLATE_OF_ITEM[item.item_kind], item.period), []).append(item.owner)
    files: list[Path] = []
    for (kind, period), owners in rounds.items():
        result = generate(workspace, kind, month=period if kind == "month" else None, only=owners)
        files += result.files
    return files
