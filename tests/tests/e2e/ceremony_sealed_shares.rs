//! Issue 17 item 3, "shares as the script says": with the five custodians enrolled on
//! (virtual) YubiKeys before it, root-key-generation seals share i to the YubiKey of the
//! custodian who checked in as `custodian-i` (matched by name in the custodian register), writes
//! it where the quorum operations write theirs, journals it, and verify-shares has each
//! custodian open their own share with their card and PIN. Each file opens on its own card
//! only; the record verifies against the journal; after the HSM is lost, root-key-recovery
//! rebuilds the root KEK from three of those sealed files.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::custodian::YubiKeyPiv;
use keyrite_core::hsm::backup::KeyBackup;
use keyrite_core::inventory::custodians as register;
use keyrite_core::journal::{Event, Journal};
use keyrite_core::operations::open_sealed_share;
use keyrite_core::secret::SecretBytes;
use keyrite_testkit::ceremony::run_answered_ok;
use keyrite_testkit::ceremony::{
    answers, events, record_of, record_prints_kek, script, verify_record_against_journal,
};
use keyrite_testkit::piv::Harness;
use keyrite_testkit::quorum::enrol_custodians;
use keyrite_testkit::quorum::{quorum_answers, run_with_cards, token_labels, CUSTODIANS, YK_PIN};
use keyrite_testkit::{stderr, stdout, TempData};
use serial_test::serial;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The root KEK's check value, as the backups made under it record it.
fn root_kek_kcv(data: &Path) -> String {
    std::fs::read_dir(data.join("backups"))
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            KeyBackup::decode("b", &std::fs::read_to_string(&p).ok()?).ok()
        })
        .find(|b| b.wrapping_key_label == "keyrite-root-kek")
        .expect("a backup under the root KEK")
        .wrapping_key_kcv
}

/// Opens `file` on the card `serial` as custodian `holder` (their enrolled record).
fn open_on(
    h: &mut Harness,
    data: &Path,
    holder: &str,
    serial: u32,
    file: &Path,
) -> Result<String, String> {
    let j = Journal::open_read_only(&data.join("journal.sqlite"), &Default::default()).unwrap();
    let rec = register::get(j.store(), holder).unwrap().unwrap().record;
    let sealed = std::fs::read(file).unwrap();
    // The card's state (its PIN, its keys) is kept under its owner's name.
    let owner = CUSTODIANS.iter().find(|(_, s)| *s == serial).unwrap().0;
    h.insert(owner, serial, 0);
    let mut yk = YubiKeyPiv::open_serial(serial).unwrap();
    let pin = SecretBytes::from_slice(YK_PIN.as_bytes());
    let r = open_sealed_share(&mut yk, &rec, &pin, &sealed)
        .map(|s| s.fingerprint().hex())
        .map_err(|e| e.to_string());
    drop(yk);
    h.remove(serial);
    r
}

