"""The audit trail of targets: a company plan returned twice (a corrected copy of the same revision later), read
back through `target_history`, the `history` command and the summary's Audit sheet.

The VP first moves 100 revenue from North to South, then sends a corrected copy moving 250: North's team target
goes suggestion -> -100 -> -250, South's the other way, and each version names the file that brought it.
"""

from __future__ import annotations

import json
import os
import time

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner
from openpyxl.utils.cell import range_boundaries

from sheetplan import api
from sheetplan.api import ingest
from sheetplan.cli import main
from sheetplan.demo.simulate import fill_file, input_areas, read_block
from sheetplan.errors import ConfigError
from sheetplan.plan.audit import AUDIT_COLUMNS, audit_trail, target_history
from sheetplan.reports.monthend import run_consolidation
from sheetplan.workspace.folder import open_workspace
from sheetplan.workspace.labels import Labels
from sheetplan.workspace.store import TargetRow

FY = "2027"
FIRST, CORRECTED = "company-plan.xlsx", "company-plan-corrected.xlsx"


def _return(ws, template, name: str, moved: float, stamp: float):
    """Return the company template with `moved` revenue taken from North (row 1) and given to South (row 2)."""
    book = openpyxl.load_workbook(template)
    areas = input_areas(book)
    teams = [row[0] for row in read_block(book, areas["rows_revenue"])]
    rows = read_block(book, areas["in_revenue"])
    rows[0][0] = round(rows[0][0] - moved, 2)
    rows[1][0] = round(rows[1][0] + moved, 2)
    folder = ws.folder("inbox") / name.removesuffix(".xlsx")
    path = fill_file(template, folder / name, {"in_revenue": rows})
    os.utime(path, (stamp, stamp))  # the time the file claims; the corrected copy is also ingested later
    report = ingest(ws, [folder])
    assert report.counts["accepted"] == 1, report.to_frame().to_dict("records")
    return teams[:2]


def no_company_approval(root):
    """The company plan becomes official as soon as it comes back, so the story needs no approval workbook."""
    config = root / "sheetplan.toml"
    config.write_text(config.read_text(encoding="utf-8") + "\n[approvals]\ncompany = []\n", encoding="utf-8")
    return open_workspace(root)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    ws = api.init_workspace(tmp_path_factory.mktemp("audit") / "ws", demo=True, year=2027)
    ws = no_company_approval(ws.root)
    (template,) = api.generate(ws, "company").files
    api.generate(ws, "team")
    with ws.store() as store:
        suggested = {owner: value for _l, owner, _p, _m, _g, value, *_ in
                     store.current_rows(level="team", period=FY) if _m == "revenue"}
    now = time.time() - 3600
    north, south = _return(ws, template, FIRST, 100, now)
    _return(ws, template, CORRECTED, 250, now + 60)
    return ws, north, south, suggested


def test_history_of_a_team_shows_each_version_with_its_file(scenario):
    ws, north, _south, suggested = scenario
    frame = target_history(ws, north, "revenue")
    assert list(frame.columns) == AUDIT_COLUMNS
    assert set(frame["level"]) == {"team"} and set(frame["period"]) == {FY}
    got = frame[["version", "value", "previous_value", "change", "source", "submitted_file", "submission_kind",
                 "submission_revision"]].astype(object).where(frame.notna(), None).values.tolist()
    base = suggested[north]
    assert got == [
        [0, base, None, None, "suggestion", "", "", None],
        [1, pytest.approx(base - 100), base, pytest.approx(-100), "accepted", FIRST, "company", 1],
        [2, pytest.approx(base - 250), pytest.approx(base - 100), pytest.approx(-150), "accepted", CORRECTED,
         "company", 1],
    ]
    accepted = frame[frame["version"] >= 1]
    # received_at is when sheetplan first saw each file (two ingests may fall in the same second)
    assert (accepted["received_at"].iloc[0] <= accepted["received_at"].iloc[1])
    assert all(path.startswith("archive") and (ws.root / path).is_file() for path in accepted["archive_path"])
    assert (accepted[["approver", "decided_at", "comment"]] == "").all().all()  # official at once: nobody approved


