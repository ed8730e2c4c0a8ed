//! Self-signed X.509 certificates for a [`Signer`]'s key.
//!
//! A PDF signature (and the CMS inside it) names its signer by certificate. Keyrite's
//! record-signing key lives in the HSM and has no CA above it, so the certificate is
//! self-signed through the same [`Signer`] (the HSM computes ECDSA over the SHA-384 the host
//! computed). Auditors trust it by pinning, not by chain building: the verifier compares the
//! embedded certificate with the one they were given.
//!
//! The encoding is fixed (see `docs/formats/record-signature.md`): v3, serial derived from the
//! SPKI and the validity start, subject = issuer = `O=Keyrite, CN=<common name>`, critical
//! basicConstraints CA=false, critical keyUsage digitalSignature + nonRepudiation,
//! subjectKeyIdentifier = first 20 bytes of SHA-256(SPKI).

use std::time::{Duration, SystemTime};

use const_oid::db::rfc5280;
use const_oid::db::rfc5912;
use der::asn1::{BitString, OctetString, SetOfVec, Utf8StringRef};
use der::{Any, Decode, Encode};
use sha2::{Digest, Sha256};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages, SubjectKeyIdentifier};
use x509_cert::ext::Extension;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, TbsCertificate, Version};

use crate::signer::{SignatureAlgorithm, Signer, SignerError};

/// How long a record-signing certificate is valid: ten years of 365 days.
pub const RECORD_CERT_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);

/// Errors while making a certificate.
#[derive(Debug, thiserror::Error)]
pub enum X509Error {
    /// The signer could not give its public key or sign.
    #[error("the certificate could not be signed: {0}")]
    Signer(#[from] SignerError),
    /// A field could not be encoded (message names which).
    #[error("the certificate could not be encoded: {what}: {source}")]
    Encoding {
        /// The field.
        what: &'static str,
        /// The DER error.
        source: der::Error,
    },
    /// The validity period is empty or outside what X.509 times can express.
    #[error("the certificate validity is invalid: not-after must be later than not-before, both after 1970 and before 9999")]
    Validity,
}

fn enc(what: &'static str) -> impl FnOnce(der::Error) -> X509Error {
    move |source| X509Error::Encoding { what, source }
}

/// The signature AlgorithmIdentifier (ECDSA with the signer's hash, no parameters).
pub fn signature_algorithm_identifier(algorithm: SignatureAlgorithm) -> AlgorithmIdentifierOwned {
    let oid = match algorithm {
        SignatureAlgorithm::EcdsaP384Sha384 => rfc5912::ECDSA_WITH_SHA_384,
        SignatureAlgorithm::EcdsaP256Sha256 => rfc5912::ECDSA_WITH_SHA_256,
    };
    AlgorithmIdentifierOwned {
        oid,
        parameters: None,
    }
}

/// The subject common name of a site's record-signing certificate.
pub fn record_signing_common_name(site: &str) -> String {
    format!("Keyrite record signing — {site}")
}

/// A record-signing certificate for `site`, valid from `not_before` for
/// [`RECORD_CERT_VALIDITY`]. Returns DER.
pub fn record_signing_certificate(
    signer: &dyn Signer,
    site: &str,
    not_before: SystemTime,
) -> Result<Vec<u8>, X509Error> {
    let not_after = not_before
        .checked_add(RECORD_CERT_VALIDITY)
        .ok_or(X509Error::Validity)?;
    self_signed_certificate(
        signer,
        &record_signing_common_name(site),
        not_before,
        not_after,
    )
}

/// A self-signed certificate for the signer's key with subject `CN=<common_name>, O=Keyrite`,
/// valid from `not_before` to `not_after` (the ceremony clock, never the wall clock implicitly).
/// Returns DER.
pub fn self_signed_certificate(
    signer: &dyn Signer,
    common_name: &str,
    not_before: SystemTime,
    not_after: SystemTime,
) -> Result<Vec<u8>, X509Error> {
    let spki_der = signer.public_key_spki()?;
    let spki = SubjectPublicKeyInfoOwned::from_der(&spki_der).map_err(enc("public key"))?;
    let start = not_before
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| X509Error::Validity)?;
    let end = not_after
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| X509Error::Validity)?;
    if end <= start {
        return Err(X509Error::Validity);
    }
    let validity = Validity {
        not_before: x509_time(start)?,
        not_after: x509_time(end)?,
    };
    let name = subject_name(common_name)?;
    let algorithm = signature_algorithm_identifier(signer.algorithm());
    let spki_hash = Sha256::digest(&spki_der);

    // Serial: SHA-256(SPKI || not_before seconds), 16 bytes, top bit cleared so it is positive.
    let mut h = Sha256::new();
    h.update(&spki_der);
    h.update(start.as_secs().to_be_bytes());
    let mut serial = [0u8; 16];
    serial.copy_from_slice(&h.finalize()[..16]);
    serial[0] = (serial[0] & 0x7f) | 0x01;

    let key_usage = KeyUsage(KeyUsages::DigitalSignature | KeyUsages::NonRepudiation);
    let basic = BasicConstraints {
        ca: false,
        path_len_constraint: None,
    };
    let ski = SubjectKeyIdentifier(
        OctetString::new(&spki_hash[..20]).map_err(enc("subject key identifier"))?,
    );
    let extensions = vec![
        extension(
            rfc5280::ID_CE_BASIC_CONSTRAINTS,
            true,
            &basic,
            "basic constraints",
        )?,
        extension(rfc5280::ID_CE_KEY_USAGE, true, &key_usage, "key usage")?,
        extension(
            rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER,
            false,
            &ski,
            "subject key identifier",
        )?,
    ];

    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&serial).map_err(enc("serial number"))?,
        signature: algorithm.clone(),
        issuer: name.clone(),
        validity,
        subject: name,
        subject_public_key_info: spki,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    };
    let tbs_der = tbs.to_der().map_err(enc("to-be-signed certificate"))?;
    let signature = signer.sign(&tbs_der)?;
    let cert = Certificate {
        tbs_certificate: tbs,
        signature_algorithm: algorithm,
        signature: BitString::from_bytes(&signature).map_err(enc("signature"))?,
    };
    cert.to_der().map_err(enc("certificate"))
}

