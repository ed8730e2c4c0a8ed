//! Shared test fixtures.
#![allow(
    dead_code,
    reason = "shared by several test binaries; each uses a part"
)]

pub mod piv;
