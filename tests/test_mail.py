"""Email out: drafts parsed back with the email package, and real SMTP to an aiosmtpd server on loopback."""

from __future__ import annotations

import email
import shutil
import socket
import sqlite3
from email import policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from click.testing import CliRunner

from sheetplan import api
from sheetplan.api import ingest
from sheetplan.cli import main
from sheetplan.demo import simulate
from sheetplan.errors import ConfigError, EnvironmentProblem
from sheetplan.mail.compose import XLSX_TYPE, compose, compose_reminders, mail_catalogue, mail_round, remind, sent_mail
from sheetplan.reports.monthend import run_consolidation
from sheetplan.workspace.config import parse_config
from sheetplan.workspace.folder import ENV_VAR, open_workspace
from sheetplan.workspace.labels import catalogue

YEAR = 2027
MONTH = "2027-03"
RETURNS = "returns@larkfield.example"
FROM = "Sales Ops <ops@larkfield.example>"
FAST = 0.01  # retry backoff in seconds for the tests


# ------------------------------------------------------------------------------------------- SMTP server


class Recorder:
    """An SMTP handler that keeps every message; it can refuse recipients (550), defer (451) or close (421)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.defer = 0  # answer 451 to the next N DATA commands
        self.close = 0  # answer 421 to the next N DATA commands
        self.refuse: set[str] = set()
        self.data_commands = 0
        self.logins: list[bytes] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.data_commands += 1
        if self.defer:
            self.defer -= 1
            return "451 4.3.0 Try again later"
        if self.close:
            self.close -= 1
            return "421 4.3.2 Closing connection"
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"

    def parsed(self) -> list[email.message.EmailMessage]:
        return [email.message_from_bytes(content, policy=policy.default) for _f, _r, content in self.messages]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def smtp():
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield recorder, controller.port
    controller.stop()


@pytest.fixture(scope="module")
def smtp_auth():
    """A server that wants a login: user 'ops', password 's3cret'; plain text is fine on loopback."""
    recorder = Recorder()

    def authenticator(server, session, envelope, mechanism, auth_data):
        recorder.logins.append(auth_data.login)
        ok = auth_data.login == b"ops" and auth_data.password == b"s3cret"
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

    controller = Controller(recorder, hostname="127.0.0.1", port=_free_port(), authenticator=authenticator,
                            auth_require_tls=False)
    controller.start()
    yield recorder, controller.port
    controller.stop()


@pytest.fixture(autouse=True)
def clean(smtp, monkeypatch):
    smtp[0].reset()
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.delenv("SHEETPLAN_SMTP_PASSWORD", raising=False)


# ------------------------------------------------------------------------------------------- workspaces


def mail_table(port: int, **extra) -> str:
    values = {"from_address": FROM, "reply_to": RETURNS, "smtp_host": "127.0.0.1", "smtp_port": port,
              "security": "none", "rate_per_minute": 100000, "retries": 3, **extra}
    lines = ["", "[mail]"]
    for key, value in values.items():
        lines.append(f"{key} = {value!r}".replace("'", '"') if not isinstance(value, str) else f'{key} = "{value}"')
    return "\n".join(lines) + "\n"


def without_mail(root: Path) -> str:
    """The workspace's sheetplan.toml without its [mail] table (the demo config ends with one)."""
    return (root / "sheetplan.toml").read_text(encoding="utf-8").split("\n[mail]\n")[0].rstrip("\n") + "\n"


def configure(root: Path, port: int, **extra) -> None:
    """Replace the [mail] table of the workspace's sheetplan.toml."""
    (root / "sheetplan.toml").write_text(without_mail(root) + mail_table(port, **extra), encoding="utf-8")


