//! Which attestation roots Keyrite trusts: data, not code.
//!
//! The shipped trust is Yubico's: the two published roots and the intermediates of the
//! firmware ≥ 5.7.4 hierarchy, embedded from the PEM files next to this module (their
//! provenance and SHA-256 fingerprints are written at the top of each file). Tests inject
//! their own root with [`AttestationTrust::from_pem`]; nothing else changes between the two.

use super::chain::{pem_certificates, ParsedCert};
use super::AttestationError;

/// Yubico's PIV attestation roots (see the file for provenance and fingerprints).
const YUBICO_ROOTS_PEM: &str = include_str!("yubico-roots.pem");
/// Yubico's intermediates between "Yubico Attestation Root 1" and f9 certificates.
const YUBICO_INTERMEDIATES_PEM: &str = include_str!("yubico-intermediates.pem");

/// A trusted certificate (root or intermediate), parsed.
pub(crate) struct TrustedCert {
    pub cert: ParsedCert,
    pub common_name: String,
}

/// The roots (and optional intermediates) an attestation chain must end in.
///
/// Intermediates are not trusted on their own: an f9 certificate issued by one is accepted
/// only if the intermediate's own signature chains, link by link, to a root.
pub struct AttestationTrust {
    pub(crate) roots: Vec<TrustedCert>,
    pub(crate) intermediates: Vec<TrustedCert>,
}

impl std::fmt::Debug for AttestationTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttestationTrust")
            .field("roots", &self.root_names())
            .field("intermediates", &self.intermediates.len())
            .finish()
    }
}

fn parse_all(text: &str, what: &str) -> Result<Vec<TrustedCert>, AttestationError> {
    let blocks = pem_certificates(text).map_err(|detail| AttestationError::BadTrust {
        detail: format!("{what}: {detail}"),
    })?;
    blocks
        .iter()
        .enumerate()
        .map(|(i, der_bytes)| {
            let cert = ParsedCert::parse(der_bytes).map_err(|e| AttestationError::BadTrust {
                detail: format!("{what}: certificate {} is not valid X.509: {e}", i + 1),
            })?;
            Ok(TrustedCert {
                common_name: cert.common_name(),
                cert,
            })
        })
        .collect()
}

impl AttestationTrust {
    /// Yubico's PIV attestation trust: "Yubico PIV Root CA Serial 263751" (firmware before
    /// 5.7.4), "Yubico Attestation Root 1" and its published PIV intermediates (5.7.4 and later).
    pub fn yubico() -> Self {
        // The embedded files are constant and parsed by a unit test, so failure here would be
        // a build defect; an empty trust then refuses every attestation rather than panicking.
        let roots = parse_all(YUBICO_ROOTS_PEM, "embedded Yubico roots").unwrap_or_default();
        let intermediates = parse_all(YUBICO_INTERMEDIATES_PEM, "embedded Yubico intermediates")
            .unwrap_or_default();
        Self {
            roots,
            intermediates,
        }
    }

    /// Trusts every certificate in `pem` (one or more `CERTIFICATE` blocks) as a root, and
    /// nothing else. For tests and for sites that must pin their own attestation CA.
    pub fn from_pem(pem: &str) -> Result<Self, AttestationError> {
        let roots = parse_all(pem, "attestation roots")?;
        if roots.is_empty() {
            return Err(AttestationError::BadTrust {
                detail: "attestation roots: the PEM text holds no CERTIFICATE block".into(),
            });
        }
        Ok(Self {
            roots,
            intermediates: Vec::new(),
        })
    }

    /// Trusts nothing: every key is recorded as not attested.
    pub fn none() -> Self {
        Self {
            roots: Vec::new(),
            intermediates: Vec::new(),
        }
    }

    /// The trusted roots' common names, in order.
    pub fn root_names(&self) -> Vec<String> {
        self.roots.iter().map(|r| r.common_name.clone()).collect()
    }

    /// The trusted roots' SHA-256 fingerprints (of the DER), in order.
    pub fn root_fingerprints(&self) -> Vec<[u8; 32]> {
        self.roots.iter().map(|r| r.cert.sha256).collect()
    }
}
