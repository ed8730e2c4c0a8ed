//! Records → Verify: an auditor types the path of a PDF record; the core checks it fully
//! (signature, transcript, checkpoint, approvals and, when this data directory has a journal,
//! the journal), exactly as `keyrite record verify --journal` does.
//!
//! The web view has no file system access: it sends a path, this side reads the file.

use super::environment;
use crate::state::AppState;
use keyrite_core::journal::Journal;
use keyrite_core::record::{verify_record, RecordVerdict};
use keyrite_core::store::StoreOptions;
use std::path::Path;

/// Largest file the verifier reads (records are a few hundred kilobytes).
pub const MAX_RECORD_BYTES: u64 = 256 * 1024 * 1024;

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

/// Verifies the record at `path`, optionally against a pinned signer certificate (DER
/// file), comparing it with `journal` (a journal database) when given.
pub fn verify_at(
    path: &str,
    pinned_cert: Option<&str>,
    journal: Option<&Path>,
) -> Result<RecordVerdict, String> {
    let pdf = read_file("PDF record", path)?;
    let pin = match pinned_cert.map(str::trim) {
        Some(p) if !p.is_empty() => Some(read_file("pinned certificate", p)?),
        _ => None,
    };
    let j = journal
        .map(|db| Journal::open_read_only(db, &StoreOptions::default()))
        .transpose()
        .map_err(|e| e.to_string())?;
    Ok(verify_record(&pdf, pin.as_deref(), j.as_ref()))
}

/// Verifies the PDF record at `path` (see [`verify_at`]) against this data directory's
/// journal when there is one.
#[tauri::command(async)]
pub fn record_verify(
    state: tauri::State<'_, AppState>,
    path: String,
    pinned_cert: Option<String>,
) -> Result<RecordVerdict, String> {
    let db = environment(&state)
        .ok()
        .map(|env| env.data().journal_db())
        .filter(|db| db.is_file());
    verify_at(&path, pinned_cert.as_deref(), db.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_paths_are_explained() {
        assert_eq!(
            verify_at("", None, None).unwrap_err(),
            "type the full path of the PDF record"
        );
        assert_eq!(
            verify_at("record.pdf", None, None).unwrap_err(),
            "\"record.pdf\" is not a full path: start it with / (e.g. /media/usb/record.pdf)"
        );
        assert_eq!(
            verify_at("/nonexistent/keyrite/record.pdf", None, None).unwrap_err(),
            "cannot read /nonexistent/keyrite/record.pdf: No such file or directory (os error 2)"
        );
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().display().to_string();
        assert_eq!(
            verify_at(&dir, None, None).unwrap_err(),
            format!("{dir} is not a file")
        );
    }

    #[test]
    fn a_file_that_is_not_a_pdf_is_rejected_with_its_hash() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("x.pdf");
        std::fs::write(&f, b"hello").unwrap();
        let v = verify_at(&f.display().to_string(), None, None).unwrap();
        assert!(!v.valid);
        assert_eq!(
            v.file_sha256,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert!(v.verdict.starts_with("INVALID: "));
        assert!(v.signer_subject.is_none());
    }
}
