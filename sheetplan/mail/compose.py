"""Email out: one message per recipient (templates, feedback copies, team reports, reminders), as drafts or sent.

Composing is separate from delivering: `compose` and `compose_reminders` return plain `Outgoing` records
(recipient, subject, body, attachment) that a notebook can inspect; `deliver` writes them as `.eml` drafts
or sends them over SMTP, and records each one in the store so that a rerun sends nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from functools import partial
from pathlib import Path

from sheetplan.errors import ConfigError, EnvironmentProblem
from sheetplan.mail.smtp import InDoubt, Permanent, SmtpConnection, Transient
from sheetplan.problems import Problem
from sheetplan.returns.feedback import feedback_path
from sheetplan.workspace.deadlines import round_deadline
from sheetplan.workspace.folder import Workspace
from sheetplan.workspace.labels import catalogue
from sheetplan.workspace.store import now_iso
from sheetplan.xlsx.layout import KINDS, safe_part

XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
MAIL_KINDS = (*KINDS, "feedback", "team-report")
MODES = ("drafts", "send")
REMINDER = "reminder"
MAX_LISTED_PROBLEMS = 15
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class Outgoing:
    """One message to write or send. `kind` is a template kind, 'feedback', 'team-report' or 'reminder:<kind>'."""

    kind: str
    period: str
    owner: str  # the person the message is for (a team report: the team's manager)
    name: str
    recipient: str  # their email address; '' when the roster has none
    subject: str
    body: str
    attachment: Path | None
    folder: str  # drafts are written to outbox/mail/<folder>/
    problem: str = ""  # why this message cannot go out (the workbook is missing ...); '' when it can


@dataclass
class MailResult:
    """What happened to one message: drafted, sent, skipped (already done) or failed (detail says why)."""

    kind: str
    period: str
    owner: str
    recipient: str
    subject: str
    attachment: str  # path relative to the workspace, '' for none
    status: str
    detail: str = ""
    message_id: str = ""
    draft: str = ""  # the .eml written, relative to the workspace
    attempts: int = 0


# ------------------------------------------------------------------------------------------- texts


def mail_catalogue(lang: str) -> dict[str, dict[str, str]]:
    return catalogue(lang, "mail")


class _Texts:
    def __init__(self, workspace: Workspace) -> None:
        self.lang = workspace.config.language
        self.data = mail_catalogue(self.lang)
        self.company = workspace.config.company
        self.workspace = workspace
        self.deadlines: dict[tuple[str, str], str] = {}
        self.metrics = {m.key: m.label(self.lang) for m in workspace.config.metrics}

    def kind(self, kind: str) -> str:
        return self.data["kinds"].get(kind, kind)

    def deadline_line(self, kind: str, period: str) -> str:
        """The round's own deadline (see workspace.deadlines), looked up once per round."""
        if (kind, period) not in self.deadlines:
            with self.workspace.store() as store:
                self.deadlines[(kind, period)] = round_deadline(store, self.workspace.config.mail, kind, period)
        deadline = self.deadlines[(kind, period)]
        common = self.data["common"]
        return common["deadline"].format(deadline=deadline) if deadline else common["no_deadline"]

    def message(self, section: str, name: str, **values) -> tuple[str, str]:
        """(subject, body) of one catalogue section, with greeting and signature around the body."""
        values = {"company": self.company, **values}
        common = self.data["common"]
        try:
            subject = self.data[section]["subject"].format(**values)
            body = "\n".join([common["greeting"].format(name=name), "",
                              self.data[section]["body"].format(**values).strip(), "",
                              common["signature"].format(company=self.company)])
        except (KeyError, IndexError, ValueError) as exc:  # a hand-edited catalogue
            raise ConfigError(f"templates/mail.{self.lang}.toml [{section}]: unknown or broken placeholder "
                              f"{exc}") from None
        body = re.sub(r"\n{3,}", "\n\n", body)  # an empty optional line leaves no hole
        return subject, body + "\n"

    def problems(self, problems: list[Problem]) -> str:
        from sheetplan.returns.feedback import explain

        common = self.data["common"]
        lines = []
        for problem in problems[:MAX_LISTED_PROBLEMS]:
            where = f"{problem.sheet}!{problem.cell}" if problem.sheet and problem.cell else (
                problem.sheet or problem.field or problem.file)
            lines.append(common["problem"].format(where=where, message=explain(problem, self.lang, self.metrics),
                                                  code=problem.code))
        if len(problems) > MAX_LISTED_PROBLEMS:
            lines.append(common["more_problems"].format(count=len(problems) - MAX_LISTED_PROBLEMS))
        return "\n".join(lines)


