"""Consolidation on real workspaces: each flag from a small scenario played through real files, rankings,
messages in the workspace language, and the `consolidate` command.

The office: company Testco, two customer groups (Key, Web), revenue (higher is better) and travel (a budget).
Everybody sold 1000 per group per month last year and spent 100, so with an equal split and no growth each
monthly target is 1000 per group (2000 a month) and each travel budget 100 per group, unless a plan changed it.
Month reports are generated, filled with openpyxl in their input cells, and ingested like any returned file.
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from sheetplan import api
from sheetplan.api import ingest
from sheetplan.cli import main
from sheetplan.demo.simulate import fill_file, input_areas, read_block
from sheetplan.reports.consolidate import FLAG_COLUMNS, consolidate
from sheetplan.reports.facts import FACT_COLUMNS
from sheetplan.reports.monthend import run_consolidation
from sheetplan.workspace.folder import Workspace, open_workspace

JAN, FEB, MAR = "2027-01", "2027-02", "2027-03"
GROUPS = ("Key", "Web")

CONFIG = """\
[company]
name = "{company}"
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
higher_is_better = true
max_value = 10000000
weight = 0.7

[[metrics]]
key = "travel"
label_en = "Travel"
label_zh = "差旅费"
unit = "EUR"
decimals = 2
higher_is_better = false
max_value = 1000000
weight = 0.3

[allocation]
method = "equal"
seasonality = "flat"
growth = 0.0

[rollover]
policy = "none"

[flags]
behind_pace = {behind_pace}
far_behind = {far_behind}
sharp_drop = {sharp_drop}
plan_tolerance = {plan_tolerance}

