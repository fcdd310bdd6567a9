"""Generated templates read back with openpyxl and checked by meaning: protection, input blocks, validations,
_meta and its signature, names, print setup, labels, file names, the stamper, and the stored allocation."""

from __future__ import annotations

import functools
import io
import re
import string
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape

import openpyxl
import pytest
from openpyxl.utils.cell import get_column_letter, range_boundaries
from openpyxl.utils.protection import hash_password

from sheetplan import api
from sheetplan.templates import builders
from sheetplan.templates.stamp import Stamper, shape_key
from sheetplan.workspace.labels import catalogue as installed_catalogue
from sheetplan.workspace.store import Store
from sheetplan.xlsx import layout, writer

YEAR = 2027
MONTH = "2027-03"
RUNS = (("company", None), ("team", None), ("person", None), ("month", MONTH))
KINDS = tuple(kind for kind, _ in RUNS)
REQUIRED_META = ("kind", "owner", "period", "fiscal_year", "template_version", "generated_at", "workspace_id",
                 "revision", "signature")
YYYY_MM = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@functools.cache
def catalogue(lang: str) -> dict[str, dict[str, str]]:
    return installed_catalogue(lang)


def label(lang: str, key: str) -> str:
    section, _, name = key.partition(".")
    return catalogue(lang)[section][name]


# --- building the workspaces once per module ----------------------------------------------------------


