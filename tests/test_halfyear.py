"""The half-year review and the H2 re-forecast template, on a tiny office whose figures are worked out by hand.

The office (fiscal year 2027 from January, groups Key and Web; revenue: 2 decimals, higher is better, weight
0.75; travel: a budget, 0 decimals, lower is better, weight 0.25). Official targets and accepted month reports
are written straight into the store. Per group and month:

            revenue target                 revenue actual (months 1-6)        travel budget / spent (Key)
- N1 North  Key 1000, Web 500              Key 1200, Web 600                  100 / 80
- N2 North  Key 600, Web 400               Key 600, Web 300; June missing     50 / 50; June missing
- S1 South  Key 800; Web 0 in H1, 400 H2   Key 750, Web 0                     80 / 100
- L1 South  Key 500 January-April, leaves  Key 500, January-April             0 / 0
Annual targets: N1 18000 / 1200, N2 12000 / 600, S1 12000 / 960, L1 2000 / 0 (revenue / travel).

Worked out by hand:
- H1 revenue: N1 9000 -> 10800 (1.2); N2 6000 -> 4500 (0.75); S1 4800 -> 4500 (0.9375); L1 2000 -> 2000 (1.0).
- H1 travel (budget / spent; attainment is budget used = spent / the budget of the months reported):
  N1 600 / 480 (0.8); N2 300 / 250, June not reported, so 250 of the 250 reported (1.0; it used to read
  300 / 250 = 1.2, the missing June counted as nothing spent, i.e. as met); S1 480 / 600 (1.25);
  L1 0 / 0 (1.0: a zero budget with nothing spent is on budget, as a zero target is met).
- Scores (0.75 revenue + 0.25 x (2 - budget used)): N1 0.9 + 0.3 = 1.2; S1 0.703125 + 0.1875 = 0.8906;
  N2 0.5625 + 0.25 = 0.8125. L1 left after April: in June L1 is not on the books, so has no score and no
  rank (L1's figures stay in South's). Company ranks N1, S1, N2; in North N1, N2; in South S1.
- Rollover into H2 (no carry credit), revenue: N1 over target every month: 0. N2: Key short 600 in June,
  Web short 100 a month and 400 in June: 600 + 900 = 1500, under next_month and spread alike (nothing is
  over-achieved, so all of H1's shortfall is carried out of it; spread puts only 100 + 150 = 250 of it into
  July). S1 short 50 a month: 300. Travel: S1 overspends 20 a month: -120; nobody else carries anything.
- H2 original: N1 9000, N2 6000, S1 (800 + 400) x 6 = 7200, L1 0. Travel: N1 600, N2 300, S1 480.
- Needed per H2 month = max(annual - H1 actual, 0) / 6: revenue N1 7200 / 6 = 1200, N2 7500 / 6 = 1250,
  S1 1250, L1 0; travel N1 720 / 6 = 120, N2 350 / 6 = 58, S1 360 / 6 = 60, L1 0.
- North: revenue 15000 -> 15300 (1.02), rollover 1500, H2 15000, annual 30000, 14700 / 6 = 2450; travel
  900 / 730, reported budget 600 + 250 = 850: used 0.8588, annual 1800, 1070 / 6 = 178.
  Score 0.765 + 0.25 x 1.1412 = 1.0503.
- South: revenue 6800 -> 6500 (0.9559), rollover 300, H2 7200, annual 14000, 7500 / 6 = 1250; travel
  480 / 600 (1.25), rollover -120, annual 960, 360 / 6 = 60. Score 0.716925 + 0.1875 = 0.9044. Ranks North,
  South.
- Company: revenue 21800 -> 21800 (1.0), rollover 1800, H2 22200, annual 44000, 22200 / 6 = 3700; travel
  1380 / 1330, reported budget 600 + 250 + 480 + 0 = 1330 (1.0), rollover -120, H2 1380, annual 2760,
  1430 / 6 = 238.
- Rollover is per person's total (the default `level = "total"`): nobody over-achieves a customer group
  while short in another, so each person's carry out of H1 is the same as per group.
"""

from __future__ import annotations

