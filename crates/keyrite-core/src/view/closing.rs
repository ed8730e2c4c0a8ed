//! What the done screen adds to a closed ceremony: the closing checkpoint as a QR code (its
//! signed text, the same text `DATA/checkpoints/<size>.txt` holds and `keyrite journal verify
//! --checkpoint` reads back from a scan; nothing secret is in it), and printing the signed
//! record on paper through the CUPS client ([`crate::printing`]), as share cards are printed.

use crate::printing::{check_queue_name, Spooler};
use crate::profile::SiteProfile;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use ts_rs::TS;

/// A QR code as the window draws it: side length and modules, row by row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct QrView {
    /// Side length in modules.
    pub size: usize,
    /// Modules, row by row (true = dark).
    pub modules: Vec<bool>,
}

/// The QR code of a checkpoint's signed text (ECC level M, as on the record's last page).
pub fn checkpoint_qr(text: &str) -> Result<QrView, crate::pdf::PdfError> {
    let (modules, size) = crate::pdf::qr_modules(text)?;
    Ok(QrView { size, modules })
}

/// A record CUPS accepted, as the window shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct RecordPrinted {
    /// The queue it went to.
    pub queue: String,
    /// CUPS's request id, e.g. `office-7`.
    pub job_id: String,
    /// SHA-256 of the PDF handed over (the signed record, byte for byte), hex.
    pub sha256: String,
}

/// Why no queue was found to print a record on ([`record_queue`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordQueueError {
    /// The profile names no queue and `lpstat` could not run.
    #[error(
        "no print queue: the site profile names none ([printing] share_cards) and {} could not \
         run to name CUPS's default destination: {source}",
        lpstat.display()
    )]
    Lpstat {
        /// The `lpstat` run.
        lpstat: PathBuf,
        /// Why it could not run.
        source: std::io::Error,
    },
    /// The profile names no queue and CUPS names no usable default destination.
    #[error(
        "no print queue: the site profile names none ([printing] share_cards) and CUPS has no \
         default destination ({} -d said: {said}); set one with `lpadmin -d QUEUE`",
        lpstat.display()
    )]
    NoDefault {
        /// The `lpstat` run.
        lpstat: PathBuf,
        /// What it said (its standard error, or its output when that is empty).
        said: String,
    },
}

/// Why a record was not printed ([`print_record`]).
#[derive(Debug, thiserror::Error)]
#[error("the record {} was not printed: {problem}", file.display())]
pub struct RecordPrintError {
    /// The record file asked for.
    pub file: PathBuf,
    /// What was wrong.
    #[source]
    pub problem: RecordPrintProblem,
}

/// What kept a record from being printed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordPrintProblem {
    /// The file is not directly in the records folder.
    #[error("only a record in {} is printed from here", records_dir.display())]
    NotInRecords {
        /// The records folder.
        records_dir: PathBuf,
    },
    /// The file is a symlink or not a regular file.
    #[error("it is not a regular file (a symlink is never followed)")]
    NotRegularFile,
    /// The file is too large or does not start as a PDF.
    #[error("it is not a record PDF")]
    NotPdf,
    /// The file could not be read.
    #[error(transparent)]
    Read(#[from] std::io::Error),
    /// The spooler refused or failed.
    #[error(transparent)]
    Print(#[from] crate::printing::PrintError),
}

/// The queue a record is printed on: the site's printer (`[printing] share_cards`) when the
/// profile names one, else CUPS's default destination (`lpstat -d`, which reads
/// `CUPS_SERVER` like `lp` does).
pub fn record_queue(profile: &SiteProfile, lpstat: &Path) -> Result<String, RecordQueueError> {
    if let Some(q) = &profile.printing.share_cards {
        return Ok(q.as_str().to_string());
    }
    let o = Command::new(lpstat)
        .arg("-d")
        .env("LC_ALL", "C")
        .env("LANG", "C")
        .output()
        .map_err(|source| RecordQueueError::Lpstat {
            lpstat: lpstat.to_path_buf(),
            source,
        })?;
    let out = String::from_utf8_lossy(&o.stdout);
    let named = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("system default destination:"))
        .map(|q| q.trim().to_string());
    match named {
        Some(q) if o.status.success() && check_queue_name(&q).is_ok() => Ok(q),
        _ => Err(RecordQueueError::NoDefault {
            lpstat: lpstat.to_path_buf(),
            said: said(&o.stdout, &o.stderr),
        }),
    }
}

fn said(stdout: &[u8], stderr: &[u8]) -> String {
    let err = String::from_utf8_lossy(stderr).trim().to_string();
    if err.is_empty() {
        String::from_utf8_lossy(stdout).trim().to_string()
    } else {
        err
    }
}

/// Largest record Keyrite prints (a record is a few hundred kilobytes).
const MAX_RECORD: u64 = 64 * 1024 * 1024;

