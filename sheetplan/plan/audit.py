"""The audit trail of targets: every version of every figure, with the returned file that brought it."""

from __future__ import annotations

import json

import pandas as pd

from sheetplan.errors import ConfigError
from sheetplan.workspace.folder import Workspace
from sheetplan.workspace.problem_text import term
from sheetplan.workspace.store import OFFICIAL_SOURCES

AUDIT_COLUMNS = ["level", "owner", "period", "metric", "customer_group", "version", "value", "previous_value",
                 "change", "source", "submitted_file", "archive_path", "received_at", "recorded_at",
                 "submission_kind", "submission_revision", "approver", "decided_at", "comment"]
LEVEL_ORDER = {"company": 0, "team": 1, "person": 2}
APPROVAL_FIELDS = ["approver", "decided_at", "comment"]

# LAG over every version of the key (suggestion included) before any filter, so version 1's previous value
# is the suggestion it replaced.
_QUERY = """
SELECT * FROM (
    SELECT t.level, t.owner, t.period, t.metric, t.customer_group, t.version, t.value,
           LAG(t.value) OVER (PARTITION BY t.level, t.owner, t.period, t.metric, t.customer_group
                              ORDER BY t.version) AS previous_value,
           t.source, COALESCE(s.original_name, '') AS submitted_file, COALESCE(s.archive_path, '') AS archive_path,
           COALESCE(s.received_at, '') AS received_at, t.created_at AS recorded_at,
           COALESCE(s.kind, '') AS submission_kind, s.revision AS submission_revision, t.approval_id
    FROM targets t LEFT JOIN submissions s ON s.id = t.submission_id
    WHERE {scope}
) WHERE {keep}
"""


def approver_text(roster, person_id: str, role: str, lang: str = "en") -> str:
    """'Name (ID, role)': the name for people, the id so two people of one name stay apart, the role (in
    `lang`) for why."""
    if not person_id:
        return ""
    person = roster.get(person_id)
    role = term("role", role, lang)
    return f"{person.name} ({person_id}, {role})" if person else f"{person_id} ({role})"


def _approvals(db, roster, lang: str) -> dict[int, tuple[str, str, str]]:
    """approval item id -> (every approving level lowest first, the last decision's time, the comments)."""
    decided: dict[int, list[tuple]] = {}
    for item, step, approver, decision, comment, when, chain in db.execute(
            "SELECT d.item_id, d.step, d.approver, d.decision, d.comment, d.decided_at, i.chain"
            " FROM approval_decisions d JOIN approval_items i ON i.id = d.item_id ORDER BY d.item_id, d.step"):
        role = json.loads(chain)[step][0]
        decided.setdefault(item, []).append((approver_text(roster, approver, role, lang), decision, comment, when))
    return {item: (" → ".join(who for who, decision, _c, _w in rows if decision == "approve"), rows[-1][3],
                   " | ".join(c.strip() for _a, _d, c, _w in rows if c.strip()))
            for item, rows in decided.items()}


def _frame(workspace: Workspace, scope: str, keep: str, args: list) -> pd.DataFrame:
    with workspace.store() as store:
        rows = store.db.execute(_QUERY.format(scope=scope, keep=keep), args).fetchall()
        approvals = _approvals(store.db, workspace.roster, workspace.config.language)
    names = [c for c in AUDIT_COLUMNS if c not in ("change", *APPROVAL_FIELDS)] + ["approval_id"]
    frame = pd.DataFrame(rows, columns=names)
    # no approval_id: the version needed no approval (or predates approvals), so these stay empty
    decided = [approvals.get(int(i), ("", "", "")) if pd.notna(i) else ("", "", "") for i in frame["approval_id"]]
    for position, column in enumerate(APPROVAL_FIELDS):
        frame[column] = [d[position] for d in decided]
    frame["previous_value"] = frame["previous_value"].astype(float)
    # rounded: 1234.5 - 1134.5 must read 100, not 100.00000000000009
    frame["change"] = (frame["value"].astype(float) - frame["previous_value"]).round(6)
    frame["submission_revision"] = frame["submission_revision"].astype("Int64")
    order = frame["level"].map(LEVEL_ORDER).fillna(len(LEVEL_ORDER))
    frame = frame.assign(_order=order).sort_values(
        ["_order", "owner", "period", "metric", "customer_group", "version"], kind="stable")
    return frame.drop(columns="_order")[AUDIT_COLUMNS].reset_index(drop=True)


def _known(workspace: Workspace, owner: str) -> bool:
    roster = workspace.roster
    if roster.get(owner) is not None or owner in roster.teams:
        return True
    with workspace.store() as store:  # someone who has left the roster keeps a history
        return store.db.execute("SELECT 1 FROM targets WHERE owner = ? LIMIT 1", (owner,)).fetchone() is not None


def target_history(workspace: Workspace, owner: str, metric: str | None = None) -> pd.DataFrame:
    """Every version of every target of `owner` (person id or team name; the company owner also gets the
    company targets), annual and monthly, oldest version first within each figure."""
    if not owner or not _known(workspace, owner):
        raise ConfigError(f"unknown owner {owner!r}: not a person id or team name of the roster")
    keys = [m.key for m in workspace.config.metrics]
    if metric is not None and metric not in keys:
        raise ConfigError(f"unknown metric {metric!r}: expected one of {', '.join(keys)}")
    company = workspace.roster.company_owner()
    scope, args = "t.owner = ?", [owner]
    if company is not None and company.person_id == owner:
        scope = "(t.owner = ? OR t.level = 'company')"
    if metric is not None:
        scope += " AND t.metric = ?"
        args.append(metric)
    return _frame(workspace, scope, "1 = 1", args)


