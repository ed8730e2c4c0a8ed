//! Test-only attestation hierarchy: a P-256 root, per-card f9 certificates and slot
//! attestations with Yubico's extensions, built the way `crate::x509` builds certificates.
//! The real-stack tests get the same shapes from `piv-sim`.

use std::str::FromStr;

use der::asn1::{BitString, OctetString};
use der::{Decode, Encode};
use p256::ecdsa::{signature::Signer as _, DerSignature, SigningKey};
use p256::pkcs8::EncodePublicKey;
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::Validity;
use x509_cert::{Certificate, TbsCertificate, Version};

use super::{OID_FIRMWARE, OID_POLICY, OID_SERIAL};

fn ecdsa_sha256() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: const_oid::db::rfc5912::ECDSA_WITH_SHA_256,
        parameters: None,
    }
}

fn spki_of(key: &SigningKey) -> Vec<u8> {
    key.verifying_key()
        .to_public_key_der()
        .unwrap()
        .as_bytes()
        .to_vec()
}

/// Builds a certificate for `spki` signed by `issuer_key`.
pub(crate) fn build_cert(
    issuer: &Name,
    issuer_key: &SigningKey,
    subject: &Name,
    spki_der: &[u8],
    extensions: Vec<Extension>,
) -> Vec<u8> {
    let mut serial = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut serial);
    serial[0] = (serial[0] & 0x7f) | 0x01;
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&serial).unwrap(),
        signature: ecdsa_sha256(),
        issuer: issuer.clone(),
        validity: Validity::from_now(std::time::Duration::from_secs(3600)).unwrap(),
        subject: subject.clone(),
        subject_public_key_info: SubjectPublicKeyInfoOwned::from_der(spki_der).unwrap(),
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: if extensions.is_empty() {
            None
        } else {
            Some(extensions)
        },
    };
    let sig: DerSignature = issuer_key.sign(&tbs.to_der().unwrap());
    Certificate {
        tbs_certificate: tbs,
        signature_algorithm: ecdsa_sha256(),
        signature: BitString::from_bytes(sig.as_bytes()).unwrap(),
    }
    .to_der()
    .unwrap()
}

/// Yubico's extensions as a YubiKey writes them.
pub(crate) fn yubico_extensions(
    firmware: [u8; 3],
    serial: u32,
    pin: u8,
    touch: u8,
) -> Vec<Extension> {
    let ext = |oid, value: Vec<u8>| Extension {
        extn_id: oid,
        critical: false,
        extn_value: OctetString::new(value).unwrap(),
    };
    vec![
        ext(OID_FIRMWARE, firmware.to_vec()),
        ext(OID_SERIAL, serial.to_der().unwrap()),
        ext(OID_POLICY, vec![pin, touch]),
    ]
}

/// A root CA.
pub(crate) struct TestCa {
    pub key: SigningKey,
    pub name: Name,
    pub cert: Vec<u8>,
}

impl TestCa {
    /// A self-signed root named `CN=<cn>`.
    pub fn new(cn: &str) -> Self {
        let key = SigningKey::random(&mut rand::rngs::OsRng);
        let name = Name::from_str(&format!("CN={cn}")).unwrap();
        let cert = build_cert(&name, &key, &name, &spki_of(&key), vec![]);
        Self { key, name, cert }
    }

    /// The root as PEM, for [`super::AttestationTrust::from_pem`].
    pub fn pem(&self) -> String {
        der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &self.cert).unwrap()
    }

    /// A card's f9 key and certificate issued by this root.
    pub fn issue_f9(&self, cn: &str) -> TestF9 {
        let key = SigningKey::random(&mut rand::rngs::OsRng);
        let name = Name::from_str(&format!("CN={cn}")).unwrap();
        let cert = build_cert(&self.name, &self.key, &name, &spki_of(&key), vec![]);
        TestF9 { key, name, cert }
    }
}

/// A card's attestation key (slot f9) and certificate.
pub(crate) struct TestF9 {
    pub key: SigningKey,
    pub name: Name,
    pub cert: Vec<u8>,
}

impl TestF9 {
    /// An attestation of `spki_der` for a card with `serial` (firmware 5.7.1).
    pub fn attest(&self, slot: &str, spki_der: &[u8], serial: u32, pin: u8, touch: u8) -> Vec<u8> {
        let subject = Name::from_str(&format!("CN=YubiKey PIV Attestation {slot}")).unwrap();
        build_cert(
            &self.name,
            &self.key,
            &subject,
            spki_der,
            yubico_extensions([5, 7, 1], serial, pin, touch),
        )
    }
}
