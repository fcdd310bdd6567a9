"""Email in: take returned workbooks out of .eml files, mbox files and Maildir folders, save them, then ingest.

Messages and attachments are untrusted: an attachment's size is bounded before it is decoded, its file
name is reduced to a safe base name (no folders, no control characters), nothing is ever overwritten, and
the workbook itself goes through ingest's safe reader like any other returned file.
"""

from __future__ import annotations

import email
import hashlib
import mailbox
import os
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path

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
MAX_MESSAGE_BYTES = 100 * 1024 * 1024
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                     *(f"lpt{i}" for i in range(1, 10))}


@dataclass
class Attachment:
    """One workbook found in a message: where it was saved, who sent it, and what ingest made of it."""

    name: str  # the file name as the sender's mail program gave it
    saved: str  # path relative to the workspace ('' when the same bytes had been collected before)
    sender: str
    date: str  # the message's date, ISO 8601 in UTC
    message_id: str
    source: str  # the mailbox file or folder, and the message in it
    sha256: str
    status: str  # saved | duplicate
    owner: str = ""  # the template's owner, when ingest could identify the file
    outcome: str = ""  # ingest's verdict: accepted, rejected, duplicate, stale


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


def read_messages(source: Path) -> Iterator[tuple[str, bytes]]:
    """(label, raw bytes) of every message in a .eml file, an mbox file, a Maildir or a folder of .eml files."""
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(source)
    if source.is_dir():
        if _is_maildir(source):
            box = mailbox.Maildir(source, factory=None, create=False)
            for key in sorted(box.keys()):
                yield f"{source.name}/{key}", box.get_bytes(key)
            return
        for child in sorted(source.iterdir()):
            if child.is_file() and child.suffix.lower() == ".eml":
                yield from read_messages(child)
        return
    with source.open("rb") as handle:
        head = handle.read(5)
    if head == b"From ":  # the mbox separator line; a single message starts with a header such as "From:"
        box = mailbox.mbox(source, factory=None, create=False)
        try:
            for index, key in enumerate(box.keys(), start=1):
                yield f"{source.name}#{index}", box.get_bytes(key)
        finally:
            box.close()
        return
    if source.stat().st_size > MAX_MESSAGE_BYTES:
        yield source.name, b""  # too large to read: reported as ignored
        return
    yield source.name, source.read_bytes()


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


def _parts(message: EmailMessage) -> Iterator[EmailMessage]:
    """Leaf parts, forwarded messages (message/rfc822) included: walk() descends into them."""
    for part in message.walk():
        if not part.is_multipart():
            yield part


def _save(folder: Path, name: str, data: bytes, stamp: datetime) -> Path:
    """Write without ever replacing a file: the first free name of name, name-2, name-3 ..."""
    from sheetplan.xlsx.writer import write_atomic

    folder.mkdir(parents=True, exist_ok=True)
    stem, suffix = os.path.splitext(name)
    tmp = folder / f".collect-{os.getpid()}{suffix}"
    write_atomic(tmp, data)
    try:
        counter = 1
        while True:
            target = folder / (name if counter == 1 else f"{stem}-{counter}{suffix}")
            try:
                os.link(tmp, target)  # fails if the name is taken, even by a file made a moment ago
                break
            except FileExistsError:
                counter += 1
            except OSError:  # a file system without hard links: exclusive creation, not atomic but safe
                try:
                    with open(target, "xb") as handle:
                        handle.write(data)
                    break
                except FileExistsError:
                    counter += 1
    finally:
        tmp.unlink(missing_ok=True)
    # Ingest takes a file's modification time as when it was received: make that the message's date.
    os.utime(target, (stamp.timestamp(), stamp.timestamp()))
    return target


# ------------------------------------------------------------------------------------------- collect


