use super::*;

fn record(ty: u64, kind: u64, value: &[u8]) -> Vec<u8> {
    let mut v = ty.to_be_bytes().to_vec();
    v.extend(kind.to_be_bytes());
    v.extend(value);
    v
}

fn bytes_value(s: &[u8]) -> Vec<u8> {
    let mut v = (s.len() as u64).to_be_bytes().to_vec();
    v.extend(s);
    v
}

fn token_object(with_so_pin: bool) -> Vec<u8> {
    // Records in SoftHSM2's order (by attribute type), the SO PIN last.
    let mut v = 7u64.to_be_bytes().to_vec();
    v.extend(record(1, KIND_BOOL, &[0xff]));
    v.extend(record(0x8000_5349, KIND_BYTES, &bytes_value(b"label")));
    v.extend(record(0x8000_534a, KIND_BYTES, &bytes_value(b"serial")));
    v.extend(record(0x8000_534b, KIND_ULONG, &0x42du64.to_be_bytes()));
    if with_so_pin {
        v.extend(record(0x8000_534c, KIND_BYTES, &bytes_value(&[9; 72])));
    }
    v
}

#[test]
fn a_whole_token_object_is_complete() {
    assert_eq!(check(&token_object(true)), Verdict::Complete);
}

#[test]
fn every_cut_is_damage() {
    let whole = token_object(true);
    assert_eq!(check(&[]), Verdict::Damaged("it is empty".into()));
    assert_eq!(
        check(&whole[..5]),
        Verdict::Damaged("it ends inside the generation number (5 bytes)".into())
    );
    assert_eq!(
        check(&whole[..20]),
        Verdict::Damaged("it ends inside an attribute header at byte 8 (20 bytes)".into())
    );
    assert_eq!(
        check(&whole[..24]),
        Verdict::Damaged("it ends inside attribute 0x1 at byte 8 (24 bytes)".into())
    );
    assert_eq!(
        check(&whole[..50]),
        Verdict::Damaged("it ends inside attribute 0x80005349 at byte 25 (50 bytes)".into())
    );
    for n in 1..whole.len() {
        assert!(
            matches!(check(&whole[..n]), Verdict::Damaged(_)),
            "cut at {n} not seen"
        );
    }
}

#[test]
fn a_token_without_its_so_pin_is_damaged() {
    assert_eq!(
        check(&token_object(false)),
        Verdict::Damaged("it lacks the token's SO PIN".into())
    );
}

/// A secret key as SoftHSM2 writes it: class, label, id, a template, the mechanisms.
fn key_object() -> Vec<u8> {
    let mut v = 3u64.to_be_bytes().to_vec();
    v.extend(record(0, KIND_ULONG, &4u64.to_be_bytes()));
    v.extend(record(1, KIND_BOOL, &[0xff]));
    v.extend(record(3, KIND_BYTES, &bytes_value(b"kek")));
    v.extend(record(0x102, KIND_BYTES, &bytes_value(&[1, 2])));
    v.extend(record(0x172, KIND_BOOL, &[0xff]));
    let inner = record(2, KIND_BOOL, &[0xff]);
    v.extend(record(0x4000_0211, KIND_ATTRMAP, &bytes_value(&inner)));
    v.extend(record(0x4000_0600, KIND_MECHSET, &1u64.to_be_bytes()));
    v.extend(0x2109u64.to_be_bytes());
    v
}

#[test]
fn a_whole_key_object_with_a_template_is_complete() {
    assert_eq!(check_object(&key_object()), Verdict::Complete);
}

#[test]
fn every_prefix_of_a_key_object_is_half_made() {
    let whole = key_object();
    assert_eq!(
        check_object(&whole[..8]),
        Verdict::Damaged("it has no object class (CKA_CLASS)".into())
    );
    // What C_CopyObject leaves after copying the class, token and label.
    let three_records = 8 + 24 + 17 + 27;
    assert_eq!(
        check_object(&whole[..three_records]),
        Verdict::Damaged(
            "an object of class 4 without CKA_ID, which SoftHSM2 writes for every such object"
                .into()
        )
    );
    for n in 0..whole.len() {
        assert!(
            matches!(check_object(&whole[..n]), Verdict::Damaged(_)),
            "cut at {n} not seen"
        );
    }
}

#[test]
fn unknown_kinds_and_huge_lengths_do_not_panic() {
    let mut v = token_object(true);
    v.extend(record(2, 6, &[0; 8]));
    assert_eq!(
        check(&v),
        Verdict::Unknown(format!("attribute 0x2 at byte {} has kind 6", v.len() - 24))
    );
    let mut v = 1u64.to_be_bytes().to_vec();
    v.extend(record(3, KIND_BYTES, &u64::MAX.to_be_bytes()));
    assert!(matches!(check(&v), Verdict::Damaged(_)));
    let mut v = 1u64.to_be_bytes().to_vec();
    v.extend(record(3, KIND_MECHSET, &u64::MAX.to_be_bytes()));
    assert!(matches!(check(&v), Verdict::Damaged(_)));
}
