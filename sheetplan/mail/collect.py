"""Email in: take returned workbooks out of .eml files, mbox files and Maildir folders, save them, then ingest.

Messages and attachments are untrusted: an attachment's size is bounded before it is decoded, its file
name is reduced to a safe base name (no folders, no control characters), nothing is ever overwritten, and
the workbook itself goes through ingest's safe reader like any other returned file.
"""

from __future__ import annotations

import functools
import hashlib
import mailbox
import os
import shutil
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import BinaryIO

from sheetplan.mail.mimestream import Scanned, scan
from sheetplan.problems import WARNING, Problem
from sheetplan.returns.ingest import IngestReport
from sheetplan.returns.limits import Limits
from sheetplan.workspace.folder import Workspace
from sheetplan.workspace.store import now_iso
from sheetplan.xlsx.layout import safe_part

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods")
# Spreadsheets by type, for attachments sent without a usable file name.
WORKBOOK_TYPES = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.ms-excel.sheet.macroenabled.12": ".xlsm",
    "application/vnd.ms-excel": ".xls",
    "application/vnd.ms-excel.sheet.binary.macroenabled.12": ".xlsb",
    "application/vnd.oasis.opendocument.spreadsheet": ".ods",
}
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                     *(f"lpt{i}" for i in range(1, 10))}


@dataclass
class Attachment:
    """One workbook found in a message: where it was saved, who sent it, and what ingest made of it."""

    name: str  # the file name as the sender's mail program gave it
    saved: str  # path relative to the workspace ('' when the same bytes had been collected before)
    sender: str
    date: str  # the message's Date: header, ISO 8601 in UTC: the sender's claim, shown but never trusted
    message_id: str
    source: str  # the mailbox file or folder, and the message in it
    sha256: str
    status: str  # saved | duplicate
    owner: str = ""  # the template's owner, when ingest could identify the file
    outcome: str = ""  # ingest's verdict: accepted, rejected, duplicate, stale, quarantined
    received_at: str = ""  # when the collecting mailbox's server received it (else when collect saw it)


@dataclass(frozen=True)
class Ignored:
    """An attachment that was not taken, and why (not a workbook, an inline image, too large)."""

    name: str
    content_type: str
    reason: str
    source: str
    sender: str


@dataclass
class CollectResult:
    messages: int = 0  # messages read
    skipped: list[str] = field(default_factory=list)  # sources of messages collected before (or twice here)
    attachments: list[Attachment] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    report: IngestReport | None = None

    @property
    def saved(self) -> list[Attachment]:
        return [a for a in self.attachments if a.status == "saved"]

    @property
    def exit_code(self) -> int:
        return self.report.exit_code if self.report else 0

    def to_frame(self):
        """One row per workbook attachment, for notebooks."""
        import pandas as pd

        columns = ["name", "saved", "sender", "date", "message_id", "source", "sha256", "status", "owner", "outcome"]
        return pd.DataFrame([[getattr(a, c) for c in columns] for a in self.attachments], columns=columns)


# ------------------------------------------------------------------------------------------- reading mailboxes


def _is_maildir(path: Path) -> bool:
    return all((path / sub).is_dir() for sub in ("cur", "new", "tmp"))


def open_messages(source: Path) -> Iterator[tuple[str, Callable[[], BinaryIO]]]:
    """(label, open) of every message in a .eml file, an mbox file, a Maildir or a folder of .eml files;
    `open()` gives the message as a binary file, read as a stream (never held in memory whole)."""
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(source)
    if source.is_dir():
        if _is_maildir(source):
            box = mailbox.Maildir(source, factory=None, create=False)
            for key in sorted(box.keys()):
                yield f"{source.name}/{key}", functools.partial(box.get_file, key)
            return
        for child in sorted(source.iterdir()):
            if child.is_file() and child.suffix.lower() == ".eml":
                yield from open_messages(child)
        return
    with source.open("rb") as handle:
        head = handle.read(5)
    if head == b"From ":  # the mbox separator line; a single message starts with a header such as "From:"
        box = mailbox.mbox(source, factory=None, create=False)
        try:
            for index, key in enumerate(box.keys(), start=1):
                yield f"{source.name}#{index}", functools.partial(box.get_file, key)
        finally:
            box.close()
        return
    yield source.name, functools.partial(source.open, "rb")


def read_messages(source: Path) -> Iterator[tuple[str, bytes]]:
    """(label, raw bytes) of every message in `source`: for tests and small tools; collect streams instead."""
    for label, opener in open_messages(source):
        with opener() as handle:
            yield label, handle.read()


# ------------------------------------------------------------------------------------------- one message


def _sender(message: EmailMessage) -> str:
    try:
        addresses = message["from"].addresses if message["from"] is not None else ()
        if addresses:
            return addresses[0].addr_spec.lower()
    except (AttributeError, IndexError, TypeError, ValueError):
        pass
    return parseaddr(str(message.get("from", "")))[1].lower()


