"""Ingest outputs: the report workbook for the analyst and marked-up copies of rejected files for senders."""

from __future__ import annotations

import io
import itertools
import math
import os
import posixpath
import re
import xml.etree.ElementTree as ET
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

from sheetplan.problems import COLUMNS, Problem
from sheetplan.returns.problem_sheet import fill_problem_sheet, input_area, shown_value
from sheetplan.returns.report_name import report_path, round_text, rounds_of
from sheetplan.workspace.labels import Labels
from sheetplan.workspace.problem_text import code_name, metric_labels, problem_text, term
from sheetplan.xlsx import a1
from sheetplan.xlsx.layout import META_SHEET, Area, safe_part
from sheetplan.xlsx.links import link_to, portable_links
from sheetplan.xlsx.text import SST_NAMESPACE, escape_xstring, xml_text
from sheetplan.xlsx.writer import MAX_CELL_TEXT, WORKBOOK_OPTIONS, write_atomic, write_value


def explain(problem: Problem, lang: str, metrics: dict[str, str] | None = None) -> str:
    """The problem in the recipient's language, from its code and parameters (metric key -> label in `metrics`)."""
    return problem_text(problem, lang, metrics)


def write_ingest_report(workspace, report) -> Path:
    """reports/ingest-<round>[-<run>].xlsx: a summary per file and every problem with a link to its cell."""
    import xlsxwriter

    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    rounds = rounds_of(report.outcomes)
    path, run = report_path(workspace.folder("reports"), rounds, report.dry_run)
    lang = workspace.config.language
    labels, metrics = Labels(lang), metric_labels(workspace.config, lang)
    shown = [round_text(labels, r) for r in rounds]
    title = labels("ingest_report.title", rounds=", ".join(shown) or labels("ingest_report.no_round"),
                   run=run, when=stamp)
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, WORKBOOK_OPTIONS)
    bold = book.add_format({"bold": True, "bg_color": "#D9E1F2", "border": 1})
    error = book.add_format({"font_color": "#9C0006"})
    link = book.add_format({"font_color": "#0563C1", "underline": 1})
    files = book.add_worksheet(labels("ingest_sheets.files_sheet"))
    counts = report.counts
    heading = book.add_format({"bold": True, "font_size": 12})
    files.write_string(0, 0, title + (f" {labels('ingest_report.dry_run')}" if report.dry_run else ""), heading)
    summary = labels("ingest_sheets.separator").join(
        labels("ingest_sheets.count", count=counts.get(k, 0), status=term("status", k, lang))
        for k in ("accepted", "rejected", "duplicate", "stale", "superseded", "warnings"))
    files.write_string(1, 0, summary)
    rows = [_shown_file_row(row, outcome, lang, metrics) for row, outcome in zip(report.file_rows(), report.outcomes)]
    for col, name in enumerate(report.FILE_COLUMNS):
        files.write_string(3, col, labels(f"ingest_sheets.col_{name}"), bold)
    for r, (row, outcome) in enumerate(zip(rows, report.outcomes), start=4):
        for col, value in enumerate(row):
            write_value(files, r, col, value, error if outcome.status == "rejected" and col == 1 else None)
    files.autofilter(3, 0, 3 + len(rows), len(report.FILE_COLUMNS) - 1)
    files.freeze_panes(4, 1)
    files.set_column(0, 0, 44)
    files.set_column(1, 7, 11)
    files.set_column(8, 8, 70, book.add_format({"text_wrap": True, "valign": "top"}))  # the first problem, whole
    files.set_column(9, 9, 80)  # the path, inside the printed width
    _print_setup(files, header_row=3)
    problems = book.add_worksheet(labels("ingest_sheets.problems_sheet"))
    columns = list(COLUMNS) + ([] if lang == "en" else ["code_key"])  # the code itself beside its name
    for col, name in enumerate(columns):
        problems.write_string(0, col, labels(f"ingest_sheets.col_{'code' if name == 'code_key' else name}"
                                             if name != "code" or lang == "en" else "ingest_sheets.col_name"), bold)
    paths = {o.name: o.path for o in report.outcomes}
    folder = str(path.parent)
    row = 1
    for outcome in report.outcomes:
        for problem in outcome.problems:
            for col, name in enumerate(columns):
                value = _shown_field(problem, name, lang, metrics)
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
    _print_setup(problems, header_row=0)
    book.close()
    write_atomic(path, portable_links(buffer.getvalue()))
    return path


