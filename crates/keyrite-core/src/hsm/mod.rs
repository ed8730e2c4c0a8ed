//! The HSM, over PKCS#11 (cryptoki).
//!
//! [`Pkcs11Module`] loads and initialises a module; [`TokenSummary`] describes a token as an
//! operator and an auditor need to see it. [`rehearsal`] creates the embedded SoftHSM2 used in
//! rehearsal mode. Every error names the operation, the module or token, and the PKCS#11
//! return code in words ([`rv`]).

/// Declares a module holding primitives that change a token (initialise, generate, import,
/// wrap, restore, destroy, store). Outside the core they are reachable only through journaled
/// operations (`crate::operations`, `crate::engine`): the module is crate-private, and public
/// only with the `testkit` feature, which Keyrite's own tests enable. The shipped binaries
/// refuse to build in release with that feature (`keyrite_core::TESTKIT`, checked by
/// `keyrite` and `keyrite-desktop`), so feature unification in a workspace build cannot hand
/// them the primitives.
macro_rules! token_changing {
    ($name:ident) => {
        #[cfg(feature = "testkit")]
        pub mod $name;
        #[cfg(not(feature = "testkit"))]
        pub(crate) mod $name;
    };
}

pub mod attributes;
token_changing!(backup);
token_changing!(certificate);
token_changing!(destroy);
pub mod identity;
token_changing!(init);
pub mod kcv;
token_changing!(keygen);
pub mod objects;
pub mod policy;
pub mod protection;
pub mod quirks;
mod rawinfo;
pub mod rehearsal;
token_changing!(rootkek);
pub mod rv;
pub mod session;
pub mod signer;
pub mod sitedata;
pub mod sopin;
pub mod spki;
mod token;
pub mod wrap;

// What the faces may use from the token-changing modules: data types and read-only checks.
pub use backup::{BackupError, KeyBackup};
pub use certificate::read_certificate;
pub use destroy::DestructionProof;
pub use init::{check_pin, check_pins, select_pinned, select_uninitialised, MIN_PIN_LEN};
pub use keygen::{find_key, sign_mechanism, KeyEvidence, KeyObjects};
pub use session::{PinState, TokenSession, UserKind};
pub use token::{TokenFlags, TokenSummary};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::slot::Slot;
use std::path::{Path, PathBuf};

