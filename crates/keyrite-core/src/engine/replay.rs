//! Reading ceremonies back from the journal.

use super::EngineError;
use crate::journal::Journal;
use serde::Serialize;

/// One ceremony as the journal records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CeremonyHistory {
    /// Ceremony id.
    pub ceremony_id: String,
    /// Script name as recorded.
    pub script_name: String,
    /// Script SHA-256, hex.
    pub script_sha256: String,
    /// Mode.
    pub mode: String,
    /// Journal sequence number of `ceremony_started`.
    pub started_seq: u64,
    /// Steps completed (ids, in order).
    pub steps_completed: Vec<String>,
    /// The step last started and not completed, if any.
    pub current_step: Option<String>,
    /// `completed`/`aborted` once closed; `None` while unfinished.
    pub outcome: Option<String>,
}

/// Every ceremony in the journal, oldest first.
pub fn history(journal: &Journal) -> Result<Vec<CeremonyHistory>, EngineError> {
    let _ = journal;
    todo!()
}
