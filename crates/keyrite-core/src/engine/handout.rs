//! The share runner: `distribute-share` (a custodian enrolled with a YubiKey gets their share
//! sealed to its 9d key; any other is shown their share or takes it sealed with a passphrase)
//! and `verify-shares` (each custodian proves they hold the share
//! issued: typed back, a sealed file and its passphrase, or opened with their YubiKey).
//! The share set itself is the ceremony's ([`CeremonyRun::set`]): steps before and after
//! this one make and read it.

use super::cardprint;
use super::error::EngineError;
use super::prompt::{Prompt, ShareProof};
use super::run::{write_new, CeremonyRun};
use super::shareset::SetRecord;
use super::step::{Failure, Next, StepFailure};
use crate::inventory::custodians as register;
use crate::journal::Event;
use crate::operations::open_sealed_share;
use crate::script::Action;
use crate::secret::{SecretBytes, SecretText};
use crate::shares::seal::{open_with_passphrase, seal_with_passphrase, Argon2Params};
use crate::shares::Share;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

mod sealed;
use sealed::seal_to_enrolled;

/// What the runner waits for.
pub(super) enum ShareWait {
    Distribute,
    Verify,
}

fn bad(m: String) -> EngineError {
    EngineError::BadAnswer(m)
}

pub(super) fn start(run: &mut CeremonyRun, action: &Action) -> Result<Next<ShareWait>, Failure> {
    match action {
        Action::DistributeShare => {
            if run.shares.is_some() {
                if let Some(f) = seal_to_enrolled(run)? {
                    return Ok(Next::Failed(f));
                }
            }
            // Every share is journaled as handed out (killed before the step's sign-offs
            // completed): nothing is lost and nothing is handed out twice.
            if run
                .set
                .as_ref()
                .is_some_and(|s| !s.void && s.next_undistributed().is_none())
            {
                return Ok(Next::Done);
            }
            if run.shares.is_none() {
                return Err(StepFailure::refused(
                    "no share set is in memory to distribute: the generate-and-split step must run in this session",
                )
                .into());
            }
            Ok(Next::Wait(ShareWait::Distribute))
        }
        Action::VerifyShares => {
            let Some(set) = run.set.as_ref().filter(|s| !s.void) else {
                if rotated_earlier(run) {
                    // The rotation step rotated a key other than the root KEK: the custodians'
                    // shares are unchanged, so nobody is asked for anything.
                    run.journal.append_with_details(
                        Event::Note {
                            kind: NO_NEW_SET_NOTE.into(),
                        },
                        json!({
                            "ceremony_id": run.id,
                            "step": run.step_id(),
                            "reason": NO_NEW_SET_REASON,
                        }),
                    )?;
                    return Ok(Next::Done);
                }
                return Err(StepFailure::refused("no share set of this ceremony to verify").into());
            };
            let missing = set.undistributed();
            if !missing.is_empty() {
                let missing: Vec<String> = missing.iter().map(u8::to_string).collect();
                return Err(StepFailure::refused(format!(
                    "share set {} was not fully handed out before the interruption: share(s) {} were never written and are lost; the root KEK \"{}\" is kept because the backups are wrapped under it; rotate the root KEK again so that every custodian holds a share",
                    set.set_id,
                    missing.join(", "),
                    set.protects
                ))
                .into());
            }
            Ok(match set.next_unverified() {
                None => Next::Done,
                Some(_) => Next::Wait(ShareWait::Verify),
            })
        }
        _ => Err(
            StepFailure::refused(format!("action {} hands out no shares", action.kind())).into(),
        ),
    }
}

/// The journal note of a verify step after a rotation that made no new share set.
pub(super) const NO_NEW_SET_NOTE: &str = "no_new_share_set";
/// Its reason, shown on the step's result card.
pub(super) const NO_NEW_SET_REASON: &str = "no new share set: the key rotated in this ceremony is not the root KEK, so every custodian's share is unchanged and nothing is verified";

/// A rotate step comes before the current one (it made a share set only if it rotated the root
/// KEK).
fn rotated_earlier(run: &CeremonyRun) -> bool {
    run.script
        .steps
        .iter()
        .take(run.step)
        .any(|s| s.action.kind() == crate::script::ActionKind::Rotate)
}

