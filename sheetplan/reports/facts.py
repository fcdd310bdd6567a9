"""The tidy fact table: targets against actuals with rollover, year to date, forecasts and run rates.

Pure pandas/numpy over plain frames, so every figure can be checked by hand in a test:
- `targets`: person, month, metric, customer_group, target (the plan as it stands, per month)
- `actuals`: person, month, metric, customer_group, actual (accepted month reports)
- `teams`: person, month, team (where each person was in each month), optionally `active` (on the books
  that month: a leaver's months after leaving and a hire's before starting are not, and ask no run rate)
- `resets` (optional): person, metric, month (the first month of a plan reset by an approved revision or
  re-forecast; rollover does not carry across it, see `rollover`)
Team and company rows are sums of their people; ratios are recomputed from the sums.

Attainment has one meaning per sense of a metric, used by every sheet, review and score (see `attainment`,
`score_points` and `standing`): higher is better, actual / target; lower is better (a budget), budget used =
actual / budget, bounded to [0, USED_CAP]. A month without an accepted report has no attainment (empty):
it is "no report", never "met".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

_MEASURES = ["level", "team", "person", "month", "metric", "customer_group", "target", "rollover_in",
             "effective_target", "actual", "variance", "attainment", "ytd_target", "ytd_actual",
             "ytd_attainment", "forecast", "forecast_run_rate", "required_run_rate", "reported"]
# source: where the actual came from (see `_with_source`)
FACT_COLUMNS = [*_MEASURES, "source"]
SUMMED = ["target", "rollover_in", "effective_target", "actual", "ytd_target", "ytd_actual", "forecast",
          "forecast_run_rate", "required_run_rate", "annual_target"]
ROLLOVER_LEVELS = ("total", "group")
USED_CAP = 10.0  # budget used is shown up to 1000 %: ten times the budget, or any spend against a zero budget
SCORE_CAP = 2.0  # one runaway metric must not carry the whole weighted score


@dataclass(frozen=True)
class MetricRule:
    key: str
    decimals: int
    higher_is_better: bool


def attainment(actual, target, higher_is_better: bool, reported=None):
    """How a figure stands against its target, one definition for every sheet, review and score.

    Higher is better: actual / target, and 1.0 (met) when the target is 0. Lower is better (a budget):
    budget used = actual / budget, on track at or under 1.0; a zero (or overspent, negative) budget is used
    1.0 (on budget, as a zero target is met) when nothing was spent and USED_CAP when anything was; always
    within [0, USED_CAP]. `reported`
    (optional, per value): where False there is no accepted report and the result is NaN ("no report"),
    never a figure that reads as met. Never infinite.
    """
    actual = np.asarray(actual, dtype=float)
    target = np.asarray(target, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if higher_is_better:
            out = np.where(target > 0, actual / np.where(target > 0, target, 1.0), 1.0)
        else:
            used = np.where(target > 0, actual / np.where(target > 0, target, 1.0),
                            np.where(actual > 0, USED_CAP, 1.0))
            out = np.clip(used, 0.0, USED_CAP)
    if reported is not None:
        out = np.where(np.asarray(reported, dtype=bool), out, np.nan)
    return out


def score_points(value, higher_is_better: bool):
    """A metric's part of the weighted score, between 0 and SCORE_CAP; no report (NaN) scores 0.

    Higher is better: the attainment, capped at SCORE_CAP. A budget: 2 - budget used, so on budget scores 1.0
    like a met target, each point of budget overspent costs a point (nothing below 0), and spending nothing
    scores SCORE_CAP, the most any metric can bring.
    """
    value = np.asarray(value, dtype=float)
    points = value if higher_is_better else 2.0 - value
    return np.nan_to_num(np.clip(points, 0.0, SCORE_CAP), nan=0.0)


def standing(value, higher_is_better: bool, flags) -> str | None:
    """The traffic light of one attainment: 'green' (on track), 'amber' (behind), 'red' (far behind), or None
    for no report. Higher is better: at least `behind_pace` is green, at least `far_behind` amber. A budget
    (budget used): at or under 100 % is green, up to 2 - far_behind (125 % with the default 0.75) amber, so
    a colour means the same as its score points (`score_points`) would for a sales figure."""
    if value is None or not np.isfinite(value):
        return None
    if higher_is_better:
        return "green" if value >= flags.behind_pace else "amber" if value >= flags.far_behind else "red"
    return "green" if value <= 1.0 else "amber" if value <= 2.0 - flags.far_behind else "red"


def rollover(targets: np.ndarray, actuals: np.ndarray, reported: int, policy: str, carry_credit: bool,
             higher_is_better: bool, decimals: int, resets: np.ndarray | None = None) -> np.ndarray:
    """Carry each reported month's unmet target into later months; returns rollover_in per month.

    `targets` and `actuals` are (cells, 12). Months 0..reported-1 have closed (a missing actual counts
    as 0). The unmet part is effective target - actual: a shortfall (or, for a budget, an overspend)
    always carries; an over-achievement carries as credit only with carry_credit.

    It carries only into later months that have a target of their own: `next_month` adds it to the
    next such month, `spread` spreads it over all of them in proportion to their targets (the rounding
    remainder to the first). So a leaver's shortfall is not pushed into months after they left, and
    what has no later month with a target left is not carried.

    `resets` gives per cell the index of the month from which an approved revision or re-forecast
    re-planned it (-1: never). The new plan already takes in what was missed before, so a carry from a
    month before the reset lands only in later months before it (and is dropped if there are none);
    carries from the reset month on behave as above.
    """
    cells, months = targets.shape
    carried_in = np.zeros_like(targets, dtype=float)
    if policy == "none":
        return carried_in
    scale = 10 ** decimals
    rows = np.arange(cells)
    resets = np.full(cells, -1) if resets is None else np.asarray(resets)
    for m in range(min(reported, months - 1)):
        effective = targets[:, m] + carried_in[:, m]
        gap = effective - actuals[:, m]
        bad = gap > 0 if higher_is_better else gap < 0
        carry = np.where(bad | carry_credit, gap, 0.0)
        end = np.where(resets > m, resets, months)  # the month a carry from m may not reach
        rest = np.where(np.arange(m + 1, months)[None, :] < end[:, None], targets[:, m + 1:], 0.0)
        working = rest > 0
        has_month = working.any(axis=1)
        first = m + 1 + working.argmax(axis=1)  # the next month with a target (where has_month)
        if policy == "next_month":
            carried_in[rows[has_month], first[has_month]] += carry[has_month]
            continue
        weights = rest.sum(axis=1, keepdims=True)
        share = np.where(weights > 0, rest / np.where(weights > 0, weights, 1.0), 0.0)
        parts = np.round(share * carry[:, None] * scale) / scale
        carried_in[:, m + 1:] += parts
        remainder = np.where(has_month, carry - parts.sum(axis=1), 0.0)  # so nothing is lost
        carried_in[rows[has_month], first[has_month]] += remainder[has_month]
    return np.round(carried_in, decimals)


def spread_over_groups(amounts: np.ndarray, weights: np.ndarray, decimals: int) -> np.ndarray:
    """Each row's amount split over its columns in proportion to their weights, exact at `decimals`.

    Largest remainder in integer units (ties to the first column), the sign kept, so the parts always add
    up to the amount; a row without weight gets nothing. `amounts` (n,), `weights` (n, k) >= 0.
    """
    scale = 10 ** decimals
    units = np.round(np.asarray(amounts, dtype=float) * scale)
    sign, size = np.sign(units), np.abs(units)
    weights = np.clip(np.asarray(weights, dtype=float), 0.0, None)
    total = weights.sum(axis=1, keepdims=True)
    share = np.where(total > 0, weights / np.where(total > 0, total, 1.0), 0.0)
    raw = share * size[:, None]
    base = np.floor(raw + 1e-9)
    left = np.where(total[:, 0] > 0, size - base.sum(axis=1), 0.0)
    order = np.argsort(-(raw - base), axis=1, kind="stable")  # largest remainder first
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.broadcast_to(np.arange(weights.shape[1]), order.shape).copy(), axis=1)
    parts = base + (rank < left[:, None])
    return np.round(parts * sign[:, None] / scale, decimals)


def rollover_by_total(cells: pd.MultiIndex, targets: np.ndarray, actuals: np.ndarray, reported: int, policy: str,
                      carry_credit: bool, higher_is_better: bool, decimals: int,
                      resets: np.ndarray | None = None) -> np.ndarray:
    """`[rollover] level = "total"`: each person carries their net shortfall per metric, so over-achievement in
    one customer group offsets a shortfall in another (`rollover` runs on the person's totals over groups).
    What lands in a month is spread over that month's customer groups like its targets, exact at `decimals`,
    so the group rows add up to the person's carry. `cells` (person, metric, customer_group) index the rows
    of `targets` and `actuals` (one metric); returns rollover_in per cell and month."""
    people, person_of = np.unique(cells.get_level_values("person").to_numpy(dtype=object), return_inverse=True)
    groups, group_of = np.unique(cells.get_level_values("customer_group").to_numpy(dtype=object),
                                 return_inverse=True)
    months = targets.shape[1]
    grid = np.zeros((len(people), len(groups), months))
    np.add.at(grid, (person_of, group_of), targets)
    total_t = grid.sum(axis=1)
    total_a = np.zeros((len(people), months))
    np.add.at(total_a, person_of, actuals)
    person_resets = None
    if resets is not None:
        person_resets = np.full(len(people), -1)
        person_resets[person_of] = resets  # a reset is per person and metric: the same for every group
    carried = rollover(total_t, total_a, reported, policy, carry_credit, higher_is_better, decimals, person_resets)
    parts = np.zeros_like(grid)
    for m in range(months):
        if carried[:, m].any():
            parts[:, :, m] = spread_over_groups(carried[:, m], grid[:, :, m], decimals)
    return parts[person_of, group_of]


def build_facts(targets: pd.DataFrame, actuals: pd.DataFrame, teams: pd.DataFrame, metrics: list[MetricRule],
                months: list[str], through: str, policy: str = "none", carry_credit: bool = False,
                resets: pd.DataFrame | None = None, level: str = "total") -> pd.DataFrame:
    """The fact table for every level, owner, month, metric and customer group (plus group totals).

    `resets` (person, metric, month): each person's metric was re-planned from that month on, so no
    rollover crosses into it from the months before (see `rollover`). `level`: "total" carries each
    person's net shortfall (`rollover_by_total`), "group" each customer group's own (`rollover` per cell)."""
    if level not in ROLLOVER_LEVELS:
        raise ValueError(f"rollover level {level!r}: choose one of {', '.join(ROLLOVER_LEVELS)}")
    reported = sum(1 for m in months if m <= through)
    key = ["person", "metric", "customer_group"]
    grid_t = _grid(targets, key, "target", months)
    grid_a = _grid(actuals, key, "actual", months)
    index = grid_t.index.union(grid_a.index)
    grid_t = grid_t.reindex(index, fill_value=0.0)
    grid_a_known = grid_a.reindex(index)  # NaN where nothing was reported
    grid_a = grid_a_known.fillna(0.0)
    frames = []
    for rule in metrics:
        rows = index.get_level_values("metric") == rule.key
        if not rows.any():
            continue
        t = grid_t.to_numpy()[rows]
        a = grid_a.to_numpy()[rows]
        cell_index = index[rows]
        cell_resets = _reset_index(cell_index, resets, months)
        if level == "total":
            carried = rollover_by_total(cell_index, t, a, reported, policy, carry_credit, rule.higher_is_better,
                                        rule.decimals, cell_resets)
        else:
            carried = rollover(t, a, reported, policy, carry_credit, rule.higher_is_better, rule.decimals,
                               cell_resets)
        rebased = _reset_index(cell_index, _reforecasts(resets), months)
        rebase = _rebase(t, a, reported, rebased)
        seen = ~np.isnan(grid_a_known.to_numpy()[rows])
        seen[:, reported:] = False
        long = _long(cell_index, months, {"target": t, "rollover_in": carried, "actual": a, "ytd_adjust": rebase,
                                          "ytd_unreported": _unreported_plan(t, seen, reported, rebased),
                                          "reported": seen})
        frames.append(long)
    if not frames:
        return pd.DataFrame(columns=FACT_COLUMNS)
    person = pd.concat(frames, ignore_index=True)
    person.loc[person["month"] > through, "actual"] = 0.0
    person = person.merge(teams, on=["person", "month"], how="left")
    person["team"] = person["team"].fillna("")
    months_left = None
    if "active" in person:
        later = person[(person["month"] > through) & person["active"].fillna(True).astype(bool)]
        months_left = later.groupby("person")["month"].nunique()
        person = person.drop(columns="active")
    levels = _levels(person)
    return _with_source(_derive(levels, metrics, months, through, months_left), actuals)


def _with_source(facts: pd.DataFrame, actuals: pd.DataFrame) -> pd.DataFrame:
    """Where each actual came from: `actuals["source"]` per person, month and metric ("reported" from month
    reports when the frame has no such column, "imported" from an ERP or CRM export); a team or company row
    whose people differ says "mixed"; a row without an actual says "none" (a word, not an empty cell, so the
    Data sheet, the CSV and Parquet read back alike)."""
    keys = ["person", "month", "metric"]
    if "source" in actuals and len(actuals):
        per = actuals.groupby(keys, sort=False)["source"].first()
        found = per.reindex(pd.MultiIndex.from_frame(facts[keys])).to_numpy(dtype=object)
        person_source = np.where(pd.isna(found), "reported", found)
    else:
        person_source = np.full(len(facts), "reported", dtype=object)
    source = pd.Series(person_source, index=facts.index, dtype=object)
    people = facts["level"].eq("person") & facts["customer_group"].eq("") & facts["reported"]
    mine = facts.loc[people, ["team", "month", "metric"]].assign(source=source[people])
    for level, by in (("team", ["team", "month", "metric"]), ("company", ["month", "metric"])):
        grouped = mine.groupby(by, sort=False)["source"]
        merged = pd.DataFrame({"n": grouped.nunique(), "first": grouped.first()})
        merged["source"] = np.where(merged["n"] > 1, "mixed", merged["first"])
        rows = facts["level"].eq(level)
        lookup = merged["source"].reindex(pd.MultiIndex.from_frame(facts.loc[rows, by]) if len(by) > 1
                                          else facts.loc[rows, by[0]])
        source[rows] = lookup.to_numpy(dtype=object)
    source[~facts["reported"].astype(bool) | source.isna()] = "none"
    out = facts.assign(source=source.astype(str))
    return out[FACT_COLUMNS + [c for c in out.columns if c not in FACT_COLUMNS]]


def _unreported_plan(targets: np.ndarray, seen: np.ndarray, reported: int, rebased: np.ndarray) -> np.ndarray:
    """Per cell and month, the plan of that month if it has no accepted report; its running sum is the plan
    of the months to date without a report.

    A budget's year to date is measured only against the budget of the months reported (a month without a
    report is no report, not a month of nothing spent). After an approved re-forecast H1 already counts at
    its actual (see `_rebase`), so the re-forecast's first month takes back what H1 had added: from then on
    the running sum counts only the months since. Per month, not running, so team rows (which follow who
    was in the team each month) sum it before the running total, like the targets."""
    missing = np.where(seen, 0.0, targets)
    missing[:, reported:] = 0.0
    for reset in np.unique(rebased[(rebased > 0) & (rebased <= reported)]):
        cells = rebased == reset
        missing[cells, reset] -= missing[cells, :reset].sum(axis=1)
    return missing


def _reforecasts(resets: pd.DataFrame | None) -> pd.DataFrame | None:
    if resets is None or "source" not in resets:
        return None
    return resets[resets["source"] == "reforecast"]


def _rebase(targets: np.ndarray, actuals: np.ndarray, reported: int, resets: np.ndarray) -> np.ndarray:
    """What an approved H2 re-forecast adds to the year-to-date target from its first month on.

    The re-forecast plans H2 from what H1 actually brought, so from then on the year to date counts H1 at
    its actual instead of its plan: the adjustment is H1 actual - H1 target per cell (a missing actual
    counts 0). At year end the target is then H1 actual + the H2 plan, which is the annual target the
    re-forecast was made to reach, and a H1 shortfall is not counted twice. Only once H1 has closed.
    """
    out = np.zeros_like(targets, dtype=float)
    months = targets.shape[1]
    for reset in np.unique(resets[(resets > 0) & (resets <= reported)]):
        cells = resets == reset
        gap = actuals[cells, :reset].sum(axis=1) - targets[cells, :reset].sum(axis=1)
        out[np.ix_(cells, np.arange(reset, months))] = gap[:, None]
    return out


def _reset_index(cells: pd.MultiIndex, resets: pd.DataFrame | None, months: list[str]) -> np.ndarray:
    """Per cell the index of its reset month, -1 where there is none (or it falls outside the year)."""
    if resets is None or resets.empty:
        return np.full(len(cells), -1)
    position = {m: i for i, m in enumerate(months)}
    first = {(p, k): position[m] for p, k, m in zip(resets["person"], resets["metric"], resets["month"])
             if m in position}
    people, keys = cells.get_level_values("person"), cells.get_level_values("metric")
    return np.array([first.get((p, k), -1) for p, k in zip(people, keys)], dtype=int)


def _grid(frame: pd.DataFrame, key: list[str], value: str, months: list[str]) -> pd.DataFrame:
    if frame.empty:
        empty = pd.MultiIndex.from_arrays([[], [], []], names=key)
        return pd.DataFrame(index=empty, columns=months, dtype=float)
    grid = frame.pivot_table(index=key, columns="month", values=value, aggfunc="sum")
    return grid.reindex(columns=months).astype(float).where(lambda g: g.notna(), np.nan if value == "actual" else 0)


def _long(index: pd.MultiIndex, months: list[str], arrays: dict[str, np.ndarray]) -> pd.DataFrame:
    n = len(index)
    out = pd.DataFrame({
        "person": np.repeat(index.get_level_values("person").to_numpy(), len(months)),
        "metric": np.repeat(index.get_level_values("metric").to_numpy(), len(months)),
        "customer_group": np.repeat(index.get_level_values("customer_group").to_numpy(), len(months)),
        "month": np.tile(np.asarray(months, dtype=object), n),
    })
    for name, array in arrays.items():
        out[name] = array.reshape(-1)
    return out


def _levels(person: pd.DataFrame) -> pd.DataFrame:
    """Person rows by group, plus totals over groups, then team and company sums of those."""
    value_cols = ["target", "rollover_in", "actual", "ytd_adjust", "ytd_unreported"]
    person = person.assign(level="person")
    totals = (person.groupby(["team", "person", "metric", "month"], sort=False, as_index=False)
              .agg(**{c: (c, "sum") for c in value_cols}, reported=("reported", "any")))
    totals["customer_group"] = ""
    totals["level"] = "person"
    people = pd.concat([person, totals], ignore_index=True)
    team = (people.groupby(["team", "metric", "month", "customer_group"], sort=False, as_index=False)
            .agg(**{c: (c, "sum") for c in value_cols}, reported=("reported", "any")))
    team["level"], team["person"] = "team", ""
    company = (people.groupby(["metric", "month", "customer_group"], sort=False, as_index=False)
               .agg(**{c: (c, "sum") for c in value_cols}, reported=("reported", "any")))
    company["level"], company["team"], company["person"] = "company", "", ""
    return pd.concat([people, team, company], ignore_index=True)


def _derive(frame: pd.DataFrame, metrics: list[MetricRule], months: list[str], through: str,
            months_left: pd.Series | None = None) -> pd.DataFrame:
    """Effective targets, year to date, attainment, forecasts and run rates of every owner's rows.

    `annual_target` (the target the year is measured against: after an approved re-forecast, H1 at its
    actual plus the H2 plan) and `cumulative_target` (the running plan on the same footing, at the last month
    the annual target) ride along after FACT_COLUMNS."""
    # A person's year runs across a team move: running totals follow the person, not the team they
    # are in that month; only team rows are owned by their team.
    frame = frame.assign(who=frame["team"].where(frame["level"] == "team", ""))
    frame = frame.sort_values(["level", "who", "person", "metric", "customer_group", "month"],
                              key=lambda s: s.map({"company": 0, "team": 1, "person": 2}) if s.name == "level"
                              else s, kind="stable").reset_index(drop=True)
    owner = ["level", "who", "person", "metric", "customer_group"]
    past = frame["month"] <= through
    frame["effective_target"] = frame["target"] + frame["rollover_in"]
    frame["variance"] = frame["actual"] - frame["effective_target"]
    keys = [frame[c] for c in owner]
    groups = frame.groupby(keys, sort=False)
    # the re-forecast adjustment as it stood at `through` also holds for the months after it
    adjust = frame["ytd_adjust"].where(past).groupby(keys, sort=False).ffill().fillna(0.0)
    frame["ytd_target"] = frame["target"].where(past, 0.0).groupby(keys, sort=False).cumsum() + adjust
    frame["ytd_actual"] = frame["actual"].where(past, 0.0).groupby(keys, sort=False).cumsum()
    frame["cumulative_target"] = frame["target"].groupby(keys, sort=False).cumsum() + frame["ytd_adjust"]
    unreported = frame["ytd_unreported"].where(past, 0.0).groupby(keys, sort=False).cumsum()
    reported_to_date = frame["reported"].where(past, False).astype(int).groupby(keys, sort=False).cummax() > 0
    annual = groups["target"].transform("sum") + groups["ytd_adjust"].transform("last")
    # the year to date as it stands at `through` (after a re-forecast it can be below an earlier month's)
    at_through = frame["month"] == through
    ytd_target_now = frame["ytd_target"].where(at_through).groupby(keys, sort=False).transform("max").fillna(0.0)
    ytd_actual_now = frame["ytd_actual"].where(at_through).groupby(keys, sort=False).transform("max").fillna(0.0)
    elapsed = sum(1 for m in months if m <= through)
    remaining = len(months) - elapsed
    remaining_plan = (annual - ytd_target_now).clip(lower=0.0)
    frame["attainment"] = np.nan
    frame["ytd_attainment"] = np.nan
    frame["forecast"] = 0.0
    for rule in metrics:
        rows = frame["metric"] == rule.key
        sub = frame.loc[rows]
        frame.loc[rows, "attainment"] = attainment(sub["actual"], sub["effective_target"], rule.higher_is_better,
                                                   sub["reported"])
        # a budget is measured against the budget of the months reported; a sales figure against the whole
        # plan to date (a month without a report sold nothing)
        base = sub["ytd_target"] if rule.higher_is_better else sub["ytd_target"] - unreported[rows]
        frame.loc[rows, "ytd_attainment"] = attainment(sub["ytd_actual"], base, rule.higher_is_better,
                                                       reported_to_date[rows])
        # forecast = actual so far + the rest of the plan at the pace achieved so far
        pace = np.where(ytd_target_now[rows] > 0, ytd_actual_now[rows] / np.where(
            ytd_target_now[rows] > 0, ytd_target_now[rows], 1.0), 1.0)
        frame.loc[rows, "forecast"] = ytd_actual_now[rows] + remaining_plan[rows] * pace
    frame["forecast_run_rate"] = ytd_actual_now / elapsed * len(months) if elapsed else annual
    frame["required_run_rate"] = ((annual - ytd_actual_now) / remaining).clip(lower=0.0) if remaining else 0.0
    if months_left is not None:
        # a person's run rate is over the months they are still on the books: none left asks for nothing
        person_rows = frame["level"] == "person"
        left = frame.loc[person_rows, "person"].map(months_left).fillna(0).to_numpy()
        owed = (annual[person_rows] - ytd_actual_now[person_rows]).clip(lower=0.0).to_numpy()
        frame.loc[person_rows, "required_run_rate"] = np.where(left > 0, owed / np.where(left > 0, left, 1), 0.0)
    frame["annual_target"] = annual
    frame["month"] = frame["month"].astype(str)
    for rule in metrics:
        rows = frame["metric"] == rule.key
        for column in ("target", "rollover_in", "effective_target", "actual", "variance", "ytd_target",
                       "ytd_actual", "forecast", "forecast_run_rate", "required_run_rate", "annual_target",
                       "cumulative_target"):
            frame.loc[rows, column] = frame.loc[rows, column].round(rule.decimals)
    frame[["attainment", "ytd_attainment"]] = frame[["attainment", "ytd_attainment"]].round(4)
    frame = frame.sort_values(["level", "team", "person", "metric", "customer_group", "month"],
                              key=lambda s: s.map({"company": 0, "team": 1, "person": 2}) if s.name == "level"
                              else s, kind="stable").reset_index(drop=True)
    return frame[_MEASURES + ["annual_target", "cumulative_target"]]
