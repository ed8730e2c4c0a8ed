//! The HSM layer against a PKCS#11 module that, unlike SoftHSM2, really locks a PIN: OpenSC's
//! PKCS#11 module in front of the virtual PIV card (piv-sim, through the real pcscd and vpcd).
//! Covers issue 4's "wrong PIN carries the PIN state" and "locked PIN" on a real module.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::hsm::{Pkcs11Module, TokenSelector, TokenSession, UserKind};
use keyrite_core::secret::SecretText;
use keyrite_testkit::piv::Harness;
use serial_test::serial;

const OPENSC: &str = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so";

fn login(m: &Pkcs11Module, sel: &TokenSelector, pin: &str) -> String {
    match TokenSession::login(m, sel, UserKind::User, &SecretText::new(pin.into())) {
        Ok(_) => "logged in".into(),
        Err(e) => e.to_string(),
    }
}

#[test]
#[serial(piv, softhsm)]
fn wrong_pins_show_the_pin_state_and_a_locked_pin_is_never_tried() {
    let mut h = Harness::start();
    h.insert("lock", 61_000_001, 0);
    let m = Pkcs11Module::load(std::path::Path::new(OPENSC)).expect("OpenSC PKCS#11 module");
    let tokens = m.tokens().expect("tokens");
    let t = tokens
        .iter()
        .find(|t| t.initialized)
        .expect("the PIV card as a token");
    let name = format!("token \"{}\" (serial {})", t.label, t.serial);
    let sel = TokenSelector::Serial(t.serial.clone());

    assert_eq!(
        login(&m, &sel, "999999"),
        format!(
            "user login (C_Login) on {name} failed: CKR_PIN_INCORRECT (the PIN is wrong); PIN \
             state before: ok, after: ok; Keyrite never retries a PIN: check it before trying again"
        )
    );
    assert_eq!(
        login(&m, &sel, "999999"),
        format!(
            "user login (C_Login) on {name} failed: CKR_PIN_INCORRECT (the PIN is wrong); PIN \
             state before: ok, after: final try (one more wrong PIN locks it); Keyrite never \
             retries a PIN: check it before trying again"
        )
    );
    assert_eq!(
        login(&m, &sel, "999999"),
        format!(
            "user login (C_Login) on {name} failed: CKR_PIN_LOCKED (the PIN is locked after too \
             many wrong attempts); PIN state before: final try (one more wrong PIN locks it), \
             after: locked; Keyrite never retries a PIN: check it before trying again"
        )
    );
    // Locked: even the right PIN is not sent to the token.
    let refused = format!(
        "user login on {name} refused: the user PIN is locked (CKR_PIN_LOCKED); no attempt was \
         made; the SO (C_InitPIN) must reset it"
    );
    assert_eq!(login(&m, &sel, "999999"), refused);
    assert_eq!(login(&m, &sel, "123456"), refused);
}
