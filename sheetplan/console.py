"""The lines the command line prints for ingest, status, consolidate, history and approvals, in the workspace
language (catalogue section [console]); cli.py only echoes them."""

from __future__ import annotations

import math

from sheetplan.problems import Problem
from sheetplan.workspace.labels import Labels
from sheetplan.workspace.problem_text import code_name, problem_text, reason_names, term


def _counts(labels: Labels, counts, keys) -> str:
    return labels("console.separator").join(
        labels("console.count", count=counts.get(k, 0), status=term("status", k, labels.lang)) for k in keys)


def describe(problem: Problem, labels: Labels, metrics: dict[str, str] | None = None) -> str:
    """'file:sheet:cell: message (code)', the message and code in the workspace language."""
    where = ":".join(part for part in (problem.file, problem.sheet, problem.cell) if part)
    if problem.row is not None and not problem.cell:
        row = labels("console.row", row=problem.row)
        where = f"{where} {row}" if where else row
    if problem.field and not problem.cell:
        where = f"{where} [{problem.field}]" if where else problem.field
    return labels("console.problem", where=labels("console.where", where=where) if where else "",
                  message=problem_text(problem, labels.lang, metrics), code=code_name(problem.code, labels.lang))


def ingest_lines(report, labels: Labels, metrics: dict[str, str], quiet: bool, dry_run: bool,
                 next_approval: str = "sheetplan generate approval") -> list[str]:
    """A line per file (unless quiet), the counts, where the report and feedback copies went, what moved in
    the approval chains (and the command to type next, as `next_approval`)."""
    lang, lines = labels.lang, []
    for outcome in [] if quiet else report.outcomes:
        who = " ".join(part for part in (term("kind", outcome.kind, lang), outcome.period, outcome.owner) if part)
        detail = ""
        if outcome.errors:
            more = (labels("console.more_errors", count=len(outcome.errors) - 1) if len(outcome.errors) > 1
                    else "")
            detail = labels("console.file_errors", first=describe(outcome.errors[0], labels, metrics), more=more)
        elif outcome.warnings:
            detail = labels("console.file_warnings", count=len(outcome.warnings))
        lines.append(labels("console.file_line", status=term("status", outcome.status, lang).upper(),
                            name=outcome.name, who=who or "-", detail=detail))
    counts = report.counts
    keys = ("accepted", "rejected", "quarantined", "duplicate", "stale", *(("late",) if counts.get("late") else ()),
            "superseded", "warnings")
    lines.append((labels("console.dry_run") if dry_run else "") +
                 labels("console.ingest_total", counts=_counts(labels, counts, keys), seconds=report.seconds))
    if report.report_path:
        lines.append(labels("console.report", path=report.report_path))
    if report.feedback:
        lines.append(labels("console.feedback", count=len(report.feedback), folder=report.feedback[0].parent))
    return lines + approval_effect_lines(report, labels, next_approval)


def approval_effect_lines(report, labels: Labels, next_approval: str) -> list[str]:
    effects = report.approvals
    if not (effects.opened or effects.official or effects.advanced or effects.returned):
        return []
    lines = [labels("console.approvals_effect", opened=len(effects.opened), advanced=len(effects.advanced),
                    official=len(effects.official), returned=len(effects.returned))]
    lines += [labels("console.sent_back", path=path) for path in report.returned]
    if effects.opened or effects.advanced:
        lines.append(labels("console.next_approval", command=next_approval))
    return lines


def status_lines(frame, closed: set[str], copies, labels: Labels, deadlines: dict | None = None,
                 overview: bool = False) -> list[str]:
    """Per round its counts and deadline; unless `overview`, then per team each recipient's status (with why
    a file was not accepted), and every copy of a template that came back more than once or late."""
    if frame.empty:
        return [labels("console.nothing_sent")]
    lang, lines = labels.lang, []
    several = {key: rows for key, rows in copies.groupby(["kind", "period", "owner"]) if len(rows) > 1}
    late = copies[copies["status"] == "late"]
    for (k, p), rows in frame.groupby(["kind", "period"], sort=False):
        counts = rows["status"].value_counts()
        state = (labels("console.round_state", state=labels("closing.state_closed")) if k == "month" and p in closed
                 else "")
        shown = ("accepted", "rejected", "missing", *(("late",) if counts.get("late") else ()))
        due = labels("deadlines.status", deadline=deadlines[(k, p)]) if (k, p) in (deadlines or {}) else ""
        lines.append(labels("console.round_line", kind=term("kind", k, lang), period=p, state=state, sent=len(rows),
                            counts=_counts(labels, counts, shown)) + due)
        if overview:
            continue
        for team, members in rows.groupby("team", sort=False):
            lines.append(f"  {team or labels('console.company_team')}")
            for row in members.itertuples():
                reason = f"  {reason_names(row.reasons, lang)}" if row.reasons else ""
                lines.append(labels("console.member_line", status=term("status", row.status, lang), owner=row.owner,
                                    name=row.name, reason=reason))
                mine = several.get((k, p, row.owner))
                if mine is None:  # a late copy is listed even when it is the only one
                    mine = late[(late["kind"] == k) & (late["period"] == p) & (late["owner"] == row.owner)]
                lines += [copy_line(copy, "      ", labels) for copy in mine.itertuples()]
    return lines


