//! Sessions on one token: login with the PIN state read before and after, never retried.
//!
//! A wrong PIN costs a try on a real HSM and can lock it; Keyrite therefore makes exactly one
//! `C_Login` per call, refuses to try at all when the token already reports the PIN locked,
//! and reports the PIN flags (count low, final try, locked) from before and after the attempt.

use super::{rv, HsmError, Pkcs11Module, TokenSelector, TokenSummary};
use crate::secret::SecretText;
use cryptoki::object::{Attribute, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use serde::Serialize;

/// Who logs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UserKind {
    /// The security officer (`CKU_SO`).
    So,
    /// The normal user (`CKU_USER`).
    User,
}

impl std::fmt::Display for UserKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UserKind::So => "SO",
            UserKind::User => "user",
        })
    }
}

/// One PIN's flags as the token reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct PinState {
    /// `CKF_*_PIN_COUNT_LOW`: at least one wrong PIN was entered since the last success.
    pub count_low: bool,
    /// `CKF_*_PIN_FINAL_TRY`: one more wrong PIN locks it.
    pub final_try: bool,
    /// `CKF_*_PIN_LOCKED`.
    pub locked: bool,
}

impl PinState {
    /// The state of `user`'s PIN in a token summary.
    pub fn of(token: &TokenSummary, user: UserKind) -> Self {
        let f = &token.flags;
        match user {
            UserKind::User => PinState {
                count_low: f.user_pin_count_low,
                final_try: f.user_pin_final_try,
                locked: f.user_pin_locked,
            },
            UserKind::So => PinState {
                count_low: f.so_pin_count_low,
                final_try: f.so_pin_final_try,
                locked: f.so_pin_locked,
            },
        }
    }
}

impl PinState {
    /// How many tries `user`'s PIN has left, in words, as far as the token reports it (PKCS#11
    /// tokens report flags, not a count).
    pub fn tries_left(&self, user: UserKind) -> String {
        let w = match user {
            UserKind::So => "SO",
            UserKind::User => "USER",
        };
        if self.locked {
            format!(
                "no tries are left: the token now reports the {user} PIN locked \
                 (CKF_{w}_PIN_LOCKED)"
            )
        } else if self.final_try {
            format!(
                "one try is left: the token reports CKF_{w}_PIN_FINAL_TRY (one more wrong PIN \
                 locks it)"
            )
        } else if self.count_low {
            format!(
                "the token does not say how many tries are left (it reports \
                 CKF_{w}_PIN_COUNT_LOW: a wrong PIN was given since the last good one)"
            )
        } else {
            "the token does not report how many tries are left".into()
        }
    }
}

impl std::fmt::Display for PinState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.locked {
            return f.write_str("locked");
        }
        match (self.count_low, self.final_try) {
            (_, true) => f.write_str("final try (one more wrong PIN locks it)"),
            (true, false) => f.write_str("count low (a wrong PIN was entered before)"),
            (false, false) => f.write_str("ok"),
        }
    }
}

/// What a successful login reports, for the journal.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LoginEvidence {
    /// Who logged in.
    pub user: UserKind,
    /// The token.
    pub token: String,
    /// PIN state before the attempt.
    pub before: PinState,
    /// PIN state after the attempt.
    pub after: PinState,
}

/// How the token is named in messages: `token "label" (serial S)`.
pub fn token_name(t: &TokenSummary) -> String {
    format!("token \"{}\" (serial {})", t.label, t.serial)
}

/// Decides from the PIN state read before a login whether an attempt may be made.
/// A locked PIN is never tried (on some HSMs even a correct PIN then wipes the token).
pub fn check_before_login(token: &TokenSummary, user: UserKind) -> Result<PinState, HsmError> {
    let state = PinState::of(token, user);
    if state.locked {
        return Err(HsmError::PinLocked {
            user,
            token: token_name(token),
            unlocker: match user {
                UserKind::User => "SO (C_InitPIN)",
                UserKind::So => "vendor's recovery procedure",
            },
        });
    }
    Ok(state)
}

/// A read-write session on one token, optionally logged in. Logs out and closes on drop.
#[derive(Debug)]
pub struct TokenSession {
    session: Session,
    ctx: cryptoki::context::Pkcs11,
    /// The module's path, to read token info field by field (`hsm::rawinfo`).
    path: std::path::PathBuf,
    slot: Slot,
    token: TokenSummary,
    user: Option<UserKind>,
}

