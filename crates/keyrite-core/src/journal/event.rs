//! The event catalogue: what the journal records. See `docs/formats/journal.md`.
//!
//! Events never contain secrets. That is enforced three ways: the typed fields below are
//! identifiers, fingerprints and digests only; the secret types ([`crate::secret`]) do not
//! implement `Serialize`, so they cannot be put into an event by accident; and every event,
//! including free-form `details`, is scanned before it is written for field names that
//! denote secrets ([`SECRET_FIELD_WORDS`]) — such an event is refused, not redacted.

use crate::inventory::KeyState;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One journal event. Serialised with `"type"` naming the variant in snake_case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[expect(
    missing_docs,
    reason = "field names are the documentation; see docs/formats/journal.md"
)]
pub enum Event {
    /// A ceremony started from a reviewed script.
    CeremonyStarted {
        ceremony_id: String,
        script_name: String,
        script_sha256: String,
        mode: CeremonyMode,
    },
    /// A ceremony's outcome was decided, before its record is rendered (the record shows it;
    /// `ceremony_closed` repeats it after the record's sign-offs). See
    /// `docs/formats/checkpoint.md`, "Closing a ceremony".
    CeremonyOutcome {
        ceremony_id: String,
        outcome: CeremonyOutcome,
    },
    /// A ceremony closed.
    CeremonyClosed {
        ceremony_id: String,
        outcome: CeremonyOutcome,
    },
    /// A participant was identified and checked in.
    ParticipantCheckedIn {
        ceremony_id: String,
        participant_id: String,
        name: String,
        role: ParticipantRole,
        credential_fingerprint: Option<String>,
    },
    /// A check-in corrected before the ceremony's first HSM action: seat `participant_id`
    /// (its `role` and `seat` number) is held by `name`, not `previous_name`
    /// (`engine::Ceremony::correct_check_in`).
    ParticipantCorrected {
        ceremony_id: String,
        participant_id: String,
        role: ParticipantRole,
        seat: u32,
        previous_name: String,
        name: String,
        reason: String,
    },
    /// A step started.
    StepStarted {
        ceremony_id: String,
        step: String,
        title: String,
    },
    /// A step completed.
    StepCompleted { ceremony_id: String, step: String },
    /// A step failed.
    StepFailed {
        ceremony_id: String,
        step: String,
        error: String,
    },
    /// A participant signed off a step.
    SignOff {
        ceremony_id: String,
        step: String,
        participant_id: String,
        role: ParticipantRole,
        signature_sha256: Option<String>,
    },
    /// An exception was raised.
    ExceptionOpened {
        ceremony_id: String,
        exception_id: String,
        step: String,
        description: String,
    },
    /// An exception was decided.
    ExceptionDecided {
        ceremony_id: String,
        exception_id: String,
        decision: ExceptionDecision,
        decided_by: Vec<String>,
        reason: String,
    },
    /// A preflight check ran.
    PreflightResult {
        ceremony_id: String,
        check: PreflightCheck,
        passed: bool,
        detail: String,
    },
    /// An HSM token was initialised.
    HsmTokenInitialised {
        token_serial: String,
        token_label: String,
        manufacturer: String,
        model: String,
    },
    /// A key was generated inside the HSM; `evidence` holds the attribute read-back.
    KeyGenerated {
        key_id: String,
        label: String,
        cka_id: String,
        token_serial: String,
        algorithm: String,
        public_fingerprint: Option<String>,
        evidence: Value,
    },
    /// A key was imported into the HSM.
    KeyImported {
        key_id: String,
        label: String,
        cka_id: String,
        token_serial: String,
        algorithm: String,
        source: String,
    },
    /// A wrapped backup was made.
    BackupMade {
        backup_id: String,
        key_id: String,
        wrapped_by: String,
        blob_sha256: String,
        location: String,
    },
    /// A wrapped backup was restored.
    BackupRestored {
        backup_id: String,
        key_id: String,
        token_serial: String,
    },
    /// A key was destroyed; `proof` holds the evidence (post-inventory absence, copies).
    KeyDestroyed {
        key_id: String,
        token_serial: String,
        cka_id: String,
        proof: Value,
    },
    /// A Shamir share set was created. Fingerprints only, never share values.
    ShareSetCreated {
        set_id: String,
        protects_key_id: String,
        threshold: u8,
        share_count: u8,
        share_fingerprints: Vec<String>,
    },
    /// A share was verified against its fingerprint.
    ShareVerified {
        set_id: String,
        index: u8,
        fingerprint: String,
        custodian_id: String,
    },
    /// A quorum approval was requested.
    ApprovalRequested {
        request_id: String,
        request_sha256: String,
        operation: String,
        key_id: Option<String>,
        required: u8,
    },
    /// A custodian approved.
    ApprovalGranted {
        request_id: String,
        custodian_id: String,
        signature_sha256: String,
    },
    /// A custodian refused.
    ApprovalRefused {
        request_id: String,
        custodian_id: String,
        reason: String,
    },
    /// A key was entered into the inventory.
    KeyRegistered {
        key_id: String,
        label: String,
        purpose: String,
        key_type: String,
        algorithm: String,
        token_serial: String,
        cka_id: String,
        fingerprint: Option<String>,
        cryptoperiod_days: i64,
        nist_suggested_days: i64,
        justification: Option<String>,
    },
    /// A key changed lifecycle state.
    InventoryStateChanged {
        key_id: String,
        from: KeyState,
        to: KeyState,
        reason: String,
        actor: String,
    },
    /// A key's backup or protected data was recorded in the inventory.
    InventoryDependencyAdded {
        key_id: String,
        dependency: String,
        until: Option<String>,
    },
    /// A checkpoint was signed.
    Checkpoint {
        size: u64,
        root: String,
        signer_fingerprint: String,
    },
    /// A ceremony record was produced.
    RecordProduced {
        ceremony_id: String,
        record_sha256: String,
        pages: u32,
    },
    /// Journal entries were exported for a SIEM.
    JournalExported {
        format: String,
        first_seq: u64,
        last_seq: u64,
        file_sha256: String,
    },
    /// The engine is about to change the HSM for a step (see `docs/engine.md`, resume).
    ActionIntent {
        ceremony_id: String,
        step: String,
        action: String,
        label: Option<String>,
    },
    /// The action announced by the last `action_intent` of the step finished and its outputs
    /// are journaled.
    ActionDone {
        ceremony_id: String,
        step: String,
        action: String,
    },
    /// A share was handed to its custodian (shown and/or sealed to a file). Never the value.
    ShareDistributed {
        ceremony_id: String,
        set_id: String,
        index: u8,
        custodian_id: String,
        shown: bool,
        sealed_file: Option<String>,
        sealed_sha256: Option<String>,
    },
    /// A share set was declared void (its shares lost or replaced); its key was destroyed.
    ShareSetVoided { set_id: String, reason: String },
    /// A step is to be run again from the start (resume after an interrupted action).
    StepReset {
        ceremony_id: String,
        step: String,
        reason: String,
    },
    /// Anything else; describe it in `details`.
    Note { kind: String },
    /// A custodian's YubiKey was enrolled (public keys only; the full record is in `details`).
    CustodianEnrolled {
        ceremony_id: Option<String>,
        custodian_id: String,
        name: String,
        yubikey_serial: u32,
        signature_fingerprint: String,
        key_management_fingerprint: String,
        attested: bool,
    },
    /// A custodian's YubiKey no longer counts for quorums.
    CustodianRetired {
        custodian_id: String,
        reason: String,
    },
}

