"""Where a level of the plan and what is allocated below it do not add up, by how much, and why.

The hierarchy is one plan: a team's people should add up to the team's target and the teams to the
company's. Approved revisions, leavers, hires and moves break that; under [replan] policy = "absorb" the
refresh closes the gap, under "reallocate" it stays open until the team's manager returns a new split.
Either way no gap goes unseen: each is a `plan-gap` flag.
"""

from __future__ import annotations

from dataclasses import dataclass

from sheetplan.workspace.store import REVISION, ROSTER, SUGGESTION


@dataclass(frozen=True)
class PlanGap:
    level: str  # team | company
    owner: str  # the team ('' for the company)
    metric: str
    target: float
    allocated: float  # the sum of the people's (or teams') annual targets as they stand
    cause: str  # revision | handover | leaver | hire | split

    @property
    def gap(self) -> float:
        return self.target - self.allocated


@dataclass(frozen=True)
class PlanLevel:
    """A team's or the company's annual target beside what is allocated below it, gap or not."""

    level: str  # team | company
    owner: str
    metric: str
    target: float | None  # None: no target at this level yet
    allocated: float


def plan_levels(config, roster, targets) -> list[PlanLevel]:
    """Every team's and the company's target and the sum of its people's (teams') annual targets, as they
    stand (official, else suggested), for the summary's side-by-side columns."""
    fy = str(config.fiscal_year)
    annual = {(r.level, r.owner, r.metric): r.value for r in targets if r.period == fy and not r.customer_group}
    out = []
    for metric in config.metrics:
        key, places = metric.key, metric.decimals
        team_sum = 0.0
        for team in roster.teams:
            target = annual.get(("team", team, key))
            team_sum += target or 0.0
            people = sum(annual.get(("person", p.person_id, key), 0.0) for p in roster.sellers(config, team))
            out.append(PlanLevel("team", team, key, target, round(people, places)))
        out.append(PlanLevel("company", "", key, annual.get(("company", "", key)), round(team_sum, places)))
    return out


def plan_gaps(config, roster, targets, waiting_handover: frozenset[str] = frozenset()) -> list[PlanGap]:
    """Every team and the company whose children do not add up to it (beyond half a unit of the metric).

    `waiting_handover`: receivers of a handover still climbing their approval chain; a team with one says so,
    since its gap closes by itself once the handover is approved."""
    fy = str(config.fiscal_year)
    annual = {(r.level, r.owner, r.metric): r for r in targets if r.period == fy and not r.customer_group}
    gaps = []
    for metric in config.metrics:
        key, half = metric.key, 0.5 * 10 ** -metric.decimals
        team_sum = 0.0
        for team in roster.teams:
            team_row = annual.get(("team", team, key))
            team_sum += team_row.value if team_row else 0.0
            people = [annual.get(("person", p.person_id, key)) for p in roster.sellers(config, team)]
            if team_row is None or not people:
                continue
            allocated = round(sum(r.value for r in people if r), metric.decimals)
            if abs(team_row.value - allocated) > half:
                sources = {r.source for r in people if r}
                waiting = any(p.person_id in waiting_handover for p in roster.sellers(config, team))
                cause = ("revision" if REVISION in sources else "handover" if waiting else "leaver" if ROSTER in sources
                         else "hire" if SUGGESTION in sources and len(sources) > 1 else "split")
                gaps.append(PlanGap("team", team, key, team_row.value, allocated, cause))
        company = annual.get(("company", "", key))
        if company is not None and abs(company.value - round(team_sum, metric.decimals)) > half:
            gaps.append(PlanGap("company", "", key, company.value, round(team_sum, metric.decimals), "split"))
    return gaps
