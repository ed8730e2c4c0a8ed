//! Token changes outside a ceremony (`keyrite hsm init|generate|backup|restore|destroy`).
//!
//! The rule lives here, not in a face: outside a ceremony a token may be changed only in
//! rehearsal and only when it is a software token. Production refuses and names the ceremony
//! that makes the change (journaled, signed off, quorum-gated where the ceremony is). In
//! rehearsal each command runs as a journaled operation: every check that needs no change
//! first (nothing is journaled for bad input), then `action_intent`, the PKCS#11 call, the
//! outcome event (the same events and evidence as the ceremony actions), the inventory change
//! and `action_done`. A failure after the intent is journaled as `note{operation_failed}`.
//!
//! The operation id (`hsm-<command>-<12 hex>`) stands where a ceremony id stands in the
//! intent and outcome events, so an auditor can tell these changes from ceremony steps.

use crate::hsm::backup::KeyBackup;
use crate::hsm::destroy::DestructionProof;
use crate::hsm::init::InitTarget;
use crate::hsm::keygen::KeyEvidence;
use crate::hsm::policy::{KeyPolicy, PolicySet};
use crate::hsm::quirks::Quirks;
use crate::hsm::session::token_name;
use crate::hsm::{HsmError, Pkcs11Module, TokenSession, TokenSummary};
use crate::inventory::{self, KeyRecord, KeyState, KeyType, NewKey};
use crate::journal::{Event, Journal, JournalError};
use crate::names::NameError;
use crate::paths::OutputError;
use crate::profile::{ExpectedIdentity, Mode};
use crate::secret::SecretText;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Who the inventory records as having made a change outside a ceremony.
const ACTOR: &str = "keyrite hsm (rehearsal, outside a ceremony)";

/// A command that changes a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdminCommand {
    /// `hsm init`.
    Init,
    /// `hsm generate`.
    Generate,
    /// `hsm backup`.
    Backup,
    /// `hsm restore`.
    Restore,
    /// `hsm destroy`.
    Destroy,
}

impl AdminCommand {
    /// The subcommand's name.
    pub fn name(self) -> &'static str {
        match self {
            AdminCommand::Init => "init",
            AdminCommand::Generate => "generate",
            AdminCommand::Backup => "backup",
            AdminCommand::Restore => "restore",
            AdminCommand::Destroy => "destroy",
        }
    }

    /// The engine action whose events this command writes.
    fn action(self) -> &'static str {
        match self {
            AdminCommand::Init => "hsm-init",
            AdminCommand::Generate => "generate-key",
            AdminCommand::Backup => "backup",
            AdminCommand::Restore => "restore",
            AdminCommand::Destroy => "destroy",
        }
    }

    /// The shipped ceremony that makes this change in production, and how it guards it.
    pub fn ceremony(self) -> (&'static str, &'static str) {
        match self {
            AdminCommand::Init => (
                "hsm-initialisation",
                "a token is initialised only by the hsm-initialisation ceremony, which checks \
                 the pinned identity before and after",
            ),
            AdminCommand::Generate => (
                "key-generation-and-backup",
                "a key is generated only by a ceremony (key-generation-and-backup, or \
                 root-key-generation for the root KEK and record-signing key), with witnesses' \
                 sign-off",
            ),
            AdminCommand::Backup => (
                "key-generation-and-backup",
                "a key is backed up only by a ceremony's backup step \
                 (key-generation-and-backup), which records the backup in the inventory",
            ),
            AdminCommand::Restore => (
                "root-key-recovery",
                "keys are restored only by the root-key-recovery ceremony, with K custodians' \
                 shares",
            ),
            AdminCommand::Destroy => (
                "key-destruction",
                "a key is destroyed only by the key-destruction ceremony, with K custodians' \
                 approval",
            ),
        }
    }
}

