"""An ingest killed part-way (SIGKILL, no chance to clean up) leaves a consistent store, and a rerun finishes
the batch with exactly the store one uninterrupted run produces.

The batch holds month reports, person plans (which record targets and make ingest recompute suggestions at
the end), rejected files, a duplicate and a corrected copy, so every kind of ledger write is in play.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pytest
from conftest import sent_file

from sheetplan.demo.simulate import input_areas, read_block, write_block

MONTH = "2027-03"
T0 = 1_700_000_000  # file times in the past: a future one is never trusted
GROUPS = 5


def fill(source: Path, target: Path, values: dict[str, list[list]] | None, mtime: int) -> Path:
    """Type `values` into the in_ blocks of a copy of `source` (None: return the pre-filled figures)."""
    book = openpyxl.load_workbook(source)
    areas = input_areas(book)
    for name, rows in (values or {}).items():
        write_block(book, areas[name], rows)  # as a person types: text stays text
    book.save(target)
    os.utime(target, (mtime, mtime))
    return target


def month_values(seed: int, bad: bool = False) -> dict[str, list[list]]:
    revenue = [[1000.25 * (seed + 1) + g] for g in range(GROUPS)]
    if bad:
        revenue[2][0] = "N/A"
    return {"in_revenue": revenue,
            "in_quantity": [[seed + g] for g in range(GROUPS)],
            "in_new_customers": [[(seed + g) % 3] for g in range(GROUPS)],
            "in_expenses": [[12.5 * g] for g in range(GROUPS)],
            "in_comment": [[f"note {seed}" if g == 0 else None] for g in range(GROUPS)]}


def moved_plan(source: Path) -> dict[str, list[list]]:
    """The pre-filled person grid with one unit moved from its largest cell to its first: the total stays exact."""
    book = openpyxl.load_workbook(source)
    areas = input_areas(book)
    rows = [list(row) for row in read_block(book, areas["in_quantity"])]
    _value, r, c = max((v, r, c) for r, row in enumerate(rows) for c, v in enumerate(row))
    rows[r][c] -= 1
    rows[0][0] += 1
    return {"in_quantity": rows}


@pytest.fixture(scope="module")
def batch(make_workspace, tmp_path_factory):
    """40 returned files in a folder outside every workspace, with explicit, increasing file times."""
    template_ws = make_workspace("crash-templates")
    folder = tmp_path_factory.mktemp("crash-batch")
    with template_ws.store() as store:
        sellers = sorted(r.owner for r in store.sent("month", MONTH))
    files: list[Path] = []
    tick = iter(range(T0, T0 + 1000))
    for i, owner in enumerate(sellers[:36]):
        if i in (12, 24):
            person = sent_file(template_ws, "person", owner)
            files.append(fill(person, folder / f"plan-{owner}.xlsx", moved_plan(person), next(tick)))
        bad = i in (5, 30)
        files.append(fill(sent_file(template_ws, "month", owner), folder / f"month-{owner}.xlsx",
                          month_values(i, bad), next(tick)))
    duplicate = folder / f"copy-of-{files[3].name}"
    shutil.copyfile(files[3], duplicate)
    os.utime(duplicate, (next(tick),) * 2)
    corrected = fill(sent_file(template_ws, "month", sellers[0]), folder / f"month-{sellers[0]}-corrected.xlsx",
                     month_values(100), next(tick))
    files += [duplicate, corrected]
    assert len(files) == 40
    return folder, files, {f: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def command(ws, folder: Path) -> list[str]:
    return [sys.executable, "-m", "sheetplan.cli", "-w", str(ws.root), "ingest", "--quiet", str(folder)]


def store_path(ws) -> Path:
    return ws.root / ".sheetplan" / "plan.sqlite"


def count(db: sqlite3.Connection) -> int:
    return db.execute("SELECT count(*) FROM submissions").fetchone()[0]


def kill_part_way(ws, folder: Path, threshold: int) -> int:
    """Start an ingest, SIGKILL it once `threshold` files are recorded; return how many were recorded."""
    db = sqlite3.connect(f"file:{store_path(ws)}?mode=ro", uri=True)
    try:
        process = subprocess.Popen(command(ws, folder), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            while process.poll() is None and time.monotonic() < deadline:
                if count(db) >= threshold:
                    process.send_signal(signal.SIGKILL)
                    break
                time.sleep(0.002)
            process.wait(60)
        finally:
            try:  # the reader workers it forked, left orphaned by the kill: same process group
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        assert process.returncode in (-signal.SIGKILL, 1), process.returncode
        return count(db) if process.returncode == -signal.SIGKILL else -1
    finally:
        db.close()


@pytest.fixture(scope="module")
def clean_run(make_workspace, batch, dump_store):
    folder, _files, _hashes = batch
    ws = make_workspace("crash-clean")
    done = subprocess.run(command(ws, folder), capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr  # two files are rejected
    return ws, dump_store(ws)


@pytest.fixture(scope="module")
def killed_run(make_workspace, batch, clean_run):
    """A workspace whose ingest was killed mid-batch (retried until the kill lands before the last file)."""
    folder, _files, _hashes = batch
    _ws, clean = clean_run
    total = len(clean["submissions"])
    for attempt, threshold in enumerate((total // 2, total // 3, 4, 1, 1, 1)):
        ws = make_workspace(f"crash-killed-{attempt}")
        recorded = kill_part_way(ws, folder, threshold)
        if 0 < recorded < total:
            return ws, recorded
    pytest.fail("the ingest always finished before it could be killed")


def test_store_is_consistent_right_after_the_kill(killed_run, clean_run):
    ws, recorded = killed_run
    clean_ws, _clean = clean_run
    db = sqlite3.connect(store_path(ws))
    clean_db = sqlite3.connect(store_path(clean_ws))
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = db.execute("SELECT id, sha256, kind, status, archive_path FROM submissions ORDER BY id").fetchall()
        assert len(rows) == recorded
        # what was recorded is exactly the first files of an uninterrupted run, in the same order
        assert [r[1] for r in rows] == [r[0] for r in clean_db.execute(
            "SELECT sha256 FROM submissions ORDER BY id LIMIT ?", (recorded,))]
        for submission_id, _sha, kind, status, archive in rows:
            values = db.execute("SELECT count(*) FROM submitted_values WHERE submission_id = ?",
                                (submission_id,)).fetchone()[0]
            targets = db.execute("SELECT count(*) FROM targets WHERE submission_id = ?",
                                 (submission_id,)).fetchone()[0]
            items = db.execute("SELECT count(*) FROM approval_items WHERE submission_id = ?",
                               (submission_id,)).fetchone()[0]
            assert (ws.root / archive).exists()
            if status == "rejected":
                assert (values, targets, items) == (0, 0, 0)
            elif kind == "month":
                assert (values, targets, items) == (20, 0, 0)  # 4 metrics x 5 customer groups, no revision
            else:  # a plan waits for its approver: its figures are kept, no target is written yet
                assert (values, targets, items) == (4 * 5 * 12, 0, 1)
        orphans = db.execute("SELECT count(*) FROM submitted_values WHERE submission_id NOT IN"
                             " (SELECT id FROM submissions)").fetchone()[0]
        assert orphans == 0
    finally:
        db.close()
        clean_db.close()


def test_rerun_after_the_kill_gives_the_store_of_one_clean_run(killed_run, clean_run, batch, dump_store):
    ws, _recorded = killed_run
    _clean_ws, clean = clean_run
    folder, _files, _hashes = batch
    done = subprocess.run(command(ws, folder), capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    after = dump_store(ws)
    for table in ("submissions", "submitted_values", "submitted_texts", "targets"):
        assert after[table] == clean[table], table
    statuses = sorted(row[9] for row in clean["submissions"])
    assert statuses == ["accepted"] * 36 + ["rejected"] * 2 + ["superseded"]


def test_batch_files_are_untouched_by_the_killed_and_rerun_ingests(batch, killed_run, clean_run):
    folder, files, hashes = batch
    assert sorted(folder.iterdir()) == sorted(files)
    assert {f: hashlib.sha256(f.read_bytes()).hexdigest() for f in files} == hashes


def test_whatever_moment_the_kill_comes_every_rejection_gets_its_feedback_and_its_report_row(
        make_workspace, batch, clean_run, dump_store):
    """Killed after 1, 7 (one rejection recorded), 33 (both) and all 40 files (before the feedback is written):
    the rerun gives the clean store, a feedback copy for every rejected submission, and lists each rejected
    file (a file seen again that stands rejected is reported again, not passed over as a duplicate)."""
    from sheetplan.returns.feedback import feedback_path

    folder, _files, _hashes = batch
    _clean_ws, clean = clean_run
    total = len(clean["submissions"])
    for moment in (1, 7, 33, total):
        ws = make_workspace(f"crash-matrix-{moment}")
        kill_part_way(ws, folder, moment)
        done = subprocess.run(command(ws, folder)[:-2] + [str(folder)], capture_output=True, text=True, timeout=300)
        assert done.returncode == 1, done.stderr
        assert dump_store(ws)["submissions"] == clean["submissions"], moment
        with sqlite3.connect(store_path(ws)) as db:
            rejected = [name for (name,) in db.execute("SELECT original_name FROM submissions"
                                                       " WHERE status = 'rejected'")]
        assert len(rejected) == 2
        for name in rejected:
            assert feedback_path(ws, name).is_file(), (moment, name)
            assert any(line.startswith("REJECTED") and name in line for line in done.stdout.splitlines()), \
                (moment, done.stdout)
