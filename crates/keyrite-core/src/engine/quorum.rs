//! The quorum runner (`rotate`, `destroy`, `replace-custodian`): choose the key, make the
//! [`ApprovalRequest`] at the journal's current head, collect K custodians' YubiKey
//! signatures one at a time, then hand everything to [`crate::operations`]
//! (`quorum_ops.rs`), which checks the quorum again immediately before the PKCS#11 call and
//! journals the request, the approvals or the refusal.
//!
//! Nothing is journaled while approvals are collected: any append would move the journal
//! head and void the request. Failed attempts (wrong PIN, wrong card) are kept in the
//! runner's state and journaled as `approval_refused` right after the operation ran or was
//! refused.

use super::context::HsmContext;
use super::error::EngineError;
use super::prompt::{ApprovalPrompt, KeyChoice, Prompt};
use super::quorum_ops::{is_root_kek, run_operation, Op, QuorumRun};
use super::run::CeremonyRun;
use super::step::{Next, StepFailure};
use crate::hsm::UserKind;
use crate::inventory::custodians as register;
use crate::inventory::{self, KeyRecord};
use crate::journal::Event;
use crate::operations::new_request;
use crate::quorum::QuorumPolicy;
use crate::script::Action;
use crate::secret::{SecretBytes, SecretText};
use crate::words::short_words;

/// How long custodians have to approve a request.
const REQUEST_LIFETIME_SECONDS: u64 = 3600;

/// What the runner waits for.
pub(super) enum QuorumWait {
    /// The key the step acts on is chosen at the screen.
    ChooseKey,
    /// Custodians approve the request.
    Approve(Box<QuorumRun>),
}

fn fingerprint_words(rec: &KeyRecord) -> String {
    rec.fingerprint
        .as_deref()
        .and_then(|f| hex::decode(f).ok())
        .map(|d| short_words(&d, 4))
        .unwrap_or_else(|| "(no fingerprint)".into())
}

fn op_of(run: &CeremonyRun) -> Op {
    run.current()
        .and_then(|s| Op::of(&s.action))
        .map(|(o, _)| o)
        .unwrap_or(Op::Rotate)
}

/// Inventory keys on this token that `op` may act on.
fn candidates(run: &CeremonyRun, hsm: &HsmContext, op: Op) -> Vec<KeyRecord> {
    let serial = hsm.token_serial();
    inventory::list(run.journal.store())
        .unwrap_or_default()
        .into_iter()
        .filter(|r| Some(&r.token_serial) == serial.as_ref() && op.allows(r.state))
        .filter(|r| op != Op::Replace || is_root_kek(r))
        .collect()
}

/// The key named by the script (`key` = label or inventory id) or chosen at the screen.
fn resolve_key(
    run: &CeremonyRun,
    hsm: &HsmContext,
    op: Op,
    named: Option<&str>,
) -> Result<Option<KeyRecord>, StepFailure> {
    let Some(name) = named else {
        // Resharing acts on the root KEK: the one active on this token, if there is one.
        if let (Op::Replace, [one]) = (op, candidates(run, hsm, op).as_slice()) {
            return Ok(Some(one.clone()));
        }
        return Ok(None);
    };
    let found: Vec<KeyRecord> = candidates(run, hsm, op)
        .into_iter()
        .filter(|r| r.key_id == name || r.label == name)
        .collect();
    match found.as_slice() {
        [one] => Ok(Some(one.clone())),
        [] => Err(StepFailure::refused(format!(
            "no key \"{name}\" on this token can be {}d now (it is not in the inventory, or its state does not allow it); `keyrite inventory list` shows the keys",
            op.name()
        ))),
        _ => Err(StepFailure::refused(format!(
            "\"{name}\" names {} keys in the inventory; give the inventory key id",
            found.len()
        ))),
    }
}

/// Runs a quorum step as far as it can without people: key, PINs, request.
pub(super) fn start(
    run: &CeremonyRun,
    hsm: &HsmContext,
    action: &Action,
    chosen: Option<String>,
) -> Result<Next<QuorumWait>, StepFailure> {
    let Some((op, named)) = Op::of(action) else {
        return Err(StepFailure::refused(format!(
            "action {} has no quorum integration in the engine yet; skip the step by exception and run the operation with `keyrite` once it has",
            action.kind()
        )));
    };
    let Some(rec) = resolve_key(run, hsm, op, named.or(chosen.as_deref()))? else {
        return Ok(Next::Wait(QuorumWait::ChooseKey));
    };
    let mut ask = hsm.need(
        UserKind::User,
        &format!("{} key \"{}\"", op.name(), rec.label),
    );
    if ask.is_none() && op != Op::Destroy && is_root_kek(&rec) {
        let purpose = format!("import the new root KEK replacing \"{}\"", rec.label);
        ask = hsm.need(UserKind::So, &purpose);
    }
    if let Some(mut ask) = ask {
        ask.chosen_key = chosen;
        return Ok(Next::Pin(ask));
    }
    let Some(t) = run.script.roles.custodians else {
        return Err(StepFailure::refused(
            "the script declares no custodians to approve",
        ));
    };
    let mut enrolled: Vec<_> = register::active(run.journal.store())?
        .into_iter()
        .map(|c| c.record)
        .collect();
    if op == Op::Replace {
        // The new set is exactly the enrolled custodians in the room.
        enrolled.retain(|c| run.custodian_here(&c.name));
        if enrolled.len() != usize::from(t.n()) {
            return Err(StepFailure::refused(format!(
                "{} of the checked-in custodians are enrolled, but the new share set needs {}: enrol the new custodian's YubiKey first",
                enrolled.len(),
                t.n()
            )));
        }
    }
    if enrolled.len() < usize::from(t.k()) {
        return Err(StepFailure::refused(format!(
            "{} custodian(s) are enrolled but the quorum needs {} of {}: run the custodian-enrolment ceremony first",
            enrolled.len(),
            t.k(),
            t.n()
        )));
    }
    let policy = QuorumPolicy::new(usize::from(t.k()), enrolled)?;
    let step_no = u32::try_from(run.step + 1).unwrap_or(u32::MAX);
    let request = new_request(
        &run.journal,
        op.operation(),
        &rec,
        &run.id,
        step_no,
        crate::operations::now_unix() + REQUEST_LIFETIME_SECONDS,
    )?;
    Ok(Next::Wait(QuorumWait::Approve(Box::new(QuorumRun {
        key_id: rec.key_id.clone(),
        policy,
        request,
        approvals: Vec::new(),
        failures: Vec::new(),
    }))))
}

