//! Custodians' YubiKeys: PIV slots 9c (signature) and 9d (key management).
//!
//! Everything a ceremony asks of a custodian's key goes through the small [`PivToken`] trait:
//! the real implementation, [`YubiKeyPiv`], drives the `yubikey` crate over PC/SC; an
//! in-memory fake exists only for unit tests of flow logic. On top of it sit enrolment
//! ([`enrol`], with [`attestation`] of the keys), step sign-offs ([`signoff`]) and unsealing shares ([`unseal`]).
//! Approvals of quorum operations live in [`crate::quorum`].

pub mod attestation;
pub mod enrol;
mod error;
#[cfg(test)]
pub(crate) mod fake;
pub mod signoff;
mod token;
pub mod unseal;
mod yubikey;

pub use error::CustodianError;
pub use token::{PivSlot, PivToken, DEFAULT_PIN, DEFAULT_PUK};
pub use yubikey::{list_cards, wait_for_card, CardInfo, YubiKeyPiv};
