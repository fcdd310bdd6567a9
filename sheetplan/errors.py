"""One exception root for sheetplan, split by who has to act to fix the problem."""

from __future__ import annotations


class SheetplanError(Exception):
    """Root of every error sheetplan raises on purpose; the CLI turns it into a message."""

    exit_code = 2


class ConfigError(SheetplanError):
    """sheetplan.toml, the roster or the history is wrong: the analyst must edit a file.

    Carries the individual problems so that every mistake is reported at once.
    """

    def __init__(self, message: str, problems: list | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])

    def __str__(self) -> str:
        head = super().__str__()
        if not self.problems:
            return head
        lines = [head] + [f"  - {p.describe()}" for p in self.problems]
        return "\n".join(lines)


class WorkspaceError(SheetplanError):
    """The workspace folder is missing, incomplete or not a sheetplan workspace."""


class WorkspaceBusy(WorkspaceError):
    """Another sheetplan command is writing to the workspace: wait for it, then run again."""


class ReturnedFileError(SheetplanError):
    """A returned workbook cannot be used; ingest records these as problems, not crashes."""


class EnvironmentProblem(SheetplanError):
    """Something outside sheetplan is missing or broken (LibreOffice, disk, SMTP server)."""


class OpenPeriod(SheetplanError):
    """A review asked for a period whose months are not all closed: close them, or ask for a draft."""

    def __init__(self, message: str, months: list[str] | None = None) -> None:
        super().__init__(message)
        self.months = list(months or [])