class Book:
    """One generated workbook, loaded once, with what the checks read from it most."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name
        self.book = openpyxl.load_workbook(path)
        self.names = names(self.book)
        self.meta = meta(self.book)

    @functools.cached_property
    def texts(self) -> set[str]:
        return {c.value for ws in self.book.worksheets for row in ws.iter_rows() for c in row
                if isinstance(c.value, str)}

    def values(self, name: str) -> list:
        sheet, ref = self.names[name]
        return [self.book[sheet].cell(r, c).value for r, c in cells(ref)]


@dataclass
class Generated:
    lang: str
    ws: object  # sheetplan.workspace.folder.Workspace
    files: dict[str, list[Path]]
    books: dict[str, list[Book]] = field(default_factory=dict)


def _generate(root: Path, lang: str, people: int | None = None) -> Generated:
    """A demo workspace with every kind generated; `people` limits person and month templates to the first few
    sellers (the same code writes every one of them; the limit keeps the second language quick)."""
    ws = api.init_workspace(root, demo=True, year=YEAR, lang=lang)
    only = None
    if people:
        only = [p.person_id for p in ws.roster.sellers(ws.config) if not p.start_month][:people]
    files = {kind: api.generate(ws, kind, month=month, only=only if kind in ("person", "month") else None).files
             for kind, month in RUNS}
    return Generated(lang, ws, files, {kind: [Book(path) for path in paths] for kind, paths in files.items()})


@pytest.fixture(scope="module")
def en(tmp_path_factory) -> Generated:
    return _generate(tmp_path_factory.mktemp("en") / "ws", "en")


@pytest.fixture(scope="module")
def zh(tmp_path_factory) -> Generated:
    return _generate(tmp_path_factory.mktemp("zh") / "ws", "zh", people=4)


@pytest.fixture(params=["en", "zh"])
def run(request) -> Generated:
    return request.getfixturevalue(request.param)


def books_of(run: Generated, kind: str) -> list[Book]:
    books = run.books[kind]
    assert books, f"no {kind} workbooks were generated"
    return books


# --- reading a workbook -------------------------------------------------------------------------------


def names(book) -> dict[str, tuple[str, str]]:
    """Every workbook-level defined name as (sheet, 'A1:B2' without $)."""
    out = {}
    for name, defined in book.defined_names.items():
        destinations = list(defined.destinations)
        assert len(destinations) == 1, f"{name} must point at one range"
        sheet, ref = destinations[0]
        out[name] = (sheet, ref.replace("$", ""))
    return out


def cells(ref: str) -> list[tuple[int, int]]:
    """(row, col), 1-based, row-major."""
    min_col, min_row, max_col, max_row = range_boundaries(ref)
    return [(r, c) for r in range(min_row, max_row + 1) for c in range(min_col, max_col + 1)]


def coordinate(row: int, col: int) -> str:
    return f"{get_column_letter(col)}{row}"


def meta(book) -> dict[str, str]:
    sheet = book[layout.META_SHEET]
    return {row[0]: row[1] for row in sheet.iter_rows(values_only=True) if row[0] is not None}


def recomputed_signature(book, key: bytes) -> str:
    """The signature as a reader computes it: meta, names as plain refs, values of every non-input name."""
    defined = names(book)
    plain = {name: f"{sheet}!{ref}" for name, (sheet, ref) in defined.items()}
    signed = {name: [book[sheet].cell(r, c).value for r, c in cells(ref)]
              for name, (sheet, ref) in defined.items() if not name.startswith(layout.INPUT_PREFIX)}
    return layout.sign(key, layout.canonical_form(meta(book), plain, signed))


def data_sheets(book):
    """The sheets a recipient works in: everything but the instructions and _meta."""
    return [ws for ws in book.worksheets[1:] if ws.title != layout.META_SHEET]


def workspace_key(run: Generated) -> bytes:
    return bytes.fromhex((run.ws.root / ".sheetplan" / "key").read_text().strip())


# --- structure of every workbook ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_every_sheet_is_protected_with_the_workspace_password(run, kind):
    expected = hash_password(run.ws.password)
    wrong = [(b.name, ws.title) for b in books_of(run, kind) for ws in b.book.worksheets
             if not ws.protection.sheet or ws.protection.password != expected]
    assert wrong == []
    assert all(layout.META_SHEET in b.book.sheetnames for b in books_of(run, kind))


@pytest.mark.parametrize("kind", KINDS)
def test_unlocked_cells_are_exactly_the_input_blocks(run, kind):
    for b in books_of(run, kind):
        unlocked = {(ws.title, c.coordinate) for ws in b.book.worksheets for row in ws.iter_rows() for c in row
                    if not c.protection.locked}
        inputs = {(sheet, coordinate(r, c)) for name, (sheet, ref) in b.names.items()
                  if name.startswith(layout.INPUT_PREFIX) for r, c in cells(ref)}
        assert inputs, b.name
        assert unlocked - inputs == set(), f"{b.name}: unlocked cells outside every in_ block"
        assert inputs - unlocked == set(), f"{b.name}: locked cells inside an in_ block"


def expected_validation(config, name: str, position: int, teams: int = 1) -> tuple[str, float]:
    """(openpyxl validation type, upper bound) an input cell needs; `position` is its row in the block."""
    if name in (layout.COMMENT_BLOCK, layout.REVISION_REASON):
        return "textLength", layout.MAX_TEXT
    one_row_per_metric = (layout.REVISION_BLOCK, layout.REVISION_MONTHS)
    key = name[3:].removeprefix("company_")  # in_company_<metric>: the company target the VP types
    metric = config.metrics[position] if name in one_row_per_metric else config.metric(key)
    bound = metric.max_value * (teams if name.startswith("in_company_") else 1)  # a total of one cell per team
    return ("whole" if metric.decimals == 0 else "decimal"), bound


@pytest.mark.parametrize("kind", KINDS)
def test_every_input_cell_has_one_validation_of_the_right_type(run, kind):
    config, wrong = run.ws.config, []
    for b in books_of(run, kind):
        for name, (sheet, ref) in b.names.items():
            if not name.startswith(layout.INPUT_PREFIX):
                continue
            first_row = range_boundaries(ref)[1]
            rules_here = b.book[sheet].data_validations.dataValidation
            for r, c in cells(ref):
                where = (b.name, sheet, coordinate(r, c))
                rules = [dv for dv in rules_here if coordinate(r, c) in dv.sqref]
                if len(rules) != 1:
                    wrong.append((*where, f"{len(rules)} validations"))
                    continue
                rule = rules[0]
                kind_needed, maximum = expected_validation(config, name, r - first_row, len(run.ws.roster.teams))
                if rule.type != kind_needed:
                    wrong.append((*where, f"type {rule.type}, expected {kind_needed}"))
                if rule.operator not in (None, "between") or float(rule.formula1) != 0 \
                        or float(rule.formula2) != maximum:
                    wrong.append((*where, f"bounds {rule.operator} {rule.formula1}..{rule.formula2}"))
                if not (rule.showInputMessage and rule.prompt and rule.promptTitle):
                    wrong.append((*where, "no input message"))
                if not (rule.showErrorMessage and rule.error and rule.errorTitle) \
                        or rule.errorStyle not in (None, "stop"):
                    wrong.append((*where, "no stop alert"))
    assert wrong == []


@pytest.mark.parametrize("kind", KINDS)
def test_meta_sheet_is_very_hidden_and_complete(run, kind):
    workspace_id = (run.ws.root / ".sheetplan" / "workspace_id").read_text().strip()
    period = MONTH if kind == "month" else str(YEAR)
    owners = []
    for b in books_of(run, kind):
        found = b.meta
        assert b.book[layout.META_SHEET].sheet_state == "veryHidden", b.name
        assert set(REQUIRED_META) <= set(found), b.name
        assert all(isinstance(found[k], str) and found[k] for k in REQUIRED_META), b.name
        assert (found["kind"], found["period"], found["fiscal_year"]) == (kind, period, str(YEAR))
        assert found["workspace_id"] == workspace_id
        assert found["template_version"] == str(layout.TEMPLATE_VERSION)
        assert int(found["revision"]) >= 1
        assert datetime.fromisoformat(found["generated_at"]).tzinfo is not None
        assert re.fullmatch(r"[0-9a-f]{64}", found["signature"])
        assert found["owner"] in b.name
        owners.append(found["owner"])
    assert len(owners) == len(set(owners)), "one workbook per recipient"


@pytest.mark.parametrize("kind", KINDS)
def test_signature_recomputed_from_the_workbook_matches(run, kind):
    key = workspace_key(run)
    wrong = [b.name for b in books_of(run, kind) if recomputed_signature(b.book, key) != b.meta["signature"]]
    assert wrong == []


@pytest.mark.parametrize("kind", KINDS)
def test_changing_one_locked_value_breaks_the_signature_but_typing_an_input_does_not(en, kind):
    key = workspace_key(en)
    book = openpyxl.load_workbook(en.files[kind][0])  # a private copy: the shared books stay untouched
    defined = names(book)
    signed = meta(book)["signature"]

    def still_signed(prefix: str, change) -> bool:
        name = next(n for n in defined if n.startswith(prefix) and n not in (layout.COMMENT_BLOCK,
                                                                             layout.REVISION_REASON))
        sheet, ref = defined[name]
        cell = book[sheet].cell(*cells(ref)[0])
        before = cell.value
        cell.value = change(before)
        try:
            return recomputed_signature(book, key) == signed
        finally:
            cell.value = before

    # the company's target is the VP's input (in_company_<metric>); every other target is locked and signed
    target = "in_company_" if kind == "company" else "target_"
    assert still_signed(target, lambda v: v)  # untouched: the copy is signed as generated
    assert still_signed(target, lambda v: (v or 0) + 1) == (kind == "company")
    assert not still_signed("rows_", lambda v: f"{v} (edited)")
    if any(n.startswith("locked_") for n in defined):
        assert not still_signed("locked_", lambda v: (v or 0) + 0.01)
    assert still_signed("in_", lambda v: (v or 0) + 1)


@pytest.mark.parametrize("kind", KINDS)
def test_every_metric_has_a_target_name(run, kind):
    """The company template's target is an input the VP types (in_company_<metric>); the others are locked."""
    prefix = "in_company_" if kind == "company" else "target_"
    expected = {f"{prefix}{m.key}" for m in run.ws.config.metrics}
    missing = [(b.name, sorted(expected - set(b.names))) for b in books_of(run, kind) if not expected <= set(b.names)]
    assert missing == []


