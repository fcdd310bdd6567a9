"""Email in: returned workbooks taken out of .eml files, an mbox and a Maildir built with the email package."""

from __future__ import annotations

import base64
import mailbox
import shutil
import sqlite3
from email.message import EmailMessage
from email.utils import make_msgid
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
DATE = "Thu, 01 Apr 2027 09:30:00 +0200"  # 07:30 UTC: saved under inbox/2027-04-01/
DAY = "2027-04-01"
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


def message(sender: str, subject: str, attachments=(), message_id: bool = True, signature: bool = False,
            text: str = "Please find my report attached.") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = RETURNS
    msg["Subject"] = subject
    msg["Date"] = DATE
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
    return (f"From: {sender}\nTo: {RETURNS}\nSubject: report\nDate: {DATE}\nMessage-ID: <ew-1@larkfield.example>\n"
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
        assert path.parent == ws.root / "inbox" / DAY
        assert path.read_bytes() == data[owner]
        assert attachment.date.startswith(f"{DAY}T07:30:00")
        assert attachment.outcome == "accepted"
    assert sorted(p.name for p in (ws.root / "inbox").rglob("*") if p.is_file()) == sorted(
        Path(a.saved).name for a in result.attachments)
    # names: RFC 2231, an encoded word and a hostile path all become safe base names
    assert Path(saved[who["chinese"]].saved).name == f"月报-{who['chinese']}-三月.xlsx"
    assert Path(saved[who["encoded"]].saved).name == f"{who['encoded']}-报表.xlsx"
    assert Path(saved[who["hostile"]].saved).name.startswith("month-2027-03-")
    assert saved[who["forwarded"]].sender == ws.roster.chain(who["forwarded"])[0].email
    assert submissions(ws) == {owner: "accepted" for owner in who.values()}
    assert result.report is not None and result.exit_code == 0


def test_senders_who_are_not_owner_or_manager_are_warned_about(ws, mailboxes):
    _sources, who, _data = mailboxes
    result = collect(ws, _sources)
    assert [(w.code, w.severity, w.value) for w in result.warnings] == [("unexpected-sender", "warning", STRANGER)]
    assert who["stranger"] in result.warnings[0].message


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
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert sum(1 for line in lines if line.startswith("SAVED")) == 6
    assert [line.split()[1] for line in lines if line.startswith("IGNORED")] == ["notes.pdf"]
    assert sum(1 for line in lines if line.startswith("WARNING")) == 1
    assert "Ingest: 6 accepted, 0 rejected" in result.stdout
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
