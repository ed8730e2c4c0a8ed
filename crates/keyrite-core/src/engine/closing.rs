//! How a ceremony ends (`docs/formats/checkpoint.md`, "Closing a ceremony"):
//!
//! 1. in the `sign-record` step, before rendering: `ceremony_outcome`, then a checkpoint
//!    over it (the *record checkpoint*, `purpose: record`): the record shows the outcome and
//!    closes with that checkpoint;
//! 2. `record_produced`, the step's sign-offs, `step_completed`;
//! 3. `ceremony_closed` (the same outcome), the ceremony's last entry;
//! 4. the *closing checkpoint* (`purpose: closing`) over every entry up to and including
//!    `ceremony_closed`, shown to the room (hex and words) for the witness to write on the
//!    printed record, and carried by the next ceremony's record.
//!
//! Entries 2–3 are after the record's own checkpoint; the closing checkpoint is what covers
//! them. A kill between any two entries resumes correctly: before `record_produced` the record
//! is made again (outcome and record checkpoint again); after it, only the sign-offs are asked
//! again; after `ceremony_closed` without a closing checkpoint, resuming signs it.

use super::actions::{write_new, Failure, RECORD_SIGNING_LABEL};
use super::state::{Engine, Phase};
use super::status::StepState;
use super::EngineError;
use crate::hsm::signer::HsmSigner;
use crate::hsm::{TokenSession, UserKind};
use crate::journal::{Checkpoint, Event, CLOSING_UNAVAILABLE_NOTE};
use serde::Serialize;
use serde_json::json;

/// The checkpoint signed after a ceremony's last entry (`ceremony_closed`): the witness
/// writes its words on the printed record; the next ceremony's record carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct ClosingCheckpoint {
    /// Entries covered (`0 .. size-1`; `ceremony_closed` is entry `size - 1`).
    pub size: u64,
    /// RFC 9162 root of those entries, hex.
    pub root: String,
    /// The root as words (one per byte), to read aloud and write down.
    pub root_words: String,
    /// When it was signed (journal clock).
    pub time: String,
    /// SPKI SHA-256 of the record-signing key that signed it, hex.
    pub signer_fingerprint: String,
    /// The signed checkpoint text (`docs/formats/checkpoint.md`).
    pub text: String,
    /// Where the text was written (`DATA/checkpoints/<size>.txt`).
    pub file: String,
}

impl ClosingCheckpoint {
    fn from_checkpoint(cp: &Checkpoint, file: String) -> Self {
        ClosingCheckpoint {
            size: cp.size,
            root: hex::encode(cp.root),
            root_words: crate::words::to_words(&cp.root),
            time: cp.time.to_rfc3339(),
            signer_fingerprint: hex::encode(cp.signer_fingerprint()),
            text: cp.to_text(),
            file,
        }
    }
}

/// The purpose a checkpoint's `details` name.
const PURPOSE_RECORD: &str = "record";
const PURPOSE_CLOSING: &str = "closing";

impl Engine {
    /// The record-signing key, opened with the user PIN.
    pub(super) fn record_signer(&self) -> Result<HsmSigner, String> {
        let quirks =
            crate::hsm::sitedata::quirks_for(self.env.profile()).map_err(|e| e.to_string())?;
        let pin = self
            .user_pin
            .as_ref()
            .ok_or_else(|| "the user PIN is not known".to_string())?;
        let (s, _) = TokenSession::login(&self.module, &self.selector, UserKind::User, pin)
            .map_err(|e| e.to_string())?;
        HsmSigner::open(s, RECORD_SIGNING_LABEL, &quirks).map_err(|e| e.to_string())
    }

    /// Signs a checkpoint over the current head for `purpose`, stores it and writes its text
    /// to `DATA/checkpoints/<size>.txt` (an existing file of that size is the same head).
    fn anchored(
        &mut self,
        signer: &HsmSigner,
        purpose: &str,
    ) -> Result<ClosingCheckpoint, Failure> {
        let cp = self.journal.checkpoint_with(
            signer,
            json!({ "ceremony_id": self.id, "purpose": purpose }),
        )?;
        let path = self
            .env
            .data()
            .path()
            .join("checkpoints")
            .join(format!("{}.txt", cp.size));
        if !path.exists() {
            write_new(self.env.data().path(), &path, cp.to_text().as_bytes())
                .map_err(Failure::Step)?;
        }
        Ok(ClosingCheckpoint::from_checkpoint(
            &cp,
            path.display().to_string(),
        ))
    }

