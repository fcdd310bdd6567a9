"""The December annual summary: year totals, growth on last year, rankings, bands, and next year's history."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sheetplan.errors import ConfigError
from sheetplan.reports.consolidate import Consolidation, consolidate
from sheetplan.reports.facts import score_points
from sheetplan.workspace.config import DEFAULT_BANDS, fiscal_months
from sheetplan.workspace.folder import Workspace
from sheetplan.workspace.labels import Labels
from sheetplan.workspace.problem_text import term
from sheetplan.workspace.roster import HISTORY_COLUMNS

TOTAL_COLUMNS = ["level", "team", "person", "name", "metric", "target", "actual", "attainment", "prior_actual",
                 "growth"]


@dataclass
class AnnualSummary:
    year: int
    month: str  # the last fiscal month, as of which everything is counted
    totals: pd.DataFrame  # TOTAL_COLUMNS: one row per company/team/person and metric
    people: pd.DataFrame  # consolidate's people ranking plus `band`
    teams: pd.DataFrame  # consolidate's team ranking
    scorecard: pd.DataFrame  # person, name, team, per metric <m>_attainment/<m>_weight/<m>_points, score, band
    history: pd.DataFrame  # HISTORY_COLUMNS: this year's accepted actuals
    consolidation: Consolidation = field(repr=False, default=None)
    workbook: Path | None = None
    history_file: Path | None = None


def growth(this, prior) -> pd.Series:
    """(this - prior) / prior; empty (<NA>, never NaN or inf) where there is no prior or it is zero."""
    this = pd.Series(this, dtype="Float64")
    prior = pd.Series(prior, dtype="Float64").reset_index(drop=True)
    this = this.reset_index(drop=True)
    usable = prior.notna() & (prior != 0)
    out = pd.Series(pd.NA, index=this.index, dtype="Float64")
    out[usable] = ((this[usable] - prior[usable]) / prior[usable]).round(4)
    return out


def _prior_totals(workspace: Workspace) -> tuple[dict, dict, dict]:
    """Prior fiscal year actuals per (person, metric), (team, metric) and metric; teams as in the roster."""
    config, roster = workspace.config, workspace.roster
    history = workspace.history()
    months = fiscal_months(config.fiscal_year - 1, config.start_month)
    person: dict = {}
    team: dict = {}
    company: dict = {}
    if not len(history):
        return person, team, company
    frame = history[history["month"].isin(months)]
    sums = frame.groupby(["person_id", "metric"], observed=True)["value"].sum()
    for (pid, metric), value in sums.items():
        person[(pid, metric)] = float(value)
        company[metric] = company.get(metric, 0.0) + float(value)
        who = roster.get(pid)
        if who and who.team:
            team[(who.team, metric)] = team.get((who.team, metric), 0.0) + float(value)
    return person, team, company


def _totals(workspace: Workspace, c: Consolidation) -> pd.DataFrame:
    config, roster = workspace.config, workspace.roster
    now = c.facts[(c.facts["month"] == c.month) & (c.facts["customer_group"] == "")]
    frame = pd.DataFrame({
        "level": now["level"], "team": now["team"], "person": now["person"],
        "name": now["person"].map(lambda p: roster.get(p).name if p and roster.get(p) else ""),
        "metric": now["metric"], "target": now["ytd_target"], "actual": now["ytd_actual"],
        "attainment": now["ytd_attainment"],
    }).reset_index(drop=True)
    person, team, company = _prior_totals(workspace)

    def prior_of(row) -> float | None:
        if row.level == "person":
            return person.get((row.person, row.metric))
        if row.level == "team":
            return team.get((row.team, row.metric))
        return company.get(row.metric)

    decimals = {m.key: m.decimals for m in config.metrics}

    def rounded(row) -> float | None:  # sums of many history rows carry float noise
        value = prior_of(row)
        return None if value is None else round(value, decimals[row.metric])

    frame["prior_actual"] = pd.array([rounded(r) for r in frame.itertuples()], dtype="Float64")
    frame["growth"] = growth(frame["actual"], frame["prior_actual"])
    order = {"company": 0, "team": 1, "person": 2}
    metric_order = {m.key: i for i, m in enumerate(config.metrics)}
    frame = frame.sort_values(["level", "metric", "team", "person"], key=lambda s: s.map(order) if s.name == "level"
                              else s.map(metric_order) if s.name == "metric" else s, kind="stable")
    return frame[TOTAL_COLUMNS].reset_index(drop=True)


def _scorecard(workspace: Workspace, people: pd.DataFrame) -> pd.DataFrame:
    """The score's parts per metric: the metric's score points (facts.score_points: capped, a budget's from
    its budget used, no report 0) x weight / total weight.

    The score itself is consolidate's; the points only show where it comes from.
    """
    metrics = workspace.config.metrics
    total_weight = sum(m.weight for m in metrics) or 1.0
    card = people[["rank_company", "person", "name", "team"]].copy()
    for m in metrics:
        card[f"{m.key}_attainment"] = people[m.key]
        card[f"{m.key}_weight"] = m.weight
        card[f"{m.key}_points"] = (pd.Series(score_points(people[m.key], m.higher_is_better), index=people.index)
                                   * m.weight / total_weight).round(4)
    card["score"] = people["score"]
    card["band"] = people["band"]
    return card


def _history(workspace: Workspace, c: Consolidation) -> pd.DataFrame:
    """This year's accepted month actuals in the layout `init` reads as history."""
    actuals = c.inputs.actuals
    actuals = actuals[actuals["month"].isin(workspace.config.months)]
    frame = (actuals.groupby(["month", "person", "customer_group", "metric"], as_index=False)["actual"].sum()
             .rename(columns={"person": "person_id", "actual": "value"}))
    frame["value"] = frame["value"].astype(float)
    return frame[list(HISTORY_COLUMNS)].sort_values(list(HISTORY_COLUMNS[:4])).reset_index(drop=True)