pub(super) fn prompt(w: &QuorumWait, run: &CeremonyRun, hsm: &HsmContext) -> Prompt {
    match w {
        QuorumWait::ChooseKey => {
            let op = op_of(run);
            Prompt::ChooseKey {
                step: run.step_id(),
                operation: op.name().into(),
                candidates: candidates(run, hsm, op)
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
        QuorumWait::Approve(q) => approval_prompt(q, run),
    }
}

/// Whether the current step acts on a key suspected or known compromised.
fn compromised(run: &CeremonyRun) -> bool {
    matches!(
        run.current().map(|s| &s.action),
        Some(
            Action::Rotate {
                compromised: true,
                ..
            } | Action::Destroy {
                compromised: true,
                ..
            }
        )
    )
}

fn approval_prompt(q: &QuorumRun, run: &CeremonyRun) -> Prompt {
    let enrolled = register::active(run.journal.store()).unwrap_or_default();
    let (approved, candidates): (Vec<_>, Vec<_>) = enrolled
        .iter()
        .filter(|c| q.policy.custodians().contains(&c.record))
        .map(|c| run.approver(c))
        .partition(|a| q.approvals.iter().any(|x| x.custodian_id == a.custodian_id));
    let label = inventory::get(run.journal.store(), &q.key_id)
        .ok()
        .flatten()
        .map(|r| r.label)
        .unwrap_or_default();
    Prompt::Approval(ApprovalPrompt {
        step: run.step_id(),
        operation: q.request.operation.as_str().into(),
        key_label: label,
        request_text: if compromised(run) {
            // What the emergency-rotation script tells custodians to look for before approving.
            format!("COMPROMISED: {}", q.request.in_words())
        } else {
            q.request.in_words()
        },
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
        holders: Vec::new(),
    })
}

/// The key chosen at the screen: the step goes on with it.
pub(super) fn choose_key(
    run: &CeremonyRun,
    hsm: &HsmContext,
    action: &Action,
    key_id: String,
) -> Result<Next<QuorumWait>, EngineError> {
    let op = op_of(run);
    if !candidates(run, hsm, op).iter().any(|r| r.key_id == key_id) {
        return Err(EngineError::BadAnswer(format!(
            "key {key_id} is not one of the keys this step may {}",
            op.name()
        )));
    }
    Ok(start(run, hsm, action, Some(key_id)).unwrap_or_else(Next::Failed))
}

/// One custodian approves with their YubiKey; the operation runs once K have.
pub(super) fn approve(
    q: &mut QuorumRun,
    run: &mut CeremonyRun,
    hsm: &HsmContext,
    action: &Action,
    custodian_id: &str,
    pin: SecretText,
) -> Result<Next<QuorumWait>, EngineError> {
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
    if !run.custodian_here(&rec.name) {
        return Err(EngineError::BadAnswer(format!(
            "{} ({custodian_id}) has not checked in to this ceremony: only custodians in the room approve",
            rec.name
        )));
    }
    let pin = SecretBytes::from_slice(pin.expose().as_bytes());
    let signed = run
        .cards()
        .open(rec.yubikey_serial)
        .and_then(|mut card| crate::quorum::approve(card.as_mut(), &rec, &pin, &q.request));
    match signed {
        Ok(a) => q.approvals.push(a),
        Err(e) => {
            q.failures.push((custodian_id.to_string(), e.to_string()));
            return Err(e.into());
        }
    }
    if q.approvals.len() >= q.policy.threshold() {
        return finish(q, run, hsm, action);
    }
    Ok(Next::Continue)
}

/// Hands the request and approvals to the operation; the quorum is checked there, right
/// before the PKCS#11 call. Failed attempts are journaled after it.
pub(super) fn finish(
    q: &QuorumRun,
    run: &mut CeremonyRun,
    hsm: &HsmContext,
    action: &Action,
) -> Result<Next<QuorumWait>, EngineError> {
    let outcome = run_operation(run, hsm, q, action);
    for (who, why) in &q.failures {
        run.journal.append(Event::ApprovalRefused {
            request_id: hex::encode(&q.request.sha256()[..8]),
            custodian_id: who.clone(),
            reason: format!("attempt failed before the quorum check: {why}"),
        })?;
    }
    Ok(match outcome {
        Ok(()) => Next::Done,
        Err(happened) => Next::Failed(happened),
    })
}
