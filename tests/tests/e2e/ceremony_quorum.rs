//! Issue 8's rehearsals through the CLI: five custodians enrol virtual YubiKeys (the real
//! `yubikey` crate → pcscd → vpcd → piv-sim), then key-rotation (of the root KEK) and
//! key-destruction run with 2 approvals — refused, token unchanged, refusal journaled — and
//! with 3 — done, approvals journaled, backups rewrapped under the new root KEK, a new share
//! set sealed to the custodians' YubiKeys, the destroyed key gone from the token. Then a
//! custodian is replaced (new YubiKey enrolled, new root KEK and share set for the five in the
//! room, each share opened on its YubiKey, the departing key retired). Last, the
//! root-key-recovery ceremony rebuilds the root KEK from three of those sealed shares, each
//! opened by its custodian's virtual YubiKey, into a re-initialised token and restores the
//! backups.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::engine::answers::AnswerFile;
use keyrite_core::engine::{Answer, Ceremony, CeremonyOptions, Prompt};
use keyrite_core::environment::Environment;
use keyrite_core::hsm::backup::KeyBackup;
use keyrite_core::journal::{Event, Journal};
use keyrite_core::script::Script;
use keyrite_core::secret::SecretText;
use keyrite_testkit::ceremony::events;
use keyrite_testkit::ceremony::run_answered_ok;
use keyrite_testkit::ceremony::site_with_backed_up_key;
use keyrite_testkit::ceremony::{
    record_of, record_prints_kek, script, verify_record_against_journal,
};
use keyrite_testkit::kek_record::{assert_kek_in_force, kek_named};
use keyrite_testkit::piv::Harness;
use keyrite_testkit::quorum::enrol_custodians;
use keyrite_testkit::quorum::YK_PIN;
use keyrite_testkit::quorum::{quorum_answers, run_with_cards, token_labels, CUSTODIANS};
use keyrite_testkit::{keyrite, stderr, stdout, TempData};
use serial_test::serial;
use std::path::Path;

