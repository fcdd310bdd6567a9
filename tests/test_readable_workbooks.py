"""Workbooks a person reads at first sight, read back: header rows tall enough for their wrapped text, labels
not cut off, the prior year headed by its own months, an approval's one-line change saying what moved, a
feedback copy that marks the inputs to change and prints as a list, ingest reports named by round."""

from __future__ import annotations

import re
import zipfile

import openpyxl
import pytest
from conftest import moved, sent_file

from sheetplan import api
from sheetplan.demo.simulate import fill_file, input_areas, read_block
from sheetplan.returns.feedback import feedback_path
from sheetplan.workspace.labels import Labels
from sheetplan.xlsx.fit import LINE_POINTS, wrapped_lines

RED = "FFC7CE"


def col_width(ws, col: int) -> float:
    """Column `col`'s width (1-based); openpyxl keys a <col min max> range by its first column only."""
    for dim in ws.column_dimensions.values():
        if dim.min and dim.max and dim.min <= col <= dim.max and dim.width:
            return dim.width
    return 8.43


def header_row(ws, text: str) -> int:
    """The row (as Excel numbers it) holding the cell `text`."""
    return next(c.row for row in ws.iter_rows() for c in row if c.value == text)


@pytest.fixture(scope="module")
def en(make_workspace):
    return make_workspace("readable-en", approvals=False)


@pytest.fixture(scope="module")
def zh(make_workspace):
    ws = make_workspace("readable-zh", "zh", approvals=False)
    api.generate(ws, "person")
    return ws


def test_wrapped_lines_counts_words_and_wide_characters():
    """38 characters in a 14-wide bold column (about 11.8 usable): 'Travel & entertainment' (22) does not fit
    one line, so 'Travel &' / 'entertainment' / 'expenses' / 'target' is 4 lines; 12 CJK characters
    (24 wide) in a 13-wide column break inside the run: ceil(24 / 10.9) = 3 lines."""
    assert wrapped_lines("Travel & entertainment expenses target", 14) == 4
    assert wrapped_lines("Revenue", 14) == 1
    assert wrapped_lines("差旅及招待费用本月实际金额", 13) == 3


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_month_header_row_is_tall_enough_and_names_target_actual_variance(request, lang):
    ws = request.getfixturevalue(lang)
    labels = Labels(lang)
    book = openpyxl.load_workbook(sent_file(ws, "month", "P004"))
    sheet = book[input_areas(book)["in_expenses"].sheet]
    travel = ws.config.metric("expenses")
    texts = [labels(f"month.{part}", metric=travel.label(lang)) for part in ("target", "actual", "variance")]
    row = header_row(sheet, texts[0])
    headers = [c.value for c in sheet[row]]
    assert all(t in headers for t in texts) and len(set(texts)) == 3  # three different headers, each whole
    height = sheet.row_dimensions[row].height
    col = headers.index(texts[1])
    width = col_width(sheet, col + 1)
    assert height is not None and height >= wrapped_lines(texts[1], width) * LINE_POINTS, (height, width)
    if lang == "en":  # "Travel & entertainment expenses actual" takes three lines at least
        assert height >= 3 * LINE_POINTS


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_person_template_left_to_allocate_fits_and_prior_year_has_its_own_months(request, lang):
    ws = request.getfixturevalue(lang)
    labels = Labels(lang)
    book = openpyxl.load_workbook(sent_file(ws, "person", "P004"))
    sheet = book.worksheets[1]
    text = labels("common.left_to_allocate")
    cell = next(c for row in sheet.iter_rows() for c in row if c.value == text)
    figure = next(c for c in sheet[cell.row] if c.column > cell.column and c.value is not None)
    # the label runs on over the empty cells up to its figure: together wide enough for it on one line
    width = sum(col_width(sheet, c) for c in range(cell.column, figure.column))
    assert wrapped_lines(text, width) == 1, (text, width)  # not cut off by the figure beside it
    assert isinstance(figure.value, str) and figure.value.startswith("=ROUND(")
    prior = header_row(sheet, labels("person.prior"))
    year = ws.config.fiscal_year
    months = [c.value for c in sheet[prior]][1:13]
    assert months == [f"{year - 1}-{m:02d}" for m in range(1, 13)]  # 2026's figures under 2026's months
    plan_months = [c.value for c in sheet[header_row(sheet, labels("person.group"))]][1:13]
    assert plan_months == [f"{year}-{m:02d}" for m in range(1, 13)]


