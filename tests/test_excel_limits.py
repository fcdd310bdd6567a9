"""No workbook consolidate writes passes Excel's sheet limits, however large the fact table: a fact table of
more rows than one sheet holds goes to the data workbook over several sheets, and nothing is lost."""

from __future__ import annotations

import csv
import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from python_calamine import CalamineWorkbook

from sheetplan.api import init_workspace, open_workspace
from sheetplan.reports.facts import FACT_COLUMNS
from sheetplan.reports.monthend import run_consolidation
from sheetplan.workspace.store import TargetRow
from sheetplan.xlsx.a1 import col_index
from sheetplan.xlsx.sheetlimits import MAX_COLS, MAX_ROWS, SheetTooLarge, check_cell, check_extent, row_slices
from sheetplan.xlsx.writer import write_value

GROUPS = [f"G{g:02d}" for g in range(1, 51)]
PEOPLE = 580  # 580 people x 3 metrics x (50 groups + their total) x 12 months = 1,064,880 person rows alone
TEAM_SIZE = 20
_ROW = re.compile(rb'<row r="(\d+)"')
_CELL = re.compile(rb'<c r="([A-Z]+)\d+"')


def sheet_extents(path: Path) -> dict[str, tuple[int, int, int]]:
    """Per worksheet entry: (rows written, highest row number, highest column number), read from the XML as
    it is, not from the dimension a writer declares."""
    out = {}
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if not re.fullmatch(r"xl/worksheets/sheet\d+\.xml", name):
                continue
            rows = last_row = last_col = 0
            tail = b""
            with archive.open(name) as handle:
                while chunk := handle.read(1 << 24):
                    block = tail + chunk
                    cut = block.rfind(b"<")  # a tag cut in two is read with the next chunk
                    block, tail = block[:cut], block[cut:]
                    numbers = _ROW.findall(block)
                    rows += len(numbers)
                    if numbers:
                        last_row = max(last_row, int(numbers[-1]))
                    letters = set(_CELL.findall(block))
                    if letters:
                        last_col = max(last_col, max(col_index(x.decode()) + 1 for x in letters))
            out[name] = (rows, last_row, last_col)
    return out


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A workspace whose plan makes a fact table larger than one sheet: 580 people in 29 teams, 50 customer
    groups, 3 metrics, every monthly target written straight into the store (as the bench does)."""
    root = tmp_path_factory.mktemp("limits") / "ws"
    init_workspace(root, demo=False, year=2027, lang="en")
    config = root / "sheetplan.toml"
    text = re.sub(r"(?m)^customer_groups = \[.*\]$", "customer_groups = [" + ", ".join(f'"{g}"' for g in GROUPS)
                  + "]", config.read_text(encoding="utf-8"))
    config.write_text(text, encoding="utf-8")
    (root / "roster.xlsx").unlink()
    teams = PEOPLE // TEAM_SIZE
    with (root / "roster.csv").open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["person_id", "name", "email", "team", "role", "reports_to", "start_month", "end_month",
                      "active"])
        out.writerow(["V1", "Vera", "v@example.com", "", "vp", "", "", "", "TRUE"])
        for t in range(teams):
            out.writerow([f"M{t}", f"Manager {t}", f"m{t}@example.com", f"Team {t:02d}", "manager", "V1", "", "",
                          "TRUE"])
        for i in range(PEOPLE):
            t = i // TEAM_SIZE
            out.writerow([f"P{i:04d}", f"Rep {i}", f"p{i}@example.com", f"Team {t:02d}", "rep", f"M{t}", "", "",
                          "TRUE"])
    ws = open_workspace(root)
    months = ws.config.months
    rows = (TargetRow("person", f"P{i:04d}", month, metric.key, group, float(1 + (i + g) % 7))
            for i in range(PEOPLE) for metric in ws.config.metrics for g, group in enumerate(GROUPS)
            for month in months)
    with ws.store() as store:
        store.replace_suggestions(rows)
    return run_consolidation(ws, months[2])


def test_fact_table_is_larger_than_a_sheet(big):
    assert len(big.facts) > MAX_ROWS


def test_every_sheet_of_every_workbook_stays_within_excels_limits(big):
    books = [big.summary, big.data.workbook, *big.team_files]
    assert len(big.team_files) == PEOPLE // TEAM_SIZE
    for path in books:
        for entry, (rows, last_row, last_col) in sheet_extents(path).items():
            assert rows <= last_row <= MAX_ROWS, (path.name, entry, rows, last_row)
            assert last_col <= MAX_COLS, (path.name, entry, last_col)


def test_data_workbook_rows_add_up_to_the_fact_table(big):
    """Facts 1 holds 1,048,575 rows under its header, Facts 2 the rest: together every fact row, in order."""
    parts = big.data.facts
    assert [p.sheet for p in parts] == ["Facts 1", "Facts 2"]
    assert [(p.first, p.last) for p in parts] == [(1, MAX_ROWS - 1), (MAX_ROWS, len(big.facts))]
    extents = list(sheet_extents(big.data.workbook).values())
    assert extents[0][0] - 1 + extents[1][0] - 1 == len(big.facts)  # rows below each header row
    book = CalamineWorkbook.from_path(str(big.data.workbook))
    assert book.sheet_names == ["Facts 1", "Facts 2", "Audit", "Months"]
    second = book.get_sheet_by_name("Facts 2").to_python()
    assert second[0] == FACT_COLUMNS
    tail = big.facts.iloc[MAX_ROWS - 1:].reset_index(drop=True)
    got = pd.DataFrame(second[1:], columns=FACT_COLUMNS)
    assert got["person"].tolist() == tail["person"].tolist()
    assert got["target"].astype(float).tolist() == tail["target"].tolist()
    assert len(pd.read_parquet(big.data.facts_parquet)) == len(big.facts)


def test_summary_says_where_both_fact_sheets_are(big):
    book = CalamineWorkbook.from_path(str(big.summary))
    rows = book.get_sheet_by_name("Data").to_python()
    listed = [r for r in rows if r and r[0] == "Fact table"]
    rest = len(big.facts) - MAX_ROWS + 1
    assert [(r[2], int(r[3]), int(r[4]), int(r[5])) for r in listed[:2]] == [
        ("Facts 1", 1, MAX_ROWS - 1, MAX_ROWS - 1), ("Facts 2", MAX_ROWS, len(big.facts), rest)]


def test_row_slices_split_a_table_under_its_header():
    """1,048,575 rows fit one sheet under a header row; one more needs a second sheet."""
    assert row_slices(0) == [(0, 0)]
    assert row_slices(MAX_ROWS - 1) == [(0, MAX_ROWS - 1)]
    assert row_slices(MAX_ROWS) == [(0, MAX_ROWS - 1), (MAX_ROWS - 1, MAX_ROWS)]
    assert row_slices(5, 1, 3) == [(0, 2), (2, 4), (4, 5)]


def test_writer_layer_refuses_cells_past_the_limits():
    check_extent("Data", MAX_ROWS, MAX_COLS)  # exactly at the limits is allowed
    check_cell("Data", MAX_ROWS - 1, MAX_COLS - 1)
    for rows, cols in ((MAX_ROWS + 1, 1), (1, MAX_COLS + 1)):
        with pytest.raises(SheetTooLarge):
            check_extent("Data", rows, cols)

    class Sheet:
        name = "Data"

        def write_number(self, *args):  # never reached: the check comes first
            raise AssertionError("a cell past the limit reached the writer")

    with pytest.raises(SheetTooLarge, match="'Data'"):
        write_value(Sheet(), MAX_ROWS, 0, 1.0)
