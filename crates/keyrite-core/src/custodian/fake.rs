//! In-memory [`PivToken`] for unit tests of flow logic only (never a substitute for the
//! PC/SC integration tests).

use p256::ecdsa::{signature::hazmat::PrehashSigner, Signature, SigningKey};
use p256::pkcs8::EncodePublicKey;

use super::{CustodianError, PivSlot, PivToken, DEFAULT_PIN};
use crate::secret::SecretBytes;

/// A fake card with fixed serial and software keys.
pub(crate) struct FakePiv {
    pub serial: u32,
    pub pin: Vec<u8>,
    pub retries: u8,
    pub sig: Option<SigningKey>,
    pub km: Option<p256::SecretKey>,
}

impl FakePiv {
    pub fn new(serial: u32) -> Self {
        Self {
            serial,
            pin: DEFAULT_PIN.to_vec(),
            retries: 3,
            sig: None,
            km: None,
        }
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
    fn generate_p256(&mut self, slot: PivSlot, _touch: bool) -> Result<Vec<u8>, CustodianError> {
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
    fn attest(&mut self, _slot: PivSlot) -> Result<Option<Vec<u8>>, CustodianError> {
        Ok(None)
    }
}
