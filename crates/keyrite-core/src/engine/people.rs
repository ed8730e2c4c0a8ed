//! Who may stand in the room as what: one person holds one role unless the script allows the
//! combination (`[roles] combine`), and a step is never signed off by the person who performed
//! it. People are told apart by name (trimmed, spaces collapsed, case ignored).

use super::error::EngineError;
use super::prompt::Participant;
use super::run::CeremonyRun;
use crate::script::Role;

/// A name as people are compared: `"  wes  WITNESS"` is `"Wes Witness"`.
pub(super) fn same_person(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    norm(a) == norm(b)
}

impl CeremonyRun {
    /// Refuses a check-in of `name` as `role` when that person already checked in, in the same
    /// role or in a role the script does not let them combine with it.
    pub(super) fn check_person(&self, name: &str, role: Role) -> Result<(), EngineError> {
        self.check_person_except(name, role, None)
    }

    /// [`Self::check_person`], leaving out the seat `except` (the one being corrected).
    pub(super) fn check_person_except(
        &self,
        name: &str,
        role: Role,
        except: Option<&str>,
    ) -> Result<(), EngineError> {
        let Some(p) = self
            .participants
            .iter()
            .filter(|p| Some(p.id.as_str()) != except)
            .find(|p| same_person(&p.name, name))
        else {
            return Ok(());
        };
        let m = if p.role == role {
            format!(
                "\"{}\" has already checked in as {}; every {role} is a different person: check \
                 in another {role}",
                p.name, p.id
            )
        } else if self.script.roles.may_combine(p.role, role) {
            return Ok(());
        } else {
            format!(
                "\"{}\" has already checked in as {} ({}); one person holds one role unless the \
                 script allows the combination ([roles] combine = [[\"{}\", \"{role}\"]]), and \
                 this script does not: check in another {role}",
                p.name, p.id, p.role, p.role
            )
        };
        Err(EngineError::BadAnswer(m))
    }

    /// The participant performing the current step: the first checked-in participant of the
    /// step's role (the one the inventory records as actor for the administrator).
    pub(super) fn step_actor(&self) -> Option<&Participant> {
        let role = self.current()?.role;
        self.participants.iter().find(|p| p.role == role)
    }

    /// Whether `p` is the person performing the current step (in whichever role they sign).
    pub(super) fn is_actor(&self, p: &Participant) -> bool {
        self.step_actor()
            .is_some_and(|a| same_person(&a.name, &p.name))
    }

    /// Refuses a sign-off of the current step by the person who performed it.
    pub(super) fn not_the_actor(&self, p: &Participant) -> Result<(), EngineError> {
        let (Some(a), true) = (self.step_actor(), self.is_actor(p)) else {
            return Ok(());
        };
        Err(EngineError::BadAnswer(format!(
            "{} ({}) performed step \"{}\" as {}; a step is signed off by someone other than \
             the one who performed it: another {} signs off",
            p.id,
            p.name,
            self.step_id(),
            a.id,
            p.role
        )))
    }
}
