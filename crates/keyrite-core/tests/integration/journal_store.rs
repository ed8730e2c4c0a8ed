//! Bad input to the store: newer schema, corrupt file, foreign database, locked database,
//! second writer, secrets in events. Exact messages; nothing rewritten.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::journal::{Event, Journal};
use keyrite_core::store::{StoreOptions, WriterLock};
use std::time::Duration;

fn note(kind: &str) -> Event {
    Event::Note { kind: kind.into() }
}

fn fresh() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("journal.sqlite");
    let mut j = Journal::open(&db, &StoreOptions::default()).unwrap();
    j.append(note("first")).unwrap();
    (tmp, db)
}

#[test]
fn newer_schema_is_refused_and_untouched() {
    let (_t, db) = fresh();
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99")
        .unwrap();
    let before = std::fs::read(&db).unwrap();
    let err = Journal::open(&db, &StoreOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{} has schema version 99, newer than this Keyrite understands (version 2); nothing was changed: use a newer Keyrite", db.display())
    );
    assert_eq!(std::fs::read(&db).unwrap(), before);
    let err = Journal::open_read_only(&db, &StoreOptions::default()).unwrap_err();
    assert!(err.to_string().contains("has schema version 99"));
}

#[test]
fn corrupt_file_is_refused_and_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("journal.sqlite");
    let junk = b"this is not an SQLite database, it is a shopping list\n".repeat(100);
    std::fs::write(&db, &junk).unwrap();
    let msg = format!(
        "{} is not a readable Keyrite journal database (file is not a database); nothing was changed: restore it from a backup or point --data-dir at the right directory",
        db.display()
    );
    assert_eq!(
        Journal::open(&db, &StoreOptions::default())
            .unwrap_err()
            .to_string(),
        msg
    );
    assert_eq!(
        Journal::open_read_only(&db, &StoreOptions::default())
            .unwrap_err()
            .to_string(),
        msg
    );
    assert_eq!(std::fs::read(&db).unwrap(), junk);
}

#[test]
fn damaged_pages_are_reported_by_verify() {
    let (_t, db) = fresh();
    {
        let mut j = Journal::open(&db, &StoreOptions::default()).unwrap();
        for i in 0..300 {
            j.append(note(&format!("filler-{i}-{}", "x".repeat(200))))
                .unwrap();
        }
    }
    // Checkpoint the WAL into the main file, then overwrite a page in the middle.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE;")
        .unwrap();
    let mut bytes = std::fs::read(&db).unwrap();
    let page = 4096 * 5;
    bytes[page..page + 4096].fill(0xA5);
    std::fs::write(&db, &bytes).unwrap();
    let err = Journal::open_read_only(&db, &StoreOptions::default())
        .and_then(|j| {
            j.verify(None, &[])
                .map_err(|e| keyrite_core::journal::JournalError::BadEntry {
                    seq: 0,
                    what: e.to_string(),
                })
        })
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("is not a readable Keyrite journal database"),
        "{err}"
    );
}

#[test]
fn foreign_database_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("journal.sqlite");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE recipes(name TEXT)")
        .unwrap();
    assert_eq!(
        Journal::open(&db, &StoreOptions::default()).unwrap_err().to_string(),
        format!("{} is an SQLite database of another application (application_id 0x00000000); nothing was changed", db.display())
    );
}

#[test]
fn locked_database_fails_closed() {
    let (_t, db) = fresh();
    let other = rusqlite::Connection::open(&db).unwrap();
    other
        .execute_batch("BEGIN EXCLUSIVE; INSERT INTO meta VALUES ('x', 'y');")
        .unwrap();
    let opts = StoreOptions {
        busy_timeout: Duration::from_millis(200),
    };
    let mut j = Journal::open(&db, &opts).unwrap();
    let err = j.append(note("blocked")).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{} is locked by another program (SQLite stayed busy for 200 ms); nothing was written: close the other program and try again", db.display())
    );
    assert_eq!(j.head().size, 1);
    other.execute_batch("ROLLBACK").unwrap();
    j.append(note("after")).unwrap();
    assert_eq!(j.verify(None, &[]).unwrap().head.size, 2);
}

