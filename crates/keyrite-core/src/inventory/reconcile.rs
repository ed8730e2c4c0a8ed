//! Reconciliation of the inventory against the objects an HSM reports. Differences are
//! reported, never fixed: deciding is a human's job (and a journal event).

use super::{list, InventoryError, KeyState};
use crate::store::Store;
use serde::{Deserialize, Serialize};

/// One key object as listed from a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HsmObject {
    /// Token serial.
    pub token_serial: String,
    /// CKA_LABEL.
    pub label: String,
    /// CKA_ID (hex).
    pub cka_id: String,
}

/// The result of a reconciliation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reconciliation {
    /// Keys in the inventory and on the token.
    pub matched: Vec<String>,
    /// Keys the inventory expects on a token (not destroyed) that the token lacks.
    pub missing: Vec<String>,
    /// Objects on the token that the inventory does not know.
    pub orphans: Vec<HsmObject>,
    /// Keys recorded as destroyed that are still on the token.
    pub destroyed_but_present: Vec<String>,
    /// Keys found by CKA_ID whose label differs: (key id, inventory label, token label).
    pub label_mismatch: Vec<(String, String, String)>,
}

impl Reconciliation {
    /// True when inventory and token agree.
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty()
            && self.orphans.is_empty()
            && self.destroyed_but_present.is_empty()
            && self.label_mismatch.is_empty()
    }
}

/// Compares the inventory with `objects`. Keys are matched on (token serial, CKA_ID, case-insensitive hex).
pub fn reconcile(store: &Store, objects: &[HsmObject]) -> Result<Reconciliation, InventoryError> {
    let keys = list(store)?;
    let norm = |s: &str| s.trim().to_ascii_lowercase();
    let mut out = Reconciliation::default();
    let mut used = vec![false; objects.len()];
    for k in &keys {
        let found = objects
            .iter()
            .position(|o| o.token_serial == k.token_serial && norm(&o.cka_id) == norm(&k.cka_id));
        match (found, k.state) {
            (Some(i), KeyState::Destroyed) => {
                used[i] = true;
                out.destroyed_but_present.push(k.key_id.clone());
            }
            (Some(i), _) => {
                used[i] = true;
                if objects[i].label != k.label {
                    out.label_mismatch.push((
                        k.key_id.clone(),
                        k.label.clone(),
                        objects[i].label.clone(),
                    ));
                }
                out.matched.push(k.key_id.clone());
            }
            (None, KeyState::Destroyed) => {}
            (None, _) => out.missing.push(k.key_id.clone()),
        }
    }
    out.orphans = objects
        .iter()
        .zip(used)
        .filter(|(_, u)| !u)
        .map(|(o, _)| o.clone())
        .collect();
    Ok(out)
}
