"""Gatekeeper for untrusted returned files: judge the bytes before any parser sees them.

The front door: the checks live in limits, sniff, package, xmlcheck and sheetscan; callers import
them from here.
"""

from __future__ import annotations

from sheetplan.problems import Problem
from sheetplan.returns.limits import Limits, MiB, PackageProblem, mb
from sheetplan.returns.package import Archive, Entry
from sheetplan.returns.sheetscan import MAX_COLS, MAX_ROWS, SheetScan, scan_sheet
from sheetplan.returns.sniff import FORMAT_DESCRIPTIONS, OLE2_MAGIC, ZIP_MAGICS, sniff, sniff_not_zip
from sheetplan.returns.xmlcheck import check_xml

__all__ = [
    "ACCEPTED",
    "FORMAT_DESCRIPTIONS",
    "MAX_COLS",
    "MAX_ROWS",
    "OLE2_MAGIC",
    "Archive",
    "Entry",
    "Limits",
    "MiB",
    "PackageProblem",
    "SheetScan",
    "check_file",
    "check_xml",
    "format_problem",
    "open_package",
    "scan_sheet",
    "sniff",
    "too_large",
]

_FORMAT_PROBLEMS = {
    "empty": "file-empty",
    "xls": "unsupported-format",
    "xlsb": "unsupported-format",
    "ods": "unsupported-format",
    "fods": "unsupported-format",
    "numbers": "unsupported-format",
    "xml-spreadsheet": "unsupported-format",
    "ole2-encrypted": "encrypted",
    "ods-encrypted": "encrypted",
    "xlsm": "macro-enabled",
    "xltm": "macro-enabled",
}
ACCEPTED = ("xlsx", "xltx")


def format_problem(fmt: str) -> PackageProblem:
    """The rejection for a file whose bytes are `fmt`, telling the salesperson what to do."""
    what = FORMAT_DESCRIPTIONS.get(fmt, FORMAT_DESCRIPTIONS["unknown"])
    code = _FORMAT_PROBLEMS.get(fmt, "not-a-workbook")
    if code == "file-empty":
        return PackageProblem(code, "the file is empty (0 bytes)")
    if code == "encrypted":
        return PackageProblem(code, f"the file is {what}: remove the password and save it again as .xlsx")
    if code == "macro-enabled":
        return PackageProblem(
            code, f"the file is {what}: save it as 'Excel Workbook (*.xlsx)' without macros"
        )
    if code == "unsupported-format":
        return PackageProblem(code, f"the file is {what}: open it and save it as 'Excel Workbook (*.xlsx)'")
    if fmt in ("csv", "text"):
        return PackageProblem(code, f"the file looks like {what}, not an Excel workbook: use the template")
    if fmt == "unknown":
        return PackageProblem(code, "the file is not an Excel workbook (unrecognised content)")
    return PackageProblem(code, f"the file is {what}, not an Excel workbook")


def open_package(data: bytes, limits: Limits) -> Archive:
    """Check a returned file's bytes; return its archive ready for the reader or raise PackageProblem.

    Order matters: magic bytes and the zip directory are judged before anything is inflated, and
    entry names and declared sizes before any part is inflated.
    """
    if not data:
        raise format_problem("empty")
    if len(data) > limits.max_file_bytes:
        raise PackageProblem(
            "file-too-large", f"the file is {mb(len(data))} (limit {mb(limits.max_file_bytes)})"
        )
    if not data.startswith(ZIP_MAGICS):
        if data.startswith(b"PK"):
            raise PackageProblem("zip-corrupt", "the file starts like a zip archive but is damaged")
        raise format_problem(sniff_not_zip(data))
    archive = Archive.parse(data, limits)
    archive.check_entries()
    fmt = archive.classify()
    if fmt not in ACCEPTED:
        raise format_problem(fmt)
    archive.check_all_xml()
    return archive


def check_file(data: bytes, name: str, limits: Limits = Limits()) -> Archive | list[Problem]:
    """The checked archive of a returned file's bytes, or the problems that rule it out."""
    try:
        return open_package(data, limits)
    except PackageProblem as exc:
        return [exc.problem(name)]


def too_large(size: int, limits: Limits) -> PackageProblem:
    """The refusal for a file too big to read, judged from its size before its bytes are loaded."""
    return PackageProblem("file-too-large", f"the file is {mb(size)} (limit {mb(limits.max_file_bytes)})")
