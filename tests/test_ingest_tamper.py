"""Tampered, foreign and broken returns: each is rejected with the code and location that name what changed,
rejected files get a marked-up feedback copy in the template's language, and the ingest report lists every
problem with a link to its cell.

Each case is a real .xlsx: a generated template filled with openpyxl, then edited the way a person (or a
spreadsheet program) would: protection removed, _meta edited, rows deleted or inserted, sheets deleted.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
from conftest import sent_file

from sheetplan.api import ingest
from sheetplan.demo.simulate import input_areas, write_block
from sheetplan.workspace.labels import catalogue
from sheetplan.workspace.problem_text import metric_labels, problem_text
from sheetplan.xlsx.layout import Area

MONTH = "2027-03"
R = "Report"
VALUES = {  # a complete, valid month report; cases change what they test on top of it
    "in_revenue": [[1000], [2000.5], [0], [12.34], [99999.99]],
    "in_quantity": [[10], [0], [3], [7], [1]],
    "in_new_customers": [[1], [0], [0], [2], [0]],
    "in_expenses": [[100.1], [0], [0], [0], [250]],
}


# --- helpers -------------------------------------------------------------------------------------------


def returned(source: Path, target: Path, values: dict[str, list[list]] | None = None,
             edit: Callable | None = None) -> Path:
    """Fill the in_ blocks of a copy of `source`, then let `edit(book)` do whatever else the sender did."""
    book = openpyxl.load_workbook(source)
    areas = input_areas(book)
    for name, rows in (VALUES if values is None else values).items():
        write_block(book, areas[name], rows)  # as a person types: text stays text
    if edit:
        edit(book)
    target.parent.mkdir(parents=True, exist_ok=True)
    book.save(target)
    return target


def set_meta(**changes) -> Callable:
    def edit(book) -> None:
        for key_cell, value_cell in book["_meta"].iter_rows(max_col=2):
            if key_cell.value in changes:
                value_cell.value = changes[key_cell.value]

    return edit


def set_locked(sheet: str, cell: str, factor: float) -> Callable:
    def edit(book) -> None:
        book[sheet].protection.sheet = False  # the sender removes protection first
        book[sheet][cell].value = round(book[sheet][cell].value * factor, 2)

    return edit


def shift_rows(sheet: str, at: int, delta: int, adjust_names: bool) -> Callable:
    """Delete (delta=-1) or insert (delta=+1) one row at zero-based row `at`.

    openpyxl moves the cells but not the defined names; Excel moves the names too, which
    `adjust_names` imitates (a name that spans the row grows or shrinks, one below it moves)."""

    def edit(book) -> None:
        if delta < 0:
            book[sheet].delete_rows(at + 1)
        else:
            book[sheet].insert_rows(at + 1)
        if not adjust_names:
            return
        for name in list(book.defined_names):
            area = Area.parse(book.defined_names[name].attr_text)
            if area.sheet != sheet:
                continue
            first, last = area.first_row, area.last_row
            if delta < 0:
                first, last = first - (first > at), last - (last >= at)
            else:
                first, last = first + (first >= at), last + (last >= at)
            book.defined_names[name].attr_text = Area(sheet, first, area.first_col, last, area.last_col).ref

    return edit


def delete_sheet(name: str) -> Callable:
    def edit(book) -> None:
        del book[name]

    return edit


def triples(outcome) -> list[tuple[str, str, str]]:
    return [(p.sheet, p.cell, p.code) for p in outcome.problems]


def cell_errors(outcome) -> list[tuple[str, str]]:
    """The cells a feedback copy must mark: errors located in a visible sheet."""
    return [(p.sheet, p.cell) for p in outcome.errors if p.sheet and p.cell and p.sheet != "_meta"]


def feedback_path(ws, outcome) -> Path:
    return ws.root / "outbox" / "feedback" / f"{Path(outcome.name).stem}-feedback.xlsx"


def comments(path: Path) -> dict[tuple[str, str], str]:
    book = openpyxl.load_workbook(path)
    return {(sheet.title, cell.coordinate): cell.comment.text
            for sheet in book for row in sheet.iter_rows() for cell in row if cell.comment}


# --- one batch of tampered and broken returns -----------------------------------------------------------


def _plain_workbook(target: Path) -> Path:
    book = openpyxl.Workbook()
    book.active.append(["owner", "revenue"])
    book.active.append(["P004", 1000])
    target.parent.mkdir(parents=True, exist_ok=True)
    book.save(target)
    return target


@pytest.fixture(scope="module")
def batch(make_workspace):
    ws = make_workspace("tamper")
    inbox = ws.folder("inbox") / "tampered"

    def month(owner: str) -> Path:
        return sent_file(ws, "month", owner)

    returned(sent_file(ws, "team", "P003"), inbox / "team-target-changed.xlsx",
             values={}, edit=set_locked("Revenue", "E18", 0.8))
    returned(month("P004"), inbox / "month-target-changed.xlsx", edit=set_locked(R, "B6", 0.5))
    returned(month("P005"), inbox / "owner-to-seller.xlsx", edit=set_meta(owner="P006"))
    returned(month("P007"), inbox / "owner-to-manager.xlsx", edit=set_meta(owner="P003"))
    returned(month("P008"), inbox / "owner-unknown.xlsx", edit=set_meta(owner="P999"))
    returned(month("P009"), inbox / "period-never-generated.xlsx", edit=set_meta(period="2027-04"))
    returned(month("P010"), inbox / "period-and-signature.xlsx",
             edit=set_meta(period="2027-04", signature="0" * 64))
    returned(month("P011"), inbox / "row-deleted.xlsx", edit=shift_rows(R, 7, -1, adjust_names=False))
    returned(month("P012"), inbox / "row-inserted.xlsx", edit=shift_rows(R, 0, +1, adjust_names=False))
    returned(month("P013"), inbox / "no-meta.xlsx", edit=delete_sheet("_meta"))
    returned(month("P015"), inbox / "from-P016.xlsx")  # P016 typed into P015's template
    returned(month("P017"), inbox / "bad-values.xlsx",
             values={**VALUES, "in_revenue": [["N/A"], [1], [1], [1], [1]], "in_quantity": [[1], [-5], [1], [1], [1]]})
    _plain_workbook(inbox / "plain.xlsx")
    report = ingest(ws, [inbox])
    return ws, report, {o.name: o for o in report.outcomes}


# (file, status, expected (sheet, cell, code) list): written out by hand
EXACT = [
    ("team-target-changed.xlsx", "rejected", [("Revenue", "E18", "locked-cell-changed")]),
    ("month-target-changed.xlsx", "rejected", [(R, "B6", "locked-cell-changed")]),
    ("owner-to-manager.xlsx", "rejected", [("_meta", "B2", "owner-changed")]),
    ("owner-unknown.xlsx", "rejected", [("_meta", "B2", "unknown-owner")]),
    ("period-and-signature.xlsx", "rejected", [("_meta", "", "never-generated")]),
    ("no-meta.xlsx", "rejected", [("", "", "not-a-template")]),
    ("plain.xlsx", "rejected", [("", "", "not-a-template")]),
    ("from-P016.xlsx", "accepted", []),
    ("bad-values.xlsx", "rejected", [(R, "C6", "not-a-number"), (R, "F7", "negative-value")]),
]


@pytest.mark.parametrize("name, status, expected", EXACT, ids=[e[0] for e in EXACT])
def test_rejected_with_the_code_and_cell_of_the_change(batch, name, status, expected):
    _ws, _report, outcomes = batch
    assert (outcomes[name].status, triples(outcomes[name])) == (status, expected)


def test_ownership_comes_from_meta_not_from_who_sent_the_file(batch):
    """P016 filled P015's template: it counts as P015's report. Changing _meta's owner is what is caught."""
    _ws, _report, outcomes = batch
    outcome = outcomes["from-P016.xlsx"]
    assert (outcome.status, outcome.kind, outcome.owner, outcome.period) == ("accepted", "month", "P015", MONTH)


