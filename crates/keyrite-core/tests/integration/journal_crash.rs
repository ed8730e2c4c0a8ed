//! A process killed (SIGKILL) in the middle of appending leaves a journal that verifies and an
//! inventory that reconciles with what the journal says the HSM did.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::inventory::{self, HsmObject, KeyType, NewKey};
use keyrite_core::journal::{Event, Journal};
use keyrite_core::store::StoreOptions;
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "KEYRITE_CRASH_CHILD_DB";

/// In the child: "generate" keys forever — an HSM event, then the inventory entry together
/// with its event — until killed.
fn child(db: &str) -> ! {
    let mut j = Journal::open(std::path::Path::new(db), &StoreOptions::default()).unwrap();
    for i in 0.. {
        let id = format!("k{i}");
        let cka = format!("{i:04x}");
        j.append(Event::KeyGenerated {
            key_id: id.clone(),
            label: id.clone(),
            cka_id: cka.clone(),
            token_serial: "SER".into(),
            algorithm: "aes-256".into(),
            public_fingerprint: None,
            evidence: serde_json::json!({"sensitive": true}),
        })
        .unwrap();
        let key = NewKey {
            key_id: id.clone(),
            label: id,
            purpose: "crash test".into(),
            key_type: KeyType::SymmetricDataEncryption,
            algorithm: "aes-256".into(),
            token_serial: "SER".into(),
            cka_id: cka,
            fingerprint: None,
            cryptoperiod_days: None,
            justification: None,
        };
        inventory::register(&mut j, key, "crash-child").unwrap();
    }
    unreachable!()
}

#[test]
fn killed_writer_leaves_a_verifiable_journal() {
    if let Ok(db) = std::env::var(CHILD_ENV) {
        child(&db);
    }
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("journal.sqlite");
    let mut proc = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "journal_crash::killed_writer_leaves_a_verifiable_journal",
            "--nocapture",
        ])
        .env(CHILD_ENV, &db)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Let it write a while (at least 40 entries), then SIGKILL it mid-stream.
    let start = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let n = Journal::open_read_only(&db, &StoreOptions::default())
            .map(|j| j.head().size)
            .unwrap_or(0);
        if n >= 40 || start.elapsed() > Duration::from_secs(60) {
            break;
        }
    }
    proc.kill().unwrap();
    proc.wait().unwrap();

    // The writer lock died with the process: we can write again.
    let mut j = Journal::open(&db, &StoreOptions::default()).unwrap();
    let report = j.verify(None, &[]).unwrap();
    assert!(report.head.size >= 40, "child wrote {}", report.head.size);

    // The HSM's objects, as the journal recorded them.
    let mut objects = Vec::new();
    j.for_each_entry(0, u64::MAX >> 1, |e| {
        if let Event::KeyGenerated {
            label,
            cka_id,
            token_serial,
            ..
        } = e.event()?
        {
            objects.push(HsmObject {
                token_serial,
                label,
                cka_id,
            });
        }
        Ok(())
    })
    .unwrap();
    let r = inventory::reconcile(j.store(), &objects).unwrap();
    assert!(r.missing.is_empty() && r.label_mismatch.is_empty(), "{r:?}");
    // At most the one key generated between the HSM event and the inventory commit is an
    // orphan: reported, not fixed.
    assert!(r.orphans.len() <= 1, "{r:?}");
    assert_eq!(r.matched.len() + r.orphans.len(), objects.len());
    j.append(Event::Note {
        kind: "after crash".into(),
    })
    .unwrap();
    j.verify(None, &[]).unwrap();
}