#[test]
fn second_writer_is_refused_naming_the_holder() {
    let (_t, db) = fresh();
    let _first = Journal::open(&db, &StoreOptions::default()).unwrap();
    let lock = std::fs::read_to_string(WriterLock::path_for(&db)).unwrap();
    let field = |k: &str| {
        lock.lines()
            .find_map(|l| l.strip_prefix(k))
            .unwrap()
            .to_string()
    };
    let err = Journal::open(&db, &StoreOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "the journal in {} is in use by another Keyrite process (pid {} on host {}, since {}); close that process and try again",
            db.parent().unwrap().display(),
            std::process::id(),
            field("host="),
            field("since=")
        )
    );
    // Readers (verify, export) are not writers.
    Journal::open_read_only(&db, &StoreOptions::default())
        .unwrap()
        .verify(None, &[])
        .unwrap();
}

#[test]
fn secrets_are_refused_and_nothing_is_written() {
    let (_t, db) = fresh();
    let mut j = Journal::open(&db, &StoreOptions::default()).unwrap();
    let err = j
        .append_with_details(
            note("login"),
            serde_json::json!({"custodian": "c-3", "user_pin": "123456"}),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "event note was refused: field $.details.user_pin would put a secret into the journal; events carry identifiers and fingerprints only"
    );
    let err = j
        .append_with_details(
            note("x"),
            serde_json::json!({"nested": [{"Share-Value": "abc"}]}),
        )
        .unwrap_err();
    assert!(err
        .to_string()
        .contains("field $.details.nested[0].Share-Value would put a secret"));
    let err = j
        .append_with_details(note("x"), serde_json::json!({"ratio": 0.5}))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "event note was refused: field $.details.ratio holds a fractional number; journal events carry integers or strings only"
    );
    assert_eq!(j.head().size, 1);
}

#[test]
fn operation_and_event_commit_together() {
    let (_t, db) = fresh();
    let mut j = Journal::open(&db, &StoreOptions::default()).unwrap();
    // The operation fails: no event.
    let r: Result<(_, ()), keyrite_core::journal::JournalError> =
        j.append_with(note("op"), serde_json::Value::Null, |tx| {
            tx.execute("INSERT INTO meta VALUES ('op', 'done')", [])
                .unwrap();
            Err(keyrite_core::journal::JournalError::BadEntry {
                seq: 0,
                what: "the operation failed".into(),
            })
        });
    assert!(r.is_err());
    assert_eq!(j.head().size, 1);
    let n: i64 = j
        .store()
        .conn()
        .query_row("SELECT count(*) FROM meta WHERE key = 'op'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(n, 0, "the operation was rolled back");
    // Both succeed: both visible after reopening.
    let (entry, ()) = j
        .append_with(note("op"), serde_json::Value::Null, |tx| {
            tx.execute("INSERT INTO meta VALUES ('op', 'done')", [])
                .map(|_| ())
                .map_err(|e| keyrite_core::journal::JournalError::BadEntry {
                    seq: 0,
                    what: e.to_string(),
                })
        })
        .unwrap();
    assert_eq!(entry.seq, 1);
    drop(j);
    let j = Journal::open_read_only(&db, &StoreOptions::default()).unwrap();
    assert_eq!(j.entry(1).unwrap().event().unwrap(), note("op"));
    assert_eq!(j.head().size, 2);
}

#[test]
fn head_is_shown_as_hex_and_words() {
    let (_t, db) = fresh();
    let j = Journal::open_read_only(&db, &StoreOptions::default()).unwrap();
    let head = j.head();
    assert_eq!(head.root_hex().len(), 64);
    assert_eq!(
        keyrite_core::words::from_words(&head.root_words()).unwrap(),
        head.root.to_vec()
    );
    let e = j.entry(0).unwrap();
    assert_eq!(
        head.root,
        keyrite_core::journal::merkle::leaf_hash(&e.entry_hash)
    );
}

#[test]
fn a_version_1_journal_gains_the_custodian_register_and_keeps_its_entries() {
    let (_t, db) = fresh();
    let size = {
        let mut j = Journal::open(&db, &StoreOptions::default()).unwrap();
        j.append(keyrite_core::journal::Event::Note {
            kind: "before the upgrade".into(),
        })
        .unwrap();
        j.head().size
    };
    // What a Keyrite with schema 1 left behind: no custodian table, user_version 1.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(
            "DROP INDEX custodian_active_serial; DROP TABLE custodian; PRAGMA user_version = 1",
        )
        .unwrap();
    let j = Journal::open(&db, &StoreOptions::default()).unwrap();
    assert_eq!(j.head().size, size);
    assert_eq!(
        keyrite_core::inventory::custodians::active(j.store()).unwrap(),
        vec![]
    );
    let v: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, 2);
}
