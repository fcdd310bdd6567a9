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


def test_the_next_writing_command_removes_temporaries_a_killed_run_left(make_workspace):
    ws = make_workspace("lock-tmp", approvals=False)
    old = ws.folder("outbox") / "company" / "2027" / ".tmp-abc123.xlsx"
    report = ws.folder("reports") / ".tmp-def456.xlsx"
    fresh = ws.folder("reports") / ".tmp-now.xlsx"  # may belong to a write under way elsewhere: left alone
    for path in (old, report, fresh):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"PK\x03\x04 truncated")
    for path in (old, report):
        os.utime(path, (0, 1_000_000))
    run = cli(ws, "generate", "company")
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, out + err
    assert not old.exists() and not report.exists() and fresh.exists()


def still_running(pids: set[int], wait: float = 10) -> list[int]:
    """The processes of `pids` still alive (zombies count as ended) after waiting up to `wait` seconds."""
    import time

    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and any(os.path.exists(f"/proc/{pid}") for pid in pids):
        time.sleep(0.05)
    return [pid for pid in pids if os.path.exists(f"/proc/{pid}")
            and open(f"/proc/{pid}/stat").read().split()[2] != "Z"]


def children_of(pid: int) -> set[int]:
    found = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as handle:
            found |= {int(p) for p in handle.read().split()}
    return found


def test_reader_workers_end_when_ingest_is_killed(make_workspace):
    """kill -9 of the main ingest process: its reader workers do not outlive it (they held the store)."""
    import signal
    import time

    ws = make_workspace("lock-orphans", approvals=False)
    files = generate(ws, "month", month="2027-05").files
    decimals = {m.key: m.decimals for m in ws.config.metrics}
    folder = ws.folder("inbox") / "batch"
    fill_months(files, folder, decimals)
    run = cli(ws, "ingest", "--quiet", "--workers", "2", str(folder))
    workers: set[int] = set()
    deadline = time.monotonic() + 60
    while len(workers) < 2 and time.monotonic() < deadline and run.poll() is None:
        workers |= children_of(run.pid)
        time.sleep(0.02)
    assert workers, "ingest started no worker before it finished"
    os.kill(run.pid, signal.SIGKILL)
    run.wait(timeout=30)
    assert still_running(workers) == []



def descendants_of(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        try:
            kids = children_of(todo.pop())
        except OSError:  # ended while we looked
            continue
        todo.extend(kids - found)
        found |= kids
    return found


def test_forkserver_readers_also_end_when_their_command_is_killed(tmp_path):
    """A caller running other threads (a mail server, a notebook) reads through a forkserver, whose
    workers are the server's children rather than the command's; they still start (an earlier check of
    the parent pid made them exit at once) and still end when the command is killed."""

    import xlsxwriter

    book = tmp_path / "one.xlsx"
    with xlsxwriter.Workbook(str(book)) as workbook:
        workbook.add_worksheet("Plan").write_row(0, 0, ["a", 1])
    script = tmp_path / "reads.py"
    script.write_text(
        "import sys, threading, time\n"
        "from sheetplan.returns.reader import read_many\n"
        "if __name__ == '__main__':\n"
        "    threading.Thread(target=time.sleep, args=(600,), daemon=True).start()\n"
        "    for result in read_many([sys.argv[1]] * 3, workers=2):\n"
        "        print('read' if not result.problems else result.problems, flush=True)\n"
        "        time.sleep(600)\n")
    run = subprocess.Popen([sys.executable, str(script), str(book)], stdout=subprocess.PIPE, text=True)
    assert run.stdout.readline().strip() == "read"  # the forkserver's workers started and read the file
    helpers = descendants_of(run.pid)
    assert len(helpers) >= 3  # the forkserver and its two readers
    run.kill()
    run.wait(timeout=30)
    assert still_running(helpers) == []
