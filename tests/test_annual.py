"""The annual summary on a tiny office played through a whole year of real month reports.

The office (fiscal year 2027, groups Key and Web, allocation by history shares, flat, no growth):
- North: N1 (history: 1000 revenue and 10 units per group and month in 2026) and N2 (new, no history: the
  `average` rule gives N2 the same share as N1). South: S1 (500 revenue and 5 units per group and month).
- Targets: North revenue 24000 (N1 12000, N2 12000), units 240 (120 each); South 12000 revenue, 120 units.
  So every person's monthly target is 500 revenue and 5 units per group.
- Actuals, every month and per group: N1 600 revenue and 5 units, N2 450 and 4, S1 400 and 6.

Worked out by hand (weights: revenue 0.75, units 0.25):
- N1 revenue 14400 / 12000 = 1.2, growth 14400 / 24000 - 1 = -0.4; units 120 / 120 = 1.0, growth -0.5.
- N2 revenue 10800 / 12000 = 0.9, units 96 / 120 = 0.8; no 2026: growth empty.
- S1 revenue 9600 / 12000 = 0.8, growth -0.2; units 144 / 120 = 1.2, growth 0.2.
- Scores: N1 1.2 x .75 + 1.0 x .25 = 1.15; S1 .6 + .3 = 0.9; N2 .675 + .2 = 0.875.
- Bands C < 0.88 <= B < 1.0 <= A: N1 A, S1 B, N2 C.
- North revenue 25200 / 24000 = 1.05, growth 0.05; units 216 / 240 = 0.9, growth -0.1; score 1.0125.
- South = S1: score 0.9. Company revenue 34800 / 36000 = 0.9667, growth -0.0333; units 360 / 360, growth 0.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from sheetplan import api
from sheetplan.api import ingest
from sheetplan.cli import main
from sheetplan.demo.simulate import fill_file
from sheetplan.errors import ConfigError
from sheetplan.reports.annual import TOTAL_COLUMNS, annual_summary, growth, write_annual
from sheetplan.workspace.config import DEFAULT_BANDS, parse_config
from sheetplan.workspace.folder import open_workspace
from sheetplan.workspace.roster import HISTORY_COLUMNS, load_history

YEAR = 2027
GROUPS = ("Key", "Web")
CONFIG = """\
[company]
name = "Annualco"
currency = "EUR"
language = "en"

[fiscal]
year = {year}
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
key = "units"
label_en = "Units"
label_zh = "数量"
unit = "units"
decimals = 0
weight = 0.25

[allocation]
method = "history"
seasonality = "flat"
growth = 0.0
no_history = "average"

[rollover]
policy = "none"

[review]
bands = [{{name = "C", below = 0.88}}, {{name = "B", below = 1.0}}, {{name = "A", below = inf}}]
"""
ROSTER = [("G1", "Gina Boss", "", "gm", ""), ("M1", "Mona North", "North", "manager", "G1"),
          ("M2", "Sam South", "South", "manager", "G1"), ("N1", "Ann One", "North", "rep", "M1"),
          ("N2", "=Nils Two", "North", "rep", "M1"), ("S1", "Sven One", "South", "rep", "M2")]
# per group and month: (revenue, units)
HISTORY = {"N1": (1000, 10), "S1": (500, 5)}
ACTUALS = {"N1": (600, 5), "N2": (450, 4), "S1": (400, 6)}


def make_workspace(root: Path, year: int, history_rows: list[list] | None = None):
    api.init_workspace(root, year=year)
    (root / "sheetplan.toml").write_text(CONFIG.format(year=year), encoding="utf-8")
    (root / "roster.xlsx").unlink()
    with (root / "roster.csv").open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["person_id", "name", "email", "team", "role", "reports_to", "start_month", "end_month",
                      "active"])
        for pid, name, team, role, boss in ROSTER:
            out.writerow([pid, name, f"{pid.lower()}@annualco.example", team, role, boss, "", "", "TRUE"])
    if history_rows is not None:
        with (root / "history.csv").open("w", newline="", encoding="utf-8") as handle:
            out = csv.writer(handle)
            out.writerow(list(HISTORY_COLUMNS))
            out.writerows(history_rows)
    workspace = open_workspace(root)
    api.refresh_plan(workspace)
    return workspace


def build_year(root: Path):
    """2026 history, then every month of 2027 sent, filled with ACTUALS and ingested in one batch."""
    rows = [[f"2026-{m:02d}", pid, g, metric, value] for pid, (revenue, units) in HISTORY.items()
            for m in range(1, 13) for g in GROUPS for metric, value in (("revenue", revenue), ("units", units))]
    ws = make_workspace(root, YEAR, rows)
    inbox = ws.folder("inbox") / "months"
    for month in ws.config.months:
        for path in api.generate(ws, "month", month=month).files:
            owner = path.name.split("-")[3]  # month-YYYY-MM-<owner>-<name>.xlsx
            revenue, units = ACTUALS[owner]
            fill_file(path, inbox / path.name, {"in_revenue": [[revenue]] * 2, "in_units": [[units]] * 2})
    report = ingest(ws, [inbox])
    assert report.counts["accepted"] == 36, report.to_frame().to_dict("records")
    return open_workspace(root)


@pytest.fixture(scope="module")
def office(tmp_path_factory):
    return build_year(tmp_path_factory.mktemp("annual") / "ws")


@pytest.fixture(scope="module")
def summary(office):
    result = annual_summary(office)
    write_annual(office, result)
    return result


def total(summary, level: str, owner: str, metric: str) -> dict:
    t = summary.totals
    key = {"company": t["level"] == "company", "team": (t["level"] == "team") & (t["team"] == owner),
           "person": (t["level"] == "person") & (t["person"] == owner)}[level]
    (row,) = t[key & (t["metric"] == metric)].to_dict("records")
    return row


def empty(value) -> bool:
    """Missing as pandas' <NA> (None once out of the frame), not a NaN float."""
    return value is pd.NA or value is None


