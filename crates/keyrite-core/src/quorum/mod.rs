//! K-of-N approvals: custodians sign the exact operation with their YubiKeys (9c), and the
//! operation runs only with K distinct enrolled custodians' valid signatures over that request,
//! made at the current journal head and before the request expires.
//!
//! The signed bytes are [`ApprovalRequest::canonical_bytes`] (`docs/formats/approval.md`).

mod approval;
mod request;
mod verify;

pub use approval::{approve, Approval};
pub use request::{ApprovalRequest, KeyRef, Operation, RequestError};
pub use verify::{QuorumError, QuorumPolicy, VerifiedQuorum};