# ------------------------------------------------------------------------------------------- what to send


def _latest_round(workspace: Workspace, kind: str | None, period: str | None) -> tuple[str, str]:
    """The round named, or the most recently generated one (of that kind)."""
    with workspace.store() as store:
        rows = store.select("SELECT kind, period FROM sent WHERE 1 = 1", kind, period).fetchall()
    row = rows[-1] if rows else None
    if row is None:
        what = " ".join(part for part in (kind, period) if part) or "any"
        raise ConfigError(f"no {what} templates were ever generated in this workspace; run 'sheetplan generate' "
                          "first")
    return row[0], row[1]


def _chosen(workspace: Workspace, only: Iterable[str] | None) -> Callable[[str], bool]:
    """--only: person ids or team names; a name that matches nobody is a usage mistake."""
    wanted = set(only or ())
    if not wanted:
        return lambda owner: True
    roster = workspace.roster
    known = {p.person_id for p in roster.people} | {p.team for p in roster.people if p.team}
    unknown = sorted(wanted - known)
    if unknown:
        raise ConfigError(f"--only names nobody in the roster: {', '.join(unknown)}")

    def chosen(owner: str) -> bool:
        person = roster.get(owner)
        return owner in wanted or bool(person and person.team in wanted)

    return chosen


def _addressee(workspace: Workspace, owner: str) -> tuple[str, str, str]:
    """(name, address, problem) for a roster person."""
    person = workspace.roster.get(owner)
    if person is None:
        return owner, "", f"{owner} is no longer in the roster"
    if not person.email:
        return person.name, "", f"{owner} has no email address in the roster"
    return person.name, person.email, ""


def _missing(path: Path | None) -> str:
    return f"the workbook {path.name} is missing on disk" if path is not None and not path.is_file() else ""


def _templates(workspace: Workspace, texts: _Texts, kind: str, period: str, chosen) -> list[Outgoing]:
    with workspace.store() as store:
        records = store.sent(kind, period)
    latest = {}
    for record in records:  # in id order, so the newest revision of each owner's template wins
        if record.revision >= getattr(latest.get(record.owner), "revision", 0):
            latest[record.owner] = record
    out = []
    for owner, record in latest.items():
        if not chosen(owner):
            continue
        name, address, problem = _addressee(workspace, owner)
        path = workspace.root / record.path
        subject, body = texts.message("template", name, kind=texts.kind(kind), period=period, file=path.name,
                                      deadline_line=texts.deadline_line(kind, period))
        out.append(Outgoing(kind, period, owner, name, address, subject, body, path, f"{kind}/{safe_part(period)}",
                            problem or _missing(path)))
    return out


def _rejections(workspace: Workspace, kind: str | None, period: str | None) -> list[tuple[str, str, str, dict]]:
    """(kind, period, owner, latest rejected submission) for every recipient whose round stands rejected."""
    from sheetplan.reports.status import round_status
    from sheetplan.returns.ledger import submissions

    frame = round_status(workspace, kind, period)
    rejected = frame[frame["status"] == "rejected"] if len(frame) else frame
    if not len(rejected):
        return []
    with workspace.store() as store:
        subs = submissions(store, kind, period)
    latest: dict[tuple[str, str, str], dict] = {}
    for sub in subs:
        if sub["status"] == "rejected":
            latest[(sub["kind"], sub["period"], sub["owner"])] = sub
    return [(row.kind, row.period, row.owner, latest[(row.kind, row.period, row.owner)])
            for row in rejected.itertuples() if (row.kind, row.period, row.owner) in latest]


