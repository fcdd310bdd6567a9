"""The plan as it changes: the VP sets the company number, and what follows from it, worked out by hand."""

from __future__ import annotations

import openpyxl
from conftest import sent_file, without_approvals

from sheetplan import api
from sheetplan.demo.simulate import input_areas, read_block, write_block

YEAR = "2027"
TEAMS = ["North", "South", "East", "West", "Online & Inside Sales", "Public Projects"]
COLLECTIONS = '''
[[metrics]]
key = "collections"
label_en = "Collections"
label_zh = "回款额"
unit = "EUR"
decimals = 2
higher_is_better = true
max_value = 50000000
weight = 0
'''


def blocks(path) -> dict[str, list[list]]:
    book = openpyxl.load_workbook(path)
    return {name: read_block(book, area) for name, area in input_areas(book).items()}


def typed_into(source, target, values: dict[str, list[list]]):
    book = openpyxl.load_workbook(source)
    areas = input_areas(book)
    for name, rows in values.items():
        write_block(book, areas[name], rows)
    target.parent.mkdir(parents=True, exist_ok=True)
    book.save(target)
    return target


def test_the_vp_sets_the_company_target_and_the_teams_get_her_split(tmp_path):
    """By hand: the VP raises company revenue to 70,000,000.00 and splits it 20, 15, 12, 10, 8 and 5 million
    over North, South, East, West, Online & Inside Sales and Public Projects (sum 70,000,000.00). With no
    approvals needed, the company target becomes 70,000,000.00 and each team template's locked target is
    its share, e.g. North 20,000,000.00; the team suggestions for the people add up to it.

    `collections` is a new metric without history: its company target cell is empty for the VP to type;
    she types 1,200,000.00, split 400,000 / 300,000 / 200,000 / 150,000 / 100,000 / 50,000."""
    ws = api.init_workspace(tmp_path / "ws", demo=True, year=int(YEAR))
    config = ws.root / "sheetplan.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("[allocation]", COLLECTIONS + "\n[allocation]", 1),
                      encoding="utf-8")
    without_approvals(ws.root)
    ws = api.open_workspace(ws.root)
    vp = ws.roster.company_owner().person_id
    template = api.generate(ws, "company").files[0]
    pre = blocks(template)
    assert [row[0] for row in pre["in_company_collections"]] == [None]  # nothing to suggest from
    assert pre["in_company_revenue"][0][0] > 0  # prior year x (1 + growth)
    millions = [20, 15, 12, 10, 8, 5]
    thousands = [400, 300, 200, 150, 100, 50]
    values = {"in_company_revenue": [[70_000_000.00]], "in_revenue": [[m * 1_000_000.0] for m in millions],
              "in_company_collections": [[1_200_000.00]], "in_collections": [[t * 1000.0] for t in thousands]}
    returned = typed_into(template, tmp_path / "back" / "company.xlsx", values)
    report = api.ingest(ws, [returned])
    assert [(o.status, [p.code for p in o.errors]) for o in report.outcomes] == [("accepted", [])]
    with ws.store() as store:
        current = {(r.level, r.owner, r.metric): r.value for r in store.current_targets()
                   if r.period == YEAR and r.level in ("company", "team")}
    assert current[("company", "", "revenue")] == 70_000_000.00
    assert current[("company", "", "collections")] == 1_200_000.00
    for team, m, t in zip(TEAMS, millions, thousands, strict=True):
        assert current[("team", team, "revenue")] == m * 1_000_000.0
        assert current[("team", team, "collections")] == t * 1000.0
    api.generate(ws, "team")
    manager = ws.roster.manager("North").person_id
    north = openpyxl.load_workbook(sent_file(ws, "team", manager))
    names = {name: read_block(north, area) for name, area in input_areas(north).items()}
    assert names["target_revenue"] == [[20_000_000.00]] and names["target_collections"] == [[400_000.00]]
    assert round(sum(row[0] for row in names["in_revenue"]), 2) == 20_000_000.00
    assert vp  # the company template went to the VP


def test_a_split_that_does_not_add_up_to_the_typed_company_target_is_refused(tmp_path):
    """By hand: the VP types 70,000,000.00 but the teams add up to 69,999,999.99: split-mismatch of -0.01,
    located at the company target cell."""
    ws = api.init_workspace(tmp_path / "ws", demo=True, year=int(YEAR))
    without_approvals(ws.root)
    ws = api.open_workspace(ws.root)
    template = api.generate(ws, "company").files[0]
    rows = [[m * 1_000_000.0] for m in (20, 15, 12, 10, 8, 5)]
    rows[-1][0] -= 0.01
    returned = typed_into(template, tmp_path / "back" / "company.xlsx",
                          {"in_company_revenue": [[70_000_000.00]], "in_revenue": rows})
    (outcome,) = api.ingest(ws, [returned]).outcomes
    mismatch = [p for p in outcome.errors if p.code == "split-mismatch"]
    assert len(mismatch) == 1 and "difference -0.01" in mismatch[0].message
    area = input_areas(openpyxl.load_workbook(template))["in_company_revenue"]
    assert (mismatch[0].sheet, mismatch[0].cell) == (area.sheet, area.ref.split("!")[-1].replace("$", ""))