def test_person_months_are_headed_yyyy_mm_in_fiscal_order(run):
    months = run.ws.config.months
    assert all(YYYY_MM.match(m) for m in months)
    for b in books_of(run, "person"):
        for metric in run.ws.config.metrics:
            assert b.values(f"cols_{metric.key}") == months, (b.name, metric.key)
            sheet, ref = b.names[f"cols_{metric.key}"]
            in_sheet, in_ref = b.names[f"in_{metric.key}"]
            # the month headings sit right above the input grid, one per column
            assert sheet == in_sheet
            assert range_boundaries(ref)[0::2] == range_boundaries(in_ref)[0::2]
            assert range_boundaries(ref)[1] == range_boundaries(in_ref)[1] - 1


def _sellers(run: Generated, team: str | None = None) -> list[str]:
    config = run.ws.config
    return [p.person_id for p in run.ws.roster.people
            if p.active and p.role in config.selling_roles and (team is None or p.team == team)]


def _teams(run: Generated) -> list[str]:
    return list(dict.fromkeys(p.team for p in run.ws.roster.people if p.team and p.role not in ("vp", "gm")))


@pytest.mark.parametrize("kind", KINDS)
def test_row_headers_follow_config_and_roster(run, kind):
    config, roster = run.ws.config, run.ws.roster
    for b in books_of(run, kind):
        if kind == "company":
            expected = _teams(run)
        elif kind == "team":
            expected = _sellers(run, roster.get(b.meta["owner"]).team)
        else:
            expected = list(config.customer_groups)
        for metric in config.metrics:
            assert b.values(f"rows_{metric.key}") == expected, (b.name, metric.key)
        if kind == "month":
            assert b.values("rows_comment") == list(config.customer_groups)
            assert b.values("rows_revision") == [m.label(run.lang) for m in config.metrics]


