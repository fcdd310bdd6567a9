"""Figures a VP can sign: the Company sheet after an approved re-forecast, bounded budgets in every workbook,
closed months that stay closed, reviews only on a closed period, and the history's gaps said out loud.

Two offices, both played through real files where a person would send one:
- Halfco (tests/test_halfyear.py): four sellers whose H1 month reports are in the store; their H2
  re-forecasts are generated, returned unchanged and ingested (approval chains off, so they are official at
  once); H2 is then reported and the year closed.
- Testco (tests/test_consolidate.py): two sellers whose month reports are generated, filled and ingested; the
  late file is a corrected January sent after January was closed.
"""

from __future__ import annotations

import csv
import math
import re
import shutil
import sqlite3
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import without_approvals
from test_consolidate import Seller, return_month
from test_consolidate import make_workspace as make_testco
from test_halfyear import H2, MONTHS, make_office, report_month

from sheetplan import api
from sheetplan.cli import main
from sheetplan.demo.simulate import fill_file, input_areas, read_block
from sheetplan.errors import ConfigError, OpenPeriod
from sheetplan.reports.annual import run_annual
from sheetplan.reports.consolidate import consolidate
from sheetplan.reports.facts import USED_CAP
from sheetplan.reports.halfyear import run_half
from sheetplan.reports.monthend import run_consolidation
from sheetplan.workspace.config import parse_config
from sheetplan.workspace.folder import open_workspace
from sheetplan.workspace.history_check import history_warnings
from sheetplan.workspace.store import MIGRATIONS, Store

DEC = MONTHS[-1]
# H2 month reports of Halfco, per person: (revenue Key, revenue Web, travel Key), with cents so that sums of
# floats would show noise (0.1 + 0.2 style) if the cumulative figures were not rounded
H2_SOLD = {"N1": (1234.56, 617.28, 95.0), "N2": (700.1, 400.2, 61.0), "S1": (900.3, 450.15, 70.0)}


def run(args: list[str]):
    return CliRunner().invoke(main, args)


# --- Halfco through an approved re-forecast ----------------------------------------------------------------


@pytest.fixture(scope="module")
def reforecast_year(tmp_path_factory):
    """Halfco with its H2 re-forecasts approved (returned as pre-filled), H2 reported, every month closed."""
    root = tmp_path_factory.mktemp("signed") / "ws"
    make_office(root)
    without_approvals(root)
    ws = open_workspace(root)
    generated = api.generate(ws, "reforecast")
    inbox = ws.folder("inbox") / "h2"
    inbox.mkdir(parents=True)
    for path in generated.files:
        shutil.copy(path, inbox / path.name)
    report = api.ingest(ws, [inbox])
    assert report.counts["accepted"] == 3, report.to_frame().to_dict("records")
    store = ws.store()
    with store, store.transaction() as db:
        for pid, (key, web, travel) in H2_SOLD.items():
            for month in H2:
                report_month(db, pid, month, {"in_revenue": {"Key": key, "Web": web},
                                              "in_travel": {"Key": travel, "Web": 0.0}})
    api.close_month(ws, DEC)
    return open_workspace(root)


@pytest.fixture(scope="module")
def december(reforecast_year):
    return run_consolidation(reforecast_year, DEC, people=True)


