//! A face's answer as it arrives from the web view: JSON, secrets typed as plain strings that
//! become [`SecretText`] while being parsed.

use crate::engine::{Answer, Decision, ShareProof};
use crate::script::Role;
use crate::secret::SecretText;
use serde::Deserialize;
use std::path::PathBuf;
use ts_rs::TS;

/// A secret typed in the window: deserialised into a zeroizing [`SecretText`] at once. Its
/// `Debug` is redacted.
pub struct Typed(pub SecretText);

impl<'de> Deserialize<'de> for Typed {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Typed(SecretText::new(String::deserialize(d)?)))
    }
}

impl std::fmt::Debug for Typed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Typed(redacted)")
    }
}

/// The window's answer to the current prompt: one variant per [`Answer`] a person can give
/// (the CLI reads the same answers from the terminal).
#[derive(Debug, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
#[expect(
    missing_docs,
    reason = "each variant mirrors the Answer variant it becomes (see `into_answer`)"
)]
pub enum AnswerIn {
    CheckIn {
        name: String,
        role: String,
    },
    Proceed,
    Clock {
        witness: String,
        reference: String,
        offset_seconds: i64,
    },
    Pin {
        #[ts(type = "string")]
        pin: Typed,
    },
    NewPins {
        #[ts(type = "string")]
        so: Typed,
        #[ts(type = "string")]
        user: Typed,
    },
    CurrentSoPin {
        #[ts(type = "string")]
        pin: Typed,
    },
    ShareText {
        #[ts(type = "string")]
        text: Typed,
    },
    ShareSealed {
        file: String,
        #[ts(type = "string")]
        passphrase: Typed,
    },
    /// The share is sealed to the custodian's YubiKey: their card and PIN open it.
    ShareYubikey {
        #[ts(type = "string")]
        pin: Typed,
    },
    SignOff {
        participant: String,
    },
    /// An enrolled custodian signs off with their YubiKey.
    SignOffYubikey {
        participant: String,
        #[ts(type = "string")]
        pin: Typed,
    },
    Decide {
        decision: String,
        decided_by: Vec<String>,
        reason: String,
    },
    Enrol {
        serial: u32,
        #[ts(type = "string")]
        current_pin: Typed,
        #[ts(type = "string")]
        new_pin: Typed,
        #[ts(type = "string")]
        current_puk: Typed,
        #[ts(type = "string")]
        new_puk: Typed,
        touch: bool,
    },
    ChooseKey {
        key_id: String,
    },
    Approve {
        custodian_id: String,
        #[ts(type = "string")]
        pin: Typed,
    },
    SubmitApprovals,
    /// A custodian presents a share typed or scanned from their card (recovery).
    PresentShareText {
        custodian: String,
        #[ts(type = "string")]
        text: Typed,
    },
    /// A custodian presents their passphrase-sealed share file (recovery).
    PresentShareSealed {
        custodian: String,
        file: String,
        #[ts(type = "string")]
        passphrase: Typed,
    },
    /// A custodian opens their YubiKey-sealed share with the card and PIN (recovery).
    PresentShareYubikey {
        custodian: String,
        #[ts(type = "string")]
        pin: Typed,
    },
}

/// A name typed into the window that is not one the engine knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnswerError {
    /// Not a role.
    #[error("unknown role \"{0}\": administrator, witness, custodian or auditor")]
    UnknownRole(String),
    /// Not a decision.
    #[error("unknown decision \"{0}\": retry, skip or abort")]
    UnknownDecision(String),
}

