//! PAdES baseline signing (`ETSI.CAdES.detached`) through a [`Signer`].
//!
//! The signature is an incremental update: a `/Sig` dictionary with `/ByteRange` and
//! `/Contents` placeholders, an invisible signature field + widget on the first page, the
//! catalog's `/AcroForm` (`/SigFlags 3`). After writing, the ByteRange is patched in place,
//! the two ranges (everything but the `/Contents` hex string) are hashed with the signer's
//! digest, and the detached CMS is written into the reserved space. Nothing is appended after
//! that, so the signature covers the whole file.

use std::time::SystemTime;

use lopdf::{Dictionary, Document, IncrementalDocument, Object, ObjectId, StringFormat};

use super::attachment::first_page;
use super::cms;
use super::input::{load, PdfInputError};
use crate::signer::{SignatureAlgorithm, Signer};

/// Bytes reserved for the DER CMS (written as twice as many hex digits). One P-384
/// certificate plus attributes and signature take about 1.3 KiB.
pub const CONTENTS_RESERVED_BYTES: usize = 8192;

/// Placeholder values in the ByteRange, replaced after the file is laid out. Ten digits each,
/// so the real offsets (at most ten digits) always fit.
const PLACEHOLDER: [i64; 3] = [4_000_000_001, 4_000_000_002, 4_000_000_003];

/// Errors from signing a PDF.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The input is not a readable PDF.
    #[error(transparent)]
    Input(#[from] PdfInputError),
    /// The certificate is not DER X.509.
    #[error("the signing certificate is not a valid X.509 certificate: {0}")]
    Certificate(String),
    /// The certificate is for another key than the signer's.
    #[error("the signing certificate is for another key than the signer's (fingerprint {cert} vs {signer}); make the certificate for this signer")]
    CertificateMismatch {
        /// SPKI fingerprint (hex) in the certificate.
        cert: String,
        /// SPKI fingerprint (hex) of the signer.
        signer: String,
    },
    /// The signing device failed.
    #[error("the PDF could not be signed: {0}")]
    Signer(String),
    /// The document could not be updated (message says where).
    #[error("the PDF structure cannot be updated for signing: {0}")]
    Structure(String),
    /// The CMS did not fit the reserved space (a bug: the reserve is generous).
    #[error("the signature needs {needed} bytes but only {reserved} are reserved")]
    TooLarge {
        /// DER length of the CMS.
        needed: usize,
        /// [`CONTENTS_RESERVED_BYTES`].
        reserved: usize,
    },
}

fn structure(e: impl std::fmt::Display) -> SignError {
    SignError::Structure(e.to_string())
}

/// PDF date string `D:YYYYMMDDHHmmSSZ` (UTC) from the ceremony clock.
pub(crate) fn pdf_date(t: SystemTime) -> Option<String> {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs();
    let dt = der::DateTime::from_unix_duration(std::time::Duration::from_secs(secs)).ok()?;
    Some(format!(
        "D:{:04}{:02}{:02}{:02}{:02}{:02}Z",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minutes(),
        dt.seconds()
    ))
}

