"""The plan state store: an embedded SQLite database with versioned schema migrations."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

# A migration that starts with this runs with foreign keys off (they cannot change inside a transaction), as
# SQLite's own procedure for rebuilding a table asks; every key is checked again before it commits.
FOREIGN_KEYS_OFF = "-- foreign keys off\n"

# Each migration moves the schema up by one version; never edit one that has shipped, add a new one.
MIGRATIONS: tuple[str, ...] = (
    # 1: the plan as it stands, and what was sent to whom
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE targets (
        id INTEGER PRIMARY KEY,
        level TEXT NOT NULL CHECK (level IN ('company', 'team', 'person')),
        owner TEXT NOT NULL,
        period TEXT NOT NULL,
        metric TEXT NOT NULL,
        customer_group TEXT NOT NULL DEFAULT '',
        value REAL NOT NULL,
        source TEXT NOT NULL,
        version INTEGER NOT NULL,
        submission_id INTEGER,
        created_at TEXT NOT NULL
    );
    CREATE INDEX targets_key ON targets (level, owner, period, metric, customer_group, version);
    CREATE TABLE sent (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        owner TEXT NOT NULL,
        period TEXT NOT NULL,
        revision INTEGER NOT NULL,
        path TEXT NOT NULL,
        signature TEXT NOT NULL,
        signed TEXT NOT NULL,
        generated_at TEXT NOT NULL,
        UNIQUE (kind, owner, period, revision)
    );
    """,
    # 2: the ingest ledger: every returned file, its outcome, and the values it carried
    """
    CREATE TABLE submissions (
        id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL UNIQUE,
        original_name TEXT NOT NULL,
        source_path TEXT NOT NULL,
        received_at TEXT NOT NULL,
        ingested_at TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT '',
        owner TEXT NOT NULL DEFAULT '',
        period TEXT NOT NULL DEFAULT '',
        revision INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL CHECK (status IN ('accepted', 'rejected', 'superseded', 'stale')),
        problems TEXT NOT NULL,
        archive_path TEXT NOT NULL
    );
    CREATE INDEX submissions_round ON submissions (kind, period, owner, status);
    CREATE TABLE submitted_values (
        submission_id INTEGER NOT NULL REFERENCES submissions (id),
        block TEXT NOT NULL,
        row_key TEXT NOT NULL,
        col_key TEXT NOT NULL,
        value REAL NOT NULL
    );
    CREATE INDEX submitted_values_submission ON submitted_values (submission_id);
    CREATE TABLE submitted_texts (
        submission_id INTEGER NOT NULL REFERENCES submissions (id),
        block TEXT NOT NULL,
        row_key TEXT NOT NULL,
        col_key TEXT NOT NULL,
        text TEXT NOT NULL
    );
    CREATE INDEX submitted_texts_submission ON submitted_texts (submission_id);
    """,
    # 3: where each person was in each month, captured when the month round is generated, so people
    # who move team count where they were
    """
    CREATE TABLE assignments (
        month TEXT NOT NULL,
        person_id TEXT NOT NULL,
        team TEXT NOT NULL,
        PRIMARY KEY (month, person_id)
    );
    """,
    # 4: email: every message written as a draft or sent (so a rerun sends nothing twice), and every
    # collected message with the attachment saved from it (so a rerun collects nothing twice)
    """
    CREATE TABLE mail_sent (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        period TEXT NOT NULL,
        owner TEXT NOT NULL,
        recipient TEXT NOT NULL,
        message_id TEXT NOT NULL,
        subject TEXT NOT NULL DEFAULT '',
        attachment TEXT NOT NULL DEFAULT '',
        attachment_sha256 TEXT NOT NULL DEFAULT '',
        sent_at TEXT NOT NULL,
        mode TEXT NOT NULL CHECK (mode IN ('drafts', 'send'))
    );
    CREATE INDEX mail_sent_round ON mail_sent (kind, period, owner, mode);
    CREATE TABLE collected (
        id INTEGER PRIMARY KEY,
        message_key TEXT NOT NULL,
        message_id TEXT NOT NULL DEFAULT '',
        message_sha256 TEXT NOT NULL,
        sender TEXT NOT NULL,
        message_date TEXT NOT NULL,
        subject TEXT NOT NULL DEFAULT '',
        source TEXT NOT NULL,
        saved_path TEXT NOT NULL DEFAULT '',
        attachment_sha256 TEXT NOT NULL DEFAULT '',
        collected_at TEXT NOT NULL
    );
    CREATE INDEX collected_message ON collected (message_key);
    CREATE INDEX collected_attachment ON collected (attachment_sha256);
    """,
    # 5: prior-year figures as the allocation saw them, so generating templates never has to load
    # the whole history (memory stays flat as the head count grows)
    """
    CREATE TABLE prior (
        kind TEXT NOT NULL CHECK (kind IN ('team', 'person', 'grid')),
        owner TEXT NOT NULL,
        metric TEXT NOT NULL,
        customer_group TEXT NOT NULL DEFAULT '',
        slot INTEGER NOT NULL DEFAULT -1,
        value REAL NOT NULL
    );
    CREATE INDEX prior_owner ON prior (kind, owner);
    """,
    # 6: the accepted figures in one long form, whatever kind of workbook brought them: actuals from
    # month reports and targets from plans, each with the submission it came from
    """
    CREATE VIEW accepted_values AS
    SELECT 'person' AS level, s.owner AS owner, s.period AS period, substr(v.block, 4) AS metric,
           v.row_key AS customer_group, v.value AS value, 'actual' AS measure, s.id AS submission_id
    FROM submitted_values v JOIN submissions s ON s.id = v.submission_id
    WHERE s.status = 'accepted' AND s.kind = 'month' AND v.block <> 'in_revision'
    UNION ALL
    SELECT t.level, t.owner, t.period, t.metric, t.customer_group, t.value, 'target', t.submission_id
    FROM targets t JOIN submissions s ON s.id = t.submission_id
    WHERE t.source = 'accepted' AND s.status = 'accepted';
    """,
    # 7: approvals. A valid plan, revision request or re-forecast becomes an item that climbs its
    # approval chain; each level's decision is kept, and every official target version points at the
    # item that made it official (approval_id), so the audit trail can name the approver.
    """
    CREATE TABLE approval_items (
        id INTEGER PRIMARY KEY,
        item_kind TEXT NOT NULL,
        owner TEXT NOT NULL,
        period TEXT NOT NULL,
        submission_id INTEGER NOT NULL REFERENCES submissions (id),
        chain TEXT NOT NULL,
        step INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'superseded')),
        detail TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        closed_at TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX approval_items_open ON approval_items (status, item_kind, owner, period);
    CREATE TABLE approval_decisions (
        id INTEGER PRIMARY KEY,
        item_id INTEGER NOT NULL REFERENCES approval_items (id),
        step INTEGER NOT NULL,
        approver TEXT NOT NULL,
        decision TEXT NOT NULL CHECK (decision IN ('approve', 'reject')),
        comment TEXT NOT NULL DEFAULT '',
        submission_id INTEGER NOT NULL REFERENCES submissions (id),
        decided_at TEXT NOT NULL,
        UNIQUE (item_id, step)
    );
    ALTER TABLE targets ADD COLUMN approval_id INTEGER;
    """,
    # 8: a revision may name later months one by one (in_revision_months): those are not actuals either
    """
    DROP VIEW accepted_values;
    CREATE VIEW accepted_values AS
    SELECT 'person' AS level, s.owner AS owner, s.period AS period, substr(v.block, 4) AS metric,
           v.row_key AS customer_group, v.value AS value, 'actual' AS measure, s.id AS submission_id
    FROM submitted_values v JOIN submissions s ON s.id = v.submission_id
    WHERE s.status = 'accepted' AND s.kind = 'month' AND v.block NOT IN ('in_revision', 'in_revision_months')
    UNION ALL
    SELECT t.level, t.owner, t.period, t.metric, t.customer_group, t.value, 'target', t.submission_id
    FROM targets t JOIN submissions s ON s.id = t.submission_id
    WHERE t.source = 'accepted' AND s.status = 'accepted';
    """,
    # 9: times a sender cannot set. received_at becomes when the collecting mailbox got the file (its
    # server's Received: header) or when sheetplan first saw it; what the message or file claimed is kept
    # beside it, never used to decide. Workbooks from senders the [collect] policy does not allow wait in
    # quarantine until an analyst releases them.
    """
    ALTER TABLE submissions ADD COLUMN claimed_at TEXT NOT NULL DEFAULT '';
    ALTER TABLE submissions ADD COLUMN received_via TEXT NOT NULL DEFAULT '';
    ALTER TABLE collected ADD COLUMN received_at TEXT NOT NULL DEFAULT '';
    ALTER TABLE collected ADD COLUMN received_via TEXT NOT NULL DEFAULT '';
    CREATE TABLE quarantine (
        id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL,
        original_name TEXT NOT NULL,
        path TEXT NOT NULL,
        sender TEXT NOT NULL,
        kind TEXT NOT NULL,
        owner TEXT NOT NULL,
        period TEXT NOT NULL,
        revision INTEGER NOT NULL,
        reason TEXT NOT NULL,
        quarantined_at TEXT NOT NULL,
        released_at TEXT NOT NULL DEFAULT '',
        released_by TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX quarantine_sha ON quarantine (sha256);
    """,
    # 10: mail whose delivery is in doubt. A message is 'sending' (committed) before the server's final
    # reply to DATA is awaited, then 'done'; no reply (a timeout, a dropped connection, a killed run) makes
    # it 'in-doubt', why in `doubt`. The server may have it, so it is never sent again on its own.
    """
    ALTER TABLE mail_sent ADD COLUMN state TEXT NOT NULL DEFAULT 'done'
        CHECK (state IN ('sending', 'in-doubt', 'done'));
    ALTER TABLE mail_sent ADD COLUMN doubt TEXT NOT NULL DEFAULT '';
    ALTER TABLE mail_sent ADD COLUMN settled_at TEXT NOT NULL DEFAULT '';
    """,
    # 11: closed months. month_closings logs every close and reopen (a reopen with its reason); a month is
    # closed while its latest row is a close. A valid file for a closed month is recorded with status 'late'
    # and changes no figure, so the submissions table is rebuilt with 'late' allowed by its CHECK (SQLite
    # cannot alter a CHECK), foreign keys off meanwhile, and the view over it made again.
    FOREIGN_KEYS_OFF + """
    CREATE TABLE month_closings (
        id INTEGER PRIMARY KEY,
        month TEXT NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('close', 'reopen')),
        reason TEXT NOT NULL DEFAULT '',
        at TEXT NOT NULL
    );
    CREATE INDEX month_closings_month ON month_closings (month, id);
    DROP VIEW accepted_values;
    CREATE TABLE submissions_rebuilt (
        id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL UNIQUE,
        original_name TEXT NOT NULL,
        source_path TEXT NOT NULL,
        received_at TEXT NOT NULL,
        ingested_at TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT '',
        owner TEXT NOT NULL DEFAULT '',
        period TEXT NOT NULL DEFAULT '',
        revision INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL CHECK (status IN ('accepted', 'rejected', 'superseded', 'stale', 'late')),
        problems TEXT NOT NULL,
        archive_path TEXT NOT NULL,
        claimed_at TEXT NOT NULL DEFAULT '',
        received_via TEXT NOT NULL DEFAULT ''
    );
    INSERT INTO submissions_rebuilt (id, sha256, original_name, source_path, received_at, ingested_at, kind, owner,
        period, revision, status, problems, archive_path, claimed_at, received_via)
    SELECT id, sha256, original_name, source_path, received_at, ingested_at, kind, owner, period, revision, status,
        problems, archive_path, claimed_at, received_via FROM submissions;
    DROP TABLE submissions;
    ALTER TABLE submissions_rebuilt RENAME TO submissions;
    CREATE INDEX submissions_round ON submissions (kind, period, owner, status);
    CREATE VIEW accepted_values AS
    SELECT 'person' AS level, s.owner AS owner, s.period AS period, substr(v.block, 4) AS metric,
           v.row_key AS customer_group, v.value AS value, 'actual' AS measure, s.id AS submission_id
    FROM submitted_values v JOIN submissions s ON s.id = v.submission_id
    WHERE s.status = 'accepted' AND s.kind = 'month' AND v.block NOT IN ('in_revision', 'in_revision_months')
    UNION ALL
    SELECT t.level, t.owner, t.period, t.metric, t.customer_group, t.value, 'target', t.submission_id
    FROM targets t JOIN submissions s ON s.id = t.submission_id
    WHERE t.source = 'accepted' AND s.status = 'accepted';
    """,
    # 12: a handover (a leaver's remaining targets going to the roster's handover_to) climbs the receiver's
    # approval chain like a plan, but no returned file brought it: approval_items.submission_id becomes
    # nullable. SQLite cannot drop a NOT NULL, so the table is rebuilt, foreign keys off meanwhile.
    FOREIGN_KEYS_OFF + """
    CREATE TABLE approval_items_rebuilt (
        id INTEGER PRIMARY KEY,
        item_kind TEXT NOT NULL,
        owner TEXT NOT NULL,
        period TEXT NOT NULL,
        submission_id INTEGER REFERENCES submissions (id),
        chain TEXT NOT NULL,
        step INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'superseded')),
        detail TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        closed_at TEXT NOT NULL DEFAULT ''
    );
    INSERT INTO approval_items_rebuilt (id, item_kind, owner, period, submission_id, chain, step, status, detail,
        created_at, closed_at)
    SELECT id, item_kind, owner, period, submission_id, chain, step, status, detail, created_at, closed_at
    FROM approval_items;
    DROP TABLE approval_items;
    ALTER TABLE approval_items_rebuilt RENAME TO approval_items;
    CREATE INDEX approval_items_open ON approval_items (status, item_kind, owner, period);
    """,
    # 13: the prior year also keeps what the allocation reads besides the totals and grids (group totals
    # and the company's seasonal profile, exactly as computed), so a refresh whose inputs did not change
    # skips the history file. SQLite cannot alter a CHECK, so the table is rebuilt with its rows (until the
    # next refresh stores the new kinds, a refresh reads the history as before).
    """
    CREATE TABLE prior_rebuilt (
        kind TEXT NOT NULL CHECK (kind IN ('team', 'person', 'grid', 'person_group', 'team_group', 'profile')),
        owner TEXT NOT NULL,
        metric TEXT NOT NULL,
        customer_group TEXT NOT NULL DEFAULT '',
        slot INTEGER NOT NULL DEFAULT -1,
        value REAL NOT NULL
    );
    INSERT INTO prior_rebuilt (kind, owner, metric, customer_group, slot, value)
    SELECT kind, owner, metric, customer_group, slot, value FROM prior;
    DROP TABLE prior;
    ALTER TABLE prior_rebuilt RENAME TO prior;
    CREATE INDEX prior_owner ON prior (kind, owner);
    """,
    # 14: actuals imported from an ERP or CRM export. One row per file (same bytes: a duplicate); the lines
    # summed per person, month, customer group and metric; per month whether the file still stands there (a
    # later export of the same month supersedes it for that month only); each customer's first month in the
    # file, so new customers are counted once ever. accepted_values gains the imported figures and says
    # where every figure came from (source: reported, imported or plan; source_file: the file's name).
    """
    CREATE TABLE actual_imports (
        id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL UNIQUE,
        original_name TEXT NOT NULL,
        source_path TEXT NOT NULL,
        archive_path TEXT NOT NULL DEFAULT '',
        imported_at TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('accepted', 'rejected', 'superseded')),
        lines INTEGER NOT NULL DEFAULT 0,
        problems TEXT NOT NULL
    );
    CREATE TABLE import_months (
        import_id INTEGER NOT NULL REFERENCES actual_imports (id),
        month TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('accepted', 'superseded')),
        superseded_by INTEGER,
        lines INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (import_id, month)
    );
    CREATE INDEX import_months_month ON import_months (month, status);
    CREATE TABLE imported_values (
        import_id INTEGER NOT NULL REFERENCES actual_imports (id),
        person TEXT NOT NULL,
        month TEXT NOT NULL,
        metric TEXT NOT NULL,
        customer_group TEXT NOT NULL,
        value REAL NOT NULL,
        lines INTEGER NOT NULL
    );
    CREATE INDEX imported_values_import ON imported_values (import_id, month);
    CREATE TABLE imported_customers (
        import_id INTEGER NOT NULL REFERENCES actual_imports (id),
        customer TEXT NOT NULL,
        month TEXT NOT NULL
    );
    CREATE INDEX imported_customers_customer ON imported_customers (customer);
    DROP VIEW accepted_values;
    CREATE VIEW accepted_values AS
    SELECT 'person' AS level, s.owner AS owner, s.period AS period, substr(v.block, 4) AS metric,
           v.row_key AS customer_group, v.value AS value, 'actual' AS measure, s.id AS submission_id,
           'reported' AS source, s.original_name AS source_file
    FROM submitted_values v JOIN submissions s ON s.id = v.submission_id
    WHERE s.status = 'accepted' AND s.kind = 'month' AND v.block NOT IN ('in_revision', 'in_revision_months')
    UNION ALL
    SELECT t.level, t.owner, t.period, t.metric, t.customer_group, t.value, 'target', t.submission_id, 'plan',
           s.original_name
    FROM targets t JOIN submissions s ON s.id = t.submission_id
    WHERE t.source = 'accepted' AND s.status = 'accepted'
    UNION ALL
    SELECT 'person', i.person, i.month, i.metric, i.customer_group, i.value, 'actual', NULL, 'imported',
           a.original_name
    FROM imported_values i JOIN import_months m ON m.import_id = i.import_id AND m.month = i.month
    JOIN actual_imports a ON a.id = i.import_id
    WHERE m.status = 'accepted';
    """,
)

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