def annual_summary(workspace: Workspace, year: int | None = None) -> AnnualSummary:
    """Totals, growth, rankings, scorecard, bands and the year's history, as of the last fiscal month."""
    config = workspace.config
    if year is not None and year != config.fiscal_year:
        raise ConfigError(f"this workspace plans fiscal year {config.fiscal_year}, not {year}: "
                          f"open the {year} workspace with -w")
    c = consolidate(workspace, config.months[-1])
    people = c.people.copy()
    people["band"] = people["score"].map(config.review.band)
    return AnnualSummary(config.fiscal_year, c.month, _totals(workspace, c), people, c.teams.copy(),
                         _scorecard(workspace, people), _history(workspace, c), c)


# --- the workbook ------------------------------------------------------------------------------------------


def write_annual(workspace: Workspace, summary: AnnualSummary, draft: bool = False) -> tuple[Path, Path | None]:
    """reports/annual-<year>.xlsx (Summary, Teams, People, Scorecard, Months) and reports/history-<year>.xlsx.

    A draft (`draft=True`) is reports/annual-<year>-draft.xlsx, marked DRAFT on every sheet, and writes no
    history file: next year's workspace must never start from a year that was not closed."""
    from sheetplan.workspace.folder import write_history_xlsx
    from sheetplan.xlsx.writer import write_through_temp

    reports = workspace.folder("reports")
    name = f"annual-{summary.year}-draft.xlsx" if draft else f"annual-{summary.year}.xlsx"
    summary.workbook = write_through_temp(reports / name, lambda tmp: _write_book(workspace, summary, tmp, draft))
    if draft:
        summary.history_file = None
        return summary.workbook, None
    summary.history_file = write_through_temp(reports / f"history-{summary.year}.xlsx",
                                   lambda tmp: write_history_xlsx(Path(tmp), summary.history))
    return summary.workbook, summary.history_file


def run_annual(workspace: Workspace, year: int | None = None, draft: bool = False) -> AnnualSummary:
    """annual_summary() plus its files (the CLI's one call). The whole fiscal year must be closed (else
    OpenPeriod naming the open months), unless `draft`."""
    from sheetplan.reports.status import require_closed

    if year is not None and year != workspace.config.fiscal_year:
        annual_summary(workspace, year)  # says which workspace to open
    if not draft:
        require_closed(workspace, list(workspace.config.months), "annual")
    summary = annual_summary(workspace, year)
    write_annual(workspace, summary, draft)
    return summary


def _write_book(workspace: Workspace, s: AnnualSummary, tmp: str, draft: bool = False) -> None:
    from sheetplan.reports.book import ReportBook, close_book

    labels = Labels(workspace.config.language)
    b = ReportBook(tmp, labels, draft=draft)
    names = {key: labels(f"annual.{key}") for key in ("summary", "teams", "people", "scorecard")}
    summary_ws = b.sheet(names["summary"])
    blocks = _teams_sheet(b, workspace, s, names["teams"])
    _people_sheet(b, workspace, s, names["people"])
    _scorecard_sheet(b, workspace, s, names["scorecard"])
    _summary_sheet(b, workspace, s, summary_ws, names["teams"], blocks)
    if s.consolidation is not None and s.consolidation.months is not None:
        b.months_sheet(s.consolidation.months, list(workspace.config.months))
    summary_ws.activate()
    close_book(b, tmp)