/// Signs `pdf` with `signer`, embedding `cert_der` (a certificate for the signer's key, see
/// [`crate::x509`]). `signing_time` is the ceremony clock's time, written to `/M` and the CMS
/// signing-time attribute. Returns the signed PDF.
pub fn sign_pdf(
    pdf: &[u8],
    signer: &dyn Signer,
    cert_der: &[u8],
    signing_time: SystemTime,
    reason: &str,
    location: &str,
) -> Result<Vec<u8>, SignError> {
    let summary =
        crate::x509::summarize(cert_der).map_err(|e| SignError::Certificate(e.to_string()))?;
    let signer_spki = signer
        .public_key_spki()
        .map_err(|e| SignError::Signer(e.to_string()))?;
    if summary.spki_der != signer_spki {
        return Err(SignError::CertificateMismatch {
            cert: hex::encode(crate::signer::spki_fingerprint(&summary.spki_der)),
            signer: hex::encode(crate::signer::spki_fingerprint(&signer_spki)),
        });
    }
    let date = pdf_date(signing_time)
        .ok_or_else(|| SignError::Signer("the signing time is before 1970 or after 9999".into()))?;

    let doc = load(pdf)?;
    let root_id = doc
        .trailer
        .get(b"Root")
        .and_then(Object::as_reference)
        .map_err(structure)?;
    let page_id = first_page(&doc).ok_or_else(|| structure("the PDF has no pages"))?;
    let existing = count_signature_fields(&doc);

    let mut inc = IncrementalDocument::create_from(pdf.to_vec(), doc);

    let mut sig = Dictionary::new();
    sig.set("Type", Object::Name(b"Sig".to_vec()));
    sig.set("Filter", Object::Name(b"Adobe.PPKLite".to_vec()));
    sig.set("SubFilter", Object::Name(b"ETSI.CAdES.detached".to_vec()));
    let mut range = vec![Object::Integer(0)];
    range.extend(PLACEHOLDER.iter().map(|v| Object::Integer(*v)));
    sig.set("ByteRange", Object::Array(range));
    sig.set(
        "Contents",
        Object::String(vec![0; CONTENTS_RESERVED_BYTES], StringFormat::Hexadecimal),
    );
    sig.set(
        "M",
        Object::String(date.into_bytes(), StringFormat::Literal),
    );
    sig.set("Reason", lopdf::text_string(reason));
    sig.set("Location", lopdf::text_string(location));
    sig.set("Name", lopdf::text_string(&summary.subject));
    let sig_id = inc.new_document.add_object(Object::Dictionary(sig));

    let mut widget = Dictionary::new();
    widget.set("Type", Object::Name(b"Annot".to_vec()));
    widget.set("Subtype", Object::Name(b"Widget".to_vec()));
    widget.set("FT", Object::Name(b"Sig".to_vec()));
    widget.set(
        "T",
        Object::String(
            format!("Signature{}", existing + 1).into_bytes(),
            StringFormat::Literal,
        ),
    );
    widget.set("V", Object::Reference(sig_id));
    widget.set(
        "Rect",
        Object::Array(vec![0.into(), 0.into(), 0.into(), 0.into()]),
    );
    // Print (4) + Locked (128): invisible, not editable.
    widget.set("F", Object::Integer(132));
    widget.set("P", Object::Reference(page_id));
    let widget_id = inc.new_document.add_object(Object::Dictionary(widget));

    add_to_array_entry(&mut inc, page_id, b"Annots", widget_id)?;
    add_signature_field(&mut inc, root_id, widget_id)?;

    let mut out = Vec::with_capacity(pdf.len() + 2 * CONTENTS_RESERVED_BYTES + 4096);
    inc.save_to(&mut out).map_err(structure)?;

    let (range_start, range_end, hex_start, hex_end) = locate_placeholders(&out, pdf.len())?;
    let byte_range = [
        0usize,
        hex_start,
        hex_end,
        out.len()
            .checked_sub(hex_end)
            .ok_or_else(|| structure("bad layout"))?,
    ];
    let text = format!(
        "[{} {} {} {}",
        byte_range[0], byte_range[1], byte_range[2], byte_range[3]
    );
    let width = range_end - range_start; // includes the closing ']'
    if text.len() + 1 > width {
        return Err(structure("the file is too large for a ten-digit ByteRange"));
    }
    let mut patched = text.into_bytes();
    patched.resize(width - 1, b' ');
    patched.push(b']');
    out[range_start..range_end].copy_from_slice(&patched);

    let alg = signer.algorithm();
    let digest = digest_ranges(alg, &out, hex_start, hex_end);
    let cms_der = cms::build(signer, cert_der, &digest, signing_time)
        .map_err(|e| SignError::Signer(e.to_string()))?;
    if cms_der.len() > CONTENTS_RESERVED_BYTES {
        return Err(SignError::TooLarge {
            needed: cms_der.len(),
            reserved: CONTENTS_RESERVED_BYTES,
        });
    }
    let hex = hex::encode_upper(&cms_der);
    out[hex_start + 1..hex_start + 1 + hex.len()].copy_from_slice(hex.as_bytes());
    Ok(out)
}

/// Digest of the file without `[hex_start, hex_end)` (the `/Contents` string with its brackets).
pub(crate) fn digest_ranges(
    alg: SignatureAlgorithm,
    file: &[u8],
    hex_start: usize,
    hex_end: usize,
) -> Vec<u8> {
    use sha2::Digest;
    match alg {
        SignatureAlgorithm::EcdsaP384Sha384 => {
            let mut h = sha2::Sha384::new();
            h.update(&file[..hex_start]);
            h.update(&file[hex_end..]);
            h.finalize().to_vec()
        }
        SignatureAlgorithm::EcdsaP256Sha256 => {
            let mut h = sha2::Sha256::new();
            h.update(&file[..hex_start]);
            h.update(&file[hex_end..]);
            h.finalize().to_vec()
        }
    }
}