/// key-generation-and-backup without its backup step, for a key named `label`: a key the
/// retention guard lets go.
fn generation_without_backup(dir: &Path, label: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(script("key-generation-and-backup")).unwrap();
    let mut parts: Vec<&str> = text.split("[[steps]]").collect();
    parts.retain(|p| !p.contains("action = \"backup\""));
    let text = parts
        .join("[[steps]]")
        .replace("keyrite-signing-key", label)
        .replace(
            "id = \"key-generation-and-backup\"",
            "id = \"key-generation\"",
        );
    let p = dir.join("key-generation.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn approvals_of(ev: &[Event], from: usize) -> (Vec<String>, Vec<String>) {
    let mut granted = Vec::new();
    let mut refused = Vec::new();
    for e in &ev[from..] {
        match e {
            Event::ApprovalGranted { custodian_id, .. } => granted.push(custodian_id.clone()),
            Event::ApprovalRefused { reason, .. } => refused.push(reason.clone()),
            _ => {}
        }
    }
    (granted, refused)
}

#[test]
#[serial(piv, softhsm)]
fn enrol_then_rotate_and_destroy_under_a_three_of_five_yubikey_quorum() {
    let mut h = Harness::start();
    let t = TempData::new();
    let data = t.path();
    let dir = t.tmp.path();
    let base = site_with_backed_up_key(&data, dir);
    run_answered_ok(
        &data,
        &generation_without_backup(dir, "keyrite-temp-key"),
        &base,
    );
    // A backup ceremony leaves the root KEK as it was: named at the start, no end line.
    assert_kek_in_force(
        &data,
        "key-generation-and-backup",
        &kek_named(&data, "keyrite-root-kek"),
        None,
    );

    // Enrolment: each custodian's card is asked for, in check-in order, once.
    let r = enrol_custodians(&t, &mut h);
    assert_eq!(r.inserted, CUSTODIANS.map(|(_, s)| s).to_vec());
    let ev = events(&data);
    let enrolled: Vec<(String, u32)> = ev
        .iter()
        .filter_map(|e| match e {
            Event::CustodianEnrolled {
                name,
                yubikey_serial,
                attested,
                ..
            } => {
                assert!(!attested, "piv-sim keys are not attested by Yubico");
                Some((name.clone(), *yubikey_serial))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        enrolled,
        CUSTODIANS.map(|(n, s)| (n.to_string(), s)).to_vec()
    );
    // The enrolment record names the root KEK in force, as root-key-generation journaled it.
    let kek1 = kek_named(&data, "keyrite-root-kek");
    assert_kek_in_force(&data, "custodian-enrolment", &kek1, None);

    // Rotation of the root KEK with two approvals: refused, nothing changes on the token.
    let before = token_labels(&data);
    assert!(
        before.contains(&"keyrite-root-kek".to_string()),
        "{before:?}"
    );
    let mark = ev.len();
    let ans = quorum_answers(
        dir,
        "rotate-2",
        &[("rotate-key", "keyrite-root-kek")],
        &[("rotate-key", &["C One", "C Two"])],
        &[("rotate-key", "abort")],
    );
    let r = run_with_cards(&t, &mut h, &script("key-rotation"), &ans);
    assert_eq!(r.code, Some(6), "{}{}", r.stdout, r.stderr);
    assert_eq!(r.inserted, vec![7_001, 7_002]);
    assert_eq!(
        token_labels(&data),
        before,
        "a refused rotation changed the token"
    );
    let ev = events(&data);
    let (granted, refused) = approvals_of(&ev, mark);
    assert!(granted.is_empty(), "{granted:?}");
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0].starts_with("2 of the 3 required approvals for request ")
            && refused[0].ends_with(": the operation needs 3 distinct enrolled custodians"),
        "{}",
        refused[0]
    );
    assert!(r.stdout.contains("Ceremony key-rotation-"), "{}", r.stdout);

    // With three: the root KEK is rotated, every backup rewrapped, a new sealed share set.
    let mark = ev.len();
    let ans = quorum_answers(
        dir,
        "rotate-3",
        &[("rotate-key", "keyrite-root-kek")],
        &[("rotate-key", &["C Two", "C Four", "C Five"])],
        &[],
    );
    // This time the custodians also sign off the steps on their YubiKeys.
    let text = std::fs::read_to_string(&ans).unwrap();
    std::fs::write(&ans, format!("yubikey_sign_offs = true\n{text}")).unwrap();
    let r = run_with_cards(&t, &mut h, &script("key-rotation"), &ans);
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    // Approvals, the rotation's sign-offs, every custodian opening their new share, the
    // verify step's sign-offs (every custodian), the record's.
    assert_eq!(
        r.inserted,
        [
            7_002, 7_004, 7_005, 7_001, 7_002, 7_003, 7_001, 7_002, 7_003, 7_004, 7_005, 7_001,
            7_002, 7_003, 7_004, 7_005, 7_001, 7_002, 7_003
        ]
    );
    let after = token_labels(&data);
    assert!(
        after.contains(&"keyrite-root-kek-r2".to_string()),
        "{after:?}"
    );
    assert!(
        !after.contains(&"keyrite-root-kek".to_string()),
        "{after:?}"
    );
    let ev = events(&data);
    let (granted, refused) = approvals_of(&ev, mark);
    assert_eq!(granted, vec!["yk-7002", "yk-7004", "yk-7005"]);
    assert!(refused.is_empty(), "{refused:?}");
    check_yubikey_sign_offs(&data, mark, 11);
    let rewrapped: Vec<KeyBackup> = std::fs::read_dir(data.join("backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let text = std::fs::read_to_string(&p).ok()?;
            KeyBackup::decode(&p.display().to_string(), &text).ok()
        })
        .filter(|b| b.wrapping_key_label == "keyrite-root-kek-r2")
        .collect();
    let mut labels: Vec<&str> = rewrapped.iter().map(|b| b.label.as_str()).collect();
    labels.sort();
    assert_eq!(labels, ["keyrite-record-signing", "keyrite-signing-key"]);
    // The rotation's record says which KEK: the new one's KCV and words (issue 14).
    record_prints_kek(&data, "key-rotation", &rewrapped[0].wrapping_key_kcv);
    let kek2 = kek_named(&data, "keyrite-root-kek-r2");
    assert_kek_in_force(&data, "key-rotation", &kek1, Some(&kek2));
    let set = ev[mark..]
        .iter()
        .find_map(|e| match e {
            Event::ShareSetCreated {
                set_id,
                threshold,
                share_count,
                ..
            } => Some((set_id.clone(), *threshold, *share_count)),
            _ => None,
        })
        .expect("a new share set");
    assert_eq!((set.1, set.2), (3, 5));
    let sealed = std::fs::read_dir(data.join("shares").join(&set.0))
        .unwrap()
        .count();
    assert_eq!(sealed, 5);
    assert!(ev[mark..]
        .iter()
        .any(|e| matches!(e, Event::ShareSetVoided { .. })));
    // The new set is verified before the ceremony closes: each custodian opened their share.
    let verified: Vec<(&str, &str)> = ev[mark..]
        .iter()
        .filter_map(|e| match e {
            Event::ShareVerified {
                set_id,
                custodian_id,
                ..
            } => Some((set_id.as_str(), custodian_id.as_str())),
            _ => None,
        })
        .collect();
    let s = set.0.as_str();
    assert_eq!(
        verified,
        [
            (s, "yk-7001"),
            (s, "yk-7002"),
            (s, "yk-7003"),
            (s, "yk-7004"),
            (s, "yk-7005")
        ]
    );

    // Emergency rotation of a signing key suspected compromised: replaced (and the
    // replacement backed up under the root KEK), the old key recorded compromised, its backup
    // retired, then destroyed.
    let mark = ev.len();
    let ans = quorum_answers(
        dir,
        "emergency",
        &[
            ("rotate-compromised-key", "keyrite-signing-key"),
            ("destroy-compromised-key", "keyrite-signing-key"),
        ],
        &[
            ("rotate-compromised-key", &["C One", "C Two", "C Three"]),
            ("destroy-compromised-key", &["C Four", "C Five", "C One"]),
        ],
        &[],
    );
    let r = run_with_cards(&t, &mut h, &script("emergency-rotation"), &ans);
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    // Both approval requests are marked as the script tells the custodians to check.
    for op in ["rotate", "destroy"] {
        assert!(
            r.stdout
                .contains(&format!(":\nCOMPROMISED: {op} key \"keyrite-signing-key\"")),
            "{}",
            r.stdout
        );
    }
    // A signing key is not the root KEK: the verify step passes at once, asking nobody
    // (only the approvers' cards were inserted), and says why.
    assert_eq!(r.inserted, [7_001, 7_002, 7_003, 7_004, 7_005, 7_001]);
    assert!(
        r.stdout.contains("no new share set: the key rotated in this ceremony is not the root KEK, so every custodian's share is unchanged and nothing is verified"),
        "{}",
        r.stdout
    );
    let notes = events(&data)[mark..]
        .iter()
        .filter(|e| matches!(e, Event::Note { kind } if kind == "no_new_share_set"))
        .count();
    assert_eq!(notes, 1);
    let labels = token_labels(&data);
    assert!(
        labels.contains(&"keyrite-signing-key-r2".to_string()),
        "{labels:?}"
    );
    assert!(
        !labels.contains(&"keyrite-signing-key".to_string()),
        "{labels:?}"
    );
    let ev = events(&data);
    let states: Vec<(String, String)> = ev[mark..]
        .iter()
        .filter_map(|e| match e {
            Event::InventoryStateChanged { key_id, to, .. } => {
                Some((key_id.clone(), to.to_string()))
            }
            _ => None,
        })
        .collect();
    for want in [
        ("keyrite-signing-key", "deactivated"),
        ("keyrite-signing-key", "compromised"),
        ("keyrite-signing-key", "destroyed"),
        ("keyrite-signing-key-r2", "active"),
    ] {
        assert!(
            states.contains(&(want.0.to_string(), want.1.to_string())),
            "{want:?} not in {states:?}"
        );
    }
    assert!(ev[mark..].iter().any(
        |e| matches!(e, Event::BackupMade { key_id, .. } if key_id == "keyrite-signing-key-r2")
    ));

    // Destruction with two approvals: refused; with three: the key is gone, with proof.
    let mark = ev.len();
    let ans = quorum_answers(
        dir,
        "destroy-2",
        &[("destroy-key", "keyrite-temp-key")],
        &[("destroy-key", &["C Three", "C One"])],
        &[("destroy-key", "abort")],
    );
    let r = run_with_cards(&t, &mut h, &script("key-destruction"), &ans);
    assert_eq!(r.code, Some(6), "{}{}", r.stdout, r.stderr);
    assert!(token_labels(&data).contains(&"keyrite-temp-key".to_string()));
    let ev = events(&data);
    let (granted, refused) = approvals_of(&ev, mark);
    assert!(granted.is_empty());
    assert!(
        refused[0].starts_with("2 of the 3 required approvals"),
        "{refused:?}"
    );

    bad_approvals_in_process(&mut h, &data, dir);

    let ev = events(&data);
    let mark = ev.len();
    let ans = quorum_answers(
        dir,
        "destroy-3",
        &[("destroy-key", "keyrite-temp-key")],
        &[("destroy-key", &["C Three", "C One", "C Four"])],
        &[],
    );
    let r = run_with_cards(&t, &mut h, &script("key-destruction"), &ans);
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    assert!(!token_labels(&data).contains(&"keyrite-temp-key".to_string()));
    let ev = events(&data);
    let (granted, _) = approvals_of(&ev, mark);
    assert_eq!(granted, vec!["yk-7003", "yk-7001", "yk-7004"]);
    assert!(ev[mark..]
        .iter()
        .any(|e| matches!(e, Event::KeyDestroyed { key_id, .. } if key_id == "keyrite-temp-key")));
    assert_kek_in_force(&data, "key-destruction", &kek2, None);

    // C Five leaves; C Six joins with a new YubiKey. Three custodians approve the new set;
    // the root KEK is replaced and its shares sealed to the five in the room, who each open
    // theirs; C Five's YubiKey is retired.
    let mark = ev.len();
    let ans = quorum_answers(
        dir,
        "replace",
        &[],
        &[("reshare", &["C One", "C Two", "C Six"])],
        &[],
    );
    c_six_replaces_c_five(&ans);
    let r = run_with_cards(&t, &mut h, &script("replace-custodian"), &ans);
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.inserted,
        [7_006, 7_001, 7_002, 7_006, 7_001, 7_002, 7_003, 7_004, 7_006]
    );
    let labels = token_labels(&data);
    assert!(
        labels.contains(&"keyrite-root-kek-r3".to_string()),
        "{labels:?}"
    );
    assert!(
        !labels.contains(&"keyrite-root-kek-r2".to_string()),
        "{labels:?}"
    );
    let ev = events(&data);
    let retired: Vec<&str> = ev[mark..]
        .iter()
        .filter_map(|e| match e {
            Event::CustodianRetired { custodian_id, .. } => Some(custodian_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(retired, ["yk-7005"]);
    let verified: Vec<&str> = ev[mark..]
        .iter()
        .filter_map(|e| match e {
            Event::ShareVerified { custodian_id, .. } => Some(custodian_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        verified,
        ["yk-7001", "yk-7002", "yk-7003", "yk-7004", "yk-7006"]
    );
    let (granted, _) = approvals_of(&ev, mark);
    assert_eq!(granted, ["yk-7001", "yk-7002", "yk-7006"]);
    let r3_kcv = std::fs::read_dir(data.join("backups"))
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            KeyBackup::decode("b", &std::fs::read_to_string(&p).ok()?).ok()
        })
        .find(|b| b.wrapping_key_label == "keyrite-root-kek-r3")
        .expect("a backup under the new KEK")
        .wrapping_key_kcv;
    record_prints_kek(&data, "replace-custodian", &r3_kcv);
    let kek3 = kek_named(&data, "keyrite-root-kek-r3");
    assert_kek_in_force(&data, "replace-custodian", &kek2, Some(&kek3));

    // Recovery onto a replacement token: three custodians open the shares of the new set
    // (sealed to their YubiKeys); the root KEK comes back with its recorded fingerprint and
    // every live backup is restored, so the record can be signed again. The HSM is lost
    // first (its rehearsal store moved away, so the next run makes a fresh token with a new
    // serial): a token that still holds keys the inventory knows as live is never
    // re-initialised (ceremony_hsm_init_guard.rs).
    std::fs::rename(data.join("softhsm"), dir.join("lost-hsm")).unwrap();
    let mark = ev.len();
    let ans = quorum_answers(
        dir,
        "recover",
        &[],
        &[("recover-root-kek", &["C Three", "C One"])],
        &[],
    );
    c_six_replaces_c_five(&ans);
    // C Six presents their YubiKey-sealed share (`[[present]]`); the others approve as before.
    let text = std::fs::read_to_string(&ans).unwrap();
    std::fs::write(
        &ans,
        format!("{text}[[present.recover-root-kek]]\ncustodian = \"C Six\"\nyubikey = true\n"),
    )
    .unwrap();
    let r = run_with_cards(&t, &mut h, &script("root-key-recovery"), &ans);
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    assert_eq!(r.inserted, vec![7_006, 7_003, 7_001]);
    assert_eq!(
        token_labels(&data),
        [
            "keyrite-record-signing",
            "keyrite-root-kek-r3",
            "keyrite-signing-key-r2"
        ]
    );
    let ev = events(&data);
    let opened: Vec<&str> = ev[mark..]
        .iter()
        .filter_map(|e| match e {
            Event::ShareVerified { custodian_id, .. } => Some(custodian_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(opened, ["yk-7006", "yk-7003", "yk-7001"]);
    let restored = ev[mark..]
        .iter()
        .filter(|e| matches!(e, Event::BackupRestored { .. }))
        .count();
    assert_eq!(restored, 2);
    let record = record_of(&data, "root-key-recovery");
    record_prints_kek(&data, "root-key-recovery", &r3_kcv);
    // Recovered into a fresh token: none at the start, the recovered KEK (same KCV) at the end.
    let recovered = kek_named(&data, "keyrite-root-kek-r3");
    assert_ne!(recovered, kek3, "a new key_imported entry");
    assert!(
        recovered.contains(&format!("KCV {r3_kcv}: ")),
        "{recovered}"
    );
    assert_kek_in_force(
        &data,
        "root-key-recovery",
        "No root KEK on this token yet (token ",
        Some(&recovered),
    );
    let v = verify_record_against_journal(&data, &record);
    assert!(v.status.success(), "{}{}", stdout(&v), stderr(&v));
    // Every record of the run verifies in full, the quorum ones with their approvals checked
    // against the custodians' enrolled keys.
    for e in std::fs::read_dir(data.join("records")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|x| x.to_str()) != Some("pdf") {
            continue;
        }
        let v = verify_record_against_journal(&data, &p);
        assert!(
            v.status.success(),
            "{}: {}{}",
            p.display(),
            stdout(&v),
            stderr(&v)
        );
    }
    let v = keyrite(&data, &["journal", "verify"]);
    assert!(v.status.success(), "{}{}", stdout(&v), stderr(&v));
}

/// The engine itself (as the CLI and the window drive it), with answers no answers file
/// gives: each bad approval is refused with its exact message and changes nothing; a failed
/// card attempt is journaled with the quorum's refusal.
fn bad_approvals_in_process(h: &mut Harness, data: &Path, dir: &Path) {
    let ans = quorum_answers(
        dir,
        "destroy-bad",
        &[("destroy-key", "keyrite-temp-key")],
        &[],
        &[("destroy-key", "abort")],
    );
    // C Five stays out of the room: Zed Zero checks in as the fifth custodian.
    let text = std::fs::read_to_string(&ans)
        .unwrap()
        .replacen("\"C Five\"]", "\"Zed Zero\"]", 1);
    std::fs::write(&ans, text).unwrap();
    let file = AnswerFile::load(&ans).unwrap();
    let env = Environment::open(Some(data), None).unwrap();
    let journal = Journal::open_data_dir(env.data()).unwrap();
    let script = Script::load(&script("key-destruction")).unwrap();
    let options = CeremonyOptions {
        unattended: true,
        ..Default::default()
    };
    let mut c = Ceremony::start(env, journal, script, options).unwrap();
    let request = loop {
        match c.prompt() {
            Prompt::Approval(p) => break p,
            p => {
                let a = file.answer(&p).unwrap();
                c.answer(a).unwrap();
            }
        }
    };
    assert_eq!((request.needed, request.operation.as_str()), (3, "destroy"));
    assert_eq!(request.key_label, "keyrite-temp-key");
    let pin = |p: &str| SecretText::new(p.into());
    let approve = |c: &mut Ceremony, id: &str, p: &str| {
        c.answer(Answer::Approve {
            custodian_id: id.into(),
            pin: pin(p),
        })
        .map(|_| ())
        .map_err(|e| e.to_string())
    };
    assert_eq!(
        approve(&mut c, "yk-9999", YK_PIN),
        Err("the answer does not fit: yk-9999 is not an enrolled custodian of this quorum".into())
    );
    assert_eq!(
        approve(&mut c, "yk-7005", YK_PIN),
        Err("the answer does not fit: C Five (yk-7005) has not checked in to this ceremony: only custodians in the room approve".into())
    );
    h.insert("C One", 7_001, 0);
    assert_eq!(
        approve(&mut c, "yk-7001", "999999"),
        Err("wrong PIN for YubiKey 7001: 2 tries left before the PIN is blocked".into())
    );
    assert_eq!(approve(&mut c, "yk-7001", YK_PIN), Ok(()));
    assert_eq!(
        approve(&mut c, "yk-7001", YK_PIN),
        Err("the answer does not fit: C One (yk-7001) has already approved this request: each custodian counts once".into())
    );
    h.remove(7_001);
    let Prompt::Approval(p) = c.prompt() else {
        panic!("still collecting approvals")
    };
    assert_eq!(p.approved.len(), 1);
    assert_eq!(
        p.failures,
        ["yk-7001: wrong PIN for YubiKey 7001: 2 tries left before the PIN is blocked"]
    );
    let mark = c.journal().head().size as usize;
    c.answer(Answer::SubmitApprovals).unwrap();
    let Prompt::ExceptionDecision { happened, .. } = c.prompt() else {
        panic!("a refused quorum opens an exception")
    };
    assert!(
        happened.contains("1 of the 3 required approvals for request "),
        "{happened}"
    );
    let a = file.answer(&c.prompt()).unwrap();
    c.answer(a).unwrap();
    drop(c);
    let ev = events(data);
    let (granted, refused) = approvals_of(&ev, mark);
    assert!(granted.is_empty());
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(
        refused[0].starts_with("1 of the 3 required approvals"),
        "{refused:?}"
    );
    assert_eq!(
        refused[1],
        "attempt failed before the quorum check: wrong PIN for YubiKey 7001: 2 tries left before the PIN is blocked"
    );
    assert!(token_labels(data).contains(&"keyrite-temp-key".to_string()));
}

/// Every YubiKey sign-off after entry `from` verifies, independently of Keyrite's engine,
/// against the custodian's enrolled 9c key over the documented step-outcome text.
fn check_yubikey_sign_offs(data: &Path, from: usize, expected: usize) {
    use p256::ecdsa::signature::Verifier;
    use p256::pkcs8::DecodePublicKey;
    use sha2::Digest;
    let j = Journal::open_read_only(&data.join("journal.sqlite"), &Default::default()).unwrap();
    let mut keys = std::collections::BTreeMap::new();
    let mut checked = 0;
    for i in 0..j.head().size {
        let b = j.entry(i).unwrap().body_json().unwrap();
        let (ev, d) = (&b["event"], &b["details"]);
        if ev["type"] == "custodian_enrolled" {
            let spki = hex::decode(d["record"]["signature_spki"].as_str().unwrap()).unwrap();
            keys.insert(ev["custodian_id"].as_str().unwrap().to_string(), spki);
        }
        if (i as usize) < from || ev["type"] != "sign_off" || ev["signature_sha256"].is_null() {
            continue;
        }
        let text = keyrite_core::engine::step_outcome_text(
            ev["ceremony_id"].as_str().unwrap(),
            ev["step"].as_str().unwrap(),
            d["journal_head"].as_str().unwrap(),
        );
        assert_eq!(
            hex::encode(sha2::Sha256::digest(text.as_bytes())),
            d["outcome_sha256"].as_str().unwrap()
        );
        let sig = hex::decode(d["signature"].as_str().unwrap()).unwrap();
        assert_eq!(
            hex::encode(sha2::Sha256::digest(&sig)),
            ev["signature_sha256"].as_str().unwrap()
        );
        let key = p256::ecdsa::VerifyingKey::from_public_key_der(
            &keys[d["custodian_id"].as_str().unwrap()],
        )
        .unwrap();
        let sig = p256::ecdsa::Signature::from_der(&sig).unwrap();
        key.verify(text.as_bytes(), &sig)
            .expect("sign-off verifies");
        checked += 1;
    }
    assert_eq!(checked, expected);
}

/// In an answers file: C Six (YubiKey 7006) checks in instead of C Five.
fn c_six_replaces_c_five(ans: &Path) {
    let text = std::fs::read_to_string(ans)
        .unwrap()
        .replacen("\"C Five\"]", "\"C Six\"]", 1);
    std::fs::write(
        ans,
        format!(
            "{text}[yubikeys.\"C Six\"]\nserial = 7006\npin = \"{YK_PIN}\"\npuk = \"87654321\"\n"
        ),
    )
    .unwrap();
}
