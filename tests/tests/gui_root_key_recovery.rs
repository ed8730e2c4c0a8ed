//! root-key-recovery in the window, by keyboard only (issue 18, item 8): the HSM is lost, a
//! replacement token is initialised on screen, and three custodians present their shares of
//! the root KEK in the forms they were issued — C One's sealed to their (virtual) YubiKey and
//! opened with its PIN, D Four's typed from the card (once with a wrong character: refused
//! with the engine's words, the share never shown), D Five's passphrase-sealed file. The root
//! KEK is rebuilt into the fresh token and every backed-up key comes back (the record-signing
//! key, which signs the recovery's record, and a signing key backed up before the loss). The
//! enrolled custodians sign their sign-offs on their YubiKeys. The record passes
//! `keyrite record verify` and `pdfsig`.
//!
//! The site is prepared through the CLI: token, five enrolled YubiKeys (C One … C Five), the
//! root KEK 3 of 5 with seats 4 and 5 held by D Four and D Five (no YubiKey: their shares are
//! sealed to the passphrase), a backed-up signing key.
//! Run as root with `xvfb-run cargo test -p keyrite-tests --test gui_root_key_recovery -- --ignored`.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::journal::Event;
use keyrite_core::secret::SecretText;
use keyrite_core::shares::seal::open_with_passphrase;
use keyrite_tests::ceremony::{answers, events, run_answered_ok, script, PASSPHRASE};
use keyrite_tests::gui::drive::{records, verified_record, Cards, Presentation, Room};
use keyrite_tests::gui::Session;
use keyrite_tests::piv::Harness;
use keyrite_tests::quorum::{quorum_answers, run_with_cards, token_labels, CUSTODIANS};
use keyrite_tests::{keyrite, stderr, stdout, TempData};
use serial_test::serial;
use std::path::Path;

/// The rehearsal answers with seats 4 and 5 taken by people who hold no enrolled YubiKey.
fn seats(dir: &Path, name: &str) -> std::path::PathBuf {
    let p = quorum_answers(dir, name, &[], &[], &[]);
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("\"C Four\", \"C Five\"]", "\"D Four\", \"D Five\"]");
    assert!(text.contains("\"D Four\", \"D Five\"]"), "{text}");
    std::fs::write(&p, text).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root (virtual YubiKeys), an X display and tauri-driver: run under xvfb-run with --ignored"]
#[serial(piv, softhsm)]
async fn the_root_kek_is_recovered_in_the_window_from_a_yubikey_a_typed_and_a_sealed_share() {
    let started = std::time::Instant::now();
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
    run_answered_ok(&data, &script("key-generation-and-backup"), &base);
    let mut issued: Vec<(u8, String, Option<String>)> = events(&data)
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
        ],
        "shares 1-3 sealed to YubiKeys, 4-5 to the passphrase"
    );
    // What D Four types: their share as the card prints it.
    let four = {
        let file = issued[3].2.clone().expect("share 4's sealed file");
        open_with_passphrase(
            &std::fs::read(file).unwrap(),
            &SecretText::new(PASSPHRASE.into()),
        )
        .unwrap()
    };
    let typed = four.human_form().expose().to_string();
    let mut wrong: Vec<char> = typed.chars().collect();
    let at = wrong.len() - 6;
    wrong[at] = if wrong[at] == '0' { '1' } else { '0' };
    let wrong: String = wrong.into_iter().collect();
    let set = four.set_id().to_string();

    // The HSM is lost: its rehearsal store is moved away.
    std::fs::rename(data.join("softhsm"), dir.join("lost-hsm")).unwrap();
    let prepared = started.elapsed();
    let before = records(&data);
    let mark = events(&data).len();

    let mut room = Room::new(
        &["C One", "C Two", "C Three", "D Four", "D Five"],
        &CUSTODIANS,
    );
    room.shots = std::env::var_os("KEYRITE_SCREENSHOT_DIR").map(|_| "recovery");
    room.presents = vec![
        ("C One".into(), Presentation::YubiKey),
        ("D Four".into(), Presentation::TypedWrong(wrong.clone())),
        ("D Four".into(), Presentation::Typed(typed.clone())),
        ("D Five".into(), Presentation::Passphrase(PASSPHRASE.into())),
    ];
    let s = Session::open(&data).await;
    let mut cards = Cards::new(&mut h);
    let seen = s
        .run_ceremony(&script("root-key-recovery"), &mut room, &mut cards)
        .await;
    s.close().await;
    let inserted = cards.inserted.clone();
    drop(cards);
    drop(h);

    assert_eq!(seen.summary, "7 steps completed, 0 skipped, 0 exceptions.");
    assert_eq!(
        seen.refusals,
        [format!(
            "the answer does not fit: share 4 presented by D Four (custodian-4) was refused: share 4 of set {set} fails its checksum: at least one character is wrong or two are swapped; compare every group with the card; nothing was opened"
        )]
    );
    assert!(!seen.share_echoed, "a typed share was shown on screen");
    // Only C One's card opened a share; C One, C Two and C Three signed on theirs.
    assert_eq!(inserted.first(), Some(&7_001), "{inserted:?}");
    assert!(
        seen.yubikey_sign_offs
            .iter()
            .all(|(_, who)| who.starts_with("C ")),
        "{:?}",
        seen.yubikey_sign_offs
    );
    assert!(
        !seen.yubikey_sign_offs.is_empty(),
        "no custodian signed on a YubiKey"
    );

    // The root KEK and every backed-up key are on the fresh token.
    assert_eq!(
        token_labels(&data),
        [
            "keyrite-record-signing",
            "keyrite-root-kek",
            "keyrite-signing-key"
        ]
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
    assert_eq!(restored, ["keyrite-record-signing", "keyrite-signing-key"]);
    let refused: Vec<&str> = ev[mark..]
        .iter()
        .filter_map(|e| match e {
            Event::ApprovalRefused { custodian_id, .. } => Some(custodian_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(refused, ["custodian-4"], "the refused share is journaled");
    verified_record(&data, &before, "root-key-recovery");
    let v = keyrite(&data, &["journal", "verify"]);
    assert!(v.status.success(), "{}{}", stdout(&v), stderr(&v));
    eprintln!(
        "timings: CLI preparation {prepared:?}; root-key-recovery in the window done at {:?}",
        started.elapsed()
    );
}
