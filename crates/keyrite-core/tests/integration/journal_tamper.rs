//! Each kind of tampering, done with plain SQL on the database file, is detected and named.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::journal::merkle::entry_hash;
use keyrite_core::journal::{Checkpoint, CheckpointTrust, Event, Journal, TamperKind, VerifyError};
use keyrite_core::signer::{Signer, SoftwareP384Signer};
use keyrite_core::store::StoreOptions;
use std::path::{Path, PathBuf};

fn step(i: u64) -> Event {
    Event::StepStarted {
        ceremony_id: "c-1".into(),
        step: format!("step-{i}"),
        title: format!("Step number {i}"),
    }
}

/// A journal with `n` entries; returns the db path and the tempdir guard.
fn journal_with(n: u64) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("journal.sqlite");
    let mut j = Journal::open(&db, &StoreOptions::default()).unwrap();
    for i in 0..n {
        j.append(step(i)).unwrap();
    }
    (tmp, db)
}

/// The attacker's connection: plain rusqlite, guard triggers dropped.
fn attacker(db: &Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(db).unwrap();
    c.execute_batch("DROP TRIGGER journal_no_update; DROP TRIGGER journal_no_delete;")
        .unwrap();
    c
}

fn verify_err(db: &Path, cp: Option<&Checkpoint>, trusted: &[[u8; 32]]) -> VerifyError {
    let j = Journal::open_read_only(db, &StoreOptions::default()).unwrap();
    j.verify(cp, trusted).unwrap_err()
}

fn row(c: &rusqlite::Connection, seq: i64) -> (Vec<u8>, [u8; 32], [u8; 32]) {
    c.query_row(
        "SELECT body, prev_hash, entry_hash FROM journal_entry WHERE seq = ?1",
        [seq],
        |r| {
            let p: Vec<u8> = r.get(1)?;
            let h: Vec<u8> = r.get(2)?;
            Ok((r.get(0)?, p.try_into().unwrap(), h.try_into().unwrap()))
        },
    )
    .unwrap()
}

#[test]
fn untouched_journal_verifies() {
    let (_t, db) = journal_with(20);
    let j = Journal::open_read_only(&db, &StoreOptions::default()).unwrap();
    let report = j.verify(None, &[]).unwrap();
    assert_eq!(report.head.size, 20);
    assert_eq!(report.head, j.head());
}

#[test]
fn modification_is_named() {
    let (_t, db) = journal_with(10);
    attacker(&db)
        .execute(
            "UPDATE journal_entry SET body = CAST(replace(CAST(body AS TEXT), 'Step number 5', 'Step number X') AS BLOB) WHERE seq = 5",
            [],
        )
        .unwrap();
    let err = verify_err(&db, None, &[]);
    assert_eq!(
        err.to_string(),
        "journal entry 5: it was modified: its contents do not match its stored hash"
    );
    assert!(matches!(
        err,
        VerifyError::Tamper {
            kind: TamperKind::Modified,
            seq: 5,
            ..
        }
    ));
}

#[test]
fn modification_with_rehash_is_named() {
    let (_t, db) = journal_with(10);
    let c = attacker(&db);
    let (body, prev, _) = row(&c, 5);
    let body = String::from_utf8(body)
        .unwrap()
        .replace("Step number 5", "Step number X");
    let h = entry_hash(5, &prev, body.as_bytes());
    c.execute(
        "UPDATE journal_entry SET body = ?1, entry_hash = ?2 WHERE seq = 5",
        rusqlite::params![body.as_bytes(), h.to_vec()],
    )
    .unwrap();
    assert_eq!(
        verify_err(&db, None, &[]).to_string(),
        "journal entry 5: it was modified and re-hashed: entry 6 no longer links to it"
    );
}

#[test]
fn deletion_is_named() {
    let (_t, db) = journal_with(10);
    attacker(&db)
        .execute("DELETE FROM journal_entry WHERE seq = 5", [])
        .unwrap();
    let err = verify_err(&db, None, &[]);
    assert_eq!(
        err.to_string(),
        "journal entry 5: it is missing (deleted): the journal jumps from entry 4 to entry 6"
    );
    assert_eq!(err.first_bad_seq(), Some(5));
}

