//! What a token says about itself, in a form fit for screens, JSON and records.

use cryptoki::slot::{SlotInfo, TokenInfo};
use cryptoki_sys::CK_FLAGS;
use serde::Serialize;

/// A token as the operator and the auditor see it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ts_rs::TS)]
pub struct TokenSummary {
    /// PKCS#11 slot id (not stable across restarts for SoftHSM2; select by label or serial).
    pub slot_id: u64,
    /// The slot's description.
    pub slot_description: String,
    /// Token label.
    pub label: String,
    /// Token manufacturer.
    pub manufacturer: String,
    /// Token model.
    pub model: String,
    /// Token serial number.
    pub serial: String,
    /// Token firmware version.
    pub firmware: String,
    /// Token hardware version.
    pub hardware: String,
    /// Whether the token has been initialised (`CKF_TOKEN_INITIALIZED`).
    pub initialized: bool,
    /// Whether this is a known software token (keys in host files).
    pub software: bool,
    /// The token's flags.
    pub flags: TokenFlags,
    /// Fields of `CK_TOKEN_INFO` the module filled in malformed, each with what it held
    /// (`hsm::rawinfo`); the token is listed all the same.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<String>,
}

/// Whether manufacturer and model name a known software token: a vendor-quirks section of the
/// built-in file marked `software = true`. A software token keeps its keys in files on the
/// host: fine for rehearsal, refused in production. This is the one place Keyrite decides it
/// (every `TokenSummary` is built through here), so the test switch below acts here only.
pub(crate) fn is_software(manufacturer: &str, model: &str) -> bool {
    static BUILTIN: std::sync::OnceLock<Option<super::quirks::Quirks>> = std::sync::OnceLock::new();
    let listed = BUILTIN
        .get_or_init(|| super::quirks::Quirks::builtin().ok())
        .as_ref()
        .is_some_and(|q| {
            q.modules
                .iter()
                .any(|m| m.software && m.matches(manufacturer, model))
        });
    listed && !software_treated_as_hardware()
}

/// Keyrite's own tests only (feature `testkit`; the shipped binaries refuse to build in release
/// with it, see `keyrite_core::TESTKIT`): with this variable set to `1`, a software token
/// (SoftHSM2, Kryoptic) is treated as hardware, so that production ceremonies can run end to
/// end in a test. Documented beside `journal::crash_point` in docs/engine.md.
#[cfg(feature = "testkit")]
pub(crate) const SOFTWARE_TOKEN_AS_HARDWARE: &str = "KEYRITE_TESTKIT_SOFTWARE_TOKEN_AS_HARDWARE";

#[cfg(feature = "testkit")]
fn software_treated_as_hardware() -> bool {
    std::env::var_os(SOFTWARE_TOKEN_AS_HARDWARE).is_some_and(|v| v == "1")
}

/// Without the `testkit` feature there is no switch: no code path reads the environment.
#[cfg(not(feature = "testkit"))]
const fn software_treated_as_hardware() -> bool {
    false
}

/// The flags from raw `CK_TOKEN_INFO.flags` bits and the slot's info.
pub(crate) fn flags_from_bits(bits: CK_FLAGS, si: &SlotInfo) -> TokenFlags {
    use cryptoki_sys as k;
    let on = |f: CK_FLAGS| bits & f != 0;
    TokenFlags {
        user_pin_initialized: on(k::CKF_USER_PIN_INITIALIZED),
        login_required: on(k::CKF_LOGIN_REQUIRED),
        write_protected: on(k::CKF_WRITE_PROTECTED),
        rng: on(k::CKF_RNG),
        user_pin_count_low: on(k::CKF_USER_PIN_COUNT_LOW),
        user_pin_final_try: on(k::CKF_USER_PIN_FINAL_TRY),
        user_pin_locked: on(k::CKF_USER_PIN_LOCKED),
        so_pin_count_low: on(k::CKF_SO_PIN_COUNT_LOW),
        so_pin_final_try: on(k::CKF_SO_PIN_FINAL_TRY),
        so_pin_locked: on(k::CKF_SO_PIN_LOCKED),
        hardware_slot: si.hardware_slot(),
        removable: si.removable_device(),
    }
}

