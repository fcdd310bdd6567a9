"""The command line through click's CliRunner: exit codes, one-line summaries, workspace selection, help."""

from __future__ import annotations

import re
import shutil
from functools import cache
from pathlib import Path

import click
import openpyxl
import pytest
from click.testing import CliRunner

from sheetplan.cli import main
from sheetplan.workspace.folder import ENV_VAR, open_workspace

YEAR = 2027
MONTH = "2027-03"


@pytest.fixture(autouse=True)
def no_workspace_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)  # never the repository, never a workspace unless a test says so


def invoke(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env, catch_exceptions=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, object]:
    """One demo workspace made through the CLI; returns its folder and the init result."""
    root = tmp_path_factory.mktemp("cli") / "plans"
    result = CliRunner().invoke(main, ["init", str(root), "--demo", "--year", str(YEAR)], catch_exceptions=False)
    return root, result


@pytest.fixture(scope="module")
def light(demo, tmp_path_factory) -> Path:
    """The demo workspace without its prior-year history, for tests about options rather than figures.

    Reading two years of history is most of the time a generate run takes; the stored plan is kept.
    """
    root, _ = demo
    copy = tmp_path_factory.mktemp("light") / "plans"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("history.xlsx"))
    shutil.rmtree(copy / "outbox")
    (copy / "outbox").mkdir()
    return copy


def outbox_files(root: Path) -> set[Path]:
    return set((root / "outbox").rglob("*.xlsx"))


def summary(result) -> str:
    """The one line that is not a note; fails unless there is exactly one."""
    lines = [line for line in result.stdout.splitlines() if line.strip() and not line.startswith("Note:")]
    assert len(lines) == 1, result.stdout
    return lines[0]


def owner_of(path: Path) -> str:
    sheet = openpyxl.load_workbook(path)["_meta"]
    return {row[0]: row[1] for row in sheet.iter_rows(values_only=True)}["owner"]


# --- init -----------------------------------------------------------------------------------------------


def test_init_demo_creates_a_complete_workspace(demo):
    root, result = demo
    assert result.exit_code == 0, result.output
    for part in ("sheetplan.toml", "roster.xlsx", "history.xlsx", ".sheetplan/key", ".sheetplan/workspace_id",
                 ".sheetplan/password", ".sheetplan/plan.sqlite", "outbox", "inbox", "archive", "reports"):
        assert (root / part).exists(), part
    workspace = open_workspace(root)
    assert workspace.config.fiscal_year == YEAR
    people = len(workspace.roster.people)
    assert re.search(rf"\b{people}\b", result.stdout), "the summary names how many people the roster holds"
    assert str(YEAR) in result.stdout


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("extra", [["--demo"], [], ["--demo", "--lang", "zh", "--year", "2030"]])
def test_init_refuses_an_existing_workspace_and_changes_nothing(demo, extra):
    root, _ = demo
    before = _snapshot(root)
    result = invoke("init", root, *extra)
    assert result.exit_code == 2
    assert result.stderr.strip(), "the refusal says why"
    assert "Traceback" not in result.output
    assert _snapshot(root) == before


def test_init_without_demo_starts_an_empty_workspace(tmp_path):
    result = invoke("init", tmp_path / "fresh", "--year", "2030", "--lang", "zh")
    assert result.exit_code == 0, result.output
    text = (tmp_path / "fresh" / "sheetplan.toml").read_text(encoding="utf-8")
    assert "year = 2030" in text and 'language = "zh"' in text


# --- generate -------------------------------------------------------------------------------------------


@cache
def expected_count(root: Path, kind: str) -> int:
    workspace = open_workspace(root)
    people = workspace.roster.people
    sellers = [p for p in people if p.active and p.role in workspace.config.selling_roles]
    return {
        "company": 1,
        "team": len({p.team for p in people if p.role == "manager" and p.active}),
        "person": len(sellers),
        "month": len([p for p in sellers if (p.start_month or MONTH) <= MONTH <= (p.end_month or MONTH)]),
    }[kind]


@pytest.mark.parametrize("kind, extra", [("company", []), ("team", []), ("person", []),
                                         ("month", ["--month", MONTH])])
def test_generate_writes_every_template_and_says_how_many(demo, kind, extra):
    root, _ = demo
    before = outbox_files(root)
    result = invoke("-w", root, "generate", kind, *extra)
    assert result.exit_code == 0, result.output
    new = outbox_files(root) - before
    count = expected_count(root, kind)
    assert len(new) == count
    assert re.search(rf"\b{count}\b", summary(result))
    assert {p.parent for p in new} == {root / "outbox" / kind / (MONTH if kind == "month" else str(YEAR))}


USAGE_ERRORS = [
    # id, arguments, what the message must name
    ("month-without-month", ["generate", "month"], "--month"),
    ("month-outside-year", ["generate", "month", "--month", "2031-03"], "2031-03"),
    ("only-unknown", ["generate", "person", "--only", "P999"], "P999"),
    ("unknown-kind", ["generate", "quarter"], "quarter"),
]


