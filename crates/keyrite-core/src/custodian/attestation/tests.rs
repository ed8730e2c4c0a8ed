use super::chain::{pem_certificates, verify_signed_by, ParsedCert};
use super::test_ca::{build_cert, yubico_extensions, TestCa};
use super::*;
use std::str::FromStr;

/// A real YubiKey 5 (firmware 5.2.6) attestation published in sigstore/cosign's TOKENS.md:
/// f9 certificate, then the slot 9c attestation.
const REAL_9C: &str = include_str!("testdata/yubikey-5.2.6-9c.pem");

fn real_chain() -> (Vec<u8>, Vec<u8>) {
    let certs = pem_certificates(REAL_9C).unwrap();
    assert_eq!(certs.len(), 2);
    (certs[0].clone(), certs[1].clone())
}

fn leaf_spki(der_bytes: &[u8]) -> Vec<u8> {
    ParsedCert::parse(der_bytes).unwrap().spki_der().unwrap()
}

fn expect(slot: PivSlot, spki: &[u8], pin: PinPolicy, touch: TouchPolicy) -> ExpectedKey<'_> {
    ExpectedKey {
        slot,
        spki,
        pin_policy: pin,
        touch_policy: touch,
    }
}

#[test]
fn embedded_yubico_trust_holds_both_roots_and_chains_its_intermediates() {
    let trust = AttestationTrust::yubico();
    assert_eq!(
        trust.root_names(),
        vec![
            "Yubico PIV Root CA Serial 263751".to_string(),
            "Yubico Attestation Root 1".to_string()
        ]
    );
    // The fingerprints written in yubico-roots.pem (and in docs/hardware-checklist.md).
    assert_eq!(
        trust
            .root_fingerprints()
            .iter()
            .map(hex::encode)
            .collect::<Vec<_>>(),
        vec![
            "63ece914e54dd87915f34033c85af4c0696ba1512f8add66ced738331207b546",
            "62760c6a6ef91679f454c8902b80fd009825b3f25da90f1fbace2ec6586cd5a8"
        ]
    );
    // Every shipped intermediate really is signed by its named issuer (RSA, SHA-256).
    let names: Vec<_> = trust
        .intermediates
        .iter()
        .map(|i| i.common_name.as_str())
        .collect();
    assert_eq!(
        names,
        vec![
            "Yubico Attestation Intermediate A 1",
            "Yubico Attestation Intermediate B 1",
            "Yubico PIV Attestation A 1",
            "Yubico PIV Attestation B 1"
        ]
    );
    let all: Vec<_> = trust
        .roots
        .iter()
        .chain(trust.intermediates.iter())
        .collect();
    for i in &trust.intermediates {
        let issuer = all
            .iter()
            .find(|c| i.cert.issued_by(&c.cert))
            .expect("issuer present");
        verify_signed_by(
            &i.cert,
            &issuer.cert.cert.tbs_certificate.subject_public_key_info,
        )
        .unwrap();
    }
    // And a swapped issuer key fails: the check is not vacuous.
    let a1 = &trust.intermediates[0];
    let piv_root = &trust.roots[0];
    assert!(verify_signed_by(
        &a1.cert,
        &piv_root.cert.cert.tbs_certificate.subject_public_key_info
    )
    .is_err());
}

#[test]
fn real_yubikey_attestation_verifies_against_yubico_piv_root() {
    let (f9, leaf) = real_chain();
    let spki = leaf_spki(&leaf);
    let got = verify_slot_attestation(
        &AttestationTrust::yubico(),
        13_078_782,
        &f9,
        &leaf,
        &expect(
            PivSlot::Signature,
            &spki,
            PinPolicy::Always,
            TouchPolicy::Always,
        ),
    )
    .unwrap();
    assert_eq!(
        got,
        AttestedKey {
            slot: PivSlot::Signature,
            root: "Yubico PIV Root CA Serial 263751".into(),
            root_sha256: AttestationTrust::yubico().root_fingerprints()[0],
            firmware: "5.2.6".into(),
            serial: 13_078_782,
            pin_policy: PinPolicy::Always,
            touch_policy: TouchPolicy::Always,
        }
    );
}

