"""Closed months: once a month is closed, what was reported for it stands and a later file changes nothing.

The state lives in the store's `month_closings` log, one row per close or reopen (a reopen carries its
reason), so the trail of who-changed-what keeps every decision. A month is closed when its latest row is a
close. Closing a month closes every earlier open month of the fiscal year too: books close in order. A
reopen opens that one month only, for a correction, and is logged with its reason.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from dataclasses import dataclass

from sheetplan.errors import ConfigError
from sheetplan.workspace.labels import Labels
from sheetplan.workspace.store import now_iso

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
CLOSE, REOPEN = "close", "reopen"


@dataclass(frozen=True)
class Closing:
    month: str
    action: str  # close | reopen
    reason: str
    at: str


def month_log(db: sqlite3.Connection) -> list[Closing]:
    """Every close and reopen, oldest first."""
    return [Closing(*row) for row in db.execute("SELECT month, action, reason, at FROM month_closings ORDER BY id")]


def closed_months(db: sqlite3.Connection) -> dict[str, str]:
    """Closed months and when each was (last) closed."""
    latest: dict[str, Closing] = {}
    for entry in month_log(db):
        latest[entry.month] = entry
    return {month: entry.at for month, entry in latest.items() if entry.action == CLOSE}


def is_closed(db: sqlite3.Connection, month: str) -> bool:
    row = db.execute("SELECT action FROM month_closings WHERE month = ? ORDER BY id DESC LIMIT 1",
                     (month,)).fetchone()
    return bool(row) and row[0] == CLOSE


def _check_month(config, month: str, command: str) -> None:
    labels = Labels(config.language)
    if not _MONTH.match(month or ""):
        raise ConfigError(labels("closing.bad_month", command=command, month=month))
    if month not in config.months:
        raise ConfigError(labels("closing.not_in_year", month=month, year=config.fiscal_year,
                                 first=config.months[0], last=config.months[-1]))


def close_month(workspace, month: str) -> list[str]:
    """Close `month` and every earlier open month of the fiscal year; returns the months closed now (empty
    when they all were closed already). A valid file for a closed month is recorded as `late` from then on."""
    config = workspace.config
    _check_month(config, month, "close")
    with workspace.store() as store:
        with store.transaction() as db:
            closed = closed_months(db)
            now = [m for m in config.months if m <= month and m not in closed]
            stamp = now_iso()
            db.executemany("INSERT INTO month_closings (month, action, reason, at) VALUES (?, ?, '', ?)",
                           [(m, CLOSE, stamp) for m in now])
    return now


def reopen_month(workspace, month: str, reason: str) -> int:
    """Open a closed `month` again for a correction; the reason is kept in the log. Returns how many late
    files wait for that month (ingest them again to count them). Later closed months stay closed."""
    config = workspace.config
    _check_month(config, month, "reopen")
    labels = Labels(config.language)
    text = unicodedata.normalize("NFC", (reason or "").strip())
    if not text:
        raise ConfigError(labels("closing.reason_required"))
    if any(unicodedata.category(c) == "Cc" for c in text):
        raise ConfigError(labels("closing.reason_control"))
    with workspace.store() as store:
        with store.transaction() as db:
            if not is_closed(db, month):
                raise ConfigError(labels("closing.not_closed", month=month))
            db.execute("INSERT INTO month_closings (month, action, reason, at) VALUES (?, ?, ?, ?)",
                       (month, REOPEN, text, now_iso()))
            late = db.execute("SELECT COUNT(*) FROM submissions WHERE kind = 'month' AND period = ?"
                              " AND status = 'late'", (month,)).fetchone()[0]
    return late