@pytest.mark.parametrize("args, named", [c[1:] for c in USAGE_ERRORS], ids=[c[0] for c in USAGE_ERRORS])
def test_generate_usage_errors_exit_2_with_a_message(light, args, named):
    root = light
    before = outbox_files(root)
    result = invoke("-w", root, *args)
    assert result.exit_code == 2
    assert named in result.stderr
    assert "Traceback" not in result.output
    assert outbox_files(root) == before


@pytest.mark.parametrize("kind, extra, only, owner", [
    ("person", [], "P004", "P004"),
    ("month", ["--month", MONTH], "P004", "P004"),
    ("team", [], "North", "P003"),  # a team by name: its manager gets the template
])
def test_generate_only_some_recipients(light, kind, extra, only, owner):
    root = light
    if kind == "team":
        workspace = open_workspace(root)
        assert workspace.roster.manager(only).person_id == owner
    before = outbox_files(root)
    result = invoke("-w", root, "generate", kind, *extra, "--only", only)
    assert result.exit_code == 0, result.output
    new = outbox_files(root) - before
    assert len(new) == 1
    assert owner_of(new.pop()) == owner
    assert re.search(r"\b1\b", summary(result))


BROKEN_CONFIG = [
    # id, (old, new) in the starter sheetplan.toml, key path the message must name
    ("start-month-13", ("start_month = 1 ", "start_month = 13 "), "fiscal.start_month"),
    ("language-fr", ('language = "en"', 'language = "fr"'), "company.language"),
    ("second-metric-decimals", ('unit = "units"\ndecimals = 0', 'unit = "units"\ndecimals = 9'), "metrics[1].decimals"),
    ("ramp-above-one", ("ramp = [0.25, 0.5, 0.75]", "ramp = [0.25, 1.5]"), "allocation.ramp"),
    ("no-customer-groups", ('customer_groups = ["Key accounts", "Distributors", "Online"]', "customer_groups = []"),
     "planning.customer_groups"),
    ("unknown-key", ("[rollover]", "[rollover]\nspeed = 3"), "rollover.speed"),
    ("syntax", ('name = "My Company"', 'name = "My Company'), "sheetplan.toml"),
]


@pytest.mark.parametrize("change, key_path", [c[1:] for c in BROKEN_CONFIG], ids=[c[0] for c in BROKEN_CONFIG])
def test_broken_config_exits_2_and_names_the_key_path(tmp_path, change, key_path):
    root = tmp_path / "ws"
    assert invoke("init", root, "--year", str(YEAR)).exit_code == 0
    config = root / "sheetplan.toml"
    text = config.read_text(encoding="utf-8")
    old, new = change
    assert text.count(old) == 1, f"{old!r} is not in the starter config"
    config.write_text(text.replace(old, new), encoding="utf-8")
    result = invoke("-w", root, "generate", "company")
    assert result.exit_code == 2
    assert key_path in result.stderr
    assert "Traceback" not in result.output
    assert outbox_files(root) == set()


# --- choosing the workspace ------------------------------------------------------------------------------


def _company_run(root: Path, *args: str, env: dict | None = None) -> tuple[int, int]:
    before = outbox_files(root)
    result = invoke(*args, "generate", "company", env=env)
    return result.exit_code, len(outbox_files(root) - before)


def test_workspace_from_option_and_from_environment(light, tmp_path):
    root = light
    assert _company_run(root, env={ENV_VAR: str(root)}) == (0, 1)
    # the option wins over the environment
    not_a_workspace = tmp_path / "elsewhere"
    not_a_workspace.mkdir()
    assert _company_run(root, "-w", root, env={ENV_VAR: str(not_a_workspace)}) == (0, 1)


def test_no_workspace_anywhere_exits_2(tmp_path):
    result = invoke("generate", "company")  # the current folder is an empty tmp_path
    assert result.exit_code == 2
    assert result.stderr.strip()
    result = invoke("-w", tmp_path / "missing", "generate", "company")
    assert result.exit_code == 2


def test_current_folder_is_the_default_workspace(light, monkeypatch):
    root = light
    monkeypatch.chdir(root)
    assert _company_run(root) == (0, 1)


# --- documentation ---------------------------------------------------------------------------------------


def test_there_are_commands():
    assert {"init", "generate"} <= set(main.commands)


@pytest.mark.parametrize("name", sorted(main.commands))
def test_every_command_has_help_with_an_example(name):
    command = main.commands[name]
    assert (command.help or "").strip(), f"{name} has no docstring"
    examples = [line.strip() for line in command.help.splitlines() if line.strip().startswith("Example:")]
    assert examples, f"{name} help has no 'Example:' line"
    assert all("sheetplan " in line for line in examples), "an example shows a whole command line"
    result = invoke(name, "--help")
    assert result.exit_code == 0
    assert "Example:" in result.stdout


@pytest.mark.parametrize("name", sorted(main.commands))
def test_every_option_of_every_command_has_help(name):
    command = main.commands[name]
    undocumented = [p.name for p in command.params if isinstance(p, click.Option) and not (p.help or "").strip()]
    assert undocumented == [], f"{name}: options without help"


def test_main_help_and_version():
    assert "Example:" in (main.help or "")
    result = invoke("--help")
    assert result.exit_code == 0
    assert all(name in result.stdout for name in main.commands)
    assert invoke("--version").exit_code == 0
