//! Crockford-style base32: the alphabet of the human form and the QR payload.
//!
//! 32 symbols, digits and upper-case letters without I, L, O and U, so every character is in
//! QR's alphanumeric set and no two look alike. Typing back, lower case is accepted and the
//! look-alikes O → 0 and I, L → 1 are read as Crockford prescribes.

/// The 32 characters, value = position.
pub const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The character for a 5-bit value.
pub fn char_of(v: u8) -> char {
    ALPHABET[(v & 31) as usize] as char
}

/// The 5-bit value of a typed character, or `None` if it is not a base32 character.
pub fn value_of(c: char) -> Option<u8> {
    let c = match c.to_ascii_uppercase() {
        'O' => '0',
        'I' | 'L' => '1',
        c => c,
    };
    ALPHABET
        .iter()
        .position(|a| *a as char == c)
        .map(|p| p as u8)
}

/// Whether `c` is a separator that typing may add between groups.
pub fn is_separator(c: char) -> bool {
    c.is_whitespace() || c == '-' || c == '.' || c == '_'
}