import csv
import random
import shutil
from dataclasses import replace
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sheetplan import api
from sheetplan.demo.simulate import input_areas, read_block
from sheetplan.plan.views import ReforecastMetric, ReforecastPlan
from sheetplan.reports.consolidate import consolidate
from sheetplan.reports.halfyear import (
    COMPANY_COLUMNS,
    PEOPLE_COLUMNS,
    TEAM_COLUMNS,
    h2_prefill,
    half_review,
    reforecast_plans,
    required_run_rate,
    write_half,
)
from sheetplan.templates.parts import Context
from sheetplan.templates.reforecast_book import build_reforecast
from sheetplan.workspace.config import Metric
from sheetplan.workspace.folder import open_workspace
from sheetplan.workspace.store import ACCEPTED, TargetRow
from sheetplan.xlsx.layout import is_signed_name
from sheetplan.xlsx.writer import render

YEAR = 2027
MONTHS = [f"2027-{m:02d}" for m in range(1, 13)]
H1, H2 = MONTHS[:6], MONTHS[6:]
CONFIG = """\
[company]
name = "Halfco"
currency = "EUR"
language = "{lang}"

[fiscal]
year = 2027
start_month = 1

[planning]
customer_groups = ["Key", "Web"]
selling_roles = ["rep"]

[[metrics]]
key = "revenue"
label_en = "Revenue"
label_zh = "销售额"
unit = "EUR"
decimals = 2
weight = 0.75

[[metrics]]
key = "travel"
label_en = "Travel"
label_zh = "差旅费"
unit = "EUR"
decimals = 0
higher_is_better = false
weight = 0.25

[rollover]
policy = "{policy}"
"""
ROSTER = [("G1", "Gina Boss", "", "gm", "", ""), ("M1", "Mona North", "North", "manager", "G1", ""),
          ("M2", "Sam South", "South", "manager", "G1", ""), ("N1", "Ann One", "North", "rep", "M1", ""),
          ("N2", "Nils Two", "North", "rep", "M1", ""), ("S1", "Sven One", "South", "rep", "M2", ""),
          ("L1", "Lea Leaver", "South", "rep", "M2", "2027-04")]
# person -> metric -> group -> twelve monthly targets
TARGETS = {
    "N1": {"revenue": {"Key": [1000.0] * 12, "Web": [500.0] * 12}, "travel": {"Key": [100.0] * 12, "Web": [0.0] * 12}},
    "N2": {"revenue": {"Key": [600.0] * 12, "Web": [400.0] * 12}, "travel": {"Key": [50.0] * 12, "Web": [0.0] * 12}},
    "S1": {"revenue": {"Key": [800.0] * 12, "Web": [0.0] * 6 + [400.0] * 6},
           "travel": {"Key": [80.0] * 12, "Web": [0.0] * 12}},
    "L1": {"revenue": {"Key": [500.0] * 4 + [0.0] * 8, "Web": [0.0] * 12}, "travel": {"Key": [0.0] * 12,
                                                                                       "Web": [0.0] * 12}},
}
ANNUAL = {"N1": {"revenue": 18000.0, "travel": 1200.0}, "N2": {"revenue": 12000.0, "travel": 600.0},
          "S1": {"revenue": 12000.0, "travel": 960.0}, "L1": {"revenue": 2000.0, "travel": 0.0}}
# person -> months reported -> (revenue Key, revenue Web, travel Key), the same every month reported
ACTUALS = {"N1": (H1, (1200.0, 600.0, 80.0)), "N2": (H1[:5], (600.0, 300.0, 50.0)),
           "S1": (H1, (750.0, 0.0, 100.0)), "L1": (H1[:4], (500.0, 0.0, 0.0))}


def make_office(root: Path, policy: str = "next_month", lang: str = "en"):
    api.init_workspace(root, year=YEAR, lang=lang)
    (root / "sheetplan.toml").write_text(CONFIG.format(policy=policy, lang=lang), encoding="utf-8")
    (root / "roster.xlsx").unlink()
    with (root / "roster.csv").open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["person_id", "name", "email", "team", "role", "reports_to", "start_month", "end_month",
                      "active"])
        for pid, name, team, role, boss, end in ROSTER:
            out.writerow([pid, name, f"{pid.lower()}@halfco.example", team, role, boss, "", end, "TRUE"])
    ws = open_workspace(root)
    store = ws.store()
    with store, store.transaction() as db:
        rows = [TargetRow("person", pid, str(YEAR), metric, "", value)
                for pid, annual in ANNUAL.items() for metric, value in annual.items()]
        rows += [TargetRow("person", pid, month, metric, group, value)
                 for pid, metrics in TARGETS.items() for metric, groups in metrics.items()
                 for group, values in groups.items() for month, value in zip(MONTHS, values, strict=True)]
        store.record_targets(rows, ACCEPTED, None, db)
        for pid, (months, (key, web, travel)) in ACTUALS.items():
            for month in months:
                report_month(db, pid, month, {"in_revenue": {"Key": key, "Web": web},
                                              "in_travel": {"Key": travel, "Web": 0.0}})
    return ws


