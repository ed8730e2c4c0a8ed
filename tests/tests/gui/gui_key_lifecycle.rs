//! Four shipped ceremonies completed in the window by keyboard only, in the order a site
//! lives them (issue 18, item 8; one test to keep CI time down):
//!
//! 1. key-generation-and-backup makes a signing key and backs it up under the root KEK;
//! 2. the key is suspected compromised: emergency-rotation replaces it (three custodians
//!    approve on their virtual YubiKeys), marks it compromised, then destroys it with its
//!    backups after a second approval;
//! 3. key-destruction destroys the replacement at the end of its life;
//! 4. the HSM is lost: root-key-recovery initialises a replacement token on screen and three
//!    custodians present their shares in the forms they were issued — C One's sealed to their
//!    YubiKey (card and PIN), D Four's typed from the card (once with a wrong character:
//!    refused with the engine's words, the share never shown), D Five's passphrase-sealed
//!    file — so the root KEK is rebuilt and every key with a live backup comes back (the
//!    record-signing key, which then signs the recovery's record, and an archive key backed
//!    up through the CLI).
//!
//! In every step that asks custodians to sign off, one signs on their YubiKey (the others on
//! paper). Each ceremony ends in a record that passes `keyrite record verify` (exit 0, VALID)
//! and `pdfsig`; the token, the backups and the journal show what each ceremony did.
//!
//! The CLI prepares the site: token, five enrolled YubiKeys (C One … C Five), the root KEK
//! 3 of 5 with seats 4 and 5 held by D Four and D Five (no YubiKey: their shares are sealed to
//! the passphrase). Run as root with
//! `xvfb-run cargo test -p keyrite-tests --test gui_key_lifecycle -- --ignored`.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::journal::Event;
use keyrite_core::secret::SecretText;
use keyrite_core::shares::seal::open_with_passphrase;
use keyrite_testkit::ceremony::{answers, events, run_answered_ok, script, PASSPHRASE};
use keyrite_testkit::gui::drive::{records, verified_record, Cards, Presentation, Room, Seen};
use keyrite_testkit::gui::Session;
use keyrite_testkit::piv::Harness;
use keyrite_testkit::quorum::{quorum_answers, run_with_cards, token_labels, CUSTODIANS};
use keyrite_testkit::{keyrite, stderr, stdout, TempData};
use serial_test::serial;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The rehearsal answers with seats 4 and 5 taken by people who hold no enrolled YubiKey.
fn seats(dir: &Path, name: &str) -> PathBuf {
    let p = quorum_answers(dir, name, &[], &[], &[]);
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("\"C Four\", \"C Five\"]", "\"D Four\", \"D Five\"]");
    assert!(text.contains("\"D Four\", \"D Five\"]"), "{text}");
    std::fs::write(&p, text).unwrap();
    p
}

fn granted(ev: &[Event]) -> Vec<&str> {
    ev.iter()
        .filter_map(|e| match e {
            Event::ApprovalGranted { custodian_id, .. } => Some(custodian_id.as_str()),
            _ => None,
        })
        .collect()
}

/// How many backups were retired (their key compromised or destroyed: never restored again).
fn retired(ev: &[Event]) -> usize {
    ev.iter()
        .filter(|e| matches!(e, Event::Note { kind } if kind == "backup_retired"))
        .count()
}

fn destroyed(ev: &[Event]) -> Vec<&str> {
    ev.iter()
        .filter_map(|e| match e {
            Event::KeyDestroyed { key_id, .. } => Some(key_id.as_str()),
            _ => None,
        })
        .collect()
}

/// Steps whose sign-offs include one signed on a YubiKey, as the journal has them (a
/// signature hash is journaled only for a YubiKey sign-off), and as the room made them.
fn card_sign_offs(ev: &[Event], seen: &Seen) -> Vec<String> {
    let journaled: Vec<String> = ev
        .iter()
        .filter_map(|e| match e {
            Event::SignOff {
                step,
                signature_sha256: Some(_),
                ..
            } => Some(step.clone()),
            _ => None,
        })
        .collect();
    let made: Vec<String> = seen
        .yubikey_sign_offs
        .iter()
        .map(|(s, _)| s.clone())
        .collect();
    assert_eq!(journaled, made, "YubiKey sign-offs made and journaled");
    journaled
}

