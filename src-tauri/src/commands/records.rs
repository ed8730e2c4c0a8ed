//! Records → Verify: an auditor types the path of a PDF record; the core verifies it offline.
//!
//! The web view has no file system access: it sends a path, this side reads the file.

use keyrite_core::record::{verify_pdf, Trust, Verdict};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::Path;

/// Largest file the verifier reads (records are a few hundred kilobytes).
pub const MAX_RECORD_BYTES: u64 = 256 * 1024 * 1024;

/// One embedded file of a verified record.
#[derive(Debug, Serialize)]
pub struct AttachmentView {
    /// Name in the PDF.
    pub name: String,
    /// MIME type, if given.
    pub mime: Option<String>,
    /// Size in bytes.
    pub size: usize,
    /// SHA-256, hex.
    pub sha256: String,
}

/// The verdict on a record and what it says about itself.
#[derive(Debug, Serialize)]
pub struct RecordVerdict {
    /// The file verified.
    pub path: String,
    /// Its size in bytes.
    pub size: usize,
    /// SHA-256 of the whole file, hex.
    pub file_sha256: String,
    /// True when the signature is intact, covers the whole file and (if pinned) is by the
    /// pinned certificate.
    pub valid: bool,
    /// Why the record is rejected.
    pub rejection: Option<String>,
    /// Signer certificate subject.
    pub signer_subject: Option<String>,
    /// SHA-256 of the signer's public key, hex.
    pub spki_fingerprint: Option<String>,
    /// The same fingerprint in words.
    pub spki_words: Option<String>,
    /// "pinned" or "not-pinned".
    pub trust: Option<&'static str>,
    /// The signing time (RFC 3339).
    pub signing_time: Option<String>,
    /// Signature reason.
    pub reason: Option<String>,
    /// Signature location.
    pub location: Option<String>,
    /// Bytes covered by the signature.
    pub signed_len: Option<usize>,
    /// Embedded files.
    pub attachments: Vec<AttachmentView>,
}

fn read_file(what: &str, path: &str) -> Result<Vec<u8>, String> {
    let path = path.trim();
    if path.is_empty() {
        return Err(format!("type the full path of the {what}"));
    }
    let p = Path::new(path);
    if !p.is_absolute() {
        return Err(format!(
            "\"{path}\" is not a full path: start it with / (e.g. /media/usb/record.pdf)"
        ));
    }
    let meta = std::fs::metadata(p).map_err(|e| format!("cannot read {path}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{path} is not a file"));
    }
    if meta.len() > MAX_RECORD_BYTES {
        return Err(format!(
            "{path} is {} bytes, more than the {MAX_RECORD_BYTES} a record can be",
            meta.len()
        ));
    }
    std::fs::read(p).map_err(|e| format!("cannot read {path}: {e}"))
}

fn rfc3339(t: std::time::SystemTime) -> String {
    let ms = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    keyrite_core::journal::UtcTime(ms).to_rfc3339()
}

/// Verifies the PDF record at `path`, optionally against a pinned signer certificate (DER file).
#[tauri::command(async)]
pub fn record_verify(path: String, pinned_cert: Option<String>) -> Result<RecordVerdict, String> {
    let pdf = read_file("PDF record", &path)?;
    let pin = match pinned_cert.as_deref().map(str::trim) {
        Some(p) if !p.is_empty() => Some(read_file("pinned certificate", p)?),
        _ => None,
    };
    let mut out = RecordVerdict {
        path: path.trim().to_string(),
        size: pdf.len(),
        file_sha256: hex::encode(Sha256::digest(&pdf)),
        valid: false,
        rejection: None,
        signer_subject: None,
        spki_fingerprint: None,
        spki_words: None,
        trust: None,
        signing_time: None,
        reason: None,
        location: None,
        signed_len: None,
        attachments: Vec::new(),
    };
    match verify_pdf(&pdf, pin.as_deref()) {
        Verdict::Valid(r) => {
            out.valid = true;
            out.signer_subject = Some(r.signer_subject.clone());
            out.spki_fingerprint = Some(hex::encode(r.spki_fingerprint));
            out.spki_words = Some(keyrite_core::words::to_words(&r.spki_fingerprint));
            out.trust = Some(match r.trust {
                Trust::Pinned => "pinned",
                Trust::NotPinned => "not-pinned",
            });
            out.signing_time = r.signing_time.map(rfc3339);
            out.reason = r.reason.clone();
            out.location = r.location.clone();
            out.signed_len = Some(r.signed_len);
            out.attachments = r
                .attachments
                .iter()
                .map(|a| AttachmentView {
                    name: a.name.clone(),
                    mime: a.mime.clone(),
                    size: a.bytes.len(),
                    sha256: hex::encode(Sha256::digest(&a.bytes)),
                })
                .collect();
        }
        Verdict::Rejected(e) => out.rejection = Some(e.to_string()),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_paths_are_explained() {
        assert_eq!(
            record_verify("".into(), None).unwrap_err(),
            "type the full path of the PDF record"
        );
        assert_eq!(
            record_verify("record.pdf".into(), None).unwrap_err(),
            "\"record.pdf\" is not a full path: start it with / (e.g. /media/usb/record.pdf)"
        );
        assert_eq!(
            record_verify("/nonexistent/keyrite/record.pdf".into(), None).unwrap_err(),
            "cannot read /nonexistent/keyrite/record.pdf: No such file or directory (os error 2)"
        );
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().display().to_string();
        assert_eq!(
            record_verify(dir.clone(), None).unwrap_err(),
            format!("{dir} is not a file")
        );
    }

    #[test]
    fn a_file_that_is_not_a_pdf_is_rejected_with_its_hash() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("x.pdf");
        std::fs::write(&f, b"hello").unwrap();
        let v = record_verify(f.display().to_string(), None).unwrap();
        assert!(!v.valid);
        assert_eq!(
            v.file_sha256,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert!(v.rejection.is_some());
        assert!(v.signer_subject.is_none());
    }
}
