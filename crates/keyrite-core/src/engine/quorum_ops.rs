//! The quorum runner's hand-over to [`crate::operations`]: the operation a step names, run
//! with the collected approvals (the quorum is checked again there, right before the PKCS#11
//! call), and what follows it in a ceremony: the replacement's backup, the new shares
//! sealed to the custodians' YubiKeys, retired custodians, a compromised key's backups.

use super::context::HsmContext;
use super::keyops::{backup, live_backups};
use super::run::{write_new, CeremonyRun};
use super::shareset::SetRecord;
use super::step::{Failure, StepFailure};
use crate::hsm::objects::describe_key;
use crate::hsm::policy::PolicySet;
use crate::hsm::UserKind;
use crate::inventory::custodians as register;
use crate::inventory::{self, KeyRecord, KeyState, KeyType};
use crate::journal::Event;
use crate::operations::{
    destroy_key, replace_root_kek, rotate_key, HsmAccess, NewKek, Quorum, Replacement,
    RootKekRotation,
};
use crate::quorum::{Approval, ApprovalRequest, Operation, QuorumPolicy};
use crate::script::Action;
use serde_json::json;
use sha2::{Digest, Sha256};

/// Approvals being collected for the current step.
pub(super) struct QuorumRun {
    pub(super) key_id: String,
    pub(super) policy: QuorumPolicy,
    pub(super) request: ApprovalRequest,
    pub(super) approvals: Vec<Approval>,
    /// Failed attempts (custodian id, why), journaled after the operation.
    pub(super) failures: Vec<(String, String)>,
}

/// What the step does to the chosen key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Rotate,
    Destroy,
    /// Replace the custodian set: the root KEK is rotated and its new shares go to the
    /// custodians in the room; enrolled custodians who are not there are retired.
    Replace,
}

impl Op {
    pub(super) fn of(action: &Action) -> Option<(Op, Option<&str>)> {
        match action {
            Action::Rotate { key, .. } => Some((Op::Rotate, key.as_deref())),
            Action::Destroy { key, .. } => Some((Op::Destroy, key.as_deref())),
            Action::ReplaceCustodian => Some((Op::Replace, None)),
            _ => None,
        }
    }
    pub(super) fn name(self) -> &'static str {
        match self {
            Op::Rotate => "rotate",
            Op::Destroy => "destroy",
            Op::Replace => "replace-custodian",
        }
    }
    pub(super) fn allows(self, state: KeyState) -> bool {
        match self {
            Op::Rotate => matches!(state, KeyState::Active | KeyState::Suspended),
            Op::Destroy => inventory::state::allowed(state, KeyState::Destroyed).is_some(),
            Op::Replace => state == KeyState::Active,
        }
    }
    pub(super) fn operation(self) -> Operation {
        match self {
            Op::Rotate => Operation::Rotate,
            Op::Destroy => Operation::Destroy,
            Op::Replace => Operation::ReplaceCustodian,
        }
    }
}

/// A root KEK is the inventory's key-wrapping key protected by a share set.
pub(super) fn is_root_kek(rec: &KeyRecord) -> bool {
    rec.key_type == KeyType::SymmetricKeyWrapping.name() && rec.share_set_id.is_some()
}

/// Runs the step's operation with the approvals, then what follows it in a ceremony.
pub(super) fn run_operation(
    run: &mut CeremonyRun,
    hsm: &HsmContext,
    q: &QuorumRun,
    action: &Action,
) -> Result<(), StepFailure> {
    let access = hsm.access()?;
    let kek = operate(run, &access, q, action)?;
    back_up_replacement(run, hsm, q, action)?;
    if let Some(kek) = kek {
        hand_out_sealed(run, &kek)?;
    }
    if matches!(action, Action::ReplaceCustodian) {
        retire_absent(run, &q.policy)?;
    }
    // Emergency rotation: the replaced key is recorded compromised (SP 800-57
    // transition 13), not merely deactivated.
    if let Action::Rotate {
        compromised: true, ..
    } = action
    {
        mark_compromised(run, &q.key_id)?;
    }
    // A destroyed key's wrapped backups go with it ("wrapped backups of the key are
    // deleted"): left live, a later root-key recovery would restore the destroyed key.
    if matches!(action, Action::Destroy { .. }) {
        retire_backups(
            run,
            &q.key_id,
            &format!("its key {} was destroyed", q.key_id),
        )?;
    }
    Ok(())
}

