"""Ingest of returned workbooks: round trips for every template kind, the value normalisation table, totals,
and the ledger rules (duplicate, supersede, stale, rejected, untouched inputs, --move, dry run).

Every returned file is a real .xlsx: a generated template filled with openpyxl in the cells of its `in_`
names only, saved, and read back by sheetplan. Assertions are on (sheet, cell, code) and on stored values.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import openpyxl
import pytest
from conftest import moved, sent_file

from sheetplan import api
from sheetplan.api import ingest
from sheetplan.demo.simulate import input_areas, read_block

YEAR = "2027"
MONTH = "2027-03"
GROUPS = ("Key accounts", "Distributors", "OEM", "Public sector", "Online")
METRICS = {"revenue": 2, "quantity": 0, "new_customers": 0, "expenses": 2}  # metric -> decimals (demo config)
T0 = 1_700_000_000  # file times (2023, in the past) order the copies that one ingest first sees together

# One month report typed by hand, and what the store must hold for it.
MONTH_TYPED = {
    "in_revenue": [[1000], [2000.5], [0], [12.34], [99999.99]],
    "in_quantity": [[10], [0], [3], [7], [1]],
    "in_new_customers": [[1], [0], [0], [2], [0]],
    "in_expenses": [[100.1], [0], [0], [0], [250]],
}
MONTH_STORED = [
    ("in_revenue", "Key accounts", "actual", 1000.0),
    ("in_revenue", "Distributors", "actual", 2000.5),
    ("in_revenue", "OEM", "actual", 0.0),
    ("in_revenue", "Public sector", "actual", 12.34),
    ("in_revenue", "Online", "actual", 99999.99),
    ("in_quantity", "Key accounts", "actual", 10.0),
    ("in_quantity", "Distributors", "actual", 0.0),
    ("in_quantity", "OEM", "actual", 3.0),
    ("in_quantity", "Public sector", "actual", 7.0),
    ("in_quantity", "Online", "actual", 1.0),
    ("in_new_customers", "Key accounts", "actual", 1.0),
    ("in_new_customers", "Distributors", "actual", 0.0),
    ("in_new_customers", "OEM", "actual", 0.0),
    ("in_new_customers", "Public sector", "actual", 2.0),
    ("in_new_customers", "Online", "actual", 0.0),
    ("in_expenses", "Key accounts", "actual", 100.1),
    ("in_expenses", "Distributors", "actual", 0.0),
    ("in_expenses", "OEM", "actual", 0.0),
    ("in_expenses", "Public sector", "actual", 0.0),
    ("in_expenses", "Online", "actual", 250.0),
]


class Formula(str):
    """Typed into a cell as a formula (openpyxl writes text starting with '=' as <f>)."""


# --- helpers -------------------------------------------------------------------------------------------


@functools.cache
def _template(path: Path):
    """Generated templates never change once written: read each one once."""
    book = openpyxl.load_workbook(path)
    return book, input_areas(book)


def block_of(path: Path, name: str) -> list[list]:
    book, areas = _template(path)
    return [list(row) for row in read_block(book, areas[name])]


def type_into(source: Path, target: Path, values: dict[str, list[list]], mtime: int | None = None) -> Path:
    """A copy of the template with `values` typed into the cells of the named in_ blocks, as a person would.

    Strings stay text (even '=...'); Formula values become formulas; None leaves a cell empty."""
    book = openpyxl.load_workbook(source)
    areas = input_areas(book)
    for name, rows in values.items():
        assert name.startswith("in_"), name
        area = areas[name]
        sheet = book[area.sheet]
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                cell = sheet.cell(area.first_row + r + 1, area.first_col + c + 1)
                cell.value = value if not isinstance(value, Formula) else str(value)
                if isinstance(value, str) and not isinstance(value, Formula):
                    cell.data_type = "s"
    target.parent.mkdir(parents=True, exist_ok=True)
    book.save(target)
    if mtime is not None:
        os.utime(target, (mtime, mtime))
    return target


def month_return(ws, owner: str, target: Path, mtime: int | None = None, revision: int | None = None,
                 **changes) -> Path:
    """A month report for `owner`: MONTH_TYPED with whole blocks replaced by `changes` (in_x=rows)."""
    values = {name: [list(row) for row in rows] for name, rows in MONTH_TYPED.items()}
    values.update(changes)
    return type_into(sent_file(ws, "month", owner, revision), target, values, mtime)


def triples(outcome) -> list[tuple[str, str, str]]:
    return [(p.sheet, p.cell, p.code) for p in outcome.problems]


def by_name(report) -> dict:
    return {o.name: o for o in report.outcomes}


def stored_values(ws, submission_id: int) -> list[tuple]:
    db = sqlite3.connect(ws.root / ".sheetplan" / "plan.sqlite")
    try:
        return sorted(db.execute("SELECT block, row_key, col_key, value FROM submitted_values WHERE submission_id"
                                 " = ?", (submission_id,)).fetchall())
    finally:
        db.close()


def stored_texts(ws, submission_id: int) -> list[tuple]:
    db = sqlite3.connect(ws.root / ".sheetplan" / "plan.sqlite")
    try:
        return sorted(db.execute("SELECT block, row_key, col_key, text FROM submitted_texts WHERE submission_id"
                                 " = ?", (submission_id,)).fetchall())
    finally:
        db.close()


def statuses(ws) -> dict[int, str]:
    with ws.store() as store:
        return dict(store.db.execute("SELECT id, status FROM submissions"))


def current_month_values(ws, owner: str) -> list[tuple]:
    """What the store currently holds as the owner's month report: the accepted submission's values."""
    with ws.store() as store:
        rows = store.db.execute("SELECT id FROM submissions WHERE kind = 'month' AND owner = ? AND period = ?"
                                " AND status = 'accepted'", (owner, MONTH)).fetchall()
    assert len(rows) == 1, rows
    return stored_values(ws, rows[0][0])


def accepted_targets(ws) -> dict[tuple[str, str, str, str, str], float]:
    with ws.store() as store:
        return {(r.level, r.owner, r.period, r.metric, r.customer_group): r.value
                for r in store.current_targets() if r.source == "accepted"}


def all_targets(ws) -> list:
    with ws.store() as store:
        return sorted(store.current_targets(), key=repr)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def first(grid_rows: list[list]) -> list:
    return [row[0] for row in grid_rows]


# --- 1. round trips ------------------------------------------------------------------------------------


COMMENTS = ["Two key accounts postponed orders to April.", None, "客户延期到四月", None, "two\nlines"]
REASON = "Lost our largest OEM customer."


@pytest.fixture(scope="module")
def round_trip(make_workspace):
    """Company, team (North), person (P004) and month (P004) templates filled and ingested in one batch."""
    ws = make_workspace("roundtrip", approvals=("revision",))  # plans official at once; the request waits
    inbox = ws.folder("inbox") / "round"
    typed: dict[str, dict[str, list[list]]] = {}
    for index, (kind, owner) in enumerate((("company", "P002"), ("team", "P003"), ("person", "P004"))):
        source = sent_file(ws, kind, owner)
        typed[kind] = {f"in_{m}": moved(block_of(source, f"in_{m}"), d) for m, d in METRICS.items()}
        type_into(source, inbox / f"{kind}.xlsx", typed[kind], T0 + index)
    month_return(ws, "P004", inbox / "month.xlsx", T0 + 3, in_comment=[[c] for c in COMMENTS],
                 in_revision=[[900000.5], [None], [12], [None]], in_revision_reason=[[REASON]])
    rows = {kind: {m: first(block_of(sent_file(ws, kind, o), f"rows_{m}")) for m in METRICS}
            for kind, o in (("company", "P002"), ("team", "P003"), ("person", "P004"))}
    months = block_of(sent_file(ws, "person", "P004"), "cols_revenue")[0]
    report = ingest(ws, [inbox])
    return SimpleNamespace(ws=ws, report=report, typed=typed, rows=rows, months=months)


def test_round_trip_every_kind_is_accepted_without_problems(round_trip):
    report = round_trip.report
    assert [(o.name, o.status, o.kind, triples(o)) for o in report.outcomes] == [
        ("company.xlsx", "accepted", "company", []),
        ("team.xlsx", "accepted", "team", []),
        ("person.xlsx", "accepted", "person", []),
        ("month.xlsx", "accepted", "month", []),
    ]
    assert [(o.owner, o.period, o.revision) for o in report.outcomes] == [
        ("P002", YEAR, 1), ("P003", YEAR, 1), ("P004", YEAR, 1), ("P004", MONTH, 1)]
    assert report.exit_code == 0


@pytest.mark.parametrize("kind", ["company", "team", "person"])
def test_round_trip_plan_values_are_stored_as_typed(round_trip, kind):
    rt = round_trip
    ws, report, typed, rows, months = rt.ws, rt.report, rt.typed, rt.rows, rt.months
    outcome = by_name(report)[f"{kind}.xlsx"]
    expected = []
    for metric in METRICS:
        name = f"in_{metric}"
        for r, row_key in enumerate(rows[kind][metric]):
            cols = months if kind == "person" else ["target"]
            for c, col_key in enumerate(cols):
                expected.append((name, row_key, col_key, typed[kind][name][r][c]))
        if kind == "company":  # the company target, returned as pre-filled (the suggestion)
            (target,), = block_of(sent_file(ws, "company", "P002"), f"in_company_{metric}")
            expected.append((f"in_company_{metric}", "company", "target", target))
    assert stored_values(ws, outcome.submission_id) == sorted(expected)


def test_round_trip_company_plan_sets_team_targets(round_trip):
    ws, typed, rows = round_trip.ws, round_trip.typed, round_trip.rows
    teams = {key: value for key, value in accepted_targets(ws).items() if key[0] == "team"}
    assert rows["company"]["revenue"] == ["North", "South", "East", "West", "Online & Inside Sales", "Public Projects"]
    assert teams == {("team", team, YEAR, metric, ""): value
                     for metric in METRICS
                     for team, (value,) in zip(rows["company"][metric], typed["company"][f"in_{metric}"])}


def test_round_trip_team_plan_sets_annual_person_targets(round_trip):
    ws, typed, rows = round_trip.ws, round_trip.typed, round_trip.rows
    targets = accepted_targets(ws)
    annual = {key: value for key, value in targets.items() if key[0] == "person" and key[2] == YEAR}
    expected = {("person", pid, YEAR, metric, ""): value
                for metric in METRICS
                for pid, (value,) in zip(rows["team"][metric], typed["team"][f"in_{metric}"])}
    assert annual == expected


def test_round_trip_person_plan_sets_monthly_targets_by_customer_group(round_trip):
    ws, typed, rows, months = round_trip.ws, round_trip.typed, round_trip.rows, round_trip.months
    targets = accepted_targets(ws)
    monthly = {key: value for key, value in targets.items() if key[0] == "person" and key[2] != YEAR}
    expected = {("person", "P004", month, metric, group): typed["person"][f"in_{metric}"][r][c]
                for metric in METRICS
                for r, group in enumerate(rows["person"][metric])
                for c, month in enumerate(months)}
    assert rows["person"]["revenue"] == list(GROUPS)
    assert months == [f"2027-{m:02d}" for m in range(1, 13)]
    assert monthly == expected


def test_round_trip_month_values_comments_and_revision_request(round_trip):
    ws, report = round_trip.ws, round_trip.report
    outcome = by_name(report)["month.xlsx"]
    assert stored_values(ws, outcome.submission_id) == sorted(MONTH_STORED + [
        ("in_revision", "revenue", "requested", 900000.5),
        ("in_revision", "new_customers", "requested", 12.0),
    ])
    assert stored_texts(ws, outcome.submission_id) == sorted([
        ("in_comment", "Key accounts", "comment", "Two key accounts postponed orders to April."),
        ("in_comment", "OEM", "comment", "客户延期到四月"),
        ("in_comment", "Online", "comment", "two\nlines"),
        ("in_revision_reason", "reason", "reason", REASON),
    ])


def test_new_templates_show_the_accepted_figures_of_the_level_above(round_trip):
    ws, typed, rows = round_trip.ws, round_trip.typed, round_trip.rows
    north = rows["company"]["revenue"].index("North")
    team = api.generate(ws, "team", only=["P003"]).files
    p005 = rows["team"]["revenue"].index("P005")
    person = api.generate(ws, "person", only=["P005"]).files
    april = api.generate(ws, "month", month="2027-04", only=["P004"]).files
    assert len(team) == len(person) == len(april) == 1
    assert "-r2" in team[0].name and "-r2" in person[0].name
    for metric in METRICS:
        assert block_of(team[0], f"target_{metric}") == [[typed["company"][f"in_{metric}"][north][0]]]
        assert block_of(person[0], f"target_{metric}") == [[typed["team"][f"in_{metric}"][p005][0]]]
        # month targets come from the accepted person grid, column 2027-04
        assert first(block_of(april[0], f"target_{metric}")) == [row[3] for row in typed["person"][f"in_{metric}"]]


# --- 2. the value normalisation table (month template, one cell each) --------------------------------------

R = "Report"
LONG = "x" * 32767
CONTROL_TYPED = "Lieferung_x0007_ verschoben\x7f"  # _x0007_ is how xlsx stores BEL; DEL may be written as is
HYPERLINK = '=HYPERLINK("http://example.invalid","click")'

# (case, block, row, typed, expected (sheet, cell, code) list, status, what the store holds for that cell)
VALUE_CASES = [
    ("number", "in_revenue", 0, 42, [], "accepted", 42.0),
    ("number-as-text", "in_revenue", 0, "42", [(R, "C6", "number-as-text")], "accepted", 42.0),
    ("spaces", "in_revenue", 0, " 42 ", [(R, "C6", "number-as-text")], "accepted", 42.0),
    ("thousands", "in_revenue", 0, "1,234.50", [(R, "C6", "number-as-text")], "accepted", 1234.5),
    ("full-width", "in_quantity", 0, "１２３", [(R, "F6", "number-as-text")], "accepted", 123.0),
    ("rounded", "in_revenue", 1, 12.3456, [(R, "C7", "rounded")], "accepted", 12.35),
    ("percent", "in_revenue", 0, "12%", [(R, "C6", "percent-not-allowed")], "rejected", None),
    ("n/a", "in_revenue", 0, "N/A", [(R, "C6", "not-a-number")], "rejected", None),
    ("dash", "in_expenses", 4, "-", [(R, "L10", "not-a-number")], "rejected", None),
    ("decimal-comma", "in_revenue", 0, "1234,50", [(R, "C6", "not-a-number")], "rejected", None),
    ("currency", "in_revenue", 0, "€100", [(R, "C6", "not-a-number")], "rejected", None),
    ("boolean", "in_quantity", 2, True, [(R, "F8", "not-a-number")], "rejected", None),
    ("negative", "in_revenue", 0, -5, [(R, "C6", "negative-value")], "rejected", None),
    ("too-large", "in_revenue", 0, 1e15, [(R, "C6", "value-too-large")], "rejected", None),
    ("fraction-quantity", "in_quantity", 0, 2.5, [(R, "F6", "not-whole-number")], "rejected", None),
    ("fraction-customers", "in_new_customers", 0, 2.5, [(R, "I6", "not-whole-number")], "rejected", None),
    ("missing", "in_revenue", 2, None, [(R, "C8", "missing-value")], "rejected", None),
    ("formula", "in_revenue", 0, Formula("=1+1"), [(R, "C6", "formula-in-input")], "rejected", None),
    ("revision-n/a", "in_revision", 0, "N/A", [(R, "C16", "not-a-number")], "rejected", None),
    ("formula-like-text", "in_comment", 0, HYPERLINK, [(R, "N6", "formula-like-text")], "accepted", HYPERLINK),
    ("at-text", "in_comment", 1, "@Anna please check", [(R, "N7", "formula-like-text")], "accepted",
     "@Anna please check"),
    ("text-1000", "in_comment", 0, "y" * 1000, [], "accepted", "y" * 1000),
    ("text-1001", "in_comment", 0, "y" * 1001, [(R, "N6", "text-too-long")], "rejected", None),
    ("text-32767", "in_comment", 0, LONG, [(R, "N6", "text-too-long")], "rejected", None),
    ("control-characters", "in_comment", 0, CONTROL_TYPED, [(R, "N6", "control-characters")], "accepted",
     "Lieferung verschoben"),
]


@pytest.fixture(scope="module")
def value_table(make_workspace):
    """One month return per case, each from a different salesperson, ingested in one batch."""
    ws = make_workspace("values")
    with ws.store() as store:
        owners = sorted(r.owner for r in store.sent("month", MONTH))
    folder = ws.root / "returns-values"
    for (case, block, row, typed, *_), owner in zip(VALUE_CASES, owners, strict=False):
        rows = [list(r) for r in MONTH_TYPED.get(block, [[None]] * (4 if block == "in_revision" else 5))]
        rows[row][0] = typed
        month_return(ws, owner, folder / f"{case.replace('/', '-')}.xlsx", **{block: rows})
    report = ingest(ws, [folder], write_report=False)
    return ws, by_name(report)


@pytest.mark.parametrize("case, block, row, typed, expected, status, stored", VALUE_CASES,
                         ids=[c[0] for c in VALUE_CASES])
def test_value_normalisation(value_table, case, block, row, typed, expected, status, stored):
    ws, outcomes = value_table
    outcome = outcomes[f"{case.replace('/', '-')}.xlsx"]
    assert (outcome.status, triples(outcome)) == (status, expected)
    if status == "rejected":
        assert stored_values(ws, outcome.submission_id) == []
        return
    keys = {"in_revision": ("revenue", "requested"), "in_comment": (GROUPS[row], "comment")}
    row_key, col_key = keys.get(block, (GROUPS[row], "actual"))
    if block == "in_comment":
        texts = {(b, r, c): t for b, r, c, t in stored_texts(ws, outcome.submission_id)}
        assert texts == {(block, row_key, col_key): stored}
        assert len(stored_values(ws, outcome.submission_id)) == len(MONTH_STORED)
    else:
        values = {(b, r, c): v for b, r, c, v in stored_values(ws, outcome.submission_id)}
        assert values[(block, row_key, col_key)] == stored
        assert len(values) == len(MONTH_STORED)


def test_value_problems_carry_row_field_and_severity(value_table):
    _ws, outcomes = value_table
    assert [(p.row, p.field, p.severity) for p in outcomes["spaces.xlsx"].problems] == [(6, "in_revenue", "warning")]
    assert [(p.row, p.field, p.severity) for p in outcomes["missing.xlsx"].problems] == [(8, "in_revenue", "error")]
    assert [(p.row, p.field, p.value) for p in outcomes["n-a.xlsx"].problems] == [(6, "in_revenue", "N/A")]


# --- 3. totals ------------------------------------------------------------------------------------------


def _nudged(source: Path, metric: str, cells: dict[tuple[int, int], float]) -> dict[str, list[list]]:
    """Every in_ block as pre-filled, with `cells` ((row, col) -> amount) added to one metric's block."""
    values = {f"in_{m}": block_of(source, f"in_{m}") for m in METRICS}
    for (r, c), amount in cells.items():
        values[f"in_{metric}"][r][c] = round(values[f"in_{metric}"][r][c] + amount, 6)
    return values