def _errors(submission: dict) -> list[Problem]:
    problems = [Problem(**p) for p in json.loads(submission["problems"])]
    return [p for p in problems if p.is_error]


def _feedback(workspace: Workspace, texts: _Texts, period: str | None, chosen) -> list[Outgoing]:
    out = []
    for kind, round_period, owner, sub in _rejections(workspace, None, period):
        path = feedback_path(workspace, sub["original_name"])
        if not chosen(owner) or not path.is_file():
            continue  # no marked-up copy (the problems were not in cells): `remind` lists them instead
        name, address, problem = _addressee(workspace, owner)
        subject, body = texts.message("feedback", name, kind=texts.kind(kind), period=round_period,
                                      problems=texts.problems(_errors(sub)),
                                      feedback_line=texts.data["common"]["feedback_attached"],
                                      deadline_line=texts.deadline_line(kind, round_period))
        out.append(Outgoing("feedback", round_period, owner, name, address, subject, body, path,
                            f"feedback/{safe_part(round_period)}", problem))
    return out


def _team_reports(workspace: Workspace, texts: _Texts, month: str | None, chosen) -> list[Outgoing]:
    reports = workspace.folder("reports")
    if month is None:
        months = sorted(p.name for p in reports.iterdir() if p.is_dir() and _MONTH.match(p.name)
                        and any(p.glob("team-*.xlsx"))) if reports.is_dir() else []
        if not months:
            raise ConfigError("no team workbooks in reports/: run 'sheetplan consolidate' first")
        month = months[-1]
    if not _MONTH.match(month):
        raise ConfigError(f"--period for team reports is a month as YYYY-MM, got {month!r}")
    folder = reports / month
    files = sorted(folder.glob("team-*.xlsx")) if folder.is_dir() else []
    if not files:
        raise ConfigError(f"no team workbooks in reports/{month}: run 'sheetplan consolidate --month {month}' first")
    teams = {f"team-{safe_part(team)}-{month}.xlsx": team for team in workspace.roster.teams}
    out = []
    for path in files:
        team = teams.get(path.name)
        manager = workspace.roster.manager(team) if team else None
        if manager is None:
            out.append(Outgoing("team-report", month, "", team or path.stem, "", path.name, "", path,
                                f"team-report/{month}", f"no team manager found for {path.name}"))
            continue
        if not chosen(manager.person_id):  # a team name in --only selects its manager
            continue
        name, address, problem = _addressee(workspace, manager.person_id)
        subject, body = texts.message("team_report", name, team=team, period=month, file=path.name)
        out.append(Outgoing("team-report", month, manager.person_id, name, address, subject, body, path,
                            f"team-report/{month}", problem))
    return out


def compose(workspace: Workspace, kind: str | None = None, period: str | None = None,
            only: Iterable[str] | None = None) -> list[Outgoing]:
    """The messages of one round: templates (latest revision per owner), feedback copies or team reports.

    Without kind and period: the round generated last. `only`: person ids or team names.
    """
    if kind is not None and kind not in MAIL_KINDS:
        raise ConfigError(f"unknown kind {kind!r}; choose one of {', '.join(MAIL_KINDS)}")
    texts, chosen = _Texts(workspace), _chosen(workspace, only)
    if kind == "feedback":
        return _feedback(workspace, texts, period, chosen)
    if kind == "team-report":
        return _team_reports(workspace, texts, period, chosen)
    kind, period = _latest_round(workspace, kind, period)
    return _templates(workspace, texts, kind, period, chosen)


