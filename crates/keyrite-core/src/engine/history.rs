//! Every ceremony in the journal, as faces list them (`keyrite ceremony status`, the home
//! screen).

use super::error::EngineError;
use crate::journal::{Event, Journal};
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
    /// Size of the closing checkpoint signed after `ceremony_closed`, once signed.
    pub closing_checkpoint: Option<u64>,
    /// Closed, but killed before its closing checkpoint was signed (or journaled as
    /// unavailable): resuming it signs the checkpoint.
    pub needs_closing_checkpoint: bool,
}

pub(super) fn all_events(journal: &Journal) -> Result<Vec<(u64, Event)>, EngineError> {
    let size = journal.head().size;
    let mut out = Vec::new();
    if size == 0 {
        return Ok(out);
    }
    journal.for_each_entry(0, size - 1, |e| {
        out.push((e.seq, e.event()?));
        Ok(())
    })?;
    Ok(out)
}

/// Every ceremony in the journal, oldest first.
pub fn history(journal: &Journal) -> Result<Vec<CeremonyHistory>, EngineError> {
    let mut list: Vec<CeremonyHistory> = Vec::new();
    for (seq, ev) in all_events(journal)? {
        match ev {
            Event::CeremonyStarted {
                ceremony_id,
                script_name,
                script_sha256,
                mode,
            } => list.push(CeremonyHistory {
                ceremony_id,
                script_name,
                script_sha256,
                mode: mode.to_string(),
                started_seq: seq,
                steps_completed: Vec::new(),
                current_step: None,
                outcome: None,
                closing_checkpoint: None,
                needs_closing_checkpoint: false,
            }),
            Event::StepStarted {
                ceremony_id, step, ..
            } => {
                if let Some(h) = list.iter_mut().find(|h| h.ceremony_id == ceremony_id) {
                    h.current_step = Some(step);
                }
            }
            Event::StepCompleted { ceremony_id, step } => {
                if let Some(h) = list.iter_mut().find(|h| h.ceremony_id == ceremony_id) {
                    h.steps_completed.push(step);
                    h.current_step = None;
                }
            }
            Event::CeremonyClosed {
                ceremony_id,
                outcome,
            } => {
                if let Some(h) = list.iter_mut().find(|h| h.ceremony_id == ceremony_id) {
                    h.outcome = Some(outcome.to_string());
                    h.current_step = None;
                }
            }
            _ => {}
        }
    }
    for c in journal.closings()? {
        if let Some(h) = list.iter_mut().find(|h| h.ceremony_id == c.ceremony_id) {
            h.closing_checkpoint = c.checkpoint_size;
            h.needs_closing_checkpoint = c.checkpoint_size.is_none() && c.unavailable.is_none();
        }
    }
    Ok(list)
}