def test_company_sheet_against_the_dashboard_after_the_re_forecast(december):
    """At December the Company sheet's cumulative target is the Dashboard's annual (and YTD) target.

    Travel, worked out by hand: H1 budgets N1 600, N2 300, S1 480, L1 0 = 1380, spent 480 + 250 + 600 = 1330.
    The re-forecasts plan what each year still needs: N1 1200 - 480 = 720, N2 600 - 250 = 350, S1 960 - 600 =
    360 (1430). The year is measured against H1's actual plus the H2 plan: 1330 + 1430 = 2760, the sum of the
    annual targets (1200 + 600 + 960 + 0). A running sum of the month targets would end on 1380 + 1430 = 2810,
    H1's 50 unspent counted twice (the sheet used to show that). Revenue: H1 sold 21800 of 21800, so its annual
    target stays 18000 + 12000 + 12000 + 2000 = 44000.
    Cumulative actual at December: travel 1330 + 6 x (95 + 61 + 70) = 2686; revenue 21800 + 6 x (1851.84 +
    1100.30 + 1350.45) = 21800 + 25815.54 = 47615.54, exact to the cent.
    """
    book = openpyxl.load_workbook(december.summary)
    dashboard, company = book["Dashboard"], book["Company"]
    heads = {dashboard.cell(r, 1).value: r for r in range(4, 6)}
    expected = {"Revenue (EUR)": (44000, 47615.54), "Travel (EUR)": (2760, 2686)}
    blocks = {company.cell(r, 1).value: r for r in range(1, company.max_row + 1)
              if company.cell(r, 1).value in expected}
    for label, (annual, actual) in expected.items():
        r = heads[label]
        assert dashboard.cell(r, 2).value == annual and dashboard.cell(r, 3).value == annual  # annual, YTD target
        assert dashboard.cell(r, 4).value == actual
        last = blocks[label] + 2 + 11  # the block's title, its header, then January .. December
        assert company.cell(last, 1).value == DEC
        assert company.cell(last, 8).value == annual  # cumulative target
        assert company.cell(last, 9).value == actual  # cumulative actual, no float noise
    for r in range(3, company.max_row + 1):  # every cumulative figure is rounded to its metric's decimals
        for col in (8, 9):
            value = company.cell(r, col).value
            if isinstance(value, float):
                assert value == round(value, 2), (r, col, value)
    # June: the H1 plan, 1380; July: H1 spent 1330 + July's re-forecast budgets N1 120, N2 59 (350 over six
    # months at whole units, the 2 left over to the earliest), S1 60 = 1569
    travel = blocks["Travel (EUR)"] + 2
    assert [company.cell(travel + i, 8).value for i in (5, 6)] == [1380, 1569]


def _pct_cells(book):
    """(sheet, row, col, value) of every cell formatted as a percentage."""
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.number_format == "0.0%":
                    yield ws.title, cell.row, cell.column, cell.value


def _budget_cells(book, labels=("Travel", "Travel (EUR)")):
    """Percentage cells that hold a budget figure: in a row naming the budget metric, in a column whose
    header names it, or in the Matrix block / Company block titled with it."""
    for ws in book.worksheets:
        columns = {c.column for row in ws.iter_rows(max_row=1) for c in row
                   if isinstance(c.value, str) and c.value.startswith("Travel")}
        in_block = False
        for row in ws.iter_rows():
            first = row[0].value
            if isinstance(first, str) and row[0].font.b and ":" in first or first in ("Revenue (EUR)",
                                                                                       "Travel (EUR)"):
                in_block = str(first).startswith("Travel")
            named = any(c.value in labels for c in row)
            for cell in row:
                if cell.number_format == "0.0%" and (named or in_block or cell.column in columns):
                    yield ws.title, cell.row, cell.column, cell.value


def test_every_budget_attainment_in_every_workbook_is_finite_and_bounded(reforecast_year, december, tmp_path):
    """Budget used is within [0, 1000 %] wherever it is written; no percentage is text (inf, nan) anywhere."""
    ws = reforecast_year
    half = run_half(ws)
    annual = run_annual(ws)
    books = [december.summary, *december.team_files, *december.person_files, half.workbook, annual.workbook]
    seen = 0
    for path in books:
        book = openpyxl.load_workbook(path)
        for sheet, r, c, value in _pct_cells(book):
            assert value is None or isinstance(value, (int, float)), (path.name, sheet, r, c, value)
        for sheet, r, c, value in _budget_cells(book):
            if value is not None:
                seen += 1
                assert math.isfinite(value) and 0 <= value <= USED_CAP, (path.name, sheet, r, c, value)
    assert seen > 50
    facts = december.facts
    budget = facts[facts["metric"] == "travel"]
    for column in ("attainment", "ytd_attainment"):
        assert budget[column].dropna().between(0, USED_CAP).all()
    for frame in (half.people, half.teams, half.company):
        assert frame.loc[frame["metric"] == "travel", "h1_attainment"].dropna().between(0, USED_CAP).all()