def compose_reminders(workspace: Workspace, kind: str | None = None, period: str | None = None,
                      only: Iterable[str] | None = None) -> list[Outgoing]:
    """Reminders for one round (default: the one generated last): everyone missing gets their template again;
    everyone whose return was rejected gets the problems listed and the marked-up copy, if there is one."""
    from sheetplan.reports.status import round_status

    if kind is not None and kind not in KINDS:
        raise ConfigError(f"reminders are for template rounds; choose one of {', '.join(KINDS)}")
    texts, chosen = _Texts(workspace), _chosen(workspace, only)
    kind, period = _latest_round(workspace, kind, period)
    frame = round_status(workspace, kind, period)
    with workspace.store() as store:
        paths = {r.owner: r.path for r in sorted(store.sent(kind, period), key=lambda r: r.revision)}
    rejected = {owner: sub for _k, _p, owner, sub in _rejections(workspace, kind, period)}
    folder = f"{REMINDER}/{kind}/{safe_part(period)}"
    label, deadline_line = texts.kind(kind), texts.deadline_line(kind, period)
    out = []
    for row in frame.itertuples():
        if row.status not in ("missing", "rejected") or not chosen(row.owner):
            continue
        name, address, problem = _addressee(workspace, row.owner)
        if row.status == "missing":
            path = workspace.root / paths[row.owner]
            subject, body = texts.message("remind_missing", name, kind=label, period=period, file=path.name,
                                          deadline_line=deadline_line)
            problem = problem or _missing(path)
        else:
            sub = rejected[row.owner]
            copy = feedback_path(workspace, sub["original_name"])
            path = copy if copy.is_file() else None
            subject, body = texts.message(
                "remind_rejected", name, kind=label, period=period, problems=texts.problems(_errors(sub)),
                feedback_line=texts.data["common"]["feedback_attached"] if path else "", deadline_line=deadline_line)
        out.append(Outgoing(f"{REMINDER}:{kind}", period, row.owner, name, address, subject, body, path, folder,
                            problem))
    return out


# ------------------------------------------------------------------------------------------- messages


def _domain(address: str) -> str:
    return parseaddr(address)[1].rpartition("@")[2] or "sheetplan.invalid"


def build_message(workspace: Workspace, outgoing: Outgoing, draft: bool = False,
                  message_id: str | None = None) -> EmailMessage:
    """A standard MIME message: text body in UTF-8, the workbook attached with its real type and name.

    `message_id`: see `message_id()`; `deliver` passes a stable one, without it the message gets a new one."""
    settings = workspace.config.mail
    # policy.SMTP: CRLF line ends, as SMTP and the .eml files Outlook and Thunderbird open expect.
    message = EmailMessage(policy=policy.SMTP)
    if settings.from_address:
        message["From"] = settings.from_address
    message["To"] = Address(display_name=outgoing.name, addr_spec=outgoing.recipient)
    reply_to = settings.reply_to or settings.from_address
    if reply_to:
        message["Reply-To"] = reply_to
    message["Subject"] = outgoing.subject
    message["Date"] = format_datetime(datetime.now(UTC))
    # make_msgid's default looks up this machine's name in the DNS: slow, and leaks the host name.
    message["Message-ID"] = message_id or make_msgid(domain=_domain(settings.from_address or settings.reply_to))
    if draft:
        message["X-Unsent"] = "1"  # Outlook opens the file as a draft, ready to send
    # base64 for non-ASCII text: short, and safe through servers without 8BITMIME.
    message.set_content(outgoing.body, charset="utf-8", cte="7bit" if outgoing.body.isascii() else "base64")
    if outgoing.attachment is not None:
        data = outgoing.attachment.read_bytes()
        # policy.SMTP writes a non-ASCII file name as an RFC 2231 parameter (filename*=utf-8''...)
        message.add_attachment(data, maintype=XLSX_TYPE[0], subtype=XLSX_TYPE[1],
                               filename=outgoing.attachment.name)
        # Old mail programs name the file from Content-Type's `name`. Only for ASCII names: with a non-ASCII
        # `name` the email package's folder can encode the MIME type itself (application/=?utf-8?q?...),
        # and every client reads RFC 2231 `filename*` anyway.
        if outgoing.attachment.name.isascii():
            message.get_payload()[-1].set_param("name", outgoing.attachment.name)
    return message


