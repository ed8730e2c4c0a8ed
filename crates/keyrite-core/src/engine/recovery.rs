//! The recovery runner (`recover`): K custodians in the room present their shares of the
//! root KEK's current share set, each in the form it was issued — typed or scanned from the
//! share card, a passphrase-sealed file and its passphrase, or the file sealed to their
//! YubiKey (opened by the card and PIN); kinds mix freely. Each share is checked against the
//! journal before it is kept (`present`): the set being recovered, an index the journal says
//! was issued to that custodian, the fingerprint recorded when the set was created. At K the
//! engine rebuilds the root KEK into this token ([`crate::operations::recover_root_kek`]:
//! combine checks the set's digest, the imported key's fingerprint is checked against the
//! inventory's and the key removed on a mismatch) and restores every live backup made under
//! it, so the record-signing key is back before the checkpoint and the record.
//!
//! Faces see [`Prompt::Approval`] (operation `recover`) with the issued shares in `holders`;
//! [`super::prompt::Answer::PresentShare`] presents any kind, and an `Approve` (custodian id
//! and YubiKey PIN) still opens a YubiKey-sealed share as before.

mod issued;
mod present;

use super::context::HsmContext;
use super::error::EngineError;
use super::holder::ShareHolder;
use super::keyops::{certify_record_signing, live_backups};
use super::prompt::{ApprovalPrompt, Prompt, ShareProof};
use super::run::CeremonyRun;
use super::step::{Next, StepFailure};
use crate::hsm::{TokenSession, UserKind};
use crate::inventory::custodians as register;
use crate::inventory::{self, KeyRecord, KeyState, KeyType};
use crate::journal::Event;
use crate::operations::{recover_root_kek, restore_backup};
use crate::script::Role;
use crate::shares::Share;
use issued::Issued;

/// Shares being presented for the current recovery step.
pub(super) struct RecoveryRun {
    kek: KeyRecord,
    set_id: String,
    /// Every share of the set the journal says was handed out, by index.
    issued: Vec<Issued>,
    /// The share fingerprints recorded when the set was created (index i at i − 1).
    fingerprints: Vec<String>,
    /// (custodian id for the journal, share) of each share presented and checked.
    opened: Vec<(String, Share)>,
    /// (who, why) of each refused presentation, journaled when the step ends.
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

/// Starts the step: PINs, then the custodians present their shares.
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
    let (issued, fingerprints) = issued::issued(run, &set_id)?;
    let k = needed(run);
    // Refused before anyone types a share: K holders must be in the room.
    let here = issued
        .iter()
        .filter(|i| run.custodian_here(&i.name))
        .count();
    if here < k {
        return Err(StepFailure::refused(format!(
            "share set {set_id} of root KEK \"{}\": {here} of the custodians checked in hold one of its {} issued share(s), fewer than the {k} needed; the holders of the shares must check in",
            kek.label,
            issued.len()
        )));
    }
    Ok(Next::Wait(RecoveryRun {
        kek,
        set_id,
        issued,
        fingerprints,
        opened: Vec::new(),
        failures: Vec::new(),
    }))
}

pub(super) fn prompt(r: &RecoveryRun, run: &CeremonyRun, hsm: &HsmContext) -> Prompt {
    let presented = |index: u8| r.opened.iter().any(|(_, s)| s.index() == index);
    let enrolled = register::active(run.journal.store()).unwrap_or_default();
    let (approved, candidates): (Vec<_>, Vec<_>) = enrolled
        .iter()
        .filter_map(|c| {
            let i = r
                .issued
                .iter()
                .find(|i| i.holder == c.record.custodian_id && i.yubikey_serial.is_some())?;
            Some((run.approver(c), presented(i.index)))
        })
        .partition(|(_, done)| *done);
    let holders = r
        .issued
        .iter()
        .map(|i| ShareHolder {
            custodian: run
                .participants
                .iter()
                .find(|p| p.role == Role::Custodian && p.name == i.name)
                .map(|p| p.id.clone()),
            name: i.name.clone(),
            index: i.index,
            shown: i.shown,
            sealed_file: i.sealed_file.clone(),
            yubikey_serial: i.yubikey_serial,
            presented: presented(i.index),
        })
        .collect();
    let set = hex::decode(&r.set_id).unwrap_or_default();
    Prompt::Approval(ApprovalPrompt {
        step: run.step_id(),
        operation: "recover".into(),
        key_label: r.kek.label.clone(),
        request_text: format!(
            "Recover root KEK \"{}\" (inventory key {}) into token {} from share set {} ({}): each custodian presents their share: typed or scanned from their card, their sealed file and its passphrase, or their YubiKey and PIN.",
            r.kek.label,
            r.kek.key_id,
            hsm.selector,
            r.set_id,
            crate::words::short_words(&set, 4)
        ),
        hash_words: crate::words::short_words(&set, 4),
        request_sha256: r.set_id.clone(),
        needed: needed(run),
        approved: approved.into_iter().map(|(a, _)| a).collect(),
        candidates: candidates.into_iter().map(|(a, _)| a).collect(),
        failures: r
            .failures
            .iter()
            .map(|(who, why)| format!("{who}: {why}"))
            .collect(),
        expires_at: 0,
        holders,
    })
}

/// A custodian presents a share; the root KEK is rebuilt once K are kept.
pub(super) fn present_share(
    r: &mut RecoveryRun,
    run: &mut CeremonyRun,
    hsm: &HsmContext,
    who: &str,
    proof: ShareProof,
) -> Result<Next<RecoveryRun>, EngineError> {
    present::present(r, run, who, proof)?;
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
            reason: why.clone(),
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
            "{} of the {k} shares needed were presented; the root KEK was not rebuilt",
            r.opened.len()
        )));
    }
    let (Some(user), Some(_)) = (hsm.user_pin.as_ref(), hsm.so_pin.as_ref()) else {
        return Err(StepFailure::refused("the SO and user PINs are not known"));
    };
    let backups = live_backups(run, &r.kek.key_id)?;
    let actor = run.actor_id();
    let access = hsm.access()?;
    // The same inventory key, moved to this token: one active root KEK, its backups still
    // recorded under it.
    recover_root_kek(
        &mut run.journal,
        &access,
        &r.kek.key_id,
        &r.kek.key_id,
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
        // The restored key's entry moves here too, so quorum steps on this token find it.
        let reason = format!(
            "restored from backup {} in ceremony {} under the recovered root KEK {}",
            b.backup_id, run.id, r.kek.key_id
        );
        let serial = s.token().serial.clone();
        inventory::relocate_backed_up(&mut run.journal, &b.backup_id, &serial, &ev.id, &reason)?;
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
