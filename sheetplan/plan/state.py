"""The plan model: prior-year figures, suggested targets at every level, and the views each template needs."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass

from sheetplan.plan import allocation
from sheetplan.plan.handover import handovers
from sheetplan.plan.views import GridMetric, MonthPlan, PersonPlan, SplitMetric, SplitPlan, SplitRow
from sheetplan.workspace.config import Config, fiscal_months
from sheetplan.workspace.roster import Person, Roster
from sheetplan.workspace.store import REVISION, ROSTER, SUGGESTION, TargetRow

Key = tuple[str, str, str, str, str]  # level, owner, period, metric, customer_group


@dataclass(frozen=True)
class Prior:
    """Prior fiscal year actuals, aggregated once from the history frame."""

    person: dict[tuple[str, str], float]  # (person, metric) -> total
    person_group: dict[tuple[str, str, str], float]  # (person, metric, group) -> total
    person_grid: dict[tuple[str, str, str], list[float]]  # (person, metric, group) -> 12 months
    team: dict[tuple[str, str], float]  # (team, metric) -> total
    team_group: dict[tuple[str, str, str], float]
    profile: dict[str, tuple[float, ...]]  # metric -> 12 monthly weights (company-wide)


def prior_year(config: Config, roster: Roster, history) -> Prior:
    months = fiscal_months(config.fiscal_year - 1, config.start_month)
    index = {m: i for i, m in enumerate(months)}
    person, person_group, team, team_group = (defaultdict(float) for _ in range(4))
    grid: dict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0.0] * 12)
    company_months: dict[str, list[float]] = defaultdict(lambda: [0.0] * 12)
    if len(history):
        frame = history[history["month"].isin(months)]
        sums = frame.groupby(["person_id", "metric", "customer_group", "month"], sort=False,
                             observed=True)["value"].sum()
        for (pid, metric, group, month), value in sums.items():
            who = roster.get(pid)
            slot = index[month]
            person[(pid, metric)] += value
            person_group[(pid, metric, group)] += value
            grid[(pid, metric, group)][slot] += value
            company_months[metric][slot] += value
            if who and who.team:
                team[(who.team, metric)] += value
                team_group[(who.team, metric, group)] += value
    profile = {m.key: allocation.profile_from_history(company_months.get(m.key, [0.0] * 12))
               for m in config.metrics}
    return Prior(dict(person), dict(person_group), dict(grid), dict(team), dict(team_group), profile)


def _profile(config: Config, prior: Prior, metric: str) -> tuple[float, ...]:
    seasonality = config.allocation.seasonality
    if config.allocation.method == "equal" or seasonality == "flat":
        return (1.0,) * 12
    if isinstance(seasonality, tuple):
        return seasonality
    return prior.profile[metric]


def availability(config: Config, person: Person) -> list[float]:
    return allocation.availability(config.months, person.start_month or None, person.end_month or None,
                                   config.allocation.ramp)


def suggest(config: Config, roster: Roster, prior: Prior, current: dict[Key, float],
            teams: set[str] | None = None) -> list[TargetRow]:
    """Suggested targets at every level, each derived from the level above as it currently stands.

    `current` holds accepted figures; where a level has one, the levels below are split from it,
    otherwise from the suggestion. Company = sum of team suggestions (prior year x (1 + growth)).
    `teams`: split only these teams' people (the team and company rows are always made: they are few).
    """
    fy = str(config.fiscal_year)
    growth = 1 + config.allocation.growth
    rows: list[TargetRow] = []
    available: dict[str, list[float]] = {}  # per person, the same for every metric
    for metric in config.metrics:
        key, decimals = metric.key, metric.decimals
        team_targets = {}
        for team in roster.teams:
            value = round(prior.team.get((team, key), 0.0) * growth, decimals)
            rows.append(TargetRow("team", team, fy, key, "", value))
            team_targets[team] = current.get(("team", team, fy, key, ""), value)
        company = round(sum(r.value for r in rows if r.level == "team" and r.metric == key), decimals)
        rows.append(TargetRow("company", "", fy, key, "", company))
        profile = _profile(config, prior, key)
        for team in roster.teams:
            sellers = roster.sellers(config, team) if teams is None or team in teams else []
            if not sellers:
                continue
            if config.allocation.method == "history":
                shares = allocation.history_weights({p.person_id: prior.person.get((p.person_id, key))
                                                     for p in sellers}, config.allocation.no_history)
            else:
                shares = {p.person_id: 1.0 for p in sellers}
            avail = {p.person_id: available.get(p.person_id) or available.setdefault(p.person_id,
                                                                                   availability(config, p))
                     for p in sellers}
            if not any(any(a) for a in avail.values()):
                continue
            split = allocation.split_team(team_targets[team], shares, avail, decimals)
            for person in sellers:
                pid = person.person_id
                rows.append(TargetRow("person", pid, fy, key, "", split[pid]))
                annual = current.get(("person", pid, fy, key, ""), split[pid])
                groups = _group_shares(config, prior, person, key)
                if not any(avail[pid]):
                    continue
                grid = allocation.split_grid(annual, groups, profile, avail[pid], decimals)
                for group, months in grid.items():
                    for month, value in zip(config.months, months):
                        rows.append(TargetRow("person", pid, month, key, group, value))
    return rows


def _group_shares(config: Config, prior: Prior, person: Person, metric: str) -> dict[str, float]:
    """A person's own customer mix last year, else the team's, else equal."""
    own = {g: prior.person_group.get((person.person_id, metric, g), 0.0) for g in config.customer_groups}
    if any(own.values()):
        return own
    team = {g: prior.team_group.get((person.team, metric, g), 0.0) for g in config.customer_groups}
    if any(team.values()):
        return team
    return {g: 1.0 for g in config.customer_groups}


def prior_rows(prior: Prior):
    """What the template views need of the prior year, as store rows (see Store.replace_prior)."""
    for (team, metric), value in prior.team.items():
        yield ("team", team, metric, "", -1, value)
    for (person, metric), value in prior.person.items():
        yield ("person", person, metric, "", -1, value)
    for (person, metric, group), months in prior.person_grid.items():
        for slot, value in enumerate(months):
            if value:
                yield ("grid", person, metric, group, slot, value)
    # what the allocation reads besides, stored as computed so a refresh can skip the history file
    for (person, metric, group), value in prior.person_group.items():
        yield ("person_group", person, metric, group, -1, value)
    for (team, metric, group), value in prior.team_group.items():
        yield ("team_group", team, metric, group, -1, value)
    for metric, weights in prior.profile.items():
        for slot, value in enumerate(weights):
            yield ("profile", "", metric, "", slot, value)


def stored_prior_year(store) -> Prior | None:
    """The Prior the last refresh stored (see prior_rows) for the allocation, or None when the store has none
    (or one written before the allocation's inputs were stored too)."""
    profile: dict[str, list[float]] = {}
    for _o, metric, _g, slot, value in store.prior_rows("profile"):
        profile.setdefault(metric, [0.0] * 12)[slot] = value
    if not profile:
        return None
    # person_grid stays empty: the allocation never reads it, and the template views read it from the
    # store one person at a time (StoredPrior)
    return Prior({(o, m): v for o, m, _g, _s, v in store.prior_rows("person")},
                 {(o, m, g): v for o, m, g, _s, v in store.prior_rows("person_group")}, {},
                 {(o, m): v for o, m, _g, _s, v in store.prior_rows("team")},
                 {(o, m, g): v for o, m, g, _s, v in store.prior_rows("team_group")},
                 {m: tuple(w) for m, w in profile.items()})


class StoredPrior:
    """Prior-year figures read from the store: totals up front, one person's grid when it is needed."""

    def __init__(self, store) -> None:
        self.store = store
        self.team = {(o, m): v for o, m, _g, _s, v in store.prior_rows("team")}
        self.person = {(o, m): v for o, m, _g, _s, v in store.prior_rows("person")}
        self._grid_owner: str | None = None
        self._grid: dict[tuple[str, str, str], list[float]] = {}

    @property
    def person_grid(self) -> _GridView:
        return _GridView(self)

    def grid_of(self, owner: str) -> dict[tuple[str, str, str], list[float]]:
        if owner != self._grid_owner:
            grid: dict[tuple[str, str, str], list[float]] = {}
            for o, metric, group, slot, value in self.store.prior_rows("grid", owner):
                grid.setdefault((o, metric, group), [0.0] * 12)[slot] = value
            self._grid, self._grid_owner = grid, owner
        return self._grid


class _GridView:
    """Looks like the Prior.person_grid dict for .get((person, metric, group), default)."""

    def __init__(self, prior: StoredPrior) -> None:
        self.prior = prior

    def get(self, key: tuple[str, str, str], default=None):
        return self.prior.grid_of(key[0]).get(key, default)


class PlanState:
    """The plan as it stands, with lookups for the template views.

    Annual figures (company, team, person) are held in memory; a person's monthly grid is read from
    the store when that person's template is built, so memory does not grow with the head count.
    """

    def __init__(self, config: Config, roster: Roster, prior: Prior, store) -> None:
        self.config, self.roster, self.prior = config, roster, prior
        self.fy = str(config.fiscal_year)
        self.store = store
        self.values: dict[Key, float] = {}
        self.sources: dict[Key, str] = {}
        self._load(store.current_rows(period=self.fy) + store.current_rows(level="team")
                   + store.current_rows(level="company"))
        self._month_owner: str | None = None

    def _load(self, rows) -> None:
        for level, owner, period, metric, group, value, source, _version in rows:
            key = (level, owner, period, metric, group)
            self.values[key] = value
            self.sources[key] = source

    def _months_of(self, owner: str) -> None:
        """Keep only one person's monthly figures in memory at a time."""
        if owner == self._month_owner:
            return
        if self._month_owner is not None:
            for key in [k for k in self.values if k[0] == "person" and k[1] == self._month_owner
                        and k[2] != self.fy]:
                del self.values[key]
                self.sources.pop(key, None)
        self._load(self.store.current_rows(level="person", owner=owner, not_period=self.fy))
        self._month_owner = owner

    def value(self, level: str, owner: str, period: str, metric: str, group: str = "") -> float:
        if level == "person" and period != self.fy:
            self._months_of(owner)
        return self.values.get((level, owner, period, metric, group), 0.0)

    def is_suggestion(self, level: str, owner: str, period: str, metric: str, group: str = "") -> bool:
        if level == "person" and period != self.fy:
            self._months_of(owner)
        return self.sources.get((level, owner, period, metric, group), SUGGESTION) == SUGGESTION

    def company_plan(self, returned=None) -> SplitPlan:
        """`returned`: an approvals.Returned when the plan was sent back; its figures and comment show again."""
        owner = self.roster.company_owner()
        fy, metrics = self.fy, []
        entered = _entered(returned)
        for metric in self.config.metrics:
            rows = []
            for team in self.roster.teams:
                manager = self.roster.manager(team)
                rows.append(SplitRow(team, manager.name if manager else "",
                                     round(self.prior.team.get((team, metric.key), 0.0), metric.decimals),
                                     self.value("team", team, fy, metric.key),
                                     entered=entered.get((f"in_{metric.key}", team))))
            target = self.value("company", "", fy, metric.key)
            no_history = not any(self.prior.team.get((team, metric.key)) for team in self.roster.teams)
            if no_history and self.is_suggestion("company", "", fy, metric.key):
                target = None  # nothing to suggest from: the VP sets it
            metrics.append(SplitMetric(metric, target, tuple(rows),
                                       entered.get((f"in_company_{metric.key}", "company"))))
        return SplitPlan("company", owner.person_id, owner.name, fy, self.config.company, tuple(metrics),
                         self.returned_note(returned))

    def returned_note(self, returned) -> str:
        if returned is None:
            return ""
        from sheetplan.workspace.labels import Labels
        from sheetplan.workspace.problem_text import term

        approver = self.roster.get(returned.approver)
        who = f"{approver.name} ({returned.approver})" if approver else returned.approver
        lang = self.config.language
        return Labels(lang)("common.returned_note", date=returned.decided_at[:10], who=who,
                            role=term("role", returned.role, lang), comment=returned.comment)

    def team_plan(self, team: str, returned=None) -> SplitPlan | None:
        manager = self.roster.manager(team)
        sellers = self.roster.sellers(self.config, team)
        if manager is None or not sellers:
            return None
        fy, metrics = self.fy, []
        entered = _entered(returned)
        for metric in self.config.metrics:
            rows = []
            for person in sellers:
                note = []
                if person.start_month and person.start_month >= self.config.months[0]:
                    note.append(("common.note_starts", person.start_month))
                if person.end_month and person.end_month <= self.config.months[-1]:
                    note.append(("common.note_ends", person.end_month))
                prior = self.prior.person.get((person.person_id, metric.key))
                rows.append(SplitRow(person.person_id, person.name,
                                     None if prior is None else round(prior, metric.decimals),
                                     self.value("person", person.person_id, fy, metric.key),
                                     _note_text(self.config.language, note),
                                     entered.get((f"in_{metric.key}", person.person_id))))
            target = self.value("team", team, fy, metric.key)
            if returned is None and self.config.replan.policy == "reallocate":
                rows = self._reallocated(sellers, metric, target, rows)
            manual = returned is None and self.config.allocation.method == "manual"
            metrics.append(SplitMetric(metric, target, tuple(rows), blank=manual))
        return SplitPlan("team", manager.person_id, manager.name, fy, team, tuple(metrics),
                         self.returned_note(returned))

    def current_month(self) -> str:
        """The latest month a report round went out for ('' before the first): later months are still open."""
        row = self.store.db.execute("SELECT MAX(period) FROM sent WHERE kind = 'month'").fetchone()
        return row[0] or "" if row else ""

    def _reallocated(self, sellers: list[Person], metric, target: float, rows: list[SplitRow]) -> list[SplitRow]:
        """[replan] policy = "reallocate": when the people no longer add up to the team's target (an approved
        revision, a leaver, a hire), pre-fill a split that does: the gap goes to the members whose annual target
        was not set by a revision, by what they still carry in the months after the current one (the way the
        plan itself is allocated), exact to the metric's decimals. Returned untouched, it is accepted."""
        places = metric.decimals
        gap = round(target - sum(r.suggested for r in rows), places)
        if abs(gap) < 0.5 * 10 ** -places:
            return rows
        current, fy = self.current_month(), self.fy
        later = [m for m in self.config.months if m > current]
        takers, weights = [], []
        for row, person in zip(rows, sellers, strict=True):
            if self.sources.get(("person", person.person_id, fy, metric.key, "")) == REVISION:
                continue
            remaining = sum(self.value("person", person.person_id, m, metric.key, g)
                            for m in later for g in self.config.customer_groups)
            if remaining > 0 or any(self.is_active_in(person, m) for m in later):
                takers.append(row)
                weights.append(max(remaining, 0.0))
        if not takers:
            return rows
        share: dict[str, float] = defaultdict(float)
        # A leaver's freed targets that wait for the receiver's approval chain (a handover) are pre-filled as the
        # receiver's, before anything is spread; a rejected handover's are spread like any other gap.
        pending = {(h.leaver, h.receiver) for _id, h in handovers(self.store.db)}
        for person in sellers:
            receiver = person.handover_to
            if (person.person_id, receiver) in pending and any(r.key == receiver for r in takers) and gap > 0:
                amount = min(round(self._freed(person.person_id, metric.key), places), gap)
                share[receiver] = round(share[receiver] + amount, places)
                gap = round(gap - amount, places)
        if abs(gap) >= 0.5 * 10 ** -places:
            parts = allocation.largest_remainder(abs(gap), weights, places)
            for row, part in zip(takers, parts, strict=True):
                share[row.key] = round(share[row.key] + (part if gap > 0 else -part), places)
        return [dataclasses.replace(r, entered=round(r.suggested + share[r.key], places)) if r.key in share else r
                for r in rows]

    def _freed(self, person_id: str, metric: str) -> float:
        """What the roster took off a leaver's annual target (the version before the `roster` one, minus it)."""
        rows = self.store.db.execute(
            "SELECT value, source FROM targets WHERE level = 'person' AND owner = ? AND period = ? AND metric = ?"
            " AND customer_group = '' AND source != 'suggestion' ORDER BY version", (person_id, self.fy, metric)
        ).fetchall()
        freed = 0.0
        for (before, _s), (after, source) in zip(rows, rows[1:]):
            if source == ROSTER:
                freed += before - after
        return freed

    def person_plan(self, person: Person, returned=None) -> PersonPlan:
        months, groups = tuple(self.config.months), tuple(self.config.customer_groups)
        metrics = []
        sent = {(b, r, c): v for b, r, c, v in returned.numbers} if returned else {}
        for metric in self.config.metrics:
            pid = person.person_id
            suggested = {g: tuple(self.value("person", pid, m, metric.key, g) for m in months) for g in groups}
            prior = {g: tuple(round(v, metric.decimals) for v in
                              self.prior.person_grid.get((pid, metric.key, g), [0.0] * 12)) for g in groups}
            entered = ({g: tuple(sent.get((f"in_{metric.key}", g, m), 0.0) for m in months) for g in groups}
                       if sent else None)
            manual = entered is None and self.config.allocation.method == "manual"
            metrics.append(GridMetric(metric, self.value("person", pid, self.fy, metric.key), suggested, prior,
                                      entered, blank=manual))
        return PersonPlan(person.person_id, person.name, self.fy, months, groups, tuple(metrics),
                          self.returned_note(returned))

    def month_plan(self, person: Person, month: str, returned=None,
                   imported: dict[str, dict[str, float]] | None = None) -> MonthPlan:
        """`returned`: the month report whose revision request was sent back; its actuals are filled in again.
        `imported`: metric -> group -> the person's imported actual, shown locked ([actuals] source = imported)."""
        groups = tuple(self.config.customer_groups)
        pid = person.person_id
        targets = {m.key: {g: self.value("person", pid, month, m.key, g) for g in groups}
                   for m in self.config.metrics}
        annual = {m.key: self.value("person", pid, self.fy, m.key) for m in self.config.metrics}
        months = self.config.months
        later = tuple(months[months.index(month) + 1:])
        if returned is None:
            return MonthPlan(pid, person.name, month, groups, self.config.metrics, targets, annual, later=later,
                             imported=imported)
        actuals = {m.key: {g: v for (b, g), v in _entered(returned).items() if b == f"in_{m.key}"}
                   for m in self.config.metrics}
        comments = {r: t for b, r, _c, t in returned.texts if b == "in_comment"}
        return MonthPlan(pid, person.name, month, groups, self.config.metrics, targets, annual,
                         self.returned_note(returned), actuals, comments, later, imported)

    def is_active_in(self, person: Person, month: str) -> bool:
        return (not person.start_month or person.start_month <= month) and (
            not person.end_month or month <= person.end_month)


def _entered(returned) -> dict[tuple[str, str], float]:
    """(block, row key) -> value of a sent-back file's one-column blocks (splits and month actuals)."""
    return {(b, r): v for b, r, _c, v in returned.numbers} if returned is not None else {}


def _note_text(lang: str, notes: list[tuple[str, str]]) -> str:
    from sheetplan.workspace.labels import Labels

    labels = Labels(lang)
    return "; ".join(labels(key, month=month) for key, month in notes)
