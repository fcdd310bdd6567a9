"""Email in: returned workbooks taken out of .eml files, an mbox and a Maildir built with the email package."""

from __future__ import annotations

import base64
import hashlib
import mailbox
import shutil
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest
from click.testing import CliRunner

from sheetplan import api
from sheetplan.cli import main
from sheetplan.demo import simulate
from sheetplan.mail.collect import collect, read_messages, safe_file_name
from sheetplan.returns.limits import Limits
from sheetplan.workspace.folder import ENV_VAR, open_workspace

YEAR = 2027
MONTH = "2027-03"
RETURNS = "returns@larkfield.example"
DAY = datetime.now(UTC).date().isoformat()  # messages arrive now: saved under inbox/<today>/
STRANGER = "someone@elsewhere.example"
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9aw"
                       "AAAABJRU5ErkJggg==")  # a 1x1 pixel
XLSX = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@pytest.fixture(autouse=True)
def no_workspace_from_the_environment(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """The demo company's March round, six people's filled returns (outside the workspace), and the P010 return
    with 'N/A' typed into a figure."""
    base = tmp_path_factory.mktemp("collect")
    ws = api.init_workspace(base / "ws", demo=True, year=YEAR)
    result = api.generate(ws, "month", month=MONTH)
    with ws.store() as store:
        owners = {Path(r.path).name: r.owner for r in store.sent("month", MONTH)}
    files = result.files[:7]
    decimals = {m.key: m.decimals for m in ws.config.metrics}
    bad = owners[files[6].name]
    filled = simulate.fill_months(files, base / "filled", decimals, mistakes={bad: "text-na"})
    return base / "ws", {owners[f.path.name]: f.path for f in filled}


@pytest.fixture
def ws(pristine, tmp_path):
    root = tmp_path / "ws"
    shutil.copytree(pristine[0], root)
    return open_workspace(root)


def person(ws, owner: str):
    return ws.roster.get(owner)


def received(at: datetime) -> str:
    """The Received: header the collecting mailbox's server puts on top: its clock, not the sender's."""
    return f"from mx.larkfield.example by returns.larkfield.example; {format_datetime(at)}"


def message(sender: str, subject: str, attachments=(), message_id: bool = True, signature: bool = False,
            text: str = "Please find my report attached.", date: datetime | None = None,
            arrived: datetime | None = None) -> EmailMessage:
    """A message as the collecting mailbox holds it: the sender's Date: (now unless given), and on top the
    server's Received: line (now unless given)."""
    now = datetime.now(UTC).replace(microsecond=0)
    msg = EmailMessage()
    msg["Received"] = received(arrived or now)
    msg["Received"] = f"from laptop.home by mx.larkfield.example; {format_datetime(now - timedelta(hours=1))}"
    msg["From"] = sender
    msg["To"] = RETURNS
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date or now)
    if message_id:
        msg["Message-ID"] = make_msgid(domain="larkfield.example")
    msg.set_content(text)
    if signature:  # the way Outlook sends a logo in a signature: HTML with an inline image beside it
        msg.add_alternative(f"<p>{text}</p><img src=\"cid:logo\">", subtype="html")
        msg.get_payload()[1].add_related(PNG, "image", "png", cid="<logo>", disposition="inline",
                                         filename="image001.png")
    for name, data, (maintype, subtype) in attachments:
        if isinstance(data, EmailMessage):
            msg.add_attachment(data)  # message/rfc822: a forwarded message
        else:
            msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg


def encoded_word_message(sender: str, name: str, data: bytes) -> bytes:
    """What some mail programs send: the file name as an RFC 2047 encoded word inside the quotes."""
    word = "=?UTF-8?B?" + base64.b64encode(name.encode()).decode() + "?="
    body = base64.encodebytes(data).decode()
    date = format_datetime(datetime.now(UTC))
    return (f"From: {sender}\nTo: {RETURNS}\nSubject: report\nDate: {date}\nMessage-ID: <ew-1@larkfield.example>\n"
            "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\n"
            "Content-Type: text/plain; charset=utf-8\n\nhere it is\n--b1\n"
            f"Content-Type: application/octet-stream; name=\"{word}\"\n"
            f"Content-Disposition: attachment; filename=\"{word}\"\nContent-Transfer-Encoding: base64\n\n"
            f"{body}--b1--\n").encode()


