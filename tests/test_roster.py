"""Roster and history checks: every problem as (code, row as Excel shows it, field); real .csv and .xlsx files."""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path

import openpyxl
import pytest

from sheetplan.errors import ConfigError
from sheetplan.workspace.config import parse_config
from sheetplan.workspace.roster import ROSTER_COLUMNS, load_roster, parse_history, parse_roster

# The base roster, one dict per row as a CSV reader gives it. The header is Excel row 1, so the
# person in BASE[i] sits on Excel row i + 2; the row is written next to each person for the tables.
BASE = [
    # person_id, name, email, team, role, reports_to, start_month, end_month, active
    ("G1", "Greta Gm", "greta@acme.example", "", "gm", "", "", "", "TRUE"),  # row 2
    ("V1", "Victor Vp", "victor@acme.example", "", "vp", "G1", "", "", "TRUE"),  # row 3
    ("M1", "Mia North", "mia@acme.example", "North", "manager", "V1", "", "", "TRUE"),  # row 4
    ("R1", "Rob Rep", "rob@acme.example", "North", "rep", "M1", "", "", "TRUE"),  # row 5
    ("R2", "Rita New", "rita@acme.example", "North", "rep", "M1", "2027-03", "", "TRUE"),  # row 6
    ("M2", "Max South", "max@acme.example", "South", "manager", "V1", "", "", "TRUE"),  # row 7
    ("S1", "Sam Super", "sam@acme.example", "South", "supervisor", "M2", "", "", "TRUE"),  # row 8
    ("R3", "Rhea Leaves", "rhea@acme.example", "South", "rep", "S1", "", "2027-06", "TRUE"),  # row 9
    ("R4", "Ray Gone", "ray@acme.example", "South", "rep", "S1", "", "2025-12", "FALSE"),  # row 10
]
ROW = {row[0]: index + 2 for index, row in enumerate(BASE)}


def records(changes: dict[str, dict] | None = None, drop: tuple[str, ...] = (),
            add: tuple[tuple, ...] = (), drop_columns: tuple[str, ...] = ()) -> list[dict]:
    """BASE as dicts, with some fields changed (by person_id), people dropped or added at the end."""
    out = []
    for row in list(BASE) + list(add):
        record = dict(zip(ROSTER_COLUMNS, row))
        if record["person_id"] in drop:
            continue
        record.update((changes or {}).get(row[0], {}))
        for column in drop_columns:
            record.pop(column)
        out.append(record)
    return out


def found(problems) -> set[tuple[str, int | None, str]]:
    return {(p.code, p.row, p.field) for p in problems}


def roster_problems(rows: list[dict]) -> set[tuple[str, int | None, str]]:
    with pytest.raises(ConfigError) as caught:
        parse_roster(rows)
    assert caught.value.problems, "a ConfigError must carry its problems"
    return found(caught.value.problems)


