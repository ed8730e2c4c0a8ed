//! `[[present.STEP]]` of an answers file: the shares custodians present in a `recover`
//! step, in the order given, each as typed text, a passphrase-sealed file or their YubiKey.

use super::{copy, AnswerFile};
use crate::engine::prompt::{Answer, ApprovalPrompt, ShareProof};
use crate::engine::EngineError;
use crate::secret::SecretText;
use serde::Deserialize;
use std::path::PathBuf;

/// A share a custodian presents: typed `text`, a sealed file (`file`, default the one
/// issued) and its `passphrase`, or `yubikey = true` (their `[yubikeys]` PIN).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPresent {
    custodian: String,
    text: Option<String>,
    file: Option<PathBuf>,
    passphrase: Option<String>,
    #[serde(default)]
    yubikey: bool,
}

impl AnswerFile {
    /// The next share `[[present.STEP]]` lists whose holder has not presented it yet.
    pub(super) fn presenting(&self, p: &ApprovalPrompt) -> Result<Option<Answer>, EngineError> {
        let bad = |m: String| {
            let file = &self.file;
            EngineError::BadAnswer(format!("answers file {file}: present.{}: {m}", p.step))
        };
        let mut listed = self.present.get(&p.step).into_iter().flatten();
        let next = listed.find_map(|e| {
            let h = p
                .holders
                .iter()
                .find(|h| h.name == e.custodian && !h.presented)?;
            Some((e, h))
        });
        let Some((e, h)) = next else {
            return Ok(None);
        };
        let secret = |t: &String| SecretText::new(t.clone());
        let proof = match (&e.text, &e.passphrase, e.yubikey) {
            (Some(t), None, false) => ShareProof::Text(secret(t)),
            (None, Some(pass), false) => {
                let issued = h.sealed_file.clone().map(PathBuf::from);
                let file = e.file.clone().or(issued).ok_or_else(|| {
                    bad(format!("{} holds no sealed file; give `file`", e.custodian))
                })?;
                ShareProof::Sealed {
                    file,
                    passphrase: secret(pass),
                }
            }
            (None, None, true) => ShareProof::YubiKey {
                pin: copy(&self.yubikey(&e.custodian)?.pin),
            },
            _ => {
                let who = &e.custodian;
                return Err(bad(format!(
                    "give {who} one of text, passphrase or yubikey = true"
                )));
            }
        };
        let custodian = h.custodian.clone().unwrap_or_else(|| e.custodian.clone());
        Ok(Some(Answer::PresentShare { custodian, proof }))
    }
}
