//! Inventory: SP 800-57 transitions, cryptoperiod justification, retention guard, due list,
//! reconciliation. Every change is a journal event.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::inventory::{self, HsmObject, KeyState, KeyType, NewKey};
use keyrite_core::journal::{time, Event, Journal};
use keyrite_core::store::StoreOptions;

fn key(id: &str, t: KeyType) -> NewKey {
    NewKey {
        key_id: id.into(),
        label: format!("{id}-label"),
        purpose: "test".into(),
        key_type: t,
        algorithm: "aes-256".into(),
        token_serial: "SER1".into(),
        cka_id: format!("{:02x}", id.len()),
        fingerprint: None,
        cryptoperiod_days: None,
        justification: None,
    }
}

fn journal() -> (tempfile::TempDir, Journal) {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::open(&tmp.path().join("journal.sqlite"), &StoreOptions::default()).unwrap();
    (tmp, j)
}

#[test]
fn transitions_follow_the_table_and_are_journaled() {
    let (_t, mut j) = journal();
    let k =
        inventory::register(&mut j, key("root-kek", KeyType::SymmetricKeyWrapping), "so").unwrap();
    assert_eq!(k.state, KeyState::PreActivation);
    assert_eq!(k.cryptoperiod_days, 730);
    let k =
        inventory::transition(&mut j, "root-kek", KeyState::Active, "ceremony 1", "so").unwrap();
    assert!(k.activated.is_some());
    let err = inventory::transition(&mut j, "root-kek", KeyState::PreActivation, "oops", "so")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "key root-kek cannot go from active to pre-activation: from active it may only go to destroyed, compromised, suspended, deactivated"
    );
    inventory::transition(&mut j, "root-kek", KeyState::Destroyed, "end of life", "so").unwrap();
    let err =
        inventory::transition(&mut j, "root-kek", KeyState::Active, "revive", "so").unwrap_err();
    assert_eq!(
        err.to_string(),
        "key root-kek cannot go from destroyed to active: from destroyed it may only go to nothing: it is final"
    );
    let err = inventory::transition(&mut j, "nope", KeyState::Active, "x", "so").unwrap_err();
    assert_eq!(err.to_string(), "key nope is not in the inventory");
    // Every change is an event, and the journal verifies.
    let last = j.entry(j.head().size - 1).unwrap().event().unwrap();
    assert_eq!(
        last,
        Event::InventoryStateChanged {
            key_id: "root-kek".into(),
            from: KeyState::Active,
            to: KeyState::Destroyed,
            reason: "end of life".into(),
            actor: "so".into()
        }
    );
    assert_eq!(j.verify(None, &[]).unwrap().head.size, 3);
}

#[test]
fn every_pair_outside_the_table_is_refused() {
    for from in KeyState::ALL {
        for to in KeyState::ALL {
            let ok = inventory::TRANSITIONS
                .iter()
                .any(|t| t.from == from && t.to == to);
            assert_eq!(from.successors().contains(&to), ok);
        }
    }
    assert!(KeyState::Destroyed.successors().is_empty());
    assert!(!KeyState::Compromised
        .successors()
        .contains(&KeyState::Active));
}

#[test]
fn long_cryptoperiod_needs_a_justification() {
    let (_t, mut j) = journal();
    let mut k = key("root-ca", KeyType::PrivateSignature);
    k.cryptoperiod_days = Some(20 * 365);
    let err = inventory::register(&mut j, k.clone(), "so").unwrap_err();
    assert_eq!(
        err.to_string(),
        "key root-ca: a cryptoperiod of 7300 days exceeds the NIST SP 800-57 suggestion for a private-signature key (1095 days); record a justification (SP 800-57 §5.3.1 risk factors)"
    );
    assert_eq!(j.head().size, 0, "nothing journaled");
    k.justification = Some("offline root in FIPS 140-3 L3 HSM, used twice a year".into());
    let rec = inventory::register(&mut j, k, "so").unwrap();
    assert_eq!(rec.cryptoperiod_days, 7300);
    match j.entry(0).unwrap().event().unwrap() {
        Event::KeyRegistered {
            justification,
            nist_suggested_days,
            ..
        } => {
            assert_eq!(nist_suggested_days, 1095);
            assert!(justification.unwrap().contains("FIPS 140-3"));
        }
        other => panic!("unexpected {other:?}"),
    }
    let err =
        inventory::register(&mut j, key("root-ca", KeyType::PrivateSignature), "so").unwrap_err();
    assert_eq!(
        err.to_string(),
        "key root-ca is already in the inventory (state pre-activation)"
    );
}

