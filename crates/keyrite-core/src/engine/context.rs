//! The token a ceremony works on: module, selector, PINs, key policies, quirks and the
//! key-protection rule, loaded once when the ceremony starts or resumes.

use super::error::EngineError;
use super::options::CeremonyOptions;
use super::step::{PinAsk, StepFailure};
use crate::environment::Environment;
use crate::hsm::policy::PolicySet;
use crate::hsm::protection::ProtectionRule;
use crate::hsm::quirks::Quirks;
use crate::hsm::signer::HsmSigner;
use crate::hsm::{HsmError, PinState, Pkcs11Module, TokenSelector, TokenSession, UserKind};
use crate::operations::HsmAccess;
use crate::profile::{Mode, REHEARSAL_TOKEN_LABEL};
use crate::script::{Action, Script};
use crate::secret::SecretText;

pub use crate::record::RECORD_SIGNING_LABEL;

/// A PIN the token rejected at the one login that tries it: token, return code, and the tries
/// left as far as the token reports them.
#[derive(Debug, thiserror::Error)]
#[error("the {who} PIN was rejected by {token}: {rv}; {}", .after.tries_left(*.who))]
pub(crate) struct PinRejected {
    /// Whose PIN.
    pub who: UserKind,
    /// The token, as [`HsmError::Login`] names it.
    pub token: String,
    /// The return code in words.
    pub rv: String,
    /// The PIN state read after the attempt.
    pub after: PinState,
}

const ANSWERS_REFUSED: &str = "an answers file is refused in production: every answer is given \
                               by the people in the room";

/// What every HSM step shares.
pub(super) struct HsmContext {
    pub(super) module: Pkcs11Module,
    pub(super) selector: TokenSelector,
    pub(super) so_pin: Option<SecretText>,
    pub(super) user_pin: Option<SecretText>,
    /// The current SO PIN of a token `hsm-init` re-initialises, tried once when given.
    pub(super) current_so_pin: Option<SecretText>,
    pub(super) policies: PolicySet,
    pub(super) quirks: Quirks,
    pub(super) protection: ProtectionRule,
}

impl HsmContext {
    /// Refusals that need no HSM access, then the module and token with the identity check
    /// (read-only), then the air-gap check in production. A script with an hsm-init step may
    /// start on a fresh HSM whose token carries no label yet.
    pub(super) fn open(
        env: &Environment,
        options: &CeremonyOptions,
        script: &Script,
    ) -> Result<Self, EngineError> {
        let initialises = script.initialises_token();
        let production = env.mode() == Mode::Production;
        if production && options.unattended {
            return Err(EngineError::ProductionRefused(ANSWERS_REFUSED.into()));
        }
        let selector = env
            .token_selector()
            .unwrap_or_else(|| TokenSelector::Label(REHEARSAL_TOKEN_LABEL.into()));
        check_init_label(env, &selector, script)?;
        let module = env.load_module()?;
        match module.find_token(&selector) {
            Ok((_, token)) => {
                crate::hsm::identity::check_identity(
                    env.mode(),
                    env.profile().hsm.expect.as_ref(),
                    &token,
                )?;
            }
            // A fresh HSM: its token gets the label from this ceremony's hsm-init step, which
            // chooses it (the pinned identity in production, the one uninitialised token in
            // rehearsal) and checks it before and after C_InitToken.
            Err(HsmError::TokenNotFound { .. }) if initialises => {
                // Production initialises the pinned token only: it must be singled out now,
                // before anything is journaled (none, or several, is refused here).
                if let (true, Some(e)) = (production, env.profile().hsm.expect.as_ref()) {
                    let t = crate::hsm::init::select_pinned(&module, e)?;
                    crate::hsm::init::check_serial_pinnable(Some(e), &t)?;
                }
            }
            Err(e) => return Err(crate::hsm::fresh_token_hint(&module, e).into()),
        }
        if production {
            let report = options.airgap.run();
            if !report.is_clean() {
                return Err(EngineError::ProductionRefused(format!(
                    "the air-gap check failed: {}; remove the cause and start again",
                    report.findings().join("; ")
                )));
            }
        }
        Ok(HsmContext {
            module,
            selector,
            so_pin: None,
            user_pin: None,
            current_so_pin: None,
            // The site's key-policy and vendor-quirks files merged over the built-in ones.
            policies: crate::hsm::sitedata::policies_for(env.profile())?,
            quirks: crate::hsm::sitedata::quirks_for(env.profile())?,
            protection: ProtectionRule::of(env.profile()),
        })
    }

    pub(super) fn pin(&self, who: UserKind) -> Option<&SecretText> {
        match who {
            UserKind::So => self.so_pin.as_ref(),
            UserKind::User => self.user_pin.as_ref(),
        }
    }

    pub(super) fn set_pin(&mut self, who: UserKind, pin: SecretText) {
        match who {
            UserKind::So => self.so_pin = Some(pin),
            UserKind::User => self.user_pin = Some(pin),
        }
    }

