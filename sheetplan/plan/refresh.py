"""Suggestions recomputed from what is official above them, and the plan as it stands for the template writers.

A refresh runs after a plan becomes official, when `sheetplan plan refresh` asks for it, and by itself
before the next generate whenever sheetplan.toml, the roster or the history changed since the last one:
an edit to the growth rate or a new hire must show in the next templates, and say so. Official figures
never change because of a suggestion; the roster changes them in one way only: a leaver's targets after
their end month are set to zero (source `roster`), and with `handover_to` they become a handover item of
the receiver (see plan/handover.py). Under `[replan] policy = "absorb"` a team's target
then follows its people, and the company's its teams (source `replan`).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field

from sheetplan.errors import ConfigError
from sheetplan.plan.approvals import open_handover
from sheetplan.plan.handover import Handover, freed_cells, handed_leavers, handovers
from sheetplan.plan.state import PlanState, StoredPrior, prior_rows, prior_year, stored_prior_year, suggest
from sheetplan.workspace.folder import Workspace
from sheetplan.workspace.labels import Labels
from sheetplan.workspace.problem_text import term
from sheetplan.workspace.store import REPLAN, ROSTER, SUGGESTION, Store, TargetRow

INPUTS_KEY = "plan_inputs"  # meta: fingerprints of what the suggestions were computed from
TEAM_KEYS = "plan_team_keys"  # meta: per team, a digest of the official figures its split was computed from
INPUT_NAMES = ("sheetplan.toml", "roster", "history")
INPUT_KEYS = {"sheetplan.toml": "config"}  # catalogue key cycle.input_<key> of each input


@dataclass
class PlanRefresh:
    """What a refresh changed, for the line the analyst reads after generate or `plan refresh`."""

    inputs_changed: tuple[str, ...] = ()
    suggestions: int = 0
    changed: dict[str, int] = field(default_factory=dict)  # level -> suggestions whose value changed
    leavers: list[tuple[str, str, int]] = field(default_factory=list)  # (person, end month, cells set to 0)
    absorbed: list[tuple[str, str, str, float, float]] = field(default_factory=list)  # level, owner, metric, was, now
    handovers: list[tuple[str, str, str]] = field(default_factory=list)  # leaver, receiver, first approver ('' none)
    teams_split: tuple[int, int] | None = None  # (teams whose people were split again, teams); None: all of them

    def lines(self, labels: Labels | None = None, metrics: dict[str, str] | None = None) -> list[str]:
        """The analyst's lines in the workspace language (English without `labels`); `metrics` names the
        metric keys (English keeps the keys)."""
        labels = labels or Labels("en")
        lang, metrics = labels.lang, metrics or {}

        def level_word(level: str) -> str:
            return level if lang == "en" else term("level", level, lang)

        out = []
        if self.inputs_changed:
            names = [labels(f"cycle.input_{INPUT_KEYS.get(name, name)}") for name in self.inputs_changed]
            out.append(labels("cycle.refresh_inputs", inputs=labels("cycle.separator").join(names)))
        if self.changed:
            counts = labels("cycle.separator").join(labels("cycle.refresh_count", count=n, level=level_word(level))
                                                    for level, n in sorted(self.changed.items()))
            out.append(labels("cycle.refresh_changed", counts=counts))
        for person, end, cells in self.leavers:
            out.append(labels("cycle.refresh_leaver", person=person, end=end, cells=cells))
        for leaver, receiver, approver in self.handovers:
            how = (labels("cycle.refresh_waiting", approver=approver) if approver
                   else labels("cycle.refresh_at_once"))
            out.append(labels("cycle.refresh_handover", leaver=leaver, receiver=receiver, how=how))
        for level, owner, metric, was, now in self.absorbed:
            out.append(labels("cycle.refresh_absorbed", level=level_word(level),
                              owner=owner or labels("cycle.refresh_company"), metric=metrics.get(metric, metric),
                              was=was, now=now))
        return out


def input_fingerprints(workspace: Workspace) -> dict[str, str]:
    """One hash per input the suggestions depend on; formatting-only edits of sheetplan.toml change nothing."""
    config = workspace.config
    planning = (config.fiscal_year, config.start_month, config.metrics, config.customer_groups,
                config.selling_roles, config.allocation, config.replan)
    people = tuple((p.person_id, p.team, p.role, p.reports_to, p.start_month, p.end_month, p.active)
                   for p in workspace.roster.people)
    history = hashlib.sha256()
    for name in ("history.xlsx", "history.csv"):
        path = workspace.root / name
        if path.exists():
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    history.update(block)
            break
    return {"sheetplan.toml": hashlib.sha256(repr(planning).encode()).hexdigest(),
            "roster": hashlib.sha256(repr(people).encode()).hexdigest(), "history": history.hexdigest()}


def _stored_fingerprints(store: Store) -> dict[str, str]:
    text = store.get_meta(INPUTS_KEY, "")
    return dict(part.split("=", 1) for part in text.split(";") if "=" in part)


def inputs_changed(workspace: Workspace) -> tuple[str, ...]:
    with workspace.store() as store:
        stored = _stored_fingerprints(store)
    if not stored:
        return ()
    now = input_fingerprints(workspace)
    return tuple(name for name in INPUT_NAMES if stored.get(name) != now[name])


def refresh_plan(workspace: Workspace) -> PlanRefresh:
    """Recompute every suggestion from the official figures above it and store them; apply the roster's
    leavers and, under "absorb", let teams and the company follow what is below them."""
    config, roster = workspace.config, workspace.roster
    report = PlanRefresh(inputs_changed=inputs_changed(workspace))
    with workspace.store() as store:
        # Only the official figures and the leavers' cells are needed: reading all suggestions of a large
        # plan here would cost more than recomputing them.
        official = store.current_targets(official_only=True)
        _refuse_orphans(config, official)
        leaving = [p.person_id for p in roster.people if p.end_month and p.end_month < config.months[-1]]
        leaver_targets = store.current_targets(owners=leaving) if leaving else []
        leaver_rows = _leavers(config, roster, leaver_targets, report)
        if leaver_rows:
            with store.transaction() as db:
                store.record_targets(leaver_rows, ROSTER, None, db)
                _hand_over(workspace, store, db, leaver_rows, leaver_targets, report)
            official = store.current_targets(official_only=True)
        current = {(r.level, r.owner, r.period, r.metric, r.customer_group): r.value for r in official}
        # unchanged config, roster and history: the prior year as stored last time (exactly as computed)
        stored = None if report.inputs_changed else stored_prior_year(store)
        prior = stored or prior_year(config, roster, workspace.history())
        keys = _team_keys(config, roster, current)
        # Only the teams whose official figures changed since the last refresh are split again (an approved
        # person plan touches one team of hundreds); a change of config, roster or history redoes them all.
        before = {} if stored is None else json.loads(store.get_meta(TEAM_KEYS, "{}") or "{}")
        teams = None if stored is None else {team for team, key in keys.items() if before.get(team) != key}
        try:
            rows = suggest(config, roster, prior, current, teams)
        except ValueError as exc:
            raise ConfigError(f"the plan cannot be allocated: {exc}") from None
        if config.replan.policy == "absorb":
            absorbed = _absorb(config, roster, current, rows, report, _pending_handovers(store))
            if absorbed:
                store.record_targets(absorbed, REPLAN, None)
                current.update({(r.level, r.owner, r.period, r.metric, r.customer_group): r.value for r in absorbed})
                keys = _team_keys(config, roster, current)
                teams = None if teams is None else teams | {r.owner for r in absorbed if r.level == "team"}
                rows = suggest(config, roster, prior, current, teams)
        if stored is None:  # the prior year follows from the config, the roster and the history alone
            store.replace_prior(prior_rows(prior))
        scope = None
        if teams is not None:
            report.teams_split = (len(teams), len(roster.teams))
            scope = {("company", ""), *(("team", t) for t in roster.teams),
                     *(("person", p.person_id) for t in teams for p in roster.sellers(config, t))}
        report.suggestions, report.changed = store.replace_suggestions(rows, scope)
        store.set_meta(TEAM_KEYS, json.dumps(keys, sort_keys=True))
        fingerprints = input_fingerprints(workspace)
        store.set_meta(INPUTS_KEY, ";".join(f"{k}={v}" for k, v in fingerprints.items()))
    return report


def _team_keys(config, roster, current: dict) -> dict[str, str]:
    """Per team, a digest of everything official its people's suggestions are split from: the team's target
    and its members' official figures (who the members are is the roster's, fingerprinted apart)."""
    members = {p.person_id: team for team in roster.teams for p in roster.sellers(config, team)}
    parts: dict[str, list] = defaultdict(list)
    for (level, owner, period, metric, group), value in sorted(current.items()):
        team = owner if level == "team" else members.get(owner) if level == "person" else None
        if team is not None:
            parts[team].append((level, owner, period, metric, group, value))
    return {team: hashlib.sha256(repr(parts.get(team, [])).encode()).hexdigest()[:16] for team in roster.teams}


def _refuse_orphans(config, targets: list[TargetRow]) -> None:
    """An official figure in a customer group the config no longer has would silently vanish (or be zero-
    filled): refuse, and say what to do."""
    known = set(config.customer_groups)
    orphans = sorted({r.customer_group for r in targets if r.customer_group and r.customer_group not in known
                      and r.source != SUGGESTION and r.value})
    if orphans:
        raise ConfigError(f"planning.customer_groups no longer lists {', '.join(map(repr, orphans))}, which hold "
                          "official targets; put the name(s) back (a rename needs the people's plans returned "
                          "again under the new name) — nothing was generated")


def _leavers(config, roster, targets: list[TargetRow], report: PlanRefresh) -> list[TargetRow]:
    """Targets after a leaver's end month: official cells become 0 and an official annual target drops by
    what the months after the end held (suggestions follow by themselves: those months have no availability)."""
    months = config.months
    fy = str(config.fiscal_year)
    leaving = {p.person_id: p.end_month for p in roster.people if p.end_month and p.end_month < months[-1]}
    if not leaving:
        return []
    decimals = {m.key: m.decimals for m in config.metrics}
    freed: dict[tuple[str, str], float] = defaultdict(float)
    zeros, annual, cells = [], {}, defaultdict(int)
    for r in targets:
        end = leaving.get(r.owner) if r.level == "person" else None
        if end is None:
            continue
        if r.period == fy:
            if r.source != SUGGESTION:
                annual[(r.owner, r.metric)] = r.value
        elif r.period > end and r.value:
            freed[(r.owner, r.metric)] += r.value
            cells[r.owner] += 1
            if r.source != SUGGESTION:
                zeros.append(TargetRow("person", r.owner, r.period, r.metric, r.customer_group, 0.0))
    rows = list(zeros)
    for (owner, metric), value in annual.items():
        amount = freed.get((owner, metric), 0.0)
        if amount:
            rows.append(TargetRow("person", owner, fy, metric, "", round(value - amount, decimals.get(metric, 2))))
    for owner, count in sorted(cells.items()):
        if any(r.owner == owner for r in rows):
            report.leavers.append((owner, leaving[owner], count))
    return rows


def _hand_over(workspace: Workspace, store: Store, db, leaver_rows: list[TargetRow], before: list[TargetRow],
               report: PlanRefresh) -> None:
    """Each leaver with a handover_to: the cells just freed become a handover item of the receiver."""
    roster = workspace.roster
    done = handed_leavers(db)
    for leaver in sorted({r.owner for r in leaver_rows}):
        person = roster.get(leaver)
        if person is None or not person.handover_to or leaver in done:
            continue
        # every cell after the end month, official or suggested: the annual target dropped by all of them
        cells = freed_cells([r for r in before if r.level == "person" and r.owner == leaver and r.customer_group
                             and r.period > person.end_month])
        if not cells:
            continue
        item = open_handover(db, store, workspace, Handover(leaver, person.handover_to, person.end_month, cells))
        report.handovers.append((leaver, person.handover_to, item.waiting_on.approver if item else ""))


def _pending_handovers(store: Store) -> dict[tuple[str, str], float]:
    """(receiver, metric) -> what pending handovers would add to the receiver's annual target."""
    out: dict[tuple[str, str], float] = defaultdict(float)
    for _id, handover in handovers(store.db):
        for metric in handover.cells:
            out[(handover.receiver, metric)] += handover.amount(metric)
    return out


