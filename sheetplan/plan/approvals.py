"""Approval chains: who must approve a plan, a revision request or a re-forecast, and what each decision does.

A valid returned plan becomes an *item* that climbs the owner's reporting line, one level per decision.
Only when the last level approves are its figures written as an official target version; until then
the plan as it stands (the last official version) is what everything else uses. Every function that
writes takes the connection of the caller's transaction, so a returned file lands whole or not at all.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass, field

from sheetplan.plan.allocation import largest_remainder
from sheetplan.plan.handover import HANDOVER_ITEM, Handover, receiver_rows
from sheetplan.problems import WARNING, Problem
from sheetplan.workspace.store import ACCEPTED, HANDOVER, REFORECAST, REVISION, SUGGESTION, TargetRow, now_iso
from sheetplan.xlsx import a1
from sheetplan.xlsx.layout import (
    DECISION_BLOCK,
    DECISION_COMMENT,
    REVISION_BLOCK,
    REVISION_MONTHS,
    REVISION_REASON,
    Area,
)

PENDING, APPROVED, REJECTED, SUPERSEDED = "pending", "approved", "rejected", "superseded"
PLAN_KINDS = ("company", "team", "person", "reforecast")
# The template an owner gets back when an item is rejected: a revision request lives in a month report.
TEMPLATE_OF_ITEM = {"company": "company", "team": "team", "person": "person", "reforecast": "reforecast",
                    "revision": "month"}
_REF = re.compile(r"^A(\d+)\.(\d+)$")


@dataclass(frozen=True)
class Level:
    role: str
    approver: str


@dataclass(frozen=True)
class Item:
    id: int
    item_kind: str
    owner: str
    period: str
    submission_id: int | None  # None: no returned file brought it (a handover)
    chain: tuple[Level, ...]
    step: int
    status: str
    detail: dict
    created_at: str
    closed_at: str = ""

    @property
    def waiting_on(self) -> Level | None:
        return self.chain[self.step] if self.status == PENDING and self.step < len(self.chain) else None

    @property
    def ref(self) -> str:
        """What the approval workbook shows and signs: the item and the level deciding (1-based)."""
        return f"A{self.id}.{self.step + 1}"

    @property
    def level_text(self) -> str:
        return f"{min(self.step + 1, len(self.chain))}/{len(self.chain)}"


@dataclass(frozen=True)
class Decision:
    """One decision read from an approval workbook, with the cells it came from (for messages)."""

    ref: str
    decision: str  # 'approve' | 'reject'
    comment: str
    cell: str
    sheet: str


@dataclass
class Effects:
    """What accepting one file did to the approvals, for the ingest report and the follow-up steps."""

    opened: list[Item] = field(default_factory=list)
    official: list[tuple[str, str, str]] = field(default_factory=list)  # (item kind, owner, period)
    advanced: list[Item] = field(default_factory=list)
    returned: list[Item] = field(default_factory=list)
    plan_changed: bool = False  # company/team/person targets changed: suggestions below them are stale

    def extend(self, other: Effects) -> None:
        self.opened += other.opened
        self.official += other.official
        self.advanced += other.advanced
        self.returned += other.returned
        self.plan_changed |= other.plan_changed


def resolve_chain(config, roster, item_kind: str, owner: str) -> tuple[Level, ...]:
    """The approvers of one item: for each configured role, the nearest person above the owner holding it.

    A role nobody above the owner holds is skipped (a rep who reports straight to the manager has no
    supervisor level), so is the owner's own role; an empty chain means the item needs no approval.
    """
    line = roster.chain(owner)
    levels: list[Level] = []
    for role in config.approvals.roles(item_kind):
        found = next((p for p in line if p.role == role and p.active), None)
        if found is not None and all(level.approver != found.person_id for level in levels):
            levels.append(Level(role, found.person_id))
    return tuple(levels)


_COLUMNS = "id, item_kind, owner, period, submission_id, chain, step, status, detail, created_at, closed_at"


def _item(row) -> Item:
    chain = tuple(Level(role, approver) for role, approver in json.loads(row[5]))
    return Item(row[0], row[1], row[2], row[3], row[4], chain, row[6], row[7], json.loads(row[8] or "{}"),
                row[9], row[10])


def get_item(db: sqlite3.Connection, item_id: int) -> Item | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM approval_items WHERE id = ?", (item_id,)).fetchone()
    return _item(row) if row else None


def items(db: sqlite3.Connection, status: str | None = None, item_kind: str | None = None,
          owner: str | None = None, period: str | None = None) -> list[Item]:
    where, args = "1 = 1", []
    for column, value in (("status", status), ("item_kind", item_kind), ("owner", owner), ("period", period)):
        if value is not None:
            where += f" AND {column} = ?"
            args.append(value)
    return [_item(row) for row in db.execute(f"SELECT {_COLUMNS} FROM approval_items WHERE {where} ORDER BY id",
                                             args)]


def waiting_on(db: sqlite3.Connection, approver: str | None = None) -> dict[str, list[Item]]:
    """Pending items grouped by the approver whose decision they wait for."""
    out: dict[str, list[Item]] = {}
    for item in items(db, PENDING):
        level = item.waiting_on
        if level and (approver is None or level.approver == approver):
            out.setdefault(level.approver, []).append(item)
    return out


def reroute(db: sqlite3.Connection, config, roster) -> list[Item]:
    """Pending items whose deciding approver is no longer above the owner (the roster changed) move to
    whoever now holds the remaining roles; levels already decided stay as they were. Returns the moved items."""
    moved = []
    for item in items(db, PENDING):
        level = item.waiting_on
        if level is None or level.approver in {p.person_id for p in roster.chain(item.owner)}:
            continue
        # a handover climbs the receiver's person chain
        now = resolve_chain(config, roster, "person" if item.item_kind == HANDOVER_ITEM else item.item_kind,
                            item.owner)
        done = item.chain[:item.step]
        roles = [lv.role for lv in item.chain[item.step:]]
        rest = tuple(lv for lv in now if lv.role in roles and all(d.approver != lv.approver for d in done))
        if not rest:
            continue  # nobody holds the remaining roles any more: left for a person to sort out
        db.execute("UPDATE approval_items SET chain = ? WHERE id = ?",
                   (json.dumps([[lv.role, lv.approver] for lv in done + rest]), item.id))
        moved.append(get_item(db, item.id))
    return moved


def decisions_of(db: sqlite3.Connection, item_id: int) -> list[tuple]:
    """(step, approver, decision, comment, decided_at) of one item, lowest level first."""
    return db.execute("SELECT step, approver, decision, comment, decided_at FROM approval_decisions"
                      " WHERE item_id = ? ORDER BY step", (item_id,)).fetchall()


# --- figures ----------------------------------------------------------------------------------------


COMPANY_BLOCK = "in_company_"  # the company template's one-cell input per metric: the VP's company target


def plan_targets(kind: str, owner: str, fiscal_year: str, numbers) -> list[TargetRow]:
    """A plan's submitted figures as the target rows one level down that they set."""
    rows = []
    for block, row_key, col_key, value in numbers:
        if not block.startswith("in_") or block in (REVISION_BLOCK,):
            continue
        metric = block[3:]
        if kind == "company" and block.startswith(COMPANY_BLOCK):
            rows.append(TargetRow("company", "", fiscal_year, block[len(COMPANY_BLOCK):], "", value))
        elif kind == "company":
            rows.append(TargetRow("team", row_key, fiscal_year, metric, "", value))
        elif kind == "team":
            rows.append(TargetRow("person", row_key, fiscal_year, metric, "", value))
        elif kind in ("person", "reforecast"):
            rows.append(TargetRow("person", owner, col_key, metric, row_key, value))
    return rows