# (case, kind, owner, metric, cells nudged, expected (sheet, cell, code) list, status)
TOTAL_CASES = [
    ("person-grid-off", "person", "P004", "revenue", {(0, 0): 1000}, [("Revenue", "B5", "plan-mismatch")],
     "rejected"),
    ("person-grid-moved", "person", "P004", "quantity", {(0, 0): 1, (2, 5): -1}, [], "accepted"),
    ("team-one-unit-over", "team", "P003", "quantity", {(0, 0): 1}, [("Units sold", "E18", "split-mismatch")],
     "rejected"),
    ("team-one-cent-under", "team", "P003", "revenue", {(1, 0): -0.01}, [("Revenue", "E18", "split-mismatch")],
     "rejected"),
    ("team-within-half-a-cent", "team", "P003", "revenue", {(0, 0): 0.004}, [("Revenue", "E6", "rounded")],
     "accepted"),
    ("company-one-unit-under", "company", "P002", "new_customers", {(3, 0): -1},
     [("New customers", "E13", "split-mismatch")], "rejected"),
]


@pytest.fixture(scope="module")
def totals(make_workspace):
    ws = make_workspace("totals")
    folder = ws.root / "returns-totals"
    for case, kind, owner, metric, cells, *_ in TOTAL_CASES:
        source = sent_file(ws, kind, owner)
        type_into(source, folder / f"{case}.xlsx", _nudged(source, metric, cells))
    before = all_targets(ws)
    report = ingest(ws, [folder], dry_run=True, write_report=False)
    assert all_targets(ws) == before
    return by_name(report)


