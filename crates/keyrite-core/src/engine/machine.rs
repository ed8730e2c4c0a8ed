//! The step machine: one [`Phase`] at a time, each runner's phase carrying that runner's
//! own state. The machine starts and resumes ceremonies, moves from step to step, hands a
//! step's action to its runner, applies what the runner gives back ([`Next`]), and closes.
//! What the faces call (prompt, answer, status) is in `dispatch.rs`.

use super::anchor;
use super::checks::{self, CheckWait};
use super::context::HsmContext;
use super::custodians;
use super::error::EngineError;
use super::handout::{self, ShareWait};
use super::hsm_actions::{self, HsmWait};
use super::options::CeremonyOptions;
use super::prompt::{Progress, Summary};
use super::quorum::{self, QuorumWait};
use super::reconcile::{restart_share_steps, run_reconcile};
use super::recovery::{self, RecoveryRun};
use super::replay::{Pending, Replayed};
use super::run::{CeremonyRun, Cursor};
use super::signoffs::Opened;
use super::status::StepState;
use super::step::{Failure, Next, PinAsk};
use crate::environment::Environment;
use crate::hsm::UserKind;
use crate::journal::{Event, Journal};
use crate::script::{Action, Script};
use crate::secret::SecretText;
use serde_json::{json, Value};

/// What the engine waits for.
pub(super) enum Phase {
    CheckIn,
    Instructions,
    /// Reconcile interrupted actions (needs the user PIN).
    Reconcile,
    /// A PIN the current step needs; then its action runs again.
    Pin(PinAsk),
    /// The checks runner: the room confirms the preflight report or the clock.
    Checks(CheckWait),
    /// The HSM actions runner: the new PINs of `hsm-init`.
    Hsm(HsmWait),
    /// The share runner: hand-out or verification.
    Shares(ShareWait),
    /// The enrolment runner: custodians enrol their YubiKeys.
    Enrol,
    /// The quorum runner: the key is chosen, custodians approve.
    Quorum(QuorumWait),
    /// The recovery runner: custodians open their sealed shares.
    Unseal(Box<RecoveryRun>),
    SignOffs,
    Exception(Opened),
    /// Closed; the closing checkpoint waits for the user PIN.
    Closing,
    Done(Summary),
}

pub(super) struct Engine {
    pub(super) run: CeremonyRun,
    pub(super) hsm: HsmContext,
    pub(super) phase: Phase,
    /// Interrupted actions to reconcile with the token before the next step (resume).
    pub(super) pending: Vec<Pending>,
    /// Where the step was when an exception was raised by hand: a retry goes back there.
    pub(super) interrupted: Option<Phase>,
}

impl Engine {
    fn new(run: CeremonyRun, hsm: HsmContext) -> Self {
        Engine {
            run,
            hsm,
            phase: Phase::CheckIn,
            pending: Vec::new(),
            interrupted: None,
        }
    }

    pub(super) fn start(
        env: Environment,
        mut journal: Journal,
        script: Script,
        options: CeremonyOptions,
    ) -> Result<Self, EngineError> {
        let hsm = HsmContext::open(&env, &options, &script)?;
        let id = format!(
            "{}-{}",
            script.id.as_str(),
            hex::encode(rand::random::<[u8; 6]>())
        );
        // App version, executable SHA-256 and OS, for the record's header.
        let mut details = crate::record::ceremony_environment(
            script.id.as_str(),
            &script.version,
            &env.profile().site.name,
        );
        if let Value::Object(m) = &mut details {
            m.insert("script_words".into(), json!(script.digest.words()));
            m.insert("script_title".into(), json!(script.title));
            m.insert("script_file".into(), json!(script.file));
            hsm.start_facts(&env, m);
        }
        journal.append_with_details(
            Event::CeremonyStarted {
                ceremony_id: id.clone(),
                script_name: script.id.as_str().to_string(),
                script_sha256: script.digest.hex(),
                mode: env.mode().into(),
            },
            details,
        )?;
        let mut e = Engine::new(CeremonyRun::new(id, env, journal, script, options), hsm);
        e.advance()?;
        Ok(e)
    }