def report_month(db, owner: str, month: str, blocks: dict[str, dict[str, float]]) -> None:
    """An accepted month report, as ingest leaves it in the ledger."""
    submission = db.execute(
        "INSERT INTO submissions (sha256, original_name, source_path, received_at, ingested_at, kind, owner, period,"
        " revision, status, problems, archive_path) VALUES (?, ?, ?, '2027-07-01', '2027-07-01', 'month', ?, ?, 1,"
        " 'accepted', '[]', '')", (f"{owner}-{month}", f"month-{owner}-{month}.xlsx", "inbox", owner, month)).lastrowid
    db.executemany("INSERT INTO submitted_values (submission_id, block, row_key, col_key, value)"
                   " VALUES (?, ?, ?, ?, ?)", [(submission, block, group, "actual", value)
                                               for block, groups in blocks.items() for group, value in groups.items()])


@pytest.fixture(scope="module")
def office(tmp_path_factory):
    return make_office(tmp_path_factory.mktemp("half") / "ws")


@pytest.fixture(scope="module")
def review(office):
    return half_review(office)


def record(frame, **where) -> dict:
    rows = frame
    for column, value in where.items():
        rows = rows[rows[column] == value]
    (row,) = rows.to_dict("records")
    return row


FIGURES = ("h1_target", "h1_actual", "h1_attainment", "h1_rollover", "h2_original", "annual_target",
           "required_run_rate")


# --- known answers -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("person, metric, expected", [
    ("N1", "revenue", (9000, 10800, 1.2, 0, 9000, 18000, 1200)),
    ("N2", "revenue", (6000, 4500, 0.75, 1500, 6000, 12000, 1250)),
    ("S1", "revenue", (4800, 4500, 0.9375, 300, 7200, 12000, 1250)),
    ("L1", "revenue", (2000, 2000, 1.0, 0, 0, 2000, 0)),
    ("N1", "travel", (600, 480, 0.8, 0, 600, 1200, 120)),
    ("N2", "travel", (300, 250, 1.0, 0, 300, 600, 58)),
    ("S1", "travel", (480, 600, 1.25, -120, 480, 960, 60)),
    ("L1", "travel", (0, 0, 1.0, 0, 0, 0, 0)),
])
def test_people_figures(review, person, metric, expected):
    row = record(review.people, person=person, metric=metric)
    assert tuple(row[f] for f in FIGURES) == expected


def test_people_scores_and_ranks(review):
    assert list(review.people.columns) == PEOPLE_COLUMNS
    assert review.month == "2027-06" and review.year == YEAR
    first = review.people.drop_duplicates("person").set_index("person")
    assert list(first.index) == ["N1", "S1", "N2", "L1"]  # company rank order, the unranked leaver last
    ranked = first.drop(index="L1")
    assert ranked["score"].to_dict() == {"N1": 1.2, "S1": 0.8906, "N2": 0.8125}
    assert ranked["rank_company"].to_dict() == {"N1": 1, "S1": 2, "N2": 3}
    assert ranked["rank_team"].to_dict() == {"N1": 1, "S1": 1, "N2": 2}
    assert first.loc["L1", ["score", "rank_company", "rank_team"]].isna().all()
    assert first["team"].to_dict() == {"N1": "North", "L1": "South", "S1": "South", "N2": "North"}
    assert first.loc["L1", "name"] == "Lea Leaver"


def test_ranks_are_consolidates_as_of_june(office, review):
    june = consolidate(office, "2027-06").people.set_index("person")
    first = review.people.drop_duplicates("person").set_index("person")
    for column in ("score", "rank_team", "rank_company"):
        assert first[column].dropna().to_dict() == june[column].dropna().to_dict()  # L1, gone by June: unranked


@pytest.mark.parametrize("team, metric, expected", [
    ("North", "revenue", (15000, 15300, 1.02, 1500, 15000, 30000, 2450)),
    ("North", "travel", (900, 730, 0.8588, 0, 900, 1800, 178)),
    ("South", "revenue", (6800, 6500, 0.9559, 300, 7200, 14000, 1250)),
    ("South", "travel", (480, 600, 1.25, -120, 480, 960, 60)),
])
def test_team_figures(review, team, metric, expected):
    row = record(review.teams, team=team, metric=metric)
    assert tuple(row[f] for f in FIGURES) == expected