def test_no_month_without_a_report_counts_as_met(december, reforecast_year):
    """N2 sent no June report: June has no attainment in the facts and a blank, uncoloured Matrix cell. N2's
    travel year to date at December: spent 250 (January to May) + 6 x 61 = 616, against the year as the
    re-forecast measures it, H1's 250 spent + the H2 budget of 350 = 600: budget used 1.0267. June, not
    reported, is in neither. L1 left in April: May on has neither a target nor a report, and stays blank."""
    f = december.facts
    june = f[(f["level"] == "person") & (f["person"] == "N2") & (f["month"] == "2027-06")]
    assert june["attainment"].isna().all() and not june["reported"].any()
    n2 = f[(f["level"] == "person") & (f["person"] == "N2") & (f["customer_group"] == "") & (f["month"] == DEC)]
    assert n2.set_index("metric").loc["travel", "ytd_attainment"] == 1.0267
    matrix = openpyxl.load_workbook(december.summary)["Matrix"]
    rows = {matrix.cell(r, 1).value: r for r in range(3, 7)}
    june_cell = matrix.cell(rows["N2"], 2 + 6)
    assert june_cell.value is None and june_cell.fill.fgColor.rgb in (None, "00000000")
    for month in range(5, 13):
        assert matrix.cell(rows["L1"], 2 + month).value is None
    book = openpyxl.load_workbook(december.summary)
    rules = [rule for sheet in book.worksheets for cf in sheet.conditional_formatting for rule in cf.rules]
    assert rules and all("ISNUMBER" in rule.formula[0] for rule in rules)  # no rule can colour a blank cell


def test_annual_review_of_the_closed_year_writes_the_history(reforecast_year):
    summary = run_annual(reforecast_year)
    assert summary.history_file.name == "history-2027.xlsx" and summary.history_file.is_file()
    sheet = openpyxl.load_workbook(summary.workbook)["Summary"]
    assert sheet["A2"].value == "Closed: 2027-01 to 2027-12."


# --- reviews only on a closed period ---------------------------------------------------------------------


@pytest.fixture()
def open_office(tmp_path):
    """Halfco with H1 reported and nothing closed."""
    return make_office(tmp_path / "ws")


def test_review_half_with_open_months_exits_2_naming_them(open_office):
    result = run(["-w", str(open_office.root), "review", "half"])
    assert result.exit_code == 2
    assert "2027-01, 2027-02, 2027-03, 2027-04, 2027-05, 2027-06" in result.stderr
    assert not (open_office.root / "reports" / "half-2027.xlsx").exists()
    api.close_month(open_office, "2027-04")
    with pytest.raises(OpenPeriod) as caught:
        run_half(open_office)
    assert caught.value.months == ["2027-05", "2027-06"]


def test_review_half_draft_is_marked_on_every_sheet_and_sends_nothing(open_office):
    result = run(["-w", str(open_office.root), "review", "half", "--draft"])
    assert result.exit_code == 0, result.output
    path = open_office.root / "reports" / "half-2027-draft.xlsx"
    assert str(path) in result.stdout and not (open_office.root / "reports" / "half-2027.xlsx").exists()
    assert not (open_office.root / "outbox" / "reforecast").exists()  # a draft sends no re-forecast templates
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["DRAFT Summary", "DRAFT Teams", "DRAFT People", "DRAFT Months"]
    for sheet in book.worksheets:
        assert "DRAFT" in sheet.oddHeader.center.text
    assert book["DRAFT Summary"]["A1"].value.startswith("DRAFT: Halfco: half-year review 2027")
    assert len(book["DRAFT Summary"]._charts) == 1  # the chart still finds its data under the marked name


def test_review_annual_with_open_months_exits_2_and_a_draft_writes_no_history(open_office):
    root = open_office.root
    api.close_month(open_office, "2027-06")
    result = run(["-w", str(root), "review", "annual"])
    assert result.exit_code == 2
    assert "still open: 2027-07, 2027-08, 2027-09, 2027-10, 2027-11, 2027-12" in result.stderr
    assert not list((root / "reports").glob("*.xlsx"))
    draft = run(["-w", str(root), "review", "annual", "--draft"])
    assert draft.exit_code == 0, draft.output
    assert not (root / "reports" / "history-2027.xlsx").exists()  # next year never starts from an open year
    assert not (root / "reports" / "annual-2027.xlsx").exists()
    book = openpyxl.load_workbook(root / "reports" / "annual-2027-draft.xlsx")
    assert all(name.startswith("DRAFT ") for name in book.sheetnames)
    assert all("DRAFT" in sheet.oddHeader.center.text for sheet in book.worksheets)
    assert "History for next year" not in draft.stdout


# --- closing a month and a late file -----------------------------------------------------------------------