def _absorb(config, roster, current: dict, rows: list[TargetRow], report: PlanRefresh,
            pending: dict[tuple[str, str], float] | None = None) -> list[TargetRow]:
    """Under "absorb": each team with an official target takes the sum of its people's annual targets as they
    stand (official, else suggested), then the company the sum of its teams."""
    fy = str(config.fiscal_year)
    suggested = {(r.level, r.owner, r.metric): r.value for r in rows if r.period == fy}
    out = []
    for metric in config.metrics:
        key, places = metric.key, metric.decimals
        team_values = {}
        for team in roster.teams:
            official = current.get(("team", team, fy, key, ""))
            people = [p.person_id for p in roster.sellers(config, team)]
            # Only a team whose people all have official targets has a sum to follow: a suggestion is a
            # share of the team's target, so following it would chase its own tail.
            if official is None or not people or any(("person", pid, fy, key, "") not in current for pid in people):
                team_values[team] = official if official is not None else suggested.get(("team", team, key), 0.0)
                continue
            # a handover waiting for approval is counted as the receiver's: the team keeps what it will carry
            total = round(sum(current.get(("person", pid, fy, key, ""), suggested.get(("person", pid, key), 0.0))
                              + (pending or {}).get((pid, key), 0.0) for pid in people), places)
            team_values[team] = total
            if abs(total - official) > 0.5 * 10 ** -places:
                out.append(TargetRow("team", team, fy, key, "", total))
                report.absorbed.append(("team", team, key, official, total))
        company = current.get(("company", "", fy, key, ""))
        if company is not None:
            total = round(sum(team_values.values()), places)
            if abs(total - company) > 0.5 * 10 ** -places:
                out.append(TargetRow("company", "", fy, key, "", total))
                report.absorbed.append(("company", "", key, company, total))
    return out


def refresh_if_inputs_changed(workspace: Workspace) -> PlanRefresh | None:
    """Before generating: recompute when the plan's inputs changed since the last refresh (or none ran)."""
    with workspace.store() as store:
        empty = store.db.execute("SELECT 1 FROM targets LIMIT 1").fetchone() is None
        stored = _stored_fingerprints(store)
    if empty or stored != input_fingerprints(workspace):
        return refresh_plan(workspace)
    return None


def plan_state(workspace: Workspace) -> PlanState:
    """The plan as it stands; it keeps a read-only connection to the store for monthly figures."""
    with workspace.store() as store:
        empty = store.db.execute("SELECT 1 FROM targets LIMIT 1").fetchone() is None
    if empty:
        refresh_plan(workspace)
    reader = Store.reader(workspace.private / "plan.sqlite")
    return PlanState(workspace.config, workspace.roster, StoredPrior(reader), reader)
