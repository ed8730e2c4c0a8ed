//! The ceremony screen's view: what the engine asks for, without secrets.

use crate::engine::{
    ApprovalPrompt, Ceremony, CeremonyStatus, KeyChoice, Participant, Progress, Prompt, Summary,
};
use crate::hardening::HardeningReport;
use crate::hsm::TokenSummary;
use crate::preflight::CheckKind;
use crate::script::Script;
use serde::Serialize;
use std::path::Path;
use ts_rs::TS;

/// A script as the "choose a script" screen shows it.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ScriptView {
    /// The file.
    pub file: String,
    /// Script id.
    pub id: String,
    /// Version.
    pub version: String,
    /// Title.
    pub title: String,
    /// Purpose (Markdown).
    pub purpose: String,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// The same in words: compare with the reviewed copy.
    pub words: String,
    /// Steps: (number, id, title, role, action).
    pub steps: Vec<(usize, String, String, String, String)>,
}

impl From<&Script> for ScriptView {
    fn from(s: &Script) -> Self {
        ScriptView {
            file: s.file.clone(),
            id: s.id.as_str().to_string(),
            version: s.version.clone(),
            title: s.title.clone(),
            purpose: s.purpose.clone(),
            sha256: s.digest.hex(),
            words: s.digest.words(),
            steps: s
                .steps
                .iter()
                .map(|st| {
                    (
                        st.number,
                        st.id.as_str().to_string(),
                        st.title.clone(),
                        st.role.name().to_string(),
                        st.action.kind().name().to_string(),
                    )
                })
                .collect(),
        }
    }
}

/// A script path typed into a window must be a full path: the window has no working
/// directory a person could know. Returns the trimmed path.
pub fn check_script_path(path: &str) -> Result<&Path, ScriptPathError> {
    let path = path.trim();
    if path.is_empty() {
        return Err(ScriptPathError::Empty);
    }
    if !Path::new(path).is_absolute() {
        return Err(ScriptPathError::NotAbsolute(path.to_string()));
    }
    Ok(Path::new(path))
}

/// Why a script path typed into a window was refused ([`check_script_path`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScriptPathError {
    /// Nothing was typed.
    #[error("type the full path of the ceremony script")]
    Empty,
    /// A relative path (trimmed).
    #[error(
        "\"{0}\" is not a full path: start it with / (e.g. /media/usb/root-key-generation.toml)"
    )]
    NotAbsolute(String),
}

/// Why no share can be shown ([`ShareOnScreen::of`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShareScreenError {
    /// The prompt is not one that shows a share.
    #[error("no share is waiting to be shown")]
    NotShowing,
    /// The share's QR code could not be drawn.
    #[error(transparent)]
    Qr(#[from] crate::pdf::PdfError),
}

/// One preflight check as shown.
#[derive(Debug, Clone, Serialize, TS)]
pub struct CheckView {
    /// Which check.
    pub check: CheckKind,
    /// Passed?
    pub passed: bool,
    /// What was looked at and found.
    pub reason: String,
    /// Each finding.
    pub findings: Vec<String>,
}

/// What the engine asks for ([`Prompt`]) without its secrets: the share on screen is fetched
/// separately ([`ShareOnScreen`]).
#[derive(Debug, Clone, Serialize, TS)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[expect(
    missing_docs,
    reason = "each variant mirrors the Prompt variant of the same name"
)]
pub enum PromptView {
    CheckIn {
        role: crate::script::Role,
        remaining: u8,
    },
    Instructions {
        step: String,
        title: String,
        text: String,
    },
    ConfirmPreflight {
        clean: bool,
        checks: Vec<CheckView>,
    },
    ClockConfirmation {
        utc: String,
        tolerance_seconds: u32,
    },
    Pin {
        who: String,
        purpose: String,
        rejected: Option<String>,
        proceed_without: Option<String>,
    },
    NewPins {
        token: String,
    },
    CurrentSoPin {
        token: String,
        rejected: Option<String>,
    },
    ShowShare {
        custodian: String,
        custodian_name: String,
        index: u8,
        count: u8,
        set_words: String,
        fingerprint_words: String,
    },
    VerifyShare {
        custodian: String,
        custodian_name: String,
        index: u8,
        sealed_file: Option<String>,
        yubikey_serial: Option<u32>,
    },
    SignOff {
        step: String,
        role: crate::script::Role,
        candidates: Vec<Participant>,
        remaining: u8,
        /// The result card: what the step's action did, to read aloud before signing.
        result: Vec<crate::engine::ResultLine>,
    },
    ExceptionDecision {
        exception_id: String,
        step: String,
        expected: String,
        happened: String,
        retry_allowed: bool,
    },
    EnrolYubikey {
        custodian: String,
        custodian_name: String,
        enrolled: u8,
        count: u8,
    },
    ChooseKey {
        step: String,
        operation: String,
        candidates: Vec<KeyChoice>,
    },
    Approval {
        #[serde(flatten)]
        request: ApprovalPrompt,
    },
    Done {
        summary: Summary,
        /// The closing checkpoint's signed text as a QR code (none without a checkpoint).
        checkpoint_qr: Option<super::QrView>,
    },
}

