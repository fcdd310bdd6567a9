"""The Python API: every CLI command is one call here, returning plain data (usable from a notebook)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from .builders import Context
from .errors import ConfigError, WorkspaceError
from .generate import GenerateResult, Job, run_jobs, sent_records
from .layout import KINDS, safe_part
from .plan import PlanState, StoredPrior, prior_rows, prior_year, suggest
from .workspace import Workspace, init_workspace, open_workspace

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
    from .store import Store

    with workspace.store() as store:
        empty = store.db.execute("SELECT 1 FROM targets LIMIT 1").fetchone() is None
    if empty:
        refresh_plan(workspace)
    reader = Store.reader(workspace.private / "plan.sqlite")
    return PlanState(workspace.config, workspace.roster, StoredPrior(reader), reader)


def _views(workspace: Workspace, state: PlanState, kind: str, month: str | None,
           only: set[str] | None) -> tuple[str, list, list[str]]:
    """The template views for one kind, and notes on figures that are still suggestions."""
    config, roster, fy = workspace.config, workspace.roster, str(workspace.config.fiscal_year)
    notes: list[str] = []
    if kind == "company":
        views = [state.company_plan()]
        period = fy
    elif kind == "team":
        views = [v for v in (state.team_plan(t) for t in roster.teams) if v is not None]
        period = fy
        pending = [t for t in roster.teams if state.is_suggestion("team", t, fy, config.metrics[0].key)]
        if pending:
            notes.append(f"team targets not accepted yet for {len(pending)} of {len(roster.teams)} teams: "
                         "the templates show the allocation suggestion")
    elif kind == "person":
        views = [state.person_plan(p) for p in roster.sellers(config)]
        period = fy
        pending = [p for p in roster.sellers(config)
                   if state.is_suggestion("person", p.person_id, fy, config.metrics[0].key)]
        if pending:
            notes.append(f"annual targets not accepted yet for {len(pending)} people: the templates show the "
                         "suggested split")
    else:
        if not month or not _MONTH.match(month):
            raise ConfigError("generate month needs --month YYYY-MM")
        if month not in config.months:
            raise ConfigError(f"{month} is not in fiscal year {fy} ({config.months[0]} to {config.months[-1]})")
        people = [p for p in roster.sellers(config) if state.is_active_in(p, month)]
        views = [state.month_plan(p, month) for p in people]
        period = month
        pending = [p for p in people if state.is_suggestion("person", p.person_id, month, config.metrics[0].key,
                                                             config.customer_groups[0])]
        if pending:
            notes.append(f"monthly plans not accepted yet for {len(pending)} people: the month targets come "
                         "from the suggested split")
    if only:
        unknown = sorted(only - {v.owner for v in views} - {getattr(v, "heading", None) for v in views})
        if unknown:
            raise ConfigError(f"--only names no {kind} template recipient: {', '.join(unknown)}")
        views = [v for v in views if v.owner in only or getattr(v, "heading", None) in only]
    return period, views, notes


def generate(workspace: Workspace, kind: str, month: str | None = None, only: Iterable[str] | None = None,
             progress: Callable[[int], None] | None = None, start: Callable[[int], None] | None = None,
             workers: int | None = None) -> GenerateResult:
    """Write one locked workbook per recipient into outbox/<kind>/<period>/ and record what was sent."""
    if kind not in KINDS:
        raise ConfigError(f"unknown template kind {kind!r}; choose one of {', '.join(KINDS)}")
    began = time.perf_counter()
    state = plan_state(workspace)
    period, views, notes = _views(workspace, state, kind, month, set(only) if only else None)
    result = GenerateResult(kind, period, notes=notes)
    if not views:
        return result
    generated_at = datetime.now(UTC).isoformat(timespec="seconds")
    ctx = Context(workspace.config.company, workspace.config.language, workspace.config.fiscal_year,
                  workspace.config.currency, workspace.workspace_id, generated_at, workspace.key)
    folder = workspace.folder("outbox") / kind / safe_part(period)
    with workspace.store() as store:
        revisions = store.latest_revisions(kind, period)
    jobs = []
    for view in views:
        revision = revisions.get(view.owner, 0) + 1
        name = _file_name(kind, period, view, revision)
        jobs.append(Job(view, revision, str(folder / name)))
    if start:
        start(len(jobs))
    done = list(run_jobs(jobs, ctx, workspace.password, workers, progress))
    with workspace.store() as store:
        store.record_sent(sent_records(kind, done, workspace.root, generated_at))
        if kind == "month":
            store.record_assignments(period, {v.owner: workspace.roster.get(v.owner).team for v in views})
    result.files = [Path(path) for _, (path, _, _) in done]
    result.seconds = time.perf_counter() - began
    return result


def _file_name(kind: str, period: str, view, revision: int) -> str:
    from .layout import template_file_name

    base = template_file_name(kind, period, view.owner, view.owner_name)
    if revision > 1:  # earlier revisions may already be out by email: never overwrite them
        base = base[:-5] + f"-r{revision}.xlsx"
    return base


def check_workspace(root: str | Path | None) -> Workspace:
    """Open and validate a workspace; raises with every config or roster problem listed."""
    try:
        return open_workspace(root)
    except FileNotFoundError as exc:
        raise WorkspaceError(str(exc)) from None
