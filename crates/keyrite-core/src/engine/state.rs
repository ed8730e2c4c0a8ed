//! The engine's state and transitions: check-in, steps, sign-offs, exceptions, close.

use super::prompt::{Answer, Decision, Participant, Progress, Prompt, Summary};
use super::replay::Replayed;
use super::status::{CeremonyStatus, ExceptionStatus, StepState, StepStatus};
use super::{CeremonyOptions, EngineError};
use crate::environment::Environment;
use crate::hsm::{Pkcs11Module, TokenSelector, UserKind};
use crate::journal::{Event, Journal};
use crate::preflight::{AirGapReport, ClockReading};
use crate::profile::{Mode, REHEARSAL_TOKEN_LABEL};
use crate::script::{ActionKind, Role, Script};
use crate::secret::SecretText;
use crate::shares::ShareSet;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// What the engine waits for.
#[derive(Debug)]
pub(super) enum Phase {
    CheckIn,
    Instructions,
    /// Reconcile interrupted actions (needs the user PIN).
    Reconcile,
    Preflight(AirGapReport),
    Clock(ClockReading, u32),
    Pin(UserKind, String),
    NewPins,
    Distribute,
    Verify,
    /// Custodians enrol their YubiKeys.
    Enrol,
    /// The key a quorum step acts on is chosen.
    ChooseKey,
    /// Custodians approve the request.
    Approve,
    /// Custodians open their sealed shares (recovery).
    Unseal,
    SignOffs,
    Exception {
        id: String,
        expected: String,
        happened: String,
    },
    /// Closed; the closing checkpoint waits for the user PIN.
    Closing,
    Done(Summary),
}

/// The recorded share set of this ceremony.
#[derive(Debug, Default, Clone)]
pub(super) struct SetRecord {
    pub(super) set_id: String,
    #[allow(dead_code)] // kept for the record and the quorum integration
    pub(super) threshold: u8,
    pub(super) count: u8,
    pub(super) fingerprints: Vec<String>,
    pub(super) protects: String,
    /// index → sealed file (if sealed).
    pub(super) distributed: BTreeMap<u8, Option<String>>,
    pub(super) verified: BTreeSet<u8>,
    pub(super) void: bool,
    /// index → enrolled custodian id, for shares sealed to YubiKeys (a root KEK rotation).
    pub(super) holders: BTreeMap<u8, String>,
}

pub(super) struct Engine {
    pub(super) id: String,
    pub(super) journal: Journal,
    pub(super) env: Environment,
    pub(super) module: Pkcs11Module,
    pub(super) selector: TokenSelector,
    pub(super) script: Script,
    pub(super) options: CeremonyOptions,
    pub(super) participants: Vec<Participant>,
    pub(super) step: usize,
    pub(super) done: BTreeMap<String, StepState>,
    pub(super) signed: BTreeMap<String, Vec<(String, Role)>>,
    pub(super) exceptions: Vec<ExceptionStatus>,
    pub(super) phase: Phase,
    pub(super) so_pin: Option<SecretText>,
    pub(super) user_pin: Option<SecretText>,
    pub(super) shares: Option<ShareSet>,
    pub(super) set: Option<SetRecord>,
    pub(super) reconcile: Vec<super::replay::Pending>,
    pub(super) outcome: Option<String>,
    /// The key chosen at the screen for the current quorum step.
    pub(super) chosen_key: Option<String>,
    /// Approvals being collected for the current quorum step.
    pub(super) quorum: Option<super::quorum_steps::QuorumRun>,
    /// Shares being opened for the current recovery step.
    pub(super) recovery: Option<super::recovery::RecoveryRun>,
    /// The outcome journaled (`ceremony_outcome`) before the record was rendered.
    pub(super) decided: Option<String>,
    /// SHA-256 of the record once `record_produced` is journaled.
    pub(super) record_sha256: Option<String>,
    /// The closing checkpoint, once signed.
    pub(super) closing: Option<super::closing::ClosingCheckpoint>,
    /// Why no closing checkpoint could be signed.
    pub(super) closing_unavailable: Option<String>,
}

const ANSWERS_REFUSED: &str = "an answers file is refused in production: every answer is given \
                               by the people in the room";

