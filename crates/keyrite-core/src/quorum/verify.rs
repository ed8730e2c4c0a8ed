//! The quorum check run immediately before the PKCS#11 call.

use std::collections::BTreeSet;

use super::{Approval, ApprovalRequest};
use crate::custodian::enrol::EnrolmentRecord;
use crate::signer::{verify, SignatureAlgorithm};
use crate::words::short_words;

/// Why a quorum was refused. Every refusal is journaled by the caller with this message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QuorumError {
    /// Policy: threshold outside 1..=N.
    #[error("quorum policy: threshold {threshold} is not between 1 and the {enrolled} enrolled custodians")]
    BadThreshold {
        /// K.
        threshold: usize,
        /// N.
        enrolled: usize,
    },
    /// Policy: two enrolments share an id, serial or key.
    #[error("quorum policy: custodian {id} is enrolled twice (same id, YubiKey serial or 9c key)")]
    DuplicateEnrolment {
        /// The repeated custodian.
        id: String,
    },
    /// Past the request's expiry.
    #[error("approval request {request} expired at {expires_at} (now {now}): make a new request")]
    Expired {
        /// Short hash words.
        request: String,
        /// Expiry.
        expires_at: u64,
        /// Now.
        now: u64,
    },
    /// The journal moved on since the request was made: replay or stale request.
    #[error("approval request {request} was made at journal head {requested_at}, but the journal head is now {current}: approvals cannot be replayed; make a new request")]
    OtherJournalHead {
        /// Short hash words.
        request: String,
        /// The request's head (words).
        requested_at: String,
        /// The current head (words).
        current: String,
    },
    /// Same custodian twice.
    #[error("custodian {custodian} approved more than once: each custodian counts once")]
    DuplicateCustodian {
        /// Who.
        custodian: String,
    },
    /// Not in the policy.
    #[error("approval by {custodian}, who is not an enrolled custodian of this quorum")]
    UnenrolledCustodian {
        /// The claimed id.
        custodian: String,
    },
    /// Approval is for a different request.
    #[error("approval by {custodian} is for request {approved}, not for this request {request}")]
    OtherRequest {
        /// Who.
        custodian: String,
        /// Words of the approved request's hash.
        approved: String,
        /// Words of this request's hash.
        request: String,
    },
    /// The signature does not verify with the enrolled key over this request.
    #[error("approval by {custodian}: the signature does not verify against their enrolled 9c key over request {request}")]
    BadSignature {
        /// Who.
        custodian: String,
        /// Words of this request's hash.
        request: String,
    },
    /// Fewer than K valid approvals.
    #[error("{got} of the {needed} required approvals for request {request}: the operation needs {needed} distinct enrolled custodians")]
    TooFewApprovals {
        /// Valid approvals.
        got: usize,
        /// K.
        needed: usize,
        /// Words of this request's hash.
        request: String,
    },
}

/// K of the enrolled custodians must approve.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuorumPolicy {
    threshold: usize,
    custodians: Vec<EnrolmentRecord>,
}

/// Proof that the quorum held: who approved, for the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedQuorum {
    /// SHA-256 of the approved request.
    pub request_sha256: [u8; 32],
    /// The custodians whose valid approvals were counted, in the order given.
    pub approvers: Vec<String>,
}

impl QuorumPolicy {
    /// A policy; refuses K outside 1..=N and custodians enrolled twice.
    pub fn new(threshold: usize, custodians: Vec<EnrolmentRecord>) -> Result<Self, QuorumError> {
        if threshold == 0 || threshold > custodians.len() {
            return Err(QuorumError::BadThreshold {
                threshold,
                enrolled: custodians.len(),
            });
        }
        let (mut ids, mut serials, mut keys) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
        for c in &custodians {
            if !ids.insert(&c.custodian_id)
                || !serials.insert(c.yubikey_serial)
                || !keys.insert(&c.signature_spki)
            {
                return Err(QuorumError::DuplicateEnrolment {
                    id: c.custodian_id.clone(),
                });
            }
        }
        Ok(Self {
            threshold,
            custodians,
        })
    }

    /// K.
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    /// The enrolled custodians.
    pub fn custodians(&self) -> &[EnrolmentRecord] {
        &self.custodians
    }

