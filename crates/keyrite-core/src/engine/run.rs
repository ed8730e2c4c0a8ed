//! What every step of a ceremony shares: the script, the participants, where the ceremony is
//! (the cursor), what each step came to, its sign-offs and exceptions, the share set in
//! hand, and how the ceremony ended.

use super::cards::{CardAccess, PcscCards};
use super::closing::ClosingCheckpoint;
use super::options::CeremonyOptions;
use super::prompt::{Approver, Participant, Summary};
use super::shareset::SetRecord;
use super::status::{CeremonyStatus, ExceptionStatus, StepState, StepStatus};
use super::step::StepFailure;
use crate::environment::Environment;
use crate::inventory::custodians::EnrolledCustodian;
use crate::journal::{Event, Journal, JournalError};
use crate::script::{ActionKind, Role, Script, Step};
use crate::shares::ShareSet;
use std::collections::BTreeMap;
use std::path::Path;

/// One ceremony's shared state.
pub(super) struct CeremonyRun {
    pub(super) id: String,
    pub(super) journal: Journal,
    pub(super) env: Environment,
    pub(super) script: Script,
    pub(super) options: CeremonyOptions,
    pub(super) participants: Vec<Participant>,
    /// Index of the current step in the script.
    pub(super) step: usize,
    pub(super) done: BTreeMap<String, StepState>,
    pub(super) signed: BTreeMap<String, Vec<(String, Role)>>,
    /// Steps whose action was journaled as done before an interruption (from the journal).
    pub(super) acted: std::collections::BTreeSet<String>,
    pub(super) exceptions: Vec<ExceptionStatus>,
    /// The share set of this ceremony, as recorded.
    pub(super) set: Option<SetRecord>,
    /// Its shares, in memory between generate-and-split and their hand-out.
    pub(super) shares: Option<ShareSet>,
    /// `completed`/`aborted` once `ceremony_closed` is journaled.
    pub(super) outcome: Option<String>,
    /// The outcome journaled (`ceremony_outcome`) before the record was rendered.
    pub(super) decided: Option<String>,
    /// SHA-256 of the record once `record_produced` is journaled.
    pub(super) record_sha256: Option<String>,
    /// Where the record was written, when it was produced in this run.
    pub(super) record_path: Option<String>,
    /// The closing checkpoint, once signed.
    pub(super) closing: Option<ClosingCheckpoint>,
    /// Why no closing checkpoint could be signed.
    pub(super) closing_unavailable: Option<String>,
}

/// Where the machine is, as the status shows the current step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cursor {
    /// Check-in, closing or done: no step is current.
    Outside,
    /// The current step runs.
    Running,
    /// The current step has an open exception.
    Exception,
}

/// Writes a new output file `path` inside the data directory `root` (backups, checkpoints,
/// sealed shares): never overwriting, never through a link out of `root`
/// (`crate::paths::write_new_within`).
pub(super) fn write_new(root: &Path, path: &Path, bytes: &[u8]) -> Result<(), StepFailure> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Err(StepFailure::refused(format!(
            "cannot write {}: it names no file",
            path.display()
        )));
    };
    crate::paths::write_new_within(root, dir, name, "the output file", bytes)?;
    Ok(())
}

impl CeremonyRun {
    pub(super) fn new(
        id: String,
        env: Environment,
        journal: Journal,
        script: Script,
        options: CeremonyOptions,
    ) -> Self {
        CeremonyRun {
            id,
            journal,
            env,
            script,
            options,
            participants: Vec::new(),
            step: 0,
            done: BTreeMap::new(),
            signed: BTreeMap::new(),
            acted: Default::default(),
            exceptions: Vec::new(),
            set: None,
            shares: None,
            outcome: None,
            decided: None,
            record_sha256: None,
            record_path: None,
            closing: None,
            closing_unavailable: None,
        }
    }

    pub(super) fn step_index(&self, id: &str) -> Option<usize> {
        self.script.steps.iter().position(|s| s.id.as_str() == id)
    }

