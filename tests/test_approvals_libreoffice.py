"""An approval workbook decided in a real spreadsheet client: headless LibreOffice types the Decision and
Comment cells (setDataArray, as a user would), saves .xlsx, and ingest applies what was typed.

Chinese workspace: two revision requests from reps under one supervisor; the supervisor approves one (批准)
and rejects the other (驳回) with a Chinese comment.
"""

from __future__ import annotations

import sqlite3

import localc
import openpyxl
import pytest
from conftest import sent_file

from sheetplan import api
from sheetplan.api import ingest
from sheetplan.demo.simulate import fill_months, input_areas, read_block

COMMENT = "第二季度的目标过低，请把十二月的一部分移到四月和五月。"
REASON = "失去了最大的OEM客户"


@pytest.fixture(scope="module")
def decided(make_workspace, tmp_path_factory):
    localc.require()
    ws = make_workspace("lo-approvals", lang="zh")
    roster = ws.roster

    def reps_of(person_id: str) -> list[str]:
        return [p.person_id for p in roster.people if p.active and p.role == "rep" and p.reports_to == person_id]

    supervisor = next(p.person_id for p in roster.people if p.active and p.role == "supervisor"
                      and len(reps_of(p.person_id)) >= 2)
    approved_rep, rejected_rep = reps_of(supervisor)[:2]
    folder = tmp_path_factory.mktemp("lo-approval-returns")
    decimals = {m.key: m.decimals for m in ws.config.metrics}
    months = fill_months([sent_file(ws, "month", rep) for rep in (approved_rep, rejected_rep)], folder / "months",
                         decimals, revisions={rep: ("revenue", 0.9, REASON) for rep in (approved_rep, rejected_rep)})
    requests = ingest(ws, [m.path for m in months], write_report=False)
    assert [(o.status, o.problems) for o in requests.outcomes] == [("accepted", [])] * 2
    opened = {item.owner: item for item in requests.approvals.opened}
    assert sorted(opened) == sorted([approved_rep, rejected_rep])

    book = api.generate(ws, "approval", only=[supervisor]).files[0]
    template = openpyxl.load_workbook(book)
    areas = input_areas(template)
    refs = [row[0] for row in read_block(template, areas["rows_decision"])]
    typed = {opened[approved_rep].ref: ("批准", None), opened[rejected_rep].ref: ("驳回", COMMENT)}
    assert sorted(refs) == sorted(typed)
    blocks = {"in_decision": [[typed[ref][0]] for ref in refs],
              "in_decision_comment": [[typed[ref][1]] for ref in refs]}
    saved = folder / "decided-in-libreoffice.xlsx"
    [fill] = localc.fill_workbooks([(book, blocks, saved)])
    assert fill["accepted"], fill
    report = ingest(ws, [saved], write_report=False)
    return dict(ws=ws, supervisor=supervisor, approved=opened[approved_rep], rejected=opened[rejected_rep],
                rejected_rep=rejected_rep, report=report, saved=saved, decision_area=areas["in_decision"])


def _db(ws, sql: str, *args) -> list[tuple]:
    db = sqlite3.connect(ws.private / "plan.sqlite")
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def test_decisions_typed_in_libreoffice_are_applied(decided):
    ws, report = decided["ws"], decided["report"]
    approved, rejected, supervisor = decided["approved"], decided["rejected"], decided["supervisor"]
    assert [(o.kind, o.status, [(p.sheet, p.cell, p.code) for p in o.problems]) for o in report.outcomes] == [
        ("approval", "accepted", [])]
    assert sorted(_db(ws, "SELECT item_id, step, approver, decision, comment FROM approval_decisions")) == sorted([
        (approved.id, 0, supervisor, "approve", ""), (rejected.id, 0, supervisor, "reject", COMMENT)])
    assert _db(ws, "SELECT id, status, step FROM approval_items ORDER BY id") == sorted([
        (approved.id, "pending", 1), (rejected.id, "rejected", 0)])
    assert [i.id for i in report.approvals.advanced] == [approved.id]
    assert _db(ws, "SELECT COUNT(*) FROM targets WHERE source = 'revision'") == [(0,)]


def test_the_rejected_request_goes_back_with_the_chinese_comment(decided):
    ws, report = decided["ws"], decided["report"]
    [regenerated] = report.returned
    assert regenerated == sent_file(ws, "month", decided["rejected_rep"])
    assert regenerated.name.endswith("-r2.xlsx")
    book = openpyxl.load_workbook(regenerated)
    sheet = input_areas(book)["in_revenue"].sheet
    assert COMMENT in str(book[sheet]["A4"].value)


def test_the_decision_drop_down_survives_libreoffice(decided):
    area = decided["decision_area"]
    book = openpyxl.load_workbook(decided["saved"])
    sheet = book[area.sheet]
    cells = [f"{openpyxl.utils.get_column_letter(area.first_col + 1)}{row + 1}"
             for row in range(area.first_row, area.last_row + 1)]
    assert len(cells) == 2
    lists = [dv for dv in sheet.data_validations.dataValidation if dv.type == "list"]
    covering = [dv for dv in lists if all(cell in dv.sqref for cell in cells)]
    assert len(covering) == 1, [(dv.sqref, dv.formula1) for dv in lists]
    assert set(covering[0].formula1.strip('"').split(",")) == {"批准", "驳回"}