/// Finds, in the appended part only, the ByteRange array (`[` .. `]` inclusive) and the
/// `/Contents` placeholder (`<` .. `>` inclusive). Each must occur exactly once.
fn locate_placeholders(
    out: &[u8],
    prev_len: usize,
) -> Result<(usize, usize, usize, usize), SignError> {
    let tail = &out[prev_len..];
    let marker = PLACEHOLDER[0].to_string();
    let m = unique(tail, marker.as_bytes())
        .ok_or_else(|| structure("the ByteRange placeholder was not written exactly once"))?;
    let open = tail[..m]
        .iter()
        .rposition(|&b| b == b'[')
        .ok_or_else(|| structure("the ByteRange array has no '['"))?;
    let close = m + tail[m..]
        .iter()
        .position(|&b| b == b']')
        .ok_or_else(|| structure("the ByteRange array has no ']'"))?;
    let mut needle = Vec::with_capacity(2 * CONTENTS_RESERVED_BYTES + 2);
    needle.push(b'<');
    needle.resize(2 * CONTENTS_RESERVED_BYTES + 1, b'0');
    needle.push(b'>');
    let h = unique(tail, &needle)
        .ok_or_else(|| structure("the /Contents placeholder was not written exactly once"))?;
    Ok((
        prev_len + open,
        prev_len + close + 1,
        prev_len + h,
        prev_len + h + needle.len(),
    ))
}

fn unique(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let mut found = hay
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle);
    let first = found.next()?.0;
    found.next().is_none().then_some(first)
}

fn count_signature_fields(doc: &Document) -> usize {
    let Some(fields) = doc
        .catalog()
        .ok()
        .and_then(|c| c.get(b"AcroForm").ok())
        .and_then(|o| doc.dereference(o).ok())
        .and_then(|(_, o)| o.as_dict().ok())
        .and_then(|f| f.get(b"Fields").ok())
        .and_then(|o| doc.dereference(o).ok())
        .and_then(|(_, o)| o.as_array().ok())
    else {
        return 0;
    };
    fields
        .iter()
        .filter_map(|f| doc.dereference(f).ok())
        .filter_map(|(_, f)| f.as_dict().ok())
        .filter(|f| f.get(b"FT").and_then(|t| t.as_name()).ok() == Some(b"Sig"))
        .count()
}

/// Resolves `dict[key]` (an array, inline or referenced) in the previous revision.
fn array_entry(doc: &Document, dict: &Dictionary, key: &[u8]) -> Result<Vec<Object>, SignError> {
    match dict.get(key) {
        Err(_) => Ok(Vec::new()),
        Ok(o) => doc
            .dereference(o)
            .map_err(structure)?
            .1
            .as_array()
            .cloned()
            .map_err(|_| structure(format!("/{} is not an array", String::from_utf8_lossy(key)))),
    }
}

/// Clones object `id` into the update and appends `item` to its array entry `key`
/// (written inline).
fn add_to_array_entry(
    inc: &mut IncrementalDocument,
    id: ObjectId,
    key: &[u8],
    item: ObjectId,
) -> Result<(), SignError> {
    inc.opt_clone_object_to_new_document(id)
        .map_err(structure)?;
    let prev = inc.get_prev_documents();
    let current = prev.get_dictionary(id).map_err(structure)?;
    let mut array = array_entry(prev, current, key)?;
    array.push(Object::Reference(item));
    inc.new_document
        .get_dictionary_mut(id)
        .map_err(structure)?
        .set(key.to_vec(), Object::Array(array));
    Ok(())
}

/// Adds the signature field to the catalog's AcroForm (created if absent), `/SigFlags 3`.
fn add_signature_field(
    inc: &mut IncrementalDocument,
    root_id: ObjectId,
    field: ObjectId,
) -> Result<(), SignError> {
    let prev = inc.get_prev_documents();
    let catalog = prev.get_dictionary(root_id).map_err(structure)?;
    let form_ref = catalog
        .get(b"AcroForm")
        .ok()
        .and_then(|o| o.as_reference().ok());
    let mut form = match catalog.get(b"AcroForm") {
        Err(_) => Dictionary::new(),
        Ok(o) => prev
            .dereference(o)
            .map_err(structure)?
            .1
            .as_dict()
            .cloned()
            .map_err(|_| structure("/AcroForm is not a dictionary"))?,
    };
    let mut fields = array_entry(prev, &form, b"Fields")?;
    fields.push(Object::Reference(field));
    form.set("Fields", Object::Array(fields));
    form.set("SigFlags", Object::Integer(3));
    match form_ref {
        Some(id) => {
            inc.new_document.set_object(id, Object::Dictionary(form));
        }
        None => {
            inc.opt_clone_object_to_new_document(root_id)
                .map_err(structure)?;
            inc.new_document
                .get_dictionary_mut(root_id)
                .map_err(structure)?
                .set("AcroForm", Object::Dictionary(form));
        }
    }
    Ok(())
}
