//! Signing keys behind one interface: the HSM's record-signing key in ceremonies, a software
//! key in unit tests.
//!
//! Journal checkpoints and PDF records are signed through [`Signer`]; the HSM implementation
//! (CKM_ECDSA over a digest computed on the host, since SoftHSM2 lacks the combined
//! mechanisms) lives in `hsm`. Signatures are ECDSA, DER-encoded (as X.509 and CMS expect).

use sha2::{Digest, Sha256, Sha384};

/// Signature algorithms Keyrite produces and verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureAlgorithm {
    /// ECDSA on P-384 over SHA-384 (the record-signing key).
    EcdsaP384Sha384,
    /// ECDSA on P-256 over SHA-256 (custodians' YubiKey 9c keys).
    EcdsaP256Sha256,
}

impl SignatureAlgorithm {
    /// The digest this algorithm signs.
    pub fn digest(&self, message: &[u8]) -> Vec<u8> {
        match self {
            SignatureAlgorithm::EcdsaP384Sha384 => Sha384::digest(message).to_vec(),
            SignatureAlgorithm::EcdsaP256Sha256 => Sha256::digest(message).to_vec(),
        }
    }
}

/// Errors from signing or verifying.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    /// The signing device failed (message says which and why).
    #[error("signing failed: {0}")]
    Device(String),
    /// The public key is not a valid SPKI for the algorithm.
    #[error("the public key is not a valid {algorithm:?} key")]
    BadPublicKey {
        /// Expected algorithm.
        algorithm: SignatureAlgorithm,
    },
    /// The signature is malformed or does not verify.
    #[error("the signature does not verify")]
    BadSignature,
}

/// Something that signs with a private key it does not reveal.
pub trait Signer {
    /// The algorithm of this key.
    fn algorithm(&self) -> SignatureAlgorithm;
    /// The public key as DER SubjectPublicKeyInfo.
    fn public_key_spki(&self) -> Result<Vec<u8>, SignerError>;
    /// Signs a digest computed by the caller with [`SignatureAlgorithm::digest`]; returns a DER
    /// ECDSA signature.
    fn sign_digest(&self, digest: &[u8]) -> Result<Vec<u8>, SignerError>;
    /// Hashes `message` with the algorithm's digest and signs it. The signature is returned in
    /// its low-s form ([`to_low_s`]): an HSM returns either of the two valid signatures, and
    /// Keyrite's verifiers accept only one so that a copy with the mirrored signature (r, n−s)
    /// is not a second valid encoding of the same record or checkpoint.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        let alg = self.algorithm();
        to_low_s(alg, &self.sign_digest(&alg.digest(message))?)
    }
}

/// The DER ECDSA signature `signature_der` with s replaced by n − s when s > n/2, re-encoded in
/// DER. Both forms verify; only the low-s one is what Keyrite writes and accepts.
pub fn to_low_s(
    algorithm: SignatureAlgorithm,
    signature_der: &[u8],
) -> Result<Vec<u8>, SignerError> {
    match algorithm {
        SignatureAlgorithm::EcdsaP384Sha384 => {
            let sig = p384::ecdsa::Signature::from_der(signature_der)
                .map_err(|_| SignerError::BadSignature)?;
            Ok(sig
                .normalize_s()
                .unwrap_or(sig)
                .to_der()
                .as_bytes()
                .to_vec())
        }
        SignatureAlgorithm::EcdsaP256Sha256 => {
            let sig = p256::ecdsa::Signature::from_der(signature_der)
                .map_err(|_| SignerError::BadSignature)?;
            Ok(sig
                .normalize_s()
                .unwrap_or(sig)
                .to_der()
                .as_bytes()
                .to_vec())
        }
    }
}

/// Whether a DER ECDSA signature is in the form Keyrite writes: it parses, re-encodes to the
/// same bytes (minimal DER integers) and has s ≤ n/2.
pub fn is_canonical_low_s(algorithm: SignatureAlgorithm, signature_der: &[u8]) -> bool {
    match algorithm {
        SignatureAlgorithm::EcdsaP384Sha384 => p384::ecdsa::Signature::from_der(signature_der)
            .is_ok_and(|s| s.normalize_s().is_none() && s.to_der().as_bytes() == signature_der),
        SignatureAlgorithm::EcdsaP256Sha256 => p256::ecdsa::Signature::from_der(signature_der)
            .is_ok_and(|s| s.normalize_s().is_none() && s.to_der().as_bytes() == signature_der),
    }
}

/// SHA-256 of a DER SubjectPublicKeyInfo: the fingerprint Keyrite prints for public keys.
pub fn spki_fingerprint(spki_der: &[u8]) -> [u8; 32] {
    Sha256::digest(spki_der).into()
}

