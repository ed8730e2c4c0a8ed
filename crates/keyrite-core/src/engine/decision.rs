//! An exception's decision, one spelling for the journal, answers files and both faces.

use serde::Serialize;

/// An exception's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// Run the step's action again.
    Retry,
    /// Skip the step (a witness must be among those deciding).
    Skip,
    /// Abort the ceremony.
    Abort,
}

impl Decision {
    /// The name used in the journal and answers files.
    pub fn name(self) -> &'static str {
        match self {
            Decision::Retry => "retry",
            Decision::Skip => "skip",
            Decision::Abort => "abort",
        }
    }

    /// The decision named `name` (`retry`, `skip`, `abort`), as answers files and both faces
    /// spell it.
    pub fn from_name(name: &str) -> Option<Self> {
        [Decision::Retry, Decision::Skip, Decision::Abort]
            .into_iter()
            .find(|d| d.name() == name)
    }
}
