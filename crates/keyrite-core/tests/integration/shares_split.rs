//! Split/combine properties and every bad-input path, with exact error messages.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::secret::SecretBytes;
use keyrite_core::shares::{combine, split, verify_one, Share};
use proptest::prelude::*;

fn secret(bytes: &[u8]) -> SecretBytes {
    SecretBytes::from_slice(bytes)
}

fn parse_all(texts: &[String]) -> Vec<Share> {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| Share::parse(t, Some(i + 1)).unwrap())
        .collect()
}

fn subsets(n: usize, k: usize) -> Vec<Vec<usize>> {
    (0u32..(1 << n))
        .filter(|m| m.count_ones() as usize == k)
        .map(|m| (0..n).filter(|i| m >> i & 1 == 1).collect())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn every_k_subset_rebuilds_and_every_k_minus_1_subset_is_too_few(
        data in proptest::collection::vec(any::<u8>(), 16..=64),
        (k, n) in (2u8..=6).prop_flat_map(|n| (2..=n, Just(n))),
    ) {
        let set = split(&secret(&data), k, n).unwrap();
        let texts: Vec<String> = set.shares.iter().map(|s| s.human_form().expose().to_string()).collect();
        for sub in subsets(n as usize, k as usize) {
            let shares: Vec<Share> = sub.iter().map(|i| Share::parse(&texts[*i], None).unwrap()).collect();
            let r = combine(&shares).unwrap();
            prop_assert_eq!(r.secret.expose(), &data[..]);
        }
        for sub in subsets(n as usize, k as usize - 1) {
            let shares: Vec<Share> = sub.iter().map(|i| Share::parse(&texts[*i], None).unwrap()).collect();
            let err = combine(&shares).unwrap_err().to_string();
            prop_assert!(err.starts_with(&format!("too few shares: set {} needs {k} shares, got {}", set.set_id, k - 1)), "{}", err);
        }
    }

    #[test]
    fn human_form_and_qr_payload_round_trip_in_any_case_and_spacing(data in proptest::collection::vec(any::<u8>(), 16..=64)) {
        let set = split(&secret(&data), 2, 3).unwrap();
        for s in &set.shares {
            let h = s.human_form();
            let again = Share::parse(&h.expose().to_lowercase().replace(' ', "-"), None).unwrap();
            prop_assert_eq!(again.canonical_text().expose().to_string(), s.canonical_text().expose().to_string());
            let q = Share::from_qr_payload(s.qr_payload().expose(), None).unwrap();
            prop_assert_eq!(q.qr_payload().expose().to_string(), s.qr_payload().expose().to_string());
            prop_assert_eq!(q.fingerprint(), s.fingerprint());
        }
    }

    #[test]
    fn any_changed_or_swapped_or_missing_character_is_refused(
        data in proptest::collection::vec(any::<u8>(), 16..=64),
        pos in any::<prop::sample::Index>(),
        delta in 1u8..32,
        changes in 1usize..=3,
    ) {
        let set = split(&secret(&data), 2, 3).unwrap();
        let text = set.shares[0].canonical_text().expose().to_string();
        let alphabet = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
        let val = |c: u8| alphabet.iter().position(|a| *a == c).unwrap();
        let p = pos.index(text.len());
        // Changed: up to 3 consecutive characters (at most 3 symbols).
        let mut changed = text.clone().into_bytes();
        for i in p..(p + changes).min(changed.len()) {
            changed[i] = alphabet[(val(changed[i]) + delta as usize) % 32];
        }
        prop_assert!(Share::parse(std::str::from_utf8(&changed).unwrap(), None).is_err());
        // Swapped with the next character (when different).
        let mut swapped = text.clone().into_bytes();
        let q = p.min(swapped.len() - 2);
        swapped.swap(q, q + 1);
        if swapped != text.as_bytes() {
            prop_assert!(Share::parse(std::str::from_utf8(&swapped).unwrap(), None).is_err());
        }
        // Missing.
        let mut missing = text.clone();
        missing.remove(p);
        prop_assert!(Share::parse(&missing, None).is_err());
    }

    #[test]
    fn with_k_plus_one_shares_and_one_corrupted_the_corrupted_one_is_named(
        data in proptest::collection::vec(any::<u8>(), 16..=32),
        (k, n) in (3u8..=6).prop_flat_map(|n| (2..n, Just(n))),
        bad in any::<prop::sample::Index>(),
        flip in 1u8..=255,
        byte in any::<prop::sample::Index>(),
    ) {
        let set = split(&secret(&data), k, n).unwrap();
        let mut shares: Vec<Share> = set.shares.into_iter().take(k as usize + 1).collect();
        let b = bad.index(shares.len());
        let corrupted = corrupt_value(&shares[b], byte.index(data.len()), flip);
        let index = shares[b].index();
        shares[b] = corrupted;
        let err = combine(&shares).unwrap_err().to_string();
        let expected_prefix = format!("share {index} of set {} (input #{}) is wrong: it passes its checksum", set.set_id, b + 1);
        prop_assert!(err.starts_with(&expected_prefix), "{}", err);
    }
}

/// A well-formed share with one value byte changed: re-encoded with a fresh, valid checksum
/// by going through the text form of a share that carries the changed value.
fn corrupt_value(s: &Share, at: usize, flip: u8) -> Share {
    keyrite_core::shares::testing::with_value_byte_flipped(s, at, flip)
}

fn three_of_five(data: &[u8]) -> (String, Vec<String>) {
    let set = split(&secret(data), 3, 5).unwrap();
    (
        set.set_id.to_string(),
        set.shares
            .iter()
            .map(|s| s.human_form().expose().to_string())
            .collect(),
    )
}

