//! A signing key's life in the window, by keyboard only (issue 18, item 8): the
//! key-generation-and-backup ceremony makes and backs it up; the emergency-rotation ceremony
//! replaces it after a suspected compromise (three custodians approve on their virtual
//! YubiKeys, the old key is marked compromised, then destroyed with its backups after a second
//! approval); the key-destruction ceremony destroys the replacement at the end of its life.
//! Custodians sign their sign-offs on their YubiKeys. Each ceremony ends in a record that
//! passes `keyrite record verify` and `pdfsig`; the token, the backups and the journal show
//! that each ceremony did what its script says.
//!
//! The site is prepared through the CLI (token, root KEK 3 of 5, five enrolled YubiKeys).
//! Run as root with `xvfb-run cargo test -p keyrite-tests --test gui_key_lifecycle -- --ignored`.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::journal::Event;
use keyrite_tests::ceremony::{answers, events, run_answered_ok, script};
use keyrite_tests::gui::drive::{records, verified_record, Cards, Room};
use keyrite_tests::gui::Session;
use keyrite_tests::piv::Harness;
use keyrite_tests::quorum::{quorum_answers, run_with_cards, token_labels, CUSTODIANS};
use keyrite_tests::{keyrite, stderr, stdout, TempData};
use serial_test::serial;

fn granted(ev: &[Event]) -> Vec<String> {
    ev.iter()
        .filter_map(|e| match e {
            Event::ApprovalGranted { custodian_id, .. } => Some(custodian_id.clone()),
            _ => None,
        })
        .collect()
}

fn destroyed(ev: &[Event]) -> Vec<String> {
    ev.iter()
        .filter_map(|e| match e {
            Event::KeyDestroyed { key_id, .. } => Some(key_id.clone()),
            _ => None,
        })
        .collect()
}

