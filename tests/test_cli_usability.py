"""Commands a newcomer understands at first sight: help in the cycle's order with whole descriptions and exit
codes, one name for the period option, -w before or after the command, hints that keep it, a short status,
--move for earlier returns, and each round's own deadline in its mails, reminders and status."""

from __future__ import annotations

import email
import email.policy
import re
import shutil
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from sheetplan.cli import CYCLE_ORDER, main
from sheetplan.workspace.folder import ENV_VAR

YEAR = 2027
MONTH = "2027-03"
METRICS = ("revenue", "quantity", "new_customers", "expenses")


@pytest.fixture(autouse=True)
def no_workspace_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)


def invoke(*args, env: dict | None = None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env, catch_exceptions=False)


@pytest.fixture(scope="module")
def plans(tmp_path_factory) -> Path:
    """A demo workspace (without prior-year history: faster) with the March month round generated, and a
    rule that gives each round its own deadline: a month report 10 days after its month."""
    root = tmp_path_factory.mktemp("usability") / "plans"
    CliRunner().invoke(main, ["init", str(root), "--demo", "--year", str(YEAR)], catch_exceptions=False)
    (root / "history.xlsx").unlink()
    config = root / "sheetplan.toml"
    text = re.sub(r"(?m)^deadline_days = .*$", "deadline_days = { default = 14, month = 10 }",
                  config.read_text(encoding="utf-8"))
    config.write_text(text, encoding="utf-8")
    assert invoke("-w", root, "generate", "month", "--period", MONTH).exit_code == 0
    return root


def body(path: Path) -> str:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    return message.get_body(("plain",)).get_content()


def commands_listed(text: str) -> list[tuple[str, str]]:
    """(name, description) in the order of the help's Commands: section, continuation lines joined."""
    section = text.split("Commands:\n", 1)[1]
    found: list[list[str]] = []
    for line in section.splitlines():
        m = re.match(r"^  (\S+)\s+(.*)$", line)
        if m and not line.startswith("   "):
            found.append([m.group(1), m.group(2)])
        elif line.strip() and found:
            found[-1][1] += " " + line.strip()
    return [(name, desc) for name, desc in found]


