//! The journal's derived tables (entry index, stored Merkle subtrees) and grouped commits:
//! they give the same answers as reading every entry, a journal written without them is
//! brought up to date, and forging them cannot make verification pass.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::journal::{Event, Journal, Select};
use keyrite_core::store::StoreOptions;
use std::path::Path;

fn started(id: &str) -> Event {
    Event::CeremonyStarted {
        ceremony_id: id.into(),
        script_name: "s".into(),
        script_sha256: "00".into(),
        mode: "rehearsal".into(),
    }
}

fn step(id: &str, n: u32) -> Event {
    Event::StepCompleted {
        ceremony_id: id.into(),
        step: format!("step-{n}"),
    }
}

/// 700 entries (more than two stored subtrees of 256): three ceremonies interleaved with notes.
fn journal(db: &Path) -> Journal {
    let mut j = Journal::open(db, &StoreOptions::default()).unwrap();
    for c in ["c-a", "c-b", "c-c"] {
        j.append(started(c)).unwrap();
    }
    let batch: Vec<(Event, serde_json::Value)> = (0..697u32)
        .map(|i| match i % 4 {
            0 => (step("c-a", i), serde_json::Value::Null),
            1 => (step("c-b", i), serde_json::Value::Null),
            2 => (
                Event::Note {
                    kind: format!("n{i}"),
                },
                serde_json::json!({"ceremony_id": "c-c"}),
            ),
            _ => (
                Event::Note {
                    kind: format!("n{i}"),
                },
                serde_json::Value::Null,
            ),
        })
        .collect();
    j.append_batch(batch).unwrap();
    j
}

/// What a full scan says `select` picks, as sequence numbers.
fn by_scan(j: &Journal, kinds: &[&str], ceremony: Option<&str>, from: u64) -> Vec<u64> {
    let mut out = Vec::new();
    j.for_each_entry(from, j.head().size - 1, |e| {
        let b = e.body_json()?;
        let kind = b["event"]["type"].as_str().unwrap_or("");
        let c = b["event"]["ceremony_id"]
            .as_str()
            .or(b["details"]["ceremony_id"].as_str());
        if kinds.contains(&kind) || (ceremony.is_some() && c == ceremony) {
            out.push(e.seq);
        }
        Ok(())
    })
    .unwrap();
    out
}

fn by_index(j: &Journal, kinds: &[&str], ceremony: Option<&str>, from: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let select = Select {
        kinds,
        ceremony_id: ceremony,
    };
    j.for_each_selected(&select, from, |e| {
        out.push(e.seq);
        Ok(())
    })
    .unwrap();
    out
}

fn same_answers(j: &Journal) {
    for (kinds, ceremony, from) in [
        (&["ceremony_started"][..], None, 0),
        (&["note", "ceremony_started"][..], None, 2),
        (&[][..], Some("c-c"), 0),
        (&["step_completed"][..], Some("c-c"), 300),
        (&["no_such_kind"][..], None, 0),
    ] {
        let scan = by_scan(j, kinds, ceremony, from);
        assert_eq!(
            by_index(j, kinds, ceremony, from),
            scan,
            "{kinds:?} {ceremony:?}"
        );
        // Newest first: every selected entry in reverse, and it stops at the first `true`.
        let select = Select {
            kinds,
            ceremony_id: ceremony,
        };
        let all = by_scan(j, kinds, ceremony, 0);
        let mut newest = Vec::new();
        let found = j
            .find_newest_selected(&select, |e| {
                newest.push(e.seq);
                Ok(false)
            })
            .unwrap();
        assert!(!found);
        let reversed: Vec<u64> = all.iter().rev().copied().collect();
        assert_eq!(newest, reversed, "{kinds:?} {ceremony:?}");
        if let Some(&second) = reversed.get(1) {
            let mut read = 0;
            let found = j
                .find_newest_selected(&select, |e| {
                    read += 1;
                    Ok(e.seq == second)
                })
                .unwrap();
            assert!(found && read == 2, "{kinds:?} {ceremony:?}: read {read}");
        }
    }
    assert_eq!(j.ceremony_start("c-b").unwrap(), Some(1));
    assert_eq!(j.ceremony_start("c-z").unwrap(), None);
    assert_eq!(
        j.last_of_kind_before("ceremony_started", 2).unwrap(),
        Some(1)
    );
    assert_eq!(j.last_of_kind_before("ceremony_started", 0).unwrap(), None);
}

