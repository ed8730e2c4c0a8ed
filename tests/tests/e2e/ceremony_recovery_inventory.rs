//! After root-key recovery into a fresh token (the HSM was lost), the inventory says where each
//! key lives: the recovered root KEK and every restored key are on the new token's serial, as
//! the same inventory entries (moved by `key_relocated` notes), with one active root KEK — not
//! a second one beside the lost token's. So a quorum step on the replacement token is offered
//! a restored key: key-rotation of the restored signing key runs there. Found by the GUI test
//! ("the inventory wrong"); here through the CLI.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::inventory::KeyType;
use keyrite_core::journal::Event;
use keyrite_testkit::ceremony::site_with_backed_up_key;
use keyrite_testkit::ceremony::{
    events, record_of, script, verify_record_against_journal, PASSPHRASE,
};
use keyrite_testkit::piv::Harness;
use keyrite_testkit::quorum::enrol_custodians;
use keyrite_testkit::quorum::{quorum_answers, run_with_cards, token_labels};
use keyrite_testkit::{keyrite, stderr, stdout, TempData};
use serde_json::Value;
use serial_test::serial;
use std::path::Path;

/// `keyrite inventory list --json`.
fn inventory(data: &Path) -> Vec<Value> {
    let out = keyrite(data, &["inventory", "list", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str::<Value>(&stdout(&out))
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn field<'a>(k: &'a Value, name: &str) -> &'a str {
    k[name].as_str().unwrap_or("")
}

/// The entry of key `key_id`.
fn entry<'a>(keys: &'a [Value], key_id: &str) -> &'a Value {
    keys.iter()
        .find(|k| field(k, "key_id") == key_id)
        .unwrap_or_else(|| panic!("{key_id} not in {keys:#?}"))
}

/// (key id, token serial) of every active root KEK.
fn active_root_keks(keys: &[Value]) -> Vec<(String, String)> {
    keys.iter()
        .filter(|k| field(k, "key_type") == KeyType::SymmetricKeyWrapping.name())
        .filter(|k| field(k, "state") == "active" && !k["share_set_id"].is_null())
        .map(|k| (field(k, "key_id").into(), field(k, "token_serial").into()))
        .collect()
}

#[test]
#[serial(piv, softhsm)]
fn recovery_into_a_fresh_token_moves_the_inventory_and_a_quorum_step_there_finds_the_keys() {
    let mut h = Harness::start();
    let t = TempData::new();
    let data = t.path();
    let dir = t.tmp.path();
    site_with_backed_up_key(&data, dir);
    enrol_custodians(&t, &mut h);
    let before = inventory(&data);
    let old_serial = field(entry(&before, "keyrite-root-kek"), "token_serial").to_string();
    let moved = [
        "keyrite-root-kek",
        "keyrite-record-signing",
        "keyrite-signing-key",
    ];
    for key in moved {
        assert_eq!(field(entry(&before, key), "token_serial"), old_serial);
    }

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
    let ev = events(&data);
    let new_serial = ev[mark..]
        .iter()
        .find_map(|e| match e {
            Event::HsmTokenInitialised { token_serial, .. } => Some(token_serial.clone()),
            _ => None,
        })
        .expect("recovery initialised a fresh token");
    assert_ne!(new_serial, old_serial);
    // Each key is where it was restored, under the CKA_ID its restore or import read back.
    let mut restored_ids: Vec<(String, String)> = ev[mark..]
        .iter()
        .filter_map(|e| match e {
            Event::KeyImported { key_id, cka_id, .. } => Some((key_id.clone(), cka_id.clone())),
            _ => None,
        })
        .collect();
    restored_ids.sort();
    let after = inventory(&data);
    for key in moved {
        let k = entry(&after, key);
        assert_eq!(field(k, "token_serial"), new_serial, "{key}: {k:#}");
        assert_eq!(field(k, "state"), "active", "{key}: {k:#}");
    }
    assert_eq!(
        active_root_keks(&after),
        [("keyrite-root-kek".to_string(), new_serial.clone())],
        "exactly one active root KEK, on the new token"
    );
    assert_eq!(after.len(), before.len(), "no second entry for any key");
    let kek_import = restored_ids
        .iter()
        .find(|(k, _)| k == "keyrite-root-kek")
        .expect("the recovered KEK's key_imported");
    assert_eq!(
        field(entry(&after, "keyrite-root-kek"), "cka_id"),
        kek_import.1
    );
    let notes: Vec<&str> = ev[mark..]
        .iter()
        .filter_map(|e| match e {
            Event::Note { kind } if kind == "key_relocated" => Some(kind.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(notes.len(), 3, "one move per key");
    let v = verify_record_against_journal(&data, &record_of(&data, "root-key-recovery"));
    assert!(v.status.success(), "{}{}", stdout(&v), stderr(&v));

    // A quorum step on the replacement token is offered the restored signing key.
    let rotate = quorum_answers(
        dir,
        "rotate",
        &[("rotate-key", "keyrite-signing-key")],
        &[("rotate-key", &["C One", "C Two", "C Three"])],
        &[],
    );
    let r = run_with_cards(&t, &mut h, &script("key-rotation"), &rotate);
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    let labels = token_labels(&data);
    assert!(
        labels.contains(&"keyrite-signing-key-r2".to_string()),
        "{labels:?}"
    );
    let rotated = inventory(&data);
    let r2 = entry(&rotated, "keyrite-signing-key-r2");
    assert_eq!(field(r2, "token_serial"), new_serial);
    assert_eq!(field(r2, "state"), "active");
    assert_ne!(
        field(entry(&rotated, "keyrite-signing-key"), "state"),
        "active"
    );
    let v = verify_record_against_journal(&data, &record_of(&data, "key-rotation"));
    assert!(v.status.success(), "{}{}", stdout(&v), stderr(&v));
    let v = keyrite(&data, &["journal", "verify"]);
    assert!(v.status.success(), "{}{}", stdout(&v), stderr(&v));
}
