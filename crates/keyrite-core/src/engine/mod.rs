//! The ceremony engine: a state machine the faces (CLI, desktop app) drive, identically.
//!
//! ```text
//! let mut c = Ceremony::start(env, journal, script, options)?;   // or Ceremony::resume(…)
//! loop {
//!     match c.prompt() {
//!         Prompt::Done { summary } => break,
//!         p => { let a = face_asks_humans(p); c.answer(a)?; }   // errors: show, ask again
//!     }
//! }
//! ```
//!
//! Every step's start, intent, outcome, outputs and sign-offs are journal events committed
//! *before* the engine reports them or goes on (fail closed: if the append fails, the action
//! does not happen). An action that changes the HSM is preceded by an `action_intent` event
//! and followed by `action_done`; on resume an intent without its `action_done` is reconciled
//! against the token (see `docs/engine.md`). Secrets travel only in [`crate::secret`] types
//! inside [`Prompt`] and [`Answer`]; they never reach the journal, [`CeremonyStatus`] or
//! `Debug` output.

mod anchor;
pub mod answers;
mod banner;
mod by_hand;
mod cardprint;
mod cards;
mod checks;
mod closing;
mod context;
mod correct;
mod custodians;
mod decision;
mod dispatch;
mod error;
mod handout;
mod history;
mod holder;
mod hsm_actions;
mod keyops;
#[cfg(test)]
mod layout;
mod machine;
mod options;
mod people;
mod prompt;
mod quorum;
mod quorum_ops;
mod reconcile;
mod record;
mod recovery;
mod register;
mod replay;
mod result;
mod run;
mod shareset;
mod signoffs;
mod status;
mod step;

pub use banner::Banner;
pub use by_hand::PAUSED_NOTE;
pub use cards::{CardAccess, PcscCards};
pub use closing::ClosingCheckpoint;
pub use custodians::acknowledgement_text;
pub use error::EngineError;
pub use history::{history, CeremonyHistory};
pub use holder::ShareHolder;
pub use options::CeremonyOptions;
pub use prompt::{
    Answer, ApprovalPrompt, Approver, Decision, KeyChoice, Participant, Progress, Prompt,
    ShareProof, Summary,
};
pub use record::{
    JournalRecordProducer, ProduceError, ProducedRecord, RecordInput, RecordProducer,
};
pub use result::{promised_texts, ResultLine, FINGERPRINT_WORDS, HOST_COPY_ERASED, KEY_GONE};
pub use signoffs::step_outcome_text;
pub use status::{CeremonyStatus, ExceptionStatus, StepState, StepStatus};

use crate::environment::Environment;
use crate::journal::Journal;
use crate::script::Script;

/// One running ceremony.
pub struct Ceremony {
    st: machine::Engine,
}

impl std::fmt::Debug for Ceremony {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ceremony")
            .field("id", &self.st.run.id)
            .finish_non_exhaustive()
    }
}

impl Ceremony {
    /// Starts a new ceremony from `script`. Production refusals (answers file, software token,
    /// identity mismatch, failed air-gap check) happen here, before the HSM is touched and
    /// before anything is journaled. Then `ceremony_started` is journaled with the script's
    /// SHA-256 (hex; words in its details).
    pub fn start(
        env: Environment,
        journal: Journal,
        script: Script,
        options: CeremonyOptions,
    ) -> Result<Ceremony, EngineError> {
        Ok(Ceremony {
            st: machine::Engine::start(env, journal, script, options)?,
        })
    }

    /// Resumes the unfinished ceremony `ceremony_id` from the journal. `script` must be the
    /// exact script it started with. Actions with an intent but no outcome are reconciled
    /// against the token first (a key the journal does not know is destroyed with proof; a
    /// share set whose shares were lost is recorded void and its step restarted).
    pub fn resume(
        env: Environment,
        journal: Journal,
        script: Script,
        ceremony_id: &str,
        options: CeremonyOptions,
    ) -> Result<Ceremony, EngineError> {
        Ok(Ceremony {
            st: machine::Engine::resume(env, journal, script, ceremony_id, options)?,
        })
    }

    /// Unfinished ceremonies in the journal, oldest first: started and not closed, or closed
    /// without their closing checkpoint (killed in between; resuming signs it).
    pub fn unfinished(journal: &Journal) -> Result<Vec<CeremonyHistory>, EngineError> {
        Ok(history::history_from(journal, journal.unfinished_from()?)?
            .into_iter()
            .filter(|h| h.outcome.is_none() || h.needs_closing_checkpoint)
            .collect())
    }

    /// The ceremony id.
    pub fn id(&self) -> &str {
        &self.st.run.id
    }

    /// What the engine needs next.
    pub fn prompt(&self) -> Prompt {
        self.st.prompt()
    }

    /// Gives the engine what it asked for. An error leaves the state unchanged (the same
    /// prompt comes again) unless the journal failed, in which case stop the ceremony.
    pub fn answer(&mut self, answer: Answer) -> Result<Progress, EngineError> {
        self.st.answer(answer)
    }

    /// After [`Ceremony::resume`]: what the engine will put right before going on (keys it
    /// will destroy, share sets it will void and who holds void copies, steps it will run
    /// again), one sentence each, for the faces to show before anything is done. Empty when
    /// the interruption left nothing to put right, and once it is done.
    pub fn resume_plan(&self) -> Vec<String> {
        reconcile::plan(&self.st.pending)
    }

    /// The ceremony as screens show it.
    pub fn status(&self) -> CeremonyStatus {
        self.st.status()
    }

    /// The journal (read-only use: head, checkpoints).
    pub fn journal(&self) -> &Journal {
        &self.st.run.journal
    }

    /// Ends the session, giving back the journal (the ceremony stays unfinished if it is not
    /// closed, and can be resumed).
    pub fn into_journal(self) -> Journal {
        self.st.run.journal
    }
}