def test_there_is_a_workbook_for_every_recipient(en):
    run = en
    config, roster = run.ws.config, run.ws.roster
    owners = {kind: sorted(b.meta["owner"] for b in books_of(run, kind)) for kind in KINDS}
    assert owners["company"] == [next(p.person_id for p in roster.people if p.role == "vp" and p.active)]
    assert owners["team"] == sorted(p.person_id for p in roster.people if p.role == "manager" and p.active)
    assert owners["person"] == sorted(_sellers(run))
    in_march = [p.person_id for p in roster.people if p.active and p.role in config.selling_roles
                and (p.start_month or MONTH) <= MONTH <= (p.end_month or MONTH)]
    assert owners["month"] == sorted(in_march)


@pytest.mark.parametrize("kind", KINDS)
def test_panes_are_frozen_below_the_headers_and_right_of_the_row_keys(run, kind):
    wrong = []
    for b in books_of(run, kind):
        first_rows: dict[str, set[int]] = {}
        for name, (sheet, ref) in b.names.items():
            if name.startswith("rows_"):
                first_rows.setdefault(sheet, set()).add(range_boundaries(ref)[1])
        for ws in data_sheets(b.book):
            expected = {f"B{row}" for row in first_rows.get(ws.title, ())}
            if ws.freeze_panes not in expected:
                wrong.append((b.name, ws.title, ws.freeze_panes, sorted(expected)))
    assert wrong == []


@pytest.mark.parametrize("kind", KINDS)
def test_print_setup_landscape_one_page_wide_with_the_owner_in_the_header(run, kind):
    wrong = []
    for b in books_of(run, kind):
        owner = b.meta["owner"]
        for ws in b.book.worksheets:
            if ws.title == layout.META_SHEET:
                continue
            header = "".join(part.text or "" for part in (ws.oddHeader.left, ws.oddHeader.center, ws.oddHeader.right))
            # fitToWidth is left out of the file when it is 1, the OOXML default
            setup = (ws.page_setup.orientation, ws.sheet_properties.pageSetUpPr.fitToPage,
                     ws.page_setup.fitToWidth in (None, 1), ws.page_setup.fitToHeight in (0, "0"), owner in header)
            if setup != ("landscape", True, True, True, True):
                wrong.append((b.name, ws.title, setup))
    assert wrong == []


@pytest.mark.parametrize("kind", KINDS)
def test_instructions_come_first_in_the_workbook_language(run, kind):
    expected = label(run.lang, "common.instructions_sheet")
    steps = {label(run.lang, f"instructions.step_{i}") for i in range(1, 6)}
    for b in books_of(run, kind):
        assert b.book.sheetnames[0] == expected, b.name
        assert b.book.active.title == expected, b.name
        assert b.book.sheetnames[-1] == layout.META_SHEET
        assert steps <= b.texts, b.name


def _fixed_labels(lang: str) -> set[str]:
    """Catalogue texts without placeholders that differ between the two languages. An English entry that is
    the machine key itself (a status, a code, a column name shown as stored) is no label of a language:
    `_meta` holds such keys in every template."""
    this, other = catalogue(lang), catalogue("zh" if lang == "en" else "en")
    return {text for section, entries in this.items() for key, text in entries.items()
            if "{" not in text and text != other[section][key]
            and catalogue("en")[section][key].replace(" ", "_") not in (key, key.partition("_")[2])}


@pytest.mark.parametrize("kind", KINDS)
def test_labels_come_from_the_catalogue_of_the_workspace_language(run, kind):
    other = "zh" if run.lang == "en" else "en"
    mine, foreign = _fixed_labels(run.lang), _fixed_labels(other)
    left_mine, left_other = label(run.lang, "common.left_to_allocate"), label(other, "common.left_to_allocate")
    prompts = {label(run.lang, "common.validation_title"), label(run.lang, "common.validation_text_title")}
    for b in books_of(run, kind):
        found = b.texts
        assert found & foreign == set(), b.name
        if kind != "company":  # the company sheet says "Company total" instead
            assert label(run.lang, "common.total") in found, b.name
        if kind != "month":
            assert left_mine in found, b.name
        assert not any(left_other in text for text in found), b.name
        assert len(found & mine) >= 8, b.name
        titles = {dv.promptTitle for ws in b.book.worksheets for dv in ws.data_validations.dataValidation}
        assert titles <= prompts, b.name


@pytest.mark.parametrize("kind", KINDS)
def test_page_footer_comes_from_the_label_catalogue(run, kind):
    expected = label(run.lang, "common.print_page")
    wrong = []
    for b in books_of(run, kind):
        for ws in b.book.worksheets:
            if ws.title == layout.META_SHEET:
                continue
            footer = "".join(p.text or "" for p in (ws.oddFooter.left, ws.oddFooter.center, ws.oddFooter.right))
            if footer != expected:
                wrong.append((b.name, ws.title, footer))
    assert wrong == [], f"footers should read {expected!r}"


