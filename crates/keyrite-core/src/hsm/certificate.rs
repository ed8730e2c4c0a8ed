//! X.509 certificates on the token (`CKO_CERTIFICATE`, `CKC_X_509`): store and read DER.
//!
//! The certificate builder lives elsewhere; this module only stores and reads the DER, and
//! takes `CKA_SUBJECT` (required by PKCS#11 for X.509 objects) from the certificate itself.

use super::session::TokenSession;
use super::spki::tlv;
use super::HsmError;
use cryptoki::object::{Attribute, AttributeType, CertificateType, ObjectClass};

/// Reads one DER TLV at the start of `b`: (tag, content, whole TLV length).
fn read_tlv(b: &[u8]) -> Option<(u8, &[u8], usize)> {
    let tag = *b.first()?;
    let l0 = *b.get(1)? as usize;
    let (len, hdr) = if l0 < 0x80 {
        (l0, 2)
    } else {
        let n = l0 & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *b.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let content = b.get(hdr..hdr.checked_add(len)?)?;
    Some((tag, content, hdr + len))
}

/// The DER subject Name of an X.509 certificate.
pub fn certificate_subject(der: &[u8]) -> Option<Vec<u8>> {
    let (t, cert, _) = read_tlv(der)?;
    if t != 0x30 {
        return None;
    }
    let (t, mut tbs, _) = read_tlv(cert)?;
    if t != 0x30 {
        return None;
    }
    // [0] version (optional), serial, signature, issuer, validity, subject
    let mut fields = Vec::new();
    while !tbs.is_empty() && fields.len() < 6 {
        let (tag, content, n) = read_tlv(tbs)?;
        fields.push((tag, content));
        tbs = &tbs[n..];
    }
    let skip = if fields.first()?.0 == 0xa0 { 1 } else { 0 };
    let (tag, content) = *fields.get(skip + 4)?;
    (tag == 0x30).then(|| tlv(0x30, content))
}

/// Stores `der` as a token X.509 certificate labelled `label` with `CKA_ID` `id` (normally the
/// key's). Refuses a second certificate with the same label.
pub fn store_certificate(
    s: &TokenSession,
    label: &str,
    id: &[u8],
    der: &[u8],
) -> Result<(), HsmError> {
    let op = format!("storing certificate \"{label}\"");
    let subject = certificate_subject(der).ok_or_else(|| HsmError::Malformed {
        operation: op.clone(),
        token: s.name(),
        problem: "the data is not a DER X.509 certificate".into(),
    })?;
    let existing = s.find(
        &op,
        &[
            Attribute::Class(ObjectClass::CERTIFICATE),
            Attribute::Label(label.as_bytes().to_vec()),
        ],
    )?;
    if !existing.is_empty() {
        return Err(HsmError::LabelExists {
            operation: op,
            token: s.name(),
            label: label.into(),
        });
    }
    s.raw()
        .create_object(&[
            Attribute::Class(ObjectClass::CERTIFICATE),
            Attribute::CertificateType(CertificateType::X_509),
            Attribute::Token(true),
            // Private like every Keyrite object: nothing on the token is visible without login.
            Attribute::Private(true),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.to_vec()),
            Attribute::Subject(subject),
            Attribute::Value(der.to_vec()),
        ])
        .map_err(|e| s.err(&format!("{op} (C_CreateObject)"), e))?;
    Ok(())
}

/// Reads the DER of the certificate labelled `label`.
pub fn read_certificate(s: &TokenSession, label: &str) -> Result<Vec<u8>, HsmError> {
    let op = format!("reading certificate \"{label}\"");
    let found = s.find(
        &op,
        &[
            Attribute::Class(ObjectClass::CERTIFICATE),
            Attribute::Label(label.as_bytes().to_vec()),
        ],
    )?;
    let h = found
        .first()
        .copied()
        .ok_or_else(|| HsmError::KeyNotFound {
            operation: op.clone(),
            token: s.name(),
            label: label.into(),
        })?;
    s.raw()
        .get_attributes(h, &[AttributeType::Value])
        .map_err(|e| s.err(&op, e))?
        .into_iter()
        .find_map(|a| match a {
            Attribute::Value(v) => Some(v),
            _ => None,
        })
        .ok_or_else(|| HsmError::Malformed {
            operation: op,
            token: s.name(),
            problem: "the module did not return CKA_VALUE".into(),
        })
}