fn backups_of(ev: &[Event]) -> Vec<(String, String)> {
    ev.iter()
        .filter_map(|e| match e {
            Event::BackupMade {
                key_id, wrapped_by, ..
            } => Some((key_id.clone(), wrapped_by.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root (virtual YubiKeys), an X display and tauri-driver: run under xvfb-run with --ignored"]
#[serial(piv, softhsm)]
async fn a_key_is_generated_backed_up_rotated_in_an_emergency_and_destroyed_in_the_window() {
    let started = std::time::Instant::now();
    let mut h = tokio::task::block_in_place(Harness::start);
    let t = TempData::new();
    let data = t.path();
    let dir = t.tmp.path();
    let base = answers(dir);
    for name in ["hsm-initialisation", "root-key-generation"] {
        run_answered_ok(&data, &script(name), &base);
    }
    let enrolment = quorum_answers(dir, "enrol", &[], &[], &[]);
    let r = tokio::task::block_in_place(|| {
        run_with_cards(&t, &mut h, &script("custodian-enrolment"), &enrolment)
    });
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    let prepared = started.elapsed();

    let names: Vec<&str> = CUSTODIANS.iter().map(|(n, _)| *n).collect();
    let mut room = Room::new(&names, &CUSTODIANS);
    room.shots = std::env::var_os("KEYRITE_SCREENSHOT_DIR").map(|_| "lifecycle");
    let s = Session::open(&data).await;
    let mut cards = Cards::new(&mut h);

    // 1. key-generation-and-backup.
    let before = records(&data);
    let mark = events(&data).len();
    let seen = s
        .run_ceremony(&script("key-generation-and-backup"), &mut room, &mut cards)
        .await;
    assert_eq!(seen.summary, "6 steps completed, 0 skipped, 0 exceptions.");
    let generate = &seen.results["generate-key"];
    assert!(generate.contains("keyrite-signing-key"), "{generate}");
    let ev = events(&data);
    assert_eq!(
        backups_of(&ev[mark..]),
        [(
            "keyrite-signing-key".to_string(),
            "keyrite-root-kek".to_string()
        )]
    );
    assert!(token_labels(&data).contains(&"keyrite-signing-key".to_string()));
    verified_record(&data, &before, "key-generation-and-backup");
    let t_generate = started.elapsed();

    // 2. emergency-rotation of that key: rotated (old key compromised), then destroyed.
    let before = records(&data);
    let mark = events(&data).len();
    room.quorum(
        "rotate-compromised-key",
        "keyrite-signing-key",
        &["C One", "C Two", "C Three"],
    )
    .quorum(
        "destroy-compromised-key",
        "keyrite-signing-key",
        &["C Three", "C Four", "C Five"],
    );
    let seen = s
        .run_ceremony(&script("emergency-rotation"), &mut room, &mut cards)
        .await;
    assert_eq!(seen.summary, "8 steps completed, 0 skipped, 0 exceptions.");
    let verify = &seen.results["verify-new-shares"];
    assert!(verify.contains("no new share set"), "{verify}");
    let gone = &seen.results["destroy-compromised-key"];
    assert!(gone.contains("key no longer on the token"), "{gone}");
    let ev = events(&data);
    assert_eq!(
        granted(&ev[mark..]),
        ["yk-7001", "yk-7002", "yk-7003", "yk-7003", "yk-7004", "yk-7005"]
    );
    let compromised: Vec<&str> = ev[mark..]
        .iter()
        .filter_map(|e| match e {
            Event::InventoryStateChanged { key_id, to, .. } if to.to_string() == "compromised" => {
                Some(key_id.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(compromised, ["keyrite-signing-key"]);
    assert_eq!(destroyed(&ev[mark..]), ["keyrite-signing-key"]);
    let labels = token_labels(&data);
    assert!(
        labels.contains(&"keyrite-signing-key-r2".to_string())
            && !labels.contains(&"keyrite-signing-key".to_string()),
        "{labels:?}"
    );
    // Every custodian sign-off of the ceremony was signed on the custodian's YubiKey.
    assert!(
        seen.yubikey_sign_offs.len() >= 3 * 3,
        "{:?}",
        seen.yubikey_sign_offs
    );
    verified_record(&data, &before, "emergency-rotation");
    let t_rotate = started.elapsed();

    // 3. key-destruction of the replacement.
    let before = records(&data);
    let mark = events(&data).len();
    room.quorum(
        "destroy-key",
        "keyrite-signing-key-r2",
        &["C Five", "C Two", "C Four"],
    );
    let seen = s
        .run_ceremony(&script("key-destruction"), &mut room, &mut cards)
        .await;
    assert_eq!(seen.summary, "6 steps completed, 0 skipped, 0 exceptions.");
    let gone = &seen.results["destroy-key"];
    assert!(gone.contains("key no longer on the token"), "{gone}");
    let ev = events(&data);
    assert_eq!(granted(&ev[mark..]), ["yk-7005", "yk-7002", "yk-7004"]);
    assert_eq!(destroyed(&ev[mark..]), ["keyrite-signing-key-r2"]);
    assert_eq!(
        token_labels(&data),
        ["keyrite-record-signing", "keyrite-root-kek"],
        "both signing keys are gone from the token"
    );
    let signed: Vec<&str> = seen
        .yubikey_sign_offs
        .iter()
        .map(|(step, _)| step.as_str())
        .collect();
    assert_eq!(
        signed,
        [
            "destroy-key",
            "destroy-key",
            "destroy-key",
            "sign-record",
            "sign-record",
            "sign-record"
        ]
    );
    verified_record(&data, &before, "key-destruction");
    s.close().await;
    cards.pull_out();
    drop(cards);
    drop(h);

    let v = keyrite(&data, &["journal", "verify"]);
    assert!(v.status.success(), "{}{}", stdout(&v), stderr(&v));
    eprintln!(
        "timings: CLI preparation {prepared:?}; key-generation-and-backup done at {t_generate:?}; \
         emergency-rotation at {t_rotate:?}; key-destruction at {:?}",
        started.elapsed()
    );
}
