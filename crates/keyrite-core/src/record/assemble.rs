//! Turning a ceremony's journal entries into transcript sections (the compliance mapping is
//! in `compliance.rs`).

use serde_json::{json, Value};

use super::compliance::compliance_for;
use super::model::*;
use super::transcript::{Item, RecordTranscript, TRANSCRIPT_FORMAT};
use super::RecordError;
use crate::journal::Event;
use crate::operations::kek_in_force::kcv_words;

/// Always cited: the journaled, checkpointed step is an audit control.
const ALWAYS: &[&str] = &["HIPAA 164.312(b)", "ISO 27001 A.8.24"];

fn s(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "—".into())
}

pub(super) fn assemble(
    ceremony_id: &str,
    items: &[Item],
    origin: &str,
) -> Result<RecordTranscript, RecordError> {
    let first = items
        .first()
        .ok_or_else(|| RecordError::CeremonyNotFound(ceremony_id.to_string()))?;
    let Some(Event::CeremonyStarted {
        script_name,
        script_sha256,
        mode,
        ..
    }) = &first.event
    else {
        return Err(RecordError::CeremonyNotFound(ceremony_id.to_string()));
    };
    let words = hex::decode(script_sha256)
        .map(|b| crate::words::to_words(&b))
        .unwrap_or_default();
    let mut t = RecordTranscript {
        format: TRANSCRIPT_FORMAT.into(),
        header: Header {
            ceremony_id: ceremony_id.to_string(),
            script_name: script_name.clone(),
            script_id: first.detail("script_id"),
            script_version: first.detail("script_version"),
            script_sha256: script_sha256.clone(),
            script_sha256_words: words,
            mode: mode.to_string(),
            site: first.detail("site"),
            app_version: first.detail("app_version"),
            binary_sha256: first.detail("binary_sha256"),
            os: first.detail("os"),
            journal_origin: origin.to_string(),
            started_at: first.at.clone(),
            started_seq: first.seq,
            closed_at: None,
            outcome: None,
            outcome_at: None,
            outcome_seq: None,
            hsm_data: first.details.get("hsm_data").cloned(),
        },
        participants: vec![],
        corrections: vec![],
        preflight: vec![],
        hsm: vec![],
        steps: vec![],
        exceptions: vec![],
        keys: vec![],
        share_sets: vec![],
        backups: vec![],
        approvals: vec![],
        inventory: vec![],
        destructions: vec![],
        other_events: vec![],
        checkpoint: CheckpointRef::default(),
        previous_closing: None,
        root_kek: None,
    };
    // The step that is running, as an index into t.steps.
    let mut open_step: Option<usize> = None;
    for it in &items[1..] {
        if let Some(i) = open_step {
            let kind = it.kind();
            let row = &mut t.steps[i];
            row.event_seqs.push(it.seq);
            for c in compliance_for(&kind) {
                if !row.compliance.iter().any(|x| x == c) {
                    row.compliance.push(c.to_string());
                }
            }
        }
        let at = it.at.clone();
        let seq = it.seq;
        let Some(ev) = &it.event else {
            t.other_events.push(other(it));
            continue;
        };
        match ev.clone() {
            Event::CeremonyOutcome { outcome, .. } => {
                t.header.outcome = Some(outcome.into());
                t.header.outcome_at = Some(at);
                t.header.outcome_seq = Some(seq);
                // The step deciding it (`sign-record`) finishes after the record is signed.
                if let Some(i) = open_step {
                    t.steps[i].outcome = IN_PROGRESS.into();
                }
            }
            Event::CeremonyClosed { outcome, .. } => {
                t.header.closed_at = Some(at);
                t.header.outcome = Some(outcome.into());
            }
            Event::ParticipantCheckedIn {
                participant_id,
                name,
                role,
                credential_fingerprint,
                ..
            } => t.participants.push(Participant {
                participant_id,
                name,
                role: role.into(),
                credential_fingerprint,
                signature_spki: it.detail("signature_spki"),
                at,
                seq,
            }),
            Event::ParticipantCorrected {
                participant_id,
                role,
                seat,
                previous_name,
                name,
                reason,
                ..
            } => super::corrections::apply(
                &mut t.participants,
                &mut t.corrections,
                super::corrections::Correction {
                    participant_id,
                    role: role.into(),
                    seat,
                    previous_name,
                    name,
                    reason,
                    at,
                    seq,
                },
            ),
            Event::PreflightResult {
                check,
                passed,
                detail,
                ..
            } => t.preflight.push(PreflightRow {
                check: check.into(),
                passed,
                detail,
                at,
                seq,
            }),
            Event::HsmTokenInitialised {
                token_serial,
                token_label,
                manufacturer,
                model,
            } => t.hsm.push(HsmIdentity {
                token_serial,
                token_label,
                manufacturer,
                model,
                seq,
                assigned_serial: it
                    .detail("assigned_serial")
                    .filter(|s| !s.trim().is_empty()),
            }),
            Event::StepStarted { step, title, .. } => {
                let mut compliance: Vec<String> = ALWAYS.iter().map(|c| c.to_string()).collect();
                if let Some(Value::Array(refs)) = it.details.get("compliance") {
                    compliance.extend(refs.iter().filter_map(|r| r.as_str().map(str::to_string)));
                }
                t.steps.push(StepRow {
                    step,
                    title,
                    actor: it.detail("actor"),
                    started_at: at,
                    finished_at: None,
                    outcome: "not finished".into(),
                    sign_offs: vec![],
                    seq,
                    event_seqs: vec![],
                    compliance,
                });
                open_step = Some(t.steps.len() - 1);
            }
            Event::StepCompleted { step, .. } | Event::StepFailed { step, .. } => {
                let failed = match ev {
                    Event::StepFailed { error, .. } => Some(error.clone()),
                    _ => None,
                };
                if let Some(row) = t.steps.iter_mut().rev().find(|r| r.step == step) {
                    row.finished_at = Some(at);
                    row.outcome = match failed {
                        Some(e) => format!("failed: {e}"),
                        None => "completed".into(),
                    };
                    if row.actor.is_none() {
                        row.actor = it.detail("actor");
                    }
                }
                open_step = None;
            }
            Event::SignOff {
                step,
                participant_id,
                role,
                signature_sha256,
                ..
            } => {
                let so = SignOffRow {
                    participant_id,
                    role: role.into(),
                    signature_sha256,
                    at,
                    seq,
                };
                match t.steps.iter_mut().rev().find(|r| r.step == step) {
                    Some(row) => row.sign_offs.push(so),
                    None => t.other_events.push(other(it)),
                }
            }
            Event::ExceptionOpened {
                exception_id,
                step,
                description,
                ..
            } => t.exceptions.push(ExceptionRow {
                exception_id,
                step,
                description,
                opened_at: at,
                seq,
                decision: None,
                decided_by: vec![],
                reason: None,
                decided_at: None,
            }),
            Event::ExceptionDecided {
                exception_id,
                decision,
                decided_by,
                reason,
                ..
            } => match t
                .exceptions
                .iter_mut()
                .find(|x| x.exception_id == exception_id)
            {
                Some(x) => {
                    x.decision = Some(decision.into());
                    x.decided_by = decided_by;
                    x.reason = Some(reason);
                    x.decided_at = Some(at);
                }
                None => t.other_events.push(other(it)),
            },
            Event::KeyGenerated {
                key_id,
                label,
                cka_id,
                token_serial,
                algorithm,
                public_fingerprint,
                evidence,
            } => t.keys.push(key_output(
                KeyOutput {
                    key_id,
                    label,
                    cka_id,
                    token_serial,
                    algorithm,
                    origin: "generated in the HSM".into(),
                    fingerprint: public_fingerprint,
                    kcv: None,
                    kcv_method: None,
                    fingerprint_words: None,
                    protection: None,
                    attributes: vec![],
                    public_attributes: vec![],
                    at,
                    seq,
                },
                &evidence,
                &it.details,
            )),
            Event::KeyImported {
                key_id,
                label,
                cka_id,
                token_serial,
                algorithm,
                source,
            } => t.keys.push(key_output(
                KeyOutput {
                    key_id,
                    label,
                    cka_id,
                    token_serial,
                    algorithm,
                    origin: format!("imported from {source}"),
                    fingerprint: None,
                    kcv: None,
                    kcv_method: None,
                    fingerprint_words: None,
                    protection: None,
                    attributes: vec![],
                    public_attributes: vec![],
                    at,
                    seq,
                },
                // The engine journals the read-back as `details.evidence`; `attributes`
                // directly in `details` is accepted for entries written that way.
                it.details.get("evidence").unwrap_or(&it.details),
                &it.details,
            )),
            Event::ShareSetCreated {
                set_id,
                protects_key_id,
                threshold,
                share_count,
                share_fingerprints,
            } => t.share_sets.push(ShareSetOutput {
                set_id,
                protects_key_id,
                threshold,
                share_count,
                shares: share_fingerprints
                    .into_iter()
                    .enumerate()
                    .map(|(i, fingerprint)| ShareRow {
                        index: u8::try_from(i + 1).unwrap_or(u8::MAX),
                        fingerprint,
                        custodian_id: None,
                        verified_at: None,
                    })
                    .collect(),
                at,
                seq,
            }),
            Event::ShareVerified {
                set_id,
                index,
                fingerprint,
                custodian_id,
            } => {
                let row = t
                    .share_sets
                    .iter_mut()
                    .find(|x| x.set_id == set_id)
                    .and_then(|x| x.shares.iter_mut().find(|r| r.index == index))
                    .filter(|r| r.fingerprint == fingerprint);
                match row {
                    Some(r) => {
                        r.custodian_id = Some(custodian_id);
                        r.verified_at = Some(at);
                    }
                    None => t.other_events.push(other(it)),
                }
            }
            Event::BackupMade {
                backup_id,
                key_id,
                wrapped_by,
                blob_sha256,
                location,
            } => t.backups.push(BackupRow {
                backup_id,
                key_id,
                action: "made".into(),
                wrapped_by: Some(wrapped_by),
                wrapping_key_kcv: it
                    .details
                    .get("wrapping_key_kcv")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                blob_sha256: Some(blob_sha256),
                location: Some(location),
                token_serial: None,
                at,
                seq,
            }),
            Event::BackupRestored {
                backup_id,
                key_id,
                token_serial,
            } => t.backups.push(BackupRow {
                backup_id,
                key_id,
                action: "restored".into(),
                wrapped_by: None,
                wrapping_key_kcv: None,
                blob_sha256: None,
                location: None,
                token_serial: Some(token_serial),
                at,
                seq,
            }),
            Event::ApprovalRequested {
                request_id,
                request_sha256,
                operation,
                key_id,
                required,
            } => t.approvals.push(ApprovalRow {
                request_id,
                request_sha256,
                operation,
                key_id,
                required,
                request: it.detail("request"),
                requested_at: at,
                seq,
                decisions: vec![],
            }),
            Event::ApprovalGranted {
                request_id,
                custodian_id,
                signature_sha256,
            } => {
                let d = ApprovalDecision {
                    custodian_id,
                    granted: true,
                    signature_sha256: Some(signature_sha256),
                    signature: it.detail("signature"),
                    signature_spki: it.detail("signature_spki"),
                    reason: None,
                    at,
                    seq,
                };
                push_decision(&mut t, it, &request_id, d);
            }
            Event::ApprovalRefused {
                request_id,
                custodian_id,
                reason,
            } => {
                let d = ApprovalDecision {
                    custodian_id,
                    granted: false,
                    signature_sha256: None,
                    signature: None,
                    signature_spki: None,
                    reason: Some(reason),
                    at,
                    seq,
                };
                push_decision(&mut t, it, &request_id, d);
            }
            Event::KeyRegistered {
                key_id,
                label,
                purpose,
                cryptoperiod_days,
                ..
            } => t.inventory.push(InventoryChange {
                key_id,
                change: "registered".into(),
                detail: format!(
                    "label {label}, purpose {purpose}, cryptoperiod {cryptoperiod_days} days"
                ),
                at,
                seq,
            }),
            Event::InventoryStateChanged {
                key_id,
                from,
                to,
                reason,
                actor,
            } => t.inventory.push(InventoryChange {
                key_id,
                change: "state changed".into(),
                detail: format!("{from:?} → {to:?} by {actor}: {reason}"),
                at,
                seq,
            }),
            Event::InventoryDependencyAdded {
                key_id,
                dependency,
                until,
            } => t.inventory.push(InventoryChange {
                key_id,
                change: "dependency added".into(),
                detail: format!("{dependency} until {}", s(&until)),
                at,
                seq,
            }),
            Event::KeyDestroyed {
                key_id,
                token_serial,
                cka_id,
                proof,
            } => {
                t.inventory.push(InventoryChange {
                    key_id: key_id.clone(),
                    change: "destroyed".into(),
                    detail: format!("CKA_ID {cka_id} on token {token_serial}"),
                    at: at.clone(),
                    seq,
                });
                t.destructions.push(Destruction {
                    key_id,
                    token_serial,
                    cka_id,
                    proof,
                    at,
                    seq,
                });
            }
            // The closing checkpoint is the record's anchor, shown on its own; earlier ones
            // and everything else are listed generically.
            _ => t.other_events.push(other(it)),
        }
    }
    Ok(t)
}

