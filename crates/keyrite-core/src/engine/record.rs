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

/// Renders and signs the ceremony record for the `sign-record` action. Configured in
/// [`super::CeremonyOptions::record_producer`]; without one the step fails with
/// [`super::EngineError::NoRecordProducer`].
pub trait RecordProducer: Send {
    /// Produces the record. The error text is shown and journaled; it must hold no secret.
    fn produce(&self, input: RecordInput<'_>) -> Result<ProducedRecord, String>;
}