MANAGERS = {"North": ("M1", "Mona North")}
SELLERS = [Seller("A1", "Ann Able", "North"), Seller("B1", "Bob Baker", "North")]
JAN, FEB = "2027-01", "2027-02"


@pytest.fixture()
def testco(tmp_path):
    """A1 returns January (at target); B1 does not."""
    ws = make_testco(tmp_path / "ws", "en", MANAGERS, SELLERS)
    report = return_month(ws, JAN, {"A1": 1.0})
    assert report.counts["accepted"] == 1
    return ws


def figures(ws) -> dict:
    """What the store says the figures are: every accepted figure and every current target."""
    db = sqlite3.connect(ws.root / ".sheetplan" / "plan.sqlite")
    try:
        return {"accepted": sorted(db.execute("SELECT level, owner, period, metric, customer_group, value, measure"
                                              " FROM accepted_values").fetchall()),
                "targets": sorted(db.execute("SELECT level, owner, period, metric, customer_group, value, version"
                                             " FROM targets").fetchall())}
    finally:
        db.close()


def corrected_january(ws, owner: str, revenue: float, name: str) -> Path:
    """The January template of `owner` filled again (a corrected copy of the same revision)."""
    with ws.store() as store:
        sent = next(r for r in store.sent("month", JAN) if r.owner == owner)
    path = ws.root / sent.path
    book = openpyxl.load_workbook(path)
    budget = [[t] for (t,) in read_block(book, input_areas(book)["target_travel"])]
    return fill_file(path, ws.folder("inbox") / "late" / name, {"in_revenue": [[revenue], [revenue]],
                                                               "in_travel": budget})


def test_close_then_a_late_file_changes_nothing_and_shows_as_late(testco, tmp_path):
    ws, root = testco, str(testco.root)
    closed = run(["-w", root, "close", JAN])
    assert closed.exit_code == 0, closed.output
    assert closed.stdout.splitlines() == ["Closed 2027-01: 1 of 2 returns missing. A file for it from now on is "
                                          "recorded as late and changes no figure."]
    before, facts_before = figures(ws), consolidate(ws, JAN).facts
    corrected_january(ws, "A1", 1.0, "a1-corrected.xlsx")
    corrected_january(ws, "B1", 2000.0, "b1-late.xlsx")
    result = run(["-w", root, "ingest", str(ws.folder("inbox") / "late")])
    assert result.exit_code == 1  # not used: the analyst has to know
    assert [line.split()[0] for line in result.stdout.splitlines()[:2]] == ["LATE", "LATE"]
    assert "2 late" in result.stdout
    assert figures(ws) == before  # no accepted figure, no target changed
    pd.testing.assert_frame_equal(consolidate(ws, JAN).facts, facts_before)
    with ws.store() as store:
        statuses = dict(store.db.execute("SELECT original_name, status FROM submissions"
                                         " WHERE original_name LIKE '%late%' OR original_name LIKE '%corrected%'"))
    assert statuses == {"a1-corrected.xlsx": "late", "b1-late.xlsx": "late"}
    status = run(["-w", root, "status", "--kind", "month"])
    assert "month 2027-01 (closed): 2 sent, 1 accepted, 0 rejected, 0 missing, 1 late" in status.stdout
    assert re.search(r"^ +late +B1 ", status.stdout, re.M)
    assert status.stdout.count("late: 2027-01 was closed when it came") == 2  # both copies, with why
    summary = run_consolidation(ws, FEB, output=tmp_path / "summary.xlsx")
    issues = pd.read_excel(summary.summary, sheet_name="Issues", engine="openpyxl")
    late = issues[issues["code"] == "late"]
    assert sorted(late["file"]) == ["a1-corrected.xlsx", "b1-late.xlsx"]
    assert all("after 2027-01 was closed" in m for m in late["message"])
    assert ("late-submission", "B1") in {(r.code, r.person) for r in summary.flags.itertuples()}


