//! How a ceremony ends (`docs/formats/checkpoint.md`, "Closing a ceremony"):
//!
//! 1. in the `sign-record` step, before rendering: `ceremony_outcome`, then a checkpoint
//!    over it (the *record checkpoint*, `purpose: record`): the record shows the outcome and
//!    closes with that checkpoint;
//! 2. `record_produced`, the step's sign-offs, `step_completed`;
//! 3. `ceremony_closed` (the same outcome), the ceremony's last entry;
//! 4. the *closing checkpoint* (`purpose: closing`) over every entry up to and including
//!    `ceremony_closed`, shown to the room (hex and words) for the witness to write on the
//!    printed record, and carried by the next ceremony's record.
//!
//! Entries 2–3 are after the record's own checkpoint; the closing checkpoint is what covers
//! them. A kill between any two entries resumes correctly: before `record_produced` the record
//! is made again (outcome and record checkpoint again); after it, only the sign-offs are asked
//! again; after `ceremony_closed` without a closing checkpoint, resuming signs it.
//!
//! This module holds the closing checkpoint as faces see it; `anchor.rs` signs it.

use crate::journal::Checkpoint;
use serde::Serialize;

/// The checkpoint signed after a ceremony's last entry (`ceremony_closed`): the witness
/// writes its words on the printed record; the next ceremony's record carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct ClosingCheckpoint {
    /// Entries covered (`0 .. size-1`; `ceremony_closed` is entry `size - 1`).
    pub size: u64,
    /// RFC 9162 root of those entries, hex.
    pub root: String,
    /// The root as words (one per byte), to read aloud and write down.
    pub root_words: String,
    /// When it was signed (journal clock).
    pub time: String,
    /// SPKI SHA-256 of the record-signing key that signed it, hex.
    pub signer_fingerprint: String,
    /// The signed checkpoint text (`docs/formats/checkpoint.md`).
    pub text: String,
    /// Where the text was written (`DATA/checkpoints/<size>.txt`).
    pub file: String,
}

impl ClosingCheckpoint {
    pub(super) fn from_checkpoint(cp: &Checkpoint, file: String) -> Self {
        ClosingCheckpoint {
            size: cp.size,
            root: hex::encode(cp.root),
            root_words: crate::words::to_words(&cp.root),
            time: cp.time.to_rfc3339(),
            signer_fingerprint: hex::encode(cp.signer_fingerprint()),
            text: cp.to_text(),
            file,
        }
    }
}
