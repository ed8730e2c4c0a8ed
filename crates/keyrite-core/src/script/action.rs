//! The closed set of actions the engine knows, and their parameters.

use serde::Serialize;
use std::fmt;

/// What a step does. The engine implements exactly these; a script cannot invent others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionKind {
    /// Air-gap check of the machine (interfaces, radios, routes, removable media).
    Preflight,
    /// The witness confirms the system clock against an independent clock.
    ClockCheck,
    /// Initialise the HSM token (SO and user PINs, label).
    HsmInit,
    /// Enrol custodians' YubiKeys and record their acknowledgements.
    EnrolCustodian,
    /// Generate the root KEK, split it K of N, import it into the HSM, zeroize the host copy.
    GenerateAndSplitRootKek,
    /// Hand each share to its custodian (sealed to the YubiKey and/or printed card).
    DistributeShare,
    /// Every custodian proves they hold a working share.
    VerifyShares,
    /// Generate a key inside the HSM under a key policy.
    GenerateKey,
    /// Back up an HSM key wrapped under the root KEK.
    Backup,
    /// Replace a key by a new one; the old one stops protecting new data.
    Rotate,
    /// Destroy a key on the HSM and prove it is gone.
    Destroy,
    /// Rebuild the root KEK from K shares into a (replacement) HSM and restore backups.
    Recover,
    /// Reshare the root KEK to a new custodian set; the old share set is recorded void.
    ReplaceCustodian,
    /// Sign a journal checkpoint.
    Checkpoint,
    /// Close the ceremony: render and sign the record.
    SignRecord,
    /// A human-only step: the engine shows instructions and collects sign-offs.
    Manual,
}

impl ActionKind {
    /// Every action, in documentation order.
    pub const ALL: [ActionKind; 16] = [
        ActionKind::Preflight,
        ActionKind::ClockCheck,
        ActionKind::HsmInit,
        ActionKind::EnrolCustodian,
        ActionKind::GenerateAndSplitRootKek,
        ActionKind::DistributeShare,
        ActionKind::VerifyShares,
        ActionKind::GenerateKey,
        ActionKind::Backup,
        ActionKind::Rotate,
        ActionKind::Destroy,
        ActionKind::Recover,
        ActionKind::ReplaceCustodian,
        ActionKind::Checkpoint,
        ActionKind::SignRecord,
        ActionKind::Manual,
    ];