/// Verifies a DER ECDSA signature over `message` by the key in `spki_der`.
pub fn verify(
    algorithm: SignatureAlgorithm,
    spki_der: &[u8],
    message: &[u8],
    signature_der: &[u8],
) -> Result<(), SignerError> {
    use p256::pkcs8::DecodePublicKey;
    let digest = algorithm.digest(message);
    match algorithm {
        SignatureAlgorithm::EcdsaP384Sha384 => {
            use p384::ecdsa::signature::hazmat::PrehashVerifier;
            let key = p384::ecdsa::VerifyingKey::from_public_key_der(spki_der)
                .map_err(|_| SignerError::BadPublicKey { algorithm })?;
            let sig = p384::ecdsa::Signature::from_der(signature_der)
                .map_err(|_| SignerError::BadSignature)?;
            key.verify_prehash(&digest, &sig)
                .map_err(|_| SignerError::BadSignature)
        }
        SignatureAlgorithm::EcdsaP256Sha256 => {
            use p256::ecdsa::signature::hazmat::PrehashVerifier;
            let key = p256::ecdsa::VerifyingKey::from_public_key_der(spki_der)
                .map_err(|_| SignerError::BadPublicKey { algorithm })?;
            let sig = p256::ecdsa::Signature::from_der(signature_der)
                .map_err(|_| SignerError::BadSignature)?;
            key.verify_prehash(&digest, &sig)
                .map_err(|_| SignerError::BadSignature)
        }
    }
}

/// A software P-384 signer. For tests and tooling only: ceremonies sign with the HSM.
pub struct SoftwareP384Signer {
    key: p384::ecdsa::SigningKey,
}

impl SoftwareP384Signer {
    /// A fresh random key.
    pub fn generate() -> Self {
        Self {
            key: p384::ecdsa::SigningKey::random(&mut rand::rngs::OsRng),
        }
    }
}

impl std::fmt::Debug for SoftwareP384Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SoftwareP384Signer(redacted)")
    }
}

impl Signer for SoftwareP384Signer {
    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::EcdsaP384Sha384
    }
    fn public_key_spki(&self) -> Result<Vec<u8>, SignerError> {
        use p384::pkcs8::EncodePublicKey;
        self.key
            .verifying_key()
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .map_err(|e| SignerError::Device(e.to_string()))
    }
    fn sign_digest(&self, digest: &[u8]) -> Result<Vec<u8>, SignerError> {
        use p384::ecdsa::signature::hazmat::PrehashSigner;
        let sig: p384::ecdsa::Signature = self
            .key
            .sign_prehash(digest)
            .map_err(|e| SignerError::Device(e.to_string()))?;
        Ok(sig.to_der().as_bytes().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_signature_verifies_and_tamper_fails() {
        let s = SoftwareP384Signer::generate();
        let spki = s.public_key_spki().unwrap();
        let sig = s.sign(b"checkpoint 7").unwrap();
        verify(
            SignatureAlgorithm::EcdsaP384Sha384,
            &spki,
            b"checkpoint 7",
            &sig,
        )
        .unwrap();
        let err = verify(
            SignatureAlgorithm::EcdsaP384Sha384,
            &spki,
            b"checkpoint 8",
            &sig,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "the signature does not verify");
        let other = SoftwareP384Signer::generate().public_key_spki().unwrap();
        assert!(verify(
            SignatureAlgorithm::EcdsaP384Sha384,
            &other,
            b"checkpoint 7",
            &sig
        )
        .is_err());
    }

    /// A signer that returns the high-s mirror of every signature, as an HSM may.
    struct HighS(SoftwareP384Signer);
    impl Signer for HighS {
        fn algorithm(&self) -> SignatureAlgorithm {
            self.0.algorithm()
        }
        fn public_key_spki(&self) -> Result<Vec<u8>, SignerError> {
            self.0.public_key_spki()
        }
        fn sign_digest(&self, digest: &[u8]) -> Result<Vec<u8>, SignerError> {
            let low = p384::ecdsa::Signature::from_der(&self.0.sign_digest(digest)?).unwrap();
            let low = low.normalize_s().unwrap_or(low);
            let (r, s) = low.split_scalars();
            let high = p384::ecdsa::Signature::from_scalars(r, -*s).unwrap();
            assert!(high.normalize_s().is_some(), "the mirror is high-s");
            Ok(high.to_der().as_bytes().to_vec())
        }
    }

    #[test]
    fn sign_always_returns_low_s() {
        let s = HighS(SoftwareP384Signer::generate());
        let spki = s.public_key_spki().unwrap();
        for i in 0..8u8 {
            let high = s
                .sign_digest(&SignatureAlgorithm::EcdsaP384Sha384.digest(&[i]))
                .unwrap();
            assert!(!is_canonical_low_s(
                SignatureAlgorithm::EcdsaP384Sha384,
                &high
            ));
            // The mirror verifies too: that is why the verifiers insist on low-s.
            verify(SignatureAlgorithm::EcdsaP384Sha384, &spki, &[i], &high).unwrap();
            let sig = s.sign(&[i]).unwrap();
            assert!(is_canonical_low_s(
                SignatureAlgorithm::EcdsaP384Sha384,
                &sig
            ));
            verify(SignatureAlgorithm::EcdsaP384Sha384, &spki, &[i], &sig).unwrap();
        }
    }
}
