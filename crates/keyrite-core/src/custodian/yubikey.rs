//! [`PivToken`] over the `yubikey` crate (PC/SC): the custodian's real key.

use std::time::{Duration, Instant};

use x509_cert::der::Encode as _;
use yubikey::piv::{self, AlgorithmId, SlotId};
use yubikey::{certificate::Certificate, MgmKey, PinPolicy, TouchPolicy, YubiKey};

use super::token::check_pin;
use super::{CustodianError, PivSlot, PivToken};
use crate::secret::SecretBytes;

/// A YubiKey found in a reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardInfo {
    /// PC/SC reader name.
    pub reader: String,
    /// The key's serial number.
    pub serial: u32,
}

fn slot_id(slot: PivSlot) -> SlotId {
    match slot {
        PivSlot::Signature => SlotId::Signature,
        PivSlot::KeyManagement => SlotId::KeyManagement,
    }
}

fn is_removal(e: &yubikey::Error) -> bool {
    use pcsc::Error as P;
    matches!(
        e,
        yubikey::Error::PcscError {
            inner: Some(
                P::RemovedCard
                    | P::ResetCard
                    | P::NoSmartcard
                    | P::ReaderUnavailable
                    | P::UnknownReader
                    // The card went away between BEGIN and END TRANSACTION.
                    | P::NotTransacted
            )
        }
    )
}

/// Maps a card error during `operation` ("signing") whose success would be `done` ("signed").
/// [`card_error`] for an operation with a PIN-protected key (9c signing, 9d key agreement),
/// done right after a successful VERIFY: there the card's "security status not satisfied"
/// (`AuthenticationError`) means the PIN state was cleared in between, not a wrong PIN.
fn pin_protected_error(
    serial: u32,
    operation: &'static str,
    operation_done: &'static str,
    e: yubikey::Error,
) -> CustodianError {
    match e {
        yubikey::Error::AuthenticationError => CustodianError::PinStateLost { serial, operation },
        e => card_error(serial, operation, operation_done, e),
    }
}

fn card_error(
    serial: u32,
    operation: &'static str,
    operation_done: &'static str,
    e: yubikey::Error,
) -> CustodianError {
    match e {
        yubikey::Error::PinLocked | yubikey::Error::WrongPin { tries: 0 } => {
            CustodianError::PinBlocked { serial }
        }
        yubikey::Error::WrongPin { tries } => CustodianError::WrongPin {
            serial,
            retries_left: tries,
        },
        e if is_removal(&e) => CustodianError::CardRemoved {
            serial,
            operation,
            operation_done,
        },
        e => CustodianError::Card {
            serial,
            operation,
            detail: e.to_string(),
        },
    }
}

/// Lists the YubiKeys (PIV cards answering with a serial) in all readers.
pub fn list_cards() -> Result<Vec<CardInfo>, CustodianError> {
    let no_reader = |e: yubikey::Error| match e {
        yubikey::Error::PcscError {
            inner:
                Some(
                    pcsc::Error::NoReadersAvailable
                    | pcsc::Error::NoService
                    | pcsc::Error::ServiceStopped,
                ),
        } => CustodianError::NoReader,
        e => CustodianError::Card {
            serial: 0,
            operation: "listing readers",
            detail: e.to_string(),
        },
    };
    let mut ctx = yubikey::reader::Context::open().map_err(no_reader)?;
    let readers: Vec<_> = ctx.iter().map_err(no_reader)?.collect();
    if readers.is_empty() {
        return Err(CustodianError::NoReader);
    }
    let mut cards = Vec::new();
    for reader in &readers {
        let Some(_settled) = SettledCard::hold(&reader.name()) else {
            continue;
        };
        if let Ok(yk) = reader.open() {
            cards.push(CardInfo {
                reader: reader.name().into_owned(),
                serial: yk.serial().0,
            });
            // Leave the card as it is: listing must not reset another process's session.
            let _ = yk.disconnect(pcsc::Disposition::LeaveCard);
        }
    }
    if cards.is_empty() {
        return Err(CustodianError::NoCard {
            readers: readers.len(),
        });
    }
    Ok(cards)
}

