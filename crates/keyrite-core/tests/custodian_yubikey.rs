//! Custodian YubiKeys and K-of-N approvals through the real stack: the `yubikey` crate →
//! libpcsclite → pcscd → vpcd → `piv-sim` (a software PIV card).
//!
//! The fixture needs root (CI runs as root): it creates the network namespace `keyrite-pcsc`
//! so vpcd's TCP listener (0.0.0.0:35963/35964) never faces a real network, starts
//! `pcscd --foreground` inside it (the unix socket /run/pcscd/pcscd.comm stays reachable),
//! and starts one `piv-sim` per inserted card inside it. Everything is stopped on drop.
//! If a pcscd is already running it is reused and the simulators run in the host namespace.

mod common;

use common::piv::{enrol_card, now, secret, Harness, NEW_PIN};
use keyrite_core::custodian::enrol::EnrolmentRecord;
use keyrite_core::custodian::signoff::{sign_off, verify_sign_off};
use keyrite_core::custodian::unseal::unseal_shared_secret;
use keyrite_core::custodian::{list_cards, CustodianError, PivToken, YubiKeyPiv};
use keyrite_core::quorum::{approve, Approval, ApprovalRequest, KeyRef, Operation, QuorumPolicy};
use serial_test::serial;

fn request(head: [u8; 32], expires_at: u64) -> ApprovalRequest {
    ApprovalRequest::new(
        Operation::Destroy,
        KeyRef {
            label: "root-kek".into(),
            cka_id: vec![1],
            fingerprint: vec![7; 32],
        },
        "7d1a0000",
        "C-2026-01",
        4,
        head,
        expires_at,
    )
    .unwrap()
}

fn approve_with(h: &mut Harness, rec: &EnrolmentRecord, req: &ApprovalRequest) -> Approval {
    h.insert(&rec.custodian_id, rec.yubikey_serial, 0);
    let mut yk = YubiKeyPiv::open_serial(rec.yubikey_serial).unwrap();
    let a = approve(&mut yk, rec, &secret(NEW_PIN), req).unwrap();
    drop(yk);
    h.remove(rec.yubikey_serial);
    a
}

#[test]
#[serial(piv)]
fn three_of_five_custodians_approve_through_real_pcsc() {
    let mut h = Harness::start();
    let ids = ["c1", "c2", "c3", "c4", "c5"];
    let records: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| enrol_card(&mut h, id, 20_000_001 + i as u32))
        .collect();
    // Independent keys per identity (the simulator's RNG is seeded from the OS).
    let fps: std::collections::BTreeSet<_> = records
        .iter()
        .map(|r| r.signature_fingerprint.clone())
        .collect();
    assert_eq!(fps.len(), 5);
    assert!(matches!(
        records[0].attestation,
        keyrite_core::custodian::enrol::AttestationStatus::NotAttested { .. }
    ));
    let json = serde_json::to_string(&records[0]).unwrap();
    assert_eq!(
        serde_json::from_str::<EnrolmentRecord>(&json).unwrap(),
        records[0]
    );

    let policy = QuorumPolicy::new(3, records.clone()).unwrap();
    let head = [0x11; 32];
    let req = request(head, now() + 3600);
    let approvals: Vec<_> = records[..3]
        .iter()
        .map(|r| approve_with(&mut h, r, &req))
        .collect();

    let ok = policy.verify(&req, &approvals, &head, now()).unwrap();
    assert_eq!(ok.approvers, vec!["c1", "c2", "c3"]);

    let w = req.short_hash_words();
    let err = policy
        .verify(&req, &approvals[..2], &head, now())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("2 of the 3 required approvals for request {w}: the operation needs 3 distinct enrolled custodians")
    );
    let dup = vec![
        approvals[0].clone(),
        approvals[1].clone(),
        approvals[0].clone(),
    ];
    assert_eq!(
        policy
            .verify(&req, &dup, &head, now())
            .unwrap_err()
            .to_string(),
        "custodian c1 approved more than once: each custodian counts once"
    );
    // A valid signature by a key that is not in the policy.
    let small = QuorumPolicy::new(2, records[1..].to_vec()).unwrap();
    assert_eq!(
        small
            .verify(&req, &approvals, &head, now())
            .unwrap_err()
            .to_string(),
        "approval by c1, who is not an enrolled custodian of this quorum"
    );
    // Approvals for another request (same operation, fresh nonce).
    let other = request(head, now() + 3600);
    let ow = other.short_hash_words();
    assert_eq!(
        policy
            .verify(&other, &approvals, &head, now())
            .unwrap_err()
            .to_string(),
        format!("approval by c1 is for request {w}, not for this request {ow}")
    );
    // Relabelled approval: the hash claims this request but the signature is over another.
    let mut forged = approvals.clone();
    forged[0].request_sha256 = other.sha256();
    assert_eq!(
        policy.verify(&other, &forged[..1], &head, now()).unwrap_err().to_string(),
        format!("approval by c1: the signature does not verify against their enrolled 9c key over request {ow}")
    );
    // c2's signature presented as c1's.
    let mut swapped = approvals.clone();
    swapped[0].signature = approvals[1].signature.clone();
    assert_eq!(
        policy.verify(&req, &swapped, &head, now()).unwrap_err().to_string(),
        format!("approval by c1: the signature does not verify against their enrolled 9c key over request {w}")
    );
    // Expired.
    let err = policy
        .verify(&req, &approvals, &head, req.expires_at)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "approval request {w} expired at {} (now {}): make a new request",
            req.expires_at, req.expires_at
        )
    );
    // Replay at another journal head.
    let moved = [0x22; 32];
    let words = |b: &[u8]| keyrite_core::words::short_words(b, 4);
    assert_eq!(
        policy.verify(&req, &approvals, &moved, now()).unwrap_err().to_string(),
        format!(
            "approval request {w} was made at journal head {}, but the journal head is now {}: approvals cannot be replayed; make a new request",
            words(&head),
            words(&moved)
        )
    );

    // Sign-off and unseal with c4's card.
    let c4 = &records[3];
    h.insert("c4", c4.yubikey_serial, 0);
    let mut yk = YubiKeyPiv::open_serial(c4.yubikey_serial).unwrap();
    let so = sign_off(&mut yk, c4, &secret(NEW_PIN), b"step 4 outcome").unwrap();
    verify_sign_off(&so, c4, b"step 4 outcome").unwrap();
    assert!(verify_sign_off(&so, c4, b"step 5 outcome").is_err());

    use p256::pkcs8::DecodePublicKey;
    let eph = p256::ecdh::EphemeralSecret::random(&mut rand::rngs::OsRng);
    let point = p256::EncodedPoint::from(eph.public_key());
    let shared = unseal_shared_secret(&mut yk, &secret(NEW_PIN), point.as_bytes()).unwrap();
    let card_pub = p256::PublicKey::from_public_key_der(&c4.key_management_spki).unwrap();
    let expected = eph.diffie_hellman(&card_pub);
    assert_eq!(shared.expose(), expected.raw_secret_bytes().as_slice());
    assert_eq!(
        unseal_shared_secret(&mut yk, &secret(NEW_PIN), &point.as_bytes()[..33]).unwrap_err().to_string(),
        "the sealed share's ephemeral key is not a valid uncompressed P-256 point (expected 65 bytes starting with 04, got 33 bytes)"
    );
    drop(yk);
    h.remove(c4.yubikey_serial);
}

