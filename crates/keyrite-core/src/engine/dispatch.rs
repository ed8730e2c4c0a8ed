//! What the faces call: the prompt for the current phase, an answer routed to the runner
//! whose phase it is, and the status. An answer that does not fit the phase is refused
//! with what was expected, and leaves everything unchanged.

use super::checks::{self, CheckWait};
use super::custodians;
use super::error::EngineError;
use super::handout::{self, ShareWait};
use super::hsm_actions::{self, HsmWait};
use super::machine::{Engine, Phase};
use super::prompt::{Answer, Decision, Participant, Progress, Prompt, ShareProof};
use super::quorum::{self, QuorumWait};
use super::recovery;
use super::status::{CeremonyStatus, StepState};
use crate::hsm::UserKind;
use crate::journal::Event;
use crate::preflight::ClockConfirmation;
use crate::script::Role;
use serde_json::Value;

fn bad<T>(m: impl Into<String>) -> Result<T, EngineError> {
    Err(EngineError::BadAnswer(m.into()))
}

impl Engine {
    pub(super) fn prompt(&self) -> Prompt {
        let run = &self.run;
        match &self.phase {
            Phase::CheckIn => {
                let (role, remaining) = run.missing_role().unwrap_or((Role::Administrator, 0));
                Prompt::CheckIn { role, remaining }
            }
            Phase::Instructions => {
                let st = run.current();
                Prompt::Instructions {
                    step: run.step_id(),
                    title: st.map(|s| s.title.clone()).unwrap_or_default(),
                    text: st.map(|s| s.instructions.clone()).unwrap_or_default(),
                }
            }
            Phase::Reconcile => Prompt::Pin {
                who: UserKind::User,
                purpose: "reconcile the token with the journal".into(),
                rejected: None,
                proceed_without: None,
            },
            Phase::Pin(ask) => Prompt::Pin {
                who: ask.who,
                purpose: ask.purpose.clone(),
                rejected: ask.rejected.clone(),
                proceed_without: None,
            },
            Phase::Checks(w) => checks::prompt(w),
            Phase::Hsm(HsmWait::NewPins) => Prompt::NewPins {
                token: self.hsm.selector.to_string(),
            },
            Phase::Hsm(HsmWait::CurrentSoPin(w)) => Prompt::CurrentSoPin {
                token: crate::hsm::session::token_name(&w.token),
                rejected: w.rejected.clone(),
            },
            Phase::Shares(w) => handout::prompt(w, run),
            Phase::Enrol => custodians::prompt(run),
            Phase::Quorum(w) => quorum::prompt(w, run, &self.hsm),
            Phase::Unseal(r) => recovery::prompt(r, run, &self.hsm),
            Phase::SignOffs => run.signoff_prompt(),
            Phase::Exception(x) => Prompt::ExceptionDecision {
                exception_id: x.id.clone(),
                step: run.step_id(),
                expected: x.expected.clone(),
                happened: x.happened.clone(),
                retry_allowed: true,
            },
            Phase::Closing => Prompt::Pin {
                who: UserKind::User,
                purpose: "sign the closing checkpoint (every entry of the closed ceremony) with \
                          the record-signing key"
                    .into(),
                rejected: None,
                proceed_without: Some(
                    "close without a closing checkpoint (the next checkpoint signed on this \
                     journal covers the ceremony's entries)"
                        .into(),
                ),
            },
            Phase::Done(s) => Prompt::Done { summary: s.clone() },
        }
    }

    /// The ceremony as screens show it.
    pub(super) fn status(&self) -> CeremonyStatus {
        self.run.status(self.cursor())
    }