/// Waits until at least one YubiKey is inserted, polling every 200 ms, up to `timeout`.
pub fn wait_for_card(timeout: Duration) -> Result<Vec<CardInfo>, CustodianError> {
    let deadline = Instant::now() + timeout;
    loop {
        match list_cards() {
            Ok(cards) => return Ok(cards),
            Err(CustodianError::NoCard { .. }) | Err(CustodianError::NoReader)
                if Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(200))
            }
            Err(CustodianError::NoCard { .. }) | Err(CustodianError::NoReader) => {
                return Err(CustodianError::InsertTimeout {
                    seconds: timeout.as_secs(),
                })
            }
            Err(e) => return Err(e),
        }
    }
}

/// A custodian's YubiKey, opened over PC/SC.
pub struct YubiKeyPiv {
    yk: YubiKey,
    serial: u32,
}

impl std::fmt::Debug for YubiKeyPiv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("YubiKeyPiv")
            .field("serial", &self.serial)
            .finish_non_exhaustive()
    }
}

impl YubiKeyPiv {
    /// Opens the only inserted YubiKey; refuses when there are none or several.
    pub fn open_single() -> Result<Self, CustodianError> {
        let cards = list_cards()?;
        match cards.as_slice() {
            [one] => Self::open_serial(one.serial),
            _ => Err(CustodianError::TwoCards {
                serials: cards.iter().map(|c| c.serial).collect(),
            }),
        }
    }

    /// Opens the YubiKey with this serial; says which keys are inserted when it is not there.
    pub fn open_serial(serial: u32) -> Result<Self, CustodianError> {
        let cards = list_cards()?;
        if !cards.iter().any(|c| c.serial == serial) {
            return Err(CustodianError::WrongSerial {
                expected: serial,
                found: cards.iter().map(|c| c.serial).collect(),
            });
        }
        open_settled_by_serial(serial)
            .map(|yk| Self { yk, serial })
            .map_err(|e| card_error(serial, "opening", "opened", e))
    }
}

/// `YubiKey::open_by_serial`, but only over readers whose card has settled (see
/// [`SettledCard`]): the same search, the same errors.
fn open_settled_by_serial(serial: u32) -> Result<YubiKey, yubikey::Error> {
    let mut ctx = yubikey::reader::Context::open()?;
    let mut sharing_violation = None;
    for reader in ctx.iter()? {
        let Some(_settled) = SettledCard::hold(&reader.name()) else {
            continue;
        };
        match reader.open() {
            Ok(yk) if yk.serial().0 == serial => return Ok(yk),
            // Not the one asked for: leave it as it is for whoever uses it.
            Ok(yk) => drop(yk.disconnect(pcsc::Disposition::LeaveCard)),
            Err(
                e @ yubikey::Error::PcscError {
                    inner: Some(pcsc::Error::SharingViolation),
                },
            ) => {
                sharing_violation.get_or_insert(e);
            }
            Err(_) => {}
        }
    }
    Err(sharing_violation.unwrap_or(yubikey::Error::NotFound))
}

/// A shared PC/SC connection to a reader whose card has settled on a transmission protocol,
/// held while the `yubikey` crate opens the same card.
///
/// Why: while a card is being inserted or removed, pcsc-lite can accept a connection without
/// an active protocol, and the `yubikey` crate's first APDU then panics in the `pcsc` crate
/// ("transmit() does not work with direct connections") — an abort mid-ceremony in a release
/// build. Such a card is skipped for this attempt (the caller polls again or says no card is
/// there); holding a connection with a protocol keeps the card powered and negotiated while
/// the `yubikey` crate connects.
struct SettledCard(Option<pcsc::Card>);

impl SettledCard {
    /// `None` when the reader's card cannot be opened now: none there, not settled, or the
    /// reader gone. A card another program holds exclusively gives a holder of nothing: the `yubikey`
    /// crate's own connection then fails the same way and reports it.
    fn hold(reader: &str) -> Option<Self> {
        let name = std::ffi::CString::new(reader).ok()?;
        let ctx = pcsc::Context::establish(pcsc::Scope::System).ok()?;
        let card = match ctx.connect(&name, pcsc::ShareMode::Shared, pcsc::Protocols::T1) {
            Ok(card) => card,
            Err(pcsc::Error::SharingViolation) => return Some(SettledCard(None)),
            Err(_) => return None,
        };
        let settled = SettledCard(Some(card));
        let status = settled.0.as_ref()?.status2_owned().ok()?;
        status.protocol2()?;
        Some(settled)
    }
}

impl Drop for SettledCard {
    fn drop(&mut self) {
        if let Some(card) = self.0.take() {
            // Never reset the card (a dropped `pcsc::Card` does): the custodian's PIN
            // verification and the `yubikey` crate's session on it must survive this handle.
            if let Err((card, _)) = card.disconnect(pcsc::Disposition::LeaveCard) {
                std::mem::forget(card);
            }
        }
    }
}