/// Why a token change outside a ceremony was refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// Production mode: the change belongs to a ceremony.
    #[error(
        "keyrite hsm {command} is refused in production: {why}; run \
         ceremony-scripts/{ceremony}.toml; nothing was changed"
    )]
    Production {
        /// The command.
        command: &'static str,
        /// The ceremony script's stem.
        ceremony: &'static str,
        /// How that ceremony guards the change.
        why: &'static str,
    },
    /// Rehearsal mode, but a hardware token: it is not a rehearsal token.
    #[error(
        "keyrite hsm {command} is refused on {token}: it is not a software token, and outside \
         a ceremony only a software rehearsal token may be changed; run \
         ceremony-scripts/{ceremony}.toml; nothing was changed"
    )]
    NotSoftware {
        /// The command.
        command: &'static str,
        /// The token.
        token: String,
        /// The ceremony script's stem.
        ceremony: &'static str,
    },
    /// A label or file name that is not a safe name.
    #[error("keyrite hsm {command} refused: {source}; nothing was changed")]
    Name {
        /// The command.
        command: &'static str,
        /// Why.
        source: NameError,
    },
    /// A check against the token or the inventory refused the change.
    #[error("keyrite hsm {command} refused: {reason}; nothing was changed")]
    Refused {
        /// The command.
        command: &'static str,
        /// Why.
        reason: String,
    },
    /// The HSM refused or failed (the message names the call and the return code).
    #[error(transparent)]
    Hsm(#[from] HsmError),
    /// The output file could not be written.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// The journal could not record the intent: nothing was done.
    #[error(
        "keyrite hsm {command}: the journal cannot record the intent ({source}); nothing was \
         changed"
    )]
    JournalBefore {
        /// The command.
        command: &'static str,
        /// The journal's error.
        source: JournalError,
    },
    /// The token changed but the journal or inventory could not record it.
    #[error(
        "keyrite hsm {command} changed the token but could not record it: {reason}; compare \
         `keyrite hsm keys` with `keyrite inventory list` and reconcile before going on"
    )]
    RecordAfter {
        /// The command.
        command: &'static str,
        /// What failed.
        reason: String,
    },
}

/// Refuses every token change outside a ceremony in production. Faces call it first, before
/// asking for a PIN; every operation here calls it again.
pub fn check_mode(command: AdminCommand, mode: Mode) -> Result<(), AdminError> {
    let (ceremony, why) = command.ceremony();
    if mode == Mode::Production {
        return Err(AdminError::Production {
            command: command.name(),
            ceremony,
            why,
        });
    }
    Ok(())
}

/// The gate every command passes: production refuses, and so does a hardware token.
/// `token` is the token as the core read it from the module (never what a face says).
pub fn admit(command: AdminCommand, mode: Mode, token: &TokenSummary) -> Result<(), AdminError> {
    check_mode(command, mode)?;
    let (ceremony, _) = command.ceremony();
    if !token.software {
        return Err(AdminError::NotSoftware {
            command: command.name(),
            token: token_name(token),
            ceremony,
        });
    }
    Ok(())
}

fn check_label(command: AdminCommand, what: &'static str, label: &str) -> Result<(), AdminError> {
    crate::names::check_label(what, label).map_err(|source| AdminError::Name {
        command: command.name(),
        source,
    })
}

/// One journaled operation: its id, and the intent/outcome bracketing.
struct Op<'j> {
    journal: &'j mut Journal,
    command: AdminCommand,
    id: String,
}

impl<'j> Op<'j> {
    /// Journals `action_intent`. If that fails nothing may happen.
    fn begin(
        journal: &'j mut Journal,
        command: AdminCommand,
        label: &str,
    ) -> Result<Self, AdminError> {
        let id = format!(
            "hsm-{}-{}",
            command.name(),
            hex::encode(rand::random::<[u8; 6]>())
        );
        journal
            .append_with_details(
                Event::ActionIntent {
                    ceremony_id: id.clone(),
                    step: format!("keyrite hsm {}", command.name()),
                    action: command.action().into(),
                    label: Some(label.into()),
                },
                json!({"outside_ceremony": true, "mode": Mode::Rehearsal}),
            )
            .map_err(|source| AdminError::JournalBefore {
                command: command.name(),
                source,
            })?;
        Ok(Self {
            journal,
            command,
            id,
        })
    }

