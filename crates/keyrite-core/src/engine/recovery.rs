//! The `recover` action: K custodians open their shares of the root KEK's current share set,
//! each with their own YubiKey and PIN (the shares are sealed to their 9d keys); the engine
//! rebuilds the root KEK into this token ([`crate::operations::recover_root_kek`], which checks
//! it against the recorded fingerprint) and restores every live backup made under it, so the
//! record-signing key is back before the checkpoint and the record.
//!
//! Faces see the same [`Prompt::Approval`] as for other quorum steps (operation `recover`):
//! an "approval" here is a custodian opening their share.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::prompt::{ApprovalPrompt, Progress, Prompt};
use super::state::{Engine, Phase};
use super::EngineError;
use crate::hsm::{TokenSession, UserKind};
use crate::inventory::custodians as register;
use crate::inventory::{self, KeyRecord, KeyState, KeyType};
use crate::journal::Event;
use crate::operations::{open_sealed_share, recover_root_kek, restore_backup, HsmAccess};
use crate::script::Role;
use crate::secret::{SecretBytes, SecretText};
use crate::shares::Share;

/// Shares being opened for the current recovery step.
pub(super) struct RecoveryRun {
    kek: KeyRecord,
    set_id: String,
    /// custodian id → (share index, sealed file).
    sealed: BTreeMap<String, (u8, PathBuf)>,
    opened: Vec<(String, Share)>,
    failures: Vec<(String, String)>,
}

impl Engine {
    /// Opens share `i` of `set`, sealed to its holder's YubiKey, with their card and PIN.
    pub(super) fn open_with_yubikey(
        &self,
        set: &super::state::SetRecord,
        i: u8,
        pin: &SecretText,
    ) -> Result<Share, EngineError> {
        let bad = |m: String| EngineError::BadAnswer(m);
        let holder = set
            .holders
            .get(&i)
            .ok_or_else(|| bad(format!("share {i} is not sealed to a YubiKey")))?;
        let rec = register::get(self.journal.store(), holder)?
            .map(|c| c.record)
            .ok_or_else(|| bad(format!("{holder} is not an enrolled custodian")))?;
        let file = set
            .distributed
            .get(&i)
            .cloned()
            .flatten()
            .ok_or_else(|| bad(format!("share {i} has no sealed file")))?;
        let sealed = std::fs::read(&file)
            .map_err(|e| bad(format!("cannot read sealed share {file}: {e}")))?;
        let mut card = self.cards().open(rec.yubikey_serial)?;
        let pin = SecretBytes::from_slice(pin.expose().as_bytes());
        open_sealed_share(card.as_mut(), &rec, &pin, &sealed).map_err(|e| bad(e.to_string()))
    }