    pub(super) fn current(&self) -> Option<&Step> {
        self.script.steps.get(self.step)
    }

    pub(super) fn step_id(&self) -> String {
        self.current()
            .map(|s| s.id.as_str().to_string())
            .unwrap_or_default()
    }

    /// The current step's action kind.
    pub(super) fn kind(&self) -> ActionKind {
        self.current()
            .map(|s| s.action.kind())
            .unwrap_or(ActionKind::Manual)
    }

    /// What the current step is expected to do, for its exceptions.
    pub(super) fn expected(&self) -> String {
        self.current()
            .map(|s| format!("{} ({}) succeeds", s.title, s.action.kind()))
            .unwrap_or_default()
    }

    pub(super) fn participant(&self, id: &str) -> Option<&Participant> {
        self.participants.iter().find(|p| p.id == id)
    }

    /// Whether a custodian named `name` checked in.
    pub(super) fn custodian_here(&self, name: &str) -> bool {
        self.participants
            .iter()
            .any(|p| p.role == Role::Custodian && p.name == name)
    }

    /// The administrator's participant id (the actor of inventory changes).
    pub(super) fn actor_id(&self) -> String {
        self.participants
            .iter()
            .find(|p| p.role == Role::Administrator)
            .map(|p| p.id.clone())
            .unwrap_or_else(|| "administrator".into())
    }

    /// Participants still expected, by role: (role, remaining).
    pub(super) fn missing_role(&self) -> Option<(Role, u8)> {
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

    /// The data directory's root (outputs are written inside it).
    pub(super) fn data_root(&self) -> &Path {
        self.env.data().path()
    }

    /// Journals `action_intent` for the current step.
    pub(super) fn intent(&mut self, label: Option<&str>) -> Result<(), JournalError> {
        self.journal.append(Event::ActionIntent {
            ceremony_id: self.id.clone(),
            step: self.step_id(),
            action: self.kind().name().into(),
            label: label.map(str::to_string),
        })?;
        Ok(())
    }

    /// Journals `action_done` for the current step.
    pub(super) fn done_event(&mut self) -> Result<(), JournalError> {
        self.journal.append(Event::ActionDone {
            ceremony_id: self.id.clone(),
            step: self.step_id(),
            action: self.kind().name().into(),
        })?;
        Ok(())
    }

    /// The card access the ceremony was given, or PC/SC.
    pub(super) fn cards(&self) -> &dyn CardAccess {
        static PCSC: PcscCards = PcscCards {
            wait: std::time::Duration::from_secs(120),
        };
        self.options.cards.as_deref().unwrap_or(&PCSC)
    }

    /// An enrolled custodian as the approval prompt shows them.
    pub(super) fn approver(&self, c: &EnrolledCustodian) -> Approver {
        Approver {
            custodian_id: c.record.custodian_id.clone(),
            name: c.record.name.clone(),
            yubikey_serial: c.record.yubikey_serial,
            checked_in: self.custodian_here(&c.record.name),
        }
    }

    /// The ceremony's summary for its outcome.
    pub(super) fn summary(&self, outcome: &str) -> Summary {
        let count = |st: StepState| self.done.values().filter(|s| **s == st).count();
        Summary {
            closing_checkpoint: self.closing.clone(),
            closing_checkpoint_unavailable: self.closing_unavailable.clone(),
            ceremony_id: self.id.clone(),
            outcome: outcome.into(),
            steps_completed: count(StepState::Completed),
            steps_skipped: count(StepState::Skipped),
            exceptions: self.exceptions.len(),
            record_path: self.record_path.clone(),
        }
    }

    /// The ceremony as screens show it.
    pub(super) fn status(&self, cursor: Cursor) -> CeremonyStatus {
        let current = (cursor != Cursor::Outside).then(|| self.step_id());
        let steps = self
            .script
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let id = s.id.as_str().to_string();
                let state = match self.done.get(&id) {
                    Some(st) => *st,
                    None if current.is_some() && i == self.step => match cursor {
                        Cursor::Exception => StepState::Exception,
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
}
