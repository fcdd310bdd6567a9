"""Numbers no spreadsheet should hold: INF, NaN, 1e999 in a returned cell's XML. Each is a cell-located
problem of its own file; the batch, its report, the feedback copies and consolidate all carry on."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest

from sheetplan.api import generate, run_consolidation
from sheetplan.demo.simulate import fill_months, input_areas
from sheetplan.returns.feedback import feedback_path
from sheetplan.returns.validate import parse_number

SENTINEL = "123456.789"  # typed into one input cell, then replaced in the sheet XML by the hostile text


@pytest.mark.parametrize("text", ["INF", "-inf", "NaN", "1e999", "-1e999", "Infinity"])
def test_non_finite_text_is_not_a_number(text):
    assert parse_number(text, 2) == (None, "not-a-number", None)


def test_finite_forms_stay_numbers():
    assert parse_number("-0", 2) == (-0.0, None, "number-as-text")
    assert parse_number("1e3", 2) == (1000.0, None, "number-as-text")
    assert parse_number(float("inf"), 2) == (None, "not-a-number", None)


def with_cell_xml(path: Path, text: str) -> None:
    """Rewrite the sentinel cell's <v> in the sheet XML, as a hand-edited or broken exporter would."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.startswith("xl/worksheets/") and SENTINEL.encode() in data:
                data = data.replace(f"<v>{SENTINEL}</v>".encode(), f"<v>{text}</v>".encode())
            target.writestr(info, data)
    path.write_bytes(buffer.getvalue())


def test_a_batch_with_hostile_numbers_reports_every_file_and_consolidate_works(make_workspace, tmp_path):
    ws = make_workspace("numbers", approvals=False)
    month = "2027-03"
    files = generate(ws, "month", month=month).files[:8]
    decimals = {m.key: m.decimals for m in ws.config.metrics}
    inbox = ws.folder("inbox") / "batch"
    filled = [Path(f.path) for f in fill_months(files, inbox, decimals)]
    hostile = {"INF": filled[0], "-inf": filled[1], "NaN": filled[2], "1e999": filled[3]}
    for text, path in hostile.items():
        book = openpyxl.load_workbook(path)
        area = input_areas(book)["in_revenue"]
        cell = book[area.sheet].cell(area.first_row + 1, area.first_col + 1)
        cell.value = float(SENTINEL)
        book.save(path)
        with_cell_xml(path, text)
    minus_zero = filled[4]  # finite: accepted, stored as a plain 0
    book = openpyxl.load_workbook(minus_zero)
    area = input_areas(book)["in_revenue"]
    book[area.sheet].cell(area.first_row + 1, area.first_col + 1).value = float(SENTINEL)
    book.save(minus_zero)
    with_cell_xml(minus_zero, "-0")
    run = subprocess.run([sys.executable, "-m", "sheetplan.cli", "-w", str(ws.root), "ingest", str(inbox)],
                         capture_output=True, text=True, timeout=300)
    out = run.stdout + run.stderr
    assert "Traceback" not in out
    assert run.returncode == 1, out
    lines = {line.split()[1]: line.split()[0] for line in run.stdout.splitlines()
             if line.startswith(("REJECTED", "ACCEPTED"))}
    assert lines == {p.name: ("REJECTED" if p in hostile.values() else "ACCEPTED") for p in filled}, out
    reports = sorted(ws.folder("reports").glob("ingest-*.xlsx"))
    assert reports, "the ingest report was written"
    feedback = list((ws.folder("outbox") / "feedback").rglob("*.xlsx"))
    assert len(feedback) == len(hostile)
    copy = openpyxl.load_workbook(feedback_path(ws, hostile["INF"].name))  # what the sender gets back
    assert copy[area.sheet][cell.coordinate].value == "INF"  # what they sent, as text, marked
    assert copy[area.sheet][cell.coordinate].comment is not None
    with ws.store() as store:
        codes = [row[0] for row in store.db.execute("SELECT problems FROM submissions WHERE status = 'rejected'")]
        assert len(codes) == len(hostile) and all("not-a-number" in c for c in codes)
        stored = store.db.execute("SELECT COUNT(*) FROM accepted_values WHERE value IN (9e999, -9e999) "
                                  "OR value != value").fetchone()[0]
        assert stored == 0
        zeros = [v for (v,) in store.db.execute(
            "SELECT v.value FROM submitted_values v JOIN submissions s ON s.id = v.submission_id"
            " WHERE s.original_name = ? AND v.block = 'in_revenue'", (minus_zero.name,))]
        assert 0.0 in zeros and all(str(v) != "-0.0" for v in zeros), zeros
    result = run_consolidation(ws, month)
    assert result.summary.is_file()