def test_owner_changed_to_another_salesperson_names_the_meta_owner_cell(batch):
    """P005's template with _meta owner set to P006, who was sent a month template of the same shape.

    The change is in _meta, so the problem must name _meta!B2 as owner-changed (or meta-changed), not blame
    the locked figures (P005's targets, which the sender never touched)."""
    _ws, _report, outcomes = batch
    outcome = outcomes["owner-to-seller.xlsx"]
    assert outcome.status == "rejected"
    assert ("_meta", "B2") in {(p.sheet, p.cell) for p in outcome.errors
                               if p.code in ("owner-changed", "meta-changed")}, triples(outcome)
    assert {p.sheet for p in outcome.errors} == {"_meta"}, triples(outcome)


def test_period_that_was_never_generated_is_never_generated_or_meta_changed(batch):
    """_meta period edited to a month no template was generated for (signature left as it was)."""
    _ws, _report, outcomes = batch
    outcome = outcomes["period-never-generated.xlsx"]
    assert outcome.status == "rejected"
    assert {p.code for p in outcome.errors} <= {"never-generated", "meta-changed"}, triples(outcome)
    assert {p.sheet for p in outcome.errors} == {"_meta"}
    assert {p.cell for p in outcome.errors if p.code == "meta-changed"} <= {"B3"}  # the period's cell


