//! Quorum steps (`rotate`, `destroy`): choose the key, make the [`ApprovalRequest`] at the
//! journal's current head, collect K custodians' YubiKey signatures one at a time, then hand
//! everything to [`crate::operations`], which checks the quorum again immediately before the
//! PKCS#11 call and journals the request, the approvals or the refusal.
//!
//! Nothing is journaled while approvals are collected: any append would move the journal
//! head and void the request. Failed attempts (wrong PIN, wrong card) are kept and journaled
//! as `approval_refused` right after the operation ran or was refused.

use std::path::PathBuf;

use serde_json::json;

use super::prompt::{Answer, ApprovalPrompt, Approver, KeyChoice, Progress, Prompt};
use super::state::{Engine, Phase};
use super::EngineError;
use crate::hsm::backup::KeyBackup;
use crate::hsm::objects::describe_key;
use crate::hsm::policy::PolicySet;
use crate::hsm::quirks::Quirks;
use crate::hsm::UserKind;
use crate::inventory::custodians as register;
use crate::inventory::{self, KeyRecord, KeyState, KeyType};
use crate::journal::Event;
use crate::operations::{
    destroy_key, new_request, replace_root_kek, rotate_key, HsmAccess, LiveBackup, NewKek, Quorum,
    Replacement, RootKekRotation,
};
use crate::quorum::{Approval, ApprovalRequest, Operation, QuorumPolicy};
use crate::script::{Action, Role};
use crate::secret::SecretBytes;
use crate::words::short_words;
use sha2::{Digest, Sha256};

/// How long custodians have to approve a request.
const REQUEST_LIFETIME_SECONDS: u64 = 3600;

/// Approvals being collected for the current step.
pub(super) struct QuorumRun {
    key_id: String,
    policy: QuorumPolicy,
    request: ApprovalRequest,
    approvals: Vec<Approval>,
    failures: Vec<(String, String)>,
}

/// What the step does to the chosen key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Rotate,
    Destroy,
    /// Replace the custodian set: the root KEK is rotated and its new shares go to the
    /// custodians in the room; enrolled custodians who are not there are retired.
    Replace,
}

impl Op {
    fn of(action: &Action) -> Option<(Op, Option<&str>)> {
        match action {
            Action::Rotate { key, .. } => Some((Op::Rotate, key.as_deref())),
            Action::Destroy { key, .. } => Some((Op::Destroy, key.as_deref())),
            Action::ReplaceCustodian => Some((Op::Replace, None)),
            _ => None,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Op::Rotate => "rotate",
            Op::Destroy => "destroy",
            Op::Replace => "replace-custodian",
        }
    }
    fn allows(self, state: KeyState) -> bool {
        match self {
            Op::Rotate => matches!(state, KeyState::Active | KeyState::Suspended),
            Op::Destroy => inventory::state::allowed(state, KeyState::Destroyed).is_some(),
            Op::Replace => state == KeyState::Active,
        }
    }
}

/// A root KEK is the inventory's key-wrapping key protected by a share set.
fn is_root_kek(rec: &KeyRecord) -> bool {
    rec.key_type == KeyType::SymmetricKeyWrapping.name() && rec.share_set_id.is_some()
}

fn fingerprint_words(rec: &KeyRecord) -> String {
    rec.fingerprint
        .as_deref()
        .and_then(|f| hex::decode(f).ok())
        .map(|d| short_words(&d, 4))
        .unwrap_or_else(|| "(no fingerprint)".into())
}

impl Engine {
    fn token_serial(&self) -> Option<String> {
        self.module
            .find_token(&self.selector)
            .ok()
            .map(|(_, t)| t.serial)
    }

    /// Inventory keys on this token that `op` may act on.
    fn candidates(&self, op: Op) -> Vec<KeyRecord> {
        let serial = self.token_serial();
        inventory::list(self.journal.store())
            .unwrap_or_default()
            .into_iter()
            .filter(|r| Some(&r.token_serial) == serial.as_ref() && op.allows(r.state))
            .filter(|r| op != Op::Replace || is_root_kek(r))
            .collect()
    }

