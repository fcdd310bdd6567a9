"""The reader matrix: one workbook of every kind sheetplan writes, in English and Chinese, opened by every
program and library its users and their scripts open them with, all real files, no mocks.

Readers: openpyxl, python-calamine, LibreOffice (headless, recalculating on load), Gnumeric's ssconvert
(recalculating), SheetJS (npm xlsx) and ExcelJS (tests/readers, versions pinned in package-lock.json). Every
reader opens every file with no error or warning, every reader sees the same cell values, and the structural
check (sheetplan.xlsx.structure) passes on every file. A formula's value is what LibreOffice and Gnumeric
calculate; the readers that do not calculate show the value cached in the file, which must be the same (or
absent, where the writer stores none).

The workbooks are built once for the module (a demo workspace per language taken through one round) and read
in batches: one soffice for all files, one node for all files, one ssconvert per file.
"""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
import subprocess
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from sheetplan import api
from sheetplan.demo import simulate
from sheetplan.xlsx.layout import Area
from sheetplan.xlsx.structure import check_workbook
from sheetplan.xlsx.text import decode_xstring

YEAR, MONTH = 2027, "2027-01"
LANGS = ("en", "zh")
KINDS = ("company", "team", "person", "month", "approval", "reforecast", "return_libreoffice", "feedback",
         "feedback_libreoffice", "ingest_report", "summary", "team_book", "person_book", "review_half",
         "review_annual", "history")
READERS = ("openpyxl", "calamine", "libreoffice", "gnumeric", "sheetjs", "exceljs")
CALCULATING = {"libreoffice", "gnumeric"}
# What Gnumeric says about LibreOffice's own xlsx (built-in number formats it does not define, workbook
# protection where Gnumeric does not expect it): about the program that saved the return, not sheetplan.
SAVED_BY_LIBREOFFICE = {"return_libreoffice", "feedback_libreoffice"}
GNUMERIC_ON_LIBREOFFICE = re.compile(r"^(Undefined number format id '4[1-4]'|Unexpected element 'workbookProtection'"
                                     r" in state :|workbook)$")
ESCAPED_NAME = " _x0041_"  # added to one seller's name (en): literal text in Excel's escape syntax
READERS_DIR = Path(__file__).with_name("readers")


# --- building one workbook of every kind ------------------------------------------------------------------


def _first(paths) -> Path:
    return sorted(Path(p) for p in paths)[0]


def _rename(root: Path, person_id: str, suffix: str) -> None:
    """Add `suffix` to one seller's name and to their team's name (signed: the company template lists the
    teams), written through sheetplan's roster writer (xlsxwriter escapes it; openpyxl would store it raw,
    and Excel read _x0041_ as "A")."""
    from sheetplan.workspace.folder import write_roster_xlsx

    book = openpyxl.load_workbook(root / "roster.xlsx")
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    records = [dict(zip(rows[0], row)) for row in rows[1:] if any(v is not None for v in row)]
    team = next(r["team"] for r in records if r["person_id"] == person_id)
    for record in records:
        if record["person_id"] == person_id:
            record["name"] = f"{record['name']}{suffix}"
        if record["team"] == team:
            record["team"] = f"{team}{suffix}"
    write_roster_xlsx(root / "roster.xlsx", records)


def _libreoffice_return(template: Path, target: Path) -> Path:
    """A month report typed and saved in LibreOffice, with a negative figure so it comes back as feedback."""
    from localc import fill_workbooks, shape

    book = openpyxl.load_workbook(template)
    refs = {name: dn.attr_text for name, dn in book.defined_names.items() if name.startswith("in_")}
    metric = next(name for name in sorted(refs) if name not in ("in_comment", "in_revision", "in_revision_reason",
                                                                "in_revision_months"))
    rows, cols = shape(Area.parse(refs[metric]).plain)
    values = [[-25 if (r, c) == (0, 0) else 10 * (r + 1) for c in range(cols)] for r in range(rows)]
    fill_workbooks([(template, {metric: values}, target)])
    return target


def _owner_of(path: Path) -> str:
    return path.name.split("-")[3]  # month-2027-01-P004-Name.xlsx


