"""Shared fixtures for the ingest tests: demo workspaces built once per session and cloned per test module.

`init_workspace(demo=True)` costs seconds (history, allocation), so each language's workspace is built once,
with every template kind generated, and modules work on copies of the folder.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from sheetplan import api
from sheetplan.workspace.folder import open_workspace

YEAR = 2027
MONTH = "2027-03"

# The real-world corpus lives outside this repository (../shared beside the checkout in this project's CI).
# Its tests run whenever it is there; a lone clone leaves them out with one line saying so, and
# SHEETPLAN_REQUIRE_CORPUS=1 (set by .ci/run) makes a missing corpus an error instead.
CORPUS = Path(os.environ.get("SHEETPLAN_CORPUS")
              or Path(__file__).resolve().parents[2] / "shared" / "corpus" / "realworld")
CORPUS_TESTS = {"test_reader_corpus.py", "test_ingest_corpus.py"}


def corpus_present() -> bool:
    return (CORPUS / "MANIFEST.tsv").is_file()


def pytest_collection_modifyitems(config, items):
    if corpus_present():
        return
    if os.environ.get("SHEETPLAN_REQUIRE_CORPUS") == "1":
        raise pytest.UsageError(f"the real-world corpus is required (SHEETPLAN_REQUIRE_CORPUS=1) but {CORPUS} "
                                "holds no MANIFEST.tsv")
    left = [item for item in items if item.path.name in CORPUS_TESTS]
    if left:
        items[:] = [item for item in items if item.path.name not in CORPUS_TESTS]
        config.hook.pytest_deselected(items=left)
        config.stash[corpus_note] = (f"real-world corpus tests left out ({len(left)}): no corpus at {CORPUS} "
                                     "(set SHEETPLAN_CORPUS to run them)")


corpus_note = pytest.StashKey[str]()


def pytest_report_header(config):
    return f"real-world corpus: {CORPUS}" + ("" if corpus_present() else " (not present)")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    note = config.stash.get(corpus_note, None)
    if note:
        terminalreporter.write_line(note)


def _build(root: Path, lang: str, kinds: tuple[str, ...]) -> Path:
    ws = api.init_workspace(root, demo=True, year=YEAR, lang=lang)
    for kind in kinds:
        api.generate(ws, kind, month=MONTH if kind == "month" else None)
    return root


@pytest.fixture(scope="session")
def make_workspace(tmp_path_factory):
    """make_workspace(name, lang='en') -> a fresh Workspace: a copy of the demo workspace with every kind
    generated (zh: month only). Copies share the workspace id, key and plan store contents."""
    built: dict[str, Path] = {}

    def make(name: str, lang: str = "en", approvals: bool | tuple[str, ...] = True):
        """approvals=False: nothing needs approval, every valid file is official at once (tests of ingest
        itself); a tuple names the item kinds that keep their default chain."""
        if lang not in built:
            kinds = ("company", "team", "person", "month") if lang == "en" else ("month",)
            built[lang] = _build(tmp_path_factory.mktemp(f"pristine-{lang}") / "ws", lang, kinds)
        target = tmp_path_factory.mktemp(name) / "ws"
        shutil.copytree(built[lang], target)
        if approvals is not True:
            without_approvals(target, keep=approvals or ())
        return open_workspace(target)

    return make


def without_approvals(root: Path, keep: tuple[str, ...] = ()) -> None:
    """Turn approval chains off in a workspace's sheetplan.toml, except for the item kinds in `keep`."""
    from sheetplan.workspace.config import APPROVAL_ITEMS

    config = root / "sheetplan.toml"
    off = "".join(f"{kind} = []\n" for kind in APPROVAL_ITEMS if kind not in keep)
    config.write_text(config.read_text(encoding="utf-8") + "\n[approvals]\n" + off, encoding="utf-8")


def moved(rows: list[list], decimals: int, amount: float = 10) -> list[list]:
    """The pre-filled figures with `amount` units moved from the largest cell to the smallest: same total."""
    cells = sorted((v, r, c) for r, row in enumerate(rows) for c, v in enumerate(row))
    (low, r_low, c_low), (high, r_high, c_high) = cells[0], cells[-1]
    amount = min(amount, int(high))
    out = [list(row) for row in rows]
    out[r_high][c_high] = round(high - amount, decimals)
    out[r_low][c_low] = round(low + amount, decimals)
    return out


def sent_file(ws, kind: str, owner: str, revision: int | None = None) -> Path:
    """The template generated for `owner` (its newest revision unless one is named)."""
    with ws.store() as store:
        records = [r for r in store.sent(kind) if r.owner == owner]
    if revision is not None:
        records = [r for r in records if r.revision == revision]
    return ws.root / max(records, key=lambda r: r.revision).path


TABLES = {
    # table -> columns that identify a row's content; ids and clock readings (received_at is when sheetplan
    # first saw the file) are left out on purpose; the time the file claims is content
    "submissions": "sha256, original_name, source_path, claimed_at, received_via, kind, owner, period, revision,"
                   " status, problems, archive_path",
    "submitted_values": "(SELECT sha256 FROM submissions s WHERE s.id = submission_id), block, row_key, col_key,"
                        " value",
    "submitted_texts": "(SELECT sha256 FROM submissions s WHERE s.id = submission_id), block, row_key, col_key,"
                       " text",
    "targets": "level, owner, period, metric, customer_group, value, source, version,"
               " (SELECT sha256 FROM submissions s WHERE s.id = submission_id)",
}


@pytest.fixture(scope="session")
def dump_store():
    """dump_store(ws) -> {table: sorted rows}: the store's content without row ids and timestamps."""

    def dump(ws) -> dict[str, list[tuple]]:
        db = sqlite3.connect(ws.root / ".sheetplan" / "plan.sqlite")
        try:
            return {table: sorted(db.execute(f"SELECT {columns} FROM {table}").fetchall(), key=repr)
                    for table, columns in TABLES.items()}
        finally:
            db.close()

    return dump