impl TokenSession {
    /// Opens a read-write session on the token chosen by `selector`, without logging in.
    pub fn open(module: &Pkcs11Module, selector: &TokenSelector) -> Result<Self, HsmError> {
        let (slot, token) = module.find_token(selector)?;
        let session = module
            .context()
            .open_rw_session(slot)
            .map_err(|e| call_err("opening a session (C_OpenSession)", &token_name(&token), &e))?;
        Ok(Self {
            session,
            ctx: module.context().clone(),
            path: module.path().to_path_buf(),
            slot,
            token,
            user: None,
        })
    }

    /// Opens a session and logs `user` in with `pin`: one attempt, PIN state read before and
    /// after. A locked PIN is refused without an attempt.
    pub fn login(
        module: &Pkcs11Module,
        selector: &TokenSelector,
        user: UserKind,
        pin: &SecretText,
    ) -> Result<(Self, LoginEvidence), HsmError> {
        let mut s = Self::open(module, selector)?;
        let before = check_before_login(&s.token, user)?;
        let auth = AuthPin::new(pin.expose().into());
        let ut = match user {
            UserKind::So => UserType::So,
            UserKind::User => UserType::User,
        };
        let result = s.session.login(ut, Some(&auth));
        let fresh = module.token(s.slot)?;
        let after = PinState::of(&fresh, user);
        s.token = fresh;
        match result {
            Ok(()) => {
                s.user = Some(user);
                let evidence = LoginEvidence {
                    user,
                    token: s.name(),
                    before,
                    after,
                };
                Ok((s, evidence))
            }
            Err(e) => Err(HsmError::Login {
                user,
                token: s.name(),
                rv: rv::error_words(&e),
                before,
                after,
            }),
        }
    }

    /// The cryptoki session, for the other `hsm` submodules. Crate-private (public to tests
    /// only, `testkit`): with it a face could change the token outside the journal.
    #[cfg(not(feature = "testkit"))]
    pub(crate) fn raw(&self) -> &Session {
        &self.session
    }

    /// The cryptoki session (tests only, `testkit`).
    #[cfg(feature = "testkit")]
    pub fn raw(&self) -> &Session {
        &self.session
    }

    /// The cryptoki context the session belongs to (crate-private like [`Self::raw`]).
    #[cfg(not(feature = "testkit"))]
    pub(crate) fn raw_ctx(&self) -> &cryptoki::context::Pkcs11 {
        &self.ctx
    }

    /// The cryptoki context the session belongs to (tests only, `testkit`).
    #[cfg(feature = "testkit")]
    pub fn raw_ctx(&self) -> &cryptoki::context::Pkcs11 {
        &self.ctx
    }

    /// The slot.
    pub fn slot(&self) -> Slot {
        self.slot
    }

    /// The token as read when the session was opened (or after login).
    pub fn token(&self) -> &TokenSummary {
        &self.token
    }

    /// Who is logged in.
    pub fn user(&self) -> Option<UserKind> {
        self.user
    }

    /// `token "label" (serial S)`.
    pub fn name(&self) -> String {
        token_name(&self.token)
    }

    /// The error for `operation` failing on this token with `e`. The token is asked at once
    /// whether it is still there (`C_GetTokenInfo` on its slot): if it no longer answers, or
    /// answers as another token, the error is [`HsmError::TokenGone`] with both return codes,
    /// since a removal shows up first as whatever the module returns for the operation itself
    /// (SoftHSM2: `CKR_GENERAL_ERROR`; cards and HSMs: `CKR_DEVICE_REMOVED`,
    /// `CKR_SESSION_HANDLE_INVALID`, `CKR_TOKEN_NOT_PRESENT`…). Otherwise it is
    /// [`HsmError::Call`].
    pub fn err(&self, operation: &str, e: cryptoki::error::Error) -> HsmError {
        match self.gone() {
            Some(probe) => HsmError::TokenGone {
                operation: operation.to_string(),
                token: self.name(),
                rv: rv::error_words(&e),
                probe,
            },
            None => call_err(operation, &self.name(), &e),
        }
    }