    /// The key named by the script (`key` = label or inventory id) or chosen at the screen.
    fn resolve_key(&self, op: Op, named: Option<&str>) -> Result<Option<KeyRecord>, String> {
        let Some(name) = named.or(self.chosen_key.as_deref()) else {
            // Resharing acts on the root KEK: the one active on this token, if there is one.
            if let (Op::Replace, [one]) = (op, self.candidates(op).as_slice()) {
                return Ok(Some(one.clone()));
            }
            return Ok(None);
        };
        let found: Vec<KeyRecord> = self
            .candidates(op)
            .into_iter()
            .filter(|r| r.key_id == name || r.label == name)
            .collect();
        match found.as_slice() {
            [one] => Ok(Some(one.clone())),
            [] => Err(format!(
                "no key \"{name}\" on this token can be {}d now (it is not in the inventory, or its state does not allow it); `keyrite inventory list` shows the keys",
                op.name()
            )),
            _ => Err(format!(
                "\"{name}\" names {} keys in the inventory; give the inventory key id",
                found.len()
            )),
        }
    }

    pub(super) fn choose_key_prompt(&self) -> Prompt {
        let op = self
            .current()
            .and_then(|s| Op::of(&s.action))
            .map(|(o, _)| o)
            .unwrap_or(Op::Rotate);
        Prompt::ChooseKey {
            step: self.step_id(),
            operation: op.name().into(),
            candidates: self
                .candidates(op)
                .iter()
                .map(|r| KeyChoice {
                    key_id: r.key_id.clone(),
                    label: r.label.clone(),
                    algorithm: r.algorithm.clone(),
                    state: r.state.to_string(),
                    fingerprint_words: fingerprint_words(r),
                })
                .collect(),
        }
    }

    /// An enrolled custodian as the approval prompt shows them.
    pub(super) fn approver(&self, c: &register::EnrolledCustodian) -> Approver {
        Approver {
            custodian_id: c.record.custodian_id.clone(),
            name: c.record.name.clone(),
            yubikey_serial: c.record.yubikey_serial,
            checked_in: self
                .participants
                .iter()
                .any(|p| p.role == Role::Custodian && p.name == c.record.name),
        }
    }

    pub(super) fn approval_prompt(&self) -> Prompt {
        let Some(q) = &self.quorum else {
            return Prompt::Instructions {
                step: self.step_id(),
                title: "No approval request is open".into(),
                text: "Proceed to make the request again.".into(),
            };
        };
        let enrolled = register::active(self.journal.store()).unwrap_or_default();
        let (approved, candidates): (Vec<_>, Vec<_>) = enrolled
            .iter()
            .filter(|c| q.policy.custodians().contains(&c.record))
            .map(|c| self.approver(c))
            .partition(|a| q.approvals.iter().any(|x| x.custodian_id == a.custodian_id));
        let label = inventory::get(self.journal.store(), &q.key_id)
            .ok()
            .flatten()
            .map(|r| r.label)
            .unwrap_or_default();
        Prompt::Approval(ApprovalPrompt {
            step: self.step_id(),
            operation: q.request.operation.as_str().into(),
            key_label: label,
            request_text: q.request.in_words(),
            hash_words: q.request.short_hash_words(),
            request_sha256: hex::encode(q.request.sha256()),
            needed: q.policy.threshold(),
            approved,
            candidates,
            failures: q
                .failures
                .iter()
                .map(|(who, why)| format!("{who}: {why}"))
                .collect(),
            expires_at: q.request.expires_at,
        })
    }

