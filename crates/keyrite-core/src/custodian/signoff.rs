//! Step sign-offs: a custodian or witness signs the SHA-256 of a step's outcome with 9c.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::enrol::EnrolmentRecord;
use super::{CustodianError, PivSlot, PivToken};
use crate::secret::SecretBytes;
use crate::signer::{verify, SignatureAlgorithm};

/// A signed sign-off, for the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignOff {
    /// Who signed (enrolment `custodian_id`).
    pub signer_id: String,
    /// The YubiKey used.
    pub yubikey_serial: u32,
    /// SHA-256 of the outcome, hex.
    pub outcome_sha256: String,
    /// DER ECDSA P-256 signature over that digest, hex.
    #[serde(with = "hex::serde")]
    pub signature: Vec<u8>,
}

/// Why a sign-off was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignOffError {
    /// Signed by someone else's key.
    #[error("sign-off by {signed_by} checked against {enrolled}'s enrolment: they must match")]
    WrongSigner {
        /// The sign-off's signer.
        signed_by: String,
        /// The enrolment used.
        enrolled: String,
    },
    /// Not over this outcome.
    #[error(
        "sign-off by {signer} is over outcome {signed}, not over this step's outcome {actual}"
    )]
    OtherOutcome {
        /// Who.
        signer: String,
        /// The hash in the sign-off.
        signed: String,
        /// The actual outcome hash.
        actual: String,
    },
    /// The signature fails.
    #[error("sign-off by {signer}: the signature does not verify against the enrolled 9c key")]
    BadSignature {
        /// Who.
        signer: String,
    },
}

/// Signs `outcome` (its SHA-256) with the card's 9c key after verifying the PIN.
pub fn sign_off(
    token: &mut dyn PivToken,
    enrolled: &EnrolmentRecord,
    pin: &SecretBytes,
    outcome: &[u8],
) -> Result<SignOff, CustodianError> {
    let digest: [u8; 32] = Sha256::digest(outcome).into();
    token.verify_pin(pin.expose())?;
    let signature = match token.sign_digest(&digest) {
        // As in `unseal`: the PIN state was cleared by another PC/SC client in between; the
        // PIN the card just accepted is verified once more.
        Err(CustodianError::PinStateLost { .. }) => {
            token.verify_pin(pin.expose())?;
            token.sign_digest(&digest)?
        }
        r => r?,
    };
    if verify(
        SignatureAlgorithm::EcdsaP256Sha256,
        &enrolled.signature_spki,
        outcome,
        &signature,
    )
    .is_err()
    {
        return Err(CustodianError::SignatureDoesNotVerify {
            serial: token.serial(),
            slot: PivSlot::Signature,
        });
    }
    Ok(SignOff {
        signer_id: enrolled.custodian_id.clone(),
        yubikey_serial: token.serial(),
        outcome_sha256: hex::encode(digest),
        signature,
    })
}

/// Checks a sign-off against the signer's enrolment and the outcome.
pub fn verify_sign_off(
    sign_off: &SignOff,
    enrolled: &EnrolmentRecord,
    outcome: &[u8],
) -> Result<(), SignOffError> {
    if sign_off.signer_id != enrolled.custodian_id {
        return Err(SignOffError::WrongSigner {
            signed_by: sign_off.signer_id.clone(),
            enrolled: enrolled.custodian_id.clone(),
        });
    }
    let actual = hex::encode(Sha256::digest(outcome));
    if sign_off.outcome_sha256 != actual {
        return Err(SignOffError::OtherOutcome {
            signer: sign_off.signer_id.clone(),
            signed: sign_off.outcome_sha256.clone(),
            actual,
        });
    }
    verify(
        SignatureAlgorithm::EcdsaP256Sha256,
        &enrolled.signature_spki,
        outcome,
        &sign_off.signature,
    )
    .map_err(|_| SignOffError::BadSignature {
        signer: sign_off.signer_id.clone(),
    })
}
