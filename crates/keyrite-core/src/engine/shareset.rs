//! The share set a ceremony made or handed out, as the journal records it.

use std::collections::{BTreeMap, BTreeSet};

/// The recorded share set of this ceremony.
#[derive(Debug, Default, Clone)]
pub(super) struct SetRecord {
    pub(super) set_id: String,
    #[allow(dead_code, reason = "kept for the record and the quorum integration")]
    pub(super) threshold: u8,
    pub(super) count: u8,
    pub(super) fingerprints: Vec<String>,
    pub(super) protects: String,
    /// index → sealed file (if sealed).
    pub(super) distributed: BTreeMap<u8, Option<String>>,
    pub(super) verified: BTreeSet<u8>,
    pub(super) void: bool,
    /// index → enrolled custodian id, for shares sealed to YubiKeys (a root KEK rotation).
    pub(super) holders: BTreeMap<u8, String>,
    /// Made by a quorum operation (root KEK rotation, custodian replacement) that has already
    /// rewrapped the backups under the KEK it protects: that KEK is never voided on resume.
    pub(super) by_quorum_operation: bool,
}

impl SetRecord {
    /// The first share not handed out yet.
    pub(super) fn next_undistributed(&self) -> Option<u8> {
        (1..=self.count).find(|i| !self.distributed.contains_key(i))
    }

    /// The shares never handed out.
    pub(super) fn undistributed(&self) -> Vec<u8> {
        (1..=self.count)
            .filter(|i| !self.distributed.contains_key(i))
            .collect()
    }

    /// The first share not verified yet.
    pub(super) fn next_unverified(&self) -> Option<u8> {
        (1..=self.count).find(|i| !self.verified.contains(i))
    }
}
