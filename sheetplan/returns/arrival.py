"""When a returned file arrived, by a clock the sender does not hold.

Which of two copies of one template stands is decided by revision, then by arrival. A message's Date:
header and a file's modification time are written by the sender (a return dated 2100 would beat every
correction), so neither decides: a collected file arrived when the collecting mailbox's own server
received it (the topmost Received: header, which that server adds), and any other file when sheetplan
first saw it. The claimed time is kept beside the trusted one and shown, and among files first seen
together it only orders copies whose claim is possible (not in the future, not before the template).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

MAILBOX, FIRST_SEEN = "mailbox", "first-seen"
CLOCK_SKEW = timedelta(minutes=5)  # servers' clocks differ a little; more than this ahead is a forgery


@dataclass(frozen=True)
class Arrival:
    received_at: str  # ISO 8601 UTC, seconds: the time that decides
    via: str  # mailbox | first-seen
    claimed_at: str  # what the message's Date: or the file's modification time said
    sender: str = ""  # the collected message's From address ('' for a file put in the inbox by hand)

    def claim_doubt(self, generated_at: str = "", now: str = "") -> str:
        """'future' or 'before-template' when the claimed time cannot be true, else ''."""
        return claim_doubt(self.claimed_at, generated_at, now)


def iso(stamp: datetime) -> str:
    return stamp.astimezone(UTC).replace(microsecond=0).isoformat()


def claim_doubt(claimed: str, generated_at: str = "", now: str = "") -> str:
    if not claimed:
        return ""
    now = now or iso(datetime.now(UTC))
    if claimed > iso(datetime.fromisoformat(now) + CLOCK_SKEW):
        return "future"
    if generated_at and claimed < generated_at:
        return "before-template"
    return ""


def file_time(path: Path) -> str:
    """Kept to the microsecond: files written within one second still keep their order."""
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat()


def arrivals(store, root: Path, files: list[Path], first_seen: str) -> dict[Path, Arrival]:
    """The arrival of every file: the collecting mailbox's time for files `collect` saved, else `first_seen`."""
    root = Path(root).resolve()
    collected: dict[str, tuple[str, str, str, str]] = {}
    for saved, received, via, claimed, sender in store.db.execute(
            "SELECT saved_path, received_at, received_via, message_date, sender FROM collected"
            " WHERE saved_path != ''"):
        collected[saved] = (received, via, claimed, sender)
    found = {}
    for path in files:
        try:
            relative = os.path.relpath(path, root)
        except ValueError:  # another drive on Windows
            relative = str(path)
        claimed = file_time(path)
        if relative in collected:
            received, via, message_date, sender = collected[relative]
            if received and via == MAILBOX and not claim_doubt(received, now=first_seen):
                found[path] = Arrival(received, MAILBOX, message_date or claimed, sender)
                continue
            found[path] = Arrival(received or first_seen, FIRST_SEEN, message_date or claimed, sender)
            continue
        found[path] = Arrival(first_seen, FIRST_SEEN, claimed)
    return found


def arrival_order(files: list[Path], found: dict[Path, Arrival], now: str) -> list[Path]:
    """Earliest arrival first, so a later copy is recorded later and wins. Among files that arrived together,
    a possible claim orders them; an impossible one (in the future) counts as the earliest."""
    def key(path: Path):
        arrival = found[path]
        claim = "" if claim_doubt(arrival.claimed_at, now=now) == "future" else arrival.claimed_at
        return arrival.received_at, claim, str(path)
    return sorted(files, key=key)


def checked_against_template(arrival: Arrival, generated_at: str, first_seen: str) -> Arrival:
    """A mailbox time before the template was even generated is not the collecting server's: the message
    was made elsewhere (an .eml file handed in). Then the file arrived when sheetplan first saw it."""
    if arrival.via == MAILBOX and generated_at and arrival.received_at < generated_at:
        return Arrival(first_seen, FIRST_SEEN, arrival.claimed_at, arrival.sender)
    return arrival
