//! Answers files: unattended rehearsal (`keyrite ceremony run --answers FILE`). Format:
//! `docs/formats/answers.md`. The engine refuses them in production
//! ([`super::CeremonyOptions::unattended`]).

mod present;

use super::prompt::{Answer, Decision, Prompt, ShareProof};
use super::EngineError;
use crate::hsm::UserKind;
use crate::script::Role;
use crate::secret::SecretText;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

mod secret;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    participants: BTreeMap<String, Vec<String>>,
    #[serde(deserialize_with = "secret::text")]
    so_pin: String,
    #[serde(deserialize_with = "secret::text")]
    user_pin: String,
    #[serde(default, deserialize_with = "secret::optional")]
    current_so_pin: Option<String>,
    clock: RawClock,
    #[serde(default, deserialize_with = "secret::optional")]
    share_passphrase: Option<String>,
    #[serde(default)]
    exceptions: BTreeMap<String, RawDecision>,
    #[serde(default)]
    yubikeys: BTreeMap<String, RawYubiKey>,
    #[serde(default)]
    keys: BTreeMap<String, String>,
    #[serde(default)]
    approvals: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    yubikey_sign_offs: bool,
    #[serde(default)]
    present: BTreeMap<String, Vec<present::RawPresent>>,
}

/// A custodian's (virtual) YubiKey, keyed by the custodian's name.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawYubiKey {
    serial: u32,
    #[serde(deserialize_with = "secret::text")]
    pin: String,
    #[serde(default, deserialize_with = "secret::optional")]
    puk: Option<String>,
    #[serde(default, deserialize_with = "secret::optional")]
    current_pin: Option<String>,
    #[serde(default, deserialize_with = "secret::optional")]
    current_puk: Option<String>,
}

