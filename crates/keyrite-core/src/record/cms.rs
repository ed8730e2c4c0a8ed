//! Detached CMS SignedData for `ETSI.CAdES.detached` PDF signatures.
//!
//! Built from `cms` 0.2 types directly rather than its `builder` feature: the builder wants a
//! `signature::Signer` key type and pulls `rsa`; ours signs through [`Signer`], i.e. the HSM.
//! Signed attributes: content-type (id-data), signing-time (ceremony clock), message-digest,
//! signing-certificate-v2 (SHA-256 of the certificate).
//!
//! Verification is strict: the envelope must be exactly what [`build`] writes. After checking
//! each field (so that a refusal names it), the verifier re-encodes the envelope from the
//! values it read and compares the bytes, which rules out every other encoding (BER, extra
//! fields, other orderings) with one rule.

use std::time::{Duration, SystemTime};

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use const_oid::db::{rfc5911, rfc5912};
use der::asn1::{ObjectIdentifier, OctetString, SetOfVec};
use der::{Any, Decode, Encode, Sequence};
use sha2::{Digest, Sha256};
use x509_cert::attr::Attribute;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::time::Time;
use x509_cert::Certificate;

use crate::signer::{SignatureAlgorithm, Signer};
use crate::x509::{key_algorithm, signature_algorithm_identifier};

/// ESSCertIDv2 with the default hash (SHA-256), which DER omits.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct EssCertIdV2 {
    cert_hash: OctetString,
}

/// SigningCertificateV2 without policies.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
}

/// The digest algorithm paired with a signature algorithm.
pub(crate) fn digest_oid(alg: SignatureAlgorithm) -> ObjectIdentifier {
    match alg {
        SignatureAlgorithm::EcdsaP384Sha384 => rfc5912::ID_SHA_384,
        SignatureAlgorithm::EcdsaP256Sha256 => rfc5912::ID_SHA_256,
    }
}

fn attr(oid: ObjectIdentifier, value: Any) -> der::Result<Attribute> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value])?,
    })
}

fn cms_time(t: SystemTime) -> Option<Time> {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs();
    let dt = der::DateTime::from_unix_duration(Duration::from_secs(secs)).ok()?;
    if dt.year() < 2050 {
        der::asn1::UtcTime::from_date_time(dt)
            .ok()
            .map(Time::UtcTime)
    } else {
        Some(Time::GeneralTime(
            der::asn1::GeneralizedTime::from_date_time(dt),
        ))
    }
}

/// The signed attributes Keyrite writes, DER-sorted.
fn signed_attributes(
    cert_der: &[u8],
    content_digest: &[u8],
    time: Time,
) -> Result<SetOfVec<Attribute>, CmsBuildError> {
    let ess = SigningCertificateV2 {
        certs: vec![EssCertIdV2 {
            cert_hash: OctetString::new(Sha256::digest(cert_der).to_vec())
                .map_err(e("certificate hash"))?,
        }],
    };
    let attrs = vec![
        attr(rfc5911::ID_CONTENT_TYPE, Any::from(&rfc5911::ID_DATA)).map_err(e("content type"))?,
        attr(
            rfc5911::ID_SIGNING_TIME,
            Any::encode_from(&time).map_err(e("time"))?,
        )
        .map_err(e("signing time"))?,
        attr(
            rfc5911::ID_MESSAGE_DIGEST,
            Any::encode_from(&OctetString::new(content_digest).map_err(e("digest"))?)
                .map_err(e("digest"))?,
        )
        .map_err(e("message digest"))?,
        attr(
            rfc5911::ID_AA_SIGNING_CERTIFICATE_V_2,
            Any::encode_from(&ess).map_err(e("signing certificate"))?,
        )
        .map_err(e("signing certificate"))?,
    ];
    SetOfVec::try_from(attrs).map_err(e("signed attributes"))
}

/// Why the CMS signature could not be built.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CmsBuildError {
    /// A field did not encode (or the certificate did not decode).
    #[error("{what}: {source}")]
    Der {
        /// The field.
        what: &'static str,
        /// The encoder's error.
        source: der::Error,
    },
    /// The signing time has no ASN.1 form.
    #[error("signing time is out of range")]
    TimeOutOfRange,
    /// The signer failed.
    #[error(transparent)]
    Sign(#[from] crate::signer::SignerError),
}

fn e(what: &'static str) -> impl Fn(der::Error) -> CmsBuildError {
    move |source: der::Error| CmsBuildError::Der { what, source }
}

