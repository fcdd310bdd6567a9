"""Templates in a real spreadsheet client: LibreOffice Calc (headless, through UNO) fills, recalculates, saves.

One soffice session serves the whole module (tests/uno_client.py, run by tests/localc.py). For each template
kind it opens the workbook, tries user writes on locked cells, fills every in_ block, recalculates and saves
an .xlsx; the tests then check the machine contract in LibreOffice's answers and in the saved file, read back
with openpyxl as the ingest side would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import localc
import openpyxl
import pytest

from sheetplan.api import generate, init_workspace
from sheetplan.workspace.folder import Workspace
from sheetplan.xlsx.layout import (
    COMMENT_BLOCK,
    INPUT_PREFIX,
    META_SHEET,
    REVISION_BLOCK,
    REVISION_MONTHS,
    REVISION_REASON,
    Area,
    canonical_form,
    canonical_value,
    sign,
)

YEAR = 2027
MONTH = "2027-03"
KINDS = ("company", "team", "person", "month")
# Text a salesperson might type: accents, CJK, a line break, and a leading "=" that must stay text.
COMMENTS = ("Großkunde verschoben, Q2 besser", "客户延期到四月", "two\nlines", "=SUM(1,2) is not a formula",
            "ok")
REASON = "Ein Großkunde ist weggefallen; 请调整目标."


@dataclass
class Book:
    """One workbook as openpyxl sees it: formulas (normal mode), cached values, names, _meta."""

    path: Path
    book: openpyxl.Workbook
    cached: openpyxl.Workbook
    names: dict[str, Area]
    meta: dict[str, object]

    def value(self, sheet: str, row: int, col: int, cached: bool = False):
        return (self.cached if cached else self.book)[sheet].cell(row + 1, col + 1).value

    def grid(self, name: str) -> list[list]:
        area = self.names[name]
        return [[self.value(area.sheet, r, c) for c in range(area.first_col, area.last_col + 1)]
                for r in range(area.first_row, area.last_row + 1)]

    def values(self, name: str) -> list:
        return [v for row in self.grid(name) for v in row]


def load(path: Path) -> Book:
    book = openpyxl.load_workbook(path)
    cached = openpyxl.load_workbook(path, data_only=True)
    names = {name: Area.parse(item.attr_text) for name, item in book.defined_names.items()}
    meta = {key: value for key, value in book[META_SHEET].iter_rows(max_col=2, values_only=True) if key}
    return Book(path, book, cached, names, meta)


def signature_of(book: Book, key: bytes) -> str:
    """The signature recomputed from what the file holds now (names as Sheet!A1:B2, non-in_ values)."""
    plain = {name: area.plain for name, area in book.names.items()}
    values = {name: book.values(name) for name in book.names if not name.startswith(INPUT_PREFIX)}
    return sign(key, canonical_form(book.meta, plain, values))


def spread(total: float, count: int, decimals: int) -> list[float]:
    """count distinct figures (weights 1..count) summing exactly to total at this many decimals."""
    scale = 10 ** decimals
    units = round(total * scale)
    weight = count * (count + 1) // 2
    parts = [units * (i + 1) // weight for i in range(count - 1)]
    parts.append(units - sum(parts))
    return [p / scale for p in parts]


@dataclass
class Case:
    """One template kind: the template, what the salesperson types, and where its results land."""

    kind: str
    template: Book
    saved_path: Path
    decimals: dict[str, int]
    inputs: dict[str, list[list]] = field(default_factory=dict)
    # label -> (ref, read before, write, read after): result indexes in the session
    refused: dict[str, tuple[str, int, int, int]] = field(default_factory=dict)
    ops: dict[str, int] = field(default_factory=dict)
    sheet_reads: dict[str, dict[str, int]] = field(default_factory=dict)  # stage -> sheet -> result index

    @property
    def metrics(self) -> list[str]:
        return [k for k in self.decimals if f"{INPUT_PREFIX}{k}" in self.template.names]

    def formula_cells(self, key: str) -> dict[str, tuple[str, int, int]]:
        """Where the builders put the recomputed figures for one metric (sheet, row, col; zero-based)."""
        names = self.template.names
        target, block = names[target_name(self.kind, key)], names[f"{INPUT_PREFIX}{key}"]
        if self.kind in ("company", "team"):  # total above the parent target, left to allocate below it
            return {"total": (target.sheet, target.first_row - 1, target.first_col),
                    "left": (target.sheet, target.first_row + 1, target.first_col)}
        if self.kind == "person":  # left to allocate beside the annual target, grand total bottom right
            return {"total": (target.sheet, block.last_row + 1, block.last_col + 1),
                    "left": (target.sheet, target.first_row, target.first_col + 3)}
        return {"variance": (block.sheet, block.first_row, block.first_col + 1),
                "total": (block.sheet, block.last_row + 1, block.first_col)}


def target_name(kind: str, key: str) -> str:
    """The company template's target is the VP's input; every other template's is a locked cell."""
    return f"in_company_{key}" if kind == "company" else f"target_{key}"


