//! Offline verification of signed records.
//!
//! Checks, in order: the file is a complete PDF; it has a signature (the last one, by where its
//! ByteRange ends, is checked); the ByteRange starts at 0 and excludes exactly the `/Contents`
//! hex string, which is canonical (uppercase hex, DER then zero padding); the CMS digest over
//! the two ranges; the ECDSA signature over the signed attributes with the embedded
//! certificate's key; the certificate equals the pinned one (when given); nothing was appended
//! after the signed range; the attachments can be read. Every failure is a [`Rejection`].

use std::time::SystemTime;

use lopdf::{Dictionary, Document, Object};

use super::attachment::{attachments_in, Attachment, AttachmentError};
use super::cms::{self, CmsProblem};
use super::input::{check_envelope, load, PdfInputError};
use super::sign::{digest_ranges, CONTENTS_RESERVED_BYTES};
use crate::signer::spki_fingerprint;

/// Field nesting limit when looking for signature fields.
const MAX_FIELD_DEPTH: usize = 16;

/// Why a record is not accepted. Messages are the verdict line the CLI prints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Not a complete, readable PDF.
    #[error(transparent)]
    Input(#[from] PdfInputError),
    /// No signature field with a value.
    #[error("the PDF has no signature")]
    Unsigned,
    /// The signature uses another format than Keyrite writes.
    #[error("the signature's /SubFilter is {0}, not ETSI.CAdES.detached")]
    UnsupportedSubFilter(String),
    /// The ByteRange is malformed.
    #[error("the signature's /ByteRange is invalid: {0}")]
    BadByteRange(String),
    /// The ByteRange gap is not the signature's own `/Contents`.
    #[error(
        "the signature's /ByteRange does not exclude exactly its /Contents: the file was altered"
    )]
    ContentsMismatch,
    /// The `/Contents` string is not canonical or not DER.
    #[error("the signature is malformed: {0}")]
    Malformed(String),
    /// The CMS envelope parses but differs from what Keyrite writes (the message names the
    /// field): such a copy could carry changes no signature covers.
    #[error("the signature's CMS envelope is not exactly what Keyrite writes: {0}")]
    Envelope(String),
    /// The signature dictionary differs from what Keyrite writes.
    #[error("the signature dictionary is not what Keyrite writes: {0}")]
    SignatureDictionary(String),
    /// More than one signature, where Keyrite signs a record once.
    #[error("the PDF has {0} signatures; a Keyrite record has exactly one")]
    SeveralSignatures(usize),
    /// Algorithms Keyrite does not accept.
    #[error("the signature uses an unsupported {0}")]
    Unsupported(String),
    /// The signed bytes changed.
    #[error("the PDF was modified after signing: the digest of the signed bytes does not match the signature")]
    Modified,
    /// The ECDSA signature over the signed attributes fails.
    #[error("the signature does not verify with the embedded certificate's key: the signature or its attributes were altered")]
    BadSignature,
    /// Cryptographically valid, but by a key other than the pinned one.
    #[error("signed by an unknown key: {subject} (key fingerprint {fingerprint}) is not the pinned certificate {pinned}")]
    UnknownSigner {
        /// Subject of the embedded certificate.
        subject: String,
        /// SHA-256 of its SPKI, hex.
        fingerprint: String,
        /// SHA-256 of the pinned certificate's SPKI, hex.
        pinned: String,
    },
    /// The pinned certificate itself is not a certificate.
    #[error("the pinned certificate is not a valid X.509 certificate: {0}")]
    BadPin(String),
    /// Bytes follow the signed range.
    #[error("the file was changed after signing: {appended} bytes were appended after the {signed} signed bytes (an incremental update the signature does not cover)")]
    AppendedAfterSigning {
        /// Length covered by the signature.
        signed: usize,
        /// Bytes after it.
        appended: usize,
    },
    /// An attachment cannot be read, or the one asked for is absent.
    #[error(transparent)]
    Attachment(#[from] AttachmentError),
}

/// How the signer was trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "kebab-case")]
pub enum Trust {
    /// The embedded certificate equals the pinned one.
    Pinned,
    /// No certificate was pinned: the signature is intact, but who signed is only what the
    /// embedded certificate claims.
    NotPinned,
}

