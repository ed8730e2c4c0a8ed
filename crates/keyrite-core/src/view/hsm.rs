//! The HSM panel and `keyrite hsm info`: the module's tokens, which one the site profile
//! selects, and whether that token passes the identity check every key operation and
//! ceremony makes first ([`crate::hsm::identity::check_identity`]). One function for both
//! faces, so the window and the CLI say the same sentence about the same token.

use super::HsmView;
use crate::environment::Environment;
use crate::hsm::identity::check_identity;
use crate::hsm::{HsmError, Pkcs11Module};
use serde::Serialize;
use ts_rs::TS;

/// What the identity check says about the token the profile selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "kebab-case")]
pub enum IdentityVerdict {
    /// The profile names no token (no `hsm.token_label` or `hsm.token_serial`).
    NoSelection,
    /// No initialised token on the module matches the profile's selection.
    NotFound,
    /// The token is the HSM the profile pins.
    Pinned,
    /// Rehearsal without a pinned identity: accepted, and said so.
    Unpinned,
    /// The check refuses the token: no key operation or ceremony will run on it.
    Refused,
}

/// The token the site profile selects, checked as a ceremony would check it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct ProfileToken {
    /// How the profile selects it (`labelled "…"` / `with serial "…"`), if it does.
    pub selection: Option<String>,
    /// The slot it was found in.
    #[ts(type = "number | null")]
    pub slot_id: Option<u64>,
    /// The verdict.
    pub verdict: IdentityVerdict,
    /// The verdict in words, the same in both faces.
    pub text: String,
}

/// The module's tokens and the profile's token with its identity verdict. Reading token
/// information needs no login; nothing on the token changes.
pub fn hsm_view(env: &Environment, module: &Pkcs11Module) -> Result<HsmView, HsmError> {
    Ok(HsmView {
        module: module.path().display().to_string(),
        tokens: module.tokens()?,
        profile_token: profile_token(env, module),
    })
}

/// The profile's token and its identity verdict ([`IdentityVerdict`]).
pub fn profile_token(env: &Environment, module: &Pkcs11Module) -> ProfileToken {
    let Some(selector) = env.token_selector() else {
        return ProfileToken {
            selection: None,
            slot_id: None,
            verdict: IdentityVerdict::NoSelection,
            text: "The site profile selects no token (hsm.token_label or hsm.token_serial): \
                   key commands need --token-label, ceremonies refuse to start."
                .into(),
        };
    };
    let selection = Some(selector.to_string());
    let (_, token) = match module.find_token(&selector) {
        Ok(found) => found,
        Err(e) => {
            return ProfileToken {
                selection,
                slot_id: None,
                verdict: IdentityVerdict::NotFound,
                text: sentence(&e.to_string()),
            }
        }
    };
    let slot_id = Some(token.slot_id);
    let expected = env.profile().hsm.expect.as_ref();
    match check_identity(env.mode(), expected, &token) {
        Ok(evidence) if evidence.pinned => ProfileToken {
            selection,
            slot_id,
            verdict: IdentityVerdict::Pinned,
            text: format!(
                "Slot {}: the token {selector} is the HSM the profile pins (manufacturer \
                 \"{}\", model \"{}\", serial \"{}\").",
                token.slot_id, evidence.manufacturer, evidence.model, evidence.serial
            ),
        },
        Ok(_) => ProfileToken {
            selection,
            slot_id,
            verdict: IdentityVerdict::Unpinned,
            text: format!(
                "Slot {}: the token {selector} is used without a pinned identity (no \
                 [hsm.expect]): rehearsal accepts it, production would refuse it.",
                token.slot_id
            ),
        },
        Err(e) => ProfileToken {
            selection,
            slot_id,
            verdict: IdentityVerdict::Refused,
            text: format!("Slot {}: {}", token.slot_id, sentence(&e.to_string())),
        },
    }
}

/// An error's text as a sentence: capital first letter, full stop.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = chars
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default();
    out.push_str(chars.as_str());
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}