def test_label_catalogues_have_the_same_keys_and_placeholders():
    en, zh = catalogue("en"), catalogue("zh")

    def shape(data):
        return {f"{section}.{key}": sorted(f for _, f, _, _ in string.Formatter().parse(text) if f)
                for section, entries in data.items() for key, text in entries.items()}

    assert shape(en).keys() == shape(zh).keys()
    assert shape(en) == shape(zh)


@pytest.mark.parametrize("kind", ["company", "team", "person"])
def test_left_to_allocate_is_a_formula_over_target_and_inputs(run, kind):
    text = label(run.lang, "common.left_to_allocate")
    for b in books_of(run, kind):
        for ws in data_sheets(b.book):
            prefix = "in_company_" if kind == "company" else "target_"
            key = next(n[len(prefix):] for n, (sheet, _) in b.names.items()
                       if sheet == ws.title and n.startswith(prefix))
            target = b.names[f"{prefix}{key}"][1]
            grid = b.names[f"in_{key}"][1]
            label_cell = next(c for row in ws.iter_rows() for c in row if c.value == text)
            formula = next(c.value for c in ws[label_cell.row] if c.column > label_cell.column
                           and isinstance(c.value, str) and c.value.startswith("="))
            refs = re.findall(r"[A-Z]{1,3}[0-9]+(?::[A-Z]{1,3}[0-9]+)?", formula)
            assert target in refs, (b.name, ws.title, formula)
            summed = {cell for ref in refs if ref != target for cell in _summed_cells(ws, ref)}
            assert summed == set(cells(grid)), (b.name, ws.title, formula)


def _summed_cells(ws, ref: str) -> set[tuple[int, int]]:
    """The input cells a reference adds up, following SUM formulas through total cells."""
    out = set()
    for r, c in cells(ref):
        value = ws.cell(r, c).value
        match = re.fullmatch(r"=SUM\(([A-Z]+[0-9]+:[A-Z]+[0-9]+)\)", value) if isinstance(value, str) else None
        out |= _summed_cells(ws, match.group(1)) if match else {(r, c)}
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_no_macros_or_external_parts(run, kind):
    for b in books_of(run, kind):
        assert b.path.suffix == ".xlsx"
        with zipfile.ZipFile(b.path) as archive:
            listing = archive.namelist()
            content_types = archive.read("[Content_Types].xml").decode()
        assert not [n for n in listing if "vbaProject" in n or "externalLink" in n or n.endswith(".bin")], b.name
        assert "macroEnabled" not in content_types


# --- template figures are the stored plan ------------------------------------------------------------------


def _stored(ws) -> dict[tuple[str, str, str, str, str], float]:
    with Store(ws.private / "plan.sqlite") as store:
        return {(r.level, r.owner, r.period, r.metric, r.customer_group): r.value for r in store.current_targets()}


def test_company_and_person_workbooks_show_the_stored_plan(en):
    stored, fy = _stored(en.ws), str(YEAR)
    (company,) = books_of(en, "company")
    for metric in en.ws.config.metrics:
        teams = company.values(f"rows_{metric.key}")
        assert company.values(f"in_{metric.key}") == [stored[("team", t, fy, metric.key, "")] for t in teams]
        assert company.values(f"in_company_{metric.key}") == [stored[("company", "", fy, metric.key, "")]]
    for b in books_of(en, "person"):
        owner = b.meta["owner"]
        for metric in en.ws.config.metrics:
            assert b.values(f"target_{metric.key}") == [stored[("person", owner, fy, metric.key, "")]]
            expected = [stored.get(("person", owner, month, metric.key, group), 0.0)
                        for group in en.ws.config.customer_groups for month in en.ws.config.months]
            assert b.values(f"in_{metric.key}") == expected, (b.name, metric.key)


# --- allocation as stored after init --demo -----------------------------------------------------------------


