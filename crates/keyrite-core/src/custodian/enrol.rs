//! Enrolment: turning a fresh YubiKey into a custodian's key, and the record of it.
//!
//! The record goes into the journal and the inventory (serde, `deny_unknown_fields`). It holds
//! only public data: the serial, both public keys and their fingerprints, and whether the keys
//! are attested.

use serde::{Deserialize, Serialize};

use super::token::check_pin;
use super::{CustodianError, PivSlot, PivToken, DEFAULT_PIN, DEFAULT_PUK};
use crate::secret::SecretBytes;
use crate::signer::{spki_fingerprint, verify, SignatureAlgorithm};

/// What a person does in ceremonies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Holds a share and approves quorum operations.
    Custodian,
    /// Watches and signs off steps.
    Witness,
}

/// Whether the card proved its keys were generated on a genuine YubiKey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case", deny_unknown_fields)]
pub enum AttestationStatus {
    /// Not attested, and why (shown to the ceremony; a profile may refuse it).
    NotAttested {
        /// Why not.
        reason: String,
    },
}

/// A custodian's enrolled YubiKey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolmentRecord {
    /// Stable identifier used in approvals (unique in a policy).
    pub custodian_id: String,
    /// The person's name as printed on records.
    pub name: String,
    /// Custodian or witness.
    pub role: Role,
    /// The YubiKey's serial.
    pub yubikey_serial: u32,
    /// 9c public key, DER SubjectPublicKeyInfo, hex.
    #[serde(with = "hex::serde")]
    pub signature_spki: Vec<u8>,
    /// SHA-256 of the 9c SPKI, hex.
    pub signature_fingerprint: String,
    /// 9d public key, DER SubjectPublicKeyInfo, hex.
    #[serde(with = "hex::serde")]
    pub key_management_spki: Vec<u8>,
    /// SHA-256 of the 9d SPKI, hex.
    pub key_management_fingerprint: String,
    /// Attestation of the keys.
    pub attestation: AttestationStatus,
}

impl EnrolmentRecord {
    /// Builds a record, computing the fingerprints.
    pub fn new(
        custodian_id: &str,
        name: &str,
        role: Role,
        yubikey_serial: u32,
        signature_spki: Vec<u8>,
        key_management_spki: Vec<u8>,
        attestation: AttestationStatus,
    ) -> Self {
        Self {
            custodian_id: custodian_id.to_owned(),
            name: name.to_owned(),
            role,
            yubikey_serial,
            signature_fingerprint: hex::encode(spki_fingerprint(&signature_spki)),
            key_management_fingerprint: hex::encode(spki_fingerprint(&key_management_spki)),
            signature_spki,
            key_management_spki,
            attestation,
        }
    }
}

/// Which factory defaults the card still had when enrolment began.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultCredentials {
    /// The PIN was 123456.
    pub pin: bool,
    /// The PUK was 12345678.
    pub puk: bool,
    /// The management key was the well-known 3DES default.
    pub management_key: bool,
}

/// What the enrolment ceremony supplies. `current_*` are the card's present credentials
/// (the factory defaults on a new key); `new_*` replace them.
pub struct EnrolmentInput<'a> {
    /// Identifier for approvals.
    pub custodian_id: &'a str,
    /// Name.
    pub name: &'a str,
    /// Role.
    pub role: Role,
    /// Current PIN.
    pub current_pin: &'a SecretBytes,
    /// New PIN (6–8 characters, not the default).
    pub new_pin: &'a SecretBytes,
    /// Current PUK.
    pub current_puk: &'a SecretBytes,
    /// New PUK (not the default).
    pub new_puk: &'a SecretBytes,
    /// Current management key, `None` = the factory default.
    pub current_management_key: Option<&'a SecretBytes>,
    /// Require touch for every use of 9c/9d.
    pub touch: bool,
}

/// The outcome of enrolment.
pub struct Enrolment {
    /// For the journal and inventory.
    pub record: EnrolmentRecord,
    /// Which defaults were found (and changed).
    pub defaults_found: DefaultCredentials,
    /// The new random management key. The card needs it only to generate keys again, which
    /// Keyrite does by resetting and re-enrolling; the caller may drop it.
    pub new_management_key: SecretBytes,
}

/// Enrols a custodian's card: generates P-256 keys in 9c (PIN always) and 9d (PIN once),
/// replaces the PIN, PUK and management key, proves 9c signs with the new PIN, and reads the
/// attestation.
pub fn enrol(
    token: &mut dyn PivToken,
    input: &EnrolmentInput<'_>,
) -> Result<Enrolment, CustodianError> {
    let serial = token.serial();
    check_pin(input.new_pin.expose())?;
    check_pin(input.new_puk.expose())?;
    if input.new_pin.expose() == DEFAULT_PIN {
        return Err(CustodianError::NewIsDefault {
            what: "PIN",
            serial,
        });
    }
    if input.new_puk.expose() == DEFAULT_PUK {
        return Err(CustodianError::NewIsDefault {
            what: "PUK",
            serial,
        });
    }
    let defaults_found = DefaultCredentials {
        pin: input.current_pin.expose() == DEFAULT_PIN,
        puk: input.current_puk.expose() == DEFAULT_PUK,
        management_key: input.current_management_key.is_none(),
    };
    token.verify_pin(input.current_pin.expose())?;
    token.authenticate_mgm(input.current_management_key.map(|k| k.expose()))?;
    let signature_spki = token.generate_p256(PivSlot::Signature, input.touch)?;
    let key_management_spki = token.generate_p256(PivSlot::KeyManagement, input.touch)?;
    let mut new_mgm = SecretBytes::zeroed(24);
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, new_mgm.expose_mut());
    token.set_mgm_key(new_mgm.expose())?;
    token.change_pin(input.current_pin.expose(), input.new_pin.expose())?;
    token.change_puk(input.current_puk.expose(), input.new_puk.expose())?;

    // Prove the new PIN unlocks 9c and 9c holds the key we will enrol.
    let probe = b"keyrite enrolment probe";
    token.verify_pin(input.new_pin.expose())?;
    let sig = token.sign_digest(&SignatureAlgorithm::EcdsaP256Sha256.digest(probe))?;
    verify(
        SignatureAlgorithm::EcdsaP256Sha256,
        &signature_spki,
        probe,
        &sig,
    )
    .map_err(|_| CustodianError::SignatureDoesNotVerify {
        serial,
        slot: PivSlot::Signature,
    })?;

    let attestation = match token.attest(PivSlot::Signature)? {
        None => AttestationStatus::NotAttested {
            reason: "the card does not support PIV attestation".into(),
        },
        Some(_) => AttestationStatus::NotAttested {
            reason: "the card returned an attestation certificate, but this Keyrite build does not verify it against Yubico's PIV attestation CA".into(),
        },
    };
    Ok(Enrolment {
        record: EnrolmentRecord::new(
            input.custodian_id,
            input.name,
            input.role,
            serial,
            signature_spki,
            key_management_spki,
            attestation,
        ),
        defaults_found,
        new_management_key: new_mgm,
    })
}