def test_team_scores_and_ranks(review):
    assert list(review.teams.columns) == TEAM_COLUMNS
    assert list(review.teams["team"]) == ["North", "North", "South", "South"]
    ranked = review.teams.drop_duplicates("team").set_index("team")
    assert ranked["score"].to_dict() == {"North": 1.0503, "South": 0.9044}
    assert ranked["rank"].to_dict() == {"North": 1, "South": 2}


@pytest.mark.parametrize("metric, expected", [
    ("revenue", (21800, 21800, 1.0, 1800, 22200, 44000, 3700)),
    ("travel", (1380, 1330, 1.0, -120, 1380, 2760, 238)),
])
def test_company_figures(review, metric, expected):
    assert list(review.company.columns) == COMPANY_COLUMNS
    row = record(review.company, metric=metric)
    assert tuple(row[f] for f in FIGURES) == expected


def test_teams_and_company_are_sums_of_people(review):
    summed = ["h1_target", "h1_actual", "h1_rollover", "h2_original", "annual_target"]
    for metric in ("revenue", "travel"):
        people = review.people[review.people["metric"] == metric]
        company = record(review.company, metric=metric)
        for column in summed:
            assert people[column].sum() == pytest.approx(company[column])
            teams = review.teams[review.teams["metric"] == metric]
            assert teams[column].sum() == pytest.approx(company[column])


def test_rollover_under_spread_is_everything_carried_out_of_h1(office, tmp_path):
    """Spread sends only a share of N2's shortfall into July (Key 600 / 6 = 100; Web 150, see the module
    docstring); the review counts all that H1 hands on to H2, the same 1500 as next_month. The July figures
    are per customer group's own shortfall (`level = "group"`)."""
    root = tmp_path / "spread"
    shutil.copytree(office.root, root)
    toml = root / "sheetplan.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('"next_month"', '"spread"\nlevel = "group"'),
                    encoding="utf-8")
    ws = open_workspace(root)
    spread = half_review(ws)
    assert record(spread.people, person="N2", metric="revenue")["h1_rollover"] == 1500
    assert record(spread.people, person="S1", metric="revenue")["h1_rollover"] == 300
    assert record(spread.people, person="S1", metric="travel")["h1_rollover"] == -120
    facts = spread.consolidation.facts
    july = facts[(facts["level"] == "person") & (facts["person"] == "N2") & (facts["metric"] == "revenue")
                 & (facts["month"] == "2027-07")].set_index("customer_group")["rollover_in"]
    assert july.to_dict() == {"": 250, "Key": 100, "Web": 150}


@pytest.mark.parametrize("annual, actual, decimals, expected", [
    (18000, 10800, 2, 1200),
    (12000, 4500, 2, 1250),
    (600, 250, 0, 58),  # a budget: 350 left, at most 58 a month
    (960, 1000, 0, 0),  # a budget already overspent: nothing left to spend
    (2000, 2500, 2, 0),  # the year's target already reached
])
def test_required_run_rate(annual, actual, decimals, expected):
    assert required_run_rate(annual, actual, decimals) == expected


# --- the workbook --------------------------------------------------------------------------------------------


