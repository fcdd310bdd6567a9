"""Approvals in the consolidation: the approvals frame, the pending and sent-back flags, revision requests read
from pending items, the Approvals sheet, and rollover stopping where an approved revision re-planned a person.

The office (test_consolidate's make_workspace, rollover next_month): Gina Boss (G1, gm) over Mona North (M1,
manager of North) over Ann One (N1), Nora Two (N2) and Nils Three (N3). Targets are 1000 per customer group and
month (Key, Web). The approval items, their decisions and the targets they made official are written straight
into the store, oldest first:

 1. N1 personal plan 2027: M1 approved ("Looks right"), waits on G1 (level 2 of 2).
 2. N2 revision 2027-03 (revenue 18000, now 24000): waits on M1 (level 1 of 2).
 3. N3 revision 2027-02: rejected by M1 ("Give a reason"), nothing sent since: sent back.
 4. M1 team split 2027: rejected by G1 ("Too low for North") ...
 5. ... and resubmitted: waits on G1 (level 1 of 1). Only the newer item is flagged.
 6. N1 revision 2027-01: superseded by a newer month report (no flag).
 7. N1 revision 2027-02: approved by M1; its targets (annual 24000, March to December) are official.
 8. N3 personal plan 2027: rejected by M1, then N3 sent a new plan that needed no approval: not sent back.
 9. N2 revision 2027-04: waits on M1, but is from a month after the one consolidated (no flag in March).
10. N2 revision 2027-01 approved (February to December), then 11. N2 re-forecast 2027-H2 approved (July to
    December): the newer re-plan decides where N2's revenue rollover stops.
N1 sold 500 per group in January and February (short 500 a month in each group) and did not report March.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta

import openpyxl
import pandas as pd
import pytest
from openpyxl.utils.cell import range_boundaries
from test_consolidate import Seller, make_workspace

from sheetplan.reports.consolidate import (
    APPROVAL_COLUMNS,
    consolidate,
    load_inputs,
    revision_requests,
)
from sheetplan.reports.facts import MetricRule, build_facts
from sheetplan.reports.monthend import run_consolidation
from sheetplan.workspace.folder import open_workspace
from sheetplan.workspace.labels import Labels
from sheetplan.workspace.store import TargetRow

FY, JAN, FEB, MAR = "2027", "2027-01", "2027-02", "2027-03"
MANAGERS = {"North": ("M1", "Mona North")}
SELLERS = [Seller("N1", "Ann One", "North"), Seller("N2", "Nora Two", "North"), Seller("N3", "Nils Three", "North")]
MONTHS = [f"2027-{m:02d}" for m in range(1, 13)]
MANAGER, GM = ["manager", "M1"], ["gm", "G1"]
START = datetime(2027, 3, 10, 9, 0, tzinfo=UTC)


class Office:
    """Writes submissions, approval items, decisions and targets in one transaction, ids in order."""

    def __init__(self, store, db) -> None:
        self.store, self.db, self.clock = store, db, 0

    def stamp(self) -> str:
        """One minute later each time: every decision comes after its item, all on 10 March."""
        self.clock += 1
        return (START + timedelta(minutes=self.clock)).isoformat()

    def submission(self, name: str, kind: str, owner: str, period: str) -> int:
        return self.db.execute(
            "INSERT INTO submissions (sha256, original_name, source_path, received_at, ingested_at, kind, owner,"
            " period, revision, status, problems, archive_path) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, 'accepted', '[]',"
            " '')", (name, name, name, self.stamp(), self.stamp(), kind, owner, period)).lastrowid

    def item(self, kind: str, owner: str, period: str, name: str, chain: list, status: str = "pending",
             decisions: tuple = (), detail: dict | None = None) -> int:
        """decisions: (decision, comment) per level from the lowest; pending items wait on the next level."""
        submission = self.submission(name, "month" if kind == "revision" else kind, owner, period)
        step = len(chain) if status == "approved" else len(decisions) - (status == "rejected")
        item = self.db.execute(
            "INSERT INTO approval_items (item_kind, owner, period, submission_id, chain, step, status, detail,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (kind, owner, period, submission, json.dumps(chain), step, status, json.dumps(detail or {}),
             self.stamp())).lastrowid
        for level, (decision, comment) in enumerate(decisions):
            approver = chain[level][1]
            book = self.submission(f"approvals-{approver}-{item}-{level}.xlsx", "approval", approver, FY)
            self.db.execute("INSERT INTO approval_decisions (item_id, step, approver, decision, comment,"
                            " submission_id, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (item, level, approver, decision, comment, book, self.stamp()))
        return item

    def official(self, item: int, source: str, owner: str, metric: str, months: list[str], annual: float) -> None:
        submission = self.db.execute("SELECT submission_id FROM approval_items WHERE id = ?", (item,)).fetchone()[0]
        rows = [TargetRow("person", owner, FY, metric, "", annual)] if annual else []
        rows += [TargetRow("person", owner, m, metric, g, 1000.0) for m in months for g in ("Key", "Web")]
        rows.append(TargetRow("team", "North", FY, metric, "", 72000.0))  # not a person's month: no reset
        self.store.record_targets(rows, source, submission, self.db, item)

    def actuals(self, owner: str, month: str, value: float) -> None:
        submission = self.submission(f"report-{owner}-{month}.xlsx", "month", owner, month)
        self.db.executemany("INSERT INTO submitted_values (submission_id, block, row_key, col_key, value)"
                            " VALUES (?, ?, ?, ?, ?)", [(submission, block, group, "", v) for group in ("Key", "Web")
                                                        for block, v in (("in_revenue", value), ("in_travel", 100.0))])


@pytest.fixture(scope="module")
def office(tmp_path_factory):
    root = tmp_path_factory.mktemp("approvals") / "ws"
    make_workspace(root, "en", MANAGERS, SELLERS)
    config = root / "sheetplan.toml"
    config.write_text(config.read_text(encoding="utf-8").replace('policy = "none"', 'policy = "next_month"'),
                      encoding="utf-8")
    ws = open_workspace(root)
    store = ws.store()
    with store, store.transaction() as db:
        o = Office(store, db)
        o.item("person", "N1", FY, "plan-N1.xlsx", [MANAGER, GM], decisions=[("approve", "Looks right")])
        o.item("revision", "N2", MAR, "month-N2-2027-03.xlsx", [MANAGER, GM],
               detail={"requested": {"revenue": 18000.0}, "current": {"revenue": 24000.0},
                       "reason": "Lost a key account"})
        o.item("revision", "N3", FEB, "month-N3-2027-02.xlsx", [MANAGER], "rejected", [("reject", "Give a reason")],
               {"requested": {"revenue": 20000.0}, "current": {"revenue": 24000.0}, "reason": ""})
        o.item("team", "M1", FY, "team-North.xlsx", [GM], "rejected", [("reject", "Too low for North")])
        o.item("team", "M1", FY, "team-North-v2.xlsx", [GM])
        o.item("revision", "N1", JAN, "month-N1-2027-01.xlsx", [MANAGER], "superseded",
               detail={"requested": {"revenue": 1.0}, "current": {"revenue": 24000.0}, "reason": "typo"})
        revision = o.item("revision", "N1", FEB, "month-N1-2027-02.xlsx", [MANAGER], "approved", [("approve", "")],
                          {"requested": {"revenue": 24000.0}, "current": {"revenue": 20000.0}, "reason": "back on"})
        o.official(revision, "revision", "N1", "revenue", MONTHS[2:], 24000.0)
        o.item("person", "N3", FY, "plan-N3.xlsx", [MANAGER], "rejected", [("reject", "Spread it more evenly")])
        o.submission("plan-N3-again.xlsx", "person", "N3", FY)
        o.item("revision", "N2", "2027-04", "month-N2-2027-04.xlsx", [MANAGER],
               detail={"requested": {"revenue": 17000.0}, "current": {"revenue": 24000.0}, "reason": "later"})
        early = o.item("revision", "N2", JAN, "month-N2-2027-01.xlsx", [MANAGER], "approved", [("approve", "ok")])
        o.official(early, "revision", "N2", "revenue", MONTHS[1:], 24000.0)
        h2 = o.item("reforecast", "N2", "2027-H2", "reforecast-N2.xlsx", [MANAGER], "approved", [("approve", "")])
        o.official(h2, "reforecast", "N2", "revenue", MONTHS[6:], 0.0)
        o.actuals("N1", JAN, 500.0)
        o.actuals("N1", FEB, 500.0)
    return ws


@pytest.fixture(scope="module")
def march(office):
    return consolidate(office, MAR)


def test_approvals_frame_lists_every_item_pending_first(march):
    frame = march.inputs.approvals
    assert list(frame.columns) == APPROVAL_COLUMNS
    got = frame[["item_id", "item_kind", "owner", "period", "status", "level", "waiting_on", "sent_back"]]
    assert got.values.tolist() == [
        [1, "person", "N1", FY, "pending", "2 of 2", "G1", False],
        [2, "revision", "N2", MAR, "pending", "1 of 2", "M1", False],
        [5, "team", "M1", FY, "pending", "1 of 1", "G1", False],
        [9, "revision", "N2", "2027-04", "pending", "1 of 1", "M1", False],
        [3, "revision", "N3", FEB, "rejected", "1 of 1", "", True],
        [4, "team", "M1", FY, "rejected", "1 of 1", "", False],  # resubmitted: item 5
        [8, "person", "N3", FY, "rejected", "1 of 1", "", False],  # a newer plan came back
        [7, "revision", "N1", FEB, "approved", "1 of 1", "", False],
        [10, "revision", "N2", JAN, "approved", "1 of 1", "", False],
        [11, "reforecast", "N2", "2027-H2", "approved", "1 of 1", "", False],
        [6, "revision", "N1", JAN, "superseded", "1 of 1", "", False],
    ]


def test_approvals_frame_names_people_files_and_the_last_decision(march):
    frame = march.inputs.approvals.set_index("item_id")
    first = frame.loc[1]
    assert (first["owner_name"], first["team"], first["waiting_on_name"], first["waiting_on_role"]) == (
        "Ann One", "North", "Gina Boss", "gm")
    assert first["submitted_file"] == "plan-N1.xlsx"
    assert (first["last_decision"], first["last_decided_by"], first["last_comment"]) == (
        "approve", "Mona North (M1, manager)", "Looks right")
    assert first["step"] == 1 and first["created_at"] < first["last_decided_at"]
    sent_back = frame.loc[3]
    assert (sent_back["last_decision"], sent_back["last_decided_by"], sent_back["last_comment"]) == (
        "reject", "Mona North (M1, manager)", "Give a reason")
    assert (sent_back["waiting_on"], sent_back["waiting_on_name"], sent_back["waiting_on_role"]) == ("", "", "")
    team = frame.loc[5]
    assert (team["owner_name"], team["team"], team["last_decision"], team["last_comment"]) == (
        "Mona North", "North", "", "")


def test_revision_requests_come_from_pending_items_only(march):
    requests = revision_requests(march.inputs.approvals)
    assert requests.values.tolist() == [
        ["N2", MAR, "revenue", 18000.0, 24000.0, "Lost a key account", 2],
        ["N2", "2027-04", "revenue", 17000.0, 24000.0, "later", 9],
    ]


APPROVAL_FLAGS = [
    # (code, severity, person, month, metric, message)
    ("approval-rejected", "medium", "N3", FEB, "",
     "Nils Three (N3): target revision request for 2027-02 was sent back by Mona North (M1, manager) on 2027-03-10"
     " (Give a reason) and has not been resubmitted"),
    ("approval-pending", "info", "M1", FY, "",
     "Mona North (M1): team split for 2027 awaits approval by Gina Boss (G1, gm) (level 1 of 1)"),
    ("approval-pending", "info", "N1", FY, "",
     "Ann One (N1): personal plan for 2027 awaits approval by Gina Boss (G1, gm) (level 2 of 2)"),
    ("approval-pending", "info", "N2", MAR, "",
     "Nora Two (N2): target revision request for 2027-03 awaits approval by Mona North (M1, manager) (level 1 of 2)"),
    ("revision-requested", "info", "N2", MAR, "revenue",
     "Nora Two (N2): asks for a new annual Revenue target of 18,000.00 (now 24,000.00): Lost a key account"),
]


def test_pending_and_sent_back_items_raise_flags(march):
    codes = ("approval-pending", "approval-rejected", "revision-requested")
    flags = march.flags[march.flags["code"].isin(codes)]
    got = [tuple(r) for r in flags[["code", "severity", "person", "month", "metric", "message"]].itertuples(
        index=False)]
    assert got == APPROVAL_FLAGS  # sorted by severity, team, person, month, code
    assert set(flags["team"]) == {"North"} and set(flags["level"]) == {"person"}


def test_an_april_request_is_not_news_in_march_but_is_in_april(office):
    april = consolidate(office, "2027-04").flags
    codes = ("approval-pending", "approval-rejected", "revision-requested")
    mine = april[(april["person"] == "N2") & (april["month"] == "2027-04") & april["code"].isin(codes)]
    assert sorted(mine["code"]) == ["approval-pending", "revision-requested"]
    (message,) = mine.loc[mine["code"] == "revision-requested", "message"]
    assert message == "Nora Two (N2): asks for a new annual Revenue target of 17,000.00 (now 24,000.00): later"


def test_resets_come_from_the_latest_approved_re_plan(march):
    # N1: the revision of February re-set March to December; N2: the re-forecast (July to December) is newer
    # than the January revision (February to December); annual and team rows set no month
    assert march.inputs.resets.sort_values("person").values.tolist() == [
        ["N1", "revenue", "revision", MAR], ["N2", "revenue", "reforecast", "2027-07"]]


def test_a_re_forecast_plan_is_not_flagged_for_missing_the_annual_target(office, tmp_path):
    """An approved H2 re-forecast is planned from H1's actuals, so its months need not add up to the annual
    target; a revision's months must (it re-spreads to the requested figure), so those are still checked."""
    import shutil

    shutil.copytree(office.root, tmp_path / "ws")
    ws = open_workspace(tmp_path / "ws")
    store = ws.store()
    with store, store.transaction() as db:
        o = Office(store, db)
        h2 = o.item("reforecast", "N2", "2027-H2", "reforecast-N2-v2.xlsx", [MANAGER], "approved", [("approve", "")])
        store.record_targets([TargetRow("person", "N2", m, "revenue", g, 1500.0) for m in MONTHS[6:]
                              for g in ("Key", "Web")], "reforecast", None, db, h2)
        why = "N1's revised months, doubled, no longer add up to the revised annual target"
        store.record_targets([TargetRow("person", "N1", m, "revenue", g, 2000.0) for m in MONTHS[2:]
                              for g in ("Key", "Web")], "revision", None, db, None)
    result = consolidate(ws, MAR)
    plan = result.inputs.targets.groupby(["person", "metric"])["target"].sum()
    annual = result.inputs.annual.set_index(["person", "metric"])["annual_target"]
    assert plan[("N2", "revenue")] != annual[("N2", "revenue")]
    mismatches = result.flags[result.flags["code"] == "plan-mismatch"]
    flagged = set(zip(mismatches["person"], mismatches["metric"]))
    assert ("N2", "revenue") not in flagged
    assert ("N1", "revenue") in flagged, why