impl From<&Prompt> for PromptView {
    fn from(p: &Prompt) -> Self {
        match p {
            Prompt::CheckIn { role, remaining } => PromptView::CheckIn {
                role: *role,
                remaining: *remaining,
            },
            Prompt::Instructions { step, title, text } => PromptView::Instructions {
                step: step.clone(),
                title: title.clone(),
                text: text.clone(),
            },
            Prompt::ConfirmPreflight(r) => PromptView::ConfirmPreflight {
                clean: r.is_clean(),
                checks: r
                    .checks
                    .iter()
                    .map(|c| CheckView {
                        check: c.check,
                        passed: c.passed,
                        reason: c.reason.clone(),
                        findings: c.findings.clone(),
                    })
                    .collect(),
            },
            Prompt::ClockConfirmation {
                reading,
                tolerance_seconds,
            } => PromptView::ClockConfirmation {
                utc: reading.utc.clone(),
                tolerance_seconds: *tolerance_seconds,
            },
            Prompt::Pin {
                who,
                purpose,
                rejected,
                proceed_without,
            } => PromptView::Pin {
                who: who.to_string(),
                purpose: purpose.clone(),
                rejected: rejected.clone(),
                proceed_without: proceed_without.clone(),
            },
            Prompt::NewPins { token } => PromptView::NewPins {
                token: token.clone(),
            },
            Prompt::CurrentSoPin { token, rejected } => PromptView::CurrentSoPin {
                token: token.clone(),
                rejected: rejected.clone(),
            },
            // The share itself (human form, QR payload) stays behind: see ShareOnScreen.
            Prompt::ShowShare {
                custodian,
                custodian_name,
                index,
                count,
                set_words,
                fingerprint_words,
                ..
            } => PromptView::ShowShare {
                custodian: custodian.clone(),
                custodian_name: custodian_name.clone(),
                index: *index,
                count: *count,
                set_words: set_words.clone(),
                fingerprint_words: fingerprint_words.clone(),
            },
            Prompt::VerifyShare {
                custodian,
                custodian_name,
                index,
                sealed_file,
                yubikey_serial,
            } => PromptView::VerifyShare {
                custodian: custodian.clone(),
                custodian_name: custodian_name.clone(),
                index: *index,
                sealed_file: sealed_file.as_ref().map(|f| f.display().to_string()),
                yubikey_serial: *yubikey_serial,
            },
            Prompt::SignOff {
                step,
                role,
                candidates,
                remaining,
                result,
            } => PromptView::SignOff {
                step: step.clone(),
                role: *role,
                candidates: candidates.clone(),
                remaining: *remaining,
                result: result.clone(),
            },
            Prompt::ExceptionDecision {
                exception_id,
                step,
                expected,
                happened,
                retry_allowed,
            } => PromptView::ExceptionDecision {
                exception_id: exception_id.clone(),
                step: step.clone(),
                expected: expected.clone(),
                happened: happened.clone(),
                retry_allowed: *retry_allowed,
            },
            Prompt::EnrolYubiKey {
                custodian,
                custodian_name,
                enrolled,
                count,
            } => PromptView::EnrolYubikey {
                custodian: custodian.clone(),
                custodian_name: custodian_name.clone(),
                enrolled: *enrolled,
                count: *count,
            },
            Prompt::ChooseKey {
                step,
                operation,
                candidates,
            } => PromptView::ChooseKey {
                step: step.clone(),
                operation: operation.clone(),
                candidates: candidates.clone(),
            },
            Prompt::Approval(a) => PromptView::Approval { request: a.clone() },
            Prompt::Done { summary } => PromptView::Done {
                summary: summary.clone(),
                // The text is a few hundred bytes, far within a QR code's capacity; were it
                // not, the done screen still shows the words and the file.
                checkpoint_qr: summary
                    .closing_checkpoint
                    .as_ref()
                    .and_then(|c| super::checkpoint_qr(&c.text).ok()),
            },
        }
    }
}

