//! Enrolment: turning a fresh YubiKey into a custodian's key, and the record of it.
//!
//! The record goes into the journal and the inventory (serde, `deny_unknown_fields`). It holds
//! only public data: the serial, both public keys and their fingerprints, and whether the keys
//! are attested (see [`super::attestation`]; the format is in `docs/formats/enrolment.md`).

use serde::{Deserialize, Serialize};

use super::attestation::{
    verify_slot_attestation, AttestationFailure, AttestationTrust, AttestedKey, ExpectedKey,
    PinPolicy, TouchPolicy,
};
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
    /// Both keys (9c and 9d) are attested by the card, through its f9 certificate, to a
    /// trusted root.
    Attested {
        /// Common name of the trusted root ("Yubico PIV Root CA Serial 263751").
        root: String,
        /// SHA-256 of the root certificate's DER, hex: tells a test root from Yubico's even
        /// when the names are equal.
        root_sha256: String,
        /// Firmware version the attestation states, "5.7.1".
        firmware: String,
        /// Serial the attestation states (equal to the record's `yubikey_serial`).
        serial: u32,
        /// Per slot, the attested policies: 9c first, then 9d.
        slots: Vec<AttestedSlot>,
    },
    /// Not attested, and why (shown to the ceremony; a profile may refuse it).
    NotAttested {
        /// Why not.
        reason: String,
    },
}

impl AttestationStatus {
    /// Whether the keys are attested.
    pub fn is_attested(&self) -> bool {
        matches!(self, AttestationStatus::Attested { .. })
    }
}

/// What the attestation says about one slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestedSlot {
    /// "9c" or "9d".
    pub slot: PivSlot,
    /// PIN policy the card enforces for the key.
    pub pin_policy: PinPolicy,
    /// Touch policy the card enforces for the key.
    pub touch_policy: TouchPolicy,
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
    /// The attestation roots to verify the card's attestation against
    /// ([`AttestationTrust::yubico`] in ceremonies).
    pub attestation_trust: &'a AttestationTrust,
    /// Refuse a card whose keys are not attested (the site profile's
    /// `[custodians] require_attestation`).
    pub require_attestation: bool,
}

/// The outcome of enrolment. Debug output redacts the management key.
#[derive(Debug)]
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
/// verifies their attestation, replaces the PIN, PUK and management key, and proves 9c signs
/// with the new PIN.
///
/// With `require_attestation`, a card that cannot attest is refused before any key is
/// generated, and keys whose attestation does not verify are refused before the PIN, PUK and
/// management key change ([`CustodianError::AttestationRequired`]).
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
    let f9 = token.read_attestation_intermediate()?;
    if f9.is_none() && input.require_attestation {
        return Err(CustodianError::AttestationRequired {
            serial,
            reason: AttestationFailure::NoAttestationCertificate.to_string(),
            card_state: "the card was not changed",
        });
    }
    let signature_spki = token.generate_p256(PivSlot::Signature, input.touch)?;
    let key_management_spki = token.generate_p256(PivSlot::KeyManagement, input.touch)?;
    let touch_policy = if input.touch {
        TouchPolicy::Always
    } else {
        TouchPolicy::Never
    };
    let attestation = attest_keys(
        token,
        input.attestation_trust,
        f9.as_deref(),
        &[
            ExpectedKey {
                slot: PivSlot::Signature,
                spki: &signature_spki,
                pin_policy: PinPolicy::Always,
                touch_policy,
            },
            ExpectedKey {
                slot: PivSlot::KeyManagement,
                spki: &key_management_spki,
                pin_policy: PinPolicy::Once,
                touch_policy,
            },
        ],
    )?;
    if let (AttestationStatus::NotAttested { reason }, true) =
        (&attestation, input.require_attestation)
    {
        return Err(CustodianError::AttestationRequired {
            serial,
            reason: reason.clone(),
            card_state: "its PIN, PUK and management key were not changed, but 9c and 9d now hold new keys that are not enrolled",
        });
    }
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