def _print_setup(ws, header_row: int) -> None:
    """One page wide in landscape with the header row on every page: the report prints as a list."""
    ws.set_landscape()
    ws.set_paper(9)
    ws.fit_to_pages(1, 0)
    ws.repeat_rows(header_row)


def _shown_field(problem: Problem, name: str, lang: str, metrics: dict[str, str]):
    """One column of a problem as the ingest report shows it: keywords and the message in `lang`."""
    if name == "code_key":
        return problem.code
    if name == "code":
        return code_name(problem.code, lang)
    if name == "severity":
        return term("severity", problem.severity, lang)
    if name == "message":
        return problem_text(problem, lang, metrics)
    return getattr(problem, name)


def _shown_file_row(row: tuple, outcome, lang: str, metrics: dict[str, str]) -> tuple:
    """A Files row (FILE_COLUMNS) with status, kind and the first problem in `lang`."""
    shown = list(row)
    shown[1], shown[2] = term("status", row[1], lang), term("kind", row[2], lang)
    if outcome.errors and lang != "en":
        first = outcome.errors[0]
        where = ":".join(part for part in (first.sheet, first.cell) if part)
        shown[8] = (f"{where}: " if where else "") + problem_text(first, lang, metrics)
    return tuple(shown)


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
    templates = TemplateFormulas(workspace)
    for outcome in report.outcomes:
        if outcome.status != "rejected" or not outcome.kind:
            continue
        cells = [p for p in outcome.problems if p.is_error and p.sheet and p.cell and p.sheet != "_meta"]
        if not cells:
            continue
        try:
            path = _feedback_copy(workspace, outcome, cells, templates)
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


# ------------------------------------------------------------------ the feedback copy
#
# The copy goes out from the company address, so it must carry nothing of the sender's that runs: a formula
# stays only when it is exactly the one the sent template has in that cell, every other formula is shown as
# marked text, and links to anything outside the file are dropped. openpyxl marks the cells; the package it
# writes is then finished here, because openpyxl on its own stores no formula results, writes comment parts
# where ExcelJS cannot find them and keeps the sender's external links.

_MARK = "FFC7CE"
_MARK_FONT = "9C0006"
# A validation or conditional-format formula that is a number or a quoted list (all a template uses) runs
# nothing; anything else is the sender's and goes.
_LITERAL = re.compile(r'^\s*(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|"[^"]*")\s*$')
_FORMULA_START = ("=", "+", "-", "@")


class TemplateFormulas:
    """The formulas of each sent template, looked up once per batch: {(sheet, cell): formula}, or None when
    the template file is gone or is not the one that was sent (then no formula is trusted)."""

    def __init__(self, workspace) -> None:
        self.workspace = workspace
        self.found: dict[tuple, dict | None] = {}

    def __call__(self, outcome) -> tuple[dict | None, dict | None]:
        """(formulas, sent payload) for the outcome's template."""
        key = (outcome.kind, outcome.owner, outcome.period, outcome.revision)
        if key not in self.found:
            self.found[key] = self._load(*key)
        found = self.found[key]
        return (found["formulas"], found["payload"]) if found else (None, None)

    def _load(self, kind, owner, period, revision) -> dict | None:
        import openpyxl

        from sheetplan.returns.validate import parse_payload

        try:
            with self.workspace.store() as store:
                sent = store.find_sent(kind, owner, period, revision)
        except Exception:  # noqa: BLE001 - without the record no formula is trusted, and the copy is still made
            return None
        if sent is None:
            return None
        found: dict = {"formulas": None, "payload": parse_payload(sent.signed)}
        try:
            book = openpyxl.load_workbook(self.workspace.root / sent.path)
        except Exception:  # noqa: BLE001 - moved, deleted or damaged: its formulas are unknown
            return found
        meta = book[META_SHEET] if META_SHEET in book.sheetnames else None
        signature = next((row[1] for row in meta.iter_rows(max_col=2, values_only=True) if row[0] == "signature"),
                         None) if meta is not None else None
        if signature != sent.signature:  # a later template was written to the same path
            return found
        found["formulas"] = {(sheet.title, cell.coordinate): cell.value for sheet in book.worksheets
                             for row in sheet.iter_rows() for cell in row
                             if cell.data_type == "f" and isinstance(cell.value, str)}
        return found


