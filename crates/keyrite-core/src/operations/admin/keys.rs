//! `hsm generate|backup|restore|destroy` as journaled operations (see the parent module).

use super::{admit, check_label, live_record, register, AdminCommand, AdminError, Op, ACTOR};
use crate::hsm::backup::KeyBackup;
use crate::hsm::destroy::DestructionProof;
use crate::hsm::keygen::KeyEvidence;
use crate::hsm::policy::{KeyPolicy, PolicySet};
use crate::hsm::quirks::Quirks;
use crate::hsm::{HsmError, TokenSession};
use crate::inventory::{self, KeyState};
use crate::journal::{Event, Journal};
use crate::paths::OutputError;
use crate::profile::Mode;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// `hsm generate`: a key under `policy`, read back, journaled (`key_generated` with the
/// evidence), registered in the inventory and activated.
pub fn generate_key(
    journal: &mut Journal,
    mode: Mode,
    s: &TokenSession,
    policy: &KeyPolicy,
    label: &str,
    quirks: &Quirks,
) -> Result<KeyEvidence, AdminError> {
    let cmd = AdminCommand::Generate;
    admit(cmd, mode, s.token())?;
    check_label(cmd, "key label", label)?;
    crate::hsm::keygen::ensure_label_free(
        s,
        &format!(
            "generating key \"{label}\" under policy \"{}\"",
            policy.name
        ),
        label,
    )?;
    // What the module lacks is refused before the operation is journaled.
    crate::hsm::keygen::check_generate(s, policy, label, quirks)?;
    let mut op = Op::begin(journal, cmd, label)?;
    let ev =
        crate::hsm::keygen::generate(s, policy, label, quirks).map_err(|e| op.failed(e.into()))?;
    let serial = s.token().serial.clone();
    op.journal
        .append(crate::operations::key_generated_event(label, &serial, &ev))
        .map_err(|e| op.after(e))?;
    register(&mut op, &ev, policy, &serial)?;
    op.done()?;
    Ok(ev)
}

/// What `hsm backup` made.
#[derive(Debug, Clone)]
pub struct BackupMade {
    /// The backup.
    pub backup: KeyBackup,
    /// The policy it records.
    pub policy: String,
    /// The file written.
    pub path: PathBuf,
}

/// `hsm backup`: the key labelled `label` wrapped under `kek_label` into the new file `out`
/// (never overwritten, never through a link), journaled (`backup_made`) and recorded in the
/// inventory when both keys are there. `policy` names the policy when the key satisfies
/// several.
#[expect(
    clippy::too_many_arguments,
    reason = "each argument is a distinct input of the operation; a struct would only rename them"
)]
pub fn backup_key(
    journal: &mut Journal,
    mode: Mode,
    s: &TokenSession,
    policies: &PolicySet,
    label: &str,
    kek_label: &str,
    policy: Option<&str>,
    out: &Path,
    quirks: &Quirks,
) -> Result<BackupMade, AdminError> {
    let cmd = AdminCommand::Backup;
    admit(cmd, mode, s.token())?;
    check_label(cmd, "key label", label)?;
    check_label(cmd, "root KEK label", kek_label)?;
    if let Some(p) = policy {
        policies.get(p)?;
    }
    let refused = |reason: String| AdminError::Refused {
        command: cmd.name(),
        reason,
    };
    // The output is checked before the token is asked anything.
    if std::fs::symlink_metadata(out).is_ok() {
        return Err(OutputError::Exists {
            what: "backup",
            path: out.to_path_buf(),
        }
        .into());
    }
    // A module without RFC 5649 wrapping is refused before the key is even looked at.
    crate::hsm::backup::check_backup(s, label, kek_label, quirks)?;
    let listing = crate::hsm::objects::describe_key(s, label, policies, quirks)?;
    let token = s.name();
    let name = crate::operations::choose_backup_policy(
        journal,
        crate::operations::KeyOnToken {
            label,
            token: &token,
            token_serial: &s.token().serial,
            satisfies: &listing.policies,
            failures: &listing.failures,
        },
        policy,
    )
    .map_err(|e| match e {
        crate::operations::BackupPolicyError::Ambiguous { .. } => refused(format!(
            "{e}; pass --policy to name the one the backup records"
        )),
        other => refused(other.to_string()),
    })?;
    let pol = policies.get(&name)?;
    let mut op = Op::begin(journal, cmd, label)?;
    let (b, _) = crate::hsm::backup::backup_key(s, label, pol, kek_label, quirks)
        .map_err(|e| op.failed(e.into()))?;
    let text = b.encode();
    crate::paths::write_new_named(out, "backup", text.as_bytes())
        .map_err(|e| op.failed(e.into()))?;
    let backup_id = op.id.clone();
    let location = out.display().to_string();
    op.journal
        .append_with_details(
            Event::BackupMade {
                backup_id: backup_id.clone(),
                key_id: label.into(),
                wrapped_by: kek_label.into(),
                blob_sha256: hex::encode(Sha256::digest(text.as_bytes())),
                location: location.clone(),
            },
            json!({"operation": op.id, "policy": name, "wrapping_key_kcv": b.wrapping_key_kcv}),
        )
        .map_err(|e| op.after(e))?;
    let serial = s.token().serial.clone();
    if let (Some(k), Some(w)) = (
        live_record(op.command, op.journal, label, &serial)?,
        live_record(op.command, op.journal, kek_label, &serial)?,
    ) {
        inventory::add_backup(op.journal, &backup_id, &k.key_id, &w.key_id, &location)
            .map_err(|e| op.after(e))?;
    }
    op.done()?;
    Ok(BackupMade {
        backup: b,
        policy: name,
        path: out.to_path_buf(),
    })
}

