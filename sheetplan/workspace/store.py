"""The plan state store: an embedded SQLite database with versioned schema migrations."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sheetplan.workspace.migrations import FOREIGN_KEYS_OFF, MIGRATIONS

SUGGESTION = "suggestion"
ACCEPTED = "accepted"  # an official plan figure (approved, or needing no approval)
REVISION = "revision"  # an official target set by an approved revision request
REFORECAST = "reforecast"  # an official H2 month target set by an approved re-forecast
ROSTER = "roster"  # an official target changed because the roster did (a leaver's months after they left)
REPLAN = "replan"  # a team or company target that followed its people under [replan] policy = "absorb"
HANDOVER = "handover"  # a receiver's targets after an approved handover of a leaver's remaining months
OFFICIAL_SOURCES = (ACCEPTED, REVISION, REFORECAST, ROSTER, REPLAN, HANDOVER)


@dataclass(frozen=True)
class TargetRow:
    level: str
    owner: str
    period: str
    metric: str
    customer_group: str
    value: float
    source: str = SUGGESTION
    version: int = 0


@dataclass(frozen=True)
class SentRecord:
    kind: str
    owner: str
    period: str
    revision: int
    path: str
    signature: str
    signed: str
    generated_at: str


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Store:
    """A thin object over one SQLite file; every write happens inside `transaction()`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves so one returned file is one transaction.
        self.db = sqlite3.connect(str(self.path), isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.migrate()

    @classmethod
    def reader(cls, path: Path) -> Store:
        """A read-only connection for worker processes: no migrations, no writes."""
        store = cls.__new__(cls)
        store.path = Path(path)
        store.db = sqlite3.connect(f"file:{store.path}?mode=ro", uri=True, isolation_level=None, timeout=30)
        return store

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def migrate(self) -> None:
        current = self.schema_version
        for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
            rebuild = script.startswith(FOREIGN_KEYS_OFF)
            if rebuild:
                self.db.execute("PRAGMA foreign_keys=OFF")
            try:
                with self.transaction():
                    for statement in filter(str.strip, script.split(";")):
                        self.db.execute(statement)
                    if rebuild and self.db.execute("PRAGMA foreign_key_check").fetchone():
                        raise sqlite3.IntegrityError(f"schema migration {version} left a broken foreign key")
                    self.db.execute(f"PRAGMA user_version = {version}")
            finally:
                if rebuild:
                    self.db.execute("PRAGMA foreign_keys=ON")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")

    # --- meta -------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self.db.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                            "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    # --- targets ------------------------------------------------------------
    def replace_suggestions(self, rows: Iterable[TargetRow],
                            scope: set[tuple[str, str]] | None = None) -> tuple[int, dict[str, int]]:
        """Suggestions are derived data: recomputing them replaces the old ones. Only what differs is
        written (a refresh after a batch changes a few owners of a plan of hundreds of thousands of cells);
        returns how many suggestions are stored and, per level, how many existing ones changed value.
        `scope` (level, owner): only these owners were recomputed; everyone else's suggestions stand."""
        stamp = now_iso()
        new = {(r.level, r.owner, r.period, r.metric, r.customer_group): r.value for r in rows}
        select = "SELECT level, owner, period, metric, customer_group, value FROM targets WHERE source = ?"
        with self.transaction():
            if scope is None:
                found = self.db.execute(select, (SUGGESTION,)).fetchall()
            else:
                found = [row for level, owner in sorted(scope) for row in
                         self.db.execute(select + " AND level = ? AND owner = ?", (SUGGESTION, level, owner))]
            old = {tuple(key): value for *key, value in found}
            gone = [key for key in old if key not in new]
            changed = [(value, stamp, *key) for key, value in new.items() if key in old and old[key] != value]
            added = [(*key, value, SUGGESTION, stamp) for key, value in new.items() if key not in old]
            where = "level = ? AND owner = ? AND period = ? AND metric = ? AND customer_group = ? AND source = ?"
            self.db.executemany(f"DELETE FROM targets WHERE {where}", [(*key, SUGGESTION) for key in gone])
            self.db.executemany(f"UPDATE targets SET value = ?, created_at = ? WHERE {where}",
                                [(*change, SUGGESTION) for change in changed])
            self.db.executemany(
                "INSERT INTO targets (level, owner, period, metric, customer_group, value, source, version,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)", added)
        by_level: dict[str, int] = {}
        for change in changed:
            if abs(change[0] - old[change[2:]]) > 1e-9:
                by_level[change[2]] = by_level.get(change[2], 0) + 1
        stored = self.db.execute("SELECT COUNT(*) FROM targets WHERE source = ?", (SUGGESTION,)).fetchone()[0]
        return stored, by_level

    def record_targets(self, rows: Iterable[TargetRow], source: str, submission_id: int | None,
                       db: sqlite3.Connection | None = None, approval_id: int | None = None) -> None:
        """Add a new version of each key; the caller owns the transaction so a file lands whole or not at all."""
        conn = db or self.db
        stamp = now_iso()
        for r in rows:
            version = conn.execute(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM targets WHERE level = ? AND owner = ? AND period = ?"
                " AND metric = ? AND customer_group = ?",
                (r.level, r.owner, r.period, r.metric, r.customer_group)).fetchone()[0]
            conn.execute(
                "INSERT INTO targets (level, owner, period, metric, customer_group, value, source, version,"
                " submission_id, created_at, approval_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (r.level, r.owner, r.period, r.metric, r.customer_group, r.value, source, version,
                 submission_id, stamp, approval_id))

    _CURRENT = """
            SELECT level, owner, period, metric, customer_group, value, source, version FROM targets t
            WHERE {where} version = (SELECT MAX(version) FROM targets u WHERE u.level = t.level
                             AND u.owner = t.owner AND u.period = t.period AND u.metric = t.metric
                             AND u.customer_group = t.customer_group)
            """

    def current_rows(self, level: str | None = None, owner: str | None = None, period: str | None = None,
                     not_period: str | None = None) -> list[tuple]:
        """Current figures as plain tuples (level, owner, period, metric, group, value, source, version).

        Filters keep memory small: generation fetches one person's months at a time.
        """
        where, args = "", []
        for column, value, op in (("level", level, "="), ("owner", owner, "="), ("period", period, "="),
                                  ("period", not_period, "<>")):
            if value is not None:
                where += f"{column} {op} ? AND "
                args.append(value)
        return self.db.execute(self._CURRENT.format(where=where), args).fetchall()

    def current_cursor(self, level: str | None = None, not_period: str | None = None):
        """current_rows as a cursor, for a caller that reads a large plan in pieces (fetchmany)."""
        where, args = "", []
        for column, value, op in (("level", level, "="), ("period", not_period, "<>")):
            if value is not None:
                where += f"{column} {op} ? AND "
                args.append(value)
        return self.db.execute(self._CURRENT.format(where=where), args)

    def current_targets(self, official_only: bool = False, owners: Iterable[str] | None = None) -> list[TargetRow]:
        """The plan as it stands: per key the newest non-suggestion version, else the suggestion.
        `official_only`: keys that have an official version only; `owners`: only these owners' keys."""
        if official_only or owners is not None:
            where, args = [], []
            if official_only:
                where.append("source != ?")
                args.append(SUGGESTION)
            if owners is not None:
                owners = list(owners)
                where.append(f"owner IN ({', '.join('?' for _ in owners)})")
                args += owners
            rows = self.db.execute(
                "SELECT level, owner, period, metric, customer_group, value, source, MAX(version) FROM targets"
                f" WHERE {' AND '.join(where)} GROUP BY level, owner, period, metric, customer_group",
                args).fetchall()
            return [TargetRow(*row) for row in rows]
        # SQLite takes the bare columns of a MAX() aggregate from the row holding the maximum, so one pass
        # over the key index finds each key's newest version (a correlated subquery per row took seconds
        # on a 2,000-person plan).
        rows = self.db.execute(
            """
            SELECT level, owner, period, metric, customer_group, value, source, MAX(version) FROM targets
            GROUP BY level, owner, period, metric, customer_group
            """).fetchall()
        return [TargetRow(*row) for row in rows]

    # --- what was sent -------------------------------------------------------------
    def next_revision(self, kind: str, owner: str, period: str) -> int:
        row = self.db.execute("SELECT COALESCE(MAX(revision), 0) + 1 FROM sent WHERE kind = ? AND owner = ?"
                              " AND period = ?", (kind, owner, period)).fetchone()
        return row[0]

    def record_sent(self, records: Iterable[SentRecord]) -> None:
        with self.transaction():
            self.db.executemany(
                "INSERT INTO sent (kind, owner, period, revision, path, signature, signed, generated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                ((r.kind, r.owner, r.period, r.revision, r.path, r.signature, r.signed, r.generated_at)
                 for r in records))

    def select(self, query: str, kind: str | None = None, period: str | None = None):
        """Rows of `query` (which ends in a WHERE clause) for one kind and/or period, oldest first."""
        args: list = []
        for column, value in (("kind", kind), ("period", period)):
            if value:
                query += f" AND {column} = ?"
                args.append(value)
        return self.db.execute(query + " ORDER BY id", args)

    def sent(self, kind: str | None = None, period: str | None = None) -> list[SentRecord]:
        return [SentRecord(*row) for row in self.select(
            "SELECT kind, owner, period, revision, path, signature, signed, generated_at FROM sent WHERE 1 = 1",
            kind, period)]

    def find_sent(self, kind: str, owner: str, period: str, revision: int) -> SentRecord | None:
        row = self.db.execute(
            "SELECT kind, owner, period, revision, path, signature, signed, generated_at FROM sent"
            " WHERE kind = ? AND owner = ? AND period = ? AND revision = ?", (kind, owner, period, revision)).fetchone()
        return SentRecord(*row) if row else None

    def replace_prior(self, rows) -> None:
        """rows: (kind, owner, metric, customer_group, slot, value); slot is the month index of a grid cell."""
        with self.transaction():
            self.db.execute("DELETE FROM prior")
            self.db.executemany("INSERT INTO prior (kind, owner, metric, customer_group, slot, value)"
                                " VALUES (?, ?, ?, ?, ?, ?)", rows)

    def prior_rows(self, kind: str, owner: str | None = None) -> list[tuple]:
        query = "SELECT owner, metric, customer_group, slot, value FROM prior WHERE kind = ?"
        args = [kind]
        if owner is not None:
            query += " AND owner = ?"
            args.append(owner)
        return self.db.execute(query, args).fetchall()

    def record_assignments(self, month: str, teams: dict[str, str]) -> None:
        with self.transaction():
            self.db.executemany("INSERT INTO assignments (month, person_id, team) VALUES (?, ?, ?) ON CONFLICT"
                                " (month, person_id) DO UPDATE SET team = excluded.team",
                                [(month, person, team) for person, team in teams.items()])

    def assignments(self) -> dict[tuple[str, str], str]:
        return {(month, person): team for month, person, team in
                self.db.execute("SELECT month, person_id, team FROM assignments")}

    def latest_revisions(self, kind: str, period: str) -> dict[str, int]:
        return dict(self.db.execute("SELECT owner, MAX(revision) FROM sent WHERE kind = ? AND period = ?"
                                    " GROUP BY owner", (kind, period)))
