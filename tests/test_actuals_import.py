"""Actuals imported from an ERP or CRM export: the sums that count, whole-file rejection, duplicates,
supersession, encodings and formats, and reconciliation with the salespeople's own reports.

The office is test_consolidate's Testco (teams North: N1 N2 N3, South: S1 S2; groups Key and Web; metrics
revenue and the travel budget), with an [actuals] table appended to its sheetplan.toml per test.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from click.testing import CliRunner
from test_consolidate import CONFIG, FLAGS, Seller, make_workspace, return_month

from sheetplan import api
from sheetplan.cli import main
from sheetplan.errors import ConfigError
from sheetplan.reports.consolidate import consolidate
from sheetplan.workspace.actuals_config import export_metrics
from sheetplan.workspace.config import parse_config
from sheetplan.workspace.folder import open_workspace

FEB, MAR = "2027-02", "2027-03"
MANAGERS = {"North": ("M1", "Mona North"), "South": ("M2", "Sam South")}
SELLERS = [Seller("N1", "Ann One", "North"), Seller("N2", "Ned Two", "North"), Seller("N3", "Nils Three", "North"),
           Seller("S1", "Sven One", "South"), Seller("S2", "Sara Two", "South")]
HEADER = ["date", "person", "customer_group", "customer", "revenue"]
NEW_CUSTOMERS = """
[[metrics]]
key = "new_customers"
label_en = "New customers"
label_zh = "新客户数"
decimals = 0
max_value = 100000
"""


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("testco") / "ws"
    make_workspace(root, "en", MANAGERS, SELLERS)
    return root


def office(pristine: Path, tmp_path: Path, actuals: str, metrics: str = ""):
    """A copy of Testco whose sheetplan.toml ends with `actuals` (an [actuals] table)."""
    root = tmp_path / "ws"
    shutil.copytree(pristine, root)
    text = CONFIG.format(lang="en", company="Testco", **FLAGS) + metrics + "\n" + actuals
    (root / "sheetplan.toml").write_text(text, encoding="utf-8")
    return open_workspace(root)


def write_csv(path: Path, rows: list[list], header=HEADER, encoding: str = "utf-8", delimiter: str = ",") -> Path:
    lines = [delimiter.join(header)] + [delimiter.join(str(v) for v in row) for row in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def person_facts(ws, month: str, metric: str = "revenue"):
    facts = consolidate(ws, month).facts
    rows = facts[(facts["month"] == month) & (facts["metric"] == metric)]
    return rows


def stored(ws) -> dict:
    with ws.store() as store:
        return {table: store.db.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
                for table in ("actual_imports", "import_months", "imported_values", "imported_customers")}


# March lines; N2 is named by email, Key is typed in lower case once. Worked out by hand:
# N1 Key 100.10 + 200.20 = 300.30, N1 Web 50.00 + 1,234.50 = 1284.50 (total 1584.80),
# N2 Key 1000.00 (Web: no line, so 0), N3 and the South team: no line, so 0.
# North = 1584.80 + 1000.00 + 0 = 2584.80; South 0; the company 2584.80. February: N1 Key 10.
MARCH_LINES = [
    ["2027-03-02", "N1", "Key", "C1", "100.10"],
    ["2027-03-15", "N1", "key", "C2", "200.20"],
    ["2027-03-20", "N1", "Web", "C3", "50"],
    ["2027-03-31", "N1", "Web", "C3", '"1,234.50"'],
    ["2027-03", "n2@testco.example", "Key", "C4", "1000"],
    ["2027-02-10", "N1", "Key", "C1", "10"],
]


def test_known_answer_imported_actuals_are_the_facts(pristine, tmp_path):
    """source = imported: the facts carry exactly the sums worked out by hand above, with source imported."""
    ws = office(pristine, tmp_path, '[actuals]\nsource = "imported"\nmetrics = ["revenue"]\n')
    report = api.import_actuals(ws, [write_csv(tmp_path / "erp.csv", MARCH_LINES)])
    assert [(o.status, o.lines, o.months) for o in report.outcomes] == [("accepted", 6, [FEB, MAR])]
    rows = person_facts(ws, MAR)
    got = {(r.level, r.team, r.person, r.customer_group): (r.actual, r.source) for r in rows.itertuples()}
    assert got[("person", "North", "N1", "Key")] == (300.30, "imported")
    assert got[("person", "North", "N1", "Web")] == (1284.50, "imported")
    assert got[("person", "North", "N1", "")] == (1584.80, "imported")
    assert got[("person", "North", "N2", "Key")] == (1000.0, "imported")
    assert got[("person", "North", "N2", "Web")] == (0.0, "imported")
    assert got[("person", "North", "N3", "")] == (0.0, "imported")
    assert got[("team", "North", "", "")] == (2584.80, "imported")
    assert got[("team", "South", "", "")] == (0.0, "imported")
    assert got[("company", "", "", "")] == (2584.80, "imported")
    feb = person_facts(ws, FEB)
    assert feb[(feb["person"] == "N1") & (feb["customer_group"] == "Key")]["actual"].tolist() == [10.0]
    travel = person_facts(ws, MAR, "travel")  # not in the export: still the reports' (none here)
    assert set(travel["source"]) == {"none"} and not travel["reported"].any()
    with ws.store() as store:
        view = store.db.execute("SELECT owner, period, customer_group, value, source, source_file FROM accepted_values"
                                " WHERE metric = 'revenue' AND owner = 'N1' AND period = ?", (MAR,)).fetchall()
    assert sorted(view) == [("N1", MAR, "Key", 300.30, "imported", "erp.csv"),
                            ("N1", MAR, "Web", 1284.50, "imported", "erp.csv")]


def test_same_file_twice_changes_nothing(pristine, tmp_path):
    ws = office(pristine, tmp_path, '[actuals]\nmetrics = ["revenue"]\n')
    export = write_csv(tmp_path / "erp.csv", MARCH_LINES)
    api.import_actuals(ws, [export])
    before = stored(ws)
    copy = tmp_path / "copy of erp.csv"
    shutil.copyfile(export, copy)
    again = api.import_actuals(ws, [export, copy])
    assert [o.status for o in again.outcomes] == ["duplicate", "duplicate"]
    assert again.exit_code == 0
    assert stored(ws) == before


def test_one_bad_line_among_a_thousand_rejects_the_file(pristine, tmp_path):
    """Line 638 of the data (row 639 as the file shows it, the header being row 1) holds a text amount."""
    ws = office(pristine, tmp_path, '[actuals]\nmetrics = ["revenue"]\n')
    rows = [[f"2027-03-{1 + i % 28:02d}", ("N1", "N2", "S1")[i % 3], ("Key", "Web")[i % 2], f"C{i}", i + 0.5]
            for i in range(1000)]
    rows[637][4] = "12 EUR"
    export = write_csv(tmp_path / "erp.csv", rows)
    result = CliRunner().invoke(main, ["-w", str(ws.root), "actuals", "import", str(export)])
    assert result.exit_code == 1, result.output
    assert "erp.csv row 639 [revenue]" in result.output and "(not-a-number)" in result.output
    data = stored(ws)
    assert [(r[2], r[6]) for r in data["actual_imports"]] == [("erp.csv", "rejected")]
    assert data["import_months"] == data["imported_values"] == data["imported_customers"] == []
    (report,) = sorted((ws.root / "reports").glob("actuals-*.xlsx"))
    sheet = openpyxl.load_workbook(report)["Problems"]
    header = [c.value for c in sheet[1]]
    found = [dict(zip(header, (c.value for c in row))) for row in sheet.iter_rows(min_row=2)]
    assert [(p["row"], p["field"], p["value"], p["code"]) for p in found] == [(639, "revenue", "12 EUR",
                                                                                "not-a-number")]
    fixed = rows.copy()
    fixed[637] = [*rows[637][:4], 12]
    assert api.import_actuals(ws, [write_csv(tmp_path / "erp-fixed.csv", fixed)]).exit_code == 0


def test_every_problem_is_listed_with_row_column_value_and_code(pristine, tmp_path):
    """Renamed columns and a line id: each kind of bad line once, all reported, nothing recorded."""
    ws = office(pristine, tmp_path, """[actuals]
