//! RFC 5649 (AES key wrap with padding) by capability, not by mechanism number.
//!
//! PKCS#11 has two numbers for the same algorithm: `CKM_AES_KEY_WRAP_PAD` (0x210A, the
//! 2.40-era name SoftHSM2 offers) and `CKM_AES_KEY_WRAP_KWP` (0x210B, the 3.0 name Kryoptic
//! offers). Their output is byte-identical (RFC 5649 with the default IV), so a backup wrapped
//! under one unwraps under the other; each module refuses the other's number. Keyrite asks the
//! module which one it offers ([`choose`]) and records the choice in the evidence.
//!
//! `cryptoki` 0.12.1 has no name for 0x210B and `get_mechanism_list` silently drops numbers it
//! does not know, so the module is asked per number with `C_GetMechanismInfo`, which takes the
//! raw number and answers `CKR_MECHANISM_INVALID` for one it lacks.
#![expect(
    unsafe_code,
    reason = "cryptoki 0.12 cannot name CKM_AES_KEY_WRAP_KWP (0x210B); the mechanism type is built from its number"
)]

use super::quirks::ModuleQuirks;
use super::session::{call_err, token_name};
use super::{HsmError, TokenSummary};
use cryptoki::mechanism::vendor_defined::VendorDefinedMechanism;
use cryptoki::mechanism::{Mechanism, MechanismType};
use serde::{Deserialize, Serialize};
use std::os::raw::c_ulong;

/// One of the two PKCS#11 numbers for RFC 5649 key wrapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rfc5649 {
    /// `CKM_AES_KEY_WRAP_PAD` (0x210A).
    #[serde(rename = "CKM_AES_KEY_WRAP_PAD")]
    Pad,
    /// `CKM_AES_KEY_WRAP_KWP` (0x210B).
    #[serde(rename = "CKM_AES_KEY_WRAP_KWP")]
    Kwp,
}

/// Both, in the order Keyrite tries them when the quirks name neither.
pub const ALL: [Rfc5649; 2] = [Rfc5649::Pad, Rfc5649::Kwp];

/// How an operation that needs RFC 5649 names it when the module offers neither number.
pub const EITHER: &str = "RFC 5649 key wrapping (CKM_AES_KEY_WRAP_PAD 0x210A or \
                          CKM_AES_KEY_WRAP_KWP 0x210B)";

impl Rfc5649 {
    /// The `CKM_` name.
    pub fn name(self) -> &'static str {
        match self {
            Rfc5649::Pad => "CKM_AES_KEY_WRAP_PAD",
            Rfc5649::Kwp => "CKM_AES_KEY_WRAP_KWP",
        }
    }

    /// The PKCS#11 number.
    pub fn number(self) -> c_ulong {
        match self {
            Rfc5649::Pad => 0x210A,
            Rfc5649::Kwp => 0x210B,
        }
    }

    /// Parses [`Rfc5649::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        ALL.into_iter().find(|m| m.name() == name)
    }

    /// The mechanism type, also for the number cryptoki cannot name.
    pub fn mechanism_type(self) -> MechanismType {
        match self {
            Rfc5649::Pad => MechanismType::AES_KEY_WRAP_PAD,
            // SAFETY: `MechanismType` is `#[repr(transparent)]` over `CK_MECHANISM_TYPE`
            // (`c_ulong`) — cryptoki relies on that layout itself to read mechanism lists — so
            // every `c_ulong` is a valid value; cryptoki merely offers no constructor for
            // numbers below CKM_VENDOR_DEFINED that it does not know.
            Rfc5649::Kwp => unsafe { std::mem::transmute::<c_ulong, MechanismType>(0x210B) },
        }
    }

    /// The mechanism to pass to `C_WrapKey` / `C_UnwrapKey` (no parameter: the RFC 5649
    /// default IV).
    pub fn mechanism(self) -> Mechanism<'static> {
        match self {
            Rfc5649::Pad => Mechanism::AesKeyWrapPad,
            Rfc5649::Kwp => Mechanism::VendorDefined(VendorDefinedMechanism::new::<()>(
                self.mechanism_type(),
                None,
            )),
        }
    }
}

impl std::fmt::Display for Rfc5649 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether the module offers `m` for wrapping and unwrapping in `slot`.
pub fn offers(
    ctx: &cryptoki::context::Pkcs11,
    slot: cryptoki::slot::Slot,
    token: &TokenSummary,
    m: Rfc5649,
) -> Result<bool, HsmError> {
    match ctx.get_mechanism_info(slot, m.mechanism_type()) {
        Ok(info) => Ok(info.wrap() && info.unwrap()),
        Err(cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::MechanismInvalid, _)) => {
            Ok(false)
        }
        Err(e) => Err(call_err(
            &format!("asking for {} (C_GetMechanismInfo)", m.name()),
            &token_name(token),
            &e,
        )),
    }
}

/// The RFC 5649 mechanism to use on this token: the one the vendor quirks name
/// (`wrap_mechanism`), else the first of [`ALL`] the module offers. Refused before anything
/// changes when the module offers none (or not the one the quirks name), or the quirks say it
/// lacks it.
pub fn choose(
    ctx: &cryptoki::context::Pkcs11,
    slot: cryptoki::slot::Slot,
    token: &TokenSummary,
    quirks: Option<&ModuleQuirks>,
    operation: &str,
) -> Result<Rfc5649, HsmError> {
    let named = quirks.and_then(|q| q.wrap_mechanism);
    let candidates: Vec<Rfc5649> = match named {
        Some(m) => vec![m],
        None => ALL.to_vec(),
    };
    for m in candidates {
        if quirks.is_some_and(|q| q.lacks(m.name())) {
            continue;
        }
        if offers(ctx, slot, token, m)? {
            return Ok(m);
        }
    }
    Err(HsmError::MechanismMissing {
        operation: operation.into(),
        token: token_name(token),
        mechanism: match named {
            Some(m) => format!("{} (named by the vendor quirks' wrap_mechanism)", m.name()),
            None => EITHER.into(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_numbers_and_names() {
        let raw: c_ulong = Rfc5649::Kwp.mechanism_type().into();
        assert_eq!(raw, 0x210B);
        let raw: c_ulong = Rfc5649::Pad.mechanism_type().into();
        assert_eq!(raw, 0x210A);
        assert_eq!(
            Rfc5649::from_name("CKM_AES_KEY_WRAP_KWP"),
            Some(Rfc5649::Kwp)
        );
        assert_eq!(Rfc5649::from_name("CKM_AES_KEY_WRAP"), None);
        match Rfc5649::Kwp.mechanism() {
            Mechanism::VendorDefined(_) => {}
            other => panic!("{other:?}"),
        }
        let ty: c_ulong = Rfc5649::Kwp.mechanism().mechanism_type().into();
        assert_eq!(ty, 0x210B);
    }
}
