//! Verifies a large journal and compares with a plain SHA-256 pass over the same bytes.
//! `KEYRITE_BENCH_EVENTS` sets the size (default 1,000,000).
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::journal::{Event, Journal};
use keyrite_core::store::StoreOptions;
use sha2::{Digest, Sha256};
use std::time::Instant;

fn main() {
    let n: u64 = std::env::var("KEYRITE_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = tmp.path().join("journal.sqlite");
    let mut j = Journal::open(&db, &StoreOptions::default()).expect("open");
    let t = Instant::now();
    let mut done = 0;
    while done < n {
        let batch = (n - done).min(10_000);
        j.append_batch((done..done + batch).map(|i| {
            (
                Event::StepCompleted {
                    ceremony_id: "bench".into(),
                    step: format!("step-{i}"),
                },
                serde_json::Value::Null,
            )
        }))
        .expect("append");
        done += batch;
    }
    println!("built {n} events in {:.2?}", t.elapsed());

    let t = Instant::now();
    let report = j.verify(None, &[]).expect("verify");
    let verify = t.elapsed();
    assert_eq!(report.head.size, n);

    let mut bytes = Vec::new();
    j.for_each_entry(0, n, |e| {
        bytes.extend_from_slice(&e.body);
        bytes.extend_from_slice(&e.prev_hash);
        Ok(())
    })
    .expect("read");
    let t = Instant::now();
    let digest = Sha256::digest(&bytes);
    let sha = t.elapsed();

    let rate = |d: std::time::Duration| n as f64 / d.as_secs_f64();
    println!(
        "verify (SQLite read, 2 SHA-256 per entry, Merkle head): {verify:.2?}  {:>12.0} events/s",
        rate(verify)
    );
    println!(
        "plain SHA-256 over the same {} bytes:              {sha:.2?}  {:>12.0} events/s  ({})",
        bytes.len(),
        rate(sha),
        &hex::encode(digest)[..8]
    );
    println!("head {} {}", report.head.size, report.head.root_hex());
}
