//! No destructive action outside a quorum ceremony: re-initialising a token erases every key
//! on it, so a token holding keys the inventory knows as live is never re-initialised — not by
//! the `hsm-init` step of a ceremony, not by `keyrite hsm init --force`. Destroying keys is the
//! key-destruction ceremony's (K custodians approve; the destruction is journaled with proof).
//! One rule, called by both (`engine::hsm_actions`, `operations::admin::init_token`).

use crate::hsm::session::token_name;
use crate::hsm::TokenSummary;
use crate::inventory::{self, InventoryError, KeyRecord, KeyState};
use crate::store::Store;

/// Why a token may not be re-initialised.
#[derive(Debug, thiserror::Error)]
pub enum ReinitRefused {
    /// The inventory records live keys on the token.
    #[error(
        "refusing to re-initialise {token}: it holds keys the inventory knows as live: {keys}; \
         re-initialising would erase them, and keys are destroyed only by the key-destruction \
         ceremony (ceremony-scripts/key-destruction.toml: K custodians approve, the \
         destruction is journaled with proof)"
    )]
    LiveKeys {
        /// The token, as messages name it.
        token: String,
        /// The live keys: `"label" (key id ID, state)`, in key id order.
        keys: String,
    },
    /// The inventory could not be read: refused, since it cannot be shown that no key is live.
    #[error("refusing to re-initialise {token}: the inventory cannot be read ({source})")]
    Inventory {
        /// The token.
        token: String,
        /// The inventory's error.
        source: InventoryError,
    },
}

/// The keys the inventory records on the token with serial `serial` in a live state (every
/// state but destroyed: a compromised or deactivated key is still on the token, and only the
/// key-destruction ceremony records it destroyed).
pub fn live_keys_on(store: &Store, serial: &str) -> Result<Vec<KeyRecord>, InventoryError> {
    Ok(inventory::list(store)?
        .into_iter()
        .filter(|k| k.token_serial.trim() == serial.trim() && k.state != KeyState::Destroyed)
        .collect())
}

/// Refuses to re-initialise `token` while the inventory knows live keys on it. Called before
/// any PKCS#11 change.
pub fn refuse_reinit_over_live_keys(
    store: &Store,
    token: &TokenSummary,
) -> Result<(), ReinitRefused> {
    let name = token_name(token);
    let live = live_keys_on(store, &token.serial).map_err(|source| ReinitRefused::Inventory {
        token: name.clone(),
        source,
    })?;
    if live.is_empty() {
        return Ok(());
    }
    let keys = live
        .iter()
        .map(|k| format!("\"{}\" (key id {}, {})", k.label, k.key_id, k.state.name()))
        .collect::<Vec<_>>()
        .join(", ");
    Err(ReinitRefused::LiveKeys { token: name, keys })
}