def cell_text(text: str) -> str:
    """Text as openpyxl must be handed it so that Excel shows `text`: openpyxl writes it as stored, and Excel
    decodes `_xHHHH_` in it (a literal one keeps its underscore escaped, characters XML cannot hold and a
    bare CR are written as escapes); cut to what one cell holds."""
    return escape_xstring(str(text)[:MAX_CELL_TEXT]).replace("\r", "_x000D_")


def _set_text(cell, text: str) -> None:
    """Text that stays text: openpyxl would make a formula of "=..." and Excel one of it on the next edit
    unless the cell carries the apostrophe prefix."""
    cell.value = cell_text(text)
    cell.data_type = "s"
    if text.lstrip().startswith(_FORMULA_START):
        cell.quotePrefix = True


def _formula_text(value) -> str:
    if isinstance(value, str):
        return value
    text = getattr(value, "text", None)  # an array formula
    return text if isinstance(text, str) else "=" + str(getattr(value, "ref", "") or "")


def _block_areas(payload: dict | None, book) -> dict[str, str]:
    """Each input block's name and range, from what was sent (else from the file's own in_ names)."""
    if payload:
        return {block["name"]: block["area"] for block in payload["blocks"]}
    return {name: defined.attr_text for name, defined in book.defined_names.items() if name.startswith("in_")}


def _input_cells(payload: dict | None, book) -> set[tuple[str, str]]:
    """The template's input cells (from what was sent, else from the file's own in_ names)."""
    refs = [block["area"] for block in payload["blocks"]] if payload else [
        defined.attr_text for name, defined in book.defined_names.items() if name.startswith("in_")]
    cells = set()
    for ref in refs:
        try:
            area = Area.parse(ref)
        except (ValueError, TypeError):
            continue
        cells.update((area.sheet, a1.cell_name(r, c)) for r, c in area.cells())
    return cells


def _neutralise(book, shown: dict, own: dict | None, inputs: set, labels: Labels) -> tuple[dict, set]:
    """Every cell as the sender's program shows it, with no formula of theirs: a formula that is the
    template's own stays (its cached result is returned for the package), any other is shown as marked
    text; when the template is unknown, a formula outside the input cells keeps only its value.

    Returns ({(sheet, cell): cached value} for the formulas kept, {(sheet, cell)} of those made text)."""
    from openpyxl.styles import Font, PatternFill

    kept: dict = {}
    made_text: set = set()
    fill = PatternFill("solid", fgColor=_MARK)
    font = Font(italic=True, color=_MARK_FONT)
    for sheet in book.worksheets:
        values = shown.get(sheet.title)
        if values is None:
            continue
        # only the cells the reader found: iter_rows would fill a sheet's whole used range, and one far cell
        # makes that billions (a formula the reader missed is still dropped from the package)
        for position in sorted(set(values.cells) | values.formulas):
            cell = sheet.cell(position[0] + 1, position[1] + 1)
            if cell.value is None:
                continue
            seen = values.cells.get(position)
            key = (sheet.title, cell.coordinate)
            if cell.data_type == "f":
                if own is not None and own.get(key) == cell.value:
                    kept[key] = seen if position in values.formulas else None
                elif own is None and key not in inputs:
                    _set_value(cell, seen)
                else:
                    _set_text(cell, labels("feedback.formula", formula=_formula_text(cell.value)))
                    cell.fill, cell.font = fill, font
                    made_text.add(key)
            elif isinstance(cell.value, str):
                # what Excel shows is what calamine read (openpyxl leaves escapes in inline text as stored)
                _set_text(cell, seen if isinstance(seen, str) else cell.value)
    return kept, made_text


