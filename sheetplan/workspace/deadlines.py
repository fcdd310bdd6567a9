"""Each round's return deadline: set when the round is generated, else derived by a rule in [mail], else the
fixed date [mail] deadline gives its kind. Mails, reminders and status all ask here, so they agree."""

from __future__ import annotations

import re
from datetime import date, timedelta

from sheetplan.errors import ConfigError

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _key(kind: str, period: str) -> str:
    return f"deadline:{kind}:{period}"


def checked_date(text: str) -> str:
    """A deadline typed by a person: YYYY-MM-DD, a real date."""
    try:
        if not _DATE.fullmatch(text or ""):
            raise ValueError
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise ConfigError(f"a deadline is a date as YYYY-MM-DD, e.g. 2027-04-10; got {text!r}") from None


def set_deadline(store, kind: str, period: str, day: str) -> None:
    """Fix the round's deadline (generate --deadline); a later generate of the same round may change it."""
    store.set_meta(_key(kind, period), checked_date(day))


def round_deadline(store, mail, kind: str, period: str) -> str:
    """'YYYY-MM-DD', or '' when neither the round, nor a rule, nor a fixed date gives one.

    The rule `[mail] deadline_days` counts a month round's days from the end of its month (with `month = 10`
    the March report is due 2027-04-10 and the April one 2027-05-10, whenever they were generated), and any
    other round's from the day it was first generated."""
    chosen = store.get_meta(_key(kind, period))
    if chosen:
        return chosen
    days = mail.days_for(kind)
    if days is not None:
        start = _month_end(period) if kind == "month" else _first_generated(store, kind, period)
        if start is not None:
            return (start + timedelta(days=days)).isoformat()
    return mail.deadline(kind)


def _month_end(period: str) -> date | None:
    try:
        first = date.fromisoformat(f"{period}-01")
    except ValueError:
        return None
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def _first_generated(store, kind: str, period: str) -> date | None:
    row = store.db.execute("SELECT MIN(generated_at) FROM sent WHERE kind = ? AND period = ?",
                           (kind, period)).fetchone()
    return date.fromisoformat(row[0][:10]) if row and row[0] else None


def round_deadlines(workspace) -> dict[tuple[str, str], str]:
    """(kind, period) -> deadline for every round sent so far (rounds without one are left out)."""
    with workspace.store() as store:
        rounds = store.db.execute("SELECT DISTINCT kind, period FROM sent").fetchall()
        found = {(k, p): round_deadline(store, workspace.config.mail, k, p) for k, p in rounds}
    return {key: day for key, day in found.items() if day}
