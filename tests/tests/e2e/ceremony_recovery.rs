//! Issue 17, item 1: the root KEK is rebuilt from the shares root-key-generation hands out,
//! whatever form each custodian kept theirs in. hsm-initialisation and root-key-generation run
//! in rehearsal; then the HSM is "lost" (its rehearsal store moved away), root-key-recovery
//! initialises a fresh, empty token and three custodians present their shares in mixed forms — typed from the
//! card (any case), the passphrase-sealed file and its passphrase, the card's QR payload as a
//! barcode scanner types it. The root KEK comes back with its recorded fingerprint, every live
//! backup is restored (the record-signing key signs the recovery's record), and the journal
//! verifies. Bad presentations are refused with their exact messages and leave the token and
//! the journal as they were.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::engine::answers::AnswerFile;
use keyrite_core::engine::{Answer, Ceremony, CeremonyOptions, Decision, Prompt, ShareProof};
use keyrite_core::environment::Environment;
use keyrite_core::journal::{Event, Journal};
use keyrite_core::script::Script;
use keyrite_core::secret::{SecretBytes, SecretText};
use keyrite_core::shares::seal::open_with_passphrase;
use keyrite_core::shares::Share;
use keyrite_testkit::ceremony::run_answered_ok;
use keyrite_testkit::ceremony::{answers, script, PASSPHRASE};
use keyrite_testkit::ceremony::{events, record_of, verify_record_against_journal};
use keyrite_testkit::quorum::token_labels;
use keyrite_testkit::{keyrite, stderr, stdout, TempData};
use serial_test::serial;
use std::path::{Path, PathBuf};

/// What root-key-generation left: the set id and each custodian's share (index 1..=5 is
/// `custodian-i`, C One … C Five), read back from the sealed files as the custodians would
/// have copied them.
struct Issued {
    set_id: String,
    shares: Vec<Share>,
}

impl Issued {
    fn share(&self, index: u8) -> &Share {
        &self.shares[usize::from(index) - 1]
    }

    fn sealed_file(&self, data: &Path, index: u8) -> PathBuf {
        data.join("shares")
            .join(format!("{}-{index}.krseal", self.set_id))
    }
}

/// hsm-initialisation and root-key-generation (3 of 5), unattended through the CLI.
fn generated(t: &TempData) -> Issued {
    let data = t.path();
    let ans = answers(t.tmp.path());
    for name in ["hsm-initialisation", "root-key-generation"] {
        run_answered_ok(&data, &script(name), &ans);
    }
    let set_id = events(&data)
        .into_iter()
        .find_map(|e| match e {
            Event::ShareSetCreated { set_id, .. } => Some(set_id),
            _ => None,
        })
        .expect("a share set");
    let mut issued = Issued {
        set_id,
        shares: Vec::new(),
    };
    let pass = SecretText::new(PASSPHRASE.into());
    for i in 1..=5 {
        let bytes = std::fs::read(issued.sealed_file(&data, i)).unwrap();
        issued
            .shares
            .push(open_with_passphrase(&bytes, &pass).unwrap());
    }
    // The HSM is lost: its rehearsal store is moved away, so recovery initialises a fresh
    // token (a token still holding keys the inventory knows as live is never re-initialised).
    std::fs::rename(data.join("softhsm"), t.tmp.path().join("lost-hsm")).unwrap();
    issued
}

