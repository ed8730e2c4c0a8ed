//! Versioned schema migrations. Each step runs in one transaction and sets `user_version`.

use super::{Store, StoreError, APPLICATION_ID};

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 2;

/// Migration `i` brings the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 0 -> 1: journal, checkpoints, meta, inventory.
    "
    CREATE TABLE journal_entry(
        seq        INTEGER PRIMARY KEY,
        body       BLOB NOT NULL,
        prev_hash  BLOB NOT NULL,
        entry_hash BLOB NOT NULL
    );
    -- Accident guards, not a security control: verification is.
    CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal_entry
        BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
    CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal_entry
        BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
    CREATE TABLE journal_checkpoint(
        size    INTEGER PRIMARY KEY,
        text    TEXT NOT NULL
    );
    CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE inventory_key(
        key_id            TEXT PRIMARY KEY,
        label             TEXT NOT NULL,
        purpose           TEXT NOT NULL,
        key_type          TEXT NOT NULL,
        algorithm         TEXT NOT NULL,
        token_serial      TEXT NOT NULL,
        cka_id            TEXT NOT NULL,
        fingerprint       TEXT,
        state             TEXT NOT NULL,
        created_utc       TEXT NOT NULL,
        activated_utc     TEXT,
        state_changed_utc TEXT NOT NULL,
        cryptoperiod_days INTEGER NOT NULL,
        justification     TEXT,
        share_set_id      TEXT
    );
    CREATE TABLE inventory_backup(
        backup_id   TEXT PRIMARY KEY,
        key_id      TEXT NOT NULL REFERENCES inventory_key(key_id),
        wrapped_by  TEXT NOT NULL REFERENCES inventory_key(key_id),
        location    TEXT NOT NULL,
        created_utc TEXT NOT NULL,
        live        INTEGER NOT NULL
    );
    CREATE TABLE inventory_protected_data(
        key_id       TEXT NOT NULL REFERENCES inventory_key(key_id),
        description  TEXT NOT NULL,
        retain_until TEXT NOT NULL
    );
    ",
    // 1 -> 2: enrolled custodians (their YubiKeys' public keys), kept with the journal.
    "
    CREATE TABLE custodian(
        custodian_id   TEXT PRIMARY KEY,
        name           TEXT NOT NULL,
        yubikey_serial INTEGER NOT NULL,
        record         TEXT NOT NULL,
        ceremony_id    TEXT,
        enrolled_utc   TEXT NOT NULL,
        retired_utc    TEXT,
        retired_reason TEXT
    );
    CREATE UNIQUE INDEX custodian_active_serial ON custodian(yubikey_serial) WHERE retired_utc IS NULL;
    ",
];

pub(super) fn migrate(store: &Store) -> Result<(), StoreError> {
    let conn = store.conn();
    loop {
        let version = store.user_version()?;
        if version >= SCHEMA_VERSION {
            return Ok(());
        }
        let Some(sql) = MIGRATIONS.get(version as usize) else {
            return Ok(());
        };
        let batch = format!(
            "BEGIN IMMEDIATE; {sql} PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {}; COMMIT;",
            version + 1
        );
        if let Err(e) = conn.execute_batch(&batch) {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(store.err(e));
        }
    }
}
