//! Quorum-gated rotation of an HSM key: a replacement is generated under the same policy, the
//! old key is deactivated (kept for retention, not destroyed) and the inventory links them.

use serde_json::json;

use super::destroy::{inventory_record, login};
use super::gate::{failed, gate, key_ref, refuse, Quorum};
use super::{HsmAccess, OperationError};
use crate::hsm::keygen::{generate, KeyEvidence};
use crate::hsm::UserKind;
use crate::inventory::{self, KeyRecord, KeyState, KeyType, NewKey};
use crate::journal::{Event, Journal};
use crate::quorum::{Operation, VerifiedQuorum};

const OP: &str = "rotate";

/// The replacement key: its inventory id, label and the policy both keys are made under.
#[derive(Debug, Clone)]
pub struct Replacement<'a> {
    /// New inventory key id.
    pub key_id: &'a str,
    /// New `CKA_LABEL`.
    pub label: &'a str,
    /// Key policy name (must make keys of the old key's algorithm).
    pub policy: &'a str,
}

/// A completed rotation.
#[derive(Debug, Clone)]
pub struct KeyRotation {
    /// Who approved.
    pub quorum: VerifiedQuorum,
    /// The replacement's read-back evidence.
    pub evidence: KeyEvidence,
    /// The old key, now deactivated.
    pub old: KeyRecord,
    /// The new key, now active.
    pub new: KeyRecord,
}

/// Rotates inventory key `key_id` once `quorum` holds.
pub fn rotate_key(
    journal: &mut Journal,
    hsm: &HsmAccess<'_>,
    quorum: &Quorum<'_>,
    key_id: &str,
    replacement: &Replacement<'_>,
    actor: &str,
) -> Result<KeyRotation, OperationError> {
    let rec = inventory_record(journal, OP, key_id)?;
    if !matches!(rec.state, KeyState::Active | KeyState::Suspended) {
        let reason = format!(
            "it is {}; only an active or suspended key is rotated",
            rec.state
        );
        return Err(refuse(journal, OP, key_id, None, None, reason));
    }
    let policy = match hsm.policies.get(replacement.policy) {
        Ok(p) if p.key.name() == rec.algorithm => p,
        Ok(p) => {
            let reason = format!(
                "policy \"{}\" makes {} keys but the key is {}",
                p.name,
                p.key.name(),
                rec.algorithm
            );
            return Err(refuse(journal, OP, key_id, None, None, reason));
        }
        Err(e) => return Err(refuse(journal, OP, key_id, None, None, e.to_string())),
    };
    let Some(key_type) = KeyType::from_name(&rec.key_type) else {
        let reason = format!("its inventory key type \"{}\" is unknown", rec.key_type);
        return Err(refuse(journal, OP, key_id, None, None, reason));
    };
    if let Ok(Some(existing)) = inventory::get(journal.store(), replacement.key_id) {
        let reason = format!(
            "the replacement id {} is already in the inventory (state {})",
            existing.key_id, existing.state
        );
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
    let verified = gate(
        journal,
        quorum,
        Operation::Rotate,
        OP,
        key_id,
        &expected,
        &rec.token_serial,
    )?;
    let evidence = generate(&session, policy, replacement.label, hsm.quirks).map_err(|source| {
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
    let recorded = (|| -> Result<(KeyRecord, KeyRecord), inventory::InventoryError> {
        inventory::register(
            journal,
            NewKey {
                key_id: replacement.key_id.into(),
                label: replacement.label.into(),
                purpose: rec.purpose.clone(),
                key_type,
                algorithm: rec.algorithm.clone(),
                token_serial: session.token().serial.clone(),
                cka_id: evidence.id.clone(),
                fingerprint: evidence.spki_sha256.clone(),
                cryptoperiod_days: Some(rec.cryptoperiod_days),
                justification: rec.justification.clone(),
            },
            actor,
        )?;
        let new = inventory::transition(
            journal,
            replacement.key_id,
            KeyState::Active,
            "replaces rotated key",
            actor,
        )?;
        journal.append_with_details(
            Event::Note {
                kind: "key_replaced".into(),
            },
            json!({"key_id": key_id, "replaced_by": replacement.key_id, "policy": policy.name}),
        )?;
        let old = inventory::transition(
            journal,
            key_id,
            KeyState::Deactivated,
            &format!("rotated: replaced by {}", replacement.key_id),
            actor,
        )?;
        Ok((old, new))
    })();
    match recorded {
        Ok((old, new)) => Ok(KeyRotation {
            quorum: verified,
            evidence,
            old,
            new,
        }),
        Err(e) => {
            // Nothing may exist on the token that the inventory does not know: remove the
            // replacement unless it was registered.
            let registered = matches!(
                inventory::get(journal.store(), replacement.key_id),
                Ok(Some(_))
            );
            if !registered && crate::hsm::destroy::destroy_key(&session, replacement.label).is_ok()
            {
                return Err(failed(
                    journal,
                    OP,
                    key_id,
                    OperationError::Inventory {
                        operation: OP,
                        key_id: key_id.into(),
                        source: Box::new(e),
                    },
                ));
            }
            Err(OperationError::RecordAfter {
                operation: OP,
                key_id: key_id.into(),
                reason: e.to_string(),
            })
        }
    }
}