@pytest.fixture(scope="module")
def pristine_en(tmp_path_factory):
    """The demo company with the March round generated; team North returned it (P006 with 'N/A' typed in a
    figure, so rejected with a feedback copy) and the month consolidated, so every kind of mail exists."""
    root = tmp_path_factory.mktemp("mail-en") / "ws"
    ws = api.init_workspace(root, demo=True, year=YEAR)
    result = api.generate(ws, "month", month=MONTH)
    north = {p.person_id for p in ws.roster.sellers(ws.config, "North")}
    files = [f for f in result.files if any(f"-{pid}-" in f.name for pid in north)]
    decimals = {m.key: m.decimals for m in ws.config.metrics}
    simulate.fill_months(files, ws.folder("inbox") / MONTH, decimals, mistakes={"P006": "text-na"})
    report = ingest(ws, [ws.folder("inbox") / MONTH])
    assert report.counts["rejected"] == 1 and report.feedback
    run_consolidation(ws, MONTH)
    return root


@pytest.fixture(scope="module")
def pristine_zh(tmp_path_factory):
    root = tmp_path_factory.mktemp("mail-zh") / "ws"
    ws = api.init_workspace(root, demo=True, year=YEAR, lang="zh")
    api.generate(ws, "month", month=MONTH)
    return root


def copy_of(pristine: Path, tmp_path: Path, port: int, **extra):
    root = tmp_path / "ws"
    shutil.copytree(pristine, root)
    configure(root, port, **extra)
    return open_workspace(root)


@pytest.fixture
def ws(pristine_en, tmp_path, smtp):
    return copy_of(pristine_en, tmp_path, smtp[1], deadline="2027-04-05")


def invoke(root: Path, *args: str, env: dict | None = None):
    return CliRunner().invoke(main, ["-w", str(root), *map(str, args)], env=env, catch_exceptions=False)


def attachment(message) -> tuple[str, str, bytes]:
    parts = list(message.iter_attachments())
    assert len(parts) == 1
    return parts[0].get_filename(), parts[0].get_content_type(), parts[0].get_content()


def sent_rows(ws) -> list[tuple]:
    db = sqlite3.connect(ws.root / ".sheetplan" / "plan.sqlite")
    try:
        return db.execute("SELECT kind, period, owner, recipient, mode FROM mail_sent ORDER BY id").fetchall()
    finally:
        db.close()


# ------------------------------------------------------------------------------------------- sending


def test_send_one_message_per_recipient_with_the_workbook(ws, smtp):
    recorder, _ = smtp
    results = mail_round(ws, "month", MONTH, only=["North"], mode="send", backoff=FAST)
    north = {p.person_id: p for p in ws.roster.sellers(ws.config, "North")}
    assert sorted(r.owner for r in results) == sorted(north)
    assert {r.status for r in results} == {"sent"}
    assert len(recorder.messages) == len(north)
    with ws.store() as store:
        paths = {r.owner: ws.root / r.path for r in store.sent("month", MONTH)}
    catalogue = mail_catalogue("en")
    for (mail_from, rcpt, _content), message in zip(recorder.messages, recorder.parsed()):
        owner = next(pid for pid, p in north.items() if p.email == rcpt[0])
        person = north[owner]
        assert mail_from == "ops@larkfield.example" and rcpt == [person.email]
        assert message["To"].addresses[0].addr_spec == person.email
        assert str(message["Reply-To"]) == RETURNS
        assert message["Subject"] == catalogue["template"]["subject"].format(
            company=ws.config.company, kind=catalogue["kinds"]["month"], period=MONTH)
        assert "X-Unsent" not in message
        body = message.get_body(("plain",)).get_content()
        assert body.startswith(f"Dear {person.name},") and "by 2027-04-05" in body
        name, content_type, data = attachment(message)
        assert name == paths[owner].name
        assert content_type == "/".join(XLSX_TYPE)
        assert data == paths[owner].read_bytes()
    assert {row[4] for row in sent_rows(ws)} == {"send"} and len(sent_rows(ws)) == len(north)
    frame = sent_mail(ws, "month", MONTH)
    assert sorted(frame["owner"]) == sorted(north) and set(frame["message_id"]) == {
        m["Message-ID"] for m in recorder.parsed()}