    /// Runs a quorum step as far as it can without people: key, PINs, request.
    pub(super) fn quorum_action(&mut self, action: &Action) -> Result<bool, String> {
        let Some((op, named)) = Op::of(action) else {
            return Err(format!(
                "action {} has no quorum integration in the engine yet; skip the step by exception and run the operation with `keyrite` once it has",
                action.kind()
            ));
        };
        let Some(rec) = self.resolve_key(op, named)? else {
            self.phase = Phase::ChooseKey;
            return Ok(false);
        };
        if self.need_pin(
            UserKind::User,
            &format!("{} key \"{}\"", op.name(), rec.label),
        ) {
            return Ok(false);
        }
        if op != Op::Destroy
            && is_root_kek(&rec)
            && self.need_pin(
                UserKind::So,
                &format!("import the new root KEK replacing \"{}\"", rec.label),
            )
        {
            return Ok(false);
        }
        if self.quorum.as_ref().is_none_or(|q| q.key_id != rec.key_id) {
            let Some(t) = self.script.roles.custodians else {
                return Err("the script declares no custodians to approve".into());
            };
            let mut enrolled: Vec<_> = register::active(self.journal.store())
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|c| c.record)
                .collect();
            if op == Op::Replace {
                // The new set is exactly the enrolled custodians in the room.
                enrolled.retain(|c| {
                    self.participants
                        .iter()
                        .any(|p| p.role == Role::Custodian && p.name == c.name)
                });
                if enrolled.len() != usize::from(t.n()) {
                    return Err(format!(
                        "{} of the checked-in custodians are enrolled, but the new share set needs {}: enrol the new custodian's YubiKey first",
                        enrolled.len(),
                        t.n()
                    ));
                }
            }
            if enrolled.len() < usize::from(t.k()) {
                return Err(format!(
                    "{} custodian(s) are enrolled but the quorum needs {} of {}: run the custodian-enrolment ceremony first",
                    enrolled.len(),
                    t.k(),
                    t.n()
                ));
            }
            let policy =
                QuorumPolicy::new(usize::from(t.k()), enrolled).map_err(|e| e.to_string())?;
            let operation = match op {
                Op::Rotate => Operation::Rotate,
                Op::Destroy => Operation::Destroy,
                Op::Replace => Operation::ReplaceCustodian,
            };
            let step_no = u32::try_from(self.step + 1).unwrap_or(u32::MAX);
            let request = new_request(
                &self.journal,
                operation,
                &rec,
                &self.id,
                step_no,
                crate::operations::now_unix() + REQUEST_LIFETIME_SECONDS,
            )
            .map_err(|e| e.to_string())?;
            self.quorum = Some(QuorumRun {
                key_id: rec.key_id.clone(),
                policy,
                request,
                approvals: Vec::new(),
                failures: Vec::new(),
            });
        }
        self.phase = Phase::Approve;
        Ok(false)
    }

    /// Answers to the choose-key and approval prompts.
    pub(super) fn answer_quorum(&mut self, a: Answer) -> Result<Progress, EngineError> {
        match (&self.phase, a) {
            (Phase::ChooseKey, Answer::ChooseKey { key_id }) => {
                let op = self
                    .current()
                    .and_then(|s| Op::of(&s.action))
                    .map(|(o, _)| o)
                    .unwrap_or(Op::Rotate);
                if !self.candidates(op).iter().any(|r| r.key_id == key_id) {
                    return Err(EngineError::BadAnswer(format!(
                        "key {key_id} is not one of the keys this step may {}",
                        op.name()
                    )));
                }
                self.chosen_key = Some(key_id);
                self.phase = super::state::Phase::Instructions;
                self.run_action()
            }
            (Phase::Approve, Answer::Approve { custodian_id, pin }) => {
                self.collect_approval(&custodian_id, pin)
            }
            (Phase::Approve, Answer::SubmitApprovals) => self.finish_quorum(),
            (Phase::Unseal, Answer::Approve { custodian_id, pin }) => {
                self.open_share(&custodian_id, pin)
            }
            (Phase::Unseal, Answer::SubmitApprovals) => self.finish_recovery(),
            _ => Err(EngineError::BadAnswer(
                "a key choice or an approval is expected".into(),
            )),
        }
    }

    fn collect_approval(
        &mut self,
        custodian_id: &str,
        pin: crate::secret::SecretText,
    ) -> Result<Progress, EngineError> {
        let Some(q) = &self.quorum else {
            return Err(EngineError::BadAnswer("no approval request is open".into()));
        };
        let Some(rec) = q
            .policy
            .custodians()
            .iter()
            .find(|c| c.custodian_id == custodian_id)
            .cloned()
        else {
            return Err(EngineError::BadAnswer(format!(
                "{custodian_id} is not an enrolled custodian of this quorum"
            )));
        };
        if q.approvals.iter().any(|a| a.custodian_id == custodian_id) {
            return Err(EngineError::BadAnswer(format!(
                "{} ({custodian_id}) has already approved this request: each custodian counts once",
                rec.name
            )));
        }
        if !self
            .participants
            .iter()
            .any(|p| p.role == Role::Custodian && p.name == rec.name)
        {
            return Err(EngineError::BadAnswer(format!(
                "{} ({custodian_id}) has not checked in to this ceremony: only custodians in the room approve",
                rec.name
            )));
        }
        let request = q.request.clone();
        let pin = SecretBytes::from_slice(pin.expose().as_bytes());
        let signed = self
            .cards()
            .open(rec.yubikey_serial)
            .and_then(|mut card| crate::quorum::approve(card.as_mut(), &rec, &pin, &request));
        let q = self
            .quorum
            .as_mut()
            .ok_or_else(|| EngineError::BadAnswer("no approval request is open".into()))?;
        match signed {
            Ok(a) => q.approvals.push(a),
            Err(e) => {
                q.failures.push((custodian_id.to_string(), e.to_string()));
                return Err(e.into());
            }
        }
        if q.approvals.len() >= q.policy.threshold() {
            return self.finish_quorum();
        }
        Ok(Progress::Continue)
    }

    /// Hands the request and approvals to the operation; the quorum is checked there, right
    /// before the PKCS#11 call.
    fn finish_quorum(&mut self) -> Result<Progress, EngineError> {
        let Some(q) = self.quorum.take() else {
            return Err(EngineError::BadAnswer("no approval request is open".into()));
        };
        let Some(step) = self.current().cloned() else {
            return Err(EngineError::BadAnswer("no step is running".into()));
        };
        let expected = format!("{} ({}) succeeds", step.title, step.action.kind());
        let outcome = self.run_operation(&q, &step.action);
        for (who, why) in &q.failures {
            self.journal.append(Event::ApprovalRefused {
                request_id: hex::encode(&q.request.sha256()[..8]),
                custodian_id: who.clone(),
                reason: format!("attempt failed before the quorum check: {why}"),
            })?;
        }
        self.chosen_key = None;
        match outcome {
            Ok(()) => self.action_finished(),
            Err(happened) => self.raise(&expected, &happened),
        }
    }

    fn run_operation(&mut self, q: &QuorumRun, action: &Action) -> Result<(), String> {
        let policies =
            crate::hsm::sitedata::policies_for(self.env.profile()).map_err(|e| e.to_string())?;
        let quirks =
            crate::hsm::sitedata::quirks_for(self.env.profile()).map_err(|e| e.to_string())?;
        let user_pin = self.user_pin.take().ok_or("the user PIN is not known")?;
        let so_pin = self.so_pin.take();
        let result = self.operate(q, action, &policies, &quirks, &user_pin, so_pin.as_ref());
        self.user_pin = Some(user_pin);
        self.so_pin = so_pin;
        let result = result.and_then(|kek| {
            self.back_up_replacement(q, action, &policies)?;
            Ok(kek)
        });
        if let Some(kek) = result? {
            self.hand_out_sealed(&kek)?;
        }
        if matches!(action, Action::ReplaceCustodian) {
            self.retire_absent(&q.policy)?;
        }
        // Emergency rotation: the replaced key is recorded compromised (SP 800-57
        // transition 13), not merely deactivated.
        if let Action::Rotate {
            compromised: true, ..
        } = action
        {
            let still = inventory::get(self.journal.store(), &q.key_id)
                .map_err(|e| e.to_string())?
                .is_some_and(|r| r.state == KeyState::Deactivated);
            if still {
                let reason = format!("suspected compromise, rotated in ceremony {}", self.id);
                let actor = self.actor_id();
                inventory::transition(
                    &mut self.journal,
                    &q.key_id,
                    KeyState::Compromised,
                    &reason,
                    &actor,
                )
                .map_err(|e| e.to_string())?;
                // A compromised key's backups must never be restored or rewrapped again.
                let backups: Vec<String> = {
                    let conn = self.journal.store().conn();
                    let mut stmt = conn
                        .prepare(
                            "SELECT backup_id FROM inventory_backup WHERE live = 1 AND key_id = ?1",
                        )
                        .map_err(|e| e.to_string())?;
                    let rows = stmt
                        .query_map([&q.key_id], |r| r.get(0))
                        .and_then(|rows| rows.collect::<Result<Vec<String>, _>>())
                        .map_err(|e| e.to_string())?;
                    rows
                };
                for b in backups {
                    inventory::retire_backup(
                        &mut self.journal,
                        &b,
                        &format!("its key {} is compromised", q.key_id),
                    )
                    .map_err(|e| e.to_string())?;
                }
            }
        }
        Ok(())
    }

    fn operate(
        &mut self,
        q: &QuorumRun,
        action: &Action,
        policies: &PolicySet,
        quirks: &Quirks,
        user_pin: &crate::secret::SecretText,
        so_pin: Option<&crate::secret::SecretText>,
    ) -> Result<Option<RootKekRotation>, String> {
        let rec = inventory::get(self.journal.store(), &q.key_id)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("key {} left the inventory", q.key_id))?;
        let actor = self.actor_id();
        let label = self.next_label(&rec.label);
        let root = is_root_kek(&rec);
        let backups = match (action, root) {
            (Action::Rotate { .. } | Action::ReplaceCustodian, true) => {
                self.live_backups(&rec.key_id)?
            }
            _ => Vec::new(),
        };
        let k = self.script.roles.custodians.map(|t| t.k()).unwrap_or(0);
        let backup_dir = self.env.data().path().join("backups");
        let hsm = HsmAccess {
            module: &self.module,
            token: self.selector.clone(),
            user_pin,
            so_pin,
            policies,
            quirks,
            protection: crate::hsm::protection::ProtectionRule::of(self.env.profile()),
        };
        let quorum = Quorum {
            policy: &q.policy,
            request: &q.request,
            approvals: &q.approvals,
        };
        let pname = match action {
            Action::Rotate {
                policy: Some(p), ..
            } => p.clone(),
            Action::Rotate { .. } if !root => policy_of(&hsm, &rec)?,
            _ => String::new(),
        };
        let journal = &mut self.journal;
        match (action, root) {
            (Action::Destroy { .. }, _) => destroy_key(journal, &hsm, &quorum, &q.key_id, &actor)
                .map(|_| None)
                .map_err(|e| e.to_string()),
            (Action::Rotate { .. } | Action::ReplaceCustodian, true) => replace_root_kek(
                journal,
                &hsm,
                &quorum,
                if root && matches!(action, Action::ReplaceCustodian) {
                    Operation::ReplaceCustodian
                } else {
                    Operation::Rotate
                },
                &rec.key_id,
                &NewKek {
                    key_id: &label,
                    label: &label,
                    threshold: k,
                    backup_dir: &backup_dir,
                },
                &backups,
                &actor,
            )
            .map(Some)
            .map_err(|e| e.to_string()),
            (Action::Rotate { .. }, false) => rotate_key(
                journal,
                &hsm,
                &quorum,
                &q.key_id,
                &Replacement {
                    key_id: &label,
                    label: &label,
                    policy: &pname,
                },
                &actor,
            )
            .map(|_| None)
            .map_err(|e| e.to_string()),
            _ => Err(format!(
                "action {} is not a quorum operation",
                action.kind()
            )),
        }
    }
}

