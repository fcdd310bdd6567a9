"""`sheetplan actuals import`: read each export, check every line, and record it whole or not at all."""

from __future__ import annotations

import hashlib
import io
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sheetplan.actuals import ledger
from sheetplan.actuals.lines import check_lines
from sheetplan.actuals.table import ExportTable, read_export
from sheetplan.errors import ConfigError
from sheetplan.problems import Problem, Report
from sheetplan.returns.ingest import archive_copy, collect_paths
from sheetplan.workspace.closing import is_closed
from sheetplan.workspace.folder import Workspace
from sheetplan.workspace.labels import Labels
from sheetplan.workspace.problem_text import term
from sheetplan.workspace.store import now_iso

DUPLICATE = "duplicate"


@dataclass
class ImportOutcome:
    path: str
    name: str
    status: str  # accepted | rejected | duplicate (and, in a dry run, what would happen)
    lines: int = 0
    months: list[str] = field(default_factory=list)
    replaced: dict[str, str] = field(default_factory=dict)  # month -> the file whose figures it replaces
    problems: list[Problem] = field(default_factory=list)
    left_out: int = 0  # problems beyond those listed
    import_id: int | None = None
    read_as: str = ""  # "csv gb18030 ';'" or "xlsx Sheet1"


@dataclass
class ImportReport:
    outcomes: list[ImportOutcome] = field(default_factory=list)
    dry_run: bool = False
    report_path: Path | None = None
    seconds: float = 0.0

    @property
    def counts(self) -> Counter:
        return Counter(o.status for o in self.outcomes)

    @property
    def problems(self) -> Report:
        report = Report()
        for outcome in self.outcomes:
            report.extend(outcome.problems)
        return report

    @property
    def exit_code(self) -> int:
        return 1 if any(o.status == ledger.REJECTED for o in self.outcomes) else 0


def customers_table(workspace: Workspace, labels: Labels) -> dict[str, str] | None:
    """The [actuals] customers table (customer -> customer group), or None when the mapping names none."""
    name = workspace.config.actuals.customers
    if not name:
        return None
    path = workspace.root / name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"actuals.customers: {path} cannot be read ({exc.strerror or exc})") from None
    table = read_export(data, path.name)
    if isinstance(table, list):
        raise ConfigError(f"actuals.customers: {path.name} cannot be read", table)
    columns = {c.casefold(): c for c in table.columns}
    missing = [c for c in ("customer", "customer_group") if c not in columns]
    if missing:
        raise ConfigError(f"actuals.customers: {path.name} needs the columns customer and customer_group "
                          f"(missing: {', '.join(missing)})")
    import pyarrow.compute as pc

    groups = {g.casefold(): g for g in workspace.config.customer_groups}
    out: dict[str, str] = {}
    problems = []
    texts = {c: pc.utf8_trim_whitespace(table.data[columns[c]]).to_pylist() for c in ("customer", "customer_group")}
    for row, customer, group in zip(table.rows, texts["customer"], texts["customer_group"]):
        if not customer and not group:
            continue
        if group.casefold() not in groups:
            problems.append(Problem("unknown-customer-group", labels("actuals.unknown-customer-group",
                                    column="customer_group", value=group), file=path.name, row=int(row),
                                    field="customer_group", value=group))
        elif customer.casefold() in {c.casefold() for c in out} and out.get(customer) != groups[group.casefold()]:
            problems.append(Problem("customer-twice", labels("actuals.customer-twice", value=customer),
                                    file=path.name, row=int(row), field="customer", value=customer))
        else:
            out[customer] = groups[group.casefold()]
    if problems:
        raise ConfigError(f"actuals.customers: {path.name} has {len(problems)} problem(s); nothing was imported",
                          problems)
    return out


def import_actuals(workspace: Workspace, paths: list[Path], dry_run: bool = False,
                   write_report: bool = True) -> ImportReport:
    """Import every export named (files or folders), each in its own transaction, in name order."""
    began = time.perf_counter()
    labels = Labels(workspace.config.language)
    customers = customers_table(workspace, labels)
    files, refused = collect_paths(paths)
    report = ImportReport(dry_run=dry_run)
    for link in refused:
        report.outcomes.append(ImportOutcome(str(link), link.name, ledger.REJECTED, problems=[Problem(
            "link-outside-folder", f"{link} is a link outside the folder being imported", file=link.name)]))
    seen: set[str] = set()
    with workspace.store() as store:
        for path in files:
            outcome = _import_one(workspace, store, Path(path), labels, customers, dry_run, seen)
            report.outcomes.append(outcome)
    if write_report:
        report.report_path = write_import_report(workspace, report, labels)
    report.seconds = time.perf_counter() - began
    return report


