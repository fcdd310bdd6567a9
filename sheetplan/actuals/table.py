"""Read an ERP or CRM export, CSV in any common encoding and delimiter or one xlsx sheet, into text columns."""

from __future__ import annotations

import csv
import itertools
from dataclasses import dataclass, field
from datetime import date, datetime, time

import numpy as np
import pyarrow as pa

from sheetplan.problems import Problem
from sheetplan.returns.limits import Limits, MiB, PackageProblem, mb
from sheetplan.returns.reader import read_table
from sheetplan.returns.sniff import ZIP_MAGICS, sniff

# An export is the analyst's own file, but it goes through the same checks as a returned workbook; only the
# bounds are those of a year of transaction lines instead of a template (1,048,576 rows is Excel's own limit).
EXPORT_LIMITS = Limits(max_file_bytes=512 * MiB, max_entries=1000, max_uncompressed_bytes=3072 * MiB,
                       max_part_bytes=3072 * MiB, max_ratio=200.0, max_cells=40_000_000,
                       max_sheet_area=1_048_576 * 64)
ENCODINGS = ("utf-8", "gb18030", "cp1252")
DELIMITERS = (",", ";", "\t", "|")
XLSX_CHUNK = 65_536  # sheet rows turned into Arrow columns at a time


@dataclass
class ExportTable:
    """Every column as text (Arrow strings: a million lines stay compact), named as the header shows it;
    `rows` is each line's row as the file shows it (the header is row 1). `bad_lines` are lines that could
    not be split into the header's columns."""

    columns: list[str]
    data: dict[str, pa.ChunkedArray]
    rows: np.ndarray
    fmt: str  # csv | xlsx
    encoding: str = ""
    delimiter: str = ""
    sheet: str = ""
    formulas: set[tuple[int, str]] = field(default_factory=set)  # (row as shown, header) of formula cells
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    header: list[str] = field(default_factory=list)  # the header texts as the file has them, repeats included


def read_export(data: bytes, name: str, sheet: str = "") -> ExportTable | list[Problem]:
    """The export's lines, or the problems that keep it from being read at all."""
    if len(data) > EXPORT_LIMITS.max_file_bytes:
        return [Problem("file-too-large", f"the file is {mb(len(data))} (limit {mb(EXPORT_LIMITS.max_file_bytes)})",
                        file=name)]
    if data.startswith(ZIP_MAGICS):
        return _read_xlsx(data, name, sheet)
    fmt = sniff(data[:65536])
    if fmt not in ("csv", "text"):
        from sheetplan.returns.safety import format_problem

        problem = format_problem(fmt)
        return [Problem("not-an-export", f"{problem.message}; an export is read as CSV or .xlsx", file=name)]
    return _read_csv(data, name)


def decode(data: bytes) -> tuple[str, str]:
    """(text, encoding): a byte-order mark decides; else UTF-8, GB18030 (Chinese Excel and WPS save CSV in
    it) and Windows-1252, the first that decodes every byte."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace"), "utf-16"
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "latin-1"


def _delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _read_csv(data: bytes, name: str) -> ExportTable | list[Problem]:
    """UTF-8 (with or without its byte-order mark) is handed to Arrow as it lies in memory, never decoded
    into a Python string; any other encoding is decoded, then given to Arrow as UTF-8."""
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    if not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        found = _read_utf8(data, start, name, "utf-8-sig" if start else "utf-8")
        if found is not None:
            return found
    text, encoding = decode(data)
    return _read_utf8(text.encode("utf-8"), 0, name, encoding) or [
        Problem("not-an-export", "the file cannot be read as CSV text", file=name)]


def _read_utf8(data: bytes, start: int, name: str, encoding: str) -> ExportTable | list[Problem] | None:
    """The table in UTF-8 bytes from `start`; None when they are not UTF-8 after all."""
    import pyarrow.csv as pacsv

    end = data.find(b"\n", start)
    try:
        first = data[start:end if end >= 0 else len(data)].decode("utf-8").rstrip("\r")
    except UnicodeDecodeError:
        return None
    delimiter = _delimiter(first)
    header = [h.strip() for h in next(csv.reader([first], delimiter=delimiter), [])]
    if not any(header):
        return [Problem("no-header", "the first line holds no column headers", file=name, row=1)]
    bad: list[tuple[int, str]] = []

    def invalid(row) -> str:
        bad.append((row.number, row.text))
        return "skip"

    names = [f"c{i}" for i in range(len(header))]
    try:
        table = pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(data).slice(start)),
            # one thread: only then does pyarrow tell a bad line's number
            read_options=pacsv.ReadOptions(use_threads=False, skip_rows=1, column_names=names,
                                           block_size=16 * MiB),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, ignore_empty_lines=False,
                                              invalid_row_handler=invalid),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False))
    except pa.ArrowInvalid as exc:
        if "UTF8" in str(exc) or "utf8" in str(exc).lower():
            return None
        return [Problem("not-an-export", f"the file cannot be read as CSV: {exc}", file=name)]
    except pa.ArrowException as exc:
        return [Problem("not-an-export", f"the file cannot be read as CSV: {exc}", file=name)]
    columns = _unique_names(header)
    rows = np.arange(table.num_rows, dtype=np.int64) + 2
    for line, _text in sorted(bad):  # a skipped line still has its number: later lines keep theirs
        rows[rows >= line] += 1
    columns_data = {title: table.column(i) for i, title in enumerate(columns)}
    return ExportTable(columns, columns_data, rows, "csv", encoding, delimiter, bad_lines=bad, header=header)


def _unique_names(header: list[str]) -> list[str]:
    """Header texts as column names; an empty one is named by its position, a repeat keeps its text so the
    check can name it (and gets a suffix here only so that both columns stay apart)."""
    out: list[str] = []
    for index, title in enumerate(header):
        name = title or f"column {index + 1}"
        out.append(name if name not in out else f"{name}\u2009({index + 1})")
    return out


def _cell_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value)


def _read_xlsx(data: bytes, name: str, sheet: str) -> ExportTable | list[Problem]:
    """The sheet's first row with a value is the header; the lines below are turned into Arrow columns a
    chunk at a time, so a long sheet is never held as Python objects all at once."""
    try:
        table = read_table(data, EXPORT_LIMITS, sheet)
        rows = iter(table.rows)
        first = next(rows, None)
    except PackageProblem as exc:
        return [exc.problem(name)]
    top, left = table.start
    if first is None or not any(str(v).strip() for v in first):
        return [Problem("no-header", "the first row holds no column headers", file=name, sheet=table.sheet,
                        row=top + 1)]
    raw = [_cell_text(v).strip() for v in first]
    header = _unique_names(raw)
    width = len(header)
    chunks: list[list[pa.Array]] = [[] for _ in header]
    count = 0
    while True:
        block = list(itertools.islice(rows, XLSX_CHUNK))
        if not block:
            break
        count += len(block)
        for col in range(width):
            chunks[col].append(pa.array([_cell_text(r[col]) if col < len(r) else "" for r in block], pa.string()))
    columns = {title: pa.chunked_array(chunks[c], pa.string()) for c, title in enumerate(header)}
    shown = np.arange(count, dtype=np.int64) + top + 2
    formulas = {(r + 1, header[c - left]) for r, c in table.formulas if r > top and 0 <= c - left < width}
    return ExportTable(header, columns, shown, "xlsx", sheet=table.sheet, formulas=formulas, header=raw)
