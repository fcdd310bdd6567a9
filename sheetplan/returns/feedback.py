"""Ingest outputs: the report workbook for the analyst and marked-up copies of rejected files for senders."""

from __future__ import annotations

import io
import math
import os
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from sheetplan.problems import COLUMNS, Problem
from sheetplan.workspace.labels import Labels, catalogue
from sheetplan.xlsx.layout import safe_part
from sheetplan.xlsx.links import link_to, portable_links
from sheetplan.xlsx.writer import WORKBOOK_OPTIONS, write_atomic, write_value


def explain(problem: Problem, lang: str) -> str:
    """The problem in the recipient's language: English keeps the specific message, others the catalogue's advice."""
    if lang == "en":
        return problem.message
    return catalogue(lang).get("problems", {}).get(problem.code, problem.message)


def write_ingest_report(workspace, report) -> Path:
    """reports/ingest-<timestamp>.xlsx: a summary per file and every problem with a link to its cell."""
    import xlsxwriter

    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = workspace.folder("reports") / f"ingest-{stamp}.xlsx"
    counter = 1
    while path.exists():
        path = workspace.folder("reports") / f"ingest-{stamp}-{counter}.xlsx"
        counter += 1
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, WORKBOOK_OPTIONS)
    bold = book.add_format({"bold": True, "bg_color": "#D9E1F2", "border": 1})
    error = book.add_format({"font_color": "#9C0006"})
    link = book.add_format({"font_color": "#0563C1", "underline": 1})
    files = book.add_worksheet("Files")
    counts = report.counts
    files.write_string(0, 0, "Ingest " + ("(dry run) " if report.dry_run else "") + stamp, bold)
    summary = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("accepted", "rejected", "duplicate", "stale",
                                                             "superseded", "warnings"))
    files.write_string(1, 0, summary)
    rows = report.file_rows()
    for col, name in enumerate(report.FILE_COLUMNS):
        files.write_string(3, col, name, bold)
    for r, row in enumerate(rows, start=4):
        for col, value in enumerate(row):
            write_value(files, r, col, value, error if row[1] == "rejected" and col == 1 else None)
    files.autofilter(3, 0, 3 + len(rows), len(report.FILE_COLUMNS) - 1)
    files.freeze_panes(4, 1)
    files.set_column(0, 0, 44)
    files.set_column(1, 7, 11)
    files.set_column(8, 8, 70)
    problems = book.add_worksheet("Problems")
    columns = list(COLUMNS)
    for col, name in enumerate(columns):
        problems.write_string(0, col, name, bold)
    paths = {o.name: o.path for o in report.outcomes}
    folder = str(path.parent)
    row = 1
    for outcome in report.outcomes:
        for problem in outcome.problems:
            for col, name in enumerate(columns):
                value = getattr(problem, name)
                if name == "cell" and value and problem.sheet:
                    target = _link(paths.get(problem.file, ""), folder, problem.sheet, value.split(":")[0])
                    if target:
                        problems.write_url(row, col, target, link, string=value)
                        continue
                if value is None:
                    continue
                write_value(problems, row, col, value)
            row += 1
    problems.autofilter(0, 0, max(row - 1, 1), len(columns) - 1)
    problems.freeze_panes(1, 0)
    for col, width in enumerate((9, 22, 40, 14, 8, 6, 18, 18, 80)):
        problems.set_column(col, col, width)
    book.close()
    write_atomic(path, portable_links(buffer.getvalue()))
    return path


def _link(path: str, folder: str, sheet: str, cell: str) -> str | None:
    link = link_to(path, folder)
    if not link:
        return None
    return link + "#'" + sheet.replace("'", "''") + f"'!{cell}"


def _anchor(sheet, ref: str):
    """The cell to mark: inside a merged range only its top-left cell can carry a comment."""
    cell = sheet[ref]
    for merged in sheet.merged_cells.ranges:
        if cell.coordinate in merged:
            return sheet.cell(merged.min_row, merged.min_col)
    return cell


