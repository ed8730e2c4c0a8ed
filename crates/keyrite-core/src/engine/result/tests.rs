//! The result card's lines, from journal entries as the engine writes them.
use super::*;
use serde_json::json;

#[test]
fn a_root_kek_import_reads_its_attributes_and_check_value() {
    let ev = json!({"attributes": [
        {"attribute": "CKA_SENSITIVE", "actual": "true", "ok": true},
        {"attribute": "CKA_EXTRACTABLE", "actual": "false", "ok": true},
    ], "kcv": "3b7511c93bb13744"});
    let mut out = Vec::new();
    lines_of(
        &Event::KeyImported {
            key_id: "k".into(),
            label: "keyrite-root-kek".into(),
            cka_id: "ab".into(),
            token_serial: "1".into(),
            algorithm: "aes-256".into(),
            source: "s".into(),
        },
        &json!({ "evidence": ev }),
        &mut out,
    );
    assert_eq!(
        out,
        vec![
            line("Key", "keyrite-root-kek (aes-256), CKA_ID ab"),
            line(
                "Attributes",
                "sensitive yes, extractable no; all 2 read back as the policy requires"
            ),
            line("Key check value", "3b7511c93bb13744"),
        ]
    );
}

#[test]
fn an_attribute_off_policy_is_named() {
    let ev = json!({"attributes": [
        {"attribute": "CKA_EXTRACTABLE", "actual": "true", "ok": false},
    ]});
    assert_eq!(
        attribute_summary(&ev).as_deref(),
        Some("extractable yes; NOT as the policy requires: CKA_EXTRACTABLE")
    );
}

#[test]
fn a_destroy_without_an_empty_search_is_not_called_gone() {
    let mut out = Vec::new();
    let destroyed = |remaining: u64| Event::KeyDestroyed {
        key_id: "k".into(),
        token_serial: "1".into(),
        cka_id: "ab".into(),
        proof: json!({ "remaining_with_label": remaining, "remaining_with_id": 0 }),
    };
    lines_of(&destroyed(0), &Value::Null, &mut out);
    lines_of(&destroyed(1), &Value::Null, &mut out);
    assert_eq!(out[0].value, format!("k: {KEY_GONE}"));
    assert_eq!(
        out[1].value,
        "k: the search after the destroy did not prove it gone"
    );
}

#[test]
fn a_share_sealed_to_a_yubikey_names_its_holder_and_serial() {
    let handed = |file: Option<&str>| Event::ShareDistributed {
        ceremony_id: "c".into(),
        set_id: "s".into(),
        index: 2,
        custodian_id: "yk-7002".into(),
        shown: false,
        sealed_file: file.map(Into::into),
        sealed_sha256: None,
    };
    let mut out = Vec::new();
    let yk = json!({"custodian_name": "C Two", "yubikey_serial": 7002});
    lines_of(
        &handed(Some("/d/shares/s/share-2-yk-7002.sealed")),
        &yk,
        &mut out,
    );
    lines_of(
        &handed(Some("/d/shares/s-2.krseal")),
        &Value::Null,
        &mut out,
    );
    assert_eq!(
        out,
        vec![
            line(
                "Share 2",
                "sealed to C Two's YubiKey (serial 7002) into /d/shares/s/share-2-yk-7002.sealed"
            ),
            line("Share 2", "sealed for yk-7002 to /d/shares/s-2.krseal"),
        ]
    );
    assert!(promised_texts(crate::script::ActionKind::DistributeShare)
        .iter()
        .all(|t| out[0].value.contains(t)));
}