def _set_value(cell, value) -> None:
    if isinstance(value, str):
        _set_text(cell, value)
    elif isinstance(value, bool) or (isinstance(value, (int, float)) and math.isfinite(value)):
        cell.value = value
    else:
        cell.value = None


def _drop_links(book) -> None:
    """Nothing in the copy may reach outside it: names that are not plain references to this workbook's cells
    (a name can hold a formula or a link to another file), validation and conditional-format rules with
    formulas, tables (their column formulas) and chart sheets go; hyperlinks go with the package's links."""
    from openpyxl.formatting.formatting import ConditionalFormattingList

    sheets = set(book.sheetnames)

    def local(ref) -> bool:
        try:
            return isinstance(ref, str) and Area.parse(ref).sheet in sheets
        except (ValueError, TypeError):
            return False

    for name in [n for n, d in book.defined_names.items() if not local(d.attr_text)]:
        del book.defined_names[name]
    for chart in list(book.chartsheets):
        book.remove(chart)
    for sheet in book.worksheets:
        for name in [n for n, d in sheet.defined_names.items() if not local(d.attr_text)]:
            del sheet.defined_names[name]
        sheet.data_validations.dataValidation = [
            v for v in sheet.data_validations.dataValidation
            if all(f is None or _LITERAL.match(str(f)) for f in (v.formula1, v.formula2))]
        formats = ConditionalFormattingList()  # a template compares cells with numbers, nothing else
        for formatting in sheet.conditional_formatting:
            for rule in formatting.rules:
                if rule.type == "cellIs" and all(_LITERAL.match(str(f)) for f in rule.formula):
                    formats.add(str(formatting.sqref), rule)
        sheet.conditional_formatting = formats
        for name in list(sheet.tables):
            del sheet.tables[name]


def _feedback_copy(workspace, outcome, problems: list[Problem], templates: TemplateFormulas | None = None
                   ) -> Path | None:
    import openpyxl
    from openpyxl.comments import Comment
    from openpyxl.styles import PatternFill

    from sheetplan.returns.reader import read_returned

    lang = outcome.lang if outcome.lang in ("en", "zh") else workspace.config.language
    labels = Labels(lang)
    metrics = metric_labels(workspace.config, lang)
    try:
        book = openpyxl.load_workbook(io.BytesIO(numbers_as_text(Path(outcome.path).read_bytes())))
    except Exception:  # the safe reader accepted it, but openpyxl may still refuse an odd file
        return None
    read = read_returned(outcome.path)
    if read.workbook is None:  # without the reader's view no cell can be vouched for: no copy
        return None
    shown = read.workbook.sheets
    own, payload = (templates or TemplateFormulas(workspace))(outcome)
    kept, made_text = _neutralise(book, shown, own, _input_cells(payload, book), labels)
    _drop_links(book)
    fill = PatternFill("solid", fgColor=_MARK)
    blocks = _block_areas(payload, book)
    where = {}  # problem index -> the cells the list names (a mismatch names the inputs to change)
    for index, problem in enumerate(problems):
        inputs = input_area(problem, blocks)
        if inputs is not None and inputs.sheet in book.sheetnames:
            for r, c in inputs.cells():  # the whole input block, not the locked target it must reach
                book[inputs.sheet].cell(r + 1, c + 1).fill = fill
            where[index] = (inputs.sheet, inputs.plain.partition("!")[2])
            problem = problem.located(cell=a1.cell_name(inputs.first_row, inputs.first_col))
        if problem.sheet not in book.sheetnames:
            continue
        try:  # a problem may name a range (a moved block): mark its top-left cell
            cell = _anchor(book[problem.sheet], problem.cell.split(":")[0])
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        cell.fill = fill
        text = explain(problem, lang, metrics)
        if problem.value not in (None, ""):
            text += f"\n[{labels('feedback.value')}: {str(problem.value)[:60]}]"
        if (problem.sheet, cell.coordinate) in made_text:
            text += "\n" + labels("feedback.formula_note")
        cell.comment = Comment(cell_text(text), labels("feedback.author"), width=300, height=120)
    sheet = book.create_sheet(labels("feedback.sheet")[:31], 0)
    heading = [labels("feedback.sheet_col"), labels("feedback.cell"), labels("feedback.value"),
               labels("feedback.message")]
    rows = []
    for index, problem in enumerate(problems):
        value = shown_value(problem.value)
        value = value[:200] if isinstance(value, str) else value
        place = where.get(index, (problem.sheet, problem.cell))
        rows.append((*place, value, explain(problem, lang, metrics)))
    fill_problem_sheet(sheet, labels("feedback.title"), heading, rows, _set_text)
    for other in book.worksheets:  # Excel groups every selected tab ("[Group]"): select the Problems sheet only
        for view in other.views.sheetView:
            view.tabSelected = other is sheet
    book.active = 0
    if book.views:
        book.views[0].firstSheet = 0
    target = feedback_path(workspace, outcome.name)
    buffer = io.BytesIO()
    book.save(buffer)
    write_atomic(target, finish_package(buffer.getvalue(), kept))
    os.utime(target)
    return target