    /// Journals a failure of the PKCS#11 call (best effort: the error is returned anyway).
    fn failed(&mut self, e: AdminError) -> AdminError {
        let _ = self.journal.append_with_details(
            Event::Note {
                kind: "operation_failed".into(),
            },
            json!({"operation": self.id, "command": format!("keyrite hsm {}", self.command.name()),
                   "reason": e.to_string()}),
        );
        e
    }

    fn after(&self, reason: impl std::fmt::Display) -> AdminError {
        AdminError::RecordAfter {
            command: self.command.name(),
            reason: reason.to_string(),
        }
    }

    fn done(self) -> Result<(), AdminError> {
        let err = self.after("");
        self.journal
            .append(Event::ActionDone {
                ceremony_id: self.id.clone(),
                step: format!("keyrite hsm {}", self.command.name()),
                action: self.command.action().into(),
            })
            .map(|_| ())
            .map_err(|e| match err {
                AdminError::RecordAfter { command, .. } => AdminError::RecordAfter {
                    command,
                    reason: format!("action_done: {e}"),
                },
                other => other,
            })
    }
}

/// The live (not destroyed or compromised) inventory record of `label` on token `serial`.
fn live_record(
    command: AdminCommand,
    journal: &Journal,
    label: &str,
    serial: &str,
) -> Result<Option<KeyRecord>, AdminError> {
    let all = inventory::list(journal.store()).map_err(|e| AdminError::Refused {
        command: command.name(),
        reason: format!("the inventory cannot be read: {e}"),
    })?;
    Ok(all.into_iter().find(|r| {
        r.label == label
            && r.token_serial == serial
            && !matches!(r.state, KeyState::Destroyed | KeyState::Compromised)
    }))
}

/// Registers a key this operation made and activates it; returns its inventory id.
fn register(
    op: &mut Op<'_>,
    ev: &KeyEvidence,
    policy: &KeyPolicy,
    serial: &str,
) -> Result<String, AdminError> {
    let store = op.journal.store();
    let key_id = inventory::free_key_id(store, &ev.label).map_err(|e| op.after(e))?;
    let fingerprint = ev.spki_sha256.clone().or_else(|| {
        ev.kcv
            .as_ref()
            .map(|k| crate::operations::kek_fingerprint(&k.value))
    });
    inventory::register(
        op.journal,
        NewKey {
            key_id: key_id.clone(),
            label: ev.label.clone(),
            purpose: policy.description.clone(),
            key_type: KeyType::for_policy(policy),
            algorithm: ev.key.name().into(),
            token_serial: serial.into(),
            cka_id: ev.id.clone(),
            fingerprint,
            cryptoperiod_days: None,
            justification: None,
        },
        ACTOR,
    )
    .map_err(|e| op.after(e))?;
    let reason = format!("made by {}", op.id);
    inventory::transition(op.journal, &key_id, KeyState::Active, &reason, ACTOR)
        .map_err(|e| op.after(e))?;
    Ok(key_id)
}

/// `hsm generate`: a key under `policy`, read back, journaled (`key_generated` with the
/// evidence), registered in the inventory and activated.
pub fn generate_key(
    journal: &mut Journal,
    mode: Mode,
    s: &TokenSession,
    policy: &KeyPolicy,
    label: &str,
    quirks: &Quirks,
) -> Result<KeyEvidence, AdminError> {
    let cmd = AdminCommand::Generate;
    admit(cmd, mode, s.token())?;
    check_label(cmd, "key label", label)?;
    crate::hsm::keygen::ensure_label_free(
        s,
        &format!(
            "generating key \"{label}\" under policy \"{}\"",
            policy.name
        ),
        label,
    )?;
    let mut op = Op::begin(journal, cmd, label)?;
    let ev =
        crate::hsm::keygen::generate(s, policy, label, quirks).map_err(|e| op.failed(e.into()))?;
    let serial = s.token().serial.clone();
    op.journal
        .append(Event::KeyGenerated {
            key_id: label.into(),
            label: label.into(),
            cka_id: ev.id.clone(),
            token_serial: serial.clone(),
            algorithm: ev.key.name().into(),
            public_fingerprint: ev.spki_sha256.clone(),
            evidence: serde_json::to_value(&ev).unwrap_or_default(),
        })
        .map_err(|e| op.after(e))?;
    register(&mut op, &ev, policy, &serial)?;
    op.done()?;
    Ok(ev)
}