def _growth_value(value):
    return None if value is pd.NA or pd.isna(value) else float(value)


def _summary_sheet(b, workspace: Workspace, s: AnnualSummary, ws, teams_name: str, blocks: dict) -> None:
    from sheetplan.reports.book import ACTUAL_COLOUR, CHART_WIDTH, TARGET_COLOUR

    L, config = b.labels, workspace.config
    ws.set_row(2, 30)  # constant_memory streams rows: set a row's height before writing it
    b.heading(ws, 0, L("annual.title", company=config.company, year=s.year))
    if s.consolidation is not None and s.consolidation.months is not None:
        from sheetplan.reports.status import closing_line

        ws.write_string(1, 0, closing_line(s.consolidation.months, L, list(config.months)))
    b.header(ws, 2, [L("annual.metric"), L("annual.target"), L("annual.actual"), L("annual.attainment"),
                     L("annual.prior"), L("annual.growth")])
    company = s.totals[s.totals["level"] == "company"].set_index("metric")
    for i, metric in enumerate(config.metrics):
        r = 3 + i
        b.value(ws, r, 0, f"{metric.label(L.lang)} ({metric.unit})")
        if metric.key not in company.index:
            continue
        rec = company.loc[metric.key]
        money = b.money[metric.decimals]
        b.value(ws, r, 1, rec["target"], money)
        b.value(ws, r, 2, rec["actual"], money)
        b.attainment(ws, r, 3, rec["attainment"], metric.higher_is_better, config.flags)
        b.value(ws, r, 4, _growth_value(rec["prior_actual"]), money)
        b.value(ws, r, 5, _growth_value(rec["growth"]), b.pct)
    ws.set_column(0, 0, 32)
    ws.set_column(1, 5, 16)
    ws.freeze_panes(3, 1)
    row = 4 + len(config.metrics)
    for i, metric in enumerate(config.metrics):
        if metric.key not in blocks:
            continue
        first, last = blocks[metric.key]
        chart = b.book.add_chart({"type": "column"})
        for col, colour in ((4, TARGET_COLOUR), (5, ACTUAL_COLOUR)):  # target, then actual, as on the Dashboard
            b.add_series(chart, [teams_name, 0, col], [teams_name, first, 1, last, 1],
                         [teams_name, first, col, last, col], fill={"color": colour}, border={"color": colour})
        chart.set_title({"name": L("annual.chart_teams", metric=metric.label(L.lang))})
        chart.set_y_axis({"min": 0, "num_format": "#,##0"})
        chart.set_legend({"position": "bottom"})
        chart.set_size({"width": CHART_WIDTH, "height": 320})
        # side by side by pixels, not by column: a chart wider than its columns would cover its neighbour
        ws.insert_chart(row + 17 * (i // 2), 0, chart, {"x_offset": (CHART_WIDTH + 20) * (i % 2)})


def _teams_sheet(b, workspace: Workspace, s: AnnualSummary, name: str) -> dict[str, tuple[int, int]]:
    """One row per metric and team, teams in rank order within each metric; returns each metric's rows."""
    L, config = b.labels, workspace.config
    ws = b.sheet(name)
    b.header(ws, 0, [L("annual.rank"), L("annual.team"), L("annual.score"), L("annual.metric"), L("annual.target"),
                     L("annual.actual"), L("annual.attainment"), L("annual.prior"), L("annual.growth")])
    ranks = s.teams.set_index("team")
    totals = s.totals[s.totals["level"] == "team"]
    blocks, r = {}, 1
    for metric in config.metrics:
        rows = totals[totals["metric"] == metric.key].copy()
        if rows.empty:
            continue
        rows["rank"] = rows["team"].map(ranks["rank"])
        rows = rows.sort_values(["rank", "team"])
        money = b.money[metric.decimals]
        first = r
        for rec in rows.itertuples(index=False):
            b.value(ws, r, 0, rec.rank)
            b.value(ws, r, 1, rec.team)
            b.value(ws, r, 2, ranks.at[rec.team, "score"], b.pct)
            b.value(ws, r, 3, metric.label(L.lang))
            b.value(ws, r, 4, rec.target, money)
            b.value(ws, r, 5, rec.actual, money)
            b.attainment(ws, r, 6, rec.attainment, metric.higher_is_better, config.flags)
            b.value(ws, r, 7, _growth_value(rec.prior_actual), money)
            b.value(ws, r, 8, _growth_value(rec.growth), b.pct)
            r += 1
        blocks[metric.key] = (first, r - 1)
    ws.autofilter(0, 0, max(r - 1, 1), 8)
    ws.freeze_panes(1, 2)
    ws.set_column(0, 0, 8)
    ws.set_column(1, 3, 22)
    ws.set_column(4, 8, 15)
    return blocks


def band_name(config, band: str, lang: str) -> str:
    """A band as the reader names it: the default bands have words in every catalogue; bands set in
    sheetplan.toml are shown as named there."""
    return term("band", band, lang) if config.review.bands == DEFAULT_BANDS else band


def _people_sheet(b, workspace: Workspace, s: AnnualSummary, name: str) -> None:
    """People in company rank order: score and band, then per metric target, actual, attainment and growth."""
    L, config = b.labels, workspace.config
    ws = b.sheet(name)
    head = [L("annual.rank_company"), L("annual.rank_team"), L("annual.person"), L("annual.name"), L("annual.team"),
            L("annual.score"), L("annual.band")]
    for metric in config.metrics:
        label = metric.label(L.lang)
        used = "annual.attainment" if metric.higher_is_better else "budget.used"
        head += [f"{label}: {L(used if k == 'attainment' else f'annual.{k}')}"
                 for k in ("target", "actual", "attainment", "growth")]
    ws.set_row(0, 30)
    b.header(ws, 0, head)
    persons = s.totals[s.totals["level"] == "person"].set_index(["person", "metric"])
    for i, rec in enumerate(s.people.itertuples(index=False)):
        r = 1 + i
        for col, value in enumerate((rec.rank_company, rec.rank_team, rec.person, rec.name, rec.team)):
            b.value(ws, r, col, value)
        b.value(ws, r, 5, rec.score, b.pct)
        b.value(ws, r, 6, band_name(config, rec.band, L.lang))
        for j, metric in enumerate(config.metrics):
            col = 7 + 4 * j
            if (rec.person, metric.key) not in persons.index:
                continue
            t = persons.loc[(rec.person, metric.key)]
            money = b.money[metric.decimals]
            b.value(ws, r, col, t["target"], money)
            b.value(ws, r, col + 1, t["actual"], money)
            b.attainment(ws, r, col + 2, t["attainment"], metric.higher_is_better, config.flags)
            b.value(ws, r, col + 3, _growth_value(t["growth"]), b.pct)
    last = len(s.people)
    b.traffic(ws, 1, 5, last, 5, config.flags)
    ws.autofilter(0, 0, max(last, 1), len(head) - 1)
    ws.freeze_panes(1, 4)
    ws.set_column(0, 1, 9)
    ws.set_column(2, 2, 11)
    ws.set_column(3, 4, 22)
    ws.set_column(5, len(head) - 1, 14)


def _scorecard_sheet(b, workspace: Workspace, s: AnnualSummary, name: str) -> None:
    L, config = b.labels, workspace.config
    ws = b.sheet(name)
    head = [L("annual.rank_company"), L("annual.person"), L("annual.name"), L("annual.team")]
    for metric in config.metrics:
        label = metric.label(L.lang)
        used = "annual.attainment" if metric.higher_is_better else "budget.used"
        head += [f"{label}: {L(used if k == 'attainment' else f'annual.{k}')}" for k in ("attainment", "weight",
                                                                                         "points")]
    head += [L("annual.score"), L("annual.band")]
    ws.set_row(0, 30)
    b.header(ws, 0, head)
    score_col = 4 + 3 * len(config.metrics)
    for i, rec in enumerate(s.scorecard.to_dict("records")):
        r = 1 + i
        for col, key in enumerate(("rank_company", "person", "name", "team")):
            b.value(ws, r, col, rec[key])
        for j, metric in enumerate(config.metrics):
            col = 4 + 3 * j
            b.attainment(ws, r, col, rec[f"{metric.key}_attainment"], metric.higher_is_better, config.flags)
            b.value(ws, r, col + 1, rec[f"{metric.key}_weight"])
            b.value(ws, r, col + 2, rec[f"{metric.key}_points"], b.pct)
        b.value(ws, r, score_col, rec["score"], b.pct)
        b.value(ws, r, score_col + 1, band_name(config, rec["band"], L.lang))
    last = len(s.scorecard)
    b.traffic(ws, 1, score_col, last, score_col, config.flags)
    ws.autofilter(0, 0, max(last, 1), len(head) - 1)
    ws.freeze_panes(1, 3)
    ws.set_column(0, 1, 10)
    ws.set_column(2, 3, 22)
    ws.set_column(4, len(head) - 1, 13)