@pytest.fixture
def mailboxes(ws, pristine, tmp_path):
    """Returns spread over two .eml files, an mbox and a Maildir, with every awkward case once."""
    _root, filled = pristine
    owners = list(filled)[:6]
    a, b, c, d, e, f = owners
    data = {o: filled[o].read_bytes() for o in owners}
    email_of = {o: person(ws, o).email for o in owners}
    manager = ws.roster.chain(b)[0]
    folder = tmp_path / "mail"
    folder.mkdir()
    pdf = ("notes.pdf", b"%PDF-1.4", ("application", "pdf"))
    plain = message(email_of[a], "March", [(filled[a].name, data[a], XLSX), pdf], signature=True)
    (folder / "a.eml").write_bytes(plain.as_bytes())
    chinese = message(email_of[d], "三月报告", [(f"月报-{d}-三月.xlsx", data[d], XLSX)])
    (folder / "d.eml").write_bytes(chinese.as_bytes())
    inner = message(email_of[b], "March report", [(filled[b].name, data[b], XLSX)])
    forwarded = message(manager.email, "Fwd: March report", [("", inner, ("message", "rfc822"))],
                        text="Forwarding for my team member.")
    stranger = message(STRANGER, "their report", [(filled[c].name, data[c], XLSX)])
    box = mailbox.mbox(tmp_path / "returns.mbox")
    for msg in (forwarded, stranger, plain):  # the last one again: a duplicate
        box.add(msg)
    box.close()
    maildir = mailbox.Maildir(tmp_path / "Maildir", create=True)
    maildir.add(encoded_word_message(email_of[e], f"{e}-报表.xlsx", data[e]))
    hostile = message(email_of[f], "no id", [("../../..\\evil/..\\" + filled[f].name, data[f], XLSX)],
                      message_id=False)
    maildir.add(hostile.as_bytes())
    maildir.close()
    sources = [folder, tmp_path / "returns.mbox", tmp_path / "Maildir"]
    return sources, {"plain": a, "forwarded": b, "stranger": c, "chinese": d, "encoded": e, "hostile": f}, data


def submissions(ws) -> dict[str, str]:
    db = sqlite3.connect(ws.root / ".sheetplan" / "plan.sqlite")
    try:
        return dict(db.execute("SELECT owner, status FROM submissions"))
    finally:
        db.close()


def collected_rows(ws) -> list[tuple]:
    db = sqlite3.connect(ws.root / ".sheetplan" / "plan.sqlite")
    try:
        return db.execute("SELECT message_id, sender, message_date, saved_path, attachment_sha256 FROM collected"
                          " ORDER BY id").fetchall()
    finally:
        db.close()


def test_collect_saves_each_workbook_once_and_ingests_it(ws, mailboxes):
    sources, who, data = mailboxes
    result = collect(ws, sources)
    assert result.messages == 7 and len(result.skipped) == 1  # the plain message came twice
    saved = {a.owner: a for a in result.attachments}
    assert sorted(saved) == sorted(who.values())
    assert {a.status for a in result.attachments} == {"saved"}
    for owner, attachment in saved.items():
        path = ws.root / attachment.saved
        assert attachment.saved.startswith(f"inbox/{DAY}/")
        assert attachment.date[:10] == DAY and attachment.received_at[:10] == DAY
        if owner == who["stranger"]:  # held back by the [collect] policy: see the quarantine test
            assert attachment.outcome == "quarantined" and not path.exists()
            continue
        assert path.read_bytes() == data[owner]
        assert attachment.outcome == "accepted"
    assert sorted(p.name for p in (ws.root / "inbox").rglob("*") if p.is_file()) == sorted(
        Path(a.saved).name for a in result.attachments if a.owner != who["stranger"])
    # names: RFC 2231, an encoded word and a hostile path all become safe base names
    assert Path(saved[who["chinese"]].saved).name == f"月报-{who['chinese']}-三月.xlsx"
    assert Path(saved[who["encoded"]].saved).name == f"{who['encoded']}-报表.xlsx"
    assert Path(saved[who["hostile"]].saved).name.startswith("month-2027-03-")
    assert saved[who["forwarded"]].sender == ws.roster.chain(who["forwarded"])[0].email
    assert submissions(ws) == {owner: "accepted" for owner in who.values() if owner != who["stranger"]}
    assert result.report is not None and result.exit_code == 1  # the quarantined workbook needs an analyst