#[test]
fn deletion_with_renumbering_is_named() {
    let (_t, db) = journal_with(10);
    let c = attacker(&db);
    c.execute("DELETE FROM journal_entry WHERE seq = 5", [])
        .unwrap();
    for s in 6..10 {
        c.execute(
            "UPDATE journal_entry SET seq = ?1 WHERE seq = ?2",
            [s - 1, s],
        )
        .unwrap();
    }
    assert_eq!(
        verify_err(&db, None, &[]).to_string(),
        "journal entry 5: it was deleted and later entries renumbered: the entry stored as 5 was written as entry 6"
    );
}

#[test]
fn reordering_is_named() {
    let (_t, db) = journal_with(10);
    attacker(&db)
        .execute_batch(
            "UPDATE journal_entry SET seq = -1 WHERE seq = 3;
             UPDATE journal_entry SET seq = 3 WHERE seq = 4;
             UPDATE journal_entry SET seq = 4 WHERE seq = -1;",
        )
        .unwrap();
    let err = verify_err(&db, None, &[]);
    assert_eq!(
        err.to_string(),
        "journal entry 3: it is out of order (reordered): the entry stored as 3 was written as entry 4"
    );
    assert!(matches!(
        err,
        VerifyError::Tamper {
            kind: TamperKind::Reordered,
            ..
        }
    ));
}

#[test]
fn insertion_in_the_middle_is_named() {
    let (_t, db) = journal_with(10);
    let c = attacker(&db);
    for s in (5..10).rev() {
        c.execute(
            "UPDATE journal_entry SET seq = ?1 WHERE seq = ?2",
            [s + 1, s],
        )
        .unwrap();
    }
    // A forged entry 5, correctly chained to entry 4 and dated like it.
    let (body4, _, h4) = row(&c, 4);
    let forged = String::from_utf8(body4)
        .unwrap()
        .replace("\"seq\":4", "\"seq\":5")
        .replace("Step number 4", "Forged step");
    let h = entry_hash(5, &h4, forged.as_bytes());
    c.execute(
        "INSERT INTO journal_entry(seq, body, prev_hash, entry_hash) VALUES (5, ?1, ?2, ?3)",
        rusqlite::params![forged.as_bytes(), h4.to_vec(), h.to_vec()],
    )
    .unwrap();
    let err = verify_err(&db, None, &[]);
    assert_eq!(
        err.to_string(),
        "journal entry 5: an entry was inserted here: the original entry 5 now sits at 6"
    );
    assert!(matches!(
        err,
        VerifyError::Tamper {
            kind: TamperKind::Inserted,
            ..
        }
    ));
}

#[test]
fn unlinked_entry_appended_at_the_end_is_named() {
    let (_t, db) = journal_with(10);
    let c = attacker(&db);
    let (body9, _, _) = row(&c, 9);
    let forged = String::from_utf8(body9)
        .unwrap()
        .replace("\"seq\":9", "\"seq\":10");
    let h = entry_hash(10, &[9; 32], forged.as_bytes());
    c.execute(
        "INSERT INTO journal_entry(seq, body, prev_hash, entry_hash) VALUES (10, ?1, ?2, ?3)",
        rusqlite::params![forged.as_bytes(), vec![9u8; 32], h.to_vec()],
    )
    .unwrap();
    assert_eq!(
        verify_err(&db, None, &[]).to_string(),
        "journal entry 10: it was inserted: it does not link to entry 9"
    );
}

#[test]
fn an_entry_forged_far_beyond_the_end_is_named_as_a_gap() {
    // Verification reads the journal in chunks of positions; a row a trillion positions on
    // must neither be missed nor make it read a trillion positions' worth of empty chunks.
    let (_t, db) = journal_with(10);
    let c = attacker(&db);
    let (body9, _, h9) = row(&c, 9);
    let far = 1_000_000_000_000_u64;
    let forged = String::from_utf8(body9)
        .unwrap()
        .replace("\"seq\":9", &format!("\"seq\":{far}"));
    let h = entry_hash(far, &h9, forged.as_bytes());
    c.execute(
        "INSERT INTO journal_entry(seq, body, prev_hash, entry_hash) VALUES (?1, ?2, ?3, ?4)",
        rusqlite::params![far as i64, forged.as_bytes(), h9.to_vec(), h.to_vec()],
    )
    .unwrap();
    assert_eq!(
        verify_err(&db, None, &[]).to_string(),
        "journal entry 10: entries 10 to 999999999999 are missing (deleted)"
    );
}

