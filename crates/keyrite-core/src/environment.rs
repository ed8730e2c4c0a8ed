//! The environment a ceremony runs in: data directory, site profile, and the HSM they point to.
//!
//! Both binaries start by opening an [`Environment`]; the same rules apply to both (rehearsal
//! defaults to the embedded SoftHSM2, production never does).

use crate::hsm::rehearsal::RehearsalHsm;
use crate::hsm::{HsmError, Pkcs11Module, TokenSelector};
use crate::paths::{DataDir, DataDirError};
use crate::profile::{Mode, ProfileError, SiteProfile};
use std::path::{Path, PathBuf};

mod exe_hash;
pub use exe_hash::{cached_sha256, executable_sha256, Source as HashSource};

/// Errors opening the environment.
#[derive(Debug, thiserror::Error)]
pub enum EnvironmentError {
    /// The data directory is not usable.
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    /// The site profile is not acceptable.
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// The HSM could not be prepared or loaded.
    #[error(transparent)]
    Hsm(#[from] HsmError),
}

/// Data directory + site profile (+ the rehearsal HSM when the profile uses it).
#[derive(Debug)]
pub struct Environment {
    data: DataDir,
    profile: SiteProfile,
    profile_path: Option<PathBuf>,
    rehearsal: Option<RehearsalHsm>,
}

impl Environment {
    /// Opens the data directory and the profile (the default rehearsal profile when `None`),
    /// creating the embedded rehearsal SoftHSM2 on first use.
    pub fn open(data_dir: Option<&Path>, profile: Option<&Path>) -> Result<Self, EnvironmentError> {
        // Read the profile first: a bad profile must not create anything.
        let (profile, profile_path) = match profile {
            Some(p) => (SiteProfile::load(p)?, Some(p.to_path_buf())),
            None => (SiteProfile::default_rehearsal(), None),
        };
        let data = DataDir::open(data_dir)?;
        exe_hash::use_cache_in(data.path());
        let rehearsal = if profile.uses_embedded_hsm() {
            Some(RehearsalHsm::ensure(&data)?)
        } else {
            None
        };
        Ok(Self {
            data,
            profile,
            profile_path,
            rehearsal,
        })
    }

    /// The data directory.
    pub fn data(&self) -> &DataDir {
        &self.data
    }

    /// The site profile in force.
    pub fn profile(&self) -> &SiteProfile {
        &self.profile
    }

    /// The profile file, if one was given.
    pub fn profile_path(&self) -> Option<&Path> {
        self.profile_path.as_deref()
    }

    /// Rehearsal or production.
    pub fn mode(&self) -> Mode {
        self.profile.site.mode
    }

    /// The embedded rehearsal HSM, when the profile uses it.
    pub fn rehearsal(&self) -> Option<&RehearsalHsm> {
        self.rehearsal.as_ref()
    }

    /// The PKCS#11 module path in force.
    pub fn module_path(&self) -> PathBuf {
        match (&self.profile.hsm.module, &self.rehearsal) {
            (Some(p), _) => p.clone(),
            (None, Some(r)) => r.module_path().to_path_buf(),
            // uses_embedded_hsm() == module.is_none(), so rehearsal is Some here.
            (None, None) => PathBuf::new(),
        }
    }

    /// Loads the PKCS#11 module in force.
    pub fn load_module(&self) -> Result<Pkcs11Module, HsmError> {
        Pkcs11Module::load(&self.module_path())
    }

    /// How the profile selects its token, if it does.
    pub fn token_selector(&self) -> Option<TokenSelector> {
        match (
            &self.profile.hsm.token_label,
            &self.profile.hsm.token_serial,
        ) {
            (Some(l), _) => Some(TokenSelector::Label(l.clone())),
            (None, Some(s)) => Some(TokenSelector::Serial(s.clone())),
            (None, None) => None,
        }
    }
}
