//! PKCS#11 return codes in words.
//!
//! cryptoki's own messages quote whole paragraphs of the specification; an operator needs the
//! code's name (what the vendor's manual and support will ask for) and a short explanation.

use cryptoki::error::{Error, RvError};

/// The `CKR_…` name of a return code, derived from cryptoki's variant name
/// (`PinIncorrect` → `CKR_PIN_INCORRECT`).
pub fn rv_name(rv: &RvError) -> String {
    let debug = format!("{rv:?}");
    let mut out = String::from("CKR_");
    for (i, ch) in debug.chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(ch.to_ascii_uppercase());
    }
    out
}

/// A short explanation for the codes operators meet; `None` for the rest.
pub fn rv_hint(rv: &RvError) -> Option<&'static str> {
    Some(match rv {
        RvError::PinIncorrect => "the PIN is wrong",
        RvError::PinLocked => "the PIN is locked after too many wrong attempts",
        RvError::PinLenRange => "the PIN is too short or too long for this token",
        RvError::PinInvalid => "the PIN contains characters this token does not accept",
        RvError::TokenNotPresent => "the token is not present (removed?)",
        RvError::DeviceRemoved => "the token was removed during the operation",
        RvError::SlotIdInvalid => "the slot does not exist (token removed?)",
        RvError::TokenNotRecognized => "the module does not recognise the token in the slot",
        RvError::SessionHandleInvalid => {
            "the session is no longer valid (token removed or session closed)"
        }
        RvError::SessionClosed => "the session was closed during the operation",
        RvError::DeviceError => "the token reported a device error",
        RvError::ObjectHandleInvalid => {
            "the object is no longer there (destroyed or token removed)"
        }
        RvError::UserNotLoggedIn => "nobody is logged in to the token",
        RvError::UserAlreadyLoggedIn => "a user is already logged in",
        RvError::MechanismInvalid => "the token does not support this mechanism",
        RvError::KeyUnextractable => "the key may not leave the token",
        RvError::GeneralError => "the module reported a general error",
        RvError::CryptokiNotInitialized => "the module is not initialised",
        RvError::TemplateInconsistent => "the token refused the key attributes asked for",
        RvError::AttributeValueInvalid => "the token refused an attribute value",
        RvError::WrappedKeyInvalid => "the wrapped key is invalid or was wrapped under another key",
        RvError::EncryptedDataInvalid => "the data did not decrypt under this key",
        _ => return None,
    })
}

/// Describes a cryptoki error: the return code's name and, when known, what it means.
pub fn error_words(e: &Error) -> String {
    match e {
        Error::Pkcs11(rv, _) => match rv_hint(rv) {
            Some(h) => format!("{} ({h})", rv_name(rv)),
            None => rv_name(rv),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_specification() {
        assert_eq!(rv_name(&RvError::PinIncorrect), "CKR_PIN_INCORRECT");
        assert_eq!(rv_name(&RvError::GeneralError), "CKR_GENERAL_ERROR");
        assert_eq!(rv_name(&RvError::KeyUnextractable), "CKR_KEY_UNEXTRACTABLE");
    }

    #[test]
    fn words_carry_name_and_hint() {
        let e = Error::Pkcs11(RvError::PinLocked, cryptoki::context::Function::Login);
        assert_eq!(
            error_words(&e),
            "CKR_PIN_LOCKED (the PIN is locked after too many wrong attempts)"
        );
    }
}