/// Refusals that need no HSM access, then the module and token with the identity check
/// (read-only), then the air-gap check in production.
fn open_checked(
    env: &Environment,
    options: &CeremonyOptions,
) -> Result<(Pkcs11Module, TokenSelector), EngineError> {
    let production = env.mode() == Mode::Production;
    if production && options.unattended {
        return Err(EngineError::ProductionRefused(ANSWERS_REFUSED.into()));
    }
    let selector = env
        .token_selector()
        .unwrap_or_else(|| TokenSelector::Label(REHEARSAL_TOKEN_LABEL.into()));
    let module = env.load_module()?;
    let (_, token) = module
        .find_token(&selector)
        .map_err(|e| crate::hsm::fresh_token_hint(&module, e))?;
    crate::hsm::identity::check_identity(env.mode(), env.profile().hsm.expect.as_ref(), &token)?;
    if production {
        let report = options.airgap.run();
        if !report.is_clean() {
            return Err(EngineError::ProductionRefused(format!(
                "the air-gap check failed: {}; remove the cause and start again",
                report.findings().join("; ")
            )));
        }
    }
    Ok((module, selector))
}

impl Engine {
    fn new(
        id: String,
        env: Environment,
        journal: Journal,
        script: Script,
        options: CeremonyOptions,
        module: Pkcs11Module,
        selector: TokenSelector,
    ) -> Self {
        Engine {
            id,
            journal,
            env,
            module,
            selector,
            script,
            options,
            participants: Vec::new(),
            step: 0,
            done: BTreeMap::new(),
            signed: BTreeMap::new(),
            exceptions: Vec::new(),
            phase: Phase::CheckIn,
            so_pin: None,
            user_pin: None,
            shares: None,
            set: None,
            reconcile: Vec::new(),
            outcome: None,
            chosen_key: None,
            quorum: None,
            recovery: None,
            decided: None,
            record_sha256: None,
            closing: None,
            closing_unavailable: None,
        }
    }