fn push_decision(t: &mut RecordTranscript, it: &Item, request_id: &str, d: ApprovalDecision) {
    match t.approvals.iter_mut().find(|a| a.request_id == request_id) {
        Some(a) => a.decisions.push(d),
        None => t.other_events.push(other(it)),
    }
}

fn other(it: &Item) -> OtherEvent {
    let mut kind = it.kind();
    if let Some(k) = it.raw.get("kind").and_then(Value::as_str) {
        kind = format!("{kind}: {k}");
    }
    OtherEvent {
        kind,
        body: json!({ "event": it.raw, "details": it.details }),
        at: it.at.clone(),
        seq: it.seq,
    }
}

/// The outcome of the step that decided the ceremony's outcome and produced the record: it
/// completes after the record is signed, covered by the closing checkpoint.
pub(super) const IN_PROGRESS: &str = "in progress: this record is its output; its sign-offs \
     and the ceremony's close follow, covered by the closing checkpoint";

/// Fills a key's evidence from the journaled read-back: attribute tables, KCV (secret keys),
/// fingerprint words, and the key protection if the entry states it.
fn key_output(mut k: KeyOutput, evidence: &Value, details: &Value) -> KeyOutput {
    k.attributes = attribute_table(evidence.get("attributes"));
    k.public_attributes = attribute_table(evidence.get("public_attributes"));
    let kcv = evidence.get("kcv");
    k.kcv = kcv
        .and_then(|v| v.get("value"))
        .and_then(Value::as_str)
        .map(str::to_string);
    k.kcv_method = kcv
        .and_then(|v| v.get("method"))
        .and_then(Value::as_str)
        .map(str::to_string);
    if k.fingerprint.is_none() {
        k.fingerprint = evidence
            .get("spki_sha256")
            .and_then(Value::as_str)
            .map(str::to_string);
    }
    k.fingerprint_words = match (&k.fingerprint, &k.kcv) {
        (Some(fp), _) => hex::decode(fp).ok().map(|b| crate::words::to_words(&b)),
        (None, Some(kcv)) => Some(kcv_words(kcv)).filter(|w| !w.is_empty()),
        (None, None) => None,
    };
    // Hook for the key-protection statement (private KEK, unwrap template): taken as
    // journaled from the evidence or the details, whichever names it.
    k.protection = ["protection", "key_protection"].iter().find_map(|f| {
        evidence
            .get(*f)
            .or_else(|| details.get(*f))
            .filter(|v| !v.is_null())
            .cloned()
    });
    k
}

fn attribute_table(v: Option<&Value>) -> Vec<AttributeCheck> {
    v.and_then(|v| serde_json::from_value::<Vec<AttributeCheck>>(v.clone()).ok())
        .unwrap_or_default()
}
