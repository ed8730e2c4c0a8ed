//! The pinned identity of the site's HSM (`[hsm.expect]`): manufacturer, model and serial as
//! `CK_TOKEN_INFO` reports them, and optionally the slot as `CK_SLOT_INFO` reports it.
//!
//! Some modules (SoftHSM2, Kryoptic) report a blank serial for every uninitialised token and
//! assign one in `C_InitToken`. Such a token can be pinned before its initialisation only by
//! its slot (`slot_id`, `slot_description`): the profile then leaves `serial` out, production
//! hsm-init initialises exactly the token in that slot, and the record tells the officer the
//! serial the module assigned, to pin from then on (`docs/formats/site-profile.md`).

use crate::hsm::TokenSummary;
use serde::{Deserialize, Serialize};

/// `CK_SLOT_INFO.slotDescription` is 64 bytes, blank-padded.
const SLOT_DESCRIPTION_MAX: usize = 64;

/// The pinned identity of the site's HSM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawIdentity")]
pub struct ExpectedIdentity {
    /// `CK_TOKEN_INFO.manufacturerID`, trimmed.
    pub manufacturer: String,
    /// `CK_TOKEN_INFO.model`, trimmed.
    pub model: String,
    /// `CK_TOKEN_INFO.serialNumber`, trimmed; empty when the module assigns it in
    /// `C_InitToken` and the slot is pinned instead.
    pub serial: String,
    /// The slot id as `C_GetSlotList` reports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot_id: Option<u64>,
    /// `CK_SLOT_INFO.slotDescription`, trimmed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot_description: Option<SlotDescription>,
}

/// The profile's text, before the rule that needs two fields is checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIdentity {
    manufacturer: String,
    model: String,
    #[serde(default)]
    serial: Option<String>,
    #[serde(default)]
    slot_id: Option<u64>,
    #[serde(default)]
    slot_description: Option<SlotDescription>,
}

/// Why `[hsm.expect]` was refused (serde reports it with the line and column).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExpectError {
    /// Neither a serial nor a slot is pinned.
    #[error(
        "hsm.expect pins no serial and no slot: pin the token's serial, or, for a token whose \
         module assigns the serial in C_InitToken, its slot (slot_id and/or slot_description \
         as the module lists them)"
    )]
    NothingPinned,
    /// `slot_description` is empty or blank.
    #[error(
        "hsm.expect.slot_description \"{}\" is empty; write it as `keyrite hsm info` lists the slot",
        .0.escape_debug()
    )]
    EmptySlotDescription(String),
    /// `slot_description` has leading or trailing blanks.
    #[error(
        "hsm.expect.slot_description \"{}\" has leading or trailing blanks; the module's blank \
         padding is not compared",
        .0.escape_debug()
    )]
    BlankPadded(String),
    /// `slot_description` holds a control character.
    #[error(
        "hsm.expect.slot_description \"{}\" contains a control character",
        .0.escape_debug()
    )]
    ControlCharacter(String),
    /// `slot_description` is longer than `CK_SLOT_INFO` holds.
    #[error(
        "hsm.expect.slot_description \"{}\" is {} bytes long; CK_SLOT_INFO holds at most \
         {SLOT_DESCRIPTION_MAX}",
        .0.escape_debug(),
        .0.len()
    )]
    TooLong(String),
}

impl TryFrom<RawIdentity> for ExpectedIdentity {
    type Error = ExpectError;
    fn try_from(r: RawIdentity) -> Result<Self, ExpectError> {
        // `serial` may be left out only when the slot is pinned; an explicit empty serial
        // without a slot is refused at hsm-init (`hsm::init::check_serial_pinnable`).
        let Some(serial) = r
            .serial
            .or_else(|| (r.slot_id.is_some() || r.slot_description.is_some()).then(String::new))
        else {
            return Err(ExpectError::NothingPinned);
        };
        Ok(Self {
            manufacturer: r.manufacturer,
            model: r.model,
            serial,
            slot_id: r.slot_id,
            slot_description: r.slot_description,
        })
    }
}

/// A slot description as the profile pins it, checked when the profile is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SlotDescription(String);

impl SlotDescription {
    /// The description as the module reports it, trimmed.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SlotDescription {
    type Error = ExpectError;
    fn try_from(d: String) -> Result<Self, ExpectError> {
        if d.trim().is_empty() {
            return Err(ExpectError::EmptySlotDescription(d));
        }
        if d.trim() != d {
            return Err(ExpectError::BlankPadded(d));
        }
        if d.chars().any(char::is_control) {
            return Err(ExpectError::ControlCharacter(d));
        }
        if d.len() > SLOT_DESCRIPTION_MAX {
            return Err(ExpectError::TooLong(d));
        }
        Ok(SlotDescription(d))
    }
}

impl From<SlotDescription> for String {
    fn from(d: SlotDescription) -> String {
        d.0
    }
}

impl ExpectedIdentity {
    /// Whether the profile pins the slot.
    pub fn pins_slot(&self) -> bool {
        self.slot_id.is_some() || self.slot_description.is_some()
    }

    /// Whether the serial is left to `C_InitToken` (and the slot pinned instead).
    pub fn serial_assigned_at_init(&self) -> bool {
        self.serial.trim().is_empty()
    }

