//! Why a quorum-gated operation did not happen, or did not complete.

use crate::custodian::CustodianError;
use crate::hsm::HsmError;
use crate::inventory::InventoryError;
use crate::journal::JournalError;
use crate::shares::seal::SealError;
use crate::shares::ShareError;

/// Errors from [`crate::operations`]. Every variant except [`OperationError::RecordAfter`]
/// means the token is as it was before the call.
#[derive(Debug, thiserror::Error)]
pub enum OperationError {
    /// Refused before anything changed; the refusal is in the journal.
    #[error("{operation} of key {key_id} was refused: {reason}")]
    Refused {
        /// `destroy`, `rotate`, `rotate-root-kek`, `recover`.
        operation: &'static str,
        /// Inventory key id.
        key_id: String,
        /// Why (the quorum's or the guard's message).
        reason: String,
    },
    /// The journal could not record the approvals or a refusal, so nothing was done.
    #[error("{operation} of key {key_id} did not happen: the journal could not record it ({source}); fix the journal (`keyrite journal verify`) and make a new request")]
    JournalBefore {
        /// Operation.
        operation: &'static str,
        /// Key id.
        key_id: String,
        /// The journal's error.
        source: Box<JournalError>,
    },
    /// The token refused; whatever the operation had created was removed; journaled.
    #[error("{operation} of key {key_id} failed on the HSM: {source}")]
    Hsm {
        /// Operation.
        operation: &'static str,
        /// Key id.
        key_id: String,
        /// The HSM's error.
        source: Box<HsmError>,
    },
    /// The inventory refused a check before anything changed.
    #[error("{operation} of key {key_id}: {source}")]
    Inventory {
        /// Operation.
        operation: &'static str,
        /// Key id.
        key_id: String,
        /// The inventory's error.
        source: Box<InventoryError>,
    },
    /// Shares could not be split or combined.
    #[error("{operation} of key {key_id}: {source}")]
    Shares {
        /// Operation.
        operation: &'static str,
        /// Key id.
        key_id: String,
        /// The shares' error.
        source: Box<ShareError>,
    },
    /// A share could not be sealed or opened.
    #[error("{operation}: {source}")]
    Seal {
        /// Operation.
        operation: &'static str,
        /// The sealing error.
        source: Box<SealError>,
    },
    /// The custodian's YubiKey refused.
    #[error("{operation}: custodian {custodian_id}: {source}")]
    Custodian {
        /// Operation.
        operation: &'static str,
        /// Who.
        custodian_id: String,
        /// The card's error.
        source: Box<CustodianError>,
    },
    /// A file could not be written.
    #[error("{operation}: cannot write {path}: {reason}")]
    Io {
        /// Operation.
        operation: &'static str,
        /// The file.
        path: String,
        /// The OS error.
        reason: String,
    },
    /// The HSM changed but recording the outcome failed: the journal/inventory lag the token.
    #[error("{operation} of key {key_id} changed the HSM, but recording the outcome failed: {reason}; run `keyrite inventory reconcile` and record the outcome by hand")]
    RecordAfter {
        /// Operation.
        operation: &'static str,
        /// Key id.
        key_id: String,
        /// What failed.
        reason: String,
    },
}