/// `hsm restore`: `backup` (read from `source_name`) unwrapped under `kek_label` with its own
/// policy and read back; journaled (`backup_restored` with the evidence); the key is
/// registered and activated unless the inventory already has it live on this token.
#[expect(
    clippy::too_many_arguments,
    reason = "each argument is a distinct input of the operation; a struct would only rename them"
)]
pub fn restore_key(
    journal: &mut Journal,
    mode: Mode,
    s: &TokenSession,
    policies: &PolicySet,
    source_name: &str,
    backup: &KeyBackup,
    kek_label: &str,
    quirks: &Quirks,
) -> Result<KeyEvidence, AdminError> {
    let cmd = AdminCommand::Restore;
    admit(cmd, mode, s.token())?;
    check_label(cmd, "key label in the backup", &backup.label)?;
    check_label(cmd, "root KEK label", kek_label)?;
    let policy = policies.get(&backup.policy)?.clone();
    crate::hsm::keygen::ensure_label_free(
        s,
        &format!("restoring key \"{}\"", backup.label),
        &backup.label,
    )?;
    crate::hsm::backup::check_restore(s, source_name, backup, policies, quirks)?;
    let mut op = Op::begin(journal, cmd, &backup.label)?;
    let ev = crate::hsm::backup::restore_key(s, source_name, backup, policies, kek_label, quirks)
        .map_err(|e| op.failed(e.into()))?;
    let serial = s.token().serial.clone();
    let key_id = match live_record(op.command, op.journal, &backup.label, &serial)? {
        Some(r) => r.key_id,
        None => register(&mut op, &ev, &policy, &serial)?,
    };
    op.journal
        .append_with_details(
            Event::BackupRestored {
                backup_id: source_name.into(),
                key_id,
                token_serial: serial,
            },
            json!({"operation": op.id, "evidence": ev}),
        )
        .map_err(|e| op.after(e))?;
    op.done()?;
    Ok(ev)
}

/// `hsm destroy`: the key labelled `label`, with proof. The same refusals as the
/// key-destruction ceremony: the key must be in the inventory in a state that allows
/// destruction, and the retention guard must pass (no live backups under it, no retained data).
pub fn destroy_key(
    journal: &mut Journal,
    mode: Mode,
    s: &TokenSession,
    label: &str,
) -> Result<DestructionProof, AdminError> {
    let cmd = AdminCommand::Destroy;
    admit(cmd, mode, s.token())?;
    check_label(cmd, "key label", label)?;
    let refused = |reason: String| AdminError::Refused {
        command: cmd.name(),
        reason,
    };
    if crate::hsm::keygen::find_key(s, label)?.is_empty() {
        return Err(HsmError::KeyNotFound {
            operation: format!("destroying key \"{label}\""),
            token: s.name(),
            label: label.into(),
        }
        .into());
    }
    let serial = s.token().serial.clone();
    let Some(rec) = live_record(cmd, journal, label, &serial)? else {
        return Err(refused(format!(
            "key \"{label}\" on {} is not in the inventory, so its dependants cannot be \
             checked; only keys Keyrite recorded are destroyed",
            s.name()
        )));
    };
    if inventory::state::allowed(rec.state, KeyState::Destroyed).is_none() {
        return Err(refused(format!(
            "key \"{label}\" (inventory id {}) is {} and cannot be destroyed",
            rec.key_id, rec.state
        )));
    }
    if let Err(e) = inventory::retention_guard(journal.store(), &rec.key_id) {
        let reason = match e {
            inventory::InventoryError::StillNeeded { dependants, .. } => {
                format!(
                    "key \"{label}\" is still needed: {dependants}; restore or retire those first"
                )
            }
            other => other.to_string(),
        };
        return Err(refused(reason));
    }
    let mut op = Op::begin(journal, cmd, label)?;
    let proof = crate::hsm::destroy::destroy_key(s, label).map_err(|e| op.failed(e.into()))?;
    op.journal
        .append_with_details(
            Event::KeyDestroyed {
                key_id: rec.key_id.clone(),
                token_serial: serial,
                cka_id: rec.cka_id.clone(),
                proof: serde_json::to_value(&proof).unwrap_or_default(),
            },
            json!({"operation": op.id}),
        )
        .map_err(|e| op.after(e))?;
    let reason = format!("destroyed by {}", op.id);
    inventory::transition(op.journal, &rec.key_id, KeyState::Destroyed, &reason, ACTOR)
        .map_err(|e| op.after(e))?;
    op.done()?;
    Ok(proof)
}
