//! Reading a ceremony back from the journal: the state to resume from.

use super::error::EngineError;
use super::history::all_events;
use super::prompt::Participant;
use super::shareset::SetRecord;
use super::status::{ExceptionStatus, StepState};
use crate::journal::{Event, Journal};
use crate::script::Role;
use std::collections::BTreeMap;

/// Something to put right on the token before resuming.
#[derive(Debug, Clone, Default)]
pub(super) struct Pending {
    pub(super) destroy_label: Option<String>,
    pub(super) void_set: Option<String>,
    pub(super) remove_file: Option<String>,
    pub(super) reset_steps: Vec<String>,
    pub(super) reason: String,
}

/// The state of one ceremony rebuilt from the journal.
#[derive(Debug, Default)]
pub(super) struct Replayed {
    pub(super) script_sha256: String,
    pub(super) outcome: Option<String>,
    pub(super) participants: Vec<Participant>,
    pub(super) done: BTreeMap<String, StepState>,
    pub(super) signed: BTreeMap<String, Vec<(String, Role)>>,
    pub(super) exceptions: Vec<ExceptionStatus>,
    /// (step, id, expected/description, happened).
    pub(super) open_exception: Option<(String, String, String, String)>,
    pub(super) set: Option<SetRecord>,
    pub(super) pending: Vec<Pending>,
    /// The outcome journaled before the record (`ceremony_outcome`).
    pub(super) decided: Option<String>,
    /// The record's SHA-256 once `record_produced` is journaled.
    pub(super) record_sha256: Option<String>,
    /// Closed without a closing checkpoint (nor a note saying none can be signed).
    pub(super) closing_needed: bool,
    /// Steps whose action is journaled as done but which did not complete (killed during
    /// their sign-offs): resuming asks for the sign-offs and never runs the action again.
    pub(super) acted: std::collections::BTreeSet<String>,
}