#[test]
fn the_index_answers_like_a_full_scan_and_the_head_survives_reopening() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("journal.sqlite");
    let head = {
        let j = journal(&db);
        same_answers(&j);
        j.head()
    };
    // Reopened, the head comes from the stored subtrees; it is the one verification computes.
    let j = Journal::open(&db, &StoreOptions::default()).unwrap();
    assert_eq!(j.head(), head);
    let r = Journal::open_read_only(&db, &StoreOptions::default()).unwrap();
    assert_eq!(r.head(), head);
    assert_eq!(r.verify(None, &[]).unwrap().head, head);
    same_answers(&r);
    let nodes: i64 = j
        .store()
        .conn()
        .query_row("SELECT count(*) FROM journal_node", [], |r| r.get(0))
        .unwrap();
    // 700 entries: the subtrees of 256 leaves at 0 and 256, and of 512 at 0.
    assert_eq!(nodes, 3);
}

#[test]
fn a_journal_written_without_the_index_is_caught_up() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("journal.sqlite");
    let head = journal(&db).head();
    // What a Keyrite before the index left behind: no derived tables.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("DROP TABLE journal_index; DROP TABLE journal_node;")
        .unwrap();
    // Read-only, nothing can be written: the entries are read instead.
    let r = Journal::open_read_only(&db, &StoreOptions::default()).unwrap();
    assert_eq!(r.head(), head);
    same_answers(&r);
    assert_eq!(r.unfinished_from().unwrap(), 0);
    drop(r);
    // Half an index (entries appended by an older Keyrite after a newer one).
    {
        let j = Journal::open(&db, &StoreOptions::default()).unwrap();
        j.store()
            .conn()
            .execute_batch("DELETE FROM journal_index WHERE seq >= 350; DELETE FROM journal_node WHERE level = 9;")
            .unwrap();
    }
    let r = Journal::open_read_only(&db, &StoreOptions::default()).unwrap();
    assert_eq!(r.head(), head);
    same_answers(&r);
    drop(r);
    let j = Journal::open(&db, &StoreOptions::default()).unwrap();
    assert_eq!(j.head(), head);
    same_answers(&j);
    let indexed: i64 = j
        .store()
        .conn()
        .query_row("SELECT count(*) FROM journal_index", [], |r| r.get(0))
        .unwrap();
    assert_eq!(indexed as u64, head.size);
    let nodes: i64 = j
        .store()
        .conn()
        .query_row("SELECT count(*) FROM journal_node", [], |r| r.get(0))
        .unwrap();
    assert_eq!(nodes, 3);
}

#[test]
fn a_forged_subtree_node_is_caught_by_verification_not_hidden() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("journal.sqlite");
    let signer = keyrite_core::signer::SoftwareP384Signer::generate();
    let good = journal(&db).head();
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("UPDATE journal_node SET hash = zeroblob(32) WHERE level = 9")
        .unwrap();
    // The writer trusts its cache for the head it signs; verification recomputes everything,
    // so the forged head shows up as a stored checkpoint that contradicts the entries.
    let mut j = Journal::open(&db, &StoreOptions::default()).unwrap();
    assert_ne!(j.head(), good);
    j.checkpoint(&signer).unwrap();
    let err = j.verify(None, &[]).unwrap_err().to_string();
    assert_eq!(
        err,
        "the journal's stored checkpoint of 700 entries does not match the journal's first 700 entries: history before entry 700 was rewritten after that checkpoint was signed"
    );
}

#[test]
fn unfinished_ceremonies_are_found_from_the_first_not_closed_before_the_last_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("journal.sqlite");
    let signer = keyrite_core::signer::SoftwareP384Signer::generate();
    let mut j = Journal::open(&db, &StoreOptions::default()).unwrap();
    let closed = |id: &str| Event::CeremonyClosed {
        ceremony_id: id.into(),
        outcome: "completed".into(),
    };
    assert_eq!(j.unfinished_from().unwrap(), 0);
    j.append(started("c-1")).unwrap(); // 0
    j.append(closed("c-1")).unwrap(); // 1
                                      // Closed, but no checkpoint after it yet: it may still need its closing checkpoint.
    assert_eq!(j.unfinished_from().unwrap(), 0);
    j.checkpoint(&signer).unwrap(); // 2, size 2
    assert_eq!(j.unfinished_from().unwrap(), 3);
    j.append(started("c-2")).unwrap(); // 3
    j.append(started("c-3")).unwrap(); // 4
    j.append(closed("c-3")).unwrap(); // 5
    j.checkpoint(&signer).unwrap(); // 6
    assert_eq!(j.unfinished_from().unwrap(), 3);
    j.append(closed("c-2")).unwrap(); // 7
    assert_eq!(j.unfinished_from().unwrap(), 3);
    j.checkpoint(&signer).unwrap(); // 8
    assert_eq!(j.unfinished_from().unwrap(), 9);
    let last = j.closing_before(9).unwrap().unwrap();
    assert_eq!(
        (
            last.ceremony_id.as_str(),
            last.closed_seq,
            last.checkpoint_size
        ),
        ("c-2", 7, Some(8))
    );
    assert_eq!(j.closing_before(5).unwrap().unwrap().ceremony_id, "c-1");
    assert!(j.closing_before(1).unwrap().is_none());
    assert_eq!(j.closings().unwrap().len(), 3);
}

