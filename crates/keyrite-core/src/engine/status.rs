//! The ceremony as screens show it: serialisable, without secrets.

use super::prompt::Participant;
use crate::profile::Mode;
use serde::Serialize;
use ts_rs::TS;

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "kebab-case")]
pub enum StepState {
    /// Not started.
    Pending,
    /// Started, not yet completed.
    Running,
    /// Paused on an open exception.
    Exception,
    /// Completed with every sign-off.
    Completed,
    /// Skipped by an exception decision.
    Skipped,
}

/// One step's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct StepStatus {
    /// Step id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Action name (`generate-and-split-root-kek`, …).
    pub action: String,
    /// State.
    pub state: StepState,
    /// Participant ids who signed it off.
    pub signed_off_by: Vec<String>,
}

/// One exception's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct ExceptionStatus {
    /// Exception id.
    pub id: String,
    /// Step id.
    pub step: String,
    /// What was expected and what happened.
    pub description: String,
    /// The decision, once made.
    pub decision: Option<String>,
    /// Who decided.
    pub decided_by: Vec<String>,
}

/// Everything a screen shows about a ceremony.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct CeremonyStatus {
    /// Ceremony id.
    pub ceremony_id: String,
    /// Script id.
    pub script_id: String,
    /// Script title.
    pub script_title: String,
    /// Script SHA-256, hex.
    pub script_sha256: String,
    /// Script SHA-256 as words.
    pub script_words: String,
    /// Rehearsal or production.
    pub mode: Mode,
    /// Steps in script order.
    pub steps: Vec<StepStatus>,
    /// Id of the current step (none before check-in completes or after close).
    pub current_step: Option<String>,
    /// Checked-in participants.
    pub participants: Vec<Participant>,
    /// Exceptions raised so far.
    pub exceptions: Vec<ExceptionStatus>,
    /// `running`, `completed` or `aborted`.
    pub outcome: String,
    /// The outcome journaled (`ceremony_outcome`) before the record was rendered, if yet.
    pub decided_outcome: Option<String>,
    /// The closing checkpoint, once the ceremony is closed and it is signed: show its words
    /// to the room for the witness to write on the printed record.
    pub closing_checkpoint: Option<super::closing::ClosingCheckpoint>,
    /// Why no closing checkpoint could be signed (journaled as a note after the close).
    pub closing_checkpoint_unavailable: Option<String>,
}
