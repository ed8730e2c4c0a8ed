//! Opening a share sealed to a custodian's 9d key: the card does the ECDH.

use super::{CustodianError, PivToken};
use crate::secret::SecretBytes;

/// Verifies the PIN, then computes ECDH between the card's 9d key and the sealed share's
/// ephemeral public key (65-byte uncompressed P-256 point). Returns the shared x-coordinate
/// for the shares module's `open_with_shared_secret`.
pub fn unseal_shared_secret(
    token: &mut dyn PivToken,
    pin: &SecretBytes,
    ephemeral_point: &[u8],
) -> Result<SecretBytes, CustodianError> {
    token.verify_pin(pin.expose())?;
    token.ecdh(ephemeral_point)
}