impl PivToken for YubiKeyPiv {
    fn serial(&self) -> u32 {
        self.serial
    }

    fn pin_retries(&mut self) -> Result<u8, CustodianError> {
        self.yk
            .get_pin_retries()
            .map_err(|e| card_error(self.serial, "reading the PIN retry counter", "read", e))
    }

    fn verify_pin(&mut self, pin: &[u8]) -> Result<(), CustodianError> {
        check_pin(pin)?;
        self.yk
            .verify_pin(pin)
            .map_err(|e| card_error(self.serial, "PIN verification", "verified", e))
    }

    fn sign_digest(&mut self, digest: &[u8]) -> Result<Vec<u8>, CustodianError> {
        if digest.len() != 32 {
            return Err(CustodianError::BadDigestLength { len: digest.len() });
        }
        piv::sign_data(
            &mut self.yk,
            digest,
            AlgorithmId::EccP256,
            SlotId::Signature,
        )
        .map(|sig| sig.to_vec())
        .map_err(|e| pin_protected_error(self.serial, "signing", "signed", e))
    }

    fn ecdh(&mut self, peer_point: &[u8]) -> Result<SecretBytes, CustodianError> {
        if peer_point.len() != 65
            || peer_point[0] != 0x04
            || p256::PublicKey::from_sec1_bytes(peer_point).is_err()
        {
            return Err(CustodianError::BadPeerPoint {
                len: peer_point.len(),
            });
        }
        let shared = piv::decrypt_data(
            &mut self.yk,
            peer_point,
            AlgorithmId::EccP256,
            SlotId::KeyManagement,
        )
        .map_err(|e| pin_protected_error(self.serial, "key agreement", "opened", e))?;
        Ok(SecretBytes::from_slice(&shared))
    }

    fn read_cert(&mut self, slot: PivSlot) -> Result<Option<Vec<u8>>, CustodianError> {
        match Certificate::read(&mut self.yk, slot_id(slot)) {
            Ok(cert) => cert
                .cert
                .to_der()
                .map(Some)
                .map_err(|e| CustodianError::Card {
                    serial: self.serial,
                    operation: "reading a certificate",
                    detail: e.to_string(),
                }),
            // An empty certificate object reads as "invalid object" or "not found".
            Err(yubikey::Error::InvalidObject | yubikey::Error::NotFound) => Ok(None),
            Err(e) => Err(card_error(self.serial, "reading a certificate", "read", e)),
        }
    }

    fn authenticate_mgm(&mut self, key: Option<&[u8]>) -> Result<(), CustodianError> {
        let mgm = match key {
            Some(bytes) => {
                MgmKey::from_bytes(bytes).map_err(|_| CustodianError::ManagementKeyRefused {
                    serial: self.serial,
                })?
            }
            None => MgmKey::default(),
        };
        self.yk.authenticate(mgm).map_err(|e| match e {
            yubikey::Error::AuthenticationError => CustodianError::ManagementKeyRefused {
                serial: self.serial,
            },
            e => card_error(self.serial, "management-key authentication", "changed", e),
        })
    }

    fn generate_p256(&mut self, slot: PivSlot, touch: bool) -> Result<Vec<u8>, CustodianError> {
        let pin_policy = match slot {
            PivSlot::Signature => PinPolicy::Always,
            PivSlot::KeyManagement => PinPolicy::Once,
        };
        let touch_policy = if touch {
            TouchPolicy::Always
        } else {
            TouchPolicy::Never
        };
        let spki = piv::generate(
            &mut self.yk,
            slot_id(slot),
            AlgorithmId::EccP256,
            pin_policy,
            touch_policy,
        )
        .map_err(|e| card_error(self.serial, "key generation", "generated", e))?;
        spki.to_der().map_err(|e| CustodianError::Card {
            serial: self.serial,
            operation: "key generation",
            detail: e.to_string(),
        })
    }

    fn change_pin(&mut self, current: &[u8], new: &[u8]) -> Result<(), CustodianError> {
        check_pin(current)?;
        check_pin(new)?;
        self.yk
            .change_pin(current, new)
            .map_err(|e| card_error(self.serial, "changing the PIN", "changed", e))
    }