@pytest.mark.parametrize("case, kind, owner, metric, cells, expected, status", TOTAL_CASES,
                         ids=[c[0] for c in TOTAL_CASES])
def test_totals_must_add_up_to_the_locked_target(totals, case, kind, owner, metric, cells, expected, status):
    outcome = totals[f"{case}.xlsx"]
    assert (outcome.status, triples(outcome)) == (status, expected)


# --- 4. ledger rules ------------------------------------------------------------------------------------


def test_same_bytes_twice_is_one_accepted_and_one_duplicate_and_changes_nothing(make_workspace, dump_store):
    ws = make_workspace("duplicate")
    folder = ws.root / "returns"
    original = month_return(ws, "P004", folder / "a-report.xlsx", T0)
    shutil.copyfile(original, folder / "b-report-again.xlsx")
    os.utime(folder / "b-report-again.xlsx", (T0 + 5, T0 + 5))
    report = ingest(ws, [folder], write_report=False)
    assert [(o.name, o.status) for o in report.outcomes] == [("a-report.xlsx", "accepted"),
                                                              ("b-report-again.xlsx", "duplicate")]
    first_id = report.outcomes[0].submission_id
    assert report.outcomes[1].submission_id == first_id
    after_first = dump_store(ws)
    assert len(after_first["submissions"]) == 1
    again = ingest(ws, [folder], write_report=False)
    assert [o.status for o in again.outcomes] == ["duplicate", "duplicate"]
    assert [o.submission_id for o in again.outcomes] == [first_id, first_id]
    assert dump_store(ws) == after_first
    assert len(list((ws.root / "archive").rglob("*.xlsx"))) == 1
    assert report.exit_code == again.exit_code == 0