/// What `hsm backup` made.
#[derive(Debug, Clone)]
pub struct BackupMade {
    /// The backup.
    pub backup: KeyBackup,
    /// The policy it records.
    pub policy: String,
    /// The file written.
    pub path: PathBuf,
}

/// `hsm backup`: the key labelled `label` wrapped under `kek_label` into the new file `out`
/// (never overwritten, never through a link), journaled (`backup_made`) and recorded in the
/// inventory when both keys are there. `policy` names the policy when the key satisfies
/// several.
#[allow(clippy::too_many_arguments)]
pub fn backup_key(
    journal: &mut Journal,
    mode: Mode,
    s: &TokenSession,
    policies: &PolicySet,
    label: &str,
    kek_label: &str,
    policy: Option<&str>,
    out: &Path,
    quirks: &Quirks,
) -> Result<BackupMade, AdminError> {
    let cmd = AdminCommand::Backup;
    admit(cmd, mode, s.token())?;
    check_label(cmd, "key label", label)?;
    check_label(cmd, "root KEK label", kek_label)?;
    if let Some(p) = policy {
        policies.get(p)?;
    }
    let refused = |reason: String| AdminError::Refused {
        command: cmd.name(),
        reason,
    };
    // The output is checked before the token is asked anything.
    if std::fs::symlink_metadata(out).is_ok() {
        return Err(OutputError::Exists {
            what: "backup",
            path: out.to_path_buf(),
        }
        .into());
    }
    let listing = crate::hsm::objects::describe_key(s, label, policies, quirks)?;
    let problem = || {
        if listing.failures.is_empty() {
            "its attributes satisfy other policies".to_string()
        } else {
            listing.failures.join("; ")
        }
    };
    let name = match (policy, &listing.policies[..]) {
        (Some(p), ps) if ps.iter().any(|x| x == p) => p.to_string(),
        (Some(p), _) => {
            return Err(refused(format!(
                "key \"{label}\" on {} does not satisfy policy \"{p}\" ({})",
                s.name(),
                problem()
            )))
        }
        (None, [one]) => one.clone(),
        (None, []) => {
            return Err(refused(format!(
                "key \"{label}\" on {} satisfies no key policy ({}); it cannot be backed up",
                s.name(),
                problem()
            )))
        }
        (None, many) => {
            return Err(refused(format!(
                "key \"{label}\" on {} satisfies policies {}; pass --policy to name the one the \
                 backup records",
                s.name(),
                many.join(", ")
            )))
        }
    };
    let pol = policies.get(&name)?;
    let mut op = Op::begin(journal, cmd, label)?;
    let (b, _) = crate::hsm::backup::backup_key(s, label, pol, kek_label, quirks)
        .map_err(|e| op.failed(e.into()))?;
    let text = b.encode();
    crate::paths::write_new_named(out, "backup", text.as_bytes())
        .map_err(|e| op.failed(e.into()))?;
    let backup_id = op.id.clone();
    let location = out.display().to_string();
    op.journal
        .append_with_details(
            Event::BackupMade {
                backup_id: backup_id.clone(),
                key_id: label.into(),
                wrapped_by: kek_label.into(),
                blob_sha256: hex::encode(Sha256::digest(text.as_bytes())),
                location: location.clone(),
            },
            json!({"operation": op.id, "policy": name, "wrapping_key_kcv": b.wrapping_key_kcv}),
        )
        .map_err(|e| op.after(e))?;
    let serial = s.token().serial.clone();
    if let (Some(k), Some(w)) = (
        live_record(op.command, op.journal, label, &serial)?,
        live_record(op.command, op.journal, kek_label, &serial)?,
    ) {
        inventory::add_backup(op.journal, &backup_id, &k.key_id, &w.key_id, &location)
            .map_err(|e| op.after(e))?;
    }
    op.done()?;
    Ok(BackupMade {
        backup: b,
        policy: name,
        path: out.to_path_buf(),
    })
}

