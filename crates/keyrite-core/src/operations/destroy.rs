//! Quorum-gated destruction of an HSM key, behind the inventory's retention guard.

use super::gate::{failed, gate, key_ref, refuse, Quorum};
use super::{HsmAccess, OperationError};
use crate::hsm::destroy::DestructionProof;
use crate::hsm::{TokenSession, UserKind};
use crate::inventory::{self, state, KeyRecord, KeyState};
use crate::journal::{Event, Journal};
use crate::quorum::{Operation, VerifiedQuorum};

const OP: &str = "destroy";

/// A completed destruction.
#[derive(Debug, Clone)]
pub struct Destruction {
    /// Who approved.
    pub quorum: VerifiedQuorum,
    /// The token's evidence that no object of the key remains.
    pub proof: DestructionProof,
    /// The key's inventory record, now `destroyed`.
    pub record: KeyRecord,
}

pub(crate) fn inventory_record(
    journal: &mut Journal,
    operation: &'static str,
    key_id: &str,
) -> Result<KeyRecord, OperationError> {
    match inventory::get(journal.store(), key_id) {
        Ok(Some(r)) => Ok(r),
        Ok(None) => Err(refuse(
            journal,
            operation,
            key_id,
            None,
            None,
            "it is not in the inventory".into(),
        )),
        Err(source) => Err(OperationError::Inventory {
            operation,
            key_id: key_id.into(),
            source: Box::new(source),
        }),
    }
}

pub(crate) fn login(
    journal: &mut Journal,
    hsm: &HsmAccess<'_>,
    operation: &'static str,
    key_id: &str,
    user: UserKind,
) -> Result<TokenSession, OperationError> {
    let pin = match user {
        UserKind::User => Some(hsm.user_pin),
        UserKind::So => hsm.so_pin,
    };
    let Some(pin) = pin else {
        return Err(refuse(
            journal,
            operation,
            key_id,
            None,
            None,
            format!("the {user} PIN is needed and was not given"),
        ));
    };
    TokenSession::login(hsm.module, &hsm.token, user, pin)
        .map(|(s, _)| s)
        .map_err(|source| {
            failed(
                journal,
                operation,
                key_id,
                OperationError::Hsm {
                    operation,
                    key_id: key_id.into(),
                    source: Box::new(source),
                },
            )
        })
}

/// Destroys inventory key `key_id` on its token once `quorum` holds, with proof.
///
/// Refused (journaled, token untouched) when the key is unknown or already final, when it
/// still wraps live backups or protects retained data (the message names every dependant),
/// when the request names another operation, key or token, or when the quorum fails.
pub fn destroy_key(
    journal: &mut Journal,
    hsm: &HsmAccess<'_>,
    quorum: &Quorum<'_>,
    key_id: &str,
    actor: &str,
) -> Result<Destruction, OperationError> {
    let rec = inventory_record(journal, OP, key_id)?;
    if state::allowed(rec.state, KeyState::Destroyed).is_none() {
        let reason = format!("it is {} and cannot be destroyed", rec.state);
        return Err(refuse(journal, OP, key_id, None, None, reason));
    }
    if let Err(e) = inventory::retention_guard(journal.store(), key_id) {
        let reason = match e {
            inventory::InventoryError::StillNeeded { dependants, .. } => {
                format!("{dependants}; restore or retire those first")
            }
            other => other.to_string(),
        };
        return Err(refuse(journal, OP, key_id, None, None, reason));
    }
    let expected = key_ref(&rec).map_err(|e| {
        refuse(
            journal,
            OP,
            key_id,
            None,
            None,
            format!("its inventory record cannot be approved: {e}"),
        )
    })?;
    let session = login(journal, hsm, OP, key_id, UserKind::User)?;
    if session.token().serial != rec.token_serial {
        let reason = format!(
            "the key is recorded on token {}, but the session is on {}",
            rec.token_serial,
            session.name()
        );
        return Err(refuse(journal, OP, key_id, None, None, reason));
    }
    let verified = gate(
        journal,
        quorum,
        Operation::Destroy,
        OP,
        key_id,
        &expected,
        &rec.token_serial,
    )?;
    let proof = crate::hsm::destroy::destroy_key(&session, &rec.label).map_err(|source| {
        failed(
            journal,
            OP,
            key_id,
            OperationError::Hsm {
                operation: OP,
                key_id: key_id.into(),
                source: Box::new(source),
            },
        )
    })?;
    let record = record_destruction(journal, &rec, &proof, actor)?;
    Ok(Destruction {
        quorum: verified,
        proof,
        record,
    })
}

/// Journals `key_destroyed` with the proof and moves the inventory to destroyed.
pub(crate) fn record_destruction(
    journal: &mut Journal,
    rec: &KeyRecord,
    proof: &DestructionProof,
    actor: &str,
) -> Result<KeyRecord, OperationError> {
    let after = |reason: String| OperationError::RecordAfter {
        operation: OP,
        key_id: rec.key_id.clone(),
        reason,
    };
    let proof_json = serde_json::to_value(proof).map_err(|e| after(e.to_string()))?;
    journal
        .append(Event::KeyDestroyed {
            key_id: rec.key_id.clone(),
            token_serial: rec.token_serial.clone(),
            cka_id: rec.cka_id.clone(),
            proof: proof_json,
        })
        .map_err(|e| after(e.to_string()))?;
    inventory::transition(
        journal,
        &rec.key_id,
        KeyState::Destroyed,
        "destroyed by quorum",
        actor,
    )
    .map_err(|e| after(e.to_string()))
}
