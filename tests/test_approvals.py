"""Approvals: chains resolved from the roster, and plans, revision requests and decisions travelling as real
workbooks: a plan is generated, filled with openpyxl, saved and ingested; the approver's workbook is generated,
its Decision and Comment cells filled, saved and ingested; then the plan store and the files are checked.

Assertions are on (sheet, cell, code) lists, on stored rows and on figures written here by hand.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import sqlite3
from dataclasses import replace
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from conftest import moved, sent_file

from sheetplan import api
from sheetplan.api import ingest
from sheetplan.cli import main
from sheetplan.demo.simulate import fill_decisions, input_areas, read_block, write_block
from sheetplan.errors import ConfigError
from sheetplan.plan.approvals import PENDING, items, resolve_chain, waiting_on
from sheetplan.workspace.config import parse_config
from sheetplan.workspace.folder import open_workspace
from sheetplan.workspace.roster import Roster

YEAR = "2027"
MONTH = "2027-03"
DECIMALS = {"revenue": 2, "quantity": 0, "new_customers": 0, "expenses": 2}  # the demo config's metrics
DECISION_CELL = ("Decisions", "K6")  # the first item's Decision cell: the first row under the header on row 5
REVISION_CELL = ("Report", "C16")  # the revenue row of the month report's revision block, column 'requested'
_TICKS = itertools.count(1_700_000_000, 60)  # file times in the past (a future one is not trusted), each later


# --- helpers -------------------------------------------------------------------------------------------


def stamp(path: Path) -> Path:
    """Give a returned file the next modification time: it was received after every file before it."""
    tick = next(_TICKS)
    os.utime(path, (tick, tick))
    return path


def blocks_of(path: Path, prefix: str = "in_") -> dict[str, list[list]]:
    book = openpyxl.load_workbook(path)
    return {name: [list(row) for row in read_block(book, area)]
            for name, area in input_areas(book).items() if name.startswith(prefix)}


def type_into(source: Path, target: Path, values: dict[str, list[list]]) -> Path:
    """A copy of `source` with whole in_ blocks typed, as a person types into the unlocked cells."""
    book = openpyxl.load_workbook(source)
    areas = input_areas(book)
    for name, rows in values.items():
        write_block(book, areas[name], rows)
    target.parent.mkdir(parents=True, exist_ok=True)
    book.save(target)
    return stamp(target)


def plan_return(ws, kind: str, owner: str, target: Path, amount: float = 10,
                source: Path | None = None) -> tuple[Path, dict[str, list[list]]]:
    """A plan returned with `amount` moved inside every metric's block; returns the file and what was typed."""
    source = source or sent_file(ws, kind, owner)
    typed = {name: moved(rows, DECIMALS[name[3:]], amount) for name, rows in blocks_of(source).items()
             if not name.startswith("in_company_")}  # the company target stays as suggested
    return type_into(source, target, typed), typed


def grid_keys(path: Path, metric: str) -> tuple[list[str], list[str]]:
    """(row keys, column keys) of a plan's block: customer groups x months, or teams/people x ['target']."""
    names = blocks_of(path, prefix="")
    rows = [row[0] for row in names[f"rows_{metric}"]]
    cols = names[f"cols_{metric}"][0] if f"cols_{metric}" in names else [YEAR]
    return rows, cols


def approval_book(ws, approver: str) -> Path:
    """sheetplan generate approval --approver APPROVER: exactly one workbook."""
    result = api.generate(ws, "approval", only=[approver])
    assert len(result.files) == 1, (result.files, result.notes)
    return result.files[0]


def refs_in(book: Path) -> list[str]:
    return [row[0] for row in blocks_of(book, prefix="rows_decision")["rows_decision"]]


def decide(book: Path, target: Path, choices: dict[str, tuple[str, str | None]]) -> Path:
    """The approver's return: (decision, comment) per ref; refs not named stay blank."""
    filled = fill_decisions(book, target, lambda ref, _owner: choices.get(ref))
    return stamp(filled.path)


def run(ws, *paths: Path):
    return ingest(ws, list(paths), write_report=False)


def triples(outcome) -> list[tuple[str, str, str]]:
    return [(p.sheet, p.cell, p.code) for p in outcome.problems]


def results(report) -> list[tuple[str, list]]:
    return [(o.status, triples(o)) for o in report.outcomes]


def query(ws, sql: str, *args) -> list[tuple]:
    db = sqlite3.connect(ws.private / "plan.sqlite")
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def item_state(ws, item_id: int) -> tuple[str, int]:
    [(status, step)] = query(ws, "SELECT status, step FROM approval_items WHERE id = ?", item_id)
    return status, step


def decisions(ws) -> list[tuple]:
    return query(ws, "SELECT item_id, step, approver, decision, comment FROM approval_decisions ORDER BY id")


def approval_tables(ws) -> tuple[list, list]:
    return (query(ws, "SELECT id, item_kind, owner, period, submission_id, chain, step, status, closed_at"
                      " FROM approval_items ORDER BY id"), decisions(ws))


def official(ws, owner: str, level: str = "person") -> dict[tuple[str, str, str], tuple[float, str, int | None]]:
    """The owner's current figures that are not suggestions: (period, metric, group) -> (value, source, approval)."""
    rows = query(ws, "SELECT period, metric, customer_group, value, source, approval_id FROM targets t"
                     " WHERE level = ? AND owner = ? AND source <> 'suggestion' AND version = (SELECT MAX(version)"
                     " FROM targets u WHERE u.level = t.level AND u.owner = t.owner AND u.period = t.period"
                     " AND u.metric = t.metric AND u.customer_group = t.customer_group)", level, owner)
    return {(p, m, g): (v, s, a) for p, m, g, v, s, a in rows}


