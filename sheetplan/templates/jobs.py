"""Generate one locked workbook per recipient: build, render and write in parallel, then record what was sent."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sheetplan.templates.builders import (
    Context,
    MonthPlan,
    PersonPlan,
    SplitPlan,
    build_month,
    build_person,
    build_split,
)
from sheetplan.templates.stamp import Stamper
from sheetplan.workers import die_with_parent
from sheetplan.workspace.store import SentRecord
from sheetplan.xlsx.layout import Template
from sheetplan.xlsx.writer import write_atomic

# Below this many workbooks a process pool costs more to start than it saves.
POOL_THRESHOLD = 16


@dataclass(frozen=True)
class Job:
    view: SplitPlan | PersonPlan | MonthPlan
    revision: int
    path: str


@dataclass
class GenerateResult:
    kind: str
    period: str
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # things the user must know before sending (history gaps)
    seconds: float = 0.0
    deadline: str = ""  # the round's return deadline, '' when none is set or derived

    @property
    def count(self) -> int:
        return len(self.files)


def build(view, ctx: Context, revision: int) -> Template:
    from sheetplan.templates.approval_book import ApprovalPlan, build_approval

    if isinstance(view, ApprovalPlan):
        return build_approval(view, ctx, revision)
    if type(view).__name__ == "ReforecastPlan":
        from sheetplan.templates.reforecast_book import build_reforecast

        return build_reforecast(view, ctx, revision)
    if isinstance(view, SplitPlan):
        return build_split(view, ctx, revision)
    if isinstance(view, PersonPlan):
        return build_person(view, ctx, revision)
    return build_month(view, ctx, revision)


def sent_payload(template: Template) -> str:
    """What ingest needs later: the signed canonical form and the meaning of every input block."""
    blocks = [{**asdict(b), "area": b.area.plain} for b in template.blocks]
    return json.dumps({"canonical": template.canonical(), "blocks": blocks}, ensure_ascii=False,
                      separators=(",", ":"))


def _run(job: Job, ctx: Context, stamper: Stamper) -> tuple[str, str, str]:
    template = build(job.view, ctx, job.revision)
    write_atomic(Path(job.path), stamper.render(template))
    return job.path, template.signature, sent_payload(template)


# Each pool process keeps its own context and skeleton cache for the whole batch.
_WORKER: dict = {}


def _init_worker(ctx: Context, password: str, parent: int) -> None:
    die_with_parent(parent)
    _WORKER["ctx"], _WORKER["stamper"] = ctx, Stamper(password)


def _run_in_worker(job: Job) -> tuple[str, str, str]:
    return _run(job, _WORKER["ctx"], _WORKER["stamper"])


def run_jobs(jobs: Iterable[Job], ctx: Context, password: str, workers: int | None = None,
             progress: Callable[[int], None] | None = None,
             count: int | None = None) -> Iterable[tuple[Job, tuple[str, str, str]]]:
    """Yield (job, (path, signature, payload)) in job order; uses every core for big batches.

    Jobs are taken from the iterable only a few at a time, so a batch of thousands holds only a
    window of views and results in memory.
    """
    workers = workers or min(os.cpu_count() or 1, 8)
    if (count is not None and count < POOL_THRESHOLD) or workers == 1:
        stamper = Stamper(password)
        for job in jobs:
            yield job, _run(job, ctx, stamper)
            if progress:
                progress(1)
        return
    import multiprocessing
    from collections import deque

    context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    window = workers * 16
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                             initargs=(ctx, password, os.getpid())) as pool:
        pending: deque = deque()
        for job in jobs:
            pending.append((job, pool.submit(_run_in_worker, job)))
            if len(pending) >= window:
                done, future = pending.popleft()
                yield done, future.result()
                if progress:
                    progress(1)
        while pending:
            done, future = pending.popleft()
            yield done, future.result()
            if progress:
                progress(1)


def sent_records(kind: str, results: list[tuple[Job, tuple[str, str, str]]], root: Path,
                 generated_at: str) -> list[SentRecord]:
    records = []
    for job, (path, signature, payload) in results:
        relative = os.path.relpath(path, root)
        records.append(SentRecord(kind, job.view.owner, _period(job.view), job.revision, relative, signature,
                                  payload, generated_at))
    return records


def _period(view) -> str:
    return view.month if isinstance(view, MonthPlan) else view.period