    /// `Some` (what to ask) when the `who` PIN is not known yet.
    pub(super) fn need(&self, who: UserKind, purpose: &str) -> Option<PinAsk> {
        self.pin(who).is_none().then(|| PinAsk::new(who, purpose))
    }

    /// Tries `pin` with one login before it is kept. `Err(why)` when the token rejected it:
    /// token, return code, and the tries left as far as the token reports them. Any other
    /// failure keeps the PIN: the action that needs it reports the failure as its exception.
    pub(super) fn try_pin(&self, who: UserKind, pin: &SecretText) -> Result<(), PinRejected> {
        let Err(e) = TokenSession::login(&self.module, &self.selector, who, pin) else {
            return Ok(());
        };
        match (e.rejected_pin(), e) {
            (Some((who, after)), HsmError::Login { token, rv, .. }) => Err(PinRejected {
                who,
                token,
                rv,
                after,
            }),
            _ => Ok(()),
        }
    }

    /// Forgets a PIN the token rejected during a step's action: a retry asks for it again
    /// and never sends the rejected one.
    pub(super) fn forget_rejected(&mut self, failure: &StepFailure) {
        match failure.rejected_pin() {
            Some(UserKind::So) => self.so_pin = None,
            Some(UserKind::User) => self.user_pin = None,
            None => {}
        }
    }

    /// A logged-in session on the ceremony's token.
    pub(super) fn login(&self, who: UserKind) -> Result<TokenSession, StepFailure> {
        let pin = self
            .pin(who)
            .ok_or_else(|| StepFailure::refused(format!("the {who} PIN is not known")))?;
        Ok(TokenSession::login(&self.module, &self.selector, who, pin).map(|(s, _)| s)?)
    }

    /// The record-signing key, opened with the user PIN.
    pub(super) fn record_signer(&self) -> Result<HsmSigner, StepFailure> {
        let s = self.login(UserKind::User)?;
        Ok(HsmSigner::open(s, RECORD_SIGNING_LABEL, &self.quirks)?)
    }

    /// How an operation reaches the token (the user PIN must be known).
    pub(super) fn access(&self) -> Result<HsmAccess<'_>, StepFailure> {
        let user_pin = self
            .user_pin
            .as_ref()
            .ok_or_else(|| StepFailure::refused("the user PIN is not known"))?;
        Ok(HsmAccess {
            module: &self.module,
            token: self.selector.clone(),
            user_pin,
            so_pin: self.so_pin.as_ref(),
            policies: &self.policies,
            quirks: &self.quirks,
            protection: self.protection,
        })
    }

    /// What `ceremony_started` states about the HSM: the vendor quirks and key policies in
    /// force, and the serial of the token the profile selects (null: none initialised yet),
    /// from which the record finds the root KEK in force in the journal.
    pub(super) fn start_facts(
        &self,
        env: &Environment,
        m: &mut serde_json::Map<String, serde_json::Value>,
    ) {
        m.insert(
            "hsm_data".into(),
            crate::hsm::sitedata::evidence(env.profile()),
        );
        m.insert("token_serial".into(), self.token_serial().into());
    }

    /// The serial of the ceremony's token, if it can be read.
    pub(super) fn token_serial(&self) -> Option<String> {
        self.module
            .find_token(&self.selector)
            .ok()
            .map(|(_, t)| t.serial)
    }
}

/// The label an hsm-init step sets must be the one the profile selects the token by, or the
/// steps after it cannot find the token. The embedded rehearsal token keeps its own label.
fn check_init_label(
    env: &Environment,
    selector: &TokenSelector,
    script: &Script,
) -> Result<(), EngineError> {
    let TokenSelector::Label(profile_label) = selector else {
        return Ok(());
    };
    if env.rehearsal().is_some() && profile_label == REHEARSAL_TOKEN_LABEL {
        return Ok(());
    }
    for step in &script.steps {
        if let Action::HsmInit { token_label } = &step.action {
            if token_label != profile_label {
                return Err(EngineError::TokenLabelMismatch {
                    step: step.id.to_string(),
                    file: script.file.clone(),
                    script_label: token_label.clone(),
                    profile_label: profile_label.clone(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejected_pin_says_the_token_the_code_and_the_tries_left() {
        let rejected = |who, locked, final_try| PinRejected {
            who,
            token: "token \"root\" (serial 3f2a)".into(),
            rv: "CKR_PIN_INCORRECT".into(),
            after: PinState {
                count_low: true,
                final_try,
                locked,
            },
        };
        let table = [
            (
                rejected(UserKind::User, false, false),
                "the user PIN was rejected by token \"root\" (serial 3f2a): CKR_PIN_INCORRECT; \
                 the token does not say how many tries are left (it reports \
                 CKF_USER_PIN_COUNT_LOW: a wrong PIN was given since the last good one)",
            ),
            (
                rejected(UserKind::So, false, true),
                "the SO PIN was rejected by token \"root\" (serial 3f2a): CKR_PIN_INCORRECT; one \
                 try is left: the token reports CKF_SO_PIN_FINAL_TRY (one more wrong PIN locks it)",
            ),
        ];
        for (e, expected) in table {
            assert_eq!(e.to_string(), expected);
        }
    }
}
