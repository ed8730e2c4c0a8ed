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
    match token.ecdh(ephemeral_point) {
        // Another PC/SC client selected the card between VERIFY and the key agreement (the
        // applet then forgets the PIN, as a real card does): the same PIN, just accepted, is
        // verified once more — it cannot cost a try.
        Err(CustodianError::PinStateLost { .. }) => {
            token.verify_pin(pin.expose())?;
            token.ecdh(ephemeral_point)
        }
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::custodian::fake::FakePiv;
    use crate::custodian::DEFAULT_PIN;

    fn card_and_point() -> (FakePiv, Vec<u8>) {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let mut card = FakePiv::new(7002);
        card.km = Some(p256::SecretKey::random(&mut rand::rngs::OsRng));
        let peer = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let point = peer
            .public_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec();
        (card, point)
    }

    #[test]
    fn a_pin_state_cleared_between_verify_and_key_agreement_is_verified_again_once() {
        let (mut card, point) = card_and_point();
        let pin = SecretBytes::from_slice(DEFAULT_PIN);
        let expected = unseal_shared_secret(&mut card, &pin, &point).expect("unsealed");
        assert_eq!(card.verified, 1);

        card.pin_state_losses = 1;
        let again = unseal_shared_secret(&mut card, &pin, &point).expect("unsealed after a retry");
        assert_eq!(again.expose(), expected.expose());
        assert_eq!(card.verified, 3, "verified once more, no try spent");
        assert_eq!(card.retries, 3);

        // Lost twice in a row: the error says what happened, nothing is retried further.
        card.pin_state_losses = 2;
        let e = unseal_shared_secret(&mut card, &pin, &point).expect_err("refused");
        assert_eq!(
            e.to_string(),
            "YubiKey 7002: key agreement refused: the card no longer counted the PIN as \
             verified (another program used the card in between); try again"
        );
        assert_eq!(card.retries, 3);
    }
}