def build(root: Path, lang: str) -> tuple[dict[str, Path], list]:
    """A demo workspace taken through one round: one file of every kind, and the ingest outcomes of the
    untouched company, person and month templates (en: a seller's name and team's name hold a literal _x0041_)."""
    ws = api.init_workspace(root, demo=True, year=YEAR, lang=lang)
    escaped = ws.roster.sellers(ws.config)[0].person_id
    if lang == "en":
        _rename(root, escaped, ESCAPED_NAME)
        ws = api.open_workspace(root)
        api.refresh_plan(ws)  # the suggested split, for the team's new name
    decimals = {m.key: m.decimals for m in ws.config.metrics}
    inbox = ws.folder("inbox")
    files = {kind: sorted(api.generate(ws, kind, month=MONTH if kind == "month" else None).files)
             for kind in ("company", "team", "person", "month")}
    mine = {kind: next(p for p in files[kind] if f"-{escaped}-" in p.name) for kind in ("person", "month")}
    mine["company"] = files["company"][0]
    out: dict[str, Path] = {"team": files["team"][0], **mine}
    others = [p for p in files["month"] if p != mine["month"]]
    simulate.fill_months(others[:5], inbox / "month", decimals, mistakes={_owner_of(others[0]): "negative"})
    out["return_libreoffice"] = _libreoffice_return(others[5], inbox / "libreoffice" / others[5].name)
    for path in mine.values():  # sent back as they came: they must pass
        simulate.copy_as(path, inbox / "untouched" / path.name)
    report = api.ingest(ws, [inbox])
    out["ingest_report"] = report.report_path
    feedback = {Path(p).name: Path(p) for p in report.feedback}
    lo = _owner_of(out["return_libreoffice"])
    out["feedback_libreoffice"] = next(p for name, p in feedback.items() if f"-{lo}-" in name)
    out["feedback"] = next(p for name, p in feedback.items() if f"-{_owner_of(others[0])}-" in name)
    out["approval"] = sorted(api.generate(ws, "approval").files)[0]
    result = api.run_consolidation(ws, MONTH, people=True)
    out["summary"], out["team_book"], out["person_book"] = (result.summary, sorted(result.team_files)[0],
                                                            sorted(result.person_files)[0])
    api.close_month(ws, ws.config.months[-1])  # reviews sign closed months only
    out["review_half"] = api.run_half(ws).workbook
    out["reforecast"] = sorted(api.generate(ws, "reforecast").files)[0]
    annual = api.run_annual(ws)
    out["review_annual"], out["history"] = annual.workbook, annual.history_file
    untouched = [o for o in report.outcomes if Path(o.path).parent.name == "untouched"]
    return out, untouched


# --- reading with every reader --------------------------------------------------------------------------------


@dataclass
class Read:
    """What one reader made of one file: an error, what it warned, and each sheet's non-empty cells."""

    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    sheets: dict[str, dict[tuple[int, int], object]] = field(default_factory=dict)


def read_openpyxl(path: Path) -> Read:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            book = openpyxl.load_workbook(path, data_only=True)
            sheets = {ws.title: {(c.row - 1, c.column - 1): c.value for row in ws.iter_rows() for c in row
                                 if c.value is not None} for ws in book.worksheets}
        except Exception as exc:  # noqa: BLE001 - any failure to read is the finding
            return Read(f"{type(exc).__name__}: {exc}")
    return Read(None, [str(w.message) for w in caught], sheets)


def read_calamine(path: Path) -> Read:
    try:
        book = CalamineWorkbook.from_path(str(path))
        sheets = {}
        for name in book.sheet_names:
            rows = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
            sheets[name] = {(r, c): v for r, row in enumerate(rows) for c, v in enumerate(row) if v != ""}
    except Exception as exc:  # noqa: BLE001
        return Read(f"{type(exc).__name__}: {exc}")
    return Read(None, [], sheets)


def _csv_cells(path: Path) -> dict[tuple[int, int], str]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return {(r, c): v for r, row in enumerate(csv.reader(handle)) for c, v in enumerate(row) if v != ""}


# LibreOffice recalculates every formula on load (OOXMLRecalcMode 0: always), as Excel does with a file
# another program wrote; by default it would show the cached values instead.
LO_PROFILE = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema"
           xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse">