def _units(value: float, decimals: int) -> int:
    scaled = round(value * 10**decimals)
    assert abs(value * 10**decimals - scaled) < 1e-6, f"{value!r} has more than {decimals} decimals"
    return scaled


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_stored_suggestions_add_up_at_every_level(request, lang):
    run = request.getfixturevalue(lang)
    config, stored, fy = run.ws.config, _stored(run.ws), str(YEAR)
    teams = _teams(run)
    for metric in config.metrics:
        key, d = metric.key, metric.decimals
        assert all(v >= 0 for (_, _, _, m, _), v in stored.items() if m == key)
        company = _units(stored[("company", "", fy, key, "")], d)
        assert company > 0
        assert sum(_units(stored[("team", t, fy, key, "")], d) for t in teams) == company, key
        for team in teams:
            people = _sellers(run, team)
            split = sum(_units(stored.get(("person", p, fy, key, ""), 0.0), d) for p in people)
            assert split == _units(stored[("team", team, fy, key, "")], d), (key, team)
        for person in _sellers(run):
            grid = [_units(stored.get(("person", person, m, key, g), 0.0), d)
                    for m in config.months for g in config.customer_groups]
            assert sum(grid) == _units(stored[("person", person, fy, key, "")], d), (key, person)


def test_new_hires_and_the_leaver_get_nothing_outside_their_months(en):
    config, stored = en.ws.config, _stored(en.ws)
    months = config.months
    hires = [p for p in en.ws.roster.people if p.active and p.start_month and p.start_month > months[0]]
    leavers = [p for p in en.ws.roster.people if p.active and p.end_month and p.end_month < months[-1]]
    assert hires and leavers, "the demo has new hires and a leaver"
    for person in hires + leavers:
        for metric in config.metrics:
            for month in months:
                outside = month < (person.start_month or months[0]) or month > (person.end_month or months[-1])
                figures = [stored.get(("person", person.person_id, month, metric.key, g), 0.0)
                           for g in config.customer_groups]
                if outside:
                    assert figures == [0.0] * len(figures), (person.person_id, metric.key, month)
        # and they do carry a target in the months they work
        assert stored[("person", person.person_id, str(YEAR), config.metrics[0].key, "")] > 0


# --- the stamper gives the workbook xlsxwriter gives ---------------------------------------------------------


def _templates(ws, state, kind: str) -> list[layout.Template]:
    """Templates built straight from the plan: two recipients of one shape where the kind has two."""
    config, roster = ws.config, ws.roster
    ctx = builders.Context(config.company, config.language, config.fiscal_year, config.currency, ws.workspace_id,
                           "2027-01-02T03:04:05+00:00", ws.key)
    sellers = roster.sellers(config)
    if kind == "company":
        return [builders.build_split(state.company_plan(), ctx, 1)]
    if kind == "team":
        plans = [state.team_plan(t) for t in roster.teams]
        by_size: dict[int, list] = {}
        for plan in plans:
            by_size.setdefault(len(plan.metrics[0].rows), []).append(plan)
        pair = max(by_size.values(), key=len)[:2]  # two teams of one shape if there are any
        return [builders.build_split(p, ctx, 1) for p in pair]
    if kind == "person":
        return [builders.build_person(state.person_plan(p), ctx, 1) for p in sellers[:2]]
    return [builders.build_month(state.month_plan(p, MONTH), ctx, 2) for p in sellers[:2]]


def _content(cell) -> tuple:
    """What a cell holds and how it is guarded."""
    return (cell.value, cell.data_type, cell.number_format, cell.protection.locked, cell.protection.hidden)


def _cached_value(cell) -> tuple:
    return (cell.value,)


def _looks(cell) -> tuple:
    """How a cell looks."""
    return (cell.font.name, cell.font.sz, bool(cell.font.b), bool(cell.font.i),
            cell.fill.fgColor.rgb if cell.fill.fill_type else None, cell.alignment.wrap_text)


def _sheet_facts(ws) -> dict:
    rules = sorted((str(dv.sqref), dv.type, dv.operator, dv.formula1, dv.formula2, dv.prompt, dv.promptTitle,
                    dv.error, dv.errorTitle, dv.errorStyle, dv.showInputMessage, dv.showErrorMessage)
                   for dv in ws.data_validations.dataValidation)
    return {
        "state": ws.sheet_state, "freeze": ws.freeze_panes, "protection": (ws.protection.sheet, ws.protection.password),
        "merged": sorted(str(r) for r in ws.merged_cells.ranges), "validations": rules,
        "header": [(p.text or "") for p in (ws.oddHeader.left, ws.oddHeader.center, ws.oddHeader.right)],
        "footer": [(p.text or "") for p in (ws.oddFooter.left, ws.oddFooter.center, ws.oddFooter.right)],
        "conditional": sorted(str(r.sqref) for r in ws.conditional_formatting),
        "widths": {k: d.width for k, d in ws.column_dimensions.items()},
    }


