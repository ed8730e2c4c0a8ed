//! The PIV operations Keyrite needs, behind one small trait.

use crate::secret::SecretBytes;

use super::CustodianError;

/// Factory-default PIV PIN of a YubiKey.
pub const DEFAULT_PIN: &[u8] = b"123456";
/// Factory-default PIV PUK of a YubiKey.
pub const DEFAULT_PUK: &[u8] = b"12345678";

/// The two PIV slots a custodian's key uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PivSlot {
    /// 9c, Digital Signature: approvals and sign-offs (PIN always).
    #[serde(rename = "9c")]
    Signature,
    /// 9d, Key Management: ECDH to open sealed shares (PIN once).
    #[serde(rename = "9d")]
    KeyManagement,
}

impl std::fmt::Display for PivSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PivSlot::Signature => "9c",
            PivSlot::KeyManagement => "9d",
        })
    }
}

/// A PIV card holding a custodian's keys. P-256 only.
///
/// Implementations return [`CustodianError`] with the card's serial in every message.
pub trait PivToken {
    /// The card's serial number.
    fn serial(&self) -> u32;
    /// How many PIN tries are left (reading it does not use one).
    fn pin_retries(&mut self) -> Result<u8, CustodianError>;
    /// Verifies the PIN; a wrong PIN reports the tries left.
    fn verify_pin(&mut self, pin: &[u8]) -> Result<(), CustodianError>;
    /// Signs a 32-byte SHA-256 digest with the 9c key; returns a DER ECDSA signature.
    /// Call [`PivToken::verify_pin`] right before: 9c is PIN-always.
    fn sign_digest(&mut self, digest: &[u8]) -> Result<Vec<u8>, CustodianError>;
    /// ECDH between the 9d key and a 65-byte uncompressed P-256 point; returns the shared
    /// x-coordinate.
    fn ecdh(&mut self, peer_point: &[u8]) -> Result<SecretBytes, CustodianError>;
    /// The DER certificate stored for a slot, if any.
    fn read_cert(&mut self, slot: PivSlot) -> Result<Option<Vec<u8>>, CustodianError>;
    /// Authenticates with the management key (24-byte 3DES); `None` tries the factory default.
    fn authenticate_mgm(&mut self, key: Option<&[u8]>) -> Result<(), CustodianError>;
    /// Generates a P-256 key in `slot` (needs management-key authentication) and returns its
    /// DER SubjectPublicKeyInfo. 9c gets PIN-always, 9d PIN-once; `touch` requires a touch
    /// for each use on keys that support it.
    fn generate_p256(&mut self, slot: PivSlot, touch: bool) -> Result<Vec<u8>, CustodianError>;
    /// Changes the PIN.
    fn change_pin(&mut self, current: &[u8], new: &[u8]) -> Result<(), CustodianError>;
    /// Changes the PUK.
    fn change_puk(&mut self, current: &[u8], new: &[u8]) -> Result<(), CustodianError>;
    /// Sets a new management key (needs management-key authentication).
    fn set_mgm_key(&mut self, new: &[u8]) -> Result<(), CustodianError>;
    /// The attestation certificate for a slot's key, or `None` when the card cannot attest.
    fn attest(&mut self, slot: PivSlot) -> Result<Option<Vec<u8>>, CustodianError>;
    /// The card's own attestation certificate (PIV slot f9, object 5FFF01) as DER, or `None`
    /// when the card has none (it cannot attest). Needs no PIN.
    fn read_attestation_intermediate(&mut self) -> Result<Option<Vec<u8>>, CustodianError>;
}

/// Checks a PIN's length before it reaches a card (and a retry counter).
pub(crate) fn check_pin(pin: &[u8]) -> Result<(), CustodianError> {
    if (6..=8).contains(&pin.len()) {
        Ok(())
    } else {
        Err(CustodianError::BadPinLength { len: pin.len() })
    }
}
