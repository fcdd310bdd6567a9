"""`sheetplan ingest` and `sheetplan status` through click's CliRunner: exit codes, a line per file, the
summary, the dry run, and the round status grouped by team."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from sheetplan.cli import main
from sheetplan.demo.simulate import input_areas

MONTH = "2027-03"
VALUES = {
    "in_revenue": [[1000], [2000.5], [0], [12.34], [99999.99]],
    "in_quantity": [[10], [0], [3], [7], [1]],
    "in_new_customers": [[1], [0], [0], [2], [0]],
    "in_expenses": [[100.1], [0], [0], [0], [250]],
}
SUMMARY = re.compile(r"^(Dry run: nothing recorded\. )?(\d+) accepted, (\d+) rejected, 0 quarantined, (\d+) duplicate, "
                     r"(\d+) stale, (\d+) superseded, (\d+) warnings in \d+\.\d s\.$")


def month_return(ws, owner: str, target: Path, **changes) -> Path:
    with ws.store() as store:
        record = max((r for r in store.sent("month", MONTH) if r.owner == owner), key=lambda r: r.revision)
    book = openpyxl.load_workbook(ws.root / record.path)
    areas = input_areas(book)
    for name, rows in {**VALUES, **changes}.items():
        area = areas[name]
        for r, row in enumerate(rows):
            cell = book[area.sheet].cell(area.first_row + r + 1, area.first_col + 1)
            cell.value = row[0]
            if isinstance(row[0], str):
                cell.data_type = "s"
    target.parent.mkdir(parents=True, exist_ok=True)
    book.save(target)
    return target


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def summary(stdout: str) -> tuple:
    matches = [SUMMARY.match(line) for line in stdout.splitlines()]
    found = [m for m in matches if m]
    assert len(found) == 1, stdout
    dry, *numbers = found[0].groups()
    return bool(dry), tuple(int(n) for n in numbers)


def file_lines(stdout: str) -> list[tuple[str, str, str]]:
    """(STATUS, file name, [kind period owner]) of each per-file line."""
    pattern = re.compile(r"^(ACCEPTED|REJECTED|QUARANTINED|DUPLICATE|STALE)\s+(\S+)  \[([^\]]*)\]")
    return [m.groups() for m in map(pattern.match, stdout.splitlines()) if m]


def submissions(ws) -> list[tuple]:
    db = sqlite3.connect(ws.root / ".sheetplan" / "plan.sqlite")
    try:
        return db.execute("SELECT original_name, owner, status FROM submissions ORDER BY id").fetchall()
    finally:
        db.close()


@pytest.fixture(scope="module")
def ws(make_workspace):
    return make_workspace("cli")


def test_exit_0_when_nothing_is_rejected(ws):
    folder = ws.root / "returns-ok"
    month_return(ws, "P004", folder / "a.xlsx")
    month_return(ws, "P005", folder / "b.xlsx", in_quantity=[[" 7 "], [0], [3], [7], [1]])
    result = run("-w", ws.root, "ingest", folder)
    assert result.exit_code == 0, result.output
    assert file_lines(result.stdout) == [("ACCEPTED", "a.xlsx", f"month {MONTH} P004"),
                                         ("ACCEPTED", "b.xlsx", f"month {MONTH} P005")]
    assert "(1 warning(s))" in result.stdout.splitlines()[1]
    assert summary(result.stdout) == (False, (2, 0, 0, 0, 0, 1))
    assert [("a.xlsx", "P004", "accepted"), ("b.xlsx", "P005", "accepted")] == submissions(ws)[:2]


def test_exit_1_when_any_file_is_rejected_and_accepted_files_are_still_recorded(ws):
    folder = ws.root / "returns-mixed"
    month_return(ws, "P006", folder / "good.xlsx")
    month_return(ws, "P007", folder / "bad.xlsx", in_revenue=[["N/A"], [1], [-5], [1], [1]])
    result = run("-w", ws.root, "ingest", folder)
    assert result.exit_code == 1, result.output
    assert file_lines(result.stdout) == [("ACCEPTED", "good.xlsx", f"month {MONTH} P006"),
                                         ("REJECTED", "bad.xlsx", f"month {MONTH} P007")]
    rejected = next(line for line in result.stdout.splitlines() if line.startswith("REJECTED"))
    assert "Report:C6:" in rejected and "(not-a-number)" in rejected and "(+1 more)" in rejected
    assert summary(result.stdout) == (False, (1, 1, 0, 0, 0, 0))
    assert ("good.xlsx", "P006", "accepted") in submissions(ws)
    assert ("bad.xlsx", "P007", "rejected") in submissions(ws)
    # run again: the good file is a duplicate; the bad one still stands rejected, so it is reported again
    again = run("-w", ws.root, "ingest", "--quiet", folder)
    assert again.exit_code == 1 and file_lines(again.stdout) == []
    assert summary(again.stdout) == (False, (0, 1, 1, 0, 0, 0))


def test_dry_run_says_so_and_records_nothing(ws):
    folder = ws.root / "returns-dry"
    month_return(ws, "P008", folder / "dry.xlsx")
    before = submissions(ws)
    result = run("-w", ws.root, "ingest", "--dry-run", folder)
    assert result.exit_code == 0, result.output
    assert "Dry run" in result.stdout
    assert summary(result.stdout) == (True, (1, 0, 0, 0, 0, 0))
    assert file_lines(result.stdout) == [("ACCEPTED", "dry.xlsx", f"month {MONTH} P008")]
    assert submissions(ws) == before


def test_exit_2_for_a_missing_workspace(tmp_path):
    result = run("-w", tmp_path / "no-such-workspace", "ingest")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert str(tmp_path / "no-such-workspace") in result.stderr


def test_exit_2_for_a_path_that_does_not_exist(ws):
    before = submissions(ws)
    result = run("-w", ws.root, "ingest", ws.root / "no-such-folder")
    assert result.exit_code == 2
    assert "no-such-folder" in result.stderr
    assert submissions(ws) == before


def test_default_is_the_inbox(ws):
    month_return(ws, "P009", ws.folder("inbox") / "2027-03" / "from-inbox.xlsx")
    result = run("-w", ws.root, "ingest")
    assert result.exit_code == 0, result.output
    assert file_lines(result.stdout) == [("ACCEPTED", "from-inbox.xlsx", f"month {MONTH} P009")]


def test_status_groups_recipients_by_team_with_reasons(make_workspace):
    ws = make_workspace("cli-status")
    folder = ws.root / "returns"
    month_return(ws, "P004", folder / "north.xlsx")
    month_return(ws, "P015", folder / "south.xlsx", in_revenue=[["N/A"], [1], [-5], [1], [1]])
    assert run("-w", ws.root, "ingest", "--quiet", folder).exit_code == 1
    result = run("-w", ws.root, "status", "--kind", "month")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"month {MONTH}: 48 sent, 1 accepted, 1 rejected, 46 missing; due 2027-04-10"
    team, seen = None, {}
    for line in lines[1:]:
        if line.startswith("    "):
            status, owner, *rest = line.split()
            seen[owner] = (team, status, " ".join(rest))
        else:
            assert line.startswith("  ") and not line.startswith("   "), line
            team = line.strip()
    roster = ws.roster
    sellers = {p.person_id for p in roster.sellers(ws.config)}
    assert set(seen) <= sellers and len(seen) == 48
    assert {owner: entry[0] for owner, entry in seen.items()} == {owner: roster.get(owner).team for owner in seen}
    assert seen["P004"][1] == "accepted"
    assert seen["P015"][1] == "rejected" and seen["P015"][2].endswith("not-a-number, negative-value")
    assert {entry[1] for owner, entry in seen.items() if owner not in ("P004", "P015")} == {"missing"}
    teams_in_order = [line.strip() for line in lines[1:] if not line.startswith("    ")]
    assert len(teams_in_order) == len(set(teams_in_order))  # each team once: grouped, not interleaved


@pytest.mark.parametrize("command", ["ingest", "status"])
def test_commands_have_help_with_an_example(command):
    result = run(command, "--help")
    assert result.exit_code == 0
    assert "Example: sheetplan " in result.stdout
