//! Keyrite's domain library.
//!
//! Everything that matters in a key ceremony lives here: the HSM over PKCS#11, Shamir shares,
//! the tamper-evident journal, the key inventory, ceremony scripts and the engine that runs
//! them, and signed records. The desktop app (`src-tauri`) and the `keyrite` command are thin
//! faces over this crate. The crate never prints and never reads the terminal: it returns
//! typed results and errors, and logs through `tracing` (never a secret).

#![forbid(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

/// Whether this build exposes the token-changing HSM primitives (feature `testkit`, for
/// Keyrite's own tests). The shipped binaries refuse to build in release when it is set.
pub const TESTKIT: bool = cfg!(feature = "testkit");

pub mod clock;
pub mod custodian;
pub mod engine;
pub mod environment;
pub mod hardening;
pub mod hsm;
pub mod inventory;
pub mod journal;
pub mod names;
pub mod operations;
pub mod paths;
pub mod pdf;
pub mod preflight;
pub mod printing;
pub mod profile;
pub mod quorum;
pub mod record;
pub mod script;
pub mod secret;
pub mod shares;
pub mod signer;
pub mod store;
pub mod timing;
pub mod view;
pub mod words;
pub mod x509;
