"""The fact table by hand: rollover, year to date, forecasts, zero targets, a leaver, a team move, sums.

One small office, built as plain frames (no workspace):
- teams T1 (A, B) and T2 (C); C moves from T2 to T1 in 2027-03; B leaves after 2027-02.
- rev: 2 decimals, higher is better; travel: a budget (2 decimals, lower is better).
- twelve months of 2027, reported through 2027-03.
Every expected figure below is worked out by hand in the comment beside it, never by the code under test.

The rollover figures of this office carry each customer group's own shortfall (`[rollover] level = "group"`);
the default, a person's net shortfall (`level = "total"`), has its own known answers further down. Attainment
follows the one definition (see `attainment`): a budget's is budget used (spent / budget), and a month without
an accepted report has none (NaN, "no report"), never a figure that reads as met.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sheetplan.reports.consolidate import rankings
from sheetplan.reports.facts import (
    FACT_COLUMNS,
    USED_CAP,
    MetricRule,
    attainment,
    build_facts,
    rollover,
    score_points,
    spread_over_groups,
    standing,
)

MONTHS = [f"2027-{m:02d}" for m in range(1, 13)]
JAN, FEB, MAR, APR, MAY, DEC = "2027-01", "2027-02", "2027-03", "2027-04", "2027-05", "2027-12"
THROUGH = MAR
RULES = [MetricRule("rev", 2, True), MetricRule("travel", 2, False)]
NUMBERS = ["target", "rollover_in", "effective_target", "actual", "variance", "attainment", "ytd_target",
           "ytd_actual", "ytd_attainment", "forecast", "forecast_run_rate", "required_run_rate"]
FIGURES = [c for c in NUMBERS if c not in ("attainment", "ytd_attainment")]  # never empty
NAN = float("nan")  # expected "no report"

# (person, metric, customer group) -> twelve monthly targets
TARGETS = {
    ("A", "rev", "Key"): [100.0] * 12,
    ("A", "rev", "Web"): [50.0] * 12,
    ("B", "rev", "Key"): [200.0, 200.0] + [0.0] * 10,  # B leaves after February
    ("C", "rev", "Key"): [300.0] * 12,
    ("A", "travel", "Key"): [10.0] * 12,
    ("B", "travel", "Key"): [0.0] * 12,  # a zero budget
    ("C", "travel", "Key"): [20.0] * 12,
}
# (person, metric, customer group) -> {month: actual}; a month left out was not reported
ACTUALS = {
    ("A", "rev", "Key"): {JAN: 80.0, FEB: 130.0, MAR: 100.0},
    ("A", "rev", "Web"): {JAN: 50.0, MAR: 60.0},  # February missing for this group only
    ("B", "rev", "Key"): {JAN: 200.0, FEB: 150.0},  # nothing after leaving
    ("C", "rev", "Key"): {JAN: 300.0, MAR: 330.0},  # February missing altogether
    ("A", "travel", "Key"): {JAN: 8.0, FEB: 12.0, MAR: 10.0},
    ("B", "travel", "Key"): {JAN: 0.0, FEB: 5.0},  # spends 5 against a zero budget in February
    ("C", "travel", "Key"): {JAN: 10.0, MAR: 10.0},
}


def team_of(person: str, month: str) -> str:
    if person == "C":
        return "T2" if month < MAR else "T1"
    return "T1"


def frames(targets=TARGETS, actuals=ACTUALS, team=team_of):
    t = pd.DataFrame([(p, m, metric, g, v) for (p, metric, g), values in targets.items()
                      for m, v in zip(MONTHS, values, strict=True)],
                     columns=["person", "month", "metric", "customer_group", "target"])
    a = pd.DataFrame([(p, m, metric, g, v) for (p, metric, g), values in actuals.items() for m, v in values.items()],
                     columns=["person", "month", "metric", "customer_group", "actual"])
    people = sorted({p for p, _m, _g in targets} | {p for p, _m, _g in actuals})
    teams = pd.DataFrame([(p, m, team(p, m)) for p in people for m in MONTHS], columns=["person", "month", "team"])
    return t, a, teams


def facts_for(policy: str = "none", carry_credit: bool = False, through: str = THROUGH,
              level: str = "group") -> pd.DataFrame:
    t, a, teams = frames()
    return build_facts(t, a, teams, RULES, MONTHS, through, policy, carry_credit, level=level)


def pick(facts: pd.DataFrame, level: str, team: str, person: str, metric: str, group: str, month: str) -> pd.Series:
    rows = facts[(facts["level"] == level) & (facts["team"] == team) & (facts["person"] == person)
                 & (facts["metric"] == metric) & (facts["customer_group"] == group) & (facts["month"] == month)]
    assert len(rows) == 1, f"{len(rows)} rows for {(level, team, person, metric, group, month)}"
    return rows.iloc[0]


def series(facts: pd.DataFrame, column: str, level: str, team: str, person: str, metric: str, group: str,
           months=MONTHS) -> list[float]:
    return [float(pick(facts, level, team, person, metric, group, m)[column]) for m in months]


def check(row: pd.Series, **expected) -> None:
    got = {k: (bool(row[k]) if isinstance(v, bool) else float(row[k])) for k, v in expected.items()}
    want = {k: (v if isinstance(v, bool) else pytest.approx(v, abs=1e-9, nan_ok=True)) for k, v in expected.items()}
    assert got == want


# --- attainment ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("actual", "target", "higher_is_better", "expected"), [
    (80, 100, True, 0.8),
    (130, 100, True, 1.3),
    (0, 100, True, 0.0),
    (0, 0, True, 1.0),  # a zero target is met
    (25, 0, True, 1.0),
    # a budget: budget used = spent / budget (it used to be budget / spent, which exploded for small spends)
    (8, 10, False, 0.8),  # under budget
    (12, 10, False, 1.2),  # 20 % over
    (0, 10, False, 0.0),  # nothing spent
    (0, 0, False, 1.0),  # nothing spent against a zero budget: on budget, as a zero target is met
    (5, 0, False, USED_CAP),  # spending against a zero budget: the most it shows (1000 %)
    (5, -5, False, USED_CAP),  # a budget pushed below zero by an overspend counts as zero
    (2500, 100, False, USED_CAP),  # 25 times the budget still shows 1000 %: bounded
])
def test_attainment_by_hand(actual, target, higher_is_better, expected):
    assert float(attainment(actual, target, higher_is_better)) == pytest.approx(expected)


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_attainment_without_a_report_is_empty_not_met(higher_is_better):
    """No accepted report: NaN ("no report"), whatever the figures say, so nothing reads as met."""
    got = attainment([0, 5, 0], [10, 10, 0], higher_is_better, reported=[False, True, False])
    assert np.isnan(got[0]) and np.isnan(got[2]) and not np.isnan(got[1])


@pytest.mark.parametrize(("value", "higher_is_better", "points"), [
    (0.8, True, 0.8), (2.5, True, 2.0), (NAN, True, 0.0),  # capped at 2; no report scores nothing
    (0.0, False, 2.0), (0.8, False, 1.2), (1.0, False, 1.0), (1.5, False, 0.5), (2.0, False, 0.0),
    (USED_CAP, False, 0.0), (NAN, False, 0.0),  # a budget: 2 - budget used, between 0 and 2
])
def test_score_points_by_hand(value, higher_is_better, points):
    assert float(score_points(value, higher_is_better)) == pytest.approx(points)


@pytest.mark.parametrize(("value", "higher_is_better", "light"), [
    (0.95, True, "green"), (0.9, True, "green"), (0.8, True, "amber"), (0.75, True, "amber"), (0.7, True, "red"),
    (0.4, False, "green"), (1.0, False, "green"), (1.1, False, "amber"), (1.25, False, "amber"),
    (1.3, False, "red"), (USED_CAP, False, "red"), (NAN, True, None), (NAN, False, None),
])
def test_standing_means_the_same_for_sales_and_budgets(value, higher_is_better, light):
    """behind_pace 0.9, far_behind 0.75: a budget is green at or under 100 % used, amber up to 125 %."""
    assert standing(value, higher_is_better, SimpleNamespace(behind_pace=0.9, far_behind=0.75)) == light


def test_attainment_never_nan_or_inf():
    grid = np.array([0.0, 1e-9, 1.0, 1e12])
    for hib in (True, False):
        out = attainment(grid[:, None], grid[None, :], hib)
        assert np.isfinite(out).all()


# --- policy none: people, groups, year to date ------------------------------------------------------


def test_person_rows_by_customer_group():
    f = facts_for()
    check(pick(f, "person", "T1", "A", "rev", "Key", JAN), target=100, rollover_in=0, effective_target=100,
          actual=80, variance=-20, attainment=0.8, ytd_target=100, ytd_actual=80, ytd_attainment=0.8, reported=True)
    check(pick(f, "person", "T1", "A", "rev", "Key", FEB), actual=130, variance=30, attainment=1.3,
          ytd_target=200, ytd_actual=210, ytd_attainment=1.05, reported=True)
    check(pick(f, "person", "T1", "A", "rev", "Key", MAR), actual=100, variance=0, attainment=1.0,
          ytd_target=300, ytd_actual=310, ytd_attainment=1.0333, reported=True)  # 310 / 300
    # after `through` nothing is actual yet and the year to date stands still
    # (and April has no report yet: no attainment, where it used to read 0 %)
    check(pick(f, "person", "T1", "A", "rev", "Key", APR), target=100, actual=0, attainment=NAN, ytd_target=300,
          ytd_actual=310, reported=False)
    # A's Web group skipped February: 0 and not reported, while the Key group was; no report, no attainment,
    # but the year to date counts it as nothing sold
    check(pick(f, "person", "T1", "A", "rev", "Web", FEB), target=50, actual=0, variance=-50, attainment=NAN,
          reported=False, ytd_target=100, ytd_actual=50, ytd_attainment=0.5)
    check(pick(f, "person", "T1", "A", "rev", "Web", MAR), actual=60, attainment=1.2, ytd_target=150, ytd_actual=110,
          ytd_attainment=0.7333)  # 110 / 150


def test_totals_over_customer_groups_have_an_empty_group():
    f = facts_for()
    assert set(f["customer_group"]) == {"", "Key", "Web"}
    # A = Key + Web: January 100 + 50 against 80 + 50; February 150 against 130 + 0 (Key reported, Web not)
    check(pick(f, "person", "T1", "A", "rev", "", JAN), target=150, actual=130, attainment=0.8667, reported=True)
    check(pick(f, "person", "T1", "A", "rev", "", FEB), target=150, actual=130, attainment=0.8667, reported=True)
    check(pick(f, "person", "T1", "A", "rev", "", MAR), target=150, actual=160, attainment=1.0667,
          ytd_target=450, ytd_actual=420, ytd_attainment=0.9333)  # 420 / 450
    for level in ("person", "team", "company"):
        rows = f[f["level"] == level]
        owners = rows.groupby(["team", "person", "metric", "month"])["customer_group"].apply(lambda s: "" in set(s))
        assert owners.all(), f"{level} rows without a total over customer groups"


def test_forecast_and_run_rates_by_hand():
    f = facts_for()
    # A Key: annual 1200, ytd 310 of 300 after three months
    # forecast = 310 + (1200 - 300) x 310/300 = 310 + 930 = 1240; run rate = 310 / 3 x 12 = 1240
    # required = (1200 - 310) / 9 = 98.888... -> 98.89
    check(pick(f, "person", "T1", "A", "rev", "Key", MAR), forecast=1240, forecast_run_rate=1240,
          required_run_rate=98.89)
    # A Web: annual 600, ytd 110 of 150: forecast = 110 + 450 x 110/150 = 440; run rate 110 x 4 = 440;
    # required = 490 / 9 = 54.444... -> 54.44
    check(pick(f, "person", "T1", "A", "rev", "Web", MAR), forecast=440, forecast_run_rate=440,
          required_run_rate=54.44)
    # A total: annual 1800, ytd 420 of 450: forecast = 420 + 1350 x 420/450 = 1680; run rate 1680;
    # required = 1380 / 9 = 153.333... -> 153.33. The owner's figures stand on every month's row.
    for month in (JAN, MAR, DEC):
        check(pick(f, "person", "T1", "A", "rev", "", month), forecast=1680, forecast_run_rate=1680,
              required_run_rate=153.33)
    # company rev: months Jan 650/630, Feb 650/280, Mar 450/490; annual 650 + 650 + 10 x 450 = 5800
    # ytd 1400 of 1750 = 0.8; forecast = 1400 + 4050 x 0.8 = 4640; run rate 5600; required 4400 / 9 = 488.89
    check(pick(f, "company", "", "", "rev", "", MAR), target=450, actual=490, ytd_target=1750, ytd_actual=1400,
          ytd_attainment=0.8, forecast=4640, forecast_run_rate=5600, required_run_rate=488.89)


def test_budget_rows_lower_is_better():
    f = facts_for()
    # A travel: 10 a month; spent 8, 12, 10: budget used 8/10, 12/10, 10/10; April has no report yet (it
    # used to read 1.0, "met", for nothing spent)
    assert series(f, "attainment", "person", "T1", "A", "travel", "Key", [JAN, FEB, MAR, APR]) == pytest.approx(
        [0.8, 1.2, 1.0, NAN], nan_ok=True)
    check(pick(f, "person", "T1", "A", "travel", "", MAR), ytd_target=30, ytd_actual=30, ytd_attainment=1.0,
          forecast=120, forecast_run_rate=120, required_run_rate=10)  # 30 + 90 x 1; (120 - 30) / 9


def test_zero_targets():
    f = facts_for()
    # B's rev after leaving has neither a target nor a report: no attainment (it used to read 1.0, met)
    check(pick(f, "person", "T1", "B", "rev", "Key", MAR), target=0, actual=0, attainment=NAN)
    # a zero budget: on budget (1.0) when nothing is spent (January), the most it shows when spending against
    # it (February: 5 of 0, budget used 1000 %; it used to read 0.0)
    check(pick(f, "person", "T1", "B", "travel", "Key", JAN), target=0, actual=0, attainment=1.0, reported=True)
    check(pick(f, "person", "T1", "B", "travel", "Key", FEB), target=0, actual=5, attainment=USED_CAP, reported=True)
    # year to date: 5 spent of a budget of 0 over the months reported -> 1000 %; forecast 5 + 0; run rate
    # 5 x 4 = 20; required (0 - 5) / 9 -> never < 0
    check(pick(f, "person", "T1", "B", "travel", "", MAR), ytd_target=0, ytd_actual=5, ytd_attainment=USED_CAP,
          forecast=5, forecast_run_rate=20, required_run_rate=0)


def test_leaver_has_zero_targets_and_no_actuals_after_leaving():
    f = facts_for()
    rows = f[(f["person"] == "B") & (f["metric"] == "rev") & (f["month"] >= MAR)]
    assert len(rows) == 2 * 10  # Key and the total, March to December
    assert (rows["target"] == 0).all() and (rows["actual"] == 0).all() and (rows["rollover_in"] == 0).all()
    assert not rows["reported"].any()
    assert rows["attainment"].isna().all()  # no report: empty, never "met" (it used to read 1.0)
    # ytd 350 of 400; annual 400 is all behind: forecast 350 + 0; run rate 350 / 3 x 12 = 1400;
    # required (400 - 350) / 9 = 5.555... -> 5.56
    check(pick(f, "person", "T1", "B", "rev", "", MAR), ytd_target=400, ytd_actual=350, ytd_attainment=0.875,
          forecast=350, forecast_run_rate=1400, required_run_rate=5.56)
    check(pick(f, "person", "T1", "B", "rev", "Key", FEB), target=200, actual=150, attainment=0.75, reported=True)


def test_missing_actuals_are_zero_but_not_reported():
    f = facts_for()
    check(pick(f, "person", "T2", "C", "rev", "Key", FEB), actual=0, attainment=NAN, reported=False)
    check(pick(f, "person", "T2", "C", "rev", "", FEB), actual=0, reported=False)
    # a missing month is a shortfall for rollover: next_month carries C's whole February target into March
    g = facts_for("next_month")
    check(pick(g, "person", "T1", "C", "rev", "Key", MAR), rollover_in=300, effective_target=600, actual=330,
          attainment=0.55, reported=True)  # 330 / 600
    check(pick(g, "person", "T2", "C", "rev", "Key", FEB), reported=False)
    # and what was never reported shows in no ytd actual: T2 in February saw nobody report
    check(pick(f, "team", "T2", "", "rev", "", FEB), target=300, actual=0, reported=False, ytd_target=600,
          ytd_actual=300)


# --- teams, company and a team move ------------------------------------------------------------------


def test_team_move_counts_the_mover_where_they_were():
    f = facts_for()
    c_rows = f[(f["level"] == "person") & (f["person"] == "C") & (f["customer_group"] == "")
               & (f["metric"] == "rev")].set_index("month")["team"]
    assert c_rows.to_dict() == {m: ("T2" if m < MAR else "T1") for m in MONTHS}
    # T1: January A 150 + B 200 = 350 against A 130 + B 200 = 330; February 350 against 130 + 150 = 280;
    # March A 150 + B 0 + C 300 = 450 against 160 + 0 + 330 = 490
    assert series(f, "target", "team", "T1", "", "rev", "", [JAN, FEB, MAR, APR]) == [350, 350, 450, 450]
    assert series(f, "actual", "team", "T1", "", "rev", "", [JAN, FEB, MAR]) == [330, 280, 490]
    # T2 holds C in January and February only
    assert series(f, "target", "team", "T2", "", "rev", "", [JAN, FEB]) == [300, 300]
    assert series(f, "actual", "team", "T2", "", "rev", "", [JAN, FEB]) == [300, 0]
    assert series(f, "target", "team", "T1", "", "rev", "Key", [JAN, MAR]) == [300, 400]  # A 100 + B 200; A + C
    # T1 year to date in March: 350 + 350 + 450 = 1150 against 330 + 280 + 490 = 1100 -> 0.956521... -> 0.9565;
    # annual 350 + 350 + 10 x 450 = 5200; forecast 1100 + 4050 x 1100/1150 = 4973.913... -> 4973.91;
    # run rate 1100 x 4 = 4400; required (5200 - 1100) / 9 = 455.555... -> 455.56
    check(pick(f, "team", "T1", "", "rev", "", MAR), ytd_target=1150, ytd_actual=1100, ytd_attainment=0.9565,
          forecast=4973.91, forecast_run_rate=4400, required_run_rate=455.56)
    # the budget follows C too: T1 March 10 + 0 + 20 = 30 against 10 + 0 + 10 = 20 spent -> used 20 / 30
    check(pick(f, "team", "T1", "", "travel", "", MAR), target=30, actual=20, attainment=0.6667)
    check(pick(f, "team", "T1", "", "travel", "", FEB), target=10, actual=17, attainment=1.7)  # 17 / 10


def test_mover_year_to_date_runs_across_the_move():
    """C's own year runs January to December whichever team C sits in: the move must not restart it."""
    f = facts_for()
    # C rev: 300 a month; 300 in January, nothing in February, 330 in March
    # ytd 630 of 900 = 0.7; annual 3600; forecast 630 + 2700 x 0.7 = 2520; run rate 630 x 4 = 2520;
    # required (3600 - 630) / 9 = 330
    check(pick(f, "person", "T1", "C", "rev", "", MAR), ytd_target=900, ytd_actual=630, ytd_attainment=0.7,
          forecast=2520, forecast_run_rate=2520, required_run_rate=330)
    # the same owner figures on the rows from before the move
    check(pick(f, "person", "T2", "C", "rev", "", JAN), ytd_target=300, ytd_actual=300, forecast=2520,
          required_run_rate=330)
    # C travel: 20 a month; 10 in January, no report in February, 10 in March: budget used counts the months
    # reported, 20 of 40 = 0.5 (it used to read 60 / 20 = 3.0, the missing February as nothing spent);
    # forecast 20 + 180 x 20/60 = 80
    check(pick(f, "person", "T1", "C", "travel", "", MAR), ytd_target=60, ytd_actual=20, ytd_attainment=0.5,
          forecast=80)


