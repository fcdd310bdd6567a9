"""Who was sent a template, who returned it, and where each round stands; which months are closed."""

from __future__ import annotations

import json

from sheetplan.returns.ledger import submissions
from sheetplan.workspace.closing import closed_months
from sheetplan.workspace.folder import Workspace
from sheetplan.workspace.labels import Labels
from sheetplan.workspace.problem_text import reason_names

COLUMNS = ["kind", "period", "team", "owner", "name", "revision_sent", "status", "revision_returned",
           "received_at", "reasons"]


def round_status(workspace: Workspace, kind: str | None = None, period: str | None = None):
    """One row per recipient of every round (kind, period): accepted, rejected (with reasons) or missing."""
    import pandas as pd

    roster = workspace.roster
    with workspace.store() as store:
        sent = store.sent(kind, period)
        subs = submissions(store, kind, period)
    latest_sent: dict[tuple[str, str, str], int] = {}
    for record in sent:
        key = (record.kind, record.period, record.owner)
        latest_sent[key] = max(latest_sent.get(key, 0), record.revision)
    by_owner: dict[tuple[str, str, str], list[dict]] = {}
    for sub in subs:
        by_owner.setdefault((sub["kind"], sub["period"], sub["owner"]), []).append(sub)
    rows = []
    for (k, p, owner), revision in latest_sent.items():
        person = roster.get(owner)
        mine = by_owner.get((k, p, owner), [])
        accepted = [s for s in mine if s["status"] == "accepted"]
        rejected = [s for s in mine if s["status"] == "rejected"]
        late = [s for s in mine if s["status"] == "late"]
        if accepted:
            chosen, state, reasons = accepted[-1], "accepted", ""
        elif late:  # came after the month was closed: not counted, but not missing either
            chosen, state, reasons = late[-1], "late", ""
        elif rejected:
            chosen, state = rejected[-1], "rejected"
            problems = [p for p in json.loads(chosen["problems"]) if p["severity"] == "error"]
            codes: dict[str, int] = {}
            for problem in problems:
                codes[problem["code"]] = codes.get(problem["code"], 0) + 1
            reasons = ", ".join(f"{code} x{n}" if n > 1 else code for code, n in codes.items())
        else:
            chosen, state, reasons = None, "missing", ""
        team = person.team if person else ""
        if k == "company":
            team = ""
        rows.append({"kind": k, "period": p, "team": team, "owner": owner, "name": person.name if person else "",
                     "revision_sent": revision, "status": state,
                     "revision_returned": chosen["revision"] if chosen else None,
                     "received_at": chosen["received_at"] if chosen else "", "reasons": reasons})
    frame = pd.DataFrame(rows, columns=COLUMNS)
    order = {"company": 0, "team": 1, "person": 2, "month": 3}
    if len(frame):
        frame = frame.assign(_k=frame["kind"].map(order)).sort_values(["_k", "period", "team", "owner"])
        frame = frame.drop(columns="_k").reset_index(drop=True)
    return frame


COPY_COLUMNS = ["kind", "period", "owner", "submission_id", "file", "revision", "status", "received_at",
                "received_via", "claimed_at", "why"]


def round_copies(workspace: Workspace, kind: str | None = None, period: str | None = None,
                 owner: str | None = None):
    """Every copy returned for each template, with the time that decided (received_at, from the mailbox's
    server or when sheetplan first saw it), the time the file claimed, and why it stands or does not."""
    import pandas as pd

    from sheetplan.returns.arrival import claim_doubt

    with workspace.store() as store:
        subs = [s for s in submissions(store, kind, period) if s["owner"] and (owner is None or s["owner"] == owner)]
        generated = {(r.kind, r.owner, r.period, r.revision): r.generated_at for r in store.sent(kind, period)}
    standing = {(s["kind"], s["period"], s["owner"]): s for s in subs if s["status"] == "accepted"}
    labels = Labels(workspace.config.language)
    rows = []
    for sub in subs:
        key = (sub["kind"], sub["period"], sub["owner"])
        stands = standing.get(key)
        other = labels("console.why_other", id=stands["id"], revision=stands["revision"],
                       received=stands["received_at"]) if stands else ""
        why = {
            "accepted": labels("console.why_accepted"),
            "superseded": labels("console.why_superseded", other=other) if other
            else labels("console.why_superseded_later"),
            "stale": labels("console.why_stale", other=other) if other else labels("console.why_stale_standing"),
            "late": labels("closing.late_why", period=sub["period"]),
        }.get(sub["status"], "")
        if sub["status"] == "rejected":
            codes = sorted({p["code"] for p in json.loads(sub["problems"]) if p["severity"] == "error"})
            why = labels("console.why_rejected", codes=reason_names(", ".join(codes), labels.lang))
        template_made = generated.get((sub["kind"], sub["owner"], sub["period"], sub["revision"]), "")
        doubt = claim_doubt(sub["claimed_at"], template_made, sub["ingested_at"])
        if doubt:
            why += labels("console.why_claim_future" if doubt == "future" else "console.why_claim_before")
        rows.append({"kind": sub["kind"], "period": sub["period"], "owner": sub["owner"], "submission_id": sub["id"],
                     "file": sub["original_name"], "revision": sub["revision"], "status": sub["status"],
                     "received_at": sub["received_at"], "received_via": sub["received_via"] or "file time",
                     "claimed_at": sub["claimed_at"], "why": why})
    return pd.DataFrame(rows, columns=COPY_COLUMNS)