@pytest.mark.parametrize("name", ["row-deleted.xlsx", "row-inserted.xlsx"])
def test_rows_moved_under_unmoved_names_are_locked_cells_changed(batch, name):
    """openpyxl moves cells but not names: the locked labels and targets under the names have changed."""
    _ws, _report, outcomes = batch
    outcome = outcomes[name]
    assert outcome.status == "rejected"
    assert {p.code for p in outcome.problems} == {"locked-cell-changed"}
    assert {p.sheet for p in outcome.problems} == {R}
    deleted = name == "row-deleted.xlsx"
    # the customer-group labels of the month grid (rows_revenue, A6:A10) moved up or down one row
    labels = [(p.cell, p.value) for p in outcome.problems if p.field == "rows_revenue"]
    expected = ([("A8", "Public sector"), ("A9", "Online"), ("A10", "Total")] if deleted else
                [("A6", "Customer group"), ("A7", "Key accounts"), ("A8", "Distributors"), ("A9", "OEM"),
                 ("A10", "Public sector")])
    assert labels == expected


def test_feedback_copies_mark_every_offending_cell(batch):
    ws, report, outcomes = batch
    expected = {feedback_path(ws, o) for o in outcomes.values() if o.status == "rejected" and cell_errors(o)}
    assert {o.name for o in outcomes.values() if feedback_path(ws, o) in expected} >= {
        "team-target-changed.xlsx", "month-target-changed.xlsx", "bad-values.xlsx", "row-deleted.xlsx"}
    assert set(report.feedback) == expected
    for outcome in outcomes.values():
        if feedback_path(ws, outcome) not in expected:
            assert not feedback_path(ws, outcome).exists()
            continue
        marked = comments(feedback_path(ws, outcome))
        assert set(marked) == set(cell_errors(outcome))
        assert all(text.strip() for text in marked.values())
        book = openpyxl.load_workbook(feedback_path(ws, outcome))
        listing = [(row[0], row[1]) for row in book.worksheets[0].iter_rows(min_row=3, values_only=True)]
        assert book.worksheets[0].title == catalogue("en")["feedback"]["sheet"]
        assert listing == cell_errors(outcome)


def test_the_returned_files_themselves_are_never_marked(batch):
    _ws, _report, outcomes = batch
    assert comments(Path(outcomes["bad-values.xlsx"].path)) == {}


def test_report_workbook_lists_every_problem_with_a_link_to_its_cell(batch):
    _ws, report, outcomes = batch
    assert report.report_path is not None and report.report_path.exists()
    book = openpyxl.load_workbook(report.report_path)
    files = [row for row in book["Files"].iter_rows(min_row=5, values_only=True)]
    assert [(row[0], row[1]) for row in files] == [(o.name, o.status) for o in report.outcomes]
    sheet = book["Problems"]
    header = [c.value for c in sheet[1]]
    column = {name: header.index(name) for name in ("code", "file", "sheet", "cell")}
    listed = [tuple(row[column[n]].value or "" for n in ("code", "file", "sheet", "cell"))
              for row in sheet.iter_rows(min_row=2)]
    assert listed == [(p.code, p.file, p.sheet, p.cell) for o in report.outcomes for p in o.problems]
    paths = {o.name: o.path for o in outcomes.values()}
    linked = 0
    for row in sheet.iter_rows(min_row=2):
        code, file, where, cell = (row[column[n]] for n in ("code", "file", "sheet", "cell"))
        if not (where.value and cell.value):
            assert cell.hyperlink is None
            continue
        assert cell.hyperlink is not None, (code.value, file.value, cell.value)
        assert cell.hyperlink.location == f"'{where.value}'!{cell.value}"
        # xlsxwriter stores external links with backslashes; compare the path itself
        assert Path(cell.hyperlink.target.replace("\\", "/")).name == Path(paths[file.value]).name
        linked += 1
    assert linked >= 10