def test_every_metric_without_a_filter_and_the_other_team(scenario):
    ws, north, south, suggested = scenario
    frame = target_history(ws, north)
    assert sorted(set(frame["metric"])) == sorted(m.key for m in ws.config.metrics)
    assert len(frame) == 3 * len(ws.config.metrics)  # unchanged metrics get versions too: the file said so
    keys = frame[["level", "period", "metric", "customer_group", "version"]].values.tolist()
    assert keys == sorted(keys)
    south_changes = target_history(ws, south, "revenue")["change"].tolist()[1:]
    assert south_changes == pytest.approx([100, 150])


def test_company_owner_sees_company_targets_and_people_their_monthly_grid(scenario):
    ws = scenario[0]
    vp = ws.roster.company_owner().person_id
    assert "company" in set(target_history(ws, vp)["level"])
    seller = ws.roster.sellers(ws.config)[0].person_id
    periods = set(target_history(ws, seller)["period"])
    assert FY in periods and set(ws.config.months) <= periods


def test_unknown_owner_or_metric_is_an_error(scenario):
    ws = scenario[0]
    with pytest.raises(ConfigError, match="unknown owner"):
        target_history(ws, "Nobody")
    with pytest.raises(ConfigError, match="unknown metric"):
        target_history(ws, scenario[1], "nothing")


def test_audit_trail_lists_every_accepted_version(scenario):
    ws, north, _south, _ = scenario
    trail = audit_trail(ws)
    assert set(trail["source"]) == {"accepted"}  # no revision or re-forecast in this story
    teams = len(ws.roster.teams)
    # two company plans accepted: each sets every team's target and the company's own (the VP's input)
    assert len(trail) == 2 * (teams + 1) * len(ws.config.metrics)
    mine = trail[(trail["owner"] == north) & (trail["metric"] == "revenue")]
    assert mine["version"].tolist() == [1, 2] and mine["submitted_file"].tolist() == [FIRST, CORRECTED]


def _invoke(ws, *args: str):
    return CliRunner().invoke(main, ["-w", str(ws.root), "history", *args], catch_exceptions=False)


def test_history_command_prints_the_changes(scenario):
    ws, north, _south, suggested = scenario
    frame = target_history(ws, north, "revenue")
    received = frame["received_at"].tolist()
    base = suggested[north]
    result = _invoke(ws, north, "--metric", "revenue")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"Target history of {north}",
        f"team {north} {FY} revenue v1: {base:,.2f} -> {base - 100:,.2f} (-100.00)  {FIRST} r1  {received[1]}",
        f"team {north} {FY} revenue v2: {base - 100:,.2f} -> {base - 250:,.2f} (-150.00)  {CORRECTED} r1"
        f"  {received[2]}",
    ]
    everything = _invoke(ws, north, "--all")
    assert everything.exit_code == 0
    assert len(everything.output.splitlines()) == 1 + 2 * len(ws.config.metrics)


def test_history_command_without_changes_and_for_an_unknown_owner(scenario):
    ws = scenario[0]
    seller = ws.roster.sellers(ws.config)[0].person_id
    quiet = _invoke(ws, seller)
    assert (quiet.exit_code, quiet.output) == (0, f"No accepted changes to the targets of {seller}.\n")
    unknown = _invoke(ws, "Nobody")
    assert unknown.exit_code == 2
    assert "unknown owner 'Nobody'" in unknown.stderr


