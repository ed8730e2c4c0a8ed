//! The recovery runner (`recover`): K custodians open their shares of the root KEK's
//! current share set, each with their own YubiKey and PIN (the shares are sealed to their 9d
//! keys); the engine rebuilds the root KEK into this token
//! ([`crate::operations::recover_root_kek`], which checks it against the recorded
//! fingerprint) and restores every live backup made under it, so the record-signing key is
//! back before the checkpoint and the record.
//!
//! Faces see the same [`Prompt::Approval`] as for other quorum steps (operation `recover`):
//! an "approval" here is a custodian opening their share.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::context::HsmContext;
use super::error::EngineError;
use super::keyops::{certify_record_signing, live_backups};
use super::prompt::{ApprovalPrompt, Prompt};
use super::run::CeremonyRun;
use super::step::{Next, StepFailure};
use crate::hsm::{TokenSession, UserKind};
use crate::inventory::custodians as register;
use crate::inventory::{self, KeyRecord, KeyState, KeyType};
use crate::journal::Event;
use crate::operations::{open_sealed_share, recover_root_kek, restore_backup};
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

/// The quorum of custodians of the script (K).
fn needed(run: &CeremonyRun) -> usize {
    usize::from(run.script.roles.custodians.map(|t| t.k()).unwrap_or(0))
}

/// The root KEK to recover: the newest active root KEK labelled `label` or a rotation of
/// it (`label-rN`), on any token.
fn kek_to_recover(run: &CeremonyRun, label: &str) -> Result<KeyRecord, StepFailure> {
    let rotated = format!("{label}-r");
    inventory::list(run.journal.store())?
        .into_iter()
        .filter(|r| r.key_type == KeyType::SymmetricKeyWrapping.name())
        .filter(|r| r.share_set_id.is_some() && r.state == KeyState::Active)
        .filter(|r| r.label == label || r.label.starts_with(&rotated))
        .max_by(|a, b| a.created.cmp(&b.created))
        .ok_or_else(|| {
            StepFailure::refused(format!("the inventory has no active root KEK \"{label}\" protected by a share set to recover"))
        })
}

/// The shares of `set_id` sealed to custodians' YubiKeys, from the journal.
fn sealed_shares(
    run: &CeremonyRun,
    set_id: &str,
) -> Result<BTreeMap<String, (u8, PathBuf)>, StepFailure> {
    let mut out = BTreeMap::new();
    run.journal.for_each_selected(
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
    )?;
    Ok(out)
}

/// Starts the step: PINs, then the custodians open their shares.
pub(super) fn start(
    run: &CeremonyRun,
    hsm: &HsmContext,
    label: &str,
) -> Result<Next<RecoveryRun>, StepFailure> {
    let pins: [(UserKind, String); 2] = [
        (
            UserKind::So,
            format!("import the recovered root KEK \"{label}\""),
        ),
        (
            UserKind::User,
            "restore the backups under the recovered root KEK".into(),
        ),
    ];
    if let Some(ask) = pins.iter().find_map(|(who, why)| hsm.need(*who, why)) {
        return Ok(Next::Pin(ask));
    }
    let kek = kek_to_recover(run, label)?;
    let set_id = kek.share_set_id.clone().unwrap_or_default();
    let sealed = sealed_shares(run, &set_id)?;
    let k = needed(run);
    if sealed.len() < k {
        return Err(StepFailure::refused(format!(
            "share set {set_id} of root KEK \"{}\" has {} share(s) sealed to custodians' YubiKeys, fewer than the {k} needed; recover it from the custodians' share cards instead",
            kek.label,
            sealed.len()
        )));
    }
    Ok(Next::Wait(RecoveryRun {
        kek,
        set_id,
        sealed,
        opened: Vec::new(),
        failures: Vec::new(),
    }))
}