#[test]
fn real_yubikey_attestation_refusals_name_the_broken_link() {
    let (f9, leaf) = real_chain();
    let spki = leaf_spki(&leaf);
    let yubico = AttestationTrust::yubico();
    let ok = expect(
        PivSlot::Signature,
        &spki,
        PinPolicy::Always,
        TouchPolicy::Always,
    );
    let err = |trust: &AttestationTrust, serial, f9: &[u8], leaf: &[u8], e: &ExpectedKey<'_>| {
        verify_slot_attestation(trust, serial, f9, leaf, e)
            .unwrap_err()
            .to_string()
    };

    assert_eq!(
        err(&yubico, 13_078_783, &f9, &leaf, &ok),
        "serial mismatch: the attestation of slot 9c names YubiKey serial 13078782, but the card answers with serial 13078783"
    );
    assert_eq!(
        err(&yubico, 13_078_782, &f9, &leaf, &expect(PivSlot::Signature, &spki, PinPolicy::Once, TouchPolicy::Always)),
        "PIN policy mismatch: the attestation of slot 9c says PIN policy always, but enrolment set once"
    );
    assert_eq!(
        err(&yubico, 13_078_782, &f9, &leaf, &expect(PivSlot::Signature, &spki, PinPolicy::Always, TouchPolicy::Never)),
        "touch policy mismatch: the attestation of slot 9c says touch policy always, but enrolment set never"
    );
    let other = TestCa::new("Keyrite test PIV attestation root");
    assert_eq!(
        err(&AttestationTrust::from_pem(&other.pem()).unwrap(), 13_078_782, &f9, &leaf, &ok),
        "the chain does not verify: the card's attestation certificate (slot f9, \"CN=Yubico PIV Attestation\") is issued by \"CN=Yubico PIV Root CA Serial 263751\", which is not a trusted attestation root (trusted: \"Keyrite test PIV attestation root\")"
    );
    assert_eq!(
        err(&AttestationTrust::none(), 13_078_782, &f9, &leaf, &ok),
        "the chain does not verify: the card's attestation certificate (slot f9, \"CN=Yubico PIV Attestation\") is issued by \"CN=Yubico PIV Root CA Serial 263751\", which is not a trusted attestation root (trusted: none)"
    );
    // One bit of the slot certificate's signature flipped.
    let mut forged = leaf.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert_eq!(
        err(&yubico, 13_078_782, &f9, &forged, &ok),
        "the chain does not verify: the signature on the attestation of slot 9c does not verify with the key of the card's attestation certificate (slot f9, \"CN=Yubico PIV Attestation\")"
    );
    // One bit of the f9 certificate's signature flipped.
    let mut forged_f9 = f9.clone();
    let last = forged_f9.len() - 1;
    forged_f9[last] ^= 1;
    assert_eq!(
        err(&yubico, 13_078_782, &forged_f9, &leaf, &ok),
        "the chain does not verify: the signature on the card's attestation certificate (slot f9, \"CN=Yubico PIV Attestation\") does not verify with the key of trusted root \"CN=Yubico PIV Root CA Serial 263751\""
    );
    // The attested key is not the key enrolment generated.
    let other_spki = p256::SecretKey::random(&mut rand::rngs::OsRng)
        .public_key()
        .to_public_key_der()
        .unwrap()
        .as_bytes()
        .to_vec();
    use p256::pkcs8::EncodePublicKey;
    assert_eq!(
        err(&yubico, 13_078_782, &f9, &leaf, &expect(PivSlot::Signature, &other_spki, PinPolicy::Always, TouchPolicy::Always)),
        format!(
            "key mismatch: the attestation of slot 9c certifies the key {}, but the key generated in slot 9c is {}",
            short_words(&spki_fingerprint(&spki), 4),
            short_words(&spki_fingerprint(&other_spki), 4)
        )
    );
    let detail = ParsedCert::parse(b"\x30\x03\x02\x01\x01").err().unwrap();
    assert_eq!(
        err(&yubico, 13_078_782, b"\x30\x03\x02\x01\x01", &leaf, &ok),
        format!("the card's attestation certificate (slot f9) is not a valid X.509 certificate: {detail}")
    );
}

