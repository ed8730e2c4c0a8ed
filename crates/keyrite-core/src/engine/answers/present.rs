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

#[cfg(test)]
mod tests {
    use crate::engine::answers::AnswerFile;
    use crate::engine::prompt::{Answer, ApprovalPrompt, Prompt, ShareProof};
    use crate::engine::ShareHolder;

    fn prompt(presented: bool) -> Prompt {
        let holder = |name: &str, index: u8| ShareHolder {
            custodian: Some(format!("custodian-{index}")),
            name: name.into(),
            index,
            shown: true,
            sealed_file: Some(format!("/d/shares/s-{index}.krseal")),
            yubikey_serial: None,
            presented,
        };
        Prompt::Approval(ApprovalPrompt {
            step: "recover-root-kek".into(),
            operation: "recover".into(),
            key_label: "k".into(),
            request_text: String::new(),
            hash_words: String::new(),
            request_sha256: String::new(),
            needed: 2,
            approved: vec![],
            candidates: vec![],
            failures: vec![],
            expires_at: 0,
            holders: vec![holder("C One", 1), holder("C Two", 2)],
        })
    }

    const BASE: &str = "so_pin = \"1\"\nuser_pin = \"2\"\n[participants]\n\
                        [clock]\nreference = \"r\"\noffset_seconds = 0\n";

    #[test]
    fn shares_are_presented_in_the_files_order_then_the_step_submits() {
        let text = format!(
            "{BASE}[[present.recover-root-kek]]\ncustodian = \"C Two\"\npassphrase = \"p\"\n\
             [[present.recover-root-kek]]\ncustodian = \"C One\"\ntext = \"abcd\"\n"
        );
        let f = AnswerFile::parse("a.toml", &text).unwrap();
        let a = f.answer(&prompt(false)).unwrap();
        assert!(matches!(
            a,
            Answer::PresentShare { custodian, proof: ShareProof::Sealed { file, .. } }
                if custodian == "custodian-2" && file.ends_with("s-2.krseal")
        ));
        assert!(matches!(
            f.answer(&prompt(true)).unwrap(),
            Answer::SubmitApprovals
        ));
    }

    #[test]
    fn an_entry_must_say_how_the_share_comes() {
        let text = format!(
            "{BASE}[[present.recover-root-kek]]\ncustodian = \"C One\"\ntext = \"a\"\npassphrase = \"p\"\n"
        );
        let f = AnswerFile::parse("a.toml", &text).unwrap();
        assert_eq!(
            f.answer(&prompt(false)).unwrap_err().to_string(),
            crate::engine::EngineError::BadAnswer(
                "answers file a.toml: present.recover-root-kek: give C One one of text, passphrase or yubikey = true".into()
            )
            .to_string()
        );
    }
}
