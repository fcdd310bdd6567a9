"""Ingest returned workbooks: safe read, identify, tamper check, validate, archive and record each file."""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sheetplan import problems as problems_module
from sheetplan.plan import approvals
from sheetplan.problems import ERROR, WARNING, Problem, Report
from sheetplan.returns import arrival, ledger, quarantine
from sheetplan.returns.validate import Checked, check_inputs, check_tampering, check_totals, parse_payload, read_meta
from sheetplan.workspace.folder import Workspace
from sheetplan.workspace.store import now_iso

# Lock and temporary files that Excel and LibreOffice leave beside open workbooks.
_IGNORED_PREFIXES = ("~$", ".~lock.", ".")
PROCESSED = "processed"


@dataclass
class FileOutcome:
    path: str
    name: str
    status: str  # accepted | rejected | duplicate | stale | late | quarantined
    kind: str = ""
    owner: str = ""
    period: str = ""
    revision: int = 0
    lang: str = "en"
    problems: list[Problem] = field(default_factory=list)
    submission_id: int | None = None
    superseded: int | None = None
    sha256: str = ""

    @property
    def errors(self) -> list[Problem]:
        return problems_module.errors(self.problems)

    @property
    def warnings(self) -> list[Problem]:
        return problems_module.warnings(self.problems)


@dataclass
class IngestReport:
    outcomes: list[FileOutcome] = field(default_factory=list)
    dry_run: bool = False
    report_path: Path | None = None
    feedback: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    approvals: approvals.Effects = field(default_factory=approvals.Effects)
    returned: list[Path] = field(default_factory=list)  # templates regenerated for rejected items

    @property
    def counts(self) -> Counter:
        counts = Counter(o.status for o in self.outcomes)
        counts["superseded"] = sum(1 for o in self.outcomes if o.superseded is not None)
        counts["warnings"] = sum(len(o.warnings) for o in self.outcomes)
        return counts

    @property
    def problems(self) -> Report:
        report = Report()
        for outcome in self.outcomes:
            report.extend(outcome.problems)
        return report

    @property
    def exit_code(self) -> int:
        """1 when a file was not used: rejected, quarantined, or late for a closed month."""
        return 1 if any(o.status in ("rejected", "quarantined", "late") for o in self.outcomes) else 0

    FILE_COLUMNS = ("file", "status", "kind", "owner", "period", "revision", "errors", "warnings",
                    "first_problem", "path")

    def file_rows(self) -> list[tuple]:
        """One row per file (FILE_COLUMNS); plain tuples so the report needs no pandas."""
        return [(o.name, o.status, o.kind, o.owner, o.period, o.revision, len(o.errors), len(o.warnings),
                 o.errors[0].describe() if o.errors else "", o.path) for o in self.outcomes]

    def to_frame(self):
        """One row per file, for notebooks."""
        import pandas as pd

        return pd.DataFrame(self.file_rows(), columns=list(self.FILE_COLUMNS))


def collect_paths(paths: Iterable[Path], skip: Path | None = None) -> tuple[list[Path], list[Path]]:
    """(files, refused) under the given paths (folders recursively), in name order; ingest then orders the
    files by arrival. A file found in a folder through a link that leads outside that folder is refused:
    a link in the inbox must not make ingest read (and archive) whatever it points at. A file named
    explicitly is taken as named."""
    found: dict[Path, None] = {}
    refused: list[Path] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            folder = path.resolve()
            for child in sorted(path.rglob("*")):
                if skip and skip in child.parents:
                    continue
                if child.name.startswith(_IGNORED_PREFIXES) or not child.is_file():
                    continue
                resolved = child.resolve()
                if not resolved.is_relative_to(folder):
                    refused.append(child)
                    continue
                found.setdefault(resolved, None)
        elif path.is_file():
            found.setdefault(path.resolve(), None)
        else:
            raise FileNotFoundError(path)
    return sorted(found, key=str), refused


def archive_copy(workspace: Workspace, source: Path, sha256: str) -> str:
    """Content-addressed copy: the same bytes always land at the same path, so a rerun is harmless."""
    suffix = "".join(c for c in source.suffix.lower()[:6] if c.isalnum() or c == ".") or ".bin"
    target = workspace.folder("archive") / sha256[:2] / f"{sha256}{suffix}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".tmp-{os.getpid()}-{target.name}")
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    return os.path.relpath(target, workspace.root)