    pub(super) fn answer(&mut self, a: Answer) -> Result<Progress, EngineError> {
        match (&mut self.phase, a) {
            (Phase::Done(_), _) => Err(EngineError::Closed(self.run.id.clone())),
            (Phase::Closing, Answer::Pin(pin)) => {
                self.answer_closing(Some(pin))?;
                Ok(self.progress_after(Progress::Continue))
            }
            (Phase::Closing, Answer::Proceed) => {
                self.answer_closing(None)?;
                Ok(self.progress_after(Progress::Continue))
            }
            (Phase::Closing, _) => bad(
                "the ceremony is closed; only the user PIN (to sign the closing checkpoint) or \
                 proceed (without one) is expected",
            ),
            (
                Phase::CheckIn,
                Answer::CheckIn {
                    name,
                    role,
                    credential_fingerprint,
                },
            ) => self.check_in(name, role, credential_fingerprint),
            (Phase::Instructions, Answer::Proceed) => self.run_action(None),
            (Phase::Pin(ask), Answer::Pin(pin)) => {
                if pin.is_empty() {
                    return bad("the PIN is empty; nothing was sent to the token");
                }
                // One login tries the PIN before it is kept: a rejected PIN is dropped and
                // asked for again, never sent a second time.
                if let Err(why) = self.hsm.try_pin(ask.who, &pin) {
                    let why = why.to_string();
                    ask.rejected = Some(why.clone());
                    return Err(EngineError::PinRejected(why));
                }
                let (who, chosen_key) = (ask.who, ask.chosen_key.take());
                self.hsm.set_pin(who, pin);
                if self.reconciling() {
                    self.advance()?;
                    return Ok(self.progress_after(Progress::Continue));
                }
                self.run_action(chosen_key)
            }
            (
                Phase::SignOffs,
                Answer::SignOff {
                    participant,
                    signature_sha256,
                },
            ) => self.sign_off(participant, signature_sha256, Value::Null),
            (Phase::SignOffs, Answer::SignOffWithYubiKey { participant, pin }) => {
                let (sha, details) = self.run.yubikey_sign_off(&participant, &pin)?;
                self.sign_off(participant, Some(sha), details)
            }
            (
                Phase::Exception(_),
                Answer::Decide {
                    decision,
                    decided_by,
                    reason,
                },
            ) => self.decide(decision, decided_by, reason),
            (Phase::Enrol, a) => {
                let next = custodians::answer(&mut self.run, a)?;
                self.apply(next.map(|()| Phase::Enrol))
            }
            (Phase::Quorum(_) | Phase::Unseal(_), a) => self.answer_quorum(a),
            (Phase::Checks(CheckWait::Preflight(report)), Answer::Proceed) => {
                let report = report.clone();
                let next = checks::confirm_preflight(&mut self.run, &report)?;
                self.apply(next.map(Phase::Checks))
            }
            (
                Phase::Checks(CheckWait::Clock(reading, tol)),
                Answer::Clock {
                    witness,
                    reference,
                    offset_seconds,
                },
            ) => {
                let (reading, tol) = (reading.clone(), *tol);
                let confirmation = ClockConfirmation {
                    witness,
                    reference,
                    offset_seconds,
                };
                let next = checks::confirm_clock(&mut self.run, &reading, tol, confirmation)?;
                self.apply(next.map(Phase::Checks))
            }
            (Phase::Hsm(HsmWait::NewPins), Answer::NewPins { so, user }) => {
                let next = hsm_actions::new_pins(&mut self.hsm, so, user)?;
                self.apply(next.map(Phase::Hsm))
            }
            (Phase::Hsm(HsmWait::CurrentSoPin(w)), Answer::CurrentSoPin(pin)) => {
                let next = hsm_actions::current_so_pin(&mut self.hsm, w, pin)?;
                self.apply(next.map(Phase::Hsm))
            }
            (
                Phase::Shares(ShareWait::Distribute),
                Answer::ShareHandled {
                    shown,
                    seal_passphrase,
                },
            ) => {
                let next = handout::distribute(&mut self.run, shown, seal_passphrase)?;
                self.apply(next.map(Phase::Shares))
            }
            (Phase::Shares(ShareWait::Verify), Answer::ShareProof(proof)) => {
                let next = handout::verify(&mut self.run, proof)?;
                self.apply(next.map(Phase::Shares))
            }
            (_, a) => bad(format!(
                "{} does not answer {}",
                answer_name(&a),
                prompt_name(&self.prompt())
            )),
        }
    }

    fn check_in(
        &mut self,
        name: String,
        role: Role,
        credential_fingerprint: Option<String>,
    ) -> Result<Progress, EngineError> {
        let Some((want, _)) = self.run.missing_role() else {
            return bad("nobody more is expected to check in");
        };
        if role != want {
            return bad(format!("a {want} is expected to check in, not a {role}"));
        }
        let name = name.trim().to_string();
        if name.is_empty() {
            return bad("the participant's name is empty");
        }
        self.run.check_person(&name, role)?;
        let n = self
            .run
            .participants
            .iter()
            .filter(|p| p.role == role)
            .count()
            + 1;
        let id = format!("{role}-{n}");
        self.run.journal.append(Event::ParticipantCheckedIn {
            ceremony_id: self.run.id.clone(),
            participant_id: id.clone(),
            name: name.clone(),
            role: role.name().into(),
            credential_fingerprint: credential_fingerprint.clone(),
        })?;
        self.run.participants.push(Participant {
            id,
            name,
            role,
            credential_fingerprint,
        });
        self.advance()?;
        Ok(self.progress_after(Progress::Continue))
    }

    /// Journals a sign-off and completes the step when it was the last one needed.
    fn sign_off(
        &mut self,
        participant: String,
        signature_sha256: Option<String>,
        details: Value,
    ) -> Result<Progress, EngineError> {
        if self
            .run
            .record_sign_off(participant, signature_sha256, details)?
        {
            return Ok(Progress::Continue);
        }
        self.complete_step()
    }

