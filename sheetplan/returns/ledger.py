"""The ingest ledger: record one returned file, its outcome and its values in a single transaction."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass

from sheetplan.problems import Problem
from sheetplan.workspace.closing import is_closed
from sheetplan.workspace.store import Store

ACCEPTED_STATUS, REJECTED, SUPERSEDED, STALE, LATE = "accepted", "rejected", "superseded", "stale", "late"


@dataclass(frozen=True)
class Submission:
    sha256: str
    original_name: str
    source_path: str
    received_at: str
    ingested_at: str
    kind: str
    owner: str
    period: str
    revision: int
    archive_path: str
    claimed_at: str = ""  # what the file or message said about its own time: kept, shown, never decides
    received_via: str = ""  # mailbox | first-seen: which clock received_at comes from


def find_by_hash(store: Store, sha256: str) -> tuple[int, str] | None:
    row = store.db.execute("SELECT id, status FROM submissions WHERE sha256 = ?", (sha256,)).fetchone()
    return (row[0], row[1]) if row else None


def late_and_open(store: Store, submission_id: int) -> bool:
    """A file recorded late whose month has been reopened since: ingesting it again decides it anew."""
    row = store.db.execute("SELECT kind, period FROM submissions WHERE id = ? AND status = 'late'",
                           (submission_id,)).fetchone()
    return bool(row) and not is_closed(store.db, row[1])


def _decide(db: sqlite3.Connection, sub: Submission) -> tuple[str, int | None]:
    """Newer revision wins; the same revision received later wins (a corrected copy); older is stale.

    A month report for a closed month is late: kept, with its values, but it replaces nothing and counts
    nowhere, so figures already reported for that month stand (reopen the month to let it count)."""
    if sub.kind == "month" and is_closed(db, sub.period):
        return LATE, None
    row = db.execute("SELECT id, revision, received_at FROM submissions WHERE kind = ? AND owner = ? AND period = ?"
                     " AND status = 'accepted'", (sub.kind, sub.owner, sub.period)).fetchone()
    if row is None:
        return ACCEPTED_STATUS, None
    current_id, revision, received = row
    if (sub.revision, sub.received_at) >= (revision, received):
        return ACCEPTED_STATUS, current_id
    if sub.kind == "approval":
        # Each decision is judged on its own (stale or already-decided ones are flagged per item), so an
        # older approval workbook that arrives late still counts; it is just not the approver's latest.
        return SUPERSEDED, None
    return STALE, None


def preview(store: Store, kind: str, owner: str, period: str, revision: int, received_at: str,
            planned: dict) -> tuple[str, int | None]:
    """What record() would decide, without writing: for --dry-run. `planned` carries the batch's own
    earlier decisions, keyed by template, so a dry run of a batch reads like the real run."""
    key = (kind, owner, period)
    if kind == "month" and is_closed(store.db, period):
        return LATE, None
    if key in planned:
        current_id, current = planned[key]
    else:
        row = store.db.execute("SELECT id, revision, received_at FROM submissions WHERE kind = ? AND owner = ?"
                               " AND period = ? AND status = 'accepted'", key).fetchone()
        current_id, current = (row[0], (row[1], row[2])) if row else (None, None)
    if current is not None and (revision, received_at) < current:
        return STALE, None
    planned[key] = (-1, (revision, received_at))  # -1: a file of this batch, not yet in the store
    return ACCEPTED_STATUS, current_id


def record(store: Store, sub: Submission, problems: list[Problem], numbers: list[tuple[str, str, str, float]],
           texts: list[tuple[str, str, str, str]],
           on_accept: Callable[[sqlite3.Connection, int], object] | None = None) -> tuple[int, str, int | None, object]:
    """Write the submission and, if it is valid, its values; returns (id, status, superseded id, what
    `on_accept` returned). `on_accept(db, submission_id)` runs for an accepted file inside the same
    transaction (approvals open or advance there), so a crash leaves the whole file recorded or none of it.
    """
    effects = None
    payload = json.dumps([asdict(p) for p in problems], ensure_ascii=False, default=str)
    with store.transaction() as db:
        if any(p.is_error for p in problems):
            status, superseded = REJECTED, None
        else:
            status, superseded = _decide(db, sub)
        again = db.execute("SELECT id FROM submissions WHERE sha256 = ? AND status = 'late'", (sub.sha256,)).fetchone()
        if again:  # a late file ingested again once its month is open: decided anew, in the same ledger row
            submission_id = again[0]
            db.execute("DELETE FROM submitted_values WHERE submission_id = ?", (submission_id,))
            db.execute("DELETE FROM submitted_texts WHERE submission_id = ?", (submission_id,))
            db.execute("UPDATE submissions SET ingested_at = ?, status = ?, problems = ? WHERE id = ?",
                       (sub.ingested_at, status, payload, submission_id))
        else:
            cursor = db.execute(
                "INSERT INTO submissions (sha256, original_name, source_path, received_at, ingested_at, kind, owner,"
                " period, revision, status, problems, archive_path, claimed_at, received_via)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (sub.sha256, sub.original_name, sub.source_path, sub.received_at, sub.ingested_at, sub.kind,
                 sub.owner, sub.period, sub.revision, status, payload, sub.archive_path, sub.claimed_at,
                 sub.received_via))
            submission_id = cursor.lastrowid
        if status != REJECTED:
            db.executemany("INSERT INTO submitted_values (submission_id, block, row_key, col_key, value)"
                           " VALUES (?, ?, ?, ?, ?)", [(submission_id, *n) for n in numbers])
            db.executemany("INSERT INTO submitted_texts (submission_id, block, row_key, col_key, text)"
                           " VALUES (?, ?, ?, ?, ?)", [(submission_id, *t) for t in texts])
        if status == ACCEPTED_STATUS and superseded is not None:
            db.execute("UPDATE submissions SET status = 'superseded' WHERE id = ?", (superseded,))
        if on_accept is not None and (status == ACCEPTED_STATUS or (status == SUPERSEDED and sub.kind == "approval")):
            effects = on_accept(db, submission_id)
    return submission_id, status, superseded, effects


def stored_problems(payload: str) -> list[Problem]:
    return [Problem(**p) for p in json.loads(payload)]


def rejected_again(store: Store, submission_id: int) -> dict | None:
    """The ledger row of a rejected submission, for a file sent again unchanged: it is rejected again,
    with the same problems, rather than passed over as a silent duplicate. Once a later copy of the same
    template stands, the old rejected file is settled and only a duplicate (None)."""
    row = store.db.execute("SELECT kind, owner, period, revision, problems, archive_path FROM submissions"
                           " WHERE id = ? AND status = 'rejected'", (submission_id,)).fetchone()
    if row is None:
        return None
    kind, owner, period, revision, payload, archive = row
    if owner and store.db.execute("SELECT 1 FROM submissions WHERE kind = ? AND owner = ? AND period = ? AND id > ?"
                                  " AND status IN ('accepted', 'superseded')",
                                  (kind, owner, period, submission_id)).fetchone():
        return None
    return {"kind": kind, "owner": owner, "period": period, "revision": revision,
            "problems": stored_problems(payload), "archive_path": archive}


def submissions(store: Store, kind: str | None = None, period: str | None = None) -> list[dict]:
    query = ("SELECT id, sha256, original_name, source_path, received_at, kind, owner, period, revision, status,"
             " problems, claimed_at, received_via, ingested_at FROM submissions WHERE 1 = 1")
    columns = ("id", "sha256", "original_name", "source_path", "received_at", "kind", "owner", "period",
               "revision", "status", "problems", "claimed_at", "received_via", "ingested_at")
    return [dict(zip(columns, row)) for row in store.select(query, kind, period)]