def test_a_second_run_sends_nothing_and_resend_sends_again(ws, smtp):
    recorder, _ = smtp
    first = mail_round(ws, "month", MONTH, only=["P004", "P005"], mode="send")
    assert [r.status for r in first] == ["sent", "sent"]
    second = mail_round(ws, "month", MONTH, only=["P004", "P005"], mode="send")
    assert [r.status for r in second] == ["skipped", "skipped"]
    assert len(recorder.messages) == 2
    again = mail_round(ws, "month", MONTH, only=["P004"], mode="send", resend=True)
    assert [r.status for r in again] == ["sent"]
    assert len(recorder.messages) == 3
    assert recorder.parsed()[2]["Message-ID"] != recorder.parsed()[0]["Message-ID"]


def test_a_new_revision_is_sent_although_the_first_was(ws, smtp):
    recorder, _ = smtp
    mail_round(ws, "month", MONTH, only=["P010"], mode="send")
    api.generate(ws, "month", month=MONTH, only=["P010"])  # revision 2, a new file
    results = mail_round(ws, "month", MONTH, only=["P010"], mode="send")
    assert [r.status for r in results] == ["sent"]
    assert attachment(recorder.parsed()[-1])[0].endswith("-r2.xlsx")


def test_temporary_failures_are_retried_with_backoff(ws, smtp):
    recorder, _ = smtp
    recorder.defer = 2
    results = mail_round(ws, "month", MONTH, only=["P004"], mode="send", backoff=FAST)
    assert [(r.status, r.attempts) for r in results] == [("sent", 3)]
    assert recorder.data_commands == 3 and len(recorder.messages) == 1


def test_a_dropped_connection_is_reopened(ws, smtp):
    recorder, _ = smtp
    recorder.close = 1
    results = mail_round(ws, "month", MONTH, only=["P004", "P005"], mode="send", backoff=FAST)
    assert [r.status for r in results] == ["sent", "sent"]
    assert results[0].attempts == 2 and len(recorder.messages) == 2


def test_retries_run_out(pristine_en, tmp_path, smtp):
    recorder, port = smtp
    ws = copy_of(pristine_en, tmp_path, port, retries=1)
    recorder.defer = 5
    results = mail_round(ws, "month", MONTH, only=["P004"], mode="send", backoff=FAST)
    assert results[0].status == "failed" and "451" in results[0].detail and results[0].attempts == 2
    assert sent_rows(ws) == []


def test_a_permanent_failure_is_reported_and_the_batch_goes_on(ws, smtp):
    recorder, _ = smtp
    refused = ws.roster.get("P005").email
    recorder.refuse = {refused}
    results = mail_round(ws, "month", MONTH, only=["P004", "P005", "P006"], mode="send", backoff=FAST)
    assert [(r.owner, r.status) for r in results] == [("P004", "sent"), ("P005", "failed"), ("P006", "sent")]
    assert "550" in results[1].detail and results[1].attempts == 1  # never retried
    assert [rcpt for _f, rcpt, _c in recorder.messages] == [[ws.roster.get("P004").email],
                                                            [ws.roster.get("P006").email]]
    assert [row[2] for row in sent_rows(ws)] == ["P004", "P006"]
    recorder.refuse = set()
    rerun = mail_round(ws, "month", MONTH, only=["P004", "P005", "P006"], mode="send")
    assert [r.status for r in rerun] == ["skipped", "sent", "skipped"]


def test_unreachable_server_is_a_setup_error(pristine_en, tmp_path):
    ws = copy_of(pristine_en, tmp_path, _free_port(), retries=0)
    with pytest.raises(EnvironmentProblem, match="cannot reach the SMTP server"):
        mail_round(ws, "month", MONTH, only=["P004"], mode="send")


# ------------------------------------------------------------------------------------------- password