metrics = ["revenue"]
line_id = true
[actuals.columns]
date = "Posting Date"
person = "Sales Rep"
customer_group = "Segment"
revenue = "Net Amount"
line_id = "Invoice Line"
""")
    header = ["Invoice Line", "Posting Date", "Sales Rep", "Segment", "Net Amount"]
    rows = [["A-1", "2027-03-01", "N1", "Key", "10"],
            ["A-2", "2026-12-31", "N1", "Key", "10"],  # row 3: before the fiscal year
            ["A-3", "2027-03-01", "ZZ9", "Key", "10"],  # row 4: nobody in the roster
            ["A-4", "2027-03-01", "N1", "Retail", "10"],  # row 5: no such customer group
            ["A-5", "2027-03-01", "N1", "Web", "N/A"],  # row 6: not an amount
            ["A-1", "2027-03-01", "N2", "Web", "10"],  # row 7: the line id of row 2 again
            ["A-7", "31/03/2027", "N2", "Web", "10"]]  # row 8: a date that is not year-first
    report = api.import_actuals(ws, [write_csv(tmp_path / "erp.csv", rows, header=header, delimiter=";")])
    (outcome,) = report.outcomes
    assert outcome.status == "rejected"
    assert [(p.row, p.field, p.value, p.code) for p in outcome.problems] == [
        (3, "Posting Date", "2026-12-31", "date-outside-year"),
        (4, "Sales Rep", "ZZ9", "unknown-person"),
        (5, "Segment", "Retail", "unknown-customer-group"),
        (6, "Net Amount", "N/A", "not-a-number"),
        (7, "Invoice Line", "A-1", "duplicate-line-id"),
        (8, "Posting Date", "31/03/2027", "bad-date"),
    ]
    assert stored(ws)["imported_values"] == []


def test_missing_columns_name_what_the_mapping_expects(pristine, tmp_path):
    ws = office(pristine, tmp_path, '[actuals]\nmetrics = ["revenue"]\n[actuals.columns]\nrevenue = "Amount"\n')
    report = api.import_actuals(ws, [write_csv(tmp_path / "erp.csv", MARCH_LINES)])
    assert [(p.row, p.field, p.code) for p in report.outcomes[0].problems] == [(1, "Amount", "missing-column")]


ENCODED = [["2027-03-02", "N1", "Key", "客户甲", "100.10"], ["2027-03-15", "N2", "Web", "客户乙", "200.20"]]


@pytest.mark.parametrize(("encoding", "delimiter"), [("utf-8-sig", ","), ("gb18030", ";"), ("utf-16", "\t"),
                                                     ("utf-8", "|")])
def test_csv_in_any_common_encoding_and_delimiter(pristine, tmp_path, encoding, delimiter):
    """Chinese headers mapped in [actuals.columns] and Chinese customer names, however the file was saved."""
    ws = office(pristine, tmp_path, """[actuals]