fn extension<T: Encode>(
    oid: der::asn1::ObjectIdentifier,
    critical: bool,
    value: &T,
    what: &'static str,
) -> Result<Extension, X509Error> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value.to_der().map_err(enc(what))?).map_err(enc(what))?,
    })
}

/// RFC 5280: UTCTime through 2049, GeneralizedTime from 2050.
fn x509_time(since_epoch: Duration) -> Result<Time, X509Error> {
    let dt = der::DateTime::from_unix_duration(Duration::from_secs(since_epoch.as_secs()))
        .map_err(|_| X509Error::Validity)?;
    if dt.year() < 2050 {
        der::asn1::UtcTime::from_date_time(dt)
            .map(Time::UtcTime)
            .map_err(|_| X509Error::Validity)
    } else {
        Ok(Time::GeneralTime(
            der::asn1::GeneralizedTime::from_date_time(dt),
        ))
    }
}

fn subject_name(common_name: &str) -> Result<Name, X509Error> {
    let rdn = |oid, value: &str| -> Result<RelativeDistinguishedName, X509Error> {
        let value = Any::from(Utf8StringRef::new(value).map_err(enc("subject name"))?);
        let set = SetOfVec::try_from(vec![AttributeTypeAndValue { oid, value }])
            .map_err(enc("subject name"))?;
        Ok(RelativeDistinguishedName::from(set))
    };
    // Most general first (O, then CN): the RFC 4514 string reads `CN=…,O=Keyrite`.
    Ok(RdnSequence(vec![
        rdn(const_oid::db::rfc4519::O, "Keyrite")?,
        rdn(const_oid::db::rfc4519::CN, common_name)?,
    ]))
}

/// The parts of a certificate a verifier reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateSummary {
    /// Subject as an RFC 4514 string (e.g. `CN=Keyrite record signing — lab,O=Keyrite`).
    pub subject: String,
    /// DER SubjectPublicKeyInfo.
    pub spki_der: Vec<u8>,
    /// The key's algorithm when Keyrite supports it.
    pub algorithm: Option<SignatureAlgorithm>,
}

/// Reads the subject and key of a DER certificate.
pub fn summarize(cert_der: &[u8]) -> Result<CertificateSummary, der::Error> {
    let cert = Certificate::from_der(cert_der)?;
    let spki = &cert.tbs_certificate.subject_public_key_info;
    let spki_der = spki.to_der()?;
    Ok(CertificateSummary {
        subject: cert.tbs_certificate.subject.to_string(),
        algorithm: key_algorithm(spki),
        spki_der,
    })
}

/// The signature algorithm Keyrite uses with this public key (P-384 → ECDSA/SHA-384,
/// P-256 → ECDSA/SHA-256), or `None` for other keys.
pub fn key_algorithm(spki: &SubjectPublicKeyInfoOwned) -> Option<SignatureAlgorithm> {
    if spki.algorithm.oid != rfc5912::ID_EC_PUBLIC_KEY {
        return None;
    }
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<der::asn1::ObjectIdentifier>().ok())?;
    if curve == rfc5912::SECP_384_R_1 {
        Some(SignatureAlgorithm::EcdsaP384Sha384)
    } else if curve == rfc5912::SECP_256_R_1 {
        Some(SignatureAlgorithm::EcdsaP256Sha256)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signer::{verify, SoftwareP384Signer};

    #[test]
    fn certificate_is_self_signed_and_names_the_site() {
        let s = SoftwareP384Signer::generate();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_780_000_000);
        let der = record_signing_certificate(&s, "lab-1", t0).unwrap();
        let cert = Certificate::from_der(&der).unwrap();
        let tbs = cert.tbs_certificate.to_der().unwrap();
        let spki = s.public_key_spki().unwrap();
        verify(
            SignatureAlgorithm::EcdsaP384Sha384,
            &spki,
            &tbs,
            cert.signature.raw_bytes(),
        )
        .unwrap();
        let sum = summarize(&der).unwrap();
        assert_eq!(sum.subject, "CN=Keyrite record signing — lab-1,O=Keyrite");
        assert_eq!(sum.spki_der, spki);
        assert_eq!(sum.algorithm, Some(SignatureAlgorithm::EcdsaP384Sha384));
        assert_eq!(
            cert.tbs_certificate.validity.not_before.to_system_time(),
            t0
        );
        let (critical, ku) = cert.tbs_certificate.get::<KeyUsage>().unwrap().unwrap();
        assert!(critical && ku.digital_signature() && ku.non_repudiation());
        // Same key and time: same certificate bytes except the ECDSA nonce — the TBS is stable.
        let again =
            Certificate::from_der(&record_signing_certificate(&s, "lab-1", t0).unwrap()).unwrap();
        assert_eq!(again.tbs_certificate.to_der().unwrap(), tbs);
    }

    #[test]
    fn empty_validity_is_refused() {
        let s = SoftwareP384Signer::generate();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_780_000_000);
        let err = self_signed_certificate(&s, "x", t0, t0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the certificate validity is invalid: not-after must be later than not-before, both after 1970 and before 9999"
        );
    }
}