def check_file(workspace: Workspace, result, sent_lookup: Callable) -> tuple[FileOutcome, Checked]:
    """Everything that decides a file's fate, without touching the store."""
    outcome = FileOutcome(result.path, result.name, "rejected", sha256=result.sha256,
                          problems=list(result.problems))
    checked = Checked()
    if result.workbook is None:
        return outcome, checked
    identity, problems = read_meta(result.workbook, result.name)
    outcome.problems += problems
    if identity is None:
        return outcome, checked
    outcome.kind, outcome.owner, outcome.period = identity.kind, identity.owner, identity.period
    outcome.revision, outcome.lang = identity.revision, identity.lang
    where = {"file": result.name, "sheet": "_meta"}
    if identity.workspace_id != workspace.workspace_id:
        outcome.problems.append(Problem("other-workspace", "this template belongs to another planning workspace",
                                        cell=identity.meta_cells.get("workspace_id", ""), **where))
        return outcome, checked
    if identity.owner not in workspace.roster:
        outcome.problems.append(Problem("unknown-owner", f"owner {identity.owner!r} is not in the roster",
                                        cell=identity.meta_cells.get("owner", ""), value=identity.owner,
                                        params={"owner": str(identity.owner)}, **where))
        return outcome, checked
    sent = sent_lookup(identity.kind, identity.owner, identity.period, identity.revision)
    if sent is None or sent.signature != identity.signature:
        # The signature still names the template this file really was; if that differs from what
        # _meta claims now, _meta was edited: say which field, not which figures differ.
        original = sent_lookup(None, None, None, None, signature=identity.signature)
        if original is not None and (original.kind, original.owner, original.period, original.revision) != (
                identity.kind, identity.owner, identity.period, identity.revision):
            outcome.problems += _identity_changes(original, identity, where)
            return outcome, checked
    if sent is None:
        outcome.problems.append(Problem(
            "never-generated", f"no {identity.kind} template for {identity.owner}, period {identity.period}, "
            f"revision {identity.revision} was ever generated in this workspace", **where))
        return outcome, checked
    tampering = check_tampering(result.workbook, identity, sent.signed, workspace.key, result.name)
    outcome.problems += tampering
    if any(p.is_error for p in tampering):
        return outcome, checked

    blocks = parse_payload(sent.signed)["blocks"]
    metrics = {m.key: m for m in workspace.config.metrics}
    checked = check_inputs(result.workbook, blocks, metrics, result.name, identity.lang)
    outcome.problems += checked.problems
    outcome.problems += check_totals(identity.kind, sent.signed, checked, metrics,
                                     workspace.config.flags.plan_tolerance, result.name)
    return outcome, checked


def _identity_changes(original, identity, where: dict) -> list[Problem]:
    problems = []
    claimed = {"kind": identity.kind, "owner": identity.owner, "period": identity.period,
               "revision": str(identity.revision)}
    for field_name, was in (("kind", original.kind), ("owner", original.owner), ("period", original.period),
                            ("revision", str(original.revision))):
        now = claimed[field_name]
        if now == was:
            continue
        code = "owner-changed" if field_name == "owner" else "meta-changed"
        message = (f"this template was generated for {was}, but its _meta now says {now}" if field_name == "owner"
                   else f"_meta {field_name} was {was!r} when sent, now {now!r}")
        problems.append(Problem(code, message, cell=identity.meta_cells.get(field_name, ""), field=field_name,
                                value=now, **where))
    return problems


class SentLookup:
    """What was sent, looked up by template key or by signature, with a cache per process."""

    def __init__(self, store) -> None:
        self.store = store
        self.cache: dict = {}

    def __call__(self, kind, owner, period, revision, signature=None):
        if signature is not None:
            row = self.store.db.execute("SELECT kind, owner, period, revision FROM sent WHERE signature = ?",
                                        (signature,)).fetchone()
            return self.store.find_sent(*row) if row else None
        key = (kind, owner, period, revision)
        if key not in self.cache:
            self.cache[key] = self.store.find_sent(kind, owner, period, revision)
        return self.cache[key]