/// The token's key objects, as files of the rehearsal store: a refusal must not add or
/// remove any (read from disk, so the ceremony in this process keeps the token to itself).
fn token_objects(data: &Path) -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if let Some(n) = p.file_name().and_then(|n| n.to_str()) {
                if n.ends_with(".object") && n != "token.object" {
                    out.push(n.to_string());
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(&data.join("softhsm").join("tokens"), &mut out);
    out.sort();
    out
}

fn text(s: &str) -> SecretText {
    SecretText::new(s.into())
}

fn present(c: &mut Ceremony, who: &str, proof: ShareProof) -> Result<(), String> {
    c.answer(Answer::PresentShare {
        custodian: who.into(),
        proof,
    })
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// Answers from `file` until the recovery step asks for shares.
fn until_shares(c: &mut Ceremony, file: &AnswerFile) {
    loop {
        match c.prompt() {
            Prompt::Approval(p) if p.operation == "recover" => return,
            p => {
                let a = file.answer(&p).unwrap();
                c.answer(a).unwrap();
            }
        }
    }
}

#[test]
#[serial(softhsm)]
fn recovery_from_typed_scanned_and_passphrase_sealed_shares_with_bad_ones_refused() {
    let t = TempData::new();
    let data = t.path();
    let issued = generated(&t);
    let set = issued.set_id.clone();

    let file = AnswerFile::load(&answers(t.tmp.path())).unwrap();
    let env = Environment::open(Some(&data), None).unwrap();
    let journal = Journal::open_data_dir(env.data()).unwrap();
    let options = CeremonyOptions {
        unattended: true,
        record_producer: Some(Box::new(keyrite_core::engine::JournalRecordProducer {
            page_size: keyrite_core::pdf::PageSize::A4,
        })),
        ..Default::default()
    };
    let script_ = Script::load(&script("root-key-recovery")).unwrap();
    let mut c = Ceremony::start(env, journal, script_, options).unwrap();
    until_shares(&mut c, &file);

    // The token was re-initialised: the HSM is "lost", nothing on it.
    let empty = token_objects(&data);
    assert!(empty.is_empty(), "{empty:?}");
    let Prompt::Approval(p) = c.prompt() else {
        unreachable!()
    };
    assert_eq!(p.needed, 3);
    assert_eq!(p.holders.len(), 5);
    assert!(p
        .holders
        .iter()
        .all(|h| h.sealed_file.is_some() && h.yubikey_serial.is_none() && !h.presented));
    assert_eq!(
        p.holders
            .iter()
            .map(|h| h.name.as_str())
            .collect::<Vec<_>>(),
        ["C One", "C Two", "C Three", "C Four", "C Five"]
    );
    let head = c.journal().head();
    let unchanged = |c: &Ceremony| {
        assert_eq!(c.journal().head(), head, "a refusal changed the journal");
        assert_eq!(token_objects(&data), empty, "a refusal changed the token");
    };
    let fit = |m: &str| format!("the answer does not fit: {m}");

    // A share of another set.
    let other = keyrite_core::shares::split(&SecretBytes::from_slice(&[7u8; 32]), 3, 5).unwrap();
    let foreign = &other.shares[0];
    assert_eq!(
        present(&mut c, "custodian-1", ShareProof::Text(foreign.human_form())),
        Err(fit(&format!(
            "share 1 presented by C One (custodian-1) was refused: it belongs to set {}, but root KEK \"keyrite-root-kek\" is protected by set {set}; nothing was opened",
            foreign.set_id()
        )))
    );
    unchanged(&c);

    // One character changed: the checksum catches it; the share is never echoed.
    let good = issued.share(1).canonical_text();
    let mut chars: Vec<char> = good.expose().chars().collect();
    chars[30] = if chars[30] == '0' { '1' } else { '0' };
    let typo: String = chars.into_iter().collect();
    let e = present(&mut c, "custodian-1", ShareProof::Text(text(&typo))).unwrap_err();
    assert_eq!(
        e,
        fit(&format!(
            "share 1 presented by C One (custodian-1) was refused: share 1 of set {set} fails its checksum: at least one character is wrong or two are swapped; compare every group with the card; nothing was opened"
        ))
    );
    assert!(!e.contains(&typo) && !e.contains(good.expose()));
    unchanged(&c);

    // The right file, the wrong passphrase.
    let sealed2 = issued.sealed_file(&data, 2);
    assert_eq!(
        present(
            &mut c,
            "C Two",
            ShareProof::Sealed {
                file: sealed2.clone(),
                passphrase: text("not the passphrase"),
            }
        ),
        Err(fit(&format!(
            "share 2 presented by C Two (custodian-2) was refused: sealed share 2 of set {set}: wrong passphrase (or the file is damaged); nothing was opened"
        )))
    );
    unchanged(&c);

    // C Three brings C One's share: it was not issued to them.
    assert_eq!(
        present(&mut c, "custodian-3", ShareProof::Text(issued.share(1).human_form())),
        Err(fit(&format!(
            "share 1 presented by C Three (custodian-3) was refused: the journal records share 3 of set {set} issued to C Three, not share 1; nothing was opened"
        )))
    );
    unchanged(&c);

    // A share that passes its checksum, of the right set and index, but not the one issued.
    let forged = keyrite_core::shares::testing::with_value_byte_flipped(issued.share(4), 3, 0x40);
    assert_eq!(
        present(&mut c, "custodian-4", ShareProof::Text(forged.human_form())),
        Err(fit(&format!(
            "share 4 presented by C Four (custodian-4) was refused: it does not match the fingerprint recorded when set {set} was created; it is not the share issued; nothing was opened"
        )))
    );
    unchanged(&c);

    // Someone who is not a checked-in custodian.
    assert_eq!(
        present(&mut c, "Zed Zero", ShareProof::Text(issued.share(1).human_form())),
        Err(fit(
            "Zed Zero has not checked in to this ceremony as a custodian: only custodians in the room present shares"
        ))
    );
    unchanged(&c);

    // Fewer than K: two good shares, then no more. Refused; the token stays empty.
    let human = issued.share(1).human_form().expose().to_lowercase();
    present(&mut c, "custodian-1", ShareProof::Text(text(&human))).unwrap();
    assert_eq!(
        present(&mut c, "custodian-1", ShareProof::Text(text(&human))),
        Err(fit(
            "C One (custodian-1) has already presented their share: each custodian counts once"
        ))
    );
    present(
        &mut c,
        "custodian-2",
        ShareProof::Sealed {
            file: sealed2.clone(),
            passphrase: text(PASSPHRASE),
        },
    )
    .unwrap();
    let Prompt::Approval(p) = c.prompt() else {
        panic!("still collecting shares")
    };
    let presented: Vec<u8> = p
        .holders
        .iter()
        .filter(|h| h.presented)
        .map(|h| h.index)
        .collect();
    assert_eq!(presented, [1, 2]);
    assert_eq!(p.failures.len(), 5, "{:?}", p.failures);
    assert_eq!(token_objects(&data), empty);
    c.answer(Answer::SubmitApprovals).unwrap();
    let Prompt::ExceptionDecision { happened, .. } = c.prompt() else {
        panic!("fewer than K opens an exception")
    };
    assert_eq!(
        happened,
        "2 of the 3 shares needed were presented; the root KEK was not rebuilt"
    );
    assert_eq!(
        token_objects(&data),
        empty,
        "fewer than K changed the token"
    );
    let after = events(&data);
    let since = usize::try_from(head.size).unwrap();
    assert!(
        !after[since..]
            .iter()
            .any(|e| matches!(e, Event::ShareVerified { .. } | Event::KeyImported { .. })),
        "nothing is journaled as opened or imported"
    );
    let refused: Vec<&str> = after[since..]
        .iter()
        .filter_map(|e| match e {
            Event::ApprovalRefused { reason, .. } => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(refused.len(), 5, "{refused:?}");
    for r in &refused {
        assert!(!r.contains(good.expose()) && !r.contains(&typo), "{r}");
    }

    // Retry: three custodians, three kinds — typed in lower case, the sealed file with its
    // passphrase, and the QR payload a barcode scanner types.
    c.answer(Answer::Decide {
        decision: Decision::Retry,
        decided_by: vec!["administrator-1".into(), "witness-1".into()],
        reason: "the third custodian is here now".into(),
    })
    .unwrap();
    until_shares(&mut c, &file);
    present(&mut c, "custodian-1", ShareProof::Text(text(&human))).unwrap();
    present(
        &mut c,
        "C Two",
        ShareProof::Sealed {
            file: sealed2,
            passphrase: text(PASSPHRASE),
        },
    )
    .unwrap();
    present(
        &mut c,
        "custodian-4",
        ShareProof::Text(issued.share(4).qr_payload()),
    )
    .unwrap();
    let summary = loop {
        match c.prompt() {
            Prompt::Done { summary } => break summary,
            p => {
                let a = file.answer(&p).unwrap();
                c.answer(a).unwrap();
            }
        }
    };
    assert_eq!(summary.outcome, "completed");
    drop(c);

    assert_restored(&data);
    // No share, typo or passphrase anywhere in the journal's bytes.
    let journal = std::fs::read(data.join("journal.sqlite")).unwrap();
    let journal = String::from_utf8_lossy(&journal).to_uppercase();
    for secret in [
        good.expose().to_string(),
        typo.clone(),
        issued.share(4).canonical_text().expose().to_string(),
        "NOT THE PASSPHRASE".into(),
        PASSPHRASE.to_uppercase(),
    ] {
        assert!(!journal.contains(&secret), "the journal holds a secret");
    }
    let ev = events(&data);
    let opened: Vec<(u8, &str)> = ev[since..]
        .iter()
        .filter_map(|e| match e {
            Event::ShareVerified {
                index,
                custodian_id,
                set_id,
                ..
            } if *set_id == set => Some((*index, custodian_id.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(
        opened,
        [(1, "custodian-1"), (2, "custodian-2"), (4, "custodian-4")]
    );
}

/// The root KEK and every live backup are back on the token, the recovery's record is
/// signed by the restored record-signing key and verifies, and so does the journal.
fn assert_restored(data: &Path) {
    assert_eq!(
        token_labels(data),
        ["keyrite-record-signing", "keyrite-root-kek"]
    );
    let ev = events(data);
    let backups: Vec<&str> = ev
        .iter()
        .filter_map(|e| match e {
            Event::BackupMade { key_id, .. } => Some(key_id.as_str()),
            _ => None,
        })
        .collect();
    let restored = ev
        .iter()
        .filter(|e| matches!(e, Event::BackupRestored { .. }))
        .count();
    assert!(!backups.is_empty());
    assert_eq!(restored, backups.len(), "every live backup restored");
    let record = record_of(data, "root-key-recovery");
    let v = verify_record_against_journal(data, &record);
    assert!(v.status.success(), "{}{}", stdout(&v), stderr(&v));
    let v = keyrite(data, &["journal", "verify"]);
    assert!(v.status.success(), "{}{}", stdout(&v), stderr(&v));
}

/// The same recovery unattended through the CLI: `[[present.STEP]]` in the answers file
/// presents a typed share, a scanned QR payload and a passphrase-sealed file.
#[test]
#[serial(softhsm)]
fn recovery_through_the_cli_from_an_answers_file() {
    let t = TempData::new();
    let data = t.path();
    let issued = generated(&t);
    let base = answers(t.tmp.path());
    let mut text = std::fs::read_to_string(&base).unwrap();
    text.push_str(&format!(
        "[[present.recover-root-kek]]\ncustodian = \"C Five\"\ntext = \"{}\"\n\
         [[present.recover-root-kek]]\ncustodian = \"C Three\"\npassphrase = \"{PASSPHRASE}\"\n\
         [[present.recover-root-kek]]\ncustodian = \"C Two\"\ntext = \"{}\"\n",
        issued.share(5).human_form().expose(),
        issued.share(2).qr_payload().expose(),
    ));
    let ans = t.tmp.path().join("recover.answers.toml");
    std::fs::write(&ans, text).unwrap();
    let out = run_answered_ok(&data, &script("root-key-recovery"), &ans);
    assert!(out.contains("share 5: C Five (custodian-5)"), "{out}");
    for s in &issued.shares {
        assert!(
            !out.contains(s.canonical_text().expose()),
            "a share was echoed"
        );
    }
    assert_restored(&data);
    let opened: Vec<(u8, String)> = events(&data)
        .into_iter()
        .filter_map(|e| match e {
            Event::ShareVerified {
                index,
                custodian_id,
                set_id,
                ..
            } if set_id == issued.set_id => Some((index, custodian_id)),
            _ => None,
        })
        .filter(|(_, c)| c.starts_with("custodian-"))
        .collect();
    // root-key-generation's verify-shares verified all five; the recovery three more.
    let recovery: Vec<(u8, &str)> = opened[5..].iter().map(|(i, c)| (*i, c.as_str())).collect();
    assert_eq!(
        recovery,
        [(5, "custodian-5"), (3, "custodian-3"), (2, "custodian-2")]
    );
}