# --- known answers -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("level, owner, metric, target, actual, attainment, prior, growth_", [
    ("person", "N1", "revenue", 12000, 14400, 1.2, 24000, -0.4),
    ("person", "N1", "units", 120, 120, 1.0, 240, -0.5),
    ("person", "N2", "revenue", 12000, 10800, 0.9, None, None),
    ("person", "N2", "units", 120, 96, 0.8, None, None),
    ("person", "S1", "revenue", 12000, 9600, 0.8, 12000, -0.2),
    ("person", "S1", "units", 120, 144, 1.2, 120, 0.2),
    ("team", "North", "revenue", 24000, 25200, 1.05, 24000, 0.05),
    ("team", "North", "units", 240, 216, 0.9, 240, -0.1),
    ("team", "South", "revenue", 12000, 9600, 0.8, 12000, -0.2),
    ("company", "", "revenue", 36000, 34800, 0.9667, 36000, -0.0333),
    ("company", "", "units", 360, 360, 1.0, 360, 0.0),
])
def test_totals_attainment_and_growth(summary, level, owner, metric, target, actual, attainment, prior, growth_):
    row = total(summary, level, owner, metric)
    assert (row["target"], row["actual"], row["attainment"]) == (target, actual, attainment)
    if prior is None:
        assert empty(row["prior_actual"]) and empty(row["growth"])  # empty, never NaN or inf
    else:
        assert (row["prior_actual"], row["growth"]) == (prior, growth_)


def test_totals_have_a_row_per_owner_and_metric(summary):
    assert list(summary.totals.columns) == TOTAL_COLUMNS
    assert len(summary.totals) == 2 * (1 + 2 + 3)
    assert summary.month == "2027-12" and summary.year == YEAR


def test_growth_is_empty_without_a_prior():
    assert [None if v is pd.NA else v for v in growth([110, 5, 7], [100, None, 0]).tolist()] == [0.1, None, None]


def test_rankings_scores_and_bands(summary):
    people = summary.people.set_index("person")
    assert list(summary.people["person"]) == ["N1", "S1", "N2"]
    assert people["score"].to_dict() == {"N1": 1.15, "S1": 0.9, "N2": 0.875}
    assert people["rank_company"].to_dict() == {"N1": 1, "S1": 2, "N2": 3}
    assert people["rank_team"].to_dict() == {"N1": 1, "S1": 1, "N2": 2}
    assert people["band"].to_dict() == {"N1": "A", "S1": "B", "N2": "C"}
    assert list(summary.teams["team"]) == ["North", "South"]
    assert summary.teams.set_index("team")["score"].to_dict() == {"North": 1.0125, "South": 0.9}


