//! The current SO PIN of a token about to be (re)initialised, tried before anything changes.
//!
//! `C_InitToken` on an initialised token takes its *current* SO PIN (PKCS#11 2.40 §5.6), and
//! some modules' fresh tokens already have one (openCryptoki's factory SO PIN, vendor quirks
//! `fresh_token_has_so_pin`). Keyrite asks for it apart from the new one and tries it with one
//! SO login first: a wrong PIN is then refused before the journal, the token or any file
//! changes, instead of failing `C_InitToken` after the operation was journaled.

use super::session::{check_before_login, token_name};
use super::{rv, HsmError, Pkcs11Module, TokenSummary, UserKind};
use crate::secret::SecretText;
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;

/// Whether initialising `token` needs its current SO PIN under these quirks: an initialised
/// token always does, a fresh one when the module gives fresh tokens an SO PIN.
pub fn needs_current_so_pin(token: &TokenSummary, quirks: &super::quirks::ModuleQuirks) -> bool {
    token.initialized || quirks.fresh_token_has_so_pin
}

/// Refuses, before anything changes, to re-initialise an initialised token of a module that
/// cannot be re-initialised (vendor quirks `reinitialise = false`).
pub fn check_reinitialise(
    token: &TokenSummary,
    quirks: &super::quirks::ModuleQuirks,
) -> Result<(), HsmError> {
    if token.initialized && !quirks.reinitialise {
        return Err(HsmError::ReinitialiseUnsupported {
            token: token_name(token),
            module: quirks.name.clone(),
        });
    }
    Ok(())
}

/// Tries `pin` as the SO PIN of the token in `token.slot_id` with one SO login (logged out
/// again at once). A PIN the token rejects is [`HsmError::CurrentSoPin`], naming the tries
/// left as the token reports them; `CKR_PIN_EXPIRED` (a factory PIN that must be changed,
/// which initialisation does) counts as accepted.
pub fn check_current_so_pin(
    module: &Pkcs11Module,
    token: &TokenSummary,
    pin: &SecretText,
) -> Result<(), HsmError> {
    let name = token_name(token);
    let ctx = module.context();
    let slot = ctx
        .get_slots_with_token()
        .map_err(|e| super::session::call_err("listing slots (C_GetSlotList)", &name, &e))?
        .into_iter()
        .find(|s| s.id() == token.slot_id)
        .ok_or_else(|| HsmError::TokenNotFound {
            path: module.path().to_path_buf(),
            selection: format!("in slot {}", token.slot_id),
            present: "see `keyrite hsm info`".into(),
        })?;
    check_before_login(token, UserKind::So)?;
    let session = ctx
        .open_rw_session(slot)
        .map_err(|e| super::session::call_err("opening a session (C_OpenSession)", &name, &e))?;
    let result = session.login(UserType::So, Some(&AuthPin::new(pin.expose().into())));
    let words = result.as_ref().err().map(rv::error_words);
    if result.is_ok() {
        let _ = session.logout();
    }
    drop(session);
    let Some(words) = words else {
        return Ok(());
    };
    if words.starts_with("CKR_PIN_EXPIRED") {
        return Ok(());
    }
    const REJECTED: [&str; 4] = [
        "CKR_PIN_INCORRECT",
        "CKR_PIN_INVALID",
        "CKR_PIN_LEN_RANGE",
        "CKR_PIN_LOCKED",
    ];
    if !REJECTED.iter().any(|r| words.starts_with(r)) {
        return Err(HsmError::Call {
            operation: "SO login with the current SO PIN (C_Login)".into(),
            target: name,
            rv: words,
        });
    }
    let after = super::PinState::of(&module.token(slot)?, UserKind::So);
    Err(HsmError::CurrentSoPin {
        token: name,
        rv: words,
        tries: after.tries_left(UserKind::So),
    })
}