    /// Why this session's token is no longer there, or `None` if it still answers as itself:
    /// `C_GetTokenInfo` on its slot fails, or reports another serial.
    pub fn gone(&self) -> Option<String> {
        match self.ctx.get_token_info(self.slot) {
            Err(e @ cryptoki::error::Error::Pkcs11(..)) => Some(format!(
                "C_GetTokenInfo on its slot now fails with {}",
                rv::error_words(&e)
            )),
            // The module answered but a field is malformed (openCryptoki's clock): compare
            // the serial read field by field.
            Err(_) => match super::rawinfo::raw_token_info(&self.path, self.slot.id()) {
                Err(why) => Some(format!("C_GetTokenInfo on its slot now fails: {why}")),
                Ok(raw) => {
                    let serial = super::rawinfo::serial_of(&raw);
                    (serial != self.token.serial)
                        .then(|| format!("its slot now holds token serial {serial}"))
                }
            },
            Ok(t) if t.serial_number().trim() != self.token.serial => Some(format!(
                "its slot now holds token serial {}",
                t.serial_number().trim()
            )),
            Ok(_) => None,
        }
    }

    /// Every object visible in this session matching `template`. An empty answer is trusted
    /// only if the token is still there: SoftHSM2 answers `CKR_OK` and no objects once its
    /// store is gone, which must not read as "no such key".
    pub fn find(
        &self,
        operation: &str,
        template: &[Attribute],
    ) -> Result<Vec<ObjectHandle>, HsmError> {
        let operation = format!("{operation} (C_FindObjects)");
        let found = self
            .session
            .find_objects(template)
            .map_err(|e| self.err(&operation, e))?;
        if found.is_empty() {
            if let Some(probe) = self.gone() {
                return Err(HsmError::TokenGone {
                    operation,
                    token: self.name(),
                    rv: "CKR_OK with no objects, which cannot be trusted".into(),
                    probe,
                });
            }
        }
        Ok(found)
    }

    /// Logs out (errors ignored: the session closes anyway).
    pub fn logout(&mut self) {
        if self.user.take().is_some() {
            let _ = self.session.logout();
        }
    }
}

impl Drop for TokenSession {
    fn drop(&mut self) {
        self.logout();
    }
}

pub(crate) fn call_err(operation: &str, target: &str, e: &cryptoki::error::Error) -> HsmError {
    HsmError::Call {
        operation: operation.to_string(),
        target: target.to_string(),
        rv: rv::error_words(e),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_tries_left_are_said_as_far_as_the_token_reports_them() {
        let st = |count_low, final_try, locked| PinState {
            count_low,
            final_try,
            locked,
        };
        assert_eq!(
            st(true, true, false).tries_left(UserKind::User),
            "one try is left: the token reports CKF_USER_PIN_FINAL_TRY (one more wrong PIN locks it)"
        );
        assert_eq!(
            st(true, false, true).tries_left(UserKind::So),
            "no tries are left: the token now reports the SO PIN locked (CKF_SO_PIN_LOCKED)"
        );
        assert_eq!(
            st(true, false, false).tries_left(UserKind::User),
            "the token does not say how many tries are left (it reports CKF_USER_PIN_COUNT_LOW: \
             a wrong PIN was given since the last good one)"
        );
        assert_eq!(
            st(false, false, false).tries_left(UserKind::So),
            "the token does not report how many tries are left"
        );
    }
    use super::*;

    fn summary(locked: bool, low: bool, final_try: bool) -> TokenSummary {
        let mut t = TokenSummary::for_tests("root", true);
        t.serial = "42".into();
        t.flags.user_pin_locked = locked;
        t.flags.user_pin_count_low = low;
        t.flags.user_pin_final_try = final_try;
        t
    }

    #[test]
    fn locked_pin_is_never_tried() {
        let err = check_before_login(&summary(true, true, false), UserKind::User).unwrap_err();
        assert_eq!(
            err.to_string(),
            "user login on token \"root\" (serial 42) refused: the user PIN is locked \
             (CKR_PIN_LOCKED); no attempt was made; the SO (C_InitPIN) must reset it"
        );
    }

    #[test]
    fn states_are_described() {
        let s = check_before_login(&summary(false, true, true), UserKind::User).unwrap();
        assert_eq!(s.to_string(), "final try (one more wrong PIN locks it)");
        let s = check_before_login(&summary(false, true, false), UserKind::User).unwrap();
        assert_eq!(s.to_string(), "count low (a wrong PIN was entered before)");
        let s = check_before_login(&summary(false, false, false), UserKind::So).unwrap();
        assert_eq!(s.to_string(), "ok");
    }
}