/// The rotated key of an emergency rotation is compromised; its backups are retired.
fn mark_compromised(run: &mut CeremonyRun, key_id: &str) -> Result<(), StepFailure> {
    let still = inventory::get(run.journal.store(), key_id)?
        .is_some_and(|r| r.state == KeyState::Deactivated);
    if !still {
        return Ok(());
    }
    let reason = format!("suspected compromise, rotated in ceremony {}", run.id);
    let actor = run.actor_id();
    inventory::transition(
        &mut run.journal,
        key_id,
        KeyState::Compromised,
        &reason,
        &actor,
    )?;
    // A compromised key's backups must never be restored or rewrapped again.
    retire_backups(run, key_id, &format!("its key {key_id} is compromised"))
}

/// Retires every live backup of `key_id` (the key is compromised or destroyed).
fn retire_backups(run: &mut CeremonyRun, key_id: &str, reason: &str) -> Result<(), StepFailure> {
    let backups: Vec<String> = {
        let conn = run.journal.store().conn();
        let mut stmt =
            conn.prepare("SELECT backup_id FROM inventory_backup WHERE live = 1 AND key_id = ?1")?;
        let rows = stmt
            .query_map([key_id], |r| r.get(0))
            .and_then(|rows| rows.collect::<Result<Vec<String>, _>>())?;
        rows
    };
    for b in backups {
        inventory::retire_backup(&mut run.journal, &b, reason)?;
    }
    Ok(())
}

fn operate(
    run: &mut CeremonyRun,
    hsm: &HsmAccess<'_>,
    q: &QuorumRun,
    action: &Action,
) -> Result<Option<RootKekRotation>, StepFailure> {
    let rec = inventory::get(run.journal.store(), &q.key_id)?
        .ok_or_else(|| StepFailure::refused(format!("key {} left the inventory", q.key_id)))?;
    let actor = run.actor_id();
    let label = next_label(run, &rec.label);
    let root = is_root_kek(&rec);
    let backups = match (action, root) {
        (Action::Rotate { .. } | Action::ReplaceCustodian, true) => live_backups(run, &rec.key_id)?,
        _ => Vec::new(),
    };
    let k = run.script.roles.custodians.map(|t| t.k()).unwrap_or(0);
    let backup_dir = run.data_root().join("backups");
    let quorum = Quorum {
        policy: &q.policy,
        request: &q.request,
        approvals: &q.approvals,
    };
    let pname = match action {
        Action::Rotate {
            policy: Some(p), ..
        } => p.clone(),
        Action::Rotate { .. } if !root => policy_of(hsm, &rec)?,
        _ => String::new(),
    };
    let journal = &mut run.journal;
    Ok(match (action, root) {
        (Action::Destroy { .. }, _) => {
            destroy_key(journal, hsm, &quorum, &q.key_id, &actor)?;
            None
        }
        (Action::Rotate { .. } | Action::ReplaceCustodian, true) => Some(replace_root_kek(
            journal,
            hsm,
            &quorum,
            if matches!(action, Action::ReplaceCustodian) {
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
        )?),
        (Action::Rotate { .. }, false) => {
            let replacement = Replacement {
                key_id: &label,
                label: &label,
                policy: &pname,
            };
            rotate_key(journal, hsm, &quorum, &q.key_id, &replacement, &actor)?;
            None
        }
        _ => {
            return Err(StepFailure::refused(format!(
                "action {} is not a quorum operation",
                action.kind()
            )))
        }
    })
}

/// The policy the key satisfies, read back from the token.
fn policy_of(hsm: &HsmAccess<'_>, rec: &KeyRecord) -> Result<String, StepFailure> {
    let s = crate::hsm::TokenSession::login(hsm.module, &hsm.token, UserKind::User, hsm.user_pin)
        .map(|(s, _)| s)?;
    let listing = describe_key(&s, &rec.label, hsm.policies, hsm.quirks)?;
    listing.policies.first().cloned().ok_or_else(|| {
        StepFailure::refused(format!(
            "key \"{}\" satisfies no key policy ({}); name the policy in the step",
            rec.label,
            listing.failures.join("; ")
        ))
    })
}

/// `<base>-r<n>`: the first label no inventory key has.
fn next_label(run: &CeremonyRun, label: &str) -> String {
    let base = match label.rsplit_once("-r") {
        Some((b, n)) if !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) => b,
        _ => label,
    };
    let taken: Vec<String> = inventory::list(run.journal.store())
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
    run: &mut CeremonyRun,
    hsm: &HsmContext,
    q: &QuorumRun,
    action: &Action,
) -> Result<(), StepFailure> {
    if !matches!(action, Action::Rotate { .. }) {
        return Ok(());
    }
    let Some(rec) = inventory::get(run.journal.store(), &q.key_id)? else {
        return Ok(());
    };
    if is_root_kek(&rec) {
        return Ok(());
    }
    // The replacement is the active key the rotation linked to the old one.
    let all = inventory::list(run.journal.store())?;
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
    match (describe_policy_backup(&hsm.policies, &new), kek) {
        (true, Some(kek)) => backup(run, hsm, &new.label, &kek).map_err(|f| match f {
            Failure::Step(s) => s,
            Failure::Engine(e) => StepFailure::engine(e),
        }),
        (true, None) => Err(StepFailure::refused(format!(
            "the replacement {} must be backed up but no active root KEK is on this token",
            new.label
        ))),
        (false, _) => Ok(()),
    }
}

