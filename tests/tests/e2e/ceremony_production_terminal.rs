//! Production ceremonies end to end through the interactive CLI in a pseudo-terminal (issue 17
//! item 8): a production site profile pinning the HSM's identity, no answers file (production
//! refuses one), every answer typed as the people in the room would.
//!
//! The HSM is SoftHSM2 treated as hardware by the `testkit` switch
//! `KEYRITE_TESTKIT_SOFTWARE_TOKEN_AS_HARDWARE=1` (`hsm::token::is_software`; release builds
//! have no such switch). The CLI runs in its own network and mount namespace with a fresh
//! sysfs: a real air gap (loopback only, no route), so production's air-gap check passes
//! because it is true, not because it is skipped.
//!
//! Each ceremony must complete, its record must verify against the journal, every PIN is typed
//! only once the terminal's echo is off and never appears in the terminal's output, and each
//! share shown is followed by the escape sequence that clears the screen and the scrollback.
//! The site and the room that answers the prompts are `keyrite_testkit::room`.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::journal::Event;
use keyrite_testkit::ceremony::events;
use keyrite_testkit::piv::Harness;
use keyrite_testkit::pty::plain;
use keyrite_testkit::room::{completed, drive, softhsm, Cards, Site, CLEAR, SERIALS};
use serial_test::serial;
use std::collections::BTreeMap;
use std::process::Command;

#[test]
#[serial(softhsm)]
fn production_hsm_init_root_key_generation_and_recovery_typed_at_the_terminal() {
    let mut site = Site::delivered();
    let data = site.data();

    // hsm-initialisation: the pinned token, PINs typed twice without echo.
    let seen = drive(
        site.ceremony("hsm-initialisation"),
        &BTreeMap::new(),
        None,
        false,
    );
    completed(&site, "hsm-initialisation", &seen);
    let out = plain(&seen.output);
    assert!(
        out.contains(&format!(
            "New SO and user PINs for the token with serial \"{}\".",
            site.serial
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "SoftHSM project SoftHSM v2, serial {}",
            site.serial
        )),
        "{out}"
    );
    assert!(
        out.contains("needs 1 more sign-off(s) by an auditor.")
            && out.contains("needs 1 more sign-off(s) by a witness."),
        "{out}"
    );
    let identity = events(&data).into_iter().find_map(|e| match e {
        keyrite_core::journal::Event::HsmTokenInitialised {
            token_serial,
            manufacturer,
            ..
        } => Some((token_serial, manufacturer)),
        _ => None,
    });
    assert_eq!(
        identity,
        Some((site.serial.clone(), "SoftHSM project".to_string()))
    );

    // root-key-generation: five shares shown one at a time, each typed back, each followed by
    // a clear of the screen and the scrollback; then each custodian types their share.
    // The room slips once each way: a wrong SO PIN, a typo in the first type-back.
    let seen = drive(
        site.ceremony("root-key-generation"),
        &BTreeMap::new(),
        None,
        true,
    );
    completed(&site, "root-key-generation", &seen);
    assert_eq!(seen.shares.len(), 5, "five shares shown");
    assert_eq!(seen.clears_after_share, 6, "five copied, one typo");
    // Between two clears of the screen and scrollback there is never more than one share on
    // screen: each showing (the first share twice, around its typo) is cleared before the next.
    let out = seen.output.clone();
    let mut showings = 0;
    for screen in out.split(CLEAR) {
        let on_screen: usize = seen
            .shares
            .values()
            .map(|(_, share)| screen.matches(share.as_str()).count())
            .sum();
        assert!(
            on_screen <= 1,
            "two shares between clears:\n{}",
            plain(screen)
        );
        showings += on_screen;
    }
    assert_eq!(showings, 6);
    assert!(
        !seen.shares.values().any(|(_, share)| out
            .rsplit(CLEAR)
            .next()
            .unwrap()
            .contains(share.as_str())),
        "a share is still on screen at the end"
    );
    let labels = site.token_labels();
    assert_eq!(labels, ["keyrite-record-signing", "keyrite-root-kek"]);
    let shares = seen.shares;

    // The HSM is lost; a replacement arrives and the profile pins it. Three custodians type
    // their shares (hidden); the KEK is rebuilt into the new token and the backups restored.
    site.lose_hsm();
    site.deliver_hsm();
    let seen = drive(site.ceremony("root-key-recovery"), &shares, None, false);
    completed(&site, "root-key-recovery", &seen);
    for (_, share) in shares.values() {
        assert!(
            !seen.output.contains(share.as_str()),
            "a typed share was shown"
        );
    }
    assert_eq!(
        site.token_labels(),
        ["keyrite-record-signing", "keyrite-root-kek"]
    );
    let ev = events(&data);
    let restored = ev
        .iter()
        .filter(|e| matches!(e, keyrite_core::journal::Event::BackupRestored { .. }))
        .count();
    assert!(restored > 0, "backups restored");
}

