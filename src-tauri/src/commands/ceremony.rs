//! Run a ceremony: the core engine (`keyrite_core::engine`) driven from the window.
//!
//! The engine decides everything; these commands only translate its [`Prompt`] into a
//! serialisable view (without secrets) and the window's answer into an [`Answer`]. The one
//! secret that crosses to the web view is a share, fetched by [`ceremony_share`] only when
//! its custodian asks to see it; PINs and passphrases typed in the window become
//! [`SecretText`] at once.

use super::environment;
use crate::state::AppState;
use keyrite_core::engine::{
    Answer, ApprovalPrompt, Ceremony, CeremonyHistory, CeremonyOptions, CeremonyStatus, Decision,
    EngineError, JournalRecordProducer, KeyChoice, Participant, Progress, Prompt, ShareProof,
    Summary,
};
use keyrite_core::environment::Environment;
use keyrite_core::journal::Journal;
use keyrite_core::script::{Role, Script};
use keyrite_core::secret::SecretText;
use keyrite_core::store::StoreOptions;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::MutexGuard;

/// A script as the "choose a script" screen shows it.
#[derive(Debug, Serialize)]
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

fn load_script(path: &str) -> Result<Script, String> {
    let path = path.trim();
    if path.is_empty() {
        return Err("type the full path of the ceremony script".into());
    }
    if !Path::new(path).is_absolute() {
        return Err(format!(
            "\"{path}\" is not a full path: start it with / (e.g. /media/usb/root-key-generation.toml)"
        ));
    }
    Script::load(Path::new(path)).map_err(|e| e.to_string())
}

/// Loads and validates a script; shows its hash in words.
#[tauri::command(async)]
pub fn script_inspect(path: String) -> Result<ScriptView, String> {
    let s = load_script(&path)?;
    Ok(ScriptView {
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
    })
}

/// Unfinished ceremonies in the journal (they can be resumed).
#[tauri::command(async)]
pub fn ceremony_unfinished(
    state: tauri::State<'_, AppState>,
) -> Result<Vec<CeremonyHistory>, String> {
    let db = environment(&state)?.data().journal_db();
    if !db.is_file() {
        return Ok(Vec::new());
    }
    let j = Journal::open_read_only(&db, &StoreOptions::default()).map_err(|e| e.to_string())?;
    Ceremony::unfinished(&j).map_err(|e| e.to_string())
}

/// One preflight check as shown.
#[derive(Debug, Serialize)]
pub struct CheckView {
    /// Which check.
    pub check: String,
    /// Passed?
    pub passed: bool,
    /// What was looked at and found.
    pub reason: String,
    /// Each finding.
    pub findings: Vec<String>,
}

/// What the engine asks for, without secrets.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[allow(missing_docs)] // mirrors keyrite_core::engine::Prompt
pub enum PromptView {
    CheckIn {
        role: String,
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
    },
    NewPins {
        token: String,
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
        role: String,
        candidates: Vec<Participant>,
        remaining: u8,
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
    },
}

fn prompt_view(p: &Prompt) -> PromptView {
    match p {
        Prompt::CheckIn { role, remaining } => PromptView::CheckIn {
            role: role.name().into(),
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
                    check: serde_json::to_value(c.check)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_else(|| format!("{:?}", c.check)),
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
        Prompt::Pin { who, purpose } => PromptView::Pin {
            who: who.to_string(),
            purpose: purpose.clone(),
        },
        Prompt::NewPins { token } => PromptView::NewPins {
            token: token.clone(),
        },
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
        } => PromptView::SignOff {
            step: step.clone(),
            role: role.name().into(),
            candidates: candidates.clone(),
            remaining: *remaining,
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
        },
    }
}

/// The ceremony screen: status, what is asked now, and what the last answer achieved.
#[derive(Debug, Serialize)]
pub struct CeremonyView {
    /// Steps, participants, exceptions.
    pub status: CeremonyStatus,
    /// What the engine asks for now.
    pub prompt: PromptView,
    /// What the last answer achieved ("Step … completed."), if anything worth saying.
    pub progress: Option<String>,
}

fn view(c: &Ceremony, progress: Option<String>) -> CeremonyView {
    CeremonyView {
        status: c.status(),
        prompt: prompt_view(&c.prompt()),
        progress,
    }
}

type Slot<'a> = MutexGuard<'a, Option<Ceremony>>;

fn slot<'a>(state: &'a AppState) -> Result<Slot<'a>, String> {
    state
        .ceremony
        .lock()
        .map_err(|_| "internal error: the ceremony lock is poisoned; restart Keyrite (the ceremony resumes from the journal)".to_string())
}

fn running(slot: &Slot<'_>) -> Result<(), String> {
    match slot.as_ref() {
        Some(c) if !matches!(c.prompt(), Prompt::Done { .. }) => Err(format!(
            "ceremony {} is running in this window; finish or pause it first",
            c.id()
        )),
        _ => Ok(()),
    }
}

