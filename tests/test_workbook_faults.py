"""The writer faults the reader matrix found, each pinned at the writer that made it: ZIP64 headers that
disagree (fastsheet), cached ROUND() results rounded half to even (re-forecast), print headers over 255
UTF-16 units (writer and stamper), literal _xHHHH_ text (stamper and fastsheet), chart caches in
constant-memory reports, and the structural checks that catch each of them."""

from __future__ import annotations

import io
import re
import struct
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from python_calamine import CalamineWorkbook

from sheetplan.plan.views import ReforecastMetric, ReforecastPlan
from sheetplan.reports.book import ReportBook, close_book
from sheetplan.templates.parts import Context
from sheetplan.templates.reforecast_book import RUN_RATE, build_reforecast
from sheetplan.templates.stamp import Stamper
from sheetplan.workspace.config import Metric
from sheetplan.workspace.folder import write_history_xlsx
from sheetplan.workspace.labels import Labels
from sheetplan.xlsx.calc import excel_round
from sheetplan.xlsx.structure import check_workbook, check_zip
from sheetplan.xlsx.text import decode_xstring, escape_xstring, fit_print_text, utf16_len
from sheetplan.xlsx.writer import render

CTX = Context("Acme & Co", "en", 2027, "EUR", "ws-test", "2027-07-01T00:00:00+00:00", b"k" * 32)
MONTHS = tuple(f"2027-{m:02d}" for m in range(1, 13))
REVENUE = Metric("revenue", "Revenue", "收入", "EUR", 0)


def plan(name: str = "Ann Berg", groups: tuple[str, ...] = ("Key accounts", "Online"), required: float = 1611,
         owner: str = "P001") -> ReforecastPlan:
    zero = {g: (0.0,) * 6 for g in groups}
    prefill = {g: (required / len(groups) / 6,) * 6 for g in groups}
    metric = ReforecastMetric(REVENUE, 5000.0, {g: (100.0,) * 6 for g in groups}, zero, prefill, required)
    return ReforecastPlan(owner, name, "2027-H2", MONTHS, groups, (metric,))


def entry(data: bytes, name: str) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read(name).decode("utf-8")


def headers(data: bytes) -> list[str]:
    """The decoded oddHeader of every sheet that has one."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        sheets = sorted(n for n in archive.namelist() if n.startswith("xl/worksheets/sheet"))
        found = [re.search(r"<oddHeader>(.*?)</oddHeader>", archive.read(n).decode()) for n in sheets]
    unescape = {"&amp;": "&", "&lt;": "<", "&gt;": ">"}
    return [decode_xstring(re.sub("&amp;|&lt;|&gt;", lambda m: unescape[m.group()], f.group(1))) if f else ""
            for f in found]


# --- ZIP64 -----------------------------------------------------------------------------------------------


def local_header_sizes(data: bytes, name: str) -> tuple[int, int]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(name)
    return struct.unpack_from("<II", data, info.header_offset + 18)


def test_streamed_sheets_are_standard_zip_unless_a_part_needs_zip64(tmp_path, monkeypatch):
    """Local and central headers agree, without ZIP64; Python's zipfile needs ZIP64 from ZIP64_LIMIT on, so
    with the limit lowered a small sheet stands in for a 2 GiB one, and both headers are ZIP64 then."""
    frame = pd.DataFrame({"month": ["2027-01"] * 3000, "person_id": [f"P{i:04d}" for i in range(3000)],
                          "customer_group": ["OEM"] * 3000, "metric": ["revenue"] * 3000,
                          "value": [float(i) for i in range(3000)]})
    path = tmp_path / "history.xlsx"
    write_history_xlsx(path, frame)
    data = path.read_bytes()
    assert check_zip(data) == []
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
    assert local_header_sizes(data, info.filename) == (info.compress_size, info.file_size)  # not 0xFFFFFFFF
    assert check_workbook(path) == []

    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 50_000)
    big = tmp_path / "big.xlsx"
    write_history_xlsx(big, frame)
    data = big.read_bytes()
    assert local_header_sizes(data, "xl/worksheets/sheet1.xml") == (0xFFFFFFFF, 0xFFFFFFFF)
    assert local_header_sizes(data, "xl/styles.xml") != (0xFFFFFFFF, 0xFFFFFFFF)
    assert check_zip(data) == []
    assert len(pd.read_excel(big, engine="calamine")) == 3000


def test_zip_check_finds_a_zip64_local_header_the_central_directory_does_not_share():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("a.xml", "w", force_zip64=True) as handle:
            handle.write(b"<a/>" * 100)
    assert [f.code for f in check_zip(buffer.getvalue())] == ["zip64"]


# --- Excel's ROUND -------------------------------------------------------------------------------------------


def test_excel_round_goes_away_from_zero_on_the_decimal_value():
    assert excel_round(1611 / 6, 0) == 269  # round() gives 268
    assert excel_round(-2.5, 0) == -3
    assert excel_round(2.675, 2) == 2.68  # the double is 2.67499999...; Excel shows 2.68
    assert excel_round(0.125, 2) == 0.13


def test_reforecast_caches_the_run_rate_excel_computes():
    template = build_reforecast(plan(required=1611), CTX, 1)
    sheet = template.sheets[1]
    cell = next(c for c in sheet.cells if (c.row, c.col) == (RUN_RATE, 1))
    assert cell.formula.startswith("ROUND(") and cell.value == 269


# --- print headers ---------------------------------------------------------------------------------------------


def test_fit_print_text_shortens_the_longest_section_with_an_ellipsis():
    text = "&L" + "Ann 😀" * 40 + "&C" + "Title" * 30 + "&RP001"
    fitted = fit_print_text(text)
    assert utf16_len(fitted) <= 255 and fitted.endswith("&RP001") and "…" in fitted
    assert fitted.startswith("&LAnn 😀") and "&CTitle" in fitted
    assert fit_print_text("&Lshort") == "&Lshort"
    ampersands = fit_print_text("&L" + "&&" * 200)
    assert utf16_len(ampersands) <= 255
    body = ampersands[2:].removesuffix("…")
    assert len(body) % 2 == 0 and set(body) == {"&"}  # no lone & left before the …


@pytest.mark.parametrize("order", ["short first", "long first"])
def test_every_recipient_gets_a_header_within_the_limit(order):
    """Templates of one layout are stamped from the first recipient's render: each header is checked on its own."""
    long_name = "Dr. Maximiliane Alexandra von und zu Hohenzollern-Sigmaringen 😀😀😀😀😀 " * 3
    short, long = plan("Ann Berg", owner="P001"), plan(long_name.strip(), owner="P002")
    stamper = Stamper("pw")
    recipients = [short, long] if order == "short first" else [long, short]
    for recipient in recipients:
        data = stamper.render(build_reforecast(recipient, CTX, 1))
        found = headers(data)[:-1]  # the last sheet is the hidden _meta
        assert all(found), found  # every sheet kept its header
        assert all(utf16_len(h) <= 255 for h in found)
        assert all(check.code != "header_footer" for check in check_zip_and_package(data))
        if recipient is long:
            assert any("…" in h for h in found) and all(h.endswith("&R2027-H2") for h in found)