def _n1_key_rollover(facts: pd.DataFrame) -> list[float]:
    rows = facts[(facts["level"] == "person") & (facts["person"] == "N1") & (facts["metric"] == "revenue")
                 & (facts["customer_group"] == "Key")].set_index("month")["rollover_in"]
    return [float(rows[m]) for m in (JAN, FEB, MAR, "2027-04", "2027-05")]


def test_rollover_stops_at_the_re_plan(march, office):
    # N1 Key: January 500 short -> February (1500 effective); February 1000 short has no month before March
    # (the re-plan) to go to: dropped. March is not reported (0 sold): its 1000 carries into April as always.
    assert _n1_key_rollover(march.facts) == [0.0, 500.0, 0.0, 1000.0, 0.0]
    # without the reset February's 1000 would land in March too, and 2000 would move on into April
    inputs = load_inputs(office)
    rules = [MetricRule(m.key, m.decimals, m.higher_is_better) for m in office.config.metrics]
    plain = build_facts(inputs.targets, inputs.actuals, inputs.teams, rules, office.config.months, MAR, "next_month")
    assert _n1_key_rollover(plain) == [0.0, 500.0, 1000.0, 2000.0, 0.0]


def test_approvals_sheet_lists_items_pending_first(office, march, tmp_path):
    result = run_consolidation(office, MAR, output=tmp_path / "summary.xlsx")
    book = openpyxl.load_workbook(result.summary)
    labels = Labels("en")
    names = book.sheetnames
    assert names.index("Approvals") == names.index("Flags") + 1
    sheet = book["Approvals"]
    assert [c.value for c in sheet[1]] == [
        "Item", "Status", "Level", "Person", "Name", "Team", "Period", "Waiting on", "Approver", "Approver role",
        "Submitted file", "Opened", "Last decision", "Decided by", "Decided at", "Last comment"]
    assert labels("summary.approvals") == "Approvals"
    assert sheet.freeze_panes == "A2"
    assert range_boundaries(sheet.auto_filter.ref) == (1, 1, 16, 12)
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    assert [row[:10] for row in rows[:4]] == [
        ["personal plan", "pending", "2 of 2", "N1", "Ann One", "North", FY, "G1", "Gina Boss", "gm"],
        ["target revision request", "pending", "1 of 2", "N2", "Nora Two", "North", MAR, "M1", "Mona North",
         "manager"],
        ["team split", "pending", "1 of 1", "M1", "Mona North", "North", FY, "G1", "Gina Boss", "gm"],
        ["target revision request", "pending", "1 of 1", "N2", "Nora Two", "North", "2027-04", "M1", "Mona North",
         "manager"],
    ]
    assert [row[1] for row in rows] == ["pending"] * 4 + ["rejected"] * 3 + ["approved"] * 3 + ["superseded"]
    assert rows[0][10] == "plan-N1.xlsx" and rows[0][12:14] == ["approve", "Mona North (M1, manager)"]
    assert rows[0][15] == "Looks right"
    assert rows[4][0] == "target revision request" and rows[4][7:10] == [None, None, None]  # waits on nobody
    assert rows[9][0] == "H2 re-forecast" and rows[9][6] == "2027-H2"
    assert all(c.data_type in ("s", "n") for row in sheet.iter_rows() for c in row if c.value is not None)
    frame = pd.read_excel(result.summary, sheet_name="Approvals", engine="openpyxl", dtype=str)
    assert len(frame) == len(march.inputs.approvals)