/// A record whose signature verified.
#[derive(Debug, Clone)]
pub struct VerifiedRecord {
    /// Signer certificate subject (RFC 4514).
    pub signer_subject: String,
    /// SHA-256 of the signer's SPKI.
    pub spki_fingerprint: [u8; 32],
    /// The CMS signing-time attribute (the ceremony clock).
    pub signing_time: Option<SystemTime>,
    /// `/Reason` of the signature dictionary.
    pub reason: Option<String>,
    /// `/Location` of the signature dictionary.
    pub location: Option<String>,
    /// The embedded signer certificate, DER.
    pub certificate_der: Vec<u8>,
    /// How the signer was trusted.
    pub trust: Trust,
    /// Bytes covered by the signature (the whole file).
    pub signed_len: usize,
    /// Every embedded file, in name order (all inside the signed range).
    pub attachments: Vec<Attachment>,
}

impl VerifiedRecord {
    /// The attachment `name`, or [`AttachmentError::Missing`].
    pub fn attachment(&self, name: &str) -> Result<&Attachment, Rejection> {
        self.attachments
            .iter()
            .find(|a| a.name == name)
            .ok_or_else(|| AttachmentError::Missing(name.to_string()).into())
    }
}

/// The outcome of [`verify_pdf`].
#[derive(Debug, Clone)]
pub enum Verdict {
    /// The signature is intact, covers the whole file, and (if pinned) is by the pinned key.
    Valid(Box<VerifiedRecord>),
    /// Why the record is not accepted.
    Rejected(Rejection),
}

impl Verdict {
    /// True for [`Verdict::Valid`].
    pub fn is_valid(&self) -> bool {
        matches!(self, Verdict::Valid(_))
    }
    /// As a `Result`.
    pub fn into_result(self) -> Result<VerifiedRecord, Rejection> {
        match self {
            Verdict::Valid(r) => Ok(*r),
            Verdict::Rejected(e) => Err(e),
        }
    }
}

/// Verifies the last signature of `pdf`; `trust` is the pinned signer certificate (DER).
pub fn verify_pdf(pdf: &[u8], trust: Option<&[u8]>) -> Verdict {
    match verify_inner(pdf, trust) {
        Ok(r) => Verdict::Valid(Box::new(r)),
        Err(e) => Verdict::Rejected(e),
    }
}

fn verify_inner(pdf: &[u8], trust: Option<&[u8]>) -> Result<VerifiedRecord, Rejection> {
    check_envelope(pdf)?;
    let doc = load(pdf)?;
    let mut sigs = Vec::new();
    if let Some(fields) = acroform_fields(&doc) {
        collect_signatures(&doc, fields, 0, &mut sigs);
    }
    // A broken ByteRange on any signature is reported rather than skipped; the last signature
    // (whose signed range ends furthest) is the one reported on.
    let mut last: Option<([usize; 4], &Dictionary)> = None;
    let count = sigs.len();
    for sig in sigs {
        let range = byte_range(sig, pdf.len())?;
        if last.is_none_or(|(r, _)| range[2] + range[3] >= r[2] + r[3]) {
            last = Some((range, sig));
        }
    }
    let ([_, gap_start, gap_end, len2], sig) = last.ok_or(Rejection::Unsigned)?;
    let signed_len = gap_end + len2;
    // Anything after the signed range is an update nothing signs: refused before the rest, so
    // the verdict names what was done rather than a consequence of it.
    if signed_len < pdf.len() {
        return Err(Rejection::AppendedAfterSigning {
            signed: signed_len,
            appended: pdf.len() - signed_len,
        });
    }
    if count > 1 {
        return Err(Rejection::SeveralSignatures(count));
    }

    let sub = sig
        .get(b"SubFilter")
        .and_then(|s| s.as_name())
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .unwrap_or_else(|_| "missing".into());
    if sub != "ETSI.CAdES.detached" {
        return Err(Rejection::UnsupportedSubFilter(sub));
    }

    signature_dictionary(sig)?;
    let der = contents_der(pdf, gap_start, gap_end, sig)?;
    let facts = cms::verify(&der, |alg| {
        digest_ranges(alg, &pdf[..signed_len], gap_start, gap_end)
    })
    .map_err(|p| match p {
        CmsProblem::Malformed(m) => Rejection::Malformed(m),
        CmsProblem::Envelope(m) => Rejection::Envelope(m),
        CmsProblem::Unsupported(m) => Rejection::Unsupported(m),
        CmsProblem::DigestMismatch => Rejection::Modified,
        CmsProblem::BadSignature => Rejection::BadSignature,
    })?;

    let date = super::sign::pdf_date(facts.signing_time);
    let m = sig.get(b"M").and_then(|o| o.as_str()).ok();
    if date.is_none() || m != date.as_deref().map(str::as_bytes) {
        return Err(Rejection::SignatureDictionary(
            "/M is not the CMS signing time as D:YYYYMMDDHHmmSSZ".into(),
        ));
    }
    let trust = match trust {
        None => Trust::NotPinned,
        Some(pin) => {
            let pinned =
                crate::x509::summarize(pin).map_err(|e| Rejection::BadPin(e.to_string()))?;
            if pin != facts.cert_der.as_slice() {
                return Err(Rejection::UnknownSigner {
                    subject: facts.subject,
                    fingerprint: hex::encode(spki_fingerprint(&facts.spki_der)),
                    pinned: hex::encode(spki_fingerprint(&pinned.spki_der)),
                });
            }
            Trust::Pinned
        }
    };
    let text = |key: &[u8]| {
        sig.get(key).and_then(|o| o.as_str()).ok().map(|s| {
            lopdf::decode_text_string(&Object::String(s.to_vec(), lopdf::StringFormat::Literal))
                .unwrap_or_default()
        })
    };
    Ok(VerifiedRecord {
        signer_subject: facts.subject,
        spki_fingerprint: spki_fingerprint(&facts.spki_der),
        signing_time: Some(facts.signing_time),
        reason: text(b"Reason"),
        location: text(b"Location"),
        certificate_der: facts.cert_der,
        trust,
        signed_len,
        attachments: attachments_in(&doc)?,
    })
}

