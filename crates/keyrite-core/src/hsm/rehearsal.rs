//! The embedded rehearsal HSM: a SoftHSM2 configuration and token under the data directory.
//!
//! On first use Keyrite creates `DATA/softhsm/softhsm2.conf`, a token directory, and an
//! initialised token labelled [`REHEARSAL_TOKEN_LABEL`] with random SO and user PINs, kept in
//! `DATA/softhsm/rehearsal-token.toml` (mode 0600). Storing PINs is acceptable only because this
//! token is a rehearsal software token that never holds production keys; production profiles
//! cannot use it. Everything is built in a scratch directory and renamed into place, so an
//! interrupted first run leaves nothing half-created.
//!
//! SoftHSM2's file store is not crash-safe (a process killed during `C_Login` can leave the
//! token's `token.object` empty); [`store`] keeps a known-good copy of it and puts it back,
//! reporting each repair in [`RehearsalHsm::repairs`]; a key object file left half-made by a
//! process killed while SoftHSM2 created it is moved out of the token
//! ([`RehearsalHsm::set_aside`]).

mod store;

use super::{HsmError, Pkcs11Module, TokenSelector};
use crate::paths::DataDir;
pub use crate::profile::REHEARSAL_TOKEN_LABEL;
use crate::secret::SecretText;
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use rand::Rng;
use std::path::{Path, PathBuf};
pub use store::{HalfMadeObject, StoreRepair};

/// Environment variable naming the SoftHSM2 module to use instead of the usual locations.
pub const SOFTHSM_MODULE_ENV: &str = "KEYRITE_SOFTHSM_MODULE";

const CANDIDATES: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
];

/// Finds the SoftHSM2 PKCS#11 module on this machine.
pub fn softhsm_module_path() -> Result<PathBuf, HsmError> {
    if let Some(p) = std::env::var_os(SOFTHSM_MODULE_ENV).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or_else(|| HsmError::ModuleMissing {
            path: PathBuf::from(CANDIDATES[0]),
        })
}

/// The embedded rehearsal SoftHSM2 of a data directory.
#[derive(Debug, Clone)]
pub struct RehearsalHsm {
    dir: PathBuf,
    module: PathBuf,
    repairs: Vec<StoreRepair>,
    set_aside: Vec<HalfMadeObject>,
}

const CONF: &str = "softhsm2.conf";
const PINS: &str = "rehearsal-token.toml";

fn conf_text(tokendir: &Path) -> String {
    format!(
        "# Keyrite rehearsal HSM (software). Never used in production.\n\
         directories.tokendir = {}\n\
         objectstore.backend = file\n\
         log.level = ERROR\n\
         slots.removable = false\n",
        tokendir.display()
    )
}

