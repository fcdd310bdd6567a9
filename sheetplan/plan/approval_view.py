"""What one approver sees: each waiting item's figures beside the suggestion and the last official version."""

from __future__ import annotations

import sqlite3

from sheetplan.plan.approvals import Item, decisions_of, official_figures, submitted_numbers, waiting_on
from sheetplan.plan.handover import HANDOVER_ITEM, Handover
from sheetplan.plan.views import ApprovalEntry, ApprovalPlan, ItemFigures
from sheetplan.workspace.labels import Labels
from sheetplan.workspace.problem_text import term


def approval_plans(db: sqlite3.Connection, workspace, approver: str | None = None) -> list[ApprovalPlan]:
    """One plan per approver with something waiting (or just `approver`), items oldest first."""
    roster = workspace.roster
    plans = []
    for person_id, waiting in sorted(waiting_on(db, approver).items()):
        person = roster.get(person_id)
        entries = tuple(_entry(db, workspace, item) for item in waiting)
        plans.append(ApprovalPlan(person_id, person.name if person else person_id, str(workspace.config.fiscal_year),
                                  entries))
    return plans


def _who(roster, person_id: str) -> str:
    person = roster.get(person_id)
    return f"{person.name} ({person_id})" if person else person_id


def _entry(db: sqlite3.Connection, workspace, item: Item) -> ApprovalEntry:
    config, roster = workspace.config, workspace.roster
    labels = Labels(config.language)
    owner = roster.get(item.owner)
    received = db.execute("SELECT received_at FROM submissions WHERE id = ?", (item.submission_id,)).fetchone()
    figures = _figures(db, workspace, item)
    history = []
    for step, approver, decision, comment, decided_at in decisions_of(db, item.id):
        role = term("role", item.chain[step].role, config.language)
        history.append(labels("approval.history", level=step + 1, decision=labels(f"approval.{decision}d"),
                              who=f"{_who(roster, approver)}, {role}", date=decided_at[:10],
                              comment=f": {comment}" if comment else ""))
    what = {"company": labels("approval.what_company"),
            "team": labels("approval.what_team", team=owner.team if owner else ""),
            "person": labels("approval.what_person"),
            "revision": labels("approval.what_revision", month=item.period),
            "reforecast": labels("approval.what_reforecast"),
            HANDOVER_ITEM: labels("approval.what_handover", leaver=_who(roster, item.detail.get("from", "")),
                                  end=item.detail.get("end_month", ""))}[item.item_kind]
    level = item.waiting_on
    return ApprovalEntry(item.ref, item.owner, owner.name if owner else item.owner, what, item.period,
                         f"{item.level_text} {term('role', level.role, config.language) if level else ''}".strip(),
                         received[0][:10] if received else item.created_at[:10],
                         _summary(db, labels, config, roster, item, figures),
                         item.detail.get("reason", ""), tuple(history), figures)


def _summary(db: sqlite3.Connection, labels: Labels, config, roster, item: Item,
             figures: tuple[ItemFigures, ...]) -> str:
    """One line per item for the Decisions sheet: each metric's total and its change."""
    parts = []
    if item.item_kind == HANDOVER_ITEM:
        handover = Handover.from_detail(item.owner, item.detail)
        suggestion, official = official_figures(db, "person", item.owner)
        for metric_key in handover.cells:
            metric = config.metric(metric_key)
            shown = f",.{metric.decimals}f"
            key = (str(config.fiscal_year), metric_key, "")
            current = official.get(key, suggestion.get(key, 0.0))
            amount = handover.amount(metric_key)
            parts.append(labels("approval.summary_handover", metric=metric.label(config.language),
                                current=format(current, shown), amount=format(amount, shown),
                                leaver=_who(roster, handover.leaver), after=format(current + amount, shown)))
        return "; ".join(parts)
    if item.item_kind == "revision":
        owner = roster.get(item.owner)
        team = owner.team if owner else ""
        for metric_key, requested in item.detail.get("requested", {}).items():
            metric = config.metric(metric_key)
            current = item.detail.get("current", {}).get(metric_key, 0.0)
            shown = f",.{metric.decimals}f"
            parts.append(labels("approval.summary_revision", metric=metric.label(config.language),
                                current=format(current, shown), requested=format(requested, shown)))
            parts.append(_replan_effect(db, labels, config, team, metric, requested - current, shown))
        return "; ".join(p for p in parts if p)
    for f in figures:
        base = f.previous if f.previous is not None else f.suggestion
        total = sum(f.submitted)
        against = "approval.against_previous" if f.previous is not None else "approval.against_suggestion"
        if item.item_kind in ("company", "team"):  # a split keeps its total: what matters is what moved
            parts.append(_split_moves(labels, config, f, base, labels(against)))
            continue
        before = sum(base) if base is not None else 0.0
        change = (total - before) / before if before else 0.0
        parts.append(labels("approval.summary_change", metric=f.metric.label(config.language),
                            total=f"{total:,.{f.metric.decimals}f}", change=change, against=labels(against)))
    return "; ".join(parts)


SHOWN_MOVES = 3  # a one-line summary names the largest moves; the Details sheet has them all