def test_workbook_sheets_and_cells(office, review):
    path = write_half(office, review)
    assert path == office.root / "reports" / "half-2027.xlsx" and review.workbook == path
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Summary", "Teams", "People", "Months"]
    summary = book["Summary"]
    assert summary["A1"].value == "Halfco: half-year review 2027 (H1 to 2027-06)"
    rows = [[c.value for c in row] for row in summary.iter_rows(min_row=3, max_row=5, max_col=8)]
    assert rows == [["Metric", "H1 target", "H1 actual", "H1 attainment", "Rollover into H2", "Original H2 plan",
                     "Annual target", "Needed per H2 month"],
                    ["Revenue (EUR)", 21800, 21800, 1, 1800, 22200, 44000, 3700],
                    ["Travel (EUR)", 1380, 1330, 1, -120, 1380, 2760, 238]]
    assert summary["B4"].number_format == "#,##0.00" and summary["B5"].number_format == "#,##0"
    assert summary["D4"].number_format == "0.0%"
    assert summary["A7"].value == "H1 attainment by team"
    by_team = [[c.value for c in row] for row in summary.iter_rows(min_row=8, max_row=10, max_col=5)]
    assert by_team == [["Team", "Rank", "H1 score", "Revenue", "Travel"], ["North", 1, 1.0503, 1.02, 0.8588],
                       ["South", 2, 0.9044, 0.9559, 1.25]]
    assert len(summary._charts) == 1
    teams = [[c.value for c in row] for row in book["Teams"].iter_rows(min_row=2, max_row=2, max_col=11)]
    assert teams == [[1, "North", 1.0503, "Revenue", 15000, 15300, 1.02, 1500, 15000, 30000, 2450]]
    people = book["People"]
    assert [c.value for c in people[1]][:7] == ["Rank in company", "Rank in team", "Person", "Name", "Team",
                                                "H1 score", "Metric"]
    assert [c.value for c in people[2]] == [1, 1, "N1", "Ann One", "North", 1.2, "Revenue", 9000, 10800, 1.2, 0,
                                            9000, 18000, 1200]
    assert [c.value for c in people[7]][:7] == [3, 2, "N2", "Nils Two", "North", 0.8125, "Travel"]
    assert [c.value for c in people[9]][:7] == [None, None, "L1", "Lea Leaver", "South", None, "Travel"]
    assert people["H9"].number_format == "#,##0" and people["J9"].number_format == "0.0%"
    assert people.freeze_panes == "E2" and people.auto_filter.ref


def test_workbook_labels_follow_the_workspace_language(tmp_path):
    ws = make_office(tmp_path / "zh", lang="zh")
    book = openpyxl.load_workbook(write_half(ws, half_review(ws)))
    assert book.sheetnames == ["半年汇总", "团队", "人员", "月份状态"]
    assert book["半年汇总"]["A4"].value == "销售额 (EUR)"
    assert book["人员"]["G2"].value == "销售额"


# --- the re-forecast plans -----------------------------------------------------------------------------------


def test_reforecast_plans_known_answers(office, review):
    plans = reforecast_plans(office, review)
    assert sorted(plans) == ["N1", "N2", "S1"]  # L1 left in April: no H2 to plan
    n2 = plans["N2"]
    assert (n2.owner_name, n2.period, n2.months, n2.groups) == ("Nils Two", "2027-H2", tuple(MONTHS), ("Key", "Web"))
    revenue, travel = n2.metrics
    assert (revenue.metric.key, revenue.annual_target, revenue.h2_required) == ("revenue", 12000, 7500)
    assert revenue.h1_actual == {"Key": (600,) * 5 + (0,), "Web": (300,) * 5 + (0,)}  # June not reported: 0
    assert revenue.h2_original == {"Key": (600,) * 6, "Web": (400,) * 6}
    assert revenue.h2_prefill == {"Key": (750,) * 6, "Web": (500,) * 6}  # 7500 in the shape 600 : 400
    # 350 over six equal months at whole numbers: 58 each and the 2 left to the earliest months
    assert (travel.h2_required, travel.h2_prefill) == (350, {"Key": (59, 59, 58, 58, 58, 58), "Web": (0,) * 6})
    s1 = plans["S1"].metrics[0]
    # 7500 in the shape Key 800 : Web 400: 833.33... and 416.66..., the spare cents to the larger remainders
    assert s1.h2_prefill == {"Key": (833.33,) * 6, "Web": (416.67,) * 6}
    assert plans["N1"].metrics[0].h2_prefill == {"Key": (800,) * 6, "Web": (400,) * 6}


def test_prefill_without_an_original_plan_goes_equally_over_active_months():
    zero = {"Key": (0.0,) * 6, "Web": (0.0,) * 6}
    active = [False, False, True, True, True, True]  # joins in the third H2 month
    assert h2_prefill(100, zero, active, 0) == {"Key": (0, 0, 13, 13, 13, 13), "Web": (0, 0, 12, 12, 12, 12)}


@settings(max_examples=60, deadline=None)
@given(units=st.integers(min_value=0, max_value=10**9),
       weights=st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=12, max_size=12),
       active=st.lists(st.booleans(), min_size=6, max_size=6).filter(any),
       decimals=st.integers(min_value=0, max_value=2))
