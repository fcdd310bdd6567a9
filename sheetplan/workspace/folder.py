"""A planning workspace on disk: config, roster, history, folders, the private key and the plan store."""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from sheetplan.errors import WorkspaceBusy, WorkspaceError
from sheetplan.workspace.config import CONFIG_FILE, Config, load_config, parse_config
from sheetplan.workspace.roster import ROSTER_COLUMNS, Roster, load_history, load_roster
from sheetplan.workspace.store import Store

FOLDERS = ("outbox", "inbox", "archive", "reports", ".sheetplan")
PRIVATE = ".sheetplan"
STORE_FILE = "plan.sqlite"
ENV_VAR = "SHEETPLAN_WORKSPACE"

STARTER_CONFIG = """\
# sheetplan workspace settings. Every key is checked when a command runs; a mistake is reported
# with its key path and nothing is generated.

[company]
name = "My Company"
currency = "EUR"
language = "{lang}"        # en | zh

[fiscal]
year = {year}
start_month = 1            # month the fiscal year starts (1 = January)

[planning]
customer_groups = ["Key accounts", "Distributors", "Online"]
selling_roles = ["rep", "supervisor"]

[[metrics]]
key = "revenue"
label_en = "Revenue"
label_zh = "销售额"
unit = "EUR"
decimals = 2
higher_is_better = true
max_value = 100000000      # largest figure one cell may hold
weight = 0.6               # weight in the multi-metric score

[[metrics]]
key = "quantity"
label_en = "Units sold"
label_zh = "销售数量"
unit = "units"
decimals = 0
higher_is_better = true
max_value = 10000000
weight = 0.2

[[metrics]]
key = "new_customers"
label_en = "New customers"
label_zh = "新客户数"
unit = "customers"
decimals = 0
higher_is_better = true
max_value = 10000
weight = 0.2

[allocation]
method = "history"         # equal | history | seasonality | manual
seasonality = "history"    # "history", "flat" or 12 weights in fiscal-month order
growth = 0.05              # suggested target = prior-year actual x (1 + growth)
no_history = "average"     # share for people without history: average | minimum | zero
ramp = [0.25, 0.5, 0.75]   # share of a full month in a new hire's first months

[rollover]
policy = "next_month"      # none | next_month | spread
carry_credit = false

[flags]
behind_pace = 0.9
far_behind = 0.75
sharp_drop = 0.3
plan_tolerance = 0.0

[protection]
password = ""              # empty: a random password is kept in .sheetplan/password

[collect]
senders = "owner-and-managers"  # who may mail a template back: owner | owner-and-managers | anyone

[replan]
policy = "reallocate"      # when a team's people no longer add up to it: reallocate | absorb
"""


@dataclass
class Workspace:
    root: Path
    config: Config
    roster: Roster
    _history: object = field(default=None, repr=False)

    @property
    def private(self) -> Path:
        return self.root / PRIVATE

    def folder(self, name: str) -> Path:
        return self.root / name

    @cached_property
    def key(self) -> bytes:
        return bytes.fromhex((self.private / "key").read_text().strip())

    @cached_property
    def workspace_id(self) -> str:
        return (self.private / "workspace_id").read_text().strip()

    @property
    def password(self) -> str:
        return self.config.password or (self.private / "password").read_text().strip()

    def store(self) -> Store:
        return Store(self.private / STORE_FILE)

    def history(self):
        """Prior-year actuals as a tidy frame (month, person_id, customer_group, metric, value)."""
        if self._history is None:
            path = next((p for p in (self.root / "history.xlsx", self.root / "history.csv") if p.exists()), None)
            self._history, _warnings = load_history(path, self.config, self.roster)
        return self._history


def resolve_root(root: str | Path | None) -> Path:
    return Path(root or os.environ.get(ENV_VAR) or ".").resolve()


def open_workspace(root: str | Path | None = None) -> Workspace:
    path = resolve_root(root)
    if not (path / CONFIG_FILE).exists():
        raise WorkspaceError(f"{path} is not a sheetplan workspace (no {CONFIG_FILE}); "
                             "run 'sheetplan init DIR' or pass -w DIR")
    if not (path / PRIVATE / "key").exists():
        raise WorkspaceError(f"{path / PRIVATE} is missing its key: the workspace is incomplete")
    config = load_config(path / CONFIG_FILE)
    roster_path = next((p for p in (path / "roster.xlsx", path / "roster.csv") if p.exists()), path / "roster.xlsx")
    roster = load_roster(roster_path)
    return Workspace(path, config, roster)


def _write_private(root: Path) -> None:
    private = root / PRIVATE
    private.mkdir(parents=True, exist_ok=True)
    os.chmod(private, 0o700)
    for name, value in (("key", secrets.token_hex(32)), ("workspace_id", str(uuid.uuid4())),
                        ("password", secrets.token_urlsafe(12))):
        target = private / name
        if not target.exists():
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(value + "\n")


