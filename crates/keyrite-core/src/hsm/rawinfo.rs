//! Reading `CK_TOKEN_INFO` field by field when `cryptoki` rejects it whole.
//!
//! `cryptoki` 0.12.1 refuses the entire `C_GetTokenInfo` answer when one field is malformed:
//! openCryptoki's soft token writes its clock (`utcTime`, 16 digits `YYYYMMDDhhmmss00`) as
//! `04:34:14` followed by NULs, and every command then failed on that token. Keyrite asks the
//! module again through its own function list (`C_GetFunctionList`, same library, already
//! initialised) and decodes each field separately: a field that cannot be read is named in
//! [`TokenSummary::unreadable`] and the token is still listed.
#![expect(
    unsafe_code,
    reason = "reads C_GetTokenInfo through the raw PKCS#11 function list where cryptoki rejects a malformed answer"
)]

use super::token::{flags_from_bits, is_software};
use super::TokenSummary;
use cryptoki::slot::SlotInfo;
use cryptoki_sys::{CKF_CLOCK_ON_TOKEN, CKR_OK, CK_FUNCTION_LIST, CK_SLOT_ID, CK_TOKEN_INFO};
use std::path::Path;

/// Why the raw `C_GetTokenInfo` answer could not be had.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RawInfoError {
    /// The dynamic loader did not open the module again.
    #[error("{0}")]
    Load(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The module exports no `C_GetFunctionList` (the loader's words).
    #[error("the module has no C_GetFunctionList: {0}")]
    NoFunctionList(String),
    /// `C_GetFunctionList` failed or gave no table.
    #[error("C_GetFunctionList returned {}", words(*.0))]
    FunctionList(cryptoki_sys::CK_RV),
    /// The function table has no `C_GetTokenInfo`.
    #[error("the module's function list has no C_GetTokenInfo")]
    NoGetTokenInfo,
    /// `C_GetTokenInfo` failed.
    #[error("C_GetTokenInfo returned {}", words(*.0))]
    GetTokenInfo(cryptoki_sys::CK_RV),
}

/// Calls the module's `C_GetTokenInfo` for `slot` without interpreting the answer.
pub(crate) fn raw_token_info(path: &Path, slot: u64) -> Result<CK_TOKEN_INFO, RawInfoError> {
    // SAFETY: the path is the PKCS#11 module `Pkcs11Module::load` already loaded and
    // initialised in this process; loading it again returns the same library (reference
    // counted by the dynamic loader) and runs no new initialisers.
    let lib =
        unsafe { cryptoki_sys::Pkcs11::new(path) }.map_err(|e| RawInfoError::Load(Box::new(e)))?;
    let get_list = lib
        .C_GetFunctionList
        .as_ref()
        .map_err(|e| RawInfoError::NoFunctionList(e.to_string()))?;
    let mut list: *mut CK_FUNCTION_LIST = std::ptr::null_mut();
    // SAFETY: C_GetFunctionList writes one pointer to the module's static function table.
    let rv = unsafe { get_list(&mut list) };
    if rv != CKR_OK || list.is_null() {
        return Err(RawInfoError::FunctionList(rv));
    }
    // SAFETY: `list` is non-null and points to the module's function table, which lives as
    // long as the library (held by `lib` and by cryptoki's context).
    let get_info = unsafe { (*list).C_GetTokenInfo }.ok_or(RawInfoError::NoGetTokenInfo)?;
    let mut info = CK_TOKEN_INFO::default();
    // SAFETY: `info` is a properly sized, writable CK_TOKEN_INFO; the slot id is a plain
    // integer the module validates itself.
    let rv = unsafe { get_info(slot as CK_SLOT_ID, &mut info) };
    if rv != CKR_OK {
        return Err(RawInfoError::GetTokenInfo(rv));
    }
    Ok(info)
}

fn words(rv: cryptoki_sys::CK_RV) -> String {
    match cryptoki::error::Rv::from(rv) {
        cryptoki::error::Rv::Ok => "CKR_OK".into(),
        cryptoki::error::Rv::Error(e) => super::rv::rv_name(&e),
    }
}

/// A blank-padded text field: its text, or why it is unreadable.
fn text_field(name: &str, bytes: &[u8], unreadable: &mut Vec<String>) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    match std::str::from_utf8(&bytes[..end]) {
        Ok(s) => s.trim_end_matches(' ').trim().to_string(),
        Err(_) => {
            unreadable.push(format!("{name}: not UTF-8 (hex {})", hex::encode(bytes)));
            String::new()
        }
    }
}

