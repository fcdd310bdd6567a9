"""Load and check the roster (who sells, in which team, who reports to whom) and prior-year history."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from sheetplan.errors import ConfigError
from sheetplan.problems import WARNING, Problem
from sheetplan.workspace.config import ROLES, Config, control_characters

ROSTER_COLUMNS = ("person_id", "name", "email", "team", "role", "reports_to", "start_month", "end_month", "active",
                  "handover_to")
REQUIRED_COLUMNS = ("person_id", "name", "email", "team", "role", "reports_to")
HISTORY_COLUMNS = ("month", "person_id", "customer_group", "metric", "value")
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_PERSON_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
_TRUE = {"true", "yes", "1", "y", "x", "是", ""}  # an empty cell means active
_FALSE = {"false", "no", "0", "n", "否"}


@dataclass(frozen=True)
class Person:
    person_id: str
    name: str
    email: str
    team: str
    role: str
    reports_to: str
    start_month: str = ""
    end_month: str = ""
    active: bool = True
    row: int = 0  # row in the roster file as the spreadsheet shows it, for messages
    handover_to: str = ""  # optional: who takes over a leaver's targets after their end_month

    def works_in(self, month: str) -> bool:
        """On the books in this month (YYYY-MM): from start_month through end_month, both included."""
        return (not self.start_month or self.start_month <= month) and (not self.end_month or month <= self.end_month)


@dataclass(frozen=True)
class Roster:
    people: tuple[Person, ...]

    def get(self, person_id: str) -> Person | None:
        return self._index.get(person_id)

    @cached_property
    def _index(self) -> dict[str, Person]:
        return {p.person_id: p for p in self.people}

    def __contains__(self, person_id: str) -> bool:
        return person_id in self._index

    @property
    def teams(self) -> list[str]:
        """Teams in the order they first appear in the roster."""
        seen: dict[str, None] = {}
        for person in self.people:
            if person.team and person.active and person.role not in ("vp", "gm"):
                seen.setdefault(person.team, None)
        return list(seen)

    def manager(self, team: str) -> Person | None:
        for person in self.people:
            if person.team == team and person.role == "manager" and person.active:
                return person
        return None

    def sellers(self, config: Config, team: str | None = None) -> list[Person]:
        """Active people who carry a personal target, optionally of one team."""
        people = self.people if team is None else self._by_team.get(team, ())
        return [p for p in people if p.active and p.role in config.selling_roles]

    @cached_property
    def _by_team(self) -> dict[str, tuple[Person, ...]]:
        """Roster order within each team: asked per team, a scan of the whole roster each time adds up."""
        teams: dict[str, list[Person]] = {}
        for person in self.people:
            teams.setdefault(person.team, []).append(person)
        return {team: tuple(people) for team, people in teams.items()}

    def company_owner(self) -> Person | None:
        """The VP sets company targets per team; a company without a VP uses its GM."""
        for role in ("vp", "gm"):
            for person in self.people:
                if person.role == role and person.active:
                    return person
        return None

    def chain(self, person_id: str) -> list[Person]:
        """The person's managers, nearest first."""
        out, seen = [], {person_id}
        person = self.get(person_id)
        while person and person.reports_to and person.reports_to not in seen:
            seen.add(person.reports_to)
            person = self.get(person.reports_to)
            if person:
                out.append(person)
        return out