/// The token flags that matter to a ceremony.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ts_rs::TS)]
pub struct TokenFlags {
    /// `CKF_USER_PIN_INITIALIZED`.
    pub user_pin_initialized: bool,
    /// `CKF_LOGIN_REQUIRED`.
    pub login_required: bool,
    /// `CKF_WRITE_PROTECTED`.
    pub write_protected: bool,
    /// `CKF_RNG`: the token has a random number generator.
    pub rng: bool,
    /// `CKF_USER_PIN_COUNT_LOW`.
    pub user_pin_count_low: bool,
    /// `CKF_USER_PIN_FINAL_TRY`.
    pub user_pin_final_try: bool,
    /// `CKF_USER_PIN_LOCKED`.
    pub user_pin_locked: bool,
    /// `CKF_SO_PIN_COUNT_LOW`.
    pub so_pin_count_low: bool,
    /// `CKF_SO_PIN_FINAL_TRY`.
    pub so_pin_final_try: bool,
    /// `CKF_SO_PIN_LOCKED`.
    pub so_pin_locked: bool,
    /// Whether the slot says it is a hardware slot (`CKF_HW_SLOT`).
    pub hardware_slot: bool,
    /// Whether the slot's device is removable (`CKF_REMOVABLE_DEVICE`).
    pub removable: bool,
}

impl TokenSummary {
    /// Builds the summary from cryptoki's slot and token info.
    pub fn from_info(slot_id: u64, si: &SlotInfo, ti: &TokenInfo) -> Self {
        let manufacturer = ti.manufacturer_id().trim().to_string();
        let model = ti.model().trim().to_string();
        let software = is_software(&manufacturer, &model);
        TokenSummary {
            slot_id,
            slot_description: si
                .slot_description()
                .trim_matches(|c: char| c.is_whitespace() || c == '\0')
                .to_string(),
            label: ti.label().trim().to_string(),
            manufacturer,
            model,
            serial: ti.serial_number().trim().to_string(),
            firmware: ti.firmware_version().to_string(),
            hardware: ti.hardware_version().to_string(),
            initialized: ti.token_initialized(),
            software,
            flags: TokenFlags {
                user_pin_initialized: ti.user_pin_initialized(),
                login_required: ti.login_required(),
                write_protected: ti.write_protected(),
                rng: ti.rng(),
                user_pin_count_low: ti.user_pin_count_low(),
                user_pin_final_try: ti.user_pin_final_try(),
                user_pin_locked: ti.user_pin_locked(),
                so_pin_count_low: ti.so_pin_count_low(),
                so_pin_final_try: ti.so_pin_final_try(),
                so_pin_locked: ti.so_pin_locked(),
                hardware_slot: si.hardware_slot(),
                removable: si.removable_device(),
            },
            unreadable: Vec::new(),
        }
    }
}

#[cfg(test)]
impl TokenSummary {
    /// A token for the core's unit tests: SoftHSM2's identity, slot 1, serial "5e1a", an
    /// initialised one with its user PIN set, login required, no PIN counter raised. Tests
    /// change the fields they are about.
    pub(crate) fn for_tests(label: &str, initialized: bool) -> Self {
        TokenSummary {
            slot_id: 1,
            slot_description: "slot".into(),
            label: label.into(),
            manufacturer: "SoftHSM project".into(),
            model: "SoftHSM v2".into(),
            serial: "5e1a".into(),
            firmware: "2.6".into(),
            hardware: "2.6".into(),
            initialized,
            software: true,
            flags: TokenFlags {
                user_pin_initialized: initialized,
                login_required: true,
                write_protected: false,
                rng: true,
                user_pin_count_low: false,
                user_pin_final_try: false,
                user_pin_locked: false,
                so_pin_count_low: false,
                so_pin_final_try: false,
                so_pin_locked: false,
                hardware_slot: false,
                removable: false,
            },
            unreadable: Vec::new(),
        }
    }
}