#[test]
fn a_body_stored_as_text_is_named() {
    let (_t, db) = journal_with(10);
    attacker(&db)
        .execute(
            "UPDATE journal_entry SET body = CAST(body AS TEXT) WHERE seq = 6",
            [],
        )
        .unwrap();
    assert_eq!(
        verify_err(&db, None, &[]).to_string(),
        "journal entry 6: it was modified: its body is stored as text, not as bytes"
    );
}

#[test]
fn a_journal_appended_to_while_it_is_verified_verifies() {
    // Verification reads chunks of the journal on several connections, each in a read
    // transaction of its own; a ceremony appending meanwhile only adds rows after them.
    let (_t, db) = journal_with(40);
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let mut j = Journal::open(&db, &StoreOptions::default()).unwrap();
            let mut n = 40;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                j.append(step(n)).unwrap();
                n += 1;
            }
            n
        });
        let mut sizes = Vec::new();
        for _ in 0..20 {
            let j = Journal::open_read_only(&db, &StoreOptions::default()).unwrap();
            let report = j.verify(None, &[]).unwrap();
            sizes.push(report.head.size);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let written = writer.join().unwrap();
        assert!(sizes.windows(2).all(|w| w[0] <= w[1]), "{sizes:?}");
        assert!(
            sizes[0] >= 40 && *sizes.last().unwrap() <= written,
            "{sizes:?}"
        );
    });
    let j = Journal::open_read_only(&db, &StoreOptions::default()).unwrap();
    assert_eq!(j.verify(None, &[]).unwrap().head, j.head());
}

/// A checkpoint at 10 entries, then more entries; returns (db, checkpoint, signer fp).
fn checkpointed() -> (tempfile::TempDir, PathBuf, Checkpoint, [u8; 32]) {
    let (t, db) = journal_with(10);
    let signer = SoftwareP384Signer::generate();
    let mut j = Journal::open(&db, &StoreOptions::default()).unwrap();
    let cp = j.checkpoint(&signer).unwrap();
    for i in 10..15 {
        j.append(step(i)).unwrap();
    }
    let fp = keyrite_core::signer::spki_fingerprint(&signer.public_key_spki().unwrap());
    (t, db, cp, fp)
}

#[test]
fn checkpoint_proves_consistency() {
    let (_t, db, cp, fp) = checkpointed();
    assert_eq!(cp.size, 10);
    let j = Journal::open_read_only(&db, &StoreOptions::default()).unwrap();
    let report = j.verify(Some(&cp), &[fp]).unwrap();
    assert_eq!(report.checkpoint, Some((10, cp.root)));
    assert_eq!(report.head.size, 16); // 10 steps, the checkpoint event, 5 steps
                                      // The text form read back (as from a printed record) proves the same.
    let back = Checkpoint::parse(&cp.to_text()).unwrap();
    assert_eq!(
        j.verify(Some(&back), &[fp]).unwrap().checkpoint,
        Some((10, cp.root))
    );
    assert_eq!(j.latest_checkpoint().unwrap(), Some(cp));
}

