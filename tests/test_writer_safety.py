"""What every writer guarantees: any value writes, CSV text never runs as a formula, files follow the umask."""

from __future__ import annotations

import os
import stat

import pandas as pd
import pytest
import xlsxwriter
from python_calamine import CalamineWorkbook

from sheetplan.reports.summary import csv_safe
from sheetplan.xlsx.writer import write_atomic, write_value


def test_csv_text_that_would_run_as_a_formula_gets_an_apostrophe():
    frame = pd.DataFrame({"team": ["=SUM(A1)", "+1", "-North", "@cmd", "North", "\tTab", None],
                          "value": [-1.5, 2.0, -3.0, 4.0, 5.0, 6.0, 7.0]})
    safe = csv_safe(frame)
    assert safe["team"].iloc[:6].tolist() == ["'=SUM(A1)", "'+1", "'-North", "'@cmd", "North", "'\tTab"]
    assert pd.isna(safe["team"].iloc[6])
    assert safe["value"].tolist() == [-1.5, 2.0, -3.0, 4.0, 5.0, 6.0, 7.0]  # numbers stay numbers
    assert frame["team"].iloc[0] == "=SUM(A1)"  # the caller's frame is untouched


def test_write_value_writes_what_xlsxwriter_refuses(tmp_path):
    path = tmp_path / "values.xlsx"
    book = xlsxwriter.Workbook(str(path))
    ws = book.add_worksheet("S")
    for col, value in enumerate([float("inf"), float("-inf"), float("nan"), None, True, 1.5, "=1+1", "x" * 40000]):
        write_value(ws, 0, col, value)
    book.close()
    row = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("S").to_python(skip_empty_area=False)[0]
    assert row[:7] == ["inf", "-inf", "", "", True, 1.5, "=1+1"]
    assert len(row[7]) == 32767


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_follow_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        write_atomic(tmp_path / "f.xlsx", b"data")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.xlsx").stat().st_mode) == mode
