//! The people of a ceremony: roles, how many of each, and sign-offs.

use super::ids::Threshold;
use serde::Serialize;
use std::fmt;

/// A role in the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, ts_rs::TS)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The ceremony administrator (security officer): runs the script.
    Administrator,
    /// Watches, signs off steps and exceptions, confirms the clock.
    Witness,
    /// Holds a share; approves quorum operations with their YubiKey.
    Custodian,
    /// Observes for the audit; signs off where the script asks.
    Auditor,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [
        Role::Administrator,
        Role::Witness,
        Role::Custodian,
        Role::Auditor,
    ];

    /// The name used in scripts.
    pub fn name(self) -> &'static str {
        match self {
            Role::Administrator => "administrator",
            Role::Witness => "witness",
            Role::Custodian => "custodian",
            Role::Auditor => "auditor",
        }
    }

    /// The role named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Who must be present, and how many.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Roles {
    /// Ceremony administrators (at least 1).
    pub administrators: u8,
    /// Witnesses.
    pub witnesses: u8,
    /// Auditors.
    pub auditors: u8,
    /// Custodians and the threshold K of N; `None` when the ceremony involves no shares.
    pub custodians: Option<Threshold>,
    /// Pairs of roles one person may hold together (`[roles] combine`); otherwise each person
    /// in the room holds one role.
    pub combinations: Vec<[Role; 2]>,
}

impl Roles {
    /// How many people of `role` the script declares (custodians: N).
    pub fn count(&self, role: Role) -> u8 {
        match role {
            Role::Administrator => self.administrators,
            Role::Witness => self.witnesses,
            Role::Auditor => self.auditors,
            Role::Custodian => self.custodians.map(|t| t.n()).unwrap_or(0),
        }
    }

    /// Whether the script lets one person hold roles `a` and `b` together (never the same
    /// role twice).
    pub fn may_combine(&self, a: Role, b: Role) -> bool {
        a != b
            && self
                .combinations
                .iter()
                .any(|c| (c[0] == a && c[1] == b) || (c[0] == b && c[1] == a))
    }
}

/// How many people of a role must sign a step off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignOffCount {
    /// A fixed number (written as an integer).
    Exactly(u8),
    /// Everyone of that role the script declares (written `"all"`).
    All,
    /// K custodians (written `"threshold"`; custodians only).
    Threshold,
}

/// A step needs people of `role` to sign it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SignOff {
    /// Who.
    pub role: Role,
    /// How many distinct people of that role.
    pub count: SignOffCount,
}

impl SignOff {
    /// How many distinct people must sign, given the declared roles.
    pub fn needed(&self, roles: &Roles) -> u8 {
        match self.count {
            SignOffCount::Exactly(n) => n,
            SignOffCount::All => roles.count(self.role),
            SignOffCount::Threshold => roles.custodians.map(|t| t.k()).unwrap_or(0),
        }
    }
}