    pub(super) fn decide(
        &mut self,
        decision: Decision,
        decided_by: Vec<String>,
        reason: String,
    ) -> Result<Progress, EngineError> {
        let Phase::Exception(x) = &self.phase else {
            return bad("no exception is open");
        };
        let id = x.id.clone();
        self.run
            .decide_exception(&id, decision, decided_by, reason)?;
        // Raised by hand: a retry goes back to where the step was.
        if let (Decision::Retry, Some(back)) = (decision, self.interrupted.take()) {
            self.phase = back;
            return Ok(Progress::Continue);
        }
        self.interrupted = None;
        match decision {
            Decision::Retry => {
                self.phase = Phase::Instructions;
                self.run_action(None)
            }
            Decision::Skip => {
                let step = self.run.step_id();
                self.run.done.insert(step, StepState::Skipped);
                self.advance()?;
                Ok(self.progress_after(Progress::Continue))
            }
            Decision::Abort => {
                self.close("aborted")?;
                Ok(self.progress_after(Progress::Continue))
            }
        }
    }

    /// Answers to the quorum and recovery runners' prompts (key choice, approvals).
    fn answer_quorum(&mut self, a: Answer) -> Result<Progress, EngineError> {
        let Some(action) = self.run.current().map(|s| s.action.clone()) else {
            return bad("no step is running");
        };
        let (run, hsm) = (&mut self.run, &self.hsm);
        let next = match (&mut self.phase, a) {
            (Phase::Quorum(QuorumWait::ChooseKey), Answer::ChooseKey { key_id }) => {
                quorum::choose_key(run, hsm, &action, key_id)?.map(Phase::Quorum)
            }
            (Phase::Quorum(QuorumWait::Approve(q)), Answer::Approve { custodian_id, pin }) => {
                quorum::approve(q, run, hsm, &action, &custodian_id, pin)?.map(Phase::Quorum)
            }
            (Phase::Quorum(QuorumWait::Approve(q)), Answer::SubmitApprovals) => {
                quorum::finish(q, run, hsm, &action)?.map(Phase::Quorum)
            }
            (Phase::Unseal(r), Answer::Approve { custodian_id, pin }) => {
                let proof = ShareProof::YubiKey { pin };
                recovery::present_share(r, run, hsm, &custodian_id, proof)?
                    .map(|r| Phase::Unseal(Box::new(r)))
            }
            (Phase::Unseal(r), Answer::PresentShare { custodian, proof }) => {
                recovery::present_share(r, run, hsm, &custodian, proof)?
                    .map(|r| Phase::Unseal(Box::new(r)))
            }
            (Phase::Unseal(r), Answer::SubmitApprovals) => {
                recovery::finish(r, run, hsm)?.map(|r| Phase::Unseal(Box::new(r)))
            }
            _ => return bad("a key choice or an approval is expected"),
        };
        self.apply(next)
    }
}

fn answer_name(a: &Answer) -> &'static str {
    match a {
        Answer::CheckIn { .. } => "a check-in",
        Answer::Proceed => "proceed",
        Answer::Clock { .. } => "a clock confirmation",
        Answer::Pin(_) => "a PIN",
        Answer::NewPins { .. } => "new PINs",
        Answer::CurrentSoPin(_) => "the current SO PIN",
        Answer::ShareHandled { .. } => "a share hand-over",
        Answer::ShareProof(_) => "a share proof",
        Answer::SignOff { .. } => "a sign-off",
        Answer::SignOffWithYubiKey { .. } => "a YubiKey sign-off",
        Answer::Decide { .. } => "a decision",
        Answer::Enrol { .. } => "an enrolment",
        Answer::ChooseKey { .. } => "a key choice",
        Answer::Approve { .. } => "an approval",
        Answer::SubmitApprovals => "submitting the approvals",
        Answer::PresentShare { .. } => "a share presented for recovery",
    }
}

/// Short name of a prompt, for messages.
fn prompt_name(p: &Prompt) -> &'static str {
    match p {
        Prompt::CheckIn { .. } => "the check-in",
        Prompt::Instructions { .. } => "the step's instructions",
        Prompt::ConfirmPreflight(_) => "the preflight report",
        Prompt::ClockConfirmation { .. } => "the clock confirmation",
        Prompt::Pin { .. } => "the PIN request",
        Prompt::NewPins { .. } => "the new-PIN request",
        Prompt::CurrentSoPin { .. } => "the current-SO-PIN request",
        Prompt::ShowShare { .. } => "the share hand-over",
        Prompt::VerifyShare { .. } => "the share verification",
        Prompt::SignOff { .. } => "the sign-off",
        Prompt::ExceptionDecision { .. } => "the exception",
        Prompt::EnrolYubiKey { .. } => "the YubiKey enrolment",
        Prompt::ChooseKey { .. } => "the key choice",
        Prompt::Approval(_) => "the approval request",
        Prompt::Done { .. } => "the closed ceremony",
    }
}