<value>0</value></prop></item>
</oor:items>
"""
# CSV of every sheet (-1), UTF-8, text quoted, values as stored (not as shown), no formulas
LO_CSV = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,true,true,false,false,false,-1"


def read_libreoffice(paths: list[Path], work: Path, sheet_names: dict[Path, list[str]]) -> dict[Path, Read]:
    """One soffice converts every file; each sheet becomes <n>-<sheet>.csv."""
    profile, folder, out = work / "lo-profile", work / "lo-in", work / "lo-out"
    (profile / "user").mkdir(parents=True, exist_ok=True)
    (profile / "user" / "registrymodifications.xcu").write_text(LO_PROFILE, encoding="utf-8")
    folder.mkdir(exist_ok=True)
    copies = {}
    for index, path in enumerate(paths):
        copies[path] = folder / f"{index:03d}.xlsx"
        shutil.copyfile(path, copies[path])
    soffice = shutil.which("soffice") or "/usr/lib/libreoffice/program/soffice"
    done = subprocess.run([soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore",
                           "--convert-to", LO_CSV, "--outdir", str(out), *map(str, copies.values())],
                          capture_output=True, text=True, timeout=900)
    said: dict[str, list[str]] = {}
    current = ""
    for line in (done.stdout + done.stderr).splitlines():
        match = re.match(r"convert (\S+) ", line)
        if match:
            current = Path(match.group(1)).stem
        elif line.strip() and not line.startswith("Writing sheet ") and "javaldx" not in line:  # no Java here
            said.setdefault(current, []).append(line.strip())
    reads = {}
    for path, copy in copies.items():
        sheets, missing = {}, []
        for name in sheet_names.get(path, []):
            csv_path = out / f"{copy.stem}-{name}.csv"
            if csv_path.exists():
                sheets[name] = _csv_cells(csv_path)
            else:
                missing.append(name)
        error = None
        if done.returncode != 0 or not sheets:
            error = f"soffice exited {done.returncode}; no sheet converted: {said.get(copy.stem)}"
        reads[path] = Read(error, said.get(copy.stem, []) + [f"sheet {m!r} not converted" for m in missing], sheets)
    return reads


def read_gnumeric(path: Path, work: Path, names: list[str]) -> Read:
    """ssconvert recalculates, then writes each sheet's raw values as CSV."""
    out = work / "gnumeric" / path.stem
    out.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["ssconvert", "--recalc", "-S", "-T", "Gnumeric_stf:stf_assistant", "-O",
                           "format=raw separator=, quoting-mode=auto", str(path), str(out / "%n.csv")],
                          capture_output=True, text=True, timeout=300)
    said = [line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    if done.returncode != 0:
        return Read(f"ssconvert exited {done.returncode}", said)
    sheets = {name: _csv_cells(out / f"{i}.csv") for i, name in enumerate(names) if (out / f"{i}.csv").exists()}
    return Read(None, said, sheets)


def read_node(paths: list[Path]) -> dict[Path, dict[str, Read]]:
    """SheetJS and ExcelJS, one node process for every file."""
    if not (READERS_DIR / "node_modules").is_dir():
        pytest.fail("tests/readers/node_modules is missing: run `npm ci` in tests/readers (scripts/test.sh does)")
    done = subprocess.run(["node", str(READERS_DIR / "read.js")], input=json.dumps([str(p) for p in paths]),
                          capture_output=True, text=True, timeout=900, cwd=READERS_DIR)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout)
    reads = {}
    for path in paths:
        reads[path] = {name: Read(result["error"], result["warnings"],
                                  {s["name"]: {(r, c): v for r, c, v in s["cells"]} for s in result["sheets"]})
                       for name, result in found[str(path)].items()}
    return reads


