//! Everything that can go wrong with a custodian's YubiKey, in words a ceremony can show.

use super::PivSlot;

/// Errors from custodian YubiKeys. Messages name the key (serial) and say what to do next;
/// they never contain a PIN, PUK or management key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CustodianError {
    /// PC/SC has no reader at all.
    #[error(
        "no smart-card reader found: check that pcscd is running and the YubiKey is plugged in"
    )]
    NoReader,
    /// Readers exist but none holds a YubiKey.
    #[error("no YubiKey found in {readers} reader(s): insert the custodian's YubiKey")]
    NoCard {
        /// How many readers were checked.
        readers: usize,
    },
    /// More than one key is inserted where one was asked for.
    #[error("{} YubiKeys are inserted (serials {}) but one was asked for: remove all but the custodian's key", .serials.len(), join(.serials))]
    TwoCards {
        /// The serials found.
        serials: Vec<u32>,
    },
    /// The inserted key is not the one enrolled for this custodian.
    #[error("the inserted YubiKey has serial {}, but the key asked for is serial {expected}: insert the right key", join(.found))]
    WrongSerial {
        /// The enrolled serial.
        expected: u32,
        /// What is inserted instead.
        found: Vec<u32>,
    },
    /// Wrong PIN; the card counted a retry.
    #[error("wrong PIN for YubiKey {serial}: {retries_left} tries left before the PIN is blocked")]
    WrongPin {
        /// The key.
        serial: u32,
        /// Tries left.
        retries_left: u8,
    },
    /// Wrong PUK during enrolment.
    #[error("wrong PUK for YubiKey {serial}: {retries_left} tries left before the PUK is blocked")]
    WrongPuk {
        /// The key.
        serial: u32,
        /// Tries left.
        retries_left: u8,
    },
    /// The PIN retry counter is at zero.
    #[error("the PIN of YubiKey {serial} is blocked: unblock it with the PUK, or replace the key through a quorum operation")]
    PinBlocked {
        /// The key.
        serial: u32,
    },
    /// PIN format check before anything is sent to the card.
    #[error("the PIN must be 6 to 8 characters, got {len}")]
    BadPinLength {
        /// Length given.
        len: usize,
    },
    /// The enrolment asked to keep a factory default.
    #[error("the new {what} of YubiKey {serial} is the factory default: choose a different one")]
    NewIsDefault {
        /// "PIN" or "PUK".
        what: &'static str,
        /// The key.
        serial: u32,
    },
    /// The card was pulled (or reset) while an operation ran.
    #[error("YubiKey {serial} was removed during {operation}: insert it again and repeat the step (nothing was {operation_done})")]
    CardRemoved {
        /// The key.
        serial: u32,
        /// e.g. "signing".
        operation: &'static str,
        /// e.g. "signed".
        operation_done: &'static str,
    },
    /// A slot has no key.
    #[error("YubiKey {serial} has no key in slot {slot}: enrol the key first")]
    EmptySlot {
        /// The key.
        serial: u32,
        /// The slot.
        slot: PivSlot,
    },
    /// A signature made by the card does not verify against the enrolled public key.
    #[error("the signature from YubiKey {serial} (slot {slot}) does not verify against the enrolled key: this card does not hold the enrolled key")]
    SignatureDoesNotVerify {
        /// The key.
        serial: u32,
        /// The slot.
        slot: PivSlot,
    },
    /// The management key was refused.
    #[error("YubiKey {serial} refused the management key: give the current management key (or reset the PIV application)")]
    ManagementKeyRefused {
        /// The key.
        serial: u32,
    },
    /// A peer public key for ECDH is not a valid uncompressed P-256 point.
    #[error("the sealed share's ephemeral key is not a valid uncompressed P-256 point (expected 65 bytes starting with 04, got {len} bytes)")]
    BadPeerPoint {
        /// Length given.
        len: usize,
    },
    /// A digest of the wrong size was given for P-256 signing.
    #[error("a P-256 signature needs a 32-byte SHA-256 digest, got {len} bytes")]
    BadDigestLength {
        /// Length given.
        len: usize,
    },
    /// The card refused a PIN-protected operation right after the PIN was verified: its
    /// security status was cleared in between (another PC/SC client selected the applet, as
    /// the OS's smart-card services may). Callers verify again once and retry.
    #[error("YubiKey {serial}: {operation} refused: the card no longer counted the PIN as verified (another program used the card in between); try again")]
    PinStateLost {
        /// The key.
        serial: u32,
        /// What was being done.
        operation: &'static str,
    },
    /// Any other card or PC/SC failure.
    #[error("YubiKey {serial}: {operation} failed: {detail}")]
    Card {
        /// The key (0 if not yet known).
        serial: u32,
        /// What was being done.
        operation: &'static str,
        /// The library's description.
        detail: String,
    },
    /// The site profile requires attested keys and this card's keys are not attested.
    #[error("YubiKey {serial} is not attested ({reason}), but the site profile requires attestation ([custodians] require_attestation = true): enrol a YubiKey whose keys verify against a trusted attestation root; {card_state}")]
    AttestationRequired {
        /// The key.
        serial: u32,
        /// Why it is not attested.
        reason: String,
        /// What enrolment changed on the card before refusing.
        card_state: &'static str,
    },
    /// Waiting for insertion timed out.
    #[error(
        "no YubiKey was inserted within {seconds} s: insert the custodian's key and try again"
    )]
    InsertTimeout {
        /// How long we waited.
        seconds: u64,
    },
}

fn join(serials: &[u32]) -> String {
    serials
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