def test_scorecard_points_add_up_to_consolidates_score(summary):
    card = summary.scorecard.set_index("person")
    assert card.loc["N1", "revenue_points"] == 0.9 and card.loc["N1", "units_points"] == 0.25
    assert card.loc["N1", "revenue_weight"] == 0.75
    for person, row in card.iterrows():
        assert row["revenue_points"] + row["units_points"] == pytest.approx(row["score"], abs=1e-4), person


# --- config ------------------------------------------------------------------------------------------------


def test_bands_default_and_checks():
    base = CONFIG.format(year=YEAR).split("[review]")[0]
    assert parse_config(base).review.bands == DEFAULT_BANDS
    assert parse_config(base).review.band(0.95) == "on target"
    bad = base + '[review]\nbands = [{name = "x", below = 1.0}, {name = "x", below = 0.5}, {below = "a"}]\nextra = 1\n'
    with pytest.raises(ConfigError) as caught:
        parse_config(bad)
    fields = sorted(p.field for p in caught.value.problems)
    assert fields == ["review.bands[1].below", "review.bands[1].name", "review.bands[2].below",
                      "review.bands[2].name", "review.extra"]


# --- files -------------------------------------------------------------------------------------------------


def test_workbook_sheets_chart_and_values(summary):
    assert summary.workbook.name == "annual-2027.xlsx"
    book = openpyxl.load_workbook(summary.workbook)
    assert book.sheetnames == ["Summary", "Teams", "People", "Scorecard", "Months"]
    assert len(book["Summary"]._charts) == 2
    headline = [[c.value for c in row] for row in book["Summary"].iter_rows(min_row=4, max_row=5, max_col=6)]
    assert headline == [["Revenue (EUR)", 36000, 34800, 0.9667, 36000, -0.0333],
                        ["Units (units)", 360, 360, 1, 360, 0]]
    people = book["People"]
    assert people.freeze_panes == "E2" and people.auto_filter.ref
    rows = [[c.value for c in row] for row in people.iter_rows(min_row=2, max_col=11)]
    assert rows == [[1, 1, "N1", "Ann One", "North", 1.15, "A", 12000, 14400, 1.2, -0.4],
                    [2, 1, "S1", "Sven One", "South", 0.9, "B", 12000, 9600, 0.8, -0.2],
                    [3, 2, "N2", "=Nils Two", "North", 0.875, "C", 12000, 10800, 0.9, None]]
    assert people["D4"].data_type == "s"  # a name starting with '=' stays text
    assert people["J2"].number_format == "0.0%" and people["H2"].number_format == "#,##0.00"
    teams = [[c.value for c in row] for row in book["Teams"].iter_rows(min_row=2, max_col=9)]
    assert teams[0] == [1, "North", 1.0125, "Revenue", 24000, 25200, 1.05, 24000, 0.05]
    assert teams[3] == [2, "South", 0.9, "Units", 120, 144, 1.2, 120, 0.2]
    card = [c.value for c in book["Scorecard"][2]]
    assert card == [1, "N1", "Ann One", "North", 1.2, 0.75, 0.9, 1, 0.25, 0.25, 1.15, "A"]


def test_history_export_reads_back_as_history(office, summary):
    assert summary.history_file.name == "history-2027.xlsx"
    frame, warnings = load_history(summary.history_file, office.config, office.roster)
    assert warnings == [] and list(frame.columns) == list(HISTORY_COLUMNS)
    assert len(frame) == 12 * 3 * 2 * 2
    sums = frame.groupby(["person_id", "metric"], observed=True)["value"].sum().to_dict()
    assert sums == {("N1", "revenue"): 14400, ("N1", "units"): 120, ("N2", "revenue"): 10800,
                    ("N2", "units"): 96, ("S1", "revenue"): 9600, ("S1", "units"): 144}
    one = frame[(frame["month"] == "2027-05") & (frame["person_id"] == "N2") & (frame["customer_group"] == "Web")]
    assert dict(zip(one["metric"], one["value"])) == {"revenue": 450, "units": 4}


