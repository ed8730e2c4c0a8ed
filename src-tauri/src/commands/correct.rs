//! "Correct a check-in" on the step screens: the engine corrects the seat's name (until the
//! ceremony's first HSM action) or says why not; this side only passes the window's fields.

use crate::state::AppState;
use keyrite_core::view::CeremonyView;

/// Corrects the check-in of `participant_id` to `name`, for `reason`; the view with what was
/// done said in its progress line.
#[tauri::command(async)]
pub fn ceremony_correct(
    state: tauri::State<'_, AppState>,
    participant_id: String,
    name: String,
    reason: String,
) -> Result<CeremonyView, String> {
    let mut slot = state.ceremony.lock().map_err(|_| {
        "internal error: the ceremony lock is poisoned; restart Keyrite (the ceremony resumes \
         from the journal)"
            .to_string()
    })?;
    let c = slot
        .as_mut()
        .ok_or_else(|| "no ceremony is running in this window: start or resume one".to_string())?;
    let p = c
        .correct_check_in(&participant_id, &name, &reason)
        .map_err(|e| e.to_string())?;
    let said = format!("Check-in corrected: {} is {}.", p.id, p.name);
    Ok(CeremonyView::of(c, Some(said)))
}
