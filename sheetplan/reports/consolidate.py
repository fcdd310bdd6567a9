"""Month-end consolidation: gather the plan store into frames, then facts, flags and rankings."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sheetplan.actuals.ledger import imported_actuals
from sheetplan.actuals.reconcile import counted_actuals, mismatches
from sheetplan.plan.approvals import APPROVED, PENDING, REJECTED, SUPERSEDED, TEMPLATE_OF_ITEM
from sheetplan.plan.audit import approver_text
from sheetplan.plan.gaps import plan_gaps, plan_levels
from sheetplan.plan.handover import handovers
from sheetplan.reports.facts import MetricRule, build_facts, score_points, standing
from sheetplan.workspace.folder import Workspace
from sheetplan.workspace.labels import Labels
from sheetplan.workspace.problem_text import reason_names, term
from sheetplan.workspace.store import REFORECAST, REVISION, TargetRow

FLAG_COLUMNS = ["severity", "code", "level", "team", "person", "month", "metric", "message", "file", "sheet",
                "cell"]
# step: the chain index of the level deciding (as stored); level: "2 of 2" in the workspace language; waiting_on:
# the approver of a pending item; sent_back: rejected and not resubmitted; detail: the item's JSON text
APPROVAL_COLUMNS = ["item_id", "item_kind", "owner", "owner_name", "team", "period", "status", "step", "level",
                    "waiting_on", "waiting_on_name", "waiting_on_role", "submitted_file", "created_at", "closed_at",
                    "last_decision", "last_decided_by", "last_decided_at", "last_comment", "sent_back", "detail"]
STATUS_ORDER = {PENDING: 0, REJECTED: 1, APPROVED: 2, SUPERSEDED: 3}  # what needs someone's attention first


@dataclass
class Inputs:
    targets: pd.DataFrame  # person, month, metric, customer_group, target
    actuals: pd.DataFrame  # person, month, metric, customer_group, actual
    teams: pd.DataFrame  # person, month, team
    annual: pd.DataFrame  # person, metric, annual_target (the person's current annual target)
    approvals: pd.DataFrame  # every approval item, pending first (APPROVAL_COLUMNS)
    resets: pd.DataFrame  # person, metric, source, month: the first month of a plan re-set by a revision or
    # re-forecast (source 'revision' or 'reforecast')
    rounds: pd.DataFrame  # round status from the ledger (status.round_status)
    open_problems: pd.DataFrame  # problems of rejected files not fixed since
    plan_gaps: list = field(default_factory=list)  # plan.gaps.PlanGap: levels their children do not add up to
    plan_levels: list = field(default_factory=list)  # plan.gaps.PlanLevel: every team's and the company's
    reported: pd.DataFrame | None = None  # the month reports' actuals, whatever [actuals] source counts
    imported: pd.DataFrame | None = None  # imported actuals that stand (sheetplan.actuals.ledger)


@dataclass
class Consolidation:
    month: str
    facts: pd.DataFrame
    flags: pd.DataFrame
    people: pd.DataFrame  # one row per person: per-metric ytd attainment, score, ranks
    teams: pd.DataFrame
    inputs: Inputs
    flags_cfg: object = None  # the workspace's [flags] thresholds, for traffic lights
    months: pd.DataFrame | None = None  # status.month_states up to `month`: closed or open, returns missing
    summary: Path | None = None
    team_files: list[Path] = field(default_factory=list)
    person_files: list[Path] = field(default_factory=list)
    data: object = None  # databook.DataFiles: where the full fact table and audit trail were written


def load_inputs(workspace: Workspace) -> Inputs:
    from sheetplan.reports.status import round_status

    config, roster = workspace.config, workspace.roster
    fy = str(config.fiscal_year)
    months = set(config.months)
    with workspace.store() as store:
        # read in pieces into columnar frames: a Python object per monthly figure cost seconds and hundreds
        # of MB at a few thousand people
        targets = _frame_of(store.current_cursor(level="person", not_period=fy),
                            ["level", "person", "month", "metric", "customer_group", "target", "source", "version"],
                            lambda f: f.loc[f["month"].isin(list(months)),
                                            ["person", "month", "metric", "customer_group", "target"]])
        current = [TargetRow(*row) for row in store.current_rows(period=fy)]  # annual figures, every level
        assignments = store.assignments()
        db = store.db
        metric_keys = {m.key for m in config.metrics}
        actuals = _frame_of(db.execute(
            "SELECT s.owner, s.period, substr(v.block, 4), v.row_key, v.value FROM submitted_values v JOIN"
            " submissions s ON s.id = v.submission_id WHERE s.kind = 'month' AND s.status = 'accepted'"),
            ["person", "month", "metric", "customer_group", "actual"],
            lambda f: f[f["metric"].isin(list(metric_keys))])  # blocks in_<metric>
        reset_rows = db.execute(
            "SELECT id, owner, metric, period, source, COALESCE(submission_id, -1), COALESCE(approval_id, -1)"
            " FROM targets WHERE level = 'person' AND source IN (?, ?)", (REVISION, REFORECAST)).fetchall()
        approvals = _approvals(db, workspace)
        waiting_handover = frozenset(h.receiver for _id, h in handovers(db))
        imported = imported_actuals(store)
        rejected = db.execute(
            "SELECT kind, owner, period, original_name, archive_path, problems FROM submissions r WHERE"
            " status = 'rejected' AND NOT EXISTS (SELECT 1 FROM submissions a WHERE a.status = 'accepted'"
            " AND a.kind = r.kind AND a.owner = r.owner AND a.period = r.period) ORDER BY id").fetchall()
    annual = pd.DataFrame([(r.owner, r.metric, r.value) for r in current if r.level == "person" and r.period == fy],
                          columns=["person", "metric", "annual_target"])
    reported, actuals = actuals, counted_actuals(config, actuals, imported, targets)
    people = {p.person_id for p in roster.people}
    team_rows = []
    for person in people | set(targets["person"]) | set(actuals["person"]):
        home = roster.get(person).team if roster.get(person) else ""
        found = roster.get(person)
        team_rows += [(person, month, assignments.get((month, person), home), found.works_in(month) if found else True)
                      for month in config.months]
    teams = pd.DataFrame(team_rows, columns=["person", "month", "team", "active"])
    problems = []
    for kind, owner, period, name, archive, payload in rejected:
        for problem in json.loads(payload):
            if problem["severity"] == "error":
                problems.append({"kind": kind, "owner": owner, "period": period, "file": name,
                                 "archive": str(workspace.root / archive), **problem})
    open_problems = pd.DataFrame(problems)
    return Inputs(targets, actuals, teams, annual, approvals, _resets(reset_rows, config.months),
                  round_status(workspace), open_problems, plan_gaps(config, roster, current, waiting_handover),
                  plan_levels(config, roster, current), reported=reported, imported=imported)


def _frame_of(cursor, columns: list[str], keep, size: int = 50_000) -> pd.DataFrame:
    """The cursor's rows as one frame, read `size` rows at a time and each piece cut down by `keep` at once,
    so no more than one piece is ever held as Python tuples."""
    pieces = []
    while rows := cursor.fetchmany(size):
        pieces.append(keep(pd.DataFrame(rows, columns=columns)))
    if not pieces:
        return keep(pd.DataFrame(columns=columns))
    return pd.concat(pieces, ignore_index=True)


def _resets(rows: list[tuple], months: list[str]) -> pd.DataFrame:
    """Per person and metric, the first month re-set by the latest approved revision or re-forecast.

    A revision writes the months after its request month and a re-forecast the H2 months, all with one
    approval (or, needing none, one submission): the earliest month among those rows is where the new plan
    starts, and rollover must not carry into it what the new plan already took in."""
    frame = pd.DataFrame(rows, columns=["id", "person", "metric", "month", "source", "submission_id", "approval_id"])
    frame = frame[frame["month"].isin(months)]
    if frame.empty:
        return pd.DataFrame(columns=["person", "metric", "source", "month"])
    batch = ["person", "metric", "source", "submission_id", "approval_id"]
    latest = frame.loc[frame.groupby(["person", "metric"])["id"].idxmax(), batch]
    return frame.merge(latest, on=batch).groupby(["person", "metric", "source"], as_index=False)["month"].min()


def _approvals(db, workspace: Workspace) -> pd.DataFrame:
    """Every approval item with where it stands: who must decide now, the last decision and its comment.

    `sent_back` marks a rejected item that is the newest of its kind, owner and period and whose owner has
    sent no newer accepted file of that template since: it waits on its owner, not on an approver."""
    roster = workspace.roster
    labels = Labels(workspace.config.language)
    rows = db.execute(
        "SELECT i.id, i.item_kind, i.owner, i.period, i.status, i.step, i.chain, i.detail, i.created_at,"
        " i.closed_at, COALESCE(s.original_name, ''), i.submission_id FROM approval_items i"
        " LEFT JOIN submissions s ON s.id = i.submission_id ORDER BY i.id").fetchall()
    last = {item: (step, approver, decision, comment, when) for item, step, approver, decision, comment, when in
            db.execute("SELECT item_id, step, approver, decision, comment, decided_at FROM approval_decisions"
                       " ORDER BY item_id, step")}
    newest = {(kind, owner, period): item for item, kind, owner, period in
              db.execute("SELECT MAX(id), item_kind, owner, period FROM approval_items"
                         " GROUP BY item_kind, owner, period")}
    resent = {(kind, owner, period): sid for kind, owner, period, sid in
              db.execute("SELECT kind, owner, period, MAX(id) FROM submissions WHERE status = 'accepted'"
                         " GROUP BY kind, owner, period")}
    out = []
    for item, kind, owner, period, status, step, chain, detail, created, closed, name, submission in rows:
        chain = json.loads(chain)
        person = roster.get(owner)
        waiting = chain[step] if status == PENDING and step < len(chain) else ("", "")
        decided = last.get(item)
        decided_by = approver_text(roster, decided[1], chain[decided[0]][0], labels.lang) if decided else ""
        template = TEMPLATE_OF_ITEM.get(kind, kind)
        sent_back = (status == REJECTED and submission is not None and newest[(kind, owner, period)] == item
                     and resent.get((template, owner, period), submission) <= submission)
        level = labels("flags.approval_level", step=min(step + 1, len(chain)), levels=len(chain)) if chain else ""
        out.append((item, kind, owner, person.name if person else owner, person.team if person else "", period,
                    status, step, level, waiting[1], _name(roster, waiting[1]), waiting[0], name, created, closed,
                    decided[2] if decided else "", decided_by, decided[4] if decided else "",
                    decided[3] if decided else "", sent_back, detail))
    frame = pd.DataFrame(out, columns=APPROVAL_COLUMNS)
    order = frame["status"].map(STATUS_ORDER).fillna(len(STATUS_ORDER))
    return frame.assign(_order=order).sort_values(["_order", "item_id"]).drop(columns="_order").reset_index(drop=True)


def _name(roster, person_id: str) -> str:
    person = roster.get(person_id) if person_id else None
    return person.name if person else person_id


def revision_requests(approvals: pd.DataFrame) -> pd.DataFrame:
    """The open revision requests, one row per metric: what is asked for, against what, and why."""
    rows = []
    for item in approvals[(approvals["item_kind"] == "revision") & (approvals["status"] == PENDING)].itertuples():
        detail = json.loads(item.detail or "{}")
        for metric, requested in detail.get("requested", {}).items():
            rows.append((item.owner, item.period, metric, float(requested),
                         float(detail.get("current", {}).get(metric, 0.0)), detail.get("reason", ""), item.item_id))
    return pd.DataFrame(rows, columns=["person", "month", "metric", "requested", "current", "reason", "item_id"])


def default_month(workspace: Workspace) -> str:
    """The latest month a month round was sent for, else the first fiscal month."""
    with workspace.store() as store:
        row = store.db.execute("SELECT MAX(period) FROM sent WHERE kind = 'month'").fetchone()
    return row[0] if row and row[0] else workspace.config.months[0]


def rankings(facts: pd.DataFrame, metrics: list, month: str, roster) -> tuple[pd.DataFrame, pd.DataFrame]:
    """People ranked within their team and across the company; teams ranked, by a weighted score.

    Each metric brings its `score_points` (capped at SCORE_CAP; a budget's from its budget used; no report
    brings 0). The per-metric columns hold the year-to-date attainment itself (budget used for a budget),
    and rank_<metric> ranks by the points, so a lower budget used ranks higher."""
    now = facts[(facts["month"] == month) & (facts["customer_group"] == "")]
    # A person is scored and ranked only in a month they are on the books: a leaver (or a later hire) keeps
    # a row with their attainment, but no score, rank or band.
    gone = {p.person_id for p in roster.people if not p.works_in(month)}
    weights = {m.key: m.weight for m in metrics}
    higher = {m.key: getattr(m, "higher_is_better", True) for m in metrics}
    total_weight = sum(weights.values()) or 1.0

    def table(level: str, keys: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
        rows = now[now["level"] == level]
        # groupby, not pivot_table: an owner with no report at all (every attainment empty) keeps their row
        wide = rows.groupby(keys + ["metric"], sort=True)["ytd_attainment"].first().unstack("metric")
        wide = wide.reindex(columns=[m.key for m in metrics])
        wide.columns.name = None
        points = pd.DataFrame({k: score_points(wide[k], higher[k]) for k in weights}, index=wide.index)
        score = sum(points[k] * w for k, w in weights.items()) / total_weight
        return wide.assign(score=score.round(4)).reset_index(), points.reset_index(drop=True)

    people, points = table("person", ["team", "person"])
    people["name"] = people["person"].map(lambda p: roster.get(p).name if roster.get(p) else "")
    on_books = ~people["person"].isin(gone)
    people["score"] = people["score"].where(on_books)
    people["rank_company"] = people["score"].rank(ascending=False, method="min")
    people["rank_team"] = people.groupby("team")["score"].rank(ascending=False, method="min")
    for m in metrics:
        people[f"rank_{m.key}"] = points[m.key].where(on_books.to_numpy()).rank(ascending=False, method="min")
    if on_books.all():  # whole numbers; a row without a rank keeps them as floats with NaN
        rank_columns = ["rank_company", "rank_team", *(f"rank_{m.key}" for m in metrics)]
        people[rank_columns] = people[rank_columns].astype(int)
    people = people.sort_values(["rank_company", "person"], na_position="last").reset_index(drop=True)
    teams, _points = table("team", ["team"])
    teams["rank"] = teams["score"].rank(ascending=False, method="min").astype(int)
    teams = teams.sort_values(["rank", "team"]).reset_index(drop=True)
    return people, teams


def flags(workspace: Workspace, facts: pd.DataFrame, inputs: Inputs, month: str, history=None) -> pd.DataFrame:
    """Every reason for a manager to look closer, as rows with severity, owner, team, month, metric, message."""
    config, roster = workspace.config, workspace.roster
    labels = Labels(config.language)
    metric_label = {m.key: m.label(config.language) for m in config.metrics}
    rows: list[dict] = []

    def who(person: str, team: str) -> str:
        if person:
            found = roster.get(person)
            return f"{found.name} ({person})" if found else person
        return team or config.company

    # owner_level, not level: an approval message has a {level} of its own
    def add(severity: str, code: str, owner_level: str, team: str, person: str, when: str, metric_key: str, **values):
        source = values.pop("source", ("", "", ""))
        text = values.pop("text", f"flags.{code}")  # the message's catalogue key, when not the code's own
        rows.append({"severity": severity, "code": code, "level": owner_level, "team": team, "person": person,
                     "month": when, "metric": metric_key, "message": labels(text, who=who(person, team), **values),
                     "file": source[0], "sheet": source[1], "cell": source[2]})

    def off_books(person: str, period: str) -> bool:
        """No flag is raised for a person about a month they were not on the books (a leaver, a later hire)."""
        found = roster.get(person) if person else None
        return found is not None and len(period) == 7 and not found.works_in(period)

    now = facts[(facts["month"] == month) & (facts["customer_group"] == "") & (facts["level"] != "company")]
    now = now[[not off_books(p, month) for p in now["person"]]]
    higher = {m.key: m.higher_is_better for m in config.metrics}
    for row in now.itertuples():
        if row.ytd_target <= 0 and row.ytd_actual <= 0:
            continue
        light = standing(row.ytd_attainment, higher[row.metric], config.flags)  # None: no report to date
        if light in (None, "green"):
            continue
        code, severity = ("far-behind", "high") if light == "red" else ("behind-pace", "medium")
        if higher[row.metric]:
            threshold = config.flags.far_behind if light == "red" else config.flags.behind_pace
            add(severity, code, row.level, row.team, row.person, month, row.metric,
                metric=metric_label[row.metric], att=row.ytd_attainment, threshold=threshold)
        else:  # a budget: over budget (amber) or over by more than 1 - far_behind (red)
            limit = 2.0 - config.flags.far_behind if light == "red" else 1.0
            add(severity, code, row.level, row.team, row.person, month, row.metric, text=f"budget.{code}",
                metric=metric_label[row.metric], used=row.ytd_attainment, limit=limit)
    rounds = inputs.rounds
    flagged_missing = set()
    if len(rounds):
        kind_label = {kind: labels(f"flags.kind_{kind}") for kind in ("company", "team", "person", "month",
                                                                      "reforecast")}
        # approval workbooks are not rounds everyone must return: the approval flags say who must decide
        for row in rounds[(rounds["status"] != "accepted") & (rounds["kind"] != "approval")].itertuples():
            if row.kind == "month" and row.period > month:
                continue
            person = row.owner
            if off_books(person, row.period if row.kind == "month" else month):
                continue
            team = roster.get(person).team if roster.get(person) and row.kind != "company" else ""
            flagged_missing.add((person, row.period))
            if row.status == "late":  # came after its month was closed: recorded, counted nowhere
                add("medium", "late-submission", "person", team, person, row.period, "", text="closing.late_flag",
                    kind=kind_label[row.kind], period=row.period)
            elif row.status == "missing":
                add("medium", "missing-submission", "person", team, person, row.period, "",
                    kind=kind_label[row.kind], period=row.period)
            else:
                source = _first_source(inputs.open_problems, row.kind, person, row.period)
                add("high", "rejected-not-fixed", "person", team, person, row.period, "",
                    kind=kind_label[row.kind], period=row.period, reasons=reason_names(row.reasons, labels.lang),
                    source=source)
    person_month = facts[(facts["level"] == "person") & (facts["customer_group"] == "") & (facts["month"] <= month)]
    # one vectorised pass: a loop over every person and month cost seconds at a few thousand people
    per_month = person_month.groupby(["person", "month"], sort=False).agg(
        team=("team", "first"), reported=("reported", "any"), target=("target", "sum"))
    for (person, period), row in zip(per_month.index, per_month.itertuples(index=False)):
        if (person, period) in flagged_missing or row.reported or row.target <= 0 or off_books(person, period):
            continue
        add("medium", "no-actuals", "person", row.team, person, period, "", period=period)
    if len(inputs.annual) and len(inputs.targets):
        plan = inputs.targets.groupby(["person", "metric"], as_index=False)["target"].sum()
        merged = plan.merge(inputs.annual, on=["person", "metric"])
        # an approved H2 re-forecast plans from H1's actuals, so its months need not add up to the target
        resets = inputs.resets
        reforecast = set(zip(*[resets.loc[resets["source"] == "reforecast", c] for c in ("person", "metric")]))
        merged = merged[[pair not in reforecast for pair in zip(merged["person"], merged["metric"])]]
        decimals = {m.key: m.decimals for m in config.metrics}
        for row in merged.itertuples():
            allowed = 0.5 * 10 ** -decimals[row.metric] + config.flags.plan_tolerance * abs(row.annual_target)
            if abs(row.target - row.annual_target) > allowed:
                team = roster.get(row.person).team if roster.get(row.person) else ""
                add("medium", "plan-mismatch", "person", team, row.person, str(config.fiscal_year), row.metric,
                    metric=metric_label[row.metric], plan=row.target, target=row.annual_target)
    _sharp_drops(add, facts, config, month, metric_label, labels, history)
    for gap in inputs.plan_gaps:
        add("medium", "plan-gap", gap.level, gap.owner, "", str(config.fiscal_year), gap.metric,
            metric=metric_label[gap.metric], target=gap.target, allocated=gap.allocated, gap=gap.gap,
            cause=labels(f"flags.gap_cause_{gap.cause}"))
    for row in revision_requests(inputs.approvals).itertuples():
        if row.month > month or row.metric not in metric_label:
            continue
        team = roster.get(row.person).team if roster.get(row.person) else ""
        current = inputs.annual[(inputs.annual["person"] == row.person) & (inputs.annual["metric"] == row.metric)]
        add("info", "revision-requested", "person", team, row.person, row.month, row.metric,
            metric=metric_label[row.metric], requested=row.requested,
            current=float(current["annual_target"].iloc[0]) if len(current) else row.current, reason=row.reason or "-")
    _approval_flags(add, inputs.approvals, config.months, month, labels)
    if inputs.imported is not None:
        for row in mismatches(config, inputs.reported, inputs.imported, inputs.targets, month).itertuples():
            team = roster.get(row.person).team if roster.get(row.person) else ""
            add("medium", "actuals-mismatch", "person", team, row.person, row.month, row.metric,
                text="actuals.mismatch_flag", metric=metric_label[row.metric], reported=row.reported,
                imported=row.imported, difference=row.difference, file=row.file, source=(row.file, "", ""))
    order = {"high": 0, "medium": 1, "info": 2}
    frame = pd.DataFrame(rows, columns=FLAG_COLUMNS)
    if len(frame):
        frame = frame.sort_values(["severity", "team", "person", "month", "code"],
                                  key=lambda s: s.map(order) if s.name == "severity" else s).reset_index(drop=True)
    return frame


def _approval_flags(add, approvals: pd.DataFrame, months: list[str], month: str, labels: Labels) -> None:
    """Items waiting on an approver (info), and items sent back that their owner has not resubmitted."""
    for row in approvals.itertuples():
        if row.period in months and row.period > month:
            continue  # a request from a later month round is not news as of this month
        what = labels(f"flags.kind_{row.item_kind}")
        if row.status == PENDING:
            role = term("role", row.waiting_on_role, labels.lang)
            add("info", "approval-pending", "person", row.team, row.owner, row.period, "", what=what,
                period=row.period, approver=f"{row.waiting_on_name} ({row.waiting_on}, {role})",
                level=row.level)
        elif row.sent_back:
            add("medium", "approval-rejected", "person", row.team, row.owner, row.period, "", what=what,
                period=row.period, approver=row.last_decided_by, date=row.last_decided_at[:10],
                comment=row.last_comment or "-")


def _first_source(problems: pd.DataFrame, kind: str, owner: str, period: str) -> tuple[str, str, str]:
    if problems.empty:
        return ("", "", "")
    mine = problems[(problems["kind"] == kind) & (problems["owner"] == owner) & (problems["period"] == period)]
    if mine.empty:
        return ("", "", "")
    first = mine.iloc[0]
    return (first["archive"], first.get("sheet", "") or "", first.get("cell", "") or "")


def _sharp_drops(add, facts: pd.DataFrame, config, month: str, metric_label: dict, labels: Labels, history) -> None:
    """Actual fell by sharp_drop or more against the previous month or the same month last year."""
    threshold = config.flags.sharp_drop
    if threshold <= 0:
        return
    higher = {m.key: m.higher_is_better for m in config.metrics}
    rows = facts[(facts["level"] == "person") & (facts["customer_group"] == "") & (facts["month"] <= month)
                 & facts["reported"]]
    current = rows[rows["month"] == month].set_index(["person", "metric"])
    months = config.months
    if month in months and months.index(month) > 0:
        previous_month = months[months.index(month) - 1]
        previous = rows[rows["month"] == previous_month].set_index(["person", "metric"])["actual"]
        _compare(add, current, previous, higher, threshold, month, metric_label, labels("flags.previous_month"))
    if history is not None and len(history):
        last_year = f"{int(month[:4]) - 1:04d}{month[4:]}"
        past = history[history["month"] == last_year].groupby(["person_id", "metric"], observed=True)["value"].sum()
        past.index = past.index.set_names(["person", "metric"])
        _compare(add, current, past, higher, threshold, month, metric_label, labels("flags.last_year"))


def _compare(add, current: pd.DataFrame, previous: pd.Series, higher: dict, threshold: float, month: str,
             metric_label: dict, against: str) -> None:
    joined = current.join(previous.rename("before"), how="inner")
    for (person, metric), team, actual, before in zip(joined.index, joined["team"], joined["actual"],
                                                      joined["before"]):
        if not higher.get(metric, True) or before <= 0:
            continue
        drop = 1 - actual / before
        if drop >= threshold:
            add("medium", "sharp-drop", "person", team, person, month, metric,
                metric=metric_label[metric], drop=drop, against=against)


def consolidate(workspace: Workspace, month: str | None = None) -> Consolidation:
    """Facts, flags and rankings as of `month` (default: the latest month round sent)."""
    config = workspace.config
    month = month or default_month(workspace)
    if month not in config.months:
        from sheetplan.errors import ConfigError

        raise ConfigError(f"{month} is not a month of fiscal year {config.fiscal_year} "
                          f"({config.months[0]} to {config.months[-1]})")
    inputs = load_inputs(workspace)
    rules = [MetricRule(m.key, m.decimals, m.higher_is_better) for m in config.metrics]
    facts = build_facts(inputs.targets, inputs.actuals, inputs.teams, rules, config.months, month,
                        config.rollover.policy, config.rollover.carry_credit, inputs.resets, config.rollover.level)
    history = workspace.history()
    people, teams = rankings(facts, list(config.metrics), month, workspace.roster)
    flag_frame = flags(workspace, facts, inputs, month, history)
    from sheetplan.reports.status import month_states

    return Consolidation(month, facts, flag_frame, people, teams, inputs,
                         months=month_states(workspace, month, inputs.rounds))


__all__ = ["consolidate", "Consolidation", "load_inputs", "flags", "rankings",
           "revision_requests", "np"]
