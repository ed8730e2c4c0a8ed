//! `hsm init` as a journaled operation (see the parent module).

use super::{admit, check_label, AdminCommand, AdminError, Op};
use crate::hsm::init::InitTarget;
use crate::hsm::quirks::Quirks;
use crate::hsm::session::token_name;
use crate::hsm::{Pkcs11Module, TokenSummary};
use crate::journal::{Event, Journal};
use crate::profile::{ExpectedIdentity, Mode};
use crate::secret::SecretText;
use serde_json::json;

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
#[expect(
    clippy::too_many_arguments,
    reason = "each argument is a distinct input of the operation; a struct would only rename them"
)]
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
    crate::hsm::sopin::check_reinitialise(&before, quirks.for_token(&before))?;
    let needs_current = crate::hsm::sopin::needs_current_so_pin(&before, quirks.for_token(&before));
    if needs_current && pins.current_so.is_none() {
        return Err(AdminError::Refused {
            command: cmd.name(),
            reason: format!(
                "{} {} needs its current SO PIN",
                if before.initialized {
                    "re-initialising"
                } else {
                    "initialising"
                },
                token_name(&before)
            ),
        });
    }
    // No key the inventory knows as live is erased outside the key-destruction ceremony.
    if before.initialized {
        crate::operations::refuse_reinit_over_live_keys(journal.store(), &before).map_err(|e| {
            AdminError::Refused {
                command: cmd.name(),
                reason: e.to_string(),
            }
        })?;
    }
    // The current SO PIN is tried (one SO login) before the operation is journaled: a wrong
    // one changes nothing.
    let current_so = pins.current_so.filter(|_| needs_current);
    if let Some(pin) = current_so {
        crate::hsm::sopin::check_current_so_pin(module, &before, pin)?;
    }
    let mut op = Op::begin(journal, cmd, label)?;
    let t = crate::hsm::init::init_token_checked(
        module,
        &target,
        label,
        &crate::hsm::init::InitPins {
            current_so,
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
