//! Token initialisation: `C_InitToken` (SO PIN, label) then `C_InitPIN` (user PIN).
//!
//! The PIN policy is checked before the token is touched. A token that is already initialised
//! is refused unless the caller passes `force`: re-initialising erases every key on it.

use super::identity::check_identity;
use super::quirks::Quirks;
use super::session::{call_err, token_name};
use super::{HsmError, Pkcs11Module, TokenSummary};
use crate::profile::{ExpectedIdentity, Mode};
use crate::secret::SecretText;
use cryptoki::session::UserType;
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

/// Minimum PIN length Keyrite accepts (SP 800-63B's minimum for memorised secrets is 8; HSM
/// PINs are entered on a supervised air-gapped machine, 8 is the floor).
pub const MIN_PIN_LEN: usize = 8;

/// Well-known default or trivial PINs, refused whatever their length.
const KNOWN_DEFAULTS: &[&str] = &[
    "1234",
    "12345",
    "123456",
    "1234567",
    "12345678",
    "123456789",
    "1234567890",
    "87654321",
    "password",
    "changeme",
    "fedcba9876543210",
    "0102030405060708",
];

/// Checks one PIN: length, not a known default, not a single repeated character, not a simple
/// ascending/descending digit run.
pub fn check_pin(which: &'static str, pin: &SecretText) -> Result<(), HsmError> {
    let fail = |problem: String| Err(HsmError::PinPolicy { which, problem });
    let p = pin.expose();
    let chars: Vec<char> = p.chars().collect();
    if chars.len() < MIN_PIN_LEN {
        return fail(format!(
            "it has {} characters, at least {MIN_PIN_LEN} are required",
            chars.len()
        ));
    }
    if KNOWN_DEFAULTS.iter().any(|d| d.eq_ignore_ascii_case(p)) {
        return fail("it is a well-known default PIN; choose a fresh one".into());
    }
    if chars.iter().all(|c| *c == chars[0]) {
        return fail("it repeats one character; choose a fresh one".into());
    }
    let digits: Option<Vec<i32>> = chars
        .iter()
        .map(|c| c.to_digit(10).map(|d| d as i32))
        .collect();
    if let Some(d) = digits {
        let steps: Vec<i32> = d.windows(2).map(|w| (w[1] - w[0]).rem_euclid(10)).collect();
        if steps.iter().all(|s| *s == 1) || steps.iter().all(|s| *s == 9) {
            return fail("it is a run of consecutive digits; choose a fresh one".into());
        }
    }
    Ok(())
}

/// Checks both PINs and that they differ.
pub fn check_pins(so_pin: &SecretText, user_pin: &SecretText) -> Result<(), HsmError> {
    check_pin("SO PIN", so_pin)?;
    check_pin("user PIN", user_pin)?;
    if so_pin.expose() == user_pin.expose() {
        return Err(HsmError::PinPolicy {
            which: "user PIN",
            problem: "it equals the SO PIN; the two roles need different PINs".into(),
        });
    }
    Ok(())
}

/// Which slot to initialise.
// `FirstFree` is what the core's own tests use to make a second token; Keyrite itself always
// names the slot (the pinned token, or the one `select_uninitialised` chose).
#[cfg_attr(not(feature = "testkit"), allow(dead_code))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitTarget {
    /// The first slot whose token is not initialised (SoftHSM2 always keeps one).
    FirstFree,
    /// A given slot.
    Slot(u64),
}

/// Initialises a token: PIN policy, label length (vendor quirks), refusal of an initialised
/// token without `force`, `C_InitToken`, SO login, `C_InitPIN`. Returns the token as read back.
/// `so_pin` is given to `C_InitToken` (for an initialised token it must be the current one)
/// and stays the SO PIN. Kept for the core's tests; Keyrite uses [`init_token_checked`].
#[cfg_attr(not(feature = "testkit"), allow(dead_code))]
pub fn init_token(
    module: &Pkcs11Module,
    target: &InitTarget,
    label: &str,
    so_pin: &SecretText,
    user_pin: &SecretText,
    force: bool,
    quirks: &Quirks,
) -> Result<TokenSummary, HsmError> {
    init_token_checked(
        module,
        target,
        label,
        &InitPins {
            current_so: None,
            new_so: so_pin,
            new_user: user_pin,
        },
        force,
        Mode::Rehearsal,
        None,
        quirks,
    )
}