MONTH_COLUMNS = ["month", "closed", "closed_at", "sent", "missing", "late"]


def month_states(workspace: Workspace, through: str | None = None, rounds=None):
    """One row per fiscal month up to `through` (default: all): closed or open (and since when), how many
    month reports were sent, how many of those have not come back accepted (missing or rejected), and how
    many files came late, after the month was closed. `rounds`: round_status(workspace) when the caller has it."""
    import pandas as pd

    months = [m for m in workspace.config.months if through is None or m <= through]
    with workspace.store() as store:
        closed = closed_months(store.db)
        late = dict(store.db.execute("SELECT period, COUNT(*) FROM submissions WHERE kind = 'month'"
                                     " AND status = 'late' GROUP BY period").fetchall())
    rounds = round_status(workspace, "month") if rounds is None else rounds[rounds["kind"] == "month"]
    rows = []
    for month in months:
        mine = rounds[rounds["period"] == month] if len(rounds) else rounds
        missing = int((mine["status"] != "accepted").sum()) if len(mine) else 0
        rows.append((month, month in closed, closed.get(month, ""), len(mine), missing, int(late.get(month, 0))))
    return pd.DataFrame(rows, columns=MONTH_COLUMNS)


def _ranges(months: list[str], all_months: list[str], labels: Labels) -> str:
    """'2027-01 to 2027-03, 2027-05': runs of consecutive fiscal months."""
    position = {m: i for i, m in enumerate(all_months)}
    runs: list[list[str]] = []
    for month in months:
        if runs and position[month] == position[runs[-1][-1]] + 1:
            runs[-1].append(month)
        else:
            runs.append([month])
    return ", ".join(run[0] if len(run) == 1 else labels("closing.range", first=run[0], last=run[-1])
                     for run in runs)


def closing_line(states, labels: Labels, all_months: list[str]) -> str:
    """The sentence every report carries: which months are closed and, for each open one, how many of its
    returns are still missing."""
    closed = list(states.loc[states["closed"], "month"])
    parts = [labels("closing.closed_months", months=_ranges(closed, all_months, labels)) if closed
             else labels("closing.none_closed")]
    open_rows = states[~states["closed"]]
    if len(open_rows):
        months = [labels("closing.open_month", month=r.month, missing=r.missing, sent=r.sent) if r.sent
                  else labels("closing.open_unsent", month=r.month) for r in open_rows.itertuples()]
        parts.append(labels("closing.open_months", months="; ".join(months)))
    return " ".join(parts)


def late_files(workspace: Workspace):
    """Every file recorded late, as rows of the summary's Issues sheet (kind, owner, period, file, archive,
    code 'late', message)."""
    import pandas as pd

    labels = Labels(workspace.config.language)
    with workspace.store() as store:
        closed = closed_months(store.db)
        rows = store.db.execute("SELECT kind, owner, period, original_name, archive_path, received_at FROM"
                                " submissions WHERE status = 'late' ORDER BY id").fetchall()
    out = [{"kind": kind, "owner": owner, "period": period, "file": name, "archive": str(workspace.root / archive),
            "code": "late", "sheet": "", "cell": "", "value": "", "severity": "warning",
            "message": labels("closing.late_issue", period=period, received=received[:16],
                              state=labels("closing.state_closed" if period in closed else "closing.state_open"))}
           for kind, owner, period, name, archive, received in rows]
    return pd.DataFrame(out)


def require_closed(workspace: Workspace, months: list[str], review: str) -> None:
    """A review's figures are signed, so every month it covers must be closed; else OpenPeriod (exit 2)
    naming the open months. `review` is 'half' or 'annual'."""
    from sheetplan.errors import OpenPeriod

    with workspace.store() as store:
        closed = closed_months(store.db)
    still = [m for m in months if m not in closed]
    if still:
        labels = Labels(workspace.config.language)
        raise OpenPeriod(labels(f"closing.review_open_{review}", months=", ".join(still), first=months[0],
                                last=months[-1], year=workspace.config.fiscal_year), still)