def feedback_path(workspace, original_name: str) -> Path:
    """Where the marked-up copy of a rejected file goes (mail and remind attach it from here)."""
    name = f"{Path(original_name).stem[:60]}-feedback.xlsx"
    return workspace.folder("outbox") / "feedback" / safe_part(name, 100)


def write_feedback_copies(workspace, report) -> list[Path]:
    """For each rejected workbook we could read: a copy with the bad cells marked and commented."""
    written = []
    for outcome in report.outcomes:
        if outcome.status != "rejected" or not outcome.kind:
            continue
        cells = [p for p in outcome.problems if p.is_error and p.sheet and p.cell and p.sheet != "_meta"]
        if not cells:
            continue
        try:
            path = _feedback_copy(workspace, outcome, cells)
        except Exception:  # noqa: BLE001 - a feedback copy is a courtesy; it must never abort ingest
            path = None
        if path:
            written.append(path)
    return written


_NUMERIC_CELL = re.compile(rb"<c\b([^>]*?)(/?)>(?:(<f\b[^>]*?(?:/>|>.*?</f>))?<v>([^<]*)</v>)?", re.S)


def _non_finite(text: bytes) -> bool:
    try:
        return not math.isfinite(float(text))
    except ValueError:
        return False


def numbers_as_text(data: bytes) -> bytes:
    """The returned package with every numeric cell that holds INF, NaN or an overflowing literal (1e999)
    turned into inline text: openpyxl refuses such a workbook, and the person should see what they sent,
    as text, beside the mark."""
    def fix(match: re.Match) -> bytes:
        attrs, empty, value = match.group(1, 2, 4)
        typed = re.search(rb'\st="([^"]*)"', attrs)
        if empty or value is None or (typed and typed.group(1) != b"n") or not _non_finite(value):
            return match.group(0)
        attrs = re.sub(rb'\st="n"', b"", attrs)  # a formula with such a cached value goes too: text only
        return b"<c" + attrs + b' t="inlineStr"><is><t>' + value + b"</t></is>"

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            part = source.read(info)
            if info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml"):
                part = _NUMERIC_CELL.sub(fix, part)
            target.writestr(info, part)
    return out.getvalue()


def _feedback_copy(workspace, outcome, problems: list[Problem]) -> Path | None:
    import openpyxl
    from openpyxl.comments import Comment
    from openpyxl.styles import PatternFill

    lang = outcome.lang if outcome.lang in ("en", "zh") else workspace.config.language
    labels = Labels(lang)
    try:
        book = openpyxl.load_workbook(io.BytesIO(numbers_as_text(Path(outcome.path).read_bytes())))
    except Exception:  # the safe reader accepted it, but openpyxl may still refuse an odd file
        return None
    fill = PatternFill("solid", fgColor="FFC7CE")
    for problem in problems:
        if problem.sheet not in book.sheetnames:
            continue
        try:  # a problem may name a range (a moved block): mark its top-left cell
            cell = _anchor(book[problem.sheet], problem.cell.split(":")[0])
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        cell.fill = fill
        text = explain(problem, lang)
        if problem.value not in (None, ""):
            text += f"\n[{labels('feedback.value')}: {str(problem.value)[:60]}]"
        cell.comment = Comment(text, labels("feedback.author"), width=300, height=120)
    sheet = book.create_sheet(labels("feedback.sheet")[:31], 0)
    sheet.append([labels("feedback.title")])
    sheet.append([labels("feedback.sheet_col"), labels("feedback.cell"), labels("feedback.value"),
                  labels("feedback.message")])
    for problem in problems:
        value = "" if problem.value is None else str(problem.value)[:200]
        # A leading apostrophe-free text cell: openpyxl writes str as a string, never as a formula,
        # only when data_type is forced; set it explicitly for user-typed values.
        sheet.append([problem.sheet, problem.cell, value, explain(problem, lang)])
        for cell in sheet[sheet.max_row]:
            cell.data_type = "s"
    sheet.column_dimensions["A"].width = 18
    sheet.column_dimensions["D"].width = 90
    book.active = 0
    target = feedback_path(workspace, outcome.name)
    buffer = io.BytesIO()
    book.save(buffer)
    write_atomic(target, buffer.getvalue())
    os.utime(target)
    return target
