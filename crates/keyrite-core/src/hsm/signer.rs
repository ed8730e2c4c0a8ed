//! [`HsmSigner`]: the record-signing key (EC P-384) on the token behind [`crate::signer::Signer`].
//!
//! SoftHSM2 (and other modules, see the vendor quirks) lacks `CKM_ECDSA_SHA384`, so the digest
//! is computed on the host and signed with `CKM_ECDSA`; the token returns raw r‖s, converted
//! here to DER as X.509 and CMS expect.

use super::keygen::{find_key, public_spki};
use super::policy::KeySpec;
use super::quirks::{require_mechanism, Quirks};
use super::session::TokenSession;
use super::HsmError;
use crate::signer::{SignatureAlgorithm, Signer, SignerError};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::ObjectHandle;

/// Signs with an EC P-384 private key held by a logged-in token session.
#[derive(Debug)]
pub struct HsmSigner {
    session: TokenSession,
    key: ObjectHandle,
    spki: Vec<u8>,
    label: String,
}

impl HsmSigner {
    /// The logged-in session the key is used through (e.g. to read its certificate).
    pub fn session(&self) -> &TokenSession {
        &self.session
    }

    /// Uses the P-384 key pair labelled `label` in `session` (logged in as user).
    pub fn open(session: TokenSession, label: &str, quirks: &Quirks) -> Result<Self, HsmError> {
        let op = format!("opening signing key \"{label}\"");
        require_mechanism(
            session.raw_ctx(),
            session.slot(),
            session.token(),
            quirks.for_token(session.token()),
            &op,
            MechanismType::ECDSA,
        )?;
        let objs = find_key(&session, label)?;
        let (key, public) = match (objs.private, objs.public) {
            (Some(k), Some(p)) => (k, p),
            _ => {
                return Err(HsmError::KeyNotFound {
                    operation: op,
                    token: session.name(),
                    label: label.into(),
                })
            }
        };
        let spki = public_spki(&session, KeySpec::EcP384, public)?;
        Ok(Self {
            session,
            key,
            spki,
            label: label.into(),
        })
    }
}

impl Signer for HsmSigner {
    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::EcdsaP384Sha384
    }

    fn public_key_spki(&self) -> Result<Vec<u8>, SignerError> {
        Ok(self.spki.clone())
    }

    fn sign_digest(&self, digest: &[u8]) -> Result<Vec<u8>, SignerError> {
        if digest.len() != 48 {
            return Err(SignerError::Device(format!(
                "key \"{}\" signs SHA-384 digests (48 bytes), got {} bytes",
                self.label,
                digest.len()
            )));
        }
        let raw = self
            .session
            .raw()
            .sign(&Mechanism::Ecdsa, self.key, digest)
            .map_err(|e| {
                SignerError::Device(
                    self.session
                        .err(&format!("signing with \"{}\" (C_Sign)", self.label), e)
                        .to_string(),
                )
            })?;
        let sig = p384::ecdsa::Signature::from_slice(&raw).map_err(|_| {
            SignerError::Device(format!(
                "{} returned a {}-byte signature, not P-384 r‖s",
                self.session.name(),
                raw.len()
            ))
        })?;
        Ok(sig.to_der().as_bytes().to_vec())
    }
}