def submitted_numbers(db: sqlite3.Connection, submission_id: int) -> list[tuple[str, str, str, float]]:
    return db.execute("SELECT block, row_key, col_key, value FROM submitted_values WHERE submission_id = ?",
                      (submission_id,)).fetchall()


def submitted_texts(db: sqlite3.Connection, submission_id: int) -> list[tuple[str, str, str, str]]:
    return db.execute("SELECT block, row_key, col_key, text FROM submitted_texts WHERE submission_id = ?",
                      (submission_id,)).fetchall()


def _current(db: sqlite3.Connection, level: str, owner: str) -> dict[tuple[str, str, str], float]:
    """The plan as it stands for one owner: (period, metric, group) -> newest version's value."""
    rows = db.execute(
        "SELECT period, metric, customer_group, value FROM targets t WHERE level = ? AND owner = ? AND version ="
        " (SELECT MAX(version) FROM targets u WHERE u.level = t.level AND u.owner = t.owner AND u.period = t.period"
        " AND u.metric = t.metric AND u.customer_group = t.customer_group)", (level, owner)).fetchall()
    return {(p, m, g): v for p, m, g, v in rows}


@dataclass(frozen=True)
class Request:
    """What one revision asks for one metric: a new annual target, and the later months it names, if any."""

    current: float  # the annual target now
    annual: float  # the annual target asked for (implied by the months when only they were typed)
    months: dict[str, float]  # later month -> requested target; {} when only an annual figure was typed
    implied: float  # the year the months add up to: months past + named months + the others as they stand


