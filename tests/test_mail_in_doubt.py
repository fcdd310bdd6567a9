"""Mail whose delivery is in doubt: the whole message reached the server, its final answer never came back.

A small SMTP server on loopback (raw sockets, one thread per connection) keeps every message the moment its
final dot arrives, the worst case for a client, and then answers as each test scripts it: at once, never
(until released), too late, or not at all (it drops the connection). `sheetplan mail --send` runs as a real
subprocess that is killed with SIGKILL while the server holds its answer.
"""

from __future__ import annotations

import email
import hashlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from email import policy
from pathlib import Path

import pytest

from sheetplan import api
from sheetplan.mail.compose import compose, mail_round, message_id, sent_mail
from sheetplan.workspace.folder import ENV_VAR, open_workspace

YEAR = 2027
MONTH = "2027-03"
FROM = "Sales Ops <ops@larkfield.example>"
FAST = 0.01


# ------------------------------------------------------------------------------------------- the server


class ScriptedSmtp:
    """Enough SMTP for smtplib. `plan` holds one action per end of DATA, in order ('ok' once it runs out):
    'ok' (250), 'hold' (answer only after `release` is set), 'late' (answer after `late` seconds), 'drop'
    (close without an answer), 'refuse' (554). `on_mail` and `on_data_end` see each MAIL FROM and each
    message as it arrives (the tests look at the store there)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.delivered: list[bytes] = []
        self.plan: list[str] = []
        self.late = 2.0
        self.held = threading.Event()
        self.release = threading.Event()
        self.on_mail = None
        self.on_data_end = None
        self.lock = threading.Lock()
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        self.stopped = True
        self.release.set()
        self.listener.close()

    def messages(self) -> list[email.message.EmailMessage]:
        with self.lock:
            return [email.message_from_bytes(raw, policy=policy.default) for raw in self.delivered]

    def _accept(self) -> None:
        while not self.stopped:
            try:
                conn, _addr = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(120)
        with conn, conn.makefile("rb") as lines:
            try:
                conn.sendall(b"220 scripted ESMTP\r\n")
                while line := lines.readline():
                    verb = line[:4].upper()
                    if verb == b"EHLO":
                        conn.sendall(b"250-scripted\r\n250 8BITMIME\r\n")
                    elif verb == b"MAIL":
                        if self.on_mail:
                            self.on_mail()
                        conn.sendall(b"250 OK\r\n")
                    elif verb == b"DATA":
                        conn.sendall(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                        if not self._data(conn, lines):
                            return
                    elif verb == b"QUIT":
                        conn.sendall(b"221 Bye\r\n")
                        return
                    elif verb in (b"HELO", b"RCPT", b"RSET", b"NOOP"):
                        conn.sendall(b"250 OK\r\n")
                    else:
                        conn.sendall(b"502 Not implemented\r\n")
            except OSError:
                return  # the client went away (killed, or gave up waiting)

    def _data(self, conn: socket.socket, lines) -> bool:
        body = []
        while (line := lines.readline()) not in (b".\r\n", b""):
            body.append(line[1:] if line.startswith(b"..") else line)
        raw = b"".join(body)
        with self.lock:
            self.delivered.append(raw)  # kept: from here on the message counts as delivered
            action = self.plan.pop(0) if self.plan else "ok"
        if self.on_data_end:
            self.on_data_end(raw)
        if action == "drop":
            return False
        if action == "hold":
            self.held.set()
            self.release.wait(120)
        elif action == "late":
            time.sleep(self.late)
        conn.sendall(b"554 5.6.0 Message refused\r\n" if action == "refuse" else b"250 Queued\r\n")
        return True


@pytest.fixture
def server():
    smtp = ScriptedSmtp()
    yield smtp
    smtp.stop()


# ------------------------------------------------------------------------------------------- workspaces


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """The demo company with the March round generated."""
    root = tmp_path_factory.mktemp("in-doubt") / "ws"
    ws = api.init_workspace(root, demo=True, year=YEAR)
    api.generate(ws, "month", month=MONTH)
    return root


@pytest.fixture
def ws(pristine, tmp_path, server, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    return workspace_copy(pristine, tmp_path / "ws", server.port)


def workspace_copy(pristine: Path, root: Path, port: int):
    shutil.copytree(pristine, root)
    config = root / "sheetplan.toml"
    text = config.read_text(encoding="utf-8").split("\n[mail]\n")[0].rstrip("\n")
    config.write_text(text + f'\n\n[mail]\nfrom_address = "{FROM}"\nreply_to = "returns@larkfield.example"\n'
                             f'smtp_host = "127.0.0.1"\nsmtp_port = {port}\nsecurity = "none"\n'
                             "rate_per_minute = 100000\nretries = 3\n", encoding="utf-8")
    return open_workspace(root)


def rows(ws) -> list[tuple]:
    """(owner, message_id, state, doubt) of every mail_sent row, read as another process would."""
    db = sqlite3.connect(f"file:{ws.root / '.sheetplan' / 'plan.sqlite'}?mode=ro", uri=True)
    try:
        return db.execute("SELECT owner, message_id, state, doubt FROM mail_sent ORDER BY id").fetchall()
    finally:
        db.close()


def cli(ws, *args: str, **options) -> subprocess.Popen | subprocess.CompletedProcess:
    command = [sys.executable, "-m", "sheetplan.cli", "-w", str(ws.root), "mail", *args]
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    if options.pop("background", False):
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def recipients(server: ScriptedSmtp) -> Counter:
    return Counter(m["To"].addresses[0].addr_spec for m in server.messages())


# ------------------------------------------------------------------------------------------- kill -9


def test_a_send_killed_while_the_server_holds_its_answer_delivers_nothing_twice(ws, server):
    north = sorted(p.person_id for p in ws.roster.sellers(ws.config, "North"))
    assert len(north) >= 3
    seen_at_data_end = []
    server.on_data_end = lambda raw: seen_at_data_end.append(rows(ws))
    server.plan = ["ok", "hold"]
    run = cli(ws, "--kind", "month", "--period", MONTH, "--only", "North", "--send", background=True)
    try:
        assert server.held.wait(120), run.communicate(timeout=5)
        os.killpg(run.pid, signal.SIGKILL)  # kill -9 while it waits for the server's answer
        run.wait(30)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == -signal.SIGKILL
    server.release.set()
    held = server.messages()[1]
    # before the server's answer was awaited, the store already knew the message was being sent
    assert [r[2] for r in seen_at_data_end[1]] == ["done", "sending"]
    assert seen_at_data_end[1][1][1] == held["Message-ID"]

    rerun = cli(ws, "--kind", "month", "--period", MONTH, "--only", "North", "--send")
    assert rerun.returncode == 1, rerun.stdout + rerun.stderr  # a message in doubt needs a person's decision
    assert "Traceback" not in rerun.stderr
    doubt_lines = [line for line in rerun.stdout.splitlines() if line.startswith("IN-DOUBT")]
    assert len(doubt_lines) == 1 and held["Message-ID"] in doubt_lines[0] and "ended" in doubt_lines[0]
    assert "1 in doubt" in rerun.stdout.splitlines()[-1]
    everyone = {ws.roster.get(pid).email for pid in north}
    assert recipients(server) == Counter(everyone)  # each one exactly once
    assert len({m["Message-ID"] for m in server.messages()}) == len(north)

    again = cli(ws, "--kind", "month", "--period", MONTH, "--only", "North", "--send")
    assert again.returncode == 1 and recipients(server) == Counter(everyone)  # still not sent again

    listing = cli(ws, "--list", "--kind", "month", "--period", MONTH)
    assert listing.returncode == 0, listing.stderr
    first = listing.stdout.splitlines()[0]
    assert first.startswith("IN-DOUBT") and held["Message-ID"] in first
    frame = sent_mail(ws, "month", MONTH)
    doubtful = frame[frame["state"] == "in-doubt"]
    assert list(doubtful["message_id"]) == [held["Message-ID"]] and "ended" in doubtful["detail"].iloc[0]
    assert set(frame["state"]) == {"sent", "in-doubt"}

    owner = next(pid for pid in north if ws.roster.get(pid).email == held["To"].addresses[0].addr_spec)
    resent = cli(ws, "--kind", "month", "--period", MONTH, "--only", owner, "--send", "--resend")
    assert resent.returncode == 0, resent.stdout + resent.stderr
    last = server.messages()[-1]
    assert last["Message-ID"] == held["Message-ID"]  # the same ID: the recipient's system can drop it
    assert len(server.messages()) == len(north) + 1
    assert {r[2] for r in rows(ws)} == {"done"} and len(rows(ws)) == len(north)
    assert "IN-DOUBT" not in cli(ws, "--list").stdout


# ------------------------------------------------------------------------------------------- late, dropped


def test_an_answer_after_the_client_timeout_is_in_doubt_and_not_retried(ws, server):
    states_at_mail = []
    server.on_mail = lambda: states_at_mail.append([r[2] for r in rows(ws)])
    server.plan, server.late = ["late"], 2.0
    results = mail_round(ws, "month", MONTH, only=["P004", "P005"], mode="send", backoff=FAST, timeout=0.5)
    assert [(r.owner, r.status, r.attempts) for r in results] == [("P004", "in-doubt", 1), ("P005", "sent", 1)]
    assert results[0].message_id in results[0].detail and "did not answer in time" in results[0].detail
    assert recipients(server) == Counter([ws.roster.get("P004").email, ws.roster.get("P005").email])
    assert states_at_mail[1] == ["in-doubt"]  # recorded before the next message started
    assert [r[2:] for r in rows(ws)] == [("in-doubt", "timeout"), ("done", "")]
    rerun = mail_round(ws, "month", MONTH, only=["P004", "P005"], mode="send", backoff=FAST, timeout=0.5)
    assert [r.status for r in rerun] == ["in-doubt", "skipped"]
    assert rerun[0].message_id == results[0].message_id and len(server.delivered) == 2


def test_a_connection_dropped_after_the_data_is_in_doubt_and_resend_keeps_the_message_id(ws, server):
    server.plan = ["drop"]
    results = mail_round(ws, "month", MONTH, only=["P004", "P005"], mode="send", backoff=FAST)
    assert [r.status for r in results] == ["in-doubt", "sent"]  # the next message goes on a new connection
    assert "connection dropped" in results[0].detail and len(server.delivered) == 2
    assert rows(ws)[0][2:] == ("in-doubt", "dropped")
    server.plan = ["refuse"]  # a refusal of the second copy says nothing about the first
    refused = mail_round(ws, "month", MONTH, only=["P004"], mode="send", resend=True, backoff=FAST)
    assert refused[0].status == "failed" and "554" in refused[0].detail
    assert rows(ws)[0][1:] == (results[0].message_id, "in-doubt", "dropped")
    resent = mail_round(ws, "month", MONTH, only=["P004"], mode="send", resend=True, backoff=FAST)
    assert [r.status for r in resent] == ["sent"]
    copies = [m["Message-ID"] for m in server.messages() if m["To"].addresses[0].addr_spec == ws.roster.get(
        "P004").email]
    assert copies == [results[0].message_id] * 3
    assert [r[2] for r in rows(ws)] == ["done", "done"]


def test_a_cli_send_lists_a_message_in_doubt_with_its_message_id(ws, server):
    server.plan = ["drop"]
    done = cli(ws, "--kind", "month", "--period", MONTH, "--only", "P004", "--send")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("IN-DOUBT"))
    assert server.messages()[0]["Message-ID"] in line and "--resend" in line
    assert done.stdout.splitlines()[-1] == ("0 sent, 0 skipped (already sent; --resend to repeat), 0 failed, "
                                            "1 in doubt (not sent again; see above).")


# ------------------------------------------------------------------------------------------- Message-IDs


def test_message_ids_are_stable_for_the_same_round_and_recipient(ws, server, tmp_path, pristine):
    other = workspace_copy(pristine, tmp_path / "other", server.port)  # the same workspace id, a fresh store
    one = mail_round(ws, "month", MONTH, only=["P004"], mode="send")
    two = mail_round(other, "month", MONTH, only=["P004"], mode="send")
    assert one[0].message_id == two[0].message_id == server.messages()[0]["Message-ID"]
    assert one[0].message_id.endswith("@larkfield.example>")
    outgoing = compose(ws, "month", MONTH, only=["P004"])[0]
    digest = hashlib.sha256(outgoing.attachment.read_bytes()).hexdigest()
    assert message_id(ws, outgoing, outgoing.recipient, digest) == one[0].message_id
    assert message_id(ws, outgoing, "someone.else@larkfield.example", digest) != one[0].message_id
    api.generate(ws, "month", month=MONTH, only=["P004"])  # revision 2: another message
    assert mail_round(ws, "month", MONTH, only=["P004"], mode="send")[0].message_id != one[0].message_id


def test_what_is_said_about_a_message_in_doubt_exists_in_english_and_chinese():
    from sheetplan.workspace.labels import catalogue

    en, zh = catalogue("en", "mail")["delivery"], catalogue("zh", "mail")["delivery"]
    assert set(en) == set(zh) >= {"timeout", "dropped", "interrupted", "unsettled", "in_doubt", "listed"}
    for key, text in zh.items():
        filled = text.format(since="2027-03-01 09:00 UTC", reason=zh["timeout"], message_id="<x@y>")
        assert not filled.isascii(), key
        assert ("<x@y>" in filled) == ("{message_id}" in en[key])
