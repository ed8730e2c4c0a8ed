//! Acts by hand on the running ceremony: Stop (pause), Raise an exception, Abort, "Correct a
//! check-in", and the window's "close anyway". The engine decides and journals each; this side
//! only passes the window's fields.

use super::ceremony::{running, slot};
use crate::state::AppState;
use keyrite_core::engine::{Ceremony, Prompt};
use keyrite_core::view::{progress_text, CeremonyView};

/// Stop: pauses the ceremony (journaled by the core: where it stopped); it stays unfinished
/// and can be resumed, here or later. Returns what to tell the room. A closed ceremony is
/// only taken off the screen.
#[tauri::command(async)]
pub fn ceremony_pause(state: tauri::State<'_, AppState>) -> Result<Option<String>, String> {
    let mut slot = slot(&state)?;
    match slot.take() {
        Some(c) if !matches!(c.prompt(), Prompt::Done { .. }) => {
            c.pause().map(Some).map_err(|e| e.to_string())
        }
        _ => Ok(None),
    }
}

/// Raises an exception at the current step by hand: `by` (a checked-in participant id) says
/// what is wrong. The engine then asks for the decision, as after any exception.
#[tauri::command(async)]
pub fn ceremony_raise(
    state: tauri::State<'_, AppState>,
    by: String,
    reason: String,
) -> Result<CeremonyView, String> {
    by_hand(&state, |c| {
        c.raise_exception(&by, &reason).map_err(|e| e.to_string())
    })
}

/// Aborts the ceremony (the window asked for confirmation): journaled as an exception decided
/// `abort` by `by`, then closed as aborted.
#[tauri::command(async)]
pub fn ceremony_abort(
    state: tauri::State<'_, AppState>,
    by: String,
    reason: String,
) -> Result<CeremonyView, String> {
    by_hand(&state, |c| c.abort(&by, &reason).map_err(|e| e.to_string()))
}

fn by_hand(
    state: &AppState,
    act: impl FnOnce(&mut Ceremony) -> Result<keyrite_core::engine::Progress, String>,
) -> Result<CeremonyView, String> {
    let mut slot = slot(state)?;
    let c = slot
        .as_mut()
        .ok_or_else(|| "no ceremony is running in this window: start or resume one".to_string())?;
    let p = act(c)?;
    Ok(CeremonyView::of(c, progress_text(&p)))
}

/// Whether a ceremony runs in this window and is not closed: closing the window then asks
/// first (the window's close request is held; see `lib.rs`).
pub fn in_progress(state: &AppState) -> bool {
    slot(state).is_ok_and(|s| running(&s).is_err())
}

/// The window's "close anyway": pauses the ceremony (it stays unfinished in the journal and
/// can be resumed, here or later) and quits.
#[tauri::command(async)]
pub fn ceremony_pause_and_quit<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: tauri::State<'_, AppState>,
) -> Result<(), String> {
    if let Some(c) = slot(&state)?.take() {
        // Journaled like Stop; a journal that cannot record still lets the window close (the
        // ceremony resumes from what the journal holds).
        if let Err(e) = c.pause() {
            tracing::warn!("closing: the pause could not be journaled: {e}");
        }
    }
    app.exit(0);
    Ok(())
}

/// Corrects the check-in of `participant_id` to `name`, for `reason`; the view with what was
/// done said in its progress line.
#[tauri::command(async)]
pub fn ceremony_correct(
    state: tauri::State<'_, AppState>,
    participant_id: String,
    name: String,
    reason: String,
) -> Result<CeremonyView, String> {
    let mut slot = slot(&state)?;
    let c = slot
        .as_mut()
        .ok_or_else(|| "no ceremony is running in this window: start or resume one".to_string())?;
    let p = c
        .correct_check_in(&participant_id, &name, &reason)
        .map_err(|e| e.to_string())?;
    let said = format!("Check-in corrected: {} is {}.", p.id, p.name);
    Ok(CeremonyView::of(c, Some(said)))
}
