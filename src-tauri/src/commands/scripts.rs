//! The script picker: a script's details by path, the shipped scripts and a chosen folder's,
//! each with the core's pre-start checklist against the app's module.

use super::ceremony::slot;
use super::environment;
use crate::state::AppState;
use keyrite_core::script::Script;
use keyrite_core::view::{
    check_script_path, FolderScripts, ScriptChoice, ScriptView, Tokens, TokensUnreadable,
};

pub(super) fn load_script(path: &str) -> Result<Script, String> {
    Script::load(check_script_path(path).map_err(|e| e.to_string())?).map_err(|e| e.to_string())
}

/// Loads and validates a script; shows its hash in words.
#[tauri::command(async)]
pub fn script_inspect(path: String) -> Result<ScriptView, String> {
    Ok(ScriptView::from(&load_script(&path)?))
}

/// The profile's token as the checklist reads it: the tokens of the app's module (loaded
/// once, as the HSM panel does), or why they cannot be read now.
fn with_tokens<T>(
    state: &AppState,
    f: impl FnOnce(Tokens<'_>, Option<&keyrite_core::hsm::TokenSelector>) -> T,
) -> Result<T, String> {
    let env = environment(state)?;
    let selector = env.token_selector();
    if slot(state)?.is_some() {
        return Ok(f(Err(&TokensUnreadable::HeldByCeremony), selector.as_ref()));
    }
    let mut guard = state.module.lock().map_err(|_| {
        "internal error: the HSM state lock is poisoned; restart Keyrite".to_string()
    })?;
    if guard.is_none() {
        match env.load_module() {
            Ok(m) => *guard = Some(m),
            Err(e) => return Ok(f(Err(&e.into()), selector.as_ref())),
        }
    }
    let module = guard
        .as_ref()
        .ok_or_else(|| "internal error: the HSM module is not loaded".to_string())?;
    let tokens = module.tokens().map_err(TokensUnreadable::from);
    Ok(f(tokens.as_deref(), selector.as_ref()))
}

/// The shipped scripts, each with its roles, hash and pre-start checklist.
#[tauri::command(async)]
pub fn script_shipped(state: tauri::State<'_, AppState>) -> Result<Vec<ScriptChoice>, String> {
    with_tokens(&state, keyrite_core::view::shipped_choices)?.map_err(|e| e.to_string())
}

/// The scripts in a chosen folder (full path), each with its checklist; files that are not
/// valid scripts are listed with their problems.
#[tauri::command(async)]
pub fn script_folder(
    state: tauri::State<'_, AppState>,
    path: String,
) -> Result<FolderScripts, String> {
    let dir = check_folder_path(&path)?.to_path_buf();
    with_tokens(&state, |t, s| {
        keyrite_core::view::folder_choices(&dir, t, s)
    })?
    .map_err(|e| e.to_string())
}

/// A folder typed into the window must be a full path, like a script's.
fn check_folder_path(path: &str) -> Result<&std::path::Path, String> {
    let path = path.trim();
    if path.is_empty() {
        return Err("type the full path of the folder holding the reviewed scripts".into());
    }
    let p = std::path::Path::new(path);
    if !p.is_absolute() {
        return Err(format!(
            "\"{path}\" is not a full path: start it with / (e.g. /media/usb)"
        ));
    }
    Ok(p)
}