def requested_revisions(db: sqlite3.Connection, config, owner: str, month: str, numbers,
                        current: dict | None = None) -> dict[str, Request]:
    """metric -> Request for every metric whose revision cells ask for a change. `current`: the owner's
    plan as `_current` gives it, when the caller has already read it."""
    numbers = [n for n in numbers if n[0] in (REVISION_BLOCK, REVISION_MONTHS)]
    if not numbers:
        return {}  # most month reports ask for nothing: no need to read the plan
    current = _current(db, "person", owner) if current is None else current
    fy, months, keys = str(config.fiscal_year), config.months, {m.key for m in config.metrics}
    annual_asked = {row: v for block, row, _c, v in numbers if block == REVISION_BLOCK}
    months_asked: dict[str, dict[str, float]] = {}
    for block, row, col, value in numbers:
        if block == REVISION_MONTHS:
            months_asked.setdefault(row, {})[col] = value
    out = {}
    for metric in dict.fromkeys([*annual_asked, *months_asked]):
        if metric not in keys:
            continue
        decimals = config.metric(metric).decimals
        now = current.get((fy, metric, ""), 0.0)
        named = months_asked.get(metric, {})
        totals = {m: sum(v for (p, k, g), v in current.items() if p == m and k == metric and g) for m in months}
        implied = round(sum(named.get(m, totals[m]) if m > month else totals[m] for m in months), decimals)
        annual = annual_asked.get(metric, implied)
        changed = any(round(v, decimals) != round(totals[m], decimals) for m, v in named.items())
        if changed or round(annual, decimals) != round(now, decimals):
            out[metric] = Request(now, annual, named, implied)
    return out


def respread(config, roster, current: dict[tuple[str, str, str], float], owner: str, month: str, metric: str,
             requested: float, named: dict[str, float] | None = None) -> list[TargetRow]:
    """The target rows an approved revision writes: the new annual target and the later months.

    Months already past keep their targets. Named months get the figure asked for, split over the
    customer groups in proportion to their current targets (equally if those are all 0), and the other
    later months keep theirs. With only an annual figure, the later months share what is left in
    proportion to their current targets (equally over the active months if all are 0)."""
    from sheetplan.plan.allocation import availability

    months, groups = config.months, config.customer_groups
    decimals = config.metric(metric).decimals
    rows = [TargetRow("person", owner, str(config.fiscal_year), metric, "", requested)]
    if named:
        for later, value in named.items():
            weights = [current.get((later, metric, g), 0.0) for g in groups]
            parts = largest_remainder(value, weights, decimals)
            rows += [TargetRow("person", owner, later, metric, g, v) for g, v in zip(groups, parts)]
        return rows
    later = months[months.index(month) + 1:]
    passed = sum(current.get((m, metric, g), 0.0) for m in months if m <= month for g in groups)
    remaining = round(requested - passed, decimals)
    cells = [(m, g) for m in later for g in groups]
    weights = [current.get((m, metric, g), 0.0) for m, g in cells]
    if sum(weights) <= 0:
        person = roster.get(owner)
        active = availability(months, (person.start_month or None) if person else None,
                              (person.end_month or None) if person else None)
        share = dict(zip(months, active))
        weights = [share[m] for m, _g in cells]
    values = largest_remainder(max(remaining, 0.0), weights, decimals) if cells else []
    rows += [TargetRow("person", owner, m, metric, g, v) for (m, g), v in zip(cells, values)]
    return rows