def _inputs(case: Case) -> dict[str, list[list]]:
    """Numbers for number blocks (summing to the target where there is one), text for text blocks."""
    book, out = case.template, {}
    for name, area in book.names.items():
        if not name.startswith(INPUT_PREFIX):
            continue
        rows, cols = area.last_row - area.first_row + 1, area.last_col - area.first_col + 1
        key = name[len(INPUT_PREFIX):]
        if name.startswith("in_company_"):  # the VP keeps the suggested company target
            out[name] = [list(book.values(name))]
        elif name == COMMENT_BLOCK:
            out[name] = [[COMMENTS[r % len(COMMENTS)]] for r in range(rows)]
        elif name == REVISION_REASON:  # a merged area: the text goes in its top-left cell
            out[name] = [[REASON if (r, c) == (0, 0) else None for c in range(cols)] for r in range(rows)]
        elif name == REVISION_BLOCK:
            out[name] = [[1000.0 * (r + 1)] for r in range(rows)]
        elif name == REVISION_MONTHS:
            out[name] = [[100.0 * (r + 1) + c for c in range(cols)] for r in range(rows)]
        elif case.kind == "month":
            targets = book.values(f"target_{key}")
            out[name] = [[round(t * (0.75 + 0.1 * r) + r, case.decimals[key])] for r, t in enumerate(targets)]
        else:
            figures = spread(book.values(target_name(case.kind, key))[0], rows * cols, case.decimals[key])
            out[name] = [figures[r * cols:(r + 1) * cols] for r in range(rows)]
    return out


def _refusals(case: Case) -> dict[str, tuple[str, list[list]]]:
    """Locked cells a salesperson might try to overwrite: a target, a header, a formula, _meta, the title."""
    names, key = case.template.names, case.metrics[0]
    # the company's own target is the VP's input: there the locked suggestions stand in for a locked target
    target = names[f"target_{key}"] if case.kind != "company" else names[f"locked_suggested_{key}"]
    rows = names[f"rows_{key}"]
    formula = case.formula_cells(key)["variance" if case.kind == "month" else "left"]
    instructions = case.template.book.sheetnames[0]
    signature_row = list(case.template.meta).index("signature")
    return {
        "target": (target.ref, [[1.0] * (target.last_col - target.first_col + 1)
                                for _ in range(target.last_row - target.first_row + 1)]),
        "rows header": (rows.ref, [["hacked"]] * (rows.last_row - rows.first_row + 1)),
        "formula": (Area(formula[0], formula[1], formula[2], formula[1], formula[2]).ref, [[0.0]]),
        "meta signature": (Area(META_SHEET, signature_row, 1, signature_row, 1).ref, [["forged"]]),
        "instructions title": (Area(instructions, 0, 0, 0, 0).ref, [["hacked"]]),
    }


def _sheet_refs(book: Book) -> dict[str, str]:
    return {ws.title: Area(ws.title, 0, 0, ws.max_row - 1, ws.max_column - 1).ref
            for ws in book.book.worksheets if ws.title != META_SHEET}