def test_company_is_the_sum_of_teams_by_hand():
    f = facts_for()
    # January: T1 350 + T2 300 = 650 against 330 + 300 = 630; February 650 against 280 + 0
    assert series(f, "target", "company", "", "", "rev", "", [JAN, FEB, MAR]) == [650, 650, 450]
    assert series(f, "actual", "company", "", "", "rev", "", [JAN, FEB, MAR]) == [630, 280, 490]
    # by group: Key in January A 100 + B 200 + C 300 = 600 against 80 + 200 + 300 = 580
    check(pick(f, "company", "", "", "rev", "Key", JAN), target=600, actual=580)
    check(pick(f, "company", "", "", "rev", "Web", JAN), target=50, actual=50)
    # travel January: 10 + 0 + 20 = 30 against 8 + 0 + 10 = 18 spent: budget used 0.6
    check(pick(f, "company", "", "", "travel", "", JAN), target=30, actual=18, attainment=0.6)


# --- rollover -------------------------------------------------------------------------------------------


def test_rollover_none_carries_nothing():
    f = facts_for("none", carry_credit=True)
    assert (f["rollover_in"] == 0).all()
    assert (f["effective_target"] == f["target"]).all()


def test_rollover_next_month_carries_shortfalls_only():
    f = facts_for("next_month")
    # A Key: January short 20 -> February 120; February over by 10 (not carried); March even
    assert series(f, "rollover_in", "person", "T1", "A", "rev", "Key", MONTHS[:5]) == [0, 20, 0, 0, 0]
    check(pick(f, "person", "T1", "A", "rev", "Key", FEB), effective_target=120, variance=10, attainment=1.0833)
    # A Web: February unreported -> 50 into March; March 100 against 60 -> 40 into April
    assert series(f, "rollover_in", "person", "T1", "A", "rev", "Web", MONTHS[:5]) == [0, 0, 50, 40, 0]
    # B left after February: February's 50 short has no later month with a target, so nothing carries
    assert series(f, "rollover_in", "person", "T1", "B", "rev", "Key", MONTHS[:5]) == [0, 0, 0, 0, 0]
    # C: February unreported -> 300 into March; March 600 against 330 -> 270 into April
    assert series(f, "rollover_in", "person", "T1", "C", "rev", "Key", [MAR, APR, MAY]) == [300, 270, 0]
    # T1 = sum of people where they were: February A 20; March A 50 + C 300; April A 40 + C 270
    assert series(f, "rollover_in", "team", "T1", "", "rev", "", MONTHS[:5]) == [0, 20, 350, 310, 0]
    assert series(f, "rollover_in", "company", "", "", "rev", "", MONTHS[:5]) == [0, 20, 350, 310, 0]
    # a budget carries its overspend: A travel February 12 of 10 -> March budget 8; March 10 of 8 -> April 8
    assert series(f, "rollover_in", "person", "T1", "A", "travel", "Key", MONTHS[:5]) == [0, 0, -2, -2, 0]
    check(pick(f, "person", "T1", "A", "travel", "Key", MAR), effective_target=8, attainment=1.25)  # 10 of 8
    # B spent 5 of a zero budget in February, then left: no later month has a budget to take the -5
    assert series(f, "rollover_in", "person", "T1", "B", "travel", "Key", MONTHS[:5]) == [0, 0, 0, 0, 0]
    # the year to date is the plan, not the effective target
    check(pick(f, "person", "T1", "A", "rev", "Key", MAR), ytd_target=300)