/// Opens a fresh environment and the writable journal for a ceremony. The app's own PKCS#11
/// module is dropped first: the ceremony holds the HSM from now on.
fn open_for_ceremony(state: &AppState) -> Result<(Environment, Journal), String> {
    environment(state)?;
    if let Ok(mut m) = state.module.lock() {
        *m = None;
    }
    let env = Environment::open(
        state.launch.data_dir.as_deref(),
        state.launch.profile.as_deref(),
    )
    .map_err(|e| e.to_string())?;
    let journal = Journal::open_data_dir(env.data()).map_err(|e| e.to_string())?;
    Ok((env, journal))
}

/// Starts a new ceremony from the script at `path`.
#[tauri::command(async)]
pub fn ceremony_start(
    state: tauri::State<'_, AppState>,
    path: String,
) -> Result<CeremonyView, String> {
    let script = load_script(&path)?;
    let mut slot = slot(&state)?;
    running(&slot)?;
    *slot = None;
    let (env, journal) = open_for_ceremony(&state)?;
    let c = Ceremony::start(env, journal, script, ceremony_options()).map_err(|e| e.to_string())?;
    let v = view(&c, None);
    *slot = Some(c);
    Ok(v)
}

/// Resumes the unfinished ceremony `ceremony_id` with the script it started from.
#[tauri::command(async)]
pub fn ceremony_resume(
    state: tauri::State<'_, AppState>,
    path: String,
    ceremony_id: String,
) -> Result<CeremonyView, String> {
    let script = load_script(&path)?;
    let mut slot = slot(&state)?;
    running(&slot)?;
    *slot = None;
    let (env, journal) = open_for_ceremony(&state)?;
    let c = Ceremony::resume(env, journal, script, &ceremony_id, ceremony_options())
        .map_err(|e| e.to_string())?;
    let v = view(
        &c,
        Some(format!("Resumed ceremony {ceremony_id} from the journal.")),
    );
    *slot = Some(c);
    Ok(v)
}

/// The ceremony running in this window, if any.
#[tauri::command(async)]
pub fn ceremony_current(state: tauri::State<'_, AppState>) -> Result<Option<CeremonyView>, String> {
    let slot = slot(&state)?;
    Ok(slot.as_ref().map(|c| view(c, None)))
}

/// Pauses: the ceremony stays unfinished in the journal and can be resumed, here or later.
#[tauri::command(async)]
pub fn ceremony_pause(state: tauri::State<'_, AppState>) -> Result<(), String> {
    let mut slot = slot(&state)?;
    *slot = None;
    Ok(())
}

/// A secret typed in the window: deserialised into a zeroizing [`SecretText`] at once.
pub struct Typed(SecretText);

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

/// The window's answer to the current prompt.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
#[allow(missing_docs)] // mirrors keyrite_core::engine::Answer
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
        pin: Typed,
    },
    NewPins {
        so: Typed,
        user: Typed,
    },
    ShareText {
        text: Typed,
    },
    ShareSealed {
        file: String,
        passphrase: Typed,
    },
    SignOff {
        participant: String,
    },
    Decide {
        decision: String,
        decided_by: Vec<String>,
        reason: String,
    },
    Enrol {
        serial: u32,
        current_pin: Typed,
        new_pin: Typed,
        current_puk: Typed,
        new_puk: Typed,
        touch: bool,
    },
    ChooseKey {
        key_id: String,
    },
    Approve {
        custodian_id: String,
        pin: Typed,
    },
    SubmitApprovals,
    ShareYubikey {
        pin: Typed,
    },
    SignOffYubikey {
        participant: String,
        pin: Typed,
    },
}