def test_next_years_allocation_reproduces_this_years_shares(office, summary, tmp_path):
    ws = make_workspace(tmp_path / "next", YEAR + 1)
    shutil.copy(summary.history_file, ws.root / "history.xlsx")
    ws = open_workspace(ws.root)
    api.refresh_plan(ws)
    with ws.store() as store:
        targets = {(r.owner, r.metric): r.value for r in store.current_targets()
                   if r.level == "person" and r.period == str(YEAR + 1)}
    actual = summary.totals[summary.totals["level"] == "person"].set_index(["person", "metric"])["actual"]
    for team, members in (("North", ["N1", "N2"]), ("South", ["S1"])):
        for metric in ws.config.metrics:
            team_target = sum(targets[(p, metric.key)] for p in members)
            team_actual = sum(actual[(p, metric.key)] for p in members)
            assert team_target == team_actual  # no growth: next year's team target is this year's actual
            for person in members:
                share = actual[(person, metric.key)] / team_actual
                assert abs(targets[(person, metric.key)] - team_target * share) <= 0.5 * 10 ** -metric.decimals, \
                    (team, person, metric.key)


def test_workbook_labels_follow_the_workspace_language(office, tmp_path):
    root = tmp_path / "zh"
    shutil.copytree(office.root, root)
    toml = root / "sheetplan.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('language = "en"', 'language = "zh"'), encoding="utf-8")
    ws = open_workspace(root)
    workbook, _history = write_annual(ws, annual_summary(ws))
    book = openpyxl.load_workbook(workbook)
    assert book.sheetnames == ["年度汇总", "团队", "人员", "计分卡", "月份状态"]
    assert book["年度汇总"]["A4"].value == "销售额 (EUR)"


# --- command line ------------------------------------------------------------------------------------------


def test_cli_review_annual(office, summary):
    """The annual review signs the year's figures, so it runs once every month is closed."""
    still_open = CliRunner().invoke(main, ["-w", str(office.root), "review", "annual", "--year", str(YEAR)])
    assert still_open.exit_code == 2 and "2027-01, 2027-02" in still_open.stderr
    closed = CliRunner().invoke(main, ["-w", str(office.root), "close", "2027-12"])
    assert closed.exit_code == 0, closed.output
    result = CliRunner().invoke(main, ["-w", str(office.root), "review", "annual", "--year", str(YEAR)])
    assert result.exit_code == 0, result.output
    assert str(office.root / "reports" / "annual-2027.xlsx") in result.stdout
    assert str(office.root / "reports" / "history-2027.xlsx") in result.stdout
    wrong = CliRunner().invoke(main, ["-w", str(office.root), "review", "annual", "--year", "2026"])
    assert wrong.exit_code == 2 and "2027" in wrong.stderr


def test_review_commands_have_help_with_an_example():
    for args in (["review", "--help"], ["review", "annual", "--help"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0 and "Example: sheetplan" in result.stdout


def test_charts_sit_side_by_side_with_separators_and_the_dashboards_colours(summary):
    """Two charts per row placed by pixels: the right one starts where the left one ends (620 px + 20), so
    neither covers the other's legend; value axes show thousands separators; target is drawn first in the
    Dashboard's target colour, actual second in its actual colour."""
    import zipfile
    from xml.etree import ElementTree

    from sheetplan.reports.book import ACTUAL_COLOUR, CHART_WIDTH, TARGET_COLOUR

    a = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
    c = "{http://schemas.openxmlformats.org/drawingml/2006/chart}"
    xdr = "{http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing}"
    with zipfile.ZipFile(summary.workbook) as z:
        drawing = ElementTree.fromstring(z.read("xl/drawings/drawing1.xml"))
        charts = [ElementTree.fromstring(z.read(n)) for n in sorted(z.namelist()) if n.startswith("xl/charts/chart")]
    anchors = drawing.findall(f"{xdr}twoCellAnchor")
    assert len(anchors) == 2

    def edge(anchor, end: str) -> tuple[int, int]:
        node = anchor.find(f"{xdr}{end}")
        return int(node.find(f"{xdr}col").text), int(node.find(f"{xdr}colOff").text)

    left_end, right_start = edge(anchors[0], "to"), edge(anchors[1], "from")
    assert right_start > left_end  # (column, offset) compared in order: the right chart begins after the left
    assert CHART_WIDTH == 620
    for chart in charts:
        formats = {n.get("formatCode") for n in chart.iter(f"{c}numFmt")}
        assert "#,##0" in formats
        colours = [ser.find(f"{c}spPr/{a}solidFill/{a}srgbClr").get("val") for ser in chart.iter(f"{c}ser")]
        assert colours == [TARGET_COLOUR.lstrip("#"), ACTUAL_COLOUR.lstrip("#")]
        assert chart.find(f".//{c}legend/{c}legendPos").get("val") == "b"