pub(super) fn prompt(w: &ShareWait, run: &CeremonyRun) -> Prompt {
    match w {
        ShareWait::Distribute => share_prompt(run),
        ShareWait::Verify => verify_prompt(run),
    }
}

fn next_undistributed(run: &CeremonyRun) -> Option<u8> {
    run.set.as_ref()?.next_undistributed()
}

fn next_unverified(run: &CeremonyRun) -> Option<u8> {
    run.set.as_ref()?.next_unverified()
}

fn share_prompt(run: &CeremonyRun) -> Prompt {
    let i = next_undistributed(run).unwrap_or(1);
    let share = run
        .shares
        .as_ref()
        .and_then(|s| s.shares.iter().find(|s| s.index() == i));
    let cid = format!("custodian-{i}");
    Prompt::ShowShare {
        custodian_name: run
            .participant(&cid)
            .map(|p| p.name.clone())
            .unwrap_or_default(),
        custodian: cid,
        index: i,
        count: run.set.as_ref().map(|s| s.count).unwrap_or(0),
        set_words: share.map(|s| s.set_id().words()).unwrap_or_default(),
        fingerprint_words: share.map(|s| s.fingerprint().words()).unwrap_or_default(),
        human_form: share
            .map(|s| s.human_form())
            .unwrap_or_else(|| SecretText::new(String::new())),
        qr_payload: share
            .map(|s| s.qr_payload())
            .unwrap_or_else(|| SecretText::new(String::new())),
    }
}

fn verify_prompt(run: &CeremonyRun) -> Prompt {
    let i = next_unverified(run).unwrap_or(1);
    let sealed_file = run
        .set
        .as_ref()
        .and_then(|s| s.distributed.get(&i).cloned().flatten())
        .map(PathBuf::from);
    if let Some(holder) = run.set.as_ref().and_then(|s| s.holders.get(&i)) {
        let rec = register::get(run.journal.store(), holder)
            .ok()
            .flatten()
            .map(|c| c.record);
        return Prompt::VerifyShare {
            custodian: holder.clone(),
            custodian_name: rec.as_ref().map(|r| r.name.clone()).unwrap_or_default(),
            index: i,
            sealed_file,
            yubikey_serial: rec.map(|r| r.yubikey_serial),
        };
    }
    let cid = format!("custodian-{i}");
    Prompt::VerifyShare {
        yubikey_serial: None,
        custodian_name: run
            .participant(&cid)
            .map(|p| p.name.clone())
            .unwrap_or_default(),
        custodian: cid,
        index: i,
        sealed_file,
    }
}

/// The next share was handed over: shown, sealed with `pass`, or both.
pub(super) fn distribute(
    run: &mut CeremonyRun,
    shown: bool,
    pass: Option<SecretText>,
) -> Result<Next<ShareWait>, EngineError> {
    let Some(i) = next_undistributed(run) else {
        return Err(bad("every share is distributed".into()));
    };
    let printer = cardprint::queue(run);
    if !shown && pass.is_none() && printer.is_none() {
        return Err(bad(format!(
            "share {i} was neither shown nor sealed; it must reach custodian-{i} one way"
        )));
    }
    if pass.as_ref().is_some_and(|p| p.len() < 8) {
        return Err(bad(format!(
            "the passphrase for share {i} is shorter than 8 characters; choose a longer one"
        )));
    }
    let set_id = run
        .set
        .as_ref()
        .map(|s| s.set_id.clone())
        .unwrap_or_default();
    let cid = format!("custodian-{i}");
    let share: &Share = run
        .shares
        .as_ref()
        .and_then(|s| s.shares.iter().find(|s| s.index() == i))
        .ok_or_else(|| bad(format!("share {i} is not in memory")))?;
    // Printed first: a card that did not print is the step's exception, before anything
    // about this share is written or journaled.
    let printed = match cardprint::print(run, share, &cid) {
        Ok(p) => p,
        Err(f) => return Ok(Next::Failed(f)),
    };
    let mut sealed = None;
    if let Some(p) = pass {
        let bytes = seal_with_passphrase(share, &p, Argon2Params::default())
            .map_err(|e| bad(e.to_string()))?;
        let path = run
            .data_root()
            .join("shares")
            .join(format!("{set_id}-{i}.krseal"));
        write_new(run.data_root(), &path, &bytes).map_err(|e| EngineError::Io(e.to_string()))?;
        sealed = Some((
            path.display().to_string(),
            hex::encode(Sha256::digest(&bytes)),
        ));
    }
    run.journal.append_with_details(
        Event::ShareDistributed {
            ceremony_id: run.id.clone(),
            set_id,
            index: i,
            custodian_id: cid,
            shown,
            sealed_file: sealed.as_ref().map(|s| s.0.clone()),
            sealed_sha256: sealed.as_ref().map(|s| s.1.clone()),
        },
        printed.unwrap_or(serde_json::Value::Null),
    )?;
    if let Some(set) = run.set.as_mut() {
        set.distributed.insert(i, sealed.map(|s| s.0));
    }
    if let Some(mem) = run.shares.as_mut() {
        mem.shares.retain(|s| s.index() != i);
    }
    if let Some(f) = seal_to_enrolled(run)? {
        return Ok(Next::Failed(f));
    }
    if next_undistributed(run).is_none() {
        run.shares = None;
        return Ok(Next::Done);
    }
    Ok(Next::Continue)
}