/// The keys of the `/Sig` dictionary Keyrite writes.
const SIG_KEYS: [&[u8]; 9] = [
    b"Type",
    b"Filter",
    b"SubFilter",
    b"ByteRange",
    b"Contents",
    b"M",
    b"Reason",
    b"Location",
    b"Name",
];

/// The `/Sig` dictionary has exactly Keyrite's keys, with its fixed names and text strings.
fn signature_dictionary(sig: &Dictionary) -> Result<(), Rejection> {
    let bad = |m: String| Rejection::SignatureDictionary(m);
    for (k, _) in sig.iter() {
        if !SIG_KEYS.contains(&k.as_slice()) {
            return Err(bad(format!(
                "it has a /{} entry",
                String::from_utf8_lossy(k)
            )));
        }
    }
    for k in SIG_KEYS {
        if sig.get(k).is_err() {
            return Err(bad(format!("/{} is missing", String::from_utf8_lossy(k))));
        }
    }
    for (k, v) in [(&b"Type"[..], &b"Sig"[..]), (b"Filter", b"Adobe.PPKLite")] {
        if sig.get(k).and_then(|o| o.as_name()).ok() != Some(v) {
            return Err(bad(format!(
                "/{} is not /{}",
                String::from_utf8_lossy(k),
                String::from_utf8_lossy(v)
            )));
        }
    }
    for k in [&b"M"[..], b"Reason", b"Location", b"Name"] {
        if sig.get(k).and_then(|o| o.as_str()).is_err() {
            return Err(bad(format!(
                "/{} is not a string",
                String::from_utf8_lossy(k)
            )));
        }
    }
    Ok(())
}

fn acroform_fields(doc: &Document) -> Option<&Vec<Object>> {
    let form = doc.catalog().ok()?.get(b"AcroForm").ok()?;
    let form = doc.dereference(form).ok()?.1.as_dict().ok()?;
    doc.dereference(form.get(b"Fields").ok()?)
        .ok()?
        .1
        .as_array()
        .ok()
}

