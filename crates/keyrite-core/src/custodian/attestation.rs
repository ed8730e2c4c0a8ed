//! PIV attestation: proof that a custodian's keys were generated inside a genuine YubiKey.
//!
//! A YubiKey (firmware 4.3 and later) holds a device certificate in slot f9, issued by Yubico.
//! Asked to attest a slot (instruction `F9`), it returns a fresh certificate for that slot's
//! public key, signed by the f9 key and carrying Yubico's extensions:
//!
//! | OID | content |
//! |---|---|
//! | 1.3.6.1.4.1.41482.3.3 | firmware version, three bytes (major, minor, patch) |
//! | 1.3.6.1.4.1.41482.3.7 | the card's serial, a DER INTEGER |
//! | 1.3.6.1.4.1.41482.3.8 | two bytes: PIN policy (1 never, 2 once, 3 always, 4 match-once, 5 match-always), touch policy (1 never, 2 always, 3 cached) |
//!
//! [`verify_slot_attestation`] accepts the attestation only if every link holds: the slot
//! certificate is signed by the f9 certificate, which chains to a trusted root
//! ([`AttestationTrust`]); the attested public key is the one generated in the slot; the
//! serial is the card's; the PIN and touch policies are what enrolment set. Anything else is a
//! [`AttestationFailure`] whose message names the link that broke.
//!
//! Validity periods are not checked: Yubico's attestation certificates carry fixed dates from
//! manufacture (2016–2052 on older keys), so they say nothing about freshness, and the
//! certificate for the slot is made on the spot during enrolment.

mod chain;
#[cfg(test)]
pub(crate) mod test_ca;
#[cfg(test)]
mod tests;
mod trust;

use const_oid::ObjectIdentifier;
use der::Decode;
use serde::{Deserialize, Serialize};
use x509_cert::spki::SubjectPublicKeyInfoOwned;

use super::PivSlot;
use crate::signer::spki_fingerprint;
use crate::words::short_words;
use chain::{verify_signed_by, ParsedCert, SignatureProblem};
pub use trust::AttestationTrust;

/// Yubico extension: firmware version (3 bytes).
pub const OID_FIRMWARE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.41482.3.3");
/// Yubico extension: serial number (DER INTEGER).
pub const OID_SERIAL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.41482.3.7");
/// Yubico extension: PIN policy and touch policy (2 bytes).
pub const OID_POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.41482.3.8");

/// How far above the f9 certificate a chain may reach (Yubico's deepest is 3).
const MAX_CHAIN: usize = 4;

/// When the card asks for the PIN before using a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PinPolicy {
    /// Never.
    Never,
    /// Once per session.
    Once,
    /// Before every use.
    Always,
    /// Biometric match once per session (YubiKey Bio).
    MatchOnce,
    /// Biometric match before every use (YubiKey Bio).
    MatchAlways,
}

impl PinPolicy {
    /// From Yubico's encoding; `None` for values Yubico does not define.
    pub fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            1 => Self::Never,
            2 => Self::Once,
            3 => Self::Always,
            4 => Self::MatchOnce,
            5 => Self::MatchAlways,
            _ => return None,
        })
    }
}

/// When the card asks for a touch before using a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TouchPolicy {
    /// Never.
    Never,
    /// Before every use.
    Always,
    /// Once, then cached for 15 seconds.
    Cached,
}

impl TouchPolicy {
    /// From Yubico's encoding; `None` for values Yubico does not define.
    pub fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            1 => Self::Never,
            2 => Self::Always,
            3 => Self::Cached,
            _ => return None,
        })
    }
}

impl std::fmt::Display for PinPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The same words the record's serde form uses.
        f.write_str(match self {
            Self::Never => "never",
            Self::Once => "once",
            Self::Always => "always",
            Self::MatchOnce => "match-once",
            Self::MatchAlways => "match-always",
        })
    }
}

impl std::fmt::Display for TouchPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Never => "never",
            Self::Always => "always",
            Self::Cached => "cached",
        })
    }
}

/// What enrolment expects an attestation to certify for one slot.
#[derive(Debug, Clone, Copy)]
pub struct ExpectedKey<'a> {
    /// The slot.
    pub slot: PivSlot,
    /// The DER SubjectPublicKeyInfo the card returned when it generated the key.
    pub spki: &'a [u8],
    /// The PIN policy enrolment set.
    pub pin_policy: PinPolicy,
    /// The touch policy enrolment set.
    pub touch_policy: TouchPolicy,
}

