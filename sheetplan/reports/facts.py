"""The tidy fact table: targets against actuals with rollover, year to date, forecasts and run rates.

Pure pandas/numpy over plain frames, so every figure can be checked by hand in a test:
- `targets`: person, month, metric, customer_group, target (the plan as it stands, per month)
- `actuals`: person, month, metric, customer_group, actual (accepted month reports)
- `teams`: person, month, team (where each person was in each month)
- `resets` (optional): person, metric, month (the first month of a plan reset by an approved revision or
  re-forecast; rollover does not carry across it, see `rollover`)
Team and company rows are sums of their people; ratios are recomputed from the sums.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

FACT_COLUMNS = ["level", "team", "person", "month", "metric", "customer_group", "target", "rollover_in",
                "effective_target", "actual", "variance", "attainment", "ytd_target", "ytd_actual",
                "ytd_attainment", "forecast", "forecast_run_rate", "required_run_rate", "reported"]
SUMMED = ["target", "rollover_in", "effective_target", "actual", "ytd_target", "ytd_actual", "forecast",
          "forecast_run_rate", "required_run_rate", "annual_target"]


@dataclass(frozen=True)
class MetricRule:
    key: str
    decimals: int
    higher_is_better: bool


def attainment(actual, target, higher_is_better: bool):
    """Share of target achieved, with the sense inverted for lower-is-better metrics.

    Defined everywhere, never NaN or inf: higher is better: actual / target, and 1.0 (met) when the
    target is 0. Lower is better (a budget): target / actual, and 1.0 (met) when nothing was spent;
    spending against a zero budget gives 0.0.
    """
    actual = np.asarray(actual, dtype=float)
    target = np.asarray(target, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if higher_is_better:
            return np.where(target > 0, actual / np.where(target > 0, target, 1.0), 1.0)
        return np.where(actual > 0, np.maximum(target, 0.0) / np.where(actual > 0, actual, 1.0), 1.0)


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


def build_facts(targets: pd.DataFrame, actuals: pd.DataFrame, teams: pd.DataFrame, metrics: list[MetricRule],
                months: list[str], through: str, policy: str = "none", carry_credit: bool = False,
                resets: pd.DataFrame | None = None) -> pd.DataFrame:
    """The fact table for every level, owner, month, metric and customer group (plus group totals).

    `resets` (person, metric, month): each person's metric was re-planned from that month on, so no
    rollover crosses into it from the months before (see `rollover`)."""
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
        carried = rollover(t, a, reported, policy, carry_credit, rule.higher_is_better, rule.decimals,
                           _reset_index(cell_index, resets, months))
        rebase = _rebase(t, a, reported, _reset_index(cell_index, _reforecasts(resets), months))
        long = _long(cell_index, months, {"target": t, "rollover_in": carried, "actual": a, "ytd_adjust": rebase,
                                          "reported": ~np.isnan(grid_a_known.to_numpy()[rows])})
        frames.append(long)
    if not frames:
        return pd.DataFrame(columns=FACT_COLUMNS)
    person = pd.concat(frames, ignore_index=True)
    person["reported"] = person["reported"] & (person["month"] <= through)
    person.loc[person["month"] > through, "actual"] = 0.0
    person = person.merge(teams, on=["person", "month"], how="left")
    person["team"] = person["team"].fillna("")
    levels = _levels(person)
    return _derive(levels, metrics, months, through)


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
    value_cols = ["target", "rollover_in", "actual", "ytd_adjust"]
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


def _derive(frame: pd.DataFrame, metrics: list[MetricRule], months: list[str], through: str) -> pd.DataFrame:
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
    groups = frame.groupby(owner, sort=False)
    keys = [frame[c] for c in owner]
    # the re-forecast adjustment as it stood at `through` also holds for the months after it
    adjust = frame["ytd_adjust"].where(past).groupby(keys, sort=False).ffill().fillna(0.0)
    frame["ytd_target"] = frame["target"].where(past, 0.0).groupby(keys, sort=False).cumsum() + adjust
    frame["ytd_actual"] = frame["actual"].where(past, 0.0).groupby([frame[c] for c in owner], sort=False).cumsum()
    annual = groups["target"].transform("sum") + groups["ytd_adjust"].transform("last")
    ytd_target_now = frame["ytd_target"].where(past).groupby([frame[c] for c in owner], sort=False).transform("max")
    ytd_actual_now = frame["ytd_actual"].where(past).groupby([frame[c] for c in owner], sort=False).transform("max")
    ytd_target_now, ytd_actual_now = ytd_target_now.fillna(0.0), ytd_actual_now.fillna(0.0)
    elapsed = sum(1 for m in months if m <= through)
    remaining = len(months) - elapsed
    remaining_plan = annual - ytd_target_now
    frame["attainment"] = 0.0
    frame["ytd_attainment"] = 0.0
    frame["forecast"] = 0.0
    for rule in metrics:
        rows = frame["metric"] == rule.key
        sub = frame.loc[rows]
        frame.loc[rows, "attainment"] = attainment(sub["actual"], sub["effective_target"], rule.higher_is_better)
        frame.loc[rows, "ytd_attainment"] = attainment(sub["ytd_actual"], sub["ytd_target"], rule.higher_is_better)
        # forecast = actual so far + the rest of the plan at the pace achieved so far
        pace = np.where(ytd_target_now[rows] > 0, ytd_actual_now[rows] / np.where(
            ytd_target_now[rows] > 0, ytd_target_now[rows], 1.0), 1.0)
        frame.loc[rows, "forecast"] = ytd_actual_now[rows] + remaining_plan[rows] * pace
    frame["forecast_run_rate"] = ytd_actual_now / elapsed * len(months) if elapsed else annual
    frame["required_run_rate"] = ((annual - ytd_actual_now) / remaining).clip(lower=0.0) if remaining else 0.0
    frame["annual_target"] = annual
    frame["month"] = frame["month"].astype(str)
    for rule in metrics:
        rows = frame["metric"] == rule.key
        for column in ("target", "rollover_in", "effective_target", "actual", "variance", "ytd_target",
                       "ytd_actual", "forecast", "forecast_run_rate", "required_run_rate", "annual_target"):
            frame.loc[rows, column] = frame.loc[rows, column].round(rule.decimals)
    frame[["attainment", "ytd_attainment"]] = frame[["attainment", "ytd_attainment"]].round(4)
    frame = frame.sort_values(["level", "team", "person", "metric", "customer_group", "month"],
                              key=lambda s: s.map({"company": 0, "team": 1, "person": 2}) if s.name == "level"
                              else s, kind="stable").reset_index(drop=True)
    return frame[FACT_COLUMNS + ["annual_target"]]