def all_targets(ws) -> list[tuple]:
    return sorted(query(ws, "SELECT level, owner, period, metric, customer_group, value, source, version,"
                            " approval_id FROM targets"), key=repr)


def grid_targets(path: Path, typed: dict[str, list[list]], source: str, approval: int | None) -> dict:
    """What a person plan's typed grid must become: (month, metric, group) -> (value, source, approval)."""
    out = {}
    for metric in DECIMALS:
        groups, months = grid_keys(path, metric)
        for r, group in enumerate(groups):
            for c, month in enumerate(months):
                out[(month, metric, group)] = (typed[f"in_{metric}"][r][c], source, approval)
    return out


def line_of(ws) -> tuple[str, str, str]:
    """(rep, supervisor, manager): a rep who reports to a supervisor, and the two people above."""
    roster = ws.roster
    rep = next(p for p in roster.people if p.active and p.role == "rep"
               and roster.get(p.reports_to).role == "supervisor")
    supervisor = roster.get(rep.reports_to)
    manager = roster.get(supervisor.reports_to)
    assert manager.role == "manager"
    return rep.person_id, supervisor.person_id, manager.person_id


def chain_of(item) -> list[tuple[str, str]]:
    return [(level.role, level.approver) for level in item.chain]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- 1. chains ------------------------------------------------------------------------------------------


def _rep_under(role: str):
    return lambda roster: next(p for p in roster.people if p.active and p.role == "rep"
                               and roster.get(p.reports_to).role == role)


def _supervisor(roster):
    return next(p for p in roster.people if p.active and p.role == "supervisor")


def _manager(roster):
    return next(p for p in roster.people if p.active and p.role == "manager")


# (case, item kind, who owns the item, expected chain as (role, steps up the reports_to line))
CHAINS = [
    ("rep-under-supervisor-person", "person", _rep_under("supervisor"), [("supervisor", 1), ("manager", 2)]),
    ("rep-under-manager-person", "person", _rep_under("manager"), [("manager", 1)]),
    ("supervisor-own-person", "person", _supervisor, [("manager", 1)]),
    ("team", "team", _manager, [("vp", 1)]),
    ("company", "company", lambda roster: roster.company_owner(), [("gm", 1)]),
    ("rep-under-supervisor-revision", "revision", _rep_under("supervisor"),
     [("supervisor", 1), ("manager", 2), ("vp", 3)]),
    ("rep-under-manager-revision", "revision", _rep_under("manager"), [("manager", 1), ("vp", 2)]),
    ("rep-under-supervisor-reforecast", "reforecast", _rep_under("supervisor"), [("supervisor", 1), ("manager", 2)]),
]


def _up(roster, person, steps: int) -> str:
    for _ in range(steps):
        person = roster.get(person.reports_to)
    return person.person_id


@pytest.fixture(scope="module")
def demo(make_workspace):
    return make_workspace("appr-chains")


@pytest.mark.parametrize("case, kind, owner_of, expected", CHAINS, ids=[c[0] for c in CHAINS])
def test_chain_is_the_nearest_holder_of_each_role_above_the_owner(demo, case, kind, owner_of, expected):
    roster = demo.roster
    owner = owner_of(roster)
    chain = resolve_chain(demo.config, roster, kind, owner.person_id)
    assert [(level.role, level.approver) for level in chain] == [
        (role, _up(roster, owner, steps)) for role, steps in expected]


def test_the_nearest_active_holder_of_a_role_decides(demo):
    """Two supervisors stacked in one line: the nearer one decides; an inactive one is passed over."""
    roster = demo.roster
    rep = _rep_under("supervisor")(roster)
    near = roster.get(rep.reports_to)
    manager = near.reports_to
    far = next(p for p in roster.people if p.active and p.role == "supervisor" and p.reports_to == manager
               and p.person_id != near.person_id)
    stacked = Roster(tuple(replace(p, reports_to=far.person_id) if p.person_id == near.person_id else p
                           for p in roster.people))
    chain = resolve_chain(demo.config, stacked, "person", rep.person_id)
    assert [(lv.role, lv.approver) for lv in chain] == [("supervisor", near.person_id), ("manager", manager)]
    away = Roster(tuple(replace(p, active=False) if p.person_id == near.person_id else p for p in stacked.people))
    chain = resolve_chain(demo.config, away, "person", rep.person_id)
    assert [(lv.role, lv.approver) for lv in chain] == [("supervisor", far.person_id), ("manager", manager)]


def test_an_empty_list_means_no_approval(demo):
    text = (demo.root / "sheetplan.toml").read_text(encoding="utf-8")
    config = parse_config(text + "\n[approvals]\nperson = []\n")
    rep = _rep_under("supervisor")(demo.roster)
    assert resolve_chain(config, demo.roster, "person", rep.person_id) == ()
    assert len(resolve_chain(config, demo.roster, "revision", rep.person_id)) == 3  # the other kinds keep theirs


BAD_APPROVALS = [
    ("unknown-role", 'person = ["boss"]', {("config-invalid", "approvals.person[0]")}),
    ("not-a-list", 'person = "manager"', {("config-invalid", "approvals.person")}),
    ("role-twice", 'person = ["manager", "manager"]', {("config-invalid", "approvals.person[1]")}),
    ("unknown-kind", "bonus = []", {("config-invalid", "approvals.bonus")}),
]


