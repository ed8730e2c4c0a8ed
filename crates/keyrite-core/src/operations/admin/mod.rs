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

use crate::hsm::keygen::KeyEvidence;
use crate::hsm::policy::KeyPolicy;
use crate::hsm::session::token_name;
use crate::hsm::{HsmError, TokenSummary};
use crate::inventory::{self, KeyRecord, KeyState, KeyType, NewKey};
use crate::journal::{Event, Journal, JournalError};
use crate::names::NameError;
use crate::paths::OutputError;
use crate::profile::Mode;
use serde_json::json;

mod init;
mod keys;

pub use init::{init_token, InitChoice, InitPins};
pub use keys::{backup_key, destroy_key, generate_key, restore_key, BackupMade};

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