#[test]
#[serial(piv, softhsm)]
fn production_root_kek_rotation_approved_on_yubikeys_at_the_terminal() {
    let site = Site::delivered();
    let data = site.data();
    for name in ["hsm-initialisation", "root-key-generation"] {
        let seen = drive(site.ceremony(name), &BTreeMap::new(), None, false);
        completed(&site, name, &seen);
    }
    let mut h = Harness::start();
    let mut cards = Cards::new(&mut h);

    // Each custodian enrols their YubiKey, typing its PIN and PUK without echo.
    let seen = drive(
        site.ceremony("custodian-enrolment"),
        &BTreeMap::new(),
        Some(&mut cards),
        false,
    );
    completed(&site, "custodian-enrolment", &seen);
    assert_eq!(cards.log, SERIALS);
    let enrolled: Vec<u32> = events(&data)
        .into_iter()
        .filter_map(|e| match e {
            Event::CustodianEnrolled { yubikey_serial, .. } => Some(yubikey_serial),
            _ => None,
        })
        .collect();
    assert_eq!(enrolled, SERIALS);

    // The root KEK is rotated once three custodians approve on their YubiKeys.
    let mark = events(&data).len();
    cards.log.clear();
    let seen = drive(
        site.ceremony("key-rotation"),
        &BTreeMap::new(),
        Some(&mut cards),
        false,
    );
    completed(&site, "key-rotation", &seen);
    // The new share set is sealed to the enrolled YubiKeys: no share is shown on screen.
    assert!(seen.shares.is_empty());
    let out = plain(&seen.output);
    // The result card names the new set by its id and words (it showed "()" before).
    let set_line = out
        .lines()
        .find(|l| l.trim_start().starts_with("Share set "))
        .unwrap_or_else(|| panic!("no share set on the result card:\n{out}"));
    assert!(!set_line.contains("()"), "{set_line}");
    let words = set_line
        .split_once(" (")
        .and_then(|(_, r)| r.split_once("):"))
        .map(|(w, _)| w.split_whitespace().count());
    assert!(words.is_some_and(|n| n >= 4), "{set_line}");
    for (i, serial) in SERIALS.iter().enumerate() {
        assert!(
            out.contains(&format!(
                "sealed to {}'s YubiKey (serial {serial}) into ",
                keyrite_testkit::room::CUSTODIANS[i]
            )),
            "share {} sealed to YubiKey {serial}:\n{out}",
            i + 1
        );
    }
    // The three approvers' cards, then every custodian's to open their new share.
    assert_eq!(cards.log, [&SERIALS[..3], &SERIALS[..]].concat());
    let granted: Vec<String> = events(&data)[mark..]
        .iter()
        .filter_map(|e| match e {
            Event::ApprovalGranted { custodian_id, .. } => Some(custodian_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(granted, ["yk-7101", "yk-7102", "yk-7103"]);
    let labels = site.token_labels();
    assert!(
        labels.contains(&"keyrite-root-kek-r2".to_string()),
        "{labels:?}"
    );
    assert!(
        !labels.contains(&"keyrite-root-kek".to_string()),
        "{labels:?}"
    );
}

/// The `details` of every journal entry whose event is of type `kind`.
fn details_of(data: &std::path::Path, kind: &str) -> Vec<serde_json::Value> {
    let j = keyrite_core::journal::Journal::open_read_only(
        &data.join("journal.sqlite"),
        &Default::default(),
    )
    .unwrap();
    let mut v = Vec::new();
    j.for_each_entry(0, j.head().size - 1, |e| {
        let body = e.body_json()?;
        if body["event"]["type"] == kind {
            v.push(body["details"].clone());
        }
        Ok(())
    })
    .unwrap();
    v
}

/// Issue 14: production hsm-initialisation initialises the token the profile pins and no
/// other, and journals the identity it read again after `C_InitToken`. Both delivered tokens
/// take the same SO PIN, so initialising the wrong one would succeed and be seen; the other
/// keeps its label, serial, user PIN and key, and the store's free slot stays free.
#[test]
#[serial(softhsm)]
fn production_hsm_init_initialises_only_the_pinned_token_of_two_and_journals_the_recheck() {
    let mut site = Site::delivered();
    let first = site.serial.clone();
    // Not "vendor-…": pkcs11-tool's --token-label matches a label's prefix.
    let second = site.vendor_token("second-hsm");
    site.pin(&second);
    let keygen = Command::new("pkcs11-tool")
        .arg("--module")
        .arg(softhsm())
        .args(["--token-label", "vendor"])
        .args([
            "--login",
            "--pin",
            "vendor-user-pin-1",
            "--keygen",
            "--key-type",
            "AES:32",
        ])
        .args(["--label", "keep-me"])
        .env("SOFTHSM2_CONF", &site.conf)
        .output()
        .expect("pkcs11-tool");
    assert!(
        keygen.status.success(),
        "{}",
        String::from_utf8_lossy(&keygen.stderr)
    );
    let before = site.slots();
    let mut want = vec![
        (String::new(), String::new()),
        (first.clone(), "vendor".to_string()),
        (second.clone(), "second-hsm".to_string()),
    ];
    want.sort();
    assert_eq!(before, want, "two delivered tokens and the free slot");

    let seen = drive(
        site.ceremony("hsm-initialisation"),
        &BTreeMap::new(),
        None,
        false,
    );
    completed(&site, "hsm-initialisation", &seen);

    let after = site.slots();
    let expected: Vec<(String, String)> = before
        .iter()
        .map(|(s, l)| {
            let l = if *s == second { "keyrite" } else { l.as_str() };
            (s.clone(), l.to_string())
        })
        .collect();
    assert_eq!(after, expected, "only the pinned token was initialised");
    let other = Command::new("pkcs11-tool")
        .arg("--module")
        .arg(softhsm())
        .args(["--token-label", "vendor"])
        .args(["--login", "--pin", "vendor-user-pin-1", "--list-objects"])
        .env("SOFTHSM2_CONF", &site.conf)
        .output()
        .expect("pkcs11-tool");
    assert!(
        other.status.success(),
        "{}",
        String::from_utf8_lossy(&other.stderr)
    );
    let listed = String::from_utf8_lossy(&other.stdout);
    assert!(
        listed
            .lines()
            .any(|l| l.trim().strip_prefix("label:").map(str::trim) == Some("keep-me")),
        "the other token keeps its key:\n{listed}"
    );
    assert_eq!(site.token_labels(), ["keyrite-record-signing"]);

    let details = details_of(&site.data(), "hsm_token_initialised");
    assert_eq!(details.len(), 1);
    let re = &details[0]["pinned_identity_rechecked_after_init"];
    assert_eq!(re["manufacturer"], "SoftHSM project");
    assert_eq!(re["model"], "SoftHSM v2");
    assert_eq!(re["serial"], second.as_str());
    assert!(re["slot"].is_u64(), "{re}");
}
