//! Custodian YubiKeys and K-of-N approvals through the real stack: the `yubikey` crate →
//! libpcsclite → pcscd → vpcd → `piv-sim` (a software PIV card).
//!
//! The fixture needs root (CI runs as root): it creates the network namespace `keyrite-pcsc`
//! so vpcd's TCP listener (0.0.0.0:35963/35964) never faces a real network, starts
//! `pcscd --foreground` inside it (the unix socket /run/pcscd/pcscd.comm stays reachable),
//! and starts one `piv-sim` per inserted card inside it. Everything is stopped on drop.
//! If a pcscd is already running it is reused and the simulators run in the host namespace.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::custodian::attestation::{
    verify_slot_attestation, AttestationTrust, ExpectedKey, PinPolicy, TouchPolicy,
};
use keyrite_core::custodian::enrol::{
    enrol, AttestationStatus, AttestedSlot, Enrolment, EnrolmentInput, EnrolmentRecord, Role,
};
use keyrite_core::custodian::signoff::{sign_off, verify_sign_off};
use keyrite_core::custodian::unseal::unseal_shared_secret;
use keyrite_core::custodian::PivSlot;
use keyrite_core::custodian::{list_cards, CustodianError, PivToken, YubiKeyPiv};
use keyrite_core::quorum::{approve, Approval, ApprovalRequest, KeyRef, Operation, QuorumPolicy};
use keyrite_testkit::piv::{enrol_card, now, secret, Harness, SimOptions, NEW_PIN, TEST_ROOT};
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
    assert!(records.iter().all(|r| r.attestation.is_attested()));
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

fn enrol_with(
    h: &mut Harness,
    id: &str,
    serial: u32,
    opts: &SimOptions,
    trust: &AttestationTrust,
    require: bool,
) -> Result<Enrolment, CustodianError> {
    h.insert_with(id, serial, 0, opts);
    let mut yk = YubiKeyPiv::open_serial(serial).unwrap();
    let (p0, p1, k0, k1) = (
        secret("123456"),
        secret(NEW_PIN),
        secret("12345678"),
        secret("87654321"),
    );
    let result = enrol(
        &mut yk,
        &EnrolmentInput {
            custodian_id: id,
            name: id,
            role: Role::Custodian,
            current_pin: &p0,
            new_pin: &p1,
            current_puk: &k0,
            new_puk: &k1,
            current_management_key: None,
            touch: false,
            attestation_trust: trust,
            require_attestation: require,
        },
    );
    if result.is_err() {
        // Refused enrolment must leave the factory PIN in place.
        assert_eq!(yk.verify_pin(b"123456"), Ok(()));
    }
    drop(yk);
    h.remove(serial);
    result
}

fn reason(e: &Enrolment) -> String {
    match &e.record.attestation {
        AttestationStatus::NotAttested { reason } => reason.clone(),
        other => panic!("expected not attested, got {other:?}"),
    }
}

fn pem(der_bytes: &[u8]) -> String {
    der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, der_bytes).unwrap()
}