def _past_suggestions(db: sqlite3.Connection, config, owner: str, month: str, metric: str) -> list[TargetRow]:
    """The months up to `month` whose current target is still the suggestion (version 0)."""
    rows = db.execute(
        "SELECT period, customer_group, value FROM targets t WHERE level = 'person' AND owner = ? AND metric = ?"
        " AND customer_group <> '' AND period <= ? AND source = ? AND NOT EXISTS (SELECT 1 FROM targets u"
        " WHERE u.level = t.level AND u.owner = t.owner AND u.period = t.period AND u.metric = t.metric"
        " AND u.customer_group = t.customer_group AND u.version > t.version)",
        (owner, metric, month, SUGGESTION)).fetchall()
    return [TargetRow("person", owner, p, metric, g, v) for p, g, v in rows if p in config.months]


def check_revision(db: sqlite3.Connection, config, owner: str, month: str, numbers, blocks: list[dict],
                   file: str) -> list[Problem]:
    """A revision must leave room for itself: a later month to take effect in, no less than is past, and
    when both an annual figure and months are typed, the two must agree."""
    current = _current(db, "person", owner)
    requested = requested_revisions(db, config, owner, month, numbers, current)
    if not requested:
        return []
    block = next((b for b in blocks if b["name"] == REVISION_BLOCK), None)
    typed_annual = {row for b, row, _c, _v in numbers if b == REVISION_BLOCK}
    problems = []
    for metric, request in requested.items():
        sheet, cell = _cell_of(block, metric) if block else ("", "")
        where = {"file": file, "sheet": sheet, "cell": cell, "field": REVISION_BLOCK, "value": request.annual}
        if month == config.months[-1]:
            problems.append(Problem("revision-too-late", "a revision takes effect from the next month, and this "
                                    "is the last month of the fiscal year", **where))
            continue
        decimals = config.metric(metric).decimals
        if request.months and metric in typed_annual and round(request.annual, decimals) != request.implied:
            problems.append(Problem("revision-inconsistent", f"the months typed make a year of "
                                    f"{request.implied:,.{decimals}f}; leave the annual figure blank or make it "
                                    "that", params={"implied": f"{request.implied:,.{decimals}f}"}, **where))
            continue
        passed = round(sum(v for (m, k, g), v in current.items() if k == metric and g and m <= month
                           and m in config.months), decimals)
        if request.annual < passed:
            problems.append(Problem("revision-below-passed", f"the months up to {month} already hold "
                                    f"{passed:,.{decimals}f} of target; ask for at least that much",
                                    params={"month": month, "passed": f"{passed:,.{decimals}f}"}, **where))
    return problems


def _cell_of(block: dict, row_key: str) -> tuple[str, str]:
    area = Area.parse(block["area"])
    index = block["row_keys"].index(row_key) if row_key in block["row_keys"] else 0
    return area.sheet, a1.cell_name(area.first_row + index, area.first_col)


# --- opening items ------------------------------------------------------------------------------------


def _supersede(db: sqlite3.Connection, item_kind: str, owner: str, period: str) -> None:
    db.execute("UPDATE approval_items SET status = ?, closed_at = ? WHERE item_kind = ? AND owner = ? AND period = ?"
               " AND status = ?", (SUPERSEDED, now_iso(), item_kind, owner, period, PENDING))


def _open(db: sqlite3.Connection, item_kind: str, owner: str, period: str, submission_id: int | None,
          chain: tuple[Level, ...], detail: dict) -> Item:
    cursor = db.execute(
        "INSERT INTO approval_items (item_kind, owner, period, submission_id, chain, step, status, detail,"
        " created_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)",
        (item_kind, owner, period, submission_id, json.dumps([[lv.role, lv.approver] for lv in chain]), PENDING,
         json.dumps(detail, ensure_ascii=False), now_iso()))
    return get_item(db, cursor.lastrowid)


