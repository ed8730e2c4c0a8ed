//! Reconciling the token with the journal after an interruption (resume): an action with an
//! intent but no outcome is undone or voided before the ceremony goes on.

use super::context::HsmContext;
use super::error::EngineError;
use super::replay::Pending;
use super::run::CeremonyRun;
use crate::hsm::UserKind;
use crate::inventory::{self, KeyState};
use crate::journal::Event;
use crate::script::{ActionKind, Script};

/// What resuming will put right before the ceremony goes on, one plain sentence per
/// interrupted action: why, and what Keyrite will do about it (destroy, void, remove, redo).
pub(super) fn plan(pending: &[Pending]) -> Vec<String> {
    pending
        .iter()
        .map(|p| {
            let mut will = Vec::new();
            if let Some(label) = &p.destroy_label {
                will.push(format!(
                    "destroy the key \"{label}\" on the token (with proof) and record it destroyed in the inventory"
                ));
            }
            if let Some(set) = &p.void_set {
                will.push(format!("void share set {set}"));
            }
            if let Some(file) = &p.remove_file {
                will.push(format!("remove the unjournaled file {file}"));
            }
            if !p.reset_steps.is_empty() {
                will.push(format!("run step(s) {} again", p.reset_steps.join(", ")));
            }
            if will.is_empty() {
                format!("{}.", p.reason)
            } else {
                format!("{}. Before going on, Keyrite will {}.", p.reason, will.join("; "))
            }
        })
        .collect()
}

/// Reconciles the interrupted actions in `pending` (the user PIN is known). A failed login
/// keeps what is left and forgets the PIN, so it is asked again.
pub(super) fn run_reconcile(
    run: &mut CeremonyRun,
    hsm: &mut HsmContext,
    pending: &mut Vec<Pending>,
) -> Result<(), EngineError> {
    let todo = std::mem::take(pending);
    for p in todo {
        if let Some(label) = &p.destroy_label {
            let s = match hsm.login(UserKind::User) {
                Ok(s) => s,
                Err(e) => {
                    pending.push(p.clone());
                    hsm.user_pin = None;
                    return Err(EngineError::Io(format!(
                        "reconciling after an interruption: {e}"
                    )));
                }
            };
            let objs = crate::hsm::keygen::find_key(&s, label)?;
            let serial = s.token().serial.clone();
            if !objs.is_empty() {
                let proof = crate::hsm::destroy::destroy_key(&s, label)?;
                run.journal.append(Event::KeyDestroyed {
                    key_id: label.clone(),
                    token_serial: serial.clone(),
                    cka_id: proof.ids.join(","),
                    proof: serde_json::to_value(&proof).unwrap_or_default(),
                })?;
            }
            // The interrupted attempt may have recorded the key before the kill: the
            // inventory must not list as live a key that is no longer on the token.
            void_in_inventory(run, label, &serial, &p.reason)?;
        }
        if let Some(set_id) = &p.void_set {
            run.journal.append(Event::ShareSetVoided {
                set_id: set_id.clone(),
                reason: p.reason.clone(),
            })?;
            run.set = None;
        }
        if let Some(file) = &p.remove_file {
            // Best effort: a missing file is what the reconciliation wants anyway.
            let _ = std::fs::remove_file(file);
        }
        for step in &p.reset_steps {
            run.journal.append(Event::StepReset {
                ceremony_id: run.id.clone(),
                step: step.clone(),
                reason: p.reason.clone(),
            })?;
            run.done.remove(step);
            run.signed.remove(step);
            // A reset step runs its action again, even if the attempt journaled it done.
            run.acted.remove(step);
        }
    }
    Ok(())
}

/// Records as destroyed every inventory key labelled `label` on token `serial` that is not
/// destroyed yet: the reconciliation has just removed every object with that label.
fn void_in_inventory(
    run: &mut CeremonyRun,
    label: &str,
    serial: &str,
    why: &str,
) -> Result<(), EngineError> {
    let live: Vec<_> = inventory::list(run.journal.store())?
        .into_iter()
        .filter(|r| r.label == label && r.token_serial == serial)
        .filter(|r| r.state != KeyState::Destroyed)
        .collect();
    let reason = format!("voided on resume: {why}");
    let actor = run.actor_id();
    for r in live {
        inventory::transition(
            &mut run.journal,
            &r.key_id,
            KeyState::Destroyed,
            &reason,
            &actor,
        )?;
    }
    Ok(())
}

/// A share set voided by the reconciliation restarts every share step of the script.
pub(super) fn restart_share_steps(pending: &mut [Pending], script: &Script) {
    let share_steps: Vec<String> = script
        .steps
        .iter()
        .filter(|s| {
            matches!(
                s.action.kind(),
                ActionKind::GenerateAndSplitRootKek
                    | ActionKind::DistributeShare
                    | ActionKind::VerifyShares
            )
        })
        .map(|s| s.id.as_str().to_string())
        .collect();
    for p in pending.iter_mut().filter(|p| p.void_set.is_some()) {
        for s in &share_steps {
            if !p.reset_steps.contains(s) {
                p.reset_steps.push(s.clone());
            }
        }
    }
}