    /// The outcome a `sign-record` step decides: the script requires it to be the last step,
    /// so every step before it is completed or skipped (skips are exceptions, listed as
    /// such on the record's first page). Aborting closes without a record.
    fn decided_outcome(&self) -> String {
        "completed".into()
    }

    /// Before the record is rendered: journals `ceremony_outcome` and signs the record
    /// checkpoint over it, so the record shows the outcome and everything up to it.
    pub(super) fn decide_outcome(&mut self, signer: &HsmSigner) -> Result<(), Failure> {
        let outcome = self.decided_outcome();
        let completed = self
            .done
            .values()
            .filter(|s| **s == StepState::Completed)
            .count();
        let skipped = self.done.len() - completed;
        self.journal.append_with_details(
            Event::CeremonyOutcome {
                ceremony_id: self.id.clone(),
                outcome: outcome.clone(),
            },
            json!({
                "steps_completed": completed,
                "steps_skipped": skipped,
                "exceptions": self.exceptions.len(),
                "decided_in_step": self.step_id(),
            }),
        )?;
        self.decided = Some(outcome);
        self.anchored(signer, PURPOSE_RECORD)?;
        Ok(())
    }

    /// After `ceremony_closed`: signs the closing checkpoint now if the user PIN is known,
    /// else asks for it ([`Phase::Closing`]).
    pub(super) fn seal_close(&mut self) -> Result<(), EngineError> {
        if self.user_pin.is_none() {
            self.phase = Phase::Closing;
            return Ok(());
        }
        match self.sign_closing() {
            Ok(()) => Ok(()),
            Err(reason) => self.close_unanchored(&reason),
        }
    }

    /// Signs and stores the closing checkpoint; the ceremony is done.
    fn sign_closing(&mut self) -> Result<(), String> {
        let signer = self.record_signer()?;
        let cp = match self.anchored(&signer, PURPOSE_CLOSING) {
            Ok(cp) => cp,
            Err(Failure::Step(s)) => return Err(s),
            Err(Failure::Engine(e)) => return Err(e.to_string()),
        };
        self.closing = Some(cp);
        self.finish();
        Ok(())
    }

    /// No closing checkpoint can be signed: journals why (a `note` right after the close) so
    /// the ceremony is not offered for resuming again; the next checkpoint signed on this
    /// journal covers its tail.
    fn close_unanchored(&mut self, reason: &str) -> Result<(), EngineError> {
        self.journal.append_with_details(
            Event::Note {
                kind: CLOSING_UNAVAILABLE_NOTE.into(),
            },
            json!({ "ceremony_id": self.id, "reason": reason }),
        )?;
        self.closing_unavailable = Some(reason.to_string());
        self.finish();
        Ok(())
    }

    fn finish(&mut self) {
        let outcome = self.outcome.clone().unwrap_or_default();
        self.phase = Phase::Done(self.summary(&outcome));
    }

    /// The answer to the closing checkpoint's PIN prompt: the user PIN (a wrong one is asked
    /// again), or `Proceed` when nobody in the room holds it (journaled as unavailable).
    pub(super) fn answer_closing(
        &mut self,
        pin: Option<crate::secret::SecretText>,
    ) -> Result<(), EngineError> {
        let Some(pin) = pin else {
            return self.close_unanchored(
                "the administrator closed the ceremony without the user PIN, so the \
                 record-signing key could not sign a closing checkpoint",
            );
        };
        if pin.is_empty() {
            return Err(EngineError::BadAnswer(
                "the PIN is empty; nothing was sent to the token".into(),
            ));
        }
        self.user_pin = Some(pin);
        self.sign_closing().map_err(|reason| {
            self.user_pin = None;
            EngineError::BadAnswer(format!(
                "the closing checkpoint could not be signed: {reason}; give the user PIN \
                 again, or proceed without it to close without a closing checkpoint"
            ))
        })
    }
}