/// A verified attestation of one slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestedKey {
    /// The slot.
    pub slot: PivSlot,
    /// Common name of the trusted root the chain ends in.
    pub root: String,
    /// SHA-256 of that root's DER.
    pub root_sha256: [u8; 32],
    /// Firmware version, "5.7.1".
    pub firmware: String,
    /// The serial the attestation names (equal to the card's).
    pub serial: u32,
    /// Attested PIN policy (equal to the expected one).
    pub pin_policy: PinPolicy,
    /// Attested touch policy (equal to the expected one).
    pub touch_policy: TouchPolicy,
}

/// Problems with the trust data itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttestationError {
    /// The trusted certificates could not be read.
    #[error("the attestation trust data is invalid: {detail}")]
    BadTrust {
        /// Which certificate and why.
        detail: String,
    },
}

/// Why a key is not attested. The message is what the enrolment record keeps as the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttestationFailure {
    /// The card has no f9 certificate.
    #[error(
        "the card does not support PIV attestation: it has no attestation certificate in slot f9"
    )]
    NoAttestationCertificate,
    /// The card refused the attest instruction for a slot.
    #[error("the card does not support PIV attestation: it refused to attest slot {slot}")]
    SlotNotAttestable {
        /// The slot.
        slot: PivSlot,
    },
    /// A certificate from the card does not parse.
    #[error("{what} is not a valid X.509 certificate: {detail}")]
    Unreadable {
        /// Which certificate.
        what: String,
        /// The decoder's message.
        detail: String,
    },
    /// A certificate's issuer is neither a trusted root nor a trusted intermediate.
    #[error("the chain does not verify: {what} is issued by \"{issuer}\", which is not a trusted attestation root (trusted: {trusted})")]
    UntrustedIssuer {
        /// The certificate whose issuer is unknown.
        what: String,
        /// Its issuer.
        issuer: String,
        /// The trusted roots' names, or "none".
        trusted: String,
    },
    /// A link's signature does not verify.
    #[error("the chain does not verify: the signature on {what} does not verify with the key of {issuer}")]
    BadSignature {
        /// The signed certificate.
        what: String,
        /// The certificate whose key was used.
        issuer: String,
    },
    /// A link uses an algorithm Keyrite does not verify.
    #[error("the chain does not verify: {what} is signed with {algorithm}, which Keyrite does not verify (it verifies RSA PKCS#1 v1.5 and ECDSA P-256/P-384 with SHA-2)")]
    UnsupportedAlgorithm {
        /// The signed certificate.
        what: String,
        /// The algorithm.
        algorithm: String,
    },
    /// The chain above the f9 certificate is longer than any Yubico uses.
    #[error("the chain does not verify: more than {MAX_CHAIN} certificates above the card's attestation certificate")]
    ChainTooLong,
    /// The slot certificate names another issuer than the card's f9 certificate.
    #[error("the chain does not verify: the attestation of slot {slot} is issued by \"{issuer}\", not by the card's attestation certificate \"{f9}\"")]
    NotIssuedByCard {
        /// The slot.
        slot: PivSlot,
        /// The slot certificate's issuer.
        issuer: String,
        /// The f9 certificate's subject.
        f9: String,
    },
    /// The attested key is not the generated key.
    #[error("key mismatch: the attestation of slot {slot} certifies the key {attested}, but the key generated in slot {slot} is {generated}")]
    KeyMismatch {
        /// The slot.
        slot: PivSlot,
        /// Short words of the attested key's SPKI fingerprint.
        attested: String,
        /// Short words of the generated key's SPKI fingerprint.
        generated: String,
    },
    /// The attestation names another card.
    #[error("serial mismatch: the attestation of slot {slot} names YubiKey serial {attested}, but the card answers with serial {card}")]
    SerialMismatch {
        /// The slot.
        slot: PivSlot,
        /// Serial in the attestation.
        attested: u32,
        /// Serial the card reports.
        card: u32,
    },
    /// The attested PIN policy is not the one enrolment set.
    #[error("PIN policy mismatch: the attestation of slot {slot} says PIN policy {attested}, but enrolment set {expected}")]
    PinPolicyMismatch {
        /// The slot.
        slot: PivSlot,
        /// Attested.
        attested: PinPolicy,
        /// Expected.
        expected: PinPolicy,
    },
    /// The attested touch policy is not the one enrolment set.
    #[error("touch policy mismatch: the attestation of slot {slot} says touch policy {attested}, but enrolment set {expected}")]
    TouchPolicyMismatch {
        /// The slot.
        slot: PivSlot,
        /// Attested.
        attested: TouchPolicy,
        /// Expected.
        expected: TouchPolicy,
    },
    /// A Yubico extension is missing.
    #[error("the attestation of slot {slot} has no {name} extension ({oid})")]
    MissingExtension {
        /// The slot.
        slot: PivSlot,
        /// "firmware version", "serial number", "PIN and touch policy".
        name: &'static str,
        /// Its OID.
        oid: ObjectIdentifier,
    },
    /// A Yubico extension does not decode.
    #[error("the attestation of slot {slot} has a malformed {name} extension ({oid})")]
    BadExtension {
        /// The slot.
        slot: PivSlot,
        /// Which extension.
        name: &'static str,
        /// Its OID.
        oid: ObjectIdentifier,
    },
}