/// `hsm restore`: `backup` (read from `source_name`) unwrapped under `kek_label` with its own
/// policy and read back; journaled (`backup_restored` with the evidence); the key is
/// registered and activated unless the inventory already has it live on this token.
#[allow(clippy::too_many_arguments)]
pub fn restore_key(
    journal: &mut Journal,
    mode: Mode,
    s: &TokenSession,
    policies: &PolicySet,
    source_name: &str,
    backup: &KeyBackup,
    kek_label: &str,
    quirks: &Quirks,
) -> Result<KeyEvidence, AdminError> {
    let cmd = AdminCommand::Restore;
    admit(cmd, mode, s.token())?;
    check_label(cmd, "key label in the backup", &backup.label)?;
    check_label(cmd, "root KEK label", kek_label)?;
    let policy = policies.get(&backup.policy)?.clone();
    crate::hsm::keygen::ensure_label_free(
        s,
        &format!("restoring key \"{}\"", backup.label),
        &backup.label,
    )?;
    let mut op = Op::begin(journal, cmd, &backup.label)?;
    let ev = crate::hsm::backup::restore_key(s, source_name, backup, policies, kek_label, quirks)
        .map_err(|e| op.failed(e.into()))?;
    let serial = s.token().serial.clone();
    let key_id = match live_record(op.command, op.journal, &backup.label, &serial)? {
        Some(r) => r.key_id,
        None => register(&mut op, &ev, &policy, &serial)?,
    };
    op.journal
        .append_with_details(
            Event::BackupRestored {
                backup_id: source_name.into(),
                key_id,
                token_serial: serial,
            },
            json!({"operation": op.id, "evidence": ev}),
        )
        .map_err(|e| op.after(e))?;
    op.done()?;
    Ok(ev)
}

/// `hsm destroy`: the key labelled `label`, with proof. The same refusals as the
/// key-destruction ceremony: the key must be in the inventory in a state that allows
/// destruction, and the retention guard must pass (no live backups under it, no retained data).
pub fn destroy_key(
    journal: &mut Journal,
    mode: Mode,
    s: &TokenSession,
    label: &str,
) -> Result<DestructionProof, AdminError> {
    let cmd = AdminCommand::Destroy;
    admit(cmd, mode, s.token())?;
    check_label(cmd, "key label", label)?;
    let refused = |reason: String| AdminError::Refused {
        command: cmd.name(),
        reason,
    };
    if crate::hsm::keygen::find_key(s, label)?.is_empty() {
        return Err(HsmError::KeyNotFound {
            operation: format!("destroying key \"{label}\""),
            token: s.name(),
            label: label.into(),
        }
        .into());
    }
    let serial = s.token().serial.clone();
    let Some(rec) = live_record(cmd, journal, label, &serial)? else {
        return Err(refused(format!(
            "key \"{label}\" on {} is not in the inventory, so its dependants cannot be \
             checked; only keys Keyrite recorded are destroyed",
            s.name()
        )));
    };
    if inventory::state::allowed(rec.state, KeyState::Destroyed).is_none() {
        return Err(refused(format!(
            "key \"{label}\" (inventory id {}) is {} and cannot be destroyed",
            rec.key_id, rec.state
        )));
    }
    if let Err(e) = inventory::retention_guard(journal.store(), &rec.key_id) {
        let reason = match e {
            inventory::InventoryError::StillNeeded { dependants, .. } => {
                format!(
                    "key \"{label}\" is still needed: {dependants}; restore or retire those first"
                )
            }
            other => other.to_string(),
        };
        return Err(refused(reason));
    }
    let mut op = Op::begin(journal, cmd, label)?;
    let proof = crate::hsm::destroy::destroy_key(s, label).map_err(|e| op.failed(e.into()))?;
    op.journal
        .append_with_details(
            Event::KeyDestroyed {
                key_id: rec.key_id.clone(),
                token_serial: serial,
                cka_id: rec.cka_id.clone(),
                proof: serde_json::to_value(&proof).unwrap_or_default(),
            },
            json!({"operation": op.id}),
        )
        .map_err(|e| op.after(e))?;
    let reason = format!("destroyed by {}", op.id);
    inventory::transition(op.journal, &rec.key_id, KeyState::Destroyed, &reason, ACTOR)
        .map_err(|e| op.after(e))?;
    op.done()?;
    Ok(proof)
}

