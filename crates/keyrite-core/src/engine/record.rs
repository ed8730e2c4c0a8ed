//! The integration point for the signed ceremony record (implemented outside the engine).

use super::status::CeremonyStatus;
use crate::journal::Journal;
use crate::paths::DataDir;
use crate::script::Script;
use crate::signer::Signer;
use std::path::PathBuf;

/// What a [`RecordProducer`] gets to render and sign the record.
pub struct RecordInput<'a> {
    /// The ceremony as it stands (every step before `sign-record` done).
    pub status: &'a CeremonyStatus,
    /// The script (its text is attached to the record).
    pub script: &'a Script,
    /// The journal (read it; do not append: the engine journals `RecordProduced`).
    pub journal: &'a Journal,
    /// The record-signing key on the HSM.
    pub signer: &'a dyn Signer,
    /// The record-signing key's X.509 certificate (DER), as stored on the token.
    pub certificate_der: &'a [u8],
    /// The data directory (write the PDF under `records/`).
    pub data: &'a DataDir,
}

/// A produced record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducedRecord {
    /// Where the signed PDF was written.
    pub path: PathBuf,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// Number of pages.
    pub pages: u32,
}

/// Why a record could not be produced. Its text is shown and journaled (in the step's
/// exception); it must hold no secret.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    /// Rendering or signing the record failed.
    #[error(transparent)]
    Render(#[from] crate::record::RecordError),
    /// The record file could not be written.
    #[error(transparent)]
    Output(#[from] crate::paths::OutputError),
    /// A record left by an interrupted attempt could not be moved aside.
    #[error("cannot move the unjournaled record {path} aside: {source}")]
    MoveAside {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The journal could not be read.
    #[error("cannot read the journal: {0}")]
    Journal(crate::journal::JournalError),
    /// Another producer's reason.
    #[error("{0}")]
    Other(String),
}

impl From<String> for ProduceError {
    fn from(reason: String) -> Self {
        ProduceError::Other(reason)
    }
}

/// Renders and signs the ceremony record for the `sign-record` action. Configured in
/// [`super::CeremonyOptions::record_producer`]; without one the step fails with
/// [`super::EngineError::NoRecordProducer`].
pub trait RecordProducer: Send {
    /// Produces the record. The error text is shown and journaled; it must hold no secret.
    fn produce(&self, input: RecordInput<'_>) -> Result<ProducedRecord, ProduceError>;
}

/// The record producer both faces use: renders the record from the journal with
/// [`crate::record::produce_record`], signs it with the HSM's record-signing key and writes it
/// to `DATA/records/<ceremony id>.pdf` (never overwriting an existing file; one left by an
/// attempt interrupted before the journal recorded it is moved aside to
/// `<ceremony id>.pdf.interrupted-<unix seconds>`).
#[derive(Debug, Clone, Copy)]
pub struct JournalRecordProducer {
    /// Paper size of the record.
    pub page_size: crate::pdf::PageSize,
}

impl RecordProducer for JournalRecordProducer {
    fn produce(&self, input: RecordInput<'_>) -> Result<ProducedRecord, ProduceError> {
        use sha2::Digest;
        let id = &input.status.ceremony_id;
        let pdf = crate::record::produce_record(
            input.journal,
            id,
            input.signer,
            input.certificate_der,
            self.page_size,
        )?;
        let dir = input.data.path().join("records");
        // The records directory must be a real directory inside the data directory: a link
        // there would carry the record (and the move aside below) out of it.
        crate::paths::ensure_dir_within(input.data.path(), &dir, "the record")?;
        let path = dir.join(format!("{id}.pdf"));
        if path.exists() && !record_journaled(input.journal, id)? {
            // Written by an attempt killed before `record_produced` was journaled: kept beside
            // it for the auditor, not overwritten, and not taken for this ceremony's record.
            let stamp = crate::clock::unix_seconds();
            let aside = dir.join(format!("{id}.pdf.interrupted-{stamp}"));
            std::fs::rename(&path, &aside).map_err(|source| ProduceError::MoveAside {
                path: path.display().to_string(),
                source,
            })?;
        }
        let path = crate::paths::write_new_within(
            input.data.path(),
            &dir,
            &format!("{id}.pdf"),
            "the record",
            &pdf,
        )?;
        let pages = lopdf::Document::load_mem(&pdf)
            .map(|d| d.get_pages().len() as u32)
            .unwrap_or(0);
        Ok(ProducedRecord {
            path,
            sha256: hex::encode(sha2::Sha256::digest(&pdf)),
            pages,
        })
    }
}

/// Whether the journal holds `record_produced` for ceremony `id`.
fn record_journaled(journal: &Journal, id: &str) -> Result<bool, ProduceError> {
    let mut found = false;
    {
        journal
            .for_each_selected(&crate::journal::Select::ceremony(id), 0, |e| {
                if let crate::journal::Event::RecordProduced { ceremony_id, .. } = e.event()? {
                    found |= ceremony_id == id;
                }
                Ok(())
            })
            .map_err(ProduceError::Journal)?;
    }
    Ok(found)
}