fn random_pin(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rngs::OsRng;
    (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

impl RehearsalHsm {
    /// Creates the embedded SoftHSM2 and its token if they do not exist yet, and points
    /// `SOFTHSM2_CONF` at its configuration.
    ///
    /// Call early, before other threads start: it sets a process environment variable.
    pub fn ensure(data: &DataDir) -> Result<Self, HsmError> {
        let module = softhsm_module_path()?;
        let dir = data.softhsm_dir();
        let fail = |reason: String| HsmError::Rehearsal {
            path: dir.clone(),
            reason,
        };
        if dir.join(CONF).is_file() && dir.join(PINS).is_file() {
            Self::point_conf_at_own_tokens(&dir)?;
            // Before SoftHSM2 reads the store: it drops a token whose token.object is damaged.
            let report = store::guard(&dir)?;
            std::env::set_var("SOFTHSM2_CONF", dir.join(CONF));
            return Ok(Self {
                dir,
                module,
                repairs: report.repairs,
                set_aside: report.set_aside,
            });
        }
        if dir.exists() {
            return Err(fail(format!(
                "the directory exists but lacks {CONF} or {PINS}; move it aside and run again \
                 to create a fresh rehearsal token"
            )));
        }
        let scratch = data
            .path()
            .join(format!("softhsm.partial-{}", std::process::id()));
        let result = Self::create_in(&scratch, &dir, &module);
        if let Err(e) = result {
            let _ = std::fs::remove_dir_all(&scratch);
            // Leave SOFTHSM2_CONF unset rather than pointing at a removed directory.
            std::env::remove_var("SOFTHSM2_CONF");
            return Err(e);
        }
        // The first known-good copy of the new token's store.
        let report = store::guard(&dir)?;
        std::env::set_var("SOFTHSM2_CONF", dir.join(CONF));
        Ok(Self {
            dir,
            module,
            repairs: report.repairs,
            set_aside: report.set_aside,
        })
    }

    /// Makes `softhsm2.conf` name this data directory's own token directory by its absolute,
    /// canonical path. A data directory that was copied or moved (or opened from another
    /// working directory, for one made by an older Keyrite with a relative path) would
    /// otherwise use another directory's tokens: a key "generated in the copy" would land in
    /// the original's token.
    fn point_conf_at_own_tokens(dir: &Path) -> Result<(), HsmError> {
        let fail = |reason: String| HsmError::Rehearsal {
            path: dir.to_path_buf(),
            reason,
        };
        let conf = dir.join(CONF);
        let tokens = dir.join("tokens").canonicalize().map_err(|e| {
            fail(format!(
                "cannot resolve its token directory {}: {e}",
                dir.join("tokens").display()
            ))
        })?;
        let want = conf_text(&tokens);
        let meta = std::fs::symlink_metadata(&conf)
            .map_err(|e| fail(format!("cannot inspect {CONF}: {e}")))?;
        let have = if meta.is_file() {
            std::fs::read_to_string(&conf).unwrap_or_default()
        } else {
            String::new()
        };
        if have == want {
            return Ok(());
        }
        let was = have
            .lines()
            .find_map(|l| l.strip_prefix("directories.tokendir = "))
            .unwrap_or("(unreadable)")
            .to_string();
        // A new file renamed over the old one: a symlink in its place is replaced, never
        // followed.
        let tmp = dir.join(format!(".{CONF}.keyrite-tmp-{}", std::process::id()));
        let written = (|| {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)?;
            f.write_all(want.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &conf)?;
            std::fs::File::open(dir)?.sync_all()
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(fail(format!(
                "cannot point {CONF} at this data directory's tokens {}: {e}",
                tokens.display()
            )));
        }
        tracing::warn!(
            conf = %conf.display(),
            was = %was,
            now = %tokens.display(),
            "the rehearsal HSM's configuration named another token directory (the data directory was copied or moved); it now names this data directory's own"
        );
        Ok(())
    }

    fn create_in(scratch: &Path, dir: &Path, module: &Path) -> Result<(), HsmError> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let fail = |reason: String| HsmError::Rehearsal {
            path: dir.to_path_buf(),
            reason,
        };
        let _ = std::fs::remove_dir_all(scratch);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(scratch.join("tokens"))
            .map_err(|e| fail(format!("cannot create {}: {e}", scratch.display())))?;
        std::fs::write(scratch.join(CONF), conf_text(&scratch.join("tokens")))
            .map_err(|e| fail(format!("cannot write {CONF}: {e}")))?;
        std::env::set_var("SOFTHSM2_CONF", scratch.join(CONF));

        let so_pin = SecretText::new(random_pin(16));
        let user_pin = SecretText::new(random_pin(12));
        {
            let m = Pkcs11Module::load(module)?;
            let ctx = m.context();
            let free = ctx
                .get_all_slots()
                .map_err(|e| m.call_err("listing slots (C_GetSlotList)", e))?
                .into_iter()
                .find(|s| {
                    ctx.get_token_info(*s)
                        .map(|t| !t.token_initialized())
                        .unwrap_or(false)
                })
                .ok_or_else(|| fail("SoftHSM2 offers no free slot".into()))?;
            let so = AuthPin::new(so_pin.expose().into());
            ctx.init_token(free, &so, REHEARSAL_TOKEN_LABEL)
                .map_err(|e| m.call_err("initialising the rehearsal token (C_InitToken)", e))?;
            let (slot, _) = m.find_token(&TokenSelector::Label(REHEARSAL_TOKEN_LABEL.into()))?;
            let session = ctx
                .open_rw_session(slot)
                .map_err(|e| m.call_err("opening a session (C_OpenSession)", e))?;
            session
                .login(UserType::So, Some(&so))
                .map_err(|e| m.call_err("SO login (C_Login)", e))?;
            session
                .init_pin(&AuthPin::new(user_pin.expose().into()))
                .map_err(|e| m.call_err("setting the user PIN (C_InitPIN)", e))?;
        }
        let pins = format!(
            "# Rehearsal token PINs. This software token is for rehearsal only.\n\
             so_pin = \"{}\"\nuser_pin = \"{}\"\n",
            so_pin.expose(),
            user_pin.expose()
        );
        let pins = SecretText::new(pins);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(scratch.join(PINS))
            .map_err(|e| fail(format!("cannot write {PINS}: {e}")))?;
        std::io::Write::write_all(&mut f, pins.expose().as_bytes())
            .map_err(|e| fail(format!("cannot write {PINS}: {e}")))?;
        f.sync_all()
            .map_err(|e| fail(format!("cannot write {PINS}: {e}")))?;
        // The final configuration points at the final token directory, by absolute path
        // (`ensure` keeps it so when the data directory is copied or moved).
        let final_tokens = dir
            .parent()
            .unwrap_or(Path::new("."))
            .canonicalize()
            .map_err(|e| fail(format!("cannot resolve the data directory: {e}")))?
            .join(dir.file_name().unwrap_or_default())
            .join("tokens");
        std::fs::write(scratch.join(CONF), conf_text(&final_tokens))
            .map_err(|e| fail(format!("cannot write {CONF}: {e}")))?;
        std::fs::rename(scratch, dir)
            .map_err(|e| fail(format!("cannot move {} into place: {e}", scratch.display())))?;
        Ok(())
    }

    /// Damaged store files found and put back when this value was made (usually none). Each
    /// says what was lost; callers show it to the operator.
    pub fn repairs(&self) -> &[StoreRepair] {
        &self.repairs
    }

    /// Half-made key object files (left by a process killed while SoftHSM2 created them)
    /// moved out of the token when this value was made (usually none).
    pub fn set_aside(&self) -> &[HalfMadeObject] {
        &self.set_aside
    }

    /// The SoftHSM2 module path.
    pub fn module_path(&self) -> &Path {
        &self.module
    }

    /// The SoftHSM2 configuration file.
    pub fn conf_path(&self) -> PathBuf {
        self.dir.join(CONF)
    }

    /// The rehearsal token's SO and user PINs.
    pub fn pins(&self) -> Result<(SecretText, SecretText), HsmError> {
        let path = self.dir.join(PINS);
        let fail = |reason: String| HsmError::Rehearsal {
            path: self.dir.clone(),
            reason,
        };
        let text = SecretText::new(
            std::fs::read_to_string(&path)
                .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?,
        );
        #[derive(serde::Deserialize)]
        struct Pins {
            so_pin: String,
            user_pin: String,
        }
        let p: Pins = toml::from_str(text.expose())
            .map_err(|_| fail(format!("{} is not a valid PIN file", path.display())))?;
        Ok((SecretText::new(p.so_pin), SecretText::new(p.user_pin)))
    }

    /// Records the rehearsal token's new PINs after a rehearsal ceremony re-initialised it,
    /// so that the next re-initialisation and `--rehearsal-pins` keep working. Written to a
    /// new file (0600), synced, then renamed over the old one.
    pub fn store_pins(&self, so: &SecretText, user: &SecretText) -> Result<(), HsmError> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.dir.join(PINS);
        let tmp = self.dir.join(format!("{PINS}.new"));
        let fail = |reason: String| HsmError::Rehearsal {
            path: self.dir.clone(),
            reason,
        };
        let text = SecretText::new(format!(
            "so_pin = {}\nuser_pin = {}\n",
            toml::Value::String(so.expose().into()),
            toml::Value::String(user.expose().into())
        ));
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| fail(format!("cannot write {}: {e}", tmp.display())))?;
        std::io::Write::write_all(&mut f, text.expose().as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| fail(format!("cannot write {}: {e}", tmp.display())))?;
        std::fs::rename(&tmp, &path)
            .map_err(|e| fail(format!("cannot replace {}: {e}", path.display())))
    }
}
