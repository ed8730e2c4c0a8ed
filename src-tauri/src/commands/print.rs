//! The done screen's "Print the record": the signed PDF handed to CUPS (`lp`) on the site's
//! printer, or CUPS's default destination when the profile names none. The core chooses the
//! queue, reads the record and prints it; this side only passes the path the done screen shows.

use super::environment;
use crate::state::AppState;
use keyrite_core::printing::LpCommand;
use keyrite_core::view::{print_record, record_queue, RecordPrinted};
use std::path::Path;

/// Prints the signed record at `path` (a file of the data directory's `records/`); the queue
/// and CUPS's job id, or why it was not printed.
#[tauri::command(async)]
pub fn record_print(
    state: tauri::State<'_, AppState>,
    path: String,
) -> Result<RecordPrinted, String> {
    let env = environment(&state)?;
    let queue = record_queue(env.profile(), Path::new("lpstat")).map_err(|e| e.to_string())?;
    print_record(
        &env.data().path().join("records"),
        Path::new(path.trim()),
        &queue,
        &LpCommand::default(),
    )
    .map_err(|e| e.to_string())
}