metrics = ["revenue"]
[actuals.columns]
date = "日期"
person = "业务员"
customer_group = "客户类别"
customer = "客户"
revenue = "金额"
""")
    header = ["日期", "业务员", "客户类别", "客户", "金额"]
    export = write_csv(tmp_path / "erp.csv", ENCODED, header, encoding, delimiter)
    (outcome,) = api.import_actuals(ws, [export]).outcomes
    assert outcome.status == "accepted", [p.describe() for p in outcome.problems]
    with ws.store() as store:
        rows = store.db.execute("SELECT person, customer_group, value FROM imported_values ORDER BY 1").fetchall()
    assert rows == [("N1", "Key", 100.10), ("N2", "Web", 200.20)]


def test_xlsx_export_with_real_dates_through_the_safe_reader(pristine, tmp_path):
    ws = office(pristine, tmp_path, '[actuals]\nmetrics = ["revenue"]\n')
    path = tmp_path / "erp.xlsx"
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet("Export")
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, HEADER)
    sheet.write_datetime(1, 0, date(2027, 3, 2), day)
    sheet.write_row(1, 1, ["N1", "Key", "C1", 100.1])
    sheet.write_string(2, 0, "2027-03-09")
    sheet.write_row(2, 1, ["N1", "Key", "C2", 0.2])
    sheet.write_datetime(3, 0, date(2027, 3, 9), day)
    sheet.write_row(3, 1, ["N2", "Web", "C2"])
    sheet.write_formula(3, 4, "=1+1", None, 2)  # a formula's cached value is never trusted
    book.close()
    (outcome,) = api.import_actuals(ws, [path]).outcomes
    assert [(p.row, p.field, p.code) for p in outcome.problems] == [(4, "revenue", "formula-in-line")]
    book = openpyxl.load_workbook(path)
    book["Export"]["E4"] = 5
    book.save(path)
    (outcome,) = api.import_actuals(ws, [path]).outcomes
    assert (outcome.status, outcome.read_as) == ("accepted", "xlsx Export")
    with ws.store() as store:
        rows = store.db.execute("SELECT person, month, customer_group, value FROM imported_values"
                                " ORDER BY 1").fetchall()
    assert [(p, m, g, round(v, 2)) for p, m, g, v in rows] == [("N1", MAR, "Key", 100.3), ("N2", MAR, "Web", 5.0)]


def test_a_file_that_is_no_export_is_refused_with_what_it_is(pristine, tmp_path):
    ws = office(pristine, tmp_path, '[actuals]\nmetrics = ["revenue"]\n')
    pdf = tmp_path / "erp.csv"
    pdf.write_bytes(b"%PDF-1.4 not an export")
    (outcome,) = api.import_actuals(ws, [pdf]).outcomes
    assert [p.code for p in outcome.problems] == ["not-an-export"]


def test_a_later_export_of_a_month_supersedes_the_earlier_for_that_month_only(pristine, tmp_path):
    ws = office(pristine, tmp_path, '[actuals]\nsource = "imported"\nmetrics = ["revenue"]\n')
    first = write_csv(tmp_path / "erp-1.csv", [["2027-02-01", "N1", "Key", "C1", 10], ["2027-03-01", "N1", "Key",
                                                                                     "C1", 20]])
    second = write_csv(tmp_path / "erp-2.csv", [["2027-03-05", "N1", "Key", "C1", 25]])
    api.import_actuals(ws, [first])
    (outcome,) = api.import_actuals(ws, [second]).outcomes
    assert outcome.replaced == {MAR: "erp-1.csv"}
    with ws.store() as store:
        view = store.db.execute("SELECT period, value, source_file FROM accepted_values WHERE source = 'imported'"
                                " ORDER BY period").fetchall()
        statuses = store.db.execute("SELECT original_name, status FROM actual_imports ORDER BY id").fetchall()
    assert view == [(FEB, 10.0, "erp-1.csv"), (MAR, 25.0, "erp-2.csv")]
    assert statuses == [("erp-1.csv", "accepted"), ("erp-2.csv", "accepted")]
    third = write_csv(tmp_path / "erp-3.csv", [["2027-02-01", "N1", "Key", "C1", 11], ["2027-03-01", "N1", "Key",
                                                                                     "C1", 26]])
    api.import_actuals(ws, [third])
    with ws.store() as store:
        statuses = store.db.execute("SELECT original_name, status FROM actual_imports ORDER BY id").fetchall()
        kept = store.db.execute("SELECT COUNT(*) FROM imported_values").fetchone()[0]
    assert statuses == [("erp-1.csv", "superseded"), ("erp-2.csv", "superseded"), ("erp-3.csv", "accepted")]
    assert kept == 5  # the superseded figures stay in the store as history
    facts = person_facts(ws, MAR)
    assert facts[(facts["person"] == "N1") & (facts["customer_group"] == "Key")]["actual"].tolist() == [26.0]
    status = CliRunner().invoke(main, ["-w", str(ws.root), "status"])
    assert f"{MAR}: erp-3.csv, 1 lines" in status.output and "replaced 2 earlier export(s)" in status.output
    history = CliRunner().invoke(main, ["-w", str(ws.root), "history", "N1"])
    assert f"{MAR} revenue: 26.00 from erp-3.csv" in history.output


def test_dry_run_records_nothing(pristine, tmp_path):
    ws = office(pristine, tmp_path, '[actuals]\nmetrics = ["revenue"]\n')
    result = CliRunner().invoke(main, ["-w", str(ws.root), "actuals", "import", "--dry-run",
                                       str(write_csv(tmp_path / "erp.csv", MARCH_LINES))])
    assert result.exit_code == 0, result.output
    assert "WOULD IMPORT erp.csv: 6 lines" in result.output
    assert stored(ws)["actual_imports"] == []


def test_new_customers_are_counted_on_their_first_line_ever(pristine, tmp_path):
    """February: C1 and C2 first appear for N1 in Key (2); C1 again is not new. March, a second file: C1
    (seen in February) is not new, C3 is, for N2 in Web (1)."""
    ws = office(pristine, tmp_path, '[actuals]\nmetrics = ["revenue"]\n', NEW_CUSTOMERS)
    api.import_actuals(ws, [write_csv(tmp_path / "feb.csv", [
        ["2027-02-01", "N1", "Key", "C1", 1], ["2027-02-02", "N1", "Key", "C2", 1],
        ["2027-02-03", "N1", "Web", "C1", 1]])])
    api.import_actuals(ws, [write_csv(tmp_path / "mar.csv", [
        ["2027-03-01", "N2", "Key", "C1", 1], ["2027-03-02", "N2", "Web", "C3", 1]])])
    with ws.store() as store:
        rows = store.db.execute("SELECT person, month, customer_group, value FROM imported_values"
                                " WHERE metric = 'new_customers' ORDER BY month").fetchall()
    assert rows == [("N1", FEB, "Key", 2.0), ("N2", MAR, "Web", 1.0)]


def test_both_flags_a_report_beyond_the_tolerance_and_not_one_within(pristine, tmp_path):
    """N1 and N2 report their March targets. The export says N1 sold 0.5 % more (within 1 %) and N2 10 %
    more: only N2 is flagged, naming both figures and the export; the reported figures stay the actuals."""
    ws = office(pristine, tmp_path, '[actuals]\nsource = "both"\ntolerance = 0.01\nmetrics = ["revenue"]\n')
    return_month(ws, MAR, {"N1": 1.0, "N2": 1.0}, only=["N1", "N2"])
    with ws.store() as store:
        reported = store.db.execute("SELECT owner, customer_group, value FROM accepted_values WHERE source ="
                                    " 'reported' AND metric = 'revenue' AND period = ?", (MAR,)).fetchall()
    factor = {"N1": 1.005, "N2": 1.10}
    lines = [["2027-03-10", owner, group, f"C-{owner}-{group}", round(value * factor[owner], 2)]
             for owner, group, value in reported]
    api.import_actuals(ws, [write_csv(tmp_path / "erp-march.csv", lines)])
    result = consolidate(ws, MAR)
    flags = result.flags[result.flags["code"] == "actuals-mismatch"]
    assert flags[["person", "month", "metric", "file"]].values.tolist() == [["N2", MAR, "revenue", "erp-march.csv"]]
    n2 = sum(v for o, _g, v in reported if o == "N2")
    assert f"reported {n2:,.2f}" in flags["message"].iloc[0]
    assert f"the export says {sum(round(v * 1.1, 2) for o, _g, v in reported if o == 'N2'):,.2f}" in \
        flags["message"].iloc[0]
    facts = result.facts
    n1 = facts[(facts["person"] == "N1") & (facts["month"] == MAR) & (facts["metric"] == "revenue")
               & (facts["customer_group"] == "")]
    assert n1[["actual", "source"]].values.tolist() == [[sum(v for o, _g, v in reported if o == "N1"), "reported"]]


def test_actuals_config_is_checked_with_key_paths():
    base = CONFIG.format(lang="en", company="Testco", **FLAGS)
    with pytest.raises(ConfigError) as caught:
        parse_config(base + '[actuals]\nsource = "erp"\nmetrics = ["profit"]\n[actuals.columns]\nfoo = "x"\n')
    fields = sorted(p.field for p in caught.value.problems)
    assert fields == ["actuals.columns.foo", "actuals.metrics[0]", "actuals.source"]
    config = parse_config(base + '[actuals]\nsource = "both"\n[actuals.columns]\nrevenue = "Net"\n')
    assert (config.actuals.source, export_metrics(config), config.actuals.header("revenue")) == (
        "both", ("revenue", "travel"), "Net")


def test_zh_messages(pristine, tmp_path):
    ws = office(pristine, tmp_path, '[actuals]\nmetrics = ["revenue"]\n')
    text = (ws.root / "sheetplan.toml").read_text(encoding="utf-8").replace('language = "en"', 'language = "zh"')
    (ws.root / "sheetplan.toml").write_text(text, encoding="utf-8")
    ws = open_workspace(ws.root)
    (outcome,) = api.import_actuals(ws, [write_csv(tmp_path / "erp.csv", [["2027-03-01", "N1", "零售", "C", 1]])]
                                    ).outcomes
    assert outcome.problems[0].message == "“customer_group”列的“零售”不是 sheetplan.toml 中的客户类别。"


def test_month_templates_after_an_import_show_the_imported_figures_locked(pristine, tmp_path):
    """source = imported: March's template shows N1's export sums where the actuals were typed (locked and
    signed, so a change is tampering) and keeps the travel input; the returned workbook brings its comment."""
    from sheetplan.demo.simulate import fill_file, input_areas, read_block

    ws = office(pristine, tmp_path, '[actuals]\nsource = "imported"\nmetrics = ["revenue"]\n')
    api.import_actuals(ws, [write_csv(tmp_path / "erp.csv", MARCH_LINES)])
    sent = api.generate(ws, "month", month=MAR, only=["N1"])
    (path,) = sent.files
    book = openpyxl.load_workbook(path)
    areas = input_areas(book)
    assert "in_revenue" not in areas and "in_travel" in areas and "in_comment" in areas
    assert read_block(book, areas["locked_imported_revenue"]) == [[300.30], [1284.50]]
    sheet = book[areas["locked_imported_revenue"].sheet]
    first = areas["locked_imported_revenue"]
    assert sheet.cell(first.first_row + 1, first.first_col + 1).protection.locked
    travel = [[t] for (t,) in read_block(book, areas["target_travel"])]
    returned = ws.folder("inbox") / path.name
    fill_file(path, returned, {"in_travel": travel, "in_comment": [["two big orders"], [None]]})
    report = api.ingest(ws, [returned])
    assert report.counts["accepted"] == 1, report.to_frame().to_dict("records")
    facts = person_facts(ws, MAR)
    n1 = facts[(facts["person"] == "N1") & (facts["customer_group"] == "")]
    assert n1[["actual", "source"]].values.tolist() == [[1584.80, "imported"]]


def test_the_audit_sheet_names_the_export_of_every_imported_figure(pristine, tmp_path):
    """Two exports of March for N1 Key (20, then 25): both stand in the audit trail, the second as version 2
    with the first as its previous value, each naming its file and whether it still counts."""
    from sheetplan.plan.audit import audit_trail

    ws = office(pristine, tmp_path, '[actuals]\nmetrics = ["revenue"]\n')
    api.import_actuals(ws, [write_csv(tmp_path / "erp-1.csv", [["2027-03-01", "N1", "Key", "C1", 20]])])
    api.import_actuals(ws, [write_csv(tmp_path / "erp-2.csv", [["2027-03-05", "N1", "Key", "C1", 25]])])
    trail = audit_trail(ws)
    mine = trail[trail["source"] == "imported"]
    assert mine[["owner", "period", "metric", "customer_group", "version", "value", "previous_value",
                 "submitted_file", "submission_kind"]].values.tolist() == [
        ["N1", MAR, "revenue", "Key", 1, 20.0, pytest.approx(float("nan"), nan_ok=True), "erp-1.csv",
         "actuals:superseded"],
        ["N1", MAR, "revenue", "Key", 2, 25.0, 20.0, "erp-2.csv", "actuals:accepted"]]


def test_an_export_of_a_closed_month_is_rejected_until_it_is_reopened(pristine, tmp_path):
    ws = office(pristine, tmp_path, '[actuals]\nmetrics = ["revenue"]\n')
    api.close_month(ws, FEB)
    export = write_csv(tmp_path / "erp.csv", MARCH_LINES)  # one line is February's
    (outcome,) = api.import_actuals(ws, [export]).outcomes
    assert [(p.code, p.value) for p in outcome.problems] == [("month-closed", FEB)]
    assert stored(ws)["imported_values"] == []
    again = api.import_actuals(ws, [export])  # still closed: rejected again, with the same problem
    assert [(o.status, [p.code for p in o.problems]) for o in again.outcomes] == [("rejected", ["month-closed"])]
    api.reopen_month(ws, FEB, reason="the ERP booked a late invoice")
    assert api.import_actuals(ws, [export]).outcomes[0].status == "accepted"
    with ws.store() as store:
        assert store.db.execute("SELECT status FROM actual_imports").fetchall() == [("accepted",)]