fn p256_spki() -> Vec<u8> {
    use p256::pkcs8::EncodePublicKey;
    p256::SecretKey::random(&mut rand::rngs::OsRng)
        .public_key()
        .to_public_key_der()
        .unwrap()
        .as_bytes()
        .to_vec()
}

#[test]
fn test_hierarchy_verifies_and_refuses_each_broken_link() {
    let ca = TestCa::new("Keyrite test PIV attestation root");
    let trust = AttestationTrust::from_pem(&ca.pem()).unwrap();
    let f9 = ca.issue_f9("piv-sim PIV Attestation");
    let spki = p256_spki();
    let leaf = f9.attest("9d", &spki, 4242, 2, 1);
    let e = expect(
        PivSlot::KeyManagement,
        &spki,
        PinPolicy::Once,
        TouchPolicy::Never,
    );
    let got = verify_slot_attestation(&trust, 4242, &f9.cert, &leaf, &e).unwrap();
    assert_eq!(
        (
            got.root.as_str(),
            got.firmware.as_str(),
            got.serial,
            got.pin_policy,
            got.touch_policy
        ),
        (
            "Keyrite test PIV attestation root",
            "5.7.1",
            4242,
            PinPolicy::Once,
            TouchPolicy::Never
        )
    );
    let err = |f9: &[u8], leaf: &[u8]| {
        verify_slot_attestation(&trust, 4242, f9, leaf, &e)
            .unwrap_err()
            .to_string()
    };

    // Another root with the very same name: only the signature tells them apart.
    let impostor = TestCa::new("Keyrite test PIV attestation root");
    let fake_f9 = impostor.issue_f9("piv-sim PIV Attestation");
    assert_eq!(
        err(&fake_f9.cert, &fake_f9.attest("9d", &spki, 4242, 2, 1)),
        "the chain does not verify: the signature on the card's attestation certificate (slot f9, \"CN=piv-sim PIV Attestation\") does not verify with the key of trusted root \"CN=Keyrite test PIV attestation root\""
    );
    // The slot attestation comes from another card's f9 key.
    let other_card = ca.issue_f9("another card");
    assert_eq!(
        err(&f9.cert, &other_card.attest("9d", &spki, 4242, 2, 1)),
        "the chain does not verify: the attestation of slot 9d is issued by \"CN=another card\", not by the card's attestation certificate \"CN=piv-sim PIV Attestation\""
    );
    // A missing Yubico extension.
    let subject = x509_cert::name::Name::from_str("CN=YubiKey PIV Attestation 9d").unwrap();
    let mut exts = yubico_extensions([5, 7, 1], 4242, 2, 1);
    exts.remove(1);
    let no_serial = build_cert(&f9.name, &f9.key, &subject, &spki, exts);
    assert_eq!(
        err(&f9.cert, &no_serial),
        "the attestation of slot 9d has no serial number extension (1.3.6.1.4.1.41482.3.7)"
    );
    // A policy byte Yubico does not define.
    let bad_policy = build_cert(
        &f9.name,
        &f9.key,
        &subject,
        &spki,
        yubico_extensions([5, 7, 1], 4242, 9, 1),
    );
    assert_eq!(
        err(&f9.cert, &bad_policy),
        "the attestation of slot 9d has a malformed PIN and touch policy extension (1.3.6.1.4.1.41482.3.8)"
    );
    // Garbage instead of a slot certificate.
    assert!(err(&f9.cert, b"not a certificate")
        .starts_with("the attestation of slot 9d is not a valid X.509 certificate: "));
}

