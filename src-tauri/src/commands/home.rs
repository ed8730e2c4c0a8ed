//! Home screen: mode, site and the HSM panel.

use super::environment;
use crate::state::AppState;
use keyrite_core::hsm::Pkcs11Module;
use keyrite_core::view::{self, AppStatus, HsmView};

/// Mode, site, data directory and startup problems.
#[tauri::command]
pub fn app_status(state: tauri::State<'_, AppState>) -> AppStatus {
    let (mode, site, data_dir, profile, startup_error) = match &state.environment {
        Ok(env) => (
            Some(env.mode()),
            Some(env.profile().site.name.clone()),
            Some(env.data().path().display().to_string()),
            env.profile_path().map(|p| p.display().to_string()),
            None,
        ),
        Err(e) => (None, None, None, None, Some(e.clone())),
    };
    AppStatus {
        version: env!("CARGO_PKG_VERSION").to_string(),
        mode,
        site,
        data_dir,
        profile,
        startup_error,
        hardening: state.hardening.clone(),
    }
}

/// The tokens of the profile's PKCS#11 module.
#[tauri::command(async)]
pub fn hsm_tokens(state: tauri::State<'_, AppState>) -> Result<HsmView, String> {
    let env = environment(&state)?;
    if state.ceremony.lock().map(|c| c.is_some()).unwrap_or(true) {
        return Err("the HSM is in use by the ceremony running in this window; its token status shows on the ceremony screen".into());
    }
    let mut guard = state.module.lock().map_err(|_| {
        "internal error: the HSM state lock is poisoned; restart Keyrite".to_string()
    })?;
    if guard.is_none() {
        *guard = Some(env.load_module().map_err(|e| e.to_string())?);
    }
    let module: &Pkcs11Module = guard
        .as_ref()
        .ok_or_else(|| "internal error: the HSM module is not loaded".to_string())?;
    view::hsm_view(env, module).map_err(|e| e.to_string())
}