def _import_one(workspace: Workspace, store, path: Path, labels: Labels, customers, dry_run: bool,
                seen: set[str]) -> ImportOutcome:
    outcome = ImportOutcome(str(path), path.name, ledger.REJECTED)
    try:
        data = path.read_bytes()
    except OSError as exc:
        outcome.problems = [Problem("file-unreadable", f"the file cannot be opened: {exc.strerror or exc}",
                                    file=path.name)]
        return outcome
    sha256 = hashlib.sha256(data).hexdigest()
    known = ledger.find_by_hash(store, sha256)
    if known and known[1] == ledger.REJECTED:
        known = None  # checked anew: the roster, the mapping or a reopened month may have changed since
    if known or sha256 in seen:
        outcome.status, outcome.import_id = DUPLICATE, known[0] if known else None
        return outcome
    seen.add(sha256)
    try:
        table = read_export(data, path.name, workspace.config.actuals.sheet)
        del data
        checked = None if isinstance(table, list) else check_lines(
            table, path.name, workspace.config, workspace.roster, labels, customers,
            lambda months: ledger.earlier_customers(store, months))
    except Exception as exc:  # noqa: BLE001 - a bug must cost one file, with a clear record, not the batch
        table, checked = [Problem("check-failed", f"checking this file failed: {type(exc).__name__}: {exc}",
                                  file=path.name)], None
    if checked is None:
        outcome.problems = table
    else:
        outcome.read_as = _read_as(table)
        del table
        outcome.problems, outcome.left_out, outcome.lines = checked.problems, checked.left_out, checked.lines
        if outcome.left_out:
            outcome.problems.append(Problem("more-problems", labels("actuals.more-problems", count=outcome.left_out),
                                            file=path.name))
        closed = [m for m in checked.months if is_closed(store.db, m)]
        if closed:  # a closed month's figures stand: an export of it would change them behind the analyst's back
            checked.problems = [Problem("month-closed", labels("actuals.month-closed", value=m), file=path.name,
                                        field=workspace.config.actuals.header("date"), value=m) for m in closed]
            outcome.problems = checked.problems
        if checked.ok:
            outcome.status, outcome.months = ledger.ACCEPTED, checked.months
            outcome.replaced = {m: name for m, (_id, name) in ledger.standing_months(store, checked.months).items()}
    if dry_run:
        return outcome
    archive = archive_copy(workspace, path, sha256)
    sums = None if outcome.problems else checked.sums
    first = None if outcome.problems else checked.customers
    outcome.import_id, status, _superseded = ledger.record(
        store, sha256, path.name, str(path), archive, now_iso(), outcome.problems, sums, first,
        checked.month_lines if sums is not None else {}, outcome.lines)
    outcome.status = status
    return outcome


def _read_as(table: ExportTable) -> str:
    if table.fmt == "xlsx":
        return f"xlsx {table.sheet}"
    shown = {"\t": "tab", ",": ",", ";": ";", "|": "|"}[table.delimiter]
    return f"csv {table.encoding} {shown}"


def write_import_report(workspace: Workspace, report: ImportReport, labels: Labels) -> Path:
    """reports/actuals-<timestamp>.xlsx: one row per export, then every problem with its row, column and value."""
    import xlsxwriter

    from sheetplan.problems import COLUMNS
    from sheetplan.xlsx.writer import WORKBOOK_OPTIONS, write_atomic, write_value

    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    folder = workspace.folder("reports")
    folder.mkdir(exist_ok=True)
    path = folder / f"actuals-{stamp}.xlsx"
    counter = 1
    while path.exists():
        path = folder / f"actuals-{stamp}-{counter}.xlsx"
        counter += 1
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, WORKBOOK_OPTIONS)
    bold = book.add_format({"bold": True, "bg_color": "#D9E1F2", "border": 1})
    files = book.add_worksheet(labels("actuals.sheet_files"))
    title = labels("actuals.report_title", stamp=stamp) + (f" ({labels('actuals.dry_run')})" if report.dry_run else "")
    files.write_string(0, 0, title, bold)
    headers = [labels(f"actuals.col_{c}") for c in ("file", "status", "lines", "months", "replaces", "errors",
                                                    "first_problem", "read_as")]
    for col, text in enumerate(headers):
        files.write_string(2, col, text, bold)
    for r, o in enumerate(report.outcomes, start=3):
        replaces = "; ".join(f"{m}: {name}" for m, name in sorted(o.replaced.items()))
        row = (o.name, labels(f"actuals.status_{o.status}"), o.lines, " ".join(o.months), replaces,
               sum(1 for p in o.problems if p.code != "more-problems") + o.left_out,
               o.problems[0].message if o.problems else "", o.read_as)
        for col, value in enumerate(row):
            write_value(files, r, col, value)
    files.set_column(0, 0, 36)
    files.set_column(1, 5, 12)
    files.set_column(6, 6, 70)
    files.set_column(7, 7, 18)
    problems = book.add_worksheet(labels("actuals.sheet_problems"))
    for col, name in enumerate(COLUMNS):  # the ingest report's column names, in the workspace language
        problems.write_string(0, col, labels(f"ingest_sheets.col_{name}"), bold)
    row = 1
    for outcome in report.outcomes:
        for problem in outcome.problems:
            for col, name in enumerate(COLUMNS):
                value = getattr(problem, name)
                write_value(problems, row, col, term("severity", value, labels.lang) if name == "severity" else value)
            row += 1
    problems.autofilter(0, 0, max(row - 1, 1), len(COLUMNS) - 1)
    problems.freeze_panes(1, 0)
    for col, width in enumerate((9, 22, 30, 10, 8, 8, 18, 18, 80)):
        problems.set_column(col, col, width)
    book.close()
    write_atomic(path, buffer.getvalue())
    return path


def imported_status(workspace: Workspace):
    """Per month that has imported actuals: the export that stands and what it replaced (for `status`)."""
    with workspace.store() as store:
        return ledger.imported_months(store)


def imported_history(workspace: Workspace, owner: str):
    """The imported figures that stand for `owner` (a person id), totals per month and metric, with the export
    each came from and when it was imported (for `history`)."""
    with workspace.store() as store:
        frame = ledger.imported_actuals(store)
        when = dict(store.db.execute("SELECT id, imported_at FROM actual_imports"))
    frame = frame[frame["person"] == owner]
    totals = frame.groupby(["month", "metric", "file", "import_id"], as_index=False)["actual"].sum()
    totals["imported_at"] = totals["import_id"].map(when)
    return totals.sort_values(["month", "metric"]).reset_index(drop=True)