BROKEN = [
    # id, records, expected {(code, Excel row, field)}
    ("duplicate-id", records({"R2": {"person_id": "R1"}}), {("roster-duplicate-id", 6, "person_id")}),
    ("unknown-reports-to", records({"R1": {"reports_to": "M9"}}), {("roster-unknown-manager", 5, "reports_to")}),
    # M2 -> R3 -> S1 -> M2: reported once, on the first row of the loop
    ("three-person-cycle", records({"M2": {"reports_to": "R3"}}), {("roster-cycle", 7, "reports_to")}),
    ("reports-to-self", records({"R1": {"reports_to": "R1"}}), {("roster-cycle", 5, "reports_to")}),
    ("team-without-manager", records(add=(("W1", "Will West", "will@acme.example", "West", "rep", "V1", "", "",
                                           "TRUE"),)),
     {("roster-team-without-manager", 11, "team")}),
    ("manager-inactive", records({"M1": {"active": "FALSE"}}), {("roster-team-without-manager", 4, "team")}),
    ("two-managers", records(add=(("M3", "Meg Too", "meg@acme.example", "North", "manager", "V1", "", "", "TRUE"),)),
     {("roster-team-two-managers", 11, "team")}),
    ("email-without-at", records({"R1": {"email": "rob.acme.example"}}), {("roster-bad-email", 5, "email")}),
    ("email-without-domain-dot", records({"R1": {"email": "rob@acme"}}), {("roster-bad-email", 5, "email")}),
    ("email-with-space", records({"R1": {"email": "rob smith@acme.example"}}), {("roster-bad-email", 5, "email")}),
    ("email-two-ats", records({"R1": {"email": "rob@@acme.example"}}), {("roster-bad-email", 5, "email")}),
    ("email-empty", records({"R1": {"email": ""}}), {("roster-bad-email", 5, "email")}),
    ("email-used-twice", records({"R2": {"email": "ROB@acme.example"}}), {("roster-duplicate-email", 6, "email")}),
    ("bad-role", records({"R1": {"role": "salesman"}}), {("roster-invalid", 5, "role")}),
    ("empty-role", records({"R1": {"role": ""}}), {("roster-invalid", 5, "role")}),
    ("start-month-13", records({"R2": {"start_month": "2027-13"}}), {("roster-invalid", 6, "start_month")}),
    ("start-month-one-digit", records({"R2": {"start_month": "2027-3"}}), {("roster-invalid", 6, "start_month")}),
    ("start-month-words", records({"R2": {"start_month": "March 2027"}}), {("roster-invalid", 6, "start_month")}),
    ("end-month-bad", records({"R3": {"end_month": "2027/06"}}), {("roster-invalid", 9, "end_month")}),
    ("end-before-start", records({"R2": {"end_month": "2027-02"}}), {("roster-invalid", 6, "end_month")}),
    ("no-vp-or-gm", records({"G1": {"active": "FALSE"}, "V1": {"active": "FALSE"}}), {("roster-no-vp", None, "role")}),
    ("no-vp-or-gm-rows", records({"M1": {"reports_to": ""}, "M2": {"reports_to": ""}}, drop=("G1", "V1")),
     {("roster-no-vp", None, "role")}),
    ("missing-email-column", records(drop_columns=("email",)), {("roster-missing-column", None, "email")}),
    ("missing-two-columns", records(drop_columns=("team", "reports_to")),
     {("roster-missing-column", None, "team"), ("roster-missing-column", None, "reports_to")}),
    ("person-id-with-space", records({"R1": {"person_id": "R 1"}}), {("roster-invalid", 5, "person_id")}),
    ("person-id-path", records({"R1": {"person_id": "../R1"}}), {("roster-invalid", 5, "person_id")}),
    ("person-id-empty", records({"R1": {"person_id": ""}}), {("roster-invalid", 5, "person_id")}),
    ("rep-without-team", records({"R1": {"team": ""}}), {("roster-invalid", 5, "team")}),
    ("active-not-a-yes-or-no", records({"R1": {"active": "maybe"}}), {("roster-invalid", 5, "active")}),
    ("several-at-once", records({"R1": {"email": "rob"}, "R2": {"start_month": "2027-00"},
                                 "R3": {"reports_to": "X9"}}),
     {("roster-bad-email", 5, "email"), ("roster-invalid", 6, "start_month"),
      ("roster-unknown-manager", 9, "reports_to")}),
]


@pytest.mark.parametrize("rows, expected", [case[1:] for case in BROKEN], ids=[case[0] for case in BROKEN])
def test_broken_roster_reports_code_row_and_field(rows, expected):
    assert roster_problems(rows) == expected


def test_blank_lines_keep_the_row_numbers_excel_shows():
    rows = records({"R2": {"start_month": "2027-13"}})
    blank = dict.fromkeys(ROSTER_COLUMNS, "")
    rows.insert(ROW["R1"] - 2, blank)  # a blank Excel row 5 pushes R1 to row 6 and R2 to row 7
    assert roster_problems(rows) == {("roster-invalid", 7, "start_month")}


def test_empty_roster_is_a_problem():
    with pytest.raises(ConfigError) as caught:
        parse_roster([])
    assert found(caught.value.problems) == {("roster-empty", None, "")}


def test_person_ids_that_differ_only_in_case_are_duplicates():
    # person_id becomes part of every file name, and Windows and macOS file names ignore case:
    # 'r1' and 'R1' would write their templates over each other's.
    rows = records({"R2": {"person_id": "r1"}})
    assert roster_problems(rows) == {("roster-duplicate-id", 6, "person_id")}


def test_a_team_whose_people_all_left_needs_no_manager():
    # Leavers stay in the roster (active FALSE) so their prior-year history still counts for their team.
    # A rep needs a team, so a leaver of a team that no longer exists keeps that team's name; the team
    # itself is gone and must neither need an active manager nor get a target.
    rows = records(add=(("X1", "Xena Left", "xena@acme.example", "Old West", "rep", "V1", "", "2026-06",
                         "FALSE"),))
    roster = parse_roster(rows)
    assert roster.teams == ["North", "South"]