def on_accepted(db: sqlite3.Connection, store, workspace, kind: str, owner: str, period: str,
                submission_id: int, numbers=None) -> Effects:
    """A valid plan, month report or re-forecast was accepted: open its item, or make it official at once
    when its chain is empty. A newer file withdraws the owner's pending item for the same template.
    `numbers` are the file's values when the caller still holds them (saves reading them back)."""
    config, roster = workspace.config, workspace.roster
    effects = Effects()
    if kind in PLAN_KINDS:
        item_kind, detail = kind, {}
    elif kind == "month":
        item_kind = "revision"
        _supersede(db, item_kind, owner, period)
        if numbers is None:  # `numbers`: the file's values when the caller still holds them
            numbers = submitted_numbers(db, submission_id)
        requested = requested_revisions(db, config, owner, period, numbers)
        if not requested:
            return effects
        reason = next((t for b, _r, _c, t in submitted_texts(db, submission_id) if b == REVISION_REASON), "")
        detail = {"requested": {m: r.annual for m, r in requested.items()},
                  "current": {m: r.current for m, r in requested.items()}, "reason": reason}
        named = {m: r.months for m, r in requested.items() if r.months}
        if named:
            detail["months"] = named
    else:
        return effects
    if kind != "month":
        _supersede(db, item_kind, owner, period)
    chain = resolve_chain(config, roster, item_kind, owner)
    if not chain:
        _make_official(db, store, workspace, item_kind, owner, period, submission_id, None, detail, effects)
        return effects
    effects.opened.append(_open(db, item_kind, owner, period, submission_id, chain, detail))
    return effects


def open_handover(db: sqlite3.Connection, store, workspace, handover: Handover) -> Item | None:
    """A leaver's freed cells go to the receiver through the receiver's person approval chain; with an empty
    chain they are the receiver's at once (returns None then)."""
    chain = resolve_chain(workspace.config, workspace.roster, "person", handover.receiver)
    fy = str(workspace.config.fiscal_year)
    if not chain:
        _make_official(db, store, workspace, HANDOVER_ITEM, handover.receiver, fy, None, None,
                       handover.as_detail(), Effects())
        return None
    return _open(db, HANDOVER_ITEM, handover.receiver, fy, None, chain, handover.as_detail())


def _person_as_it_stands(db: sqlite3.Connection, owner: str) -> list[tuple[str, str, str, float]]:
    """(period, metric, group, value) of one person's newest version of every cell, suggestion or official."""
    return db.execute(
        "SELECT period, metric, customer_group, value FROM targets t WHERE level = 'person' AND owner = ?"
        " AND version = (SELECT MAX(version) FROM targets u WHERE u.level = 'person' AND u.owner = t.owner"
        " AND u.period = t.period AND u.metric = t.metric AND u.customer_group = t.customer_group)",
        (owner,)).fetchall()


def _supersede_handovers(db: sqlite3.Connection, config, roster, team: str) -> None:
    """A team split made official decides every member's annual target, a pending handover's included: the
    handover would add the leaver's cells a second time, so it is withdrawn."""
    members = [p.person_id for p in roster.sellers(config, team)]
    if members:
        marks = ", ".join("?" for _ in members)
        db.execute(f"UPDATE approval_items SET status = ?, closed_at = ? WHERE item_kind = ? AND status = ?"
                   f" AND owner IN ({marks})", (SUPERSEDED, now_iso(), HANDOVER_ITEM, PENDING, *members))


