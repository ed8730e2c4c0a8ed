//! What the room may do by hand whatever the engine is waiting for: stop (pause, resumable),
//! raise an exception at the current step, abort. Every script tells people to "stop and
//! record an exception" when something is wrong; these are the engine's side of that, one
//! function each, so both faces offer the same acts with the same words and journal entries.
//!
//! A raised exception enters the engine's ordinary exception flow (the decision prompt:
//! retry, skip, abort). Retry after a raise by hand goes back to where the step was (the
//! action is never run twice because someone raised an exception during its sign-offs).

use super::error::EngineError;
use super::machine::{Engine, Phase};
use super::prompt::{Decision, Progress};
use super::Ceremony;
use crate::journal::Event;
use serde_json::json;

/// The `kind` of the journal note a pause leaves.
pub const PAUSED_NOTE: &str = "ceremony_paused";

fn bad<T>(m: impl Into<String>) -> Result<T, EngineError> {
    Err(EngineError::BadAnswer(m.into()))
}

impl Engine {
    /// Where the ceremony is, in words: `step "id" (title)` or `check-in`.
    fn where_now(&self) -> String {
        match (&self.phase, self.run.current()) {
            (Phase::CheckIn, _) | (_, None) => "check-in".into(),
            (_, Some(s)) => format!("step \"{}\" ({})", s.id.as_str(), s.title),
        }
    }

    /// `by`, a checked-in participant, and a reason that says something.
    fn who_and_why(&self, by: &str, reason: &str, act: &str) -> Result<String, EngineError> {
        let Some(p) = self.run.participant(by.trim()) else {
            return bad(format!(
                "{} has not checked in: {act} needs the participant id of the person who \
                 decides it (e.g. administrator-1)",
                by.trim()
            ));
        };
        if reason.trim().is_empty() {
            return bad(format!("{act} needs a reason: say what is wrong"));
        }
        Ok(format!("{} ({})", p.name, p.id))
    }

    /// Refuses the acts by hand where they make no sense.
    fn by_hand_allowed(&self, act: &str) -> Result<(), EngineError> {
        match &self.phase {
            Phase::Done(_) => Err(EngineError::Closed(self.run.id.clone())),
            Phase::Closing => bad(format!(
                "the ceremony is closed; {act} is no longer possible: give the user PIN for \
                 the closing checkpoint, or proceed without it"
            )),
            _ if self.reconciling() => bad(format!(
                "{act} must wait: the engine is putting the token right after an \
                 interruption; give the user PIN first"
            )),
            _ => Ok(()),
        }
    }

    fn raise_by_hand(&mut self, by: &str, reason: &str) -> Result<Progress, EngineError> {
        const ACT: &str = "raising an exception";
        self.by_hand_allowed(ACT)?;
        match &self.phase {
            Phase::CheckIn => {
                return bad(
                    "no step has started yet: an exception belongs to a step; finish the \
                     check-in, or abort the ceremony",
                )
            }
            Phase::Exception(x) => {
                return bad(format!(
                    "exception {} is open: decide it first (retry, skip or abort)",
                    x.id
                ))
            }
            _ => {}
        }
        let who = self.who_and_why(by, reason, ACT)?;
        let expected = self.run.expected();
        let happened = format!("exception raised by hand by {who}: {}", reason.trim());
        // A retry comes back to this phase (kept in `interrupted`): never runs an action again
        // that is done (sign-offs) or half done (shares handed out).
        let was = std::mem::replace(&mut self.phase, Phase::Instructions);
        match self.raise(&expected, &happened) {
            Ok(p) => {
                self.interrupted = Some(was);
                Ok(p)
            }
            Err(e) => {
                self.phase = was;
                Err(e)
            }
        }
    }

    fn abort_by_hand(&mut self, by: &str, reason: &str) -> Result<Progress, EngineError> {
        const ACT: &str = "aborting the ceremony";
        self.by_hand_allowed(ACT)?;
        let who = self.who_and_why(by, reason, ACT)?;
        let reason = reason.trim().to_string();
        if !matches!(self.phase, Phase::Exception(_)) {
            let expected = match self.phase {
                Phase::CheckIn => "the check-in completes".to_string(),
                _ => self.run.expected(),
            };
            let happened = format!(
                "the ceremony was aborted by hand by {who} during {}: {reason}",
                self.where_now()
            );
            self.raise(&expected, &happened)?;
        }
        self.decide(Decision::Abort, vec![by.trim().to_string()], reason)
    }

    fn pause_by_hand(&mut self) -> Result<String, EngineError> {
        if let Phase::Done(_) = self.phase {
            return Err(EngineError::Closed(self.run.id.clone()));
        }
        let at = self.where_now();
        let step = self.run.current().map(|s| s.id.as_str().to_string());
        self.run.journal.append_with_details(
            Event::Note {
                kind: PAUSED_NOTE.into(),
            },
            json!({ "ceremony_id": self.run.id, "at": at, "step": step }),
        )?;
        let mut said = format!(
            "Ceremony {} paused during {at}. Nothing more is done until it is resumed; the \
             journal holds everything so far.",
            self.run.id
        );
        if self.run.shares.is_some() {
            said.push_str(
                " The shares not yet handed out are lost with this pause: on resume the \
                 engine voids the share set and says which custodians hold void copies.",
            );
        }
        Ok(said)
    }
}

impl Ceremony {
    /// Stop: pauses the ceremony. Journals a `ceremony_paused` note (where it stopped) and
    /// ends this session; the ceremony stays unfinished and resumes from the journal, here
    /// or later. Returns what to tell the room. Refused once the ceremony is done.
    pub fn pause(mut self) -> Result<String, EngineError> {
        self.st.pause_by_hand()
    }

    /// Raises an exception at the current step by hand: `by` (a checked-in participant id)
    /// says what is wrong (`reason`). Journaled as `exception_opened`; the engine then asks
    /// for the decision ([`super::Prompt::ExceptionDecision`]) as after any exception. A
    /// retry goes back to where the step was. Refused during check-in, while an exception is
    /// open, and once the ceremony is closed; a refusal changes nothing.
    pub fn raise_exception(&mut self, by: &str, reason: &str) -> Result<Progress, EngineError> {
        self.st.raise_by_hand(by, reason)
    }

    /// Aborts the ceremony (the face asks for confirmation first): journaled as an exception
    /// (raised by hand unless one is open) decided `abort` by `by`, with `reason`, then
    /// `ceremony_closed` with outcome `aborted`. Refused once closed; a refusal changes
    /// nothing.
    pub fn abort(&mut self, by: &str, reason: &str) -> Result<Progress, EngineError> {
        self.st.abort_by_hand(by, reason)
    }
}