def test_corrected_copy_received_later_supersedes(make_workspace):
    ws = make_workspace("corrected")
    first_report = ingest(ws, [month_return(ws, "P004", ws.root / "r" / "march.xlsx", T0)], write_report=False)
    old_id = first_report.outcomes[0].submission_id
    corrected = {"in_revenue": [[1500], [2000.5], [0], [12.34], [99999.99]]}
    report = ingest(ws, [month_return(ws, "P004", ws.root / "r" / "march-corrected.xlsx", T0 + 3600,
                                      **corrected)], write_report=False)
    outcome = report.outcomes[0]
    assert (outcome.status, outcome.superseded) == ("accepted", old_id)
    assert report.counts["superseded"] == 1
    assert statuses(ws) == {old_id: "superseded", outcome.submission_id: "accepted"}
    expected = sorted([("in_revenue", "Key accounts", "actual", 1500.0)] + MONTH_STORED[1:])
    assert current_month_values(ws, "P004") == expected


def test_a_copy_first_seen_later_stands_whatever_time_the_file_claims(make_workspace):
    """A file's modification time is the sender's to set (and every copy or unzip resets it), so the copy of
    one revision that sheetplan sees later stands even if it claims to be older; the claim is kept beside."""
    ws = make_workspace("older-copy")
    first_report = ingest(ws, [month_return(ws, "P004", ws.root / "r" / "march.xlsx", T0)], write_report=False)
    old_id = first_report.outcomes[0].submission_id
    earlier = month_return(ws, "P004", ws.root / "r" / "march-earlier.xlsx", T0 - 3600,
                           in_quantity=[[99], [0], [3], [7], [1]])
    outcome = ingest(ws, [earlier], write_report=False).outcomes[0]
    assert (outcome.status, outcome.superseded) == ("accepted", old_id)
    assert statuses(ws) == {old_id: "superseded", outcome.submission_id: "accepted"}
    with ws.store() as store:
        claimed, via = store.db.execute("SELECT claimed_at, received_via FROM submissions WHERE id = ?",
                                        (outcome.submission_id,)).fetchone()
    assert (claimed, via) == (datetime.fromtimestamp(T0 - 3600, UTC).isoformat(), "first-seen")