def test_prefill_adds_up_exactly(units, weights, active, decimals):
    # h2_required is always rounded to the metric's decimals first: draw it as whole units of that size
    required = units / 10**decimals
    original = {"Key": tuple(weights[:6]), "Web": tuple(weights[6:])}
    prefill = h2_prefill(required, original, active, decimals)
    cells = [v for values in prefill.values() for v in values]
    assert sum(round(v * 10**decimals) for v in cells) == units
    assert min(cells) >= 0
    if any(weights):  # cells without an original plan get nothing
        assert all(v == 0 for v, w in zip(cells, weights, strict=True) if w == 0)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo workspace with random accepted month reports for H1 (some months missing), some far above
    target so that the year's target is already met."""
    ws = api.init_workspace(tmp_path_factory.mktemp("demo") / "ws", demo=True, year=YEAR)
    rng = random.Random(5)
    store = ws.store()
    with store, store.transaction() as db:
        for person in ws.roster.sellers(ws.config):
            for month in ws.config.months[:6]:
                if rng.random() < 0.15:
                    continue
                pace = rng.choice((0.0, 0.5, 0.9, 1.1, 4.0))
                report_month(db, person.person_id, month, {
                    f"in_{m.key}": {g: round(rng.uniform(0, 2) * pace * 10**(4 - m.decimals), m.decimals)
                                    for g in ws.config.customer_groups} for m in ws.config.metrics})
    return ws


def test_demo_prefill_adds_up_to_what_h2_needs(demo):
    review = half_review(demo)
    plans = reforecast_plans(demo, review)
    people = review.people.set_index(["person", "metric"])
    assert len(plans) > 20
    clipped = 0
    for owner, plan in plans.items():
        for m in plan.metrics:
            d = m.metric.decimals
            cells = [v for group in plan.groups for v in m.h2_prefill[group]]
            assert len(cells) == 6 * len(plan.groups) and min(cells) >= 0
            assert round(sum(cells), d) == m.h2_required, (owner, m.metric.key)
            figures = people.loc[(owner, m.metric.key)]
            assert m.h2_required == round(max(figures["annual_target"] - figures["h1_actual"], 0), d)
            assert figures["required_run_rate"] == round(m.h2_required / 6, d)
            clipped += m.h2_required == 0
    assert clipped  # some people have already made their year


# --- the template --------------------------------------------------------------------------------------------

REVENUE = Metric("revenue", "Revenue", "销售额", "EUR", decimals=2, max_value=1e7)
UNITS = Metric("units", "Units", "数量", "units", decimals=0, max_value=1e5)


def hand_plan(note: str = "") -> ReforecastPlan:
    revenue = ReforecastMetric(
        REVENUE, 12000.0, h1_actual={"Key": (900.0, 950.5, 1000.0, 0.0, 700.0, 800.0), "Web": (100.0,) * 6},
        h2_original={"Key": (1000.0,) * 6, "Web": (500.0,) * 6},
        h2_prefill={"Key": (783.25,) * 5 + (783.26,), "Web": (391.66,) * 5 + (391.69,)}, h2_required=7049.5)
    units = ReforecastMetric(
        UNITS, 120.0, h1_actual={"Key": (10.0,) * 6, "Web": (0.0,) * 6}, h2_original={"Key": (5.0,) * 6,
                                                                                       "Web": (5.0,) * 6},
        h2_prefill={"Key": (5.0,) * 6, "Web": (5.0,) * 6}, h2_required=60.0)
    return ReforecastPlan("N1", "Ann One", "2027-H2", tuple(MONTHS), ("Key", "Web"), (revenue, units), note)


CTX = Context("Halfco", "en", YEAR, "EUR", "ws-1", "2027-07-01T09:00:00+00:00", b"k" * 32)


def rendered(tmp_path, plan: ReforecastPlan):
    template = build_reforecast(plan, CTX, 1)
    path = tmp_path / template.file_name
    path.write_bytes(render(template, "secret"))
    return template, openpyxl.load_workbook(path)