/// Attests every expected key with the card's f9 certificate. Card failures (removal, I/O)
/// are errors; a key that does not attest makes the status "not attested" with the first
/// reason found.
fn attest_keys(
    token: &mut dyn PivToken,
    trust: &AttestationTrust,
    f9: Option<&[u8]>,
    expected: &[ExpectedKey<'_>],
) -> Result<AttestationStatus, CustodianError> {
    let not_attested = |failure: AttestationFailure| AttestationStatus::NotAttested {
        reason: failure.to_string(),
    };
    let Some(f9) = f9 else {
        return Ok(not_attested(AttestationFailure::NoAttestationCertificate));
    };
    let serial = token.serial();
    let mut attested: Vec<AttestedKey> = Vec::with_capacity(expected.len());
    for e in expected {
        let Some(cert) = token.attest(e.slot)? else {
            return Ok(not_attested(AttestationFailure::SlotNotAttestable {
                slot: e.slot,
            }));
        };
        match verify_slot_attestation(trust, serial, f9, &cert, e) {
            Ok(key) => attested.push(key),
            Err(failure) => return Ok(not_attested(failure)),
        }
    }
    let Some(first) = attested.first() else {
        return Ok(not_attested(AttestationFailure::NoAttestationCertificate));
    };
    Ok(AttestationStatus::Attested {
        root: first.root.clone(),
        root_sha256: hex::encode(first.root_sha256),
        firmware: first.firmware.clone(),
        serial: first.serial,
        slots: attested
            .iter()
            .map(|k| AttestedSlot {
                slot: k.slot,
                pin_policy: k.pin_policy,
                touch_policy: k.touch_policy,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::custodian::attestation::test_ca::TestCa;
    use crate::custodian::fake::FakePiv;

    fn s(t: &str) -> SecretBytes {
        SecretBytes::from_slice(t.as_bytes())
    }

    fn run(
        card: &mut FakePiv,
        trust: &AttestationTrust,
        require: bool,
    ) -> Result<Enrolment, CustodianError> {
        let (p0, p1, k0, k1) = (s("123456"), s("654321"), s("12345678"), s("87654321"));
        enrol(
            card,
            &EnrolmentInput {
                custodian_id: "c1",
                name: "Custodian One",
                role: Role::Custodian,
                current_pin: &p0,
                new_pin: &p1,
                current_puk: &k0,
                new_puk: &k1,
                current_management_key: None,
                touch: false,
                attestation_trust: trust,
                require_attestation: require,
            },
        )
    }

    fn test_trust() -> (TestCa, AttestationTrust) {
        let ca = TestCa::new("Keyrite test PIV attestation root");
        let trust = AttestationTrust::from_pem(&ca.pem()).unwrap();
        (ca, trust)
    }

    #[test]
    fn attested_card_is_recorded_as_attested_with_both_slots() {
        let (ca, trust) = test_trust();
        let mut card = FakePiv::attesting(7001, ca.issue_f9("fake f9"));
        let e = run(&mut card, &trust, true).unwrap();
        let root_sha256 = hex::encode(trust.root_fingerprints()[0]);
        assert_eq!(
            e.record.attestation,
            AttestationStatus::Attested {
                root: "Keyrite test PIV attestation root".into(),
                root_sha256: root_sha256.clone(),
                firmware: "5.7.1".into(),
                serial: 7001,
                slots: vec![
                    AttestedSlot {
                        slot: PivSlot::Signature,
                        pin_policy: PinPolicy::Always,
                        touch_policy: TouchPolicy::Never
                    },
                    AttestedSlot {
                        slot: PivSlot::KeyManagement,
                        pin_policy: PinPolicy::Once,
                        touch_policy: TouchPolicy::Never
                    },
                ],
            }
        );
        // The documented JSON form (docs/formats/enrolment.md).
        assert_eq!(
            serde_json::to_string(&e.record.attestation).unwrap(),
            format!(
                "{{\"status\":\"attested\",\"root\":\"Keyrite test PIV attestation root\",\
                 \"root_sha256\":\"{root_sha256}\",\"firmware\":\"5.7.1\",\"serial\":7001,\
                 \"slots\":[{{\"slot\":\"9c\",\"pin_policy\":\"always\",\"touch_policy\":\"never\"}},\
                 {{\"slot\":\"9d\",\"pin_policy\":\"once\",\"touch_policy\":\"never\"}}]}}"
            )
        );
        let json = serde_json::to_string(&e.record).unwrap();
        assert_eq!(
            serde_json::from_str::<EnrolmentRecord>(&json).unwrap(),
            e.record
        );
        assert_eq!(card.pin, b"654321");
    }

    #[test]
    fn card_without_attestation_is_refused_untouched_when_required() {
        let (_, trust) = test_trust();
        let mut card = FakePiv::new(7002);
        assert_eq!(
            run(&mut card, &trust, true).unwrap_err().to_string(),
            "YubiKey 7002 is not attested (the card does not support PIV attestation: it has no \
             attestation certificate in slot f9), but the site profile requires attestation \
             ([custodians] require_attestation = true): enrol a YubiKey whose keys verify against \
             a trusted attestation root; the card was not changed"
        );
        assert!(card.sig.is_none() && card.km.is_none());
        assert_eq!(card.pin, DEFAULT_PIN);

        // Not required: enrolment completes and the record says why it is not attested.
        let e = run(&mut card, &trust, false).unwrap();
        assert_eq!(
            e.record.attestation,
            AttestationStatus::NotAttested {
                reason: "the card does not support PIV attestation: it has no attestation certificate in slot f9".into()
            }
        );
        assert!(!e.record.attestation.is_attested());
    }

    #[test]
    fn attestation_that_does_not_verify_is_refused_before_credentials_change() {
        let (ca, trust) = test_trust();
        let mut card = FakePiv::attesting(7003, ca.issue_f9("fake f9"));
        card.attestation.as_mut().unwrap().serial = Some(7999);
        assert_eq!(
            run(&mut card, &trust, true).unwrap_err().to_string(),
            "YubiKey 7003 is not attested (serial mismatch: the attestation of slot 9c names \
             YubiKey serial 7999, but the card answers with serial 7003), but the site profile \
             requires attestation ([custodians] require_attestation = true): enrol a YubiKey whose \
             keys verify against a trusted attestation root; its PIN, PUK and management key were \
             not changed, but 9c and 9d now hold new keys that are not enrolled"
        );
        assert_eq!(card.pin, DEFAULT_PIN);

        // Signed by an untrusted root.
        let other = TestCa::new("someone else's root");
        let mut card = FakePiv::attesting(7004, other.issue_f9("fake f9"));
        let e = run(&mut card, &trust, false).unwrap();
        assert_eq!(
            e.record.attestation,
            AttestationStatus::NotAttested {
                reason: "the chain does not verify: the card's attestation certificate (slot f9, \
                         \"CN=fake f9\") is issued by \"CN=someone else's root\", which is not a \
                         trusted attestation root (trusted: \"Keyrite test PIV attestation root\")"
                    .into()
            }
        );

        // The card attests a key it did not generate in the slot.
        let mut card = FakePiv::attesting(7005, ca.issue_f9("fake f9"));
        card.attestation.as_mut().unwrap().foreign_key = true;
        let e = run(&mut card, &trust, false).unwrap();
        match &e.record.attestation {
            AttestationStatus::NotAttested { reason } => assert!(
                reason.starts_with("key mismatch: the attestation of slot 9c certifies the key "),
                "{reason}"
            ),
            other => panic!("expected not attested, got {other:?}"),
        }
    }
}