#[test]
fn too_few_shares_exact_message() {
    let (id, t) = three_of_five(&[7u8; 32]);
    let err = combine(&parse_all(&t[..2])).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("too few shares: set {id} needs 3 shares, got 2 (shares 1, 2); bring 1 more")
    );
}

#[test]
fn duplicate_share_exact_message() {
    let (id, t) = three_of_five(&[7u8; 32]);
    let err = combine(&parse_all(&[t[0].clone(), t[1].clone(), t[0].clone()])).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("share 1 of set {id} (input #3) was given twice; give each share once")
    );
}

#[test]
fn share_from_other_set_exact_message() {
    let (id, t) = three_of_five(&[7u8; 32]);
    let (other, u) = three_of_five(&[7u8; 32]);
    let err = combine(&parse_all(&[t[0].clone(), t[1].clone(), u[2].clone()])).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("share 3 of set {other} (input #3) belongs to another set (the first share is of set {id}); leave it out")
    );
}

#[test]
fn changed_character_exact_message() {
    let (id, t) = three_of_five(&[9u8; 16]);
    let mut c: Vec<char> = t[1].chars().collect();
    let last = c.len() - 1;
    c[last] = if c[last] == 'A' { 'B' } else { 'A' };
    let err = verify_one(&c.into_iter().collect::<String>()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("share 2 of set {id} fails its checksum: at least one character is wrong or two are swapped; compare every group with the card")
    );
}

#[test]
fn missing_character_exact_message() {
    let (id, t) = three_of_five(&[9u8; 32]);
    let mut s = t[2].clone();
    s.pop();
    let err = verify_one(&s).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("share 3 of set {id} has 89 characters, an odd number: a character is missing or extra; compare every group with the card")
    );
}

#[test]
fn truncated_qr_payload_exact_message() {
    let set = split(&secret(&[5u8; 32]), 2, 2).unwrap();
    let q = set.shares[0].qr_payload().expose().to_string();
    let cut = &q[..q.len() - 10];
    let err = Share::from_qr_payload(cut, Some(1)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("share 1 of set {} (input #1) has 80 characters but a share of a 32-byte secret has 90: characters are missing or extra (a truncated QR scan?)", set.set_id)
    );
    let err = Share::from_qr_payload(&q[..40], Some(1)).unwrap_err();
    assert_eq!(err.to_string(), format!("share 1 of set {} (input #1) is truncated: 26 characters where a share has at least 64; scan or type the whole share", set.set_id));
}

#[test]
fn unknown_version_exact_message() {
    let set = split(&secret(&[5u8; 32]), 2, 2).unwrap();
    let t = set.shares[0].canonical_text().expose().to_string();
    // The first character carries the top 5 bits of the version byte: "0" → "1" makes version 9.
    let bumped = format!("1{}", &t[1..]);
    let err = verify_one(&bumped).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("share 1 of set {} has unknown format version 9 (this Keyrite reads version 1); use the Keyrite that made it or check the first group", set.set_id)
    );
}

#[test]
fn bad_character_exact_message() {
    let err = verify_one("0Q4U 7777").unwrap_err();
    assert_eq!(err.to_string(), "share character 4 'U' is not a share character (0-9, A-Z without I L O U); retype it from the card");
}

#[test]
fn wrong_exactly_k_shares_cannot_be_named_but_are_refused() {
    let set = split(&secret(&[3u8; 16]), 2, 3).unwrap();
    let bad = corrupt_value(&set.shares[1], 0, 1);
    let shares = vec![
        Share::parse(set.shares[0].human_form().expose(), None).unwrap(),
        bad,
    ];
    let err = combine(&shares).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("shares 1, 2 of set {} do not rebuild the recorded secret (digest mismatch): at least one of them is wrong; bring one more share so Keyrite can name the wrong one", set.set_id)
    );
}

#[test]
fn split_parameters_are_checked() {
    assert_eq!(
        split(&secret(&[1; 32]), 1, 3).unwrap_err().to_string(),
        "cannot split: 1 of 3 is not allowed: Keyrite needs 2 ≤ K ≤ N ≤ 16"
    );
    assert_eq!(
        split(&secret(&[1; 32]), 2, 17).unwrap_err().to_string(),
        "cannot split: 2 of 17 is not allowed: Keyrite needs 2 ≤ K ≤ N ≤ 16"
    );
    assert_eq!(
        split(&secret(&[1; 15]), 2, 3).unwrap_err().to_string(),
        "cannot split: the secret is 15 bytes; Keyrite splits secrets of 16 to 64 bytes"
    );
    assert_eq!(
        split(&secret(&[1; 65]), 2, 3).unwrap_err().to_string(),
        "cannot split: the secret is 65 bytes; Keyrite splits secrets of 16 to 64 bytes"
    );
    let big = split(&secret(&[1; 64]), 16, 16).unwrap();
    assert_eq!(
        combine(&big.shares).unwrap().secret.expose(),
        &[1u8; 64][..]
    );
}

#[test]
fn first_four_groups_are_the_same_across_a_set_and_the_fifth_starts_with_the_index() {
    let set = split(&secret(&[4u8; 32]), 3, 5).unwrap();
    let heads: Vec<String> = set
        .shares
        .iter()
        .map(|s| s.human_form().expose()[..19].to_string())
        .collect();
    assert!(heads.iter().all(|h| *h == heads[0]));
    // The index byte is the first 8 bits of the fifth group: its first two characters differ.
    let fifth: std::collections::BTreeSet<String> = set
        .shares
        .iter()
        .map(|s| s.human_form().expose()[20..22].to_string())
        .collect();
    assert_eq!(fifth.len(), 5);
}