def test_template_layout_by_meaning(tmp_path):
    template, book = rendered(tmp_path, hand_plan())
    assert (template.kind, template.period, template.meta["kind"]) == ("reforecast", "2027-H2", "reforecast")
    assert template.file_name == "reforecast-2027-H2-N1-Ann_One.xlsx"
    assert book.sheetnames == ["Instructions", "Revenue", "Units", "_meta"]
    areas = input_areas(book)
    expected = {f"{prefix}_{key}" for key in ("revenue", "units")
                for prefix in ("in", "rows", "cols", "target", "locked_annual", "locked_h1", "locked_h2_original")}
    assert set(areas) == expected
    sheet = book["Revenue"]
    assert sheet.protection.sheet
    assert read_block(book, areas["target_revenue"]) == [[7049.5]]  # 12000 - 4950.5 done in H1
    assert read_block(book, areas["locked_annual_revenue"]) == [[12000]]
    assert read_block(book, areas["rows_revenue"]) == [["Key"], ["Web"]]
    assert read_block(book, areas["cols_revenue"]) == [MONTHS[6:]]
    assert read_block(book, areas["locked_h1_revenue"]) == [[900, 950.5, 1000, 0, 700, 800], [100] * 6]
    assert read_block(book, areas["locked_h2_original_revenue"]) == [[1000] * 6, [500] * 6]
    inputs = read_block(book, areas["in_revenue"])
    assert inputs == [[783.25] * 5 + [783.26], [391.66] * 5 + [391.69]]
    assert round(sum(map(sum, inputs)), 2) == 7049.5  # the pre-fill adds up to the H2 total to plan
    in_area, h1_area = areas["in_revenue"], areas["locked_h1_revenue"]
    assert (in_area.first_col, in_area.last_col, h1_area.first_col, h1_area.last_col) == (7, 12, 1, 6)
    assert in_area.first_row == h1_area.first_row  # one grid: H1 and H2 of a group on one row
    for row in sheet.iter_rows(min_row=in_area.first_row + 1, max_row=in_area.last_row + 1, min_col=2, max_col=13):
        assert [c.protection.locked for c in row] == [True] * 6 + [False] * 6
    assert sheet["A5"].value == "Annual target" and sheet["A7"].value == "H2 to plan"
    assert sheet["B9"].value == "=ROUND(B7-SUM(H13:M14),2)"  # left to allocate
    assert sheet["N13"].value == "=SUM(B13:G13)" and sheet["O14"].value == "=SUM(H14:M14)"
    assert sheet["A4"].value is None  # no note unless the plan was sent back
    validation = next(v for v in sheet.data_validations.dataValidation if "H13" in str(v.sqref))
    assert (validation.type, float(validation.formula2)) == ("decimal", 1e7)


def test_template_signs_every_locked_figure(tmp_path):
    template, _book = rendered(tmp_path, hand_plan())
    signed = {name for name in template.names if is_signed_name(name)}
    assert signed == set(template.signed_values)
    assert template.signed_values["target_units"] == [60.0]
    assert template.signed_values["locked_h1_units"] == [10.0] * 6 + [0.0] * 6
    blocks = {b.name: b for b in template.blocks}
    assert blocks["in_units"].row_keys == ("Key", "Web") and blocks["in_units"].col_keys == tuple(MONTHS[6:])
    assert (blocks["in_units"].metric, blocks["in_units"].decimals, blocks["in_units"].maximum) == ("units", 0, 1e5)


def test_template_shows_the_approvers_note_in_red(tmp_path):
    note = "Sent back on 2027-07-20 by Mona North (M1), manager: too much in December"
    _template, book = rendered(tmp_path, hand_plan(note))
    for name in ("Revenue", "Units"):
        cell = book[name]["A4"]
        assert cell.value == note and cell.font.color.rgb.endswith("C00000") and cell.font.b


def test_template_in_chinese(tmp_path):
    plan = hand_plan()
    template = build_reforecast(plan, replace(CTX, lang="zh"), 2)
    assert [s.name for s in template.sheets] == ["填写说明", "销售额", "数量"]
    cells = {(c.row, c.col): c.value for c in template.sheets[1].cells}
    assert cells[(4, 0)] == "年度目标" and cells[(6, 0)] == "下半年需规划" and template.meta["revision"] == "2"


def test_generated_templates_come_back_clean(office, tmp_path):
    """generate -> return unchanged -> ingest: the pre-filled template passes every check as it stands."""
    from sheetplan.api import ingest

    root = tmp_path / "round"
    shutil.copytree(office.root, root)
    ws = open_workspace(root)
    generated = api.generate(ws, "reforecast")
    assert generated.period == "2027-H2" and len(generated.files) == 3
    inbox = ws.folder("inbox") / "h2"
    inbox.mkdir(parents=True)
    for path in generated.files:
        shutil.copy(path, inbox / path.name)
    report = ingest(ws, [inbox])
    assert report.counts["accepted"] == 3, report.to_frame().to_dict("records")
