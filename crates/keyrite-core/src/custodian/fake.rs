//! In-memory [`PivToken`] for unit tests of flow logic only (never a substitute for the
//! PC/SC integration tests).

use p256::ecdsa::{signature::hazmat::PrehashSigner, Signature, SigningKey};
use p256::pkcs8::EncodePublicKey;

use super::attestation::test_ca::TestF9;
use super::{CustodianError, PivSlot, PivToken, DEFAULT_PIN};
use crate::secret::SecretBytes;

/// How the fake card attests (absent: it cannot, like a card without slot f9).
pub(crate) struct FakeAttestation {
    /// The card's f9 key and certificate.
    pub f9: TestF9,
    /// Attest this serial instead of the card's.
    pub serial: Option<u32>,
    /// Attest a freshly made key instead of the slot's.
    pub foreign_key: bool,
}

/// A fake card with fixed serial and software keys.
pub(crate) struct FakePiv {
    pub serial: u32,
    pub pin: Vec<u8>,
    pub retries: u8,
    pub sig: Option<SigningKey>,
    pub km: Option<p256::SecretKey>,
    pub attestation: Option<FakeAttestation>,
    /// How many of the next PIN-protected operations find the PIN state cleared (another
    /// PC/SC client selected the card after VERIFY).
    pub pin_state_losses: u8,
    /// PINs verified successfully so far.
    pub verified: u32,
    /// Per slot (9c, 9d): SPKI, PIN-policy byte and touch-policy byte of the generated key.
    generated: [Option<(Vec<u8>, u8, u8)>; 2],
}

impl FakePiv {
    pub fn new(serial: u32) -> Self {
        Self {
            serial,
            pin: DEFAULT_PIN.to_vec(),
            retries: 3,
            sig: None,
            km: None,
            attestation: None,
            pin_state_losses: 0,
            verified: 0,
            generated: [None, None],
        }
    }

    /// A fake card that attests its keys with `f9`.
    pub fn attesting(serial: u32, f9: TestF9) -> Self {
        let mut card = Self::new(serial);
        card.attestation = Some(FakeAttestation {
            f9,
            serial: None,
            foreign_key: false,
        });
        card
    }
}

impl FakePiv {
    fn lose_pin_state(&mut self, operation: &'static str) -> Result<(), CustodianError> {
        if self.pin_state_losses == 0 {
            return Ok(());
        }
        self.pin_state_losses -= 1;
        Err(CustodianError::PinStateLost {
            serial: self.serial,
            operation,
        })
    }
}

fn slot_index(slot: PivSlot) -> usize {
    match slot {
        PivSlot::Signature => 0,
        PivSlot::KeyManagement => 1,
    }
}

impl PivToken for FakePiv {
    fn serial(&self) -> u32 {
        self.serial
    }
    fn pin_retries(&mut self) -> Result<u8, CustodianError> {
        Ok(self.retries)
    }
    fn verify_pin(&mut self, pin: &[u8]) -> Result<(), CustodianError> {
        if self.retries == 0 {
            return Err(CustodianError::PinBlocked {
                serial: self.serial,
            });
        }
        if pin == self.pin {
            self.retries = 3;
            self.verified += 1;
            Ok(())
        } else {
            self.retries -= 1;
            Err(CustodianError::WrongPin {
                serial: self.serial,
                retries_left: self.retries,
            })
        }
    }
    fn sign_digest(&mut self, digest: &[u8]) -> Result<Vec<u8>, CustodianError> {
        self.lose_pin_state("signing")?;
        let key = self.sig.as_ref().ok_or(CustodianError::EmptySlot {
            serial: self.serial,
            slot: PivSlot::Signature,
        })?;
        let sig: Signature = key.sign_prehash(digest).map_err(|e| CustodianError::Card {
            serial: self.serial,
            operation: "signing",
            detail: e.to_string(),
        })?;
        Ok(sig.to_der().as_bytes().to_vec())
    }
    fn ecdh(&mut self, peer_point: &[u8]) -> Result<SecretBytes, CustodianError> {
        self.lose_pin_state("key agreement")?;
        let key = self.km.as_ref().ok_or(CustodianError::EmptySlot {
            serial: self.serial,
            slot: PivSlot::KeyManagement,
        })?;
        let peer = p256::PublicKey::from_sec1_bytes(peer_point).map_err(|_| {
            CustodianError::BadPeerPoint {
                len: peer_point.len(),
            }
        })?;
        let shared = p256::ecdh::diffie_hellman(key.to_nonzero_scalar(), peer.as_affine());
        Ok(SecretBytes::from_slice(shared.raw_secret_bytes()))
    }
    fn read_cert(&mut self, _slot: PivSlot) -> Result<Option<Vec<u8>>, CustodianError> {
        Ok(None)
    }
    fn authenticate_mgm(&mut self, _key: Option<&[u8]>) -> Result<(), CustodianError> {
        Ok(())
    }
    fn generate_p256(&mut self, slot: PivSlot, touch: bool) -> Result<Vec<u8>, CustodianError> {
        let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let spki = secret
            .public_key()
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .map_err(|e| CustodianError::Card {
                serial: self.serial,
                operation: "key generation",
                detail: e.to_string(),
            })?;
        // The policies YubiKeyPiv::generate_p256 asks for, in Yubico's encoding.
        let pin = match slot {
            PivSlot::Signature => 3,
            PivSlot::KeyManagement => 2,
        };
        self.generated[slot_index(slot)] = Some((spki.clone(), pin, if touch { 2 } else { 1 }));
        match slot {
            PivSlot::Signature => self.sig = Some(SigningKey::from(&secret)),
            PivSlot::KeyManagement => self.km = Some(secret),
        }
        Ok(spki)
    }
    fn change_pin(&mut self, current: &[u8], new: &[u8]) -> Result<(), CustodianError> {
        self.verify_pin(current)?;
        self.pin = new.to_vec();
        Ok(())
    }
    fn change_puk(&mut self, _current: &[u8], _new: &[u8]) -> Result<(), CustodianError> {
        Ok(())
    }
    fn set_mgm_key(&mut self, _new: &[u8]) -> Result<(), CustodianError> {
        Ok(())
    }
    fn attest(&mut self, slot: PivSlot) -> Result<Option<Vec<u8>>, CustodianError> {
        let Some(att) = &self.attestation else {
            return Ok(None);
        };
        let (spki, pin, touch) =
            self.generated[slot_index(slot)]
                .clone()
                .ok_or(CustodianError::EmptySlot {
                    serial: self.serial,
                    slot,
                })?;
        let spki = if att.foreign_key {
            p256::SecretKey::random(&mut rand::rngs::OsRng)
                .public_key()
                .to_public_key_der()
                .map(|d| d.as_bytes().to_vec())
                .unwrap_or(spki)
        } else {
            spki
        };
        let serial = att.serial.unwrap_or(self.serial);
        Ok(Some(att.f9.attest(
            &slot.to_string(),
            &spki,
            serial,
            pin,
            touch,
        )))
    }
    fn read_attestation_intermediate(&mut self) -> Result<Option<Vec<u8>>, CustodianError> {
        Ok(self.attestation.as_ref().map(|a| a.f9.cert.clone()))
    }
}