    pub(super) fn start(
        env: Environment,
        mut journal: Journal,
        script: Script,
        options: CeremonyOptions,
    ) -> Result<Self, EngineError> {
        let (module, selector) = open_checked(&env, &options)?;
        let id = format!(
            "{}-{}",
            script.id.as_str(),
            hex::encode(rand::random::<[u8; 6]>())
        );
        journal.append_with_details(
            Event::CeremonyStarted {
                ceremony_id: id.clone(),
                script_name: script.id.as_str().to_string(),
                script_sha256: script.digest.hex(),
                mode: env.mode().to_string(),
            },
            {
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
                    m.insert(
                        "hsm_data".into(),
                        crate::hsm::sitedata::evidence(env.profile()),
                    );
                }
                details
            },
        )?;
        let mut e = Engine::new(id, env, journal, script, options, module, selector);
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
        let (module, selector) = open_checked(&env, &options)?;
        let mut e = Engine::new(id.into(), env, journal, script, options, module, selector);
        e.participants = r.participants;
        e.done = r.done;
        e.signed = r.signed;
        e.exceptions = r.exceptions;
        e.set = r.set;
        e.reconcile = r.pending;
        e.decided = r.decided;
        e.record_sha256 = r.record_sha256;
        if let Some(outcome) = r.outcome {
            // Killed between `ceremony_closed` and its closing checkpoint: sign it now.
            e.outcome = Some(outcome);
            e.seal_close()?;
            return Ok(e);
        }
        // A voided share set restarts every share step of the script.
        let share_steps: Vec<String> = e
            .script
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
        for p in e.reconcile.iter_mut().filter(|p| p.void_set.is_some()) {
            for s in &share_steps {
                if !p.reset_steps.contains(s) {
                    p.reset_steps.push(s.clone());
                }
            }
        }
        if let Some(x) = r.open_exception {
            e.step = e.step_index(&x.0).unwrap_or(0);
            e.phase = Phase::Exception {
                id: x.1,
                expected: x.2,
                happened: x.3,
            };
            return Ok(e);
        }
        e.advance()?;
        Ok(e)
    }

    pub(super) fn step_index(&self, id: &str) -> Option<usize> {
        self.script.steps.iter().position(|s| s.id.as_str() == id)
    }

    pub(super) fn current(&self) -> Option<&crate::script::Step> {
        self.script.steps.get(self.step)
    }

    pub(super) fn step_id(&self) -> String {
        self.current()
            .map(|s| s.id.as_str().to_string())
            .unwrap_or_default()
    }

    /// Participants still expected, by role: (role, remaining).
    fn missing_role(&self) -> Option<(Role, u8)> {
        for role in [
            Role::Administrator,
            Role::Witness,
            Role::Auditor,
            Role::Custodian,
        ] {
            let want = self.script.roles.count(role);
            let have = self.participants.iter().filter(|p| p.role == role).count() as u8;
            if have < want {
                return Some((role, want - have));
            }
        }
        None
    }

    /// Moves to the next thing that needs people: check-in, reconciliation, or the next
    /// unfinished step (journaling `step_started`), or close.
    pub(super) fn advance(&mut self) -> Result<(), EngineError> {
        if self.missing_role().is_some() {
            self.phase = Phase::CheckIn;
            return Ok(());
        }
        if !self.reconcile.is_empty() {
            self.phase = if self.user_pin.is_none() {
                Phase::Pin(
                    UserKind::User,
                    "reconcile the token with the journal after an interruption".into(),
                )
            } else {
                Phase::Reconcile
            };
            if matches!(self.phase, Phase::Reconcile) {
                self.run_reconcile()?;
                return self.advance();
            }
            return Ok(());
        }
        let next = self
            .script
            .steps
            .iter()
            .position(|s| !self.done.contains_key(s.id.as_str()));
        match next {
            None => self.close("completed"),
            Some(i) => {
                self.step = i;
                let st = &self.script.steps[i];
                let compliance: Vec<String> = st.compliance.iter().map(|c| c.to_string()).collect();
                self.journal.append_with_details(
                    Event::StepStarted {
                        ceremony_id: self.id.clone(),
                        step: st.id.as_str().to_string(),
                        title: st.title.clone(),
                    },
                    json!({ "actor": st.role.name(), "compliance": compliance }),
                )?;
                self.signed.remove(st.id.as_str());
                self.phase = Phase::Instructions;
                Ok(())
            }
        }
    }

    /// Journals `ceremony_closed`, the ceremony's last entry, then the closing checkpoint
    /// over it (`closing.rs`).
    pub(super) fn close(&mut self, outcome: &str) -> Result<(), EngineError> {
        self.journal.append(Event::CeremonyClosed {
            ceremony_id: self.id.clone(),
            outcome: outcome.into(),
        })?;
        self.outcome = Some(outcome.into());
        self.shares = None;
        self.seal_close()
    }

    pub(super) fn summary(&self, outcome: &str) -> Summary {
        Summary {
            closing_checkpoint: self.closing.clone(),
            closing_checkpoint_unavailable: self.closing_unavailable.clone(),
            ceremony_id: self.id.clone(),
            outcome: outcome.into(),
            steps_completed: self
                .done
                .values()
                .filter(|s| **s == StepState::Completed)
                .count(),
            steps_skipped: self
                .done
                .values()
                .filter(|s| **s == StepState::Skipped)
                .count(),
            exceptions: self.exceptions.len(),
        }
    }

    pub(super) fn prompt(&self) -> Prompt {
        match &self.phase {
            Phase::CheckIn => {
                let (role, remaining) = self.missing_role().unwrap_or((Role::Administrator, 0));
                Prompt::CheckIn { role, remaining }
            }
            Phase::Instructions => {
                let st = self.current();
                Prompt::Instructions {
                    step: self.step_id(),
                    title: st.map(|s| s.title.clone()).unwrap_or_default(),
                    text: st.map(|s| s.instructions.clone()).unwrap_or_default(),
                }
            }
            Phase::Reconcile => Prompt::Pin {
                who: UserKind::User,
                purpose: "reconcile the token with the journal".into(),
            },
            Phase::Preflight(r) => Prompt::ConfirmPreflight(r.clone()),
            Phase::Clock(reading, tol) => Prompt::ClockConfirmation {
                reading: reading.clone(),
                tolerance_seconds: *tol,
            },
            Phase::Pin(who, purpose) => Prompt::Pin {
                who: *who,
                purpose: purpose.clone(),
            },
            Phase::NewPins => Prompt::NewPins {
                token: self.selector.to_string(),
            },
            Phase::Distribute => self.share_prompt(),
            Phase::Verify => self.verify_prompt(),
            Phase::Enrol => self.enrol_prompt(),
            Phase::ChooseKey => self.choose_key_prompt(),
            Phase::Approve => self.approval_prompt(),
            Phase::Unseal => self.unseal_prompt(),
            Phase::SignOffs => self.signoff_prompt(),
            Phase::Exception {
                id,
                expected,
                happened,
            } => Prompt::ExceptionDecision {
                exception_id: id.clone(),
                step: self.step_id(),
                expected: expected.clone(),
                happened: happened.clone(),
                retry_allowed: true,
            },
            Phase::Closing => Prompt::Pin {
                who: UserKind::User,
                purpose: "sign the closing checkpoint (every entry of the closed ceremony) with \
                          the record-signing key"
                    .into(),
            },
            Phase::Done(s) => Prompt::Done { summary: s.clone() },
        }
    }

    /// Sign-offs still needed for the current step: (role, remaining).
    fn signoff_needed(&self) -> Option<(Role, u8)> {
        let st = self.current()?;
        let signed = self.signed.get(st.id.as_str());
        for so in &st.sign_offs {
            let need = so.needed(&self.script.roles);
            let have = signed
                .map(|v| v.iter().filter(|(_, r)| *r == so.role).count() as u8)
                .unwrap_or(0);
            if have < need {
                return Some((so.role, need - have));
            }
        }
        None
    }

    fn signoff_prompt(&self) -> Prompt {
        let (role, remaining) = self.signoff_needed().unwrap_or((Role::Witness, 0));
        let signed = self.signed.get(&self.step_id());
        let candidates = self
            .participants
            .iter()
            .filter(|p| p.role == role)
            .filter(|p| !signed.is_some_and(|v| v.iter().any(|(id, _)| *id == p.id)))
            .cloned()
            .collect();
        Prompt::SignOff {
            step: self.step_id(),
            role,
            candidates,
            remaining,
        }
    }

    pub(super) fn participant(&self, id: &str) -> Option<&Participant> {
        self.participants.iter().find(|p| p.id == id)
    }

    /// The action finished: collect sign-offs (or complete at once if none are needed).
    pub(super) fn action_finished(&mut self) -> Result<Progress, EngineError> {
        if self.signoff_needed().is_some() {
            self.phase = Phase::SignOffs;
            return Ok(Progress::Continue);
        }
        self.complete_step()
    }

    fn complete_step(&mut self) -> Result<Progress, EngineError> {
        let step = self.step_id();
        self.journal.append(Event::StepCompleted {
            ceremony_id: self.id.clone(),
            step: step.clone(),
        })?;
        self.done.insert(step.clone(), StepState::Completed);
        self.advance()?;
        Ok(self.progress_after(Progress::StepCompleted(step)))
    }

    fn progress_after(&self, p: Progress) -> Progress {
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
        let step = self.step_id();
        let exception_id = format!("x{}", self.exceptions.len() + 1);
        let description = format!("expected: {expected}; happened: {happened}");
        self.journal.append(Event::ExceptionOpened {
            ceremony_id: self.id.clone(),
            exception_id: exception_id.clone(),
            step: step.clone(),
            description: description.clone(),
        })?;
        self.exceptions.push(ExceptionStatus {
            id: exception_id.clone(),
            step,
            description,
            decision: None,
            decided_by: Vec::new(),
        });
        self.phase = Phase::Exception {
            id: exception_id,
            expected: expected.into(),
            happened: happened.into(),
        };
        Ok(Progress::Continue)
    }

    pub(super) fn answer(&mut self, a: Answer) -> Result<Progress, EngineError> {
        let bad = |m: String| Err(EngineError::BadAnswer(m));
        match (&self.phase, a) {
            (Phase::Done(_), _) => Err(EngineError::Closed(self.id.clone())),
            (Phase::Closing, Answer::Pin(pin)) => {
                self.answer_closing(Some(pin))?;
                Ok(self.progress_after(Progress::Continue))
            }
            (Phase::Closing, Answer::Proceed) => {
                self.answer_closing(None)?;
                Ok(self.progress_after(Progress::Continue))
            }
            (Phase::Closing, _) => Err(EngineError::BadAnswer(
                "the ceremony is closed; only the user PIN (to sign the closing checkpoint) or \
                 proceed (without one) is expected"
                    .into(),
            )),
            (
                Phase::CheckIn,
                Answer::CheckIn {
                    name,
                    role,
                    credential_fingerprint,
                },
            ) => {
                let Some((want, _)) = self.missing_role() else {
                    return bad("nobody more is expected to check in".into());
                };
                if role != want {
                    return bad(format!("a {want} is expected to check in, not a {role}"));
                }
                let name = name.trim().to_string();
                if name.is_empty() {
                    return bad("the participant's name is empty".into());
                }
                let n = self.participants.iter().filter(|p| p.role == role).count() + 1;
                let id = format!("{role}-{n}");
                self.journal.append(Event::ParticipantCheckedIn {
                    ceremony_id: self.id.clone(),
                    participant_id: id.clone(),
                    name: name.clone(),
                    role: role.name().into(),
                    credential_fingerprint: credential_fingerprint.clone(),
                })?;
                self.participants.push(Participant {
                    id,
                    name,
                    role,
                    credential_fingerprint,
                });
                self.advance()?;
                Ok(self.progress_after(Progress::Continue))
            }
            (Phase::Instructions, Answer::Proceed) => self.run_action(),
            (Phase::Pin(..), Answer::Pin(pin)) => {
                if pin.is_empty() {
                    return bad("the PIN is empty; nothing was sent to the token".into());
                }
                let Phase::Pin(who, _) = &self.phase else {
                    unreachable!("matched above")
                };
                match who {
                    UserKind::So => self.so_pin = Some(pin),
                    UserKind::User => self.user_pin = Some(pin),
                }
                if !self.reconcile.is_empty() {
                    self.advance()?;
                    return Ok(self.progress_after(Progress::Continue));
                }
                self.run_action()
            }
            (
                Phase::SignOffs,
                Answer::SignOff {
                    participant,
                    signature_sha256,
                },
            ) => self.record_sign_off(participant, signature_sha256, Value::Null),
            (Phase::SignOffs, Answer::SignOffWithYubiKey { participant, pin }) => {
                self.yubikey_sign_off(participant, pin)
            }
            (
                Phase::Exception { .. },
                Answer::Decide {
                    decision,
                    decided_by,
                    reason,
                },
            ) => self.decide(decision, decided_by, reason),
            (Phase::Enrol, a) => self.answer_enrol(a),
            (Phase::ChooseKey | Phase::Approve | Phase::Unseal, a) => self.answer_quorum(a),
            (_, a) => self.answer_action(a),
        }
    }

    /// Checks that `participant` may sign off the current step now: checked in, of the role
    /// needed next, not signed yet.
    pub(super) fn sign_off_check(&self, participant: &str) -> Result<Role, EngineError> {
        let bad = |m: String| Err(EngineError::BadAnswer(m));
        let Some((role, _)) = self.signoff_needed() else {
            return bad("no sign-off is needed".into());
        };
        let Some(p) = self.participant(participant) else {
            return bad(format!("{participant} has not checked in"));
        };
        if p.role != role {
            return bad(format!(
                "a {role} must sign off next; {participant} is a {}",
                p.role
            ));
        }
        let step = self.step_id();
        if self
            .signed
            .get(&step)
            .is_some_and(|v| v.iter().any(|(id, _)| id == participant))
        {
            return bad(format!(
                "{participant} has already signed off step \"{step}\""
            ));
        }
        Ok(role)
    }

    /// Journals a sign-off (`details`: the YubiKey signature, if any) and completes the step
    /// when it was the last one needed.
    pub(super) fn record_sign_off(
        &mut self,
        participant: String,
        signature_sha256: Option<String>,
        details: Value,
    ) -> Result<Progress, EngineError> {
        let role = self.sign_off_check(&participant)?;
        let step = self.step_id();
        self.journal.append_with_details(
            Event::SignOff {
                ceremony_id: self.id.clone(),
                step: step.clone(),
                participant_id: participant.clone(),
                role: role.name().into(),
                signature_sha256,
            },
            details,
        )?;
        self.signed
            .entry(step)
            .or_default()
            .push((participant, role));
        if self.signoff_needed().is_some() {
            return Ok(Progress::Continue);
        }
        self.complete_step()
    }

    fn decide(
        &mut self,
        decision: Decision,
        decided_by: Vec<String>,
        reason: String,
    ) -> Result<Progress, EngineError> {
        let Phase::Exception { id, .. } = &self.phase else {
            return Err(EngineError::BadAnswer("no exception is open".into()));
        };
        let id = id.clone();
        if decided_by.is_empty() {
            return Err(EngineError::BadAnswer(
                "a decision needs the participant ids of those who decided".into(),
            ));
        }
        for d in &decided_by {
            if self.participant(d).is_none() {
                return Err(EngineError::BadAnswer(format!("{d} has not checked in")));
            }
        }
        if decision == Decision::Skip
            && !decided_by
                .iter()
                .any(|d| self.participant(d).is_some_and(|p| p.role == Role::Witness))
        {
            return Err(EngineError::BadAnswer(
                "skipping a step needs a witness among those deciding".into(),
            ));
        }
        if reason.trim().is_empty() {
            return Err(EngineError::BadAnswer("a decision needs a reason".into()));
        }
        self.journal.append(Event::ExceptionDecided {
            ceremony_id: self.id.clone(),
            exception_id: id.clone(),
            decision: decision.name().into(),
            decided_by: decided_by.clone(),
            reason,
        })?;
        if let Some(x) = self.exceptions.iter_mut().find(|x| x.id == id) {
            x.decision = Some(decision.name().into());
            x.decided_by = decided_by;
        }
        match decision {
            Decision::Retry => {
                self.phase = Phase::Instructions;
                self.run_action()
            }
            Decision::Skip => {
                let step = self.step_id();
                self.done.insert(step.clone(), StepState::Skipped);
                self.advance()?;
                Ok(self.progress_after(Progress::Continue))
            }
            Decision::Abort => {
                self.close("aborted")?;
                Ok(self.progress_after(Progress::Continue))
            }
        }
    }

    pub(super) fn status(&self) -> CeremonyStatus {
        let current = match self.phase {
            Phase::CheckIn | Phase::Closing | Phase::Done(_) => None,
            _ => Some(self.step_id()),
        };
        let steps = self
            .script
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let id = s.id.as_str().to_string();
                let state = match self.done.get(&id) {
                    Some(st) => *st,
                    None if current.is_some() && i == self.step => match self.phase {
                        Phase::Exception { .. } => StepState::Exception,
                        _ => StepState::Running,
                    },
                    None => StepState::Pending,
                };
                StepStatus {
                    signed_off_by: self
                        .signed
                        .get(&id)
                        .map(|v| v.iter().map(|(p, _)| p.clone()).collect())
                        .unwrap_or_default(),
                    id,
                    title: s.title.clone(),
                    action: s.action.kind().name().into(),
                    state,
                }
            })
            .collect();
        CeremonyStatus {
            ceremony_id: self.id.clone(),
            script_id: self.script.id.as_str().into(),
            script_title: self.script.title.clone(),
            script_sha256: self.script.digest.hex(),
            script_words: self.script.digest.words(),
            mode: self.env.mode(),
            steps,
            current_step: current,
            participants: self.participants.clone(),
            exceptions: self.exceptions.clone(),
            outcome: self.outcome.clone().unwrap_or_else(|| "running".into()),
            decided_outcome: self.decided.clone(),
            closing_checkpoint: self.closing.clone(),
            closing_checkpoint_unavailable: self.closing_unavailable.clone(),
        }
    }

    /// The current step's action kind.
    pub(super) fn kind(&self) -> ActionKind {
        self.current()
            .map(|s| s.action.kind())
            .unwrap_or(ActionKind::Manual)
    }
}
