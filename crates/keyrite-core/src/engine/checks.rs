//! The checks runner: `preflight` (the air-gap report the room confirms) and `clock-check`
//! (a witness compares the system clock with a reference). Each state carries what the room
//! is shown.

use super::error::EngineError;
use super::prompt::Prompt;
use super::run::CeremonyRun;
use super::step::{Failure, Next, StepFailure};
use crate::journal::Event;
use crate::preflight::{AirGapReport, ClockCheckResult, ClockConfirmation, ClockReading};
use crate::profile::Mode;
use crate::script::{Action, Role};
use serde_json::json;

/// What the room confirms.
pub(super) enum CheckWait {
    Preflight(AirGapReport),
    Clock(ClockReading, u32),
}

pub(super) fn start(run: &CeremonyRun, action: &Action) -> Result<Next<CheckWait>, Failure> {
    match action {
        Action::Preflight => {
            let report = run.options.airgap.run();
            if run.env.mode() == Mode::Production && !report.is_clean() {
                return Err(StepFailure::refused(format!(
                    "the air-gap check failed: {}",
                    report.findings().join("; ")
                ))
                .into());
            }
            Ok(Next::Wait(CheckWait::Preflight(report)))
        }
        Action::ClockCheck { tolerance_seconds } => Ok(Next::Wait(CheckWait::Clock(
            ClockReading::now(),
            *tolerance_seconds,
        ))),
        _ => Err(StepFailure::refused(format!("action {} is not a check", action.kind())).into()),
    }
}

pub(super) fn prompt(w: &CheckWait) -> Prompt {
    match w {
        CheckWait::Preflight(r) => Prompt::ConfirmPreflight(r.clone()),
        CheckWait::Clock(reading, tol) => Prompt::ClockConfirmation {
            reading: reading.clone(),
            tolerance_seconds: *tol,
        },
    }
}

/// The room confirmed the preflight report: every check is journaled.
pub(super) fn confirm_preflight(
    run: &mut CeremonyRun,
    report: &AirGapReport,
) -> Result<Next<CheckWait>, EngineError> {
    for c in &report.checks {
        run.journal.append_with_details(
            Event::PreflightResult {
                ceremony_id: run.id.clone(),
                check: c.check.into(),
                passed: c.passed,
                detail: c.reason.clone(),
            },
            json!({"findings": c.findings}),
        )?;
    }
    Ok(Next::Done)
}

/// A witness compared the clock: journaled; out of tolerance opens an exception.
pub(super) fn confirm_clock(
    run: &mut CeremonyRun,
    reading: &ClockReading,
    tolerance: u32,
    confirmation: ClockConfirmation,
) -> Result<Next<CheckWait>, EngineError> {
    let witness = &confirmation.witness;
    if run
        .participant(witness)
        .is_none_or(|p| p.role != Role::Witness)
    {
        return Err(EngineError::BadAnswer(format!(
            "{witness} is not a checked-in witness"
        )));
    }
    // The check is only as good as the clock compared with: an unnamed one proves nothing.
    if confirmation.reference.trim().is_empty() {
        return Err(EngineError::BadAnswer(
            "the reference clock is not named: say which independent clock the witness compared \
             the system clock with (for example \"wristwatch set to UTC from a GPS clock\")"
                .into(),
        ));
    }
    let r = ClockCheckResult::judge(reading.clone(), confirmation, tolerance);
    run.journal.append_with_details(
        Event::PreflightResult {
            ceremony_id: run.id.clone(),
            check: "clock".into(),
            passed: r.passed,
            detail: r.reason.clone(),
        },
        serde_json::to_value(&r).unwrap_or_default(),
    )?;
    if r.passed {
        return Ok(Next::Done);
    }
    Ok(Next::Raise {
        expected: format!(
            "the system clock within {} s of the reference",
            r.tolerance_seconds
        ),
        happened: r.reason.clone(),
    })
}