# plans are official as soon as they come back; a revision request waits for the manager
[approvals]
company = []
team = []
person = []
revision = ["manager"]
reforecast = []
"""
FLAGS = {"behind_pace": 0.85, "far_behind": 0.6, "sharp_drop": 0.3, "plan_tolerance": 0.0}


@dataclass(frozen=True)
class Seller:
    pid: str
    name: str
    team: str


def write_config(root: Path, lang: str, company: str = "Testco", **flags) -> None:
    values = {**FLAGS, **flags}
    (root / "sheetplan.toml").write_text(CONFIG.format(lang=lang, company=company, **values), encoding="utf-8")


def make_workspace(root: Path, lang: str, managers: dict[str, tuple[str, str]], sellers: list[Seller],
                   company: str = "Testco") -> Workspace:
    """A workspace with our own config, roster.csv and history.csv (2026: 1000 revenue and 100 travel per
    seller, group and month)."""
    api.init_workspace(root, year=2027, lang=lang)
    write_config(root, lang, company)
    (root / "roster.xlsx").unlink()  # roster.csv instead
    rows = [("G1", "Gina Boss" if lang == "en" else "刘总", "", "gm", "")]
    rows += [(mid, name, team, "manager", "G1") for team, (mid, name) in managers.items()]
    rows += [(s.pid, s.name, s.team, "rep", managers[s.team][0]) for s in sellers]
    with (root / "roster.csv").open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["person_id", "name", "email", "team", "role", "reports_to", "start_month", "end_month",
                      "active"])
        for pid, name, team, role, boss in rows:
            out.writerow([pid, name, f"{pid.lower()}@testco.example", team, role, boss, "", "", "TRUE"])
    with (root / "history.csv").open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["month", "person_id", "customer_group", "metric", "value"])
        for seller in sellers:
            for month in range(1, 13):
                for group in GROUPS:
                    out.writerow([f"2026-{month:02d}", seller.pid, group, "revenue", 1000])
                    out.writerow([f"2026-{month:02d}", seller.pid, group, "travel", 100])
    workspace = open_workspace(root)
    api.refresh_plan(workspace)
    return workspace


def owner_of(book) -> str:
    return {row[0].value: row[1].value for row in book["_meta"].iter_rows(max_col=2)}["owner"]


def return_month(ws: Workspace, month: str, paces: dict[str, float], only: list[str] | None = None,
                 extra: dict[str, dict] | None = None):
    """Send the month round; each person in `paces` returns revenue = target x pace and travel = budget.

    `extra` overrides input blocks per owner (a negative figure, a revision request, a comment)."""
    sent = api.generate(ws, "month", month=month, only=only)
    inbox = ws.folder("inbox") / month
    inbox.mkdir(parents=True, exist_ok=True)
    for path in sent.files:
        book = openpyxl.load_workbook(path)
        owner = owner_of(book)
        if owner not in paces:
            continue
        areas = input_areas(book)
        values = {"in_revenue": [[round(t * paces[owner], 2)] for (t,) in read_block(book, areas["target_revenue"])],
                  "in_travel": [[t] for (t,) in read_block(book, areas["target_travel"])]}
        values.update((extra or {}).get(owner, {}))
        fill_file(path, inbox / path.name, values)
    return ingest(ws, [inbox])


def return_plan(ws: Workspace, kind: str, owner: str, change=None) -> None:
    """Send one plan template (person or team) and return it with its suggested figures, changed by `change`."""
    sent = api.generate(ws, kind, only=[owner])
    inbox = ws.folder("inbox") / f"{kind}-2027"
    inbox.mkdir(parents=True, exist_ok=True)
    (path,) = sent.files
    book = openpyxl.load_workbook(path)
    areas = input_areas(book)
    values = {name: read_block(book, area) for name, area in areas.items() if name.startswith("in_")}
    if change:
        change(values, {name: [r[0] for r in read_block(book, area)] for name, area in areas.items()
                        if name.startswith("rows_")})
    fill_file(path, inbox / path.name, values)
    report = ingest(ws, [inbox / path.name])
    assert report.counts["accepted"] == 1, report.to_frame().to_dict("records")


# --- the English office ---------------------------------------------------------------------------------

MANAGERS = {"North": ("M1", "Mona North"), "South": ("M2", "Sam South")}
SELLERS = [Seller("N1", "Ann One", "North"), Seller("N2", "=SUM(1,2)", "North"), Seller("N3", "Nils Three", "North"),
           Seller("S1", "Sven One", "South"), Seller("S2", "Sara Two", "South")]
REASON = "=2+2 lost our largest customer"


def move_revenue_from_n1_to_n2(values: dict, rows: dict) -> None:
    people = rows["rows_revenue"]
    grid = values["in_revenue"]
    grid[people.index("N1")][0] -= 2400
    grid[people.index("N2")][0] += 2400


def build_office(root: Path) -> Workspace:
    """The story, month by month (through 2027-03):

    - plan: N1 returns the suggested monthly plan (2000 a month); the North manager then moves 2400 of N1's
      annual revenue to N2 (N1 21600 against a monthly plan of 24000: plan-mismatch; N2 26400 -> 2200 a month).
    - N1 always on target, asks in March for a revenue target of 30000 (a reason that starts with '='); the
      request waits for the North manager's approval.
    - N2 at 80 % every month (behind pace); N3 is not sent January (no actuals), then sells half (far behind).
    - S1 100 %, 100 %, then 65 % in March (sharp drop against February and against March last year).
    - S2 100 % in January, never returns February (missing), returns March with a negative figure (rejected).
    """
    ws = make_workspace(root, "en", MANAGERS, SELLERS)
    return_plan(ws, "person", "N1")
    return_plan(ws, "team", "M1", move_revenue_from_n1_to_n2)
    return_month(ws, JAN, {"N1": 1.0, "N2": 0.8, "S1": 1.0, "S2": 1.0}, only=["N1", "N2", "S1", "S2"])
    return_month(ws, FEB, {"N1": 1.0, "N2": 0.8, "N3": 0.5, "S1": 1.0})
    report = return_month(ws, MAR, {"N1": 1.0, "N2": 0.8, "N3": 0.5, "S1": 0.65, "S2": 1.0}, extra={
        "N1": {"in_revision": [[30000.0], [None]], "in_revision_reason": [[REASON]]},
        "S2": {"in_revenue": [[-5.0], [1000.0]]},
    })
    assert (report.counts["accepted"], report.counts["rejected"]) == (4, 1)
    return open_workspace(root)


@pytest.fixture(scope="module")
def office(tmp_path_factory) -> Workspace:
    return build_office(tmp_path_factory.mktemp("office") / "ws")


@pytest.fixture(scope="module")
def march(office):
    return consolidate(office, MAR)


# Worked out by hand from the story above (thresholds: behind 0.85, far behind 0.6, sharp drop 0.3):
# N1 revenue 6000 of 6000; N2 5280 of 6600 = 0.8; N3 0 + 1000 + 1000 of 6000 = 0.333; S1 2000 + 2000 + 1300 of
# 6000 = 0.883 (not behind); S2 2000 of 6000 = 0.333. North 13280 of 18600 = 0.714; South 7300 of 12000 = 0.608.
# Travel is always spent as budgeted; a month without a report (N3 in January, S2 in February and March) is
# "no report": the budget used to date counts only the months reported, so nobody is under or over budget.
EXPECTED_FLAGS = [
    # (code, severity, level, team, person, month, metric)
    ("far-behind", "high", "person", "North", "N3", MAR, "revenue"),
    ("far-behind", "high", "person", "South", "S2", MAR, "revenue"),
    ("rejected-not-fixed", "high", "person", "South", "S2", MAR, ""),
    ("behind-pace", "medium", "person", "North", "N2", MAR, "revenue"),
    ("behind-pace", "medium", "team", "North", "", MAR, "revenue"),
    ("behind-pace", "medium", "team", "South", "", MAR, "revenue"),
    ("missing-submission", "medium", "person", "South", "S2", FEB, ""),
    ("no-actuals", "medium", "person", "North", "N3", JAN, ""),
    ("plan-mismatch", "medium", "person", "North", "N1", "2027", "revenue"),
    ("sharp-drop", "medium", "person", "South", "S1", MAR, "revenue"),  # 1300 against 2000 in February
    ("sharp-drop", "medium", "person", "South", "S1", MAR, "revenue"),  # ... and against 2000 in March 2026
    ("sharp-drop", "medium", "person", "North", "N3", MAR, "revenue"),  # 1000 against 2000 in March 2026
    ("revision-requested", "info", "person", "North", "N1", MAR, "revenue"),
    ("approval-pending", "info", "person", "North", "N1", MAR, ""),
]
KEY = ["code", "severity", "level", "team", "person", "month", "metric"]


def flag_keys(flags: pd.DataFrame) -> list[tuple]:
    return sorted(tuple(r) for r in flags[KEY].itertuples(index=False))


def test_each_scenario_raises_its_flags_and_no_others(march):
    assert list(march.flags.columns) == FLAG_COLUMNS
    assert flag_keys(march.flags) == sorted(EXPECTED_FLAGS)


def test_every_flag_names_severity_owner_team_month_and_message(march):
    for flag in march.flags.itertuples():
        assert flag.severity in ("high", "medium", "info")
        assert flag.person or flag.level == "team"
        assert flag.team and flag.month and flag.message
        assert bool(flag.metric) == (flag.code not in ("missing-submission", "rejected-not-fixed", "no-actuals",
                                                       "approval-pending", "approval-rejected"))
        assert flag.level in ("person", "team")


def test_flags_are_ordered_by_severity(march):
    order = {"high": 0, "medium": 1, "info": 2}
    assert list(march.flags["severity"].map(order)) == sorted(march.flags["severity"].map(order))


def test_flag_messages_in_english(march):
    got = {(r.code, r.person or r.team, r.message) for r in march.flags.itertuples()}
    assert got >= {
        ("behind-pace", "N2", "=SUM(1,2) (N2): Revenue year to date at 80% of target (below 85%)"),
        ("behind-pace", "North", "North: Revenue year to date at 71% of target (below 85%)"),
        ("behind-pace", "South", "South: Revenue year to date at 61% of target (below 85%)"),
        ("far-behind", "N3", "Nils Three (N3): Revenue year to date at 33% of target, far behind (below 60%)"),
        ("missing-submission", "S2", "Sara Two (S2): no monthly report for 2027-02 has come back"),
        ("rejected-not-fixed", "S2", "Sara Two (S2): the monthly report for 2027-03 was rejected (negative-value) and"
                                     " no corrected copy has come back"),
        ("plan-mismatch", "N1", "Ann One (N1): the monthly plan for Revenue adds up to 24,000.00, the annual target"
                                " is 21,600.00"),
        ("sharp-drop", "S1", "Sven One (S1): Revenue fell 35% against the previous month"),
        ("sharp-drop", "S1", "Sven One (S1): Revenue fell 35% against the same month last year"),
        ("sharp-drop", "N3", "Nils Three (N3): Revenue fell 50% against the same month last year"),
        ("revision-requested", "N1", f"Ann One (N1): asks for a new annual Revenue target of 30,000.00 (now "
                                     f"21,600.00): {REASON}"),
        ("no-actuals", "N3", "Nils Three (N3): no actuals for 2027-01"),
        ("approval-pending", "N1", "Ann One (N1): target revision request for 2027-03 awaits approval by Mona North"
                                   " (M1, manager) (level 1 of 1)"),
    }


def test_rejected_flag_points_at_the_bad_cell(march, office):
    (row,) = march.flags[march.flags["code"] == "rejected-not-fixed"].itertuples()
    archived = Path(row.file)
    assert archived.is_file() and office.folder("archive") in archived.parents
    assert (row.sheet, row.cell) == ("Report", "C6")  # the Key revenue cell of the month report
    assert openpyxl.load_workbook(archived)["Report"]["C6"].value == -5


def test_thresholds_come_from_sheetplan_toml(office, tmp_path):
    root = tmp_path / "ws"
    shutil.copytree(office.root, root)
    write_config(root, "en", behind_pace=0.9, far_behind=0.75, sharp_drop=0.4, plan_tolerance=0.2)
    flags = consolidate(open_workspace(root), MAR).flags
    pace = {(r.code, r.person or r.team) for r in flags.itertuples() if r.code in ("behind-pace", "far-behind")}
    # at 0.9 / 0.75: S1 (0.883) is now behind; North (0.714) and South (0.608) now far behind
    assert pace == {("behind-pace", "N2"), ("behind-pace", "S1"), ("far-behind", "N3"), ("far-behind", "S2"),
                    ("far-behind", "North"), ("far-behind", "South")}
    # a 40 % drop is needed now: only N3's 50 % against last year remains
    assert {(r.person, r.message) for r in flags.itertuples() if r.code == "sharp-drop"} == {
        ("N3", "Nils Three (N3): Revenue fell 50% against the same month last year")}
    # 20 % tolerance: 24000 against 21600 is within 4320
    assert "plan-mismatch" not in set(flags["code"])
    (s1,) = flags[(flags["person"] == "S1") & (flags["code"] == "behind-pace")].itertuples()
    assert s1.message == "Sven One (S1): Revenue year to date at 88% of target (below 90%)"


def test_rankings_within_team_and_company(march):
    """score = 0.7 x min(revenue ytd, 2) + 0.3 x (2 - travel budget used, between 0 and 2).

    Travel's budget used counts only the months reported. This used to read S2's travel as 600 budgeted
    against 200 spent (3.0, capped at 2: a rep whose reports were rejected scored best on the budget) and N3's
    as 600 against 400 (1.5): months without a report counted as spending nothing, i.e. as met.
    - N1 0.7 + 0.3 x 1 = 1.0; S1 0.7 x 0.8833 + 0.3 = 0.9183; N2 0.7 x 0.8 + 0.3 = 0.86.
    - S2: revenue 2000 / 6000 = 0.3333; travel January only, 200 of 200: used 1.0 -> 0.2333 + 0.3 = 0.5333.
    - N3: revenue 0.3333; travel February and March, 400 of 400: used 1.0 -> 0.5333. S2 and N3 tie: both 4th.
    """
    got = march.people.set_index("person")[["team", "score", "rank_company", "rank_team"]].to_dict("index")
    assert got == {
        "N1": {"team": "North", "score": 1.0, "rank_company": 1, "rank_team": 1},
        "S1": {"team": "South", "score": 0.9183, "rank_company": 2, "rank_team": 1},
        "N2": {"team": "North", "score": 0.86, "rank_company": 3, "rank_team": 2},
        "S2": {"team": "South", "score": 0.5333, "rank_company": 4, "rank_team": 2},
        "N3": {"team": "North", "score": 0.5333, "rank_company": 4, "rank_team": 3},
    }
    assert list(march.people["person"]) == ["N1", "S1", "N2", "N3", "S2"]
    assert march.people.set_index("person").loc["N2", "name"] == "=SUM(1,2)"
    # travel as budgeted in every month reported: used 1.0 for both teams (North 1600 of 1600, South 800 of 800)
    # North 0.7 x 13280/18600 (0.71398) + 0.3 = 0.7998; South 0.7 x 7300/12000 (0.60833) + 0.3 = 0.7258
    assert march.teams.set_index("team")[["score", "rank"]].to_dict("index") == {
        "North": {"score": 0.7998, "rank": 1}, "South": {"score": 0.7258, "rank": 2}}


def test_facts_follow_the_plan_and_the_returns(march):
    f = march.facts
    total = f[(f["customer_group"] == "") & (f["metric"] == "revenue") & (f["month"] == MAR)]
    person = total[total["level"] == "person"].set_index("person")
    assert person[["ytd_target", "ytd_actual"]].to_dict("index") == {
        "N1": {"ytd_target": 6000.0, "ytd_actual": 6000.0},
        "N2": {"ytd_target": 6600.0, "ytd_actual": 5280.0},
        "N3": {"ytd_target": 6000.0, "ytd_actual": 2000.0},
        "S1": {"ytd_target": 6000.0, "ytd_actual": 5300.0},
        "S2": {"ytd_target": 6000.0, "ytd_actual": 2000.0},
    }
    assert not bool(f[(f["level"] == "person") & (f["person"] == "S2") & (f["month"] == FEB)]["reported"].any())
    company = total[total["level"] == "company"].iloc[0]
    assert (company["ytd_target"], company["ytd_actual"]) == (30600.0, 20580.0)


# --- the command ----------------------------------------------------------------------------------------


def test_cli_consolidate_writes_summary_csv_and_parquet(office, tmp_path):
    csv_path, parquet_path = tmp_path / "facts.csv", tmp_path / "facts.parquet"
    result = CliRunner().invoke(main, ["-w", str(office.root), "consolidate", "--month", MAR, "--csv", str(csv_path),
                                       "--parquet", str(parquet_path)])
    assert result.exit_code == 0, result.output
    summary = office.folder("reports") / "summary-2027-03.xlsx"
    # March is not closed, and S2's March return was rejected: the first line says the figures may change
    assert result.output.splitlines()[:3] == [
        "2027-03 is open: 1 returns still missing, so these figures may still change (sheetplan close 2027-03 once "
        "they are final).", "Consolidated 2027-03: 5 people in 2 teams, 14 flags (3 high).", f"Summary: {summary}"]
    assert csv_path.is_file() and parquet_path.is_file()
    # empty text stays "", and an attainment without a report (empty, "no report") stays NaN, as in the Data sheet
    exported = pd.read_csv(csv_path, dtype={"month": str}).fillna({c: "" for c in ("team", "person",
                                                                                    "customer_group")})
    data = pd.read_excel(summary.parent / "data-2027-03.xlsx", sheet_name="Facts", dtype={"month": str},
                         engine="openpyxl").fillna(
        {c: "" for c in ("team", "person", "customer_group")})
    assert list(data.columns) == FACT_COLUMNS
    pd.testing.assert_frame_equal(exported[FACT_COLUMNS], data, check_dtype=False)
    parquet = pd.read_parquet(parquet_path)
    pd.testing.assert_frame_equal(parquet[FACT_COLUMNS], exported[FACT_COLUMNS], check_dtype=False)
    team_books = sorted(p.name for p in (office.folder("reports") / MAR).glob("*.xlsx"))
    assert team_books == ["team-North-2027-03.xlsx", "team-South-2027-03.xlsx"]


def test_cli_consolidate_people_writes_one_workbook_per_person(office, tmp_path):
    out = tmp_path / "summary.xlsx"
    result = CliRunner().invoke(main, ["-w", str(office.root), "consolidate", "--month", MAR, "--people",
                                       "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "Person workbooks: 5" in result.output.splitlines()
    assert out.is_file()
    folder = office.folder("reports") / MAR / "people"
    names = sorted(p.name for p in folder.glob("*.xlsx"))
    assert names == [f"person-{pid}-2027-03.xlsx" for pid in ("N1", "N2", "N3", "S1", "S2")]
    for pid in ("N1", "N3"):
        path = folder / f"person-{pid}-2027-03.xlsx"
        people = pd.read_excel(path, sheet_name="People", engine="openpyxl")
        assert list(people["Person"]) == [pid]
        data = pd.read_excel(path, sheet_name="Data", engine="openpyxl")
        assert set(data["person"]) == {pid} and set(data["level"]) == {"person"}
        flags = pd.read_excel(path, sheet_name="Flags", engine="openpyxl")
        assert set(flags["Person"]) <= {pid}


@pytest.mark.parametrize("month", ["2028-01", "2026-12"])
def test_cli_consolidate_month_outside_the_fiscal_year(office, month):
    result = CliRunner().invoke(main, ["-w", str(office.root), "consolidate", "--month", month])
    assert result.exit_code == 2
    assert f"{month} is not a month of fiscal year 2027 (2027-01 to 2027-12)" in result.output


# --- a Chinese office --------------------------------------------------------------------------------------

ZH_MANAGERS = {"华北大区": ("M1", "赵经理")}
ZH_SELLERS = [Seller("Z1", "张伟", "华北大区"), Seller("Z2", "李娜", "华北大区"), Seller("Z3", "王芳", "华北大区")]


@pytest.fixture(scope="module")
def zh_office(tmp_path_factory) -> Workspace:
    """Z1 on target, Z2 at 80 %, Z3 on target in January and silent in February."""
    ws = make_workspace(tmp_path_factory.mktemp("zh") / "ws", "zh", ZH_MANAGERS, ZH_SELLERS, company="测试公司")
    return_month(ws, JAN, {"Z1": 1.0, "Z2": 0.8, "Z3": 1.0})
    return_month(ws, FEB, {"Z1": 1.0, "Z2": 0.8})
    return ws


def test_zh_messages_come_from_the_zh_catalogue(zh_office):
    flags = consolidate(zh_office, FEB).flags
    got = {(r.code, r.person or r.team): r.message for r in flags.itertuples()}
    assert set(got) == {("behind-pace", "Z2"), ("far-behind", "Z3"), ("behind-pace", "华北大区"),
                        ("missing-submission", "Z3")}
    # Z2 3200 of 4000; Z3 2000 of 4000; the team 4000 + 3200 + 2000 = 9200 of 12000 = 0.767
    assert got[("behind-pace", "Z2")] == "李娜 (Z2)：销售额年度累计完成率 80%（低于 85%）"
    assert got[("far-behind", "Z3")] == "王芳 (Z3)：销售额年度累计完成率 50%，严重落后（低于 60%）"
    assert got[("behind-pace", "华北大区")] == "华北大区：销售额年度累计完成率 77%（低于 85%）"


def test_zh_missing_submission_names_the_report_kind_in_chinese(zh_office):
    """The kind of report is a word of the message: in a zh workspace it must not be the English 'month'."""
    flags = consolidate(zh_office, FEB).flags
    (message,) = flags.loc[flags["code"] == "missing-submission", "message"]
    assert message.startswith("王芳 (Z3)：2027-02 的") and message.endswith("报表尚未交回")
    kind = message.removeprefix("王芳 (Z3)：2027-02 的").removesuffix("报表尚未交回")
    assert kind and not any("a" <= c.lower() <= "z" for c in kind), message


def test_zh_summary_sheet_names_come_from_the_catalogue(zh_office, tmp_path):
    result = run_consolidation(zh_office, FEB, output=tmp_path / "summary.xlsx")
    book = openpyxl.load_workbook(result.summary, read_only=True)
    assert book.sheetnames == ["总览", "公司", "团队", "人员", "月度矩阵", "预警", "审批进度", "目标调整", "待处理问题",
                               "Data", "月份状态"]  # every report ends with which months are closed