# ------------------------------------------------------------------------------------------- delivery


# States of a mail_sent row. 'sending' is committed before the server's final reply to DATA is awaited;
# a 'sending' row that a new run finds belongs to a run that died waiting: its message is in doubt.
SENDING, IN_DOUBT, DONE = "sending", "in-doubt", "done"
INTERRUPTED = "interrupted"  # an in-doubt reason beside smtp.TIMEOUT and smtp.DROPPED


@dataclass(frozen=True)
class _Earlier:
    """A mail_sent row of the same message (same round, recipient and attachment; a reminder: same day)."""

    id: int
    state: str
    message_id: str
    doubt: str
    sent_at: str


def _earlier(store, outgoing: Outgoing, recipient: str, digest: str, mode: str, day: str) -> list[_Earlier]:
    if outgoing.kind.startswith(REMINDER):
        # A reminder may be repeated, but not twice the same day: a rerun after a crash sends nothing twice.
        rows = store.db.execute("SELECT id, state, message_id, doubt, sent_at FROM mail_sent WHERE kind = ?"
                                " AND period = ? AND owner = ? AND mode = ? AND substr(sent_at, 1, 10) = ?"
                                " ORDER BY id", (outgoing.kind, outgoing.period, outgoing.owner, mode, day))
    else:
        rows = store.db.execute("SELECT id, state, message_id, doubt, sent_at FROM mail_sent WHERE kind = ?"
                                " AND period = ? AND owner = ? AND recipient = ? AND attachment_sha256 = ?"
                                " AND mode = ? ORDER BY id",
                                (outgoing.kind, outgoing.period, outgoing.owner, recipient, digest, mode))
    return [_Earlier(*row) for row in rows]


def message_id(workspace: Workspace, outgoing: Outgoing, recipient: str, digest: str, day: str = "",
               repeat: int = 0) -> str:
    """The same Message-ID every time the same message of a round goes to the same recipient, so that a
    receiving system can drop a second copy. `digest` (the attachment's SHA-256) tells revisions apart,
    `day` reminders of different days, `repeat` (deliveries confirmed before) a deliberate --resend."""
    parts = (workspace.workspace_id, outgoing.kind, outgoing.period, outgoing.owner, recipient.lower(), digest,
             day, str(repeat))
    key = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]
    settings = workspace.config.mail
    return f"<sheetplan.{key}@{_domain(settings.from_address or settings.reply_to)}>"


def _since(sent_at: str) -> str:
    return f"{sent_at[:16].replace('T', ' ')} UTC" if sent_at else "?"


def _record(store, outgoing: Outgoing, recipient: str, message_id: str, attachment: str, digest: str,
            mode: str, state: str = DONE) -> int:
    with store.transaction() as db:
        cursor = db.execute(
            "INSERT INTO mail_sent (kind, period, owner, recipient, message_id, subject, attachment,"
            " attachment_sha256, sent_at, mode, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (outgoing.kind, outgoing.period, outgoing.owner, recipient, message_id, outgoing.subject, attachment,
             digest, now_iso(), mode, state))
    return cursor.lastrowid


def _orphans_in_doubt(store) -> None:
    """'sending' rows left by a run that died before the server's reply: the server may have the message."""
    with store.transaction() as db:
        db.execute("UPDATE mail_sent SET state = ?, doubt = ?, settled_at = ? WHERE state = ?",
                   (IN_DOUBT, INTERRUPTED, now_iso(), SENDING))


