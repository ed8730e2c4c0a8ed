//! The `enrol-custodian` action: each checked-in custodian enrols their YubiKey, one at a
//! time, and signs their acknowledgement with it. The register ([`crate::inventory::custodians`])
//! and the journal are written in one transaction.

use sha2::{Digest, Sha256};

use super::prompt::{Answer, Participant, Progress, Prompt};
use super::state::{Engine, Phase};
use super::EngineError;
use crate::custodian::attestation::AttestationTrust;
use crate::custodian::enrol::{enrol, EnrolmentInput, Role as CustodianRole};
use crate::custodian::CustodianError;
use crate::inventory::custodians::{self as register, Acknowledgement};
use crate::script::Role;
use crate::secret::{SecretBytes, SecretText};
use crate::signer::{verify, SignatureAlgorithm};

fn bytes(t: &SecretText) -> SecretBytes {
    SecretBytes::from_slice(t.expose().as_bytes())
}

/// The text a custodian signs when enrolling (its SHA-256 is journaled with the signature).
pub fn acknowledgement_text(ceremony_id: &str, name: &str, serial: u32) -> String {
    format!(
        "Keyrite custodian acknowledgement v1\nceremony: {ceremony_id}\ncustodian: {name}\nYubiKey serial: {serial}\n\
         I keep my YubiKey and its PIN to myself, never with another custodian's.\n\
         I approve only requests whose words I have compared on the screen.\n\
         I report a lost or compromised YubiKey or share at once.\n"
    )
}

/// What a YubiKey sign-off signs: the ceremony, the step and the journal head when it was
/// signed (which commits to everything the step journaled). Format: `docs/formats/approval.md`.
pub fn step_outcome_text(ceremony_id: &str, step: &str, journal_head_hex: &str) -> String {
    format!(
        "keyrite-step-outcome-v1\nceremony: {ceremony_id}\nstep: {step}\njournal-head: {journal_head_hex}\n"
    )
}