#[test]
fn trust_from_pem_refuses_bad_text() {
    assert_eq!(
        AttestationTrust::from_pem("no certificates here").unwrap_err().to_string(),
        "the attestation trust data is invalid: attestation roots: the PEM text holds no CERTIFICATE block"
    );
    assert_eq!(
        AttestationTrust::from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n").unwrap_err().to_string(),
        "the attestation trust data is invalid: attestation roots: certificate 1 has no \"-----END CERTIFICATE-----\" line"
    );
    assert_eq!(
        AttestationTrust::from_pem("-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n")
            .unwrap_err()
            .to_string(),
        format!(
            "the attestation trust data is invalid: attestation roots: certificate 1 is not valid X.509: {}",
            ParsedCert::parse(b"\x30\x03\x02\x01\x01").err().unwrap()
        )
    );
    let two = format!("{}{}", TestCa::new("a").pem(), TestCa::new("b").pem());
    assert_eq!(
        AttestationTrust::from_pem(&two).unwrap().root_names(),
        vec!["a".to_string(), "b".to_string()]
    );
}

#[test]
fn unsupported_algorithm_and_endless_chain_are_refused_by_name() {
    let ca = TestCa::new("root");
    let trust = AttestationTrust::from_pem(&ca.pem()).unwrap();
    let f9 = ca.issue_f9("card");
    let spki = p256_spki();
    let e = expect(
        PivSlot::KeyManagement,
        &spki,
        PinPolicy::Once,
        TouchPolicy::Never,
    );

    // Relabel the slot certificate as SHA-1 RSA: refused by algorithm before any math.
    let mut cert = x509_cert::Certificate::from_der(&f9.attest("9d", &spki, 1, 2, 1)).unwrap();
    let sha1_rsa = const_oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.5");
    cert.signature_algorithm.oid = sha1_rsa;
    cert.tbs_certificate.signature.oid = sha1_rsa;
    use der::Encode;
    let relabelled = cert.to_der().unwrap();
    assert_eq!(
        verify_slot_attestation(&trust, 1, &f9.cert, &relabelled, &e)
            .unwrap_err()
            .to_string(),
        "the chain does not verify: the attestation of slot 9d is signed with signature algorithm \
         sha1WithRSAEncryption (1.2.840.113549.1.1.5), which Keyrite does not verify (it verifies \
         RSA PKCS#1 v1.5 and ECDSA P-256/P-384 with SHA-2)"
    );

    // An intermediate that issues itself never reaches a root.
    let looping = TestCa::new("loop");
    let card = looping.issue_f9("card");
    let self_issued = ParsedCert::parse(&looping.cert).unwrap();
    let trust = AttestationTrust {
        roots: Vec::new(),
        intermediates: vec![trust::TrustedCert {
            common_name: self_issued.common_name(),
            cert: self_issued,
        }],
    };
    assert_eq!(
        verify_slot_attestation(&trust, 1, &card.cert, &card.attest("9d", &spki, 1, 2, 1), &e)
            .unwrap_err()
            .to_string(),
        "the chain does not verify: more than 4 certificates above the card's attestation certificate"
    );
}

#[test]
fn bad_pem_is_refused_with_the_blocks_number() {
    let table = [
        (
            "-----BEGIN CERTIFICATE-----\nAAAA\n",
            "certificate 1 has no \"-----END CERTIFICATE-----\" line",
        ),
        (
            "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
            "certificate 1 is not valid PEM: ",
        ),
    ];
    for (text, expected) in table {
        let e = pem_certificates(text).unwrap_err().to_string();
        assert!(e.starts_with(expected), "{e}");
    }
}
