//! Correcting a check-in: a participant checked in under the wrong name (a typo, or names
//! typed ahead during a slow start that landed on the wrong role) is put right by naming the
//! seat (`witness-1`) and the name that belongs there, with a reason. Journaled as
//! `participant_corrected` (role, seat, previous and new name, reason); the record lists it.
//!
//! Only until the ceremony's first HSM action (its first `action_intent`): from then on the
//! names are part of what the token was asked to do and of the evidence signed off, and a
//! mistake is an exception for the room to decide, not an edit. Checked against the journal,
//! so a resumed ceremony answers the same.

use super::error::EngineError;
use super::history::all_events;
use super::machine::{Engine, Phase};
use super::prompt::Participant;
use super::Ceremony;
use crate::journal::{Event, Select};

fn bad<T>(m: impl Into<String>) -> Result<T, EngineError> {
    Err(EngineError::BadAnswer(m.into()))
}

impl Engine {
    /// The step of the ceremony's first `action_intent`, if one is journaled.
    fn first_action(&self) -> Result<Option<String>, EngineError> {
        let journal = &self.run.journal;
        let from = journal.ceremony_start(&self.run.id)?.unwrap_or(0);
        let select = Select::ceremony(&self.run.id);
        Ok(all_events(journal, Some(&select), from)?
            .into_iter()
            .find_map(|(_, e)| match e {
                Event::ActionIntent {
                    ceremony_id, step, ..
                } if ceremony_id == self.run.id => Some(step),
                _ => None,
            }))
    }

    fn correct(
        &mut self,
        participant_id: &str,
        name: &str,
        reason: &str,
    ) -> Result<Participant, EngineError> {
        if matches!(self.phase, Phase::Done(_) | Phase::Closing) {
            return Err(EngineError::Closed(self.run.id.clone()));
        }
        let id = participant_id.trim();
        if let Some(step) = self.first_action()? {
            return bad(format!(
                "check-ins can be corrected only before the ceremony's first HSM action, and \
                 step \"{step}\" has acted on the token: the check-in of {id} stands; raise an \
                 exception if it is wrong"
            ));
        }
        let Some(at) = self.run.participants.iter().position(|p| p.id == id) else {
            let here: Vec<&str> = self
                .run
                .participants
                .iter()
                .map(|p| p.id.as_str())
                .collect();
            return bad(format!(
                "{id} has not checked in; the checked-in participants are: {}",
                if here.is_empty() {
                    "nobody yet".to_string()
                } else {
                    here.join(", ")
                }
            ));
        };
        let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
        if name.is_empty() {
            return bad("the corrected name is empty: type the name of the person in that seat");
        }
        if reason.trim().is_empty() {
            return bad("a correction needs a reason: say what was wrong with the check-in");
        }
        let p = self.run.participants[at].clone();
        if p.name == name {
            return bad(format!(
                "{id} is already checked in as \"{name}\": there is nothing to correct"
            ));
        }
        if p.credential_fingerprint.is_some() {
            return bad(format!(
                "{id} checked in with a YubiKey, which names its holder: the check-in of \
                 \"{}\" cannot be corrected by typing a name",
                p.name
            ));
        }
        self.run.check_person_except(&name, p.role, Some(id))?;
        let seat = id
            .rsplit('-')
            .next()
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0);
        self.run.journal.append(Event::ParticipantCorrected {
            ceremony_id: self.run.id.clone(),
            participant_id: id.to_string(),
            role: p.role.name().into(),
            seat,
            previous_name: p.name.clone(),
            name: name.clone(),
            reason: reason.trim().to_string(),
        })?;
        let fixed = &mut self.run.participants[at];
        fixed.name = name;
        Ok(fixed.clone())
    }
}

impl Ceremony {
    /// Whether [`Ceremony::correct_check_in`] can be asked now: someone has checked in, the
    /// ceremony is not closed and no HSM action is journaled (a journal that cannot be read
    /// says no).
    pub fn check_in_correctable(&self) -> bool {
        let st = &self.st;
        !st.run.participants.is_empty()
            && !matches!(st.phase, Phase::Done(_) | Phase::Closing)
            && matches!(st.first_action(), Ok(None))
    }

    /// Corrects the check-in of `participant_id` (e.g. `witness-1`): the seat is held by
    /// `name`, for `reason`. Journaled as `participant_corrected`. Refused after the
    /// ceremony's first HSM action (its first `action_intent`), for a participant who checked
    /// in with a YubiKey, for a name already checked in where the script does not allow it,
    /// and once the ceremony is closed; a refusal changes nothing. Returns the participant
    /// as now checked in; the prompt is unchanged.
    pub fn correct_check_in(
        &mut self,
        participant_id: &str,
        name: &str,
        reason: &str,
    ) -> Result<Participant, EngineError> {
        self.st.correct(participant_id, name, reason)
    }
}