def test_reopen_keeps_the_reason_and_lets_the_late_file_count(testco):
    ws, root = testco, str(testco.root)
    assert api.close_month(ws, FEB) == [JAN, FEB]  # closing February closes January too
    assert run(["-w", root, "close", JAN]).stdout.strip() == "2027-01 and every month before it were already closed."
    corrected_january(ws, "B1", 2000.0, "b1-late.xlsx")
    assert api.ingest(ws, [ws.folder("inbox") / "late"]).counts["late"] == 1
    without = run(["-w", root, "reopen", JAN])
    assert without.exit_code == 2 and "--reason" in without.output
    reopened = run(["-w", root, "reopen", JAN, "--reason", "B1's report sat in a spam folder"])
    assert reopened.exit_code == 0, reopened.output
    assert reopened.stdout.strip() == "Reopened 2027-01. Late files for it: 1; ingest them again to count them."
    with ws.store() as store:
        log = store.db.execute("SELECT month, action, reason FROM month_closings ORDER BY id").fetchall()
    assert log == [(JAN, "close", ""), (FEB, "close", ""), (JAN, "reopen", "B1's report sat in a spam folder")]
    again = api.ingest(ws, [ws.folder("inbox") / "late"])
    assert again.counts["accepted"] == 1
    facts = consolidate(ws, FEB).facts
    b1 = facts[(facts["person"] == "B1") & (facts["month"] == JAN) & (facts["metric"] == "revenue")
               & (facts["customer_group"] == "")]
    assert float(b1["actual"].iloc[0]) == 4000.0  # 2000 in each of the two groups
    states = api.month_states(ws).set_index("month")
    assert (bool(states.at[JAN, "closed"]), bool(states.at[FEB, "closed"])) == (False, True)
    again_closed = run(["-w", root, "reopen", JAN, "--reason", "twice"])
    assert again_closed.exit_code == 2 and "2027-01 is not closed" in again_closed.stderr


@pytest.mark.parametrize("month, message", [
    ("2027-13", "close needs a month written YYYY-MM, got '2027-13'"),
    ("2026-12", "2026-12 is not a month of fiscal year 2027 (2027-01 to 2027-12)"),
])
def test_close_names_a_bad_month(testco, month, message):
    result = run(["-w", str(testco.root), "close", month])
    assert result.exit_code == 2 and message in result.stderr


def test_consolidate_says_when_its_month_is_open_and_not_when_it_is_closed(testco, tmp_path):
    opened = run(["-w", str(testco.root), "consolidate", "--month", JAN, "-o", str(tmp_path / "open.xlsx")])
    assert opened.stdout.splitlines()[0].startswith("2027-01 is open: 1 returns still missing")
    book = openpyxl.load_workbook(tmp_path / "open.xlsx")
    assert book["Dashboard"]["A1"].value.endswith("2027-01 (open: 1 returns still missing)")
    assert book.properties.title.endswith("(open: 1 returns still missing)")
    api.close_month(testco, JAN)
    closed = run(["-w", str(testco.root), "consolidate", "--month", JAN, "-o", str(tmp_path / "closed.xlsx")])
    assert closed.stdout.splitlines()[0].startswith("Consolidated 2027-01")
    book = openpyxl.load_workbook(tmp_path / "closed.xlsx")
    assert book["Dashboard"]["A1"].value == "Testco: sales against target, 2027-01"
    assert book["Dashboard"]["A2"].value == "Closed: 2027-01."
    months = [[c.value for c in row] for row in book["Months"].iter_rows(min_row=3, max_row=4)]
    assert months[0] == ["Month", "State", "Closed at", "Returns sent", "Returns missing", "Late files"]
    assert months[1][:2] == [JAN, "closed"] and months[1][3:] == [2, 1, 0]


def test_dry_run_previews_a_late_file(testco):
    api.close_month(testco, JAN)
    corrected_january(testco, "B1", 2000.0, "b1-late.xlsx")
    report = api.ingest(testco, [testco.folder("inbox") / "late"], dry_run=True)
    assert [o.status for o in report.outcomes] == ["late"]


