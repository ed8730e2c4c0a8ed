//! A destroyed key stays destroyed: key-destruction retires the key's wrapped backups with it
//! ("wrapped backups of the key are deleted"), so a later root-key recovery — which restores
//! every live backup under the root KEK — does not bring the destroyed key back. Found by the
//! GUI lifecycle test (`gui_key_lifecycle`); here through the CLI, without a display.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::journal::Event;
use keyrite_testkit::ceremony::site_with_backed_up_key;
use keyrite_testkit::ceremony::{events, script, PASSPHRASE};
use keyrite_testkit::piv::Harness;
use keyrite_testkit::quorum::enrol_custodians;
use keyrite_testkit::quorum::{quorum_answers, run_with_cards, token_labels};
use keyrite_testkit::TempData;
use serial_test::serial;

#[test]
#[serial(piv, softhsm)]
fn a_destroyed_keys_backups_are_retired_and_recovery_does_not_restore_it() {
    let mut h = Harness::start();
    let t = TempData::new();
    let data = t.path();
    let dir = t.tmp.path();
    site_with_backed_up_key(&data, dir);
    enrol_custodians(&t, &mut h);

    let mark = events(&data).len();
    let destroy = quorum_answers(
        dir,
        "destroy",
        &[("destroy-key", "keyrite-signing-key")],
        &[("destroy-key", &["C One", "C Two", "C Three"])],
        &[],
    );
    let r = run_with_cards(&t, &mut h, &script("key-destruction"), &destroy);
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    let ev = events(&data);
    assert!(ev[mark..].iter().any(
        |e| matches!(e, Event::KeyDestroyed { key_id, .. } if key_id == "keyrite-signing-key")
    ));
    let retired = ev[mark..]
        .iter()
        .filter(|e| matches!(e, Event::Note { kind } if kind == "backup_retired"))
        .count();
    assert_eq!(retired, 1, "the destroyed key's one backup is retired");

    // The HSM is lost; three custodians bring their passphrase-sealed shares.
    std::fs::rename(data.join("softhsm"), dir.join("lost-hsm")).unwrap();
    let recover = quorum_answers(dir, "recover", &[], &[], &[]);
    let mut text = std::fs::read_to_string(&recover).unwrap();
    for who in ["C One", "C Two", "C Three"] {
        text.push_str(&format!(
            "[[present.recover-root-kek]]\ncustodian = \"{who}\"\npassphrase = \"{PASSPHRASE}\"\n"
        ));
    }
    std::fs::write(&recover, text).unwrap();
    let mark = events(&data).len();
    let r = run_with_cards(&t, &mut h, &script("root-key-recovery"), &recover);
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    let restored: Vec<String> = events(&data)[mark..]
        .iter()
        .filter_map(|e| match e {
            Event::BackupRestored { key_id, .. } => Some(key_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(restored, ["keyrite-record-signing"]);
    assert_eq!(
        token_labels(&data),
        ["keyrite-record-signing", "keyrite-root-kek"],
        "the destroyed key did not come back"
    );
}