pub(super) fn prompt(r: &RecoveryRun, run: &CeremonyRun, hsm: &HsmContext) -> Prompt {
    let enrolled = register::active(run.journal.store()).unwrap_or_default();
    let (approved, candidates): (Vec<_>, Vec<_>) = enrolled
        .iter()
        .filter(|c| r.sealed.contains_key(&c.record.custodian_id))
        .map(|c| run.approver(c))
        .partition(|a| r.opened.iter().any(|(id, _)| *id == a.custodian_id));
    let set = hex::decode(&r.set_id).unwrap_or_default();
    Prompt::Approval(ApprovalPrompt {
        step: run.step_id(),
        operation: "recover".into(),
        key_label: r.kek.label.clone(),
        request_text: format!(
            "Recover root KEK \"{}\" (inventory key {}) into token {} from share set {} ({}): each custodian opens their sealed share with their YubiKey and PIN.",
            r.kek.label,
            r.kek.key_id,
            hsm.selector,
            r.set_id,
            crate::words::short_words(&set, 4)
        ),
        hash_words: crate::words::short_words(&set, 4),
        request_sha256: r.set_id.clone(),
        needed: needed(run),
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

/// One custodian opens their share; the root KEK is rebuilt once K have.
pub(super) fn open_share(
    r: &mut RecoveryRun,
    run: &mut CeremonyRun,
    hsm: &HsmContext,
    custodian_id: &str,
    pin: SecretText,
) -> Result<Next<RecoveryRun>, EngineError> {
    let bad = |m: String| Err(EngineError::BadAnswer(m));
    let Some(rec) = register::get(run.journal.store(), custodian_id)?
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
    if !run.custodian_here(&rec.name) {
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
    let opened = run
        .cards()
        .open(rec.yubikey_serial)
        .map_err(|e| e.to_string())
        .and_then(|mut card| {
            open_sealed_share(card.as_mut(), &rec, &pin, &sealed).map_err(|e| e.to_string())
        });
    match opened {
        Ok(share) => r.opened.push((custodian_id.to_string(), share)),
        Err(e) => {
            r.failures.push((custodian_id.to_string(), e.clone()));
            return Err(EngineError::BadAnswer(e));
        }
    }
    if r.opened.len() >= needed(run) {
        return finish(r, run, hsm);
    }
    Ok(Next::Continue)
}

/// The shares are open: rebuild, import, restore the backups.
pub(super) fn finish(
    r: &mut RecoveryRun,
    run: &mut CeremonyRun,
    hsm: &HsmContext,
) -> Result<Next<RecoveryRun>, EngineError> {
    for (who, why) in &r.failures {
        run.journal.append(Event::ApprovalRefused {
            request_id: r.set_id.chars().take(16).collect(),
            custodian_id: who.clone(),
            reason: format!("opening the sealed share failed: {why}"),
        })?;
    }
    Ok(match rebuild(r, run, hsm) {
        Ok(()) => Next::Done,
        Err(happened) => Next::Failed(happened),
    })
}

fn rebuild(
    r: &mut RecoveryRun,
    run: &mut CeremonyRun,
    hsm: &HsmContext,
) -> Result<(), StepFailure> {
    let k = needed(run);
    if r.opened.len() < k {
        return Err(StepFailure::refused(format!(
            "{} of the {k} shares needed were opened; the root KEK was not rebuilt",
            r.opened.len()
        )));
    }
    let (Some(user), Some(_)) = (hsm.user_pin.as_ref(), hsm.so_pin.as_ref()) else {
        return Err(StepFailure::refused("the SO and user PINs are not known"));
    };
    let backups = live_backups(run, &r.kek.key_id);
    let actor = run.actor_id();
    let new_id = run
        .free_key_id(&r.kek.label)
        .map_err(|e| StepFailure::engine(Box::new(e)))?;
    let backups = backups?;
    let access = hsm.access()?;
    recover_root_kek(
        &mut run.journal,
        &access,
        &r.kek.key_id,
        &new_id,
        &r.kek.label,
        std::mem::take(&mut r.opened),
        &actor,
    )?;
    let s =
        TokenSession::login(&hsm.module, &hsm.selector, UserKind::User, user).map(|(s, _)| s)?;
    let mut signing = None;
    for b in &backups {
        let ev = restore_backup(
            &mut run.journal,
            &s,
            &access,
            &b.backup_id,
            &b.source_name,
            &b.backup,
            &r.kek.label,
        )?;
        if b.backup.policy == "record-signing" {
            signing = Some(ev);
        }
    }
    drop(s);
    // Certificates are not backed up: the restored record-signing key gets a new one.
    if let Some(ev) = signing {
        certify_record_signing(run, hsm, &ev.label, &ev.id)?;
    }
    Ok(())
}