/// Shares 1-3 sealed to YubiKeys, 4-5 to the passphrase; what D Four types (their share as
/// the card prints it), that text with one character changed, and the set id.
fn share_four(data: &Path) -> (String, String, String) {
    let mut issued: Vec<(u8, String, Option<String>)> = events(data)
        .into_iter()
        .filter_map(|e| match e {
            Event::ShareDistributed {
                index,
                custodian_id,
                sealed_file,
                ..
            } => Some((index, custodian_id, sealed_file)),
            _ => None,
        })
        .collect();
    issued.sort();
    let kinds: Vec<(u8, &str)> = issued.iter().map(|(i, c, _)| (*i, c.as_str())).collect();
    assert_eq!(
        kinds,
        [
            (1, "yk-7001"),
            (2, "yk-7002"),
            (3, "yk-7003"),
            (4, "custodian-4"),
            (5, "custodian-5")
        ]
    );
    let file = issued[3].2.clone().expect("share 4's sealed file");
    let four = open_with_passphrase(
        &std::fs::read(file).unwrap(),
        &SecretText::new(PASSPHRASE.into()),
    )
    .unwrap();
    let typed = four.human_form().expose().to_string();
    let mut wrong: Vec<char> = typed.chars().collect();
    let at = wrong.len() - 6;
    wrong[at] = if wrong[at] == '0' { '1' } else { '0' };
    (
        typed,
        wrong.into_iter().collect(),
        four.set_id().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root (virtual YubiKeys), an X display and tauri-driver: run under xvfb-run with --ignored"]
#[serial(piv, softhsm)]
async fn a_key_is_generated_recovered_rotated_in_an_emergency_and_destroyed_in_the_window() {
    let started = Instant::now();
    let mut times = Vec::new();
    let mut h = tokio::task::block_in_place(Harness::start);
    let t = TempData::new();
    let data = t.path();
    let dir = t.tmp.path();
    let base = answers(dir);
    run_answered_ok(&data, &script("hsm-initialisation"), &base);
    let enrolment = quorum_answers(dir, "enrol", &[], &[], &[]);
    let rootkey = seats(dir, "rootkey");
    tokio::task::block_in_place(|| {
        for (name, ans) in [
            ("custodian-enrolment", &enrolment),
            ("root-key-generation", &rootkey),
        ] {
            let r = run_with_cards(&t, &mut h, &script(name), ans);
            assert_eq!(r.code, Some(0), "{name}: {}{}", r.stdout, r.stderr);
        }
    });
    // A second backed-up key, for recovery to restore (the one made in the window is
    // destroyed before the HSM is lost).
    let archive = dir.join("archive-key.toml");
    let text = std::fs::read_to_string(script("key-generation-and-backup"))
        .unwrap()
        .replace("keyrite-signing-key", "keyrite-archive-key");
    std::fs::write(&archive, text).unwrap();
    run_answered_ok(&data, &archive, &base);
    let (typed, wrong, set) = share_four(&data);
    times.push(("CLI preparation", started.elapsed()));

    let mut room = Room::new(
        &["C One", "C Two", "C Three", "D Four", "D Five"],
        &CUSTODIANS,
    );
    room.shots = std::env::var_os("KEYRITE_SCREENSHOT_DIR").is_some();
    room.yubikey_sign_offs_per_step = Some(1);
    let mut cards = Cards::new(&mut h);

    // 1. key-generation-and-backup.
    let s = Session::open(&data).await;
    let before = records(&data);
    let mark = events(&data).len();
    let seen = s
        .run_ceremony(&script("key-generation-and-backup"), &mut room, &mut cards)
        .await;
    assert_eq!(seen.summary, "6 steps completed, 0 skipped, 0 exceptions.");
    let generated = &seen.results["generate-key"];
    assert!(generated.contains("keyrite-signing-key"), "{generated}");
    let ev = events(&data);
    let backed_up: Vec<(&str, &str)> = ev[mark..]
        .iter()
        .filter_map(|e| match e {
            Event::BackupMade {
                key_id, wrapped_by, ..
            } => Some((key_id.as_str(), wrapped_by.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(backed_up, [("keyrite-signing-key", "keyrite-root-kek")]);
    assert!(token_labels(&data).contains(&"keyrite-signing-key".to_string()));
    verified_record(&data, &before, "key-generation-and-backup");
    times.push(("key-generation-and-backup", started.elapsed()));

    // 2. emergency-rotation of that key.
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
        &["C Three", "C Two", "C One"],
    );
    let seen = s
        .run_ceremony(&script("emergency-rotation"), &mut room, &mut cards)
        .await;
    assert_eq!(seen.summary, "8 steps completed, 0 skipped, 0 exceptions.");
    let unchanged = &seen.results["verify-new-shares"];
    assert!(unchanged.contains("no new share set"), "{unchanged}");
    let gone = &seen.results["destroy-compromised-key"];
    assert!(gone.contains("key no longer on the token"), "{gone}");
    let ev = events(&data);
    assert_eq!(
        granted(&ev[mark..]),
        ["yk-7001", "yk-7002", "yk-7003", "yk-7003", "yk-7002", "yk-7001"]
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
    // The old key's backup is retired; the replacement is backed up under the root KEK.
    assert_eq!(retired(&ev[mark..]), 1);
    let labels = token_labels(&data);
    assert!(
        labels.contains(&"keyrite-signing-key-r2".to_string())
            && !labels.contains(&"keyrite-signing-key".to_string()),
        "{labels:?}"
    );
    assert_eq!(
        card_sign_offs(&ev[mark..], &seen),
        [
            "rotate-compromised-key",
            "verify-new-shares",
            "destroy-compromised-key",
            "sign-record"
        ]
    );
    verified_record(&data, &before, "emergency-rotation");
    times.push(("emergency-rotation", started.elapsed()));

    // 3. key-destruction of the replacement.
    let before = records(&data);
    let mark = events(&data).len();
    room.quorum(
        "destroy-key",
        "keyrite-signing-key-r2",
        &["C One", "C Two", "C Three"],
    );
    let seen = s
        .run_ceremony(&script("key-destruction"), &mut room, &mut cards)
        .await;
    s.close().await;
    assert_eq!(seen.summary, "6 steps completed, 0 skipped, 0 exceptions.");
    let gone = &seen.results["destroy-key"];
    assert!(gone.contains("key no longer on the token"), "{gone}");
    let ev = events(&data);
    assert_eq!(granted(&ev[mark..]), ["yk-7001", "yk-7002", "yk-7003"]);
    assert_eq!(destroyed(&ev[mark..]), ["keyrite-signing-key-r2"]);
    // Its backup goes with it: recovery below must not bring the destroyed key back.
    assert_eq!(retired(&ev[mark..]), 1);
    assert_eq!(
        token_labels(&data),
        [
            "keyrite-archive-key",
            "keyrite-record-signing",
            "keyrite-root-kek"
        ],
        "both signing keys are gone from the token"
    );
    assert_eq!(
        card_sign_offs(&ev[mark..], &seen),
        ["destroy-key", "sign-record"]
    );
    verified_record(&data, &before, "key-destruction");
    times.push(("key-destruction", started.elapsed()));
    // 4. The HSM is lost (its rehearsal store moved away); root-key-recovery.
    std::fs::rename(data.join("softhsm"), dir.join("lost-hsm")).unwrap();
    let s = Session::open(&data).await;
    let before = records(&data);
    let mark = events(&data).len();
    room.presents = vec![
        ("C One".into(), Presentation::YubiKey),
        ("D Four".into(), Presentation::TypedWrong(wrong)),
        ("D Four".into(), Presentation::Typed(typed)),
        ("D Five".into(), Presentation::Passphrase(PASSPHRASE.into())),
    ];
    let seen = s
        .run_ceremony(&script("root-key-recovery"), &mut room, &mut cards)
        .await;
    assert_eq!(seen.summary, "7 steps completed, 0 skipped, 0 exceptions.");
    assert_eq!(
        seen.refusals,
        [format!(
            "the answer does not fit: share 4 presented by D Four (custodian-4) was refused: share 4 of set {set} fails its checksum: at least one character is wrong or two are swapped; compare every group with the card; nothing was opened"
        )]
    );
    assert!(!seen.share_echoed, "a typed share was shown on screen");
    assert_eq!(
        seen.form_refusals,
        [
            "Choose who presents a share first (arrow keys move through the list).",
            "Type or scan the share from the card, or type the sealed file's passphrase.",
            "Give either the share from the card or the sealed file's passphrase, not both."
        ]
    );
    assert_eq!(
        token_labels(&data),
        [
            "keyrite-archive-key",
            "keyrite-record-signing",
            "keyrite-root-kek"
        ],
        "the root KEK and both keys with live backups are on the fresh token"
    );
    let ev = events(&data);
    let opened: Vec<(u8, &str)> = ev[mark..]
        .iter()
        .filter_map(|e| match e {
            Event::ShareVerified {
                index,
                custodian_id,
                ..
            } => Some((*index, custodian_id.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(
        opened,
        [(1, "yk-7001"), (4, "custodian-4"), (5, "custodian-5")]
    );
    let mut restored: Vec<&str> = ev[mark..]
        .iter()
        .filter_map(|e| match e {
            Event::BackupRestored { key_id, .. } => Some(key_id.as_str()),
            _ => None,
        })
        .collect();
    restored.sort();
    assert_eq!(restored, ["keyrite-archive-key", "keyrite-record-signing"]);
    let refused: Vec<&str> = ev[mark..]
        .iter()
        .filter_map(|e| match e {
            Event::ApprovalRefused { custodian_id, .. } => Some(custodian_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(refused, ["custodian-4"], "the refused share is journaled");
    assert_eq!(
        card_sign_offs(&ev[mark..], &seen),
        ["recover-root-kek", "sign-record"]
    );
    s.close().await;
    verified_record(&data, &before, "root-key-recovery");
    times.push(("root-key-recovery", started.elapsed()));

    cards.pull_out();
    drop(cards);
    drop(h);

    let v = keyrite(&data, &["journal", "verify"]);
    assert!(v.status.success(), "{}{}", stdout(&v), stderr(&v));
    eprintln!("timings (since the start): {times:?}");
}