/// The ceremony screen: status, what is asked now, and what the last answer achieved.
#[derive(Debug, Clone, Serialize, TS)]
pub struct CeremonyView {
    /// Steps, participants, exceptions.
    pub status: CeremonyStatus,
    /// What the engine asks for now.
    pub prompt: PromptView,
    /// What the last answer achieved ("Step … completed."), if anything worth saying.
    pub progress: Option<String>,
    /// Where the ceremony is: mode, script, step, share (the sticky banner).
    pub banner: crate::engine::Banner,
    /// Whether a check-in can still be corrected (someone checked in, no HSM action yet).
    pub correctable: bool,
}

impl CeremonyView {
    /// The view of `c` now, with what the last answer achieved.
    pub fn of(c: &Ceremony, progress: Option<String>) -> Self {
        CeremonyView {
            status: c.status(),
            prompt: PromptView::from(&c.prompt()),
            progress,
            banner: c.banner(),
            correctable: c.check_in_correctable(),
        }
    }
}

/// What an answer achieved, in the words both faces print ("Step … completed.").
pub fn progress_text(p: &Progress) -> Option<String> {
    match p {
        Progress::Continue => None,
        Progress::StepCompleted(s) => Some(format!("Step \"{s}\" completed.")),
        Progress::Closed(s) => Some(format!("Ceremony {} {}.", s.ceremony_id, s.outcome)),
    }
}

/// The share on screen for its custodian: human form and QR modules. The one secret of the
/// view model; its `Debug` shows only the index.
#[derive(Serialize, TS)]
pub struct ShareOnScreen {
    /// Share index.
    pub index: u8,
    /// Human form (groups of four characters).
    pub human_form: String,
    /// QR code side length in modules.
    pub qr_size: usize,
    /// QR modules, row by row (true = dark).
    pub qr_modules: Vec<bool>,
}

impl std::fmt::Debug for ShareOnScreen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShareOnScreen")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl ShareOnScreen {
    /// The share `prompt` shows, if it is [`Prompt::ShowShare`].
    pub fn of(prompt: &Prompt) -> Result<Self, ShareScreenError> {
        match prompt {
            Prompt::ShowShare {
                index,
                human_form,
                qr_payload,
                ..
            } => {
                let (qr_modules, qr_size) = crate::pdf::qr_modules(qr_payload.expose())?;
                Ok(ShareOnScreen {
                    index: *index,
                    human_form: human_form.expose().to_string(),
                    qr_size,
                    qr_modules,
                })
            }
            _ => Err(ShareScreenError::NotShowing),
        }
    }
}

/// What the home screen shows about the app itself.
#[derive(Debug, Clone, Serialize, TS)]
pub struct AppStatus {
    /// Keyrite's version.
    pub version: String,
    /// Rehearsal or production; absent when the environment failed to open.
    pub mode: Option<crate::profile::Mode>,
    /// The site's name from the profile.
    pub site: Option<String>,
    /// The data directory.
    pub data_dir: Option<String>,
    /// The site profile file, if one was given.
    pub profile: Option<String>,
    /// Why the environment could not be opened.
    pub startup_error: Option<String>,
    /// Process hardening.
    pub hardening: HardeningReport,
}

/// The HSM panel.
#[derive(Debug, Clone, Serialize, TS)]
pub struct HsmView {
    /// The PKCS#11 module.
    pub module: String,
    /// Tokens in the module's slots.
    pub tokens: Vec<TokenSummary>,
    /// The token the site profile selects and its identity verdict (`view::hsm`).
    pub profile_token: super::hsm::ProfileToken,
}

#[cfg(test)]
mod error_tests {
    use super::*;

    #[test]
    fn typed_paths_and_shown_shares_say_what_is_wrong() {
        let table = [
            (
                check_script_path("  ").unwrap_err().to_string(),
                "type the full path of the ceremony script",
            ),
            (
                check_script_path(" usb/x.toml ").unwrap_err().to_string(),
                "\"usb/x.toml\" is not a full path: start it with / (e.g. \
                 /media/usb/root-key-generation.toml)",
            ),
            (
                ShareScreenError::NotShowing.to_string(),
                "no share is waiting to be shown",
            ),
        ];
        for (got, expected) in table {
            assert_eq!(got, expected);
        }
        assert_eq!(
            check_script_path(" /media/usb/x.toml ").ok(),
            Some(Path::new("/media/usb/x.toml"))
        );
    }
}
