"""Hostile and awkward returned files end in a clean read or one clear problem, fast and in bounded memory."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
import threading
import time
import zipfile
import zlib
from pathlib import Path

import hostile
import pytest

from sheetplan.returns.reader import read_many, read_returned
from sheetplan.returns.safety import Limits, sniff

ROOT = Path(__file__).resolve().parent.parent
SECONDS = 2.0


@pytest.fixture(scope="session")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return hostile.write_all(tmp_path_factory.mktemp("hostile"))


def codes(result) -> list[str]:
    return [p.code for p in result.problems]


def outcome(result) -> str | None:
    """The one problem code of a rejected file, or None for a clean read; anything else fails."""
    if result.workbook is not None:
        assert result.problems == ()
        return None
    assert len(result.problems) == 1, codes(result)
    assert result.problems[0].is_error and result.problems[0].file == result.name
    return result.problems[0].code


@pytest.mark.parametrize("case", list(hostile.CASES))
def test_read_returned_ends_with_expected_outcome(files, case):
    started = time.monotonic()
    result = read_returned(files[case])
    assert time.monotonic() - started < SECONDS
    assert outcome(result) == hostile.CASES[case][1]
    assert result.name == files[case].name and result.size == files[case].stat().st_size


@pytest.mark.parametrize("case", list(hostile.CASES))
def test_read_many_ends_with_expected_outcome(files, case):
    started = time.monotonic()
    (result,) = list(read_many([files[case]]))
    assert time.monotonic() - started < SECONDS
    assert outcome(result) == hostile.CASES[case][1]


def test_read_many_of_nothing_is_nothing():
    assert list(read_many([])) == []


def test_read_many_keeps_input_order(files):
    names = list(hostile.CASES) * 2
    results = list(read_many([files[name] for name in names], workers=2))
    assert [r.path for r in results] == [str(files[name]) for name in names]
    assert [outcome(r) for r in results] == [hostile.CASES[name][1] for name in names]


def test_peak_memory_of_reading_stays_small(files):
    """Read every hostile file in a fresh process, in-process and through workers, and look at peak RSS.

    The process's own peak is the kernel's VmHWM: ru_maxrss survives exec, so a child started from a large
    parent (pytest late in a full run) would report the parent's size, not its own."""
    script = (
        "import json, resource, sys\n"
        "from sheetplan.returns.reader import read_many, read_returned\n"
        "if __name__ == '__main__':\n"
        "    paths = json.loads(sys.argv[1])\n"
        "    for path in paths:\n"
        "        read_returned(path)\n"
        "    list(read_many(paths))\n"
        "    status = open('/proc/self/status').read().split('VmHWM:')[1]\n"
        "    own = int(status.split()[0])\n"
        "    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "    print(json.dumps([own, workers]))\n"
    )
    paths = json.dumps([str(p) for p in files.values()])
    done = subprocess.run(
        [sys.executable, "-c", script, paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    own_kb, workers_kb = json.loads(done.stdout.strip().splitlines()[-1])
    assert own_kb < 500 * 1024
    assert 0 < workers_kb < 500 * 1024


def test_clean_read_keeps_values_formulas_names_and_visibility(files):
    book = read_returned(files["normal"]).workbook
    assert list(book.sheets) == ["Revenue", "_meta"]
    revenue, meta = book.sheets["Revenue"], book.sheets["_meta"]
    assert (revenue.visibility, meta.visibility) == ("visible", "veryhidden")
    assert revenue.cells[(0, 0)] == "Customer" and revenue.cells[(3, 2)] == 60
    assert revenue.formulas == {(1, 3), (2, 3), (3, 3)}
    assert meta.cells == {(0, 0): "version", (0, 1): "3"} and meta.formulas == frozenset()
    assert book.defined_names == {"Revenue_input": "'Revenue'!$B$2:$C$4"}


def test_positions_are_absolute_even_with_leading_empty_rows(files):
    cells = read_returned(files["huge_dimension"]).workbook.sheets["Data"].cells
    assert cells == {(0, 0): "Name", (0, 1): 2.5, (2, 2): 7}


def test_awkward_strings_read_back_unchanged(files):
    sheet = read_returned(files["awkward_strings"]).workbook.sheets["Data"]
    n = len(hostile.INJECTIONS)
    assert [sheet.cells[(row, 0)] for row in range(n)] == list(hostile.INJECTIONS)
    assert sheet.cells[(n, 0)] == hostile.LONG_TEXT
    assert sheet.cells[(n + 1, 0)] == hostile.CONTROL_TEXT.replace("\x00", "")
    assert sheet.formulas == {(0, 1)}  # the cached value "cached" is there, but flagged


def test_prefixed_implicit_and_commented_sheet_reads_like_the_plain_one(tmp_path):
    """Namespace prefixes, cells without r= and comments take the careful path; the result must not differ."""
    plain = (
        '<row r="2"><c r="B2"><v>1</v></c><c r="C2"><f>B2*2</f><v>2</v></c></row>'
        '<row r="3"><c r="A3" t="inlineStr"><is><t>x</t></is></c></row>'
    )
    fancy = (
        f'<?xml version="1.0"?><x:worksheet xmlns:x="{hostile.MAIN}"><x:sheetData>'
        '<!-- <x:row r="9"><x:c r="Z9"><x:f>1</x:f></x:c></x:row> -->'
        '<x:row r="2"><x:c r="B2"><x:v>1</x:v></x:c><x:c><x:f>B2*2</x:f><x:v>2</x:v></x:c></x:row>'
        '<x:row><x:c t="inlineStr"><x:is><x:t>x</x:t></x:is></x:c></x:row></x:sheetData></x:worksheet>'
    ).encode()
    a = hostile.write_zip(tmp_path / "plain.xlsx", hostile.package([("S", hostile.sheet_xml(plain))]))
    b = hostile.write_zip(tmp_path / "fancy.xlsx", hostile.package([("S", fancy)]))
    sheet_a, sheet_b = (read_returned(p).workbook.sheets["S"] for p in (a, b))
    assert sheet_a.cells == sheet_b.cells == {(1, 1): 1, (1, 2): 2, (2, 0): "x"}
    assert sheet_a.formulas == sheet_b.formulas == {(1, 2)}


def test_array_formula_range_counts_as_formula_cells(tmp_path):
    rows = (
        '<row r="1"><c r="A1"><f t="array" ref="A1:A3">B1:B3*2</f><v>2</v></c></row>'
        '<row r="2"><c r="A2"><v>4</v></c></row><row r="3"><c r="A3"><v>6</v></c></row>'
        '<row r="4"><c r="A4"><v>8</v></c></row>'
    )
    path = hostile.write_zip(tmp_path / "array.xlsx", hostile.package([("S", hostile.sheet_xml(rows))]))
    assert read_returned(path).workbook.sheets["S"].formulas == {(0, 0), (1, 0), (2, 0)}


@pytest.mark.parametrize(
    ("case", "fmt"),
    [
        ("normal", "xlsx"),
        ("empty", "empty"),
        ("text", "text"),
        ("csv", "csv"),
        ("html", "html"),
        ("xls_renamed", "xls"),
        ("encrypted_ooxml", "ole2-encrypted"),
        ("macro_enabled", "xlsm"),
        ("macro_renamed", "xlsm"),
        ("truncated", "zip"),
    ],
)
def test_sniff_names_the_format_from_bytes(files, case, fmt):
    assert sniff(files[case].read_bytes()) == fmt


@pytest.mark.parametrize(
    ("limits", "code"),
    [
        (Limits(max_file_bytes=1000), "file-too-large"),
        (Limits(max_part_bytes=1000), "zip-unsafe"),
        (Limits(max_uncompressed_bytes=10_000), "zip-unsafe"),
        (Limits(max_ratio=2, ratio_floor_bytes=100), "zip-unsafe"),
        (Limits(max_entries=5), "zip-unsafe"),
        (Limits(max_cells=17), "too-many-cells"),
        (Limits(max_cells=18), None),
        (Limits(max_sheet_area=3), "too-many-cells"),
    ],
)
def test_each_limit_is_enforced(files, limits, code):
    # normal.xlsx holds 18 cell elements: 16 on Revenue and 2 on _meta.
    assert outcome(read_returned(files["normal"], limits)) == code


def test_missing_file_is_a_problem_not_an_exception(tmp_path):
    assert codes(read_returned(tmp_path / "nope.xlsx")) == ["file-unreadable"]


def _wide(folder: Path, sheets: int = 1) -> Path:
    """Values at A1 and CV40000: exactly the default 4,000,000-cell area, a legal but heavy read."""
    rows = '<row r="1"><c r="A1"><v>1</v></c></row><row r="40000"><c r="CV40000"><v>1</v></c></row>'
    sheet_list = [(f"S{i}", hostile.sheet_xml(rows)) for i in range(sheets)]
    return hostile.write_zip(folder / f"wide{sheets}.xlsx", hostile.package(sheet_list))


def test_worker_crash_costs_only_its_file(tmp_path, files):
    """calamine aborts the process when the address-space fence refuses its grid; the batch goes on."""
    wide, normal = _wide(tmp_path), files["normal"]
    results = list(read_many([normal, wide, normal, wide, normal], Limits(memory_bytes=64 * 2**20)))
    assert [outcome(r) for r in results] == [None, "read-failed", None, "read-failed", None]


def test_worker_overrunning_its_time_is_stopped(tmp_path, files):
    slow, normal = _wide(tmp_path, sheets=4), files["normal"]  # >0.5 s of work on any machine
    started = time.monotonic()
    results = list(read_many([normal, slow, normal, slow, normal], Limits(timeout_seconds=0.25)))
    assert [outcome(r) for r in results] == [None, "read-timeout", None, "read-timeout", None]
    assert time.monotonic() - started < 5 * SECONDS


def _one_cell(value: str = '<row r="1"><c r="A1"><v>5</v></c></row>') -> dict[str, bytes]:
    return hostile.package([("S", hostile.sheet_xml(value))])


def test_zip64_and_stored_archives_read(tmp_path):
    path = tmp_path / "zip64.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, data in _one_cell().items():
            with archive.open(name, "w", force_zip64=True) as handle:
                handle.write(data)
    assert read_returned(path).workbook.sheets["S"].cells == {(0, 0): 5}


def test_template_xltx_is_accepted(tmp_path):
    parts = hostile.package(
        [("S", hostile.sheet_xml('<row r="1"><c r="A1"><v>5</v></c></row>'))],
        main_type="application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml",
    )
    path = hostile.write_zip(tmp_path / "t.xltx", parts)
    assert sniff(path.read_bytes()) == "xltx" and outcome(read_returned(path)) is None


@pytest.mark.parametrize(
    ("mangle", "code"),
    [
        (lambda data: b"MZ" + bytes(100) + data, "not-a-workbook"),  # a self-extracting .exe
        (lambda data: _shift_directory(data), "zip-unsafe"),  # bytes smuggled before the directory
        (lambda data: _flag_encrypted(data), "encrypted"),  # zip-level password
    ],
)
def test_zip_layout_tricks_are_refused(tmp_path, mangle, code):
    data = hostile.write_zip(tmp_path / "base.xlsx", _one_cell()).read_bytes()
    path = tmp_path / "mangled.xlsx"
    path.write_bytes(mangle(data))
    assert outcome(read_returned(path)) == code


def _shift_directory(data: bytes) -> bytes:
    first = data.find(b"PK\x01\x02")
    return data[:first] + b"JUNK" + data[first:]


def _flag_encrypted(data: bytes) -> bytes:
    raw = bytearray(data)
    raw[raw.find(b"PK\x01\x02") + 8] |= 1
    return bytes(raw)


def test_duplicate_entries_are_refused(tmp_path):
    members = [(n, hostile.deflate(d), len(d), zlib.crc32(d), 8) for n, d in _one_cell().items()]
    path = tmp_path / "dup.xlsx"
    path.write_bytes(hostile.raw_zip(members + [members[-1]]))
    assert outcome(read_returned(path)) == "zip-unsafe"


def test_cells_nested_in_cells_are_refused(tmp_path):
    rows = '<row r="1"><c><is><t>x</t></is><row r="1048576"/></c><c><v>1</v></c></row>'
    path = hostile.write_zip(tmp_path / "nested.xlsx", _one_cell(rows))
    assert outcome(read_returned(path)) == "xml-malformed"


def test_names_dates_and_sheet_kinds(tmp_path):
    parts = _one_cell('<row r="1"><c r="A1" s="1"><v>1</v></c></row>')
    parts["xl/workbook.xml"] = (
        parts["xl/workbook.xml"]
        .replace(b"<sheets>", b'<workbookPr date1904="true"/><sheets>')
        .replace(
            b"</sheets>",
            b'<sheet name="Chart" sheetId="2" state="hidden" r:id="rIdC"/>'
            b'<sheet name="Gone" sheetId="3" r:id=""/>'
            b'</sheets><definedNames><definedName name="Local" localSheetId="0">S!$A$1</definedName>'
            b'<definedName name="Lo">$S.$A$1</definedName>'
            b"<definedName name=\"Q\">'My &amp; S'!$A$1:$B$2</definedName></definedNames>",
        )
    )
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>",
        f'<Relationship Id="rIdC" Type="{hostile.REL}/chartsheet" Target="chartsheets/sheet1.xml"/>'
        f'<Relationship Id="rIdY" Type="{hostile.REL}/styles" Target="styles.xml"/></Relationships>'.encode(),
    )
    parts["xl/styles.xml"] = (
        f'<styleSheet xmlns="{hostile.MAIN}"><cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14"/>'
        "</cellXfs></styleSheet>"
    ).encode()
    book = read_returned(hostile.write_zip(tmp_path / "kinds.xlsx", parts)).workbook
    assert book.defined_names == {"Lo": "$S.$A$1", "Q": "'My & S'!$A$1:$B$2"}  # stored text, local name gone
    assert book.sheets["S"].cells == {(0, 0): datetime.date(1904, 1, 2)}
    assert [(s.name, s.visibility, s.cells) for s in book.sheets.values()] == [
        ("S", "visible", {(0, 0): datetime.date(1904, 1, 2)}),
        ("Chart", "hidden", {}),
        ("Gone", "visible", {}),
    ]


def test_read_many_works_while_the_caller_runs_threads(files):
    """With other threads alive, forking could copy a held lock: workers then come from forkserver."""
    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        results = list(read_many([files["normal"], files["billion_laughs"]]))
    finally:
        release.set()
        thread.join()
    assert [outcome(r) for r in results] == [None, "xml-unsafe"]