def test_rollover_next_month_with_carry_credit():
    f = facts_for("next_month", carry_credit=True)
    # A Key: January short 20 -> Feb 120; Feb 130 of 120: credit 10 -> March 90; March 100 of 90 -> April 90
    assert series(f, "rollover_in", "person", "T1", "A", "rev", "Key", MONTHS[:5]) == [0, 20, -10, -10, 0]
    assert series(f, "effective_target", "person", "T1", "A", "rev", "Key", MONTHS[:5]) == [100, 120, 90, 90, 100]
    check(pick(f, "person", "T1", "A", "rev", "Key", MAR), attainment=1.1111)  # 100 / 90
    # the annual total holds: 310 actual + April 90 + 8 x 100 = 1200
    future = sum(series(f, "effective_target", "person", "T1", "A", "rev", "Key", MONTHS[3:]))
    assert 310 + future == pytest.approx(1200)
    # a budget: underspend of 2 in January carries as extra budget; February 12 of 12 carries nothing
    assert series(f, "rollover_in", "person", "T1", "A", "travel", "Key", MONTHS[:5]) == [0, 2, 0, 0, 0]
    check(pick(f, "person", "T1", "A", "travel", "Key", FEB), effective_target=12, attainment=1.0)


def test_rollover_spread_without_credit():
    f = facts_for("spread")
    # A Key: January short 20 over the 11 equal months left: 20/11 = 1.8181... -> 1.82 x 11 = 20.02, the
    # remainder -0.02 goes to the first month (February 1.80). February over-achieves (not carried).
    # March 101.82 against 100: short 1.82 over 9 months: 0.2022... -> 0.20 x 9 = 1.80, remainder 0.02 -> April.
    assert series(f, "rollover_in", "person", "T1", "A", "rev", "Key") == [
        0, 1.80, 1.82, 2.04, 2.02, 2.02, 2.02, 2.02, 2.02, 2.02, 2.02, 2.02]
    # nothing lost: 20 + 1.82 = 21.82 = 1.80 + 1.82 + 2.04 + 8 x 2.02
    assert 1.80 + 1.82 + 2.04 + 8 * 2.02 == pytest.approx(21.82)
    # C: February's 300 (unreported) over the 10 equal months left = 30 each; March 330 of 330 is even
    assert series(f, "rollover_in", "person", "T1", "C", "rev", "Key", MONTHS[2:]) == [30.0] * 10
    check(pick(f, "person", "T1", "C", "rev", "Key", MAR), effective_target=330, attainment=1.0)