def check_zip_and_package(data: bytes, tmp=Path("/tmp")) -> list:
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".xlsx") as handle:
        handle.write(data)
        handle.flush()
        return check_workbook(handle.name)


def test_an_overlong_header_written_by_xlsxwriter_is_shortened_not_dropped():
    data = render(build_reforecast(plan("😀" * 200), CTX, 1), "pw")
    found = headers(data)[:-1]
    assert all(found) and all(utf16_len(h) <= 255 for h in found)


# --- _xHHHH_ -------------------------------------------------------------------------------------------------


def test_escape_xstring_escapes_a_literal_escape_and_control_characters():
    assert escape_xstring("_x0041_") == "_x005F_x0041_"
    assert escape_xstring("a\x07b") == "a_x0007_b"
    assert decode_xstring(escape_xstring("_x0041_ and _xABCD_")) == "_x0041_ and _xABCD_"
    # xlsxwriter escapes only the first of two escapes that share an underscore; Excel then shows "_x005FA"
    assert decode_xstring(escape_xstring("_x005F_x0041_")) == "_x005F_x0041_"


def test_stamped_text_keeps_a_literal_xhhhh(tmp_path):
    stamper = Stamper("pw")
    stamper.render(build_reforecast(plan(), CTX, 1))  # the skeleton comes from another recipient
    data = stamper.render(build_reforecast(plan("Ann_x0041_", groups=("Key_x0042_", "Online")), CTX, 1))
    path = tmp_path / "stamped.xlsx"
    path.write_bytes(data)
    sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(1).to_python()
    texts = {str(v) for row in sheet for v in row}
    assert "Key_x0042_" in texts and "B" not in {t.removeprefix("Key") for t in texts}
    book = openpyxl.load_workbook(path)
    assert any(c.value == "Key_x0042_" for row in book.worksheets[1].iter_rows() for c in row)
    assert any("Ann_x0041_" in h for h in headers(data))


def test_streamed_rows_keep_a_literal_xhhhh(tmp_path):
    frame = pd.DataFrame({"person_id": ["P_x0041_", " padded "], "value": [1.0, 2.0]})
    path = tmp_path / "history.xlsx"
    write_history_xlsx(path, frame)
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    assert [r[0] for r in rows[1:]] == ["P_x0041_", " padded "]
    sheet = openpyxl.load_workbook(path).worksheets[0]
    assert [sheet.cell(r, 1).value for r in (2, 3)] == ["P_x0041_", " padded "]
    assert check_workbook(path) == []


# --- charts in constant-memory reports ---------------------------------------------------------------------------