#[test]
fn retention_guard_names_dependants() {
    let (_t, mut j) = journal();
    inventory::register(&mut j, key("kek-2024", KeyType::SymmetricKeyWrapping), "so").unwrap();
    inventory::register(&mut j, key("signer", KeyType::PrivateSignature), "so").unwrap();
    inventory::register(&mut j, key("dek", KeyType::SymmetricDataEncryption), "so").unwrap();
    inventory::add_backup(&mut j, "bk-1", "signer", "kek-2024", "safe A").unwrap();
    // Made again to the same place by a resumed attempt: recorded once, nothing journaled.
    let size = j.head().size;
    inventory::add_backup(&mut j, "bk-1", "signer", "kek-2024", "safe A").unwrap();
    assert_eq!(j.head().size, size);
    // The same id for another backup is still refused.
    assert!(inventory::add_backup(&mut j, "bk-1", "signer", "kek-2024", "safe B").is_err());
    let until = time::now().plus_days(365 * 7);
    inventory::add_protected_data(&mut j, "dek", "archive 2024", until).unwrap();
    inventory::set_share_set(&mut j, "kek-2024", "set-7").unwrap();
    assert_eq!(
        inventory::get(j.store(), "kek-2024")
            .unwrap()
            .unwrap()
            .share_set_id
            .as_deref(),
        Some("set-7")
    );
    assert_eq!(
        inventory::get(j.store(), "signer")
            .unwrap()
            .unwrap()
            .backups,
        vec!["bk-1".to_string()]
    );
    let err = inventory::transition(&mut j, "kek-2024", KeyState::Destroyed, "rotated", "so")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "key kek-2024 cannot be destroyed: it wraps live backup bk-1 (of key signer); restore or retire those first"
    );
    let err =
        inventory::transition(&mut j, "dek", KeyState::Destroyed, "rotated", "so").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("key dek cannot be destroyed: it protects archive 2024, retained until {}; restore or retire those first", until.to_rfc3339())
    );
    let size = j.head().size;
    inventory::retire_backup(&mut j, "bk-1", "superseded by bk-2").unwrap();
    inventory::transition(&mut j, "kek-2024", KeyState::Destroyed, "rotated", "so").unwrap();
    assert_eq!(j.head().size, size + 2);
}

#[test]
fn due_list_and_reconciliation() {
    let (_t, mut j) = journal();
    let mut short = key("short", KeyType::SymmetricDataEncryption);
    short.cryptoperiod_days = Some(10);
    inventory::register(&mut j, short, "so").unwrap();
    inventory::register(&mut j, key("long", KeyType::SymmetricDataEncryption), "so").unwrap();
    inventory::register(&mut j, key("gone", KeyType::SymmetricDataEncryption), "so").unwrap();
    inventory::transition(&mut j, "gone", KeyState::Destroyed, "test", "so").unwrap();
    let ids = |v: Vec<inventory::KeyRecord>| v.into_iter().map(|k| k.key_id).collect::<Vec<_>>();
    assert_eq!(
        ids(inventory::due(j.store(), time::now()).unwrap()),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(inventory::due(j.store(), time::now().plus_days(30)).unwrap()),
        vec!["short"]
    );
    let obj = |label: &str, id: &str| HsmObject {
        token_serial: "SER1".into(),
        label: label.into(),
        cka_id: id.into(),
    };
    // "short" has cka_id 05, "long" 04, "gone" 04 too — but gone is destroyed and "long" is matched first.
    let objects = vec![
        obj("short-label", "05"),
        obj("stray", "ff"),
        obj("renamed", "04"),
    ];
    let r = inventory::reconcile(j.store(), &objects).unwrap();
    assert_eq!(r.matched, vec!["long", "short"]);
    assert_eq!(r.missing, Vec::<String>::new());
    assert_eq!(r.orphans, vec![obj("stray", "ff")]);
    assert_eq!(
        r.label_mismatch,
        vec![("long".into(), "long-label".into(), "renamed".into())]
    );
    assert!(!r.is_clean());
    let r = inventory::reconcile(j.store(), &[]).unwrap();
    assert_eq!(r.missing, vec!["long", "short"]);
    // Reconciliation changed nothing.
    assert_eq!(inventory::list(j.store()).unwrap().len(), 3);
}