impl Engine {
    /// A sign-off signed on the participant's enrolled YubiKey.
    pub(super) fn yubikey_sign_off(
        &mut self,
        participant: String,
        pin: SecretText,
    ) -> Result<Progress, EngineError> {
        self.sign_off_check(&participant)?;
        let name = self
            .participant(&participant)
            .map(|p| p.name.clone())
            .unwrap_or_default();
        let Some(enrolled) = register::active(self.journal.store())?
            .into_iter()
            .find(|c| c.record.name == name)
        else {
            return Err(EngineError::BadAnswer(format!(
                "{name} ({participant}) has no enrolled YubiKey; sign off without one"
            )));
        };
        let head = self.journal.head();
        let text = step_outcome_text(&self.id, &self.step_id(), &hex::encode(head.root));
        let mut card = self.cards().open(enrolled.record.yubikey_serial)?;
        let signed = crate::custodian::signoff::sign_off(
            card.as_mut(),
            &enrolled.record,
            &bytes(&pin),
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
        self.record_sign_off(
            participant,
            Some(hex::encode(Sha256::digest(&signed.signature))),
            details,
        )
    }

    /// Checked-in custodians who have no active enrolment yet, in check-in order.
    pub(super) fn to_enrol(&self) -> Result<Vec<Participant>, EngineError> {
        let enrolled = register::active(self.journal.store())?;
        Ok(self
            .participants
            .iter()
            .filter(|p| p.role == Role::Custodian)
            .filter(|p| !enrolled.iter().any(|c| c.record.name == p.name))
            .cloned()
            .collect())
    }

    /// Custodians of this ceremony enrolled in it.
    fn enrolled_here(&self) -> usize {
        register::active(self.journal.store())
            .map(|v| {
                v.iter()
                    .filter(|c| c.ceremony_id.as_deref() == Some(self.id.as_str()))
                    .count()
            })
            .unwrap_or(0)
    }

    pub(super) fn enrol_prompt(&self) -> Prompt {
        let pending = self.to_enrol().unwrap_or_default();
        let done = self.enrolled_here();
        let next = pending.first();
        Prompt::EnrolYubiKey {
            custodian: next.map(|p| p.id.clone()).unwrap_or_default(),
            custodian_name: next.map(|p| p.name.clone()).unwrap_or_default(),
            enrolled: u8::try_from(done).unwrap_or(u8::MAX),
            count: u8::try_from(done + pending.len()).unwrap_or(u8::MAX),
        }
    }

    /// Starts the step: nothing to do when every checked-in custodian is enrolled already.
    pub(super) fn start_enrolment(&mut self) -> Result<bool, EngineError> {
        if self.to_enrol()?.is_empty() {
            return Ok(true);
        }
        self.phase = Phase::Enrol;
        Ok(false)
    }

    /// One custodian's enrolment. Refusals that need no card come first; a card error leaves
    /// the prompt as it was.
    pub(super) fn answer_enrol(&mut self, a: Answer) -> Result<Progress, EngineError> {
        let Answer::Enrol {
            serial,
            current_pin,
            new_pin,
            current_puk,
            new_puk,
            touch,
        } = a
        else {
            return Err(EngineError::BadAnswer(
                "an enrolment (YubiKey serial and PINs) is expected".into(),
            ));
        };
        let Some(who) = self.to_enrol()?.into_iter().next() else {
            return Err(EngineError::BadAnswer(
                "every checked-in custodian is enrolled".into(),
            ));
        };
        if let Some(c) = register::active(self.journal.store())?
            .into_iter()
            .find(|c| c.record.yubikey_serial == serial)
        {
            return Err(EngineError::BadAnswer(format!(
                "YubiKey {serial} is already enrolled for {} ({}); each custodian enrols their own key",
                c.record.name, c.record.custodian_id
            )));
        }
        let mut card = self.cards().open(serial)?;
        let custodian_id = format!("yk-{serial}");
        let (cur_pin, new_pin_b) = (bytes(&current_pin), bytes(&new_pin));
        let (cur_puk, new_puk_b) = (bytes(&current_puk), bytes(&new_puk));
        let e = enrol(
            card.as_mut(),
            &EnrolmentInput {
                custodian_id: &custodian_id,
                name: &who.name,
                role: CustodianRole::Custodian,
                current_pin: &cur_pin,
                new_pin: &new_pin_b,
                current_puk: &cur_puk,
                new_puk: &new_puk_b,
                current_management_key: None,
                touch,
                attestation_trust: &AttestationTrust::yubico(),
                require_attestation: self.env.profile().custodians.require_attestation,
            },
        )?;
        let text = acknowledgement_text(&self.id, &who.name, serial);
        card.verify_pin(new_pin_b.expose())?;
        let sig = card.sign_digest(&Sha256::digest(text.as_bytes()))?;
        verify(
            SignatureAlgorithm::EcdsaP256Sha256,
            &e.record.signature_spki,
            text.as_bytes(),
            &sig,
        )
        .map_err(|_| CustodianError::SignatureDoesNotVerify {
            serial,
            slot: crate::custodian::PivSlot::Signature,
        })?;
        drop(card);
        let mut replaced = Vec::new();
        if e.defaults_found.pin {
            replaced.push("PIN");
        }
        if e.defaults_found.puk {
            replaced.push("PUK");
        }
        if e.defaults_found.management_key {
            replaced.push("management key");
        }
        register::enrol_custodian(
            &mut self.journal,
            &e.record,
            Some(&self.id),
            &Acknowledgement {
                text_sha256: hex::encode(Sha256::digest(text.as_bytes())),
                signature_hex: hex::encode(&sig),
                defaults_replaced: replaced,
            },
        )?;
        if self.to_enrol()?.is_empty() {
            return self.action_finished();
        }
        Ok(Progress::Continue)
    }

    /// The card access the ceremony was given, or PC/SC.
    pub(super) fn cards(&self) -> &dyn super::CardAccess {
        static PCSC: super::PcscCards = super::PcscCards {
            wait: std::time::Duration::from_secs(120),
        };
        self.options.cards.as_deref().unwrap_or(&PCSC)
    }
}
