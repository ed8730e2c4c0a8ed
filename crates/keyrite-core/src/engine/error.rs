//! Engine errors: what was wrong, where, and what to do next.

use crate::hsm::HsmError;
use crate::journal::JournalError;

/// Errors of the ceremony engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The journal refused or failed an append: the action did not happen.
    #[error("the journal could not record the ceremony ({0}); nothing further was done")]
    Journal(#[from] JournalError),
    /// The HSM failed before the ceremony could start (module, token, identity).
    #[error(transparent)]
    Hsm(#[from] HsmError),
    /// Production refused a condition before the HSM was touched.
    #[error("production ceremony refused: {0}")]
    ProductionRefused(String),
    /// The answer does not fit the prompt.
    #[error("the answer does not fit: {0}")]
    BadAnswer(String),
    /// The token rejected a PIN: it was dropped (never sent again) and is asked for again;
    /// the prompt carries the same words (`Prompt::Pin::rejected`).
    #[error("{0}; the PIN was dropped and nothing more was sent to the token: give it again")]
    PinRejected(String),
    /// A custodian's YubiKey refused or failed (wrong PIN, wrong card, removed): nothing was
    /// approved or enrolled; the same prompt comes again.
    #[error(transparent)]
    Custodian(#[from] crate::custodian::CustodianError),
    /// The key inventory or custodian register refused a change.
    #[error(transparent)]
    Inventory(#[from] crate::inventory::InventoryError),
    /// `sign-record` without a record producer.
    #[error("step \"{step}\": no record producer is configured, so the ceremony record cannot be rendered and signed; run with a build that produces records, or skip the step by exception with a witness sign-off")]
    NoRecordProducer {
        /// Step id.
        step: String,
    },
    /// Resume found a different script.
    #[error("ceremony {ceremony_id} was started from script {expected} (SHA-256), but {file} has SHA-256 {actual}; resume it with the exact script it started with")]
    ScriptChanged {
        /// Ceremony id.
        ceremony_id: String,
        /// Recorded digest.
        expected: String,
        /// Given file.
        file: String,
        /// Given digest.
        actual: String,
    },
    /// No such unfinished ceremony.
    #[error("no unfinished ceremony {0} in the journal; `keyrite ceremony status` lists them")]
    NotFound(String),
    /// The ceremony is closed.
    #[error("ceremony {0} is closed; start a new one")]
    Closed(String),
    /// Reading the journal back gave something the engine cannot follow.
    #[error("the journal of ceremony {ceremony_id} cannot be followed: {problem}; run `keyrite journal verify`")]
    Replay {
        /// Ceremony id.
        ceremony_id: String,
        /// What is wrong.
        problem: String,
    },
    /// A file could not be written or read.
    #[error("{0}")]
    Io(String),
    /// The script initialises the token under another label than the one the site profile
    /// selects it by: after the hsm-init step no later step would find it.
    #[error("step \"{step}\" of {file} initialises the token as \"{script_label}\", but the site profile selects the token labelled \"{profile_label}\", so the steps after it would not find the token; nothing was changed")]
    TokenLabelMismatch {
        /// The hsm-init step.
        step: String,
        /// The script file.
        file: String,
        /// The label the step sets.
        script_label: String,
        /// The label the profile selects.
        profile_label: String,
    },
}