# ------------------------------------------------------------------ finishing openpyxl's package

_OFFICE = "application/vnd.openxmlformats-officedocument."
_COMMENTS = _OFFICE + "spreadsheetml.comments+xml"
_VML = _OFFICE + "vmlDrawing"
_WORKSHEET = _OFFICE + "spreadsheetml.worksheet+xml"
_SHARED = _OFFICE + "spreadsheetml.sharedStrings+xml"
# What a marked-up copy consists of; drawings, charts, pivot caches, tables, external links and whatever
# else openpyxl carried over from the returned file are left out.
_KEPT_TYPES = {_OFFICE + "spreadsheetml.sheet.main+xml", _WORKSHEET, _OFFICE + "spreadsheetml.styles+xml",
               _OFFICE + "theme+xml", _COMMENTS, _VML, _SHARED, _OFFICE + "extended-properties+xml",
               _OFFICE + "custom-properties+xml", "application/vnd.openxmlformats-package.core-properties+xml"}
_REL_TYPE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
_PACKAGE = "http://schemas.openxmlformats.org/package/2006/"
_FORMULA_CELL = re.compile(rb'<c r="([A-Z]{1,3}[0-9]{1,7})"([^>]*)>(<f\b[^>]*?(?:/>|>[^<]*</f>))'
                           rb'(<v\s*/>|<v>[^<]*</v>)?</c>')
# openpyxl writes the even and first-page headers and footers even when empty; Gnumeric warns about each
_EMPTY_HEADERS = re.compile(rb"<(evenHeader|evenFooter|firstHeader|firstFooter)(?:\s*/>|></\1>)")
_HYPERLINKS = re.compile(rb"<hyperlinks\b(?:[^>]*/>|.*?</hyperlinks>)", re.S)
_INLINE = re.compile(rb'<c ([^>]*?) t="inlineStr"((?: [a-z]+="[^"]*")*)'
                     rb'(?:\s*/>|><is><t(?: xml:space="preserve")?>(.*?)</t></is></c>)', re.S)
_COMMENT_TEXT = re.compile(rb'<text><t(?: xml:space="preserve")?>(.*?)</t></text>', re.S)
_WORKBOOK_LINKS = re.compile(rb"<(externalReferences|pivotCaches)\b(?:[^>]*/>|.*?</\1>)", re.S)


def _local_name(tag: str) -> str:
    return tag.rpartition("}")[2]


def _part_of(source: str, target: str) -> str:
    """The part a relationship target names: absolute from the package root, or relative to its source."""
    if target.startswith("/"):
        return target[1:]
    return posixpath.normpath(posixpath.join(posixpath.dirname(source), target))