#[test]
fn truncation_is_detected_with_a_checkpoint() {
    let (_t, db, cp, fp) = checkpointed();
    attacker(&db)
        .execute("DELETE FROM journal_entry WHERE seq >= 7", [])
        .unwrap();
    // The journal's own stored checkpoint already shows the cut…
    let j = Journal::open_read_only(&db, &StoreOptions::default()).unwrap();
    assert_eq!(
        j.verify(None, &[]).unwrap_err().to_string(),
        "the journal's stored checkpoint of 10 entries covers 10 entries but the journal holds only 7: entries 7 to 9 are missing (the journal was truncated or rolled back to an older copy)"
    );
    // …but an insider removes it too: without an external anchor a clean cut is not seen, and
    // the report says nothing covers the journal…
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("DELETE FROM journal_checkpoint", [])
        .unwrap();
    let j = Journal::open_read_only(&db, &StoreOptions::default()).unwrap();
    let r = j.verify(None, &[]).unwrap();
    assert_eq!(r.head.size, 7);
    assert_eq!(
        r.coverage.lines(),
        ["entries 0 to 6: covered by no checkpoint"]
    );
    // …with the checkpoint it is named.
    let err = j.verify(Some(&cp), &[fp]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the checkpoint covers 10 entries but the journal holds only 7: entries 7 to 9 are missing (the journal was truncated or rolled back to an older copy)"
    );
    assert_eq!(err.first_bad_seq(), Some(7));
}

#[test]
fn rollback_to_an_older_copy_is_detected() {
    let (t, db) = journal_with(4);
    let old = t.path().join("old.sqlite");
    {
        // A consistent copy made by SQLite itself (what a backup tool would do).
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute("VACUUM INTO ?1", [old.to_str().unwrap()])
            .unwrap();
    }
    let signer = SoftwareP384Signer::generate();
    let fp = keyrite_core::signer::spki_fingerprint(&signer.public_key_spki().unwrap());
    let cp = {
        let mut j = Journal::open(&db, &StoreOptions::default()).unwrap();
        for i in 4..8 {
            j.append(step(i)).unwrap();
        }
        j.checkpoint(&signer).unwrap()
    };
    let j = Journal::open_read_only(&old, &StoreOptions::default()).unwrap();
    assert_eq!(
        j.verify(Some(&cp), &[fp]).unwrap_err().to_string(),
        "the checkpoint covers 8 entries but the journal holds only 4: entries 4 to 7 are missing (the journal was truncated or rolled back to an older copy)"
    );
}

#[test]
fn rewritten_history_contradicts_the_checkpoint() {
    let (_t, db, cp, fp) = checkpointed();
    // Rewrite entry 2 and recompute the whole chain after it: the chain alone is happy.
    let c = attacker(&db);
    let n: i64 = c
        .query_row("SELECT count(*) FROM journal_entry", [], |r| r.get(0))
        .unwrap();
    let mut prev = row(&c, 1).2;
    for s in 2..n {
        let (mut body, _, _) = row(&c, s);
        if s == 2 {
            body = String::from_utf8(body)
                .unwrap()
                .replace("Step number 2", "Step number Z")
                .into_bytes();
        }
        let h = entry_hash(s as u64, &prev, &body);
        c.execute(
            "UPDATE journal_entry SET body = ?1, prev_hash = ?2, entry_hash = ?3 WHERE seq = ?4",
            rusqlite::params![body, prev.to_vec(), h.to_vec(), s],
        )
        .unwrap();
        prev = h;
    }
    let j = Journal::open_read_only(&db, &StoreOptions::default()).unwrap();
    // The journal's own stored checkpoint contradicts the rewrite…
    assert_eq!(
        j.verify(None, &[]).unwrap_err().to_string(),
        "the journal's stored checkpoint of 10 entries does not match the journal's first 10 entries: history before entry 10 was rewritten after that checkpoint was signed"
    );
    // …and with it removed, the chain alone is happy, but the paper checkpoint is not.
    c.execute("DELETE FROM journal_checkpoint", []).unwrap();
    j.verify(None, &[]).unwrap();
    let err = j.verify(Some(&cp), &[fp]).unwrap_err();
    assert!(matches!(
        err,
        VerifyError::CheckpointMismatch { size: 10, .. }
    ));
    assert!(err.to_string().starts_with(&format!(
        "the journal's first 10 entries do not match the checkpoint root {}: history before entry 10 was rewritten after the checkpoint was signed",
        hex::encode(cp.root)
    )));
}

