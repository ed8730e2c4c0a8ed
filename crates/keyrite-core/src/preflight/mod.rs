//! Preflight checks before a ceremony touches the HSM: air gap and clock.
