"""The import ledger: record one export whole in a single transaction, and read back the actuals that stand.

Like a returned file (sheetplan.returns.ledger): the same bytes twice are one record; a later export of a
month supersedes the earlier one for that month only, and the earlier stays in the store as history.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import pandas as pd

from sheetplan.problems import Problem
from sheetplan.workspace.store import Store

ACCEPTED, REJECTED, SUPERSEDED = "accepted", "rejected", "superseded"


def find_by_hash(store: Store, sha256: str) -> tuple[int, str] | None:
    """(id, status) of an export with these bytes, if one was imported before."""
    row = store.db.execute("SELECT id, status FROM actual_imports WHERE sha256 = ?", (sha256,)).fetchone()
    return (row[0], row[1]) if row else None


def standing_months(store: Store, months: list[str]) -> dict[str, tuple[int, str]]:
    """Per month, the import that stands for it now (id, file name): what a new export of it supersedes."""
    if not months:
        return {}
    marks = ", ".join("?" for _ in months)
    rows = store.db.execute(
        f"SELECT m.month, a.id, a.original_name FROM import_months m JOIN actual_imports a ON a.id = m.import_id"
        f" WHERE m.status = 'accepted' AND m.month IN ({marks})", months).fetchall()
    return {month: (import_id, name) for month, import_id, name in rows}


def earlier_customers(store: Store, skip_months: list[str]) -> dict[str, str]:
    """Each customer's first month in the imports that stand, leaving out the months about to be replaced."""
    marks = ", ".join("?" for _ in skip_months) or "''"
    rows = store.db.execute(
        "SELECT c.customer, MIN(c.month) FROM imported_customers c JOIN import_months m ON m.import_id = c.import_id"
        f" AND m.month = c.month WHERE m.status = 'accepted' AND c.month NOT IN ({marks}) GROUP BY c.customer",
        skip_months).fetchall()
    return dict(rows)


def record(store: Store, sha256: str, name: str, source_path: str, archive_path: str, imported_at: str,
           problems: list[Problem], sums: pd.DataFrame | None, customers: pd.DataFrame | None,
           months: dict[str, int], lines: int) -> tuple[int, str, list[int]]:
    """Write the import and, when it has no problem, its sums, all in one transaction; returns (id, status,
    ids of the imports it superseded for some month). `months`: the lines of each month the file covers."""
    status = REJECTED if problems else ACCEPTED
    payload = json.dumps([asdict(p) for p in problems], ensure_ascii=False, default=str)
    superseded: list[int] = []
    with store.transaction() as db:
        again = db.execute("SELECT id FROM actual_imports WHERE sha256 = ? AND status = 'rejected'",
                           (sha256,)).fetchone()
        if again:  # a file rejected before, checked anew: decided in its own ledger row
            import_id = again[0]
            db.execute("UPDATE actual_imports SET original_name = ?, source_path = ?, archive_path = ?,"
                       " imported_at = ?, status = ?, lines = ?, problems = ? WHERE id = ?",
                       (name, source_path, archive_path, imported_at, status, lines, payload, import_id))
        else:
            cursor = db.execute(
                "INSERT INTO actual_imports (sha256, original_name, source_path, archive_path, imported_at, status,"
                " lines, problems) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (sha256, name, source_path, archive_path, imported_at, status, lines, payload))
            import_id = cursor.lastrowid
        if status == REJECTED:
            return import_id, status, superseded
        for month, month_lines in sorted(months.items()):
            before = [r[0] for r in db.execute("SELECT import_id FROM import_months WHERE month = ? AND"
                                               " status = 'accepted'", (month,))]
            db.execute("UPDATE import_months SET status = 'superseded', superseded_by = ? WHERE month = ? AND"
                       " status = 'accepted'", (import_id, month))
            superseded += [b for b in before if b not in superseded]
            db.execute("INSERT INTO import_months (import_id, month, status, lines) VALUES (?, ?, 'accepted', ?)",
                       (import_id, month, month_lines))
        for earlier in superseded:  # an import with no month left standing is superseded as a whole
            if not db.execute("SELECT 1 FROM import_months WHERE import_id = ? AND status = 'accepted'",
                              (earlier,)).fetchone():
                db.execute("UPDATE actual_imports SET status = 'superseded' WHERE id = ?", (earlier,))
        if sums is not None and len(sums):
            db.executemany(
                "INSERT INTO imported_values (import_id, person, month, metric, customer_group, value, lines)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                ((import_id, p, m, k, g, float(v), int(n)) for p, m, k, g, v, n in
                 sums[["person", "month", "metric", "customer_group", "value", "lines"]].itertuples(index=False)))
        if customers is not None and len(customers):
            db.executemany("INSERT INTO imported_customers (import_id, customer, month) VALUES (?, ?, ?)",
                           ((import_id, c, m) for c, m in customers.itertuples(index=False)))
    return import_id, status, superseded


def imported_actuals(store: Store) -> pd.DataFrame:
    """The imported figures that stand: person, month, metric, customer_group, actual, import_id, file."""
    rows = store.db.execute(
        "SELECT v.person, v.month, v.metric, v.customer_group, v.value, v.import_id, a.original_name"
        " FROM imported_values v JOIN import_months m ON m.import_id = v.import_id AND m.month = v.month"
        " JOIN actual_imports a ON a.id = v.import_id WHERE m.status = 'accepted'").fetchall()
    return pd.DataFrame(rows, columns=["person", "month", "metric", "customer_group", "actual", "import_id", "file"])


def imported_months(store: Store) -> pd.DataFrame:
    """Per month that has imported actuals: the file that stands, when it was imported, its lines, and how
    many earlier exports of that month it replaced."""
    rows = store.db.execute(
        "SELECT m.month, a.id, a.original_name, a.imported_at, m.lines,"
        " (SELECT COUNT(*) FROM import_months o WHERE o.month = m.month AND o.status = 'superseded')"
        " FROM import_months m JOIN actual_imports a ON a.id = m.import_id WHERE m.status = 'accepted'"
        " ORDER BY m.month").fetchall()
    return pd.DataFrame(rows, columns=["month", "import_id", "file", "imported_at", "lines", "replaced"])


def imports(store: Store) -> pd.DataFrame:
    """Every export ever imported, oldest first, with its months and status (rejected ones too)."""
    rows = store.db.execute(
        "SELECT a.id, a.original_name, a.imported_at, a.status, a.lines, a.archive_path,"
        " COALESCE((SELECT group_concat(month, ' ') FROM (SELECT month FROM import_months WHERE import_id = a.id"
        " ORDER BY month)), '') FROM actual_imports a ORDER BY a.id").fetchall()
    return pd.DataFrame(rows, columns=["import_id", "file", "imported_at", "status", "lines", "archive_path",
                                       "months"])
