//! Detached CMS SignedData for `ETSI.CAdES.detached` PDF signatures.
//!
//! Built from `cms` 0.2 types directly rather than its `builder` feature: the builder wants a
//! `signature::Signer` key type and pulls `rsa`; ours signs through [`Signer`], i.e. the HSM.
//! Signed attributes: content-type (id-data), signing-time (ceremony clock), message-digest,
//! signing-certificate-v2 (SHA-256 of the certificate).

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

/// Builds the DER ContentInfo(SignedData) for a detached signature over content whose
/// digest (with the signer's algorithm) is `content_digest`.
pub(crate) fn build(
    signer: &dyn Signer,
    cert_der: &[u8],
    content_digest: &[u8],
    signing_time: SystemTime,
) -> Result<Vec<u8>, String> {
    let e = |what: &str| {
        let what = what.to_string();
        move |err: der::Error| format!("{what}: {err}")
    };
    let alg = signer.algorithm();
    let cert = Certificate::from_der(cert_der).map_err(e("certificate"))?;
    let digest_alg = AlgorithmIdentifierOwned {
        oid: digest_oid(alg),
        parameters: None,
    };
    let time = cms_time(signing_time).ok_or("signing time is out of range")?;
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
    let signed_attrs = SetOfVec::try_from(attrs).map_err(e("signed attributes"))?;
    // The signature covers DER(SET OF Attribute) with the SET tag, not the [0] IMPLICIT form.
    let to_sign = signed_attrs.to_der().map_err(e("signed attributes"))?;
    let signature = signer.sign(&to_sign).map_err(|err| err.to_string())?;

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

/// What a verified CMS says.
pub(crate) struct CmsFacts {
    pub cert_der: Vec<u8>,
    pub spki_der: Vec<u8>,
    pub subject: String,
    pub signing_time: Option<SystemTime>,
}

/// Why a CMS did not verify (messages become [`super::Rejection`] texts).
#[derive(Debug)]
pub(crate) enum CmsProblem {
    Malformed(String),
    Unsupported(String),
    DigestMismatch,
    BadSignature,
}

/// Parses `der` (exactly one DER value) and checks it is a detached signature over content
/// digested by `digest_content(alg)`.
pub(crate) fn verify(
    der_bytes: &[u8],
    digest_content: impl Fn(SignatureAlgorithm) -> Vec<u8>,
) -> Result<CmsFacts, CmsProblem> {
    use CmsProblem::*;
    let m = |what: &str| {
        let what = what.to_string();
        move |err: der::Error| Malformed(format!("{what}: {err}"))
    };
    let info = ContentInfo::from_der(der_bytes).map_err(m("ContentInfo"))?;
    if info.content_type != rfc5911::ID_SIGNED_DATA {
        return Err(Malformed(format!(
            "content type is {} instead of signed-data",
            info.content_type
        )));
    }
    let sd: SignedData = info.content.decode_as().map_err(m("SignedData"))?;
    if sd.encap_content_info.econtent_type != rfc5911::ID_DATA
        || sd.encap_content_info.econtent.is_some()
    {
        return Err(Malformed("the signature is not detached id-data".into()));
    }
    let infos = sd.signer_infos.0.as_slice();
    let [si] = infos else {
        return Err(Malformed(format!(
            "{} signer infos instead of exactly 1",
            infos.len()
        )));
    };
    let SignerIdentifier::IssuerAndSerialNumber(sid) = &si.sid else {
        return Err(Unsupported("signer identified by key identifier".into()));
    };
    let cert = sd
        .certificates
        .as_ref()
        .into_iter()
        .flat_map(|c| c.0.iter())
        .find_map(|c| match c {
            CertificateChoices::Certificate(c)
                if c.tbs_certificate.issuer == sid.issuer
                    && c.tbs_certificate.serial_number == sid.serial_number =>
            {
                Some(c)
            }
            _ => None,
        })
        .ok_or_else(|| Malformed("the signer's certificate is not embedded".into()))?;
    let spki = &cert.tbs_certificate.subject_public_key_info;
    let alg = key_algorithm(spki)
        .ok_or_else(|| Unsupported("the signer's key is not ECDSA P-384 or P-256".into()))?;
    if si.digest_alg.oid != digest_oid(alg) || si.digest_alg.parameters.is_some() {
        return Err(Unsupported(format!(
            "digest algorithm {}",
            si.digest_alg.oid
        )));
    }
    if si.signature_algorithm != signature_algorithm_identifier(alg) {
        return Err(Unsupported(format!(
            "signature algorithm {}",
            si.signature_algorithm.oid
        )));
    }
    let attrs = si
        .signed_attrs
        .as_ref()
        .ok_or_else(|| Malformed("no signed attributes".into()))?;
    let single = |oid: ObjectIdentifier| -> Result<Option<&Any>, CmsProblem> {
        let mut found = attrs.iter().filter(|a| a.oid == oid);
        let first = found.next();
        if found.next().is_some() {
            return Err(Malformed(format!("attribute {oid} appears twice")));
        }
        match first {
            None => Ok(None),
            Some(a) if a.values.len() == 1 => Ok(a.values.get(0)),
            Some(_) => Err(Malformed(format!("attribute {oid} has several values"))),
        }
    };
    let ct = single(rfc5911::ID_CONTENT_TYPE)?
        .ok_or_else(|| Malformed("no content-type attribute".into()))?;
    if ct.decode_as::<ObjectIdentifier>().ok() != Some(rfc5911::ID_DATA) {
        return Err(Malformed("content-type attribute is not id-data".into()));
    }
    let md = single(rfc5911::ID_MESSAGE_DIGEST)?
        .ok_or_else(|| Malformed("no message-digest attribute".into()))?
        .decode_as::<OctetString>()
        .map_err(m("message-digest attribute"))?;
    let cert_der = cert.to_der().map_err(m("certificate"))?;
    let ess = single(rfc5911::ID_AA_SIGNING_CERTIFICATE_V_2)?
        .ok_or_else(|| Malformed("no signing-certificate-v2 attribute".into()))?
        .decode_as::<SigningCertificateV2>()
        .map_err(m("signing-certificate-v2 attribute"))?;
    if ess.certs.first().map(|c| c.cert_hash.as_bytes()) != Some(&Sha256::digest(&cert_der)[..]) {
        return Err(Malformed(
            "signing-certificate-v2 does not name the embedded certificate".into(),
        ));
    }
    let signing_time = match single(rfc5911::ID_SIGNING_TIME)? {
        None => None,
        Some(t) => Some(
            t.to_der()
                .and_then(|d| Time::from_der(&d))
                .map_err(m("signing-time attribute"))?
                .to_system_time(),
        ),
    };
    if md.as_bytes() != digest_content(alg).as_slice() {
        return Err(DigestMismatch);
    }
    let spki_der = spki.to_der().map_err(m("public key"))?;
    let signed = attrs.to_der().map_err(m("signed attributes"))?;
    crate::signer::verify(alg, &spki_der, &signed, si.signature.as_bytes())
        .map_err(|_| BadSignature)?;
    Ok(CmsFacts {
        subject: cert.tbs_certificate.subject.to_string(),
        cert_der,
        spki_der,
        signing_time,
    })
}
