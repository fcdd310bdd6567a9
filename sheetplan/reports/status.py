"""Who was sent a template, who returned it, and where each round stands."""

from __future__ import annotations

import json

from sheetplan.returns.ledger import submissions
from sheetplan.workspace.folder import Workspace

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
        if accepted:
            chosen, state, reasons = accepted[-1], "accepted", ""
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
    rows = []
    for sub in subs:
        key = (sub["kind"], sub["period"], sub["owner"])
        stands = standing.get(key)
        other = f"#{stands['id']} (r{stands['revision']}, received {stands['received_at']})" if stands else ""
        why = {
            "accepted": "stands: the latest revision, received last",
            "superseded": f"replaced by {other}" if other else "replaced by a later copy",
            "stale": f"older than {other}, which stands" if other else "older than the copy that stands",
        }.get(sub["status"], "")
        if sub["status"] == "rejected":
            codes = sorted({p["code"] for p in json.loads(sub["problems"]) if p["severity"] == "error"})
            why = "rejected: " + ", ".join(codes)
        template_made = generated.get((sub["kind"], sub["owner"], sub["period"], sub["revision"]), "")
        doubt = claim_doubt(sub["claimed_at"], template_made, sub["ingested_at"])
        if doubt:
            reason = "in the future" if doubt == "future" else "before the template was generated"
            why += f"; the time it claims is not trusted ({reason})"
        rows.append({"kind": sub["kind"], "period": sub["period"], "owner": sub["owner"], "submission_id": sub["id"],
                     "file": sub["original_name"], "revision": sub["revision"], "status": sub["status"],
                     "received_at": sub["received_at"], "received_via": sub["received_via"] or "file time",
                     "claimed_at": sub["claimed_at"], "why": why})
    return pd.DataFrame(rows, columns=COPY_COLUMNS)