    pub(super) fn resume(
        env: Environment,
        journal: Journal,
        script: Script,
        id: &str,
        options: CeremonyOptions,
    ) -> Result<Self, EngineError> {
        let r = Replayed::read(&journal, id)?;
        if r.outcome.is_some() && !r.closing_needed {
            return Err(EngineError::Closed(id.into()));
        }
        if r.script_sha256 != script.digest.hex() {
            return Err(EngineError::ScriptChanged {
                ceremony_id: id.into(),
                expected: r.script_sha256,
                file: script.file.clone(),
                actual: script.digest.hex(),
            });
        }
        let hsm = HsmContext::open(&env, &options, &script)?;
        let mut run = CeremonyRun::new(id.into(), env, journal, script, options);
        run.participants = r.participants;
        run.done = r.done;
        run.signed = r.signed;
        run.acted = r.acted;
        run.exceptions = r.exceptions;
        run.set = r.set;
        run.decided = r.decided;
        run.record_sha256 = r.record_sha256;
        let mut e = Engine::new(run, hsm);
        e.pending = r.pending;
        if let Some(outcome) = r.outcome {
            // Killed between `ceremony_closed` and its closing checkpoint: sign it now.
            e.run.outcome = Some(outcome);
            e.seal_close()?;
            return Ok(e);
        }
        // A voided share set restarts every share step of the script.
        restart_share_steps(&mut e.pending, &e.run.script);
        if let Some(x) = r.open_exception {
            e.run.step = e.run.step_index(&x.0).unwrap_or(0);
            e.phase = Phase::Exception(Opened {
                id: x.1,
                expected: x.2,
                happened: x.3,
            });
            return Ok(e);
        }
        e.advance()?;
        Ok(e)
    }

    /// Where the status shows the machine.
    pub(super) fn cursor(&self) -> Cursor {
        match self.phase {
            Phase::CheckIn | Phase::Closing | Phase::Done(_) => Cursor::Outside,
            Phase::Exception(_) => Cursor::Exception,
            _ => Cursor::Running,
        }
    }