def test_newer_revision_supersedes_and_an_older_revision_arriving_later_is_stale(make_workspace, dump_store):
    ws = make_workspace("revisions")
    folder = ws.root / "r"
    rev1 = month_return(ws, "P005", folder / "rev1.xlsx", T0)
    first_id = ingest(ws, [rev1], write_report=False).outcomes[0].submission_id
    regenerated = api.generate(ws, "month", month=MONTH, only=["P005"]).files
    assert len(regenerated) == 1 and regenerated[0].name.endswith("-r2.xlsx")
    rev2 = month_return(ws, "P005", folder / "rev2.xlsx", T0 + 60, revision=2,
                        in_new_customers=[[4], [0], [0], [2], [0]])
    outcome2 = ingest(ws, [rev2], write_report=False).outcomes[0]
    assert (outcome2.status, outcome2.revision, outcome2.superseded) == ("accepted", 2, first_id)
    expected = sorted(MONTH_STORED[:10] + [("in_new_customers", "Key accounts", "actual", 4.0)] + MONTH_STORED[11:])
    assert current_month_values(ws, "P005") == expected
    # a corrected revision-1 file, saved after revision 2 was accepted: the revision decides, not the time
    late = month_return(ws, "P005", folder / "rev1-late.xlsx", T0 + 7200, revision=1,
                        in_quantity=[[11], [0], [3], [7], [1]])
    before = dump_store(ws)
    outcome3 = ingest(ws, [late], write_report=False).outcomes[0]
    assert (outcome3.status, outcome3.revision, outcome3.superseded) == ("stale", 1, None)
    assert statuses(ws) == {first_id: "superseded", outcome2.submission_id: "accepted",
                            outcome3.submission_id: "stale"}
    assert current_month_values(ws, "P005") == expected
    after = dump_store(ws)
    assert after["targets"] == before["targets"]
    assert [row for row in after["submissions"] if row[9] != "stale"] == before["submissions"]