def _date(message: EmailMessage) -> datetime:
    try:
        header = message["date"]
        stamp = header.datetime if header is not None else None
    except (AttributeError, TypeError, ValueError):
        stamp = None
    if stamp is None:
        return datetime.now(UTC).replace(microsecond=0)
    if stamp.tzinfo is None:  # a date without a zone: RFC 5322 says -0000, "unknown"; take it as UTC
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC)


def _received(message: EmailMessage, now: datetime) -> tuple[datetime, str]:
    """When the collecting mailbox got the message, by its own server's clock: the topmost Received: header
    is the one that server added (every earlier hop, and the sender, add theirs below it). Missing, garbled,
    or ahead of this machine's clock: the message counts as received now, when collect saw it."""
    from email.utils import parsedate_to_datetime

    from sheetplan.returns.arrival import CLOCK_SKEW, FIRST_SEEN, MAILBOX

    try:
        headers = message.get_all("received") or []
        stamp = parsedate_to_datetime(str(headers[0]).rsplit(";", 1)[1].strip()) if headers else None
    except (IndexError, TypeError, ValueError):
        stamp = None
    if stamp is None or stamp.tzinfo is None or stamp > now + CLOCK_SKEW:
        return now, FIRST_SEEN
    return stamp.astimezone(UTC), MAILBOX


def _header(message: EmailMessage, name: str) -> str:
    try:
        return str(message.get(name, "") or "").strip()
    except (TypeError, ValueError):
        return ""