def test_a_workbook_from_outside_the_owners_line_waits_in_quarantine_until_released(ws, mailboxes):
    """Default [collect] senders = "owner-and-managers": the forwarded copy from the owner's manager counts,
    the stranger's copy is kept in quarantine/, listed, not ingested; an analyst's release ingests it."""
    sources, who, data = mailboxes
    result = collect(ws, sources)
    outcome = next(o for o in result.report.outcomes if o.owner == who["stranger"])
    assert outcome.status == "quarantined" and [p.code for p in outcome.problems] == ["sender-not-allowed"]
    assert STRANGER in outcome.problems[0].message and result.warnings == []
    held = api.quarantined(ws)
    assert [(q.owner, q.sender, q.released_at) for q in held] == [(who["stranger"], STRANGER, "")]
    assert (ws.root / held[0].path).read_bytes() == data[who["stranger"]]
    assert who["stranger"] not in submissions(ws)
    again = collect(ws, sources)  # nothing new: the quarantined file is not taken on a rerun either
    assert again.report is None and who["stranger"] not in submissions(ws)
    released = api.release_quarantined(ws, [held[0].id], by="analyst")
    assert [(o.owner, o.status) for o in released.outcomes] == [(who["stranger"], "accepted")]
    assert submissions(ws)[who["stranger"]] == "accepted"
    assert [q.released_by for q in api.quarantined(ws, include_released=True)] == ["analyst"]
    assert api.quarantined(ws) == []


def test_with_senders_anyone_a_stranger_is_only_a_warning(ws, mailboxes):
    sources, who, _data = mailboxes
    config = ws.root / "sheetplan.toml"
    config.write_text(config.read_text(encoding="utf-8").replace('senders = "owner-and-managers"',
                                                                 'senders = "anyone"'), encoding="utf-8")
    result = collect(open_workspace(ws.root), sources)
    assert [(w.code, w.severity, w.value) for w in result.warnings] == [("unexpected-sender", "warning", STRANGER)]
    assert who["stranger"] in result.warnings[0].message
    assert submissions(ws)[who["stranger"]] == "accepted"


def test_only_the_owner_may_send_when_the_policy_says_owner(ws, mailboxes):
    sources, who, _data = mailboxes
    config = ws.root / "sheetplan.toml"
    config.write_text(config.read_text(encoding="utf-8").replace('senders = "owner-and-managers"',
                                                                 'senders = "owner"'), encoding="utf-8")
    result = collect(open_workspace(ws.root), sources)
    held = {o.owner for o in result.report.outcomes if o.status == "quarantined"}
    assert held == {who["stranger"], who["forwarded"]}  # the manager's forward too