def formula_cells(path: Path) -> dict[str, dict[tuple[int, int], bool]]:
    """Per sheet, every formula cell and whether the file caches a value for it."""
    with zipfile.ZipFile(path) as archive:
        workbook = archive.read("xl/workbook.xml").decode("utf-8")
        rels = archive.read("xl/_rels/workbook.xml.rels").decode("utf-8")
        targets = dict(re.findall(r'<Relationship[^>]*?Id="([^"]+)"[^>]*?Target="([^"]+)"', rels))
        targets.update({i: t for t, i in re.findall(r'<Relationship[^>]*?Target="([^"]+)"[^>]*?Id="([^"]+)"',
                                                      rels)})
        found = {}
        for name, rid in re.findall(r'<sheet [^>]*?name="([^"]*)"[^>]*?r:id="([^"]+)"', workbook):
            target = targets[rid].lstrip("/")
            part = target if target.startswith("xl/") else "xl/" + target
            xml = archive.read(part).decode("utf-8")
            cells = {}
            if "<f" in xml:
                for ref, body in re.findall(r'<c r="([A-Z]+[0-9]+)"[^>]*?>(.*?)</c>', xml, re.S):
                    if "<f" in body:
                        cells[_cell_index(ref)] = "<v>" in body and "<v></v>" not in body
            found[decode_xstring(_unescape(name))] = cells
    return found


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&apos;", "'").replace(
        "&amp;", "&")


def _cell_index(ref: str) -> tuple[int, int]:
    letters, digits = re.match(r"([A-Z]+)([0-9]+)", ref).groups()
    col = 0
    for ch in letters:
        col = col * 26 + ord(ch) - 64
    return int(digits) - 1, col - 1


_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$")


def norm(value, reader: str):
    """One comparable form for what any reader gives: numbers as floats (CSV text that is a number too),
    TRUE/FALSE as booleans, everything else as text."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value)
    if reader == "gnumeric":
        text = decode_xstring(text)  # Gnumeric shows _x005F_-escaped text as stored; Excel decodes it
    if reader == "libreoffice" and text.endswith("%") and _NUMBER.match(text[:-1]):
        return float(text[:-1]) / 100  # its CSV keeps the % of a percentage even when not "as shown"
    if text in ("TRUE", "FALSE"):
        return text == "TRUE"
    if _NUMBER.match(text):
        return float(text)
    return text


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b and type(a) is type(b)


def differences(reads: dict[str, Read], formulas: dict[str, dict[tuple[int, int], bool]]) -> list[str]:
    """Where the readers disagree: sheets, then cells (a formula's calculated value is the truth; a reader
    that does not calculate may only lack it where the file caches none)."""
    found = []
    reference = reads["openpyxl"]
    names = list(reference.sheets)
    for reader, read in reads.items():
        if list(read.sheets) != names:
            found.append(f"{reader} sees sheets {list(read.sheets)}, openpyxl {names}")
    for sheet in names:
        keys = set().union(*(set(read.sheets.get(sheet, {})) for read in reads.values()))
        for key in sorted(keys):
            values = {reader: norm(read.sheets.get(sheet, {}).get(key), reader) for reader, read in reads.items()}
            cached = formulas.get(sheet, {}).get(key)
            if cached is not None:  # a formula: what LibreOffice and Gnumeric calculate is the value
                truth = values["libreoffice"]
                wrong = [r for r, v in values.items() if not same(v, truth)
                         and not (r not in CALCULATING and v is None and not cached)
                         and not (r == "exceljs" and v is None and truth == 0)]  # ExcelJS 4.4 drops a cached 0
            else:
                truth = values["openpyxl"]
                wrong = [r for r, v in values.items() if not same(v, truth)]
            if wrong:
                found.append(f"{sheet}!{_ref(key)}: " + ", ".join(f"{r}={values[r]!r}" for r in READERS))
            if len(found) > 30:
                return found
    return found


def _ref(key: tuple[int, int]) -> str:
    row, col = key
    letters, n = "", col + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return f"{letters}{row + 1}"


# --- the matrix -----------------------------------------------------------------------------------------------


@dataclass
class Matrix:
    files: dict[tuple[str, str], Path]  # (lang, kind) -> file
    reads: dict[Path, dict[str, Read]]
    untouched: list
    seconds: dict[str, float]


@pytest.fixture(scope="module")
def matrix(tmp_path_factory) -> Matrix:
    import time

    began = time.perf_counter()
    work = tmp_path_factory.mktemp("reader-matrix")
    files, untouched = {}, []
    for lang in LANGS:
        built, outcomes = build(work / f"ws-{lang}", lang)
        files.update({(lang, kind): path for kind, path in built.items()})
        untouched += outcomes
    seconds = {"build": time.perf_counter() - began}
    paths = list(files.values())
    began = time.perf_counter()
    reads: dict[Path, dict[str, Read]] = {p: {"openpyxl": read_openpyxl(p), "calamine": read_calamine(p)}
                                          for p in paths}
    seconds["python readers"] = time.perf_counter() - began
    names = {p: list(reads[p]["openpyxl"].sheets) for p in paths}
    began = time.perf_counter()
    for path, read in read_libreoffice(paths, work, names).items():
        reads[path]["libreoffice"] = read
    seconds["libreoffice"] = time.perf_counter() - began
    began = time.perf_counter()
    for path in paths:
        reads[path]["gnumeric"] = read_gnumeric(path, work, names[path])
    seconds["gnumeric"] = time.perf_counter() - began
    began = time.perf_counter()
    for path, read in read_node(paths).items():
        reads[path].update(read)
    seconds["node"] = time.perf_counter() - began
    print("reader matrix seconds:", {k: round(v, 1) for k, v in seconds.items()})
    return Matrix(files, reads, untouched, seconds)


# Gnumeric imports a cell comment and then says this of the VML shape that Excel draws it with: it does for
# every comment (xlsxwriter's too), so it says nothing about the file.
GNUMERIC_ON_COMMENTS = "Unhandled object of type Note"


def warned(reader: str, kind: str, read: Read) -> list[str]:
    """The reader's warnings, less what a reader says of every file of the kind whatever its writer does."""
    if reader != "gnumeric":
        return read.warnings
    found = [w for w in read.warnings if w != GNUMERIC_ON_COMMENTS]
    if kind in SAVED_BY_LIBREOFFICE:
        found = [w for w in found if not GNUMERIC_ON_LIBREOFFICE.match(w)]
    return found


