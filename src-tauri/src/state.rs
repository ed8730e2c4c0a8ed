//! What the app holds between commands: the environment and the loaded PKCS#11 module.

use keyrite_core::environment::Environment;
use keyrite_core::hardening::HardeningReport;
use keyrite_core::hsm::Pkcs11Module;
use std::path::PathBuf;
use std::sync::Mutex;

/// Command-line options of the desktop app.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LaunchOptions {
    /// `--profile FILE`.
    pub profile: Option<PathBuf>,
    /// `--data-dir DIR`.
    pub data_dir: Option<PathBuf>,
}

impl LaunchOptions {
    /// Parses `--profile FILE` and `--data-dir DIR` (other arguments are ignored: WebDriver
    /// and desktop launchers may add their own).
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Self {
        let mut out = Self::default();
        let mut it = args.into_iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--profile" => out.profile = it.next().map(PathBuf::from),
                "--data-dir" => out.data_dir = it.next().map(PathBuf::from),
                _ => {}
            }
        }
        out
    }
}

/// The app's state. An environment that failed to open is kept as its error message so the
/// window can say what is wrong instead of refusing to start.
pub struct AppState {
    /// The environment, or why it could not be opened.
    pub environment: Result<Environment, String>,
    /// The PKCS#11 module, loaded on first use and kept (initialisation is per process).
    pub module: Mutex<Option<Pkcs11Module>>,
    /// What process hardening achieved.
    pub hardening: HardeningReport,
    /// How the app was launched (a ceremony opens its own environment from it).
    pub launch: LaunchOptions,
    /// The ceremony running in this window, if any (it holds the journal's writer lock and
    /// the HSM session).
    pub ceremony: Mutex<Option<keyrite_core::engine::Ceremony>>,
}

impl AppState {
    /// Opens the environment described by `options`.
    pub fn open(options: LaunchOptions, hardening: HardeningReport) -> Self {
        let environment =
            Environment::open(options.data_dir.as_deref(), options.profile.as_deref())
                .map_err(|e| e.to_string());
        let launch = options.clone();
        if let Err(e) = &environment {
            tracing::error!("{e}");
        }
        Self {
            environment,
            module: Mutex::new(None),
            hardening,
            launch,
            ceremony: Mutex::new(None),
        }
    }
}
