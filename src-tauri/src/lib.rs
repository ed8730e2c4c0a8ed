//! Keyrite's desktop app: Tauri commands over `keyrite-core`.
//!
//! Thin by design: each command calls the core and returns what the screen shows. No business
//! rule lives here or in the web view, and no secret crosses to the web view except a share
//! shown to its own custodian.

// The shipped desktop app never carries keyrite-core's token-changing primitives: a release
// build where feature unification switched on `testkit` (a workspace build with keyrite-tests)
// stops here. Build it alone (`cargo tauri build`, or `-p keyrite-desktop`).
#[cfg(not(debug_assertions))]
const _: () = assert!(
    !keyrite_core::TESTKIT,
    "keyrite-core's testkit feature is on in a release build of keyrite-desktop; build it \
     alone: cargo build --release -p keyrite-desktop"
);

mod commands;
mod state;

pub use state::{AppState, LaunchOptions};

/// Registers Keyrite's commands and state on a Tauri builder (shared by the app and tests).
pub fn setup<R: tauri::Runtime>(builder: tauri::Builder<R>, state: AppState) -> tauri::Builder<R> {
    builder
        .manage(state)
        .invoke_handler(tauri::generate_handler![
            commands::home::app_status,
            commands::home::hsm_tokens,
            commands::journal::journal_verify,
            commands::journal::journal_entries,
            commands::journal::journal_export,
            commands::journal::inventory_view,
            commands::journal::ceremonies_recent,
            commands::records::record_verify,
            commands::scripts::script_inspect,
            commands::scripts::script_shipped,
            commands::scripts::script_folder,
            commands::ceremony::ceremony_start_shipped,
            commands::ceremony::ceremony_unfinished,
            commands::ceremony::ceremony_start,
            commands::ceremony::ceremony_resume,
            commands::ceremony::ceremony_current,
            commands::by_hand::ceremony_pause,
            commands::by_hand::ceremony_raise,
            commands::by_hand::ceremony_abort,
            commands::ceremony::ceremony_answer,
            commands::ceremony::ceremony_share,
            commands::ceremony::ceremony_share_confirm,
            commands::by_hand::ceremony_pause_and_quit,
            commands::by_hand::ceremony_correct,
            commands::print::record_print,
        ])
        .on_window_event(|window, event| {
            // Closing the window mid-ceremony asks first: the close is held and the window
            // shows the question (closing anyway pauses the ceremony; it stays resumable).
            if let tauri::WindowEvent::CloseRequested { api, .. } = event {
                use tauri::{Emitter, Manager};
                if commands::by_hand::in_progress(&window.state::<AppState>()) {
                    api.prevent_close();
                    let _ = window.emit(CLOSE_REQUESTED_EVENT, ());
                }
            }
        })
}

/// The event the window receives when it is asked to close mid-ceremony.
pub const CLOSE_REQUESTED_EVENT: &str = "keyrite://close-requested";

/// WebKitGTK's switch for the web view's GPU compositing (read by WebKit when the view starts).
pub const COMPOSITING_SWITCH: &str = "WEBKIT_DISABLE_COMPOSITING_MODE";

/// Draws the web view without accelerated compositing unless the operator's environment says
/// otherwise. Keyrite's screens are text and forms: nothing needs GPU layers, and on the
/// ceremony laptop without a GPU driver (or under Xvfb) the GL stack WebKit brings up for them
/// is software (llvmpipe) — it cost 0.35 s before the first paint and 90 MiB (docs/performance.md
/// "First paint without GPU compositing"). It also keeps GPU driver code out of the web process.
fn draw_without_gpu_compositing() {
    if std::env::var_os(COMPOSITING_SWITCH).is_none() {
        // Before any thread starts (nothing else reads the environment yet).
        std::env::set_var(COMPOSITING_SWITCH, "1");
    }
}

/// Starts the desktop app.
pub fn run() {
    draw_without_gpu_compositing();
    let hardening = keyrite_core::hardening::harden_process();
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEYRITE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let options = LaunchOptions::from_args(std::env::args().skip(1));
    let state = AppState::open(options, hardening);
    if let Err(e) = setup(tauri::Builder::default(), state).run(tauri::generate_context!()) {
        eprintln!("keyrite-desktop: cannot start the window: {e}");
        std::process::exit(1);
    }
}