def copy_line(copy, indent: str, labels: Labels) -> str:
    """One returned copy: the time that decided, the time it claimed, and why it stands or not."""
    claimed = (labels("console.copy_claims", claimed=copy.claimed_at)
               if copy.claimed_at and copy.claimed_at != copy.received_at else "")
    return labels("console.copy_line", indent=indent, id=copy.submission_id, revision=copy.revision,
                  status=term("status", copy.status, labels.lang), received=copy.received_at,
                  via=term("via", copy.received_via, labels.lang), claimed=claimed, file=copy.file, why=copy.why)


def copies_lines(copies, labels: Labels) -> list[str]:
    if not len(copies):
        return []
    return [labels("console.copies_title")] + [
        f"  {term('kind', copy.kind, labels.lang)} {copy.period}" + copy_line(copy, " ", labels)
        for copy in copies.itertuples()]


def consolidate_lines(result, labels: Labels, exports) -> list[str]:
    counts = result.flags["severity"].value_counts() if len(result.flags) else {}
    lines = [labels("console.consolidated", month=result.month, people=len(result.people), teams=len(result.teams),
                    flags=len(result.flags), high=counts.get("high", 0)),
             labels("console.summary", path=result.summary),
             labels("console.data_files", path=result.data.workbook, sheets=len(result.data.facts),
                    facts=result.data.facts_parquet.name, audit=result.data.audit_parquet.name),
             labels("console.team_books", count=len(result.team_files), folder=result.summary.parent / result.month)]
    if result.person_files:
        lines.append(labels("console.person_books", count=len(result.person_files)))
    return lines + [labels("console.fact_table", path=path) for path in exports if path]


def history_lines(frame, decimals: dict[str, int], metrics: dict[str, str], labels: Labels) -> list[str]:
    """Every version of an owner's targets: value, change, the file and time it came from, the approvers."""
    lang, lines = labels.lang, []
    for r in frame.itertuples(index=False):
        d = decimals.get(r.metric, 2)
        before = "-" if _missing(r.previous_value) else f"{r.previous_value:,.{d}f}"
        change = "" if _missing(r.change) else f" ({r.change:+,.{d}f})"
        revision = "" if _missing(r.submission_revision) else f" r{r.submission_revision}"
        metric = r.metric if lang == "en" else metrics.get(r.metric, r.metric)
        level = r.level if lang == "en" else term("level", r.level, lang)
        where = " ".join(part for part in (level, r.owner, r.period, metric, r.customer_group) if part)
        source = ("" if r.source in ("accepted", "suggestion") else
                  labels("console.history_source", source=term("source", r.source, lang)))
        lines.append(labels("console.history_line", where=where, version=r.version, source=source, before=before,
                            value=f"{r.value:,.{d}f}", change=change, file=r.submitted_file, revision=revision,
                            received=r.received_at,
                            approved=labels("console.history_approved", approver=r.approver) if r.approver else "",
                            comment=labels("console.history_comment", comment=r.comment) if r.comment else ""))
    return lines


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def approval_lines(found, roster, labels: Labels, show_all: bool) -> list[str]:
    """Each approval item: its kind, period, owner and who must decide next (or where it ended)."""
    if not found:
        return [labels("console.no_items" if show_all else "console.nothing_waiting")]
    lang, lines = labels.lang, []
    for item in found:
        owner = roster.get(item.owner)
        level = item.waiting_on
        who = f"{owner.name} ({item.owner})" if owner else item.owner
        state = (labels("console.waiting_on", approver=level.approver, role=term("role", level.role, lang),
                        level=item.level_text) if level else term("status", item.status, lang))
        lines.append(labels("console.item_line", ref=item.ref, kind=term("kind", item.item_kind, lang),
                            period=item.period, who=who, state=state))
    return lines + [labels("console.items", count=len(found))]