def safe_file_name(name: str | None, content_type: str = "") -> str:
    """A base name that is safe to create on any system: no folders, no control characters, a known suffix."""
    raw = unicodedata.normalize("NFC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    raw = "".join(ch for ch in raw if ch.isprintable())
    stem, dot, suffix = raw.rpartition(".")
    if not dot:
        stem, suffix = raw, ""
    suffix = f".{suffix.lower()}"
    if suffix not in WORKBOOK_SUFFIXES:
        suffix = WORKBOOK_TYPES.get(content_type, ".xlsx")
    stem = safe_part(stem, 100) if stem.strip("._ ") else "attachment"
    if stem.lower() in _WINDOWS_RESERVED:
        stem += "-file"
    return stem + suffix


def _is_workbook(name: str | None, content_type: str) -> bool:
    if name:
        return Path(name.strip()).suffix.lower() in WORKBOOK_SUFFIXES
    return content_type in WORKBOOK_TYPES


def _save(folder: Path, name: str, decoded: Path) -> Path:
    """Move the decoded part into place without ever replacing a file: the first free name of name,
    name-2, name-3 ... (a hard link fails if the name is taken, even by a file made a moment ago)."""
    folder.mkdir(parents=True, exist_ok=True)
    stem, suffix = os.path.splitext(name)
    os.chmod(decoded, 0o666 & ~_umask())
    counter = 1
    while True:
        target = folder / (name if counter == 1 else f"{stem}-{counter}{suffix}")
        try:
            os.link(decoded, target)
            break
        except FileExistsError:
            counter += 1
        except OSError:  # a file system without hard links: exclusive creation, not atomic but safe
            try:
                with open(target, "xb") as handle, decoded.open("rb") as source:
                    shutil.copyfileobj(source, handle)
                break
            except FileExistsError:
                counter += 1
    decoded.unlink(missing_ok=True)
    return target


def _umask() -> int:
    from sheetplan.xlsx.writer import current_umask

    return current_umask()


# ------------------------------------------------------------------------------------------- collect


def collect(workspace: Workspace, sources: Iterable[Path], ingest: bool = True, workers: int = 2,
            limits: Limits = Limits()) -> CollectResult:
    """Save every workbook attached to the messages in `sources` into inbox/<date>/, then ingest them.

    Messages collected before (same Message-ID, or the same bytes when there is none) are skipped; so are
    workbooks whose bytes were collected before. A workbook from a sender the [collect] policy does not
    allow waits in quarantine/; with `senders = "anyone"`, one from outside the owner's reporting line is
    a warning.
    """
    result = CollectResult()
    inbox = workspace.folder("inbox")
    seen: set[str] = set()
    with workspace.store() as store:
        for source in sources:
            for label, opener in open_messages(Path(source)):
                result.messages += 1
                inbox.mkdir(parents=True, exist_ok=True)
                with opener() as handle:
                    scanned = scan(handle, _wanted, inbox, limits.max_file_bytes)
                try:
                    message_id = _header(scanned.headers, "message-id")
                    key = message_id or f"sha256:{scanned.sha256}"
                    if key in seen or store.db.execute("SELECT 1 FROM collected WHERE message_key = ?",
                                                       (key,)).fetchone():
                        result.skipped.append(label)
                        continue
                    seen.add(key)
                    _collect_message(workspace, store, scanned, key, message_id, label, inbox, result)
                finally:
                    scanned.discard()  # what was not saved into the inbox
    if ingest and result.saved:
        from sheetplan.returns.ingest import ingest as run_ingest

        result.report = run_ingest(workspace, [workspace.root / a.saved for a in result.saved], workers=workers)
    _identify(workspace, result)
    return result


def _wanted(headers: EmailMessage) -> bool:
    """Only workbook parts are decoded to disk; every other body is read past."""
    try:
        name = headers.get_filename()
    except (TypeError, ValueError):
        name = None
    return _is_workbook(name, headers.get_content_type())


def _collect_message(workspace: Workspace, store, scanned: Scanned, key: str, message_id: str, where: str,
                     inbox: Path, result: CollectResult) -> None:
    message = scanned.headers
    sender, stamp = _sender(message), _date(message)
    received, via = _received(message, datetime.now(UTC).replace(microsecond=0))
    subject = _header(message, "subject")
    rows = []
    for part in scanned.parts:
        headers = part.headers
        try:
            name = headers.get_filename()
        except (TypeError, ValueError):
            name = None
        content_type = headers.get_content_type()
        disposition = headers.get_content_disposition()
        if name is None and disposition != "attachment" and content_type not in WORKBOOK_TYPES:
            continue  # the text or HTML body
        shown = name or content_type
        if not _is_workbook(name, content_type):
            inline = disposition == "inline" or (headers.get("content-id") and content_type.startswith("image/"))
            reason = "inline image" if inline and content_type.startswith("image/") else "not a workbook"
            result.ignored.append(Ignored(shown, content_type, reason, where, sender))
            continue
        if part.too_large or part.saved is None:
            result.ignored.append(Ignored(shown, content_type, "too large", where, sender))
            continue
        sha = _file_sha256(part.saved)
        known = store.db.execute("SELECT saved_path FROM collected WHERE attachment_sha256 = ? AND saved_path != ''"
                                 " UNION ALL SELECT source_path FROM submissions WHERE sha256 = ? LIMIT 1",
                                 (sha, sha)).fetchone()
        earlier = next((a for a in result.attachments if a.sha256 == sha and a.status == "saved"), None)
        attachment = Attachment(name or shown, "", sender, stamp.isoformat(), message_id, where, sha, "duplicate",
                                received_at=received.isoformat())
        if known is None and earlier is None:
            # Filed by the day the mailbox received it: the sender's Date: must not choose the folder.
            path = _save(inbox / received.date().isoformat(), safe_file_name(name, content_type), part.saved)
            part.saved = None  # it is in the inbox now
            attachment.saved, attachment.status = os.path.relpath(path, workspace.root), "saved"
        result.attachments.append(attachment)
        rows.append((attachment.saved, sha))
    with store.transaction() as db:
        for saved, sha in rows or [("", "")]:  # a message with no workbook is remembered too
            db.execute("INSERT INTO collected (message_key, message_id, message_sha256, sender, message_date, subject,"
                       " source, saved_path, attachment_sha256, collected_at, received_at, received_via)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (key, message_id, scanned.sha256, sender, stamp.isoformat(), subject, where, saved, sha,
                        now_iso(), received.isoformat(), via))


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _identify(workspace: Workspace, result: CollectResult) -> None:
    """Name each workbook's owner (from ingest, or the ledger for bytes seen before) and check the sender."""
    outcomes = {}
    if result.report:
        outcomes = {Path(o.path).resolve(): o for o in result.report.outcomes}
    owners: dict[str, tuple[str, str, str]] = {}
    with workspace.store() as store:
        for attachment in result.attachments:
            row = store.db.execute("SELECT kind, owner, period FROM submissions WHERE sha256 = ? AND owner != ''",
                                   (attachment.sha256,)).fetchone()
            if row:
                owners[attachment.sha256] = row
    roster = workspace.roster
    for attachment in result.attachments:
        outcome = outcomes.get((workspace.root / attachment.saved).resolve()) if attachment.saved else None
        if outcome is not None:
            attachment.outcome = outcome.status
        kind, owner, period = (outcome.kind, outcome.owner, outcome.period) if outcome and outcome.owner else \
            owners.get(attachment.sha256, ("", "", ""))
        attachment.owner = owner
        person = roster.get(owner) if owner else None
        if person is None or attachment.outcome == "quarantined":
            continue  # not identified (or not ours), or held back by the [collect] policy: ingest has said why
        allowed = {person.email.lower(), *(m.email.lower() for m in roster.chain(owner))}
        if attachment.sender not in allowed:
            result.warnings.append(Problem(
                "unexpected-sender", f"{attachment.sender or 'an unknown sender'} sent the {kind} {period} "
                f"workbook of {owner} ({person.name}), but is neither its owner nor one of their managers",
                severity=WARNING, file=attachment.saved or attachment.name, field="from", value=attachment.sender))
