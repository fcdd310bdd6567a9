"""The team (and person) workbooks of a consolidation, written by worker processes beside the summary."""

from __future__ import annotations

import multiprocessing
import os
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sheetplan.reports.consolidate import Consolidation
from sheetplan.reports.summary import BookSettings, book_settings, write_team_book
from sheetplan.workers import die_with_parent
from sheetplan.xlsx.layout import safe_part


@dataclass(frozen=True)
class TeamJob:
    team: str
    members: pd.DataFrame
    facts: pd.DataFrame
    flags: pd.DataFrame
    path: Path


def team_jobs(c: Consolidation, folder: Path) -> list[TeamJob]:
    """One job per team with its slices, cut in one pass over each table (a filter per team would read the
    whole fact table once per team: quadratic in the head count)."""
    facts = c.facts[c.facts["level"] != "company"]
    by_team = {name: facts.iloc[rows] for name, rows in facts.groupby("team", sort=False).indices.items()}
    people = {name: c.people.iloc[rows] for name, rows in c.people.groupby("team", sort=False).indices.items()}
    flags = {name: c.flags.iloc[rows] for name, rows in c.flags.groupby("team", sort=False).indices.items()}
    empty_facts, empty_flags = facts.iloc[:0], c.flags.iloc[:0]
    return [TeamJob(team, people[team], by_team.get(team, empty_facts), flags.get(team, empty_flags),
                    folder / f"team-{safe_part(team)}-{c.month}.xlsx") for team in sorted(people)]


def _write_jobs(settings: BookSettings, jobs: list[TeamJob], people_folder: Path | None) -> list:
    return [write_team_book(settings, j.team, j.members, j.facts, j.flags, j.path, people_folder) for j in jobs]


def _serve(conn, parent: int | None) -> None:
    """A worker: wait for its share of the books, write them, send back the paths (or the error), end."""
    die_with_parent(parent)
    try:
        task = conn.recv()
    except EOFError:  # the command ended (or failed) before it had books to write
        return
    if task is None:
        return
    settings, jobs, people_folder = task
    try:
        conn.send(("ok", _write_jobs(settings, jobs, people_folder)))
    except BaseException as exc:  # noqa: BLE001 - the parent re-raises it; a worker must always answer
        try:
            conn.send(("error", exc))
        except Exception:  # an exception that cannot be pickled travels as its traceback
            conn.send(("error", RuntimeError(traceback.format_exc())))
    finally:
        conn.close()


class TeamBooks:
    """Worker processes that write the team (and person) workbooks while the caller writes the summary.

    Start it before the fact table is built: a worker forked then is small, and is sent only its teams'
    slices (`submit`); `result()` waits for them. With one worker (or one team) the books are written in the
    caller's process by `result()`. Fork when this process runs no other thread (a forked copy of a held
    lock would never be released), else forkserver; either way every worker asks the kernel to end it when
    the command dies, even one killed with kill -9."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = min(2, os.cpu_count() or 1) if workers is None else workers
        self.running: list[tuple] = []
        self.pending: tuple | None = None  # (settings, jobs, people folder) when written here
        if self.workers <= 1:
            return
        methods = multiprocessing.get_all_start_methods()
        method = "fork" if threading.active_count() == 1 and "fork" in methods else "forkserver"
        ctx = multiprocessing.get_context(method)
        parent = None if method == "forkserver" else os.getpid()
        try:
            for _share in range(self.workers):
                mine, theirs = ctx.Pipe()
                process = ctx.Process(target=_serve, args=(theirs, parent), daemon=True)
                process.start()
                theirs.close()
                self.running.append((process, mine))
        except BaseException:
            self.stop()
            raise

    def submit(self, workspace, c: Consolidation, folder: Path, people: bool = False) -> None:
        """Hand out the books of consolidation `c`: team workbooks in `folder`, person workbooks in its people/."""
        settings, jobs = book_settings(workspace, c), team_jobs(c, folder)
        people_folder = folder / "people" if people else None
        if not self.running or len(jobs) < 2:
            self.pending = (settings, jobs, people_folder)
            for _process, conn in self.running:
                conn.send(None)
            self.stop()
            return
        self.count = len(jobs)
        for share, (_process, conn) in enumerate(self.running):
            conn.send((settings, jobs[share::len(self.running)], people_folder))

    def result(self) -> tuple[list[Path], list[Path]]:
        """(team files in team order, person files), once every worker has finished."""
        if self.pending is not None:
            written = _write_jobs(*self.pending)
        else:
            shares = []
            try:
                for process, conn in self.running:
                    try:
                        status, value = conn.recv()
                    except EOFError:
                        raise RuntimeError(f"a team-workbook worker ended without answering (exit code "
                                           f"{process.exitcode})") from None
                    if status == "error":
                        raise value
                    shares.append(value)
                    process.join()
            finally:
                self.stop()
            written = [None] * self.count
            for share, books in enumerate(shares):
                written[share::len(shares)] = books
        team_files = [team for team, _people in written]
        return team_files, [path for _team, people in written for path in people]

    def stop(self) -> None:
        for process, conn in self.running:
            conn.close()
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join()
        self.running = []