#[test]
fn checkpoint_by_an_unknown_key_is_refused() {
    let (_t, db, _cp, fp) = checkpointed();
    let rogue = SoftwareP384Signer::generate();
    let j = Journal::open_read_only(&db, &StoreOptions::default()).unwrap();
    let forged = Checkpoint::sign(
        j.origin(),
        j.head(),
        keyrite_core::journal::time::now(),
        &rogue,
    )
    .unwrap();
    let rogue_fp = hex::encode(forged.signer_fingerprint());
    assert_eq!(
        j.verify(Some(&forged), &[fp]).unwrap_err().to_string(),
        format!(
            "the checkpoint is signed by an unknown key (SPKI SHA-256 {rogue_fp}); the pinned record-signing key is {}",
            hex::encode(fp)
        )
    );
}

#[test]
fn checkpoint_of_another_journal_is_refused() {
    let (_t, db, cp, fp) = checkpointed();
    let (_t2, other) = journal_with(12);
    let j = Journal::open_read_only(&other, &StoreOptions::default()).unwrap();
    assert_eq!(
        j.verify(Some(&cp), &[fp]).unwrap_err().to_string(),
        format!(
            "the checkpoint is for journal {} but this journal is {}",
            cp.origin,
            j.origin()
        )
    );
    drop(db);
}

/// Two checkpoints (10 and 16 entries), then 3 more entries.
fn twice_checkpointed() -> (tempfile::TempDir, PathBuf, Checkpoint, Checkpoint, [u8; 32]) {
    let t = tempfile::tempdir().unwrap();
    let db = t.path().join("journal.sqlite");
    let signer = SoftwareP384Signer::generate();
    let fp = keyrite_core::signer::spki_fingerprint(&signer.public_key_spki().unwrap());
    let mut j = Journal::open(&db, &StoreOptions::default()).unwrap();
    for i in 0..10 {
        j.append(step(i)).unwrap();
    }
    let cp10 = j.checkpoint(&signer).unwrap();
    for i in 10..15 {
        j.append(step(i)).unwrap();
    }
    let cp16 = j.checkpoint(&signer).unwrap();
    for i in 15..18 {
        j.append(step(i)).unwrap();
    }
    (t, db, cp10, cp16, fp)
}

#[test]
fn coverage_names_paper_stored_and_uncovered_ranges() {
    let (_t, db, cp10, cp16, fp) = twice_checkpointed();
    assert_eq!((cp10.size, cp16.size), (10, 16));
    let j = Journal::open_read_only(&db, &StoreOptions::default()).unwrap();
    assert_eq!(j.head().size, 20);
    // Paper checkpoint of 10, pinned key.
    let r = j.verify(Some(&cp10), &[fp]).unwrap();
    assert_eq!(r.trust, CheckpointTrust::Pinned(vec![fp]));
    assert_eq!(r.stored.verified, [10, 16]);
    assert_eq!(r.stored.warning(), None);
    assert_eq!(
        r.coverage.lines(),
        [
            "entries 0 to 9: covered by the given (paper) checkpoint",
            "entries 10 to 15: covered only by a signed checkpoint stored in the journal itself",
            "entries 16 to 19: covered by no checkpoint",
        ]
    );
    // The later paper checkpoint covers everything the stored ones do.
    let r = j.verify(Some(&cp16), &[fp]).unwrap();
    assert_eq!(
        r.coverage.lines(),
        [
            "entries 0 to 15: covered by the given (paper) checkpoint",
            "entries 16 to 19: covered by no checkpoint",
        ]
    );
    // No paper checkpoint, no key: the journal's own key, said to be unpinned.
    let r = j.verify(None, &[]).unwrap();
    assert_eq!(r.trust, CheckpointTrust::JournalOwn(Some(fp)));
    assert_eq!(
        r.trust.describe(),
        format!("NOT PINNED: checkpoints were checked only against the journal's own record-signing key (SPKI SHA-256 {}), which the journal itself names; anyone able to rewrite the journal could replace that key and re-sign. Compare it with the key printed on your records, or pass --trust", hex::encode(fp))
    );
    assert_eq!(
        r.coverage.lines(),
        [
            "entries 0 to 15: covered only by a signed checkpoint stored in the journal itself",
            "entries 16 to 19: covered by no checkpoint",
        ]
    );
    // Pinned to another key: the stored ones prove nothing to this caller, and are listed.
    let other = [7u8; 32];
    let r = j.verify(None, &[other]).unwrap();
    assert_eq!(r.stored.other_signer, [10, 16]);
    assert_eq!(
        r.coverage.lines(),
        ["entries 0 to 19: covered by no checkpoint"]
    );
}

