//! Certificates as the attestation check needs them: parsed once, with the exact signed bytes
//! kept, and one question answered — did this public key sign that certificate?
//!
//! Only public keys are used. RSA PKCS#1 v1.5 (what Yubico's roots and pre-5.7.4 f9 keys sign
//! with) and ECDSA on P-256/P-384 are verified; anything else is reported by OID, never
//! accepted.

use const_oid::db::rfc5912;
use const_oid::ObjectIdentifier;
use der::{Decode, Encode, Reader, SliceReader};
use sha2::{Digest, Sha256, Sha384, Sha512};
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::Certificate;

/// A parsed certificate and the DER bytes its signature covers.
pub(crate) struct ParsedCert {
    /// The decoded certificate.
    pub cert: Certificate,
    /// The DER of `tbsCertificate` exactly as received (the signed bytes).
    pub tbs: Vec<u8>,
    /// SHA-256 of the whole certificate's DER.
    pub sha256: [u8; 32],
}

impl ParsedCert {
    /// Parses DER; the error is the DER decoder's.
    pub fn parse(der_bytes: &[u8]) -> Result<Self, der::Error> {
        let cert = Certificate::from_der(der_bytes)?;
        // The signed bytes are taken from the input, not re-encoded, so a verifier and the
        // issuer always agree on what was signed.
        let mut reader = SliceReader::new(der_bytes)?;
        let tbs = reader.sequence(|inner| {
            let tbs = inner.tlv_bytes()?.to_vec();
            // The rest (algorithm, signature) was already checked by the full decode.
            let rest = inner.remaining_len();
            inner.read_slice(rest)?;
            Ok(tbs)
        })?;
        Ok(Self {
            cert,
            tbs,
            sha256: Sha256::digest(der_bytes).into(),
        })
    }

    /// The subject as an RFC 4514 string ("CN=Yubico PIV Attestation").
    pub fn subject(&self) -> String {
        self.cert.tbs_certificate.subject.to_string()
    }

    /// The issuer as an RFC 4514 string.
    pub fn issuer(&self) -> String {
        self.cert.tbs_certificate.issuer.to_string()
    }

