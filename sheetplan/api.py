"""The Python API: every CLI command is one call here, returning plain data (usable from a notebook)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sheetplan.errors import ConfigError
from sheetplan.plan.state import PlanState, StoredPrior, prior_rows, prior_year, suggest
from sheetplan.templates.builders import Context
from sheetplan.templates.jobs import GenerateResult, Job, run_jobs, sent_records
from sheetplan.workspace.folder import Workspace, init_workspace, open_workspace
from sheetplan.xlsx.layout import KINDS, safe_part

__all__ = ["init_workspace", "open_workspace", "refresh_plan", "plan_state", "generate", "KINDS"]

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def refresh_plan(workspace: Workspace) -> int:
    """Recompute every suggestion from the accepted figures above it and store them; returns the row count."""
    with workspace.store() as store:
        current = {(r.level, r.owner, r.period, r.metric, r.customer_group): r.value
                   for r in store.current_targets() if r.source != "suggestion"}
        prior = prior_year(workspace.config, workspace.roster, workspace.history())
        try:
            rows = suggest(workspace.config, workspace.roster, prior, current)
        except ValueError as exc:
            raise ConfigError(f"the plan cannot be allocated: {exc}") from None
        store.replace_prior(prior_rows(prior))
        return store.replace_suggestions(rows)


def plan_state(workspace: Workspace) -> PlanState:
    """The plan as it stands; it keeps a read-only connection to the store for monthly figures."""
    from sheetplan.workspace.store import Store

    with workspace.store() as store:
        empty = store.db.execute("SELECT 1 FROM targets LIMIT 1").fetchone() is None
    if empty:
        refresh_plan(workspace)
    reader = Store.reader(workspace.private / "plan.sqlite")
    return PlanState(workspace.config, workspace.roster, StoredPrior(reader), reader)


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
            notes.append(f"team targets not official yet for {len(pending)} of {len(roster.teams)} teams: "
                         "the templates show the allocation suggestion")
    elif kind == "person":
        people = roster.sellers(config)
        recipients = [_Recipient(p.person_id, p.name, "", lambda p=p: state.person_plan(p, returned.get(p.person_id)))
                      for p in people]
        pending = [p for p in people if state.is_suggestion("person", p.person_id, fy, config.metrics[0].key)]
        if pending:
            notes.append(f"annual targets not official yet for {len(pending)} people: the templates show the "
                         "suggested split")
    else:
        people = [p for p in roster.sellers(config) if state.is_active_in(p, month)]
        recipients = [_Recipient(p.person_id, p.name, "",
                                 lambda p=p: state.month_plan(p, month, returned.get(p.person_id))) for p in people]
        pending = [p for p in people if state.is_suggestion("person", p.person_id, month, config.metrics[0].key,
                                                             config.customer_groups[0])]
        if pending:
            notes.append(f"monthly plans not official yet for {len(pending)} people: the month targets come "
                         "from the suggested split")
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
            notes.append(f"{item.ref} moved to {item.waiting_on.approver}: the roster changed above {item.owner}")
        waiting = {p.owner for p in plans}
        for person_id in sorted((only or set()) - waiting):
            notes.append(f"nothing is waiting for {person_id}'s approval")
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
             workers: int | None = None) -> GenerateResult:
    """Write one locked workbook per recipient into outbox/<kind>/<period>/ and record what was sent."""
    if kind not in KINDS:
        raise ConfigError(f"unknown template kind {kind!r}; choose one of {', '.join(KINDS)}")
    began = time.perf_counter()
    state = plan_state(workspace)
    period, recipients, notes = _recipients(workspace, state, kind, month, set(only) if only else None)
    result = GenerateResult(kind, period, notes=notes)
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
    result.seconds = time.perf_counter() - began
    return result


def _file_name(kind: str, period: str, owner: str, owner_name: str, revision: int) -> str:
    from sheetplan.xlsx.layout import template_file_name

    base = template_file_name(kind, period, owner, owner_name)
    if revision > 1:  # earlier revisions may already be out by email: never overwrite them
        base = base[:-5] + f"-r{revision}.xlsx"
    return base
