"""The README's examples are run as written, so the documentation cannot drift from the code."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _block(after: str, language: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(after)
    match = re.compile(rf"```{language}\n(.*?)```", re.S).search(text, start)
    assert match, f"no {language} block after {after!r} in README.md"
    return match.group(1)


def test_the_cycle_example_runs_as_written(tmp_path):
    from sheetplan.demo import simulate
    from sheetplan.workspace.folder import open_workspace

    outputs = []
    for line in _block("## The cycle", "bash").splitlines():
        command = line.split("#", 1)[0].strip()
        if line.startswith("# ... the VP fills"):
            # the person's part: fill the company template and send it back into the inbox
            ws = open_workspace(tmp_path / "plans")
            sent = sorted((tmp_path / "plans" / "outbox" / "company").rglob("*.xlsx"))
            simulate.fill_plans(sent, tmp_path / "plans" / "inbox", {m.key: m.decimals for m in ws.config.metrics})
            continue
        if line.startswith("# ... the GM chooses"):
            for path in sorted((tmp_path / "plans" / "outbox" / "approval").rglob("*.xlsx")):
                simulate.fill_decisions(path, tmp_path / "plans" / "inbox" / "approvals" / path.name,
                                        lambda ref, owner: ("approve", ""))
            continue
        if not command:
            continue
        args = shlex.split(command)
        assert args[0] == "sheetplan"
        run = subprocess.run([sys.executable, "-m", "sheetplan.cli", *args[1:]], cwd=tmp_path, capture_output=True,
                             text=True, timeout=300)
        assert run.returncode == 0, (command, run.stdout, run.stderr)
        outputs.append(run.stdout)
    assert "1 accepted" in outputs[2]  # ingest took the VP's plan
    assert "1 accepted" in outputs[3] and "accepted  P" in outputs[3]  # status shows it, by person
    assert "waiting on P001 (gm, level 1/1)" in outputs[4]  # the GM approves the company plan
    assert "Wrote 1 approval template(s)" in outputs[5]
    assert "1 accepted" in outputs[6] and "1 made official" in outputs[6]


def test_the_python_api_example_runs_as_written(tmp_path, monkeypatch):
    from sheetplan.api import init_workspace

    init_workspace(tmp_path / "plans", demo=True, year=2027)
    monkeypatch.chdir(tmp_path)
    names: dict = {}
    exec(compile(_block("## Python API", "python"), "README.md", "exec"), names)  # noqa: S102 - our own README
    assert names["result"].month == "2027-03" and len(names["result"].facts)
    assert names["report"].dry_run
    assert len(names["review"].people) and list(names["result"].inputs.approvals.columns)
