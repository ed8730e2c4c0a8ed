//! The `enrol-custodian` action: each checked-in custodian enrols their YubiKey, one at a
//! time, and signs their acknowledgement with it. The register ([`crate::inventory::custodians`])
//! and the journal are written in one transaction. The enrolment runner has no state of its
//! own: who is next is read from the register each time.

use sha2::{Digest, Sha256};

use super::error::EngineError;
use super::prompt::{Answer, Participant, Prompt};
use super::run::CeremonyRun;
use super::step::Next;
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

/// Checked-in custodians who have no active enrolment yet, in check-in order.
pub(super) fn to_enrol(run: &CeremonyRun) -> Result<Vec<Participant>, EngineError> {
    let enrolled = register::active(run.journal.store())?;
    Ok(run
        .participants
        .iter()
        .filter(|p| p.role == Role::Custodian)
        .filter(|p| !enrolled.iter().any(|c| c.record.name == p.name))
        .cloned()
        .collect())
}

/// Custodians of this ceremony enrolled in it.
fn enrolled_here(run: &CeremonyRun) -> usize {
    register::active(run.journal.store())
        .map(|v| {
            v.iter()
                .filter(|c| c.ceremony_id.as_deref() == Some(run.id.as_str()))
                .count()
        })
        .unwrap_or(0)
}

pub(super) fn prompt(run: &CeremonyRun) -> Prompt {
    let pending = to_enrol(run).unwrap_or_default();
    let done = enrolled_here(run);
    let next = pending.first();
    Prompt::EnrolYubiKey {
        custodian: next.map(|p| p.id.clone()).unwrap_or_default(),
        custodian_name: next.map(|p| p.name.clone()).unwrap_or_default(),
        enrolled: u8::try_from(done).unwrap_or(u8::MAX),
        count: u8::try_from(done + pending.len()).unwrap_or(u8::MAX),
    }
}

/// Starts the step: nothing to do when every checked-in custodian is enrolled already.
pub(super) fn start(run: &CeremonyRun) -> Result<Next<()>, EngineError> {
    if to_enrol(run)?.is_empty() {
        return Ok(Next::Done);
    }
    Ok(Next::Wait(()))
}

/// One custodian's enrolment. Refusals that need no card come first; a card error leaves
/// the prompt as it was.
pub(super) fn answer(run: &mut CeremonyRun, a: Answer) -> Result<Next<()>, EngineError> {
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
    let Some(who) = to_enrol(run)?.into_iter().next() else {
        return Err(EngineError::BadAnswer(
            "every checked-in custodian is enrolled".into(),
        ));
    };
    if let Some(c) = register::active(run.journal.store())?
        .into_iter()
        .find(|c| c.record.yubikey_serial == serial)
    {
        return Err(EngineError::BadAnswer(format!(
            "YubiKey {serial} is already enrolled for {} ({}); each custodian enrols their own key",
            c.record.name, c.record.custodian_id
        )));
    }
    let mut card = run.cards().open(serial)?;
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
            require_attestation: run.env.profile().custodians.require_attestation,
        },
    )?;
    let text = acknowledgement_text(&run.id, &who.name, serial);
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
        &mut run.journal,
        &e.record,
        Some(&run.id),
        &Acknowledgement {
            text_sha256: hex::encode(Sha256::digest(text.as_bytes())),
            signature_hex: hex::encode(&sig),
            defaults_replaced: replaced,
        },
    )?;
    if to_enrol(run)?.is_empty() {
        return Ok(Next::Done);
    }
    Ok(Next::Continue)
}