def test_the_password_comes_from_the_environment(pristine_en, tmp_path, smtp_auth, monkeypatch):
    recorder, port = smtp_auth
    ws = copy_of(pristine_en, tmp_path, port, smtp_user="ops", password_env="TEST_SMTP_PASSWORD")
    monkeypatch.delenv("TEST_SMTP_PASSWORD", raising=False)
    with pytest.raises(EnvironmentProblem, match="TEST_SMTP_PASSWORD"):
        mail_round(ws, "month", MONTH, only=["P004"], mode="send")
    result = invoke(ws.root, "mail", "--kind", "month", "--only", "P004", "--send")
    assert result.exit_code == 2 and "TEST_SMTP_PASSWORD" in result.stderr
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong")
    with pytest.raises(EnvironmentProblem, match="refused the login"):
        mail_round(ws, "month", MONTH, only=["P004"], mode="send")
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "s3cret")
    results = mail_round(ws, "month", MONTH, only=["P004"], mode="send")
    assert [r.status for r in results] == ["sent"] and len(recorder.messages) == 1
    assert recorder.logins[-1] == b"ops"


def test_a_password_in_the_config_is_refused_with_its_key_path(pristine_en, tmp_path):
    text = without_mail(pristine_en)
    with pytest.raises(ConfigError) as caught:
        parse_config(text + mail_table(25, password="hunter2"))
    assert [p.field for p in caught.value.problems] == ["mail.password"]
    assert "password_env" in str(caught.value)
    root = tmp_path / "ws"
    shutil.copytree(pristine_en, root)
    (root / "sheetplan.toml").write_text(text + mail_table(25, password="hunter2"), encoding="utf-8")
    result = invoke(root, "mail", "--drafts")
    assert result.exit_code == 2 and "mail.password" in result.stderr


@pytest.mark.parametrize(("extra", "field"), [
    ({"security": "ssl"}, "mail.security"),
    ({"smtp_port": 0}, "mail.smtp_port"),
    ({"from_address": "not an address"}, "mail.from_address"),
    ({"password_env": "1-BAD"}, "mail.password_env"),
    ({"deadline": "2027-02-30"}, "mail.deadline"),
    ({"rate_per_minute": 0}, "mail.rate_per_minute"),
    ({"retries": "3"}, "mail.retries"),
    ({"colour": "red"}, "mail.colour"),
])
def test_mail_settings_are_checked(pristine_en, extra, field):
    text = without_mail(pristine_en)
    with pytest.raises(ConfigError) as caught:
        parse_config(text + mail_table(25, **extra))
    assert [p.field for p in caught.value.problems] == [field]


def test_mail_defaults_and_deadlines_per_kind(pristine_en):
    text = without_mail(pristine_en)
    settings = parse_config(text).mail
    assert (settings.smtp_port, settings.security, settings.password_env) == (587, "starttls",
                                                                               "SHEETPLAN_SMTP_PASSWORD")
    settings = parse_config(text + '\n[mail]\nsecurity = "tls"\ndeadline = {default = "2027-04-05", '
                                   'month = 2027-04-03}\n').mail
    assert settings.smtp_port == 465
    assert (settings.deadline("month"), settings.deadline("person")) == ("2027-04-03", "2027-04-05")


# ------------------------------------------------------------------------------------------- drafts


def test_drafts_are_eml_files_outlook_opens_as_drafts(ws, smtp):
    results = mail_round(ws, "month", MONTH, only=["East"], mode="drafts")
    assert results and {r.status for r in results} == {"drafted"}
    assert smtp[0].messages == []
    folder = ws.root / "outbox" / "mail" / "month" / MONTH
    assert sorted(p.name for p in folder.iterdir()) == sorted(Path(r.draft).name for r in results)
    with ws.store() as store:
        paths = {r.owner: ws.root / r.path for r in store.sent("month", MONTH)}
    for result in results:
        raw = (ws.root / result.draft).read_bytes()
        assert b"\r\n" in raw  # standard line ends
        message = email.message_from_bytes(raw, policy=policy.default)
        assert message["X-Unsent"] == "1"
        assert str(message["Reply-To"]) == RETURNS
        assert message["To"].addresses[0].addr_spec == ws.roster.get(result.owner).email
        name, content_type, data = attachment(message)
        assert (name, content_type) == (paths[result.owner].name, "/".join(XLSX_TYPE))
        assert data == paths[result.owner].read_bytes()
    again = mail_round(ws, "month", MONTH, only=["East"], mode="drafts")
    assert {r.status for r in again} == {"skipped"}
    (ws.root / results[0].draft).unlink()  # a deleted draft is written again
    assert [r.status for r in mail_round(ws, "month", MONTH, only=["East"], mode="drafts")].count("drafted") == 1


