"""The plan store's schema, one migration per version: SQLite runs them in order, each in one transaction."""

from __future__ import annotations

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
