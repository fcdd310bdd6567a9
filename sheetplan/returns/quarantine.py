"""Quarantine: workbooks mailed in by someone the [collect] policy does not allow to return them.

A template forwarded to the wrong person, or a look-alike from outside, must not become anyone's figures
by arriving. It is kept (quarantine/, listed in the store with the reason), not ingested, until an analyst
releases it; a released file is then ingested like any other, and the same bytes are never held again.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from sheetplan.problems import Problem
from sheetplan.workspace.folder import Workspace
from sheetplan.workspace.store import now_iso

FOLDER = "quarantine"
RELEASED = "released"  # inbox/released/: where a released file goes to be ingested


@dataclass(frozen=True)
class Held:
    id: int
    sha256: str
    original_name: str
    path: str  # relative to the workspace
    sender: str
    kind: str
    owner: str
    period: str
    revision: int
    reason: str
    quarantined_at: str
    released_at: str
    released_by: str


_COLUMNS = ", ".join(Held.__dataclass_fields__)


def sender_refusal(store, workspace: Workspace, sender: str, kind: str, owner: str, period: str, file: str,
                   sha256: str) -> Problem | None:
    """Why a collected workbook may not be ingested, or None. Files put into the inbox by hand have no
    sender: whoever put them there has the workspace."""
    policy = workspace.config.collect.senders
    if not sender or not owner or policy == "anyone":
        return None
    person = workspace.roster.get(owner)
    allowed = {person.email.lower()} if person and person.email else set()
    if policy == "owner-and-managers":
        allowed |= {m.email.lower() for m in workspace.roster.chain(owner) if m.email}
    if sender.lower() in allowed or store.db.execute(
            "SELECT 1 FROM quarantine WHERE sha256 = ? AND released_at != ''", (sha256,)).fetchone():
        return None
    whom = "its owner" if policy == "owner" else "its owner or one of their managers"
    return Problem("sender-not-allowed", f"{sender} sent the {kind} {period} workbook of {owner}, but only {whom} "
                   f"may ([collect] senders = \"{policy}\"); it waits in {FOLDER}/ until an analyst releases it "
                   "(sheetplan quarantine release)", file=file, field="from", value=sender)


def hold(store, workspace: Workspace, source: Path, sha256: str, name: str, sender: str, kind: str, owner: str,
         period: str, revision: int, reason: str) -> Path:
    """Copy the file to quarantine/, list it, then take it out of the inbox (so no later ingest takes it).
    Each step can be repeated: a run killed in between leaves a file that the next run holds again."""
    folder = workspace.folder(FOLDER)
    folder.mkdir(exist_ok=True)
    target = folder / f"{sha256[:12]}-{source.name}"
    if not target.exists():
        shutil.copy2(source, target)
    with store.transaction() as db:
        if not db.execute("SELECT 1 FROM quarantine WHERE sha256 = ?", (sha256,)).fetchone():
            db.execute("INSERT INTO quarantine (sha256, original_name, path, sender, kind, owner, period, revision,"
                       " reason, quarantined_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (sha256, name, os.path.relpath(target, workspace.root), sender, kind, owner, period,
                        revision, reason, now_iso()))
    source.unlink(missing_ok=True)
    return target


def held(workspace: Workspace, include_released: bool = False) -> list[Held]:
    """What waits in quarantine (and, with include_released, what was let through and by whom)."""
    with workspace.store() as store:
        query = f"SELECT {_COLUMNS} FROM quarantine" + ("" if include_released else " WHERE released_at = ''")
        return [Held(*row) for row in store.db.execute(query + " ORDER BY id")]


def release(workspace: Workspace, ids: list[int], by: str) -> list[Path]:
    """Mark the held files as released by `by` and move them to inbox/released/; returns their new paths,
    for ingest. An unknown or already released id is a KeyError naming it."""
    from sheetplan.xlsx.writer import write_atomic

    waiting = {h.id: h for h in held(workspace)}
    unknown = [i for i in ids if i not in waiting]
    if unknown:
        raise KeyError(", ".join(map(str, unknown)))
    target_dir = workspace.folder("inbox") / RELEASED
    target_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    with workspace.store() as store:
        for item in (waiting[i] for i in ids):
            source = workspace.root / item.path
            target = target_dir / source.name
            if not target.exists():
                write_atomic(target, source.read_bytes())
            with store.transaction() as db:
                db.execute("UPDATE quarantine SET released_at = ?, released_by = ? WHERE id = ?",
                           (now_iso(), by, item.id))
            source.unlink(missing_ok=True)
            paths.append(target)
    return paths