impl Event {
    /// The `type` name of this event (`key_generated`, …).
    pub fn kind(&self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_string))
            .unwrap_or_default()
    }
}

/// Words that, as a whole `_`/`-`-separated part of a field name, mark a secret.
pub const SECRET_FIELD_WORDS: &[&str] = &[
    "pin",
    "puk",
    "password",
    "passphrase",
    "secret",
    "private",
    "plaintext",
    "mnemonic",
    "seed",
    "share",
    "material",
];

/// Field names allowed although a part matches (they hold fingerprints or counts).
const ALLOWED_FIELDS: &[&str] = &["share_fingerprints", "share_count", "share_set_id"];

/// Finds a field whose name denotes a secret; returns its JSON path.
pub fn find_secret_field(v: &Value, path: &str) -> Option<String> {
    match v {
        Value::Object(m) => m.iter().find_map(|(k, v)| {
            let lower = k.to_ascii_lowercase();
            let here = format!("{path}.{k}");
            let secret = !ALLOWED_FIELDS.contains(&lower.as_str())
                && lower
                    .split(['_', '-'])
                    .any(|w| SECRET_FIELD_WORDS.contains(&w));
            if secret {
                Some(here)
            } else {
                find_secret_field(v, &here)
            }
        }),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .find_map(|(i, v)| find_secret_field(v, &format!("{path}[{i}]"))),
        _ => None,
    }
}