def test_report_chart_categories_are_text_with_caches(tmp_path):
    path = tmp_path / "report.xlsx"
    b = ReportBook(str(path), Labels("en"))
    ws = b.sheet("Company")
    b.header(ws, 0, ["Month", "Target"])
    for i, month in enumerate(MONTHS[:3]):
        b.value(ws, 1 + i, 0, month)
        b.value(ws, 1 + i, 1, 100.0 * (i + 1))
    chart = b.book.add_chart({"type": "column"})
    b.add_series(chart, ["Company", 0, 1], ["Company", 1, 0, 3, 0], ["Company", 1, 1, 3, 1])
    ws.insert_chart(5, 0, chart)
    close_book(b, str(path))
    xml = entry(path.read_bytes(), "xl/charts/chart1.xml")
    categories = re.search(r"<c:cat>(.*?)</c:cat>", xml, re.S).group(1)
    assert "<c:strRef>" in categories and "<c:numRef>" not in categories
    assert re.findall(r"<c:v>([^<]*)</c:v>", categories) == list(MONTHS[:3])
    assert "<c:v>Target</c:v>" in xml and "<c:v>300</c:v>" in xml
    assert check_workbook(path) == []


def test_report_text_with_an_escape_reads_the_same_in_openpyxl(tmp_path):
    """constant_memory writes text inline, where openpyxl does not decode _xHHHH_: such text is shared."""
    path = tmp_path / "report.xlsx"
    b = ReportBook(str(path), Labels("en"))
    ws = b.sheet("People")
    ws.write_string(0, 0, "Acme _x0041_ & Co")  # a title written straight through xlsxwriter
    b.value(ws, 1, 0, "Ann _x0041_")
    b.value(ws, 2, 0, "Bob")
    close_book(b, str(path))
    sheet = openpyxl.load_workbook(path).worksheets[0]
    assert [sheet.cell(r, 1).value for r in (1, 2, 3)] == ["Acme _x0041_ & Co", "Ann _x0041_", "Bob"]
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    assert [r[0] for r in rows] == ["Acme _x0041_ & Co", "Ann _x0041_", "Bob"]
    assert check_workbook(path) == []


# --- the structural checks themselves ---------------------------------------------------------------------------


def _workbook_bytes() -> bytes:
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet("Plan")
    sheet.write_string(0, 0, "name")
    sheet.write_string(1, 0, "Ann")
    sheet.merge_range(3, 0, 3, 2, "merged")
    sheet.set_header("&Lok")
    sheet.data_validation(5, 0, 5, 0, {"validate": "list", "source": ["a", "b"], "input_message": "pick"})
    book.define_name("in_plan", "=Plan!$A$1:$A$2")
    book.close()
    return buffer.getvalue()


def _edited(data: bytes, edits: dict[str, tuple[str, str]], extra: list[tuple[str, bytes]] = ()) -> bytes:
    """A copy of the archive with text replaced in some entries (and entries added, duplicates allowed)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            body = source.read(info)
            if info.filename in edits:
                old, new = edits[info.filename]
                assert old.encode() in body, (info.filename, old)
                body = body.replace(old.encode(), new.encode(), 1)
            target.writestr(info.filename, body)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zipfile warns about the duplicate name on purpose
            for name, body in extra:
                target.writestr(name, body)
    return out.getvalue()


def codes(data: bytes, tmp_path: Path) -> set[str]:
    path = tmp_path / "check.xlsx"
    path.write_bytes(data)
    return {f.code for f in check_workbook(path)}


def test_structural_checks_pass_a_plain_workbook_and_find_each_breach(tmp_path):
    data = _workbook_bytes()
    assert codes(data, tmp_path) == set()
    sheet = "xl/worksheets/sheet1.xml"
    breaches = {
        "sheet_name": {"xl/workbook.xml": ('name="Plan"', 'name="Plan: 2027"')},
        "defined_name": {"xl/workbook.xml": ('name="in_plan"', 'name="A1"')},
        "shared_string": {sheet: ('<v>1</v>', '<v>99</v>')},
        "row_order": {sheet: ('<row r="2"', '<row r="1"')},
        "header_footer": {sheet: ("&amp;Lok", "&amp;L" + "x" * 300)},
        "validation": {sheet: ('prompt="pick"', 'prompt="' + "p" * 300 + '"')},
        "style": {sheet: ('<c r="A1" t="s">', '<c r="A1" s="999" t="s">')},
        "merge": {sheet: ('<mergeCell ref="A4:C4"/>', '<mergeCell ref="A4:C4"/><mergeCell ref="B4:B5"/>')},
        "relationship": {"xl/_rels/workbook.xml.rels": ('Target="styles.xml"', 'Target="missing.xml"')},
        "content_type": {"[Content_Types].xml": ('<Default Extension="rels" ContentType="application/vnd.'
                                                 'openxmlformats-package.relationships+xml"/>', "")},
    }
    for code, edits in breaches.items():
        assert code in codes(_edited(data, edits), tmp_path), code
    text = {sheet: ('<c r="A1" t="s"><v>0</v></c>', '<c r="A1" t="inlineStr"><is><t>' + "t" * 32_768 + "</t></is></c>")}
    assert "cell_text" in codes(_edited(data, text), tmp_path)
    duplicate = _edited(data, {}, extra=[("xl/styles.xml", b"<styleSheet/>")])
    assert "duplicate_entry" in codes(duplicate, tmp_path)
