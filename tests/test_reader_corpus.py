"""Every real-world spreadsheet in the shared corpus ends in a clean read or a clear per-file problem."""

from __future__ import annotations

import csv
import re

import pytest
from conftest import CORPUS

from sheetplan.returns.reader import ReadResult, read_many

# xlsx files the manifest calls readable that sheetplan rejects on purpose: file -> (code, reason).
EXCEPTIONS = {
    "openpyxl__bigfoot.xlsx": (
        "zip-unsafe",
        "1024 sheets make 1033 zip entries, over Limits.max_entries (1000)",
    ),
    "poi__duplicate-filename.xlsx": (
        "zip-unsafe",
        "two zip entries share a name: readers disagree on which is real",
    ),
    "poi__duplicate-filename-case-insensitive.xlsx": (
        "zip-unsafe",
        "two entries differ only in case, and OPC part names ignore case",
    ),
    "poi__poc-shared-strings.xlsx": (
        "read-failed",
        "rows numbered 0 (A0), which python-calamine itself refuses",
    ),
    "poi__stress002.xlsx": ("macro-enabled", "holds xl/vbaProject.bin"),
    "poi__stress024.xlsx": (
        "macro-enabled",
        "its workbook part has the macroEnabled content type (.xlsm as .xlsx)",
    ),
}

# Everything that is not an .xlsx is refused with a problem naming the format.
FORMAT_CODES = {
    "xlsm": {"macro-enabled"},
    "xltm": {"macro-enabled"},
    "xlsb": {"unsupported-format"},
    "xls (BIFF8)": {"unsupported-format"},
    "xls (BIFF5)": {"unsupported-format"},
    "xls (BIFF2-4 stream)": {"unsupported-format"},
    "ods": {"unsupported-format", "encrypted"},
    "ods (damaged)": {"unsupported-format"},
    "fods (flat XML)": {"unsupported-format"},
    "numbers": {"unsupported-format"},
    "csv": {"not-a-workbook"},
    "encrypted OOXML (OLE2)": {"encrypted"},
    "empty (0 bytes)": {"file-empty"},
    "unknown bytes": {"not-a-workbook"},
    "OLE2 (damaged)": {"not-a-workbook"},
    "broken zip": {"zip-corrupt", "zip-unsafe"},
}

CODES = {
    "file-empty",
    "file-too-large",
    "file-unreadable",
    "not-a-workbook",
    "unsupported-format",
    "encrypted",
    "macro-enabled",
    "zip-corrupt",
    "zip-unsafe",
    "xml-unsafe",
    "xml-malformed",
    "too-many-cells",
    "read-timeout",
    "read-failed",
}


@pytest.fixture(scope="module")
def manifest() -> list[dict[str, str]]:
    path = CORPUS / "MANIFEST.tsv"
    assert path.is_file(), f"real-world corpus not found at {CORPUS} (set SHEETPLAN_CORPUS)"
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


@pytest.fixture(scope="module")
def results(manifest) -> dict[str, tuple[dict[str, str], ReadResult]]:
    read = list(read_many([CORPUS / row["filename"] for row in manifest]))
    return {row["filename"]: (row, result) for row, result in zip(manifest, read, strict=True)}


def code_of(result: ReadResult) -> str | None:
    return result.problems[0].code if result.problems else None


def test_corpus_is_present():
    assert (CORPUS / "MANIFEST.tsv").is_file(), (
        f"real-world corpus not found at {CORPUS} (set SHEETPLAN_CORPUS)"
    )


def test_manifest_lists_every_file(manifest):
    present = {p.name for p in CORPUS.iterdir()} - {"MANIFEST.tsv", "README.md"}
    assert present == {row["filename"] for row in manifest}


def test_every_file_ends_in_a_workbook_or_a_problem(results):
    for name, (_, result) in results.items():
        assert result.name == name
        if result.workbook is None:
            assert result.problems, name
            assert all(p.is_error and p.code in CODES and p.file == name for p in result.problems), name
        else:
            assert result.problems == (), name


def test_readable_xlsx_files_read_cleanly(results):
    readable = {
        n
        for n, (row, _) in results.items()
        if row["format"] in ("xlsx", "xltx") and row["expected_readable"] == "yes"
    }
    assert set(EXCEPTIONS) <= readable
    outcomes = {name: code_of(results[name][1]) for name in readable}
    assert {n: c for n, c in outcomes.items() if n not in EXCEPTIONS and c is not None} == {}
    assert {n: outcomes[n] for n in EXCEPTIONS} == {n: code for n, (code, _) in EXCEPTIONS.items()}


def test_files_marked_no_are_rejected(results):
    accepted = [
        n for n, (row, r) in results.items() if row["expected_readable"].startswith("no") and r.workbook
    ]
    assert accepted == []


def test_other_formats_are_refused_with_a_format_problem(results):
    wrong = {
        name: (row["format"], code_of(result))
        for name, (row, result) in results.items()
        if row["format"] not in ("xlsx", "xltx") and code_of(result) not in FORMAT_CODES[row["format"]]
    }
    assert wrong == {}


def test_clean_reads_agree_with_python_calamine_counts(results):
    """The manifest records what a naive python-calamine read saw: same sheets, same non-empty cells."""
    differ = {}
    for name, (row, result) in results.items():
        seen = re.fullmatch(r"ok \((\d+) sheets, (\d+) cells\)", row["python-calamine_0.9.1"])
        if result.workbook is None or seen is None:
            continue
        ours = (len(result.workbook.sheets), sum(len(s.cells) for s in result.workbook.sheets.values()))
        if ours != (int(seen.group(1)), int(seen.group(2))):
            differ[name] = (ours, row["python-calamine_0.9.1"])
    assert differ == {}