#[test]
#[serial(piv, softhsm)]
fn root_key_generation_seals_each_share_to_its_custodians_yubikey_and_recovers_from_three() {
    let mut h = Harness::start();
    let t = TempData::new();
    let data = t.path();
    let dir = t.tmp.path();
    run_answered_ok(&data, &script("hsm-initialisation"), &answers(dir));

    // The five custodians enrol before the root key exists.
    enrol_custodians(&t, &mut h);

    // Root key generation: nobody's card is needed to seal (public keys only); each
    // custodian's card is asked for once, to open their share in verify-shares.
    let mark = events(&data).len();
    let ans = quorum_answers(dir, "rootkey", &[], &[], &[]);
    let r = run_with_cards(&t, &mut h, &script("root-key-generation"), &ans);
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    assert_eq!(r.inserted, CUSTODIANS.map(|(_, s)| s).to_vec());
    for (name, serial) in CUSTODIANS {
        let says = format!("sealed to {name}'s YubiKey (serial {serial}) into ");
        assert!(r.stdout.contains(&says), "{says} not in {}", r.stdout);
    }

    let ev = events(&data);
    let (set_id, fingerprints) = ev[mark..]
        .iter()
        .find_map(|e| match e {
            Event::ShareSetCreated {
                set_id,
                share_fingerprints,
                ..
            } => Some((set_id.clone(), share_fingerprints.clone())),
            _ => None,
        })
        .unwrap();
    let mut files: Vec<(u8, String, PathBuf)> = Vec::new();
    for e in &ev[mark..] {
        if let Event::ShareDistributed {
            set_id: s,
            index,
            custodian_id,
            shown,
            sealed_file,
            sealed_sha256,
            ..
        } = e
        {
            assert_eq!(s, &set_id);
            assert!(!shown, "share {index} was shown on screen");
            let file = PathBuf::from(sealed_file.clone().unwrap());
            assert_eq!(
                file,
                data.join("shares")
                    .join(&set_id)
                    .join(format!("share-{index}-{custodian_id}.sealed"))
            );
            let bytes = std::fs::read(&file).unwrap();
            assert_eq!(
                sealed_sha256.as_deref(),
                Some(hex::encode(Sha256::digest(&bytes)).as_str())
            );
            files.push((*index, custodian_id.clone(), file));
        }
    }
    let holders: Vec<(u8, &str)> = files.iter().map(|(i, c, _)| (*i, c.as_str())).collect();
    assert_eq!(
        holders,
        [
            (1, "yk-7001"),
            (2, "yk-7002"),
            (3, "yk-7003"),
            (4, "yk-7004"),
            (5, "yk-7005")
        ]
    );
    let verified: Vec<&str> = ev[mark..]
        .iter()
        .filter_map(|e| match e {
            Event::ShareVerified { custodian_id, .. } => Some(custodian_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        verified,
        ["yk-7001", "yk-7002", "yk-7003", "yk-7004", "yk-7005"]
    );
    // No passphrase-sealed share was written.
    let krseal = std::fs::read_dir(data.join("shares"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "krseal")
        })
        .count();
    assert_eq!(krseal, 0);

    // Each file opens on its own card only.
    for (i, holder, file) in &files {
        let serial = 7_000 + u32::from(*i);
        assert_eq!(
            open_on(&mut h, &data, holder, serial, file).as_deref(),
            Ok(fingerprints[usize::from(*i) - 1].as_str())
        );
        let other = 7_000 + u32::from(*i % 5 + 1);
        // The holder's record with another custodian's card: refused before the PIN.
        assert_eq!(
            open_on(&mut h, &data, holder, other, file),
            Err(format!(
                "recover: custodian {holder}: the inserted YubiKey has serial {other}, but the key asked for is serial {serial}: insert the right key"
            ))
        );
        // Another custodian with their own card and PIN: their key does not open it.
        assert_eq!(
            open_on(&mut h, &data, &format!("yk-{other}"), other, file),
            Err(format!(
                "recover: sealed share {i} of set {set_id} did not open with this key agreement: wrong key, or the file is damaged"
            ))
        );
    }

    let record = record_of(&data, "root-key-generation");
    let v = verify_record_against_journal(&data, &record);
    assert!(v.status.success(), "{}{}", stdout(&v), stderr(&v));

    // The HSM is lost; three custodians open their sealed files on their cards and the root
    // KEK is rebuilt into a fresh token, with its recorded check value.
    let kcv = root_kek_kcv(&data);
    std::fs::rename(data.join("softhsm"), dir.join("lost-hsm")).unwrap();
    let mark = events(&data).len();
    let ans = quorum_answers(
        dir,
        "recover",
        &[],
        &[("recover-root-kek", &["C Two", "C Four", "C Five"])],
        &[],
    );
    let r = run_with_cards(&t, &mut h, &script("root-key-recovery"), &ans);
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    assert_eq!(r.inserted, vec![7_002, 7_004, 7_005]);
    assert_eq!(
        token_labels(&data),
        ["keyrite-record-signing", "keyrite-root-kek"]
    );
    let ev = events(&data);
    let opened: Vec<&str> = ev[mark..]
        .iter()
        .filter_map(|e| match e {
            Event::ShareVerified { custodian_id, .. } => Some(custodian_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(opened, ["yk-7002", "yk-7004", "yk-7005"]);
    record_prints_kek(&data, "root-key-recovery", &kcv);
    let record = record_of(&data, "root-key-recovery");
    let v = verify_record_against_journal(&data, &record);
    assert!(v.status.success(), "{}{}", stdout(&v), stderr(&v));
}

/// Issue 17's acceptance: the HSM is lost and the root KEK is recovered into a fresh token
/// from three shares of mixed kinds — one sealed to its custodian's (virtual) YubiKey, one typed
/// from the card, one passphrase-sealed file with its passphrase — and every backup comes back.
/// Custodians 1-3 are enrolled, so their shares are sealed to their YubiKeys; the people in
/// seats 4 and 5 are not, so theirs are handed out as the script's alternative (sealed to the
/// passphrase; a card would carry the same text).
#[test]
#[serial(piv, softhsm)]
fn recovery_from_a_yubikey_sealed_a_typed_and_a_passphrase_sealed_share() {
    let mut h = Harness::start();
    let t = TempData::new();
    let data = t.path();
    let dir = t.tmp.path();
    run_answered_ok(&data, &script("hsm-initialisation"), &answers(dir));
    enrol_custodians(&t, &mut h);

    // Seats 4 and 5 taken by people who hold no enrolled YubiKey.
    let seats = |name: &str, extra: &str| {
        let p = quorum_answers(dir, name, &[], &[], &[]);
        let text = std::fs::read_to_string(&p)
            .unwrap()
            .replace("\"C Four\", \"C Five\"]", "\"D Four\", \"D Five\"]");
        assert!(text.contains("\"D Four\", \"D Five\"]"), "{text}");
        std::fs::write(&p, format!("{text}{extra}")).unwrap();
        p
    };
    let mark = events(&data).len();
    let r = run_with_cards(
        &t,
        &mut h,
        &script("root-key-generation"),
        &seats("rootkey", ""),
    );
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    let mut sealed: Vec<(u8, String, Option<String>)> = Vec::new();
    for e in &events(&data)[mark..] {
        if let Event::ShareDistributed {
            index,
            custodian_id,
            sealed_file,
            ..
        } = e
        {
            sealed.push((*index, custodian_id.clone(), sealed_file.clone()));
        }
    }
    sealed.sort();
    let kinds: Vec<(u8, &str)> = sealed.iter().map(|(i, c, _)| (*i, c.as_str())).collect();
    assert_eq!(
        kinds,
        [
            (1, "yk-7001"),
            (2, "yk-7002"),
            (3, "yk-7003"),
            (4, "custodian-4"),
            (5, "custodian-5")
        ],
        "shares 1-3 sealed to YubiKeys, 4-5 to the passphrase"
    );
    // What seat 4's holder types: the text of their share.
    let four = {
        let file = sealed[3].2.clone().expect("share 4's sealed file");
        let bytes = std::fs::read(file).unwrap();
        keyrite_core::shares::seal::open_with_passphrase(
            &bytes,
            &keyrite_core::secret::SecretText::new(keyrite_testkit::ceremony::PASSPHRASE.into()),
        )
        .unwrap()
    };
    let kcv = root_kek_kcv(&data);

    // The HSM is lost.
    std::fs::rename(data.join("softhsm"), dir.join("lost-hsm")).unwrap();
    let mark = events(&data).len();
    let present = format!(
        "[[present.recover-root-kek]]\ncustodian = \"C One\"\nyubikey = true\n\
         [[present.recover-root-kek]]\ncustodian = \"D Four\"\ntext = \"{}\"\n\
         [[present.recover-root-kek]]\ncustodian = \"D Five\"\npassphrase = \"{}\"\n",
        four.human_form().expose(),
        keyrite_testkit::ceremony::PASSPHRASE,
    );
    let r = run_with_cards(
        &t,
        &mut h,
        &script("root-key-recovery"),
        &seats("recover", &present),
    );
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    assert_eq!(r.inserted, vec![7_001], "only C One's card was needed");
    assert!(
        !r.stdout.contains(four.canonical_text().expose())
            && !r.stdout.contains(four.human_form().expose()),
        "the typed share was echoed"
    );
    assert_eq!(
        token_labels(&data),
        ["keyrite-record-signing", "keyrite-root-kek"],
        "the root KEK and every backed-up key are back"
    );
    let opened: Vec<(u8, String)> = events(&data)[mark..]
        .iter()
        .filter_map(|e| match e {
            Event::ShareVerified {
                index,
                custodian_id,
                ..
            } => Some((*index, custodian_id.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        opened,
        [
            (1, "yk-7001".to_string()),
            (4, "custodian-4".to_string()),
            (5, "custodian-5".to_string())
        ]
    );
    record_prints_kek(&data, "root-key-recovery", &kcv);
    let v = verify_record_against_journal(&data, &record_of(&data, "root-key-recovery"));
    assert!(v.status.success(), "{}{}", stdout(&v), stderr(&v));
}

/// A kill in the middle of the YubiKey-sealed hand-out: root-key-generation with custodians
/// 1-3 enrolled (their shares sealed to their cards) and seats 4-5 not, SIGKILLed right after
/// the first sealed share is journaled. The shares were in memory only, so the resumed run
/// must void the set (naming who holds a void sealed copy), destroy the root KEK that no
/// complete share set protects, and make and hand out a new set — not stop at "no share set is
/// in memory" (reported by a helper in an earlier session, not reproduced then).
#[test]
#[serial(piv, softhsm)]
fn root_key_generation_killed_after_the_first_sealed_share_resumes_with_a_new_share_set() {
    use keyrite_core::journal::crash_point::KILL_AT_JOURNAL_SIZE;
    use keyrite_testkit::quorum::run_with_cards_on;
    let mut h = Harness::start();
    let t = TempData::new();
    let data = t.path();
    let dir = t.tmp.path();
    run_answered_ok(&data, &script("hsm-initialisation"), &answers(dir));
    enrol_custodians(&t, &mut h);
    let p = quorum_answers(dir, "rootkey", &[], &[], &[]);
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("\"C Four\", \"C Five\"]", "\"D Four\", \"D Five\"]");
    assert!(text.contains("\"D Four\", \"D Five\"]"), "{text}");
    std::fs::write(&p, text).unwrap();

    // Where the first sealed share lands in the journal: an uninterrupted run on a copy.
    let reference = TempData::new();
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(&data)
        .arg(reference.path())
        .status()
        .unwrap();
    assert!(status.success());
    let r = run_with_cards(&reference, &mut h, &script("root-key-generation"), &p);
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    let first_sealed = events(&reference.path())
        .iter()
        .position(|e| {
            matches!(e, Event::ShareDistributed { custodian_id, .. } if custodian_id.starts_with("yk-"))
        })
        .expect("a share sealed to a YubiKey");

    let size = (first_sealed + 1).to_string();
    let r = run_with_cards_on(
        &t,
        &mut h,
        &script("root-key-generation"),
        &p,
        &[],
        &[(KILL_AT_JOURNAL_SIZE, size.as_str())],
    );
    assert_eq!(r.code, None, "killed: {}{}", r.stdout, r.stderr);
    let killed = events(&data);
    assert_eq!(killed.len(), first_sealed + 1);
    assert!(matches!(
        killed.last(),
        Some(Event::ShareDistributed { custodian_id, .. }) if custodian_id == "yk-7001"
    ));

    let r = run_with_cards(&t, &mut h, &script("root-key-generation"), &p);
    assert_eq!(r.code, Some(0), "resume: {}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("was not fully distributed before the interruption; its shares are lost; these copies are void and must be destroyed: share 1 held by yk-7001 (sealed file "),
        "{}",
        r.stdout
    );
    let after = events(&data);
    let sets: Vec<&str> = after
        .iter()
        .filter_map(|e| match e {
            Event::ShareDistributed { set_id, .. } => Some(set_id.as_str()),
            _ => None,
        })
        .collect();
    let new_set = *sets.last().unwrap();
    assert_ne!(sets[0], new_set, "a new share set was made");
    assert_eq!(
        sets.iter().filter(|s| **s == new_set).count(),
        5,
        "every share of the new set handed out"
    );
    assert_eq!(
        token_labels(&data),
        ["keyrite-record-signing", "keyrite-root-kek"],
        "one root KEK on the token"
    );
    let record = record_of(&data, "root-key-generation");
    let v = verify_record_against_journal(&data, &record);
    assert!(v.status.success(), "{}{}", stdout(&v), stderr(&v));
}
