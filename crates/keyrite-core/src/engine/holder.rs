//! A share of the set being recovered as the recovery prompt shows it: who was issued it and
//! how it can come back (typed from the card, a passphrase-sealed file, a YubiKey). Nothing
//! here is secret: indices, names and file paths are in the journal already.

use serde::Serialize;
use ts_rs::TS;

/// One issued share of the set a `recover` step rebuilds, and its holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct ShareHolder {
    /// The holder's participant id in this ceremony (`custodian-2`), if they checked in.
    pub custodian: Option<String>,
    /// The holder's name, as the journal recorded it when the share was issued.
    pub name: String,
    /// Share index (1..=N).
    pub index: u8,
    /// The share was shown on screen when issued: it can be typed or scanned from the card.
    pub shown: bool,
    /// The sealed file written when it was issued, if any.
    pub sealed_file: Option<String>,
    /// The YubiKey the sealed file is sealed to (else a passphrase seals it).
    pub yubikey_serial: Option<u32>,
    /// The share was presented and opened in this step.
    pub presented: bool,
}