def all_commands(group: click.Group = main, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from all_commands(command, (*prefix, name))


def test_main_help_lists_the_commands_in_cycle_order_with_whole_descriptions():
    listed = commands_listed(invoke("--help").stdout)
    names = [name for name, _ in listed]
    assert sorted(names) == sorted(main.commands)
    known = [n for n in names if n in CYCLE_ORDER]
    assert known == sorted(known, key=CYCLE_ORDER.index)
    assert names[:5] == ["init", "generate", "mail", "collect", "ingest"]
    for name, description in listed:  # the whole first paragraph of the command's docstring, never "..."
        first = main.commands[name].help.split("\n\n")[0].replace("\n", " ")
        assert description == " ".join(first.split()), name
        assert not description.endswith("...") and description.endswith(".")


@pytest.mark.parametrize("path", [p for p, _ in all_commands()], ids=" ".join)
def test_every_command_help_states_its_exit_status(path):
    result = invoke(*path, "--help")
    assert result.exit_code == 0
    assert re.search(r"Exit status: [^.]*\b0\b[^.]*\b2\b", " ".join(result.stdout.split())), result.stdout


@pytest.mark.parametrize("name", ["generate", "consolidate", "status", "mail", "remind"])
def test_period_is_the_name_and_month_its_alias(name):
    option = next(p for p in main.commands[name].params if "--period" in p.opts)
    assert option.opts[0] == "--period" and "--month" in option.opts


def test_workspace_before_or_after_the_command_name(plans):
    before = invoke("-w", plans, "status")
    after = invoke("status", "-w", plans)
    assert before.exit_code == after.exit_code == 0
    assert before.stdout == after.stdout and "month 2027-03" in after.stdout
    nested = invoke("plan", "refresh", "-w", plans)
    assert nested.exit_code == 0, nested.output


def test_status_gives_one_line_per_round_then_detail_with_a_filter(plans):
    """Without a filter: one line per round and where to look next (keeping the -w typed); with one, each
    recipient. The month round's line gives its deadline: 10 days after 2027-03-31 is 2027-04-10."""
    overview = invoke("-w", plans, "status").stdout.splitlines()
    assert overview[:-1] == [line for line in overview[:-1] if not line.startswith(" ")]
    assert overview[0].startswith("month 2027-03: ") and overview[0].endswith("; due 2027-04-10")
    assert overview[-1].endswith(f"sheetplan -w {plans} status --kind month --period 2027-03")
    detail = invoke("-w", plans, "status", "--month", MONTH).stdout.splitlines()
    assert detail[0] == overview[0] and len(detail) > 40 and any(line.startswith("    ") for line in detail)
    from_env = invoke("status", env={ENV_VAR: str(plans)}).stdout.splitlines()
    assert from_env[-1].endswith(" sheetplan status --kind month --period 2027-03")  # no -w was typed


def test_init_hint_names_the_new_workspace(tmp_path):
    result = invoke("init", tmp_path / "new plans")
    assert result.exit_code == 0
    assert f"'sheetplan -w '{tmp_path / 'new plans'}' generate company'" in result.stdout


def test_mails_and_reminders_give_the_rounds_own_deadline(plans):
    """The March month round is due 2027-04-10 by the rule; a round generated with --deadline keeps its date."""
    assert invoke("-w", plans, "mail", "--kind", "month", "--month", MONTH, "--drafts").exit_code == 0
    drafts = sorted((plans / "outbox" / "mail" / "month" / MONTH).glob("*.eml"))
    assert drafts
    bodies = [body(d) for d in drafts[:3]]
    assert all("by 2027-04-10." in b for b in bodies), bodies[0]
    assert "2027-01-20" not in bodies[0]
    remind = invoke("-w", plans, "remind", "--kind", "month", "--period", MONTH, "--drafts")
    assert remind.exit_code in (0, 1)
    reminders = sorted((plans / "outbox" / "mail" / "reminder").rglob("*.eml"))
    assert reminders
    text = body(reminders[0])
    assert "by 2027-04-10." in text
    generated = invoke("-w", plans, "generate", "month", "--period", "2027-04", "--only", "P004",
                       "--deadline", "2027-05-03")
    assert generated.exit_code == 0 and generated.stdout.rstrip().endswith("Return deadline: 2027-05-03.")
    lines = invoke("-w", plans, "status").stdout.splitlines()
    assert any(line.startswith("month 2027-04: 1 sent") and line.endswith("; due 2027-05-03") for line in lines)
    bad = invoke("-w", plans, "generate", "month", "--period", "2027-05", "--deadline", "2027-02-30")
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output


def test_deadline_days_must_be_whole_days(tmp_path):
    from sheetplan.workspace.config import parse_config

    root = tmp_path / "ws"
    invoke("init", root, "--demo")
    text = (root / "sheetplan.toml").read_text(encoding="utf-8")
    with pytest.raises(Exception, match=r"mail\.deadline_days\.month"):
        parse_config(re.sub(r"(?m)^deadline_days = .*$", 'deadline_days = { month = "ten" }', text))


def test_move_files_returns_accepted_in_an_earlier_run(plans, tmp_path):
    """A return accepted by a plain ingest stays in the inbox; a later `ingest --move` files it into
    inbox/processed/ (it is a duplicate now, of an accepted copy) instead of listing it again every time."""
    import openpyxl

    from sheetplan.demo.simulate import fill_file, input_areas

    template = next((plans / "outbox" / "month" / MONTH).glob("*P005*.xlsx"))
    areas = input_areas(openpyxl.load_workbook(template))
    actuals = {name: [[1] * (a.last_col - a.first_col + 1)] * (a.last_row - a.first_row + 1)
               for name, a in areas.items() if name.startswith("in_") and name[3:] in METRICS}
    inbox = plans / "inbox" / "usability"
    returned = fill_file(template, inbox / template.name, actuals)
    first = invoke("-w", plans, "ingest", inbox)
    assert "ACCEPTED" in first.stdout and returned.exists()
    moved = invoke("-w", plans, "ingest", "--move", inbox)
    assert "DUPLICATE" in moved.stdout
    assert not returned.exists() and (plans / "inbox" / "processed" / template.name).exists()
    shutil.rmtree(inbox, ignore_errors=True)


def test_demo_help_names_its_default_folder_and_review_annual_its_year():
    assert "workbooks/demo" in " ".join(invoke("demo", "--help").stdout.split())
    assert "must be the workspace's" in " ".join(invoke("review", "annual", "--help").stdout.split())


def test_next_hint_after_ingest_keeps_the_workspace_typed(make_workspace, tmp_path):
    """The VP's company plan, returned as sent, waits for the GM: ingest's hint names the -w given."""
    from conftest import sent_file

    from sheetplan.demo.simulate import copy_as

    ws = make_workspace("usability-next")
    template = sent_file(ws, "company", ws.roster.company_owner().person_id)
    back = copy_as(template, tmp_path / "back" / template.name)
    result = invoke("ingest", back, "-w", ws.root)
    assert result.exit_code == 0, result.output
    assert f"Next: sheetplan -w {ws.root} generate approval" in result.stdout.splitlines()