def test_company_split_change_names_what_moved_largest_first(make_workspace, tmp_path):
    """The VP moves 100,000 of revenue from the largest team to the smallest (total unchanged), and 10 units:
    the approval workbook's Change says 'Revenue <total>: <big> -100,000.00, <small> +100,000.00 vs suggestion',
    never '+0.0%'."""
    ws = make_workspace("readable-approval")
    template = sent_file(ws, "company", ws.roster.company_owner().person_id)
    book = openpyxl.load_workbook(template)
    areas = input_areas(book)
    metric = ws.config.metrics[0]
    rows = read_block(book, areas[f"in_{metric.key}"])
    teams = [r[0] for r in read_block(book, areas[f"rows_{metric.key}"])]
    changed = moved(rows, metric.decimals, 100000)
    deltas = {team: round(new[0] - old[0], metric.decimals) for team, old, new in zip(teams, rows, changed)}
    deltas = {t: d for t, d in deltas.items() if d}
    back = fill_file(template, tmp_path / "in" / template.name, {f"in_{metric.key}": changed})
    report = api.ingest(ws, [back])
    assert [o.status for o in report.outcomes] == ["accepted"]
    approval = api.generate(ws, "approval").files
    assert approval
    decisions = openpyxl.load_workbook(approval[0]).worksheets[1]
    head = header_row(decisions, Labels("en")("approval.col_summary"))
    column = [c.value for c in decisions[head]].index(Labels("en")("approval.col_summary"))
    change = decisions.cell(head + 1, column + 1).value
    assert "+0.0%" not in change
    first = change.split(";")[0]
    total = f"{sum(r[0] for r in changed):,.{metric.decimals}f}"
    assert first.startswith(f"{metric.label('en')} {total}: ")
    order = sorted(deltas, key=lambda t: (-abs(deltas[t]), t))
    expected = ", ".join(f"{t} {deltas[t]:+,.{metric.decimals}f}" for t in order)
    assert first == f"{metric.label('en')} {total}: {expected} vs suggestion"
    assert decisions.row_dimensions[head + 1].height  # the wrapped change is shown whole


def test_feedback_copy_marks_the_inputs_of_a_mismatch_and_prints_as_a_list(make_workspace, tmp_path):
    """A plan grid 1,000 over its target: every input cell of that grid is marked, the locked target is not;
    the Problems sheet names the input range, shows the value as a number, wraps and prints one page wide."""
    ws = make_workspace("readable-feedback", approvals=False)
    template = sent_file(ws, "person", "P006")
    book = openpyxl.load_workbook(template)
    areas = input_areas(book)
    metric = ws.config.metrics[0]
    rows = read_block(book, areas[f"in_{metric.key}"])
    rows[0][0] = round(rows[0][0] + 1000, metric.decimals)
    back = fill_file(template, tmp_path / "in" / template.name, {f"in_{metric.key}": rows})
    report = api.ingest(ws, [back])
    assert [(o.status, [p.code for p in o.errors]) for o in report.outcomes] == [("rejected", ["plan-mismatch"])]
    copy = openpyxl.load_workbook(feedback_path(ws, back.name))
    inputs, target = areas[f"in_{metric.key}"], areas[f"target_{metric.key}"]
    sheet = copy[inputs.sheet]
    marks = {(r, c) for r, c in inputs.cells() if sheet.cell(r + 1, c + 1).fill.fgColor.rgb.endswith(RED)}
    assert marks == set(inputs.cells())
    assert not sheet.cell(target.first_row + 1, target.first_col + 1).fill.fgColor.rgb.endswith(RED)
    problems = copy.worksheets[0]
    assert problems.title == Labels("en")("feedback.sheet")
    row = [c.value for c in problems[3]]
    assert row[0] == inputs.sheet and row[1] == inputs.plain.partition("!")[2]
    assert isinstance(row[2], (int, float)) and not isinstance(row[2], bool)  # a number, not '12345.0'
    assert problems["D3"].alignment.wrap_text and problems.column_dimensions["D"].width >= 60
    assert problems.print_title_rows == "$2:$2"
    assert problems.page_setup.orientation == "landscape" and problems.page_setup.fitToWidth == 1
    assert problems.sheet_properties.pageSetUpPr.fitToPage


def test_ingest_reports_are_named_and_titled_by_round(make_workspace, tmp_path):
    """The first ingest of the person round is ingest-person-2027.xlsx, run 1; the same file again (a
    duplicate, still of that round) run 2; a dry run says so in its name."""
    from sheetplan.demo.simulate import copy_as

    ws = make_workspace("readable-ingest", approvals=False)
    template = sent_file(ws, "person", "P006")
    back = fill_file(template, tmp_path / "a" / template.name, {})
    first = api.ingest(ws, [back])
    second = api.ingest(ws, [copy_as(back, tmp_path / "b" / back.name)])
    dry = api.ingest(ws, [copy_as(back, tmp_path / "c" / back.name)], dry_run=True)
    assert [o.status for o in first.outcomes + second.outcomes] == ["accepted", "duplicate"]
    assert [r.report_path.name for r in (first, second, dry)] == [
        "ingest-person-2027.xlsx", "ingest-person-2027-2.xlsx", "ingest-person-2027-dry-run.xlsx"]
    titles = [openpyxl.load_workbook(r.report_path)["Files"]["A1"].value for r in (first, second)]
    assert titles[0].startswith("Ingest of personal plan 2027, run 1, "), titles
    assert titles[1].startswith("Ingest of personal plan 2027, run 2, "), titles
    with zipfile.ZipFile(first.report_path) as z:
        sheets = [z.read(n).decode() for n in sorted(z.namelist()) if re.fullmatch(r"xl/worksheets/sheet\d\.xml", n)]
    assert len(sheets) == 2
    for xml in sheets:  # landscape, one page wide, the header row on every page
        assert 'orientation="landscape"' in xml and 'fitToPage="1"' in xml and 'fitToHeight="0"' in xml
        assert not re.search(r'fitToWidth="(?!1")', xml)  # absent means one page wide
    book = openpyxl.load_workbook(first.report_path)
    assert book["Files"].print_title_rows == "$4:$4" and book["Problems"].print_title_rows == "$1:$1"