fn collect_signatures<'a>(
    doc: &'a Document,
    fields: &'a [Object],
    depth: usize,
    out: &mut Vec<&'a Dictionary>,
) {
    if depth > MAX_FIELD_DEPTH {
        return;
    }
    for f in fields {
        let Some(field) = doc.dereference(f).ok().and_then(|(_, o)| o.as_dict().ok()) else {
            continue;
        };
        if field.get(b"FT").and_then(|t| t.as_name()).ok() == Some(b"Sig") {
            if let Some(v) = field
                .get(b"V")
                .ok()
                .and_then(|v| doc.dereference(v).ok())
                .and_then(|(_, o)| o.as_dict().ok())
            {
                out.push(v);
            }
        }
        if let Some(kids) = field
            .get(b"Kids")
            .ok()
            .and_then(|k| doc.dereference(k).ok())
            .and_then(|(_, o)| o.as_array().ok())
        {
            collect_signatures(doc, kids, depth + 1, out);
        }
    }
}

/// `[0, gap_start, gap_end, len2]` with `gap_start < gap_end` and `gap_end + len2 <= file_len`.
fn byte_range(sig: &Dictionary, file_len: usize) -> Result<[usize; 4], Rejection> {
    let bad = |m: &str| Rejection::BadByteRange(m.to_string());
    let arr = sig
        .get(b"ByteRange")
        .and_then(|o| o.as_array())
        .map_err(|_| bad("missing or not an array"))?;
    if arr.len() != 4 {
        return Err(bad(&format!("{} numbers instead of 4", arr.len())));
    }
    let mut v = [0usize; 4];
    for (slot, o) in v.iter_mut().zip(arr) {
        *slot = o
            .as_i64()
            .ok()
            .and_then(|i| usize::try_from(i).ok())
            .ok_or_else(|| bad("an entry is not a non-negative integer"))?;
    }
    if v[0] != 0 {
        return Err(bad("the first range does not start at byte 0"));
    }
    if v[1] >= v[2] {
        return Err(bad("the ranges overlap or are out of order"));
    }
    let end = v[2]
        .checked_add(v[3])
        .ok_or_else(|| bad("the ranges overflow"))?;
    if end > file_len {
        return Err(bad(&format!(
            "the signed range ends at byte {end} but the file has only {file_len} bytes (truncated?)"
        )));
    }
    Ok(v)
}

/// The DER CMS in the gap, after checking the gap is the canonical `/Contents` string.
fn contents_der(
    pdf: &[u8],
    gap_start: usize,
    gap_end: usize,
    sig: &Dictionary,
) -> Result<Vec<u8>, Rejection> {
    let gap = &pdf[gap_start..gap_end];
    if gap.len() != 2 * CONTENTS_RESERVED_BYTES + 2 {
        return Err(Rejection::BadByteRange(format!(
            "the excluded gap is {} bytes; Keyrite excludes exactly the {}-byte /Contents string",
            gap.len(),
            2 * CONTENTS_RESERVED_BYTES + 2
        )));
    }
    if gap[0] != b'<' || gap[gap.len() - 1] != b'>' {
        return Err(Rejection::ContentsMismatch);
    }
    let hex = &gap[1..gap.len() - 1];
    if !hex.len().is_multiple_of(2)
        || !hex
            .iter()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(b))
    {
        return Err(Rejection::Malformed(
            "the /Contents string is not uppercase hexadecimal".into(),
        ));
    }
    let bytes = hex::decode(hex).map_err(|e| Rejection::Malformed(e.to_string()))?;
    let parsed = sig.get(b"Contents").and_then(|o| o.as_str()).ok();
    if parsed != Some(bytes.as_slice()) {
        return Err(Rejection::ContentsMismatch);
    }
    let der_len = {
        use der::{Decode, Reader};
        let mut r =
            der::SliceReader::new(&bytes).map_err(|e| Rejection::Malformed(e.to_string()))?;
        let hdr = der::Header::decode(&mut r)
            .map_err(|e| Rejection::Malformed(format!("the /Contents is not DER: {e}")))?;
        (r.position() + hdr.length)
            .ok()
            .and_then(|l| usize::try_from(l).ok())
            .ok_or_else(|| Rejection::Malformed("the /Contents length is invalid".into()))?
    };
    if der_len > bytes.len() {
        return Err(Rejection::Malformed(
            "the CMS is longer than /Contents".into(),
        ));
    }
    if bytes[der_len..].iter().any(|&b| b != 0) {
        return Err(Rejection::Malformed(
            "the /Contents has data after the CMS signature".into(),
        ));
    }
    Ok(bytes[..der_len].to_vec())
}