    /// How `token` differs from the pinned slot, one phrase per field.
    pub fn slot_differences(&self, token: &TokenSummary) -> Vec<String> {
        let mut diffs = Vec::new();
        if let Some(id) = self.slot_id {
            if id != token.slot_id {
                diffs.push(format!(
                    "slot id is {}, the profile expects {id}",
                    token.slot_id
                ));
            }
        }
        if let Some(d) = &self.slot_description {
            if d.as_str() != token.slot_description.trim() {
                diffs.push(format!(
                    "slot description is \"{}\", the profile expects \"{}\"",
                    token.slot_description.trim(),
                    d.as_str()
                ));
            }
        }
        diffs
    }

    /// Whether `token` is the pinned one: every pinned field equal (trimmed).
    pub fn matches(&self, token: &TokenSummary) -> bool {
        self.manufacturer.trim() == token.manufacturer.trim()
            && self.model.trim() == token.model.trim()
            && self.serial.trim() == token.serial.trim()
            && self.slot_differences(token).is_empty()
    }

    /// The pinned identity in words, for messages.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "manufacturer \"{}\", model \"{}\", serial \"{}\"",
            self.manufacturer, self.model, self.serial
        );
        if let Some(id) = self.slot_id {
            s.push_str(&format!(", slot id {id}"));
        }
        if let Some(d) = &self.slot_description {
            s.push_str(&format!(", slot description \"{}\"", d.as_str()));
        }
        s
    }

    /// The same identity with the serial `C_InitToken` assigned: what the token in the pinned
    /// slot must show once initialised.
    pub fn with_serial(&self, serial: &str) -> Self {
        Self {
            serial: serial.to_string(),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::profile::SiteProfile;
    use std::path::Path;

    const BASE: &str = "version = 1\n[site]\nname = \"Vault\"\nmode = \"production\"\n[hsm]\n\
                        module = \"/opt/hsm/lib.so\"\ntoken_label = \"keyrite\"\n[hsm.expect]\n\
                        manufacturer = \"Kryoptic Project\"\nmodel = \"Kryoptic\"\n";

    fn parse(extra: &str) -> Result<SiteProfile, String> {
        SiteProfile::parse(&format!("{BASE}{extra}"), Path::new("site.toml"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_slot_may_stand_for_a_serial_the_module_assigns_at_init() {
        let p = parse("slot_id = 43\nslot_description = \"Kryoptic Slot\"\n").unwrap();
        let e = p.hsm.expect.unwrap();
        assert_eq!(e.serial, "");
        assert!(e.serial_assigned_at_init() && e.pins_slot());
        assert_eq!(e.slot_id, Some(43));
        assert_eq!(
            e.describe(),
            "manufacturer \"Kryoptic Project\", model \"Kryoptic\", serial \"\", slot id 43, \
             slot description \"Kryoptic Slot\""
        );
        // The serial pinning stays as it was, with or without a slot.
        let p = parse("serial = \"1234\"\n").unwrap();
        let e = p.hsm.expect.unwrap();
        assert!(!e.pins_slot() && !e.serial_assigned_at_init());
    }

    #[test]
    fn bad_slot_pins_are_refused_with_line_and_column() {
        assert_eq!(
            parse("").unwrap_err(),
            "site profile site.toml is invalid: line 8, column 1: hsm.expect pins no serial and \
             no slot: pin the token's serial, or, for a token whose module assigns the serial \
             in C_InitToken, its slot (slot_id and/or slot_description as the module lists them)"
        );
        assert_eq!(
            parse("slot_description = \"\"\n").unwrap_err(),
            "site profile site.toml is invalid: line 11, column 20: \
             hsm.expect.slot_description \"\" is empty; write it as `keyrite hsm info` lists the \
             slot"
        );
        assert_eq!(
            parse("slot_description = \" Kryoptic Slot\"\n").unwrap_err(),
            "site profile site.toml is invalid: line 11, column 20: \
             hsm.expect.slot_description \" Kryoptic Slot\" has leading or trailing blanks; the \
             module's blank padding is not compared"
        );
        assert_eq!(
            parse("slot_description = \"a\\tb\"\n").unwrap_err(),
            "site profile site.toml is invalid: line 11, column 20: \
             hsm.expect.slot_description \"a\\tb\" contains a control character"
        );
        let long = "x".repeat(65);
        assert_eq!(
            parse(&format!("slot_description = \"{long}\"\n")).unwrap_err(),
            format!(
                "site profile site.toml is invalid: line 11, column 20: \
                 hsm.expect.slot_description \"{long}\" is 65 bytes long; CK_SLOT_INFO holds at \
                 most 64"
            )
        );
        assert_eq!(
            parse("slot_id = -1\n").unwrap_err(),
            "site profile site.toml is invalid: line 11, column 11: invalid value: integer \
             `-1`, expected u64"
        );
        assert_eq!(
            parse("slot = 43\n").unwrap_err(),
            "site profile site.toml is invalid: line 11, column 1: unknown field `slot`, \
             expected one of `manufacturer`, `model`, `serial`, `slot_id`, `slot_description`"
        );
    }
}