def _make_official(db: sqlite3.Connection, store, workspace, item_kind: str, owner: str, period: str,
                   submission_id: int | None, approval_id: int | None, detail: dict, effects: Effects) -> None:
    config = workspace.config
    fy = str(config.fiscal_year)
    if item_kind == HANDOVER_ITEM:
        current = {("person", owner, period_, metric, group): value
                   for period_, metric, group, value in _person_as_it_stands(db, owner)}
        rows = receiver_rows(config, current, Handover.from_detail(owner, detail))
        store.record_targets(rows, HANDOVER, None, db, approval_id)
        effects.plan_changed = True
        db.execute("INSERT INTO meta (key, value) VALUES ('suggestions_stale', '1') ON CONFLICT (key)"
                   " DO UPDATE SET value = '1'")
    elif item_kind == "revision":
        current = _current(db, "person", owner)
        rows, frozen = [], []
        for metric, requested in detail["requested"].items():
            rows += respread(config, workspace.roster, current, owner, period, metric, requested,
                             detail.get("months", {}).get(metric))
            frozen += _past_suggestions(db, config, owner, period, metric)
        store.record_targets(rows, REVISION, submission_id, db, approval_id)
        # Months already past that still hold a suggestion would be re-derived from the new annual
        # target by the next refresh; they keep the figures they were reported against.
        store.record_targets(frozen, ACCEPTED, submission_id, db, approval_id)
        # The team no longer adds up: the refresh at the end of the batch applies the [replan] policy.
        db.execute("INSERT INTO meta (key, value) VALUES ('suggestions_stale', '1') ON CONFLICT (key)"
                   " DO UPDATE SET value = '1'")
    else:
        rows = plan_targets(item_kind, owner, fy, submitted_numbers(db, submission_id))
        source = REFORECAST if item_kind == "reforecast" else ACCEPTED
        store.record_targets(rows, source, submission_id, db, approval_id)
        if item_kind == "team":
            manager = workspace.roster.get(owner)
            if manager is not None:
                _supersede_handovers(db, config, workspace.roster, manager.team)
        if item_kind in ("company", "team", "person"):
            effects.plan_changed = True
            db.execute("INSERT INTO meta (key, value) VALUES ('suggestions_stale', '1') ON CONFLICT (key)"
                       " DO UPDATE SET value = '1'")
    effects.official.append((item_kind, owner, period))


# --- decisions ----------------------------------------------------------------------------------------


def read_decisions(texts, blocks: list[dict]) -> list[Decision]:
    """The decisions an approval workbook carries, with the cell of each (blank rows are undecided)."""
    chosen = {row: text for block, row, _c, text in texts if block == DECISION_BLOCK}
    comments = {row: text for block, row, _c, text in texts if block == DECISION_COMMENT}
    block = next((b for b in blocks if b["name"] == DECISION_BLOCK), None)
    out = []
    for ref, decision in chosen.items():
        sheet, cell = _cell_of(block, ref) if block else ("", "")
        out.append(Decision(ref, decision, comments.get(ref, "").strip(), cell, sheet))
    return out


def check_decisions(db: sqlite3.Connection, roster, approver: str, decisions: list[Decision],
                    file: str) -> tuple[list[Problem], list[tuple[Item, Decision]]]:
    """Which decisions can be applied. Errors (the file is rejected, nothing applied): a decision on an
    item outside the approver's reports, a rejection without a comment. Warnings (the rest still applies):
    a decision on a version that was superseded or already decided."""
    problems: list[Problem] = []
    usable: list[tuple[Item, Decision]] = []
    for decision in decisions:
        where = {"file": file, "sheet": decision.sheet, "cell": decision.cell, "field": DECISION_BLOCK,
                 "value": decision.decision}
        match = _REF.match(decision.ref)
        item = get_item(db, int(match.group(1))) if match else None
        if item is None:
            problems.append(Problem("unknown-item", f"no approval item {decision.ref} exists in this workspace",
                                    **where))
            continue
        step = int(match.group(2)) - 1
        level = item.chain[step] if step < len(item.chain) else None
        line = {p.person_id for p in roster.chain(item.owner)}
        if level is None or level.approver != approver or approver not in line:
            owner = roster.get(item.owner)
            problems.append(Problem("outside-reports", f"{approver} may not decide on {decision.ref}: "
                                    f"{owner.name if owner else item.owner} ({item.owner}) is not in their reports "
                                    "at this level", **where))
            continue
        if decision.decision == "reject" and not decision.comment:
            problems.append(Problem("comment-required", "a rejection needs a comment saying what to change",
                                    **where))
            continue
        earlier = {row[0]: row for row in decisions_of(db, item.id)}
        if step in earlier:
            _s, _a, was, _c, when = earlier[step]
            code = "already-decided" if was == decision.decision else "decision-stale"
            message = (f"already {was}d on {when[:10]}; nothing changed" if code == "already-decided" else
                       f"already {was}d on {when[:10]}; this {decision.decision} was ignored")
            problems.append(Problem(code, message, severity=WARNING, **where))
            continue
        if item.status == SUPERSEDED or item.status != PENDING or item.step != step:
            problems.append(Problem("decision-stale", "a newer version was submitted after this approval workbook "
                                    "was made; decide on it in the next approval workbook", severity=WARNING,
                                    **where))
            continue
        usable.append((item, decision))
    return problems, usable


