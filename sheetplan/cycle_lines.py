"""The lines the command line prints for init, generate, plan refresh, mail, remind, collect, quarantine and the
reviews, in the workspace language (catalogue section [cycle]); cli.py only echoes them."""

from __future__ import annotations

from sheetplan.workspace.labels import Labels
from sheetplan.workspace.problem_text import term


def _kind(kind: str, labels: Labels) -> str:
    """English keeps the kind's key ('Writing company templates'); other languages name it."""
    return kind if labels.lang == "en" else term("kind", kind, labels.lang)


def _status(status: str, labels: Labels) -> str:
    key = f"cycle.mail_status_{status.replace('-', '_')}"
    if labels.has(key):
        return labels(key)
    return status.upper() if labels.lang == "en" else term("status", status, labels.lang)


def init_lines(workspace, demo: bool, next_command: str, labels: Labels) -> list[str]:
    year = workspace.config.fiscal_year
    if demo:
        return [labels("cycle.created_demo", root=workspace.root, company=workspace.config.company,
                       people=len(workspace.roster.people), year=year)]
    return [labels("cycle.created_empty", root=workspace.root, year=year),
            labels("cycle.next_fill", command=next_command)]


def writing_label(kind: str, labels: Labels) -> str:
    return labels("cycle.writing", kind=_kind(kind, labels))


def generate_lines(result, labels: Labels) -> list[str]:
    """Each note, then what was written where and how fast, with the round's deadline."""
    lines = [labels("cycle.note", text=note) for note in result.notes]
    kind = _kind(result.kind, labels)
    if not result.files:
        return lines + [labels("cycle.nothing_to_write", kind=kind, period=result.period)]
    due = labels("cycle.due", text=labels("deadlines.round", deadline=result.deadline)) if result.deadline else ""
    return lines + [labels("cycle.wrote", count=result.count, kind=kind, period=result.period,
                           folder=result.files[0].parent, seconds=result.seconds,
                           rate=result.seconds / result.count * 1000, due=due)]


def refresh_lines(report, labels: Labels, metrics: dict[str, str]) -> list[str]:
    lines = report.lines(labels, metrics) or [labels("cycle.refresh_nothing")]
    return lines + [labels("cycle.refresh_stored", count=report.suggestions)]


def mail_line(r, labels: Labels) -> str:
    """One message as it goes out."""
    return labels("cycle.mail_line", status=_status(r.status, labels), owner=r.owner, recipient=r.recipient or "-",
                  subject=r.subject, where=labels("cycle.mail_where", path=r.draft) if r.draft else "",
                  detail=labels("cycle.mail_detail", detail=r.detail) if r.detail else "")


def mail_summary(results: list, mode: str, labels: Labels) -> tuple[list[str], int]:
    """The counts line and the exit status: 1 when any message failed or is in doubt."""
    if not results:
        return [labels("cycle.mail_nothing")], 0
    counts = {s: sum(1 for r in results if r.status == s) for s in ("drafted", "sent", "skipped", "failed", "in-doubt")}
    done = "drafted" if mode == "drafts" else "sent"
    doubt = labels("cycle.mail_doubt", count=counts["in-doubt"]) if counts["in-doubt"] else ""
    line = labels("cycle.mail_summary", done=counts[done], done_word=labels(f"cycle.mail_{done}"),
                  skipped=counts["skipped"], failed=counts["failed"], doubt=doubt)
    return [line], 1 if counts["failed"] or counts["in-doubt"] else 0


def sent_mail_lines(frame, labels: Labels) -> list[str]:
    """mail --list: messages in doubt first (they need a person's decision), then the rest, oldest first."""
    if not len(frame):
        return [labels("cycle.mail_list_nothing")]
    lines = []
    for r in sorted(frame.itertuples(), key=lambda r: r.state != "in-doubt"):
        lines.append(labels("cycle.mail_list_line", state=_status(r.state, labels),
                            sent_at=r.sent_at[:16].replace("T", " "), kind=_kind(r.kind, labels), period=r.period,
                            owner=r.owner, recipient=r.recipient, message_id=r.message_id, subject=r.subject,
                            detail=labels("cycle.mail_detail", detail=r.detail) if r.detail else ""))
    doubt = int((frame["state"] == "in-doubt").sum())
    return lines + [labels("cycle.mail_list_summary", count=len(frame), doubt=doubt) +
                    (labels("cycle.mail_list_resend") if doubt else "")]


def collect_lines(result, labels: Labels, quarantine_command: str) -> list[str]:
    lines = []
    for a in result.attachments:
        claim = labels("cycle.collect_claim", date=a.date[:16]) if a.date[:16] != a.received_at[:16] else ""
        verdict = labels("cycle.collect_verdict", outcome=_status(a.outcome, labels)) if a.outcome else ""
        lines.append(labels("cycle.collect_line", status=_status(a.status, labels),
                            target=a.saved or labels("cycle.collect_same"), sender=a.sender or "?",
                            received=a.received_at[:16], claim=claim, verdict=verdict))
    for item in result.ignored:
        if item.reason != "inline image":
            key = f"cycle.ignored_{item.reason.replace(' ', '_')}"
            reason = labels(key) if labels.has(key) else item.reason
            lines.append(labels("cycle.collect_ignored", name=item.name, reason=reason, source=item.source,
                                sender=item.sender or "?"))
    lines += [labels("cycle.collect_warning", text=warning.describe()) for warning in result.warnings]
    inline = sum(1 for i in result.ignored if i.reason == "inline image")
    lines.append(labels("cycle.collect_summary", messages=result.messages, skipped=len(result.skipped),
                        saved=len(result.saved), before=len(result.attachments) - len(result.saved),
                        ignored=len(result.ignored) - inline, warnings=len(result.warnings)))
    if result.report:
        counts = result.report.counts
        keys = ("accepted", "rejected", "quarantined", "duplicate", "stale", "superseded")
        lines.append(labels("cycle.collect_ingest", counts=labels("console.separator").join(
            labels("console.count", count=counts.get(k, 0), status=k if labels.lang == "en"
                   else term("status", k, labels.lang)) for k in keys)))
        if counts.get("quarantined"):
            lines.append(labels("cycle.collect_quarantined", command=quarantine_command))
        if result.report.report_path:
            lines.append(labels("cycle.collect_report", path=result.report.report_path))
    return lines


def quarantine_lines(held, labels: Labels) -> list[str]:
    if not held:
        return [labels("cycle.quarantine_none")]
    return [labels("cycle.quarantine_line", id=item.id, kind=_kind(item.kind, labels), period=item.period,
                   owner=item.owner, sender=item.sender, path=item.path, since=item.quarantined_at,
                   released=labels("cycle.quarantine_released", at=item.released_at, by=item.released_by)
                   if item.released_at else "") for item in held]


def release_lines(report, labels: Labels) -> list[str]:
    return [labels("cycle.release_line", status=_status(o.status, labels), name=o.name, kind=_kind(o.kind, labels),
                   period=o.period, owner=o.owner) for o in report.outcomes]


def half_lines(year, result, generated, labels: Labels) -> list[str]:
    lines = [labels("cycle.half_review", year=year, path=result.workbook)]
    if generated is not None and generated.files:
        lines.append(labels("cycle.half_templates", count=generated.count, folder=generated.files[0].parent))
    return lines


def annual_lines(result, labels: Labels) -> list[str]:
    lines = [labels("cycle.annual_review", year=result.year, month=result.month, people=len(result.people),
                    path=result.workbook)]
    if result.history_file:
        lines.append(labels("cycle.annual_history", rows=len(result.history), path=result.history_file))
    return lines
