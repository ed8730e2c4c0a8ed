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
    keep_or_write(run.data_root(), &path, cp.to_text().as_bytes())?;
    Ok(path.display().to_string())
}

/// Writes `bytes` to `path` unless a regular file is already there (a checkpoint of the same
/// size is of the same head, written by an attempt that was interrupted). Whatever else is
/// there is refused, never written through and never taken for the checkpoint: a symbolic
/// link (even to a file that exists) or a directory.
fn keep_or_write(
    root: &std::path::Path,
    path: &std::path::Path,
    bytes: &[u8],
) -> Result<(), StepFailure> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => write_new(root, path, bytes),
        Err(e) => Err(StepFailure::refused(format!(
            "cannot write the checkpoint: cannot inspect {}: {e}; nothing was written",
            path.display()
        ))),
        Ok(m) if m.file_type().is_symlink() => Err(crate::paths::OutputError::Symlink {
            what: "the checkpoint",
            path: path.to_path_buf(),
            target: std::fs::read_link(path)
                .map(|t| t.display().to_string())
                .unwrap_or_else(|e| format!("unreadable: {e}")),
            root: root.to_path_buf(),
        }
        .into()),
        Ok(m) if !m.is_file() => Err(StepFailure::refused(format!(
            "cannot write the checkpoint: {} exists and is not a regular file; nothing was \
             written",
            path.display()
        ))),
        Ok(_) => Ok(()),
    }
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
    let input = RecordInput {
        status: &status,
        script: &run.script,
        journal: &run.journal,
        signer: &signer,
        certificate_der: &certificate,
        data: run.env.data(),
    };
    let rec = crate::timing::phase("record", || producer.produce(input))
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
    run.record_path = Some(rec.path.display().to_string());
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

#[cfg(test)]
mod tests {
    use super::keep_or_write;

    #[test]
    fn a_checkpoint_is_written_once_and_never_through_a_link() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("data");
        let dir = root.join("checkpoints");
        std::fs::create_dir_all(&dir).unwrap();
        // Nothing there: written.
        let fresh = dir.join("7.txt");
        keep_or_write(&root, &fresh, b"head 7").unwrap();
        assert_eq!(std::fs::read(&fresh).unwrap(), b"head 7");
        // A regular file of that size: kept as it is.
        keep_or_write(&root, &fresh, b"head 7 again").unwrap();
        assert_eq!(std::fs::read(&fresh).unwrap(), b"head 7");
        // A link to a file outside the data directory: refused, the target untouched.
        let outside = tmp.path().join("outside.txt");
        std::fs::write(&outside, b"not a checkpoint").unwrap();
        let linked = dir.join("8.txt");
        std::os::unix::fs::symlink(&outside, &linked).unwrap();
        let e = keep_or_write(&root, &linked, b"head 8").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "cannot write the checkpoint: {} is a symbolic link (to {}); Keyrite writes \
                 only inside {} and never follows a link out of it; replace the link by a real \
                 directory; nothing was written",
                linked.display(),
                outside.display(),
                root.display()
            )
        );
        assert_eq!(std::fs::read(&outside).unwrap(), b"not a checkpoint");
        // A dangling link: refused too.
        let dangling = dir.join("9.txt");
        std::os::unix::fs::symlink(tmp.path().join("nowhere"), &dangling).unwrap();
        assert!(keep_or_write(&root, &dangling, b"head 9").is_err());
        assert!(!tmp.path().join("nowhere").exists());
        // A directory in its place: refused.
        let d = dir.join("10.txt");
        std::fs::create_dir(&d).unwrap();
        assert_eq!(
            keep_or_write(&root, &d, b"head 10")
                .unwrap_err()
                .to_string(),
            format!(
                "cannot write the checkpoint: {} exists and is not a regular file; nothing was \
                 written",
                d.display()
            )
        );
    }
}
