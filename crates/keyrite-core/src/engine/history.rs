//! Every ceremony in the journal, as faces list them (`keyrite ceremony status`, the home
//! screen).

use super::error::EngineError;
use crate::journal::{Event, Journal, Select};
use serde::Serialize;

/// One ceremony as the journal records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
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

/// The events from `from` on: all of them, or (through the journal's index) the selected ones.
pub(super) fn all_events(
    journal: &Journal,
    select: Option<&Select<'_>>,
    from: u64,
) -> Result<Vec<(u64, Event)>, EngineError> {
    let size = journal.head().size;
    let mut out = Vec::new();
    let push = |e: &crate::journal::Entry| {
        out.push((e.seq, e.event()?));
        Ok(())
    };
    match select {
        Some(s) => journal.for_each_selected(s, from, push)?,
        None if from < size => journal.for_each_entry(from, size - 1, push)?,
        None => {}
    }
    Ok(out)
}

/// Every ceremony in the journal, oldest first.
pub fn history(journal: &Journal) -> Result<Vec<CeremonyHistory>, EngineError> {
    history_from(journal, 0)
}

/// The ceremonies started at entry `from` or later, oldest first.
pub(super) fn history_from(
    journal: &Journal,
    from: u64,
) -> Result<Vec<CeremonyHistory>, EngineError> {
    let mut list: Vec<CeremonyHistory> = Vec::new();
    let kinds = [
        "ceremony_started",
        "step_started",
        "step_completed",
        "ceremony_closed",
    ];
    for (seq, ev) in all_events(journal, Some(&Select::kinds(&kinds)), from)? {
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
    for c in journal.closings_from(from)? {
        if let Some(h) = list.iter_mut().find(|h| h.ceremony_id == c.ceremony_id) {
            h.closing_checkpoint = c.checkpoint_size;
            h.needs_closing_checkpoint = c.checkpoint_size.is_none() && c.unavailable.is_none();
        }
    }
    Ok(list)
}