class _Claim:
    """The store's row of one message while it is sent: committed as 'sending' before the data's final dot,
    so a crash from then on leaves a trace; then 'done', 'in-doubt', or gone again when the server said no."""

    def __init__(self, store, record: Callable[[], int], doubtful: _Earlier | None) -> None:
        self.store = store
        self.record = record  # inserts the 'sending' row, returns its id
        self.doubtful = doubtful  # the in-doubt row being resent: a refusal now leaves it in doubt
        self.row: int | None = None

    def _set(self, state: str, doubt: str) -> None:
        with self.store.transaction() as db:
            db.execute("UPDATE mail_sent SET state = ?, doubt = ?, settled_at = ? WHERE id = ?",
                       (state, doubt, now_iso(), self.row))

    def sending(self) -> None:
        if self.row is not None:
            return
        if self.doubtful is None:
            self.row = self.record()
        else:
            self.row = self.doubtful.id
            with self.store.transaction() as db:  # sent again now: a reminder's day is today's
                db.execute("UPDATE mail_sent SET state = ?, doubt = '', sent_at = ?, settled_at = '' WHERE id = ?",
                           (SENDING, now_iso(), self.row))

    def done(self) -> None:
        if self.row is not None:
            self._set(DONE, "")

    def in_doubt(self, reason: str) -> None:
        if self.row is not None:
            self._set(IN_DOUBT, reason)

    def refused(self) -> None:
        """The server answered no: this copy was not delivered (an earlier one may still have been)."""
        if self.row is None:
            return
        if self.doubtful is not None:
            self._set(IN_DOUBT, self.doubtful.doubt)
        else:
            with self.store.transaction() as db:
                db.execute("DELETE FROM mail_sent WHERE id = ?", (self.row,))
        self.row = None


def _draft_path(workspace: Workspace, outgoing: Outgoing) -> Path:
    stem = outgoing.attachment.stem if outgoing.attachment is not None else f"{outgoing.owner}-{outgoing.name}"
    return workspace.folder("outbox") / "mail" / outgoing.folder / f"{safe_part(stem, 100)}.eml"


def _password(workspace: Workspace) -> str | None:
    settings = workspace.config.mail
    if not settings.smtp_user:
        return None
    password = os.environ.get(settings.password_env)
    if not password:
        raise EnvironmentProblem(f"mail.smtp_user is set but the environment variable {settings.password_env} "
                                 "is empty: put the SMTP password there (never in sheetplan.toml)")
    return password