/// Errors from the HSM layer.
#[derive(Debug, thiserror::Error)]
pub enum HsmError {
    /// The module file does not exist.
    #[error(
        "PKCS#11 module {path} does not exist; check hsm.module in the site profile \
         (SoftHSM2 is usually /usr/lib/softhsm/libsofthsm2.so)"
    )]
    ModuleMissing {
        /// The path given.
        path: PathBuf,
    },
    /// The module could not be loaded (not a shared library, missing symbols…).
    #[error("cannot load PKCS#11 module {path}: {reason}; check that it is the vendor's PKCS#11 library")]
    ModuleLoad {
        /// The path given.
        path: PathBuf,
        /// The loader's message.
        reason: String,
    },
    /// `C_Initialize` failed.
    #[error(
        "PKCS#11 module {path} failed C_Initialize: {rv}; check the module's own configuration{hint}"
    )]
    Initialize {
        /// The module.
        path: PathBuf,
        /// The return code in words.
        rv: String,
        /// A module-specific hint, possibly empty.
        hint: String,
    },
    /// A PKCS#11 call failed.
    #[error("{operation} on {target} failed: {rv}")]
    Call {
        /// What Keyrite was doing, e.g. "listing slots".
        operation: String,
        /// Module or token, e.g. "token keyrite-rehearsal (serial 3f2a…)".
        target: String,
        /// The return code in words.
        rv: String,
    },
    /// No token matches the selection.
    #[error("no token {selection} in PKCS#11 module {path}; present tokens: {present}")]
    TokenNotFound {
        /// The module.
        path: PathBuf,
        /// How the token was selected, e.g. "labelled \"root\"".
        selection: String,
        /// Labels of the tokens that are present.
        present: String,
    },
    /// A login failed. The PIN is never retried automatically.
    #[error(
        "{user} login (C_Login) on {token} failed: {rv}; PIN state before: {before}, after: \
         {after}; Keyrite never retries a PIN: check it before trying again"
    )]
    Login {
        /// "user" or "SO".
        user: UserKind,
        /// The token, e.g. `token "root" (serial 3f2a)`.
        token: String,
        /// The return code in words.
        rv: String,
        /// PIN state read before the attempt.
        before: PinState,
        /// PIN state read after the attempt.
        after: PinState,
    },
    /// The current SO PIN given to (re)initialise a token was rejected by one SO login,
    /// before anything changed (`hsm::sopin`).
    #[error("the current SO PIN of {token} was rejected: {rv}; {tries}; nothing was changed")]
    CurrentSoPin {
        /// The token.
        token: String,
        /// The return code in words.
        rv: String,
        /// The tries left as the token reports them.
        tries: String,
    },
    /// The module cannot re-initialise a token (vendor quirks `reinitialise = false`).
    #[error(
        "re-initialising {token} is refused: {module} cannot re-initialise a token (vendor \
         quirks \"{module}\", reinitialise = false: afterwards its SO can no longer log in); \
         nothing was changed; to start again, reset the token with the vendor's own tools"
    )]
    ReinitialiseUnsupported {
        /// The token.
        token: String,
        /// The quirks section's name.
        module: String,
    },
    /// The PIN is locked: no attempt was made.
    #[error(
        "{user} login on {token} refused: the {user} PIN is locked (CKR_PIN_LOCKED); no \
         attempt was made; the {unlocker} must reset it"
    )]
    PinLocked {
        /// "user" or "SO".
        user: UserKind,
        /// The token.
        token: String,
        /// Who can reset it.
        unlocker: &'static str,
    },
    /// A PIN does not satisfy the PIN policy (checked before touching the token).
    #[error("PIN policy refused the {which}: {problem}")]
    PinPolicy {
        /// Which PIN ("SO PIN", "user PIN").
        which: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// Re-initialising a token that is already initialised needs `force`.
    #[error(
        "refusing to re-initialise {token}: it is already initialised and may hold keys \
         ({public_objects} public objects visible; private objects cannot be counted without \
         the user PIN); re-initialising erases every key, pass force only if that is intended"
    )]
    TokenNotEmpty {
        /// The token.
        token: String,
        /// Number of public objects seen.
        public_objects: usize,
    },
    /// The key policy file is malformed.
    #[error("key policy file {source_name}: {message}")]
    PolicyFile {
        /// "built-in key-policies.toml" or the file path, with `:line:column` when the
        /// problem has a place.
        source_name: String,
        /// What is wrong.
        message: String,
    },
    /// A policy is inconsistent or forbidden (checked before touching the HSM).
    #[error("key policy \"{policy}\" is refused: {problem}")]
    PolicyInvalid {
        /// Policy name.
        policy: String,
        /// What is wrong.
        problem: String,
    },
    /// No policy with that name.
    #[error("unknown key policy \"{name}\"; known policies: {known}")]
    UnknownPolicy {
        /// The name asked for.
        name: String,
        /// The names that exist.
        known: String,
    },
    /// The label (or id) is already used on the token.
    #[error(
        "{operation} on {token} refused: an object labelled \"{label}\" already exists; \
         choose another label or destroy the old key first"
    )]
    LabelExists {
        /// What Keyrite was doing.
        operation: String,
        /// The token.
        token: String,
        /// The label.
        label: String,
    },
    /// No object with that label.
    #[error("{operation} on {token}: no key labelled \"{label}\"")]
    KeyNotFound {
        /// What Keyrite was doing.
        operation: String,
        /// The token.
        token: String,
        /// The label.
        label: String,
    },
    /// The module lacks a mechanism the operation needs.
    #[error(
        "{operation} on {token} needs {mechanism}, which the module does not offer \
         (CKR_MECHANISM_INVALID); use a module that supports it or a policy that avoids it"
    )]
    MechanismMissing {
        /// What Keyrite was doing.
        operation: String,
        /// The token.
        token: String,
        /// The mechanism, e.g. "CKM_AES_KEY_WRAP_PAD".
        mechanism: String,
    },
    /// The module does not know an attribute every key template carries (vendor quirks).
    #[error(
        "{operation} on {token} needs the attribute {attribute}, which the module does not \
         support (vendor quirks \"{module}\", missing_attributes); use a module that supports \
         it; nothing was created"
    )]
    AttributeMissing {
        /// What Keyrite was doing.
        operation: String,
        /// The token.
        token: String,
        /// The vendor-quirks section.
        module: String,
        /// The attribute, e.g. "CKA_WRAP_WITH_TRUSTED".
        attribute: String,
    },
    /// Read-back found attributes that differ from the policy, or are missing.
    #[error(
        "read-back of key \"{label}\" on {token} does not satisfy policy \"{policy}\": \
         {failures}; the key must not be used — destroy it and investigate the module"
    )]
    ReadBack {
        /// The key label.
        label: String,
        /// The token.
        token: String,
        /// The policy.
        policy: String,
        /// Each failed check, joined by "; ".
        failures: String,
    },
    /// A backup file is unusable.
    #[error(transparent)]
    Backup(#[from] BackupError),
    /// The token is not the HSM the profile pins (or a software token in production).
    #[error("HSM identity check refused {token}: {problem}; no operation was performed")]
    Identity {
        /// The token.
        token: String,
        /// What differs.
        problem: String,
    },
    /// The vendor quirks file is malformed.
    #[error("vendor quirks file {source_name}: {message}")]
    QuirksFile {
        /// "built-in vendor-quirks.toml" or the file path, with `:line:column` when the
        /// problem has a place.
        source_name: String,
        /// What is wrong.
        message: String,
    },
    /// A value read from the token is malformed (e.g. an EC point that is not DER).
    #[error("{operation} on {token}: {problem}")]
    Malformed {
        /// What Keyrite was doing.
        operation: String,
        /// The token.
        token: String,
        /// What was wrong.
        problem: String,
    },
    /// The embedded rehearsal HSM could not be created.
    #[error("cannot create the rehearsal SoftHSM2 in {path}: {reason}")]
    Rehearsal {
        /// The directory.
        path: PathBuf,
        /// What went wrong and what to do.
        reason: String,
    },
    /// An operation failed and the token no longer answers as itself: removed, or its store
    /// gone, mid-way.
    #[error(
        "{operation} on {token} failed: {rv}; the token is no longer there ({probe}): it was \
         removed or lost its store during the operation; reconnect it and list its keys \
         (keyrite hsm keys) before going on"
    )]
    TokenGone {
        /// What was being done.
        operation: String,
        /// The token as it was named before it went.
        token: String,
        /// The operation's return code in words.
        rv: String,
        /// What the presence check found.
        probe: String,
    },
    /// The module protects the key hierarchy less than Keyrite requires (vendor quirks) and
    /// the production site profile does not accept that.
    #[error(
        "{operation} on {token} refused in production: the module (vendor quirks \"{module}\") \
         protects the key hierarchy less than Keyrite requires: {weaknesses}; use a module whose \
         vendor quirks give full protection, or accept this explicitly with \
         accept_weaker_key_protection = true in the [hsm] section of the site profile (every \
         record then states it); nothing was created"
    )]
    WeakerKeyProtection {
        /// What Keyrite was doing.
        operation: String,
        /// The token.
        token: String,
        /// The vendor-quirks section.
        module: String,
        /// What is weaker, joined by "; ".
        weaknesses: String,
    },
    /// The rehearsal token's SoftHSM2 store file is damaged and cannot be put back.
    #[error("the rehearsal token's store file {file} is unusable: {problem}")]
    RehearsalStore {
        /// The file (`token.object`).
        file: PathBuf,
        /// What is wrong and what to do.
        problem: String,
    },
}

