//! Errors loading a ceremony script: every problem names file, line, column and key.

use super::ids::{IdError, ThresholdError};
use std::fmt;

/// What is wrong at one place of a script.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProblemKind {
    /// The TOML does not parse, or a value has the wrong type (the parser's own words).
    #[error("{0}")]
    Syntax(String),
    /// A key the format does not know (typo, or a key from another version).
    #[error("unknown key `{key}`; allowed here: {allowed}")]
    UnknownKey {
        /// The key as written.
        key: String,
        /// The keys allowed at that place.
        allowed: String,
    },
    /// A required key is missing.
    #[error("missing key `{0}`")]
    MissingKey(String),
    /// An id is malformed.
    #[error("{what} {source}")]
    BadId {
        /// "script id" or "step id".
        what: &'static str,
        /// Why.
        source: IdError,
    },
    /// A text that must say something is empty.
    #[error("{0} is empty; write it out for the people in the room")]
    Empty(String),
    /// The action is not one the engine knows.
    #[error("unknown action \"{action}\"; the engine knows: {known}")]
    UnknownAction {
        /// The action as written.
        action: String,
        /// Every known action.
        known: String,
    },
    /// A role name that is not a role.
    #[error("unknown role \"{0}\"; roles are: administrator, witness, custodian, auditor")]
    UnknownRole(String),
    /// K of N out of bounds.
    #[error("{0}")]
    Threshold(ThresholdError),
    /// A role count out of bounds.
    #[error("{role} count {count} is out of range; use {min} to 16")]
    RoleCount {
        /// The role.
        role: &'static str,
        /// The count written.
        count: u32,
        /// The least allowed.
        min: u32,
    },
    /// A declared role that no step can fill.
    #[error("role {role} is declared but no step acts as {role} or needs a {role}'s sign-off; remove it from [roles] or give it a step")]
    RoleUnused {
        /// The role.
        role: &'static str,
    },
    /// A step acts as a role the script does not declare.
    #[error("step \"{step}\" acts as {role} but [roles] declares no {role}; declare it or pick a declared role")]
    RoleUndeclared {
        /// The step.
        step: String,
        /// The role.
        role: &'static str,
    },
    /// A sign-off needs more people of a role than the script declares.
    #[error("step \"{step}\" needs {need} {role} sign-off(s) but [roles] declares {declared}")]
    SignOffTooMany {
        /// The step.
        step: String,
        /// The role.
        role: &'static str,
        /// How many sign-offs the step needs.
        need: u32,
        /// How many of that role the script declares.
        declared: u32,
    },
    /// A sign-off of the step's own role that only the one acting could give.
    #[error(
        "step \"{step}\" acts as {role} and needs {need} {role} sign-off(s) from someone other \
         than the {role} who performs it, but [roles] declares {declared} of that role in all; let \
         another role sign it off or declare more"
    )]
    SignOffByActor {
        /// The step.
        step: String,
        /// The role.
        role: &'static str,
        /// How many sign-offs of that role the step needs.
        need: u32,
        /// How many of that role the script declares.
        declared: u32,
    },
    /// A `[roles] combine` entry that is not two different declared roles.
    #[error(
        "a combination is two different declared roles one person may hold together: {problem}"
    )]
    RoleCombination {
        /// What is wrong.
        problem: String,
    },
    /// A sign-off count of zero.
    #[error("step \"{step}\" asks for 0 {role} sign-offs; remove the entry or ask for at least 1")]
    SignOffZero {
        /// The step.
        step: String,
        /// The role.
        role: &'static str,
    },
    /// A sign-off count that is not a count.
    #[error("step \"{step}\": {role} sign-off must be a whole number from 1 to 16, \"all\"{extra}, not {found}")]
    SignOffValue {
        /// The step.
        step: String,
        /// The role.
        role: &'static str,
        /// `, or "threshold"` for custodians.
        extra: &'static str,
        /// What was written.
        found: String,
    },
    /// Quorum asked for with no custodians.
    #[error("step \"{step}\" needs quorum approval but the script declares no custodians; add [roles.custodians] with threshold and total")]
    QuorumWithoutCustodians {
        /// The step.
        step: String,
    },
    /// An action that works on shares, with no custodians.
    #[error("step \"{step}\": action {action} works with custodians' shares but the script declares no custodians; add [roles.custodians] with threshold and total")]
    ActionNeedsCustodians {
        /// The step.
        step: String,
        /// The action.
        action: &'static str,
    },
    /// An action that always needs quorum, without `quorum = true`.
    #[error(
        "step \"{step}\": action {action} always needs K-of-N quorum approval; set quorum = true"
    )]
    ActionNeedsQuorum {
        /// The step.
        step: String,
        /// The action.
        action: &'static str,
    },
    /// A key policy the build's policy set does not have.
    #[error("step \"{step}\": unknown key policy \"{policy}\"; known policies: {known}")]
    UnknownPolicy {
        /// The step.
        step: String,
        /// The name given.
        policy: String,
        /// The policies there are.
        known: String,
    },
    /// Two steps share an id.
    #[error("duplicate step id \"{step}\"; step {first} already uses it")]
    DuplicateStep {
        /// The id.
        step: String,
        /// The 1-based number of the step that has it first.
        first: usize,
    },
    /// A required action parameter is missing.
    #[error(
        "step \"{step}\": action {action} needs parameter `{param}` ({kind}) in its params table"
    )]
    ParamMissing {
        /// The step.
        step: String,
        /// The action.
        action: &'static str,
        /// The parameter.
        param: &'static str,
        /// What kind of value it takes.
        kind: &'static str,
    },
    /// An action parameter of the wrong kind or out of range.
    #[error(
        "step \"{step}\": parameter `{param}` of action {action} must be {expected}, not {found}"
    )]
    ParamWrongKind {
        /// The step.
        step: String,
        /// The action.
        action: &'static str,
        /// The parameter.
        param: &'static str,
        /// What it must be.
        expected: &'static str,
        /// What it is.
        found: String,
    },
    /// A label or id that is not a safe name (`crate::names::check_name`): it could lead out
    /// of a directory, or carries characters a record would not show faithfully.
    #[error("step \"{step}\": parameter `{param}`: {source}")]
    BadName {
        /// The step.
        step: String,
        /// The parameter.
        param: &'static str,
        /// Why the name was refused.
        source: crate::names::NameError,
    },
    /// A parameter the action does not take.
    #[error("step \"{step}\": action {action} takes no parameter `{param}`; it takes: {allowed}")]
    ParamUnknown {
        /// The step.
        step: String,
        /// The action.
        action: &'static str,
        /// The parameter as written.
        param: String,
        /// The parameters it takes.
        allowed: String,
    },
    /// Empty instructions.
    #[error("step \"{0}\" has empty instructions; say what the people in the room do and check")]
    EmptyInstructions(String),
    /// No steps at all.
    #[error("the script has no steps; add [[steps]] tables")]
    NoSteps,
    /// An HSM action before any preflight step.
    #[error("step \"{step}\": action {action} touches the HSM but no preflight step comes before it; production must check the air gap first")]
    HsmBeforePreflight {
        /// The step.
        step: String,
        /// The action.
        action: &'static str,
    },
    /// The ceremony does not end by signing its record.
    #[error("the last step is \"{0}\"; a ceremony must end with a sign-record step so that its record is closed and signed")]
    NoSignRecordAtEnd(String),
    /// Shares made but not all verified by their custodians before close.
    #[error("step \"{step}\" makes new shares but no later verify-shares step has every custodian ({n}) sign off; add one before the record is signed")]
    SharesNotVerified {
        /// The step making shares.
        step: String,
        /// N.
        n: u8,
    },
    /// A compliance reference Keyrite does not recognise.
    #[error("compliance reference \"{0}\" is not recognised; write it as FRAMEWORK CLAUSE with FRAMEWORK one of: HIPAA, ISO 27001, SOC 2, PCI DSS, BR, NIST, WebTrust (e.g. \"PCI DSS 3.7.6\")")]
    BadCompliance(String),
}

/// One problem at one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The key path, e.g. `steps[7].action` (steps counted from 1).
    pub key: String,
    /// What is wrong.
    pub kind: ProblemKind,
}

/// Why a ceremony script was refused.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// The file cannot be read.
    #[error("cannot read ceremony script {file}: {source}")]
    Read {
        /// The path as given.
        file: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not UTF-8.
    #[error(
        "{file}: the ceremony script is not UTF-8 text (byte {offset} is not); save it as UTF-8"
    )]
    NotUtf8 {
        /// The path as given.
        file: String,
        /// Offset of the first bad byte.
        offset: usize,
    },
    /// One or more problems; each line is `FILE:LINE:COLUMN: KEY: message`.
    #[error("{}", Problems(file, problems))]
    Invalid {
        /// The path as given.
        file: String,
        /// Every problem found, in file order.
        problems: Vec<Problem>,
    },
}

struct Problems<'a>(&'a str, &'a [Problem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.1.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(
                f,
                "{}:{}:{}: {}: {}",
                self.0, p.line, p.column, p.key, p.kind
            )?;
        }
        Ok(())
    }
}