def test_a_forged_date_never_beats_the_correction_that_arrives_after_it(ws, pristine, tmp_path):
    """P's first copy claims Date: 2100-01-01; the corrected copy of the same revision arrives after it with
    an honest date. The mailbox's own clock (the topmost Received:) orders them: the correction stands, in
    one collect run and in two."""
    owner, path = next(iter(pristine[1].items()))
    email_of = person(ws, owner).email
    wrong = simulate.fill_months([path], tmp_path / "wrong", {m.key: m.decimals for m in ws.config.metrics},
                                 seed=99)[0].path
    with ws.store() as store:  # the mailbox received both after the template was generated
        generated = datetime.fromisoformat(max(r.generated_at for r in store.sent("month", MONTH)))
    while datetime.now(UTC) < generated + timedelta(seconds=3):
        time.sleep(0.2)
    forged = message(email_of, "report", [(path.name, wrong.read_bytes(), XLSX)],
                     date=datetime(2100, 1, 1, tzinfo=UTC), arrived=generated + timedelta(seconds=1))
    correction = message(email_of, "report (corrected)", [(path.name, path.read_bytes(), XLSX)],
                         arrived=generated + timedelta(seconds=2))
    box = mailbox.mbox(tmp_path / "both.mbox")
    box.add(correction)  # listed first, received last: the mailbox order is not what decides
    box.add(forged)
    box.close()
    result = collect(ws, [tmp_path / "both.mbox"])
    by_name = {o.sha256: o for o in result.report.outcomes}

    genuine = hashlib.sha256(path.read_bytes()).hexdigest()
    assert hashlib.sha256(wrong.read_bytes()).hexdigest() != genuine
    assert {o.status for o in by_name.values()} == {"accepted"} and result.exit_code == 0
    stands = current(ws, owner)
    assert stands == (genuine, "mailbox")
    doubts = [p.code for o in by_name.values() for p in o.problems]
    assert doubts == ["claimed-time-untrusted"]  # the 2100 date is shown, not used
    copies = api.round_copies(ws, "month", MONTH, owner=owner)
    assert list(copies["status"]) == ["superseded", "accepted"]
    assert copies["received_via"].tolist() == ["mailbox", "mailbox"]
    assert copies["claimed_at"].iloc[0].startswith("2100-01-01")
    assert "not trusted (in the future)" in copies["why"].iloc[0] and "replaced by #" in copies["why"].iloc[0]
    for command in (["status", "--kind", "month", "--period", MONTH], ["history", owner]):
        shown = CliRunner().invoke(main, ["-w", str(ws.root), *command], catch_exceptions=False).stdout
        lines = [line for line in shown.splitlines() if "received" in line and "r1" in line]
        assert len(lines) == 2 and "claims 2100-01-01" in lines[0] and "stands" in lines[1], shown
    # two runs: the forged one first, the correction later
    second = ws.root.parent / "ws2"
    shutil.copytree(pristine[0], second)
    ws2 = open_workspace(second)
    (tmp_path / "forged.eml").write_bytes(forged.as_bytes())
    (tmp_path / "correction.eml").write_bytes(correction.as_bytes())
    assert collect(ws2, [tmp_path / "forged.eml"]).exit_code == 0
    later = collect(ws2, [tmp_path / "correction.eml"])
    assert [o.status for o in later.report.outcomes] == ["accepted"]
    assert current(ws2, owner)[0] == genuine


def current(ws, owner: str) -> tuple[str, str]:
    db = sqlite3.connect(ws.root / ".sheetplan" / "plan.sqlite")
    try:
        return db.execute("SELECT sha256, received_via FROM submissions WHERE owner = ? AND status = 'accepted'",
                          (owner,)).fetchone()
    finally:
        db.close()


def test_other_attachments_are_ignored_and_listed(ws, mailboxes):
    result = collect(ws, mailboxes[0])
    assert sorted((i.name, i.reason) for i in result.ignored) == [("image001.png", "inline image"),
                                                                   ("notes.pdf", "not a workbook")]


def test_sender_date_and_message_id_are_recorded(ws, mailboxes):
    sources, who, _data = mailboxes
    result = collect(ws, sources)
    rows = collected_rows(ws)
    assert len(rows) == 6  # one per message; each carries one workbook
    by_path = {row[3]: row for row in rows}
    for attachment in result.attachments:
        message_id, sender, date, _saved, sha = by_path[attachment.saved]
        assert (sender, sha) == (attachment.sender, attachment.sha256)
        assert date == attachment.date and message_id == attachment.message_id
    hostile = next(a for a in result.attachments if a.owner == who["hostile"])
    assert hostile.message_id == ""  # remembered by the hash of the message instead


def test_a_second_run_collects_nothing(ws, mailboxes):
    sources, _who, _data = mailboxes
    collect(ws, sources)
    before = sorted((ws.root / "inbox").rglob("*"))
    again = collect(ws, sources)
    assert again.messages == 7 and len(again.skipped) == 7
    assert again.attachments == [] and again.report is None
    assert sorted((ws.root / "inbox").rglob("*")) == before


def test_the_same_workbook_in_a_new_message_is_not_saved_twice(ws, pristine, tmp_path):
    owner, path = next(iter(pristine[1].items()))
    email_of = person(ws, owner).email
    first, second = tmp_path / "1.eml", tmp_path / "2.eml"
    first.write_bytes(message(email_of, "report", [(path.name, path.read_bytes(), XLSX)]).as_bytes())
    second.write_bytes(message(email_of, "report again", [(path.name, path.read_bytes(), XLSX)]).as_bytes())
    result = collect(ws, [first, second])
    assert [a.status for a in result.attachments] == ["saved", "duplicate"]
    assert len(list((ws.root / "inbox").rglob("*.xlsx"))) == 1
    assert [a.owner for a in result.attachments] == [owner, owner]