def deliver(workspace: Workspace, messages: Iterable[Outgoing], mode: str, resend: bool = False,
            backoff: float = 2.0, timeout: float = 30.0,
            progress: Callable[[MailResult], None] | None = None) -> list[MailResult]:
    """Write drafts into outbox/mail/ or send over SMTP; one failure never stops the batch.

    What was already drafted (and is still on disk) or sent with the same attachment is skipped unless
    `resend`. Temporary failures (4xx, dropped connections) are retried `mail.retries` times with
    exponential backoff starting at `backoff` seconds; permanent ones (5xx) fail that message only.
    A message that reached the server without a final reply (no answer within `timeout`, a dropped
    connection, a run killed while waiting) is 'in-doubt': recorded before the next message starts and
    never sent again without `resend`, which then keeps its Message-ID.
    """
    from sheetplan.xlsx.writer import write_atomic

    if mode not in MODES:
        raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    settings = workspace.config.mail
    envelope_from = parseaddr(settings.from_address)[1]
    if mode == "send" and not envelope_from:
        raise ConfigError("sending needs [mail] from_address in sheetplan.toml (and reply_to, the mailbox "
                          "that collects the returns)")
    texts = _delivery_texts(workspace)
    today = datetime.now(UTC).date().isoformat()
    results: list[MailResult] = []
    smtp: SmtpConnection | None = None
    sent = 0
    with workspace.store() as store:
        # the 'sending' record must outlive a power cut as well as a killed process
        store.db.execute("PRAGMA synchronous=FULL")
        _orphans_in_doubt(store)
        try:
            for outgoing in messages:
                attachment = os.path.relpath(outgoing.attachment, workspace.root) if outgoing.attachment else ""
                result = MailResult(outgoing.kind, outgoing.period, outgoing.owner, outgoing.recipient,
                                    outgoing.subject, attachment, "failed")
                results.append(result)
                if outgoing.problem or not outgoing.recipient:
                    result.detail = outgoing.problem or texts["no_address"]
                    _report(progress, result)
                    continue
                digest = hashlib.sha256(outgoing.attachment.read_bytes()).hexdigest() if outgoing.attachment else ""
                draft = _draft_path(workspace, outgoing)
                day = today if outgoing.kind.startswith(REMINDER) else ""
                earlier = _earlier(store, outgoing, outgoing.recipient, digest, mode, today)
                last = earlier[-1] if earlier else None
                if last is not None and not resend:
                    if last.state == DONE and (mode == "send" or draft.exists()):
                        result.status = "skipped"
                        result.detail = texts["already_sent" if mode == "send" else "already_drafted"]
                        _report(progress, result)
                        continue
                    if last.state != DONE:
                        result.status, result.message_id = IN_DOUBT, last.message_id
                        result.detail = _doubt_text(texts, "in_doubt", last)
                        _report(progress, result)
                        continue
                doubtful = last if last is not None and last.state != DONE else None
                result.message_id = doubtful.message_id if doubtful else message_id(
                    workspace, outgoing, outgoing.recipient, digest, day, sum(e.state == DONE for e in earlier))
                message = build_message(workspace, outgoing, draft=mode == "drafts", message_id=result.message_id)
                if mode == "drafts":
                    write_atomic(draft, message.as_bytes())
                    result.status, result.draft = "drafted", os.path.relpath(draft, workspace.root)
                    result.attempts = 1
                    _record(store, outgoing, outgoing.recipient, result.message_id, attachment, digest, mode)
                    _report(progress, result)
                    continue
                if smtp is None:
                    smtp = SmtpConnection(workspace.config.mail, _password(workspace), timeout)
                claim = _Claim(store, partial(_record, store, outgoing, outgoing.recipient, result.message_id,
                                              attachment, digest, mode, SENDING), doubtful)
                _send(smtp, message, envelope_from, outgoing.recipient, settings.retries, backoff, result, sent,
                      claim, texts)
                if result.status == "sent":
                    sent += 1
                _report(progress, result)
        finally:
            if smtp is not None:
                smtp.close()
    return results


def _delivery_texts(workspace: Workspace) -> dict[str, str]:
    """The [delivery] texts, checked up front: a hand-edited catalogue must not stop a batch half-way."""
    lang = workspace.config.language
    texts = mail_catalogue(lang).get("delivery", {})
    sample = {"since": "", "reason": "", "message_id": ""}
    for key in ("timeout", "dropped", INTERRUPTED, "unsettled", "in_doubt", "listed"):
        try:
            texts[key].format(**sample)
        except (KeyError, IndexError, ValueError, AttributeError) as exc:
            raise ConfigError(f"templates/mail.{lang}.toml [delivery] {key}: missing, or an unknown or broken "
                              f"placeholder {exc}") from None
    return texts


def _doubt_text(texts: dict[str, str], key: str, row: _Earlier) -> str:
    reason = texts.get(row.doubt or "unsettled", row.doubt) if row.state == IN_DOUBT else texts["unsettled"]
    return texts[key].format(since=_since(row.sent_at), reason=reason, message_id=row.message_id)


def _report(progress, result: MailResult) -> None:
    if progress:
        progress(result)


