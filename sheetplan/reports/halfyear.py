"""The July half-year review: H1 figures and ranks, what H2 must bring, its workbook, and the H2 re-forecast plans."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sheetplan.plan.allocation import largest_remainder
from sheetplan.plan.state import availability
from sheetplan.plan.views import ReforecastMetric, ReforecastPlan
from sheetplan.reports.consolidate import Consolidation, consolidate, rankings
from sheetplan.reports.facts import attainment
from sheetplan.templates.reforecast_book import H1
from sheetplan.workspace.folder import Workspace
from sheetplan.workspace.labels import Labels

H2 = 12 - H1
SUMMED = ["h1_target", "h1_actual", "h1_rollover", "h2_original", "annual_target"]
# beside the figures until the sums are made: the budget of the H1 months with an accepted report, and
# whether any H1 month has one (a budget is measured against the months reported; none is "no report")
REPORTED = ["h1_reported_target", "h1_reported"]
FIGURES = ["h1_target", "h1_actual", "h1_attainment", "h1_rollover", "h2_original", "annual_target",
           "required_run_rate"]
PEOPLE_COLUMNS = ["team", "person", "name", "metric", *FIGURES[:4], "score", "rank_team", "rank_company",
                  *FIGURES[4:]]
TEAM_COLUMNS = ["team", "metric", *FIGURES[:4], "score", "rank", *FIGURES[4:]]
COMPANY_COLUMNS = ["metric", *FIGURES]


@dataclass
class HalfReview:
    year: int
    month: str  # the sixth fiscal month, which closes H1
    people: pd.DataFrame  # PEOPLE_COLUMNS: one row per person and metric, in company rank order
    teams: pd.DataFrame  # TEAM_COLUMNS: the team's people summed, in team rank order
    company: pd.DataFrame  # COMPANY_COLUMNS: everybody summed, one row per metric
    consolidation: Consolidation = field(repr=False, default=None)
    workbook: Path | None = None


def required_run_rate(annual_target: float, h1_actual: float, decimals: int) -> float:
    """What each H2 month must bring for the year to end on its annual target: max(annual - H1 actual, 0) / 6.

    For a budget (lower is better) the same figure is a ceiling, not a floor: the most an H2 month may spend
    with the year still within budget. What H1 left unspent may be spent in H2, because the annual budget is
    the limit, not each month's share of it; once H1 has spent the whole budget the figure is 0, since no H2
    pace can undo an overspend (the attainment shows it).
    """
    # The H2 total is rounded first, as a re-forecast's h2_required is, and with Python's round rather than
    # numpy's (which rounds x.xx5 differently), so the review and the template agree to the last unit.
    return round(round(max(annual_target - h1_actual, 0.0), decimals) / H2, decimals)


def _derive(frame: pd.DataFrame, metrics) -> pd.DataFrame:
    """Round the sums to each metric's decimals, then attainment and run rate from them (never averaged).

    Attainment is facts.attainment: a sales figure against the whole H1 plan, a budget's budget used against
    the budget of the H1 months reported; without any accepted H1 report it is empty (no report)."""
    frame = frame.assign(h1_attainment=float("nan"), required_run_rate=0.0)
    for metric in metrics:
        rows = frame["metric"] == metric.key
        sub = frame.loc[rows, SUMMED].round(metric.decimals)
        frame.loc[rows, SUMMED] = sub
        base = sub["h1_target"] if metric.higher_is_better else frame.loc[rows, "h1_reported_target"].round(
            metric.decimals)
        frame.loc[rows, "h1_attainment"] = attainment(sub["h1_actual"], base, metric.higher_is_better,
                                                      frame.loc[rows, "h1_reported"]).round(4)
        frame.loc[rows, "required_run_rate"] = [required_run_rate(a, h, metric.decimals) for a, h in
                                                zip(sub["annual_target"], sub["h1_actual"], strict=True)]
    return frame


def _metric_order(frame: pd.DataFrame, metrics, by: list[str]) -> pd.DataFrame:
    order = {m.key: i for i, m in enumerate(metrics)}
    return frame.sort_values(by, key=lambda s: s.map(order) if s.name == "metric" else s,
                             kind="stable").reset_index(drop=True)


def half_review(workspace: Workspace) -> HalfReview:
    """H1 target, actual, attainment, rollover and ranks, the original H2 plan and the run rate H2 needs.

    People are counted in the team they are in when H1 closes (as consolidate ranks them), and a team is the
    sum of those people, so the Teams sheet adds up to the People sheet. `h1_rollover` is everything the
    rollover policy carries out of H1: rollover_in summed over the H2 months of the fact table as of the sixth
    month. Under `next_month` that is month 7's rollover_in (or the next month with a target); under `spread`
    month 7 holds only its share. `annual_target` is the person's official annual target (the sum of the
    twelve month targets where there is none); the run rate is `required_run_rate`.
    """
    config = workspace.config
    metrics = list(config.metrics)
    c = consolidate(workspace, config.months[H1 - 1])
    rows = c.facts[(c.facts["level"] == "person") & (c.facts["customer_group"] == "")]
    first_half = rows["month"].isin(config.months[:H1])
    seen = first_half & rows["reported"]
    sums = pd.DataFrame({
        "person": rows["person"], "metric": rows["metric"],
        "h1_target": rows["target"].where(first_half, 0.0), "h1_actual": rows["actual"].where(first_half, 0.0),
        "h1_rollover": rows["rollover_in"].where(~first_half, 0.0),
        "h2_original": rows["target"].where(~first_half, 0.0),
        "h1_reported_target": rows["target"].where(seen, 0.0), "h1_reported": seen,
    }).groupby(["person", "metric"], as_index=False, sort=False).agg(
        **{c: (c, "sum") for c in SUMMED[:4] + ["h1_reported_target"]}, h1_reported=("h1_reported", "any"))
    official = {(p, m): v for p, m, v in c.inputs.annual[["person", "metric", "annual_target"]].itertuples(index=False)}
    sums["annual_target"] = [official.get((p, m), t + o) for p, m, t, o in
                             zip(sums["person"], sums["metric"], sums["h1_target"], sums["h2_original"], strict=True)]
    ranks = c.people.set_index("person")[["team", "name", "score", "rank_team", "rank_company"]]
    # a leaver gone by the review month keeps their H1 figures in their team but has no score or rank
    unranked = [p for p in sums["person"].unique() if p not in ranks.index]
    if unranked:
        home = c.facts[c.facts["level"] == "person"].groupby("person")["team"].last()
        extra = pd.DataFrame({"team": [home.get(p, "") for p in unranked],
                              "name": [_name_of(workspace.roster, p) for p in unranked]}, index=unranked)
        ranks = pd.concat([ranks, extra.reindex(columns=ranks.columns)])
    people = _derive(sums.join(ranks, on="person"), metrics)
    people = _metric_order(people, metrics, ["rank_company", "person", "metric"])[PEOPLE_COLUMNS + REPORTED]
    sums_of = {**{c_: (c_, "sum") for c_ in SUMMED + ["h1_reported_target"]}, "h1_reported": ("h1_reported", "any")}
    teams = _derive(people.groupby(["team", "metric"], as_index=False, sort=False).agg(**sums_of), metrics)
    teams = teams.merge(_team_ranks(people, teams, metrics, c.month, workspace.roster), on="team", how="left")
    teams = _metric_order(teams, metrics, ["rank", "team", "metric"])[TEAM_COLUMNS]
    company = _derive(people.groupby("metric", as_index=False, sort=False).agg(**sums_of), metrics)
    company = _metric_order(company, metrics, ["metric"])[COMPANY_COLUMNS]
    return HalfReview(config.fiscal_year, c.month, people[PEOPLE_COLUMNS], teams, company, c)


def _name_of(roster, person_id: str) -> str:
    found = roster.get(person_id)
    return found.name if found else person_id


def _team_ranks(people: pd.DataFrame, teams: pd.DataFrame, metrics, month: str, roster) -> pd.DataFrame:
    """Team score and rank from the summed H1 attainment, scored by consolidate.rankings itself."""
    levels = pd.concat([people.assign(level="person"), teams.assign(level="team", person="")], ignore_index=True)
    facts = levels.assign(month=month, customer_group="", ytd_attainment=levels["h1_attainment"])
    _people, ranked = rankings(facts, metrics, month, roster)
    return ranked[["team", "score", "rank"]]


# --- the workbook ------------------------------------------------------------------------------------------


def write_half(workspace: Workspace, review: HalfReview, draft: bool = False) -> Path:
    """reports/half-<year>.xlsx: Summary (company figures, team attainment and its chart), Teams, People, Months.
    A draft is reports/half-<year>-draft.xlsx, marked DRAFT on every sheet."""
    from sheetplan.xlsx.writer import write_through_temp

    name = f"half-{review.year}-draft.xlsx" if draft else f"half-{review.year}.xlsx"
    path = workspace.folder("reports") / name
    review.workbook = write_through_temp(path, lambda tmp: _write_book(workspace, review, tmp, draft))
    return review.workbook


def run_half(workspace: Workspace, draft: bool = False) -> HalfReview:
    """half_review() plus its workbook (the CLI's one call). January to June must be closed (else OpenPeriod
    naming the open months), unless `draft`."""
    from sheetplan.reports.status import require_closed

    if not draft:
        require_closed(workspace, list(workspace.config.months[:H1]), "half")
    review = half_review(workspace)
    write_half(workspace, review, draft)
    return review


def _write_book(workspace: Workspace, review: HalfReview, tmp: str, draft: bool = False) -> None:
    from sheetplan.reports.book import ReportBook, close_book

    labels = Labels(workspace.config.language)
    b = ReportBook(tmp, labels, draft=draft)
    summary = b.sheet(labels("half.summary"))
    _summary_sheet(b, workspace, review, summary, labels("half.summary"))
    _teams_sheet(b, workspace, review, labels("half.teams"))
    _people_sheet(b, workspace, review, labels("half.people"))
    if review.consolidation is not None and review.consolidation.months is not None:
        b.months_sheet(review.consolidation.months, list(workspace.config.months))
    summary.activate()
    close_book(b, tmp)


def _figure_heads(L) -> list[str]:
    return [L(f"half.{name}") for name in FIGURES]


def _write_figures(b, ws, r: int, col: int, rec, metric, flags) -> None:
    """The seven FIGURES of one row from `col` on: amounts at the metric's decimals, attainment as % in the
    colour of its standing (blank without a report)."""
    money = b.money[metric.decimals]
    for offset, name in enumerate(FIGURES):
        if name == "h1_attainment":
            b.attainment(ws, r, col + offset, rec.h1_attainment, metric.higher_is_better, flags)
        else:
            b.value(ws, r, col + offset, getattr(rec, name), money)


def _summary_sheet(b, workspace: Workspace, review: HalfReview, ws, name: str) -> None:
    """Company figures per metric, then H1 attainment per team (in rank order) and its chart."""
    L, config = b.labels, workspace.config
    metrics = {m.key: m for m in config.metrics}
    ws.set_row(2, 30)  # constant_memory streams rows: set a row's height before writing it
    b.heading(ws, 0, L("half.title", company=config.company, year=review.year, month=review.month))
    if review.consolidation is not None and review.consolidation.months is not None:
        from sheetplan.reports.status import closing_line

        ws.write_string(1, 0, closing_line(review.consolidation.months, L, list(config.months)))
    b.header(ws, 2, [L("half.metric"), *_figure_heads(L)])
    for i, rec in enumerate(review.company.itertuples(index=False)):
        metric = metrics[rec.metric]
        b.value(ws, 3 + i, 0, f"{metric.label(L.lang)} ({metric.unit})")
        _write_figures(b, ws, 3 + i, 1, rec, metric, config.flags)
    top = 4 + len(review.company)
    ws.write_string(top, 0, L("half.by_team"), b.title)
    ws.set_row(top + 1, 30)
    b.header(ws, top + 1, [L("half.team"), L("half.rank"), L("half.score")]
             + [m.label(L.lang) for m in config.metrics])
    wide = review.teams.pivot_table(index=["rank", "team", "score"], columns="metric", values="h1_attainment",
                                    aggfunc="first").reset_index().sort_values(["rank", "team"])
    first = top + 2
    for i, rec in enumerate(wide.to_dict("records")):
        b.value(ws, first + i, 0, rec["team"])
        b.value(ws, first + i, 1, rec["rank"])
        b.value(ws, first + i, 2, rec["score"], b.pct)
        for j, metric in enumerate(config.metrics):
            b.attainment(ws, first + i, 3 + j, rec.get(metric.key), metric.higher_is_better, config.flags)
    last = first + len(wide) - 1
    b.traffic(ws, first, 2, last, 2, config.flags)
    ws.set_column(0, 0, 36)
    ws.set_column(1, len(FIGURES), 16)
    ws.freeze_panes(3, 1)
    if wide.empty:
        return
    chart = b.book.add_chart({"type": "column"})
    for j in range(len(config.metrics)):
        b.add_series(chart, [name, top + 1, 3 + j], [name, first, 0, last, 0], [name, first, 3 + j, last, 3 + j])
    chart.set_title({"name": L("half.chart")})
    chart.set_y_axis({"min": 0, "num_format": "0%"})
    chart.set_size({"width": 720, "height": 340})
    ws.insert_chart(last + 2, 0, chart)


def _teams_sheet(b, workspace: Workspace, review: HalfReview, name: str) -> None:
    """One row per team and metric, teams in rank order within each metric."""
    L, config = b.labels, workspace.config
    metrics = {m.key: m for m in config.metrics}
    ws = b.sheet(name)
    ws.set_row(0, 30)
    b.header(ws, 0, [L("half.rank"), L("half.team"), L("half.score"), L("half.metric"), *_figure_heads(L)])
    for i, rec in enumerate(review.teams.itertuples(index=False)):
        metric = metrics[rec.metric]
        b.value(ws, 1 + i, 0, rec.rank)
        b.value(ws, 1 + i, 1, rec.team)
        b.value(ws, 1 + i, 2, rec.score, b.pct)
        b.value(ws, 1 + i, 3, metric.label(L.lang))
        _write_figures(b, ws, 1 + i, 4, rec, metric, config.flags)
    last = len(review.teams)
    b.traffic(ws, 1, 2, last, 2, config.flags)
    b.finish_table(ws, last, 4 + len(FIGURES), {(0, 0): 8, (1, 1): 22, (2, 2): 11, (3, 3): 30, (4, 10): 15})


def _people_sheet(b, workspace: Workspace, review: HalfReview, name: str) -> None:
    """One row per person and metric, in company rank order, with both ranks and the H1 score."""
    L, config = b.labels, workspace.config
    metrics = {m.key: m for m in config.metrics}
    ws = b.sheet(name)
    ws.set_row(0, 30)
    b.header(ws, 0, [L("half.rank_company"), L("half.rank_team"), L("half.person"), L("half.name"), L("half.team"),
                     L("half.score"), L("half.metric"), *_figure_heads(L)])
    for i, rec in enumerate(review.people.itertuples(index=False)):
        r, metric = 1 + i, metrics[rec.metric]
        for col, value in enumerate((rec.rank_company, rec.rank_team, rec.person, rec.name, rec.team)):
            b.value(ws, r, col, value)
        b.value(ws, r, 5, rec.score, b.pct)
        b.value(ws, r, 6, metric.label(L.lang))
        _write_figures(b, ws, r, 7, rec, metric, config.flags)
    last = len(review.people)
    b.traffic(ws, 1, 5, last, 5, config.flags)
    b.finish_table(ws, last, 7 + len(FIGURES), {(0, 1): 9, (2, 2): 11, (3, 4): 22, (5, 5): 11, (6, 6): 30,
                                                 (7, 13): 15})
    ws.freeze_panes(1, 4)


# --- the H2 re-forecast --------------------------------------------------------------------------------------


def h2_prefill(required: float, original: dict[str, tuple[float, ...]], active: list[bool],
               decimals: int) -> dict[str, tuple[float, ...]]:
    """`required` over groups x the six H2 months in the shape of the original H2 plan, exact at `decimals`.

    Largest remainder over all cells at once, so the cells add up to `required` exactly (a split per group
    and then per month would round twice). Without an original plan (all zero) it goes equally over the
    months the person is active in.
    """
    groups = list(original)
    weights = [max(value, 0.0) for group in groups for value in original[group]]
    if not any(weights):
        weights = [1.0 if on else 0.0 for _group in groups for on in active]
    parts = largest_remainder(required, weights, decimals)
    return {group: tuple(parts[i * H2:(i + 1) * H2]) for i, group in enumerate(groups)}


def reforecast_plans(workspace: Workspace, review: HalfReview | None = None) -> dict[str, ReforecastPlan]:
    """One H2 re-forecast plan per seller active in H2 (by person id): H1 actuals, the original H2 plan, and
    an H2 pre-filled to add up to what the year still needs (annual target minus H1 actual, at least 0).

    A month not reported counts 0: the re-forecast starts from what was accepted, nothing else.
    """
    config, roster = workspace.config, workspace.roster
    review = review or half_review(workspace)
    inputs = review.consolidation.inputs
    first, second = config.months[:H1], config.months[H1:]
    key = ["person", "metric", "customer_group", "month"]
    actual = inputs.actuals.groupby(key)["actual"].sum().to_dict()
    target = inputs.targets.groupby(key)["target"].sum().to_dict()
    official = {(p, m): v for p, m, v in inputs.annual[["person", "metric", "annual_target"]].itertuples(index=False)}
    groups = tuple(config.customer_groups)
    plans = {}
    for person in roster.sellers(config):
        active = [share > 0 for share in availability(config, person)[H1:]]
        if not any(active):
            continue
        pid, metrics = person.person_id, []
        for metric in config.metrics:
            k, d = metric.key, metric.decimals
            done = {g: tuple(round(actual.get((pid, k, g, m), 0.0), d) for m in first) for g in groups}
            original = {g: tuple(round(target.get((pid, k, g, m), 0.0), d) for m in second) for g in groups}
            annual = official.get((pid, k))
            if annual is None:
                annual = sum(target.get((pid, k, g, m), 0.0) for g in groups for m in config.months)
            annual = round(annual, d)
            required = round(max(annual - sum(sum(v) for v in done.values()), 0.0), d)
            metrics.append(ReforecastMetric(metric, annual, done, original, h2_prefill(required, original, active, d),
                                            required))
        plans[pid] = ReforecastPlan(pid, person.name, f"{config.fiscal_year}-H2", tuple(config.months), groups,
                                    tuple(metrics))
    return plans

