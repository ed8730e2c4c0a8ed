//! The engine's state and transitions.

use super::prompt::{Answer, Progress, Prompt};
use super::status::CeremonyStatus;
use super::{CeremonyOptions, EngineError};
use crate::environment::Environment;
use crate::journal::Journal;
use crate::script::Script;

pub(super) struct Engine {
    pub(super) id: String,
    pub(super) journal: Journal,
}

impl Engine {
    pub(super) fn start(
        env: Environment,
        journal: Journal,
        script: Script,
        options: CeremonyOptions,
    ) -> Result<Self, EngineError> {
        let _ = (env, journal, script, options);
        todo!()
    }
    pub(super) fn resume(
        env: Environment,
        journal: Journal,
        script: Script,
        id: &str,
        options: CeremonyOptions,
    ) -> Result<Self, EngineError> {
        let _ = (env, journal, script, id, options);
        todo!()
    }
    pub(super) fn prompt(&self) -> Prompt {
        todo!()
    }
    pub(super) fn answer(&mut self, a: Answer) -> Result<Progress, EngineError> {
        let _ = a;
        todo!()
    }
    pub(super) fn status(&self) -> CeremonyStatus {
        todo!()
    }
}
