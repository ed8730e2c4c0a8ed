//! Kill -9 the root-key ceremony after every journal entry (the testkit crash point:
//! `journal::crash_point`), run it again: it completes, no key on the token that the journal
//! does not know, the token as an uninterrupted run leaves it, the inventory equals the token,
//! one record that verifies, and the journal verifies.
//!
//! A kill can also land inside SoftHSM2's rewrite of the token's `token.object` (every
//! `C_Login` rewrites it in place) or inside a key object file; the rehearsal HSM puts the
//! first back and moves the second aside (`hsm::rehearsal`, docs/engine.md "Crashes"), tested
//! without timing in keyrite-core's `hsm_rehearsal_store`.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::journal::crash_point::KILL_AT_JOURNAL_SIZE;
use keyrite_core::journal::Event;
use keyrite_testkit::ceremony::events;
use keyrite_testkit::ceremony::{answers, script, verify_record_against_journal, USER_PIN};
use keyrite_testkit::hsm::keyrite_fds;
use keyrite_testkit::{bin, keyrite, stderr, stdout, TempData};
use serial_test::serial;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// (label, CKA_ID) of every key the journal says is on the token.
fn known_keys(ev: &[Event]) -> BTreeSet<(String, String)> {
    let mut known = BTreeSet::new();
    for e in ev {
        match e {
            Event::KeyGenerated { label, cka_id, .. }
            | Event::KeyImported { label, cka_id, .. } => {
                known.insert((label.clone(), cka_id.clone()));
            }
            Event::KeyDestroyed { key_id, cka_id, .. } => {
                known.remove(&(key_id.clone(), cka_id.clone()));
            }
            // hsm-init erases the token.
            Event::HsmTokenInitialised { .. } => known.clear(),
            _ => {}
        }
    }
    known
}

