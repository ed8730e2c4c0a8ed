//! Quorum-gated core operations: destroy a key, rotate a key, rotate the root KEK, recover the
//! root KEK from sealed shares. See `docs/operations.md`.
//!
//! Every gated operation follows one order, so that the HSM, the journal and the inventory
//! agree on every path:
//!
//! 1. checks that need no HSM change (inventory state, retention guard, that the request names
//!    exactly this operation, key and token) — a failed check is a journaled refusal;
//! 2. [`QuorumPolicy::verify`] against the request, the *current* journal head and the current
//!    time, immediately before the PKCS#11 call that changes the token — a refusal is journaled;
//! 3. the request and each counted approval are journaled in one transaction; if that cannot be
//!    committed the PKCS#11 call is not made (fail closed);
//! 4. the PKCS#11 call; a failure is journaled and what was created is removed again;
//! 5. the outcome (inventory change and evidence) is journaled.
//!
//! Because step 3 moves the journal head, the same approvals can never be used twice.

pub mod admin;
mod backup_policy;
mod destroy;
mod error;
mod gate;
pub mod kek_in_force;
mod recover;
mod reinit;
mod root_kek;
mod rotate;

pub use backup_policy::{choose_backup_policy, BackupPolicyError, KeyOnToken};
pub use destroy::{destroy_key, Destruction};
pub use error::OperationError;
pub use gate::{kek_fingerprint, key_ref, new_request, Quorum};
pub use recover::{open_sealed_share, recover_root_kek, restore_backup, Recovery};
pub use reinit::{live_keys_on, refuse_reinit_over_live_keys, ReinitRefused};
pub use root_kek::{
    replace_root_kek, rotate_root_kek, LiveBackup, NewKek, RootKekRotation, SealedShare,
};
pub use rotate::{rotate_key, KeyRotation, Replacement};

use crate::hsm::policy::PolicySet;
use crate::hsm::quirks::Quirks;
use crate::hsm::{Pkcs11Module, TokenSelector};
use crate::secret::SecretText;

/// How an operation reaches the token: module, token, PINs, policies and quirks.
pub struct HsmAccess<'a> {
    /// The loaded PKCS#11 module.
    pub module: &'a Pkcs11Module,
    /// Which token.
    pub token: TokenSelector,
    /// The user PIN (key use, backup, destruction).
    pub user_pin: &'a SecretText,
    /// The SO PIN: needed only to import a root KEK (only the SO may set `CKA_TRUSTED`).
    pub so_pin: Option<&'a SecretText>,
    /// Key policies.
    pub policies: &'a PolicySet,
    /// Vendor quirks.
    pub quirks: &'a Quirks,
    /// Whether weaker key protection than Keyrite requires is accepted (rehearsal, or a
    /// production profile with `accept_weaker_key_protection`).
    pub protection: crate::hsm::protection::ProtectionRule,
}

/// Seconds since the Unix epoch: the time approvals are checked against.
pub(crate) fn now_unix() -> u64 {
    crate::clock::unix_seconds()
}

/// The `key_generated` entry for a key just generated on the token `token_serial`: its label
/// is also its key id. One spelling for the engine's generate step and `keyrite hsm generate`.
pub(crate) fn key_generated_event(
    label: &str,
    token_serial: &str,
    ev: &crate::hsm::keygen::KeyEvidence,
) -> crate::journal::Event {
    crate::journal::Event::KeyGenerated {
        key_id: label.into(),
        label: label.into(),
        cka_id: ev.id.clone(),
        token_serial: token_serial.into(),
        algorithm: ev.key.name().into(),
        public_fingerprint: ev.spki_sha256.clone(),
        evidence: serde_json::to_value(ev).unwrap_or_default(),
    }
}