@dataclass
class FileCheck:
    """A file's check as a worker sends it back: the read result without its cells."""

    result: object
    outcome: FileOutcome
    checked: Checked
    archive_path: str = ""  # set when the worker already archived the bytes


_WORKER_LOOKUP: dict = {}


def check_in_worker(result, context: tuple[Workspace, bool], lookup: SentLookup | None = None) -> FileCheck:
    """Runs in a reader worker, so checking (and archiving) is spread over the cores; never raises.

    `context` is (workspace, archive): archive is False for a dry run.
    """
    workspace, archive = context
    if lookup is None:
        if "lookup" not in _WORKER_LOOKUP:
            from sheetplan.workspace.store import Store

            _WORKER_LOOKUP["lookup"] = SentLookup(Store.reader(workspace.private / "plan.sqlite"))
        lookup = _WORKER_LOOKUP["lookup"]
    try:
        outcome, checked = check_file(workspace, result, lookup)
    except Exception as exc:  # noqa: BLE001 - a bug must cost one file, not the batch
        outcome = FileOutcome(result.path, result.name, "rejected", sha256=result.sha256, problems=[
            Problem("check-failed", f"checking this file failed: {type(exc).__name__}: {exc}", file=result.name)])
        checked = Checked()
    lean = dataclasses.replace(result, workbook=None)  # the cells stay in the worker
    archived = ""
    if archive and result.sha256:
        try:
            archived = archive_copy(workspace, Path(result.path), result.sha256)
        except OSError:
            archived = ""  # the parent tries again and reports a real failure
    return FileCheck(lean, outcome, checked, archived)


