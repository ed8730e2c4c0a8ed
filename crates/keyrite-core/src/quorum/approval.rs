//! One custodian's approval: their 9c signature over the canonical request.

use serde::{Deserialize, Serialize};

use super::ApprovalRequest;
use crate::custodian::enrol::EnrolmentRecord;
use crate::custodian::{CustodianError, PivSlot, PivToken};
use crate::secret::SecretBytes;
use crate::signer::{verify, SignatureAlgorithm};

/// A custodian's signature over a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// The enrolled custodian's id.
    pub custodian_id: String,
    /// SHA-256 of the canonical request this approves (lets a refusal say which request).
    #[serde(with = "hex::serde")]
    pub request_sha256: [u8; 32],
    /// DER ECDSA P-256 signature over SHA-256 of the canonical request bytes.
    #[serde(with = "hex::serde")]
    pub signature: Vec<u8>,
}

/// The custodian approves `request` with their card: PIN, then 9c signs SHA-256 of the
/// canonical bytes. The signature is checked against the enrolled key before it is returned,
/// so a card holding another key is caught at the custodian's desk.
pub fn approve(
    token: &mut dyn PivToken,
    enrolled: &EnrolmentRecord,
    pin: &SecretBytes,
    request: &ApprovalRequest,
) -> Result<Approval, CustodianError> {
    if token.serial() != enrolled.yubikey_serial {
        return Err(CustodianError::WrongSerial {
            expected: enrolled.yubikey_serial,
            found: vec![token.serial()],
        });
    }
    let bytes = request.canonical_bytes();
    token.verify_pin(pin.expose())?;
    let signature = token.sign_digest(&request.sha256())?;
    verify(
        SignatureAlgorithm::EcdsaP256Sha256,
        &enrolled.signature_spki,
        &bytes,
        &signature,
    )
    .map_err(|_| CustodianError::SignatureDoesNotVerify {
        serial: token.serial(),
        slot: PivSlot::Signature,
    })?;
    Ok(Approval {
        custodian_id: enrolled.custodian_id.clone(),
        request_sha256: request.sha256(),
        signature,
    })
}
