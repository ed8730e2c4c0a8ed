//! Home screen: mode, site and the HSM panel.

use super::environment;
use crate::state::AppState;
use keyrite_core::hardening::HardeningReport;
use keyrite_core::hsm::{Pkcs11Module, TokenSummary};
use serde::Serialize;

/// What the home screen shows about the app itself.
#[derive(Debug, Serialize)]
pub struct AppStatus {
    /// Keyrite's version.
    pub version: &'static str,
    /// "rehearsal" or "production"; absent when the environment failed to open.
    pub mode: Option<String>,
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
#[derive(Debug, Serialize)]
pub struct HsmView {
    /// The PKCS#11 module.
    pub module: String,
    /// Tokens in the module's slots.
    pub tokens: Vec<TokenSummary>,
}

/// Mode, site, data directory and startup problems.
#[tauri::command]
pub fn app_status(state: tauri::State<'_, AppState>) -> AppStatus {
    let (mode, site, data_dir, profile, startup_error) = match &state.environment {
        Ok(env) => (
            Some(env.mode().to_string()),
            Some(env.profile().site.name.clone()),
            Some(env.data().path().display().to_string()),
            env.profile_path().map(|p| p.display().to_string()),
            None,
        ),
        Err(e) => (None, None, None, None, Some(e.clone())),
    };
    AppStatus {
        version: env!("CARGO_PKG_VERSION"),
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
    Ok(HsmView {
        module: module.path().display().to_string(),
        tokens: module.tokens().map_err(|e| e.to_string())?,
    })
}