/// How `hsm init` chooses its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitChoice {
    /// The first uninitialised token of the module.
    Free,
    /// Re-initialise this initialised token (erases every key): `current_so_pin` is its
    /// current SO PIN, which `C_InitToken` needs; the new SO PIN is set afterwards.
    Force {
        /// The token's slot.
        slot: u64,
    },
}

/// The PINs of `hsm init`.
pub struct InitPins<'a> {
    /// The token's current SO PIN (only to re-initialise an initialised token).
    pub current_so: Option<&'a SecretText>,
    /// The new SO PIN.
    pub new_so: &'a SecretText,
    /// The new user PIN.
    pub new_user: &'a SecretText,
}

/// `hsm init`: initialises a token (journaled, `hsm_token_initialised`). The identity pinned by
/// the profile is checked before and after (`crate::hsm::init::init_token_checked`).
#[allow(clippy::too_many_arguments)]
pub fn init_token(
    journal: &mut Journal,
    mode: Mode,
    module: &Pkcs11Module,
    expected: Option<&ExpectedIdentity>,
    choice: &InitChoice,
    label: &str,
    pins: &InitPins<'_>,
    quirks: &Quirks,
) -> Result<TokenSummary, AdminError> {
    let cmd = AdminCommand::Init;
    check_label(cmd, "token label", label)?;
    crate::hsm::init::check_pins(pins.new_so, pins.new_user)?;
    let (target, before) = match choice {
        InitChoice::Free => {
            let t = crate::hsm::init::select_uninitialised(module, mode, expected)?;
            (InitTarget::Slot(t.slot_id), t)
        }
        InitChoice::Force { slot } => {
            let t = module
                .tokens()?
                .into_iter()
                .find(|t| t.slot_id == *slot)
                .ok_or_else(|| AdminError::Refused {
                    command: cmd.name(),
                    reason: format!("no token in slot {slot}"),
                })?;
            (InitTarget::Slot(*slot), t)
        }
    };
    admit(cmd, mode, &before)?;
    crate::hsm::identity::check_identity(mode, expected, &before)?;
    let force = matches!(choice, InitChoice::Force { .. });
    if force && before.initialized && pins.current_so.is_none() {
        return Err(AdminError::Refused {
            command: cmd.name(),
            reason: format!(
                "re-initialising {} needs its current SO PIN",
                token_name(&before)
            ),
        });
    }
    let mut op = Op::begin(journal, cmd, label)?;
    let t = crate::hsm::init::init_token_checked(
        module,
        &target,
        label,
        &crate::hsm::init::InitPins {
            current_so: if before.initialized {
                pins.current_so
            } else {
                None
            },
            new_so: pins.new_so,
            new_user: pins.new_user,
        },
        force,
        mode,
        expected,
        quirks,
    )
    .map_err(|e| op.failed(e.into()))?;
    op.journal
        .append_with_details(
            Event::HsmTokenInitialised {
                token_serial: t.serial.clone(),
                token_label: t.label.clone(),
                manufacturer: t.manufacturer.clone(),
                model: t.model.clone(),
            },
            json!({"operation": op.id, "previous_serial": before.serial,
                   "re_initialised": before.initialized}),
        )
        .map_err(|e| op.after(e))?;
    op.done()?;
    Ok(t)
}