def test_rollover_spread_with_credit():
    f = facts_for("spread", carry_credit=True)
    # January as without credit; February 130 of 101.80 -> -28.20 over 10 months = -2.82 each;
    # March 100 of 100 + 1.82 - 2.82 = 99 -> -1 over 9 months: -0.11 x 9 = -0.99, remainder -0.01 -> April
    assert series(f, "rollover_in", "person", "T1", "A", "rev", "Key") == [
        0, 1.80, -1.00, -1.12, -1.11, -1.11, -1.11, -1.11, -1.11, -1.11, -1.11, -1.11]
    # the annual total holds: 310 + 9 x 100 - 1.12 - 8 x 1.11 = 1200
    future = sum(series(f, "effective_target", "person", "T1", "A", "rev", "Key", MONTHS[3:]))
    assert 310 + future == pytest.approx(1200)


def test_spread_in_proportion_to_the_original_targets():
    # 2 decimals: January 100 short, left to spread over February..April (30 each) and nothing after:
    # 33.333... -> 33.33 x 3 = 99.99, the remainder 0.01 goes to February
    targets = np.array([[100.0, 30, 30, 30] + [0.0] * 8])
    carried = rollover(targets, np.zeros_like(targets), 1, "spread", False, True, 2)
    assert carried.tolist() == [[0, 33.34, 33.33, 33.33] + [0.0] * 8]
    # 0 decimals, shares 1:2:4 of a shortfall of 10: 1.43 -> 1, 2.86 -> 3, 5.71 -> 6 (sum 10, no remainder)
    targets = np.array([[10.0, 0, 1, 2, 0, 4] + [0.0] * 6])
    carried = rollover(targets, np.zeros_like(targets), 1, "spread", False, True, 0)
    assert carried.tolist() == [[0, 0, 1, 3, 0, 6] + [0.0] * 6]
    # 0 decimals, three equal months: 3.33 -> 3 x 3 = 9, the remainder 1 goes to the first month
    targets = np.array([[10.0, 5, 5, 5] + [0.0] * 8])
    carried = rollover(targets, np.zeros_like(targets), 1, "spread", False, True, 0)
    assert carried.tolist() == [[0, 4, 3, 3] + [0.0] * 8]
    # no later month has a target (a leaver): nothing is carried
    targets = np.array([[12.10] + [0.0] * 11])
    carried = rollover(targets, np.zeros_like(targets), 1, "spread", False, True, 2)
    assert carried.tolist() == [[0.0] * 12]
    # the remainder goes to the first later month that has a target, not to an empty one
    targets = np.array([[10.0, 0, 5, 5, 5] + [0.0] * 7])
    carried = rollover(targets, np.zeros_like(targets), 1, "spread", False, True, 0)
    assert carried.tolist() == [[0, 0, 4, 3, 3] + [0.0] * 7]


def test_next_month_skips_months_without_a_target_and_stops_at_the_last_one():
    # a leaver: 100 target in January and February, nothing after; January 60, February 70 reported
    targets = np.array([[100.0, 100.0] + [0.0] * 10])
    actuals = np.array([[60.0, 70.0] + [0.0] * 10])
    carried = rollover(targets, actuals, 3, "next_month", False, True, 0)
    # January's 40 goes to February (140 effective, 70 sold); February's 70 has no month to go to
    assert carried.tolist() == [[0.0, 40.0] + [0.0] * 10]
    # a month without a target in between is skipped: 30 short in January lands in March
    targets = np.array([[100.0, 0.0, 100.0] + [0.0] * 9])
    actuals = np.array([[70.0] + [0.0] * 11])
    carried = rollover(targets, actuals, 1, "next_month", False, True, 0)
    assert carried.tolist() == [[0.0, 0.0, 30.0] + [0.0] * 9]


def test_nothing_carries_past_the_last_month():
    targets = np.array([[10.0] * 12])
    carried = rollover(targets, np.zeros_like(targets), 12, "next_month", False, True, 0)
    # each month's whole effective target is missed and moves on: 10, 20, ... 110 into December
    assert carried.tolist() == [[0.0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110]]