def _cached(value) -> tuple[bytes, bytes] | None:
    """(type attribute, <v> text) of a formula's cached result, or None when there is none to store."""
    if isinstance(value, bool):
        return b' t="b"', b"1" if value else b"0"
    if isinstance(value, (int, float)) and math.isfinite(value):
        return b"", repr(float(value)).encode()
    if isinstance(value, str) and value:
        return b' t="str"', xml_text(value[:MAX_CELL_TEXT]).encode()
    return None


def finish_package(data: bytes, cached: dict[tuple[str, str], object]) -> bytes:
    """openpyxl's package made what every reader expects and nothing more: the formulas kept get the
    returned file's cached results (openpyxl stores none, so previewers would show blank totals), text goes
    to the shared-string table (where every reader, openpyxl too, decodes `_xHHHH_`), comment parts get
    Excel's names, relative targets and text runs (ExcelJS finds comments only as xl/commentsN.xml, fails
    on the absolute paths openpyxl writes and reads a comment's text from runs only), and only the parts of
    a plain workbook stay, with no relationship to anything outside the file."""
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        order = [info.filename for info in source.infolist()]
        parts = {name: source.read(name) for name in order}
    types = ET.fromstring(parts.pop("[Content_Types].xml"))
    defaults = {e.get("Extension", "").lower(): e.get("ContentType", "") for e in types
                if _local_name(e.tag) == "Default"}
    overrides = {e.get("PartName", "").lstrip("/"): e.get("ContentType", "") for e in types
                 if _local_name(e.tag) == "Override"}

    def kind(name: str) -> str:
        return overrides.get(name) or defaults.get(name.rpartition(".")[2].lower(), "")

    kept = {name for name in parts if not name.endswith(".rels") and kind(name) in _KEPT_TYPES}
    renamed = {name: f"xl/comments{n}.xml" for n, name in enumerate(sorted(
        p for p in kept if kind(p) == _COMMENTS), start=1)}
    renamed.update({name: f"xl/drawings/vmlDrawing{n}.vml" for n, name in enumerate(sorted(
        p for p in kept if kind(p) == _VML), start=1)})
    main = next(name for name in kept if kind(name).endswith("sheet.main+xml"))
    titles = {}  # worksheet part -> sheet title
    relations: dict[str, list[tuple[str, str, str]]] = {}
    dropped: dict[str, set[str]] = {}
    for name in order:
        if not name.endswith(".rels"):
            continue
        folder, _, file = name.rpartition("_rels/")
        owner = folder + file[: -len(".rels")]
        if owner and owner not in kept:
            continue
        keep, gone = [], set()
        for rel in ET.fromstring(parts[name]):
            target = rel.get("Target", "")
            part = _part_of(owner, target)
            if rel.get("TargetMode") == "External" or part not in kept:
                gone.add(rel.get("Id", ""))
                continue
            keep.append((rel.get("Id", ""), rel.get("Type", ""), part))
        relations[owner], dropped[owner] = keep, gone
    rel_ids = {rid: part for rid, _kind, part in relations.get(main, [])}
    for sheet in ET.fromstring(parts[main]).iter():
        if _local_name(sheet.tag) == "sheet":
            rid = next((v for k, v in sheet.attrib.items() if _local_name(k) == "id"), "")
            if rid in rel_ids:
                titles[rel_ids[rid]] = sheet.get("name", "")
    strings: dict[bytes, int] = {}
    uses = itertools.count()
    own_table = not any(kind(p) == _SHARED for p in kept)  # openpyxl writes none; if it ever does, text stays

    def shared(match: re.Match) -> bytes:
        before, after, text = match.group(1, 2, 3)
        if text is None:
            return b"<c " + before + after + b"/>"
        index = strings.setdefault(text, len(strings))
        next(uses)
        return b"<c " + before + after + b' t="s"><v>' + str(index).encode() + b"</v></c>"

    for part in kept:
        body = parts[part]
        if kind(part) == _WORKSHEET:
            title = titles.get(part, "")

            def value(match: re.Match, title: str = title) -> bytes:
                ref, attrs, formula, _stored = match.groups()
                key = (title, ref.decode())
                if key not in cached:  # not a formula of the template's: never in the copy
                    return b'<c r="' + ref + b'"' + re.sub(rb'\st="[^"]*"', b"", attrs) + b"/>"
                result = _cached(cached[key])
                if result is None:
                    return match.group(0)
                return b'<c r="' + ref + b'"' + attrs + result[0] + b">" + formula + b"<v>" + result[1] + b"</v></c>"

            body = _FORMULA_CELL.sub(value, body)
            if own_table:
                body = _INLINE.sub(shared, body)
            for rid in dropped.get(part, ()):
                body = re.sub(rb'<(\w+)\b[^>]*\br:id="' + re.escape(rid.encode()) + rb'"(?:[^>]*/>|.*?</\1>)', b"",
                              body, flags=re.S)
            body = _EMPTY_HEADERS.sub(b"", _HYPERLINKS.sub(b"", body))
        elif part == main:
            body = _WORKBOOK_LINKS.sub(b"", body)
        elif kind(part) == _COMMENTS:  # as a run, as Excel writes it: ExcelJS reads a comment's text from runs only
            body = _COMMENT_TEXT.sub(rb'<text><r><t xml:space="preserve">\1</t></r></text>', body)
        parts[part] = body
    if strings:
        items = b"".join(b'<si><t xml:space="preserve">' + text + b"</t></si>" for text in strings)
        parts["xl/sharedStrings.xml"] = (
            b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="' + SST_NAMESPACE.encode()
            + b'" count="' + str(next(uses)).encode() + b'" uniqueCount="' + str(len(strings)).encode() + b'">'
            + items + b"</sst>")
        kept.add("xl/sharedStrings.xml")
        overrides["xl/sharedStrings.xml"] = _SHARED
        taken = {rid for rid, _kind, _part in relations.get(main, [])}
        rid = next(f"rId{n}" for n in itertools.count(len(taken) + 1) if f"rId{n}" not in taken)
        relations.setdefault(main, []).append((rid, _REL_TYPE + "sharedStrings", "xl/sharedStrings.xml"))
    return _package(parts, kept, renamed, relations, kind, order)