impl HsmError {
    /// `Some((who, PIN state after))` when a login failed because the token rejected the PIN
    /// itself (wrong, malformed, or locked by this very attempt): that PIN must not be sent
    /// again. Any other failure (token gone, PIN locked before the attempt) is `None`.
    pub fn rejected_pin(&self) -> Option<(UserKind, PinState)> {
        const REJECTED: [&str; 4] = [
            "CKR_PIN_INCORRECT",
            "CKR_PIN_INVALID",
            "CKR_PIN_LEN_RANGE",
            "CKR_PIN_LOCKED",
        ];
        match self {
            HsmError::Login {
                user, rv, after, ..
            } if REJECTED.contains(&rv.split(' ').next().unwrap_or_default()) => {
                Some((*user, *after))
            }
            _ => None,
        }
    }
}

/// A ceremony's token selection that failed while the module holds only uninitialised tokens
/// (a fresh HSM): the error then says so and points to initialisation. Any other error is
/// returned unchanged.
pub fn fresh_token_hint(module: &Pkcs11Module, e: HsmError) -> HsmError {
    let HsmError::TokenNotFound {
        path,
        selection,
        present,
    } = e
    else {
        return e;
    };
    let fresh: Vec<String> = match module.tokens() {
        Ok(t) if present == "none" => t
            .iter()
            .filter(|t| !t.initialized)
            .map(|t| t.slot_id.to_string())
            .collect(),
        _ => Vec::new(),
    };
    let present = if fresh.is_empty() {
        present
    } else {
        format!(
            "none (uninitialised tokens in slots {}: initialise one first with the \
             hsm-initialisation ceremony or `keyrite hsm init`)",
            fresh.join(", ")
        )
    };
    HsmError::TokenNotFound {
        path,
        selection,
        present,
    }
}