def write_roster_xlsx(path: Path, rows: list[dict]) -> None:
    """The roster as a friendly workbook: header, widths, a role list and an autofilter."""
    import xlsxwriter

    from sheetplan.xlsx.writer import WORKBOOK_OPTIONS

    book = xlsxwriter.Workbook(str(path), {k: v for k, v in WORKBOOK_OPTIONS.items() if k != "in_memory"})
    sheet = book.add_worksheet("roster")
    bold = book.add_format({"bold": True, "bg_color": "#D9E1F2", "border": 1})
    for col, name in enumerate(ROSTER_COLUMNS):
        sheet.write_string(0, col, name, bold)
        sheet.set_column(col, col, 26 if name in ("name", "email", "team") else 13)
    for r, row in enumerate(rows, start=1):
        for col, name in enumerate(ROSTER_COLUMNS):
            value = row.get(name, "")
            if isinstance(value, bool):
                sheet.write_boolean(r, col, value)
            elif value is None or value == "" or (isinstance(value, float) and value != value):
                continue
            else:
                sheet.write_string(r, col, str(value))
    last = max(len(rows), 200)
    sheet.data_validation(1, ROSTER_COLUMNS.index("role"), last, ROSTER_COLUMNS.index("role"),
                          {"validate": "list", "source": ["rep", "supervisor", "manager", "vp", "gm"]})
    sheet.autofilter(0, 0, max(len(rows), 1), len(ROSTER_COLUMNS) - 1)
    sheet.freeze_panes(1, 1)
    book.close()


def write_history_xlsx(path: Path, frame) -> None:
    """History can be tens of thousands of rows: the header through xlsxwriter, the rows streamed in."""
    import xlsxwriter

    from sheetplan.xlsx.fastsheet import replace_sheet_rows

    book = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False})
    sheet = book.add_worksheet("history")
    bold = book.add_format({"bold": True})
    columns = list(frame.columns)
    for col, name in enumerate(columns):
        sheet.write_string(0, col, name, bold)
    sheet.freeze_panes(1, 0)
    book.close()
    kinds = ["n" if str(frame[c].dtype).startswith(("float", "int")) else "s" for c in columns]
    replace_sheet_rows(str(path), 1, frame, kinds, [None] * len(columns))


def create_workspace(root: str | Path, config_text: str, roster_rows: list[dict], history=None) -> Path:
    """Create the folders, config, roster (and history, when given) of a new workspace.

    Refuses to touch a folder that already holds a workspace: nothing is overwritten. The config is parsed
    before anything is written, so a bad one leaves no folder behind.
    """
    path = Path(root).resolve()
    for existing in (CONFIG_FILE, "roster.xlsx", "roster.csv", "history.xlsx", "history.csv"):
        if (path / existing).exists():
            raise WorkspaceError(f"{path / existing} already exists; refusing to overwrite a workspace")
    parse_config(config_text)
    path.mkdir(parents=True, exist_ok=True)
    for folder in FOLDERS:
        (path / folder).mkdir(exist_ok=True)
    _write_private(path)
    (path / CONFIG_FILE).write_text(config_text, encoding="utf-8")
    write_roster_xlsx(path / "roster.xlsx", roster_rows)
    if history is not None:
        write_history_xlsx(path / "history.xlsx", history)
    return path


@contextmanager
def undo_on_failure(root: str | Path) -> Iterator[Path]:
    """Whatever fails inside removes what was created in `root` meanwhile (the folder itself, if it was new),
    so a failed init or demo never leaves a half-made workspace behind; files that were there stay."""
    path = Path(root).resolve()
    existed = path.exists()
    before = set(path.iterdir()) if existed else set()
    try:
        yield path
    except BaseException:
        if not existed:
            shutil.rmtree(path, ignore_errors=True)
        elif path.is_dir():
            for entry in set(path.iterdir()) - before:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
        raise


LOCK_FILE = "lock"
LOCK_WAIT = 10.0  # seconds a second command waits for the first before it gives up


@contextmanager
def workspace_lock(root: str | Path, command: str, wait: float | None = None) -> Iterator[None]:
    """Hold the workspace's write lock while a command writes (two ingests or two generates at once would
    race on the store and the outbox). A second command waits up to `wait` seconds, then stops with who
    holds the lock. The operating system releases the lock when its holder dies, even by kill -9."""
    if wait is None:
        wait = float(os.environ.get("SHEETPLAN_LOCK_WAIT", LOCK_WAIT))
    path = Path(root).resolve() / PRIVATE / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WorkspaceBusy(_busy_message(path, wait)) from None
                time.sleep(0.05)
        remove_stale_temporaries(path.parent.parent)
        holder = {"command": command, "pid": os.getpid(),
                  "since": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode("utf-8"), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _busy_message(path: Path, wait: float) -> str:
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
        who = f"'{holder['command']}' (pid {holder['pid']}, since {holder['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        who = "another sheetplan command"
    return (f"the workspace {path.parent.parent} is busy: {who} is writing to it; waited {wait:.0f} s. "
            "Run this again when it has finished.")


STALE_AFTER = 60.0  # seconds: a temporary file this old belongs to no running write


def remove_stale_temporaries(root: Path, older_than: float = STALE_AFTER) -> int:
    """Remove the hidden .tmp-* files a killed run left in outbox/, reports/, archive/ and inbox/ (every
    write goes through a temporary beside its target and a rename); returns how many were removed."""
    limit = time.time() - older_than
    removed = 0
    for folder in ("outbox", "reports", "archive", "inbox"):
        base = root / folder
        if not base.is_dir():
            continue
        for tmp in base.rglob(".tmp-*"):
            try:
                if tmp.is_file() and not tmp.is_symlink() and tmp.stat().st_mtime < limit:
                    tmp.unlink()
                    removed += 1
            except OSError:
                continue  # gone meanwhile, or not ours to remove
    return removed
