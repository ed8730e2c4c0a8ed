//! The per-share checksum: a Reed–Solomon code over GF(1024) with three check symbols.
//!
//! Modelled on SLIP-39's RS1024 (not byte-compatible with it). A share is a string of 10-bit
//! symbols; the checksum makes the whole string, prefixed with a fixed customization string,
//! a codeword of a Reed–Solomon code whose generator has the roots α, α², α³. Such a code has
//! minimum distance 4, so ANY change of up to three symbols (six base32 characters if they
//! fall into three symbols) is always detected; beyond that a random error slips through with
//! probability about 2⁻³⁰. The code is used for detection only: Keyrite never auto-corrects.
//!
//! Field: GF(2¹⁰) modulo the primitive polynomial x¹⁰ + x³ + 1; α = x.

/// The field's reduction polynomial x¹⁰ + x³ + 1.
const MODULUS: u16 = 0x409;

/// Domain separation: fed before the data so a checksum of another format never validates.
const CUSTOMIZATION: &[u8] = b"keyrite-share";

/// Number of check symbols.
pub const CHECK_SYMBOLS: usize = 3;

/// Multiplies two field elements (carry-less multiply, then reduce). Constant in time for
/// given inputs' bit length; shares are not secret against timing on an air-gapped box, but
/// there are no tables either.
const fn mul(a: u16, b: u16) -> u16 {
    let mut acc: u32 = 0;
    let mut i = 0;
    while i < 10 {
        if (b >> i) & 1 == 1 {
            acc ^= (a as u32) << i;
        }
        i += 1;
    }
    let mut bit = 18;
    while bit >= 10 {
        if (acc >> bit) & 1 == 1 {
            acc ^= (MODULUS as u32) << (bit - 10);
        }
        bit -= 1;
    }
    acc as u16
}

/// g(x) = (x + α)(x + α²)(x + α³) = x³ + G[0]x² + G[1]x + G[2].
const GENERATOR: [u16; 3] = generator();

const fn generator() -> [u16; 3] {
    // Coefficients, highest degree first, of the running product; starts as the polynomial 1.
    let mut poly = [1u16, 0, 0, 0];
    let mut degree = 0;
    let mut root = 2u16; // α
    while degree < 3 {
        // poly *= (x + root)
        let mut next = [0u16; 4];
        let mut i = 0;
        while i <= degree {
            next[i] ^= poly[i];
            next[i + 1] ^= mul(poly[i], root);
            i += 1;
        }
        poly = next;
        degree += 1;
        root = mul(root, 2);
    }
    [poly[1], poly[2], poly[3]]
}

/// Remainder of (customization ‖ symbols)·x³ modulo g(x).
fn remainder(symbols: &[u16]) -> [u16; 3] {
    let mut r = [0u16; 3];
    let custom = CUSTOMIZATION.iter().map(|b| *b as u16);
    for s in custom.chain(symbols.iter().copied()) {
        let f = (s & 0x3ff) ^ r[0];
        r = [
            r[1] ^ mul(f, GENERATOR[0]),
            r[2] ^ mul(f, GENERATOR[1]),
            mul(f, GENERATOR[2]),
        ];
    }
    r
}

/// The three check symbols to append to `data` (10-bit symbols).
pub fn checksum(data: &[u16]) -> [u16; 3] {
    remainder(data)
}

/// Whether `codeword` (data followed by its three check symbols) is valid.
pub fn verify(codeword: &[u16]) -> bool {
    codeword.len() >= CHECK_SYMBOLS && remainder(codeword) == [0, 0, 0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn alpha_generates_the_whole_multiplicative_group() {
        // x^10 + x^3 + 1 is primitive: α has order 1023.
        let mut x = 1u16;
        for k in 1..=1023u32 {
            x = mul(x, 2);
            assert_eq!(x == 1, k == 1023, "order of alpha at step {k}");
        }
    }

    #[test]
    fn generator_has_roots_alpha_to_alpha_cubed() {
        let mut a = 2u16;
        for _ in 0..3 {
            let v = mul(mul(mul(1, a), a), a)
                ^ mul(mul(GENERATOR[0], a), a)
                ^ mul(GENERATOR[1], a)
                ^ GENERATOR[2];
            assert_eq!(v, 0);
            a = mul(a, 2);
        }
    }

    proptest! {
        #[test]
        fn any_three_symbol_errors_are_detected(
            data in proptest::collection::vec(0u16..1024, 29..80),
            errs in proptest::collection::vec((any::<prop::sample::Index>(), 1u16..1024), 1..=3),
        ) {
            let mut word = data.clone();
            word.extend_from_slice(&checksum(&data));
            prop_assert!(verify(&word));
            let mut positions = std::collections::BTreeSet::new();
            for (pos, delta) in errs {
                let p = pos.index(word.len());
                if positions.insert(p) {
                    word[p] ^= delta;
                }
            }
            prop_assert!(!verify(&word));
        }
    }
}
