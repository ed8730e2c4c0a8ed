//! HSM identity pinning: the token must be the one the site profile names.
//!
//! The engine calls [`check_identity`] right after selecting the token and before any other
//! operation. In production a software token, a missing pin, or any differing field is refused;
//! in rehearsal a pin that is given must still match.

use super::session::token_name;
use super::{HsmError, TokenSummary};
use crate::profile::{ExpectedIdentity, Mode};
use serde::Serialize;

/// What was checked, for the journal.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct IdentityEvidence {
    /// Mode in force.
    pub mode: Mode,
    /// Manufacturer read from the token.
    pub manufacturer: String,
    /// Model read from the token.
    pub model: String,
    /// Serial read from the token.
    pub serial: String,
    /// Whether it is a software token.
    pub software: bool,
    /// Whether the profile pinned an identity (and it matched).
    pub pinned: bool,
}

/// Checks `token` against the profile's `expected` identity in `mode`.
pub fn check_identity(
    mode: Mode,
    expected: Option<&ExpectedIdentity>,
    token: &TokenSummary,
) -> Result<IdentityEvidence, HsmError> {
    let refuse = |problem: String| HsmError::Identity {
        token: token_name(token),
        problem,
    };
    if mode == Mode::Production && token.software {
        return Err(refuse(format!(
            "it is a software token ({} {}) whose keys live in host files; production needs a \
             hardware HSM",
            token.manufacturer, token.model
        )));
    }
    if mode == Mode::Production && expected.is_none() {
        return Err(refuse(
            "the site profile pins no HSM identity (hsm.expect); production needs one".into(),
        ));
    }
    if let Some(e) = expected {
        let mut diffs = Vec::new();
        for (what, want, got) in [
            ("manufacturer", &e.manufacturer, &token.manufacturer),
            ("model", &e.model, &token.model),
            ("serial", &e.serial, &token.serial),
        ] {
            if want.trim() == got.trim() {
                continue;
            }
            // A profile that pinned the slot of a token whose serial C_InitToken assigns:
            // from then on the serial must be pinned (the hsm-initialisation record says so).
            diffs.push(if what == "serial" && e.serial_assigned_at_init() {
                format!(
                    "serial is \"{got}\" (assigned when the token was initialised) and the \
                     profile pins none; write serial = \"{got}\" under [hsm.expect]"
                )
            } else {
                format!("{what} is \"{got}\", the profile expects \"{want}\"")
            });
        }
        diffs.extend(e.slot_differences(token));
        if !diffs.is_empty() {
            return Err(refuse(diffs.join(", ")));
        }
    }
    Ok(IdentityEvidence {
        mode,
        manufacturer: token.manufacturer.clone(),
        model: token.model.clone(),
        serial: token.serial.clone(),
        software: token.software,
        pinned: expected.is_some(),
    })
}
