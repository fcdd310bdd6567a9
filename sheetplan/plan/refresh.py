"""Suggestions recomputed from what is official above them, and the plan as it stands for the template writers."""

from __future__ import annotations

from sheetplan.errors import ConfigError
from sheetplan.plan.state import PlanState, StoredPrior, prior_rows, prior_year, suggest
from sheetplan.workspace.folder import Workspace
from sheetplan.workspace.store import Store


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
    with workspace.store() as store:
        empty = store.db.execute("SELECT 1 FROM targets LIMIT 1").fetchone() is None
    if empty:
        refresh_plan(workspace)
    reader = Store.reader(workspace.private / "plan.sqlite")
    return PlanState(workspace.config, workspace.roster, StoredPrior(reader), reader)