def test_data_workbook_has_an_audit_sheet_with_the_trail(scenario):
    """The full audit trail is in the data workbook beside the summary (the summary's Data sheet says where)."""
    ws, north, _south, _ = scenario
    result = run_consolidation(ws, ws.config.months[0])
    book = openpyxl.load_workbook(result.data.workbook)
    labels = Labels(ws.config.language)
    audit = labels("datafiles.audit_sheet")
    assert book.sheetnames == [labels("datafiles.facts_sheet"), audit, labels("closing.sheet")]
    assert labels("audit.sheet") not in openpyxl.load_workbook(result.summary, read_only=True).sheetnames
    sheet = book[audit]
    assert [c.value for c in sheet[1]] == [labels(f"audit.{c}") for c in AUDIT_COLUMNS]
    assert sheet.freeze_panes == "A2"
    min_col, min_row, max_col, max_row = range_boundaries(sheet.auto_filter.ref)
    assert (min_col, min_row, max_col, max_row) == (1, 1, len(AUDIT_COLUMNS), sheet.max_row)
    frame = pd.read_excel(result.data.workbook, sheet_name=audit, engine="openpyxl", dtype={"Period": str})
    trail = audit_trail(ws)
    assert len(frame) == len(trail)
    rows = frame[(frame["Owner"] == north) & (frame["Metric"] == "revenue")]
    assert rows["Version"].tolist() == [1, 2]
    assert rows["Submitted file"].tolist() == [FIRST, CORRECTED]
    assert rows["Change"].tolist() == pytest.approx([-100, -150])
    assert rows["Template revision"].tolist() == [1, 1]
    assert not any(c.data_type == "f" for row in sheet.iter_rows() for c in row)  # values only
    assert all(c.data_type == "s" for c in sheet["K"][1:])  # file names stay text


# --- approvals: who made each version official ----------------------------------------------------------
# Written straight into the store: P006's personal plan approved by the supervisor then the manager, and a
# revision request approved by all three levels; one version needed no approval at all.
PLAN_DECIDED = ("2027-01-12T08:00:00+00:00", "2027-01-14T09:30:00+00:00")
REVISION_DECIDED = ("2027-03-02T10:00:00+00:00", "2027-03-03T11:00:00+00:00", "2027-03-05T16:45:00+00:00")


def _submission(db, name: str, kind: str, owner: str, period: str) -> int:
    return db.execute(
        "INSERT INTO submissions (sha256, original_name, source_path, received_at, ingested_at, kind, owner, period,"
        " revision, status, problems, archive_path) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, 'accepted', '[]', ?)",
        (name, name, name, "2027-01-10T08:00:00+00:00", "2027-01-10T08:00:00+00:00", kind, owner, period,
         f"archive/{name}")).lastrowid


def _approved_item(db, kind: str, owner: str, period: str, submission: int, levels: list[tuple], decided) -> int:
    """levels: (role, approver, comment) lowest first, each approving at the time in `decided`."""
    chain = json.dumps([[role, approver] for role, approver, _comment in levels])
    item = db.execute("INSERT INTO approval_items (item_kind, owner, period, submission_id, chain, step, status,"
                      " detail, created_at, closed_at) VALUES (?, ?, ?, ?, ?, ?, 'approved', '{}', ?, ?)",
                      (kind, owner, period, submission, chain, len(levels), decided[0], decided[-1])).lastrowid
    for step, ((_role, approver, comment), when) in enumerate(zip(levels, decided, strict=True)):
        book = _submission(db, f"approvals-{approver}-{item}.xlsx", "approval", approver, period)
        db.execute("INSERT INTO approval_decisions (item_id, step, approver, decision, comment, submission_id,"
                   " decided_at) VALUES (?, ?, ?, 'approve', ?, ?, ?)", (item, step, approver, comment, book, when))
    return item