def test_good_roster_builds_people_teams_and_chains():
    config = parse_config('[company]\nname = "Acme"\n[fiscal]\nyear = 2027\n[planning]\n'
                          'customer_groups = ["All"]\n[[metrics]]\nkey = "revenue"\n')
    roster = parse_roster(records({"R1": {"role": "Rep", "active": ""}, "S1": {"active": "yes"}}))
    assert [p.person_id for p in roster.people] == [row[0] for row in BASE]
    assert [p.row for p in roster.people] == list(range(2, 2 + len(BASE)))
    assert roster.teams == ["North", "South"]
    assert roster.manager("North").person_id == "M1"
    assert roster.company_owner().person_id == "V1"
    assert [p.person_id for p in roster.sellers(config)] == ["R1", "R2", "S1", "R3"]  # R4 is inactive
    assert [p.person_id for p in roster.chain("R3")] == ["S1", "M2", "V1", "G1"]
    assert roster.get("R1").role == "rep"
    assert (roster.get("R2").start_month, roster.get("R3").end_month) == ("2027-03", "2027-06")
    assert roster.get("R4").active is False
    assert "R9" not in roster


# --- real files -------------------------------------------------------------------------------------


def write_csv(path: Path, rows: list[dict], header: list[str] | None = None, blank_after: int | None = None) -> Path:
    """A CSV as Excel saves it (UTF-8 with BOM); blank_after inserts an empty line after that many people."""
    columns = list(rows[0])
    with path.open("w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle)
        writer.writerow(header or columns)
        for index, row in enumerate(rows):
            if index == blank_after:
                handle.write("\r\n")
            writer.writerow([row[c] for c in columns])
    return path


def write_xlsx(path: Path, rows: list[dict], blank_after: int | None = None) -> Path:
    """A roster workbook as a person would type it: real dates for months, real TRUE/FALSE cells."""
    book = openpyxl.Workbook()
    sheet = book.active
    columns = list(rows[0])
    sheet.append(columns)
    for index, row in enumerate(rows):
        if index == blank_after:
            sheet.append([None] * len(columns))
        values = []
        for column in columns:
            value = row[column]
            if column in ("start_month", "end_month") and re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):
                value = dt.datetime(int(value[:4]), int(value[5:]), 1)
            elif column == "active":
                value = {"TRUE": True, "FALSE": False}.get(value, value)
            values.append(None if value == "" else value)
        sheet.append(values)
    book.save(path)
    return path


def comparable(roster) -> list[tuple]:
    return [(p.person_id, p.name, p.email, p.team, p.role, p.reports_to, p.start_month, p.end_month, p.active,
             p.row) for p in roster.people]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_load_roster_from_a_real_file_matches_the_records(tmp_path, suffix):
    rows = records()
    path = tmp_path / f"roster{suffix}"
    (write_csv if suffix == ".csv" else write_xlsx)(path, rows)
    assert comparable(load_roster(path)) == comparable(parse_roster(rows))


def test_csv_header_is_matched_without_case_or_spaces(tmp_path):
    rows = records()
    header = [f" {c.upper()} " for c in rows[0]]
    path = write_csv(tmp_path / "roster.csv", rows, header=header)
    assert comparable(load_roster(path)) == comparable(parse_roster(rows))


def test_xlsx_numbers_in_text_columns_are_read_as_text(tmp_path):
    rows = records({"R1": {"person_id": "1001"}})
    path = tmp_path / "roster.xlsx"
    write_xlsx(path, rows)
    book = openpyxl.load_workbook(path)
    book.active.cell(row=ROW["R1"], column=1).value = 1001  # typed as a number in Excel
    book.save(path)
    assert load_roster(path).get("1001") is not None


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_load_roster_reports_rows_of_the_file(tmp_path, suffix):
    rows = records({"R3": {"email": "rhea-at-acme"}, "R1": {"role": "boss"}})
    path = tmp_path / f"roster{suffix}"
    (write_csv if suffix == ".csv" else write_xlsx)(path, rows)
    with pytest.raises(ConfigError) as caught:
        load_roster(path)
    assert found(caught.value.problems) == {("roster-bad-email", 9, "email"), ("roster-invalid", 5, "role")}
    assert {p.file for p in caught.value.problems} == {path.name}


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_load_roster_counts_blank_lines_as_rows(tmp_path, suffix):
    # A blank line after R1 is Excel row 6, so R2 (the fifth person) sits on row 7 in the file.
    rows = records({"R2": {"start_month": "2027-13"}})
    path = tmp_path / f"roster{suffix}"
    (write_csv if suffix == ".csv" else write_xlsx)(path, rows, blank_after=ROW["R2"] - 2)
    with pytest.raises(ConfigError) as caught:
        load_roster(path)
    assert found(caught.value.problems) == {("roster-invalid", 7, "start_month")}