    /// The name used in scripts.
    pub fn name(self) -> &'static str {
        match self {
            ActionKind::Preflight => "preflight",
            ActionKind::ClockCheck => "clock-check",
            ActionKind::HsmInit => "hsm-init",
            ActionKind::EnrolCustodian => "enrol-custodian",
            ActionKind::GenerateAndSplitRootKek => "generate-and-split-root-kek",
            ActionKind::DistributeShare => "distribute-share",
            ActionKind::VerifyShares => "verify-shares",
            ActionKind::GenerateKey => "generate-key",
            ActionKind::Backup => "backup",
            ActionKind::Rotate => "rotate",
            ActionKind::Destroy => "destroy",
            ActionKind::Recover => "recover",
            ActionKind::ReplaceCustodian => "replace-custodian",
            ActionKind::Checkpoint => "checkpoint",
            ActionKind::SignRecord => "sign-record",
            ActionKind::Manual => "manual",
        }
    }

    /// The action named `name`, if the engine knows it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// All names, comma-separated (for error messages and docs).
    pub fn all_names() -> String {
        Self::ALL.map(|a| a.name()).join(", ")
    }

    /// The parameters this action takes.
    pub fn params(self) -> &'static [ParamSpec] {
        match self {
            ActionKind::ClockCheck => &CLOCK_CHECK,
            ActionKind::HsmInit => &HSM_INIT,
            ActionKind::GenerateAndSplitRootKek | ActionKind::Recover => &ROOT_KEK,
            ActionKind::GenerateKey => &GENERATE_KEY,
            ActionKind::Backup => &BACKUP,
            ActionKind::Rotate => &ROTATE,
            ActionKind::Destroy => &DESTROY,
            _ => &[],
        }
    }

    /// Works with custodians' shares: the script must declare custodians.
    pub fn needs_custodians(self) -> bool {
        matches!(
            self,
            ActionKind::EnrolCustodian
                | ActionKind::GenerateAndSplitRootKek
                | ActionKind::DistributeShare
                | ActionKind::VerifyShares
                | ActionKind::Recover
                | ActionKind::ReplaceCustodian
        )
    }

    /// Always needs K-of-N quorum approval (`quorum = true`).
    pub fn needs_quorum(self) -> bool {
        matches!(
            self,
            ActionKind::Rotate
                | ActionKind::Destroy
                | ActionKind::Recover
                | ActionKind::ReplaceCustodian
        )
    }

    /// Touches the HSM, so a preflight step must come first.
    pub fn touches_hsm(self) -> bool {
        matches!(
            self,
            ActionKind::HsmInit
                | ActionKind::GenerateAndSplitRootKek
                | ActionKind::GenerateKey
                | ActionKind::Backup
                | ActionKind::Rotate
                | ActionKind::Destroy
                | ActionKind::Recover
                | ActionKind::ReplaceCustodian
        )
    }

    /// Makes a new share set that custodians must verify before close.
    pub fn makes_shares(self) -> bool {
        matches!(
            self,
            ActionKind::GenerateAndSplitRootKek | ActionKind::ReplaceCustodian
        )
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

const fn p(name: &'static str, kind: ParamKind, required: bool) -> ParamSpec {
    ParamSpec {
        name,
        kind,
        required,
    }
}
const CLOCK_CHECK: [ParamSpec; 1] = [p("tolerance_seconds", ParamKind::Seconds, false)];
const HSM_INIT: [ParamSpec; 1] = [p("token_label", ParamKind::TokenLabel, true)];
const ROOT_KEK: [ParamSpec; 1] = [p("label", ParamKind::Label, true)];
const GENERATE_KEY: [ParamSpec; 2] = [
    p("policy", ParamKind::Label, true),
    p("label", ParamKind::Label, true),
];
const BACKUP: [ParamSpec; 2] = [
    p("key", ParamKind::Label, true),
    p("wrap_key", ParamKind::Label, true),
];
const ROTATE: [ParamSpec; 3] = [
    p("key", ParamKind::Label, false),
    p("policy", ParamKind::Label, false),
    p("compromised", ParamKind::Flag, false),
];
const DESTROY: [ParamSpec; 2] = [
    p("key", ParamKind::Label, false),
    p("compromised", ParamKind::Flag, false),
];

/// The kind of value a parameter takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// A non-empty string (a key label or policy name), at most 128 bytes.
    Label,
    /// A PKCS#11 token label: non-empty string of at most 32 bytes.
    TokenLabel,
    /// Whole seconds, 1 to 3600.
    Seconds,
    /// `true` or `false`.
    Flag,
}

impl ParamKind {
    /// How the kind is described in messages.
    pub fn describe(self) -> &'static str {
        match self {
            ParamKind::Label => "a non-empty string of at most 128 bytes",
            ParamKind::TokenLabel => "a non-empty string of at most 32 bytes",
            ParamKind::Seconds => "an integer from 1 to 3600",
            ParamKind::Flag => "true or false",
        }
    }
}

/// One parameter an action takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamSpec {
    /// Key in the step's `params` table.
    pub name: &'static str,
    /// What it takes.
    pub kind: ParamKind,
    /// Whether the step must give it.
    pub required: bool,
}

/// Default clock tolerance for `clock-check` when the script does not set one.
pub const DEFAULT_CLOCK_TOLERANCE_SECONDS: u32 = 120;

