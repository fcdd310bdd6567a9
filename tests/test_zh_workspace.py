"""A Chinese workspace reads Chinese end to end: every workbook a person opens and every line the commands print.

The demo year runs once in a zh workspace (module fixture, the whole year so the half-year and annual reviews are
written too); then the commands an analyst types run on it, and every cell of every workbook in outbox/ and
reports/ is scanned for English words.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from sheetplan.problems import Problem
from sheetplan.workspace.labels import catalogue
from sheetplan.workspace.problem_text import code_name, problem_text, reason_names, term

ENGLISH = re.compile(r"[A-Za-z]{2,}")
# What may stay in Latin letters, each for its reason, removed from a text before it is scanned:
ALLOWED = [
    re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"),  # email addresses
    re.compile(r"[^\s\"'：，（）()\[\]]*/[^\s\"'：，（）()\[\]]*"),  # paths (anything with a slash)
    re.compile(r"[^\s\"'：，（）()\[\]]*\.(xlsx|csv|parquet|toml|eml)\b"),  # file names and formats (.xlsx)
    re.compile(r"\b[a-z0-9]+(?:[-_][a-z0-9]+)+\b"),  # machine keys: problem codes, defined names (in_revenue)
    # a command to type, as typed
    re.compile(r"\bsheetplan(?:\s+(?:-w\s+\S+|--?[a-z-]+|[a-z]+\b|P\d+|\d{4}(?:-\d{2})?))*"),
    # the currency and time zone codes, and names a Chinese sales office writes in Latin letters
    re.compile(r"(?<![A-Za-z])(CNY|UTC|OEM|Excel|WPS|LibreOffice|sheetplan|TRUE|ERP|CRM)(?![A-Za-z])"),
    re.compile(r"(?<![A-Za-z])(csv|xlsx)( (gb18030|gbk|big5|utf-8(-sig)?|utf-16|latin-1))?(?![A-Za-z])"),  # read as
]
# Sheets for programs, not people: the signed template contract and the fact table (machine column names),
# which the data workbook (reports/data-<month>.xlsx) holds over one or more sheets named by the catalogue.
MACHINE_SHEETS = {"_meta", "Data"}
DATA_BOOK = re.compile(r"^data-\d{4}-\d{2}\.xlsx$")


def is_machine_sheet(path: Path, sheet: str) -> bool:
    facts = catalogue("zh")["datafiles"]["facts_sheet"]
    return sheet in MACHINE_SHEETS or bool(DATA_BOOK.match(path.name)) and re.fullmatch(
        re.escape(facts) + r"( \d+)?", sheet) is not None
# reports/history-<year>.xlsx is next year's input file in the format `init` reads (machine column names).
MACHINE_FILES = re.compile(r"history-\d{4}\.xlsx$")


def english_in(text: str) -> str | None:
    """The English left in a text once machine keys, file names and the allowed names are taken out."""
    if text.lstrip().startswith("="):
        return None  # a salesperson typed this formula-like comment; it is shown back as they typed it
    for pattern in ALLOWED:
        text = pattern.sub(" ", text)
    return text if ENGLISH.search(text) else None


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sheetplan.cli", *args], capture_output=True, text=True,
                          timeout=900)


@pytest.fixture(scope="module")
def zh_demo(tmp_path_factory):
    """The whole demo year in Chinese, then the commands an analyst types on it; their output is kept."""
    root = tmp_path_factory.mktemp("zh") / "demo"
    outputs = {}
    done = run_cli("demo", str(root), "--lang", "zh")
    assert done.returncode == 0, done.stderr
    outputs["demo"] = done.stdout + done.stderr
    for name, args in {"status": ["status"], "status month": ["status", "--kind", "month", "--period", "2027-12"],
                       "approvals": ["approvals", "--all"], "history": ["history", "P010"],
                       "history team": ["history", "华东大区", "--all"],
                       "consolidate": ["consolidate", "--month", "2027-06"],
                       "ingest": ["ingest", str(root / "inbox" / "2027-12")]}.items():
        ran = run_cli("-w", str(root), *args)
        assert ran.returncode in (0, 1), (name, ran.stdout, ran.stderr)
        assert "Traceback" not in ran.stderr, (name, ran.stderr)
        outputs[name] = ran.stdout + ran.stderr
    return root, outputs


def _workbooks(root: Path) -> list[Path]:
    books = sorted([*root.glob("outbox/**/*.xlsx"), *root.glob("reports/**/*.xlsx")])
    return [path for path in books if not MACHINE_FILES.search(path.name)]


def test_the_zh_demo_writes_every_kind_of_workbook_a_person_reads(zh_demo):
    root, _ = zh_demo
    names = [p.relative_to(root).as_posix() for p in _workbooks(root)]
    for wanted in (r"outbox/company/", r"outbox/team/", r"outbox/person/", r"outbox/month/", r"outbox/approval/",
                   r"outbox/reforecast/", r"outbox/feedback/", r"reports/ingest-", r"reports/summary-2027-12\.xlsx",
                   r"reports/2027-12/", r"reports/half-2027\.xlsx", r"reports/annual-2027\.xlsx"):
        assert any(re.search(wanted, name) for name in names), wanted


def test_no_english_word_in_any_cell_of_a_zh_workbook(zh_demo):
    root, _ = zh_demo
    found = []
    for path in _workbooks(root):
        book = CalamineWorkbook.from_path(str(path))
        for sheet in book.sheet_names:
            if is_machine_sheet(path, sheet):
                continue
            if english_in(sheet):
                found.append((path.relative_to(root).as_posix(), sheet, "(sheet name)", sheet))
            rows = book.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
            for r, row in enumerate(rows, start=1):
                for c, value in enumerate(row, start=1):
                    if isinstance(value, str) and english_in(value):
                        found.append((path.relative_to(root).as_posix(), sheet, f"R{r}C{c}", value))
    listing = "\n".join(f"{file} | {sheet} | {cell} | {text!r}" for file, sheet, cell, text in found[:200])
    assert found == [], f"{len(found)} cells with English words (file | sheet | cell | text):\n{listing}"


def test_no_english_word_in_the_zh_command_output(zh_demo):
    _, outputs = zh_demo
    found = [(command, line) for command, text in outputs.items() for line in text.splitlines()
             if english_in(line)]
    listing = "\n".join(f"{command}: {line}" for command, line in found[:200])
    assert found == [], f"{len(found)} lines with English words:\n{listing}"


def test_the_data_sheet_keeps_machine_names_and_explains_each_column(zh_demo):
    from sheetplan.reports.facts import FACT_COLUMNS

    root, _ = zh_demo
    book = openpyxl.load_workbook(root / "reports" / "data-2027-12.xlsx")
    data = book[catalogue("zh")["datafiles"]["facts_sheet"]]
    header = [cell.value for cell in data[1]]
    assert header == FACT_COLUMNS
    notes = {cell.value: cell.comment.text if cell.comment else "" for cell in data[1]}
    assert notes == {column: catalogue("zh")["data_columns"][column] for column in FACT_COLUMNS}


def test_a_problem_is_stored_as_code_and_figures_and_read_in_the_readers_language():
    """A plan that does not add up: the stored sentence is English, the zh reader gets it in Chinese with the
    metric's Chinese label and the same figures."""
    problem = Problem("plan-mismatch", "Travel & entertainment expenses: the inputs add up to 175,890.00 but the "
                      "target is 180,000.00 (difference -4,110.00)",
                      params={"metric": "expenses", "total": "175,890.00", "target": "180,000.00",
                              "difference": "-4,110.00"})
    zh = problem_text(problem, "zh", {"expenses": "差旅招待费用"})
    assert zh == "差旅招待费用：月度计划合计 175,890.00，年度目标为 180,000.00（差额 -4,110.00）。请使“待分配”为零。"
    assert problem_text(problem, "en", {"expenses": "Travel & entertainment expenses"}) == problem.message
    # a problem stored before parameters existed: the catalogue's advice, never the English sentence
    assert problem_text(Problem("plan-mismatch", "English only"), "zh") == catalogue("zh")["problems"]["plan-mismatch"]
    assert code_name("plan-mismatch", "zh") == "计划合计不符" and code_name("plan-mismatch", "en") == "plan-mismatch"
    assert reason_names("plan-mismatch x2, not-a-number", "zh") == "计划合计不符 ×2、非数字"
    assert term("role", "supervisor", "zh") == "主管" and term("role", "supervisor", "en") == "supervisor"


def test_every_problem_code_in_the_source_has_a_chinese_name_and_advice():
    source = Path(__file__).resolve().parent.parent / "sheetplan"
    pattern = re.compile(r"(?:Problem|PackageProblem)\(\s*\"([a-z]+(?:-[a-z]+)+)\"")
    # the ERP actuals import writes its problems in the workspace language when it makes them ([actuals])
    codes = {code for path in source.rglob("*.py") if "actuals" not in path.parts
             for code in pattern.findall(path.read_text(encoding="utf-8"))}
    codes -= {c for c in codes if c.startswith(("config-", "roster-", "history-"))}  # setup errors, not returns
    assert {"missing-value", "locked-cell-changed", "not-a-workbook", "revision-too-late"} <= codes
    # codes chosen in a variable before the Problem is made
    codes |= {"not-a-number", "percent-not-allowed", "number-as-text", "split-mismatch", "plan-mismatch",
              "owner-changed", "meta-changed", "already-decided", "decision-stale"}
    zh = catalogue("zh")
    advice = zh["problems"] | zh["problem_advice"]
    assert sorted(c for c in codes if c not in zh["code_names"]) == []
    assert sorted(c for c in codes if c not in advice) == []