struct YubiKeyAnswers {
    serial: u32,
    pin: SecretText,
    puk: Option<SecretText>,
    current_pin: SecretText,
    current_puk: SecretText,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClock {
    reference: String,
    offset_seconds: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDecision {
    decision: String,
    by: Vec<String>,
    reason: String,
}

/// A loaded answers file. Its PINs and passphrase live in [`SecretText`].
pub struct AnswerFile {
    participants: BTreeMap<Role, Vec<String>>,
    so_pin: SecretText,
    user_pin: SecretText,
    /// The current SO PIN of a token `hsm-init` re-initialises; absent: `so_pin`.
    current_so_pin: Option<SecretText>,
    clock: RawClock,
    passphrase: Option<SecretText>,
    exceptions: BTreeMap<String, (Decision, Vec<String>, String)>,
    yubikeys: BTreeMap<String, YubiKeyAnswers>,
    keys: BTreeMap<String, String>,
    approvals: BTreeMap<String, Vec<String>>,
    yubikey_sign_offs: bool,
    present: BTreeMap<String, Vec<present::RawPresent>>,
    file: String,
}

impl std::fmt::Debug for AnswerFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnswerFile")
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl AnswerFile {
    /// Reads and checks an answers file.
    pub fn load(path: &Path) -> Result<Self, EngineError> {
        let file = path.display().to_string();
        let text = SecretText::new(
            std::fs::read_to_string(path)
                .map_err(|e| EngineError::Io(format!("cannot read answers file {file}: {e}")))?,
        );
        Self::parse(&file, text.expose())
    }

    /// Parses answers-file text; `file` names it in messages.
    pub fn parse(file: &str, text: &str) -> Result<Self, EngineError> {
        let bad = |m: String| EngineError::BadAnswer(format!("answers file {file}: {m}"));
        let raw: Raw =
            toml::from_str(text).map_err(|e| match secret::misplaced(file, text, &e) {
                Some(m) => EngineError::BadAnswer(m),
                None => bad(crate::profile::describe_toml_error(text, &e)),
            })?;
        let mut participants = BTreeMap::new();
        for (k, v) in raw.participants {
            let role = Role::from_name(&k).ok_or_else(|| {
                bad(format!(
                    "participants.{k}: unknown role; use administrator, witness, custodian, auditor"
                ))
            })?;
            participants.insert(role, v);
        }
        let mut exceptions = BTreeMap::new();
        for (step, d) in raw.exceptions {
            let decision = Decision::from_name(&d.decision).ok_or_else(|| {
                bad(format!(
                    "exceptions.{step}.decision: \"{}\" is not retry, skip or abort",
                    d.decision
                ))
            })?;
            exceptions.insert(step, (decision, d.by, d.reason));
        }
        let yubikeys = raw
            .yubikeys
            .into_iter()
            .map(|(name, y)| {
                let d = |v: Option<String>, default: &[u8]| {
                    SecretText::new(v.unwrap_or_else(|| String::from_utf8_lossy(default).into()))
                };
                let k = YubiKeyAnswers {
                    serial: y.serial,
                    pin: SecretText::new(y.pin),
                    puk: y.puk.map(SecretText::new),
                    current_pin: d(y.current_pin, crate::custodian::DEFAULT_PIN),
                    current_puk: d(y.current_puk, crate::custodian::DEFAULT_PUK),
                };
                (name, k)
            })
            .collect();
        Ok(Self {
            yubikeys,
            keys: raw.keys,
            approvals: raw.approvals,
            yubikey_sign_offs: raw.yubikey_sign_offs,
            present: raw.present,
            participants,
            so_pin: SecretText::new(raw.so_pin),
            user_pin: SecretText::new(raw.user_pin),
            current_so_pin: raw.current_so_pin.map(SecretText::new),
            clock: raw.clock,
            passphrase: raw.share_passphrase.map(SecretText::new),
            exceptions,
            file: file.into(),
        })
    }

    fn yubikey(&self, name: &str) -> Result<&YubiKeyAnswers, EngineError> {
        self.yubikeys.get(name).ok_or_else(|| {
            EngineError::BadAnswer(format!(
                "answers file {}: no [yubikeys.\"{name}\"] section for custodian {name}",
                self.file
            ))
        })
    }

    /// The YubiKey serial the file gives for custodian `name` (faces print it so that the
    /// right card can be inserted).
    pub fn yubikey_serial(&self, name: &str) -> Option<u32> {
        self.yubikeys.get(name).map(|y| y.serial)
    }

    /// The answer this file gives to `prompt`.
    pub fn answer(&self, prompt: &Prompt) -> Result<Answer, EngineError> {
        let bad = |m: String| EngineError::BadAnswer(format!("answers file {}: {m}", self.file));
        Ok(match prompt {
            Prompt::CheckIn { role, remaining } => {
                let names = self.participants.get(role).map(Vec::as_slice).unwrap_or(&[]);
                let want = names.len();
                let idx = want.checked_sub(usize::from(*remaining)).ok_or_else(|| {
                    bad(format!("participants.{role} names {want}, the script needs more"))
                })?;
                Answer::CheckIn {
                    name: names[idx].clone(),
                    role: *role,
                    credential_fingerprint: None,
                }
            }
            Prompt::Instructions { .. } | Prompt::ConfirmPreflight(_) => Answer::Proceed,
            Prompt::ClockConfirmation { .. } => Answer::Clock {
                witness: "witness-1".into(),
                reference: self.clock.reference.clone(),
                offset_seconds: self.clock.offset_seconds,
            },
            Prompt::Pin {
                who,
                rejected: Some(why),
                ..
            } => {
                let key = match who {
                    UserKind::So => "so_pin",
                    UserKind::User => "user_pin",
                };
                return Err(bad(format!(
                    "{key}: {why}; an unattended run never sends a rejected PIN again: correct \
                     {key} in the file and run the ceremony again (it resumes)"
                )));
            }
            Prompt::Pin { who, .. } => Answer::Pin(match who {
                UserKind::So => SecretText::new(self.so_pin.expose().into()),
                UserKind::User => SecretText::new(self.user_pin.expose().into()),
            }),
            Prompt::CurrentSoPin {
                rejected: Some(why),
                ..
            } => {
                return Err(bad(format!(
                    "current_so_pin: {why}; an unattended run never sends a rejected PIN again: \
                     correct current_so_pin (absent: so_pin) in the file and run the ceremony \
                     again (it resumes)"
                )));
            }
            Prompt::CurrentSoPin { .. } => Answer::CurrentSoPin(copy(
                self.current_so_pin.as_ref().unwrap_or(&self.so_pin),
            )),
            Prompt::NewPins { .. } => Answer::NewPins {
                so: SecretText::new(self.so_pin.expose().into()),
                user: SecretText::new(self.user_pin.expose().into()),
            },
            Prompt::ShowShare { .. } => Answer::ShareHandled {
                shown: false,
                seal_passphrase: Some(SecretText::new(
                    self.passphrase
                        .as_ref()
                        .ok_or_else(|| bad("share_passphrase is needed to seal shares".into()))?
                        .expose()
                        .into(),
                )),
            },
            Prompt::VerifyShare {
                yubikey_serial: Some(_),
                custodian_name,
                ..
            } => Answer::ShareProof(ShareProof::YubiKey {
                pin: copy(&self.yubikey(custodian_name)?.pin),
            }),
            Prompt::VerifyShare {
                sealed_file, index, ..
            } => match (sealed_file, &self.passphrase) {
                (Some(f), Some(p)) => Answer::ShareProof(ShareProof::Sealed {
                    file: f.clone(),
                    passphrase: SecretText::new(p.expose().into()),
                }),
                _ => return Err(bad(format!("share {index} was not sealed; it cannot be verified unattended"))),
            },
            Prompt::SignOff { candidates, role, step, .. } => {
                let p = candidates
                    .first()
                    .ok_or_else(|| bad(format!("no {role} is left to sign off step \"{step}\"")))?;
                match self.yubikeys.get(&p.name).filter(|_| self.yubikey_sign_offs) {
                    Some(y) => Answer::SignOffWithYubiKey {
                        participant: p.id.clone(),
                        pin: copy(&y.pin),
                    },
                    None => Answer::SignOff {
                        participant: p.id.clone(),
                        signature_sha256: None,
                    },
                }
            }
            Prompt::ExceptionDecision { step, expected, happened, .. } => {
                match self.exceptions.get(step) {
                    Some((d, by, reason)) => Answer::Decide {
                        decision: *d,
                        decided_by: by.clone(),
                        reason: reason.clone(),
                    },
                    None => {
                        return Err(bad(format!(
                            "step \"{step}\" raised an exception and the file has no decision for it (expected: {expected}; happened: {happened})"
                        )))
                    }
                }
            }
            Prompt::EnrolYubiKey { custodian_name, .. } => {
                let y = self.yubikey(custodian_name)?;
                let puk = y.puk.as_ref().ok_or_else(|| {
                    bad(format!("yubikeys.\"{custodian_name}\".puk is needed to enrol"))
                })?;
                Answer::Enrol {
                    serial: y.serial,
                    current_pin: copy(&y.current_pin),
                    new_pin: copy(&y.pin),
                    current_puk: copy(&y.current_puk),
                    new_puk: copy(puk),
                    touch: false,
                }
            }
            Prompt::ChooseKey { step, candidates, .. } => {
                let want = self
                    .keys
                    .get(step)
                    .ok_or_else(|| bad(format!("keys.{step} must name the key step \"{step}\" acts on")))?;
                let c = candidates
                    .iter()
                    .find(|c| &c.key_id == want || &c.label == want)
                    .ok_or_else(|| {
                        bad(format!("keys.{step} = \"{want}\" is not among the keys the step may act on"))
                    })?;
                Answer::ChooseKey {
                    key_id: c.key_id.clone(),
                }
            }
            Prompt::Approval(p) => {
                // Shares presented (any kind) come first, then YubiKey approvals.
                if let Some(a) = self.presenting(p)? {
                    return Ok(a);
                }
                let names = self.approvals.get(&p.step).map(Vec::as_slice).unwrap_or(&[]);
                let next = names.iter().find_map(|n| {
                    p.candidates.iter().find(|c| &c.name == n)
                });
                match next {
                    Some(c) => Answer::Approve {
                        custodian_id: c.custodian_id.clone(),
                        pin: copy(&self.yubikey(&c.name)?.pin),
                    },
                    None => Answer::SubmitApprovals,
                }
            }
            Prompt::Done { .. } => return Err(bad("the ceremony is closed".into())),
        })
    }
}

fn copy(t: &SecretText) -> SecretText {
    SecretText::new(t.expose().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decision_is_named_as_every_face_names_it() {
        let text = "so_pin = \"1\"\nuser_pin = \"2\"\n[participants]\n\
                    [clock]\nreference = \"r\"\noffset_seconds = 0\n\
                    [exceptions.s1]\ndecision = \"later\"\nby = []\nreason = \"\"\n";
        let e = AnswerFile::parse("a.toml", text).unwrap_err();
        assert_eq!(
            e.to_string(),
            EngineError::BadAnswer(
                "answers file a.toml: exceptions.s1.decision: \"later\" is not retry, skip or abort"
                    .into()
            )
            .to_string()
        );
        let ok = text.replace("\"later\"", "\"skip\"");
        assert!(AnswerFile::parse("a.toml", &ok).is_ok());
    }
}
