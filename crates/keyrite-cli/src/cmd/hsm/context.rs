//! What every key command does first: choose the token, check its identity, get the PIN, log in.

use crate::cmd::Globals;
use crate::pin::{read_pin, PinSource};
use clap::Args;
use keyrite_core::environment::Environment;
use keyrite_core::hsm::identity::{check_identity, IdentityEvidence};
use keyrite_core::hsm::session::{token_name, LoginEvidence};
use keyrite_core::hsm::{Pkcs11Module, TokenSelector, TokenSession, TokenSummary, UserKind};
use keyrite_core::profile::{Mode, REHEARSAL_TOKEN_LABEL};
use keyrite_core::secret::SecretText;

/// Token and PIN options shared by the key commands.
#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// Select the token by label instead of the site profile's hsm.token_label/token_serial.
    #[arg(long, value_name = "LABEL")]
    pub token_label: Option<String>,
    /// Rehearsal only: read the user PIN as one line from this inherited file descriptor.
    #[arg(long, value_name = "N")]
    pub pin_fd: Option<i32>,
    /// Rehearsal only: use the PINs stored for the embedded rehearsal token.
    #[arg(long)]
    pub rehearsal_pins: bool,
}

/// How the PINs will be obtained, decided before the HSM is touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pins {
    /// Typed or read from a descriptor.
    Read(PinSource),
    /// The embedded rehearsal token's stored PINs.
    Stored,
}

/// The environment, the module and the selected token, identity checked.
pub struct Opened {
    /// Data directory and profile.
    pub env: Environment,
    /// The loaded module (outlives every session on it).
    pub module: Pkcs11Module,
    /// How the token was selected.
    pub selector: TokenSelector,
    /// The token as read before any operation.
    pub token: TokenSummary,
    /// The identity check's evidence.
    pub identity: IdentityEvidence,
}

/// Decides where PINs come from; refuses descriptor PINs and stored PINs outside rehearsal,
/// and stored PINs for any token but the embedded one.
pub fn pins(
    env: &Environment,
    selector: &TokenSelector,
    option: &str,
    fd: Option<i32>,
    rehearsal_pins: bool,
) -> anyhow::Result<Pins> {
    let source = PinSource::from_option(option, fd, env.mode())?;
    if !rehearsal_pins {
        return Ok(Pins::Read(source));
    }
    if fd.is_some() {
        anyhow::bail!("{option} and --rehearsal-pins exclude each other; pass one of them");
    }
    if env.mode() == Mode::Production {
        anyhow::bail!(
            "--rehearsal-pins is refused in production: the PINs must be typed at the terminal"
        );
    }
    if env.rehearsal().is_none() || *selector != TokenSelector::Label(REHEARSAL_TOKEN_LABEL.into())
    {
        anyhow::bail!(
            "--rehearsal-pins works only with the embedded rehearsal token \
             \"{REHEARSAL_TOKEN_LABEL}\"; the token {selector} needs its PIN typed (or --pin-fd)"
        );
    }
    Ok(Pins::Stored)
}

/// The selector in force: `--token-label`, else the profile's.
pub fn selector(env: &Environment, token_label: Option<&str>) -> anyhow::Result<TokenSelector> {
    match (token_label, env.token_selector()) {
        (Some(l), _) => Ok(TokenSelector::Label(l.to_string())),
        (None, Some(s)) => Ok(s),
        (None, None) => anyhow::bail!(
            "the site profile selects no token (hsm.token_label or hsm.token_serial); pass \
             --token-label LABEL"
        ),
    }
}

/// Opens the environment and module, finds the token and checks its identity against the
/// profile before anything else happens. `pin_option` names the descriptor option for messages.
pub fn open(
    globals: &Globals,
    token_label: Option<&str>,
    pin_option: &str,
    pin_fd: Option<i32>,
    rehearsal_pins: bool,
) -> anyhow::Result<(Opened, Pins)> {
    let env = globals.environment()?;
    let selector = selector(&env, token_label)?;
    let pins = pins(&env, &selector, pin_option, pin_fd, rehearsal_pins)?;
    let module = env.load_module()?;
    let (_, token) = module.find_token(&selector)?;
    let identity = check_identity(env.mode(), env.profile().hsm.expect.as_ref(), &token)?;
    Ok((
        Opened {
            env,
            module,
            selector,
            token,
            identity,
        },
        pins,
    ))
}

impl Opened {
    /// Prints the JSON evidence of one key operation: mode, HSM identity, login, and the
    /// operation's own result under `field`.
    pub fn print_evidence(
        &self,
        login: &LoginEvidence,
        field: &str,
        value: &impl serde::Serialize,
    ) -> anyhow::Result<()> {
        let mut out = serde_json::json!({
            "mode": self.env.mode(),
            "identity": self.identity,
            "login": login,
        });
        out[field] = serde_json::to_value(value)?;
        crate::output::print_json(&out)
    }

    /// `token "label" (serial S)`.
    pub fn token_name(&self) -> String {
        token_name(&self.token)
    }

    /// Gets `user`'s PIN from `pins`.
    pub fn pin(&self, pins: Pins, user: UserKind) -> anyhow::Result<SecretText> {
        match pins {
            Pins::Read(source) => read_pin(source, &format!("{user} PIN of {}", self.token_name())),
            Pins::Stored => {
                let r = self.env.rehearsal().ok_or_else(|| {
                    anyhow::anyhow!("--rehearsal-pins needs the embedded rehearsal token")
                })?;
                let (so, user_pin) = r.pins()?;
                Ok(match user {
                    UserKind::So => so,
                    UserKind::User => user_pin,
                })
            }
        }
    }

    /// Logs `user` in: one attempt, PIN state before and after (the core never retries).
    pub fn login(
        &self,
        pins: Pins,
        user: UserKind,
    ) -> anyhow::Result<(TokenSession, LoginEvidence)> {
        let pin = self.pin(pins, user)?;
        Ok(TokenSession::login(
            &self.module,
            &self.selector,
            user,
            &pin,
        )?)
    }
}