# --- rollover stops at a re-plan ----------------------------------------------------------------------


def test_reset_next_month_higher_is_better():
    # 100 a month; sold 70, 100, 90, 100 (January to April); re-planned from March (index 2)
    targets = np.array([[100.0] * 12] * 3)
    actuals = np.array([[70.0, 100, 90, 100] + [0.0] * 8] * 3)
    carried = rollover(targets, actuals, 4, "next_month", False, True, 2, np.array([2, -1, 0]))
    # with the reset: January's 30 -> February (before March, allowed); February 130 against 100 -> 30 has no
    # month before March to go to, dropped; March 100 against 90 -> 10 into April (after the reset, as always);
    # April 110 against 100 -> 10 into May
    assert carried[0].tolist() == [0, 30, 0, 10, 10] + [0.0] * 7
    # no reset (-1) and a reset at the first month (0) both carry as before: 30, then 30, 40, 40 onwards
    assert carried[1].tolist() == carried[2].tolist() == [0, 30, 30, 40, 40] + [0.0] * 7


def test_reset_next_month_budget():
    # a budget of 10 a month; spent 13, 12, 8; re-planned from February (index 1)
    targets = np.array([[10.0] * 12, [10.0] * 12])
    actuals = np.array([[13.0, 12, 8] + [0.0] * 9] * 2)
    carried = rollover(targets, actuals, 3, "next_month", False, False, 2, np.array([1, -1]))
    # January's overspend of 3 has no month before February: dropped. February 10 against 12 -> -2 into March;
    # March 8 against 8 is even
    assert carried[0].tolist() == [0, 0, -2] + [0.0] * 9
    # without the reset: -3 into February (7 against 12 -> -5), March 5 against 8 -> -3 into April
    assert carried[1].tolist() == [0, -3, -5, -3] + [0.0] * 8


def test_reset_spread_higher_is_better():
    # 10 a month, 2 decimals; sold 1, 13, 13, 10, 4, 10 (January to June); re-planned from May (index 4)
    targets = np.array([[10.0] * 12])
    actuals = np.array([[1.0, 13, 13, 10, 4, 10] + [0.0] * 6])
    carried = rollover(targets, actuals, 6, "spread", False, True, 2, np.array([4]))
    # January's 9 spreads over February to April only: 3 each. February and March 13 against 13 are even;
    # April 13 against 10: its 3 has no month left before May, dropped.
    # May (the reset month, carried as before) 10 against 4: 6 over June..December = 6/7 = 0.857 -> 0.86 x 7 =
    # 6.02, the remainder -0.02 to June (0.84). June 10.84 against 10: 0.84 over July..December = 0.14 each.
    assert carried.tolist() == [[0, 3, 3, 3, 0, 0.84, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]]


def test_reset_spread_budget():
    # a budget of 10 a month, 2 decimals; spent 16, 7, 5, 14; re-planned from April (index 3)
    targets = np.array([[10.0] * 12])
    actuals = np.array([[16.0, 7, 5, 14] + [0.0] * 8])
    carried = rollover(targets, actuals, 4, "spread", False, False, 2, np.array([3]))
    # January's overspend 6 spreads over February and March only: -3 each. February 7 against 7 is even;
    # March 7 against 5 is an underspend (no credit). April 10 against 14: -4 over May..December = -0.5 each
    assert carried.tolist() == [[0, -3, -3, 0] + [-0.5] * 8]


def test_build_facts_with_a_reset_stops_rollover_at_the_new_plan():
    t, a, teams = frames()
    resets = pd.DataFrame([("C", "rev", MAR)], columns=["person", "metric", "month"])
    f = build_facts(t, a, teams, RULES, MONTHS, THROUGH, "next_month", False, resets, level="group")
    # C rev was re-planned from March: February's unreported 300 does not land in March (it would without the
    # reset: 300, then 270 into April); March 330 against 300 is over target, so nothing moves on
    assert series(f, "rollover_in", "person", "T1", "C", "rev", "Key", [MAR, APR, MAY]) == [0, 0, 0]
    check(pick(f, "person", "T1", "C", "rev", "Key", MAR), effective_target=300, attainment=1.1)  # 330 / 300
    assert series(f, "rollover_in", "person", "T1", "C", "rev", "", [MAR, APR]) == [0, 0]
    # everything else carries as before: A's Web group (50 into March, 40 into April) and C's budget
    assert series(f, "rollover_in", "person", "T1", "A", "rev", "Web", MONTHS[:5]) == [0, 0, 50, 40, 0]
    g = facts_for("next_month")
    others = (f["person"] != "C") | (f["metric"] != "rev")
    assert f.loc[others & (f["level"] == "person"), "rollover_in"].tolist() == \
        g.loc[((g["person"] != "C") | (g["metric"] != "rev")) & (g["level"] == "person"), "rollover_in"].tolist()


@pytest.mark.parametrize("policy", ["none", "next_month", "spread"])
@pytest.mark.parametrize("carry_credit", [False, True])
@pytest.mark.parametrize("through", [JAN, THROUGH, DEC])
@pytest.mark.parametrize("level", ["total", "group"])
def test_no_inf_and_empty_only_without_a_report(policy, carry_credit, through, level):
    """Figures are never NaN or infinite; attainment is empty exactly where there is no report (the month's,
    or any month's to date for the year to date). It used to be a number everywhere, reading as met."""
    f = facts_for(policy, carry_credit, through, level)
    assert list(f.columns[:len(FACT_COLUMNS)]) == FACT_COLUMNS
    assert np.isfinite(f[FIGURES].to_numpy(dtype=float)).all()
    assert not f[[c for c in FACT_COLUMNS if c not in ("attainment", "ytd_attainment")]].isna().any().any()
    assert (f["attainment"].isna() == ~f["reported"]).all()
    assert not np.isinf(f[["attainment", "ytd_attainment"]].to_numpy(dtype=float)).any()
    assert f["reported"].dtype == bool


# --- rankings -----------------------------------------------------------------------------------------


def _roster(names: dict[str, str]):
    from sheetplan.workspace.roster import Person, Roster

    return Roster(tuple(Person(pid, name, "", "", "rep", "") for pid, name in names.items()))


WEIGHTED = [SimpleNamespace(key="rev", weight=0.7, higher_is_better=True),
            SimpleNamespace(key="travel", weight=0.3, higher_is_better=False)]


def test_rankings_by_hand():
    f = facts_for(through=FEB)
    people, teams = rankings(f, WEIGHTED, FEB, _roster({"A": "Ann", "B": "Ben", "C": "Cy"}))
    # score = 0.7 x min(rev, 2) + 0.3 x (2 - travel budget used, between 0 and 2)
    # A: rev ytd (210 + 50) / 300 = 0.8667, travel 20 of 20 used 1.0 -> 0.60669 + 0.3 = 0.9067
    # B: rev 350 / 400 = 0.875, travel 5 spent of a 0 budget: used 1000 %, 0 points -> 0.6125
    # C: rev 300 / 600 = 0.5; travel only January reported, 10 of 20: used 0.5 -> 1.5 points -> 0.35 + 0.45 = 0.8.
    #    (It used to score 0.95: 40 budgeted against 10 spent, 4.0 capped at 2, February's missing report as met.)
    got = people.set_index("person")[["team", "name", "score", "rank_company", "rank_team"]]
    assert got.to_dict("index") == {
        "A": {"team": "T1", "name": "Ann", "score": 0.9067, "rank_company": 1, "rank_team": 1},
        "C": {"team": "T2", "name": "Cy", "score": 0.8, "rank_company": 2, "rank_team": 1},
        "B": {"team": "T1", "name": "Ben", "score": 0.6125, "rank_company": 3, "rank_team": 2},
    }
    assert list(people["person"]) == ["A", "C", "B"]
    # travel ranks by its points: C 1.5, A 1.0, B 0
    assert people.set_index("person")["rank_travel"].to_dict() == {"C": 1, "A": 2, "B": 3}
    # T1: rev 610 / 700 = 0.8714; travel 25 spent of 20 budgeted: used 1.25 -> 0.75 points
    # -> 0.60998 + 0.225 = 0.835; T2 as C = 0.8
    assert teams.set_index("team")[["score", "rank"]].to_dict("index") == {
        "T1": {"score": 0.835, "rank": 1}, "T2": {"score": 0.8, "rank": 2}}


