//! Sealing round trips with software P-256 keys and passphrases; wrong key / passphrase refused.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::secret::{SecretBytes, SecretText};
use keyrite_core::shares::seal::*;
use keyrite_core::shares::split;

fn one_share() -> keyrite_core::shares::ShareSet {
    split(&SecretBytes::from_slice(&[0x42; 32]), 2, 3).unwrap()
}

#[test]
fn p256_round_trip_and_shared_secret_path() {
    let set = one_share();
    let key = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let sealed = seal_to_p256(&set.shares[1], &key.public_key()).unwrap();
    let opened = open_with_p256_key(&sealed, &key).unwrap();
    assert_eq!(
        opened.canonical_text().expose(),
        set.shares[1].canonical_text().expose()
    );
    // What a YubiKey does: ECDH(private, ephemeral public) → x, then open.
    let eph = ephemeral_public(&sealed).unwrap();
    let x = p256::ecdh::diffie_hellman(key.to_nonzero_scalar(), eph.as_affine());
    let opened =
        open_with_shared_secret(&sealed, &SecretBytes::from_slice(x.raw_secret_bytes())).unwrap();
    assert_eq!(opened.fingerprint(), set.shares[1].fingerprint());
    let info = sealed_info(&sealed).unwrap();
    assert_eq!((info.set_id, info.index), (set.set_id, 2));
}

#[test]
fn p256_wrong_key_refused_with_exact_error() {
    let set = one_share();
    let key = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let other = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let sealed = seal_to_p256(&set.shares[0], &key.public_key()).unwrap();
    let err = open_with_p256_key(&sealed, &other).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "sealed share 1 of set {} is sealed to key {}, not to key {}; use its custodian's own key",
            set.set_id,
            key_fingerprint(&key.public_key()),
            key_fingerprint(&other.public_key())
        )
    );
    let err = open_with_shared_secret(&sealed, &SecretBytes::from_slice(&[7u8; 32])).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("sealed share 1 of set {} did not open with this key agreement: wrong key, or the file is damaged", set.set_id)
    );
}

#[test]
fn passphrase_round_trip_wrong_passphrase_and_weak_params() {
    let set = one_share();
    let pass = SecretText::new("correct horse battery staple".into());
    let sealed = seal_with_passphrase(&set.shares[2], &pass, Argon2Params::default()).unwrap();
    let opened = open_with_passphrase(&sealed, &pass).unwrap();
    assert_eq!(
        opened.canonical_text().expose(),
        set.shares[2].canonical_text().expose()
    );
    let err = open_with_passphrase(
        &sealed,
        &SecretText::new("correct horse battery stapler".into()),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("sealed share 3 of set {}: wrong passphrase (or the file is damaged); nothing was opened", set.set_id)
    );
    let weak = Argon2Params {
        m_kib: 19 * 1024,
        t: 2,
        p: 1,
    };
    let err = seal_with_passphrase(&set.shares[2], &pass, weak).unwrap_err();
    assert_eq!(err.to_string(), "Argon2id parameters m=19456 KiB, t=2, p=1 are below Keyrite's minimum (64 MiB, t=3, p=4); refusing");
    // A file whose stored parameters were lowered is refused before any work.
    let mut tampered = sealed.clone();
    tampered[17..21].copy_from_slice(&1024u32.to_be_bytes());
    let err = open_with_passphrase(&tampered, &pass).unwrap_err();
    assert_eq!(err.to_string(), "Argon2id parameters m=1024 KiB, t=3, p=4 are below Keyrite's minimum (64 MiB, t=3, p=4); refusing");
}

#[test]
fn truncated_unknown_version_and_kind_mismatch_refused() {
    let set = one_share();
    let key = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let sealed = seal_to_p256(&set.shares[0], &key.public_key()).unwrap();
    let err = open_with_p256_key(&sealed[..100], &key).unwrap_err();
    assert_eq!(
        err.to_string(),
        "sealed share is truncated (100 bytes, at least 143 needed); copy the whole file"
    );
    let mut v2 = sealed.clone();
    v2[6] = 2;
    assert_eq!(
        open_with_p256_key(&v2, &key).unwrap_err().to_string(),
        "sealed share has unknown format version 2 (this Keyrite reads version 1)"
    );
    let err = open_with_passphrase(&sealed, &SecretText::new("x".into())).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "sealed share 1 of set {} is sealed to a key, not to a passphrase",
            set.set_id
        )
    );
    assert_eq!(
        open_with_p256_key(b"hello world", &key)
            .unwrap_err()
            .to_string(),
        "not a Keyrite sealed share (it does not start with \"KRSEAL\")"
    );
}
