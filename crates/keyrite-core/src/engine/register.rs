//! The engine enters what it makes into the key inventory: every generated or imported key
//! (active at once: a ceremony generates keys to use them), every backup, and the share set
//! protecting the root KEK. Quorum operations find their keys there.

use super::error::EngineError;
use super::run::CeremonyRun;
use crate::hsm::keygen::KeyEvidence;
use crate::hsm::policy::KeyPolicy;
use crate::inventory::{self, KeyState, KeyType, NewKey};
use crate::operations::kek_fingerprint;

impl CeremonyRun {
    /// A key id no inventory entry has ([`inventory::free_key_id`]).
    pub(super) fn free_key_id(&self, label: &str) -> Result<String, EngineError> {
        Ok(inventory::free_key_id(self.journal.store(), label)?)
    }

    /// Registers a key the ceremony made and activates it; returns its inventory id.
    pub(super) fn register_key(
        &mut self,
        ev: &KeyEvidence,
        policy: &KeyPolicy,
        token_serial: &str,
        share_set: Option<&str>,
    ) -> Result<String, EngineError> {
        let key_id = self.free_key_id(&ev.label)?;
        let fingerprint = ev
            .spki_sha256
            .clone()
            .or_else(|| ev.kcv.as_ref().map(|k| kek_fingerprint(&k.value)));
        let reason = format!("made in ceremony {}", self.id);
        let actor = self.actor_id();
        inventory::register(
            &mut self.journal,
            NewKey {
                key_id: key_id.clone(),
                label: ev.label.clone(),
                purpose: policy.description.clone(),
                key_type: KeyType::for_policy(policy),
                algorithm: ev.key.name().into(),
                token_serial: token_serial.into(),
                cka_id: ev.id.clone(),
                fingerprint,
                cryptoperiod_days: None,
                justification: None,
            },
            &actor,
        )?;
        if let Some(set) = share_set {
            inventory::set_share_set(&mut self.journal, &key_id, set)?;
        }
        inventory::transition(
            &mut self.journal,
            &key_id,
            KeyState::Active,
            &reason,
            &actor,
        )?;
        Ok(key_id)
    }

    /// The active inventory id of the key labelled `label` on token `serial`, if any.
    pub(super) fn active_key_id(&self, label: &str, serial: &str) -> Option<String> {
        inventory::list(self.journal.store())
            .ok()?
            .into_iter()
            .find(|r| r.label == label && r.token_serial == serial && r.state == KeyState::Active)
            .map(|r| r.key_id)
    }

    /// Records a backup file in the inventory when both keys are known there.
    pub(super) fn register_backup(
        &mut self,
        backup_id: &str,
        key: &str,
        wrap_key: &str,
        serial: &str,
        location: &str,
    ) -> Result<(), EngineError> {
        if let (Some(k), Some(w)) = (
            self.active_key_id(key, serial),
            self.active_key_id(wrap_key, serial),
        ) {
            inventory::add_backup(&mut self.journal, backup_id, &k, &w, location)?;
        }
        Ok(())
    }
}