/// Prints the signed record `file` of ceremony `ceremony_id` on `queue`. The file must be a
/// regular file directly in `records_dir` (a symlink is refused, never followed); it is read
/// once and handed to the spooler as read, so what prints is the signed PDF.
pub fn print_record(
    records_dir: &Path,
    file: &Path,
    queue: &str,
    spooler: &dyn Spooler,
) -> Result<RecordPrinted, RecordPrintError> {
    let refuse = |problem: RecordPrintProblem| RecordPrintError {
        file: file.to_path_buf(),
        problem,
    };
    if file.parent() != Some(records_dir) {
        return Err(refuse(RecordPrintProblem::NotInRecords {
            records_dir: records_dir.to_path_buf(),
        }));
    }
    let meta = std::fs::symlink_metadata(file).map_err(|e| refuse(e.into()))?;
    if !meta.file_type().is_file() {
        return Err(refuse(RecordPrintProblem::NotRegularFile));
    }
    let mut pdf = Vec::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(MAX_RECORD + 1).read_to_end(&mut pdf))
        .map_err(|e| refuse(e.into()))?;
    if pdf.len() as u64 > MAX_RECORD || !pdf.starts_with(b"%PDF-") {
        return Err(refuse(RecordPrintProblem::NotPdf));
    }
    let name = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let job = spooler
        .print(queue, &format!("Keyrite record {name}"), &pdf)
        .map_err(|e| refuse(e.into()))?;
    Ok(RecordPrinted {
        queue: job.queue,
        job_id: job.job_id,
        sha256: hex::encode(Sha256::digest(&pdf)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printing::{PrintError, PrintedJob};
    use std::sync::Mutex;

    #[derive(Default)]
    struct Fake(Mutex<Vec<(String, String, Vec<u8>)>>);

    impl Spooler for Fake {
        fn print(&self, queue: &str, title: &str, pdf: &[u8]) -> Result<PrintedJob, PrintError> {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push((queue.into(), title.into(), pdf.to_vec()));
            Ok(PrintedJob {
                queue: queue.into(),
                job_id: format!("{queue}-1"),
            })
        }
    }

    #[test]
    fn the_record_is_printed_byte_for_byte_and_only_from_the_records_folder() {
        let d = tempfile::tempdir().unwrap();
        let records = d.path().join("records");
        std::fs::create_dir(&records).unwrap();
        let rec = records.join("c-1.pdf");
        std::fs::write(&rec, b"%PDF-1.7 signed").unwrap();
        let fake = Fake::default();
        let done = print_record(&records, &rec, "office", &fake).unwrap();
        assert_eq!(done.job_id, "office-1");
        assert_eq!(done.sha256, hex::encode(Sha256::digest(b"%PDF-1.7 signed")));
        let jobs = fake.0.lock().unwrap().clone();
        assert_eq!(
            jobs,
            vec![(
                "office".to_string(),
                "Keyrite record c-1".to_string(),
                b"%PDF-1.7 signed".to_vec()
            )]
        );

        let outside = d.path().join("c-2.pdf");
        std::fs::write(&outside, b"%PDF-1.7").unwrap();
        assert_eq!(
            print_record(&records, &outside, "office", &fake)
                .unwrap_err()
                .to_string(),
            format!(
                "the record {} was not printed: only a record in {} is printed from here",
                outside.display(),
                records.display()
            )
        );
        let link = records.join("c-3.pdf");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        assert_eq!(
            print_record(&records, &link, "office", &fake)
                .unwrap_err()
                .to_string(),
            format!(
                "the record {} was not printed: it is not a regular file (a symlink is never \
                 followed)",
                link.display()
            )
        );
        let text = records.join("c-4.pdf");
        std::fs::write(&text, b"hello").unwrap();
        assert_eq!(
            print_record(&records, &text, "office", &fake)
                .unwrap_err()
                .to_string(),
            format!(
                "the record {} was not printed: it is not a record PDF",
                text.display()
            )
        );
        assert_eq!(fake.0.lock().unwrap().len(), 1, "nothing else was printed");
    }

    #[test]
    fn the_profiles_queue_comes_first_and_a_missing_default_is_explained() {
        let mut p = SiteProfile::default_rehearsal();
        let none = record_queue(&p, Path::new("/nonexistent/lpstat"))
            .unwrap_err()
            .to_string();
        assert!(
            none.starts_with(
                "no print queue: the site profile names none ([printing] share_cards) and \
                 /nonexistent/lpstat could not run to name CUPS's default destination: "
            ),
            "{none}"
        );
        p.printing.share_cards = Some("vault".to_string().try_into().unwrap());
        assert_eq!(
            record_queue(&p, Path::new("/nonexistent/lpstat")).unwrap(),
            "vault"
        );
    }

    #[test]
    fn a_checkpoint_text_becomes_a_qr_code() {
        let q = checkpoint_qr("keyrite-checkpoint v1\nsize 3\n").unwrap();
        assert_eq!(q.modules.len(), q.size * q.size);
        assert!(q.modules.iter().any(|m| *m));
    }
}