@dataclass
class Office:
    workspace: Workspace
    cases: dict[str, Case]
    session: localc.Session
    pdf: Path
    pdf_op: int


@pytest.fixture(scope="module")
def office(tmp_path_factory) -> Office:
    try:
        localc.require()
    except localc.LibreOfficeError as exc:
        pytest.fail(f"the LibreOffice tests need soffice and python3-uno: {exc}", pytrace=False)
    root = tmp_path_factory.mktemp("lo")
    workspace = init_workspace(root / "ws", demo=True, year=YEAR)
    seller = next(p for p in workspace.roster.sellers(workspace.config) if not p.start_month and not p.end_month)
    files = {
        "company": generate(workspace, "company").files[0],
        "team": generate(workspace, "team", only=[workspace.roster.teams[0]]).files[0],
        "person": generate(workspace, "person", only=[seller.person_id]).files[0],
        "month": generate(workspace, "month", month=MONTH, only=[seller.person_id]).files[0],
    }
    decimals = {m.key: m.decimals for m in workspace.config.metrics}
    session, cases = localc.Session(), {}
    pdf = root / "month.pdf"
    pdf_op = -1
    for kind, path in files.items():
        case = Case(kind, load(path), root / "saved" / f"{kind}.xlsx", decimals)
        case.inputs = _inputs(case)
        refs = _sheet_refs(case.template)
        session.open(path, kind)
        case.ops["sheets"] = session.sheets(kind)
        case.ops["names"] = session.names(kind)
        case.ops["unlocked"] = session.unlocked(kind)
        case.sheet_reads["open"] = {s: session.read(ref, doc=kind) for s, ref in refs.items()}
        session.recalc(kind)
        case.sheet_reads["recalc"] = {s: session.read(ref, doc=kind) for s, ref in refs.items()}
        for label, (ref, values) in _refusals(case).items():
            case.refused[label] = (ref, session.read(ref, doc=kind), session.write(values, ref, doc=kind),
                                   session.read(ref, doc=kind))
        case.ops["fill"] = session.fill(case.inputs, kind)
        session.recalc(kind)
        case.sheet_reads["filled"] = {s: session.read(ref, doc=kind) for s, ref in refs.items()}
        session.save_xlsx(case.saved_path, kind)
        if kind == "month":
            pdf_op = session.save_pdf(pdf, kind)
        session.close(kind)
        cases[kind] = case
    try:
        session.run(timeout=180)
    except localc.LibreOfficeError as exc:
        pytest.fail(str(exc), pytrace=False)
    return Office(workspace, cases, session, pdf, pdf_op)


@pytest.fixture(params=KINDS)
def case(request, office) -> Case:
    return office.cases[request.param]


@pytest.fixture
def saved(case) -> Book:
    return load(case.saved_path)


def lo_value(office: Office, case: Case, stage: str, sheet: str, row: int, col: int):
    """A cell as LibreOffice showed it at one stage ('open', 'recalc', 'filled'); empty is None."""
    values = office.session[case.sheet_reads[stage][sheet]]["values"]
    value = values[row][col] if row < len(values) and col < len(values[row]) else ""
    return None if value == "" else value


def same(left, right, decimals: int = 6) -> bool:
    """Equal as the signature sees values: numbers to 6 decimals, empty as empty."""
    return canonical_value(left) == canonical_value(right) or (
        isinstance(left, (int, float)) and isinstance(right, (int, float))
        and round(float(left), decimals) == round(float(right), decimals))


def rules(sheet) -> list[tuple]:
    """A sheet's data validations, compared by meaning: xlsxwriter leaves out the defaults 'between' and
    'stop' that LibreOffice spells out, and writes a bound as 50000000.0 where LibreOffice writes 50000000."""
    def bound(text: str | None) -> str | None:
        try:
            return canonical_value(float(text))
        except (TypeError, ValueError):
            return text

    return sorted((v.type, v.operator or "between", v.errorStyle or "stop", bool(v.allow_blank), str(v.sqref),
                   bound(v.formula1), bound(v.formula2), v.promptTitle, v.prompt, v.errorTitle, v.error)
                  for v in sheet.data_validations.dataValidation)