impl AnswerIn {
    /// The engine's answer. Names typed in (role, decision) are checked here, with the same
    /// words the CLI uses.
    pub fn into_answer(self) -> Result<Answer, AnswerError> {
        Ok(match self {
            AnswerIn::CheckIn { name, role } => Answer::CheckIn {
                name: name.trim().to_string(),
                role: Role::from_name(&role).ok_or(AnswerError::UnknownRole(role))?,
                credential_fingerprint: None,
            },
            AnswerIn::Proceed => Answer::Proceed,
            AnswerIn::Clock {
                witness,
                reference,
                offset_seconds,
            } => Answer::Clock {
                witness,
                reference,
                offset_seconds,
            },
            AnswerIn::Pin { pin } => Answer::Pin(pin.0),
            AnswerIn::NewPins { so, user } => Answer::NewPins {
                so: so.0,
                user: user.0,
            },
            AnswerIn::CurrentSoPin { pin } => Answer::CurrentSoPin(pin.0),
            AnswerIn::ShareText { text } => Answer::ShareProof(ShareProof::Text(text.0)),
            AnswerIn::ShareSealed { file, passphrase } => Answer::ShareProof(ShareProof::Sealed {
                file: PathBuf::from(file),
                passphrase: passphrase.0,
            }),
            AnswerIn::ShareYubikey { pin } => {
                Answer::ShareProof(ShareProof::YubiKey { pin: pin.0 })
            }
            AnswerIn::SignOff { participant } => Answer::SignOff {
                participant,
                signature_sha256: None,
            },
            AnswerIn::SignOffYubikey { participant, pin } => Answer::SignOffWithYubiKey {
                participant,
                pin: pin.0,
            },
            AnswerIn::Decide {
                decision,
                decided_by,
                reason,
            } => Answer::Decide {
                decision: Decision::from_name(&decision)
                    .ok_or(AnswerError::UnknownDecision(decision))?,
                decided_by,
                reason,
            },
            AnswerIn::Enrol {
                serial,
                current_pin,
                new_pin,
                current_puk,
                new_puk,
                touch,
            } => Answer::Enrol {
                serial,
                current_pin: current_pin.0,
                new_pin: new_pin.0,
                current_puk: current_puk.0,
                new_puk: new_puk.0,
                touch,
            },
            AnswerIn::ChooseKey { key_id } => Answer::ChooseKey { key_id },
            AnswerIn::Approve { custodian_id, pin } => Answer::Approve {
                custodian_id,
                pin: pin.0,
            },
            AnswerIn::SubmitApprovals => Answer::SubmitApprovals,
            AnswerIn::PresentShareText { custodian, text } => Answer::PresentShare {
                custodian,
                proof: ShareProof::Text(text.0),
            },
            AnswerIn::PresentShareSealed {
                custodian,
                file,
                passphrase,
            } => Answer::PresentShare {
                custodian,
                proof: ShareProof::Sealed {
                    file: PathBuf::from(file),
                    passphrase: passphrase.0,
                },
            },
            AnswerIn::PresentShareYubikey { custodian, pin } => Answer::PresentShare {
                custodian,
                proof: ShareProof::YubiKey { pin: pin.0 },
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(v: serde_json::Value) -> AnswerIn {
        serde_json::from_value(v).expect("answer")
    }

    #[test]
    fn names_typed_in_are_checked_with_the_clis_words() {
        let table = [
            (
                serde_json::json!({"kind": "decide", "decision": "later", "decided_by": [], "reason": ""}),
                "unknown decision \"later\": retry, skip or abort",
            ),
            (
                serde_json::json!({"kind": "check-in", "name": "A", "role": "boss"}),
                "unknown role \"boss\": administrator, witness, custodian or auditor",
            ),
        ];
        for (input, expected) in table {
            let e = parse(input).into_answer().unwrap_err();
            assert_eq!(e.to_string(), expected);
        }
    }

    #[test]
    fn typed_secrets_are_redacted_and_yubikey_answers_arrive() {
        let a = parse(serde_json::json!({"kind": "pin", "pin": "123456"}));
        assert!(!format!("{a:?}").contains("123456"));
        let a = parse(serde_json::json!({"kind": "share-yubikey", "pin": "654321"}));
        assert!(!format!("{a:?}").contains("654321"));
        assert!(matches!(
            a.into_answer(),
            Ok(Answer::ShareProof(ShareProof::YubiKey { .. }))
        ));
        let a = parse(
            serde_json::json!({"kind": "present-share-text", "custodian": "custodian-2", "text": "KEYRITE-SHARE:0B"}),
        );
        assert!(!format!("{a:?}").contains("0B"));
        assert!(matches!(
            a.into_answer(),
            Ok(Answer::PresentShare { custodian, proof: ShareProof::Text(_) }) if custodian == "custodian-2"
        ));
        let a = parse(
            serde_json::json!({"kind": "present-share-sealed", "custodian": "C Two", "file": "s.krseal", "passphrase": "pass phrase"}),
        );
        assert!(!format!("{a:?}").contains("pass phrase"));
        assert!(matches!(
            a.into_answer(),
            Ok(Answer::PresentShare { proof: ShareProof::Sealed { file, .. }, .. }) if file == Path::new("s.krseal")
        ));
        let a = parse(
            serde_json::json!({"kind": "sign-off-yubikey", "participant": "custodian-1", "pin": "1"}),
        );
        assert!(matches!(
            a.into_answer(),
            Ok(Answer::SignOffWithYubiKey { participant, .. }) if participant == "custodian-1"
        ));
    }
}