/// A journal field with a known set of values, written as the same string the journal has
/// always held (the hashed format must not change). A value this version does not know
/// (written by an older or newer version, or by a test) decodes as `Other` and encodes back
/// byte for byte, so every old journal still decodes and verifies.
macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vm])* $v,)*
            /// A value this version does not know, kept exactly as written.
            Other(String),
        }

        impl $name {
            /// The string on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$v => $s,)*
                    $name::Other(s) => s,
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $($s => $name::$v,)*
                    other => $name::Other(other.to_string()),
                }
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name::from(s.as_str())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.as_str().to_string()
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Ok($name::from(String::deserialize(d)?))
            }
        }
    };
}

wire_enum!(
    /// `ceremony_started.mode`: the profile's mode.
    CeremonyMode {
        /// `rehearsal`.
        Rehearsal = "rehearsal",
        /// `production`.
        Production = "production",
    }
);

wire_enum!(
    /// `ceremony_outcome.outcome` and `ceremony_closed.outcome`.
    CeremonyOutcome {
        /// `completed`: every step completed or skipped by exception.
        Completed = "completed",
        /// `aborted`: the room aborted it at an exception.
        Aborted = "aborted",
    }
);

wire_enum!(
    /// `participant_checked_in.role` and `sign_off.role`: a script role.
    ParticipantRole {
        /// `administrator`.
        Administrator = "administrator",
        /// `witness`.
        Witness = "witness",
        /// `auditor`.
        Auditor = "auditor",
        /// `custodian`.
        Custodian = "custodian",
    }
);

wire_enum!(
    /// `exception_decided.decision`.
    ExceptionDecision {
        /// `retry`: run the step's action again.
        Retry = "retry",
        /// `skip`: go on without the step (a witness decided).
        Skip = "skip",
        /// `abort`: close the ceremony as aborted.
        Abort = "abort",
    }
);

wire_enum!(
    /// `preflight_result.check`: the air-gap checks (named as the engine has always written
    /// them, in CamelCase) and the witnessed clock check (`clock`).
    PreflightCheck {
        /// No network interface up other than loopback.
        NetworkInterfaces = "NetworkInterfaces",
        /// No wireless device.
        Wireless = "Wireless",
        /// No Bluetooth device.
        Bluetooth = "Bluetooth",
        /// No default route.
        DefaultRoute = "DefaultRoute",
        /// No removable medium mounted.
        RemovableMedia = "RemovableMedia",
        /// The system clock against a witnessed reference.
        Clock = "clock",
    }
);

impl From<crate::profile::Mode> for CeremonyMode {
    fn from(m: crate::profile::Mode) -> Self {
        CeremonyMode::from(m.to_string())
    }
}

impl From<crate::script::Role> for ParticipantRole {
    fn from(r: crate::script::Role) -> Self {
        ParticipantRole::from(r.name())
    }
}

impl From<crate::preflight::CheckKind> for PreflightCheck {
    fn from(c: crate::preflight::CheckKind) -> Self {
        // The journal has always held the variant's Rust name here.
        PreflightCheck::from(format!("{c:?}"))
    }
}

#[cfg(test)]
mod tests;