/// The token's serial number, trimmed (empty if unreadable).
pub(crate) fn serial_of(info: &CK_TOKEN_INFO) -> String {
    text_field("serialNumber", &info.serialNumber, &mut Vec::new())
}

/// What the clock field shows: nothing when the token has no clock, else the 16 characters
/// if they are digits, or the field named as unreadable.
fn clock_field(info: &CK_TOKEN_INFO, unreadable: &mut Vec<String>) {
    if info.flags & CKF_CLOCK_ON_TOKEN == 0 {
        return;
    }
    let t = &info.utcTime;
    if !t.iter().all(u8::is_ascii_digit) {
        let shown: String = t
            .iter()
            .map(|b| {
                if b.is_ascii_graphic() {
                    char::from(*b)
                } else {
                    '.'
                }
            })
            .collect();
        unreadable.push(format!(
            "utcTime (the token's clock): \"{shown}\" is not 16 digits YYYYMMDDhhmmss00"
        ));
    }
}

/// Builds a summary from the raw answer, naming every field that cannot be read.
pub(crate) fn summary_from_raw(slot_id: u64, si: &SlotInfo, info: &CK_TOKEN_INFO) -> TokenSummary {
    let mut unreadable = Vec::new();
    let label = text_field("label", &info.label, &mut unreadable);
    let manufacturer = text_field("manufacturerID", &info.manufacturerID, &mut unreadable);
    let model = text_field("model", &info.model, &mut unreadable);
    let serial = text_field("serialNumber", &info.serialNumber, &mut unreadable);
    clock_field(info, &mut unreadable);
    let v = |x: cryptoki_sys::CK_VERSION| format!("{}.{}", x.major, x.minor);
    TokenSummary {
        slot_id,
        slot_description: si
            .slot_description()
            .trim_matches(|c: char| c.is_whitespace() || c == '\0')
            .to_string(),
        software: is_software(&manufacturer, &model),
        label,
        manufacturer,
        model,
        serial,
        firmware: v(info.firmwareVersion),
        hardware: v(info.hardwareVersion),
        initialized: info.flags & cryptoki_sys::CKF_TOKEN_INITIALIZED != 0,
        flags: flags_from_bits(info.flags, si),
        unreadable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn padded<const N: usize>(s: &str) -> [u8; N] {
        let mut out = [b' '; N];
        out[..s.len()].copy_from_slice(s.as_bytes());
        out
    }

    #[test]
    fn opencryptoki_clock_is_named_unreadable_and_the_rest_is_read() {
        let mut info = CK_TOKEN_INFO {
            label: padded("primary"),
            manufacturerID: padded("IBM"),
            model: padded("Soft"),
            serialNumber: padded("123"),
            flags: CKF_CLOCK_ON_TOKEN | cryptoki_sys::CKF_TOKEN_INITIALIZED,
            ..Default::default()
        };
        info.utcTime[..8].copy_from_slice(b"04:34:14");
        info.firmwareVersion.major = 3;
        let mut unreadable = Vec::new();
        clock_field(&info, &mut unreadable);
        assert_eq!(
            unreadable,
            vec![
                "utcTime (the token's clock): \"04:34:14........\" is not 16 digits \
                  YYYYMMDDhhmmss00"
                    .to_string()
            ]
        );
        assert_eq!(text_field("label", &info.label, &mut unreadable), "primary");
        let mut bad = Vec::new();
        assert_eq!(text_field("model", &[0xff, b' '], &mut bad), "");
        assert_eq!(bad, vec!["model: not UTF-8 (hex ff20)".to_string()]);
        info.utcTime = *b"2026120604341400";
        let mut none = Vec::new();
        clock_field(&info, &mut none);
        assert!(none.is_empty());
    }

    #[test]
    fn raw_info_errors_name_the_call_and_its_code() {
        let table = [
            (
                RawInfoError::NoFunctionList("undefined symbol".into()),
                "the module has no C_GetFunctionList: undefined symbol",
            ),
            (
                RawInfoError::FunctionList(cryptoki_sys::CKR_GENERAL_ERROR),
                "C_GetFunctionList returned CKR_GENERAL_ERROR",
            ),
            (
                RawInfoError::NoGetTokenInfo,
                "the module's function list has no C_GetTokenInfo",
            ),
            (
                RawInfoError::GetTokenInfo(cryptoki_sys::CKR_SLOT_ID_INVALID),
                "C_GetTokenInfo returned CKR_SLOT_ID_INVALID",
            ),
        ];
        for (e, expected) in table {
            assert_eq!(e.to_string(), expected);
        }
    }
}