/// How a token is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSelector {
    /// By `CK_TOKEN_INFO.label` (trimmed).
    Label(String),
    /// By `CK_TOKEN_INFO.serialNumber` (trimmed).
    Serial(String),
}

impl std::fmt::Display for TokenSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenSelector::Label(l) => write!(f, "labelled \"{l}\""),
            TokenSelector::Serial(s) => write!(f, "with serial \"{s}\""),
        }
    }
}

/// A loaded and initialised PKCS#11 module. Finalised when dropped.
///
/// PKCS#11 initialisation is global to the process: keep one `Pkcs11Module` per module path.
#[derive(Debug)]
pub struct Pkcs11Module {
    ctx: Pkcs11,
    path: PathBuf,
}

impl Pkcs11Module {
    /// Loads the module at `path` and calls `C_Initialize`.
    pub fn load(path: &Path) -> Result<Self, HsmError> {
        crate::timing::phase("pkcs11-load", || Self::load_untimed(path))
    }

    fn load_untimed(path: &Path) -> Result<Self, HsmError> {
        if !path.exists() {
            return Err(HsmError::ModuleMissing {
                path: path.to_path_buf(),
            });
        }
        let ctx = Pkcs11::new(path).map_err(|e| HsmError::ModuleLoad {
            path: path.to_path_buf(),
            reason: match e {
                cryptoki::error::Error::LibraryLoading(inner) => inner.to_string(),
                other => other.to_string(),
            },
        })?;
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) => {}
            // Another handle in this process already initialised it: that is fine.
            Err(cryptoki::error::Error::Pkcs11(
                cryptoki::error::RvError::CryptokiAlreadyInitialized,
                _,
            )) => {}
            Err(e) => {
                let hint = if path.to_string_lossy().contains("softhsm") {
                    format!(
                        " (SoftHSM2 reads SOFTHSM2_CONF={})",
                        std::env::var("SOFTHSM2_CONF").unwrap_or_else(|_| "<unset>".into())
                    )
                } else {
                    String::new()
                };
                return Err(HsmError::Initialize {
                    path: path.to_path_buf(),
                    rv: rv::error_words(&e),
                    hint,
                });
            }
        }
        Ok(Self {
            ctx,
            path: path.to_path_buf(),
        })
    }

    /// The module's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying cryptoki context, for the other `hsm` submodules. Crate-private (public
    /// to tests only): with it a face could call `C_InitToken` or `C_DestroyObject` directly.
    #[cfg(not(feature = "testkit"))]
    pub(crate) fn context(&self) -> &Pkcs11 {
        &self.ctx
    }

    /// The underlying cryptoki context (tests only, `testkit`).
    #[cfg(feature = "testkit")]
    pub fn context(&self) -> &Pkcs11 {
        &self.ctx
    }

    fn call_err(&self, operation: &str, e: cryptoki::error::Error) -> HsmError {
        HsmError::Call {
            operation: operation.to_string(),
            target: format!("PKCS#11 module {}", self.path.display()),
            rv: rv::error_words(&e),
        }
    }

    /// Every slot that holds a token, with what the token says about itself.
    pub fn tokens(&self) -> Result<Vec<TokenSummary>, HsmError> {
        let slots = self
            .ctx
            .get_slots_with_token()
            .map_err(|e| self.call_err("listing slots (C_GetSlotList)", e))?;
        let mut out = Vec::with_capacity(slots.len());
        for slot in slots {
            out.push(self.token(slot)?);
        }
        Ok(out)
    }

    /// Describes the token in `slot`.
    pub fn token(&self, slot: Slot) -> Result<TokenSummary, HsmError> {
        let si = self.ctx.get_slot_info(slot).map_err(|e| {
            self.call_err(&format!("reading slot {} (C_GetSlotInfo)", slot.id()), e)
        })?;
        let op = format!("reading token in slot {} (C_GetTokenInfo)", slot.id());
        match self.ctx.get_token_info(slot) {
            Ok(ti) => Ok(TokenSummary::from_info(slot.id(), &si, &ti)),
            Err(e @ cryptoki::error::Error::Pkcs11(..)) => Err(self.call_err(&op, e)),
            // The module answered but cryptoki could not decode a field (openCryptoki's
            // clock): read the answer field by field and name what is unreadable.
            Err(decode) => {
                let raw = rawinfo::raw_token_info(&self.path, slot.id()).map_err(|why| {
                    HsmError::Call {
                        operation: op.clone(),
                        target: format!("PKCS#11 module {}", self.path.display()),
                        rv: format!("{decode}; reading it field by field failed too: {why}"),
                    }
                })?;
                Ok(rawinfo::summary_from_raw(slot.id(), &si, &raw))
            }
        }
    }

    /// Finds the one token matching `selector`.
    pub fn find_token(&self, selector: &TokenSelector) -> Result<(Slot, TokenSummary), HsmError> {
        let slots = self
            .ctx
            .get_slots_with_token()
            .map_err(|e| self.call_err("listing slots (C_GetSlotList)", e))?;
        let mut labels = Vec::new();
        for slot in slots {
            let t = self.token(slot)?;
            let hit = match selector {
                TokenSelector::Label(l) => t.initialized && t.label == *l,
                TokenSelector::Serial(s) => t.initialized && t.serial == *s,
            };
            if hit {
                return Ok((slot, t));
            }
            if t.initialized {
                labels.push(format!("\"{}\" (serial {})", t.label, t.serial));
            }
        }
        Err(HsmError::TokenNotFound {
            path: self.path.clone(),
            selection: selector.to_string(),
            present: if labels.is_empty() {
                "none".into()
            } else {
                labels.join(", ")
            },
        })
    }
}