def test_names_are_never_overwritten(ws, pristine, tmp_path):
    owner, path = next(iter(pristine[1].items()))
    existing = ws.root / "inbox" / DAY / path.name
    existing.parent.mkdir(parents=True)
    existing.write_bytes(b"someone else's file")
    eml = tmp_path / "m.eml"
    eml.write_bytes(message(person(ws, owner).email, "r", [(path.name, path.read_bytes(), XLSX)]).as_bytes())
    result = collect(ws, [eml], ingest=False)
    assert existing.read_bytes() == b"someone else's file"
    assert Path(result.attachments[0].saved).name == path.stem + "-2.xlsx"


def test_attachments_over_the_size_limit_are_refused(ws, mailboxes):
    result = collect(ws, mailboxes[0], limits=Limits(max_file_bytes=1000))
    assert result.attachments == [] and result.report is None
    assert sum(1 for i in result.ignored if i.reason == "too large") == 6


@pytest.mark.parametrize(("name", "content_type", "expected"), [
    ("report.xlsx", "", "report.xlsx"),
    ("../../etc/passwd.xlsx", "", "passwd.xlsx"),
    ("C:\\Users\\me\\Desktop\\plan.XLSX", "", "plan.xlsx"),
    ("/abs/path/.hidden.xlsx", "", "hidden.xlsx"),
    ("con.xlsx", "", "con-file.xlsx"),
    ("bell\x07\x00name.xlsx", "", "bellname.xlsx"),
    ("月报 三月.xlsx", "", "月报_三月.xlsx"),
    (None, "application/vnd.ms-excel", "attachment.xls"),
    ("..", "", "attachment.xlsx"),
])
def test_safe_file_names(name, content_type, expected):
    assert safe_file_name(name, content_type) == expected


def test_read_messages_tells_the_formats_apart(mailboxes):
    sources, _who, _data = mailboxes
    counts = [len(list(read_messages(source))) for source in sources]
    assert counts == [2, 3, 2]


def test_cli_collect(ws, mailboxes, pristine, tmp_path):
    sources, _who, _data = mailboxes
    runner = CliRunner()
    result = runner.invoke(main, ["-w", str(ws.root), "collect", *map(str, sources)], catch_exceptions=False)
    assert result.exit_code == 1, result.output  # one workbook from a stranger waits in quarantine
    lines = result.stdout.splitlines()
    assert sum(1 for line in lines if line.startswith("SAVED")) == 6
    assert [line.split()[1] for line in lines if line.startswith("IGNORED")] == ["notes.pdf"]
    assert sum(1 for line in lines if line.startswith("WARNING")) == 0
    assert "Ingest: 5 accepted, 0 rejected, 1 quarantined" in result.stdout
    listed = runner.invoke(main, ["-w", str(ws.root), "quarantine"], catch_exceptions=False)
    assert listed.exit_code == 0 and STRANGER in listed.stdout
    held = listed.stdout.split()[0]
    unknown = runner.invoke(main, ["-w", str(ws.root), "quarantine", "release", "999", "--by", "me"])
    assert unknown.exit_code == 2 and "not in quarantine: 999" in unknown.output
    released = runner.invoke(main, ["-w", str(ws.root), "quarantine", "release", held, "--by", "Mia"])
    assert released.exit_code == 0 and released.stdout.startswith("ACCEPTED"), released.output
    assert runner.invoke(main, ["-w", str(ws.root), "quarantine"]).stdout == "Nothing is in quarantine.\n"
    again = runner.invoke(main, ["-w", str(ws.root), "collect", *map(str, sources)], catch_exceptions=False)
    assert again.exit_code == 0 and again.stdout.startswith("7 message(s): 7 collected before, 0 workbook(s) saved")
    bad_owner, bad_path = list(pristine[1].items())[6]
    eml = tmp_path / "bad.eml"
    eml.write_bytes(message(person(ws, bad_owner).email, "r", [(bad_path.name, bad_path.read_bytes(), XLSX)])
                    .as_bytes())
    rejected = runner.invoke(main, ["-w", str(ws.root), "collect", str(eml)], catch_exceptions=False)
    assert rejected.exit_code == 1 and "REJECTED" in rejected.stdout
    missing = runner.invoke(main, ["-w", str(ws.root), "collect", str(tmp_path / "nope.mbox")])
    assert missing.exit_code == 2