@pytest.fixture(scope="module")
def approved(make_workspace):
    ws = make_workspace("audit-approvals")
    store = ws.store()
    with store, store.transaction() as db:
        plan = _submission(db, "plan-P006.xlsx", "person", "P006", FY)
        item = _approved_item(db, "person", "P006", FY, plan, [("supervisor", "P004", "Checked the Q4 push"),
                                                               ("manager", "P003", "")], PLAN_DECIDED)
        store.record_targets([TargetRow("person", "P006", "2027-01", "revenue", "OEM", 1000.0)], "accepted", plan,
                             db, item)
        month = _submission(db, "month-P006-2027-03.xlsx", "month", "P006", "2027-03")
        item = _approved_item(db, "revision", "P006", "2027-03", month,
                              [("supervisor", "P004", "Lost OEM customer confirmed"), ("manager", "P003", "  "),
                               ("vp", "P002", "Agreed")], REVISION_DECIDED)
        store.record_targets([TargetRow("person", "P006", FY, "revenue", "", 500000.0),
                              TargetRow("person", "P006", "2027-04", "revenue", "OEM", 900.0)], "revision", month,
                             db, item)
        store.record_targets([TargetRow("person", "P006", FY, "expenses", "", 12000.0)], "accepted", plan, db)
    return ws


def test_audit_names_every_approving_level_and_their_comments(approved):
    ws = approved
    name = {pid: ws.roster.get(pid).name for pid in ("P002", "P003", "P004")}
    trail = audit_trail(ws)
    assert list(trail.columns) == AUDIT_COLUMNS
    assert AUDIT_COLUMNS.index("decided_at") == AUDIT_COLUMNS.index("approver") + 1
    mine = trail[trail["owner"] == "P006"]
    got = mine[["period", "metric", "customer_group", "source", "submitted_file", "approver", "decided_at",
                "comment"]].values.tolist()
    plan_by = f"{name['P004']} (P004, supervisor) → {name['P003']} (P003, manager)"
    revision_by = plan_by + f" → {name['P002']} (P002, vp)"
    assert got == [
        # the whitespace-only comment of the manager is left out; the order is level, owner, period, metric
        [FY, "expenses", "", "accepted", "plan-P006.xlsx", "", "", ""],  # needed no approval
        [FY, "revenue", "", "revision", "month-P006-2027-03.xlsx", revision_by, REVISION_DECIDED[-1],
         "Lost OEM customer confirmed | Agreed"],
        ["2027-01", "revenue", "OEM", "accepted", "plan-P006.xlsx", plan_by, PLAN_DECIDED[-1], "Checked the Q4 push"],
        ["2027-04", "revenue", "OEM", "revision", "month-P006-2027-03.xlsx", revision_by, REVISION_DECIDED[-1],
         "Lost OEM customer confirmed | Agreed"],
    ]


def test_history_keeps_suggestions_beside_approved_versions(approved):
    frame = target_history(approved, "P006", "revenue")
    annual = frame[(frame["period"] == FY) & (frame["customer_group"] == "")]
    assert annual["version"].tolist() == [0, 1]
    assert annual["source"].tolist() == ["suggestion", "revision"]
    assert annual["value"].iloc[1] == 500000.0
    assert annual["previous_value"].iloc[1] == annual["value"].iloc[0]  # the suggestion it replaced
    assert annual[["approver", "decided_at", "comment"]].iloc[0].tolist() == ["", "", ""]
    assert annual["decided_at"].iloc[1] == REVISION_DECIDED[-1]


def test_history_command_shows_revision_versions(approved):
    result = _invoke(approved, "P006", "--metric", "revenue")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Target history of P006"
    assert len(lines) == 2 and lines[1].startswith(f"person P006 {FY} revenue v1 [revision]: ")
    assert lines[1].split("  ")[1] == "month-P006-2027-03.xlsx r1"
    # every level that approved, then the comments
    assert lines[1].split("  ")[3] == ("approved by " + " → ".join(
        f"{approved.roster.get(pid).name} ({pid}, {role})" for pid, role in
        (("P004", "supervisor"), ("P003", "manager"), ("P002", "vp"))) + ": Lost OEM customer confirmed | Agreed")
