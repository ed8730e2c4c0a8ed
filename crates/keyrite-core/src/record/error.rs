//! Errors producing a record.

use super::{AttachmentError, SignError};
use crate::journal::JournalError;
use crate::pdf::PdfError;

/// Why a record could not be produced (or its transcript read).
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// No `ceremony_started` entry names the ceremony.
    #[error("ceremony {0} is not in the journal (no ceremony_started entry names it); check the ceremony id with `keyrite journal export`")]
    CeremonyNotFound(String),
    /// No checkpoint covers the ceremony.
    #[error("ceremony {ceremony} has no signed journal checkpoint after it started (its last entry is {last_seq}); sign one with `keyrite journal checkpoint`, then produce the record")]
    NoCheckpoint {
        /// Ceremony id.
        ceremony: String,
        /// Its last entry.
        last_seq: u64,
    },
    /// The checkpoint text of a size is missing or unreadable.
    #[error("the journal checkpoint over {size} entries: {problem}")]
    CheckpointText {
        /// Checkpoint size.
        size: u64,
        /// What is wrong.
        problem: String,
    },
    /// The transcript is not what Keyrite writes.
    #[error("the record transcript is invalid: {0}")]
    Transcript(String),
    /// Reading the journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// Rendering failed.
    #[error("rendering the record failed: {0}")]
    Render(#[from] PdfError),
    /// Attaching the transcript failed.
    #[error("attaching the transcript failed: {0}")]
    Attach(#[from] AttachmentError),
    /// Signing failed.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// The token holds no certificate for the record-signing key.
    #[error("{token} holds no certificate for the record-signing key \"{label}\" (the ceremony that made the key stores it; producing a record never writes to the token)")]
    NoCertificate {
        /// The record-signing key's label.
        label: String,
        /// The token.
        token: String,
    },
    /// Reading the record-signing certificate failed.
    #[error("reading the record-signing certificate: {0}")]
    CertificateRead(#[source] Box<crate::hsm::HsmError>),
}
