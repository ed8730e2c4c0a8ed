//! Checkpoints a ceremony signs with its record-signing key: the `checkpoint` step, the
//! record checkpoint over `ceremony_outcome` (then the record itself, `sign-record`), and the
//! closing checkpoint after `ceremony_closed` (`closing.rs` tells the order and why).

use super::closing::ClosingCheckpoint;
use super::context::{HsmContext, RECORD_SIGNING_LABEL};
use super::error::EngineError;
use super::record::RecordInput;
use super::run::{write_new, CeremonyRun, Cursor};
use super::status::StepState;
use super::step::{Failure, StepFailure};
use crate::hsm::signer::HsmSigner;
use crate::journal::{Event, CLOSING_UNAVAILABLE_NOTE};
use serde_json::json;

/// The purpose a checkpoint's `details` name.
const PURPOSE_RECORD: &str = "record";
const PURPOSE_CLOSING: &str = "closing";

/// Writes a checkpoint's text to `DATA/checkpoints/<size>.txt` (an existing file of that
/// size is the same head); returns the path.
fn write_checkpoint(run: &CeremonyRun, cp: &crate::journal::Checkpoint) -> Result<String, Failure> {
    let path = run
        .data_root()
        .join("checkpoints")
        .join(format!("{}.txt", cp.size));
    if !path.exists() {
        write_new(run.data_root(), &path, cp.to_text().as_bytes())?;
    }
    Ok(path.display().to_string())
}

/// Signs a checkpoint over the current head for `purpose` and stores it.
fn anchored(
    run: &mut CeremonyRun,
    signer: &HsmSigner,
    purpose: &str,
) -> Result<ClosingCheckpoint, Failure> {
    let cp = run
        .journal
        .checkpoint_with(signer, json!({ "ceremony_id": run.id, "purpose": purpose }))?;
    let file = write_checkpoint(run, &cp)?;
    Ok(ClosingCheckpoint::from_checkpoint(&cp, file))
}

/// The `checkpoint` step: a checkpoint over the journal so far.
pub(super) fn checkpoint(run: &mut CeremonyRun, hsm: &HsmContext) -> Result<(), Failure> {
    let signer = hsm.record_signer()?;
    let cp = run.journal.checkpoint(&signer)?;
    drop(signer);
    write_checkpoint(run, &cp)?;
    Ok(())
}

/// Before the record is rendered: journals `ceremony_outcome` and signs the record
/// checkpoint over it, so the record shows the outcome and everything up to it. The
/// outcome a `sign-record` step decides is `completed`: the script requires it to be the
/// last step, so every step before it is completed or skipped (skips are exceptions, listed
/// as such on the record's first page). Aborting closes without a record.
fn decide_outcome(run: &mut CeremonyRun, signer: &HsmSigner) -> Result<(), Failure> {
    let outcome = "completed".to_string();
    let completed = run
        .done
        .values()
        .filter(|s| **s == StepState::Completed)
        .count();
    let skipped = run.done.len() - completed;
    run.journal.append_with_details(
        Event::CeremonyOutcome {
            ceremony_id: run.id.clone(),
            outcome: outcome.as_str().into(),
        },
        json!({
            "steps_completed": completed,
            "steps_skipped": skipped,
            "exceptions": run.exceptions.len(),
            "decided_in_step": run.step_id(),
        }),
    )?;
    run.decided = Some(outcome);
    anchored(run, signer, PURPOSE_RECORD)?;
    Ok(())
}

/// The `sign-record` step: decides and journals the outcome, signs the record checkpoint
/// over it, then renders, signs and journals the record. When `record_produced` is already
/// journaled (killed before the step completed), the record stands and only the sign-offs
/// are asked again.
pub(super) fn sign_record(run: &mut CeremonyRun, hsm: &HsmContext) -> Result<(), Failure> {
    if run.record_sha256.is_some() {
        return Ok(());
    }
    let signer = hsm.record_signer()?;
    let certificate =
        crate::hsm::certificate::read_certificate(signer.session(), RECORD_SIGNING_LABEL)?;
    decide_outcome(run, &signer)?;
    let status = run.status(Cursor::Running);
    let Some(producer) = run.options.record_producer.as_ref() else {
        return Err(StepFailure::refused("no record producer").into());
    };
    let rec = producer
        .produce(RecordInput {
            status: &status,
            script: &run.script,
            journal: &run.journal,
            signer: &signer,
            certificate_der: &certificate,
            data: run.env.data(),
        })
        .map_err(|e| StepFailure::refused(e.to_string()))?;
    drop(signer);
    run.journal.append_with_details(
        Event::RecordProduced {
            ceremony_id: run.id.clone(),
            record_sha256: rec.sha256.clone(),
            pages: rec.pages,
        },
        json!({"location": rec.path.display().to_string()}),
    )?;
    run.record_sha256 = Some(rec.sha256);
    Ok(())
}

/// Signs and stores the closing checkpoint (the user PIN is known).
pub(super) fn sign_closing(run: &mut CeremonyRun, hsm: &HsmContext) -> Result<(), StepFailure> {
    let signer = hsm.record_signer()?;
    let cp = match anchored(run, &signer, PURPOSE_CLOSING) {
        Ok(cp) => cp,
        Err(Failure::Step(s)) => return Err(s),
        Err(Failure::Engine(e)) => return Err(StepFailure::engine(e)),
    };
    run.closing = Some(cp);
    Ok(())
}

/// No closing checkpoint can be signed: journals why (a `note` right after the close) so
/// the ceremony is not offered for resuming again; the next checkpoint signed on this
/// journal covers its tail.
pub(super) fn close_unanchored(run: &mut CeremonyRun, reason: &str) -> Result<(), EngineError> {
    run.journal.append_with_details(
        Event::Note {
            kind: CLOSING_UNAVAILABLE_NOTE.into(),
        },
        json!({ "ceremony_id": run.id, "reason": reason }),
    )?;
    run.closing_unavailable = Some(reason.to_string());
    Ok(())
}