fn token_keys(data: &Path) -> BTreeSet<(String, String)> {
    let o = keyrite_fds(
        data,
        &["hsm", "keys", "--json", "--pin-fd", "3"],
        &[],
        &[(3, USER_PIN)],
        "",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    v["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| {
            (
                k["label"].as_str().unwrap().to_string(),
                k["id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Runs `script` unattended to its end; its output.
fn run(data: &Path, ans: &Path, name: &str) -> std::process::Output {
    keyrite_testkit::ceremony::run_answered(data, &script(name), ans)
}

/// The unattended root-key-generation command on `data` (SoftHSM2 found through the data
/// directory, no input).
fn root_key_run(data: &Path, ans: &Path) -> Command {
    let mut c = Command::new(bin("keyrite"));
    c.arg("--data-dir")
        .arg(data)
        .args([
            "ceremony",
            "run",
            script("root-key-generation").to_str().unwrap(),
            "--answers",
            ans.to_str().unwrap(),
        ])
        .env_remove("SOFTHSM2_CONF")
        .env_remove("KEYRITE_DATA_DIR")
        .stdin(Stdio::null());
    c
}

/// Starts root-key-generation and SIGKILLs it as soon as the journal holds `step_started`
/// for `step`.
#[expect(unsafe_code, reason = "kill(2) on the child process the test spawned")]
fn kill_at(data: &Path, ans: &Path, step: &str) {
    let mut child = root_key_run(data, ans)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = false;
    while Instant::now() < deadline {
        seen = events(data).iter().any(|e| matches!(e, Event::StepStarted { step: s, ceremony_id, .. } if s == step && ceremony_id.starts_with("root-key-generation")));
        if seen || child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: kill(2) on the child we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
    assert!(seen, "step {step} never started");
}

/// Every journaled key the inventory lists as not destroyed, as (label, CKA_ID).
fn inventory_keys(data: &Path) -> BTreeSet<(String, String)> {
    let o = keyrite(data, &["inventory", "list", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    v.as_array()
        .expect("keys")
        .iter()
        .filter(|k| k["state"] != "destroyed")
        .map(|k| {
            (
                k["label"].as_str().unwrap().to_string(),
                k["cka_id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Copies the data directory `from` (a stopped ceremony's) to `to`; the copy uses its own token
/// store (the rehearsal HSM rewrites the configuration of a moved data directory).
fn copy_data(from: &Path, to: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp");
    assert!(st.success());
}

/// The root-key ceremony's records (`records/root-key-generation-*.pdf`).
fn root_key_records(data: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(data.join("records"))
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| {
        p.file_name().is_some_and(|n| {
            let n = n.to_string_lossy();
            n.starts_with("root-key-generation-") && n.ends_with(".pdf")
        })
    });
    v
}

/// What a finished root-key ceremony left: the labels on the token (CKA_IDs are random).
fn labels(keys: &BTreeSet<(String, String)>) -> Vec<String> {
    keys.iter().map(|(l, _)| l.clone()).collect()
}

/// What the resumed run must say before it puts anything right (`Ceremony::resume_plan`), from
/// the journal the kill left: an action with an intent but no outcome, and the holders of the
/// shares of a set that was not fully handed out (their copies are void).
fn what_resume_must_say(ev: &[Event]) -> Vec<String> {
    let mut said = Vec::new();
    let mut open_intent = None;
    let mut set: Option<(String, u8, Vec<u8>)> = None;
    for e in ev {
        match e {
            Event::ActionIntent { action, step, .. } => {
                open_intent = Some((action.clone(), step.clone()))
            }
            Event::ActionDone { .. } => open_intent = None,
            Event::ShareSetCreated {
                set_id,
                share_count,
                ..
            } => set = Some((set_id.clone(), *share_count, Vec::new())),
            Event::ShareDistributed { set_id, index, .. } => {
                if let Some((_, _, given)) = set.as_mut().filter(|(id, _, _)| id == set_id) {
                    given.push(*index);
                }
            }
            _ => {}
        }
    }
    if let Some((action, step)) = open_intent {
        said.push(format!(
            "Interrupted: the process stopped during action {action} of step \"{step}\""
        ));
    }
    if let Some((id, count, given)) = set {
        if (given.len() as u8) < count {
            said.push(format!("void share set {id}"));
            for i in given {
                said.push(format!("share {i} held by custodian-{i} (sealed file"));
            }
        }
    }
    said
}

/// Runs root-key-generation on `data` with the testkit crash point set: the process kills
/// itself with SIGKILL when the journal reaches `size` entries. Whether it did.
fn run_until_journal_size(data: &Path, ans: &Path, size: u64) -> bool {
    let o = root_key_run(data, ans)
        .env(KILL_AT_JOURNAL_SIZE, size.to_string())
        .output()
        .expect("spawn");
    use std::os::unix::process::ExitStatusExt;
    o.status.signal() == Some(libc::SIGKILL)
}

/// Checks one kill point: kill after the journal holds `size` entries, run again to the end,
/// and compare with the uninterrupted run.
fn kill_after_entry_then_resume(template: &Path, ans: &Path, size: u64, reference: &[String]) {
    let t = TempData::new();
    let data = t.path();
    copy_data(template, &data);
    assert!(
        run_until_journal_size(&data, ans, size),
        "entry {size}: the ceremony did not reach it"
    );
    let killed = events(&data);
    assert_eq!(
        killed.len() as u64,
        size,
        "entry {size}: journal size after the kill"
    );
    let o = run(&data, ans, "root-key-generation");
    let out = stdout(&o);
    for said in what_resume_must_say(&killed) {
        assert!(
            out.contains(&said),
            "entry {size}: the resumed run did not say \"{said}\":\n{out}"
        );
    }
    assert!(
        o.status.success() && out.contains("root-key-generation-") && out.contains(" completed:"),
        "entry {size}: the resumed run did not complete: {out}{}",
        stderr(&o)
    );
    let ev = events(&data);
    let on_token = token_keys(&data);
    assert_eq!(
        on_token,
        known_keys(&ev),
        "entry {size}: token and journal differ"
    );
    assert_eq!(
        labels(&on_token),
        reference,
        "entry {size}: token differs from an uninterrupted run"
    );
    assert_eq!(
        inventory_keys(&data),
        on_token,
        "entry {size}: inventory and token differ"
    );
    let o = keyrite(&data, &["journal", "verify"]);
    assert!(o.status.success(), "entry {size}: {}", stderr(&o));
    let records = root_key_records(&data);
    assert_eq!(records.len(), 1, "entry {size}: records {records:?}");
    let o = verify_record_against_journal(&data, &records[0]);
    assert!(
        o.status.success(),
        "entry {size}: record verify: {}{}",
        stdout(&o),
        stderr(&o)
    );
}

/// SIGKILL after every journal entry of the root-key ceremony (the testkit crash point), then
/// run it again: every run completes, the journal verifies, the token holds what an
/// uninterrupted run holds and the journal knows, the inventory equals the token, and there is
/// one record that verifies against the journal.
#[test]
#[serial(softhsm)]
fn kill_after_every_journal_entry_then_resume() {
    let t = TempData::new();
    let template = t.path();
    let ans = answers(t.tmp.path());
    let o = run(&template, &ans, "hsm-initialisation");
    assert!(o.status.success(), "{}", stderr(&o));
    let start = events(&template).len() as u64;

    // The uninterrupted run: how many entries, and what it leaves on the token.
    let whole = TempData::new();
    copy_data(&template, &whole.path());
    let o = run(&whole.path(), &ans, "root-key-generation");
    assert!(o.status.success(), "{}", stderr(&o));
    let end = events(&whole.path()).len() as u64;
    let reference = labels(&token_keys(&whole.path()));
    assert!(reference.len() >= 2, "{reference:?}");
    assert_eq!(root_key_records(&whole.path()).len(), 1);

    // After the last entry the ceremony is over: a new run would be a new ceremony.
    let points: Vec<u64> = (start + 1..end).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    // Two workers: each kill point is its own data directory and token store.
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(&size) = points.get(i) else { break };
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    kill_after_entry_then_resume(&template, &ans, size, &reference)
                }));
                if let Err(e) = r {
                    let msg = e
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    failures.lock().unwrap().push(msg);
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} kill points failed:\n{}",
        failures.len(),
        points.len(),
        failures.join("\n---\n")
    );
}

/// A kill after the record PDF is written but before `record_produced` is journaled leaves
/// the file behind; the resumed ceremony moves it aside (never overwriting it) and writes and
/// journals its own record. The leftover is planted while the ceremony is stopped before
/// `sign-record`, so the test does not depend on where a kill lands.
#[test]
#[serial(softhsm)]
fn a_record_left_by_an_interrupted_run_is_moved_aside() {
    let t = TempData::new();
    let data = t.path();
    let ans = answers(t.tmp.path());
    let o = run(&data, &ans, "hsm-initialisation");
    assert!(o.status.success(), "{}", stderr(&o));
    kill_at(&data, &ans, "checkpoint");
    let id = events(&data)
        .into_iter()
        .rev()
        .find_map(|e| match e {
            Event::CeremonyStarted { ceremony_id, .. } => Some(ceremony_id),
            _ => None,
        })
        .expect("root-key-generation started");
    assert!(id.starts_with("root-key-generation-"), "{id}");
    let records = data.join("records");
    let leftover = records.join(format!("{id}.pdf"));
    assert!(!leftover.exists());
    std::fs::write(
        &leftover,
        b"%PDF-1.7 written by a run killed before it was journaled",
    )
    .unwrap();
    let o = run(&data, &ans, "root-key-generation");
    assert!(
        stdout(&o).contains(&format!("Ceremony {id} completed:")),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    let aside: Vec<_> = std::fs::read_dir(&records)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(&format!("{id}.pdf.interrupted-")))
        .collect();
    let [aside] = aside.as_slice() else {
        panic!("one leftover moved aside expected: {aside:?}")
    };
    assert_eq!(
        std::fs::read(records.join(aside)).unwrap(),
        b"%PDF-1.7 written by a run killed before it was journaled"
    );
    // The record in place is the one the journal names, and it verifies.
    let recorded = events(&data)
        .into_iter()
        .find_map(|e| match e {
            Event::RecordProduced {
                ceremony_id,
                record_sha256,
                ..
            } if ceremony_id == id => Some(record_sha256),
            _ => None,
        })
        .expect("record_produced");
    use sha2::Digest;
    assert_eq!(
        hex::encode(sha2::Sha256::digest(std::fs::read(&leftover).unwrap())),
        recorded
    );
    let v = verify_record_against_journal(&data, &leftover);
    assert!(
        stdout(&v).starts_with("VALID: record of ceremony "),
        "{}{}",
        stdout(&v),
        stderr(&v)
    );
    let o = keyrite(&data, &["journal", "verify"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// The state a kill leaves right after journal entry `last` was committed: later entries are
/// not there, nor the checkpoint rows and files signed after it. (Files written before a kill,
/// such as the record PDF, stay: the resumed run must cope with them.)
fn cut_after(data: &Path, last: u64) {
    let store = keyrite_core::store::Store::open(&data.join("journal.sqlite"), &Default::default())
        .expect("store");
    store
        .conn()
        .execute_batch(&format!(
            "DROP TRIGGER IF EXISTS journal_no_delete; \
             DELETE FROM journal_entry WHERE seq > {last}; \
             DELETE FROM journal_checkpoint WHERE size > {last};"
        ))
        .expect("cut");
    drop(store);
    for e in std::fs::read_dir(data.join("checkpoints")).expect("checkpoints") {
        let p = e.unwrap().path();
        let size: u64 = p
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse().ok())
            .expect("checkpoint file name");
        if size > last {
            std::fs::remove_file(p).unwrap();
        }
    }
}

/// Killed between any two of the entries that end a ceremony (outcome, record checkpoint,
/// record produced, the record's sign-offs, step completed, ceremony closed, closing
/// checkpoint): the next run completes it, prints the closing checkpoint, and the journal
/// verifies against it; the record the journal names verifies against the journal.
#[test]
#[serial(softhsm)]
fn a_kill_between_the_closing_entries_resumes() {
    let t = TempData::new();
    let data = t.path();
    let ans = answers(t.tmp.path());
    let o = run(&data, &ans, "hsm-initialisation");
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&data, &ans, "root-key-generation");
    assert!(o.status.success(), "{}", stderr(&o));
    let snapshot = t.scratch("complete");
    let cp = |from: &Path, to: &Path| {
        let _ = std::fs::remove_dir_all(to);
        let o = Command::new("cp")
            .arg("-a")
            .arg(from)
            .arg(to)
            .output()
            .unwrap();
        assert!(o.status.success());
    };
    cp(&data, &snapshot);
    let ev = events(&data);
    let id = ev
        .iter()
        .rev()
        .find_map(|e| match e {
            Event::CeremonyStarted { ceremony_id, .. } => Some(ceremony_id.clone()),
            _ => None,
        })
        .unwrap();
    let outcome_seq = ev
        .iter()
        .position(|e| matches!(e, Event::CeremonyOutcome { ceremony_id, .. } if *ceremony_id == id))
        .expect("ceremony_outcome journaled before the record") as u64;
    let last = ev.len() as u64 - 1;
    assert!(
        matches!(ev.last(), Some(Event::Checkpoint { size, .. }) if *size == last),
        "the closing checkpoint is the journal's last entry: {:?}",
        ev.last()
    );
    // Every cut from just after the outcome to just before the closing checkpoint.
    let mut cut_kinds = BTreeSet::new();
    for cut in outcome_seq..last {
        cp(&snapshot, &data);
        cut_after(&data, cut);
        let kind = events(&data).last().map(|e| e.kind()).unwrap_or_default();
        cut_kinds.insert(kind.clone());
        let o = run(&data, &ans, "root-key-generation");
        let out = stdout(&o);
        assert!(
            o.status.success() && out.contains(&format!("Ceremony {id} completed:")),
            "cut after {cut} ({kind}): {out}{}",
            stderr(&o)
        );
        assert!(out.contains("Closing checkpoint (every entry"), "{out}");
        let ev = events(&data);
        let Some(Event::Checkpoint {
            size,
            signer_fingerprint,
            ..
        }) = ev.last()
        else {
            panic!(
                "cut after {cut} ({kind}): no closing checkpoint at the end: {:?}",
                ev.last()
            )
        };
        assert!(
            matches!(&ev[*size as usize - 1], Event::CeremonyClosed { ceremony_id, outcome } if *ceremony_id == id && outcome == "completed"),
            "cut after {cut} ({kind}): the closing checkpoint does not end at the close"
        );
        let file = data.join("checkpoints").join(format!("{size}.txt"));
        let o = keyrite(
            &data,
            &[
                "journal",
                "verify",
                "--checkpoint",
                file.to_str().unwrap(),
                "--trust",
                signer_fingerprint,
            ],
        );
        assert!(
            o.status.success(),
            "cut after {cut} ({kind}): {}{}",
            stdout(&o),
            stderr(&o)
        );
        let record = ev
            .iter()
            .rev()
            .find_map(|e| match e {
                Event::RecordProduced { ceremony_id, .. } if *ceremony_id == id => Some(()),
                _ => None,
            })
            .map(|_| data.join("records").join(format!("{id}.pdf")))
            .expect("record_produced");
        let v = verify_record_against_journal(&data, &record);
        assert!(
            stdout(&v).starts_with("VALID: record of ceremony "),
            "cut after {cut} ({kind}): {}{}",
            stdout(&v),
            stderr(&v)
        );
    }
    for kind in [
        "ceremony_outcome",
        "checkpoint",
        "record_produced",
        "sign_off",
        "step_completed",
        "ceremony_closed",
    ] {
        assert!(
            cut_kinds.contains(kind),
            "no cut after {kind}: {cut_kinds:?}"
        );
    }
}