def audit_trail(workspace: Workspace) -> pd.DataFrame:
    """Every official target version in the workspace: approved plans, revisions and re-forecasts
    (suggestions are derived, so they are left out); then every imported actual (see `imported_trail`)."""
    marks = ", ".join("?" for _ in OFFICIAL_SOURCES)
    targets = _frame(workspace, "1 = 1", f"source IN ({marks})", list(OFFICIAL_SOURCES))
    imported = imported_trail(workspace)
    return pd.concat([targets, imported], ignore_index=True) if len(imported) else targets


# Each export's sums per person, month, group and metric; version counts the exports of that month in the
# order they were imported, so a superseded figure and the one that replaced it stand one after the other.
_IMPORTED = """
SELECT 'person', v.person, v.month, v.metric, v.customer_group,
       ROW_NUMBER() OVER (PARTITION BY v.person, v.month, v.metric, v.customer_group ORDER BY v.import_id),
       v.value,
       LAG(v.value) OVER (PARTITION BY v.person, v.month, v.metric, v.customer_group ORDER BY v.import_id),
       'imported', a.original_name, a.archive_path, a.imported_at, a.imported_at, 'actuals:' || m.status
FROM imported_values v JOIN actual_imports a ON a.id = v.import_id
JOIN import_months m ON m.import_id = v.import_id AND m.month = v.month
"""


def imported_trail(workspace: Workspace) -> pd.DataFrame:
    """Every actual imported from an ERP or CRM export, superseded ones too (AUDIT_COLUMNS): the file it came
    from, when it was imported, and in submission_kind whether it still stands (actuals:accepted) or a later
    export of its month replaced it (actuals:superseded)."""
    names = ["level", "owner", "period", "metric", "customer_group", "version", "value", "previous_value",
             "source", "submitted_file", "archive_path", "received_at", "recorded_at", "submission_kind"]
    with workspace.store() as store:
        rows = store.db.execute(_IMPORTED).fetchall()
    frame = pd.DataFrame(rows, columns=names)
    frame["previous_value"] = frame["previous_value"].astype(float)
    frame["change"] = (frame["value"].astype(float) - frame["previous_value"]).round(6)
    frame["submission_revision"] = pd.array([pd.NA] * len(frame), dtype="Int64")
    for column in APPROVAL_FIELDS:
        frame[column] = ""
    return frame.sort_values(["owner", "period", "metric", "customer_group", "version"],
                             kind="stable")[AUDIT_COLUMNS].reset_index(drop=True)


REVISION_COLUMNS = ["person", "name", "team", "metric", "requested_in", "effective_from", "original_target",
                    "before", "revised", "change", "reason", "approved_by", "decided_at"]


def revision_history(workspace: Workspace) -> pd.DataFrame:
    """Every approved revision request, with the original annual target kept beside the revised one.

    The original is the first official version of the annual target (the approved plan), else the
    figure the request replaced."""
    config, roster = workspace.config, workspace.roster
    fy, months = str(config.fiscal_year), config.months
    with workspace.store() as store:
        db = store.db
        items = db.execute("SELECT id, owner, period, chain, detail FROM approval_items WHERE item_kind = 'revision'"
                           " AND status = 'approved' ORDER BY id").fetchall()
        firsts = {(o, m): v for o, m, v in db.execute(
            "SELECT owner, metric, value FROM targets t WHERE level = 'person' AND period = ? AND source <> "
            "'suggestion' AND version = (SELECT MIN(version) FROM targets u WHERE u.level = t.level AND"
            " u.owner = t.owner AND u.period = t.period AND u.metric = t.metric AND u.source <> 'suggestion'"
            " AND u.customer_group = t.customer_group) AND customer_group = ''", (fy,))}
        decided = {}
        for item_id, step, approver, when in db.execute(
                "SELECT item_id, step, approver, decided_at FROM approval_decisions WHERE decision = 'approve'"
                " ORDER BY item_id, step"):
            decided.setdefault(item_id, []).append((step, approver, when))
    rows = []
    for item_id, owner, month, chain, detail in items:
        detail, chain = json.loads(detail or "{}"), json.loads(chain)
        person = roster.get(owner)
        levels = decided.get(item_id, [])
        by = " → ".join(approver_text(roster, approver, chain[step][0], config.language)
                        for step, approver, _w in levels)
        later = months[months.index(month) + 1] if month in months and month != months[-1] else ""
        for metric, revised in detail.get("requested", {}).items():
            before = detail.get("current", {}).get(metric, 0.0)
            original = firsts.get((owner, metric), before)
            rows.append((owner, person.name if person else "", person.team if person else "", metric, month, later,
                         original, before, revised, round(revised - before, 6), detail.get("reason", ""), by,
                         levels[-1][2] if levels else ""))
    return pd.DataFrame(rows, columns=REVISION_COLUMNS)
