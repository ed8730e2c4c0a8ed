use super::*;

fn sample() -> KeyBackup {
    KeyBackup {
        label: "sign-1".into(),
        id: vec![1, 2, 3],
        key: KeySpec::EcP384,
        policy: "ec-p384-sign".into(),
        wrapping_key_label: "root-kek".into(),
        wrapping_key_kcv: "0011223344556677".into(),
        public: "0461aa".into(),
        spki_sha256: "ab".repeat(32),
        wrapped: vec![9; 40],
        mechanism: Rfc5649::Pad,
    }
}

#[test]
fn round_trip_is_canonical() {
    let text = sample().encode();
    assert_eq!(KeyBackup::decode("b.txt", &text).unwrap(), sample());
    assert!(
        text.starts_with("keyrite-key-backup-v1\nlabel: sign-1\nid: 010203\nkey: ec-p384\n")
    );
}

#[test]
fn either_rfc5649_number_round_trips_and_no_other_is_accepted() {
    let mut b = sample();
    b.mechanism = Rfc5649::Kwp;
    let text = b.encode();
    assert!(text.contains("\nmechanism: CKM_AES_KEY_WRAP_KWP\n"), "{text}");
    assert_eq!(KeyBackup::decode("b.txt", &text).unwrap(), b);
    // Another mechanism under a checksum that matches: refused by name and line.
    let body = text[..text.rfind("\nsha256: ").unwrap() + 1]
        .replace("mechanism: CKM_AES_KEY_WRAP_KWP", "mechanism: CKM_AES_KEY_WRAP");
    let forged = format!("{body}sha256: {}\n", hex::encode(Sha256::digest(&body)));
    assert_eq!(
        KeyBackup::decode("b.txt", &forged).unwrap_err().to_string(),
        "backup file b.txt is corrupt at line 8: unsupported mechanism \"CKM_AES_KEY_WRAP\"; \
         restore from another copy"
    );
}

#[test]
fn truncated_corrupt_and_tampered_are_told_apart() {
    let text = sample().encode();
    let cut = &text[..text.find("wrapped:").unwrap()];
    assert_eq!(
        KeyBackup::decode("b.txt", cut).unwrap_err().to_string(),
        "backup file b.txt is truncated: it ends before the \"wrapped\" line (after line 10); restore from another copy"
    );
    let tampered = text.replace("policy: ec-p384-sign", "policy: ec-p256-sign");
    let err = KeyBackup::decode("b.txt", &tampered)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("backup file b.txt is corrupt: its recorded SHA-256 "),
        "{err}"
    );
    let garbled = text.replace("id: 010203", "ID: 010203");
    assert_eq!(
        KeyBackup::decode("b.txt", &garbled).unwrap_err().to_string(),
        "backup file b.txt is corrupt at line 3: expected the \"id\" line; restore from another copy"
    );
    let extra = format!("{text}x\n");
    assert_eq!(
        KeyBackup::decode("b.txt", &extra).unwrap_err().to_string(),
        "backup file b.txt is corrupt at line 13: unexpected text after the sha256 line; restore from another copy"
    );
}