@pytest.mark.parametrize("case, line, expected", BAD_APPROVALS, ids=[c[0] for c in BAD_APPROVALS])
def test_a_bad_approvals_table_is_a_config_error_naming_the_key(demo, case, line, expected):
    text = (demo.root / "sheetplan.toml").read_text(encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        parse_config(f"{text}\n[approvals]\n{line}\n")
    assert {(p.code, p.field) for p in caught.value.problems} == expected


def test_without_a_chain_a_valid_plan_is_official_at_once(make_workspace, tmp_path):
    ws = make_workspace("appr-no-chain", approvals=("revision",))
    rep, _sup, _mgr = line_of(ws)
    path, typed = plan_return(ws, "person", rep, tmp_path / "plan.xlsx")
    report = run(ws, path)
    assert results(report) == [("accepted", [])]
    assert report.approvals.opened == [] and report.approvals.official == [("person", rep, YEAR)]
    assert official(ws, rep) == grid_targets(path, typed, "accepted", None)
    assert query(ws, "SELECT COUNT(*) FROM approval_items") == [(0,)]


# --- 2. a person plan climbs its whole chain -------------------------------------------------------------


def test_person_plan_is_official_only_after_the_last_level_approves(make_workspace, tmp_path):
    ws = make_workspace("appr-chain")
    rep, sup, mgr = line_of(ws)
    path, typed = plan_return(ws, "person", rep, tmp_path / "plan.xlsx")
    report = run(ws, path)
    assert results(report) == [("accepted", [])]
    [item] = report.approvals.opened
    assert (item.item_kind, item.owner, item.period, item.status, item.ref) == (
        "person", rep, YEAR, PENDING, f"A{item.id}.1")
    assert chain_of(item) == [("supervisor", sup), ("manager", mgr)]
    assert official(ws, rep) == {}

    book = approval_book(ws, sup)
    assert refs_in(book) == [f"A{item.id}.1"]
    report = run(ws, decide(book, tmp_path / "supervisor.xlsx", {f"A{item.id}.1": ("approve", None)}))
    assert results(report) == [("accepted", [])]
    assert [i.ref for i in report.approvals.advanced] == [f"A{item.id}.2"]
    assert item_state(ws, item.id) == (PENDING, 1)
    assert official(ws, rep) == {}
    with ws.store() as store:
        assert [i.id for i in waiting_on(store.db, mgr)[mgr]] == [item.id]
        assert waiting_on(store.db, sup) == {}

    book = approval_book(ws, mgr)
    assert refs_in(book) == [f"A{item.id}.2"]
    report = run(ws, decide(book, tmp_path / "manager.xlsx", {f"A{item.id}.2": ("approve", None)}))
    assert results(report) == [("accepted", [])]
    assert report.approvals.official == [("person", rep, YEAR)]
    assert item_state(ws, item.id) == ("approved", 2)
    assert official(ws, rep) == grid_targets(path, typed, "accepted", item.id)
    assert decisions(ws) == [(item.id, 0, sup, "approve", ""), (item.id, 1, mgr, "approve", "")]
    with ws.store() as store:
        assert items(store.db, PENDING) == []


# --- 3. rejected, sent back, resubmitted ---------------------------------------------------------------

COMMENT = "Q2 is too thin: move some of December into April & May, bitte prüfen."


def test_rejected_plan_goes_back_with_the_comment_and_the_resubmission_is_a_new_item(make_workspace, tmp_path):
    ws = make_workspace("appr-reject")
    rep, sup, mgr = line_of(ws)
    path, typed = plan_return(ws, "person", rep, tmp_path / "plan.xlsx")
    [first] = run(ws, path).approvals.opened

    report = run(ws, decide(approval_book(ws, sup), tmp_path / "no.xlsx", {first.ref: ("reject", COMMENT)}))
    assert results(report) == [("accepted", [])]
    assert [i.id for i in report.approvals.returned] == [first.id]
    assert item_state(ws, first.id) == ("rejected", 0)
    assert decisions(ws) == [(first.id, 0, sup, "reject", COMMENT)]
    assert official(ws, rep) == {}

    [regenerated] = report.returned
    assert regenerated == sent_file(ws, "person", rep)
    assert regenerated.name.endswith("-r2.xlsx") and rep in regenerated.name
    book = openpyxl.load_workbook(regenerated)
    sheets = {area.sheet for name, area in input_areas(book).items() if name.startswith("in_")}
    assert len(sheets) == len(DECIMALS)
    for sheet in sheets:
        assert COMMENT in str(book[sheet]["A4"].value), sheet
    assert blocks_of(regenerated) == typed  # pre-filled with the rejected figures

    changed = dict(typed, in_quantity=moved(typed["in_quantity"], 0, amount=3))
    assert changed != typed
    resent = type_into(regenerated, tmp_path / "plan-r2.xlsx", changed)
    report = run(ws, resent)
    assert results(report) == [("accepted", [])]
    assert report.outcomes[0].revision == 2
    [second] = report.approvals.opened
    assert second.id != first.id and chain_of(second) == [("supervisor", sup), ("manager", mgr)]
    assert item_state(ws, first.id) == ("rejected", 0)

    run(ws, decide(approval_book(ws, sup), tmp_path / "yes-1.xlsx", {second.ref: ("approve", None)}))
    report = run(ws, decide(approval_book(ws, mgr), tmp_path / "yes-2.xlsx", {f"A{second.id}.2": ("approve", None)}))
    assert report.approvals.official == [("person", rep, YEAR)]
    assert official(ws, rep) == grid_targets(resent, changed, "accepted", second.id)
    assert item_state(ws, first.id) == ("rejected", 0)


# --- 4. decisions that reject the whole approval file -----------------------------------------------------


@pytest.fixture(scope="module")
def pending(make_workspace, tmp_path_factory):
    """One person plan waiting on its supervisor, and the supervisor's approval workbook."""
    ws = make_workspace("appr-bad-decisions")
    rep, sup, _mgr = line_of(ws)
    folder = tmp_path_factory.mktemp("bad-decisions")
    [item] = run(ws, plan_return(ws, "person", rep, folder / "plan.xlsx")[0]).approvals.opened
    return ws, item, approval_book(ws, sup), folder


BAD_DECISIONS = [
    ("reject-without-comment", ("reject", None), "comment-required"),
    ("reject-with-a-blank-comment", ("reject", "   "), "comment-required"),
    ("not-a-decision", ("maybe", None), "decision-invalid"),
]


@pytest.mark.parametrize("case, choice, code", BAD_DECISIONS, ids=[c[0] for c in BAD_DECISIONS])
def test_a_bad_decision_rejects_the_file_and_changes_nothing(pending, dump_store, case, choice, code):
    ws, item, book, folder = pending
    filled = decide(book, folder / f"{case}.xlsx", {item.ref: choice})
    before, tables = dump_store(ws), approval_tables(ws)
    report = run(ws, filled)
    assert results(report) == [("rejected", [(*DECISION_CELL, code)])]
    assert report.exit_code == 1 and report.returned == []
    after = dump_store(ws)
    for table in ("targets", "submitted_values", "submitted_texts"):
        assert after[table] == before[table], table
    assert approval_tables(ws) == tables
    assert item_state(ws, item.id) == (PENDING, 0)


# --- 5. the roster changed after the approval workbook was made ---------------------------------------------


def set_reports_to(roster_file: Path, person_id: str, boss: str) -> None:
    book = openpyxl.load_workbook(roster_file)
    sheet = book.worksheets[0]
    header = [cell.value for cell in sheet[1]]
    column = header.index("reports_to") + 1
    row = next(r for r in range(2, sheet.max_row + 1) if sheet.cell(r, 1).value == person_id)
    sheet.cell(row, column).value = boss
    book.save(roster_file)


def other_supervisor(ws, sup: str, mgr: str) -> str:
    """Another supervisor under the same manager: where a roster change moves the rep."""
    return next(p.person_id for p in ws.roster.people if p.active and p.role == "supervisor"
                and p.reports_to == mgr and p.person_id != sup)


def test_decision_on_someone_no_longer_in_the_approvers_reports_is_outside_reports(make_workspace, tmp_path):
    ws = make_workspace("appr-outside")
    rep, sup, mgr = line_of(ws)
    other = other_supervisor(ws, sup, mgr)
    [item] = run(ws, plan_return(ws, "person", rep, tmp_path / "plan.xlsx")[0]).approvals.opened
    filled = decide(approval_book(ws, sup), tmp_path / "yes.xlsx", {item.ref: ("approve", None)})

    set_reports_to(ws.root / "roster.xlsx", rep, other)
    moved_ws = open_workspace(ws.root)
    assert [lv.approver for lv in resolve_chain(moved_ws.config, moved_ws.roster, "person", rep)] == [other, mgr]
    tables = approval_tables(moved_ws)
    report = run(moved_ws, filled)
    assert results(report) == [("rejected", [(*DECISION_CELL, "outside-reports")])]
    assert approval_tables(moved_ws) == tables
    assert item_state(moved_ws, item.id) == (PENDING, 0)
    assert official(moved_ws, rep) == {}


def test_next_approval_workbook_goes_to_whoever_now_holds_the_role(make_workspace, tmp_path):
    """After a roster change the waiting item moves to the new supervisor; the manager level stays."""
    ws = make_workspace("appr-reroute")
    rep, sup, mgr = line_of(ws)
    other = other_supervisor(ws, sup, mgr)
    [item] = run(ws, plan_return(ws, "person", rep, tmp_path / "plan.xlsx")[0]).approvals.opened
    set_reports_to(ws.root / "roster.xlsx", rep, other)
    moved_ws = open_workspace(ws.root)
    result = api.generate(moved_ws, "approval", only=[other])
    assert result.notes == ["roster changed since the plan was last computed: suggestions recomputed",
                            f"{item.ref} moved to {other}: the roster changed above {rep}"]
    assert refs_in(result.files[0]) == [item.ref]
    assert chain_of(query_item(moved_ws, item.id)) == [("supervisor", other), ("manager", mgr)]
    report = run(moved_ws, decide(result.files[0], tmp_path / "yes.xlsx", {item.ref: ("approve", None)}))
    assert results(report) == [("accepted", [])]
    assert item_state(moved_ws, item.id) == (PENDING, 1)


def query_item(ws, item_id: int):
    from sheetplan.plan.approvals import get_item

    with ws.store() as store:
        return get_item(store.db, item_id)


# --- 6. a newer submission makes the old ref stale --------------------------------------------------------


def test_decision_on_a_superseded_plan_is_stale_and_the_new_plan_still_waits(make_workspace, tmp_path):
    ws = make_workspace("appr-stale")
    rep, sup, _mgr = line_of(ws)
    first_report = run(ws, plan_return(ws, "person", rep, tmp_path / "plan.xlsx")[0])
    [old] = first_report.approvals.opened
    book = approval_book(ws, sup)
    assert refs_in(book) == [old.ref]

    corrected, _typed = plan_return(ws, "person", rep, tmp_path / "plan-corrected.xlsx", amount=20)
    report = run(ws, corrected)
    assert results(report) == [("accepted", [])]
    assert report.outcomes[0].superseded == first_report.outcomes[0].submission_id
    [new] = report.approvals.opened
    assert item_state(ws, old.id) == ("superseded", 0)

    targets = all_targets(ws)
    report = run(ws, decide(book, tmp_path / "yes-old.xlsx", {old.ref: ("approve", None)}))
    assert results(report) == [("accepted", [(*DECISION_CELL, "decision-stale")])]
    assert [p.severity for p in report.outcomes[0].problems] == ["warning"]
    assert decisions(ws) == []
    assert item_state(ws, old.id) == ("superseded", 0)
    assert item_state(ws, new.id) == (PENDING, 0)
    assert all_targets(ws) == targets
    assert refs_in(approval_book(ws, sup)) == [new.ref]


# --- 7. the same decision again ----------------------------------------------------------------------------


def resave(source: Path, target: Path) -> Path:
    """The same workbook opened and saved again by another program: same cells, other bytes."""
    book = openpyxl.load_workbook(source)
    book.properties.lastModifiedBy = "Approver's other laptop"
    book.save(target)
    return stamp(target)


AGAIN = [("same-decision-saved-again", None, "already-decided"),
         ("decided-otherwise-later", ("reject", "On second thoughts: no."), "decision-stale")]


@pytest.mark.parametrize("case, second, code", AGAIN, ids=[c[0] for c in AGAIN])
def test_a_second_file_deciding_the_same_level_changes_nothing(make_workspace, tmp_path, case, second, code):
    ws = make_workspace(f"appr-{case}")
    rep, sup, mgr = line_of(ws)
    [item] = run(ws, plan_return(ws, "person", rep, tmp_path / "plan.xlsx")[0]).approvals.opened
    book = approval_book(ws, sup)
    decided = decide(book, tmp_path / "yes.xlsx", {item.ref: ("approve", None)})
    assert results(run(ws, decided)) == [("accepted", [])]
    if second is None:
        again = resave(decided, tmp_path / "yes-again.xlsx")
    else:
        again = decide(book, tmp_path / "no-after-all.xlsx", {item.ref: second})
    assert sha256(again) != sha256(decided)

    targets, tables = all_targets(ws), approval_tables(ws)
    report = run(ws, again)
    assert results(report) == [("accepted", [(*DECISION_CELL, code)])]
    assert [p.severity for p in report.outcomes[0].problems] == ["warning"]
    assert report.returned == [] and report.approvals.advanced == []
    assert decisions(ws) == [(item.id, 0, sup, "approve", "")]
    assert approval_tables(ws) == tables
    assert item_state(ws, item.id) == (PENDING, 1)
    assert all_targets(ws) == targets
    assert refs_in(approval_book(ws, mgr)) == [f"A{item.id}.2"]


def test_an_older_approval_workbook_returned_after_a_newer_one_still_counts(make_workspace, tmp_path):
    """Each approval workbook carries its own decisions; a newer one does not replace an older one's. The
    supervisor decides item 1 in workbook r1 and item 2 in r2, and r2 happens to arrive first: the decision in
    r1 is on an item still waiting for this supervisor at this level, so it must be applied, not dropped."""
    ws = make_workspace("appr-older-book")
    rep, sup, _mgr = line_of(ws)
    second_rep = next(p.person_id for p in ws.roster.people if p.active and p.role == "rep"
                      and p.reports_to == sup and p.person_id != rep)
    [first] = run(ws, plan_return(ws, "person", rep, tmp_path / "plan-1.xlsx")[0]).approvals.opened
    r1 = approval_book(ws, sup)
    [second] = run(ws, plan_return(ws, "person", second_rep, tmp_path / "plan-2.xlsx")[0]).approvals.opened
    r2 = approval_book(ws, sup)
    assert refs_in(r1) == [first.ref] and refs_in(r2) == [first.ref, second.ref]
    newer = decide(r2, tmp_path / "r2-decided.xlsx", {second.ref: ("approve", None)})
    older = decide(r1, tmp_path / "r1-decided.xlsx", {first.ref: ("approve", None)})
    assert results(run(ws, newer)) == [("accepted", [])]
    # recorded as superseded (r2 stays the supervisor's latest workbook), but its decision is applied
    assert results(run(ws, older)) == [("superseded", [])]
    assert item_state(ws, first.id) == (PENDING, 1)
    assert sorted(decisions(ws)) == [(first.id, 0, sup, "approve", ""), (second.id, 0, sup, "approve", "")]


# --- 8. a revision request --------------------------------------------------------------------------------

# The rep's revenue plan, typed by hand: two customer groups, the others nothing. Annual target 120,000.00;
# January to March (the months up to the request) hold 40,000.00, April to December 80,000.00.
KEY_ROW = [6000, 7000, 7000, 4000, 4000, 5000, 5000, 4000, 3000, 4000, 5000, 6000]
ANNUAL = 120000.0
# A request for 90 %: 108,000.00. The 40,000.00 already past stays; the later months share 68,000.00 in
# proportion to their current targets, i.e. each is scaled by 68,000 / 80,000 = 0.85.
REQUESTED = 108000.0
KEY_ROW_REVISED = [6000, 7000, 7000, 3400, 3400, 4250, 4250, 3400, 2550, 3400, 4250, 5100]


def month_values(ws, revision_rows: list[list]) -> dict[str, list[list]]:
    """A month report: actuals of 100 in every cell, and the revision block (one row per metric) as given."""
    values = {f"in_{metric}": [[100] for _group in ws.config.customer_groups] for metric in DECIMALS}
    values["in_revision"] = revision_rows
    values["in_revision_reason"] = [["Lost our largest OEM customer."]]
    return values


@pytest.fixture(scope="module")
def revision(make_workspace, tmp_path_factory):
    """A rep whose annual revenue target is 120,000.00 and whose months are KEY_ROW in two groups, both
    official (team and person plans need no approval here), and a revision request approved at every level."""
    ws = make_workspace("appr-revision", approvals=("revision",))
    folder = tmp_path_factory.mktemp("revision")
    rep, sup, mgr = line_of(ws)
    vp = ws.roster.get(mgr).reports_to

    team_source = sent_file(ws, "team", mgr)
    team = blocks_of(team_source)
    people, _ = grid_keys(team_source, "revenue")
    mine, other = people.index(rep), next(i for i, p in enumerate(people) if p != rep)
    team["in_revenue"][other][0] = round(team["in_revenue"][other][0] + team["in_revenue"][mine][0] - ANNUAL, 2)
    team["in_revenue"][mine][0] = ANNUAL
    assert results(run(ws, type_into(team_source, folder / "team.xlsx", team))) == [("accepted", [])]

    person_source = api.generate(ws, "person", only=[rep]).files[0]
    assert blocks_of(person_source, "target_revenue")["target_revenue"] == [[ANNUAL]]
    person = blocks_of(person_source)
    groups, months = grid_keys(person_source, "revenue")
    person["in_revenue"] = [KEY_ROW if g < 2 else [0] * 12 for g in range(len(groups))]
    assert results(run(ws, type_into(person_source, folder / "person.xlsx", person))) == [("accepted", [])]
    planned = official(ws, rep)

    month_source = sent_file(ws, "month", rep)
    too_low = type_into(month_source, folder / "too-low.xlsx",
                        month_values(ws, [[39999.99], [None], [None], [None]]))
    december = api.generate(ws, "month", month=f"{YEAR}-12", only=[rep]).files[0]
    too_late = type_into(december, folder / "too-late.xlsx",
                         month_values(ws, [[REQUESTED], [None], [None], [None]]))
    refused = run(ws, too_low, too_late)

    request = run(ws, type_into(month_source, folder / "request.xlsx",
                                month_values(ws, [[REQUESTED], [None], [None], [None]])))
    [item] = request.approvals.opened
    steps = []
    for level, approver in enumerate((sup, mgr, vp), start=1):
        book = approval_book(ws, approver)
        assert refs_in(book) == [f"A{item.id}.{level}"]
        report = run(ws, decide(book, folder / f"level-{level}.xlsx", {f"A{item.id}.{level}": ("approve", None)}))
        steps.append((results(report), item_state(ws, item.id), official(ws, rep)))
    return dict(ws=ws, rep=rep, chain=[("supervisor", sup), ("manager", mgr), ("vp", vp)], groups=groups,
                months=months, planned=planned, refused=refused, request=request, item=item, steps=steps)


def test_revision_request_below_what_is_past_or_in_the_last_month_is_refused(revision):
    assert results(revision["refused"]) == [("rejected", [(*REVISION_CELL, "revision-below-passed")]),
                                            ("rejected", [(*REVISION_CELL, "revision-too-late")])]


def test_revision_request_waits_for_every_level_and_changes_nothing_before(revision):
    item = revision["item"]
    assert results(revision["request"]) == [("accepted", [])]
    assert (item.item_kind, item.owner, item.period) == ("revision", revision["rep"], MONTH)
    assert item.detail["requested"] == {"revenue": REQUESTED}
    assert chain_of(item) == revision["chain"]
    (first, state1, after1), (second, state2, after2), (third, state3, _after3) = revision["steps"]
    assert first == second == third == [("accepted", [])]
    assert (state1, state2, state3) == ((PENDING, 1), (PENDING, 2), ("approved", 3))
    assert after1 == after2 == revision["planned"]


def test_approved_revision_sets_the_annual_target_and_respreads_the_later_months(revision):
    item, months, groups, planned = revision["item"], revision["months"], revision["groups"], revision["planned"]
    targets = revision["steps"][-1][2]
    assert targets[(YEAR, "revenue", "")] == (REQUESTED, "revision", item.id)
    for g, group in enumerate(groups):
        for m, month in enumerate(months):
            key = (month, "revenue", group)
            if month <= MONTH:
                assert targets[key] == planned[key], key
            else:
                assert targets[key] == ((KEY_ROW_REVISED[m] if g < 2 else 0.0), "revision", item.id), key
    year = round(sum(v for (period, metric, _g), (v, _s, _a) in targets.items()
                     if metric == "revenue" and period != YEAR), 2)
    assert year == REQUESTED
    others = {k: v for k, v in targets.items() if k[1] != "revenue"}
    assert others == {k: v for k, v in planned.items() if k[1] != "revenue"}


def test_summary_keeps_the_original_target_beside_the_revised_one(revision):
    from sheetplan.plan.audit import revision_history
    from sheetplan.reports.monthend import run_consolidation

    ws, rep = revision["ws"], revision["rep"]
    frame = revision_history(ws)
    names = [f"{ws.roster.get(pid).name} ({pid}, {role})" for role, pid in revision["chain"]]
    assert frame[["person", "metric", "requested_in", "effective_from", "original_target", "before", "revised",
                  "change", "reason", "approved_by"]].values.tolist() == [
        [rep, "revenue", MONTH, "2027-04", ANNUAL, ANNUAL, REQUESTED, REQUESTED - ANNUAL,
         "Lost our largest OEM customer.", " → ".join(names)]]
    summary = run_consolidation(ws, MONTH).summary
    book = openpyxl.load_workbook(summary, read_only=True)
    rows = list(book["Revisions"].iter_rows(values_only=True))
    book.close()
    assert len(rows) == 2 and rows[1][:2] == (rep, ws.roster.get(rep).name) and rows[1][6:10] == (
        ANNUAL, ANNUAL, REQUESTED, REQUESTED - ANNUAL)


def test_revision_keeps_past_months_when_suggestions_are_refreshed_later(make_workspace, tmp_path):
    """A revision approved while the owner's months are still suggestions must not move those months the next
    time the plan is refreshed (any approved plan refreshes every suggestion)."""
    ws = make_workspace("appr-revision-refresh", approvals=False)
    rep, _sup, _mgr = line_of(ws)
    other = next(p.person_id for p in ws.roster.people if p.active and p.role == "rep" and p.person_id != rep)
    annual = blocks_of(sent_file(ws, "month", rep), "locked_annual")["locked_annual"][0][0]
    requested = round(annual * 0.9, 2)
    before = official(ws, rep)
    assert before == {}
    with ws.store() as store:
        months_before = {(r.period, r.customer_group): r.value for r in store.current_targets()
                         if r.owner == rep and r.metric == "revenue" and r.level == "person" and r.period != YEAR}
    request = type_into(sent_file(ws, "month", rep), tmp_path / "request.xlsx",
                        month_values(ws, [[requested], [None], [None], [None]]))
    assert results(run(ws, request)) == [("accepted", [])]

    def revenue_months() -> dict[tuple[str, str], float]:
        with ws.store() as store:
            return {(r.period, r.customer_group): r.value for r in store.current_targets()
                    if r.owner == rep and r.metric == "revenue" and r.level == "person" and r.period != YEAR}

    right_after = revenue_months()
    assert round(sum(right_after.values()), 2) == requested
    # another seller's plan becomes official: every suggestion is recomputed
    assert results(run(ws, plan_return(ws, "person", other, tmp_path / "other.xlsx")[0])) == [("accepted", [])]
    later = revenue_months()
    past = sorted(k for k in months_before if k[0] <= MONTH)
    assert {k: later[k] for k in past} == {k: months_before[k] for k in past}
    assert round(sum(later.values()), 2) == requested


# --- 9. company and team plans -----------------------------------------------------------------------------

TEAM_COMMENT = "North carries too much of the growth; rebalance towards the new hires."


def test_company_plan_approved_by_the_gm_and_team_plan_rejected_by_the_vp(make_workspace, tmp_path):
    ws = make_workspace("appr-company-team")
    roster = ws.roster
    vp = roster.company_owner().person_id
    gm = roster.get(vp).reports_to
    assert roster.get(gm).role == "gm"
    manager = roster.manager(roster.teams[0]).person_id
    company, company_typed = plan_return(ws, "company", vp, tmp_path / "company.xlsx")
    team, team_typed = plan_return(ws, "team", manager, tmp_path / "team.xlsx")
    report = run(ws, company, team)
    assert results(report) == [("accepted", []), ("accepted", [])]
    opened = {i.item_kind: i for i in report.approvals.opened}
    assert chain_of(opened["company"]) == [("gm", gm)] and chain_of(opened["team"]) == [("vp", vp)]
    assert all(official(ws, t, "team") == {} for t in roster.teams)

    gm_file = decide(approval_book(ws, gm), tmp_path / "gm.xlsx", {opened["company"].ref: ("approve", None)})
    vp_book = approval_book(ws, vp)
    assert refs_in(vp_book) == [opened["team"].ref]
    vp_file = decide(vp_book, tmp_path / "vp.xlsx", {opened["team"].ref: ("reject", TEAM_COMMENT)})
    report = run(ws, gm_file, vp_file)
    assert results(report) == [("accepted", []), ("accepted", [])]
    assert item_state(ws, opened["company"].id) == ("approved", 1)
    assert item_state(ws, opened["team"].id) == ("rejected", 0)

    teams, _ = grid_keys(company, "revenue")
    expected = {(t, metric): (company_typed[f"in_{metric}"][r][0], "accepted", opened["company"].id)
                for metric in DECIMALS for r, t in enumerate(teams)}
    assert {(t, metric): value for t in teams for (_p, metric, _g), value in official(ws, t, "team").items()} == \
        expected
    people, _ = grid_keys(team, "revenue")
    assert all(official(ws, p) == {} for p in people)

    [regenerated] = report.returned
    assert regenerated == sent_file(ws, "team", manager) and regenerated.name.endswith("-r2.xlsx")
    book = openpyxl.load_workbook(regenerated)
    for sheet in {area.sheet for name, area in input_areas(book).items() if name.startswith("in_")}:
        assert TEAM_COMMENT in str(book[sheet]["A4"].value), sheet
    assert blocks_of(regenerated) == team_typed
    north = teams.index(roster.teams[0])
    assert blocks_of(regenerated, "target_revenue")["target_revenue"] == [[company_typed["in_revenue"][north][0]]]


# --- 10. the command line ----------------------------------------------------------------------------------


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def lines(result) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.strip()]


