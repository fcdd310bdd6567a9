"""Validation findings as plain records, collected into a report instead of raised."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from dataclasses import field as dataclass_field
from typing import Any

ERROR = "error"
WARNING = "warning"

COLUMNS = ("severity", "code", "file", "sheet", "cell", "row", "field", "value", "message")


@dataclass(frozen=True)
class Problem:
    """One finding. `row` is the row number as Excel shows it; `cell` is A1 notation.

    `code` is a stable kebab-case identifier: tests and tools match on it, never on wording.
    `params` holds the figures the message names (as text, already formatted), so the message can be
    rendered again in the reader's language (`sheetplan.workspace.problem_text`); `message` is the
    English sentence kept for logs and English workspaces.
    """

    code: str
    message: str
    severity: str = ERROR
    file: str = ""
    sheet: str = ""
    cell: str = ""
    row: int | None = None
    field: str = ""
    value: Any = None
    params: dict = dataclass_field(default_factory=dict, compare=False)  # `field` is a column name here

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def describe(self) -> str:
        where = ":".join(part for part in (self.file, self.sheet, self.cell) if part)
        if self.row is not None and not self.cell:
            where = f"{where} row {self.row}" if where else f"row {self.row}"
        if self.field and not self.cell:
            where = f"{where} [{self.field}]" if where else self.field
        prefix = f"{where}: " if where else ""
        return f"{prefix}{self.message} ({self.code})"

    def located(self, **where: Any) -> Problem:
        """Return a copy with location fields filled in (file, sheet, cell ...)."""
        data = asdict(self)
        data.update(where)
        return Problem(**data)


def errors(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.is_error]


def warnings(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if not p.is_error]


@dataclass
class Report:
    """An ordered collection of problems; errors and warnings are kept together."""

    problems: list[Problem] = field(default_factory=list)

    def add(self, problem: Problem) -> None:
        self.problems.append(problem)

    def extend(self, problems: Iterable[Problem]) -> None:
        self.problems.extend(problems)

    @property
    def errors(self) -> list[Problem]:
        return errors(self.problems)

    @property
    def warnings(self) -> list[Problem]:
        return warnings(self.problems)

    @property
    def ok(self) -> bool:
        return not self.errors

    def __len__(self) -> int:
        return len(self.problems)

    def __iter__(self):
        return iter(self.problems)

    def to_frame(self):
        """Problems as a DataFrame with fixed columns, ready to filter, count or write."""
        import pandas as pd

        rows = [{col: getattr(p, col) for col in COLUMNS} for p in self.problems]
        return pd.DataFrame(rows, columns=list(COLUMNS))