def test_rejected_files_do_not_change_the_plan(make_workspace, dump_store):
    ws = make_workspace("rejected")
    folder = ws.root / "r"
    accepted = ingest(ws, [month_return(ws, "P006", folder / "march.xlsx", T0)], write_report=False).outcomes[0]
    person = sent_file(ws, "person", "P004")
    bad_plan = type_into(person, folder / "plan-off.xlsx", _nudged(person, "revenue", {(0, 0): 1000}), T0 + 10)
    bad_month = month_return(ws, "P006", folder / "march-na.xlsx", T0 + 20,
                             in_revenue=[["N/A"], [1], [1], [1], [1]])
    before = dump_store(ws)
    report = ingest(ws, [bad_plan, bad_month], write_report=False)
    assert [(o.name, o.status) for o in report.outcomes] == [("plan-off.xlsx", "rejected"),
                                                              ("march-na.xlsx", "rejected")]
    after = dump_store(ws)
    assert after["targets"] == before["targets"]
    assert after["submitted_values"] == before["submitted_values"]
    assert after["submitted_texts"] == before["submitted_texts"]
    assert [row for row in after["submissions"] if row[9] != "rejected"] == before["submissions"]
    assert statuses(ws)[accepted.submission_id] == "accepted"
    assert current_month_values(ws, "P006") == sorted(MONTH_STORED)
    assert report.exit_code == 1