def _attr(text: str) -> str:
    return escape(text, {'"': "&quot;"})


def _package(parts: dict, kept: set, renamed: dict, relations: dict, kind, order: list[str]) -> bytes:
    """The zip: content types and relationships written afresh for exactly the parts kept."""
    def new(name: str) -> str:
        return renamed.get(name, name)

    files: dict[str, bytes] = {}
    declared = "".join(f'<Override PartName="/{_attr(new(p))}" ContentType="{_attr(kind(p))}"/>'
                       for p in sorted(kept, key=new) if kind(p) != _VML)
    files["[Content_Types].xml"] = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<Types xmlns="{_PACKAGE}content-types"><Default Extension="rels" '
        f'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        f'<Default Extension="xml" ContentType="application/xml"/><Default Extension="vml" ContentType="{_VML}"/>'
        + declared + "</Types>").encode()
    for owner, rels in relations.items():
        if not rels:
            continue
        base = posixpath.dirname(new(owner))
        folder, file = posixpath.split(new(owner))
        name = posixpath.join(folder, "_rels", file + ".rels")
        body = "".join(f'<Relationship Id="{_attr(rid)}" Type="{_attr(rel_type)}" '
                       f'Target="{_attr(posixpath.relpath(new(part), base or "."))}"/>'
                       for rid, rel_type, part in rels)
        files[name] = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                       f'<Relationships xmlns="{_PACKAGE}relationships">{body}</Relationships>').encode()
    for name in order + ["xl/sharedStrings.xml"]:
        if name in kept:
            files[new(name)] = parts[name]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name, body in files.items():
            target.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), body,
                            compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()