def test_the_store_migration_keeps_every_submission(tmp_path):
    """A store made before closing existed (schema 10, with a submission and its values) is rebuilt with
    'late' allowed; rows, ids and foreign keys survive."""
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA foreign_keys=ON")
    for version, script in enumerate(MIGRATIONS[:10], start=1):
        for statement in filter(str.strip, script.split(";")):
            db.execute(statement)
        db.execute(f"PRAGMA user_version = {version}")
    db.execute("INSERT INTO submissions (id, sha256, original_name, source_path, received_at, ingested_at, kind,"
               " owner, period, revision, status, problems, archive_path, claimed_at) VALUES (7, 'abc', 'm.xlsx',"
               " 'inbox', '2027-02-01', '2027-02-01', 'month', 'A1', '2027-01', 1, 'accepted', '[]', 'a', 'x')")
    db.execute("INSERT INTO submitted_values VALUES (7, 'in_revenue', 'Key', 'actual', 12.5)")
    db.close()
    store = Store(path)
    assert store.schema_version == len(MIGRATIONS)
    assert store.db.execute("SELECT id, sha256, status, claimed_at FROM submissions").fetchall() == [
        (7, "abc", "accepted", "x")]
    assert store.db.execute("SELECT owner, value FROM accepted_values").fetchall() == [("A1", 12.5)]
    store.db.execute("UPDATE submissions SET status = 'late' WHERE id = 7")
    with pytest.raises(sqlite3.IntegrityError):
        store.db.execute("INSERT INTO submitted_values VALUES (99, 'in_revenue', 'Key', 'actual', 1)")
    with pytest.raises(sqlite3.IntegrityError):
        store.db.execute("UPDATE submissions SET status = 'lost' WHERE id = 7")
    assert store.db.execute("PRAGMA foreign_keys").fetchone() == (1,)
    store.close()


# --- [rollover] level ---------------------------------------------------------------------------------------

BASE = """\
[company]
name = "X"
[fiscal]
year = 2027
[planning]
customer_groups = ["Key"]
[[metrics]]
key = "revenue"
label_en = "Revenue"
label_zh = "销售额"
"""


def test_rollover_level_defaults_to_total_and_is_checked():
    assert parse_config(BASE).rollover.level == "total"
    assert parse_config(BASE + '[rollover]\nlevel = "group"\n').rollover.level == "group"
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE + '[rollover]\nlevel = "team"\n')
    assert [p.field for p in caught.value.problems] == ["rollover.level"]
    assert "total, group" in str(caught.value)


# --- history gaps --------------------------------------------------------------------------------------------


def _history(root: Path, months: list[str], metrics=("revenue", "travel")) -> None:
    with (root / "history.csv").open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["month", "person_id", "customer_group", "metric", "value"])
        for month in months:
            for pid in ("A1", "B1"):
                for group in ("Key", "Web"):
                    for metric in metrics:
                        out.writerow([month, pid, group, metric, 100])


def test_generate_warns_which_months_of_the_prior_fiscal_year_are_missing(tmp_path):
    """A fiscal year from April: the prior fiscal year is 2026-04 .. 2027-03, and a history of the calendar year
    2026 lacks January to March 2027. Travel has no history at all: its suggestion is empty."""
    ws = make_testco(tmp_path / "ws", "en", MANAGERS, SELLERS)
    toml = ws.root / "sheetplan.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("start_month = 1", "start_month = 4"), encoding="utf-8")
    _history(ws.root, [f"2026-{m:02d}" for m in range(1, 13)], metrics=("revenue",))
    result = run(["-w", str(ws.root), "generate", "company"])
    assert result.exit_code == 0, result.output
    assert [line for line in result.stderr.splitlines() if line.startswith("Warning")] == [
        "Warning: Travel has no history for fiscal year 2026 (2026-04 to 2027-03): its suggested targets are "
        "empty (0) until the history has figures for it",
        "Warning: the history has no Revenue figures for 3 month(s) of fiscal year 2026 (2026-04 to 2027-03): "
        "2027-01, 2027-02, 2027-03; those months count as 0 in the suggestions and in last year's comparisons"]


def test_a_complete_history_warns_nothing_and_init_says_so_in_chinese(tmp_path):
    ws = make_testco(tmp_path / "ws", "zh", MANAGERS, SELLERS)
    _history(ws.root, [f"2026-{m:02d}" for m in range(1, 13)])
    assert api.history_warnings(open_workspace(ws.root)) == []
    _history(ws.root, [f"2026-{m:02d}" for m in range(2, 13)])
    (line,) = history_warnings(open_workspace(ws.root).config, open_workspace(ws.root).history())
    assert line == ("历史数据中缺少销售额、差旅费在2026 财年（2026-01 至 2026-12）的 1 个月：2026-01；"
                    "这些月份在建议目标和去年对比中按 0 计算")
    fresh = run(["init", str(tmp_path / "new"), "--lang", "zh", "--year", "2027"])
    assert fresh.exit_code == 0, fresh.output
    # the starter config's three metrics have no history yet: each suggestion is empty, said in Chinese
    assert fresh.stderr.count("警告：") == 3 and "Warning" not in fresh.stderr