    /// Accepts only if the request is unexpired at `now_unix`, was made at `current_head`, and
    /// at least K distinct enrolled custodians signed exactly it. Any bad approval refuses the
    /// whole set (fail closed; the caller journals the reason).
    pub fn verify(
        &self,
        request: &ApprovalRequest,
        approvals: &[Approval],
        current_head: &[u8; 32],
        now_unix: u64,
    ) -> Result<VerifiedQuorum, QuorumError> {
        let hash = request.sha256();
        let words = short_words(&hash, 4);
        if now_unix >= request.expires_at {
            return Err(QuorumError::Expired {
                request: words,
                expires_at: request.expires_at,
                now: now_unix,
            });
        }
        if &request.journal_head != current_head {
            return Err(QuorumError::OtherJournalHead {
                request: words,
                requested_at: short_words(&request.journal_head, 4),
                current: short_words(current_head, 4),
            });
        }
        let bytes = request.canonical_bytes();
        let mut seen = BTreeSet::new();
        let mut approvers = Vec::new();
        for a in approvals {
            let enrolled = self
                .custodians
                .iter()
                .find(|c| c.custodian_id == a.custodian_id)
                .ok_or_else(|| QuorumError::UnenrolledCustodian {
                    custodian: a.custodian_id.clone(),
                })?;
            if !seen.insert(&a.custodian_id) {
                return Err(QuorumError::DuplicateCustodian {
                    custodian: a.custodian_id.clone(),
                });
            }
            if a.request_sha256 != hash {
                return Err(QuorumError::OtherRequest {
                    custodian: a.custodian_id.clone(),
                    approved: short_words(&a.request_sha256, 4),
                    request: words,
                });
            }
            verify(
                SignatureAlgorithm::EcdsaP256Sha256,
                &enrolled.signature_spki,
                &bytes,
                &a.signature,
            )
            .map_err(|_| QuorumError::BadSignature {
                custodian: a.custodian_id.clone(),
                request: words.clone(),
            })?;
            approvers.push(a.custodian_id.clone());
        }
        if approvers.len() < self.threshold {
            return Err(QuorumError::TooFewApprovals {
                got: approvers.len(),
                needed: self.threshold,
                request: words,
            });
        }
        Ok(VerifiedQuorum {
            request_sha256: hash,
            approvers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::custodian::enrol::{enrol, EnrolmentInput, Role};
    use crate::custodian::fake::FakePiv;
    use crate::quorum::{approve, KeyRef, Operation};
    use crate::secret::SecretBytes;

    fn enrolled(id: &str, serial: u32) -> (FakePiv, EnrolmentRecord) {
        let mut card = FakePiv::new(serial);
        let s = |t: &str| SecretBytes::from_slice(t.as_bytes());
        let (p0, p1, k0, k1) = (s("123456"), s("654321"), s("12345678"), s("87654321"));
        let e = enrol(
            &mut card,
            &EnrolmentInput {
                custodian_id: id,
                name: id,
                role: Role::Custodian,
                current_pin: &p0,
                new_pin: &p1,
                current_puk: &k0,
                new_puk: &k1,
                current_management_key: None,
                touch: false,
                attestation_trust: &crate::custodian::attestation::AttestationTrust::none(),
                require_attestation: false,
            },
        )
        .unwrap();
        (card, e.record)
    }

    #[test]
    fn policy_refuses_bad_threshold_and_double_enrolment() {
        let (_, a) = enrolled("a", 1);
        let (_, b) = enrolled("b", 2);
        assert_eq!(
            QuorumPolicy::new(3, vec![a.clone(), b])
                .unwrap_err()
                .to_string(),
            "quorum policy: threshold 3 is not between 1 and the 2 enrolled custodians"
        );
        assert_eq!(
            QuorumPolicy::new(1, vec![a.clone(), a])
                .unwrap_err()
                .to_string(),
            "quorum policy: custodian a is enrolled twice (same id, YubiKey serial or 9c key)"
        );
    }

    #[test]
    fn two_of_three_with_fake_cards() {
        let mut cards: Vec<_> = ["a", "b", "c"]
            .iter()
            .zip(1..)
            .map(|(i, s)| enrolled(i, s))
            .collect();
        let policy = QuorumPolicy::new(2, cards.iter().map(|c| c.1.clone()).collect()).unwrap();
        let key = KeyRef {
            label: "k".into(),
            cka_id: vec![1],
            fingerprint: vec![0; 32],
        };
        let req = ApprovalRequest::new(Operation::Rotate, key, "t", "c", 1, [9; 32], 100).unwrap();
        let pin = SecretBytes::from_slice(b"654321");
        let approvals: Vec<_> = cards
            .iter_mut()
            .take(2)
            .map(|(card, rec)| approve(card, rec, &pin, &req).unwrap())
            .collect();
        assert_eq!(
            policy
                .verify(&req, &approvals, &[9; 32], 99)
                .unwrap()
                .approvers,
            ["a", "b"]
        );
        assert!(matches!(
            policy.verify(&req, &approvals[..1], &[9; 32], 99),
            Err(QuorumError::TooFewApprovals {
                got: 1,
                needed: 2,
                ..
            })
        ));
    }
}