def apply_decisions(db: sqlite3.Connection, store, workspace, approver: str, usable: list[tuple[Item, Decision]],
                    submission_id: int) -> Effects:
    """Record each decision; approve moves the item up (or makes it official), reject sends it back."""
    effects = Effects()
    stamp = now_iso()
    for checked_item, decision in usable:
        item = get_item(db, checked_item.id)
        if item is None or item.status != PENDING or item.step != checked_item.step:
            continue  # decided by an earlier file of this batch
        db.execute("INSERT INTO approval_decisions (item_id, step, approver, decision, comment, submission_id,"
                   " decided_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (item.id, item.step, approver, decision.decision, decision.comment, submission_id, stamp))
        if decision.decision == "reject":
            db.execute("UPDATE approval_items SET status = ?, closed_at = ? WHERE id = ?", (REJECTED, stamp, item.id))
            effects.returned.append(get_item(db, item.id))
        elif item.step + 1 < len(item.chain):
            db.execute("UPDATE approval_items SET step = step + 1 WHERE id = ?", (item.id,))
            effects.advanced.append(get_item(db, item.id))
        else:
            db.execute("UPDATE approval_items SET status = ?, step = ?, closed_at = ? WHERE id = ?",
                       (APPROVED, len(item.chain), stamp, item.id))
            _make_official(db, store, workspace, item.item_kind, item.owner, item.period, item.submission_id,
                           item.id, item.detail, effects)
    return effects


# --- sent back ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Returned:
    """A rejected item whose owner has not sent a new file since: the template goes back with this."""

    item: Item
    approver: str
    role: str
    comment: str
    decided_at: str
    numbers: tuple[tuple[str, str, str, float], ...]
    texts: tuple[tuple[str, str, str, str], ...]


def returned_for(db: sqlite3.Connection, template_kind: str, period: str) -> dict[str, Returned]:
    """Owner -> the rejection their next template of this kind and period must show."""
    item_kind = "revision" if template_kind == "month" else template_kind
    out: dict[str, Returned] = {}
    for item in items(db, REJECTED, item_kind, period=period):
        newer = db.execute(
            "SELECT 1 FROM approval_items WHERE item_kind = ? AND owner = ? AND period = ? AND id > ? LIMIT 1",
            (item_kind, item.owner, period, item.id)).fetchone()
        resent = db.execute(
            "SELECT 1 FROM submissions WHERE kind = ? AND owner = ? AND period = ? AND status = 'accepted'"
            " AND id > ? LIMIT 1", (template_kind, item.owner, period, item.submission_id)).fetchone()
        if newer or resent:
            continue
        step, approver, _d, comment, decided_at = decisions_of(db, item.id)[-1]
        out[item.owner] = Returned(item, approver, item.chain[step].role, comment, decided_at,
                                   tuple(submitted_numbers(db, item.submission_id)),
                                   tuple(submitted_texts(db, item.submission_id)))
    return out


def official_figures(db: sqlite3.Connection, level: str, owner: str) -> tuple[dict, dict]:
    """(suggestion, last official) figures of one owner, each (period, metric, group) -> value."""
    rows = db.execute(
        "SELECT period, metric, customer_group, value, source, version FROM targets WHERE level = ? AND owner = ?"
        " ORDER BY version", (level, owner)).fetchall()
    suggestion, official = {}, {}
    for period, metric, group, value, source, _version in rows:
        (suggestion if source == SUGGESTION else official)[(period, metric, group)] = value
    return suggestion, official