CASES = [pytest.param(lang, kind, id=f"{lang}-{kind}") for lang in LANGS for kind in KINDS]


@pytest.mark.parametrize(("lang", "kind"), CASES)
def test_every_reader_opens_the_file_without_error_or_warning(matrix, lang, kind):
    reads = matrix.reads[matrix.files[(lang, kind)]]
    trouble = {reader: (read.error, warned(reader, kind, read)) for reader, read in reads.items()
               if read.error or warned(reader, kind, read)}
    assert set(reads) == set(READERS)
    assert not trouble, trouble


@pytest.mark.parametrize(("lang", "kind"), CASES)
def test_every_reader_sees_the_same_values(matrix, lang, kind):
    path = matrix.files[(lang, kind)]
    reads = {reader: matrix.reads[path][reader] for reader in READERS}
    assert all(read.sheets for read in reads.values()), {r: read.error for r, read in reads.items()}
    assert differences(reads, formula_cells(path)) == []


@pytest.mark.parametrize(("lang", "kind"), CASES)
def test_structural_checks_pass(matrix, lang, kind):
    assert [str(f) for f in check_workbook(matrix.files[(lang, kind)])] == []


def test_the_dashboard_header_row_keeps_its_height(matrix):
    for lang in LANGS:
        book = openpyxl.load_workbook(matrix.files[(lang, "summary")], read_only=False)
        assert book.worksheets[0].row_dimensions[3].height == 30


# what ingest says when a file is not the one that was sent
TAMPERING = {"layout-changed", "locked-cell-changed", "meta-changed", "meta-incomplete", "name-added", "name-broken",
             "name-missing", "not-a-template", "sheet-missing", "signature-invalid"}


@pytest.mark.parametrize("lang", LANGS)
def test_untouched_templates_are_not_taken_for_tampered(matrix, lang):
    """Templates come back as sent (en: a team and a seller named "... _x0041_", which the company template
    signs): the person plan passes, and nothing is reported as changed in the company plan or month report."""
    outcomes = {Path(o.path).name.split("-")[0]: o for o in matrix.untouched if f"ws-{lang}" in o.path}
    assert outcomes["person"].status == "accepted" and not outcomes["person"].problems, outcomes["person"].problems
    for kind in ("company", "month"):
        assert not {p.code for p in outcomes[kind].problems} & TAMPERING, outcomes[kind].problems
    assert {p.code for p in outcomes["month"].problems} == {"missing-value"}
    if lang == "en":
        for kind in ("company", "person"):
            sheets = read_calamine(matrix.files[(lang, kind)]).sheets
            assert any(ESCAPED_NAME.strip() in str(v) for cells in sheets.values() for v in cells.values())