def test_drafts_need_no_smtp_and_no_sender(pristine_en, tmp_path):
    root = tmp_path / "ws"
    shutil.copytree(pristine_en, root)
    (root / "sheetplan.toml").write_text(without_mail(root), encoding="utf-8")
    ws = open_workspace(root)  # no [mail] table at all
    results = mail_round(ws, "month", MONTH, only=["P004"], mode="drafts")
    message = email.message_from_bytes((root / results[0].draft).read_bytes(), policy=policy.default)
    assert "From" not in message and "Reply-To" not in message
    with pytest.raises(ConfigError, match="from_address"):
        mail_round(ws, "month", MONTH, only=["P004"], mode="send")


# ------------------------------------------------------------------------------------------- language


def test_a_chinese_workspace_mails_in_chinese_with_rfc2231_names(pristine_zh, tmp_path, smtp):
    recorder, port = smtp
    ws = copy_of(pristine_zh, tmp_path, port)
    person = ws.roster.sellers(ws.config)[0]
    results = mail_round(ws, "month", MONTH, only=[person.person_id], mode="send")
    assert [r.status for r in results] == ["sent"]
    catalogue = mail_catalogue("zh")
    message = recorder.parsed()[0]
    assert message["Subject"] == catalogue["template"]["subject"].format(
        company=ws.config.company, kind=catalogue["kinds"]["month"], period=MONTH)
    assert message["To"].addresses[0].display_name == person.name
    body = message.get_body(("plain",)).get_content()
    assert body.startswith(f"{person.name}，您好：") and "请尽快回复" in body
    with ws.store() as store:
        path = next(ws.root / r.path for r in store.sent("month", MONTH) if r.owner == person.person_id)
    assert not path.name.isascii()
    name, _type, data = attachment(message)
    assert name == path.name and data == path.read_bytes()
    raw = recorder.messages[0][2]
    assert raw.isascii() and b"filename*=utf-8''" in raw


def test_the_catalogues_have_the_same_keys():
    def keys(lang: str) -> set[str]:
        data = catalogue(lang, "mail")
        return {f"{section}.{key}" for section, table in data.items() for key in table}

    assert keys("en") == keys("zh")


# ------------------------------------------------------------------------------------------- feedback, reports


def test_feedback_copies_go_to_the_owner_of_each_rejected_file(ws, smtp):
    recorder, _ = smtp
    outgoing = compose(ws, "feedback")
    assert [(o.owner, o.attachment.parent.name) for o in outgoing] == [("P006", "feedback")]
    results = mail_round(ws, "feedback", mode="send")
    assert [(r.owner, r.status) for r in results] == [("P006", "sent")]
    message = recorder.parsed()[0]
    assert message["To"].addresses[0].addr_spec == ws.roster.get("P006").email
    body = message.get_body(("plain",)).get_content()
    assert "(not-a-number)" in body and "Report!" in body
    assert attachment(message)[2] == outgoing[0].attachment.read_bytes()
    assert [r.status for r in mail_round(ws, "feedback", mode="send")] == ["skipped"]


