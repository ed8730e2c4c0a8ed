//! Unfinished ceremonies as the ceremony screen lists them, and the script to resume one with:
//! found among the shipped scripts by the SHA-256 journaled at its start, never by a typed path.

use crate::engine::{Ceremony, CeremonyHistory, EngineError};
use crate::journal::Journal;
use crate::script::{shipped, Script};
use serde::Serialize;
use ts_rs::TS;

/// An unfinished ceremony, resumable with one action when a shipped script has its hash.
#[derive(Debug, Clone, Serialize, TS)]
pub struct UnfinishedView {
    /// The ceremony as the journal records it.
    pub ceremony: CeremonyHistory,
    /// The SHA-256 of the script it started from, in words.
    pub script_words: String,
    /// The shipped script with that hash (its file name), if one has it.
    pub shipped_script: Option<String>,
    /// That script's title.
    pub script_title: Option<String>,
    /// Why it cannot be resumed with one action, in plain words (no shipped script has the
    /// hash, or the shipped one does not validate).
    pub not_shipped: Option<String>,
}

impl UnfinishedView {
    /// The view of one unfinished ceremony.
    pub fn of(ceremony: CeremonyHistory) -> Self {
        let script_words = hex::decode(&ceremony.script_sha256)
            .map(|b| crate::words::to_words(&b))
            .unwrap_or_default();
        let (shipped_script, script_title, not_shipped) =
            match shipped::for_resume(&ceremony.ceremony_id, &ceremony.script_sha256) {
                Ok(s) => (
                    Some(
                        s.file
                            .trim_start_matches(shipped::SHIPPED_PREFIX)
                            .to_string(),
                    ),
                    Some(s.title),
                    None,
                ),
                Err(why) => (None, None, Some(why.to_string())),
            };
        UnfinishedView {
            ceremony,
            script_words,
            shipped_script,
            script_title,
            not_shipped,
        }
    }
}

/// Why a ceremony cannot be resumed from the list.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResumeError {
    /// The journal could not be read (boxed: the engine's error is large).
    #[error(transparent)]
    Engine(Box<EngineError>),
    /// The journal has no unfinished ceremony with this id.
    #[error("no unfinished ceremony {0} in the journal")]
    NotUnfinished(String),
    /// No shipped script has the hash it started from.
    #[error(transparent)]
    Shipped(#[from] shipped::ShippedError),
}

impl From<EngineError> for ResumeError {
    fn from(e: EngineError) -> Self {
        ResumeError::Engine(Box::new(e))
    }
}

/// Every unfinished ceremony in `journal`, as listed.
pub fn unfinished(journal: &Journal) -> Result<Vec<UnfinishedView>, EngineError> {
    Ok(Ceremony::unfinished(journal)?
        .into_iter()
        .map(UnfinishedView::of)
        .collect())
}

/// The script to resume the unfinished ceremony `ceremony_id` with: the shipped script whose
/// SHA-256 is the one journaled at its start.
pub fn resume_script(journal: &Journal, ceremony_id: &str) -> Result<Script, ResumeError> {
    let h = Ceremony::unfinished(journal)?
        .into_iter()
        .find(|h| h.ceremony_id == ceremony_id)
        .ok_or_else(|| ResumeError::NotUnfinished(ceremony_id.to_string()))?;
    Ok(shipped::for_resume(&h.ceremony_id, &h.script_sha256)?)
}
