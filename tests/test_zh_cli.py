"""In a zh workspace every line init, generate, plan refresh, mail, remind, collect, quarantine, close, reopen and
the reviews print is Chinese; the same commands in an en workspace print the English lines as before."""

from __future__ import annotations

import re

import openpyxl
from click.testing import CliRunner
from test_zh_workspace import english_in

from sheetplan.cli import main
from sheetplan.plan.refresh import PlanRefresh
from sheetplan.workspace.labels import Labels

OPTION = re.compile(r"(?<![\w-])--[a-z][a-z-]+")


def _run(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(main, list(args))
    assert result.exit_code in (0, 1), (args, result.output, result.exception)
    return result.output


def _set_end_month(root, person_id: str, month: str) -> None:
    roster = root / "roster.xlsx"
    book = openpyxl.load_workbook(roster)
    for row in book.active.iter_rows(min_row=2):
        if row[0].value == person_id:
            row[7].value = month
    book.save(roster)


def _session(tmp_path, lang: str) -> dict[str, str]:
    runner = CliRunner()
    root = tmp_path / lang
    w = ["-w", str(root)]
    out = {"init": _run(runner, "init", str(root), "--demo", "--year", "2027", "--lang", lang)}
    for kind in ("company", "team", "person"):
        out[f"generate {kind}"] = _run(runner, *w, "generate", kind)
    out["generate month"] = _run(runner, *w, "generate", "month", "--period", "2027-03")
    out["plan refresh"] = _run(runner, *w, "plan", "refresh")
    _set_end_month(root, "P008", "2027-04")
    out["generate after leaver"] = _run(runner, *w, "generate", "month", "--period", "2027-03")
    out["plan refresh again"] = _run(runner, *w, "plan", "refresh")
    out["mail"] = _run(runner, *w, "mail", "--drafts")
    out["mail again"] = _run(runner, *w, "mail", "--drafts")
    out["mail list"] = _run(runner, *w, "mail", "--list")
    out["remind"] = _run(runner, *w, "remind", "--drafts")
    out["quarantine"] = _run(runner, *w, "quarantine")
    # the company's own draft mailed back: its sender is not a recipient, so the workbook is quarantined
    draft = sorted((root / "outbox" / "mail" / "month").rglob("*P004*.eml"))[0]
    out["collect"] = _run(runner, *w, "collect", str(draft))
    out["quarantine held"] = _run(runner, *w, "quarantine")
    by = "运营部" if lang == "zh" else "Mia"
    out["quarantine release"] = _run(runner, *w, "quarantine", "release", "1", "--by", by)
    out["quarantine all"] = _run(runner, *w, "quarantine", "--all")
    out["close"] = _run(runner, *w, "close", "2027-01")
    out["reopen"] = _run(runner, *w, "reopen", "2027-01", "--reason", "更正" if lang == "zh" else "a correction")
    out["review half"] = _run(runner, *w, "review", "half", "--draft")
    out["review annual"] = _run(runner, *w, "review", "annual", "--draft")
    return out


def test_every_line_the_cycle_commands_print_in_a_zh_workspace_is_chinese(tmp_path):
    out = _session(tmp_path, "zh")
    assert "人员名单有变动" in out["generate after leaver"], out["generate after leaver"]
    # besides test_zh_workspace's allow-list: a command-line option named in a sentence, as it is typed
    found = {name: [line for line in text.splitlines() if english_in(OPTION.sub(" ", line))]
             for name, text in out.items()}
    found = {name: lines for name, lines in found.items() if lines}
    assert not found, found


def test_the_same_commands_in_an_en_workspace_print_the_english_lines(tmp_path):
    out = _session(tmp_path, "en")
    assert out["init"].startswith(f"Created workspace {tmp_path / 'en'} (demo company "), out["init"]
    assert "people, fiscal year 2027)." in out["init"]
    assert "Note: team targets not official yet for " in out["generate team"]
    assert "the templates show the allocation suggestion" in out["generate team"]
    assert "Wrote 1 company template(s) for 2027 to " in out["generate company"]
    assert " ms each)." in out["generate company"]
    assert out["plan refresh"].splitlines()[0] == "nothing changed"
    assert out["plan refresh"].splitlines()[-1].endswith(" suggested target cells stored.")
    leaver = out["generate after leaver"]
    assert "Note: roster changed since the plan was last computed: suggestions recomputed" in leaver, leaver
    assert "DRAFTED " in out["mail"] and " drafted, 0 skipped (already drafted; --resend to repeat), 0 failed." \
        in out["mail"]
    assert ", 0 drafted, " not in out["mail"] and "0 drafted, " in out["mail again"]
    assert "message(s), 0 in doubt." in out["mail list"]
    assert out["quarantine"].strip() == "Nothing is in quarantine."
    assert "SAVED     inbox/" in out["collect"] and "  -> QUARANTINED" in out["collect"], out["collect"]
    assert "1 message(s): 0 collected before, 1 workbook(s) saved, 0 received before, 0 attachment(s) ignored, " \
           "0 warning(s)." in out["collect"]
    assert "Ingest: 0 accepted, 0 rejected, 1 quarantined, 0 duplicate, 0 stale, 0 superseded." in out["collect"]
    assert f"Quarantined workbooks wait for an analyst: sheetplan -w {tmp_path / 'en'} quarantine" in out["collect"]
    assert out["quarantine held"].startswith("   1  month 2027-03 P004  from "), out["quarantine held"]
    assert out["quarantine release"].startswith("REJECTED  "), out["quarantine release"]
    assert "[month 2027-03 P004]" in out["quarantine release"]
    assert " by Mia" in out["quarantine all"] and "  released " in out["quarantine all"]
    assert out["review half"].startswith("Half-year review 2027: ")
    assert out["review annual"].startswith("Annual summary 2027 (as of ")


# a refresh after official plans: a leaver, a handover waiting for approval, one taken over at once, an absorb
REFRESH = PlanRefresh(inputs_changed=("sheetplan.toml", "roster"), changed={"person": 12, "team": 2},
                      leavers=[("P008", "2027-04", 32)], handovers=[("P008", "P009", "P003"), ("P011", "P012", "")],
                      absorbed=[("team", "North", "revenue", 1200.0, 1150.5), ("company", "", "revenue", 9e3, 8.95e3)])


def test_the_refresh_notes_in_english_are_the_lines_as_before():
    assert REFRESH.lines() == REFRESH.lines(Labels("en")) == [
        "sheetplan.toml, roster changed since the plan was last computed: suggestions recomputed",
        "suggested targets changed: 12 person, 2 team",
        "P008 leaves after 2027-04: 32 target cell(s) after it set to 0",
        "P008's remaining targets go to P009 (handover_to): waiting for P003's approval",
        "P011's remaining targets go to P012 (handover_to): taken over at once (no approval chain)",
        'team North revenue: 1,200.00 -> 1,150.50, the sum of what is below it ([replan] policy = "absorb")',
        'company (company) revenue: 9,000.00 -> 8,950.00, the sum of what is below it ([replan] policy = "absorb")']


def test_the_refresh_notes_in_chinese_name_levels_inputs_and_metrics_in_chinese():
    lines = REFRESH.lines(Labels("zh"), {"revenue": "销售额"})
    assert lines[2] == "P008 于 2027-04 之后离职：此后的 32 个目标单元格已设为 0"
    assert lines[3] == "P008 的剩余目标移交给 P009（handover_to）：等待 P003 审批"
    # what may stay Latin: the file name, ids, the team's own name and the [replan] setting as it is typed
    leftover = [english_in(line.replace("North", "").replace("handover_to", "")
                           .replace('[replan] policy = "absorb"', "")) for line in lines]
    assert not any(leftover), lines