fn to_answer(a: AnswerIn) -> Result<Answer, String> {
    Ok(match a {
        AnswerIn::CheckIn { name, role } => Answer::CheckIn {
            name: name.trim().to_string(),
            role: Role::from_name(&role).ok_or_else(|| {
                format!("unknown role \"{role}\": administrator, witness, custodian or auditor")
            })?,
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
        AnswerIn::ShareText { text } => Answer::ShareProof(ShareProof::Text(text.0)),
        AnswerIn::ShareSealed { file, passphrase } => Answer::ShareProof(ShareProof::Sealed {
            file: PathBuf::from(file),
            passphrase: passphrase.0,
        }),
        AnswerIn::SignOff { participant } => Answer::SignOff {
            participant,
            signature_sha256: None,
        },
        AnswerIn::Decide {
            decision,
            decided_by,
            reason,
        } => Answer::Decide {
            decision: match decision.as_str() {
                "retry" => Decision::Retry,
                "skip" => Decision::Skip,
                "abort" => Decision::Abort,
                other => {
                    return Err(format!(
                        "unknown decision \"{other}\": retry, skip or abort"
                    ))
                }
            },
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
        AnswerIn::ShareYubikey { pin } => Answer::ShareProof(ShareProof::YubiKey { pin: pin.0 }),
        AnswerIn::SignOffYubikey { participant, pin } => Answer::SignOffWithYubiKey {
            participant,
            pin: pin.0,
        },
    })
}

fn progress_text(p: Progress) -> Option<String> {
    match p {
        Progress::Continue => None,
        Progress::StepCompleted(s) => Some(format!("Step \"{s}\" completed.")),
        Progress::Closed(s) => Some(format!("Ceremony {} {}.", s.ceremony_id, s.outcome)),
    }
}

fn answer_engine(state: &AppState, answer: Answer) -> Result<CeremonyView, String> {
    let mut slot = slot(state)?;
    let c = slot
        .as_mut()
        .ok_or_else(|| "no ceremony is running in this window: start or resume one".to_string())?;
    match c.answer(answer) {
        Ok(p) => Ok(view(c, progress_text(p))),
        Err(e @ EngineError::Journal(_)) => {
            // Fail closed: the journal could not record, so nothing more may happen here.
            *slot = None;
            Err(format!(
                "{e}. The ceremony was stopped in this window; fix the journal, then resume it."
            ))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Answers the current prompt. An error leaves the prompt unchanged (show it, ask again).
#[tauri::command(async)]
pub fn ceremony_answer(
    state: tauri::State<'_, AppState>,
    answer: AnswerIn,
) -> Result<CeremonyView, String> {
    answer_engine(&state, to_answer(answer)?)
}

/// The share on screen for its custodian: human form and QR modules.
#[derive(Serialize)]
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

/// The current share, for its custodian only (the screen asks everyone else to look away
/// before calling this).
#[tauri::command(async)]
pub fn ceremony_share(state: tauri::State<'_, AppState>) -> Result<ShareOnScreen, String> {
    let slot = slot(&state)?;
    let c = slot
        .as_ref()
        .ok_or("no ceremony is running in this window")?;
    match c.prompt() {
        Prompt::ShowShare {
            index,
            human_form,
            qr_payload,
            ..
        } => {
            let (qr_modules, qr_size) =
                keyrite_core::pdf::qr_modules(qr_payload.expose()).map_err(|e| e.to_string())?;
            Ok(ShareOnScreen {
                index,
                human_form: human_form.expose().to_string(),
                qr_size,
                qr_modules,
            })
        }
        _ => Err("no share is waiting to be shown".into()),
    }
}

/// Letters a custodian may mistype, as the share format's typing-back rules read them.
fn normalise(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '.' | '_'))
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            u => u,
        })
        .collect()
}

/// How many groups from the end of the share the custodian types back.
pub const CHECK_GROUPS: usize = 2;

/// The custodian typed back the last two groups of their copy: if they match, the share was
/// copied, the engine is told so (sealed too if a passphrase is given) and the share leaves
/// the screen; otherwise nothing changes and the share can be shown again.
#[tauri::command(async)]
pub fn ceremony_share_confirm(
    state: tauri::State<'_, AppState>,
    check: Typed,
    seal_passphrase: Option<Typed>,
) -> Result<CeremonyView, String> {
    {
        let slot = slot(&state)?;
        let c = slot
            .as_ref()
            .ok_or("no ceremony is running in this window")?;
        let Prompt::ShowShare {
            human_form, index, ..
        } = c.prompt()
        else {
            return Err("no share is waiting to be confirmed".into());
        };
        let groups: Vec<&str> = human_form.expose().split_whitespace().collect();
        let tail = SecretText::new(normalise(
            &groups[groups.len().saturating_sub(CHECK_GROUPS)..].concat(),
        ));
        let typed = SecretText::new(normalise(check.0.expose()));
        if typed.expose() != tail.expose() {
            return Err(format!(
                "the check characters do not match share {index}: compare your copy with the screen, character by character, and type its last two groups again"
            ));
        }
    }
    answer_engine(
        &state,
        Answer::ShareHandled {
            shown: true,
            seal_passphrase: seal_passphrase.map(|p| p.0).filter(|p| !p.is_empty()),
        },
    )
}

/// Options for ceremonies run from the desktop: the record is signed by the HSM's
/// record-signing key and written to `DATA/records/` (the same producer as the CLI's).
fn ceremony_options() -> CeremonyOptions {
    CeremonyOptions {
        record_producer: Some(Box::new(JournalRecordProducer {
            page_size: keyrite_core::pdf::PageSize::A4,
        })),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_back_follows_the_share_format_rules() {
        assert_eq!(normalise("ab1o -il."), "AB1011");
        assert_eq!(
            to_answer(AnswerIn::Decide {
                decision: "later".into(),
                decided_by: vec![],
                reason: String::new()
            })
            .unwrap_err(),
            "unknown decision \"later\": retry, skip or abort"
        );
        assert_eq!(
            to_answer(AnswerIn::CheckIn {
                name: "A".into(),
                role: "boss".into()
            })
            .unwrap_err(),
            "unknown role \"boss\": administrator, witness, custodian or auditor"
        );
        assert_eq!(
            load_script("scripts/x.toml").unwrap_err(),
            "\"scripts/x.toml\" is not a full path: start it with / (e.g. /media/usb/root-key-generation.toml)"
        );
    }

    #[test]
    fn typed_secrets_are_redacted() {
        let a: AnswerIn =
            serde_json::from_value(serde_json::json!({"kind": "pin", "pin": "123456"})).unwrap();
        assert!(!format!("{a:?}").contains("123456"));
    }
}