#[test]
fn an_emptied_checkpoint_table_is_reported_and_not_blamed_on_the_paper_checkpoint() {
    let (_t, db, cp10, _cp16, fp) = twice_checkpointed();
    attacker(&db)
        .execute("DELETE FROM journal_checkpoint", [])
        .unwrap();
    let j = Journal::open_read_only(&db, &StoreOptions::default()).unwrap();
    // No --trust: the key is taken from the journal's `checkpoint` entries; the genuine paper
    // checkpoint verifies.
    let r = j.verify(Some(&cp10), &[]).unwrap();
    assert_eq!(r.trust, CheckpointTrust::JournalOwn(Some(fp)));
    assert_eq!(r.checkpoint, Some((10, cp10.root)));
    assert_eq!(r.stored.missing, [10, 16]);
    assert_eq!(
        r.stored.warning().unwrap(),
        "the journal records 2 signed checkpoints (of 10, 16 entries) that its stored-checkpoint table does not hold: the table was emptied or rows were deleted; those checkpoints cover nothing here"
    );
    assert_eq!(
        r.coverage.lines(),
        [
            "entries 0 to 9: covered by the given (paper) checkpoint",
            "entries 10 to 19: covered by no checkpoint",
        ]
    );
    // With the checkpoint entries gone too (a journal with no trace of its key), the verdict
    // says a key is needed, not that the paper checkpoint is bad.
    let (_t2, fresh) = journal_with(12);
    let j2 = Journal::open_read_only(&fresh, &StoreOptions::default()).unwrap();
    let mut foreign = cp10.clone();
    foreign.origin = j2.origin().to_string();
    assert_eq!(
        j2.verify(Some(&foreign), &[]).unwrap_err().to_string(),
        "the checkpoint cannot be checked: no --trust key was given and the journal names no record-signing key of its own (its stored-checkpoint table is empty and it has no checkpoint entry); pass --trust <SPKI SHA-256 of the record-signing key printed on your records>"
    );
    // A dropped table is named as such.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("DROP TABLE journal_checkpoint", [])
        .unwrap();
    let j = Journal::open_read_only(&db, &StoreOptions::default()).unwrap();
    let r = j.verify(Some(&cp10), &[fp]).unwrap();
    assert!(r.stored.table_missing);
    assert_eq!(
        r.stored.warning().unwrap(),
        "the journal's stored-checkpoint table is missing (dropped): entries are covered only by a checkpoint given on the command line, or by none"
    );
}

#[test]
fn an_altered_stored_checkpoint_is_named() {
    let (_t, db, _cp10, cp16, _fp) = twice_checkpointed();
    let mut text = cp16.to_text();
    text = text.replace("size 16", "size 15");
    attacker(&db)
        .execute(
            "UPDATE journal_checkpoint SET text = ?1 WHERE size = 16",
            [text],
        )
        .unwrap();
    let j = Journal::open_read_only(&db, &StoreOptions::default()).unwrap();
    assert_eq!(
        j.verify(None, &[]).unwrap_err().to_string(),
        "the journal's stored checkpoint of 16 entries says it covers 15 entries: the stored-checkpoint table was altered"
    );
    let forged = cp16
        .to_text()
        .replace(&hex::encode(cp16.root), &"ab".repeat(32));
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute(
            "UPDATE journal_checkpoint SET text = ?1 WHERE size = 16",
            [forged],
        )
        .unwrap();
    let j = Journal::open_read_only(&db, &StoreOptions::default()).unwrap();
    assert_eq!(
        j.verify(None, &[]).unwrap_err().to_string(),
        "the journal's stored checkpoint of 16 entries has a signature that does not verify: the stored-checkpoint table was altered"
    );
}