def collect(workspace: Workspace, sources: Iterable[Path], ingest: bool = True, workers: int = 2,
            limits: Limits = Limits()) -> CollectResult:
    """Save every workbook attached to the messages in `sources` into inbox/<date>/, then ingest them.

    Messages collected before (same Message-ID, or the same bytes when there is none) are skipped; so are
    workbooks whose bytes were collected before. A sender who is neither the template's owner nor one of
    the owner's managers is a warning.
    """
    result = CollectResult()
    inbox = workspace.folder("inbox")
    seen: set[str] = set()
    with workspace.store() as store:
        for source in sources:
            for label, raw in read_messages(Path(source)):
                result.messages += 1
                where = label
                if not raw or len(raw) > MAX_MESSAGE_BYTES:
                    result.ignored.append(Ignored(where, "message/rfc822", "message too large", where, ""))
                    continue
                digest = hashlib.sha256(raw).hexdigest()
                message = email.message_from_bytes(raw, policy=policy.default)
                message_id = _header(message, "message-id")
                key = message_id or f"sha256:{digest}"
                if key in seen or store.db.execute("SELECT 1 FROM collected WHERE message_key = ?",
                                                   (key,)).fetchone():
                    result.skipped.append(where)
                    continue
                seen.add(key)
                _collect_message(workspace, store, message, key, message_id, digest, where, inbox, limits, result)
    if ingest and result.saved:
        from sheetplan.returns.ingest import ingest as run_ingest

        result.report = run_ingest(workspace, [workspace.root / a.saved for a in result.saved], workers=workers)
    _identify(workspace, result)
    return result


def _collect_message(workspace: Workspace, store, message: EmailMessage, key: str, message_id: str, digest: str,
                     where: str, inbox: Path, limits: Limits, result: CollectResult) -> None:
    sender, stamp = _sender(message), _date(message)
    subject = _header(message, "subject")
    rows = []
    for part in _parts(message):
        try:
            name = part.get_filename()
        except (TypeError, ValueError):
            name = None
        content_type = part.get_content_type()
        disposition = part.get_content_disposition()
        if name is None and disposition != "attachment" and content_type not in WORKBOOK_TYPES:
            continue  # the text or HTML body
        shown = name or content_type
        if not _is_workbook(name, content_type):
            inline = disposition == "inline" or (part.get("content-id") and content_type.startswith("image/"))
            reason = "inline image" if inline and content_type.startswith("image/") else "not a workbook"
            result.ignored.append(Ignored(shown, content_type, reason, where, sender))
            continue
        encoded = part.get_payload()
        # Bound the size before decoding: base64 text is 4/3 of the bytes it carries.
        if isinstance(encoded, str) and len(encoded) * 3 // 4 > limits.max_file_bytes * 1.05:
            result.ignored.append(Ignored(shown, content_type, "too large", where, sender))
            continue
        data = part.get_payload(decode=True) or b""
        if len(data) > limits.max_file_bytes:
            result.ignored.append(Ignored(shown, content_type, "too large", where, sender))
            continue
        sha = hashlib.sha256(data).hexdigest()
        known = store.db.execute("SELECT saved_path FROM collected WHERE attachment_sha256 = ? AND saved_path != ''"
                                 " UNION ALL SELECT source_path FROM submissions WHERE sha256 = ? LIMIT 1",
                                 (sha, sha)).fetchone()
        earlier = next((a for a in result.attachments if a.sha256 == sha and a.status == "saved"), None)
        attachment = Attachment(name or shown, "", sender, stamp.isoformat(), message_id, where, sha, "duplicate")
        if known is None and earlier is None:
            path = _save(inbox / stamp.date().isoformat(), safe_file_name(name, content_type), data, stamp)
            attachment.saved, attachment.status = os.path.relpath(path, workspace.root), "saved"
        result.attachments.append(attachment)
        rows.append((attachment.saved, sha))
    with store.transaction() as db:
        for saved, sha in rows or [("", "")]:  # a message with no workbook is remembered too
            db.execute("INSERT INTO collected (message_key, message_id, message_sha256, sender, message_date, subject,"
                       " source, saved_path, attachment_sha256, collected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (key, message_id, digest, sender, stamp.isoformat(), subject, where, saved, sha, now_iso()))


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
        if person is None:
            continue  # not identified (or not ours): ingest has said why
        allowed = {person.email.lower(), *(m.email.lower() for m in roster.chain(owner))}
        if attachment.sender not in allowed:
            result.warnings.append(Problem(
                "unexpected-sender", f"{attachment.sender or 'an unknown sender'} sent the {kind} {period} "
                f"workbook of {owner} ({person.name}), but is neither its owner nor one of their managers",
                severity=WARNING, file=attachment.saved or attachment.name, field="from", value=attachment.sender))
