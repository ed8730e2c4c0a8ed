//! Preflight checks before a ceremony touches the HSM: the air gap and the clock.
//!
//! The air-gap check reads the kernel's view of the machine under a configurable root
//! directory (default `/`), so tests build fake `/sys` and `/proc` trees. Every check says
//! pass or fail and why; the report is serialisable so the engine journals it and the record
//! prints it. Production refuses to start on a failed air-gap check
//! ([`AirGapReport::require_clean`]); rehearsal records the failure and continues.

mod airgap;
mod clock;

pub use airgap::{AirGapCheck, AirGapReport, CheckKind, CheckResult};
pub use clock::{ClockCheckResult, ClockConfirmation, ClockReading};

/// Why a preflight refuses to let a ceremony start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreflightError {
    /// The air-gap check found something connected (production only).
    #[error("production refuses to start: air-gap check failed: {}; remove the cause and run the ceremony again", .findings.join("; "))]
    AirGapFailed {
        /// Every finding, e.g. "interface eth0 is up".
        findings: Vec<String>,
    },
}
