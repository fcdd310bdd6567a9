"""Print speed and peak-memory figures for sheetplan against naive baselines (a bench, never a test).

Each measured side runs in a fresh child process (this script re-invoked with a hidden flag), so the
peak RSS of one side never includes the other's, and imports are paid outside the timed section.

    python scripts/bench.py generate --people 2000
    python scripts/bench.py ingest --files 2000
    python scripts/bench.py consolidate --people 2000
    python scripts/bench.py actuals --lines 1000000
    python scripts/bench.py scale --people 2000 5000 20000

A new subcommand is a cmd_<name>(args) function plus its measured sides registered in SIDES.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

CHILD_FLAG = "--measure-child"  # hidden: the parent re-invokes this script with it for each measured side
RESULT_MARK = "BENCH-RESULT "
CHILD_TIMEOUT = 900  # seconds: a hung side must not hang the bench
GROUPS = ("Key accounts", "Distributors", "Online", "Retail", "Public sector")
TEAM_SIZE = 20
FISCAL_YEAR = 2027
REPORT_MONTH = "2027-03"
# Peak memory counts as flat when it grows by at most this share while the workload grows 4x.
FLAT_TOLERANCE = 0.25
# Other programs using more than this many CPUs on average during a timed section get a warning.
BUSY_CPUS = 0.2
GENERATE_TARGET = 5.0
INGEST_TARGET = 8.0
CALAMINE_TARGET = 3.0  # ingest CPU per workbook at most this many times a bare calamine read


# ---------------------------------------------------------------------------------------------
# Shared timing and memory helpers


class Stopwatch:
    """Wall and CPU time (user+sys of this process and its reaped children), summed over every `with`.

    It also reads the whole machine's busy time, so `others` is the CPU time other programs took
    meanwhile: on a shared 2-core machine that is what makes a wall-clock figure pessimistic.
    """

    def __init__(self) -> None:
        self.wall = self.cpu = self.machine = 0.0

    @staticmethod
    def _cpu() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    @staticmethod
    def _machine() -> float:
        try:
            with open("/proc/stat") as handle:
                fields = [int(x) for x in handle.readline().split()[1:]]
        except (OSError, ValueError):
            return float("nan")
        user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")

    @property
    def others(self) -> float:
        return max(0.0, self.machine - self.cpu)

    def __enter__(self) -> Stopwatch:
        self._wall0, self._cpu0, self._machine0 = time.perf_counter(), self._cpu(), self._machine()
        return self

    def __exit__(self, *exc) -> None:
        self.wall += time.perf_counter() - self._wall0
        self.cpu += self._cpu() - self._cpu0
        self.machine += self._machine() - self._machine0


@dataclass
class Measurement:
    side: str
    workbooks: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    others_cpu_seconds: float = 0.0  # CPU time other programs used during the timed section
    peak_mb: float = 0.0  # the measured process itself
    children_peak_mb: float = 0.0  # its largest child (pool worker), 0 when it had none
    extra: dict = field(default_factory=dict)
    error: str = ""

    @property
    def ms_per_workbook(self) -> float:
        return 1000 * self.seconds / self.workbooks if self.workbooks else float("nan")

    @property
    def cpu_ms_per_workbook(self) -> float:
        return 1000 * self.cpu_seconds / self.workbooks if self.workbooks else float("nan")

    @property
    def cpu_ratio(self) -> float:
        return self.cpu_seconds / self.seconds if self.seconds else float("nan")

    @property
    def others_cpus(self) -> float:
        """How many CPUs other programs kept busy, on average, while this side was timed."""
        return self.others_cpu_seconds / self.seconds if self.seconds else float("nan")


def _own_peak_mb() -> float:
    """VmHWM (the kernel's high-water mark of resident memory) of this process."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(side: str, **params) -> Measurement:
    """Run one side in a fresh interpreter and collect its figures; a crash becomes `error`, not an exception."""
    command = [sys.executable, os.path.abspath(__file__), CHILD_FLAG, side, json.dumps(params)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=CHILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        return Measurement(side, error=f"timed out after {CHILD_TIMEOUT} s")
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            return Measurement(**json.loads(line[len(RESULT_MARK):]))
    lines = [s for s in done.stderr.strip().splitlines() if s.strip()]
    return Measurement(side, error=lines[-1] if lines else f"exit code {done.returncode}, no output")


def _run_child(argv: list[str]) -> int:
    side, params = argv[0], json.loads(argv[1])
    workbooks, watch, extra = SIDES[side](**params)
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result = Measurement(side, workbooks, watch.wall, watch.cpu, watch.others, _own_peak_mb(), children, extra)
    print(RESULT_MARK + json.dumps(result.__dict__), flush=True)
    return 0


def _note(message: str) -> None:
    """Progress goes to stderr so stdout holds only the figures."""
    print(message, file=sys.stderr, flush=True)


def _timed_step(label: str, func, *args, **kwargs):
    began = time.perf_counter()
    _note(f"  {label} ...")
    value = func(*args, **kwargs)
    _note(f"  {label}: {time.perf_counter() - began:.1f} s")
    return value


def print_busy(rows: list[tuple[str, Measurement]]) -> None:
    """Other work on a small machine skews wall-clock figures: say so when it happened."""
    busy = [(label, m.others_cpus) for label, m in rows if not m.error and m.others_cpus > BUSY_CPUS]
    if busy:
        print("warning: other programs kept " + ", ".join(f"{c:.2f} of {os.cpu_count()} CPUs busy during {label}"
                                                         for label, c in busy)
              + "; those wall-clock figures are pessimistic")


def _fmt(value: float, digits: int = 2) -> str:
    return "-" if value != value else f"{value:,.{digits}f}"  # NaN shows as '-'


def print_table(rows: list[tuple[str, Measurement]]) -> None:
    header = ("side", "workbooks", "total s", "ms/workbook", "CPU ms/workbook", "CPU/wall", "others' CPUs",
              "peak RSS MB", "worker peak MB")
    body = []
    for label, m in rows:
        if m.error:
            body.append((label, "failed:", m.error[:100], "", "", "", "", "", ""))
            continue
        body.append((label, str(m.workbooks), _fmt(m.seconds), _fmt(m.ms_per_workbook), _fmt(m.cpu_ms_per_workbook),
                     _fmt(m.cpu_ratio), _fmt(m.others_cpus), _fmt(m.peak_mb, 1),
                     _fmt(m.children_peak_mb, 1) if m.children_peak_mb else "-"))
    widths = [max(len(r[i]) for r in (header, *body)) for i in range(len(header))]
    for r in (header, *body):
        print("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths))))


def print_ratio(baseline: Measurement, ours: Measurement, target: float, label: str = "sheetplan") -> None:
    if baseline.error or ours.error or not ours.workbooks or not baseline.workbooks:
        print(f"ratio baseline/{label}: n/a (a side failed)   target ≥{target:g}×: not measured")
        return
    ratio = baseline.ms_per_workbook / ours.ms_per_workbook
    verdict = "met" if ratio >= target else "MISSED"
    # CPU per workbook counts both of sheetplan's processes, so it rewards no parallelism, but other
    # work on the machine barely moves it: a steadier second opinion when the wall clock is noisy.
    cpu = baseline.cpu_ms_per_workbook / ours.cpu_ms_per_workbook
    print(f"ratio baseline/{label} (wall ms per workbook): {ratio:.1f}×   target ≥{target:g}×: {verdict}   "
          f"(CPU ms per workbook: {cpu:.1f}×)")


def print_flat(small: Measurement, large: Measurement, unit: str) -> None:
    """Peak memory of sheetplan's side at N/4 and N: it should not grow with the workload."""
    if small.error or large.error:
        print(f"peak memory vs {unit}: n/a (a run failed)")
        return
    parts = []
    for label, pick in (("main process", lambda m: m.peak_mb), ("largest worker", lambda m: m.children_peak_mb)):
        a, b = pick(small), pick(large)
        if not a or not b:
            continue
        growth = (b - a) / a
        verdict = "flat" if growth <= FLAT_TOLERANCE else "GROWS"
        parts.append(f"{label} {a:.1f} → {b:.1f} MB ({growth:+.0%}, {verdict})")
    print(f"peak memory, {small.workbooks} → {large.workbooks} {unit}: " + "; ".join(parts)
          + f"   [flat = grows ≤{FLAT_TOLERANCE:.0%} for 4× the {unit}; a forked worker's peak includes pages "
          "it shares with its parent]")


# ---------------------------------------------------------------------------------------------
# Workspace set-up (not timed)


def make_workspace(root: Path, people: int, seed: int = 7, plan: bool = True) -> Path:
    """A workspace with `people` reps in teams of ~20 (a manager each, one VP), 5 groups and a year of history;
    `plan=False` leaves the plan unseeded (the scale bench times that step itself)."""
    from sheetplan.api import init_workspace, open_workspace, refresh_plan

    init_workspace(root, demo=False, year=FISCAL_YEAR, lang="en")
    config = root / "sheetplan.toml"
    text, count = re.subn(r"(?m)^customer_groups = \[.*\]$", "customer_groups = " + json.dumps(list(GROUPS)),
                          config.read_text(encoding="utf-8"))
    if count != 1:
        raise SystemExit("bench: the starter config no longer has a one-line customer_groups list")
    config.write_text(text, encoding="utf-8")
    # The loader prefers roster.xlsx; without it, roster.csv is read.
    (root / "roster.xlsx").unlink()
    rng = random.Random(seed)
    teams = max(1, round(people / TEAM_SIZE))
    vp, managers = "P00001", [f"P{t + 2:05d}" for t in range(teams)]
    reps = [f"P{teams + 2 + i:05d}" for i in range(people)]
    with (root / "roster.csv").open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["person_id", "name", "email", "team", "role", "reports_to", "start_month", "end_month",
                      "active"])
        out.writerow([vp, "Vera Vice", "vp@example.com", "", "vp", "", "", "", "TRUE"])
        for t, manager in enumerate(managers):
            out.writerow([manager, f"Manager {t + 1}", f"manager{t + 1}@example.com", f"Team {t + 1:03d}",
                          "manager", vp, "", "", "TRUE"])
        for i, rep in enumerate(reps):
            t = i * teams // people  # consecutive reps share a team, ~TEAM_SIZE each
            out.writerow([rep, f"Rep {i + 1}", f"rep{i + 1}@example.com", f"Team {t + 1:03d}", "rep", managers[t],
                          "", "", "TRUE"])
    # A light history: each rep sold to two groups last year, so allocation follows history.
    with (root / "history.csv").open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["month", "person_id", "customer_group", "metric", "value"])
        for person in reps:
            for group in rng.sample(GROUPS, 2):
                for month in range(1, 13):
                    period = f"{FISCAL_YEAR - 1}-{month:02d}"
                    out.writerow([period, person, group, "revenue", round(rng.uniform(2_000, 60_000), 2)])
                    out.writerow([period, person, group, "quantity", rng.randint(5, 400)])
                    out.writerow([period, person, group, "new_customers", rng.randint(0, 4)])
    if plan:
        refresh_plan(open_workspace(root))
    return root


# ---------------------------------------------------------------------------------------------
# generate


def _generate_sheetplan(workspace: str) -> tuple[int, Stopwatch, dict]:
    from sheetplan.api import generate
    from sheetplan.workspace.folder import open_workspace

    ws = open_workspace(workspace)
    with Stopwatch() as watch:
        result = generate(ws, "person")
    return len(result.files), watch, {}


def _plan_state_only(workspace: str) -> tuple[int, Stopwatch, dict]:
    """What generate holds before it writes anything: tells plan-state memory apart from writing memory."""
    from sheetplan.api import plan_state
    from sheetplan.workspace.folder import open_workspace

    ws = open_workspace(workspace)
    with Stopwatch() as watch:
        plan_state(ws)
    return len(ws.roster.sellers(ws.config)), watch, {}


def _openpyxl_styles(fills: dict[str, str]) -> dict:
    """Per workbook, as a naive script would: one set of style objects mirroring sheetplan's formats."""
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side

    thin = Side(style="thin")
    box = Border(left=thin, right=thin, top=thin, bottom=thin)
    fill = {k: PatternFill("solid", fgColor=v) for k, v in fills.items()}

    def style(number_format="General", locked=True, border=None, bg=None, wrap=False, align=None, **font):
        return {"font": Font(name="Calibri", size=font.pop("size", 10), **font),
                "alignment": Alignment(vertical="top", wrap_text=wrap, horizontal=align),
                "border": border or Border(), "fill": fill[bg] if bg else PatternFill(),
                "protection": Protection(locked=locked), "number_format": number_format}

    styles = {
        "title": style(bold=True, size=14), "subtitle": style(bold=True, size=12),
        "note": style(italic=True, color="595959"), "wrap": style(wrap=True), "text": style(), "key": style(bold=True),
        "header": style(bold=True, bg="header", border=box, wrap=True, align="center"),
        "header_input": style(bold=True, bg="input", border=box, wrap=True, align="center"),
        "total_label": style(bold=True),
        "input_text": style(bg="input", border=box, locked=False, wrap=True),
        "legend": style(bg="input", border=box),
        "pct_locked": style("0.0%", bg="locked", border=box),
    }
    for decimals in range(5):
        fmt = "#,##0" if decimals == 0 else "#,##0." + "0" * decimals
        styles[f"locked_{decimals}"] = style(fmt, bg="locked", border=box)
        styles[f"input_{decimals}"] = style(fmt, bg="input", border=box, locked=False)
        styles[f"total_{decimals}"] = style(fmt, bold=True, border=box)
    return styles


def write_openpyxl(template, password: str, path: Path, unknown: set[str] | None = None) -> None:
    """The naive baseline: one openpyxl Workbook per recipient with the Template's full content, saved to disk.

    A style name the table above does not know (sheetplan gained a format) is written as 'text' and
    added to `unknown`, so the bench reports the drift instead of failing.
    """
    from openpyxl import Workbook
    from openpyxl.formatting.rule import CellIsRule
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.workbook.defined_name import DefinedName
    from openpyxl.worksheet.datavalidation import DataValidation

    styles = _openpyxl_styles({"header": "FFD9E1F2", "input": "FFFFF2CC", "locked": "FFF2F2F2"})
    bad = (PatternFill("solid", fgColor="FFF8CBAD"), Font(color="FF9C0006"))
    good = (PatternFill("solid", fgColor="FFC6EFCE"), Font(color="FF006100"))
    kinds = {"decimal": "decimal", "integer": "whole", "length": "textLength", "list": "list"}

    def protect(ws) -> None:
        ws.protection.sheet = True
        ws.protection.password = password
        ws.protection.formatColumns = False  # allowed, as in sheetplan's templates
        ws.protection.formatRows = False

    def put(ws, row: int, col: int, value, style_name: str, formula: str | None = None) -> None:
        cell = ws.cell(row + 1, col + 1)
        if formula is not None:
            cell.value = "=" + formula
        elif value is not None and value != "":
            cell.value = value
        style = styles.get(style_name)
        if style is None:
            style = styles["text"]
            if unknown is not None:
                unknown.add(style_name)
        for attr, value in style.items():
            setattr(cell, attr, value)

    book = Workbook()
    book.remove(book.active)
    book.properties.title = f"{template.kind} {template.period} {template.owner}"
    book.properties.subject = "sheetplan template"
    book.properties.creator = "sheetplan"
    for sheet in template.sheets:
        ws = book.create_sheet(sheet.name)
        for col, width in sheet.widths.items():
            ws.column_dimensions[get_column_letter(col + 1)].width = width
        for cell in sheet.cells:
            put(ws, cell.row, cell.col, cell.value, cell.style, cell.formula)
        for area, value, style_name in sheet.merges:
            for row, col in area.cells():
                put(ws, row, col, value if (row, col) == (area.first_row, area.first_col) else None, style_name)
            ws.merge_cells(start_row=area.first_row + 1, start_column=area.first_col + 1,
                           end_row=area.last_row + 1, end_column=area.last_col + 1)
        for rule in sheet.validations:
            if rule.kind == "list":
                formulas = {"formula1": '"' + ",".join(rule.choices) + '"'}
            else:
                formulas = {"operator": "between", "formula1": str(rule.minimum), "formula2": str(rule.maximum)}
            check = DataValidation(type=kinds[rule.kind], allow_blank=True, showInputMessage=True,
                                   showErrorMessage=True, promptTitle=rule.title[:32], prompt=rule.message[:255],
                                   errorTitle=rule.error_title[:32], error=rule.error[:255], errorStyle="stop",
                                   **formulas)
            check.add(rule.area.ref.split("!", 1)[1].replace("$", ""))
            ws.add_data_validation(check)
        for area, spec in sheet.conditional:
            ref = area.ref.split("!", 1)[1].replace("$", "")
            if spec["kind"] == "zero_check":
                worse, better = "notEqual", "equal"
            else:
                worse, better = ("lessThan", "greaterThan") if spec["higher_is_better"] else ("greaterThan", "lessThan")
            for operator, (fill, font) in ((worse, bad), (better, good)):
                ws.conditional_formatting.add(ref, CellIsRule(operator=operator, formula=["0"], fill=fill, font=font))
        if sheet.freeze:
            ws.freeze_panes = ws.cell(sheet.freeze[0] + 1, sheet.freeze[1] + 1).coordinate
        ws.page_setup.orientation = "landscape"
        ws.page_setup.paperSize = 9
        ws.page_setup.fitToWidth = 1
        ws.page_setup.fitToHeight = 0
        ws.sheet_properties.pageSetUpPr.fitToPage = True
        for part, text in re.findall(r"&([LCR])(.*?)(?=&[LCR]|$)", sheet.header[:255]):
            getattr(ws.oddHeader, {"L": "left", "C": "center", "R": "right"}[part]).text = text
        ws.oddFooter.center.text = "Page &P / &N"
        protect(ws)
    meta = book.create_sheet("_meta")
    meta.column_dimensions["A"].width = 18
    meta.column_dimensions["B"].width = 70
    for row, (key, value) in enumerate([*template.meta.items(), ("signature", template.signature)], start=1):
        meta.cell(row, 1, key)
        meta.cell(row, 2, str(value))
    meta.sheet_state = "veryHidden"
    protect(meta)
    for name, area in template.names.items():
        book.defined_names[name] = DefinedName(name, attr_text=area.ref)
    book.save(path)


def _generate_openpyxl(workspace: str, sample: int, out: str) -> tuple[int, Stopwatch, dict]:
    from sheetplan.api import plan_state
    from sheetplan.templates.jobs import build
    from sheetplan.templates.parts import Context
    from sheetplan.workspace.folder import open_workspace

    ws = open_workspace(workspace)
    config = ws.config
    state = plan_state(ws)
    people = ws.roster.sellers(config)
    step = max(1, len(people) // sample)
    chosen = people[::step][:sample]  # spread over every team
    ctx = Context(config.company, config.language, config.fiscal_year, config.currency, ws.workspace_id,
                  "2027-01-01T00:00:00+00:00", ws.key)
    password = ws.password
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    writing, building, unknown = Stopwatch(), Stopwatch(), set()
    for person in chosen:
        with building:
            template = build(state.person_plan(person), ctx, 1)
        with writing:  # only the writer is timed: building the Template is the library's, on both sides
            write_openpyxl(template, password, folder / f"person-{person.person_id}.xlsx", unknown)
    return len(chosen), writing, {"build_ms": 1000 * building.wall / max(1, len(chosen)),
                                  "unknown_styles": sorted(unknown)}


def cmd_generate(args: argparse.Namespace) -> None:
    """Person templates: sheetplan's generate (2 processes) against a naive single-process openpyxl writer."""
    people, small_people, sample = args.people, max(1, args.people // 4), min(args.sample, args.people)
    with tempfile.TemporaryDirectory(prefix="sheetplan-bench-") as tmp:
        root = Path(tmp)
        _note(f"bench generate: setting up workspaces for {people} and {small_people} people")
        large = _timed_step(f"workspace, {people} people", make_workspace, root / "large", people)
        small = _timed_step(f"workspace, {small_people} people", make_workspace, root / "small", small_people)
        ours = _timed_step("sheetplan generate (large)", measure, "generate-sheetplan", workspace=str(large))
        ours_small = _timed_step("sheetplan generate (small)", measure, "generate-sheetplan", workspace=str(small))
        naive = _timed_step(f"openpyxl baseline ({sample} workbooks)", measure, "generate-openpyxl",
                            workspace=str(large), sample=sample, out=str(root / "naive"))
        state = _timed_step("plan state alone (large)", measure, "plan-state", workspace=str(large))
        state_small = _timed_step("plan state alone (small)", measure, "plan-state", workspace=str(small))
    rows = [("sheetplan generate(person)", ours), (f"naive openpyxl (sample of {sample})", naive)]
    print(f"generate: person templates for {people} people (3 metrics x 5 customer groups x 12 months), "
          f"{os.cpu_count()} CPUs")
    print_table(rows)
    print_busy(rows)
    print_ratio(naive, ours, GENERATE_TARGET)
    print_flat(ours_small, ours, "people")
    if not (state.error or state_small.error):
        print(f"  of which plan state alone (open_workspace + plan_state, no workbooks): peak "
              f"{state_small.peak_mb:.1f} → {state.peak_mb:.1f} MB, {state_small.seconds:.1f} → {state.seconds:.1f} s")
    if not naive.error:
        print(f"note: sheetplan is timed end to end (plan state + build + render + write, 2-process pool); the "
              f"baseline times only openpyxl writing + saving, single process, on an evenly spread sample "
              f"(building its Templates took {naive.extra['build_ms']:.1f} ms/workbook, not counted)")
        if naive.extra["unknown_styles"]:
            print(f"warning: the baseline wrote styles it does not mirror as plain text: "
                  f"{', '.join(naive.extra['unknown_styles'])}")


# ---------------------------------------------------------------------------------------------
# ingest

_DEFINED_NAME = re.compile(r'<definedName name="([^"]+)"[^>]*>([^<]+)</definedName>')
_SHEET = re.compile(r'<sheet name="([^"]+)"[^>]*?r:id="([^"]+)"')
_RELATION = re.compile(r'<Relationship Id="([^"]+)"[^>]*?Target="([^"]+)"')
_EMPTY_CELL = re.compile(r'<c r="([A-Z]+[0-9]+)"((?: s="[0-9]+")?)/>')
_NUMBER_CELL = re.compile(r'<c r="([A-Z]+[0-9]+)"[^>]*?><v>([^<]*)</v></c>')


def _sheet_paths(parts: dict[str, str]) -> dict[str, str]:
    """Sheet name -> zip entry, from workbook.xml and its relationships."""
    from xml.sax.saxutils import unescape

    targets = dict(_RELATION.findall(parts["xl/_rels/workbook.xml.rels"]))
    paths = {}
    for name, rel in _SHEET.findall(parts["xl/workbook.xml"]):
        target = targets[rel]
        paths[unescape(name, {"&quot;": '"', "&apos;": "'"})] = target.lstrip("/") if target.startswith("/") \
            else "xl/" + target
    return paths


def _fill_cells(xml: str, cells: dict[str, tuple[str, str]]) -> str:
    """Give empty cells (<c r="C6" s="9"/>, as the template writes them) a value, keeping their style."""
    def patch(match: re.Match) -> str:
        edit = cells.get(match.group(1))
        if edit is None:
            return match.group(0)
        kind, content = edit
        return f'<c r="{match.group(1)}"{match.group(2)}{kind}>{content}</c>'

    return _EMPTY_CELL.sub(patch, xml)


def fill_return(source: Path, target: Path, decimals: dict[str, int], rng: random.Random, comment: bool) -> None:
    """A salesperson's reply: every actual cell (in_<metric>) gets a figure near its target; the zip is rewritten."""
    from sheetplan.xlsx import a1
    from sheetplan.xlsx.layout import Area

    with zipfile.ZipFile(source) as archive:
        infos = archive.infolist()
        raw = {info.filename: archive.read(info) for info in infos}
    parts = {name: raw[name].decode("utf-8") for name in ("xl/workbook.xml", "xl/_rels/workbook.xml.rels")}
    names = {name: Area.parse(ref) for name, ref in _DEFINED_NAME.findall(parts["xl/workbook.xml"])}
    sheet_paths = _sheet_paths(parts)
    edits: dict[str, dict[str, tuple[str, str]]] = {}  # zip entry -> cell -> (type attribute, content)
    for metric, places in decimals.items():
        area, targets = names[f"in_{metric}"], names.get(f"target_{metric}")
        entry = sheet_paths[area.sheet]
        xml = raw[entry].decode("utf-8")
        known = dict(_NUMBER_CELL.findall(xml))
        goals = [float(known.get(a1.cell_name(*cell), 0) or 0) for cell in (targets.cells() if targets else ())]
        largest = max(goals, default=0.0)
        for index, (row, col) in enumerate(area.cells()):
            goal = goals[index] if index < len(goals) else 0.0
            if goal:
                value = goal * rng.uniform(0.6, 1.3)
            else:  # a group without a target still sells a little now and then
                value = largest * rng.uniform(0, 0.15) if largest else rng.uniform(0, 3)
            number = f"{value:.{places}f}" if places else str(round(value))
            edits.setdefault(entry, {})[a1.cell_name(row, col)] = ("", f"<v>{number}</v>")
    if comment and "in_comment" in names:
        area = names["in_comment"]
        first = a1.cell_name(area.first_row, area.first_col)
        edits.setdefault(sheet_paths[area.sheet], {})[first] = (
            ' t="inlineStr"', "<is><t>Two large orders moved to next month.</t></is>")
    for entry, cells in edits.items():
        raw[entry] = _fill_cells(raw[entry].decode("utf-8"), cells).encode("utf-8")
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for info in infos:
            archive.writestr(info, raw[info.filename])


def make_returns(workspace: Path, folder: Path, seed: int = 11) -> list[Path]:
    """Month templates for everyone, each filled in as its salesperson would, in one folder."""
    from sheetplan.api import generate
    from sheetplan.workspace.folder import open_workspace

    ws = open_workspace(workspace)
    sent = generate(ws, "month", month=REPORT_MONTH).files
    decimals = {m.key: m.decimals for m in ws.config.metrics}
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    filled = []
    for i, path in enumerate(sent):
        target = folder / path.name
        fill_return(path, target, decimals, rng, comment=i % 5 == 0)
        filled.append(target)
    return filled


def _ingest_sheetplan(workspace: str, folder: str, write_report: bool) -> tuple[int, Stopwatch, dict]:
    from sheetplan.api import ingest
    from sheetplan.workspace.folder import open_workspace

    ws = open_workspace(workspace)
    with Stopwatch() as watch:
        report = ingest(ws, [Path(folder)], write_report=write_report)
    codes: dict[str, int] = {}
    for outcome in report.outcomes:
        for problem in outcome.problems:
            codes[problem.code] = codes.get(problem.code, 0) + 1
    counts = {k: v for k, v in report.counts.items() if v}
    return len(report.outcomes), watch, {"counts": counts, "problem_codes": codes}


def _ingest_pandas(folder: str) -> tuple[int, Stopwatch, dict]:
    import pandas as pd

    files = sorted(Path(folder).glob("*.xlsx"))
    cells = 0
    with Stopwatch() as watch:
        for path in files:
            frames = pd.read_excel(path, sheet_name=None, engine="openpyxl")
            cells += sum(frame.size for frame in frames.values())
    return len(files), watch, {"cells": cells}


def _ingest_calamine(folder: str) -> tuple[int, Stopwatch, dict]:
    """The floor under any reader: python-calamine loading every sheet of every file, nothing checked."""
    from python_calamine import CalamineWorkbook

    files = sorted(Path(folder).glob("*.xlsx"))
    cells = 0
    with Stopwatch() as watch:
        for path in files:
            book = CalamineWorkbook.from_path(str(path))
            for name in book.sheet_names:
                cells += sum(len(row) for row in book.get_sheet_by_name(name).to_python(skip_empty_area=False))
    return len(files), watch, {"cells": cells}


def print_calamine(calamine: Measurement, ours: Measurement) -> None:
    if calamine.error or ours.error:
        print("ingest CPU vs bare calamine: n/a (a side failed)")
        return
    ratio = ours.cpu_ms_per_workbook / calamine.cpu_ms_per_workbook
    verdict = "met" if ratio <= CALAMINE_TARGET else "MISSED"
    print(f"ingest CPU per workbook: sheetplan {ours.cpu_ms_per_workbook:.2f} ms, bare python-calamine read "
          f"{calamine.cpu_ms_per_workbook:.2f} ms: {ratio:.1f}×   target ≤{CALAMINE_TARGET:g}×: {verdict}")


def _copy_workspace(source: Path, target: Path) -> str:
    """Each ingest run gets its own copy: a second ingest of the same files would only find duplicates."""
    shutil.copytree(source, target, symlinks=True)
    return str(target)


def cmd_ingest(args: argparse.Namespace) -> None:
    """Returned month reports: sheetplan's ingest against pandas.read_excel(openpyxl) of every sheet."""
    files, quarter = args.files, max(1, args.files // 4)
    with tempfile.TemporaryDirectory(prefix="sheetplan-bench-") as tmp:
        root = Path(tmp)
        _note(f"bench ingest: setting up a workspace and {files} filled month reports")
        base = _timed_step(f"workspace, {files} people", make_workspace, root / "base", files)
        returned = _timed_step(f"generate + fill {files} month templates", make_returns, base, root / "returned")
        part = root / "returned-quarter"
        part.mkdir()
        for path in returned[:quarter]:
            os.link(path, part / path.name)
        # The small run goes first: whatever a first run pays (cold caches) it pays on the small side.
        runs = [("ingest-quarter", quarter, False, part), ("ingest", files, False, root / "returned"),
                ("ingest+report", files, True, root / "returned")]
        results = {}
        for label, count, write_report, folder in runs:
            copy = _copy_workspace(base, root / f"run-{label}")
            results[label] = _timed_step(f"sheetplan {label} ({count} files)", measure, "ingest-sheetplan",
                                         workspace=copy, folder=str(folder), write_report=write_report)
        naive = _timed_step(f"pandas baseline ({files} files)", measure, "ingest-pandas",
                            folder=str(root / "returned"))
        calamine = _timed_step(f"bare python-calamine ({files} files)", measure, "ingest-calamine",
                               folder=str(root / "returned"))
    ours, with_report, ours_quarter = results["ingest"], results["ingest+report"], results["ingest-quarter"]
    rows = [("sheetplan ingest", ours), ("sheetplan ingest + report", with_report),
            ("naive pandas.read_excel(openpyxl)", naive), ("bare python-calamine read", calamine)]
    print(f"ingest: {files} filled month reports ({REPORT_MONTH}, 3 metrics x 5 customer groups), "
          f"{os.cpu_count()} CPUs")
    print_table(rows)
    print_busy(rows)
    print_ratio(naive, ours, INGEST_TARGET, "sheetplan ingest")
    print_ratio(naive, with_report, INGEST_TARGET, "sheetplan ingest + report")
    print_flat(ours_quarter, ours, "files")
    print_calamine(calamine, ours)
    if not ours.error:
        counts = ", ".join(f"{v} {k}" for k, v in sorted(ours.extra["counts"].items()))
        print(f"sheetplan outcomes: {counts}" + (f"; problem codes: {ours.extra['problem_codes']}"
                                                 if ours.extra["problem_codes"] else ""))
        print(f"sheetplan CPU/wall = {ours.cpu_ratio:.2f} (user+sys of the process and its workers / wall; "
              f"{os.cpu_count()} cores available)")


# ---------------------------------------------------------------------------------------------
# consolidate

CONSOLIDATE_TARGET = 8.0
CONSOLIDATE_MEMORY_MB = 400
CLOSE_MONTH = f"{FISCAL_YEAR}-12"


def add_actuals(workspace: Path, seed: int = 13) -> int:
    """A full year of accepted month reports, written straight into the ledger (this bench measures
    consolidation, not ingest): each person, month, customer group and metric near its target."""
    import sqlite3

    from sheetplan.workspace.store import now_iso

    rng = random.Random(seed)
    db = sqlite3.connect(workspace / ".sheetplan" / "plan.sqlite")
    targets = db.execute("SELECT owner, period, metric, customer_group, value FROM targets WHERE level = 'person'"
                         " AND customer_group <> '' AND source = 'suggestion'").fetchall()
    accepted = set(db.execute("SELECT owner, period FROM submissions WHERE kind = 'month' AND status = 'accepted'"))
    by_report: dict[tuple[str, str], list] = {}
    for owner, month, metric, group, value in targets:
        if (owner, month) not in accepted:  # a month already ingested keeps its real report
            by_report.setdefault((owner, month), []).append((metric, group, value))
    stamp = now_iso()
    with db:
        for number, ((owner, month), cells) in enumerate(sorted(by_report.items())):
            cursor = db.execute(
                "INSERT INTO submissions (sha256, original_name, source_path, received_at, ingested_at, kind, owner,"
                " period, revision, status, problems, archive_path) VALUES (?, ?, '', ?, ?, 'month', ?, ?, 1,"
                " 'accepted', '[]', '')", (f"bench-{number}", f"{owner}-{month}.xlsx", stamp, stamp, owner, month))
            db.executemany("INSERT INTO submitted_values (submission_id, block, row_key, col_key, value)"
                           " VALUES (?, ?, ?, 'actual', ?)",
                           [(cursor.lastrowid, f"in_{metric}", group, round(value * rng.uniform(0.6, 1.3),
                                                                             0 if metric != "revenue" else 2))
                            for metric, group, value in cells])
    db.close()
    return len(by_report)


def _consolidate_sheetplan(workspace: str) -> tuple[int, Stopwatch, dict]:
    from sheetplan.reports.monthend import run_consolidation
    from sheetplan.workspace.folder import open_workspace

    ws = open_workspace(workspace)
    with Stopwatch() as watch:
        result = run_consolidation(ws, CLOSE_MONTH)
    size = result.summary.stat().st_size / 1e6
    return 1, watch, {"facts": len(result.facts), "flags": len(result.flags), "summary_mb": round(size, 1),
                      "data_mb": round(result.data.workbook.stat().st_size / 1e6, 1),
                      "data_sheets": len(result.data.facts), "team_books": len(result.team_files)}


def _consolidate_pandas(workspace: str, out: str) -> tuple[int, Stopwatch, dict]:
    """What a careful analyst without sheetplan would write: SQL into pandas, groupby, to_excel(openpyxl)."""
    import sqlite3

    import pandas as pd

    with Stopwatch() as watch:
        db = sqlite3.connect(Path(workspace) / ".sheetplan" / "plan.sqlite")
        targets = pd.read_sql("SELECT owner AS person, period AS month, metric, customer_group, value AS target"
                              " FROM targets WHERE level = 'person' AND customer_group <> ''", db)
        actuals = pd.read_sql("SELECT s.owner AS person, s.period AS month, substr(v.block, 4) AS metric,"
                              " v.row_key AS customer_group, v.value AS actual FROM submitted_values v JOIN"
                              " submissions s ON s.id = v.submission_id WHERE s.status = 'accepted'", db)
        roster = pd.read_csv(Path(workspace) / "roster.csv")[["person_id", "team"]]
        facts = targets.merge(actuals, how="left").fillna({"actual": 0.0})
        facts = facts.merge(roster, left_on="person", right_on="person_id").drop(columns="person_id")
        keys = ["month", "metric"]
        levels = [facts.assign(level="person"),
                  facts.groupby(["person", "team", *keys], as_index=False)[["target", "actual"]].sum()
                  .assign(level="person", customer_group=""),
                  facts.groupby(["team", *keys, "customer_group"], as_index=False)[["target", "actual"]].sum()
                  .assign(level="team"),
                  facts.groupby(["team", *keys], as_index=False)[["target", "actual"]].sum()
                  .assign(level="team", customer_group=""),
                  facts.groupby([*keys, "customer_group"], as_index=False)[["target", "actual"]].sum()
                  .assign(level="company"),
                  facts.groupby(keys, as_index=False)[["target", "actual"]].sum()
                  .assign(level="company", customer_group="")]
        table = pd.concat(levels, ignore_index=True).sort_values(["level", "team", "person", "metric", "month"])
        table["variance"] = table["actual"] - table["target"]
        table["attainment"] = (table["actual"] / table["target"]).where(table["target"] > 0, 1.0)
        owner = ["level", "team", "person", "metric", "customer_group"]
        grouped = table.groupby([table[c].fillna("") for c in owner])
        table["ytd_target"] = grouped["target"].cumsum()
        table["ytd_actual"] = grouped["actual"].cumsum()
        table["ytd_attainment"] = (table["ytd_actual"] / table["ytd_target"]).where(table["ytd_target"] > 0, 1.0)
        table.to_excel(out, sheet_name="Data", index=False, engine="openpyxl")
    return 1, watch, {"facts": len(table)}


def cmd_consolidate(args: argparse.Namespace) -> None:
    """Month-end consolidation of a full year: sheetplan's summary (charts, formatting, team workbooks)
    against a naive pandas groupby + DataFrame.to_excel(openpyxl) of the same facts."""
    people = args.people
    with tempfile.TemporaryDirectory(prefix="sheetplan-bench-") as tmp:
        root = Path(tmp)
        _note(f"bench consolidate: a workspace of {people} people with a full year of actuals")
        base = _timed_step(f"workspace, {people} people", make_workspace, root / "base", people)
        reports = _timed_step("12 months of accepted reports", add_actuals, base)
        _note(f"  {reports} month reports in the ledger")
        ours = _timed_step("sheetplan consolidate", measure, "consolidate-sheetplan", workspace=str(base))
        naive = _timed_step("pandas + openpyxl baseline", measure, "consolidate-pandas", workspace=str(base),
                            out=str(root / "naive.xlsx"))
    rows = [("sheetplan consolidate", ours), ("naive pandas + to_excel(openpyxl)", naive)]
    print(f"consolidate: {people} people, 12 months, {len(GROUPS)} customer groups, 3 metrics, {os.cpu_count()} CPUs")
    print_table(rows)
    print_busy(rows)
    if not ours.error and not naive.error:
        ratio = naive.seconds / ours.seconds if ours.seconds else float("inf")
        verdict = "met" if ratio >= CONSOLIDATE_TARGET else "MISSED"
        print(f"ratio baseline/sheetplan (wall seconds): {ratio:.1f}×   target ≥{CONSOLIDATE_TARGET:g}×: {verdict}")
        peak = max(ours.peak_mb, ours.children_peak_mb)
        memory = "met" if peak < CONSOLIDATE_MEMORY_MB else "MISSED"
        print(f"sheetplan peak memory: main process {ours.peak_mb:.0f} MB, largest worker {ours.children_peak_mb:.0f}"
              f" MB   target < {CONSOLIDATE_MEMORY_MB} MB each: {memory}")
        print(f"sheetplan wrote {ours.extra['facts']:,} fact rows, {ours.extra['flags']:,} flags, a "
              f"{ours.extra['summary_mb']} MB summary, a {ours.extra['data_mb']} MB data workbook "
              f"({ours.extra['data_sheets']} fact sheets) and {ours.extra['team_books']} team workbooks; the baseline "
              f"{naive.extra['facts']:,} rows, one sheet, no charts or formatting")


# ---------------------------------------------------------------------------------------------

# ---------------------------------------------------------------------------------------------
# collect

COLLECT_MEMORY_MB = 200


def make_big_message(path: Path, attachment_mb: int, small: Path | None = None) -> None:
    """A message as a mail program writes it: a text body, then one attachment of `attachment_mb` MB in
    base64 (76-character lines), written in pieces so making it costs no memory either."""
    import base64

    boundary = "bench-boundary-1"
    with path.open("wb") as out:
        out.write((f"From: someone@example.com\nTo: returns@example.com\nSubject: big\n"
                   f"Date: Mon, 01 Mar 2027 09:00:00 +0000\nMessage-ID: <big-{attachment_mb}@example.com>\n"
                   f"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"{boundary}\"\n\n"
                   f"--{boundary}\nContent-Type: text/plain\n\nthe report\n--{boundary}\n"
                   "Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet\n"
                   "Content-Disposition: attachment; filename=\"big.xlsx\"\n"
                   "Content-Transfer-Encoding: base64\n\n").encode())
        chunk = 57 * 1024  # 57 bytes -> one 76-character line
        rng = random.Random(5)
        left = attachment_mb * 1024 * 1024
        while left > 0:
            data = rng.randbytes(min(chunk, left))
            left -= len(data)
            out.write(base64.encodebytes(data))
        if small is not None:  # a second, ordinary attachment after the big one: it must still be found
            out.write(f"--{boundary}\nContent-Type: application/octet-stream\n"
                      "Content-Disposition: attachment; filename=\"small.xlsx\"\n"
                      "Content-Transfer-Encoding: base64\n\n".encode())
            out.write(base64.encodebytes(small.read_bytes()))
        out.write(f"--{boundary}--\n".encode())


def _collect_sheetplan(workspace: str, message: str) -> tuple[int, Stopwatch, dict]:
    from sheetplan.api import collect, open_workspace

    ws = open_workspace(Path(workspace))
    watch = Stopwatch()
    with watch:
        result = collect(ws, [Path(message)], ingest=False)
    return 1, watch, {"saved": len(result.saved), "ignored": [i.reason for i in result.ignored]}


def _collect_email_package(message: str) -> tuple[int, Stopwatch, dict]:
    """The naive way: parse the whole message with the email package and decode each attachment."""
    import email
    from email import policy

    watch = Stopwatch()
    with watch:
        parsed = email.message_from_bytes(Path(message).read_bytes(), policy=policy.default)
        sizes = [len(part.get_payload(decode=True) or b"") for part in parsed.walk() if not part.is_multipart()]
    return 1, watch, {"parts": len(sizes)}


def cmd_collect(args: argparse.Namespace) -> None:
    """Peak memory of collect on messages of 50 and 95 MB, against the email package parsing them whole."""
    with tempfile.TemporaryDirectory(prefix="sheetplan-bench-") as tmp:
        root = Path(tmp)
        _note("bench collect: a workspace and two large messages")
        base = _timed_step("workspace, 20 people", make_workspace, root / "base", 20)
        small = root / "small.xlsx"
        small.write_bytes(b"PK\x03\x04" + bytes(2000))
        rows = []
        for attachment_mb in (37, 70):  # base64 makes them messages of about 50 and 95 MB
            message = root / f"big-{attachment_mb}.eml"
            make_big_message(message, attachment_mb, small)
            size_mb = message.stat().st_size / 1024 / 1024
            copy = _copy_workspace(base, root / f"run-{attachment_mb}")
            ours = _timed_step(f"sheetplan collect ({size_mb:.0f} MB message)", measure, "collect-sheetplan",
                               workspace=copy, message=str(message))
            naive = _timed_step(f"email package ({size_mb:.0f} MB message)", measure, "collect-email",
                                message=str(message))
            rows.append((size_mb, ours, naive))
    print(f"collect: one message with a large attachment (base64) and a small one after it, {os.cpu_count()} CPUs")
    print(f"{'message':>9}  {'sheetplan peak':>15}  {'email package peak':>19}  {'ratio':>6}  {'seconds':>8}  saved")
    for size_mb, ours, naive in rows:
        if ours.error or naive.error:
            print(f"{size_mb:7.0f} MB  error: {ours.error or naive.error}")
            continue
        ratio = naive.peak_mb / ours.peak_mb if ours.peak_mb else float("nan")
        print(f"{size_mb:7.0f} MB  {ours.peak_mb:12.0f} MB  {naive.peak_mb:16.0f} MB  {ratio:5.1f}x  "
              f"{ours.seconds:8.2f}  {ours.extra['saved']} saved, ignored: {', '.join(ours.extra['ignored'])}")
    worst = max((ours.peak_mb for _s, ours, _n in rows if not ours.error), default=float("nan"))
    verdict = "met" if worst < COLLECT_MEMORY_MB else "NOT met"
    print(f"target: collect peak under {COLLECT_MEMORY_MB} MB whatever the message size: {verdict} "
          f"(largest peak {worst:.0f} MB)")


# ---------------------------------------------------------------------------------------------
# actuals import

ACTUALS_SECONDS = 20.0
ACTUALS_MEMORY_MB = 500


def make_export(path: Path, lines: int, people: list[str], fmt: str = "csv", seed: int = 11) -> None:
    """An ERP-style export of `lines` invoice lines over March 2027 (written in pieces, untimed)."""
    rng = random.Random(seed)
    header = ["Invoice", "Posting Date", "Sales Rep", "Segment", "Customer", "Net Amount", "Qty"]
    if fmt == "xlsx":
        import xlsxwriter

        book = xlsxwriter.Workbook(path, {"constant_memory": True})
        sheet = book.add_worksheet("Export")
        sheet.write_row(0, 0, header)
    else:
        handle = path.open("w", newline="", encoding="utf-8-sig")
        out = csv.writer(handle)
        out.writerow(header)
    for i in range(lines):
        row = [f"INV-{i:08d}", f"2027-03-{1 + i % 28:02d}", rng.choice(people), rng.choice(GROUPS),
               f"CUST-{rng.randrange(50_000):05d}", round(rng.uniform(10, 5_000), 2), rng.randint(1, 40)]
        if fmt == "xlsx":
            sheet.write_row(i + 1, 0, row)
        else:
            out.writerow(row)
    if fmt == "xlsx":
        book.close()
    else:
        handle.close()


_ACTUALS_MAPPING = """
[actuals]
source = "imported"
metrics = ["revenue", "quantity"]
line_id = true
[actuals.columns]
line_id = "Invoice"
date = "Posting Date"
person = "Sales Rep"
customer_group = "Segment"
customer = "Customer"
revenue = "Net Amount"
quantity = "Qty"
"""


def _actuals_sheetplan(workspace: str, export: str) -> tuple[int, Stopwatch, dict]:
    from sheetplan.api import import_actuals, open_workspace

    ws = open_workspace(Path(workspace))
    with Stopwatch() as watch:
        report = import_actuals(ws, [Path(export)])
    (outcome,) = report.outcomes
    return outcome.lines, watch, {"status": outcome.status, "read_as": outcome.read_as,
                                  "problems": [p.describe() for p in outcome.problems[:3]]}


def cmd_actuals(args: argparse.Namespace) -> None:
    """sheetplan actuals import of one ERP export (a year's invoice lines) as CSV and as xlsx: time and peak."""
    with tempfile.TemporaryDirectory(prefix="sheetplan-bench-") as tmp:
        root = Path(tmp)
        _note(f"bench actuals: a workspace of {args.people} people and exports of {args.lines:,} lines")
        base = _timed_step(f"workspace, {args.people} people", make_workspace, root / "base", args.people)
        with (Path(base) / "sheetplan.toml").open("a", encoding="utf-8") as handle:
            handle.write(_ACTUALS_MAPPING)
        from sheetplan.api import open_workspace

        people = [p.person_id for p in open_workspace(base).roster.people if p.role == "rep"]
        runs = []
        for fmt, lines in (("csv", args.lines), ("xlsx", args.xlsx_lines)):
            if not lines:
                continue
            export = root / f"erp-{lines}.{fmt}"
            _timed_step(f"{fmt} export of {lines:,} lines", make_export, export, lines, people, fmt)
            copy = _copy_workspace(base, root / f"run-{fmt}")
            result = _timed_step(f"sheetplan actuals import ({fmt})", measure, "actuals-sheetplan", workspace=copy,
                                 export=str(export))
            runs.append((fmt, export.stat().st_size / 1024 / 1024, result))
    print(f"actuals import: one export, {args.people} people, 5 groups, {os.cpu_count()} CPUs")
    print(f"{'format':>6}  {'lines':>10}  {'file MB':>8}  {'seconds':>8}  {'peak RSS MB':>11}  status")
    for fmt, size_mb, m in runs:
        if m.error:
            print(f"{fmt:>6}  error: {m.error}")
            continue
        print(f"{fmt:>6}  {m.workbooks:>10,}  {size_mb:8.1f}  {m.seconds:8.2f}  {m.peak_mb:11.0f}  "
              f"{m.extra['status']} ({m.extra['read_as']}) {' '.join(m.extra['problems'])}")
    csv_run = next((m for fmt, _s, m in runs if fmt == "csv" and not m.error), None)
    if csv_run is not None:
        verdict = "met" if csv_run.seconds < ACTUALS_SECONDS and csv_run.peak_mb < ACTUALS_MEMORY_MB else "NOT met"
        print(f"target: {args.lines:,} CSV lines under {ACTUALS_SECONDS:g} s and {ACTUALS_MEMORY_MB} MB: {verdict} "
              f"({csv_run.seconds:.1f} s, {csv_run.peak_mb:.0f} MB)")
    busy = [(fmt, m) for fmt, _s, m in runs if not m.error]
    if busy:
        print_busy(busy)


# ---------------------------------------------------------------------------------------------
# scale: one month of a growing sales force

SCALE_PEOPLE = (2000, 5000, 20000)
SCALE_CONSOLIDATE_SECONDS = 90.0  # at the largest head count
SCALE_CONSOLIDATE_MB = 2048
LINEAR_TOLERANCE = 0.25  # per-person cost may grow by this share and still count as linear


def _seed_plan(workspace: str) -> tuple[int, Stopwatch, dict]:
    from sheetplan.api import open_workspace, refresh_plan

    ws = open_workspace(workspace)
    with Stopwatch() as watch:
        refresh_plan(ws)
    return len(ws.roster.sellers(ws.config)), watch, {}


def _generate_month(workspace: str) -> tuple[int, Stopwatch, dict]:
    from sheetplan.api import generate, open_workspace

    ws = open_workspace(workspace)
    with Stopwatch() as watch:
        result = generate(ws, "month", month=REPORT_MONTH)
    return len(result.files), watch, {}


def _fill_sent(workspace: Path, folder: Path, seed: int = 11) -> int:
    """Every month template generate wrote, filled in as its salesperson would (not timed)."""
    from sheetplan.workspace.folder import open_workspace

    ws = open_workspace(workspace)
    decimals = {m.key: m.decimals for m in ws.config.metrics}
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    sent = sorted((workspace / "outbox" / "month").rglob("*.xlsx"))
    for i, path in enumerate(sent):
        fill_return(path, folder / path.name, decimals, rng, comment=i % 5 == 0)
    return len(sent)


def _scale_run(root: Path, people: int) -> dict[str, Measurement]:
    """Plan seeding, generate month, ingest of every filled return, consolidate of the year: one workspace."""
    workspace = _timed_step(f"workspace files, {people} people", make_workspace, root / f"ws-{people}", people,
                            plan=False)
    steps = {"plan seeding": _timed_step("plan seeding", measure, "scale-seed", workspace=str(workspace))}
    steps["generate month"] = _timed_step("generate month", measure, "scale-generate", workspace=str(workspace))
    returned = root / f"returned-{people}"
    _timed_step("fill the returns", _fill_sent, workspace, returned)
    steps["ingest"] = _timed_step("ingest", measure, "ingest-sheetplan", workspace=str(workspace),
                                  folder=str(returned), write_report=False)
    shutil.rmtree(returned)
    _timed_step("the other months' reports, straight into the ledger", add_actuals, workspace)
    steps["consolidate"] = _timed_step("consolidate", measure, "consolidate-sheetplan", workspace=str(workspace))
    shutil.rmtree(workspace)
    return steps


def cmd_scale(args: argparse.Namespace) -> None:
    """A month at each head count: plan seeding, generate month, ingest of every return, consolidate; wall,
    CPU and peak memory per step, and how each grows with the head count."""
    sizes = sorted(set(args.people))
    results: dict[int, dict[str, Measurement]] = {}
    with tempfile.TemporaryDirectory(prefix="sheetplan-bench-") as tmp:
        for people in sizes:
            _note(f"bench scale: {people} people")
            results[people] = _scale_run(Path(tmp), people)
    print(f"scale: one month ({REPORT_MONTH} generated and ingested; the year consolidated) at "
          f"{', '.join(f'{p:,}' for p in sizes)} people, {os.cpu_count()} CPUs")
    steps = list(next(iter(results.values())))
    header = ["step", "people", "wall s", "CPU s", "others' CPUs", "peak MB", "worker peak MB", "wall per person ms"]
    body = []
    for step in steps:
        for people in sizes:
            m = results[people][step]
            if m.error:
                body.append([step, f"{people:,}", "failed:", m.error[:80], "", "", "", ""])
                continue
            body.append([step, f"{people:,}", _fmt(m.seconds), _fmt(m.cpu_seconds), _fmt(m.others_cpus),
                         _fmt(m.peak_mb, 0), _fmt(m.children_peak_mb, 0) if m.children_peak_mb else "-",
                         _fmt(1000 * m.seconds / people, 3)])
    widths = [max(len(r[i]) for r in (header, *body)) for i in range(len(header))]
    for r in (header, *body):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    print_busy([(f"{step} at {people}", results[people][step]) for step in steps for people in sizes])
    for people in sizes:
        made = results[people]["consolidate"]
        if not made.error:
            print(f"consolidate at {people:,}: {made.extra['facts']:,} fact rows over {made.extra['data_sheets']} "
                  f"sheet(s) of a {made.extra['data_mb']} MB data workbook; the summary {made.extra['summary_mb']} MB; "
                  f"{made.extra['team_books']} team workbooks")
    small, large = sizes[0], sizes[-1]
    if small == large:
        return
    for step in steps:
        a, b = results[small][step], results[large][step]
        if a.error or b.error:
            print(f"{step}: n/a (a run failed)")
            continue
        # CPU per person: the wall clock of a shared machine moves with the other programs
        growth = (b.cpu_seconds / large) / (a.cpu_seconds / small) - 1
        shape = "linear or better" if growth <= LINEAR_TOLERANCE else "WORSE than linear"
        memory = (b.peak_mb - a.peak_mb) / a.peak_mb
        print(f"{step}: CPU per person {small:,} → {large:,}: {growth:+.0%} ({shape}); peak memory "
              f"{a.peak_mb:.0f} → {b.peak_mb:.0f} MB ({memory:+.0%}"
              + (", flat" if memory <= FLAT_TOLERANCE else ", grows") + ")")
    final = results[large]["consolidate"]
    if not final.error:
        peak = max(final.peak_mb, final.children_peak_mb)
        verdict = "met" if final.seconds < SCALE_CONSOLIDATE_SECONDS and peak < SCALE_CONSOLIDATE_MB else "MISSED"
        print(f"consolidate at {large:,}: {final.seconds:.1f} s, peak {peak:.0f} MB   target < "
              f"{SCALE_CONSOLIDATE_SECONDS:g} s and < {SCALE_CONSOLIDATE_MB} MB: {verdict}")


SIDES = {
    "scale-seed": _seed_plan,
    "scale-generate": _generate_month,
    "actuals-sheetplan": _actuals_sheetplan,
    "collect-sheetplan": _collect_sheetplan,
    "collect-email": _collect_email_package,
    "generate-sheetplan": _generate_sheetplan,
    "generate-openpyxl": _generate_openpyxl,
    "plan-state": _plan_state_only,
    "ingest-sheetplan": _ingest_sheetplan,
    "ingest-pandas": _ingest_pandas,
    "ingest-calamine": _ingest_calamine,
    "consolidate-sheetplan": _consolidate_sheetplan,
    "consolidate-pandas": _consolidate_pandas,
}


def _count(text: str) -> int:
    value = int(text)
    if value < 4:  # the memory check runs a quarter of the workload
        raise argparse.ArgumentTypeError("must be at least 4")
    return value


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [CHILD_FLAG]:
        return _run_child(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help=cmd_generate.__doc__, description=cmd_generate.__doc__)
    gen.add_argument("--people", type=_count, default=2000, help="sellers in the workspace (default 2000)")
    gen.add_argument("--sample", type=_count, default=200, help="workbooks the openpyxl baseline writes (default 200)")
    gen.set_defaults(func=cmd_generate)
    ing = commands.add_parser("ingest", help=cmd_ingest.__doc__, description=cmd_ingest.__doc__)
    ing.add_argument("--files", type=_count, default=2000, help="returned workbooks to ingest (default 2000)")
    ing.set_defaults(func=cmd_ingest)
    con = commands.add_parser("consolidate", help=cmd_consolidate.__doc__, description=cmd_consolidate.__doc__)
    con.add_argument("--people", type=_count, default=2000, help="sellers in the workspace (default 2000)")
    con.set_defaults(func=cmd_consolidate)
    sca = commands.add_parser("scale", help=cmd_scale.__doc__, description=cmd_scale.__doc__)
    sca.add_argument("--people", type=_count, nargs="+", default=list(SCALE_PEOPLE),
                     help="head counts to run (default 2000 5000 20000)")
    sca.set_defaults(func=cmd_scale)
    col = commands.add_parser("collect", help=cmd_collect.__doc__, description=cmd_collect.__doc__)
    col.set_defaults(func=cmd_collect)
    act = commands.add_parser("actuals", help=cmd_actuals.__doc__, description=cmd_actuals.__doc__)
    act.add_argument("--lines", type=_count, default=1_000_000, help="CSV export lines (default 1,000,000)")
    act.add_argument("--xlsx-lines", type=int, default=200_000, help="xlsx export lines, 0 for none (default 200,000)")
    act.add_argument("--people", type=_count, default=200, help="sellers in the workspace (default 200)")
    act.set_defaults(func=cmd_actuals)
    args = parser.parse_args(argv)
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