def test_zh_labels_for_the_approval_flags_and_sheet(office, tmp_path):
    root = tmp_path / "ws"
    shutil.copytree(office.root, root)
    config = root / "sheetplan.toml"
    config.write_text(config.read_text(encoding="utf-8").replace('language = "en"', 'language = "zh"'),
                      encoding="utf-8")
    zh = open_workspace(root)
    flags = consolidate(zh, MAR).flags
    messages = dict(zip(zip(flags["code"], flags["person"]), flags["message"]))
    assert messages[("approval-pending", "N1")] == (
        "Ann One (N1)：2027 的个人计划等待 Gina Boss (G1, 总经理) 审批（第 2/2 级）")
    assert messages[("approval-rejected", "N3")] == (
        "Nils Three (N3)：2027-02 的目标调整申请已于 2027-03-10 被 Mona North (M1, 经理) 退回（Give a reason），"
        "尚未重新提交")
    result = run_consolidation(zh, MAR, output=tmp_path / "summary.xlsx")
    book = openpyxl.load_workbook(result.summary, read_only=True)
    assert book.sheetnames.index("审批进度") == book.sheetnames.index("预警") + 1
    sheet = [row for row in book["审批进度"].iter_rows(values_only=True)]
    header, rows = sheet[0], sheet[1:]
    # statuses, roles and decisions as words, never the stored keys
    assert {row[header.index("状态")] for row in rows} <= {"待审批", "已退回", "已批准", "已被取代"}
    assert {row[header.index("审批人角色")] for row in rows} - {None} <= {"主管", "经理", "副总裁", "总经理"}
    assert {row[header.index("最近审批意见")] for row in rows} - {None} <= {"批准", "驳回"}