/// Opens share `i` of `set`, sealed to its holder's YubiKey, with their card and PIN.
fn open_with_yubikey(
    run: &CeremonyRun,
    set: &SetRecord,
    i: u8,
    pin: &SecretText,
) -> Result<Share, EngineError> {
    let holder = set
        .holders
        .get(&i)
        .ok_or_else(|| bad(format!("share {i} is not sealed to a YubiKey")))?;
    let rec = register::get(run.journal.store(), holder)?
        .map(|c| c.record)
        .ok_or_else(|| bad(format!("{holder} is not an enrolled custodian")))?;
    let file = set
        .distributed
        .get(&i)
        .cloned()
        .flatten()
        .ok_or_else(|| bad(format!("share {i} has no sealed file")))?;
    let sealed =
        std::fs::read(&file).map_err(|e| bad(format!("cannot read sealed share {file}: {e}")))?;
    let mut card = run.cards().open(rec.yubikey_serial)?;
    let pin = SecretBytes::from_slice(pin.expose().as_bytes());
    open_sealed_share(card.as_mut(), &rec, &pin, &sealed).map_err(|e| bad(e.to_string()))
}

/// A custodian proved the next share: it must be the share issued (set, index, fingerprint).
pub(super) fn verify(
    run: &mut CeremonyRun,
    proof: ShareProof,
) -> Result<Next<ShareWait>, EngineError> {
    let Some(i) = next_unverified(run) else {
        return Err(bad("every share is verified".into()));
    };
    let set = run.set.clone().unwrap_or_default();
    let share = match proof {
        ShareProof::Text(t) => {
            crate::shares::verify_one(t.expose()).map_err(|e| bad(e.to_string()))?
        }
        ShareProof::Sealed { file, passphrase } => {
            let bytes = std::fs::read(&file)
                .map_err(|e| bad(format!("cannot read sealed share {}: {e}", file.display())))?;
            open_with_passphrase(&bytes, &passphrase).map_err(|e| bad(e.to_string()))?
        }
        ShareProof::YubiKey { pin } => open_with_yubikey(run, &set, i, &pin)?,
    };
    let cid = set
        .holders
        .get(&i)
        .cloned()
        .unwrap_or_else(|| format!("custodian-{i}"));
    if share.set_id().to_string() != set.set_id || share.index() != i {
        return Err(bad(format!(
            "{cid} presented share {} of set {}, but share {i} of set {} is expected",
            share.index(),
            share.set_id(),
            set.set_id
        )));
    }
    let fp = share.fingerprint().hex();
    if set.fingerprints.get(usize::from(i) - 1) != Some(&fp) {
        return Err(bad(format!(
            "share {i} of {cid} does not match the fingerprint recorded when the set was created; it is not the share issued"
        )));
    }
    run.journal.append_with_details(
        Event::ShareVerified {
            set_id: set.set_id.clone(),
            index: i,
            fingerprint: fp,
            custodian_id: cid,
        },
        json!({"ceremony_id": run.id}),
    )?;
    if let Some(s) = run.set.as_mut() {
        s.verified.insert(i);
    }
    Ok(match next_unverified(run) {
        None => Next::Done,
        Some(_) => Next::Continue,
    })
}
