"""Month-end consolidation: gather the plan store into frames, then facts, flags and rankings."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .facts import MetricRule, build_facts
from .labels import Labels
from .workspace import Workspace

FLAG_COLUMNS = ["severity", "code", "level", "team", "person", "month", "metric", "message", "file", "sheet",
                "cell"]
SCORE_CAP = 2.0  # one runaway metric must not carry the whole weighted score


@dataclass
class Inputs:
    targets: pd.DataFrame  # person, month, metric, customer_group, target
    actuals: pd.DataFrame  # person, month, metric, customer_group, actual
    teams: pd.DataFrame  # person, month, team
    annual: pd.DataFrame  # person, metric, annual_target (the person's current annual target)
    revisions: pd.DataFrame  # person, month, metric, requested, reason, submission_id
    rounds: pd.DataFrame  # round status from the ledger (status.round_status)
    open_problems: pd.DataFrame  # problems of rejected files not fixed since


@dataclass
class Consolidation:
    month: str
    facts: pd.DataFrame
    flags: pd.DataFrame
    people: pd.DataFrame  # one row per person: per-metric ytd attainment, score, ranks
    teams: pd.DataFrame
    inputs: Inputs
    flags_cfg: object = None  # the workspace's [flags] thresholds, for traffic lights
    summary: Path | None = None
    team_files: list[Path] = field(default_factory=list)
    person_files: list[Path] = field(default_factory=list)


def load_inputs(workspace: Workspace) -> Inputs:
    from .status import round_status

    config, roster = workspace.config, workspace.roster
    fy = str(config.fiscal_year)
    months = set(config.months)
    with workspace.store() as store:
        current = store.current_targets()
        assignments = store.assignments()
        db = store.db
        actual_rows = db.execute(
            "SELECT s.owner, s.period, v.block, v.row_key, v.value FROM submitted_values v JOIN submissions s"
            " ON s.id = v.submission_id WHERE s.kind = 'month' AND s.status = 'accepted'").fetchall()
        text_rows = db.execute(
            "SELECT s.owner, s.period, t.block, t.text, s.id FROM submitted_texts t JOIN submissions s"
            " ON s.id = t.submission_id WHERE s.kind = 'month' AND s.status = 'accepted'"
            " AND t.block = 'in_revision_reason'").fetchall()
        rejected = db.execute(
            "SELECT kind, owner, period, original_name, archive_path, problems FROM submissions r WHERE"
            " status = 'rejected' AND NOT EXISTS (SELECT 1 FROM submissions a WHERE a.status = 'accepted'"
            " AND a.kind = r.kind AND a.owner = r.owner AND a.period = r.period) ORDER BY id").fetchall()
    targets = pd.DataFrame([(r.owner, r.period, r.metric, r.customer_group, r.value) for r in current
                            if r.level == "person" and r.period in months],
                           columns=["person", "month", "metric", "customer_group", "target"])
    annual = pd.DataFrame([(r.owner, r.metric, r.value) for r in current if r.level == "person" and r.period == fy],
                          columns=["person", "metric", "annual_target"])
    metric_keys = {m.key for m in config.metrics}
    actuals = pd.DataFrame([(o, p, b[3:], g, v) for o, p, b, g, v in actual_rows if b[3:] in metric_keys],
                           columns=["person", "month", "metric", "customer_group", "actual"])
    reasons = {(o, p): (t, sid) for o, p, _b, t, sid in text_rows}
    revisions = pd.DataFrame([(o, p, g, v, reasons.get((o, p), ("", None))[0]) for o, p, b, g, v in actual_rows
                              if b == "in_revision"], columns=["person", "month", "metric", "requested", "reason"])
    people = {p.person_id for p in roster.people}
    team_rows = []
    for person in people | set(targets["person"]) | set(actuals["person"]):
        home = roster.get(person).team if roster.get(person) else ""
        team_rows += [(person, month, assignments.get((month, person), home)) for month in config.months]
    teams = pd.DataFrame(team_rows, columns=["person", "month", "team"])
    problems = []
    for kind, owner, period, name, archive, payload in rejected:
        for problem in json.loads(payload):
            if problem["severity"] == "error":
                problems.append({"kind": kind, "owner": owner, "period": period, "file": name,
                                 "archive": str(workspace.root / archive), **problem})
    open_problems = pd.DataFrame(problems)
    return Inputs(targets, actuals, teams, annual, revisions, round_status(workspace), open_problems)


def default_month(workspace: Workspace) -> str:
    """The latest month a month round was sent for, else the first fiscal month."""
    with workspace.store() as store:
        row = store.db.execute("SELECT MAX(period) FROM sent WHERE kind = 'month'").fetchone()
    return row[0] if row and row[0] else workspace.config.months[0]


def rankings(facts: pd.DataFrame, metrics: list, month: str, roster) -> tuple[pd.DataFrame, pd.DataFrame]:
    """People ranked within their team and across the company; teams ranked, by a weighted score."""
    now = facts[(facts["month"] == month) & (facts["customer_group"] == "")]
    weights = {m.key: m.weight for m in metrics}
    total_weight = sum(weights.values()) or 1.0

    def table(level: str, keys: list[str]) -> pd.DataFrame:
        rows = now[now["level"] == level]
        wide = rows.pivot_table(index=keys, columns="metric", values="ytd_attainment", aggfunc="first")
        wide = wide.reindex(columns=[m.key for m in metrics]).fillna(0.0)
        score = sum(wide[k].clip(upper=SCORE_CAP) * w for k, w in weights.items()) / total_weight
        return wide.assign(score=score.round(4)).reset_index()

    people = table("person", ["team", "person"])
    people["name"] = people["person"].map(lambda p: roster.get(p).name if roster.get(p) else "")
    people["rank_company"] = people["score"].rank(ascending=False, method="min").astype(int)
    people["rank_team"] = people.groupby("team")["score"].rank(ascending=False, method="min").astype(int)
    for m in metrics:
        people[f"rank_{m.key}"] = people[m.key].rank(ascending=False, method="min").astype(int)
    people = people.sort_values(["rank_company", "person"]).reset_index(drop=True)
    teams = table("team", ["team"])
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

    def add(severity: str, code: str, level: str, team: str, person: str, when: str, metric_key: str, **values):
        source = values.pop("source", ("", "", ""))
        rows.append({"severity": severity, "code": code, "level": level, "team": team, "person": person,
                     "month": when, "metric": metric_key, "message": labels(f"flags.{code}", who=who(person, team),
                                                                          **values),
                     "file": source[0], "sheet": source[1], "cell": source[2]})

    now = facts[(facts["month"] == month) & (facts["customer_group"] == "") & (facts["level"] != "company")]
    for row in now.itertuples():
        if row.ytd_target <= 0 and row.ytd_actual <= 0:
            continue
        if row.ytd_attainment < config.flags.far_behind:
            add("high", "far-behind", row.level, row.team, row.person, month, row.metric,
                metric=metric_label[row.metric], att=row.ytd_attainment, threshold=config.flags.far_behind)
        elif row.ytd_attainment < config.flags.behind_pace:
            add("medium", "behind-pace", row.level, row.team, row.person, month, row.metric,
                metric=metric_label[row.metric], att=row.ytd_attainment, threshold=config.flags.behind_pace)
    rounds = inputs.rounds
    flagged_missing = set()
    if len(rounds):
        kind_label = {kind: labels(f"flags.kind_{kind}") for kind in ("company", "team", "person", "month")}
        for row in rounds[(rounds["status"] != "accepted")].itertuples():
            if row.kind == "month" and row.period > month:
                continue
            person = row.owner
            team = roster.get(person).team if roster.get(person) and row.kind != "company" else ""
            flagged_missing.add((person, row.period))
            if row.status == "missing":
                add("medium", "missing-submission", "person", team, person, row.period, "",
                    kind=kind_label[row.kind], period=row.period)
            else:
                source = _first_source(inputs.open_problems, row.kind, person, row.period)
                add("high", "rejected-not-fixed", "person", team, person, row.period, "",
                    kind=kind_label[row.kind], period=row.period, reasons=row.reasons, source=source)
    person_month = facts[(facts["level"] == "person") & (facts["customer_group"] == "") & (facts["month"] <= month)]
    for (person, period), rows_ in person_month.groupby(["person", "month"], sort=False):
        if (person, period) in flagged_missing or rows_["reported"].any() or rows_["target"].sum() <= 0:
            continue
        add("medium", "no-actuals", "person", rows_["team"].iloc[0], person, period, "", period=period)
    if len(inputs.annual) and len(inputs.targets):
        plan = inputs.targets.groupby(["person", "metric"], as_index=False)["target"].sum()
        merged = plan.merge(inputs.annual, on=["person", "metric"])
        decimals = {m.key: m.decimals for m in config.metrics}
        for row in merged.itertuples():
            allowed = 0.5 * 10 ** -decimals[row.metric] + config.flags.plan_tolerance * abs(row.annual_target)
            if abs(row.target - row.annual_target) > allowed:
                team = roster.get(row.person).team if roster.get(row.person) else ""
                add("medium", "plan-mismatch", "person", team, row.person, str(config.fiscal_year), row.metric,
                    metric=metric_label[row.metric], plan=row.target, target=row.annual_target)
    _sharp_drops(add, facts, config, month, metric_label, labels, history)
    for row in inputs.revisions.itertuples():
        if row.month > month or row.metric not in metric_label:
            continue
        team = roster.get(row.person).team if roster.get(row.person) else ""
        current = inputs.annual[(inputs.annual["person"] == row.person) & (inputs.annual["metric"] == row.metric)]
        add("info", "revision-requested", "person", team, row.person, row.month, row.metric,
            metric=metric_label[row.metric], requested=row.requested,
            current=float(current["annual_target"].iloc[0]) if len(current) else 0.0, reason=row.reason or "-")
    order = {"high": 0, "medium": 1, "info": 2}
    frame = pd.DataFrame(rows, columns=FLAG_COLUMNS)
    if len(frame):
        frame = frame.sort_values(["severity", "team", "person", "month", "code"],
                                  key=lambda s: s.map(order) if s.name == "severity" else s).reset_index(drop=True)
    return frame


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
    for (person, metric), row in joined.iterrows():
        if not higher.get(metric, True) or row["before"] <= 0:
            continue
        drop = 1 - row["actual"] / row["before"]
        if drop >= threshold:
            add("medium", "sharp-drop", "person", row["team"], person, month, metric,
                metric=metric_label[metric], drop=drop, against=against)


def consolidate(workspace: Workspace, month: str | None = None) -> Consolidation:
    """Facts, flags and rankings as of `month` (default: the latest month round sent)."""
    config = workspace.config
    month = month or default_month(workspace)
    if month not in config.months:
        from .errors import ConfigError

        raise ConfigError(f"{month} is not a month of fiscal year {config.fiscal_year} "
                          f"({config.months[0]} to {config.months[-1]})")
    inputs = load_inputs(workspace)
    rules = [MetricRule(m.key, m.decimals, m.higher_is_better) for m in config.metrics]
    facts = build_facts(inputs.targets, inputs.actuals, inputs.teams, rules, config.months, month,
                        config.rollover.policy, config.rollover.carry_credit)
    history = workspace.history()
    people, teams = rankings(facts, list(config.metrics), month, workspace.roster)
    flag_frame = flags(workspace, facts, inputs, month, history)
    return Consolidation(month, facts, flag_frame, people, teams, inputs)


def run_consolidation(workspace: Workspace, month: str | None = None, output: Path | None = None,
                      people: bool = False, csv: Path | None = None, parquet: Path | None = None) -> Consolidation:
    """consolidate() plus its files: the summary workbook, team (and person) workbooks, exports."""
    from .report import write_summary, write_team_books
    from .writer import write_atomic

    result = consolidate(workspace, month)
    result.flags_cfg = workspace.config.flags
    reports = workspace.folder("reports")
    result.summary = write_summary(workspace, result, Path(output) if output else
                                   reports / f"summary-{result.month}.xlsx")
    result.team_files, result.person_files = write_team_books(workspace, result, reports / result.month, people)
    if csv:
        write_atomic(Path(csv), result.facts.to_csv(index=False).encode("utf-8"))
    if parquet:
        import io

        buffer = io.BytesIO()
        result.facts.to_parquet(buffer, index=False)
        write_atomic(Path(parquet), buffer.getvalue())
    return result


__all__ = ["consolidate", "run_consolidation", "Consolidation", "load_inputs", "flags", "rankings", "np"]