def test_input_files_are_never_modified_and_move_takes_only_accepted_files(make_workspace):
    """--move files what was accepted, a second copy of it (a duplicate of an accepted file) too; the rejected
    file and anything outside the inbox stay where they are, unchanged."""
    ws = make_workspace("move")
    inbox = ws.folder("inbox")
    good = month_return(ws, "P007", inbox / "march" / "good.xlsx", T0)
    bad = month_return(ws, "P008", inbox / "march" / "bad.xlsx", T0 + 1, in_quantity=[[2.5], [0], [3], [7], [1]])
    (inbox / "again").mkdir()
    dup = Path(shutil.copyfile(good, inbox / "again" / "good-again.xlsx"))
    os.utime(dup, (T0 + 2, T0 + 2))
    outside = month_return(ws, "P009", ws.root / "elsewhere" / "outside.xlsx", T0 + 3)
    hashes = {p: sha256(p) for p in (good, bad, dup, outside)}
    times = {p: p.stat().st_mtime for p in hashes}
    # without --move: nothing is touched
    dry = ingest(ws, [inbox, outside], dry_run=True, write_report=False)
    assert [(o.name, o.status) for o in dry.outcomes] == [("good.xlsx", "accepted"), ("bad.xlsx", "rejected"),
                                                          ("good-again.xlsx", "duplicate"),
                                                          ("outside.xlsx", "accepted")]
    assert {p: (sha256(p), p.stat().st_mtime) for p in hashes} == {p: (hashes[p], times[p]) for p in hashes}
    report = ingest(ws, [inbox, outside], move=True)
    assert [(o.name, o.status) for o in report.outcomes] == [(o.name, o.status) for o in dry.outcomes]
    processed = inbox / "processed"
    assert sorted(p.relative_to(inbox).as_posix() for p in inbox.rglob("*.xlsx")) == [
        "march/bad.xlsx", "processed/good-again.xlsx", "processed/good.xlsx"]
    assert sha256(processed / "good.xlsx") == sha256(processed / "good-again.xlsx") == hashes[good]
    for path in (bad, outside):
        assert (sha256(path), path.stat().st_mtime) == (hashes[path], times[path])
    # a second run skips inbox/processed and sees only the bad file (still not corrected): rejected again,
    # with its problems
    again = ingest(ws, move=True, write_report=False)
    assert [(o.name, o.status) for o in again.outcomes] == [("bad.xlsx", "rejected")]
    assert [p.code for p in again.outcomes[0].errors] == [p.code for p in report.outcomes[1].errors]
    assert sorted(p.name for p in processed.glob("*.xlsx")) == ["good-again.xlsx", "good.xlsx"]


