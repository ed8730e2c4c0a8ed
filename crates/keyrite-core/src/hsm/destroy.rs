//! Destruction with proof: `C_DestroyObject` on every object of a key, then re-enumeration.

use super::keygen::{find_key, require_user};
use super::session::TokenSession;
use super::HsmError;
use cryptoki::object::{Attribute, AttributeType};
use serde::Serialize;

/// Proof that a key is gone, for the journal and the record.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DestructionProof {
    /// The token.
    pub token: String,
    /// The label destroyed.
    pub label: String,
    /// The `CKA_ID`s (hex) the destroyed objects carried.
    pub ids: Vec<String>,
    /// The classes destroyed, e.g. ["private key", "public key"].
    pub destroyed: Vec<String>,
    /// Objects visible in the session before.
    pub objects_before: usize,
    /// Objects visible in the session after (before − destroyed).
    pub objects_after: usize,
    /// Objects found afterwards with the label (always 0 in a proof).
    pub remaining_with_label: usize,
    /// Objects found afterwards with any of the ids (always 0 in a proof).
    pub remaining_with_id: usize,
}

/// Destroys every object labelled `label` (secret or private key first, then public key and
/// certificates), then enumerates the token again to prove none remains.
pub fn destroy_key(s: &TokenSession, label: &str) -> Result<DestructionProof, HsmError> {
    let op = format!("destroying key \"{label}\"");
    require_user(s, &op)?;
    let objs = find_key(s, label)?;
    if objs.is_empty() {
        return Err(HsmError::KeyNotFound {
            operation: op,
            token: s.name(),
            label: label.into(),
        });
    }
    let before = s.find(&op, &[])?.len();
    let mut list = Vec::new();
    if let Some(h) = objs.secret {
        list.push(("secret key", h));
    }
    if let Some(h) = objs.private {
        list.push(("private key", h));
    }
    if let Some(h) = objs.public {
        list.push(("public key", h));
    }
    for h in &objs.certificates {
        list.push(("certificate", *h));
    }
    let mut ids: Vec<Vec<u8>> = Vec::new();
    let mut destroyed = Vec::new();
    for (what, h) in list {
        let id = s
            .raw()
            .get_attributes(h, &[AttributeType::Id])
            .map_err(|e| s.err(&op, e))?
            .into_iter()
            .find_map(|a| match a {
                Attribute::Id(v) => Some(v),
                _ => None,
            });
        if let Some(id) = id {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        s.raw()
            .destroy_object(h)
            .map_err(|e| s.err(&format!("{op}: {what} (C_DestroyObject)"), e))?;
        destroyed.push(what.to_string());
    }
    let remaining_with_label = s
        .find(&op, &[Attribute::Label(label.as_bytes().to_vec())])?
        .len();
    let mut remaining_with_id = 0;
    for id in &ids {
        remaining_with_id += s.find(&op, &[Attribute::Id(id.clone())])?.len();
    }
    let after = s.find(&op, &[])?.len();
    if remaining_with_label != 0 || remaining_with_id != 0 || after + destroyed.len() != before {
        return Err(HsmError::Malformed {
            operation: op,
            token: s.name(),
            problem: format!(
                "after C_DestroyObject the token still shows {remaining_with_label} objects \
                 with the label and {remaining_with_id} with its id ({before} objects before, \
                 {after} after); treat the key as NOT destroyed"
            ),
        });
    }
    Ok(DestructionProof {
        token: s.name(),
        label: label.into(),
        ids: ids.iter().map(hex::encode).collect(),
        destroyed,
        objects_before: before,
        objects_after: after,
        remaining_with_label,
        remaining_with_id,
    })
}