def ingest(workspace: Workspace, paths: Iterable[Path] | None = None, dry_run: bool = False, move: bool = False,
           progress: Callable[[int], None] | None = None, start: Callable[[int], None] | None = None,
           workers: int = 2, write_report: bool = True,
           send_back: Callable[[Workspace, list[approvals.Item]], list[Path]] | None = None) -> IngestReport:
    """Read, check and record every returned workbook; one bad file never stops the batch.

    `send_back` writes the templates of items an approver rejected in this batch (sheetplan.api.ingest hands
    in the template writers; this stage comes before them in the cycle, so it does not import them).
    """
    from sheetplan.returns.reader import read_many

    began = time.perf_counter()
    inbox = workspace.folder("inbox")
    files, refused = collect_paths(list(paths) if paths else [inbox], skip=inbox / PROCESSED)
    report = IngestReport(dry_run=dry_run)
    for link in refused:  # never opened, so never recorded: there is nothing of the sender's to keep
        report.outcomes.append(FileOutcome(str(link), link.name, "rejected", problems=[Problem(
            "link-outside-folder", f"{link} is a link to {link.resolve()}, outside the folder being ingested; "
            "copy the file itself into the inbox", file=link.name)]))
    if start:
        start(len(files))
    ingested_at = now_iso()
    seen: dict[str, int] = {}
    planned: dict = {}  # dry run: what this batch would have accepted so far, per template
    lean = dataclasses.replace(workspace, _history=None)  # what the workers need, without the history frame
    with workspace.store() as store:
        arrived = arrival.arrivals(store, workspace.root, files, ingested_at)
        files = arrival.arrival_order(files, arrived, ingested_at)
        parent_lookup = SentLookup(store)
        task = (check_in_worker, (lean, not dry_run))
        for item in read_many([str(f) for f in files], workers=workers, task=task):
            if not isinstance(item, FileCheck):  # the worker died on this file: check what we know here
                item = check_in_worker(item, (workspace, not dry_run), parent_lookup)
            result, outcome, checked = item.result, item.outcome, item.checked
            source = Path(result.path)
            known = ledger.find_by_hash(store, result.sha256) if result.sha256 else None
            if known and ledger.late_and_open(store, known[0]):
                known = None  # late for a month reopened since: this time it is decided like a new file
            if known or result.sha256 in seen:
                earlier = known[0] if known else seen[result.sha256]
                again = _seen_before(store, workspace, result, earlier)
                report.outcomes.append(again)
                if move and not dry_run and again.status == "duplicate" and _was_accepted(store, earlier):
                    _move_processed(source, inbox)  # accepted in an earlier run, left in the inbox since
                if progress:
                    progress(1)
                continue
            came = arrived.get(source) or arrival.Arrival(ingested_at, arrival.FIRST_SEEN, "")
            sent = parent_lookup(outcome.kind, outcome.owner, outcome.period, outcome.revision) \
                if outcome.owner else None
            came = arrival.checked_against_template(came, sent.generated_at if sent else "", ingested_at)
            # Only a message's Date: is worth a word: a file's own time is reset by every copy and unzip.
            doubt = came.claim_doubt(sent.generated_at if sent else "", ingested_at) if came.sender else ""
            if doubt:
                outcome.problems.append(_claim_problem(result.name, came, doubt))
            refusal = quarantine.sender_refusal(store, workspace, came.sender, outcome.kind, outcome.owner,
                                                outcome.period, result.name, result.sha256)
            if refusal is not None:
                outcome.problems = [refusal]  # its other problems are for whoever may send it
                if not dry_run:
                    quarantine.hold(store, workspace, source, result.sha256, result.name, came.sender, outcome.kind,
                                    outcome.owner, outcome.period, outcome.revision, refusal.message)
                outcome.status = "quarantined"
                report.outcomes.append(outcome)
                if progress:
                    progress(1)
                continue
            has_errors = any(p.severity == ERROR for p in outcome.problems)
            usable: list = []
            if not has_errors and outcome.kind in ("month", "approval"):
                found, usable = _approval_checks(store, workspace, parent_lookup, outcome, checked)
                outcome.problems += found
                has_errors = any(p.severity == ERROR for p in outcome.problems)
            if not has_errors:
                outcome.status = "accepted"
                if dry_run and result.sha256:
                    outcome.status, outcome.superseded = ledger.preview(
                        store, outcome.kind, outcome.owner, outcome.period, outcome.revision,
                        came.received_at, planned)
            if not dry_run and result.sha256:
                submission = ledger.Submission(
                    result.sha256, result.name, str(source), came.received_at, ingested_at, outcome.kind,
                    outcome.owner, outcome.period, outcome.revision,
                    item.archive_path or archive_copy(workspace, source, result.sha256), came.claimed_at, came.via)
                outcome.submission_id, status, outcome.superseded, effects = ledger.record(
                    store, submission, outcome.problems, checked.numbers, checked.texts,
                    _on_accept(store, workspace, outcome, usable, checked.numbers))
                if effects is not None:
                    report.approvals.extend(effects)
                outcome.status = "accepted" if status == ledger.ACCEPTED_STATUS else status
                if move and outcome.status == "accepted":
                    _move_processed(source, inbox)
            if result.sha256:
                seen[result.sha256] = outcome.submission_id or 0
            report.outcomes.append(outcome)
            if progress:
                progress(1)
        stale = store.get_meta("suggestions_stale") == "1"
    if stale and not dry_run:
        from sheetplan.plan.refresh import refresh_plan

        refresh_plan(workspace)
        with workspace.store() as store:
            store.set_meta("suggestions_stale", "0")
    if report.approvals.returned and not dry_run and send_back is not None:
        report.returned = send_back(workspace, report.approvals.returned)
    if write_report:
        from sheetplan.returns.feedback import write_feedback_copies, write_ingest_report

        if not dry_run:
            report.feedback = write_feedback_copies(workspace, report)
            owed = _owed_feedback(workspace, report)
            if owed:  # rejected by a run that died before its feedback: made now, from the archived copy
                report.feedback += write_feedback_copies(workspace, IngestReport(outcomes=owed))
        report.report_path = write_ingest_report(workspace, report)
    report.seconds = time.perf_counter() - began
    return report


def _seen_before(store, workspace: Workspace, result, submission_id: int) -> FileOutcome:
    """Bytes already in the ledger. A file rejected before is rejected again, with its problems, so the
    sender and the analyst hear it again (and a run that died before writing its feedback is made up for);
    anything else is a plain duplicate that changes nothing."""
    again = ledger.rejected_again(store, submission_id)
    if again is None:  # of the earlier copy's round, so the report is named by it
        row = store.db.execute("SELECT kind, owner, period, revision FROM submissions WHERE id = ?",
                               (submission_id,)).fetchone() or ("", "", "", 0)
        return FileOutcome(result.path, result.name, "duplicate", *row, sha256=result.sha256,
                           submission_id=submission_id)
    problems = [p if p.file == result.name else dataclasses.replace(p, file=result.name) for p in again["problems"]]
    return FileOutcome(result.path, result.name, "rejected", again["kind"], again["owner"], again["period"],
                       again["revision"], workspace.config.language, problems=problems, submission_id=submission_id,
                       sha256=result.sha256)