/// The PINs of an initialisation.
pub struct InitPins<'a> {
    /// The token's current SO PIN, when it is initialised: `C_InitToken` needs it (PKCS#11
    /// 2.40 §11.5), and the new SO PIN is then set with `C_SetPIN`. `None` for a fresh token.
    pub current_so: Option<&'a SecretText>,
    /// The new SO PIN.
    pub new_so: &'a SecretText,
    /// The new user PIN.
    pub new_user: &'a SecretText,
}

/// The one token whose identity (manufacturer, model, serial, trimmed) is `expected`,
/// initialised or not: production initialises the token it checked, never "the first free".
pub fn select_pinned(
    module: &Pkcs11Module,
    expected: &ExpectedIdentity,
) -> Result<TokenSummary, HsmError> {
    let tokens = module.tokens()?;
    let is = |t: &TokenSummary| expected.matches(t);
    let mut hits: Vec<TokenSummary> = tokens.iter().filter(|t| is(t)).cloned().collect();
    match hits.len() {
        1 => Ok(hits.remove(0)),
        0 => Err(HsmError::TokenNotFound {
            path: module.path().to_path_buf(),
            selection: format!(
                "with the identity the site profile pins ({})",
                expected.describe()
            ),
            present: if tokens.is_empty() {
                "none".into()
            } else {
                tokens
                    .iter()
                    .map(|t| {
                        format!(
                            "slot {}{}: {} {} serial \"{}\"{}",
                            t.slot_id,
                            slot_description_of(expected, t),
                            t.manufacturer,
                            t.model,
                            t.serial,
                            if t.initialized {
                                ""
                            } else {
                                " (uninitialised)"
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        }),
        n => Err(HsmError::Identity {
            token: format!("pinned as {}", expected.describe()),
            problem: format!(
                "{n} tokens of PKCS#11 module {} answer to the pinned identity; Keyrite cannot \
                 tell which one to initialise",
                module.path().display()
            ),
        }),
    }
}

/// The slot's description, when the profile pins one: what a refusal shows beside the slot id.
fn slot_description_of(expected: &ExpectedIdentity, t: &TokenSummary) -> String {
    match expected.slot_description {
        Some(_) => format!(" (\"{}\")", t.slot_description.trim()),
        None => String::new(),
    }
}

/// Refuses to initialise a pinned token that reports no serial number yet. SoftHSM2 and
/// Kryoptic list an uninitialised token with a blank serial and assign one in `C_InitToken`:
/// a pinned identity then names no particular token before (every fresh slot of the module
/// answers to it) and cannot match the token after, so the re-check that proves the token
/// initialised is the token checked would fail only once the token had been erased. A profile
/// that pins the slot instead (`slot_id`, `slot_description`) names the token by its slot, and
/// the re-check after `C_InitToken` reads that same slot.
pub fn check_serial_pinnable(
    expected: Option<&ExpectedIdentity>,
    token: &TokenSummary,
) -> Result<(), HsmError> {
    if expected.is_some_and(|e| !e.pins_slot()) && token.serial.trim().is_empty() {
        return Err(HsmError::Identity {
            token: format!(
                "the {} {} token in slot {}",
                token.manufacturer, token.model, token.slot_id
            ),
            problem: "it reports no serial number before initialisation (its module assigns \
                      one in C_InitToken), so the identity the site profile pins cannot single \
                      it out nor be re-checked afterwards; initialise it with the vendor's \
                      tool, then pin the serial it reports"
                .into(),
        });
    }
    Ok(())
}

/// The token a plain (not forced) initialisation takes: the pinned one when the profile pins
/// an identity (it must be uninitialised), else the first uninitialised token — which only
/// rehearsal allows (production always pins).
pub fn select_uninitialised(
    module: &Pkcs11Module,
    mode: Mode,
    expected: Option<&ExpectedIdentity>,
) -> Result<TokenSummary, HsmError> {
    if let Some(e) = expected {
        let t = select_pinned(module, e)?;
        check_serial_pinnable(expected, &t)?;
        if t.initialized {
            return Err(HsmError::Identity {
                token: token_name(&t),
                problem: "the token the site profile pins is already initialised; \
                          re-initialising it erases every key and needs --force"
                    .into(),
            });
        }
        return Ok(t);
    }
    if mode == Mode::Production {
        return Err(HsmError::Identity {
            token: "(none selected)".into(),
            problem: "the site profile pins no HSM identity (hsm.expect); production needs one"
                .into(),
        });
    }
    module
        .tokens()?
        .into_iter()
        .find(|t| !t.initialized)
        .ok_or_else(|| HsmError::TokenNotFound {
            path: module.path().to_path_buf(),
            selection: "that is uninitialised".into(),
            present: "only initialised tokens; to re-initialise one pass --force with \
                      --token-label"
                .into(),
        })
}

/// Initialises the token in `target` as [`init_token`] does, and checks the identity the
/// profile pins (`expected`, in `mode`) on the token before `C_InitToken` and again, re-read
/// from the module, after it: the token initialised must be the token that was checked.
#[expect(clippy::too_many_arguments, reason = "each argument is a distinct input of the operation; a struct would only rename them")]
pub fn init_token_checked(
    module: &Pkcs11Module,
    target: &InitTarget,
    label: &str,
    pins: &InitPins<'_>,
    force: bool,
    mode: Mode,
    expected: Option<&ExpectedIdentity>,
    quirks: &Quirks,
) -> Result<TokenSummary, HsmError> {
    check_pins(pins.new_so, pins.new_user)?;
    let ctx = module.context();
    let target_name = format!("PKCS#11 module {}", module.path().display());
    let slots = ctx
        .get_slots_with_token()
        .map_err(|e| call_err("listing slots (C_GetSlotList)", &target_name, &e))?;
    let slot: Slot =
        match target {
            InitTarget::FirstFree => {
                let mut found = None;
                for s in slots {
                    if !module.token(s)?.initialized {
                        found = Some(s);
                        break;
                    }
                }
                found.ok_or_else(|| HsmError::TokenNotFound {
                    path: module.path().to_path_buf(),
                    selection: "that is uninitialised".into(),
                    present: "only initialised tokens".into(),
                })?
            }
            InitTarget::Slot(id) => slots.into_iter().find(|s| s.id() == *id).ok_or_else(|| {
                HsmError::TokenNotFound {
                    path: module.path().to_path_buf(),
                    selection: format!("in slot {id}"),
                    present: "see `keyrite hsm info`".into(),
                }
            })?,
        };
    let before = module.token(slot)?;
    if expected.is_some() || mode == Mode::Production {
        check_identity(mode, expected, &before)?;
    }
    check_serial_pinnable(expected, &before)?;
    let q = quirks.for_token(&before);
    q.check_label("token initialisation", &token_name(&before), label)?;
    q.check_pin_len("SO PIN", pins.new_so)?;
    q.check_pin_len("user PIN", pins.new_user)?;
    if before.initialized && !force {
        let public_objects = ctx
            .open_ro_session(slot)
            .and_then(|s| s.find_objects(&[]))
            .map(|v| v.len())
            .map_err(|e| call_err("counting objects", &token_name(&before), &e))?;
        return Err(HsmError::TokenNotEmpty {
            token: token_name(&before),
            public_objects,
        });
    }
    let target = format!("the token in slot {}", slot.id());
    // An initialised token takes its *current* SO PIN in C_InitToken; the new one is set
    // below. A fresh token takes the new SO PIN directly, unless the module gives fresh tokens
    // a factory SO PIN (vendor quirks `fresh_token_has_so_pin`): then the caller passes it.
    let init_so = pins.current_so.unwrap_or(pins.new_so);
    let so = AuthPin::new(init_so.expose().into());
    ctx.init_token(slot, &so, label)
        .map_err(|e| call_err("initialising the token (C_InitToken)", &target, &e))?;
    // SoftHSM2 moves a freshly initialised token to a new slot id: find it again, by the
    // pinned identity when there is one (two tokens may share a label), else by label.
    let (slot, t) = match expected {
        // The slot is pinned and C_InitToken assigned the serial: read that same slot again.
        Some(e) if e.serial_assigned_at_init() => (slot, module.token(slot)?),
        Some(e) => {
            let t = select_pinned(module, e)?;
            let s = module
                .context()
                .get_slots_with_token()
                .map_err(|e| call_err("listing slots (C_GetSlotList)", &target_name, &e))?
                .into_iter()
                .find(|s| s.id() == t.slot_id)
                .ok_or_else(|| HsmError::TokenNotFound {
                    path: module.path().to_path_buf(),
                    selection: format!("in slot {}", t.slot_id),
                    present: "see `keyrite hsm info`".into(),
                })?;
            (s, t)
        }
        None => module.find_token(&super::TokenSelector::Label(label.to_string()))?,
    };
    // Re-read and re-checked after C_InitToken: the initialised token must be the pinned one.
    if expected.is_some() || mode == Mode::Production {
        // Manufacturer, model and the pinned slot as before; the serial is the one the module
        // assigned when the profile left it to C_InitToken.
        let assigned = expected
            .filter(|e| e.serial_assigned_at_init())
            .map(|e| e.with_serial(&t.serial));
        check_identity(mode, assigned.as_ref().or(expected), &t)?;
    }
    if t.label != label {
        return Err(HsmError::Identity {
            token: token_name(&t),
            problem: format!(
                "after C_InitToken the pinned token is labelled \"{}\", not \"{label}\": another \
                 token was initialised; stop and inspect the module (keyrite hsm info)",
                t.label
            ),
        });
    }
    let session = ctx
        .open_rw_session(slot)
        .map_err(|e| call_err("opening a session (C_OpenSession)", &token_name(&t), &e))?;
    session
        .login(UserType::So, Some(&so))
        .map_err(|e| call_err("SO login (C_Login)", &token_name(&t), &e))?;
    if init_so.expose() != pins.new_so.expose() {
        session
            .set_pin(&so, &AuthPin::new(pins.new_so.expose().into()))
            .map_err(|e| call_err("setting the new SO PIN (C_SetPIN)", &token_name(&t), &e))?;
    }
    session
        .init_pin(&AuthPin::new(pins.new_user.expose().into()))
        .map_err(|e| call_err("setting the user PIN (C_InitPIN)", &token_name(&t), &e))?;
    let _ = session.logout();
    drop(session);
    module.token(slot)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> SecretText {
        SecretText::new(s.to_string())
    }

    #[test]
    fn pin_policy_messages() {
        let cases = [
            ("1234", "PIN policy refused the SO PIN: it has 4 characters, at least 8 are required"),
            ("12345678", "PIN policy refused the SO PIN: it is a well-known default PIN; choose a fresh one"),
            ("00000000", "PIN policy refused the SO PIN: it repeats one character; choose a fresh one"),
            ("34567890", "PIN policy refused the SO PIN: it is a run of consecutive digits; choose a fresh one"),
            ("98765432", "PIN policy refused the SO PIN: it is a run of consecutive digits; choose a fresh one"),
        ];
        for (pin, msg) in cases {
            assert_eq!(
                check_pin("SO PIN", &t(pin)).unwrap_err().to_string(),
                msg,
                "{pin}"
            );
        }
        check_pin("SO PIN", &t("k7Rq-2mXp")).unwrap();
        check_pin("SO PIN", &t("31415926")).unwrap();
    }

    #[test]
    fn user_pin_must_differ_from_so_pin() {
        let err = check_pins(&t("k7Rq-2mXp"), &t("k7Rq-2mXp")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "PIN policy refused the user PIN: it equals the SO PIN; the two roles need different PINs"
        );
    }
}
