//! What a runner gives back to the machine: the next thing to wait for, or a failure.
//!
//! Runners never set the machine's phase themselves (they cannot name it: that would make
//! an import circle); they return a [`Next`] carrying their own state, and the machine wraps
//! it into its phase.

use super::error::EngineError;
use crate::hsm::{HsmError, UserKind};
use crate::inventory::InventoryError;
use crate::journal::JournalError;
use crate::operations::OperationError;
use crate::paths::OutputError;
use crate::quorum::{QuorumError, RequestError};
use crate::shares::ShareError;

/// What went wrong in a step's action. The text is the error's own (`transparent`),
/// exactly as it is journaled in the exception.
#[derive(Debug, thiserror::Error)]
pub(super) enum StepError {
    /// The token refused or failed.
    #[error(transparent)]
    Hsm(#[from] HsmError),
    /// Splitting or reading shares failed.
    #[error(transparent)]
    Share(#[from] ShareError),
    /// A quorum-gated operation refused or failed (it journaled why).
    #[error(transparent)]
    Operation(#[from] OperationError),
    /// The approval request could not be made.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The quorum policy could not be formed.
    #[error(transparent)]
    Quorum(#[from] QuorumError),
    /// The journal refused an entry inside an operation that reports it as the step's failure.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The inventory refused a change.
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    /// An output file could not be written.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// A backup file could not be read.
    #[error(transparent)]
    Backup(#[from] crate::hsm::backup::BackupError),
    /// The inventory's tables could not be read.
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
    /// The record-signing certificate could not be made.
    #[error(transparent)]
    Certificate(#[from] crate::x509::X509Error),
    /// An engine error reported as the step's failure (inside a follow-up of an operation).
    #[error(transparent)]
    Engine(Box<EngineError>),
    /// The engine's own reason (a precondition of the step does not hold).
    #[error("{0}")]
    Refused(String),
}

/// Why a step's action did not succeed: becomes an exception for the room to decide on.
/// Boxed: the errors it carries are large and it travels through every runner.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub(super) struct StepFailure(Box<StepError>);

impl StepFailure {
    /// The engine's own reason.
    pub(super) fn refused(reason: impl Into<String>) -> Self {
        StepFailure(Box::new(StepError::Refused(reason.into())))
    }

    /// The PIN the token rejected in this failure's login, if that is what failed.
    pub(super) fn rejected_pin(&self) -> Option<UserKind> {
        let e = match &*self.0 {
            StepError::Hsm(e) => e,
            StepError::Operation(OperationError::Hsm { source, .. }) => source,
            _ => return None,
        };
        e.rejected_pin().map(|(who, _)| who)
    }

    /// An engine error reported as the step's failure.
    pub(super) fn engine(e: Box<EngineError>) -> Self {
        StepFailure(Box::new(StepError::Engine(e)))
    }
}

/// Every error a step can fail with converts with `?`.
macro_rules! step_failure_from {
    ($($t:ty),*) => {$(
        impl From<$t> for StepFailure {
            fn from(e: $t) -> Self {
                StepFailure(Box::new(e.into()))
            }
        }
    )*};
}
step_failure_from!(
    HsmError,
    ShareError,
    OperationError,
    RequestError,
    QuorumError,
    JournalError,
    InventoryError,
    OutputError,
    rusqlite::Error,
    crate::x509::X509Error,
    crate::hsm::backup::BackupError
);

/// Why an action did not finish: a step failure (becomes an exception) or an engine error
/// (the journal failed: the ceremony stops).
#[derive(Debug)]
pub(super) enum Failure {
    Step(StepFailure),
    Engine(Box<EngineError>),
}

impl From<StepFailure> for Failure {
    fn from(e: StepFailure) -> Self {
        Failure::Step(e)
    }
}

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Self {
        Failure::Engine(Box::new(e))
    }
}

impl From<JournalError> for Failure {
    fn from(e: JournalError) -> Self {
        Failure::Engine(Box::new(e.into()))
    }
}

/// Token and share errors inside an action are the step's failure.
macro_rules! failure_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Failure {
            fn from(e: $t) -> Self {
                Failure::Step(e.into())
            }
        }
    )*};
}
failure_from!(HsmError, ShareError, OutputError);

/// A PIN the runner needs before it can go on.
#[derive(Debug, Clone)]
pub(super) struct PinAsk {
    pub(super) who: UserKind,
    pub(super) purpose: String,
    /// The key chosen at the screen for a quorum step, kept while PINs are asked.
    pub(super) chosen_key: Option<String>,
    /// Why the PIN is asked again: the token rejected the one given (tries left, if known).
    pub(super) rejected: Option<String>,
}

impl PinAsk {
    pub(super) fn new(who: UserKind, purpose: impl Into<String>) -> Self {
        PinAsk {
            who,
            purpose: purpose.into(),
            chosen_key: None,
            rejected: None,
        }
    }
}

/// What comes after a runner's start or answer.
pub(super) enum Next<S> {
    /// The action finished: collect the step's sign-offs.
    Done,
    /// Wait for people in the runner's state `S`.
    Wait(S),
    /// Stay where we are (the runner's state was updated in place).
    Continue,
    /// Ask for a PIN, then run the step's action again.
    Pin(PinAsk),
    /// Run the step's action again (it has what it waited for).
    Again,
    /// Open an exception: `expected` did not happen.
    Raise { expected: String, happened: String },
    /// Open an exception: the step's action did not succeed.
    Failed(StepFailure),
}

impl<S> Next<S> {
    /// The same next thing with the runner's state wrapped by `f`.
    pub(super) fn map<T>(self, f: impl FnOnce(S) -> T) -> Next<T> {
        match self {
            Next::Done => Next::Done,
            Next::Wait(s) => Next::Wait(f(s)),
            Next::Continue => Next::Continue,
            Next::Pin(p) => Next::Pin(p),
            Next::Again => Next::Again,
            Next::Raise { expected, happened } => Next::Raise { expected, happened },
            Next::Failed(e) => Next::Failed(e),
        }
    }
}

/// A PIN is needed when `ask` is `Some`: return it from the runner.
macro_rules! need_pin {
    ($ask:expr) => {
        if let Some(ask) = $ask {
            return Ok($crate::engine::step::Next::Pin(ask));
        }
    };
}
pub(super) use need_pin;