# --- properties -------------------------------------------------------------------------------------------

PEOPLE = ["p1", "p2", "p3", "p4", "p5"]
TEAMS = ["T1", "T2", "T3"]
GROUPS = ["G1", "G2"]


@st.composite
def offices(draw, moves: bool = True, all_reported: bool = False, last_through: int = 11):
    """Random small offices: who is where each month, targets per cell, actuals (some months missing)."""
    n = draw(st.integers(1, len(PEOPLE)))
    people = PEOPLE[:n]
    home = {p: draw(st.sampled_from(TEAMS)) for p in people}
    assignment = {}
    for p in people:
        team = home[p]
        for m in MONTHS:
            if moves and draw(st.integers(0, 9)) == 0:
                team = draw(st.sampled_from(TEAMS))
            assignment[(p, m)] = team
    through = MONTHS[draw(st.integers(0, last_through))]
    cents = st.lists(st.integers(0, 500_000).map(lambda v: v / 100), min_size=12, max_size=12)
    mask = st.lists(st.integers(0, 4), min_size=12, max_size=12)
    targets, actuals = {}, {}
    for p in people:
        for rule in RULES:
            for g in draw(st.lists(st.sampled_from(GROUPS), min_size=1, max_size=2, unique=True)):
                values = draw(cents)
                if draw(st.booleans()):  # some cells have months without a target
                    values = [v if keep else 0.0 for v, keep in zip(values, draw(mask), strict=True)]
                targets[(p, rule.key, g)] = values
                done = draw(cents)
                reported = [True] * 12 if all_reported else [bool(k) for k in draw(mask)]
                actuals[(p, rule.key, g)] = {m: v for m, v, r in zip(MONTHS, done, reported, strict=True)
                                             if r or m > through}
    policy = draw(st.sampled_from(["none", "next_month", "spread"]))
    return frames(targets, actuals, lambda p, m: assignment[(p, m)]), through, policy


def _sum_check(child: pd.DataFrame, parent: pd.DataFrame, keys: list[str]) -> None:
    columns = ["target", "actual", "rollover_in"]
    summed = child.groupby(keys)[columns].sum()
    mine = parent.set_index(keys)[columns]
    assert set(summed.index) == set(mine.index)
    diff = (summed - mine.loc[summed.index]).abs().to_numpy()
    assert (diff < 1e-6).all()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(offices(), st.booleans())
def test_property_teams_sum_their_people_and_company_sums_teams(office, carry_credit):
    (t, a, teams), through, policy = office
    f = build_facts(t, a, teams, RULES, MONTHS, through, policy, carry_credit)
    people, team, company = (f[f["level"] == level] for level in ("person", "team", "company"))
    keys = ["metric", "month", "customer_group"]
    _sum_check(people, team, ["team", *keys])
    _sum_check(team, company, keys)
    assert np.isfinite(f[FIGURES].to_numpy(dtype=float)).all()
    assert not np.isinf(f[["attainment", "ytd_attainment"]].to_numpy(dtype=float)).any()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(offices(moves=False, all_reported=True, last_through=10), st.sampled_from(["next_month", "spread"]),
       st.sampled_from(["total", "group"]))
def test_property_rollover_with_credit_keeps_the_annual_total(office, policy, level):
    """With credit, what was sold plus what is still to sell is the annual plan: per customer group under
    `level = "group"`; under `"total"` the carry moves between groups, so the identity holds for the person's
    total (and the company's)."""
    (t, a, teams), through, _policy = office
    f = build_facts(t, a, teams, RULES, MONTHS, through, policy, True, level=level)
    annual = t.groupby(["person", "metric", "customer_group"])["target"].sum()
    # A carry needs a later month with a target to land in; the identity holds where every month has one.
    later = t[t["month"] > MONTHS[0]]
    covered = later.groupby(["person", "metric", "customer_group"])["target"].min() > 0
    people_covered = covered.groupby(level=["person", "metric"]).all()
    for (person, metric, group), rows in f[f["level"] == "person"].groupby(["person", "metric", "customer_group"]):
        if not (people_covered.get((person, metric), False) if group == "" else covered.get((person, metric, group),
                                                                                            False)):
            continue
        if level == "total" and group != "":
            continue
        rows = rows.sort_values("month")
        now = rows[rows["month"] == through].iloc[0]
        future = rows.loc[rows["month"] > through, "effective_target"].sum()
        expected = annual[(person, metric)].sum() if group == "" else annual[(person, metric, group)]
        assert now["ytd_actual"] + future == pytest.approx(expected, abs=1e-6)
    for metric, rows in f[(f["level"] == "company") & (f["customer_group"] == "")].groupby("metric"):
        if not covered.xs(metric, level="metric").all():
            continue
        now = rows[rows["month"] == through].iloc[0]
        future = rows.loc[rows["month"] > through, "effective_target"].sum()
        assert now["ytd_actual"] + future == pytest.approx(annual.xs(metric, level="metric").sum(), abs=1e-6)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(offices(moves=False), st.booleans())
def test_property_ranks_are_min_ranks_of_the_scores(office, carry_credit):
    (t, a, teams), through, policy = office
    f = build_facts(t, a, teams, RULES, MONTHS, through, policy, carry_credit)
    people, team_table = rankings(f, WEIGHTED, through, _roster({}))
    assert sorted(people["person"]) == sorted(t["person"].unique())
    for frame, rank, within in ((people, "rank_company", None), (people, "rank_team", "team"),
                                (team_table, "rank", None)):
        for _key, part in (frame.groupby(within) if within else [(None, frame)]):
            scores = part["score"].to_numpy()
            expected = [1 + int((scores > s).sum()) for s in scores]  # 'min': ties share the best place
            assert part[rank].tolist() == expected
            if len(set(scores)) == len(scores):
                assert sorted(part[rank]) == list(range(1, len(part) + 1))
    # the score itself: rev's ytd attainment capped at 2, travel's 2 - budget used within [0, 2], no report 0
    now = f[(f["level"] == "person") & (f["month"] == through) & (f["customer_group"] == "")]
    for row in people.itertuples():
        att = now[now["person"] == row.person].set_index("metric")["ytd_attainment"]

        def points(m, att=att):
            value = att.get(m.key, NAN)
            if value != value:  # NaN: no report
                return 0.0
            return min(value, 2.0) if m.higher_is_better else min(max(2.0 - value, 0.0), 2.0)

        score = sum(points(m) * m.weight for m in WEIGHTED) / sum(m.weight for m in WEIGHTED)
        assert row.score == pytest.approx(score, abs=1e-4)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(offices(), st.booleans(), st.randoms(use_true_random=False))
