"""The demo cycle through the command line, as the README's first command runs it (stopping in July)."""

from __future__ import annotations

import re
import subprocess
import sys

import openpyxl


def test_demo_runs_the_cycle_with_approvals_a_revision_and_the_july_review(tmp_path):
    root = tmp_path / "demo"
    done = subprocess.run([sys.executable, "-m", "sheetplan.cli", "demo", str(root), "--through", "2027-07"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    steps = [line.split()[0] for line in lines if re.match(r"^(company|team|person|month|approval|review|reforecast)"
                                                            r"\s", line)]
    # plans top-down, each approved before the next level is generated
    assert steps[:7] == ["company", "approval", "team", "approval", "team", "approval", "person"]
    team_round = next(line for line in lines if line.startswith("approval") and "sent back" in line
                      and not line.endswith("0 sent back"))
    assert "1 sent back" in team_round  # the VP returned one team split ...
    assert any(line.startswith("team       resubmitted: sent 1") and "1 waiting for approval" in line
               for line in lines)  # ... and the corrected one came back and was approved
    february = lines.index(next(line for line in lines if line.startswith("month      2027-02")))
    assert "1 waiting for approval" in lines[february]  # the revision request
    revision_rounds = lines[february + 1:february + 4]
    assert [line.split(";")[1].strip() for line in revision_rounds] == [
        "1 moved up, 0 made official, 0 sent back", "1 moved up, 0 made official, 0 sent back",
        "0 moved up, 1 made official, 0 sent back"]  # supervisor, manager, then the VP
    assert any(line.startswith("review     H1: half-2027.xlsx") for line in lines)
    reforecast = next(line for line in lines if line.startswith("reforecast"))
    sent = int(re.search(r"sent (\d+)", reforecast).group(1))
    assert f"accepted {sent}, rejected 0" in reforecast and f"{sent} waiting for approval" in reforecast
    assert (root / "reports" / "summary-2027-07.xlsx").exists()
    book = openpyxl.load_workbook(root / "reports" / "summary-2027-07.xlsx", read_only=True)
    assert "Approvals" in book.sheetnames and "Data" in book.sheetnames
    assert "Audit" in openpyxl.load_workbook(root / "reports" / "data-2027-07.xlsx", read_only=True).sheetnames
    book.close()
    history = subprocess.run([sys.executable, "-m", "sheetplan.cli", "-w", str(root), "approvals"],
                             capture_output=True, text=True, timeout=120)
    assert history.returncode == 0 and "Nothing is waiting for approval." in history.stdout
    # January's ERP export: the first file rejected whole for its three mistakes, the corrected one imported,
    # and the one salesperson whose report left an invoice out flagged (source = "both")
    erp = [line for line in lines if line.startswith("actuals")]
    assert erp == ["actuals    2027-01: erp-2027-01.csv rejected whole (row 5 unknown-person; row 9 not-a-number; "
                   "row 13 date-outside-year)",
                   next(line for line in erp if "erp-2027-01-corrected.csv imported" in line)]
    from sheetplan.api import consolidate, open_workspace

    ws = open_workspace(root)
    flags = consolidate(ws, "2027-07").flags
    mismatch = flags[flags["code"] == "actuals-mismatch"]
    assert mismatch[["person", "month", "metric"]].values.tolist() == [
        [ws.roster.sellers(ws.config)[0].person_id, "2027-01", "revenue"]]
