//! Build script: Tauri's build step with the app's command list (the permissions granted by name).

/// Every command the web view may call; each is also granted by name in capabilities/default.json.
const COMMANDS: &[&str] = &[
    "app_status",
    "hsm_tokens",
    "journal_verify",
    "journal_entries",
    "journal_export",
    "inventory_view",
    "ceremonies_recent",
    "record_verify",
    "script_inspect",
    "script_shipped",
    "script_folder",
    "ceremony_start_shipped",
    "ceremony_unfinished",
    "ceremony_start",
    "ceremony_resume",
    "ceremony_current",
    "ceremony_pause",
    "ceremony_raise",
    "ceremony_abort",
    "ceremony_answer",
    "ceremony_share",
    "ceremony_share_confirm",
    "ceremony_pause_and_quit",
    "ceremony_correct",
    "record_print",
];

fn main() {
    // Declaring the commands makes Tauri's ACL generate allow-/deny- permissions for them; the
    // capability file then grants exactly these and nothing else.
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri-build failed");
}