def test_property_deterministic_and_independent_of_row_order(office, carry_credit, rnd):
    (t, a, teams), through, policy = office
    first = build_facts(t, a, teams, RULES, MONTHS, through, policy, carry_credit)
    again = build_facts(t, a, teams, RULES, MONTHS, through, policy, carry_credit)
    pd.testing.assert_frame_equal(first, again)
    order = list(range(len(t)))
    rnd.shuffle(order)
    shuffled = build_facts(t.iloc[order], a.sample(frac=1.0, random_state=rnd.randint(0, 99)), teams.iloc[::-1],
                           RULES, MONTHS, through, policy, carry_credit)
    pd.testing.assert_frame_equal(first.reset_index(drop=True), shuffled.reset_index(drop=True), atol=1e-9)



def _reforecast_year(through: str, resets_source: str = "reforecast") -> pd.DataFrame:
    """One person, one group: 100 a month planned; H1 sold 80 a month (480 of 600); the approved H2
    re-forecast plans (1200 - 480) / 6 = 120 a month, and H2 sells exactly that."""
    targets = pd.DataFrame([("R", m, "rev", "Key", 100.0 if i < 6 else 120.0) for i, m in enumerate(MONTHS)],
                           columns=["person", "month", "metric", "customer_group", "target"])
    actuals = pd.DataFrame([("R", m, "rev", "Key", 80.0 if i < 6 else 120.0) for i, m in enumerate(MONTHS)],
                           columns=["person", "month", "metric", "customer_group", "actual"])
    teams = pd.DataFrame([("R", m, "T1") for m in MONTHS], columns=["person", "month", "team"])
    resets = pd.DataFrame([("R", "rev", resets_source, MONTHS[6])], columns=["person", "metric", "source", "month"])
    facts = build_facts(targets, actuals, teams, RULES[:1], MONTHS, through, "none", False, resets)
    return facts[(facts["level"] == "person") & (facts["customer_group"] == "")].set_index("month")


def test_after_a_re_forecast_the_year_to_date_counts_h1_at_its_actual():
    december = _reforecast_year(DEC)
    # without the re-base the year would be measured against 600 + 720 = 1320 (the H1 shortfall twice)
    assert december.loc[DEC, ["ytd_target", "ytd_actual", "ytd_attainment", "annual_target"]].tolist() == [
        1200, 1200, 1.0, 1200]
    assert december.loc[MONTHS[5], "ytd_target"] == 600  # H1 itself is still measured against its plan
    september = _reforecast_year(MONTHS[8])
    # 480 + 3 x 120 = 840 against 840; what is left, 1200 - 840, over three months
    assert september.loc[MONTHS[8], ["ytd_target", "ytd_actual", "required_run_rate"]].tolist() == [840, 840, 120]
    june = _reforecast_year(MONTHS[5])
    # in June the H2 plan already starts from H1's actual: 1200 - 480 still needed over six months
    assert june.loc[MONTHS[5], ["ytd_target", "annual_target", "required_run_rate"]].tolist() == [600, 1200, 120]


def test_a_revision_is_not_re_based():
    # a revision re-spreads to the requested total, so its months already add up: nothing is adjusted
    december = _reforecast_year(DEC, resets_source="revision")
    assert december.loc[DEC, ["ytd_target", "annual_target"]].tolist() == [1320, 1320]


# --- the forecast after a re-forecast ------------------------------------------------------------------------


def _one_person(plan: list[float], sold: dict[str, float], through: str, reforecast_from: str | None = MONTHS[6],
                rule: MetricRule = RULES[0], groups=("Key",)) -> pd.DataFrame:
    """One person R in T1, `plan` per month (split equally over `groups`), `sold` per month reported, an
    approved re-forecast from `reforecast_from`; the person's totals over groups, by month."""
    targets = pd.DataFrame([("R", m, rule.key, g, v / len(groups)) for m, v in zip(MONTHS, plan, strict=True)
                            for g in groups], columns=["person", "month", "metric", "customer_group", "target"])
    actuals = pd.DataFrame([("R", m, rule.key, g, v / len(groups)) for m, v in sold.items() for g in groups],
                           columns=["person", "month", "metric", "customer_group", "actual"])
    teams = pd.DataFrame([("R", m, "T1") for m in MONTHS], columns=["person", "month", "team"])
    resets = (pd.DataFrame([("R", rule.key, "reforecast", reforecast_from)],
                           columns=["person", "metric", "source", "month"]) if reforecast_from else None)
    facts = build_facts(targets, actuals, teams, [rule], MONTHS, through, "none", False, resets)
    return facts[(facts["level"] == "person") & (facts["customer_group"] == "")].set_index("month")


def test_forecast_when_the_year_to_date_target_falls_after_the_re_forecast():
    """README: forecast = YTD actual + (annual target - YTD target now) x YTD actual / YTD target now.

    R planned 100 a month; H1 sold 60 a month (360 of 600). The approved H2 re-forecast plans 100 a month,
    so the year is measured against 360 + 600 = 960, and the YTD target falls from 600 (June) to
    360 + 100 = 460 (July). July sells 90: YTD actual 450.
    - forecast = 450 + (960 - 460) x 450 / 460 = 450 + 489.1304... = 939.13. (It read 720.0: the YTD target
      "now" was the largest so far, June's 600: 450 + (960 - 600) x 450 / 600.)
    - YTD attainment 450 / 460 = 0.97826 -> 0.9783; run rate 450 / 7 x 12 = 771.428... -> 771.43;
      required (960 - 450) / 5 = 102.
    """
    plan = [100.0] * 12
    sold = {**{m: 60.0 for m in MONTHS[:6]}, MONTHS[6]: 90.0}
    july = _one_person(plan, sold, MONTHS[6])
    assert july.loc[MONTHS[5], "ytd_target"] == 600 and july.loc[MONTHS[6], "ytd_target"] == 460
    check(july.loc[MONTHS[6]], ytd_target=460, ytd_actual=450, ytd_attainment=0.9783, annual_target=960,
          forecast=939.13, forecast_run_rate=771.43, required_run_rate=102)
    # the owner's figures stand on every month's row, before and after `through`
    assert set(july["forecast"]) == {939.13}


def test_forecast_is_never_below_what_was_sold_after_the_re_forecast():
    """R planned 100 a month; H1 sold 200 in all (200 of 600); the re-forecast plans 50 a month for H2, so the
    year is measured against 200 + 300 = 500, below June's YTD target of 600. H2 sells its 300.
    At December: YTD target = YTD actual = 500, forecast 500 + (500 - 500) x 1 = 500. (It read 416.67:
    500 + (500 - 600) x 500 / 600, below the 500 already sold, as P011's 4 new customers against 5 won.)"""
    plan = [100.0] * 6 + [50.0] * 6
    sold = {**{m: 0.0 for m in MONTHS[:6]}, MONTHS[0]: 200.0, **{m: 50.0 for m in MONTHS[6:]}}
    december = _one_person(plan, sold, DEC)
    check(december.loc[DEC], ytd_target=500, ytd_actual=500, annual_target=500, forecast=500,
          required_run_rate=0)