#[test]
#[serial(piv)]
fn bad_inputs_through_real_pcsc() {
    let mut h = Harness::start();
    // No card.
    assert_eq!(
        YubiKeyPiv::open_single().unwrap_err().to_string(),
        "no YubiKey found in 2 reader(s): insert the custodian's YubiKey"
    );
    let a = enrol_card(&mut h, "a", 30_000_001);
    let b = enrol_card(&mut h, "b", 30_000_002);

    // Wrong serial.
    h.insert("a", a.yubikey_serial, 0);
    assert_eq!(
        YubiKeyPiv::open_serial(b.yubikey_serial).unwrap_err().to_string(),
        "the inserted YubiKey has serial 30000001, but the key asked for is serial 30000002: insert the right key"
    );
    // Two cards when one was asked for.
    h.insert("b", b.yubikey_serial, 1);
    assert_eq!(
        YubiKeyPiv::open_single().unwrap_err().to_string(),
        "2 YubiKeys are inserted (serials 30000001, 30000002) but one was asked for: remove all but the custodian's key"
    );
    h.remove(b.yubikey_serial);

    // A card that does not hold the enrolled key: a's card presented for b's enrolment.
    let req = request([3; 32], now() + 60);
    let mut yk = YubiKeyPiv::open_single().unwrap();
    let mut b_on_a = b.clone();
    b_on_a.yubikey_serial = a.yubikey_serial;
    assert_eq!(
        approve(&mut yk, &b_on_a, &secret(NEW_PIN), &req).unwrap_err().to_string(),
        "the signature from YubiKey 30000001 (slot 9c) does not verify against the enrolled key: this card does not hold the enrolled key"
    );

    // Wrong PIN, retries shown; then blocked.
    assert_eq!(yk.pin_retries().unwrap(), 3);
    assert_eq!(
        approve(&mut yk, &a, &secret("999999"), &req)
            .unwrap_err()
            .to_string(),
        "wrong PIN for YubiKey 30000001: 2 tries left before the PIN is blocked"
    );
    assert_eq!(yk.pin_retries().unwrap(), 2);
    assert_eq!(
        yk.verify_pin(b"999999").unwrap_err(),
        CustodianError::WrongPin {
            serial: 30_000_001,
            retries_left: 1
        }
    );
    assert_eq!(
        yk.verify_pin(b"12345").unwrap_err().to_string(),
        "the PIN must be 6 to 8 characters, got 5"
    );
    let _ = yk.verify_pin(b"999999");
    assert_eq!(
        approve(&mut yk, &a, &secret(NEW_PIN), &req).unwrap_err().to_string(),
        "the PIN of YubiKey 30000001 is blocked: unblock it with the PUK, or replace the key through a quorum operation"
    );
    drop(yk);
    h.remove(a.yubikey_serial);

    // Card removed mid-operation: open b, pull it, then sign.
    h.insert("b", b.yubikey_serial, 0);
    let mut yk = YubiKeyPiv::open_serial(b.yubikey_serial).unwrap();
    h.remove(b.yubikey_serial);
    let err = yk.sign_digest(&[0u8; 32]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "YubiKey 30000002 was removed during signing: insert it again and repeat the step (nothing was signed)"
    );
    drop(yk);

    // No reader: pcscd gone.
    if h.stop_pcscd() {
        assert_eq!(
            list_cards().unwrap_err().to_string(),
            "no smart-card reader found: check that pcscd is running and the YubiKey is plugged in"
        );
    }
}
