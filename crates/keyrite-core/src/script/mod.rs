//! Ceremony scripts: the reviewed, hashed TOML file that says what happens in a ceremony.
//!
//! A script names its roles (administrator, witnesses, custodians K of N, auditors) and its
//! steps. Each step has instructions for the people in the room, an acting role, one action
//! from the closed set the engine knows ([`ActionKind`]), the action's parameters, the
//! sign-offs it needs and whether K-of-N quorum approval is needed. The format is documented in
//! `docs/formats/ceremony-script.md`.
//!
//! Loading is strict: unknown keys are refused, and every problem names the file, the line,
//! the column and the key (`root.toml:63:10: steps[7].action: unknown action …`). The script's
//! identity is the SHA-256 of its exact bytes ([`ScriptDigest`]), recorded when a ceremony
//! starts and printed in its record.

mod action;
mod compliance;
mod digest;
mod error;
mod ids;
mod locate;
mod params;
mod raw;
mod roles;
pub mod shipped;
mod validate;

pub use action::{Action, ActionKind, ParamKind, ParamSpec, DEFAULT_CLOCK_TOLERANCE_SECONDS};
pub use compliance::{ComplianceRef, Framework};
pub use digest::ScriptDigest;
pub use error::{Problem, ProblemKind, ScriptError};
pub use ids::{IdError, ScriptId, StepId, Threshold, ThresholdError, MAX_CUSTODIANS};
pub use locate::{KeyPath, Seg};
pub use roles::{Role, Roles, SignOff, SignOffCount};

use serde::Serialize;
use std::path::Path;

/// One step of a ceremony.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// 1-based position in the script.
    pub number: usize,
    /// Line of the step's `[[steps]]` header in the file.
    pub line: usize,
    /// Unique id within the script.
    pub id: StepId,
    /// Short title.
    pub title: String,
    /// Who performs it.
    pub role: Role,
    /// What the engine does, with checked parameters.
    pub action: Action,
    /// What the people in the room do and check (Markdown).
    pub instructions: String,
    /// Sign-offs needed before the step is complete.
    pub sign_offs: Vec<SignOff>,
    /// Whether K-of-N custodian approval is needed before the action runs.
    pub quorum: bool,
    /// Controls this step produces evidence for.
    pub compliance: Vec<ComplianceRef>,
}

/// A validated ceremony script.
#[derive(Debug, Clone, Serialize)]
pub struct Script {
    /// The file name as given when loading (for messages and the record).
    pub file: String,
    /// Script id, e.g. `root-key-generation`.
    pub id: ScriptId,
    /// The script's own version (free text, e.g. `1.0`).
    pub version: String,
    /// Title.
    pub title: String,
    /// Why this ceremony is held (Markdown).
    pub purpose: String,
    /// Who takes part.
    pub roles: Roles,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// SHA-256 of the file's exact bytes.
    pub digest: ScriptDigest,
    #[serde(skip)]
    text: String,
}

impl Script {
    /// Whether a step initialises the token (`hsm-init`): such a ceremony may start on a fresh
    /// HSM whose token has no label yet.
    pub fn initialises_token(&self) -> bool {
        self.steps
            .iter()
            .any(|s| s.action.kind() == ActionKind::HsmInit)
    }

    /// Reads and validates a script file.
    pub fn load(path: &Path) -> Result<Self, ScriptError> {
        let file = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| ScriptError::Read {
            file: file.clone(),
            source,
        })?;
        Self::parse(&file, &bytes)
    }

    /// Validates script bytes; `file` names the source in messages.
    pub fn parse(file: &str, bytes: &[u8]) -> Result<Self, ScriptError> {
        let text = std::str::from_utf8(bytes).map_err(|e| ScriptError::NotUtf8 {
            file: file.to_string(),
            offset: e.valid_up_to(),
        })?;
        let loc = locate::Locator::new(text);
        let invalid = |problems| ScriptError::Invalid {
            file: file.to_string(),
            problems,
        };
        let raw: raw::RawScript =
            toml::from_str(text).map_err(|e| invalid(vec![syntax(&loc, &e)]))?;
        let c = validate::check(raw, &loc).map_err(invalid)?;
        Ok(Script {
            file: file.to_string(),
            id: c.id,
            version: c.version,
            title: c.title,
            purpose: c.purpose,
            roles: c.roles,
            steps: c.steps,
            digest: ScriptDigest::of(bytes),
            text: text.to_string(),
        })
    }

    /// The script text exactly as hashed.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The step with this id.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id.as_str() == id)
    }
}

/// Turns a parser error into a located problem with a key path and a plain message.
fn syntax(loc: &locate::Locator<'_>, e: &toml::de::Error) -> Problem {
    let offset = e.span().map(|s| s.start).unwrap_or(0);
    let (line, column) = loc.line_col(offset);
    let path = loc.path_at(offset);
    let msg = e.message().trim();
    let kind = if let Some(rest) = msg.strip_prefix("unknown field `") {
        let (key, tail) = rest.split_once('`').unwrap_or((rest, ""));
        let allowed = tail
            .trim_start_matches(", expected one of ")
            .trim_start_matches(", expected ")
            .replace('`', "");
        ProblemKind::UnknownKey {
            key: key.to_string(),
            allowed,
        }
    } else if let Some(rest) = msg.strip_prefix("missing field `") {
        ProblemKind::MissingKey(rest.trim_end_matches('`').to_string())
    } else {
        ProblemKind::Syntax(msg.to_string())
    };
    Problem {
        line,
        column,
        key: path.to_string(),
        kind,
    }
}