def _text(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _month(value) -> str:
    """Roster months may arrive as 'YYYY-MM' text or as real dates typed in Excel."""
    if hasattr(value, "year") and hasattr(value, "month"):
        return f"{value.year:04d}-{value.month:02d}"
    return _text(value)


def parse_roster(records: list[dict], source: str = "roster.xlsx", first_row: int = 2) -> Roster:
    """Check roster rows (dicts keyed by column) and build the Roster; raises ConfigError with every problem."""
    problems: list[Problem] = []

    def fail(row: int, column: str, message: str, value=None, code: str = "roster-invalid") -> None:
        problems.append(Problem(code, message, file=source, row=row, field=column, value=value))

    columns = set(records[0]) if records else set()
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if not records:
        raise ConfigError(f"{source} has no people", [Problem("roster-empty", "the roster lists nobody",
                                                                file=source)])
    if missing:
        raise ConfigError(f"{source} lacks columns", [
            Problem("roster-missing-column", f"missing column {c!r}; expected columns: {', '.join(ROSTER_COLUMNS)}",
                    file=source, field=c) for c in missing])

    people: list[Person] = []
    rows_by_id: dict[str, int] = {}
    emails: dict[str, int] = {}
    for offset, record in enumerate(records):
        row = first_row + offset
        person_id = _text(record.get("person_id"))
        if not any(_text(v) for v in record.values()):
            continue  # blank lines in a hand-edited roster are harmless
        for column, value in record.items():
            if isinstance(value, str) and (found := control_characters(value)):
                fail(row, str(column), f"{column} holds control characters ({', '.join(found)}): they break "
                     "mail headers, file names and signatures; type it on one line", value,
                     "roster-control-character")
        if not _PERSON_ID.match(person_id):
            fail(row, "person_id", "person_id must be 1-40 letters, digits, '.', '_' or '-' "
                 "(it becomes part of file names)", person_id)
        elif person_id.casefold() in rows_by_id:
            # ids become file names, and r1.xlsx and R1.xlsx are one file on Windows and macOS
            first = rows_by_id[person_id.casefold()]
            fail(row, "person_id", f"duplicate person_id {person_id!r} (first on row {first})",
                 person_id, "roster-duplicate-id")
        else:
            rows_by_id[person_id.casefold()] = row
        email = _text(record.get("email"))
        if not _EMAIL.match(email):
            fail(row, "email", f"malformed email address {email!r}", email, "roster-bad-email")
        elif email.lower() in emails:
            fail(row, "email", f"email {email!r} is also used on row {emails[email.lower()]}", email,
                 "roster-duplicate-email")
        else:
            emails[email.lower()] = row
        role = _text(record.get("role")).lower()
        if role not in ROLES:
            fail(row, "role", f"role must be one of {', '.join(ROLES)}; got {role!r}", role)
        start, end = _month(record.get("start_month")), _month(record.get("end_month"))
        for column, value in (("start_month", start), ("end_month", end)):
            if value and not _MONTH.match(value):
                fail(row, column, f"{column} must be a month like 2027-03; got {value!r}", value)
        if start and end and _MONTH.match(start) and _MONTH.match(end) and end < start:
            fail(row, "end_month", f"end_month {end} is before start_month {start}", end)
        raw_active = record.get("active")
        active_text = ("true" if raw_active else "false") if isinstance(raw_active, bool) else _text(raw_active).lower()
        if "active" not in columns or active_text in _TRUE:
            active = True
        elif active_text in _FALSE:
            active = False
        else:
            fail(row, "active", f"active must be TRUE or FALSE; got {active_text!r}", active_text)
            active = True
        team = _text(record.get("team"))
        if role in ("rep", "supervisor", "manager") and not team:
            fail(row, "team", f"a {role} needs a team", team)
        people.append(Person(person_id, _text(record.get("name")), email, team, role,
                             _text(record.get("reports_to")), start, end, active, row,
                             _text(record.get("handover_to"))))

    ids = {p.person_id for p in people}
    for person in people:
        if person.reports_to and person.reports_to not in ids:
            fail(person.row, "reports_to", f"reports_to {person.reports_to!r} is not a person_id in the roster",
                 person.reports_to, "roster-unknown-manager")
        if person.reports_to == person.person_id:
            fail(person.row, "reports_to", "a person cannot report to themselves", person.reports_to,
                 "roster-cycle")
    by_id = {p.person_id: p for p in people}
    for person in people:
        if not person.handover_to:
            continue
        receiver = by_id.get(person.handover_to)
        if not person.end_month:
            fail(person.row, "handover_to", "handover_to names who takes over a leaver's targets: give this "
                 "person an end_month too, or leave handover_to empty", person.handover_to)
        elif receiver is None or receiver.person_id == person.person_id:
            fail(person.row, "handover_to", f"handover_to {person.handover_to!r} is not another person_id in the "
                 "roster", person.handover_to, "roster-unknown-person")
        elif receiver.team != person.team or not receiver.active or (receiver.end_month and
                                                                     receiver.end_month <= person.end_month):
            fail(person.row, "handover_to", f"{receiver.person_id} cannot take over: the receiver must be active "
                 "in the same team after this person leaves", person.handover_to)
    problems.extend(_cycles(people, source))
    roster = Roster(tuple(people))
    for team in roster.teams:
        managers = [p for p in people if p.team == team and p.role == "manager" and p.active]
        if not managers:
            first = next(p for p in people if p.team == team)
            fail(first.row, "team", f"team {team!r} has no active manager", team, "roster-team-without-manager")
        elif len(managers) > 1:
            fail(managers[1].row, "team", f"team {team!r} has more than one active manager "
                 f"({', '.join(m.person_id for m in managers)})", team, "roster-team-two-managers")
    if not any(p.role in ("vp", "gm") and p.active for p in people):
        problems.append(Problem("roster-no-vp", "the roster needs an active vp or gm to own the company plan",
                                file=source, field="role"))
    if problems:
        raise ConfigError(f"{source} has {len(problems)} problem(s); nothing was generated", problems)
    return roster


def _cycles(people: list[Person], source: str) -> list[Problem]:
    boss = {p.person_id: p.reports_to for p in people}
    rows = {p.person_id: p.row for p in people}
    reported: set[str] = set()
    problems = []
    for start in boss:
        path, node = [], start
        while node and node in boss and node not in path:
            path.append(node)
            node = boss[node]
        if node == start and len(path) > 1:
            loop = frozenset(path)
            if not loop & reported:
                reported |= loop
                problems.append(Problem("roster-cycle", "reports_to forms a cycle: " + " -> ".join(path + [start]),
                                        file=source, row=rows[start], field="reports_to", value=start))
    return problems


def read_table(path: Path) -> list[dict]:
    """Rows of an .xlsx (first sheet) or .csv as dicts; the header row names the columns."""
    if path.suffix.lower() == ".csv":
        import csv

        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))  # not DictReader: it drops blank lines and shifts row numbers
        if not rows:
            return []
        header = [h.strip().lower() for h in rows[0]]
        return [dict(zip(header, row + [""] * (len(header) - len(row)))) for row in rows[1:]]
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
        rows = workbook.get_sheet_by_index(0).to_python(skip_empty_area=False)
    except Exception as exc:  # calamine raises several types for unreadable files
        raise ConfigError(f"{path.name} cannot be read as a workbook: {exc}") from None
    if not rows:
        return []
    header = [str(h).strip().lower() for h in rows[0]]
    return [dict(zip(header, row)) for row in rows[1:]]