def test_missing_roster_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError):
        load_roster(tmp_path / "roster.xlsx")


def test_unreadable_roster_workbook_is_a_config_error(tmp_path):
    path = tmp_path / "roster.xlsx"
    path.write_bytes(b"this is not a workbook")
    with pytest.raises(ConfigError):
        load_roster(path)


# --- history ----------------------------------------------------------------------------------------

HISTORY_CONFIG = parse_config('[company]\nname = "Acme"\n[fiscal]\nyear = 2027\n[planning]\n'
                              'customer_groups = ["Key accounts", "Online"]\n'
                              '[[metrics]]\nkey = "revenue"\ndecimals = 2\n[[metrics]]\nkey = "units"\n')


def history_row(month="2026-03", person="R1", group="Online", metric="revenue", value=100.0) -> dict:
    return {"month": month, "person_id": person, "customer_group": group, "metric": metric, "value": value}


def test_history_errors_come_with_their_rows():
    roster = parse_roster(records())
    rows = [
        history_row(),  # row 2: fine
        history_row(month="2026-13"),  # row 3
        history_row(metric="profit"),  # row 4
        history_row(group="Retail"),  # row 5
        history_row(value=-5),  # row 6
        history_row(value="12 EUR"),  # row 7
        history_row(value=None),  # row 8
        history_row(value=float("nan")),  # row 9
        history_row(person="ZZ"),  # row 10: unknown person, only a warning
        history_row(month="March", metric="units", value=1),  # row 11
    ]
    with pytest.raises(ConfigError) as caught:
        parse_history(rows, HISTORY_CONFIG, roster)
    assert found(caught.value.problems) == {
        ("history-invalid", 3, "month"), ("history-invalid", 4, "metric"),
        ("history-invalid", 5, "customer_group"), ("history-invalid", 6, "value"), ("history-invalid", 7, "value"),
        ("history-invalid", 8, "value"), ("history-invalid", 9, "value"), ("history-invalid", 11, "month"),
    }
    assert all(p.is_error for p in caught.value.problems)


def test_history_unknown_people_are_warnings_and_dropped():
    roster = parse_roster(records())
    rows = [history_row(), history_row(person="ZZ"), history_row(month=dt.datetime(2026, 4, 1), value="250.5")]
    frame, warnings = parse_history(rows, HISTORY_CONFIG, roster)
    assert found(warnings) == {("history-unknown-person", 3, "person_id")}
    assert all(not w.is_error for w in warnings)
    assert frame.to_dict("records") == [
        {"month": "2026-03", "person_id": "R1", "customer_group": "Online", "metric": "revenue", "value": 100.0},
        {"month": "2026-04", "person_id": "R1", "customer_group": "Online", "metric": "revenue", "value": 250.5},
    ]


def test_history_missing_columns():
    roster = parse_roster(records())
    rows = [{k: v for k, v in history_row().items() if k not in ("metric", "value")}]
    with pytest.raises(ConfigError) as caught:
        parse_history(rows, HISTORY_CONFIG, roster)
    assert found(caught.value.problems) == {("history-missing-column", None, "metric"),
                                            ("history-missing-column", None, "value")}


@pytest.mark.parametrize("char", ["\r", "\n", "\x00", "\t", "\x1b", "\x7f", "\x85", "\u202e"],
                         ids=["CR", "LF", "NUL", "TAB", "ESC", "DEL", "NEL", "RLO"])
@pytest.mark.parametrize(("person", "column"), [("R1", "name"), ("M1", "team"), ("R3", "name")])
def test_control_characters_in_a_text_field_are_rejected_with_row_and_field(char, person, column):
    """They broke mail headers (CR/LF in a name), file names and the signed canonical text (a team name
    with CR came back as LF from the spreadsheet and looked tampered)."""
    value = dict(zip(ROSTER_COLUMNS, BASE[ROW[person] - 2]))[column]
    problems = roster_problems(records({person: {column: value[:2] + char + value[2:]}}))
    assert ("roster-control-character", ROW[person], column) in problems


def test_formula_like_quotes_and_non_ascii_names_are_plain_text():
    roster = parse_roster(records({"R1": {"name": "=HYPERLINK(\"x\")"}, "R3": {"name": "O'Brien \"Rhea\" 王小明"},
                                   "S1": {"name": "+Sam @Super -x"}}))
    assert roster.get("R1").name == '=HYPERLINK("x")' and roster.get("R3").name == "O'Brien \"Rhea\" 王小明"