def _split_moves(labels: Labels, config, f: ItemFigures, base: tuple[float, ...] | None, against: str) -> str:
    """'Revenue 4,000,000: North +100,000, South -100,000 vs suggestion', the largest changes first."""
    d = f.metric.decimals
    metric, total = f.metric.label(config.language), f"{sum(f.submitted):,.{d}f}"
    before = base if base is not None else (0.0,) * len(f.submitted)
    moves = [(name, round(now - then, d)) for name, now, then in zip(f.columns, f.submitted, before, strict=True)]
    moves = sorted((m for m in moves if m[1]), key=lambda m: (-abs(m[1]), str(m[0])))
    if not moves:
        return labels("approval.summary_split_same", metric=metric, total=total, against=against)
    shown = [f"{name} {delta:+,.{d}f}" for name, delta in moves[:SHOWN_MOVES]]
    if len(moves) > SHOWN_MOVES:
        shown.append(labels("approval.summary_more", count=len(moves) - SHOWN_MOVES))
    return labels("approval.summary_split", metric=metric, total=total, moves=", ".join(shown), against=against)


def _replan_effect(db: sqlite3.Connection, labels: Labels, config, team: str, metric, change: float,
                   shown: str) -> str:
    """What approving does above the person under [replan]: the team (and company) keep their targets and
    the team's next split absorbs the change, or they follow it."""
    fy = str(config.fiscal_year)

    def official(level: str, owner: str) -> float | None:
        row = db.execute("SELECT value FROM targets WHERE level = ? AND owner = ? AND period = ? AND metric = ?"
                         " AND customer_group = '' AND source != 'suggestion' ORDER BY version DESC LIMIT 1",
                         (level, owner, fy, metric.key)).fetchone()
        return row[0] if row else None

    team_target, company_target = official("team", team), official("company", "")
    if not team or team_target is None:
        return ""
    if config.replan.policy == "absorb":
        return labels("approval.replan_absorb", team=team, team_now=format(team_target, shown),
                      team_after=format(team_target + change, shown),
                      company_after=format((company_target or 0.0) + change, shown))
    return labels("approval.replan_reallocate", team=team, team_now=format(team_target, shown),
                  gap=format(-change, "+" + shown))


def _figures(db: sqlite3.Connection, workspace, item: Item) -> tuple[ItemFigures, ...]:
    config, roster = workspace.config, workspace.roster
    fy = str(config.fiscal_year)
    numbers = submitted_numbers(db, item.submission_id)
    out = []
    if item.item_kind in ("company", "team"):
        level = "team" if item.item_kind == "company" else "person"
        figures_of = {row: official_figures(db, level, row) for _b, row, _c, _v in numbers}  # one read per row
        for metric in config.metrics:
            sent = [(row, v) for block, row, _c, v in numbers if block == f"in_{metric.key}"]
            keys = tuple(row for row, _v in sent)
            suggestion = {key: figures_of[key][0].get((fy, metric.key, "")) for key in keys}
            official = {key: figures_of[key][1].get((fy, metric.key, "")) for key in keys}
            has_official = any(v is not None for v in official.values())
            columns = tuple(roster.get(k).name if level == "person" and roster.get(k) else k for k in keys)
            out.append(ItemFigures(metric, columns, tuple(v for _r, v in sent),
                                   tuple(suggestion[k] or 0.0 for k in keys),
                                   tuple(official[k] or 0.0 for k in keys) if has_official else None))
        return tuple(out)
    if item.item_kind == HANDOVER_ITEM:  # the months handed over: the receiver's totals after against now
        handover = Handover.from_detail(item.owner, item.detail)
        suggestion, official = official_figures(db, "person", item.owner)
        for metric_key, by_month in handover.cells.items():
            metric = config.metric(metric_key)
            months = tuple(m for m in config.months if m in by_month)
            now = tuple(round(sum(official.get((m, metric_key, g), suggestion.get((m, metric_key, g), 0.0))
                                  for g in config.customer_groups), metric.decimals) for m in months)
            after = tuple(round(v + sum(by_month[m].values()), metric.decimals) for v, m in zip(now, months))
            out.append(ItemFigures(metric, months, after, None, now))
        return tuple(out)
    if item.item_kind == "revision":
        _suggestion, official = official_figures(db, "person", item.owner)
        for metric_key, requested in item.detail.get("requested", {}).items():
            metric = config.metric(metric_key)
            current = item.detail.get("current", {}).get(metric_key, 0.0)
            out.append(ItemFigures(metric, (fy,), (requested,), None, (current,)))
            named = item.detail.get("months", {}).get(metric_key, {})
            if named:  # the months asked for one by one, beside their targets now
                now = tuple(round(sum(v for (p, k, g), v in official.items() if p == m and k == metric_key and g),
                                  metric.decimals) for m in named)
                out.append(ItemFigures(metric, tuple(named), tuple(named.values()), None, now))
        return tuple(out)
    # person plan or re-forecast: month totals over customer groups
    suggestion, official = official_figures(db, "person", item.owner)
    for metric in config.metrics:
        cells = [(col, v) for block, _row, col, v in numbers if block == f"in_{metric.key}"]
        months = [m for m in config.months if any(col == m for col, _v in cells)]
        submitted = tuple(round(sum(v for col, v in cells if col == m), metric.decimals) for m in months)

        def month_totals(source: dict, months=months, metric=metric) -> tuple[float, ...] | None:
            found = [(k, v) for k, v in source.items() if k[1] == metric.key and k[2] and k[0] in months]
            if not found:
                return None
            return tuple(round(sum(v for k, v in found if k[0] == m), metric.decimals) for m in months)

        out.append(ItemFigures(metric, tuple(months), submitted, month_totals(suggestion), month_totals(official)))
    return tuple(out)