impl Replayed {
    pub(super) fn read(journal: &Journal, id: &str) -> Result<Self, EngineError> {
        let mut r = Replayed::default();
        let mut started = false;
        // Open intent: (step, action, label).
        let mut intent: Option<(String, String, Option<String>)> = None;
        let mut intent_set: Option<String> = None;
        let mut backup_file: Option<String> = None;
        let mut quorum_sets: BTreeMap<String, SetRecord> = BTreeMap::new();
        let mine = |c: &str| c == id;
        // Nothing before the ceremony's start counts: read from there.
        let from = journal.ceremony_start(id)?.unwrap_or(journal.head().size);
        for (_, ev) in all_events(journal, None, from)? {
            if !started {
                if let Event::CeremonyStarted {
                    ceremony_id,
                    script_sha256,
                    ..
                } = &ev
                {
                    if mine(ceremony_id) {
                        started = true;
                        r.script_sha256 = script_sha256.clone();
                    }
                }
                continue;
            }
            match ev {
                Event::ParticipantCheckedIn {
                    ceremony_id,
                    participant_id,
                    name,
                    role,
                    credential_fingerprint,
                } if mine(&ceremony_id) => {
                    let role =
                        Role::from_name(role.as_str()).ok_or_else(|| EngineError::Replay {
                            ceremony_id: id.into(),
                            problem: format!("unknown role {role}"),
                        })?;
                    r.participants.push(Participant {
                        id: participant_id,
                        name,
                        role,
                        credential_fingerprint,
                    });
                }
                Event::ParticipantCorrected {
                    ceremony_id,
                    participant_id,
                    name,
                    ..
                } if mine(&ceremony_id) => {
                    if let Some(p) = r.participants.iter_mut().find(|p| p.id == participant_id) {
                        p.name = name;
                    }
                }
                Event::StepStarted {
                    ceremony_id, step, ..
                } if mine(&ceremony_id) => {
                    r.signed.remove(&step);
                }
                Event::StepCompleted { ceremony_id, step } if mine(&ceremony_id) => {
                    r.acted.remove(&step);
                    r.done.insert(step, StepState::Completed);
                }
                Event::StepReset {
                    ceremony_id, step, ..
                } if mine(&ceremony_id) => {
                    r.acted.remove(&step);
                    r.done.remove(&step);
                    r.signed.remove(&step);
                }
                Event::SignOff {
                    ceremony_id,
                    step,
                    participant_id,
                    role,
                    ..
                } if mine(&ceremony_id) => {
                    if let Some(role) = Role::from_name(role.as_str()) {
                        r.signed
                            .entry(step)
                            .or_default()
                            .push((participant_id, role));
                    }
                }
                Event::ExceptionOpened {
                    ceremony_id,
                    exception_id,
                    step,
                    description,
                } if mine(&ceremony_id) => {
                    r.open_exception = Some((
                        step.clone(),
                        exception_id.clone(),
                        description.clone(),
                        "(recorded before the interruption)".into(),
                    ));
                    r.exceptions.push(ExceptionStatus {
                        id: exception_id,
                        step,
                        description,
                        decision: None,
                        decided_by: Vec::new(),
                    });
                }
                Event::ExceptionDecided {
                    ceremony_id,
                    exception_id,
                    decision,
                    decided_by,
                    ..
                } if mine(&ceremony_id) => {
                    r.open_exception = None;
                    if let Some(x) = r.exceptions.iter_mut().find(|x| x.id == exception_id) {
                        if decision == "skip" {
                            r.done.insert(x.step.clone(), StepState::Skipped);
                        }
                        x.decision = Some(decision.to_string());
                        x.decided_by = decided_by;
                    }
                }
                Event::ActionIntent {
                    ceremony_id,
                    step,
                    action,
                    label,
                } if mine(&ceremony_id) => {
                    r.acted.remove(&step);
                    intent = Some((step, action, label));
                    intent_set = None;
                    backup_file = None;
                }
                Event::ActionDone { ceremony_id, .. } if mine(&ceremony_id) => {
                    if let Some((step, _, _)) = intent.take() {
                        r.acted.insert(step);
                    }
                }
                Event::ShareSetCreated {
                    set_id,
                    protects_key_id,
                    threshold,
                    share_count,
                    share_fingerprints,
                } if intent.is_some() => {
                    intent_set = Some(set_id.clone());
                    r.set = Some(SetRecord {
                        set_id,
                        threshold,
                        count: share_count,
                        fingerprints: share_fingerprints,
                        protects: protects_key_id,
                        ..Default::default()
                    });
                }
                // A set made by a quorum operation (no intent: the operation brackets itself);
                // it becomes the ceremony's when its first share is handed out.
                Event::ShareSetCreated {
                    set_id,
                    protects_key_id,
                    threshold,
                    share_count,
                    share_fingerprints,
                } => {
                    quorum_sets.insert(
                        set_id.clone(),
                        SetRecord {
                            set_id,
                            threshold,
                            count: share_count,
                            fingerprints: share_fingerprints,
                            protects: protects_key_id,
                            by_quorum_operation: true,
                            ..Default::default()
                        },
                    );
                }
                Event::BackupMade { location, .. } if intent.is_some() => {
                    backup_file = Some(location);
                }
                Event::ShareDistributed {
                    ceremony_id,
                    set_id,
                    index,
                    sealed_file,
                    custodian_id,
                    ..
                } if mine(&ceremony_id) => {
                    if r.set.as_ref().is_none_or(|s| s.set_id != set_id) {
                        if let Some(s) = quorum_sets.remove(&set_id) {
                            r.set = Some(s);
                        }
                    }
                    if let Some(s) = r.set.as_mut().filter(|s| s.set_id == set_id) {
                        s.distributed.insert(index, sealed_file);
                        // Shares sealed to enrolled custodians' YubiKeys (root KEK rotation).
                        if custodian_id.starts_with("yk-") {
                            s.holders.insert(index, custodian_id);
                        }
                    }
                }
                Event::ShareVerified { set_id, index, .. } => {
                    if let Some(s) = r.set.as_mut().filter(|s| s.set_id == set_id) {
                        s.verified.insert(index);
                    }
                }
                Event::ShareSetVoided { set_id, .. }
                    if r.set.as_ref().is_some_and(|s| s.set_id == set_id) =>
                {
                    r.set = None;
                }
                Event::CeremonyOutcome {
                    ceremony_id,
                    outcome,
                } if mine(&ceremony_id) => r.decided = Some(outcome.to_string()),
                Event::RecordProduced {
                    ceremony_id,
                    record_sha256,
                    ..
                } if mine(&ceremony_id) => r.record_sha256 = Some(record_sha256),
                Event::CeremonyClosed {
                    ceremony_id,
                    outcome,
                } if mine(&ceremony_id) => r.outcome = Some(outcome.to_string()),
                _ => {}
            }
        }
        if !started {
            return Err(EngineError::NotFound(id.into()));
        }
        r.closing_needed = journal
            .closings_from(from)?
            .iter()
            .any(|c| c.ceremony_id == id && c.checkpoint_size.is_none() && c.unavailable.is_none());
        // An action with an intent but no outcome.
        if let Some((step, action, label)) = intent {
            let reason = format!(
                "the process stopped during action {action} of step \"{step}\" (intent journaled, no outcome)"
            );
            let mut p = Pending {
                reason,
                reset_steps: vec![step.clone()],
                ..Default::default()
            };
            match action.as_str() {
                "generate-key" | "generate-and-split-root-kek" => p.destroy_label = label,
                "backup" => {
                    // Killed after writing the file but before `backup_made`: the file is
                    // where the action writes it, and the rerun needs the name free.
                    p.remove_file = backup_file.or_else(|| {
                        label.map(|key| {
                            unjournaled_backup_path(journal, &key, id)
                                .display()
                                .to_string()
                        })
                    });
                }
                _ => {}
            }
            if let Some(set) = intent_set {
                p.void_set = Some(set);
            }
            r.done.remove(&step);
            r.pending.push(p);
        }
        // A share set whose shares never all reached their custodians: they are lost. The KEK
        // of a set a quorum operation made is kept (the backups are wrapped under it only);
        // verify-shares says which shares are missing.
        if let Some(set) = r.set.clone().filter(|s| !s.by_quorum_operation) {
            let all = (1..=set.count).all(|i| set.distributed.contains_key(&i));
            if !all
                && r.pending
                    .iter()
                    .all(|p| p.void_set.as_deref() != Some(&set.set_id))
            {
                r.pending.push(Pending {
                    destroy_label: Some(set.protects.clone()),
                    void_set: Some(set.set_id.clone()),
                    remove_file: None,
                    reset_steps: Vec::new(),
                    reason: format!(
                        "share set {} was not fully distributed before the interruption; its shares are lost{}",
                        set.set_id,
                        void_copies(&set)
                    ),
                });
                r.set = None;
            }
        }
        Ok(r)
    }
}

/// Who holds a copy of a share of `set`, now void, and must destroy it (empty when no share
/// was handed out).
fn void_copies(set: &SetRecord) -> String {
    let holders: Vec<String> = set
        .distributed
        .iter()
        .map(|(i, sealed)| {
            let who = set
                .holders
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("custodian-{i}"));
            match sealed {
                Some(f) => format!("share {i} held by {who} (sealed file {f})"),
                None => format!("share {i} held by {who}"),
            }
        })
        .collect();
    if holders.is_empty() {
        String::new()
    } else {
        format!(
            "; these copies are void and must be destroyed: {}",
            holders.join(", ")
        )
    }
}

/// Where the backup action of ceremony `id` writes `key`'s backup: `DATA/backups/KEY-ID.krbak`,
/// the data directory being the journal's (`DATA/journal.sqlite`). Keep in step with
/// `Engine::backup`.
fn unjournaled_backup_path(journal: &Journal, key: &str, id: &str) -> std::path::PathBuf {
    let data = journal
        .store()
        .path()
        .parent()
        .unwrap_or(std::path::Path::new("."));
    data.join("backups").join(format!("{key}-{id}.krbak"))
}

#[cfg(test)]
mod tests;