def _send(smtp: SmtpConnection, message: EmailMessage, sender: str, recipient: str, retries: int, backoff: float,
          result: MailResult, sent_before: int, claim: _Claim, texts: dict[str, str]) -> None:
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(min(backoff * 2 ** (attempt - 1), 60.0))
        result.attempts = attempt + 1
        try:
            smtp.send(message, sender, recipient, before_end=claim.sending)
        except InDoubt as exc:
            # The server may have it: retrying could deliver it twice, so it waits for a person's --resend.
            claim.in_doubt(exc.reason)
            result.status = IN_DOUBT
            result.detail = _doubt_text(texts, "in_doubt", _Earlier(claim.row or 0, IN_DOUBT, result.message_id,
                                                                    exc.reason, now_iso()))
            return
        except Transient as exc:
            claim.refused()
            result.detail = str(exc)
            if exc.unreachable and attempt == retries:
                s = smtp.settings
                raise EnvironmentProblem(
                    f"cannot reach the SMTP server {s.smtp_host}:{s.smtp_port} after {retries + 1} attempt(s) "
                    f"({exc}); {sent_before} message(s) were sent and recorded before this: run again to send "
                    "the rest") from None
            continue
        except Permanent as exc:
            claim.refused()
            result.detail = f"refused: {exc}"
            return
        claim.done()
        result.status, result.detail = "sent", "" if attempt == 0 else f"sent after {attempt + 1} attempts"
        return
    result.detail = f"gave up after {retries + 1} attempts: {result.detail}"


def mail_round(workspace: Workspace, kind: str | None = None, period: str | None = None,
               only: Iterable[str] | None = None, mode: str = "drafts", resend: bool = False,
               backoff: float = 2.0, progress: Callable[[MailResult], None] | None = None,
               timeout: float = 30.0) -> list[MailResult]:
    """`sheetplan mail`: compose the round's messages, then write them as drafts or send them."""
    return deliver(workspace, compose(workspace, kind, period, only), mode, resend, backoff, timeout, progress)


def remind(workspace: Workspace, kind: str | None = None, period: str | None = None,
           only: Iterable[str] | None = None, mode: str = "drafts", resend: bool = False,
           backoff: float = 2.0, progress: Callable[[MailResult], None] | None = None,
           timeout: float = 30.0) -> list[MailResult]:
    """`sheetplan remind`: remind everyone missing or rejected in a round; at most once a day unless `resend`."""
    return deliver(workspace, compose_reminders(workspace, kind, period, only), mode, resend, backoff, timeout,
                   progress)


SENT_MAIL_COLUMNS = ["kind", "period", "owner", "recipient", "subject", "attachment", "attachment_sha256",
                     "message_id", "sent_at", "mode", "state", "detail"]


def sent_mail(workspace: Workspace, kind: str | None = None, period: str | None = None):
    """What was drafted or sent, as a DataFrame (one row per message), for notebooks.

    `state` is 'drafted', 'sent' or 'in-doubt' (the server may or may not have it; `detail` says why, in
    the workspace language), so a message in doubt is seen wherever sent mail is listed."""
    import pandas as pd

    texts = _delivery_texts(workspace)
    with workspace.store() as store:
        rows = store.select("SELECT kind, period, owner, recipient, subject, attachment, attachment_sha256,"
                            " message_id, sent_at, mode, id, state, doubt FROM mail_sent WHERE 1 = 1",
                            kind, period).fetchall()
    listed = []
    for *columns, row_id, state, doubt in rows:
        if state == DONE:
            listed.append([*columns, "drafted" if columns[9] == "drafts" else "sent", ""])
        else:
            row = _Earlier(row_id, state, columns[7], doubt, columns[8])
            listed.append([*columns, IN_DOUBT, _doubt_text(texts, "listed", row)])
    return pd.DataFrame(listed, columns=SENT_MAIL_COLUMNS)
