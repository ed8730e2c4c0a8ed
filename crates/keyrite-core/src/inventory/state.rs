//! NIST SP 800-57 Pt 1 Rev 5 §7 key states and the allowed transitions, as data.

use serde::{Deserialize, Serialize};

/// A key's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "kebab-case")]
pub enum KeyState {
    /// Generated, not yet usable (§7.1).
    PreActivation,
    /// In use (§7.2).
    Active,
    /// Temporarily out of use (§7.3).
    Suspended,
    /// Past its originator-usage period; may still process (§7.4).
    Deactivated,
    /// Suspected or known compromised (§7.5).
    Compromised,
    /// Destroyed; metadata kept (§7.6). Final.
    Destroyed,
}

impl KeyState {
    /// All states.
    pub const ALL: [KeyState; 6] = [
        KeyState::PreActivation,
        KeyState::Active,
        KeyState::Suspended,
        KeyState::Deactivated,
        KeyState::Compromised,
        KeyState::Destroyed,
    ];

    /// The kebab-case name (`pre-activation` …).
    pub fn name(self) -> &'static str {
        match self {
            KeyState::PreActivation => "pre-activation",
            KeyState::Active => "active",
            KeyState::Suspended => "suspended",
            KeyState::Deactivated => "deactivated",
            KeyState::Compromised => "compromised",
            KeyState::Destroyed => "destroyed",
        }
    }

    /// Parses the kebab-case name.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }

    /// The states this one may move to, in table order.
    pub fn successors(self) -> Vec<KeyState> {
        TRANSITIONS
            .iter()
            .filter(|t| t.from == self)
            .map(|t| t.to)
            .collect()
    }
}

impl std::fmt::Display for KeyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One allowed transition and where SP 800-57 states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// From.
    pub from: KeyState,
    /// To.
    pub to: KeyState,
    /// SP 800-57 Pt 1 Rev 5 reference.
    pub reference: &'static str,
}

const fn t(from: KeyState, to: KeyState, reference: &'static str) -> Transition {
    Transition {
        from,
        to,
        reference,
    }
}

use KeyState::*;

/// The transition table (SP 800-57 Pt 1 Rev 5 §7, transitions 2–15). Dropping `Deactivated`
/// (as the Rev 6 draft does) means deleting its rows here.
pub const TRANSITIONS: &[Transition] = &[
    t(PreActivation, Destroyed, "transition 2"),
    t(PreActivation, Compromised, "transition 3"),
    t(PreActivation, Active, "transition 4"),
    t(Active, Destroyed, "transition 5"),
    t(Active, Compromised, "transition 6"),
    t(Active, Suspended, "transition 7"),
    t(Active, Deactivated, "transition 8"),
    t(Suspended, Destroyed, "transition 9"),
    t(Suspended, Active, "transition 10"),
    t(Suspended, Compromised, "transition 11"),
    t(Suspended, Deactivated, "transition 12"),
    t(Deactivated, Compromised, "transition 13"),
    t(Deactivated, Destroyed, "transition 14"),
    t(Compromised, Destroyed, "transition 15"),
];

/// The table row for `from → to`, if allowed.
pub fn allowed(from: KeyState, to: KeyState) -> Option<&'static Transition> {
    TRANSITIONS.iter().find(|t| t.from == from && t.to == to)
}
