"""The month-end summary workbook read back by meaning: sheets, the Data table, charts and what their series
point at, values only (no formulas), frozen headers and filters, team workbooks, and a LibreOffice PDF export.

The office: three teams, twelve sellers reporting January to March 2027 at a steady pace each (so no two scores
tie); W3 never returns February, S4's March return is rejected, N2's name and a comment and a revision reason
start with '='.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import openpyxl
import pandas as pd
import pytest
from openpyxl.utils.cell import range_boundaries
from test_consolidate import Seller, make_workspace, return_month

from sheetplan.reports.facts import FACT_COLUMNS
from sheetplan.reports.monthend import run_consolidation
from sheetplan.workspace.labels import Labels

JAN, FEB, MAR = "2027-01", "2027-02", "2027-03"
MANAGERS = {"North": ("M1", "Mona North"), "South": ("M2", "Sam South"), "West": ("M3", "Wes West")}
PACES = {"N1": 1.15, "N2": 0.7, "N3": 0.95, "N4": 0.85, "N5": 1.05, "S1": 1.1, "S2": 1.0, "S3": 0.9, "S4": 0.8,
         "W1": 1.2, "W2": 0.75, "W3": 0.6}
NAMES = {"N1": "Ann One", "N2": "=SUM(1,2)", "N3": "Nils Three", "N4": "Nora Four", "N5": "Ned Five",
         "S1": "Sven One", "S2": "Sara Two", "S3": "Sid Three", "S4": "Sue Four", "W1": "Wim One", "W2": "Wanda Two",
         "W3": "Walt Three"}
TEAM = {"N": "North", "S": "South", "W": "West"}
SELLERS = [Seller(pid, NAMES[pid], TEAM[pid[0]]) for pid in PACES]
SHEETS = ["Dashboard", "Company", "Teams", "People", "Matrix", "Flags", "Approvals", "Revisions", "Issues", "Data",
          "Months"]  # Months: which months are closed, in every report; Data: where the full tables are
C = "{http://schemas.openxmlformats.org/drawingml/2006/chart}"


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    ws = make_workspace(tmp_path_factory.mktemp("summary") / "ws", "en", MANAGERS, SELLERS)
    return_month(ws, JAN, PACES, extra={"N2": {"in_comment": [['=HYPERLINK("http://example.invalid","x")'],
                                                              [None]]}})
    return_month(ws, FEB, {p: v for p, v in PACES.items() if p != "W3"})
    return_month(ws, MAR, PACES, extra={
        "S4": {"in_revenue": [[-1.0], [-2.0]]},
        "N1": {"in_revision": [[30000.0], [None]], "in_revision_reason": [['=cmd|" /C calc"!A0']]}})
    return run_consolidation(ws, MAR)


@pytest.fixture(scope="module")
def book(result):
    return openpyxl.load_workbook(result.summary)


@pytest.fixture(scope="module")
def data_book(result):
    return openpyxl.load_workbook(result.data.workbook)


@pytest.fixture(scope="module")
def parts(result):
    with zipfile.ZipFile(result.summary) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_summary_is_where_the_month_says(result):
    assert result.summary == result.summary.parent.parent / "reports" / "summary-2027-03.xlsx"
    assert result.summary.is_file()


def test_sheet_names_come_from_the_catalogue(book):
    labels = Labels("en")
    keys = ["summary.dashboard", "summary.company", "summary.teams", "summary.people", "summary.matrix",
            "summary.flags", "summary.approvals", "revisions.sheet", "summary.issues", "summary.data",
            "closing.sheet"]
    assert book.sheetnames == [labels(k) for k in keys] == SHEETS
    assert book.active.title == "Dashboard"


def test_summary_data_sheet_says_where_the_full_tables_are(result, book):
    """The summary holds no long table: its Data sheet names the data workbook, its sheets and row ranges, and
    the Parquet files, all beside the summary."""
    assert result.data.workbook == result.summary.parent / "data-2027-03.xlsx"
    rows = [[c.value for c in row] for row in book["Data"].iter_rows(min_row=4)]
    assert rows[0] == ["Table", "File", "Sheet", "First row", "Last row", "Rows"]
    facts = len(result.facts)
    assert rows[1] == ["Fact table", "data-2027-03.xlsx", "Facts", 1, facts, facts]
    assert rows[2] == ["Fact table", "data-2027-03-facts.parquet", "(Parquet: every row)", None, None, facts]
    assert rows[3][:3] == ["Audit trail", "data-2027-03.xlsx", "Audit"]
    for name in ("data-2027-03.xlsx", "data-2027-03-facts.parquet", "data-2027-03-audit.parquet"):
        assert (result.summary.parent / name).is_file()
    pd.testing.assert_frame_equal(pd.read_parquet(result.data.facts_parquet), result.facts, check_dtype=False)


def test_data_sheet_equals_the_fact_table(result):
    data = pd.read_excel(result.data.workbook, sheet_name="Facts", dtype={"month": str}, engine="openpyxl")
    assert list(data.columns) == FACT_COLUMNS
    for column in ("team", "person", "customer_group"):  # empty text is written as no cell at all
        data[column] = data[column].fillna("")
    facts = result.facts[FACT_COLUMNS].reset_index(drop=True)
    assert len(data) == len(facts)
    assert data["month"].str.fullmatch(r"2027-(0[1-9]|1[0-2])").all()
    assert data["reported"].dtype == bool
    pd.testing.assert_frame_equal(data, facts, check_dtype=False, atol=1e-9)
    assert (data.loc[data["level"] == "company", ["team", "person"]] == "").all().all()


def test_data_sheet_cells_are_typed(data_book):
    sheet = data_book["Facts"]
    header = [c.value for c in sheet[1]]
    assert header == FACT_COLUMNS
    row = [c for c in sheet[2]]
    assert row[FACT_COLUMNS.index("month")].data_type == "s"
    assert row[FACT_COLUMNS.index("target")].data_type == "n"
    assert row[FACT_COLUMNS.index("reported")].data_type == "b"
    assert row[FACT_COLUMNS.index("attainment")].number_format == "0.0%"


def _series(xml: bytes) -> list[dict[str, str]]:
    """Every series of a chart part: the formulas of its name, categories and values."""
    out = []
    for ser in ElementTree.fromstring(xml).iter(f"{C}ser"):
        refs = {}
        for part in ("tx", "cat", "val"):
            node = ser.find(f"{C}{part}")
            f = node.find(f".//{C}f") if node is not None else None
            refs[part] = f.text if f is not None else ""
        out.append(refs)
    return out


def _cells(book, ref: str) -> tuple[str, list]:
    match = re.fullmatch(r"'?(.+?)'?!(\$?[A-Z]+\$?\d+(?::\$?[A-Z]+\$?\d+)?)", ref)
    assert match, ref
    sheet, cells = match.group(1).replace("''", "'"), match.group(2).replace("$", "")
    min_col, min_row, max_col, max_row = range_boundaries(cells)
    ws = book[sheet]
    return sheet, [ws.cell(r, c).value for r in range(min_row, max_row + 1) for c in range(min_col, max_col + 1)]


def test_dashboard_charts_point_at_the_right_data(result, book, parts):
    assert len(book["Dashboard"]._charts) == 4
    charts = [_series(xml) for name, xml in sorted(parts.items()) if re.fullmatch(r"xl/charts/chart\d+\.xml", name)]
    series = [s for chart in charts for s in chart]
    resolved = [{k: _cells(book, v) if v else ("", []) for k, v in s.items()} for s in series]
    f = result.facts
    company = f[(f["level"] == "company") & (f["customer_group"] == "") & (f["metric"] == "revenue")]
    company = company.sort_values("month")
    months = list(company["month"])
    people = result.people.sort_values("rank_company")
    teams = result.teams.sort_values("rank")

    def find(sheet: str, categories: list, values: list) -> dict:
        hits = [r for r in resolved if r["val"][0] == sheet and r["cat"][1] == categories
                and r["val"][1] == pytest.approx(values)]
        assert len(hits) == 1, (sheet, categories, values, resolved)
        return hits[0]

    # the month chart: company target and actual by month, and the cumulative lines
    target = find("Company", months, list(company["target"]))
    actual = find("Company", months, list(company["actual"].where(company["month"] <= MAR, 0.0)))
    assert (target["tx"][1], actual["tx"][1]) == (["Target"], ["Actual"])
    cumulative = list(company["actual"].where(company["month"] <= MAR, 0.0).cumsum())
    find("Company", months, list(company["target"].cumsum()))
    hits = [r for r in resolved if r["tx"][1] == ["Cumulative actual"]]
    assert len(hits) == 1 and hits[0]["val"][1][:3] == pytest.approx(cumulative[:3])
    assert hits[0]["val"][1][3:] == [None] * 9  # no cumulative actual after the month reported
    # team scores, best first
    find("Teams", list(teams["team"]), list(teams["score"]))
    # the top ten and the bottom ten people by score
    find("People", list(people["name"][:10]), list(people["score"][:10]))
    find("People", list(people["name"][-10:]), list(people["score"][-10:]))
    assert len(resolved) == 4 + 1 + 2


def test_dashboard_key_figures(result, book):
    sheet = book["Dashboard"]
    # March is not closed (S4's return was rejected): the title says so, and the line under it which months are
    assert sheet["A1"].value == "Testco: sales against target, 2027-03 (open: 1 returns still missing)"
    assert sheet["A2"].value == ("No month is closed yet. Open, figures may still change: 2027-01 (0 of 12 returns "
                                 "missing); 2027-02 (1 of 12 returns missing); 2027-03 (1 of 12 returns missing).")
    f = result.facts
    now = f[(f["level"] == "company") & (f["customer_group"] == "") & (f["month"] == MAR)].set_index("metric")
    for row, metric, label in ((4, "revenue", "Revenue (EUR)"), (5, "travel", "Travel (EUR)")):
        got = [sheet.cell(row, c).value for c in range(1, 8)]
        rec = now.loc[metric]
        assert got == [label, rec["annual_target"], rec["ytd_target"], rec["ytd_actual"], rec["ytd_attainment"],
                       rec["forecast"], rec["required_run_rate"]]


def test_people_and_matrix_sheets(result, book):
    people = pd.read_excel(result.summary, sheet_name="People", engine="openpyxl")
    assert list(people["Person"]) == list(result.people.sort_values(["rank_company", "person"])["person"])
    assert list(people["Rank in company"]) == list(range(1, 13))
    assert people.set_index("Person").loc["N2", "Name"] == "=SUM(1,2)"
    matrix = book["Matrix"]
    rows = {matrix.cell(r, 1).value: [matrix.cell(r, c).value for c in range(3, 6)] for r in range(3, 15)}
    assert rows["W3"][1] is None  # February was never reported: no attainment shown
    assert rows["W1"] == pytest.approx([1.2, 1.2, 1.2])
    assert rows["S4"][2] is None  # March was rejected


def test_flags_and_issues_sheets(result, book):
    flags = pd.read_excel(result.summary, sheet_name="Flags", engine="openpyxl")
    assert list(flags["Message"]) == list(result.flags["message"])
    issues = pd.read_excel(result.summary, sheet_name="Issues", engine="openpyxl")
    negatives = issues[(issues["owner"] == "S4") & (issues["code"] == "negative-value")]
    assert sorted(negatives["cell"]) == ["C6", "C7"]
    # no link into ../archive/: it would break in the copy mailed to the VP; the cells say where, as text
    for name in ("Issues", "Flags"):
        assert [c.coordinate for row in book[name].iter_rows() for c in row if c.hyperlink] == [], name
    with zipfile.ZipFile(result.summary) as z:
        rels = [z.read(n).decode() for n in z.namelist() if n.startswith("xl/worksheets/_rels/")]
    assert not any('TargetMode="External"' in r for r in rels)


def test_flag_messages_wrap_in_rows_tall_enough(result, book):
    from sheetplan.reports.print_layout import FLAG_MESSAGE_WIDTH
    from sheetplan.xlsx.fit import LINE_POINTS, wrapped_lines

    flags = book["Flags"]
    header = [c.value for c in flags[1]]
    column = header.index("Message") + 1
    checked = 0
    for r in range(2, flags.max_row + 1):
        cell = flags.cell(r, column)
        assert cell.alignment.wrap_text, cell.coordinate
        lines = wrapped_lines(str(cell.value), FLAG_MESSAGE_WIDTH, bold=False)
        if lines > 1:
            assert flags.row_dimensions[r].height >= lines * LINE_POINTS, cell.coordinate
            checked += 1
    assert flags.max_row > 1


def test_print_areas_make_a_manager_print_the_readable_sheets(result, book, data_book):
    """The data workbook's Facts and Audit print their header and the first 40 rows (their print header says
    the sheet holds all rows); every table repeats its header row on each printed page."""
    from sheetplan.reports.print_layout import SAMPLE_ROWS

    for name in ("Facts", "Audit"):
        ws = data_book[name]
        area = ws.print_area if isinstance(ws.print_area, str) else ws.print_area[0]
        _min_col, min_row, max_col, max_row = range_boundaries(area.split("!")[-1].replace("$", ""))
        assert (min_row, max_col) == (1, ws.max_column) and max_row == min(ws.max_row, SAMPLE_ROWS + 1), name
        if ws.max_row > SAMPLE_ROWS + 1:
            assert str(ws.max_row - 1) in ws.oddHeader.center.text, name
    for name in ("Flags", "Approvals", "Issues"):
        assert book[name].print_title_rows == "$1:$1", name
    for name in ("Facts", "Audit"):
        assert data_book[name].print_title_rows == "$1:$1", name
    for name in ("Dashboard", "Company", "Teams", "People", "Flags"):
        assert not book[name].print_area, name  # printed whole


def test_no_user_text_became_a_formula(parts, book):
    sheets = {n: x for n, x in parts.items() if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n)}
    assert len(sheets) == len(SHEETS)
    for name, xml in sheets.items():
        assert not re.search(rb"<f[ >/]", xml), f"{name} holds a formula"
    # text that starts with '=' is stored as text
    texts = [c for ws in book for row in ws.iter_rows() for c in row
             if isinstance(c.value, str) and c.value.startswith("=")]
    assert {c.value for c in texts} >= {"=SUM(1,2)"}
    assert all(c.data_type == "s" for c in texts)
    messages = [c.value for row in book["Flags"].iter_rows(min_row=2) for c in row if isinstance(c.value, str)]
    assert any(m.startswith("=SUM(1,2) (N2):") for m in messages)
    assert any(m.endswith('=cmd|" /C calc"!A0') for m in messages)


@pytest.mark.parametrize(("sheet", "columns"), [("People", 8), ("Flags", 8), ("Facts", len(FACT_COLUMNS))])
def test_frozen_headers_and_filters(book, data_book, sheet, columns):
    ws = data_book[sheet] if sheet == "Facts" else book[sheet]
    frozen = ws.freeze_panes
    assert frozen and re.fullmatch(r"[A-Z]+2", frozen), frozen  # the header row stays in view
    min_col, min_row, max_col, max_row = range_boundaries(ws.auto_filter.ref)
    assert (min_col, min_row, max_col) == (1, 1, columns)
    assert max_row == ws.max_row


def test_team_workbooks_hold_only_their_team(result):
    assert sorted(p.name for p in result.team_files) == [f"team-{t}-2027-03.xlsx" for t in ("North", "South",
                                                                                              "West")]
    for path in result.team_files:
        team = path.name.split("-")[1]
        book = openpyxl.load_workbook(path, read_only=True)
        assert book.sheetnames == ["People", "Matrix", "Flags", "Data", "Months"]
        title = openpyxl.load_workbook(path)["People"]["A1"].value  # says which team and month
        assert title.startswith(f"Team {team} - ") and "2027-03" in title
        people = pd.read_excel(path, sheet_name="People", engine="openpyxl", header=1)
        assert sorted(people["Person"]) == sorted(s.pid for s in SELLERS if s.team == team)
        data = pd.read_excel(path, sheet_name="Data", engine="openpyxl")
        assert set(data["team"]) == {team}
        assert set(data["level"]) == {"person", "team"}
        assert set(data.loc[data["level"] == "person", "person"]) == set(people["Person"])
        flags = pd.read_excel(path, sheet_name="Flags", engine="openpyxl")
        assert set(flags["Team"]) <= {team}


def convert_to_pdf(source: Path, outdir: Path, timeout: float = 180) -> Path:
    """LibreOffice headless with a profile of its own, so it never meets another running soffice."""
    profile = Path("/tmp") / f"sheetplan-lo-{uuid.uuid4().hex}"
    soffice = shutil.which("soffice") or "/usr/lib/libreoffice/program/soffice"
    try:
        done = subprocess.run([soffice, f"-env:UserInstallation=file://{profile}", "--headless", "--norestore",
                               "--convert-to", "pdf", "--outdir", str(outdir), str(source)],
                              capture_output=True, text=True, timeout=timeout, env={**os.environ, "HOME": str(profile)})
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert done.returncode == 0, done.stderr
    return outdir / f"{source.stem}.pdf"


def test_libreoffice_converts_the_summary_to_pdf(result, tmp_path):
    pdf = convert_to_pdf(result.summary, tmp_path)
    assert pdf.is_file()
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert pdf.stat().st_size > 10_000