/// The DER ContentInfo(SignedData) around `signed_attrs` and their `signature`.
fn envelope(
    cert: Certificate,
    alg: SignatureAlgorithm,
    signed_attrs: SetOfVec<Attribute>,
    signature: &[u8],
) -> Result<Vec<u8>, CmsBuildError> {
    let digest_alg = AlgorithmIdentifierOwned {
        oid: digest_oid(alg),
        parameters: None,
    };
    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: cert.tbs_certificate.issuer.clone(),
            serial_number: cert.tbs_certificate.serial_number.clone(),
        }),
        digest_alg: digest_alg.clone(),
        signed_attrs: Some(signed_attrs),
        signature_algorithm: signature_algorithm_identifier(alg),
        signature: OctetString::new(signature).map_err(e("signature"))?,
        unsigned_attrs: None,
    };
    let signed_data = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![digest_alg]).map_err(e("digest algorithms"))?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: rfc5911::ID_DATA,
            econtent: None,
        },
        certificates: Some(
            CertificateSet::try_from(vec![CertificateChoices::Certificate(cert)])
                .map_err(e("certificates"))?,
        ),
        crls: None,
        signer_infos: SignerInfos::try_from(vec![signer_info]).map_err(e("signer infos"))?,
    };
    let info = ContentInfo {
        content_type: rfc5911::ID_SIGNED_DATA,
        content: Any::encode_from(&signed_data).map_err(e("signed data"))?,
    };
    info.to_der().map_err(e("content info"))
}

/// Builds the DER ContentInfo(SignedData) for a detached signature over content whose
/// digest (with the signer's algorithm) is `content_digest`.
pub(crate) fn build(
    signer: &dyn Signer,
    cert_der: &[u8],
    content_digest: &[u8],
    signing_time: SystemTime,
) -> Result<Vec<u8>, CmsBuildError> {
    let alg = signer.algorithm();
    let cert = Certificate::from_der(cert_der).map_err(e("certificate"))?;
    let time = cms_time(signing_time).ok_or(CmsBuildError::TimeOutOfRange)?;
    let signed_attrs = signed_attributes(cert_der, content_digest, time)?;
    // The signature covers DER(SET OF Attribute) with the SET tag, not the [0] IMPLICIT form.
    let to_sign = signed_attrs.to_der().map_err(e("signed attributes"))?;
    // `Signer::sign` returns the low-s form, the only one the verifier accepts.
    let signature = signer.sign(&to_sign)?;
    envelope(cert, alg, signed_attrs, &signature)
}

/// What a verified CMS says.
pub(crate) struct CmsFacts {
    pub cert_der: Vec<u8>,
    pub spki_der: Vec<u8>,
    pub subject: String,
    pub signing_time: SystemTime,
}

/// Why a CMS did not verify (messages become [`super::Rejection`] texts).
#[derive(Debug)]
pub(crate) enum CmsProblem {
    /// Not parseable as CMS SignedData.
    Malformed(String),
    /// Parseable, but a field is not what Keyrite writes (the message names it).
    Envelope(String),
    /// A key or algorithm Keyrite does not use.
    Unsupported(String),
    DigestMismatch,
    BadSignature,
}

/// The signed attributes Keyrite writes, in the order of the documentation.
const SIGNED_ATTRIBUTES: [(ObjectIdentifier, &str); 4] = [
    (rfc5911::ID_CONTENT_TYPE, "content-type"),
    (rfc5911::ID_SIGNING_TIME, "signing-time"),
    (rfc5911::ID_MESSAGE_DIGEST, "message-digest"),
    (
        rfc5911::ID_AA_SIGNING_CERTIFICATE_V_2,
        "signing-certificate-v2",
    ),
];

fn version_name(v: CmsVersion) -> String {
    format!("v{}", v as u8)
}