def test_team_reports_go_to_each_team_manager(ws, smtp):
    recorder, _ = smtp
    results = mail_round(ws, "team-report", MONTH, mode="send")
    teams = ws.roster.teams
    assert len(results) == len(teams) and {r.status for r in results} == {"sent"}
    managers = {ws.roster.manager(t).email: t for t in teams}
    for (_f, rcpt, _c), message in zip(recorder.messages, recorder.parsed()):
        team = managers[rcpt[0]]
        assert team in message["Subject"]
        name, _type, data = attachment(message)
        assert name.startswith("team-") and data == (ws.root / "reports" / MONTH / name).read_bytes()
    assert [r.status for r in mail_round(ws, "team-report", mode="send", only=["North"])] == ["skipped"]


# ------------------------------------------------------------------------------------------- reminders


def test_reminders_go_to_the_missing_and_the_rejected(ws, smtp):
    recorder, _ = smtp
    status = api_status(ws)
    missing = sorted(o for o, s in status.items() if s == "missing")
    outgoing = {o.owner: o for o in compose_reminders(ws, "month", MONTH)}
    assert sorted(outgoing) == sorted(missing + ["P006"])
    rejected = outgoing["P006"]
    assert rejected.attachment.parent.name == "feedback" and "(not-a-number)" in rejected.body
    assert outgoing[missing[0]].attachment.parent.name == MONTH  # the template, again
    results = remind(ws, "month", MONTH, only=["North", "South"], mode="send")
    south = {p.person_id for p in ws.roster.sellers(ws.config, "South")} & set(status)  # those sent a template
    assert sorted(r.owner for r in results) == sorted(south | {"P006"})
    assert {r.status for r in results} == {"sent"} and len(recorder.messages) == len(results)
    assert all(m["Subject"].startswith("Reminder:") for m in recorder.parsed())
    again = remind(ws, "month", MONTH, only=["North", "South"], mode="send")
    assert {r.status for r in again} == {"skipped"}  # once a day
    assert {r.status for r in remind(ws, "month", MONTH, only=["P006"], mode="send", resend=True)} == {"sent"}


def api_status(ws) -> dict[str, str]:
    from sheetplan.reports.status import round_status

    frame = round_status(ws, "month", MONTH)
    return dict(zip(frame["owner"], frame["status"]))


# ------------------------------------------------------------------------------------------- CLI


def test_cli_mail_exit_codes(ws, smtp):
    recorder, _ = smtp
    root = ws.root
    result = invoke(root, "mail", "--kind", "month", "--period", MONTH, "--only", "P004", "--send")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith("1 sent, 0 skipped")
    result = invoke(root, "mail", "--kind", "month", "--period", MONTH, "--only", "P004", "--send")
    assert result.exit_code == 0 and result.stdout.splitlines()[-1].startswith("0 sent, 1 skipped")
    recorder.refuse = {ws.roster.get("P005").email}
    result = invoke(root, "mail", "--kind", "month", "--only", "P005", "--send")
    assert result.exit_code == 1 and "FAILED" in result.stdout and "550" in result.stdout
    assert invoke(root, "mail", "--kind", "month").exit_code == 2  # neither --drafts nor --send
    result = invoke(root, "mail", "--kind", "month", "--only", "NOBODY", "--drafts")
    assert result.exit_code == 2 and "NOBODY" in result.stderr
    result = invoke(root, "mail", "--kind", "person", "--drafts")
    assert result.exit_code == 2 and "no person templates were ever generated" in result.stderr
    assert invoke(root, "mail", "--kind", "nonsense", "--drafts").exit_code == 2


def test_cli_remind_drafts(ws):
    result = invoke(ws.root, "remind", "--kind", "month", "--period", MONTH, "--only", "North", "--drafts")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith("1 drafted")
    drafts = list((ws.root / "outbox" / "mail" / "reminder" / "month" / MONTH).glob("*.eml"))
    assert len(drafts) == 1
    message = email.message_from_bytes(drafts[0].read_bytes(), policy=policy.default)
    assert message["X-Unsent"] == "1" and attachment(message)[0].endswith("-feedback.xlsx")
