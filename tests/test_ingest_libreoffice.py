"""Round trips through a real spreadsheet client: generate, fill in headless LibreOffice as a salesperson
would (setDataArray honours protection), save as .xlsx, ingest, and find exactly what was typed."""

from __future__ import annotations

import sqlite3

import localc
import openpyxl
import pytest

from sheetplan.api import ingest
from sheetplan.demo.simulate import input_areas, read_block
from sheetplan.xlsx.layout import Area


def _sent(ws, kind: str, owner: str | None = None):
    with ws.store() as store:
        records = [r for r in store.sent(kind) if owner is None or r.owner == owner]
    return ws.root / records[0].path


def _typed(template, kind: str) -> dict[str, list[list]]:
    """What the person types: plan kinds move one unit between two cells of each block (the total stays
    right); the month report gets round actuals, a comment and a revision request."""
    book = openpyxl.load_workbook(template)
    areas = input_areas(book)
    blocks = {}
    for name, area in areas.items():
        if not name.startswith("in_"):
            continue
        rows, cols = localc.shape(area.plain)
        if kind != "month":
            values = [list(r) for r in read_block(book, area)]
            if rows * cols >= 2:  # move one unit from the largest cell to another one
                flat = [(r, c) for r in range(rows) for c in range(cols)]
                r2, c2 = max(flat, key=lambda rc: values[rc[0]][rc[1]] or 0)
                r1, c1 = next(rc for rc in flat if rc != (r2, c2))
                values[r1][c1] = (values[r1][c1] or 0) + 1
                values[r2][c2] = values[r2][c2] - 1
            blocks[name] = values
        elif name == "in_comment":
            blocks[name] = [["Delivery slipped; 日本語 ok"]] + [[None]] * (rows - 1)
        elif name == "in_revision":  # 90 % of the current annual target: more than the months already past
            annual = read_block(book, areas["locked_annual"])[0][0]
            blocks[name] = [[round(annual * 0.9, 2)]] + [[None]] * (rows - 1)
        elif name == "in_revision_months":  # the request is the annual figure above; the months stay blank
            blocks[name] = [[None] * cols for _ in range(rows)]
        elif name == "in_revision_reason":
            blocks[name] = [["Lost a key account"] + [None] * (cols - 1)] + [[None] * cols for _ in range(rows - 1)]
        else:
            blocks[name] = [[float(10 * (i + 1))] for i in range(rows)]
    return blocks


@pytest.fixture(scope="module")
def filled(make_workspace, tmp_path_factory):
    localc.require()
    ws = make_workspace("lo-ingest")
    folder = tmp_path_factory.mktemp("lo-returns")
    cases = {"company": None, "team": None, "person": "P004", "month": "P004"}
    jobs, typed = [], {}
    for kind, owner in cases.items():
        template = _sent(ws, kind, owner)
        blocks = _typed(template, kind)
        typed[kind] = (template, blocks)
        jobs.append((template, blocks, folder / f"{kind}.xlsx"))
    results = localc.fill_workbooks(jobs)
    assert all(r["accepted"] for r in results), results
    report = ingest(ws, [folder], write_report=False)
    return ws, report, typed


def test_every_kind_filled_in_libreoffice_is_accepted(filled):
    _ws, report, _typed_values = filled
    assert all(not o.problems for o in report.outcomes), [p.describe() for o in report.outcomes for p in o.problems]
    assert sorted((o.kind, o.status) for o in report.outcomes) == [
        ("company", "accepted"), ("month", "accepted"), ("person", "accepted"), ("team", "accepted")]
    assert all(not o.problems for o in report.outcomes), [p.describe() for o in report.outcomes for p in o.problems]


@pytest.mark.parametrize("kind", ["company", "team", "person", "month"])
def test_stored_values_equal_what_was_typed(filled, kind):
    ws, report, typed = filled
    outcome = next(o for o in report.outcomes if o.kind == kind)
    template, blocks = typed[kind]
    db = sqlite3.connect(ws.private / "plan.sqlite")
    numbers = {(b, r, c): v for b, r, c, v in db.execute(
        "SELECT block, row_key, col_key, value FROM submitted_values WHERE submission_id = ?",
        (outcome.submission_id,))}
    texts = {(b, r, c): t for b, r, c, t in db.execute(
        "SELECT block, row_key, col_key, text FROM submitted_texts WHERE submission_id = ?", (outcome.submission_id,))}
    payload = db.execute("SELECT signed FROM sent WHERE kind = ? AND owner = ? AND period = ?",
                         (outcome.kind, outcome.owner, outcome.period)).fetchone()[0]
    import json

    meaning = {b["name"]: b for b in json.loads(payload)["blocks"]}
    expected_numbers, expected_texts = {}, {}
    for name, rows in blocks.items():
        block = meaning[name]
        area = Area.parse(block["area"])
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is None or (block["kind"] == "text" and (r or c) and area.first_row != area.last_row):
                    continue
                key = (name, block["row_keys"][r] if r < len(block["row_keys"]) else "",
                       block["col_keys"][c] if c < len(block["col_keys"]) else "")
                if block["kind"] == "text":
                    expected_texts[key] = value
                else:
                    expected_numbers[key] = round(float(value), 6)
    assert {k: round(v, 6) for k, v in numbers.items()} == expected_numbers
    assert texts == expected_texts
