"""Handovers: a leaver's remaining targets going to the teammate the roster's `handover_to` names.

The roster frees a leaver's official cells after their end month (source `roster`). With `handover_to`
those cells become a *handover* item of the receiver, which climbs the receiver's person approval chain
like a plan the receiver returned: taking on someone else's customers is the receiver's plan changing.
Approved, the receiver's targets carry the leaver's cells on top of their own (source `handover`).
Rejected, or superseded by a team split the manager returned meanwhile, the freed amount is a gap like
any other and goes by the `[replan]` policy.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from sheetplan.workspace.store import TargetRow

HANDOVER_ITEM = "handover"


@dataclass(frozen=True)
class Handover:
    leaver: str
    receiver: str
    end_month: str
    cells: dict[str, dict[str, dict[str, float]]]  # metric -> month -> customer group -> amount

    def amount(self, metric: str) -> float:
        return sum(v for groups in self.cells.get(metric, {}).values() for v in groups.values())

    def as_detail(self) -> dict:
        return {"from": self.leaver, "end_month": self.end_month, "cells": self.cells}

    @classmethod
    def from_detail(cls, receiver: str, detail: dict) -> Handover:
        return cls(detail["from"], receiver, detail.get("end_month", ""), detail.get("cells", {}))


def freed_cells(rows: list[TargetRow]) -> dict[str, dict[str, dict[str, float]]]:
    """metric -> month -> group -> value of the leaver's cells the roster takes off (as they stood before)."""
    cells: dict[str, dict[str, dict[str, float]]] = {}
    for r in rows:
        if r.value:
            cells.setdefault(r.metric, {}).setdefault(r.period, {})[r.customer_group] = r.value
    return cells


def receiver_rows(config, current: dict[tuple, float], handover: Handover) -> list[TargetRow]:
    """The receiver's whole grid and annual target after taking the handover on: what they carry now
    (official, else suggested) plus the leaver's cells, exact to each metric's decimals. The whole grid is
    written, not only the months handed over, so the next refresh cannot spread the new annual target over
    the receiver's other months a second time."""
    fy, who = str(config.fiscal_year), handover.receiver
    rows = []
    for metric in config.metrics:
        handed = handover.cells.get(metric.key)
        if not handed:
            continue
        places = metric.decimals
        total = 0.0
        for month in config.months:
            for group in config.customer_groups:
                value = round(current.get(("person", who, month, metric.key, group), 0.0)
                              + handed.get(month, {}).get(group, 0.0), places)
                total += value
                rows.append(TargetRow("person", who, month, metric.key, group, value))
        annual = current.get(("person", who, fy, metric.key, ""))
        annual = round(total if annual is None else annual + handover.amount(metric.key), places)
        rows.append(TargetRow("person", who, fy, metric.key, "", annual))
    return rows


def handovers(db: sqlite3.Connection, status: str | None = "pending") -> list[tuple[int, Handover]]:
    """(item id, handover) of every handover item with this status (None: all), oldest first."""
    where, args = "item_kind = ?", [HANDOVER_ITEM]
    if status is not None:
        where += " AND status = ?"
        args.append(status)
    return [(item_id, Handover.from_detail(owner, json.loads(detail or "{}"))) for item_id, owner, detail in
            db.execute(f"SELECT id, owner, detail FROM approval_items WHERE {where} ORDER BY id", args)]


def handed_leavers(db: sqlite3.Connection) -> set[str]:
    """Leavers who already have a handover item (in any state): the roster frees their cells only once."""
    return {h.leaver for _id, h in handovers(db, None)}
