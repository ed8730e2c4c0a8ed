//! Run a ceremony: the core engine (`keyrite_core::engine`) driven from the window.
//!
//! The engine decides everything; these commands only translate its [`Prompt`] into a
//! serialisable view (without secrets) and the window's answer into an [`Answer`]. The one
//! secret that crosses to the web view is a share, fetched by [`ceremony_share`] only when
//! its custodian asks to see it; PINs and passphrases typed in the window become
//! [`SecretText`] at once.

use super::environment;
use super::scripts::load_script;
use crate::state::AppState;
use keyrite_core::engine::{
    Answer, Ceremony, CeremonyOptions, EngineError, JournalRecordProducer, Prompt,
};
use keyrite_core::environment::Environment;
use keyrite_core::journal::Journal;
use keyrite_core::script::Script;
use keyrite_core::shares::typeback::check_typed_back;
use keyrite_core::store::StoreOptions;
use keyrite_core::view::{
    progress_text, AnswerIn, CeremonyView, ShareOnScreen, Typed, UnfinishedView,
};
use std::sync::MutexGuard;

/// Starts a new ceremony from the shipped script `name` (its file name).
#[tauri::command(async)]
pub fn ceremony_start_shipped(
    state: tauri::State<'_, AppState>,
    name: String,
) -> Result<CeremonyView, String> {
    start_with(
        &state,
        keyrite_core::view::shipped_script(&name).map_err(|e| e.to_string())?,
    )
}

/// Unfinished ceremonies in the journal (they can be resumed), each with the shipped script
/// that has the hash it started from, if one has.
#[tauri::command(async)]
pub fn ceremony_unfinished(
    state: tauri::State<'_, AppState>,
) -> Result<Vec<UnfinishedView>, String> {
    let db = environment(&state)?.data().journal_db();
    if !db.is_file() {
        return Ok(Vec::new());
    }
    let j = Journal::open_read_only(&db, &StoreOptions::default()).map_err(|e| e.to_string())?;
    keyrite_core::view::unfinished(&j).map_err(|e| e.to_string())
}

pub(super) type Slot<'a> = MutexGuard<'a, Option<Ceremony>>;

pub(super) fn slot<'a>(state: &'a AppState) -> Result<Slot<'a>, String> {
    state
        .ceremony
        .lock()
        .map_err(|_| "internal error: the ceremony lock is poisoned; restart Keyrite (the ceremony resumes from the journal)".to_string())
}

pub(super) fn running(slot: &Slot<'_>) -> Result<(), String> {
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
    start_with(&state, load_script(&path)?)
}

fn start_with(state: &AppState, script: Script) -> Result<CeremonyView, String> {
    let mut slot = slot(state)?;
    running(&slot)?;
    *slot = None;
    let (env, journal) = open_for_ceremony(state)?;
    let c = Ceremony::start(env, journal, script, ceremony_options()).map_err(|e| e.to_string())?;
    let v = CeremonyView::of(&c, None);
    *slot = Some(c);
    Ok(v)
}

/// Resumes the unfinished ceremony `ceremony_id` with the script it started from: the
/// shipped script with the SHA-256 journaled at its start, or (`path`) a reviewed copy.
#[tauri::command(async)]
pub fn ceremony_resume(
    state: tauri::State<'_, AppState>,
    path: Option<String>,
    ceremony_id: String,
) -> Result<CeremonyView, String> {
    let typed = path.as_deref().map(load_script).transpose()?;
    let mut slot = slot(&state)?;
    running(&slot)?;
    *slot = None;
    let (env, journal) = open_for_ceremony(&state)?;
    let script = match typed {
        Some(s) => s,
        None => {
            keyrite_core::view::resume_script(&journal, &ceremony_id).map_err(|e| e.to_string())?
        }
    };
    let c = Ceremony::resume(env, journal, script, &ceremony_id, ceremony_options())
        .map_err(|e| e.to_string())?;
    // What the engine will put right before going on, said before anything is done.
    let mut said = format!("Resumed ceremony {ceremony_id} from the journal.");
    for line in c.resume_plan() {
        said.push_str(" Interrupted: ");
        said.push_str(&line);
    }
    let v = CeremonyView::of(&c, Some(said));
    *slot = Some(c);
    Ok(v)
}

/// The ceremony running in this window, if any.
#[tauri::command(async)]
pub fn ceremony_current(state: tauri::State<'_, AppState>) -> Result<Option<CeremonyView>, String> {
    let slot = slot(&state)?;
    Ok(slot.as_ref().map(|c| CeremonyView::of(c, None)))
}

fn answer_engine(state: &AppState, answer: Answer) -> Result<CeremonyView, String> {
    let mut slot = slot(state)?;
    let c = slot
        .as_mut()
        .ok_or_else(|| "no ceremony is running in this window: start or resume one".to_string())?;
    match c.answer(answer) {
        Ok(p) => Ok(CeremonyView::of(c, progress_text(&p))),
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
    answer_engine(&state, answer.into_answer().map_err(|e| e.to_string())?)
}

/// The current share, for its custodian only (the screen asks everyone else to look away
/// before calling this).
#[tauri::command(async)]
pub fn ceremony_share(state: tauri::State<'_, AppState>) -> Result<ShareOnScreen, String> {
    let slot = slot(&state)?;
    let c = slot
        .as_ref()
        .ok_or("no ceremony is running in this window")?;
    ShareOnScreen::of(&c.prompt()).map_err(|e| e.to_string())
}

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
        check_typed_back(&human_form, &check.0, index).map_err(|e| e.to_string())?;
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
    fn a_script_path_must_be_full() {
        assert_eq!(
            load_script("scripts/x.toml").unwrap_err(),
            "\"scripts/x.toml\" is not a full path: start it with / (e.g. /media/usb/root-key-generation.toml)"
        );
    }
}
