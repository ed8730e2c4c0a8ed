//! Sign-offs and exceptions: the room's part of every step, kept in the [`CeremonyRun`].
//! The machine decides what comes next; these only check and journal.

use super::error::EngineError;
use super::prompt::{Decision, Prompt};
use super::run::CeremonyRun;
use super::status::ExceptionStatus;
use crate::inventory::custodians as register;
use crate::journal::Event;
use crate::script::Role;
use crate::secret::{SecretBytes, SecretText};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// What a YubiKey sign-off signs: the ceremony, the step and the journal head when it was
/// signed (which commits to everything the step journaled). Format: `docs/formats/approval.md`.
pub fn step_outcome_text(ceremony_id: &str, step: &str, journal_head_hex: &str) -> String {
    format!(
        "keyrite-step-outcome-v1\nceremony: {ceremony_id}\nstep: {step}\njournal-head: {journal_head_hex}\n"
    )
}

/// An exception just opened, for the machine's phase.
pub(super) struct Opened {
    pub(super) id: String,
    pub(super) expected: String,
    pub(super) happened: String,
}

fn bad<T>(m: String) -> Result<T, EngineError> {
    Err(EngineError::BadAnswer(m))
}

impl CeremonyRun {
    /// Sign-offs still needed for the current step: (role, remaining).
    pub(super) fn signoff_needed(&self) -> Option<(Role, u8)> {
        let st = self.current()?;
        let signed = self.signed.get(st.id.as_str());
        for so in &st.sign_offs {
            let need = so.needed(&self.script.roles);
            let have = signed
                .map(|v| v.iter().filter(|(_, r)| *r == so.role).count() as u8)
                .unwrap_or(0);
            if have < need {
                return Some((so.role, need - have));
            }
        }
        None
    }

    pub(super) fn signoff_prompt(&self) -> Prompt {
        let (role, remaining) = self.signoff_needed().unwrap_or((Role::Witness, 0));
        let signed = self.signed.get(&self.step_id());
        let candidates = self
            .participants
            .iter()
            .filter(|p| p.role == role && !self.is_actor(p))
            .filter(|p| !signed.is_some_and(|v| v.iter().any(|(id, _)| *id == p.id)))
            .cloned()
            .collect();
        Prompt::SignOff {
            step: self.step_id(),
            role,
            candidates,
            remaining,
            result: self.step_result(),
        }
    }

    /// Checks that `participant` may sign off the current step now: checked in, of the role
    /// needed next, not the person who performed the step, not signed yet.
    pub(super) fn sign_off_check(&self, participant: &str) -> Result<Role, EngineError> {
        let Some((role, _)) = self.signoff_needed() else {
            return bad("no sign-off is needed".into());
        };
        let Some(p) = self.participant(participant) else {
            return bad(format!("{participant} has not checked in"));
        };
        if p.role != role {
            return bad(format!(
                "a {role} must sign off next; {participant} is a {}",
                p.role
            ));
        }
        self.not_the_actor(p)?;
        let step = self.step_id();
        if self
            .signed
            .get(&step)
            .is_some_and(|v| v.iter().any(|(id, _)| id == participant))
        {
            return bad(format!(
                "{participant} has already signed off step \"{step}\""
            ));
        }
        Ok(role)
    }

    /// Journals a sign-off (`details`: the YubiKey signature, if any). `true`: more are needed.
    pub(super) fn record_sign_off(
        &mut self,
        participant: String,
        signature_sha256: Option<String>,
        details: Value,
    ) -> Result<bool, EngineError> {
        let role = self.sign_off_check(&participant)?;
        let step = self.step_id();
        self.journal.append_with_details(
            Event::SignOff {
                ceremony_id: self.id.clone(),
                step: step.clone(),
                participant_id: participant.clone(),
                role: role.name().into(),
                signature_sha256,
            },
            details,
        )?;
        self.signed
            .entry(step)
            .or_default()
            .push((participant, role));
        Ok(self.signoff_needed().is_some())
    }

    /// A sign-off signed on the participant's enrolled YubiKey: (signature SHA-256, details).
    pub(super) fn yubikey_sign_off(
        &self,
        participant: &str,
        pin: &SecretText,
    ) -> Result<(String, Value), EngineError> {
        self.sign_off_check(participant)?;
        let name = self
            .participant(participant)
            .map(|p| p.name.clone())
            .unwrap_or_default();
        let Some(enrolled) = register::active(self.journal.store())?
            .into_iter()
            .find(|c| c.record.name == name)
        else {
            return bad(format!(
                "{name} ({participant}) has no enrolled YubiKey; sign off without one"
            ));
        };
        let head = self.journal.head();
        let text = step_outcome_text(&self.id, &self.step_id(), &hex::encode(head.root));
        let mut card = self.cards().open(enrolled.record.yubikey_serial)?;
        let signed = crate::custodian::signoff::sign_off(
            card.as_mut(),
            &enrolled.record,
            &SecretBytes::from_slice(pin.expose().as_bytes()),
            text.as_bytes(),
        )?;
        drop(card);
        let details = serde_json::json!({
            "custodian_id": signed.signer_id,
            "yubikey_serial": signed.yubikey_serial,
            "outcome_sha256": signed.outcome_sha256,
            "journal_size": head.size,
            "journal_head": hex::encode(head.root),
            "signature": hex::encode(&signed.signature),
        });
        Ok((hex::encode(Sha256::digest(&signed.signature)), details))
    }

    /// An action failed or a check is out of bounds: journals the exception.
    pub(super) fn open_exception(
        &mut self,
        expected: &str,
        happened: &str,
    ) -> Result<Opened, EngineError> {
        let step = self.step_id();
        let exception_id = format!("x{}", self.exceptions.len() + 1);
        let description = format!("expected: {expected}; happened: {happened}");
        self.journal.append(Event::ExceptionOpened {
            ceremony_id: self.id.clone(),
            exception_id: exception_id.clone(),
            step: step.clone(),
            description: description.clone(),
        })?;
        self.exceptions.push(ExceptionStatus {
            id: exception_id.clone(),
            step,
            description,
            decision: None,
            decided_by: Vec::new(),
        });
        Ok(Opened {
            id: exception_id,
            expected: expected.into(),
            happened: happened.into(),
        })
    }

    /// Checks and journals the room's decision on exception `id`.
    pub(super) fn decide_exception(
        &mut self,
        id: &str,
        decision: Decision,
        decided_by: Vec<String>,
        reason: String,
    ) -> Result<(), EngineError> {
        if decided_by.is_empty() {
            return bad("a decision needs the participant ids of those who decided".into());
        }
        for d in &decided_by {
            if self.participant(d).is_none() {
                return bad(format!("{d} has not checked in"));
            }
        }
        if decision == Decision::Skip
            && !decided_by
                .iter()
                .any(|d| self.participant(d).is_some_and(|p| p.role == Role::Witness))
        {
            return bad("skipping a step needs a witness among those deciding".into());
        }
        if reason.trim().is_empty() {
            return bad("a decision needs a reason".into());
        }
        self.journal.append(Event::ExceptionDecided {
            ceremony_id: self.id.clone(),
            exception_id: id.into(),
            decision: decision.name().into(),
            decided_by: decided_by.clone(),
            reason,
        })?;
        if let Some(x) = self.exceptions.iter_mut().find(|x| x.id == id) {
            x.decision = Some(decision.name().into());
            x.decided_by = decided_by;
        }
        Ok(())
    }
}