def cells(ref: str) -> set[tuple[str, int, int]]:
    area = Area.parse(ref)
    return {(area.sheet, r, c) for r, c in area.cells()}


# -- in LibreOffice ---------------------------------------------------------------------------------


def test_libreoffice_sees_every_sheet_protected_and_meta_hidden(office, case):
    sheets = office.session[case.ops["sheets"]]["sheets"]
    assert [s["name"] for s in sheets] == case.template.book.sheetnames
    assert all(s["protected"] for s in sheets), sheets
    assert {s["name"] for s in sheets if not s["visible"]} == {META_SHEET}


def test_libreoffice_resolves_every_defined_name(office, case):
    names = office.session[case.ops["names"]]["names"]
    assert {n: v["ref"] for n, v in names.items()} == {n: a.plain for n, a in case.template.names.items()}


def test_only_input_blocks_are_unlocked_on_data_sheets(office, case):
    instructions = case.template.book.sheetnames[0]
    unlocked = set().union(*(cells(r) for r in office.session[case.ops["unlocked"]]["ranges"]))
    inputs = set().union(*(cells(a.plain) for n, a in case.template.names.items() if n.startswith(INPUT_PREFIX)))
    assert {c for c in unlocked if c[0] != instructions} == inputs


def test_instructions_sheet_has_no_unlocked_cell(office, case):
    instructions = case.template.book.sheetnames[0]
    ranges = office.session[case.ops["unlocked"]]["ranges"]
    assert [r for r in ranges if Area.parse(r).sheet == instructions] == []


def test_writes_to_locked_cells_are_refused_and_change_nothing(office, case):
    for label, (ref, before, write, after) in case.refused.items():
        assert office.session[write]["accepted"] is False, f"{case.kind}: a write to the {label} ({ref}) went in"
        assert office.session[after]["values"] == office.session[before]["values"], f"{case.kind}: {label}"


def test_every_input_block_accepts_a_users_write(office, case):
    fill = office.session[case.ops["fill"]]
    assert set(fill["blocks"]) == {n for n in case.template.names if n.startswith(INPUT_PREFIX)}
    assert fill["accepted"], fill["blocks"]


def test_cached_values_on_open_are_what_libreoffice_computes(office, case):
    """LibreOffice shows an xlsx's cached formula results until something recalculates, so they must be right."""
    wrong = []
    for sheet in case.sheet_reads["open"]:
        before = office.session[case.sheet_reads["open"][sheet]]["values"]
        after = office.session[case.sheet_reads["recalc"][sheet]]["values"]
        wrong += [(sheet, r, c, b, after[r][c]) for r, row in enumerate(before) for c, b in enumerate(row)
                  if not same(b, after[r][c], 2)]
    assert wrong == [], f"{case.kind}: cached values differ from the recalculated ones: {wrong[:5]}"


def test_recalculated_totals_follow_the_inputs(office, case):
    for key in case.metrics:
        places = case.decimals[key]
        spots = case.formula_cells(key)
        for label, (sheet, row, col) in spots.items():
            assert str(case.template.value(sheet, row, col)).startswith("="), f"{case.kind} {key}: {label} moved"
        typed = [v for row in case.inputs[f"{INPUT_PREFIX}{key}"] for v in row]
        shown = {label: lo_value(office, case, "filled", *spot) for label, spot in spots.items()}
        if case.kind == "month":
            targets = case.template.values(f"target_{key}")
            block = case.template.names[f"{INPUT_PREFIX}{key}"]
            for r, (actual, target) in enumerate(zip(typed, targets, strict=True)):
                variance = lo_value(office, case, "filled", block.sheet, block.first_row + r, block.first_col + 1)
                assert variance == pytest.approx(actual - target, abs=1e-6)
            assert shown["total"] == pytest.approx(sum(typed), abs=1e-6)
        else:
            target = case.template.values(target_name(case.kind, key))[0]
            assert sum(typed) == pytest.approx(target, abs=10 ** -places / 2)
            assert shown["left"] == 0, f"{case.kind} {key}: left to allocate after filling the target exactly"
            assert shown["total"] == pytest.approx(target, abs=10 ** -places / 2)
        if case.kind == "company":  # the share column divides each team's figure by the total
            block = case.template.names[f"{INPUT_PREFIX}{key}"]
            for r, value in enumerate(typed):
                share = lo_value(office, case, "filled", block.sheet, block.first_row + r, block.first_col + 1)
                assert share == pytest.approx(value / sum(typed), abs=1e-9)