/// After a custodian replacement: enrolled custodians outside the new set are retired
/// (their YubiKeys no longer count; their old shares open nothing).
fn retire_absent(run: &mut CeremonyRun, policy: &QuorumPolicy) -> Result<(), StepFailure> {
    let gone: Vec<_> = register::active(run.journal.store())?
        .into_iter()
        .filter(|c| !policy.custodians().contains(&c.record))
        .collect();
    for c in gone {
        let reason = format!(
            "replaced in ceremony {}: not among the custodians given the new share set",
            run.id
        );
        register::retire_custodian(&mut run.journal, &c.record.custodian_id, &reason)?;
    }
    Ok(())
}

/// After a root KEK rotation: the new shares, sealed to each enrolled custodian's 9d key,
/// are written to `DATA/shares/<set>/` and their hand-over journaled.
fn hand_out_sealed(run: &mut CeremonyRun, r: &RootKekRotation) -> Result<(), StepFailure> {
    let dir = run.data_root().join("shares").join(&r.share_set_id);
    let mut set = SetRecord {
        set_id: r.share_set_id.clone(),
        threshold: run.script.roles.custodians.map(|t| t.k()).unwrap_or(0),
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
        let path = dir.join(format!("share-{}-{}.sealed", s.index, s.custodian_id));
        write_new(run.data_root(), &path, &s.sealed)?;
        set.distributed
            .insert(s.index, Some(path.display().to_string()));
        set.holders.insert(s.index, s.custodian_id.clone());
        // Named on the result card as "sealed to NAME's YubiKey (serial N)".
        let holder = register::get(run.journal.store(), &s.custodian_id)?.map(|c| c.record);
        run.journal.append_with_details(
            Event::ShareDistributed {
                ceremony_id: run.id.clone(),
                set_id: r.share_set_id.clone(),
                index: s.index,
                custodian_id: s.custodian_id.clone(),
                shown: false,
                sealed_file: Some(path.display().to_string()),
                sealed_sha256: Some(hex::encode(Sha256::digest(&s.sealed))),
            },
            json!({
                "sealed_to": "the custodian's YubiKey (9d)",
                "fingerprint": s.fingerprint,
                "custodian_name": holder.as_ref().map(|h| h.name.clone()),
                "yubikey_serial": holder.as_ref().map(|h| h.yubikey_serial),
            }),
        )?;
    }
    // A later verify-shares step asks each holder to open their share with their card.
    run.set = Some(set);
    Ok(())
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