def _owed_feedback(workspace: Workspace, report: IngestReport) -> list[FileOutcome]:
    """Rejected submissions still standing (no later copy of their template accepted) whose feedback copy is
    not on disk: a run killed after recording them never wrote it, and mail would have nothing to send."""
    from sheetplan.returns.feedback import feedback_path

    done = {o.submission_id for o in report.outcomes}
    owed = []
    with workspace.store() as store:
        rows = store.db.execute("SELECT id, original_name, archive_path FROM submissions WHERE status = 'rejected'"
                                " AND kind != '' ORDER BY id").fetchall()
        for submission_id, name, archive in rows:
            if submission_id in done or feedback_path(workspace, name).exists():
                continue
            again = ledger.rejected_again(store, submission_id)
            if again is None or not (workspace.root / archive).is_file():
                continue
            owed.append(FileOutcome(str(workspace.root / archive), name, "rejected", again["kind"], again["owner"],
                                    again["period"], again["revision"], workspace.config.language,
                                    problems=again["problems"], submission_id=submission_id))
    return owed


def _claim_problem(name: str, came: arrival.Arrival, doubt: str) -> Problem:
    why = "is in the future" if doubt == "future" else "is before the template was generated"
    return Problem("claimed-time-untrusted", f"the file claims the time {came.claimed_at}, which {why}; "
                   f"it counts as received {came.received_at} ({came.via})", severity=WARNING, file=name,
                   field="date", value=came.claimed_at,
                   params={"claimed": came.claimed_at, "received": came.received_at})


def _approval_checks(store, workspace: Workspace, lookup: SentLookup, outcome: FileOutcome,
                     checked: Checked) -> tuple[list[Problem], list]:
    """What the plan store must say about a valid file: revision requests that fit the plan, and
    decisions that this approver may take on items still waiting for them."""
    if outcome.kind == "month" and not any(block in (approvals.REVISION_BLOCK, approvals.REVISION_MONTHS)
                                           for block, *_ in checked.numbers):
        return [], []  # most month reports ask for no revision
    sent = lookup(outcome.kind, outcome.owner, outcome.period, outcome.revision)
    blocks = parse_payload(sent.signed)["blocks"] if sent else []
    if outcome.kind == "month":
        return approvals.check_revision(store.db, workspace.config, outcome.owner, outcome.period, checked.numbers,
                                        blocks, outcome.name), []
    decisions = approvals.read_decisions(checked.texts, blocks)
    return approvals.check_decisions(store.db, workspace.roster, outcome.owner, decisions, outcome.name)


def _on_accept(store, workspace: Workspace, outcome: FileOutcome, usable: list, numbers: list):
    """Runs inside the file's transaction once the ledger accepts it."""
    def apply(db, submission_id: int):
        if outcome.kind == "approval":
            return approvals.apply_decisions(db, store, workspace, outcome.owner, usable, submission_id)
        return approvals.on_accepted(db, store, workspace, outcome.kind, outcome.owner, outcome.period,
                                     submission_id, numbers)
    return apply


def _was_accepted(store, submission_id: int) -> bool:
    """The submission counted once (it may have been replaced by a later revision since)."""
    row = store.db.execute("SELECT status FROM submissions WHERE id = ?", (submission_id,)).fetchone()
    return bool(row) and row[0] in ("accepted", "superseded")


def _move_processed(source: Path, inbox: Path) -> None:
    """--move: accepted files leave the inbox for inbox/processed/, never overwriting another file."""
    try:
        source.relative_to(inbox)
    except ValueError:
        return  # only files that are in the inbox are moved
    target_dir = inbox / PROCESSED
    target_dir.mkdir(exist_ok=True)
    target = target_dir / source.name
    counter = 1
    while target.exists():
        target = target_dir / f"{source.stem}-{counter}{source.suffix}"
        counter += 1
    shutil.move(str(source), target)