    /// The root KEK to recover: the newest active root KEK labelled `label` or a rotation of
    /// it (`label-rN`), on any token.
    fn kek_to_recover(&self, label: &str) -> Result<KeyRecord, String> {
        let rotated = format!("{label}-r");
        inventory::list(self.journal.store())
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|r| r.key_type == KeyType::SymmetricKeyWrapping.name())
            .filter(|r| r.share_set_id.is_some() && r.state == KeyState::Active)
            .filter(|r| r.label == label || r.label.starts_with(&rotated))
            .max_by(|a, b| a.created.cmp(&b.created))
            .ok_or_else(|| {
                format!("the inventory has no active root KEK \"{label}\" protected by a share set to recover")
            })
    }

    /// The shares of `set_id` sealed to custodians' YubiKeys, from the journal.
    fn sealed_shares(&self, set_id: &str) -> Result<BTreeMap<String, (u8, PathBuf)>, String> {
        let mut out = BTreeMap::new();
        self.journal
            .for_each_selected(
                &crate::journal::Select::kinds(&["share_distributed"]),
                0,
                |e| {
                    if let Event::ShareDistributed {
                        set_id: s,
                        index,
                        custodian_id,
                        sealed_file: Some(f),
                        ..
                    } = e.event()?
                    {
                        if s == set_id && custodian_id.starts_with("yk-") {
                            out.insert(custodian_id, (index, PathBuf::from(f)));
                        }
                    }
                    Ok(())
                },
            )
            .map_err(|e| e.to_string())?;
        Ok(out)
    }

    /// Starts the step: PINs, then the custodians open their shares.
    pub(super) fn recover_action(&mut self, label: &str) -> Result<(), String> {
        if self.need_pin(
            UserKind::So,
            &format!("import the recovered root KEK \"{label}\""),
        ) {
            return Ok(());
        }
        if self.need_pin(
            UserKind::User,
            "restore the backups under the recovered root KEK",
        ) {
            return Ok(());
        }
        if self.recovery.is_none() {
            let kek = self.kek_to_recover(label)?;
            let set_id = kek.share_set_id.clone().unwrap_or_default();
            let sealed = self.sealed_shares(&set_id)?;
            let k = self.script.roles.custodians.map(|t| t.k()).unwrap_or(0);
            if sealed.len() < usize::from(k) {
                return Err(format!(
                    "share set {set_id} of root KEK \"{}\" has {} share(s) sealed to custodians' YubiKeys, fewer than the {k} needed; recover it from the custodians' share cards instead",
                    kek.label,
                    sealed.len()
                ));
            }
            self.recovery = Some(RecoveryRun {
                kek,
                set_id,
                sealed,
                opened: Vec::new(),
                failures: Vec::new(),
            });
        }
        self.phase = Phase::Unseal;
        Ok(())
    }

    pub(super) fn unseal_prompt(&self) -> Prompt {
        let Some(r) = &self.recovery else {
            return Prompt::Instructions {
                step: self.step_id(),
                title: "No recovery is open".into(),
                text: "Proceed to start the recovery again.".into(),
            };
        };
        let enrolled = register::active(self.journal.store()).unwrap_or_default();
        let (approved, candidates): (Vec<_>, Vec<_>) = enrolled
            .iter()
            .filter(|c| r.sealed.contains_key(&c.record.custodian_id))
            .map(|c| self.approver(c))
            .partition(|a| r.opened.iter().any(|(id, _)| *id == a.custodian_id));
        let set = hex::decode(&r.set_id).unwrap_or_default();
        Prompt::Approval(ApprovalPrompt {
            step: self.step_id(),
            operation: "recover".into(),
            key_label: r.kek.label.clone(),
            request_text: format!(
                "Recover root KEK \"{}\" (inventory key {}) into token {} from share set {} ({}): each custodian opens their sealed share with their YubiKey and PIN.",
                r.kek.label,
                r.kek.key_id,
                self.selector,
                r.set_id,
                crate::words::short_words(&set, 4)
            ),
            hash_words: crate::words::short_words(&set, 4),
            request_sha256: r.set_id.clone(),
            needed: usize::from(self.script.roles.custodians.map(|t| t.k()).unwrap_or(0)),
            approved,
            candidates,
            failures: r
                .failures
                .iter()
                .map(|(who, why)| format!("{who}: {why}"))
                .collect(),
            expires_at: 0,
        })
    }

    /// One custodian opens their share.
    pub(super) fn open_share(
        &mut self,
        custodian_id: &str,
        pin: SecretText,
    ) -> Result<Progress, EngineError> {
        let bad = |m: String| Err(EngineError::BadAnswer(m));
        let Some(r) = &self.recovery else {
            return bad("no recovery is open".into());
        };
        let Some(rec) = register::get(self.journal.store(), custodian_id)?
            .filter(|c| c.retired.is_none())
            .map(|c| c.record)
        else {
            return bad(format!(
                "{custodian_id} is not an active enrolled custodian"
            ));
        };
        let Some((_, file)) = r.sealed.get(custodian_id).cloned() else {
            return bad(format!(
                "{} ({custodian_id}) holds no sealed share of set {}",
                rec.name, r.set_id
            ));
        };
        if r.opened.iter().any(|(id, _)| id == custodian_id) {
            return bad(format!(
                "{} ({custodian_id}) has already opened their share",
                rec.name
            ));
        }
        if !self
            .participants
            .iter()
            .any(|p| p.role == Role::Custodian && p.name == rec.name)
        {
            return bad(format!(
                "{} ({custodian_id}) has not checked in to this ceremony: only custodians in the room open shares",
                rec.name
            ));
        }
        let sealed = std::fs::read(&file).map_err(|e| {
            EngineError::Io(format!(
                "cannot read the sealed share of {custodian_id} at {}: {e}",
                file.display()
            ))
        })?;
        let pin = SecretBytes::from_slice(pin.expose().as_bytes());
        let opened = self
            .cards()
            .open(rec.yubikey_serial)
            .map_err(|e| e.to_string())
            .and_then(|mut card| {
                open_sealed_share(card.as_mut(), &rec, &pin, &sealed).map_err(|e| e.to_string())
            });
        let r = self
            .recovery
            .as_mut()
            .ok_or_else(|| EngineError::BadAnswer("no recovery is open".into()))?;
        match opened {
            Ok(share) => r.opened.push((custodian_id.to_string(), share)),
            Err(e) => {
                r.failures.push((custodian_id.to_string(), e.clone()));
                return Err(EngineError::BadAnswer(e));
            }
        }
        let k = usize::from(self.script.roles.custodians.map(|t| t.k()).unwrap_or(0));
        if r.opened.len() >= k {
            return self.finish_recovery();
        }
        Ok(Progress::Continue)
    }

    /// K shares are open: rebuild, import, restore the backups.
    pub(super) fn finish_recovery(&mut self) -> Result<Progress, EngineError> {
        let Some(r) = self.recovery.take() else {
            return Err(EngineError::BadAnswer("no recovery is open".into()));
        };
        let Some(step) = self.current().cloned() else {
            return Err(EngineError::BadAnswer("no step is running".into()));
        };
        let expected = format!("{} ({}) succeeds", step.title, step.action.kind());
        for (who, why) in &r.failures {
            self.journal.append(Event::ApprovalRefused {
                request_id: r.set_id.chars().take(16).collect(),
                custodian_id: who.clone(),
                reason: format!("opening the sealed share failed: {why}"),
            })?;
        }
        match self.rebuild(r) {
            Ok(()) => self.action_finished(),
            Err(happened) => self.raise(&expected, &happened),
        }
    }

    fn rebuild(&mut self, r: RecoveryRun) -> Result<(), String> {
        let k = usize::from(self.script.roles.custodians.map(|t| t.k()).unwrap_or(0));
        if r.opened.len() < k {
            return Err(format!(
                "{} of the {k} shares needed were opened; the root KEK was not rebuilt",
                r.opened.len()
            ));
        }
        let policies =
            crate::hsm::sitedata::policies_for(self.env.profile()).map_err(|e| e.to_string())?;
        let quirks =
            crate::hsm::sitedata::quirks_for(self.env.profile()).map_err(|e| e.to_string())?;
        let (Some(user), Some(so)) = (self.user_pin.take(), self.so_pin.take()) else {
            return Err("the SO and user PINs are not known".into());
        };
        let backups = self.live_backups(&r.kek.key_id);
        let actor = self.actor_id();
        let new_id = self.free_key_id(&r.kek.label).map_err(|e| e.to_string())?;
        let result = (|| -> Result<Option<crate::hsm::keygen::KeyEvidence>, String> {
            let backups = backups?;
            let hsm = HsmAccess {
                module: &self.module,
                token: self.selector.clone(),
                user_pin: &user,
                so_pin: Some(&so),
                policies: &policies,
                quirks: &quirks,
                protection: crate::hsm::protection::ProtectionRule::of(self.env.profile()),
            };
            recover_root_kek(
                &mut self.journal,
                &hsm,
                &r.kek.key_id,
                &new_id,
                &r.kek.label,
                r.opened,
                &actor,
            )
            .map_err(|e| e.to_string())?;
            let s = TokenSession::login(&self.module, &self.selector, UserKind::User, &user)
                .map(|(s, _)| s)
                .map_err(|e| e.to_string())?;
            let mut signing = None;
            for b in &backups {
                let ev = restore_backup(
                    &mut self.journal,
                    &s,
                    &hsm,
                    &b.backup_id,
                    &b.source_name,
                    &b.backup,
                    &r.kek.label,
                )
                .map_err(|e| e.to_string())?;
                if b.backup.policy == "record-signing" {
                    signing = Some(ev);
                }
            }
            Ok(signing)
        })();
        self.user_pin = Some(user);
        self.so_pin = Some(so);
        // Certificates are not backed up: the restored record-signing key gets a new one.
        if let Some(ev) = result? {
            self.certify_record_signing(&ev.label, &ev.id)?;
        }
        Ok(())
    }
}