def test_libreoffice_exports_the_month_template_as_pdf(office):
    result = office.session[office.pdf_op]
    assert result["ok"] and result["bytes"] > 1000
    assert office.pdf.read_bytes()[:5] == b"%PDF-"


# -- in the .xlsx LibreOffice saved, read back with openpyxl ------------------------------------------


def test_saved_inputs_hold_what_was_typed(case, saved):
    for name, typed in case.inputs.items():
        got = saved.grid(name)
        for r, row in enumerate(typed):
            for c, value in enumerate(row):
                if isinstance(value, float):
                    assert got[r][c] == pytest.approx(value, abs=1e-9), (name, r, c)
                else:
                    assert got[r][c] == value, (name, r, c)


def test_saved_locked_values_are_unchanged(case, saved):
    for name in case.template.names:
        if not name.startswith(INPUT_PREFIX):
            before = [canonical_value(v) for v in case.template.values(name)]
            assert [canonical_value(v) for v in saved.values(name)] == before, name


def test_saved_names_sheets_and_protection_survive(case, saved):
    assert {n: a.plain for n, a in saved.names.items()} == {n: a.plain for n, a in case.template.names.items()}
    assert saved.book.sheetnames == case.template.book.sheetnames
    # LibreOffice has no 'very hidden': _meta comes back 'hidden', which a user can unhide but not edit.
    assert saved.book[META_SHEET].sheet_state != "visible"
    assert all(ws.sheet_state == "visible" for ws in saved.book.worksheets if ws.title != META_SHEET)
    for ws in saved.book.worksheets:
        original = case.template.book[ws.title].protection
        assert ws.protection.sheet, f"{ws.title} lost its protection"
        # Same legacy password hash (LibreOffice writes its hex in lower case).
        assert (ws.protection.password or "").upper() == (original.password or "").upper(), ws.title
    assert saved.meta == case.template.meta


def test_saved_signature_still_matches(office, case, saved):
    key = office.workspace.key
    assert signature_of(case.template, key) == case.template.meta["signature"]  # the recomputation is right
    assert signature_of(saved, key) == saved.meta["signature"]


def test_saved_formulas_formats_and_validations_survive(case, saved):
    for ws in case.template.book.worksheets:
        out = saved.book[ws.title]
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and cell.value.startswith("="):
                    assert out[cell.coordinate].value == cell.value, (ws.title, cell.coordinate)
        assert rules(out) == rules(ws), ws.title
    for name, area in case.template.names.items():
        if name.startswith((INPUT_PREFIX, "target_")):
            for r, c in area.cells():
                before = case.template.book[area.sheet].cell(r + 1, c + 1)
                after = saved.book[area.sheet].cell(r + 1, c + 1)
                typed = case.inputs[name][r - area.first_row][c - area.first_col] if name in case.inputs else None
                if isinstance(typed, str) and typed.startswith("="):
                    # LibreOffice keeps text that looks like a formula as text by giving the cell the '@' format.
                    assert after.number_format == "@", (name, r, c)
                else:
                    assert after.number_format == before.number_format, (name, r, c)
                assert after.protection.locked == before.protection.locked, (name, r, c)


def test_saved_cached_values_are_recomputed(case, saved):
    """LibreOffice writes the results it computed, so even a reader of cached values sees the filled state."""
    for key in case.metrics:
        spots = case.formula_cells(key)
        typed = [v for row in case.inputs[f"{INPUT_PREFIX}{key}"] for v in row]
        assert saved.value(*spots["total"], cached=True) == pytest.approx(sum(typed), abs=1e-6)
        if "left" in spots:
            assert saved.value(*spots["left"], cached=True) == 0