# --- layout changes as Excel makes them (names move with the rows) ------------------------------------------


LAYOUT = [
    ("names-row-deleted.xlsx", -1, 7, "C6:C9"),  # Excel row 8 deleted: in_revenue C6:C10 shrinks to C6:C9
    ("names-row-inserted.xlsx", +1, 0, "C7:C11"),  # a row inserted above everything: in_revenue moves down
]


@pytest.fixture(scope="module")
def layout_files(make_workspace):
    ws = make_workspace("tamper-layout")
    folder = ws.root / "returns"
    for (name, delta, at, _), owner in zip(LAYOUT, ("P004", "P005")):
        returned(sent_file(ws, "month", owner), folder / name, edit=shift_rows(R, at, delta, adjust_names=True))
    return ws, folder


def test_rows_deleted_or_inserted_with_names_moved_are_layout_changed(layout_files):
    ws, folder = layout_files
    report = ingest(ws, [folder], dry_run=True)
    for name, _delta, _at, revenue in LAYOUT:
        outcome = next(o for o in report.outcomes if o.name == name)
        assert outcome.status == "rejected"
        assert {p.code for p in outcome.problems} == {"layout-changed"}
        assert {p.sheet for p in outcome.problems} == {R}
        assert [(p.field, p.cell) for p in outcome.problems if p.field == "in_revenue"] == [("in_revenue", revenue)]


def test_layout_changed_files_get_a_feedback_copy(layout_files):
    """layout-changed names a range (C6:C9), not one cell: the feedback copy must still be written."""
    ws, folder = layout_files
    report = ingest(ws, [folder])
    assert [o.status for o in report.outcomes] == ["rejected", "rejected"]
    assert len(report.feedback) == 2
    for outcome in report.outcomes:
        assert feedback_path(ws, outcome).exists()
        assert comments(feedback_path(ws, outcome))


# --- identity -------------------------------------------------------------------------------------------------


def test_template_from_another_workspace_is_rejected(make_workspace):
    ours = make_workspace("tamper-ours")
    theirs = make_workspace("tamper-theirs")  # a copy: give it its own identity and key
    (theirs.root / ".sheetplan" / "workspace_id").write_text(str(uuid.uuid4()) + "\n")
    (theirs.root / ".sheetplan" / "key").write_text(secrets.token_hex(32) + "\n")
    path = returned(sent_file(ours, "month", "P004"), ours.root / "out" / "from-ours.xlsx")
    report = ingest(theirs, [path], write_report=False)
    assert [(o.status, triples(o)) for o in report.outcomes] == [("rejected", [("_meta", "B7", "other-workspace")])]
    assert ingest(ours, [path], write_report=False).outcomes[0].status == "accepted"


# --- a zh workspace: feedback in the template's language --------------------------------------------------


def test_feedback_comments_are_in_the_templates_language(make_workspace):
    ws = make_workspace("tamper-zh", lang="zh")
    folder = ws.root / "returns"
    sheet = "月报"
    returned(sent_file(ws, "month", "P004"), folder / "zh-values.xlsx",
             values={**VALUES, "in_revenue": [["N/A"], [1], [1], [1], [1]],
                     "in_quantity": [[1], [-5], [1], [1], [1]]})
    returned(sent_file(ws, "month", "P005"), folder / "zh-target.xlsx", edit=set_locked(sheet, "B6", 0.5))
    report = ingest(ws, [folder])
    outcomes = {o.name: o for o in report.outcomes}
    assert triples(outcomes["zh-values.xlsx"]) == [(sheet, "C6", "not-a-number"), (sheet, "F7", "negative-value")]
    assert triples(outcomes["zh-target.xlsx"]) == [(sheet, "B6", "locked-cell-changed")]
    zh = catalogue("zh")
    for outcome in outcomes.values():
        assert outcome.lang == "zh"
        path = feedback_path(ws, outcome)
        book = openpyxl.load_workbook(path)
        assert book.worksheets[0].title == zh["feedback"]["sheet"]
        marked = comments(path)
        assert set(marked) == set(cell_errors(outcome))
        for problem in outcome.errors:  # rendered from code and figures in Chinese, never the English sentence
            text = problem_text(problem, "zh", metric_labels(ws.config, "zh"))
            assert marked[(problem.sheet, problem.cell)].startswith(text)
            assert text in (zh["problems"][problem.code], zh["problem_text"].get(problem.code, "").format(
                **problem.params)), text
