//! The full verdict on a record, as both faces show it: the file's facts, the signature's
//! facts and every check of [`check_record`] (signature, transcript, checkpoint, approvals,
//! journal). `keyrite record verify` prints it; the desktop's Records screen shows it.

use super::{check_record, Outcome, RecordReport, Trust};
use crate::journal::Journal;
use serde::Serialize;
use sha2::{Digest, Sha256};
use ts_rs::TS;

/// One embedded file of a verified record.
#[derive(Debug, Clone, Serialize, TS)]
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

/// One check of the verdict.
#[derive(Debug, Clone, Serialize, TS)]
pub struct RecordCheck {
    /// `signature`, `transcript`, `checkpoint`, `approvals` or `journal`.
    pub check: String,
    /// Passed, failed or not run.
    pub outcome: Outcome,
    /// What was found.
    pub detail: String,
}

/// Everything a face says about a record.
#[derive(Debug, Clone, Serialize, TS)]
pub struct RecordVerdict {
    /// Size of the file in bytes.
    pub size: usize,
    /// SHA-256 of the whole file, hex.
    pub file_sha256: String,
    /// True when no check failed.
    pub valid: bool,
    /// The input is not a complete PDF (the CLI exits 2).
    pub unreadable: bool,
    /// The verdict line: `VALID: …` or `INVALID: <first failure>`.
    pub verdict: String,
    /// Every check, in order.
    pub checks: Vec<RecordCheck>,
    /// The ceremony the record is of, when its transcript could be read.
    pub ceremony_id: Option<String>,
    /// Signer certificate subject, when the signature verified.
    pub signer_subject: Option<String>,
    /// SHA-256 of the signer's public key, hex.
    pub spki_fingerprint: Option<String>,
    /// The same fingerprint in words.
    pub spki_words: Option<String>,
    /// Whether the signer is the pinned certificate.
    pub trust: Option<Trust>,
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

impl RecordVerdict {
    /// Reshapes a [`RecordReport`] of `pdf`.
    pub fn from_report(pdf: &[u8], report: &RecordReport) -> Self {
        let sig = report.signature.as_ref();
        RecordVerdict {
            size: pdf.len(),
            file_sha256: hex::encode(Sha256::digest(pdf)),
            valid: report.is_valid(),
            unreadable: report.unreadable,
            verdict: report.verdict(),
            checks: report
                .lines
                .iter()
                .map(|l| RecordCheck {
                    check: l.check.to_string(),
                    outcome: l.outcome,
                    detail: l.detail.clone(),
                })
                .collect(),
            ceremony_id: report
                .transcript
                .as_ref()
                .map(|t| t.header.ceremony_id.clone()),
            signer_subject: sig.map(|s| s.signer_subject.clone()),
            spki_fingerprint: sig.map(|s| hex::encode(s.spki_fingerprint)),
            spki_words: sig.map(|s| crate::words::to_words(&s.spki_fingerprint)),
            trust: sig.map(|s| s.trust),
            signing_time: sig.and_then(|s| s.signing_time).map(rfc3339),
            reason: sig.and_then(|s| s.reason.clone()),
            location: sig.and_then(|s| s.location.clone()),
            signed_len: sig.map(|s| s.signed_len),
            attachments: sig
                .map(|s| {
                    s.attachments
                        .iter()
                        .map(|a| AttachmentView {
                            name: a.name.clone(),
                            mime: a.mime.clone(),
                            size: a.bytes.len(),
                            sha256: hex::encode(Sha256::digest(&a.bytes)),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// Checks `pdf` fully ([`check_record`]) and returns the verdict both faces show.
pub fn verify_record(
    pdf: &[u8],
    trust_cert: Option<&[u8]>,
    journal: Option<&Journal>,
) -> RecordVerdict {
    RecordVerdict::from_report(pdf, &check_record(pdf, trust_cert, journal))
}

fn rfc3339(t: std::time::SystemTime) -> String {
    let ms = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    crate::journal::UtcTime(ms).to_rfc3339()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_not_a_pdf_is_unreadable_with_its_hash() {
        let v = verify_record(b"hello", None, None);
        assert!(!v.valid);
        assert!(v.unreadable);
        assert_eq!(
            v.file_sha256,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(v.checks.len(), 5);
        assert_eq!(v.checks[0].outcome, Outcome::Fail);
        assert!(v.verdict.starts_with("INVALID: "), "{}", v.verdict);
        assert!(v.signer_subject.is_none());
    }
}