def _ledger_batch(ws, folder: Path) -> list[Path]:
    """Accepted, rejected and duplicate returns: the statuses a dry run can know without the ledger."""
    good = month_return(ws, "P010", folder / "a-good.xlsx", T0)
    bad = month_return(ws, "P011", folder / "b-bad.xlsx", T0 + 1, in_revenue=[["12%"], [1], [1], [1], [1]])
    dup = folder / "c-good-again.xlsx"
    shutil.copyfile(good, dup)
    os.utime(dup, (T0 + 2, T0 + 2))
    return [good, bad, dup]


def test_dry_run_records_nothing_and_reports_the_same_statuses(make_workspace, dump_store):
    ws = make_workspace("dry-run")
    _ledger_batch(ws, ws.root / "r")
    before = dump_store(ws)
    archive = sorted((ws.root / "archive").rglob("*"))
    dry = ingest(ws, [ws.root / "r"], dry_run=True)
    assert dump_store(ws) == before
    assert sorted((ws.root / "archive").rglob("*")) == archive
    assert dry.feedback == [] and not (ws.root / "outbox" / "feedback").exists()
    real = ingest(ws, [ws.root / "r"])
    assert [(o.name, o.status, triples(o)) for o in dry.outcomes] == [
        (o.name, o.status, triples(o)) for o in real.outcomes]
    assert [o.status for o in real.outcomes] == ["accepted", "rejected", "duplicate"]
    assert dry.exit_code == real.exit_code == 1


def test_dry_run_reports_supersede_and_stale_like_a_real_run(make_workspace):
    """A dry run is a preview: a file the real run would record as stale must not be shown as accepted."""
    ws = make_workspace("dry-run-ledger")
    folder = ws.root / "r"
    ingest(ws, [month_return(ws, "P012", folder / "first.xlsx", T0)], write_report=False)
    api.generate(ws, "month", month=MONTH, only=["P012"])
    batch = folder / "batch"
    month_return(ws, "P012", batch / "a-rev2.xlsx", T0 + 10, revision=2)
    month_return(ws, "P012", batch / "b-rev1-late.xlsx", T0 + 20, revision=1,
                 in_quantity=[[11], [0], [3], [7], [1]])
    dry = ingest(ws, [batch], dry_run=True, write_report=False)
    real = ingest(ws, [batch], write_report=False)
    assert [(o.name, o.status) for o in real.outcomes] == [("a-rev2.xlsx", "accepted"), ("b-rev1-late.xlsx", "stale")]
    assert [(o.name, o.status) for o in dry.outcomes] == [(o.name, o.status) for o in real.outcomes]
    assert dry.counts["superseded"] == real.counts["superseded"] == 1


def test_accepted_values_view_gives_every_accepted_figure_in_long_form(make_workspace):
    """Actuals and targets from accepted files, in one long table with their source submission."""
    import sqlite3

    from sheetplan.demo.simulate import fill_months, fill_plans

    ws = make_workspace("accepted-view", approvals=False)
    decimals = {m.key: m.decimals for m in ws.config.metrics}
    with ws.store() as store:
        month = next(r for r in store.sent("month") if r.owner == "P004")
        person = next(r for r in store.sent("person") if r.owner == "P004")
    folder = ws.root / "view-returns"
    fill_months([ws.root / month.path], folder, decimals)
    fill_plans([ws.root / person.path], folder, decimals)
    report = ingest(ws, [folder], write_report=False)
    assert sorted(o.status for o in report.outcomes) == ["accepted", "accepted"]
    db = sqlite3.connect(ws.private / "plan.sqlite")
    rows = db.execute("SELECT level, owner, period, metric, customer_group, measure, submission_id"
                      " FROM accepted_values").fetchall()
    groups, metrics = len(ws.config.customer_groups), len(ws.config.metrics)
    actuals = [r for r in rows if r[5] == "actual"]
    targets = [r for r in rows if r[5] == "target"]
    assert len(actuals) == groups * metrics and {r[:3] for r in actuals} == {("person", "P004", "2027-03")}
    assert len(targets) == groups * metrics * 12 and {r[1] for r in targets} == {"P004"}
    assert {r[6] for r in rows} == {o.submission_id for o in report.outcomes}
