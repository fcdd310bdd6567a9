"""The bounds a returned file is held to, and the refusal raised when it breaks one."""

from __future__ import annotations

from dataclasses import dataclass

from sheetplan.errors import ReturnedFileError
from sheetplan.problems import Problem

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Every bound applied to one returned file. Defaults fit a sales template with room to spare."""

    max_file_bytes: int = 20 * MiB
    max_entries: int = 1000
    max_uncompressed_bytes: int = 200 * MiB  # sum over the zip entries
    max_part_bytes: int = 50 * MiB  # one zip entry
    max_ratio: float = 200.0  # uncompressed / compressed, per entry ...
    ratio_floor_bytes: int = 1 * MiB  # ... checked only for entries bigger than this
    max_cells: int = 200_000  # <c> elements in all sheets, empty formatted cells included
    # calamine allocates the bounding box of a sheet's values densely (32 bytes a cell), so two
    # values at A1 and XFD1048576 ask for 550 GB and abort the process: bound the box, not the count.
    max_sheet_area: int = 4_000_000
    timeout_seconds: float = 10.0  # wall clock per file in read_many; also the CPU budget
    memory_bytes: int = 1024 * MiB  # address space a read_many worker may add to its start size


class PackageProblem(ReturnedFileError):
    """A returned file failed a check; `code` is the Problem code the reader reports."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def problem(self, file: str) -> Problem:
        return Problem(code=self.code, message=self.message, file=file)


def mb(size: int) -> str:
    """A size as the salesperson reads it in a refusal message."""
    return f"{size / MiB:.1f} MB"