/// The policy the key satisfies, read back from the token.
fn policy_of(hsm: &HsmAccess<'_>, rec: &KeyRecord) -> Result<String, String> {
    let s = crate::hsm::TokenSession::login(hsm.module, &hsm.token, UserKind::User, hsm.user_pin)
        .map(|(s, _)| s)
        .map_err(|e| e.to_string())?;
    let listing =
        describe_key(&s, &rec.label, hsm.policies, hsm.quirks).map_err(|e| e.to_string())?;
    listing.policies.first().cloned().ok_or_else(|| {
        format!(
            "key \"{}\" satisfies no key policy ({}); name the policy in the step",
            rec.label,
            listing.failures.join("; ")
        )
    })
}

impl Engine {
    /// `<base>-r<n>`: the first label no inventory key has.
    fn next_label(&self, label: &str) -> String {
        let base = match label.rsplit_once("-r") {
            Some((b, n)) if !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) => b,
            _ => label,
        };
        let taken: Vec<String> = inventory::list(self.journal.store())
            .unwrap_or_default()
            .into_iter()
            .flat_map(|r| [r.label, r.key_id])
            .collect();
        (2..)
            .map(|n| format!("{base}-r{n}"))
            .find(|l| !taken.contains(l))
            .unwrap_or_else(|| format!("{base}-rotated"))
    }

    /// After a key rotation: the replacement is backed up under the active root KEK when its
    /// policy asks for backups (as `generate-key` + `backup` would have done).
    fn back_up_replacement(
        &mut self,
        q: &QuorumRun,
        action: &Action,
        policies: &PolicySet,
    ) -> Result<(), String> {
        if !matches!(action, Action::Rotate { .. }) {
            return Ok(());
        }
        let Some(rec) =
            inventory::get(self.journal.store(), &q.key_id).map_err(|e| e.to_string())?
        else {
            return Ok(());
        };
        if is_root_kek(&rec) {
            return Ok(());
        }
        // The replacement is the active key the rotation linked to the old one.
        let all = inventory::list(self.journal.store()).map_err(|e| e.to_string())?;
        let Some(new) = all
            .iter()
            .filter(|r| r.state == KeyState::Active && r.token_serial == rec.token_serial)
            .filter(|r| r.label != rec.label && r.algorithm == rec.algorithm)
            .max_by(|a, b| a.created.cmp(&b.created))
            .cloned()
        else {
            return Ok(());
        };
        let kek = all
            .iter()
            .find(|r| {
                r.state == KeyState::Active && r.token_serial == rec.token_serial && is_root_kek(r)
            })
            .map(|r| r.label.clone());
        let wants = describe_policy_backup(policies, &new);
        match (wants, kek) {
            (true, Some(kek)) => self.backup(&new.label, &kek).map_err(|f| match f {
                super::actions::Failure::Step(s) => s,
                super::actions::Failure::Engine(e) => e.to_string(),
            }),
            (true, None) => Err(format!(
                "the replacement {} must be backed up but no active root KEK is on this token",
                new.label
            )),
            (false, _) => Ok(()),
        }
    }

    /// After a custodian replacement: enrolled custodians outside the new set are retired
    /// (their YubiKeys no longer count; their old shares open nothing).
    fn retire_absent(&mut self, policy: &QuorumPolicy) -> Result<(), String> {
        let gone: Vec<_> = register::active(self.journal.store())
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|c| !policy.custodians().contains(&c.record))
            .collect();
        for c in gone {
            register::retire_custodian(
                &mut self.journal,
                &c.record.custodian_id,
                &format!(
                    "replaced in ceremony {}: not among the custodians given the new share set",
                    self.id
                ),
            )
            .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// After a root KEK rotation: the new shares, sealed to each enrolled custodian's 9d key,
    /// are written to `DATA/shares/<set>/` and their hand-over journaled.
    fn hand_out_sealed(&mut self, r: &RootKekRotation) -> Result<(), String> {
        let dir = self.env.data().path().join("shares").join(&r.share_set_id);
        let mut set = super::state::SetRecord {
            set_id: r.share_set_id.clone(),
            threshold: self.script.roles.custodians.map(|t| t.k()).unwrap_or(0),
            count: u8::try_from(r.sealed_shares.len()).unwrap_or(u8::MAX),
            fingerprints: r
                .sealed_shares
                .iter()
                .map(|s| s.fingerprint.clone())
                .collect(),
            protects: r.new_kek.label.clone(),
            ..Default::default()
        };
        for s in &r.sealed_shares {
            let path: PathBuf = dir.join(format!("share-{}-{}.sealed", s.index, s.custodian_id));
            super::actions::write_new(self.env.data().path(), &path, &s.sealed)?;
            set.distributed
                .insert(s.index, Some(path.display().to_string()));
            set.holders.insert(s.index, s.custodian_id.clone());
            self.journal
                .append_with_details(
                    Event::ShareDistributed {
                        ceremony_id: self.id.clone(),
                        set_id: r.share_set_id.clone(),
                        index: s.index,
                        custodian_id: s.custodian_id.clone(),
                        shown: false,
                        sealed_file: Some(path.display().to_string()),
                        sealed_sha256: Some(hex::encode(Sha256::digest(&s.sealed))),
                    },
                    json!({"sealed_to": "the custodian's YubiKey (9d)", "fingerprint": s.fingerprint}),
                )
                .map_err(|e| e.to_string())?;
        }
        // A later verify-shares step asks each holder to open their share with their card.
        self.set = Some(set);
        Ok(())
    }

    pub(super) fn live_backups(&self, kek_id: &str) -> Result<Vec<LiveBackup>, String> {
        let conn = self.journal.store().conn();
        let mut stmt = conn
            .prepare("SELECT backup_id, location FROM inventory_backup WHERE live = 1 AND wrapped_by = ?1 ORDER BY backup_id")
            .map_err(|e| e.to_string())?;
        let rows: Vec<(String, String)> = stmt
            .query_map([kek_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect())
            .map_err(|e| e.to_string())?;
        rows.into_iter()
            .map(|(backup_id, location)| {
                let text = std::fs::read_to_string(&location).map_err(|e| {
                    format!("cannot read backup {backup_id} at {location}: {e}; every live backup must be rewrapped")
                })?;
                let backup = KeyBackup::decode(&location, &text).map_err(|e| e.to_string())?;
                Ok(LiveBackup {
                    backup_id,
                    source_name: location,
                    backup,
                })
            })
            .collect()
    }
}

/// Whether the policy `rec` was made under asks for backups (by its purpose text, which is the
/// policy description the engine registered it with).
fn describe_policy_backup(policies: &PolicySet, rec: &KeyRecord) -> bool {
    policies
        .names()
        .iter()
        .filter_map(|n| policies.get(n).ok())
        .find(|p| p.description == rec.purpose && p.key.name() == rec.algorithm)
        .is_some_and(|p| p.backup)
}