def test_cumulative_target_ends_on_the_annual_target_after_a_re_forecast():
    """The running plan the year is measured against: H1 at its plan, then from July H1 at its actual plus the
    H2 plan. R: 100 a month planned, H1 sold 360, H2 re-forecast 100 a month.
    June 600; July 360 + 100 = 460; December 360 + 600 = 960 = the annual target. (A running sum of the month
    targets, 600 + 600 = 1200, counts H1's shortfall twice: the Company sheet showed that.) Before the
    re-forecast is approved (through May) it is the plain running plan, 1200 at December."""
    sold = {m: 60.0 for m in MONTHS[:6]}
    facts = _one_person([100.0] * 12, sold, MONTHS[6])
    assert facts.loc[[MONTHS[5], MONTHS[6], DEC], "cumulative_target"].tolist() == [600, 460, 960]
    assert facts.loc[DEC, "annual_target"] == 960
    may = _one_person([100.0] * 12, {m: 60.0 for m in MONTHS[:5]}, MONTHS[4])
    assert may.loc[DEC, "cumulative_target"] == 1200 == may.loc[DEC, "annual_target"]


@st.composite
def re_forecast_years(draw):
    """A person's year with random plans and sales (some months unreported), with or without an approved
    re-forecast, seen from a random month."""
    cents = st.integers(0, 300_000).map(lambda v: v / 100)
    plan = draw(st.lists(cents, min_size=12, max_size=12))
    through = draw(st.integers(0, 11))
    sold = {m: draw(cents) for i, m in enumerate(MONTHS) if i <= through and draw(st.integers(0, 5))}
    reforecast = draw(st.sampled_from([None, MONTHS[6]]))
    return plan, sold, MONTHS[through], reforecast


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(re_forecast_years())
def test_property_forecast_never_below_ytd_actual_and_equal_at_year_end(year):
    plan, sold, through, reforecast = year
    facts = _one_person(plan, sold, through, reforecast)
    now = facts.loc[through]
    assert now["forecast"] >= now["ytd_actual"] - 0.005  # higher is better: what was sold stays sold
    if through == DEC:
        assert now["forecast"] == pytest.approx(now["ytd_actual"], abs=0.005)


# --- rollover on the person's total ------------------------------------------------------------------------


def _two_groups(level: str, policy: str = "next_month") -> pd.DataFrame:
    targets = pd.DataFrame([("P", m, "rev", g, v) for m in MONTHS for g, v in (("Key", 100.0), ("Web", 50.0))],
                           columns=["person", "month", "metric", "customer_group", "target"])
    sold = {(JAN, "Key"): 70.0, (JAN, "Web"): 80.0, (FEB, "Key"): 100.0, (FEB, "Web"): 19.0}
    actuals = pd.DataFrame([("P", m, "rev", g, v) for (m, g), v in sold.items()],
                           columns=["person", "month", "metric", "customer_group", "actual"])
    teams = pd.DataFrame([("P", m, "T1") for m in MONTHS], columns=["person", "month", "team"])
    return build_facts(targets, actuals, teams, [MetricRule("rev", 0, True)], MONTHS, FEB, policy, False,
                       level=level)


def test_rollover_total_against_group_by_hand():
    """P plans Key 100 and Web 50 a month (0 decimals); next_month, no credit, reported through February.
    January: Key 70 (30 short), Web 80 (30 over): net even. February: Key 100, Web 19: 31 short in all.
    - group: January's Key 30 -> February Key (130 against 100: 30 short again) -> March Key 30; Web's 30 over
      carries nothing; February's Web 31 -> March Web 31. March carries 61, twice the net shortfall.
    - total: January nets to 0; February 150 against 119: 31 -> March, spread like March's targets 100 : 50:
      20.67 and 10.33 at whole units -> Key 21 (the larger remainder), Web 10.
    """
    group = _two_groups("group")
    assert series(group, "rollover_in", "person", "T1", "P", "rev", "Key", MONTHS[:4]) == [0, 30, 30, 0]
    assert series(group, "rollover_in", "person", "T1", "P", "rev", "Web", MONTHS[:4]) == [0, 0, 31, 0]
    assert series(group, "rollover_in", "person", "T1", "P", "rev", "", MONTHS[:4]) == [0, 30, 61, 0]
    total = _two_groups("total")
    assert series(total, "rollover_in", "person", "T1", "P", "rev", "Key", MONTHS[:4]) == [0, 0, 21, 0]
    assert series(total, "rollover_in", "person", "T1", "P", "rev", "Web", MONTHS[:4]) == [0, 0, 10, 0]
    assert series(total, "rollover_in", "person", "T1", "P", "rev", "", MONTHS[:4]) == [0, 0, 31, 0]
    assert series(total, "rollover_in", "company", "", "", "rev", "", MONTHS[:4]) == [0, 0, 31, 0]
    check(pick(total, "person", "T1", "P", "rev", "Key", MAR), effective_target=121)


def test_rollover_total_spread_by_hand():
    """The same P under `spread` (0 decimals): February's net 31 short goes over March..December in proportion
    to their targets (150 each): 31 / 10 = 3.1 -> 3 a month, the remainder 1 to March (4). Each month's part is
    then split 100 : 50 over the groups: 3 -> 2 and 1; March's 4 -> 2.67 and 1.33 -> Key 3, Web 1."""
    total = _two_groups("total", "spread")
    assert series(total, "rollover_in", "person", "T1", "P", "rev", "", MONTHS) == [0, 0, 4] + [3] * 9
    assert series(total, "rollover_in", "person", "T1", "P", "rev", "Key", MONTHS) == [0, 0, 3] + [2] * 9
    assert series(total, "rollover_in", "person", "T1", "P", "rev", "Web", MONTHS) == [0, 0, 1] + [1] * 9


@settings(max_examples=80, deadline=None)
@given(units=st.lists(st.integers(-10**9, 10**9), min_size=1, max_size=6),
       weights=st.lists(st.lists(st.integers(0, 10**6), min_size=3, max_size=3), min_size=6, max_size=6),
       decimals=st.integers(0, 2))
def test_property_spread_over_groups_is_exact(units, weights, decimals):
    amounts = np.array(units, dtype=float) / 10**decimals
    w = np.array(weights[:len(units)], dtype=float)
    parts = spread_over_groups(amounts, w, decimals)
    has = w.sum(axis=1) > 0
    assert (np.round(parts.sum(axis=1) * 10**decimals) == np.where(has, units, 0)).all()
    assert (parts[w == 0] == 0).all()  # nothing goes to a group without a target
    assert ((parts * np.sign(amounts)[:, None]) >= 0).all()  # every part has the sign of the whole


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(offices(), st.booleans())
def test_property_total_rollover_groups_add_up_to_the_person(office, carry_credit):
    """Under `level = "total"` the groups' rollover adds up to the person's exactly, at the metric's decimals."""
    (t, a, teams), through, policy = office
    f = build_facts(t, a, teams, RULES, MONTHS, through, policy, carry_credit, level="total")
    people = f[f["level"] == "person"]
    by_group = people[people["customer_group"] != ""].groupby(["person", "metric", "month"])["rollover_in"].sum()
    total = people[people["customer_group"] == ""].set_index(["person", "metric", "month"])["rollover_in"]
    assert (np.round((by_group - total.loc[by_group.index]).abs() * 100) == 0).all()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(offices(), st.booleans())
def test_property_budget_attainment_is_finite_and_bounded(office, carry_credit):
    """Every lower-is-better attainment (month and year to date, every level) is empty (no report) or within
    [0, USED_CAP]; and a month without a report never has one."""
    (t, a, teams), through, policy = office
    f = build_facts(t, a, teams, RULES, MONTHS, through, policy, carry_credit)
    budget = f[f["metric"] == "travel"]
    for column in ("attainment", "ytd_attainment"):
        values = budget[column].dropna()
        assert ((values >= 0) & (values <= USED_CAP)).all()
    assert budget.loc[~budget["reported"], "attainment"].isna().all()