def _differences(stamped: bytes, rendered: bytes, facts, cached: bool) -> list:
    """Cell-by-cell differences of `facts`; with `cached`, also of the formula results stored in the file
    (by value only: an empty result may be typed as text or as a number, Excel reads both as empty)."""
    diffs = []
    for data_only in (False, True) if cached else (False,):
        if data_only:
            facts = _cached_value
        a = openpyxl.load_workbook(io.BytesIO(stamped), data_only=data_only)
        b = openpyxl.load_workbook(io.BytesIO(rendered), data_only=data_only)
        if a.sheetnames != b.sheetnames:
            return [("sheets", a.sheetnames, b.sheetnames)]
        for title in a.sheetnames:
            wa, wb = a[title], b[title]
            rows, cols = max(wa.max_row, wb.max_row), max(wa.max_column, wb.max_column)
            for r in range(1, rows + 1):
                for c in range(1, cols + 1):
                    fa, fb = facts(wa.cell(r, c)), facts(wb.cell(r, c))
                    if fa != fb:
                        diffs.append((title, coordinate(r, c), "cached" if data_only else "cell", fa, fb))
    return diffs


def _stamped_and_rendered(ws, templates: list[layout.Template], kind: str) -> list[tuple[str, bytes, bytes]]:
    """(owner, stamper bytes, xlsxwriter bytes) per template; the stamper is primed with the first recipient."""
    if kind in ("person", "month"):
        assert shape_key(templates[0]) == shape_key(templates[-1])
    stamper = Stamper(ws.password)
    stamper.render(templates[0])
    return [(t.owner, stamper.render(t), writer.render(t, ws.password)) for t in templates]


@pytest.fixture(scope="module")
def templates(en):
    """kind -> the templates `_templates` builds, computed once per kind."""
    state, cache = api.plan_state(en.ws), {}

    def get(kind: str) -> list[layout.Template]:
        if kind not in cache:
            cache[kind] = _templates(en.ws, state, kind)
        return cache[kind]

    return get


@pytest.fixture(scope="module")
def stamped(en, templates):
    """kind -> [(owner, stamper bytes, xlsxwriter bytes)], computed once per kind."""
    cache: dict[str, list] = {}

    def get(kind: str) -> list[tuple[str, bytes, bytes]]:
        if kind not in cache:
            cache[kind] = _stamped_and_rendered(en.ws, templates(kind), kind)
        return cache[kind]

    return get


@pytest.mark.parametrize("kind", KINDS)
def test_stamper_output_equals_the_xlsxwriter_render(stamped, kind):
    for owner, stamper_bytes, xlsxwriter_bytes in stamped(kind):
        assert _differences(stamper_bytes, xlsxwriter_bytes, _content, cached=True) == [], owner
        a = openpyxl.load_workbook(io.BytesIO(stamper_bytes))
        b = openpyxl.load_workbook(io.BytesIO(xlsxwriter_bytes))
        assert {n: d.attr_text for n, d in a.defined_names.items()} == \
            {n: d.attr_text for n, d in b.defined_names.items()}
        for title in a.sheetnames:
            assert _sheet_facts(a[title]) == _sheet_facts(b[title]), (owner, title)


@pytest.mark.parametrize("kind", KINDS)
def test_stamper_keeps_the_cell_formatting_of_the_xlsxwriter_render(stamped, kind):
    # Bold labels and fills tell the recipient what is what; a visible sheet must look as xlsxwriter drew it.
    for owner, stamper_bytes, xlsxwriter_bytes in stamped(kind):
        diffs = [d for d in _differences(stamper_bytes, xlsxwriter_bytes, _looks, cached=False)
                 if d[0] != layout.META_SHEET]
        assert diffs == [], owner


def _strings(template: layout.Template) -> set[str]:
    """Every text the template puts into its workbook: cells, print headers, owner and signature."""
    texts = {c.value for sheet in template.sheets for c in sheet.cells if isinstance(c.value, str) and c.value}
    return texts | {sheet.header for sheet in template.sheets if sheet.header} | {template.owner, template.signature}


@pytest.mark.parametrize("kind", ["team", "person", "month"])
def test_a_stamped_workbook_holds_nothing_of_the_skeleton_recipient(en, templates, kind):
    first, second = templates(kind)[:2]
    assert shape_key(first) == shape_key(second)
    stamper = Stamper(en.ws.password)
    stamper.render(first)  # the skeleton is cut from the first recipient's workbook
    data = stamper.render(second)
    person = en.ws.roster.get(first.owner)
    own = (_strings(first) - _strings(second)) | {person.name, person.email}
    assert person.name not in _strings(second) and len(own) > 5
    forms = {form for text in own for form in (text, escape(text), escape(text, {"'": "&apos;", '"': "&quot;"}))}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        entries = {name: archive.read(name).decode("utf-8") for name in archive.namelist()}
    found = sorted({(name, text) for name, body in entries.items() for text in forms if text in body})
    assert found == []
    assert any(en.ws.roster.get(second.owner).name in body for body in entries.values())


