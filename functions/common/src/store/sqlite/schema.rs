//! The embedded store's tables, and bringing an existing local database up to date.

use rusqlite::{Connection, TransactionBehavior};

/// The ledger's columns: written once here for the table and for rebuilding an older one.
macro_rules! ledger_columns {
    () => {
        "(
    id             TEXT PRIMARY KEY,
    account_id     TEXT NOT NULL REFERENCES accounts(id),
    -- A test key's session ('test') is an entry that moves nothing.
    kind           TEXT NOT NULL CHECK (kind IN ('grant', 'debit', 'test')),
    amount         INTEGER NOT NULL CHECK ((kind = 'test') = (amount = 0) AND amount >= 0),
    balance_after  INTEGER NOT NULL,
    key_id         TEXT,
    session_id     TEXT,
    reason         TEXT,
    at             TEXT NOT NULL
)"
    };
}

pub(super) const SCHEMA: &str = concat!(
    "
CREATE TABLE IF NOT EXISTS accounts (
    id          TEXT PRIMARY KEY,
    credits     INTEGER NOT NULL CHECK (credits >= 0),
    granted     INTEGER NOT NULL,
    debited     INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    -- The account's test-key sessions on `test_day` (days since 1970-01-01 UTC).
    test_day    INTEGER,
    test_count  INTEGER NOT NULL DEFAULT 0,
    -- The balance at which a debit raises credits.low (NULL: the store's default).
    low_credit_threshold  INTEGER
);
CREATE TABLE IF NOT EXISTS api_keys (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts(id),
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL,
    key_hash      TEXT NOT NULL UNIQUE,
    created_at    TEXT NOT NULL,
    last_used_at  TEXT,
    deleted_at    TEXT,
    -- Epoch seconds; NULL: never expires.
    expires_at    INTEGER,
    -- Sessions allowed per UTC day (NULL: no limit), and those opened on `usage_day`
    -- (days since 1970-01-01 UTC).
    sessions_per_day  INTEGER,
    usage_day         INTEGER,
    usage_count       INTEGER NOT NULL DEFAULT 0,
    -- Set when secret scanning reported the key leaked: it is refused from then on, and
    -- listed as leaked until its owner deletes it.
    leaked_at         TEXT
);
CREATE INDEX IF NOT EXISTS api_keys_by_account ON api_keys (account_id, created_at);
-- Listing and the live-key cap read live keys only, however many were deleted.
CREATE INDEX IF NOT EXISTS live_keys_by_account ON api_keys (account_id, created_at DESC) WHERE deleted_at IS NULL;
CREATE TABLE IF NOT EXISTS ledger ",
    ledger_columns!(),
    ";
CREATE INDEX IF NOT EXISTS ledger_by_account ON ledger (account_id);
-- Usage reads an account's entries over a time range.
CREATE INDEX IF NOT EXISTS ledger_by_account_time ON ledger (account_id, at);
CREATE TABLE IF NOT EXISTS audit_events (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL,
    action       TEXT NOT NULL,
    key_id       TEXT NOT NULL,
    session_id   TEXT,
    ip_address   TEXT,
    user_agent   TEXT,
    at           TEXT NOT NULL,
    ttl          INTEGER NOT NULL,
    previous_key_id TEXT,
    -- key.leaked: where the reporter found the key.
    url          TEXT,
    source       TEXT,
    -- key.used: 'live' or 'test', what the session spent.
    mode         TEXT
);
CREATE INDEX IF NOT EXISTS audit_by_account ON audit_events (account_id);
-- Low-credit events, written with the debit that raised them.
CREATE TABLE IF NOT EXISTS credit_events (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL,
    event       TEXT NOT NULL CHECK (event IN ('credits.low', 'credits.exhausted')),
    credits     INTEGER NOT NULL,
    threshold   INTEGER NOT NULL,
    key_id      TEXT,
    at          TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS credit_events_by_account ON credit_events (account_id);
-- Webhook endpoints; the signing secret sealed (never in the clear).
CREATE TABLE IF NOT EXISTS webhooks (
    id             TEXT PRIMARY KEY,
    account_id     TEXT NOT NULL,
    url            TEXT NOT NULL,
    -- The subscribed events' names, space-separated.
    events         TEXT NOT NULL,
    description    TEXT,
    sealed_secret  TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    -- When an event was last given up on; cleared by the next delivered event.
    failing_since  TEXT
);
CREATE INDEX IF NOT EXISTS webhooks_by_account ON webhooks (account_id);
-- Each endpoint's delivery attempts, kept DELIVERY_LOG_DAYS (`ttl`, epoch seconds).
-- Webhook jobs (one per event and endpoint) waiting for the sender: the local queue.
CREATE TABLE IF NOT EXISTS webhook_outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  TEXT NOT NULL,
    webhook_id  TEXT NOT NULL,
    -- The job as the queue carries it (JSON).
    job         TEXT NOT NULL,
    receives    INTEGER NOT NULL DEFAULT 0,
    -- Unix milliseconds: handed out again from then on.
    visible_at  INTEGER NOT NULL,
    -- Given up on (the dead-letter queue).
    dead_at     TEXT
);
CREATE INDEX IF NOT EXISTS outbox_visible ON webhook_outbox (visible_at) WHERE dead_at IS NULL;
-- key.expiring reminders, written with their key (one per lead still ahead).
CREATE TABLE IF NOT EXISTS key_reminders (
    key_id      TEXT NOT NULL,
    days        INTEGER NOT NULL,
    account_id  TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    due_at      INTEGER NOT NULL,
    PRIMARY KEY (key_id, days)
);
CREATE INDEX IF NOT EXISTS reminders_due ON key_reminders (due_at);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL,
    webhook_id  TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    status      INTEGER,
    latency_ms  INTEGER NOT NULL,
    error       TEXT,
    at          TEXT NOT NULL,
    ttl         INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_by_webhook ON webhook_deliveries (account_id, webhook_id, id);
CREATE TABLE IF NOT EXISTS idempotency (
    account_id      TEXT NOT NULL,
    key_hash        TEXT NOT NULL,
    api_key_id      TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    session_id      TEXT NOT NULL,
    -- The session token sealed with the replay key (`crate::sealed`), never the token.
    sealed_token    TEXT NOT NULL,
    expires_in      INTEGER NOT NULL,
    balance_after   INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    PRIMARY KEY (account_id, key_hash)
);
"
);

/// Journal and sync settings, the tables, and the migrations of databases made by older
/// versions, in one write transaction.
pub(super) fn prepare(conn: &mut Connection) -> rusqlite::Result<()> {
    // WAL lets readers run beside the one writer; FULL sync because a credit, once
    // acknowledged, must survive a crash.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(SCHEMA)?;
    // Databases made before ledger entries were kept for good had an expiry on them.
    let ledger_expires: bool = tx.query_row(
        "SELECT count(*) FROM pragma_table_info('ledger') WHERE name = 'ttl'",
        [],
        |r| r.get(0),
    )?;
    if ledger_expires {
        tx.execute_batch("ALTER TABLE ledger DROP COLUMN ttl")?;
    }
    // ... and keys from before keys could expire.
    let keys_expire: bool = tx.query_row(
        "SELECT count(*) FROM pragma_table_info('api_keys') WHERE name = 'expires_at'",
        [],
        |r| r.get(0),
    )?;
    if !keys_expire {
        tx.execute_batch("ALTER TABLE api_keys ADD COLUMN expires_at INTEGER")?;
    }
    // ... and keys from before keys had daily limits.
    let keys_limited: bool = tx.query_row(
        "SELECT count(*) FROM pragma_table_info('api_keys') WHERE name = 'sessions_per_day'",
        [],
        |r| r.get(0),
    )?;
    if !keys_limited {
        tx.execute_batch(
            "ALTER TABLE api_keys ADD COLUMN sessions_per_day INTEGER;
             ALTER TABLE api_keys ADD COLUMN usage_day INTEGER;
             ALTER TABLE api_keys ADD COLUMN usage_count INTEGER NOT NULL DEFAULT 0;",
        )?;
    }
    // ... and keys (and audit trails) from before leaked keys revoked themselves.
    let leaks_known: bool = tx.query_row(
        "SELECT count(*) FROM pragma_table_info('api_keys') WHERE name = 'leaked_at'",
        [],
        |r| r.get(0),
    )?;
    if !leaks_known {
        tx.execute_batch("ALTER TABLE api_keys ADD COLUMN leaked_at TEXT;")?;
    }
    // ... and audit trails from before keys could be rolled.
    let audit_links: bool = tx.query_row(
        "SELECT count(*) FROM pragma_table_info('audit_events') WHERE name = 'previous_key_id'",
        [],
        |r| r.get(0),
    )?;
    if !audit_links {
        tx.execute_batch("ALTER TABLE audit_events ADD COLUMN previous_key_id TEXT")?;
    }
    let audit_leaks: bool = tx.query_row(
        "SELECT count(*) FROM pragma_table_info('audit_events') WHERE name = 'url'",
        [],
        |r| r.get(0),
    )?;
    if !audit_leaks {
        tx.execute_batch(
            "ALTER TABLE audit_events ADD COLUMN url TEXT; ALTER TABLE audit_events ADD COLUMN source TEXT;",
        )?;
    }
    // ... and idempotency records that held the session token itself, or its claims to be
    // signed again. They live 24 hours and only locally, so they are dropped, not converted.
    let records_hold_tokens: bool = tx.query_row(
        "SELECT count(*) FROM pragma_table_info('idempotency') WHERE name IN ('token', 'claims')",
        [],
        |r| r.get(0),
    )?;
    if records_hold_tokens {
        tx.execute_batch(&format!("DROP TABLE idempotency; {SCHEMA}"))?;
    }
    // ... and databases from before test keys: the account's test count, the audit's mode,
    // and a ledger whose checks admit test entries (SQLite cannot alter a check, so the table
    // is rebuilt, its rows copied as they are).
    let tests_counted: bool = tx.query_row(
        "SELECT count(*) FROM pragma_table_info('accounts') WHERE name = 'test_day'",
        [],
        |r| r.get(0),
    )?;
    if !tests_counted {
        tx.execute_batch(
            "ALTER TABLE accounts ADD COLUMN test_day INTEGER;
             ALTER TABLE accounts ADD COLUMN test_count INTEGER NOT NULL DEFAULT 0;
             ALTER TABLE audit_events ADD COLUMN mode TEXT;",
        )?;
    }
    // ... and accounts from before each could set its own low-credit threshold.
    let thresholds_kept: bool = tx.query_row(
        "SELECT count(*) FROM pragma_table_info('accounts') WHERE name = 'low_credit_threshold'",
        [],
        |r| r.get(0),
    )?;
    if !thresholds_kept {
        tx.execute_batch("ALTER TABLE accounts ADD COLUMN low_credit_threshold INTEGER;")?;
    }
    // ... and webhook endpoints from before deliveries were retried.
    let failing_kept: bool = tx.query_row(
        "SELECT count(*) FROM pragma_table_info('webhooks') WHERE name = 'failing_since'",
        [],
        |r| r.get(0),
    )?;
    if !failing_kept {
        tx.execute_batch("ALTER TABLE webhooks ADD COLUMN failing_since TEXT;")?;
    }
    let ledger_admits_tests: bool = tx.query_row(
        "SELECT count(*) FROM sqlite_master WHERE name = 'ledger' AND sql LIKE '%''test''%'",
        [],
        |r| r.get(0),
    )?;
    if !ledger_admits_tests {
        const COLUMNS: &str = "id, account_id, kind, amount, balance_after, key_id, session_id, reason, at";
        tx.execute_batch(&format!(
            "{} INSERT INTO ledger_rebuilt ({COLUMNS}) SELECT {COLUMNS} FROM ledger;
             DROP TABLE ledger; ALTER TABLE ledger_rebuilt RENAME TO ledger; {SCHEMA}",
            concat!("CREATE TABLE ledger_rebuilt ", ledger_columns!(), ";")
        ))?;
    }
    tx.commit()
}