#[test]
#[serial(piv)]
fn attestation_through_real_pcsc() {
    let mut h = Harness::start();
    let trust = h.attestation_trust();

    // A card that attests: the record says so, for both slots.
    let e = enrol_with(
        &mut h,
        "att",
        40_000_001,
        &SimOptions::default(),
        &trust,
        true,
    )
    .unwrap();
    let root_sha256 = hex::encode(trust.root_fingerprints()[0]);
    assert_eq!(
        e.record.attestation,
        AttestationStatus::Attested {
            root: TEST_ROOT.into(),
            root_sha256,
            firmware: "5.7.1".into(),
            serial: 40_000_001,
            slots: vec![
                AttestedSlot {
                    slot: PivSlot::Signature,
                    pin_policy: PinPolicy::Always,
                    touch_policy: TouchPolicy::Never
                },
                AttestedSlot {
                    slot: PivSlot::KeyManagement,
                    pin_policy: PinPolicy::Once,
                    touch_policy: TouchPolicy::Never
                },
            ],
        }
    );

    // Read the chain again through the yubikey crate; it verifies with the test root, is
    // refused by Yubico's roots, and openssl agrees with the first verdict.
    h.insert("att", 40_000_001, 0);
    let mut yk = YubiKeyPiv::open_serial(40_000_001).unwrap();
    let f9 = yk.read_attestation_intermediate().unwrap().unwrap();
    let leaf = yk.attest(PivSlot::Signature).unwrap().unwrap();
    drop(yk);
    h.remove(40_000_001);
    let expected = ExpectedKey {
        slot: PivSlot::Signature,
        spki: &e.record.signature_spki,
        pin_policy: PinPolicy::Always,
        touch_policy: TouchPolicy::Never,
    };
    assert!(verify_slot_attestation(&trust, 40_000_001, &f9, &leaf, &expected).is_ok());
    assert_eq!(
        verify_slot_attestation(&AttestationTrust::yubico(), 40_000_001, &f9, &leaf, &expected)
            .unwrap_err()
            .to_string(),
        "the chain does not verify: the card's attestation certificate (slot f9, \"CN=piv-sim PIV Attestation 40000001\") is issued by \"CN=piv-sim test PIV attestation root\", which is not a trusted attestation root (trusted: \"Yubico PIV Root CA Serial 263751\", \"Yubico Attestation Root 1\")"
    );
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("f9.pem"), pem(&f9)).unwrap();
    std::fs::write(tmp.path().join("9c.pem"), pem(&leaf)).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(h.attestation_ca().join("ca.pem"))
        .arg("-untrusted")
        .arg(tmp.path().join("f9.pem"))
        .arg(tmp.path().join("9c.pem"))
        .output()
        .expect("openssl (Debian package openssl) is needed for the cross-check");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Chain signed by another root that has the very same name.
    let impostor = h.make_ca("impostor-ca", TEST_ROOT);
    let opts = SimOptions {
        attestation_ca: Some(impostor),
        ..SimOptions::default()
    };
    let e = enrol_with(&mut h, "imp", 40_000_002, &opts, &trust, false).unwrap();
    assert_eq!(
        reason(&e),
        "the chain does not verify: the signature on the card's attestation certificate (slot f9, \"CN=piv-sim PIV Attestation 40000002\") does not verify with the key of trusted root \"CN=piv-sim test PIV attestation root\""
    );

    // The card attests another serial.
    let opts = SimOptions {
        fault: Some("serial"),
        ..SimOptions::default()
    };
    let e = enrol_with(&mut h, "ser", 40_000_003, &opts, &trust, false).unwrap();
    assert_eq!(
        reason(&e),
        "serial mismatch: the attestation of slot 9c names YubiKey serial 40000004, but the card answers with serial 40000003"
    );
    // ... and a profile requiring attestation refuses it, leaving the credentials alone.
    let err = enrol_with(&mut h, "ser2", 40_000_005, &opts, &trust, true).unwrap_err();
    assert_eq!(
        err.to_string(),
        "YubiKey 40000005 is not attested (serial mismatch: the attestation of slot 9c names YubiKey serial 40000006, but the card answers with serial 40000005), but the site profile requires attestation ([custodians] require_attestation = true): enrol a YubiKey whose keys verify against a trusted attestation root; its PIN, PUK and management key were not changed, but 9c and 9d now hold new keys that are not enrolled"
    );

    // The card attests a key that is not the one it generated.
    let opts = SimOptions {
        fault: Some("key"),
        ..SimOptions::default()
    };
    let e = enrol_with(&mut h, "key", 40_000_007, &opts, &trust, false).unwrap();
    let r = reason(&e);
    assert!(
        r.starts_with("key mismatch: the attestation of slot 9c certifies the key ")
            && r.ends_with(&format!(
                ", but the key generated in slot 9c is {}",
                keyrite_core::words::short_words(
                    &keyrite_core::signer::spki_fingerprint(&e.record.signature_spki),
                    4
                )
            )),
        "{r}"
    );

    // A card without attestation: recorded as such, or refused untouched when required.
    let opts = SimOptions {
        no_attestation: true,
        ..SimOptions::default()
    };
    let err = enrol_with(&mut h, "none", 40_000_008, &opts, &trust, true).unwrap_err();
    assert_eq!(
        err.to_string(),
        "YubiKey 40000008 is not attested (the card does not support PIV attestation: it has no attestation certificate in slot f9), but the site profile requires attestation ([custodians] require_attestation = true): enrol a YubiKey whose keys verify against a trusted attestation root; the card was not changed"
    );
    let e = enrol_with(&mut h, "none", 40_000_008, &opts, &trust, false).unwrap();
    assert_eq!(
        reason(&e),
        "the card does not support PIV attestation: it has no attestation certificate in slot f9"
    );
}