#[test]
fn step_bookkeeping_is_grouped_and_everything_else_is_synced() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("journal.sqlite");
    let mut j = Journal::open(&db, &StoreOptions::default()).unwrap();
    let sync = |j: &Journal| -> i64 {
        j.store()
            .conn()
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap()
    };
    // SQLite: 1 = NORMAL (no fsync at commit), 2 = FULL.
    assert_eq!(sync(&j), 2);
    j.append(started("c-1")).unwrap();
    assert_eq!(sync(&j), 2);
    j.append(step("c-1", 1)).unwrap();
    assert_eq!(sync(&j), 1);
    j.append(Event::ActionIntent {
        ceremony_id: "c-1".into(),
        step: "s".into(),
        action: "generate-key".into(),
        label: Some("k".into()),
    })
    .unwrap();
    assert_eq!(sync(&j), 2);
    j.append(step("c-1", 2)).unwrap();
    j.append_batch([(step("c-1", 3), serde_json::Value::Null)])
        .unwrap();
    assert_eq!(sync(&j), 2);
    assert_eq!(j.verify(None, &[]).unwrap().head.size, 5);
}

#[test]
fn a_range_is_proven_under_a_checkpoint_and_a_forged_sibling_or_body_fails_it() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("journal.sqlite");
    let signer = keyrite_core::signer::SoftwareP384Signer::generate();
    let mut j = journal(&db);
    let cp = j.checkpoint(&signer).unwrap();
    let fp = cp.signer_fingerprint();
    let p = j.prove_range(&cp, &[fp], 300, 310).unwrap();
    assert_eq!(
        (p.first, p.last, p.size, p.journal_size),
        (300, 310, 700, 701)
    );
    assert_eq!(j.prove_range(&cp, &[fp], 0, 699).unwrap().last, 699);
    // A range past the checkpoint is cut at its last entry; an empty range checks the root.
    assert_eq!(j.prove_range(&cp, &[fp], 690, 5000).unwrap().last, 699);
    j.prove_range(&cp, &[fp], 700, 699).unwrap();
    assert_eq!(
        j.prove_range(&cp, &[[1; 32]], 300, 310).unwrap_err().to_string(),
        format!(
            "the checkpoint is signed by an unknown key (SPKI SHA-256 {}); the pinned record-signing key is {}",
            hex::encode(fp),
            hex::encode([1u8; 32])
        )
    );
    let c = j.store().conn();
    c.execute_batch("UPDATE journal_node SET hash = zeroblob(32) WHERE level = 8 AND idx = 0")
        .unwrap();
    let err = j.prove_range(&cp, &[fp], 300, 310).unwrap_err().to_string();
    assert!(
        err.starts_with("the journal's first 700 entries do not match the checkpoint root"),
        "{err}"
    );
    c.execute_batch(
        "DROP TRIGGER journal_no_update; \
         UPDATE journal_entry SET body = CAST(replace(CAST(body AS TEXT), '\"v\":1', '\"v\":2') AS BLOB) WHERE seq = 305;",
    )
    .unwrap();
    assert_eq!(
        j.prove_range(&cp, &[fp], 300, 310).unwrap_err().to_string(),
        "journal entry 305: it was modified: its contents do not match its stored hash"
    );
}

#[test]
fn entries_removed_behind_keyrites_back_take_their_index_rows_and_nodes_along() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("journal.sqlite");
    drop(journal(&db));
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(
            "DROP TRIGGER journal_no_delete; DELETE FROM journal_entry WHERE seq >= 300;",
        )
        .unwrap();
    let mut j = Journal::open(&db, &StoreOptions::default()).unwrap();
    assert_eq!(j.head(), j.verify(None, &[]).unwrap().head);
    assert_eq!(j.head().size, 300);
    let count = |j: &Journal, t: &str| -> i64 {
        j.store()
            .conn()
            .query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(
        (count(&j, "journal_index"), count(&j, "journal_node")),
        (300, 1)
    );
    same_answers(&j);
    // Appending again rewrites what the removed entries had.
    j.append(step("c-a", 1)).unwrap();
    assert_eq!(j.head(), j.verify(None, &[]).unwrap().head);
    assert_eq!(by_index(&j, &["step_completed"], None, 299), vec![299, 300]);
}