def load_roster(path: Path) -> Roster:
    if not path.exists():
        raise ConfigError(f"{path} not found: put the roster in roster.xlsx or roster.csv")
    return parse_roster(read_table(path), source=path.name)


def _each_distinct(column, clean):
    """`clean` applied once per distinct value: a history column holds a few distinct strings many times."""
    distinct = column.unique()
    return column.map(dict(zip(distinct, map(clean, distinct), strict=True)))


def parse_history(records, config: Config, roster: Roster, source: str = "history.xlsx"):
    """History rows (dicts keyed by column, or a DataFrame of them) as a tidy DataFrame; bad rows are
    reported, unknown people are kept out with a warning.

    Checked column-wise with pandas: a history file has hundreds of thousands of rows.
    """
    import pandas as pd

    if len(records) == 0:
        return pd.DataFrame(columns=list(HISTORY_COLUMNS)), []
    columns = list(records.columns) if isinstance(records, pd.DataFrame) else list(records[0])
    missing = [c for c in HISTORY_COLUMNS if c not in columns]
    if missing:
        raise ConfigError(f"{source} lacks columns {', '.join(missing)}", [
            Problem("history-missing-column", f"missing column {c!r}", file=source, field=c) for c in missing])
    if isinstance(records, pd.DataFrame):
        frame = records[list(HISTORY_COLUMNS)].reset_index(drop=True)
    else:
        frame = pd.DataFrame.from_records(records, columns=list(HISTORY_COLUMNS))
    raw_values = frame["value"]
    frame["month"] = _each_distinct(frame["month"], _month)
    for column in ("person_id", "customer_group", "metric"):
        frame[column] = _each_distinct(frame[column], _text)
    values = pd.to_numeric(raw_values, errors="coerce")
    checks = (
        ("month", ~frame["month"].str.match(_MONTH.pattern), "month must look like 2026-03"),
        ("metric", ~frame["metric"].isin([m.key for m in config.metrics]), "unknown metric"),
        ("customer_group", ~frame["customer_group"].isin(config.customer_groups), "unknown customer group"),
        ("value", values.isna() | (values < 0) | ~values.abs().lt(float("inf")),
         "value must be a non-negative number"),
    )
    problems: list[Problem] = []
    bad = pd.Series(False, index=frame.index)
    for column, mask, message in checks:
        bad |= mask
        for index in frame.index[mask][:20]:  # the first few per column say enough
            value = frame.at[index, column] if column != "value" else raw_values.iat[index]
            problems.append(Problem("history-invalid", f"{message}; got {value!r}", file=source,
                                    row=int(index) + 2, field=column, value=value))
    if problems:
        raise ConfigError(f"{source} has {int(bad.sum())} bad row(s); nothing was generated", problems)
    unknown = ~frame["person_id"].isin([p.person_id for p in roster.people])
    warnings = [Problem("history-unknown-person", f"{frame.at[i, 'person_id']!r} is not in the roster; row ignored",
                        severity=WARNING, file=source, row=int(i) + 2, field="person_id",
                        value=frame.at[i, "person_id"]) for i in frame.index[unknown][:20]]
    frame = frame.assign(value=values.astype(float))[~unknown].reset_index(drop=True)
    # Categories: a 2000-person history has hundreds of thousands of rows of a few distinct strings.
    frame = frame.astype({c: "category" for c in ("month", "person_id", "customer_group", "metric")})
    return frame, warnings


def load_history(path: Path | None, config: Config, roster: Roster):
    import pandas as pd

    if path is None or not path.exists():
        return pd.DataFrame(columns=list(HISTORY_COLUMNS)), []
    if path.suffix.lower() == ".csv":
        # read by pandas as text: a 2,000-person history is ~150k rows, too many for a dict per row
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False, encoding="utf-8-sig")
        frame.columns = [str(c).strip().lower() for c in frame.columns]
        return parse_history(frame, config, roster, source=path.name)
    return parse_history(read_table(path), config, roster, source=path.name)
