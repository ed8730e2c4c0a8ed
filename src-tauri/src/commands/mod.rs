//! The commands the web view may call (each granted one by one in `capabilities/default.json`).
//!
//! Every command is a thin call into `keyrite-core` that returns what a screen shows. Commands
//! that read files or the journal run off the main thread (`async`), so the window stays
//! responsive while a large journal is verified.

pub mod by_hand;
pub mod ceremony;
pub mod home;
pub mod journal;
pub mod print;
pub mod records;
pub mod scripts;

use crate::state::AppState;
use keyrite_core::environment::Environment;

/// The environment, or the startup error the window already shows.
pub(crate) fn environment(state: &AppState) -> Result<&Environment, String> {
    state.environment.as_ref().map_err(|e| e.clone())
}
