//! One module per command group; each is a thin call into `keyrite-core`.

pub mod ceremony;
pub mod hsm;
pub mod inventory;
pub mod journal;
pub mod record;
pub mod shares;

use keyrite_core::environment::Environment;
use std::path::PathBuf;

/// Options every command accepts.
#[derive(Debug, Clone)]
pub struct Globals {
    /// `--profile FILE`.
    pub profile: Option<PathBuf>,
    /// `--data-dir DIR`.
    pub data_dir: Option<PathBuf>,
}

impl Globals {
    /// Opens the data directory, the profile and (in rehearsal) the embedded SoftHSM2.
    pub fn environment(&self) -> anyhow::Result<Environment> {
        Ok(Environment::open(
            self.data_dir.as_deref(),
            self.profile.as_deref(),
        )?)
    }
}