def test_cli_generates_approval_workbooks_and_lists_what_waits(make_workspace, tmp_path, monkeypatch):
    monkeypatch.delenv("SHEETPLAN_WORKSPACE", raising=False)
    ws = make_workspace("appr-cli")
    root = ws.root
    rep, sup, mgr = line_of(ws)
    [item] = run(ws, plan_return(ws, "person", rep, tmp_path / "plan.xlsx")[0]).approvals.opened

    listed = invoke("-w", root, "approvals")
    assert listed.exit_code == 0
    assert [line.split()[:2] for line in lines(listed)[:-1]] == [[item.ref, "person"]]
    assert f"waiting on {sup}" in lines(listed)[0]
    assert lines(invoke("-w", root, "approvals", "--approver", mgr)) == ["Nothing is waiting for approval."]

    outbox = root / "outbox" / "approval"
    made = invoke("-w", root, "generate", "approval", "--approver", sup)
    assert made.exit_code == 0
    [book] = list(outbox.rglob("*.xlsx"))
    assert refs_in(book) == [item.ref] and sup in book.name
    nothing = invoke("-w", root, "generate", "approval", "--approver", mgr)
    assert nothing.exit_code == 0 and list(outbox.rglob("*.xlsx")) == [book]
    assert invoke("-w", root, "generate", "person", "--approver", sup).exit_code == 2
    assert invoke("-w", root, "generate", "approval", "--approver", "P999").exit_code == 2
    assert list(outbox.rglob("*.xlsx")) == [book]

    no_comment = decide(book, tmp_path / "no-comment.xlsx", {item.ref: ("reject", None)})
    refused = invoke("-w", root, "ingest", no_comment)
    assert refused.exit_code == 1
    assert not [line for line in lines(refused) if line.startswith("Approvals:")]

    approved = decide(book, tmp_path / "yes.xlsx", {item.ref: ("approve", None)})
    ingested = invoke("-w", root, "ingest", approved)
    assert ingested.exit_code == 0
    assert len([line for line in lines(ingested) if line.startswith("Approvals:")]) == 1

    listed = invoke("-w", root, "approvals")
    assert [line.split()[:2] for line in lines(listed)[:-1]] == [[f"A{item.id}.2", "person"]]
    assert f"waiting on {mgr}" in lines(listed)[0]
    assert lines(invoke("-w", root, "approvals", "--approver", sup)) == ["Nothing is waiting for approval."]
    everything = invoke("-w", root, "approvals", "--all")
    assert [line.split()[0] for line in lines(everything)[:-1]] == [f"A{item.id}.2"]