    /// Interrupted actions are waiting to be reconciled.
    pub(super) fn reconciling(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Moves to the next thing that needs people: check-in, reconciliation, or the next
    /// unfinished step (journaling `step_started`), or close.
    pub(super) fn advance(&mut self) -> Result<(), EngineError> {
        if self.run.missing_role().is_some() {
            self.phase = Phase::CheckIn;
            return Ok(());
        }
        if !self.pending.is_empty() {
            if self.hsm.user_pin.is_none() {
                self.phase = Phase::Pin(PinAsk::new(
                    UserKind::User,
                    "reconcile the token with the journal after an interruption",
                ));
                return Ok(());
            }
            self.phase = Phase::Reconcile;
            run_reconcile(&mut self.run, &mut self.hsm, &mut self.pending)?;
            return self.advance();
        }
        let next = self
            .run
            .script
            .steps
            .iter()
            .position(|s| !self.run.done.contains_key(s.id.as_str()));
        let Some(i) = next else {
            return self.close("completed");
        };
        self.run.step = i;
        let st = &self.run.script.steps[i];
        let compliance: Vec<String> = st.compliance.iter().map(|c| c.to_string()).collect();
        let (step, title, actor) = (st.id.as_str().to_string(), st.title.clone(), st.role);
        self.run.journal.append_with_details(
            Event::StepStarted {
                ceremony_id: self.run.id.clone(),
                step: step.clone(),
                title,
            },
            json!({ "actor": actor.name(), "compliance": compliance }),
        )?;
        self.run.signed.remove(&step);
        self.phase = Phase::Instructions;
        Ok(())
    }

    /// Runs (or continues) the current step's action with its runner.
    pub(super) fn run_action(
        &mut self,
        chosen_key: Option<String>,
    ) -> Result<Progress, EngineError> {
        let Some(action) = self.run.current().map(|s| s.action.clone()) else {
            return Ok(Progress::Continue);
        };
        if self.run.acted.remove(&self.run.step_id()) {
            // Its `action_done` is journaled (killed during the sign-offs): never twice.
            return self.action_finished();
        }
        match self.start_runner(&action, chosen_key) {
            Ok(next) => self.apply(next),
            Err(Failure::Engine(e)) => Err(*e),
            Err(Failure::Step(happened)) => self.apply(Next::Failed(happened)),
        }
    }

    /// The runner of the action's family, started.
    fn start_runner(
        &mut self,
        action: &Action,
        chosen_key: Option<String>,
    ) -> Result<Next<Phase>, Failure> {
        let (run, hsm) = (&mut self.run, &mut self.hsm);
        Ok(match action {
            Action::Manual => Next::Done,
            Action::Preflight | Action::ClockCheck { .. } => {
                checks::start(run, action)?.map(Phase::Checks)
            }
            Action::HsmInit { .. }
            | Action::GenerateKey { .. }
            | Action::GenerateAndSplitRootKek { .. }
            | Action::Backup { .. }
            | Action::Checkpoint
            | Action::SignRecord => hsm_actions::start(run, hsm, action)?.map(Phase::Hsm),
            Action::DistributeShare | Action::VerifyShares => {
                handout::start(run, action)?.map(Phase::Shares)
            }
            Action::EnrolCustodian => custodians::start(run)?.map(|()| Phase::Enrol),
            Action::Recover { label } => {
                recovery::start(run, hsm, label)?.map(|r| Phase::Unseal(Box::new(r)))
            }
            Action::Rotate { .. } | Action::Destroy { .. } | Action::ReplaceCustodian => {
                quorum::start(run, hsm, action, chosen_key)?.map(Phase::Quorum)
            }
        })
    }

    /// Does what a runner asked for.
    pub(super) fn apply(&mut self, next: Next<Phase>) -> Result<Progress, EngineError> {
        match next {
            Next::Done => self.action_finished(),
            Next::Wait(phase) => {
                self.phase = phase;
                Ok(Progress::Continue)
            }
            Next::Continue => Ok(Progress::Continue),
            Next::Pin(ask) => {
                self.phase = Phase::Pin(ask);
                Ok(Progress::Continue)
            }
            Next::Again => self.run_action(None),
            Next::Raise { expected, happened } => self.raise(&expected, &happened),
            Next::Failed(e) => {
                self.hsm.forget_rejected(&e);
                let expected = self.run.expected();
                self.raise(&expected, &e.to_string())
            }
        }
    }

    /// The action finished: collect sign-offs (or complete at once if none are needed).
    pub(super) fn action_finished(&mut self) -> Result<Progress, EngineError> {
        if self.run.signoff_needed().is_some() {
            self.phase = Phase::SignOffs;
            return Ok(Progress::Continue);
        }
        self.complete_step()
    }

    pub(super) fn complete_step(&mut self) -> Result<Progress, EngineError> {
        let step = self.run.step_id();
        self.run.journal.append(Event::StepCompleted {
            ceremony_id: self.run.id.clone(),
            step: step.clone(),
        })?;
        self.run.done.insert(step.clone(), StepState::Completed);
        self.advance()?;
        Ok(self.progress_after(Progress::StepCompleted(step)))
    }

    pub(super) fn progress_after(&self, p: Progress) -> Progress {
        match &self.phase {
            Phase::Done(s) => Progress::Closed(Box::new(s.clone())),
            _ => p,
        }
    }

    /// An action failed or a check is out of bounds: open an exception.
    pub(super) fn raise(
        &mut self,
        expected: &str,
        happened: &str,
    ) -> Result<Progress, EngineError> {
        let opened = self.run.open_exception(expected, happened)?;
        self.phase = Phase::Exception(opened);
        Ok(Progress::Continue)
    }

    /// Journals `ceremony_closed`, the ceremony's last entry, then the closing checkpoint
    /// over it (`closing.rs`).
    pub(super) fn close(&mut self, outcome: &str) -> Result<(), EngineError> {
        self.run.journal.append(Event::CeremonyClosed {
            ceremony_id: self.run.id.clone(),
            outcome: outcome.into(),
        })?;
        self.run.outcome = Some(outcome.into());
        self.run.shares = None;
        self.seal_close()
    }

    /// After `ceremony_closed`: signs the closing checkpoint now if the user PIN is known,
    /// else asks for it ([`Phase::Closing`]).
    fn seal_close(&mut self) -> Result<(), EngineError> {
        if self.hsm.user_pin.is_none() {
            self.phase = Phase::Closing;
            return Ok(());
        }
        if let Err(reason) = anchor::sign_closing(&mut self.run, &self.hsm) {
            anchor::close_unanchored(&mut self.run, &reason.to_string())?;
        }
        self.finish();
        Ok(())
    }

    fn finish(&mut self) {
        let outcome = self.run.outcome.clone().unwrap_or_default();
        self.phase = Phase::Done(self.run.summary(&outcome));
    }

    /// The answer to the closing checkpoint's PIN prompt: the user PIN (a wrong one is asked
    /// again), or `None` when nobody in the room holds it (journaled as unavailable).
    pub(super) fn answer_closing(&mut self, pin: Option<SecretText>) -> Result<(), EngineError> {
        let Some(pin) = pin else {
            anchor::close_unanchored(
                &mut self.run,
                "the administrator closed the ceremony without the user PIN, so the \
                 record-signing key could not sign a closing checkpoint",
            )?;
            self.finish();
            return Ok(());
        };
        if pin.is_empty() {
            return Err(EngineError::BadAnswer(
                "the PIN is empty; nothing was sent to the token".into(),
            ));
        }
        self.hsm.user_pin = Some(pin);
        if let Err(reason) = anchor::sign_closing(&mut self.run, &self.hsm) {
            self.hsm.user_pin = None;
            return Err(EngineError::BadAnswer(format!(
                "the closing checkpoint could not be signed: {reason}; give the user PIN \
                 again, or proceed without it to close without a closing checkpoint"
            )));
        }
        self.finish();
        Ok(())
    }
}
