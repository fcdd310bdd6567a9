"""Two commands on one workspace: the second waits for the first's lock, a bounded time, then exits 2 with
who holds it; two ingests of the same files started together end as one clean run would."""

from __future__ import annotations

import os
import subprocess
import sys

from sheetplan.api import generate, workspace_lock
from sheetplan.demo.simulate import fill_months


def cli(ws, *args, wait: str = "10"):
    env = {**os.environ, "SHEETPLAN_LOCK_WAIT": wait}
    return subprocess.Popen([sys.executable, "-m", "sheetplan.cli", "-w", str(ws.root), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_second_command_gives_up_with_who_holds_the_lock(make_workspace):
    ws = make_workspace("lock-busy", approvals=False)
    with workspace_lock(ws.root, "sheetplan ingest"):
        run = cli(ws, "generate", "company", wait="0.5")
        out, err = run.communicate(timeout=120)
    assert run.returncode == 2, out + err
    assert "Traceback" not in out + err
    assert "is busy: 'sheetplan ingest' (pid " in err and f"pid {os.getpid()}," in err
    assert not list((ws.folder("outbox") / "company").glob("*/*-r2.xlsx"))  # it wrote nothing
    after = cli(ws, "generate", "company", wait="0.5")  # the lock went with its holder
    out, err = after.communicate(timeout=120)
    assert after.returncode == 0, out + err


def test_two_ingests_at_once_end_like_one(make_workspace):
    ws = make_workspace("lock-twice", approvals=False)
    files = generate(ws, "month", month="2027-03").files[:12]
    decimals = {m.key: m.decimals for m in ws.config.metrics}
    folder = ws.folder("inbox") / "batch"
    fill_months(files, folder, decimals)
    runs = [cli(ws, "ingest", "--quiet", str(folder), wait="120") for _ in range(2)]
    results = [(r.wait(timeout=300), r.stdout.read() + r.stderr.read()) for r in runs]
    for code, out in results:
        assert code in (0, 2) and "Traceback" not in out, out
    with ws.store() as store:
        rows = store.db.execute("SELECT status, COUNT(*) FROM submissions GROUP BY status").fetchall()
    counts = dict(rows)
    assert counts.pop("accepted") == len(files)  # each file once; the later run saw the same bytes again
    assert set(counts) <= {"duplicate"}


def test_two_generates_at_once_both_finish_one_after_the_other(make_workspace):
    """Without the lock the second run's records collided with the first's (IntegrityError on `sent`)."""
    ws = make_workspace("lock-generate", approvals=False)
    runs = [cli(ws, "generate", "month", "--month", "2027-04", wait="120") for _ in range(2)]
    results = [(r.wait(timeout=300), r.stdout.read() + r.stderr.read()) for r in runs]
    assert [code for code, _ in results] == [0, 0], results
    assert all("Traceback" not in out for _, out in results)
    with ws.store() as store:
        revisions = store.latest_revisions("month", "2027-04")
    assert set(revisions.values()) == {2}  # two whole rounds, one after the other: every recipient has r1, r2