    /// The subject's common name, or the whole subject when it has none.
    pub fn common_name(&self) -> String {
        for rdn in self.cert.tbs_certificate.subject.0.iter() {
            for atv in rdn.0.iter() {
                if atv.oid == const_oid::db::rfc4519::CN {
                    if let Ok(s) = der::asn1::Utf8StringRef::try_from(&atv.value) {
                        return s.as_str().to_owned();
                    }
                    if let Ok(s) = der::asn1::PrintableStringRef::try_from(&atv.value) {
                        return s.as_str().to_owned();
                    }
                }
            }
        }
        self.subject()
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Result<Vec<u8>, der::Error> {
        self.cert.tbs_certificate.subject_public_key_info.to_der()
    }

    /// Whether `issuer` names this certificate's issuer.
    pub fn issued_by(&self, issuer: &ParsedCert) -> bool {
        self.cert.tbs_certificate.issuer == issuer.cert.tbs_certificate.subject
    }
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SignatureProblem {
    /// The signature algorithm (or the issuer key's type) is not one Keyrite verifies.
    Unsupported(String),
    /// The signature does not verify with the issuer's key.
    DoesNotVerify,
}

/// Checks that `issuer_spki` signed `child`.
pub(crate) fn verify_signed_by(
    child: &ParsedCert,
    issuer_spki: &SubjectPublicKeyInfoOwned,
) -> Result<(), SignatureProblem> {
    let algorithm = child.cert.signature_algorithm.oid;
    // The outer and inner algorithm identifiers must agree (RFC 5280 4.1.1.2).
    if child.cert.tbs_certificate.signature.oid != algorithm {
        return Err(SignatureProblem::DoesNotVerify);
    }
    let signature = child
        .cert
        .signature
        .as_bytes()
        .ok_or(SignatureProblem::DoesNotVerify)?;
    let spki_der = issuer_spki
        .to_der()
        .map_err(|_| SignatureProblem::Unsupported("an unreadable issuer key".into()))?;
    let key_oid = issuer_spki.algorithm.oid;
    let tbs = &child.tbs;
    match algorithm {
        a if a == rfc5912::SHA_256_WITH_RSA_ENCRYPTION => {
            rsa_verify::<Sha256>(key_oid, &spki_der, tbs, signature)
        }
        a if a == rfc5912::SHA_384_WITH_RSA_ENCRYPTION => {
            rsa_verify::<Sha384>(key_oid, &spki_der, tbs, signature)
        }
        a if a == rfc5912::SHA_512_WITH_RSA_ENCRYPTION => {
            rsa_verify::<Sha512>(key_oid, &spki_der, tbs, signature)
        }
        a if a == rfc5912::ECDSA_WITH_SHA_256 => {
            ecdsa_verify(issuer_spki, &spki_der, &Sha256::digest(tbs), signature)
        }
        a if a == rfc5912::ECDSA_WITH_SHA_384 => {
            ecdsa_verify(issuer_spki, &spki_der, &Sha384::digest(tbs), signature)
        }
        other => Err(SignatureProblem::Unsupported(format!(
            "signature algorithm {}",
            oid_name(other)
        ))),
    }
}

fn rsa_verify<D>(
    key_oid: ObjectIdentifier,
    spki_der: &[u8],
    tbs: &[u8],
    signature: &[u8],
) -> Result<(), SignatureProblem>
where
    D: Digest + const_oid::AssociatedOid,
{
    use rsa::pkcs8::DecodePublicKey;
    if key_oid != rfc5912::RSA_ENCRYPTION {
        return Err(SignatureProblem::Unsupported(format!(
            "an RSA signature by a {} key",
            oid_name(key_oid)
        )));
    }
    let key = rsa::RsaPublicKey::from_public_key_der(spki_der)
        .map_err(|_| SignatureProblem::Unsupported("an unreadable RSA issuer key".into()))?;
    key.verify(rsa::Pkcs1v15Sign::new::<D>(), &D::digest(tbs), signature)
        .map_err(|_| SignatureProblem::DoesNotVerify)
}

fn ecdsa_verify(
    issuer_spki: &SubjectPublicKeyInfoOwned,
    spki_der: &[u8],
    digest: &[u8],
    signature: &[u8],
) -> Result<(), SignatureProblem> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    use p256::pkcs8::DecodePublicKey;
    if issuer_spki.algorithm.oid != rfc5912::ID_EC_PUBLIC_KEY {
        return Err(SignatureProblem::Unsupported(format!(
            "an ECDSA signature by a {} key",
            oid_name(issuer_spki.algorithm.oid)
        )));
    }
    let curve = issuer_spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
    match curve {
        Some(c) if c == rfc5912::SECP_256_R_1 => {
            let key = p256::ecdsa::VerifyingKey::from_public_key_der(spki_der).map_err(|_| {
                SignatureProblem::Unsupported("an unreadable P-256 issuer key".into())
            })?;
            let sig = p256::ecdsa::Signature::from_der(signature)
                .map_err(|_| SignatureProblem::DoesNotVerify)?;
            key.verify_prehash(digest, &sig)
                .map_err(|_| SignatureProblem::DoesNotVerify)
        }
        Some(c) if c == rfc5912::SECP_384_R_1 => {
            let key = p384::ecdsa::VerifyingKey::from_public_key_der(spki_der).map_err(|_| {
                SignatureProblem::Unsupported("an unreadable P-384 issuer key".into())
            })?;
            let sig = p384::ecdsa::Signature::from_der(signature)
                .map_err(|_| SignatureProblem::DoesNotVerify)?;
            key.verify_prehash(digest, &sig)
                .map_err(|_| SignatureProblem::DoesNotVerify)
        }
        Some(other) => Err(SignatureProblem::Unsupported(format!(
            "an ECDSA key on curve {}",
            oid_name(other)
        ))),
        None => Err(SignatureProblem::Unsupported(
            "an ECDSA key without a named curve".into(),
        )),
    }
}

/// A readable name for an OID ("sha1WithRSAEncryption (1.2.840.113549.1.1.5)").
fn oid_name(oid: ObjectIdentifier) -> String {
    match const_oid::db::DB.by_oid(&oid) {
        Some(name) => format!("{name} ({oid})"),
        None => oid.to_string(),
    }
}

/// Why PEM text did not split into certificates; `number` counts the blocks from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PemError {
    /// A block has no end line.
    #[error("certificate {number} has no \"-----END CERTIFICATE-----\" line")]
    Unterminated {
        /// Which block.
        number: usize,
    },
    /// A block does not decode.
    #[error("certificate {number} is not valid PEM: {detail}")]
    Invalid {
        /// Which block.
        number: usize,
        /// The decoder's error (which implements no `std::error::Error` in this build).
        detail: der::pem::Error,
    },
    /// A block is labelled as something else than a certificate.
    #[error("certificate {number} has label {label}")]
    Label {
        /// Which block.
        number: usize,
        /// Its label.
        label: String,
    },
}

/// Splits PEM text into the DER of each `CERTIFICATE` block, in order. Text outside the
/// blocks (comments) is ignored; a block that does not decode is an error naming its position.
pub(crate) fn pem_certificates(text: &str) -> Result<Vec<Vec<u8>>, PemError> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start..];
        let number = out.len() + 1;
        let Some(end) = after.find(END) else {
            return Err(PemError::Unterminated { number });
        };
        let block = &after[..end + END.len()];
        let (label, der_bytes) = der::pem::decode_vec(block.as_bytes())
            .map_err(|detail| PemError::Invalid { number, detail })?;
        if label != "CERTIFICATE" {
            return Err(PemError::Label {
                number,
                label: label.to_string(),
            });
        }
        out.push(der_bytes);
        rest = &after[end + END.len()..];
    }
    Ok(out)
}