/// Parses `der` (exactly one DER value) and checks it is exactly the detached signature
/// Keyrite writes over content digested by `digest_content(alg)`.
pub(crate) fn verify(
    der_bytes: &[u8],
    digest_content: impl Fn(SignatureAlgorithm) -> Vec<u8>,
) -> Result<CmsFacts, CmsProblem> {
    use CmsProblem::*;
    let m = |what: &str| {
        let what = what.to_string();
        move |err: der::Error| Malformed(format!("{what}: {err}"))
    };
    let env = |s: String| Envelope(s);
    let info = ContentInfo::from_der(der_bytes).map_err(m("ContentInfo"))?;
    if info.content_type != rfc5911::ID_SIGNED_DATA {
        return Err(env(format!(
            "ContentInfo.contentType is {} instead of signed-data (1.2.840.113549.1.7.2)",
            info.content_type
        )));
    }
    let sd: SignedData = info.content.decode_as().map_err(m("SignedData"))?;
    if sd.version != CmsVersion::V1 {
        return Err(env(format!(
            "SignedData.version is {} instead of v1",
            version_name(sd.version)
        )));
    }
    if sd.encap_content_info.econtent_type != rfc5911::ID_DATA {
        return Err(env(format!(
            "encapContentInfo.eContentType is {} instead of id-data",
            sd.encap_content_info.econtent_type
        )));
    }
    if sd.encap_content_info.econtent.is_some() {
        return Err(env(
            "encapContentInfo has an eContent: the signature must be detached".into(),
        ));
    }
    let certs: Vec<&CertificateChoices> = sd.certificates.iter().flat_map(|c| c.0.iter()).collect();
    let cert = match certs.as_slice() {
        [CertificateChoices::Certificate(c)] => c,
        [_] => {
            return Err(env(
                "SignedData.certificates holds another kind of certificate than X.509".into(),
            ))
        }
        other => {
            return Err(env(format!(
                "SignedData.certificates holds {} certificates instead of exactly the signer's",
                other.len()
            )))
        }
    };
    if sd.crls.is_some() {
        return Err(env("SignedData.crls is present; Keyrite writes none".into()));
    }
    let infos = sd.signer_infos.0.as_slice();
    let [si] = infos else {
        return Err(env(format!(
            "SignedData.signerInfos holds {} SignerInfos instead of exactly 1",
            infos.len()
        )));
    };
    if si.version != CmsVersion::V1 {
        return Err(env(format!(
            "SignerInfo.version is {} instead of v1",
            version_name(si.version)
        )));
    }
    let SignerIdentifier::IssuerAndSerialNumber(sid) = &si.sid else {
        return Err(env(
            "SignerInfo.sid is a subjectKeyIdentifier instead of issuerAndSerialNumber".into(),
        ));
    };
    if cert.tbs_certificate.issuer != sid.issuer
        || cert.tbs_certificate.serial_number != sid.serial_number
    {
        return Err(env(
            "SignerInfo.sid does not name the embedded certificate (issuer and serial number differ)"
                .into(),
        ));
    }
    let spki = &cert.tbs_certificate.subject_public_key_info;
    let alg = key_algorithm(spki)
        .ok_or_else(|| Unsupported("the signer's key is not ECDSA P-384 or P-256".into()))?;
    let digest_alg = AlgorithmIdentifierOwned {
        oid: digest_oid(alg),
        parameters: None,
    };
    let algs = sd.digest_algorithms.as_slice();
    if algs != [digest_alg.clone()] {
        return Err(env(format!(
            "SignedData.digestAlgorithms is [{}] instead of exactly [{}] without parameters",
            algs.iter()
                .map(|a| a.oid.to_string()
                    + if a.parameters.is_some() {
                        " with parameters"
                    } else {
                        ""
                    })
                .collect::<Vec<_>>()
                .join(", "),
            digest_alg.oid
        )));
    }
    if si.digest_alg != digest_alg {
        return Err(env(format!(
            "SignerInfo.digestAlgorithm is {}{} instead of {} without parameters",
            si.digest_alg.oid,
            if si.digest_alg.parameters.is_some() {
                " with parameters"
            } else {
                ""
            },
            digest_alg.oid
        )));
    }
    let sig_alg = signature_algorithm_identifier(alg);
    if si.signature_algorithm != sig_alg {
        return Err(env(format!(
            "SignerInfo.signatureAlgorithm is {}{} instead of {} without parameters",
            si.signature_algorithm.oid,
            if si.signature_algorithm.parameters.is_some() {
                " with parameters"
            } else {
                ""
            },
            sig_alg.oid
        )));
    }
    if si.unsigned_attrs.is_some() {
        return Err(env(
            "SignerInfo.unsignedAttrs is present (e.g. a counter-signature); Keyrite writes none"
                .into(),
        ));
    }
    let attrs = si
        .signed_attrs
        .as_ref()
        .ok_or_else(|| env("SignerInfo.signedAttrs is missing".into()))?;
    for a in attrs.iter() {
        if !SIGNED_ATTRIBUTES.iter().any(|(oid, _)| *oid == a.oid) {
            return Err(env(format!(
                "signed attribute {} is not one Keyrite writes",
                a.oid
            )));
        }
    }
    let single = |oid: ObjectIdentifier, name: &str| -> Result<&Any, CmsProblem> {
        let mut found = attrs.iter().filter(|a| a.oid == oid);
        let first = found.next();
        if found.next().is_some() {
            return Err(env(format!(
                "signed attribute {name} appears more than once"
            )));
        }
        match first {
            None => Err(env(format!("signed attribute {name} is missing"))),
            Some(a) => match a.values.as_slice() {
                [v] => Ok(v),
                vs => Err(env(format!(
                    "signed attribute {name} has {} values instead of 1",
                    vs.len()
                ))),
            },
        }
    };
    let ct = single(rfc5911::ID_CONTENT_TYPE, "content-type")?;
    if ct.decode_as::<ObjectIdentifier>().ok() != Some(rfc5911::ID_DATA) {
        return Err(env("signed attribute content-type is not id-data".into()));
    }
    let md = single(rfc5911::ID_MESSAGE_DIGEST, "message-digest")?
        .decode_as::<OctetString>()
        .map_err(|err| {
            env(format!(
                "signed attribute message-digest is not an OCTET STRING: {err}"
            ))
        })?;
    let cert_der = cert.to_der().map_err(m("certificate"))?;
    let ess = single(rfc5911::ID_AA_SIGNING_CERTIFICATE_V_2, "signing-certificate-v2")?
        .decode_as::<SigningCertificateV2>()
        .map_err(|err| {
            env(format!(
                "signed attribute signing-certificate-v2 is not one ESSCertIDv2 with only a SHA-256 hash: {err}"
            ))
        })?;
    let cert_hash = Sha256::digest(&cert_der);
    if ess.certs.len() != 1 || ess.certs[0].cert_hash.as_bytes() != &cert_hash[..] {
        return Err(env(
            "signed attribute signing-certificate-v2 does not name exactly the embedded certificate"
                .into(),
        ));
    }
    let time = single(rfc5911::ID_SIGNING_TIME, "signing-time")?
        .to_der()
        .and_then(|d| Time::from_der(&d))
        .map_err(|err| {
            env(format!(
                "signed attribute signing-time is not a Time: {err}"
            ))
        })?;
    let signing_time = time.to_system_time();
    if !crate::signer::is_canonical_low_s(alg, si.signature.as_bytes()) {
        return Err(env(
            "SignerInfo.signature is not a DER ECDSA signature in low-s form (s ≤ n/2), the only form Keyrite writes"
                .into(),
        ));
    }
    // Every field has its expected value; anything left (encodings, orderings, lengths, time
    // type, ESS fields) is ruled out by re-encoding what was read and comparing bytes.
    let canonical_time = cms_time(signing_time)
        .ok_or_else(|| env("signed attribute signing-time is out of range".into()))?;
    let expected_attrs = signed_attributes(&cert_der, md.as_bytes(), canonical_time)
        .map_err(|err| env(format!("the signed attributes cannot be re-encoded: {err}")))?;
    let signed = attrs.to_der().map_err(m("signed attributes"))?;
    if expected_attrs.to_der().map_err(m("signed attributes"))? != signed {
        return Err(env(
            "SignerInfo.signedAttrs are not encoded exactly as Keyrite writes them".into(),
        ));
    }
    let expected = envelope(cert.clone(), alg, expected_attrs, si.signature.as_bytes())
        .map_err(|err| env(format!("the envelope cannot be re-encoded: {err}")))?;
    if expected != der_bytes {
        let at = expected
            .iter()
            .zip(der_bytes)
            .position(|(a, b)| a != b)
            .unwrap_or(expected.len().min(der_bytes.len()));
        return Err(env(format!(
            "the CMS is not DER-encoded exactly as Keyrite writes it (first difference at byte {at} of {})",
            der_bytes.len()
        )));
    }
    if md.as_bytes() != digest_content(alg).as_slice() {
        return Err(DigestMismatch);
    }
    let spki_der = spki.to_der().map_err(m("public key"))?;
    crate::signer::verify(alg, &spki_der, &signed, si.signature.as_bytes())
        .map_err(|_| BadSignature)?;
    Ok(CmsFacts {
        subject: cert.tbs_certificate.subject.to_string(),
        cert_der,
        spki_der,
        signing_time,
    })
}