    fn change_puk(&mut self, current: &[u8], new: &[u8]) -> Result<(), CustodianError> {
        check_pin(current)?;
        check_pin(new)?;
        self.yk.change_puk(current, new).map_err(|e| match e {
            yubikey::Error::WrongPin { tries } => CustodianError::WrongPuk {
                serial: self.serial,
                retries_left: tries,
            },
            e => card_error(self.serial, "changing the PUK", "changed", e),
        })
    }

    fn set_mgm_key(&mut self, new: &[u8]) -> Result<(), CustodianError> {
        let mgm = MgmKey::from_bytes(new).map_err(|e| CustodianError::Card {
            serial: self.serial,
            operation: "setting the management key",
            detail: e.to_string(),
        })?;
        mgm.set_manual(&mut self.yk, false)
            .map_err(|e| card_error(self.serial, "setting the management key", "changed", e))
    }

    fn attest(&mut self, slot: PivSlot) -> Result<Option<Vec<u8>>, CustodianError> {
        match piv::attest(&mut self.yk, slot_id(slot)) {
            Ok(cert) => Ok(Some(cert.to_vec())),
            // Cards without attestation answer 6D00 (NotSupported) or 6A81 "function not
            // supported", which yubikey 0.8 reports as GenericError.
            Err(yubikey::Error::NotSupported | yubikey::Error::GenericError) => Ok(None),
            Err(e) => Err(card_error(
                self.serial,
                "reading the attestation",
                "read",
                e,
            )),
        }
    }

    fn read_attestation_intermediate(&mut self) -> Result<Option<Vec<u8>>, CustodianError> {
        // Read the raw object rather than through `Certificate::read`, which re-encodes: the
        // signature check needs the bytes exactly as Yubico signed them.
        let object = match self.yk.fetch_object(F9_OBJECT_ID) {
            Ok(object) => object,
            // 6A82 (not found) or another refusal status: the card has no f9 certificate for us.
            Err(
                yubikey::Error::NotFound
                | yubikey::Error::InvalidObject
                | yubikey::Error::GenericError,
            ) => return Ok(None),
            Err(e) => {
                return Err(card_error(
                    self.serial,
                    "reading the attestation certificate (slot f9)",
                    "read",
                    e,
                ))
            }
        };
        match certificate_from_object(&object) {
            Some(der) if !der.is_empty() => Ok(Some(der.to_vec())),
            // An empty or unrecognisable object: the card holds no f9 certificate to use.
            _ => Ok(None),
        }
    }
}

/// PIV data object of the attestation certificate (slot f9).
const F9_OBJECT_ID: u32 = 0x005f_ff01;

/// The certificate inside a PIV certificate object: `70 L <DER>` (then `71 01 <info>`,
/// `FE 00`). A bare DER certificate (starting with a SEQUENCE) is accepted as is.
fn certificate_from_object(object: &[u8]) -> Option<&[u8]> {
    match object.first()? {
        0x30 => Some(object),
        0x70 => {
            let (len, header) = ber_length(object.get(1..)?)?;
            object.get(1 + header..1 + header + len)
        }
        _ => None,
    }
}

/// A BER length (short or long form, up to 3 length bytes): (length, bytes it took).
fn ber_length(bytes: &[u8]) -> Option<(usize, usize)> {
    let first = *bytes.first()?;
    if first < 0x80 {
        return Some((usize::from(first), 1));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 || n > 3 {
        return None;
    }
    let len = bytes
        .get(1..1 + n)?
        .iter()
        .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
    Some((len, 1 + n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_object_is_unwrapped() {
        let cert = [0x30, 0x03, 0x02, 0x01, 0x01];
        let object = [
            0x70, 0x05, 0x30, 0x03, 0x02, 0x01, 0x01, 0x71, 0x01, 0x00, 0xFE, 0x00,
        ];
        assert_eq!(certificate_from_object(&object), Some(&cert[..]));
        assert_eq!(certificate_from_object(&cert), Some(&cert[..]));
        let mut long = vec![0x70, 0x82, 0x01, 0x00];
        long.extend(std::iter::repeat_n(0xAB, 256));
        assert_eq!(certificate_from_object(&long).map(<[u8]>::len), Some(256));
        // Truncated or unknown objects are not certificates.
        assert_eq!(certificate_from_object(&[0x70, 0x05, 0x30]), None);
        assert_eq!(certificate_from_object(&[0x53, 0x00]), None);
        assert_eq!(certificate_from_object(&[]), None);
    }
}