def test_every_approval_problem_is_explained_in_chinese_feedback():
    """A zh sender's feedback copy explains each problem from the catalogue, never in English."""
    import re

    from sheetplan.plan import approvals
    from sheetplan.problems import Problem
    from sheetplan.returns.feedback import explain
    from sheetplan.workspace.labels import catalogue

    source = Path(approvals.__file__).read_text(encoding="utf-8")
    codes = set(re.findall(r'"([a-z]+(?:-[a-z]+)+)"', source))  # every kebab-case literal there is a problem code
    assert {"outside-reports", "comment-required", "decision-stale", "already-decided", "revision-too-late",
            "revision-below-passed"} <= codes
    codes.add("decision-invalid")  # raised by validate.py for the Decision drop-down
    missing = sorted(code for code in codes if code not in catalogue("zh")["problems"])
    assert missing == []
    assert explain(Problem("comment-required", "english text"), "zh") == catalogue("zh")["problems"][
        "comment-required"]


def test_a_revision_by_month_changes_only_the_months_it_names(revision, tmp_path):
    """After the approved annual revision (108,000.00, each group's April..December = KEY_ROW_REVISED), the
    April report asks for May by month: 5,000.00 instead of 2 x 3,400.00. The year becomes 108,000.00 -
    6,800.00 + 5,000.00 = 106,200.00; May splits 2,500.00 / 2,500.00 like its current targets; nothing else moves."""
    import shutil

    shutil.copytree(revision["ws"].root, tmp_path / "ws")
    ws, rep = open_workspace(tmp_path / "ws"), revision["rep"]
    before = official(ws, rep)
    april = api.generate(ws, "month", month="2027-04", only=[rep]).files[0]
    later = [f"{YEAR}-{m:02d}" for m in range(5, 13)]
    assert blocks_of(april, "cols_revision_months")["cols_revision_months"] == [later]

    def asking(annual: float | None, may: float) -> dict[str, list[list]]:
        values = month_values(ws, [[annual], [None], [None], [None]])
        values["in_revision_months"] = [[may if (r, c) == (0, 0) else None for c in range(len(later))]
                                        for r in range(len(DECIMALS))]
        return values

    disagreeing = run(ws, type_into(april, tmp_path / "both.xlsx", asking(100000.0, 5000.0)))
    assert results(disagreeing) == [("rejected", [(*REVISION_CELL, "revision-inconsistent")])]
    report = run(ws, type_into(april, tmp_path / "by-month.xlsx", asking(None, 5000.0)))
    [item] = report.approvals.opened
    assert item.detail["requested"] == {"revenue": 106200.0}
    assert item.detail["months"] == {"revenue": {f"{YEAR}-05": 5000.0}}
    for level, (_role, approver) in enumerate(revision["chain"], start=1):
        book = approval_book(ws, approver)
        run(ws, decide(book, tmp_path / f"level-{level}.xlsx", {f"A{item.id}.{level}": ("approve", None)}))
    after = official(ws, rep)
    assert after[(YEAR, "revenue", "")] == (106200.0, "revision", item.id)
    groups = revision["groups"]
    assert [after[(f"{YEAR}-05", "revenue", g)][0] for g in groups] == [2500.0, 2500.0] + [0.0] * (len(groups) - 2)
    unchanged = {k: v for k, v in after.items() if k[1] != "revenue" or k[0] not in (YEAR, f"{YEAR}-05")}
    assert unchanged == {k: v for k, v in before.items() if k[1] != "revenue" or k[0] not in (YEAR, f"{YEAR}-05")}