/// A step's action with its checked parameters: what the engine runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// See [`ActionKind::Preflight`].
    Preflight,
    /// See [`ActionKind::ClockCheck`].
    ClockCheck {
        /// Largest difference to the independent clock the witness may accept.
        tolerance_seconds: u32,
    },
    /// See [`ActionKind::HsmInit`].
    HsmInit {
        /// The token label to set.
        token_label: String,
    },
    /// See [`ActionKind::EnrolCustodian`].
    EnrolCustodian,
    /// See [`ActionKind::GenerateAndSplitRootKek`].
    GenerateAndSplitRootKek {
        /// CKA_LABEL of the root KEK on the HSM.
        label: String,
    },
    /// See [`ActionKind::DistributeShare`].
    DistributeShare,
    /// See [`ActionKind::VerifyShares`].
    VerifyShares,
    /// See [`ActionKind::GenerateKey`].
    GenerateKey {
        /// Name of the key policy (algorithm, attributes, cryptoperiod).
        policy: String,
        /// CKA_LABEL of the new key.
        label: String,
    },
    /// See [`ActionKind::Backup`].
    Backup {
        /// Label of the key to back up.
        key: String,
        /// Label of the wrapping key (the root KEK).
        wrap_key: String,
    },
    /// See [`ActionKind::Rotate`].
    Rotate {
        /// Label of the key to rotate; `None`: chosen at run time (and named in the quorum request).
        key: Option<String>,
        /// Policy of the new key; `None`: the old key's policy.
        policy: Option<String>,
        /// The old key is suspected or known compromised (not merely at end of cryptoperiod).
        compromised: bool,
    },
    /// See [`ActionKind::Destroy`].
    Destroy {
        /// Label of the key to destroy; `None`: chosen at run time (and named in the quorum request).
        key: Option<String>,
        /// The key is suspected or known compromised.
        compromised: bool,
    },
    /// See [`ActionKind::Recover`].
    Recover {
        /// CKA_LABEL of the rebuilt root KEK on the HSM.
        label: String,
    },
    /// See [`ActionKind::ReplaceCustodian`].
    ReplaceCustodian,
    /// See [`ActionKind::Checkpoint`].
    Checkpoint,
    /// See [`ActionKind::SignRecord`].
    SignRecord,
    /// See [`ActionKind::Manual`].
    Manual,
}

impl Action {
    /// The kind of this action.
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::Preflight => ActionKind::Preflight,
            Action::ClockCheck { .. } => ActionKind::ClockCheck,
            Action::HsmInit { .. } => ActionKind::HsmInit,
            Action::EnrolCustodian => ActionKind::EnrolCustodian,
            Action::GenerateAndSplitRootKek { .. } => ActionKind::GenerateAndSplitRootKek,
            Action::DistributeShare => ActionKind::DistributeShare,
            Action::VerifyShares => ActionKind::VerifyShares,
            Action::GenerateKey { .. } => ActionKind::GenerateKey,
            Action::Backup { .. } => ActionKind::Backup,
            Action::Rotate { .. } => ActionKind::Rotate,
            Action::Destroy { .. } => ActionKind::Destroy,
            Action::Recover { .. } => ActionKind::Recover,
            Action::ReplaceCustodian => ActionKind::ReplaceCustodian,
            Action::Checkpoint => ActionKind::Checkpoint,
            Action::SignRecord => ActionKind::SignRecord,
            Action::Manual => ActionKind::Manual,
        }
    }

    /// The parameters as `name = value` pairs, for display.
    pub fn describe_params(&self) -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        match self {
            Action::ClockCheck { tolerance_seconds } => {
                v.push(("tolerance_seconds", tolerance_seconds.to_string()))
            }
            Action::HsmInit { token_label } => v.push(("token_label", token_label.clone())),
            Action::GenerateAndSplitRootKek { label } | Action::Recover { label } => {
                v.push(("label", label.clone()))
            }
            Action::GenerateKey { policy, label } => {
                v.push(("policy", policy.clone()));
                v.push(("label", label.clone()));
            }
            Action::Backup { key, wrap_key } => {
                v.push(("key", key.clone()));
                v.push(("wrap_key", wrap_key.clone()));
            }
            Action::Rotate {
                key,
                policy,
                compromised,
            } => {
                v.push((
                    "key",
                    key.clone().unwrap_or_else(|| "(chosen at run time)".into()),
                ));
                if let Some(p) = policy {
                    v.push(("policy", p.clone()));
                }
                v.push(("compromised", compromised.to_string()));
            }
            Action::Destroy { key, compromised } => {
                v.push((
                    "key",
                    key.clone().unwrap_or_else(|| "(chosen at run time)".into()),
                ));
                v.push(("compromised", compromised.to_string()));
            }
            _ => {}
        }
        v
    }
}