fn f9_label(cert: &ParsedCert) -> String {
    format!(
        "the card's attestation certificate (slot f9, \"{}\")",
        cert.subject()
    )
}

fn signature_failure(
    what: String,
    issuer: String,
    problem: SignatureProblem,
) -> AttestationFailure {
    match problem {
        SignatureProblem::DoesNotVerify => AttestationFailure::BadSignature { what, issuer },
        SignatureProblem::Unsupported(algorithm) => {
            AttestationFailure::UnsupportedAlgorithm { what, algorithm }
        }
    }
}

/// Walks from the f9 certificate up to a trusted root, verifying every signature. Returns
/// the root's common name and fingerprint.
fn chain_to_root(
    trust: &AttestationTrust,
    f9: &ParsedCert,
) -> Result<(String, [u8; 32]), AttestationFailure> {
    let mut current = f9;
    let mut what = f9_label(f9);
    for _ in 0..=MAX_CHAIN {
        let roots: Vec<_> = trust
            .roots
            .iter()
            .filter(|r| current.issued_by(&r.cert))
            .collect();
        if !roots.is_empty() {
            let mut first_problem = None;
            for root in &roots {
                match verify_signed_by(
                    current,
                    &root.cert.cert.tbs_certificate.subject_public_key_info,
                ) {
                    Ok(()) => return Ok((root.common_name.clone(), root.cert.sha256)),
                    Err(p) => {
                        first_problem.get_or_insert((root, p));
                    }
                }
            }
            if let Some((root, problem)) = first_problem {
                let issuer = format!("trusted root \"{}\"", root.cert.subject());
                return Err(signature_failure(what, issuer, problem));
            }
        }
        let Some(next) = trust
            .intermediates
            .iter()
            .find(|i| current.issued_by(&i.cert))
        else {
            let trusted = trust.root_names();
            return Err(AttestationFailure::UntrustedIssuer {
                what,
                issuer: current.issuer(),
                trusted: if trusted.is_empty() {
                    "none".into()
                } else {
                    trusted
                        .iter()
                        .map(|n| format!("\"{n}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            });
        };
        let issuer = format!("intermediate \"{}\"", next.cert.subject());
        verify_signed_by(
            current,
            &next.cert.cert.tbs_certificate.subject_public_key_info,
        )
        .map_err(|p| signature_failure(what.clone(), issuer.clone(), p))?;
        what = issuer;
        current = &next.cert;
    }
    Err(AttestationFailure::ChainTooLong)
}

fn extension(cert: &ParsedCert, oid: ObjectIdentifier) -> Option<&[u8]> {
    cert.cert
        .tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| e.extn_id == oid)
        .map(|e| e.extn_value.as_bytes())
}

struct YubicoExtensions {
    firmware: String,
    serial: u32,
    pin_policy: PinPolicy,
    touch_policy: TouchPolicy,
}

fn read_extensions(
    cert: &ParsedCert,
    slot: PivSlot,
) -> Result<YubicoExtensions, AttestationFailure> {
    let get = |oid, name| {
        extension(cert, oid).ok_or(AttestationFailure::MissingExtension { slot, name, oid })
    };
    let bad = |oid, name| AttestationFailure::BadExtension { slot, name, oid };
    let fw = get(OID_FIRMWARE, "firmware version")?;
    let [major, minor, patch] = fw else {
        return Err(bad(OID_FIRMWARE, "firmware version"));
    };
    let serial = u32::from_der(get(OID_SERIAL, "serial number")?)
        .map_err(|_| bad(OID_SERIAL, "serial number"))?;
    let policy = get(OID_POLICY, "PIN and touch policy")?;
    let (pin_policy, touch_policy) = match policy {
        [pin, touch] => (PinPolicy::from_byte(*pin), TouchPolicy::from_byte(*touch)),
        _ => (None, None),
    };
    let (Some(pin_policy), Some(touch_policy)) = (pin_policy, touch_policy) else {
        return Err(bad(OID_POLICY, "PIN and touch policy"));
    };
    Ok(YubicoExtensions {
        firmware: format!("{major}.{minor}.{patch}"),
        serial,
        pin_policy,
        touch_policy,
    })
}

fn same_key(a: &[u8], b: &[u8]) -> bool {
    // Compare decoded SPKIs so two DER encoders' choices cannot make equal keys differ.
    match (
        SubjectPublicKeyInfoOwned::from_der(a),
        SubjectPublicKeyInfoOwned::from_der(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Verifies one slot's attestation: `slot_cert_der` (from the card's attest instruction) is
/// signed by `f9_der` (the card's attestation certificate), which chains to `trust`; the
/// attested key, serial and policies are the expected ones.
pub fn verify_slot_attestation(
    trust: &AttestationTrust,
    card_serial: u32,
    f9_der: &[u8],
    slot_cert_der: &[u8],
    expected: &ExpectedKey<'_>,
) -> Result<AttestedKey, AttestationFailure> {
    let slot = expected.slot;
    let f9 = ParsedCert::parse(f9_der).map_err(|detail| AttestationFailure::Unreadable {
        what: "the card's attestation certificate (slot f9)".into(),
        detail: detail.to_string(),
    })?;
    let leaf =
        ParsedCert::parse(slot_cert_der).map_err(|detail| AttestationFailure::Unreadable {
            what: format!("the attestation of slot {slot}"),
            detail: detail.to_string(),
        })?;
    let (root, root_sha256) = chain_to_root(trust, &f9)?;
    if !leaf.issued_by(&f9) {
        return Err(AttestationFailure::NotIssuedByCard {
            slot,
            issuer: leaf.issuer(),
            f9: f9.subject(),
        });
    }
    verify_signed_by(&leaf, &f9.cert.tbs_certificate.subject_public_key_info).map_err(|p| {
        signature_failure(format!("the attestation of slot {slot}"), f9_label(&f9), p)
    })?;
    let attested_spki = leaf
        .spki_der()
        .map_err(|detail| AttestationFailure::Unreadable {
            what: format!("the attestation of slot {slot}"),
            detail: detail.to_string(),
        })?;
    if !same_key(&attested_spki, expected.spki) {
        return Err(AttestationFailure::KeyMismatch {
            slot,
            attested: short_words(&spki_fingerprint(&attested_spki), 4),
            generated: short_words(&spki_fingerprint(expected.spki), 4),
        });
    }
    let ext = read_extensions(&leaf, slot)?;
    if ext.serial != card_serial {
        return Err(AttestationFailure::SerialMismatch {
            slot,
            attested: ext.serial,
            card: card_serial,
        });
    }
    if ext.pin_policy != expected.pin_policy {
        return Err(AttestationFailure::PinPolicyMismatch {
            slot,
            attested: ext.pin_policy,
            expected: expected.pin_policy,
        });
    }
    if ext.touch_policy != expected.touch_policy {
        return Err(AttestationFailure::TouchPolicyMismatch {
            slot,
            attested: ext.touch_policy,
            expected: expected.touch_policy,
        });
    }
    Ok(AttestedKey {
        slot,
        root,
        root_sha256,
        firmware: ext.firmware,
        serial: ext.serial,
        pin_policy: ext.pin_policy,
        touch_policy: ext.touch_policy,
    })
}