# --- file names from hostile rosters ------------------------------------------------------------------------

EVIL = '../../evil <x>:"|?*'
HOSTILE_NAMES = {
    "V1": EVIL,
    "M1": "Zoe\u0308 Ångström-Ñúñez",  # decomposed ë: file names must come out NFC
    "R1": EVIL,
    "R2": "=SUM(1,2)",
    "R3": "李小龙",
    "R4": "<>|",
    "R5": "CON",
    "R6": "Bartholomew Maximilian Alexander von Hohenzollern-Sigmaringen",
}
HOSTILE_CONFIG = """\
[company]
name = "Evil & Co <script>"
language = "en"
[fiscal]
year = 2027
[planning]
customer_groups = ["Key accounts", "Online"]
selling_roles = ["rep"]
[[metrics]]
key = "revenue"
label_en = "Revenue"
decimals = 2
[allocation]
method = "equal"
"""


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> tuple[Path, dict[str, list[Path]]]:
    base = tmp_path_factory.mktemp("hostile")
    root = base / "a" / "b" / "ws"
    api.init_workspace(root, demo=False, year=YEAR)
    (root / "roster.xlsx").unlink()  # roster.xlsx would be read before roster.csv
    (root / "sheetplan.toml").write_text(HOSTILE_CONFIG, encoding="utf-8")
    people = [
        ("G1", "Gabi", "", "gm", ""), ("V1", HOSTILE_NAMES["V1"], "", "vp", "G1"),
        ("M1", HOSTILE_NAMES["M1"], 'R&D / "Ops"', "manager", "V1"),
    ] + [(pid, HOSTILE_NAMES[pid], 'R&D / "Ops"', "rep", "M1") for pid in ("R1", "R2", "R3", "R4", "R5", "R6")]
    lines = ["person_id,name,email,team,role,reports_to,start_month,end_month,active"]
    for pid, name, team, role, boss in people:
        quoted = [f'"{v}"' if any(ch in v for ch in ',"') else v for v in
                  (pid, name.replace('"', '""'), f"{pid.lower()}@evil.example", team.replace('"', '""'), role, boss)]
        lines.append(",".join(quoted) + ",,,TRUE")
    (root / "roster.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    ws = api.open_workspace(root)
    assert ws.roster.get("V1").name == EVIL
    files = {kind: api.generate(ws, kind, month=month).files for kind, month in RUNS}
    return base, files


def test_file_names_are_safe_whatever_the_roster_holds(hostile):
    base, files = hostile
    root = base / "a" / "b" / "ws"
    assert [len(files[k]) for k in KINDS] == [1, 1, 6, 6]
    for kind, paths in files.items():
        folder = (root / "outbox" / kind / (MONTH if kind == "month" else str(YEAR))).resolve()
        for path in paths:
            name = path.name
            assert path.resolve().parent == folder, name
            assert re.fullmatch(r"[\w.-]+\.xlsx", name), name
            assert not re.search(r'[<>:"|?*/\\]', name) and ".." not in name and not name.startswith(".")
            assert unicodedata.is_normalized("NFC", name), name
            assert len(name.encode("utf-8")) <= 255
            assert openpyxl.load_workbook(path).sheetnames[-1] == layout.META_SHEET
    # nothing was written outside the outbox
    stray = [p for p in base.rglob("*") if p.is_file() and "outbox" not in p.parts
             and p.parent != root and ".sheetplan" not in p.parts]
    assert stray == []
    assert not any("evil" in p.name and "outbox" not in p.parts for p in base.rglob("*"))
    # every recipient got a file of their own
    assert len({p.name for ps in files.values() for p in ps}) == sum(len(ps) for ps in files.values())
    person_names = " ".join(p.name for p in files["person"])
    assert "李小龙" in person_names and "Zoë" not in person_names  # the manager has no person template
    assert "Zoë" in files["team"][0].name


def test_roster_text_that_looks_like_a_formula_stays_text(hostile):
    _, files = hostile
    path = files["team"][0]
    book = openpyxl.load_workbook(path)
    hits = [c for ws in book.worksheets for row in ws.iter_rows() for c in row if c.value == HOSTILE_NAMES["R2"]]
    assert hits and all(c.data_type == "s" for c in hits)
    with zipfile.ZipFile(path) as archive:
        xml = "".join(archive.read(n).decode("utf-8") for n in archive.namelist() if n.startswith("xl/worksheets/"))
    assert "<f>SUM(1,2)</f>" not in xml
