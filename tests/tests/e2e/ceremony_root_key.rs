//! hsm-initialisation then root-key-generation (3 of 5), unattended through the CLI on the
//! embedded SoftHSM2. Each ends in a record signed by the HSM's record-signing key that
//! `keyrite record verify` and poppler's `pdfsig` accept.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::hsm::backup::{restore_key, KeyBackup};
use keyrite_core::hsm::policy::PolicySet;
use keyrite_core::hsm::quirks::Quirks;
use keyrite_core::hsm::rehearsal::RehearsalHsm;
use keyrite_core::hsm::{Pkcs11Module, TokenSelector, TokenSession, UserKind};
use keyrite_core::journal::{Event, Journal};
use keyrite_core::paths::DataDir;
use keyrite_core::secret::SecretText;
use keyrite_core::shares::seal::open_with_passphrase;
use keyrite_testkit::ceremony::events;
use keyrite_testkit::ceremony::{
    answers, record_of, script, verify_record_against_journal, PASSPHRASE, USER_PIN,
};
use keyrite_testkit::hsm::keyrite_fds;
use keyrite_testkit::kek_record::{assert_kek_in_force, kek_named};
use keyrite_testkit::{keyrite, stderr, stdout, TempData};
use serial_test::serial;

#[test]
#[serial(softhsm)]
fn root_key_ceremony_end_to_end() {
    let t = TempData::new();
    let data = t.path();
    let ans = answers(t.tmp.path());
    let ans_s = ans.to_str().unwrap();
    let mut closings = Vec::new();
    let mut records = Vec::new();
    for name in ["hsm-initialisation", "root-key-generation"] {
        let o = keyrite(
            &data,
            &[
                "ceremony",
                "run",
                script(name).to_str().unwrap(),
                "--answers",
                ans_s,
            ],
        );
        assert!(o.status.success(), "{name}: {}{}", stdout(&o), stderr(&o));
        let steps = if name == "hsm-initialisation" { 7 } else { 8 };
        assert!(
            stdout(&o).contains(&format!(
                "completed: {steps} steps completed, 0 skipped, 0 exceptions"
            )),
            "{}",
            stdout(&o)
        );
        check_result_cards(name, &stdout(&o), &events(&data));
        // The signed record: one per ceremony, accepted by Keyrite and by poppler.
        let record = record_of(&data, name);
        let v = verify_record_against_journal(&data, &record);
        assert!(v.status.success(), "{}{}", stdout(&v), stderr(&v));
        assert!(
            stdout(&v).starts_with("VALID: record of ceremony "),
            "{}",
            stdout(&v)
        );
        assert!(stdout(&v).contains("the journal agrees"), "{}", stdout(&v));
        let sig = std::process::Command::new("pdfsig")
            .arg(&record)
            .output()
            .expect("pdfsig");
        let sig_out = String::from_utf8_lossy(&sig.stdout);
        assert!(sig_out.contains("Signature is Valid."), "{sig_out}");
        assert!(sig_out.contains("Total document signed"), "{sig_out}");
        // The first page names the root KEK in force (issue 14): none before the
        // root-key-generation, which names the one it imported at its end.
        let no_kek = "No root KEK on this token yet";
        match name {
            "hsm-initialisation" => assert_kek_in_force(&data, name, no_kek, None),
            _ => assert_kek_in_force(
                &data,
                name,
                no_kek,
                Some(&kek_named(&data, "keyrite-root-kek")),
            ),
        }
        closings.push(closing_of(&stdout(&o)));
        if name == "root-key-generation" {
            check_root_key_record(&t, &data, &record, &closings[0]);
        }
        records.push(record);
    }
    tampering_with_a_ceremony_end_is_detected(&t, &data, &closings, &records[1]);
    // The root KEK is on the token with the recorded attributes.
    let o = keyrite_fds(
        &data,
        &["hsm", "keys", "--json", "--pin-fd", "3"],
        &[],
        &[(3, USER_PIN)],
        "",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let keys: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    let text = keys.to_string();
    assert!(text.contains("keyrite-root-kek"), "{text}");
    assert!(text.contains("keyrite-record-signing"), "{text}");
    let ev = events(&data);
    let cka_id = ev
        .iter()
        .find_map(|e| match e {
            Event::KeyImported { label, cka_id, .. } if label == "keyrite-root-kek" => {
                Some(cka_id.clone())
            }
            _ => None,
        })
        .expect("key_imported");
    assert!(
        text.contains(&cka_id),
        "recorded CKA_ID {cka_id} not on the token: {text}"
    );
    // The KEK's journaled evidence states which protection the module gave it (issue 14).
    let protection = {
        let j = Journal::open_read_only(&data.join("journal.sqlite"), &Default::default())
            .expect("journal");
        let mut found = None;
        j.for_each_entry(0, j.head().size - 1, |e| {
            let body = e.body_json()?;
            if body["event"]["type"] == "key_imported" {
                found = Some(body["details"]["evidence"]["key_protection"].clone());
            }
            Ok(())
        })
        .expect("entries");
        found.expect("key_imported entry")
    };
    assert_eq!(protection["level"], "full", "{protection}");
    assert_eq!(protection["kek_login_required"], true, "{protection}");
    assert_eq!(
        protection["trusted_keys"], "copy-to-private",
        "{protection}"
    );
    // The script hash, every step and the sign-offs are journaled.
    let started: Vec<_> = ev
        .iter()
        .filter_map(|e| match e {
            Event::CeremonyStarted { script_sha256, .. } => Some(script_sha256.clone()),
            _ => None,
        })
        .collect();
    let digest = keyrite_core::script::Script::load(&script("root-key-generation"))
        .unwrap()
        .digest
        .hex();
    assert!(started.contains(&digest));
    let rkg = keyrite_core::script::Script::load(&script("root-key-generation")).unwrap();
    for st in &rkg.steps {
        assert!(
            ev.iter()
                .any(|e| matches!(e, Event::StepStarted { step, .. } if step == st.id.as_str())),
            "{}",
            st.id.as_str()
        );
    }
    let signoffs = ev
        .iter()
        .filter(|e| matches!(e, Event::SignOff { step, .. } if step == "distribute-shares"))
        .count();
    assert_eq!(
        signoffs, 6,
        "5 custodians and a witness sign off the distribution"
    );
    let (set_id, fps) = ev
        .iter()
        .find_map(|e| match e {
            Event::ShareSetCreated {
                set_id,
                threshold: 3,
                share_count: 5,
                share_fingerprints,
                ..
            } => Some((set_id.clone(), share_fingerprints.clone())),
            _ => None,
        })
        .expect("share set 3 of 5");
    // Five sealed shares exist and each verifies.
    let pass = SecretText::new(PASSPHRASE.into());
    let mut shares = Vec::new();
    for i in 1..=5u8 {
        let f = data.join("shares").join(format!("{set_id}-{i}.krseal"));
        let s =
            open_with_passphrase(&std::fs::read(&f).expect("sealed file"), &pass).expect("opens");
        assert_eq!(s.fingerprint().hex(), fps[usize::from(i) - 1]);
        assert!(ev
            .iter()
            .any(|e| matches!(e, Event::ShareVerified { index, .. } if *index == i)));
        shares.push(s);
    }
    // The journal verifies.
    let o = keyrite(&data, &["journal", "verify"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Any 3 rebuild a key that unwraps the backup, on a fresh token.
    // Shares 1, 3 and 5 (removed from the back so the indices stay valid).
    let pick = vec![shares.remove(4), shares.remove(2), shares.remove(0)];
    let rebuilt = keyrite_core::shares::combine(&pick).expect("combine");
    let backup_file = std::fs::read_dir(data.join("backups"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let backup = KeyBackup::decode("backup", &std::fs::read_to_string(&backup_file).unwrap())
        .expect("decode");
    let fresh = tempfile::tempdir().unwrap();
    let d2 = DataDir::open_at(fresh.path().join("d")).unwrap();
    let r = RehearsalHsm::ensure(&d2).unwrap();
    let m = Pkcs11Module::load(r.module_path()).unwrap();
    let (so, user) = r.pins().unwrap();
    let sel = TokenSelector::Label("keyrite-rehearsal".into());
    let policies = PolicySet::builtin().unwrap();
    let quirks = Quirks::builtin().unwrap();
    let staged = {
        let (s, _) = TokenSession::login(&m, &sel, UserKind::So, &so).unwrap();
        keyrite_core::hsm::rootkek::import_root_kek(
            &s,
            policies.get("root-kek-import").unwrap(),
            "keyrite-root-kek",
            rebuilt.secret,
            &quirks,
            keyrite_core::hsm::protection::ProtectionRule::Rehearsal,
        )
        .unwrap()
    };
    let (s, _) = TokenSession::login(&m, &sel, UserKind::User, &user).unwrap();
    let ev2 = keyrite_core::hsm::rootkek::seal_root_kek(
        &s,
        policies.get("root-kek-import").unwrap(),
        staged,
        &quirks,
    )
    .unwrap();
    assert_eq!(ev2.kcv.map(|k| k.value).unwrap(), backup.wrapping_key_kcv);
    let restored = restore_key(
        &s,
        "backup",
        &backup,
        &policies,
        "keyrite-root-kek",
        &quirks,
    )
    .expect("unwraps");
    let recorded = ev
        .iter()
        .find_map(|e| match e {
            Event::KeyGenerated {
                label,
                public_fingerprint,
                ..
            } if label == "keyrite-record-signing" => public_fingerprint.clone(),
            _ => None,
        })
        .unwrap();
    assert_eq!(restored.spki_sha256.unwrap(), recorded);
    drop(s);
    drop(m);
}

/// The root-key rehearsal's own record, as an auditor's tools see it: every font embedded,
/// participants, steps and share fingerprints in the text, REHEARSAL on every page, and the
/// checkpoint QR decoded by zbar accepted by `keyrite journal verify --checkpoint`.
fn check_root_key_record(
    t: &TempData,
    data: &std::path::Path,
    record: &std::path::Path,
    previous: &Closing,
) {
    use std::process::Command;
    let fonts = Command::new("pdffonts")
        .arg(record)
        .output()
        .expect("pdffonts");
    let fonts = String::from_utf8_lossy(&fonts.stdout).into_owned();
    let rows: Vec<&str> = fonts.lines().skip(2).collect();
    assert!(!rows.is_empty(), "{fonts}");
    for r in rows {
        let cols: Vec<&str> = r.split_whitespace().collect();
        assert_eq!(cols[cols.len() - 5], "yes", "font not embedded: {r}");
    }
    let o = Command::new("pdftotext")
        .args(["-layout"])
        .arg(record)
        .arg("-")
        .output()
        .expect("pdftotext");
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    for who in [
        "Ada Admin",
        "Wes Witness",
        "Aud Auditor",
        "C One",
        "C Three",
        "C Five",
    ] {
        assert!(
            text.contains(who),
            "participant {who} missing from the record"
        );
    }
    for step in [
        "Check the air gap",
        "Generate and split the root KEK",
        "Every custodian verifies their share",
    ] {
        assert!(text.contains(step), "step {step} missing from the record");
    }
    check_auditor_view(data, &text, previous);
    // Each share's fingerprint, as journaled, is printed (never a share).
    let ev = events(data);
    let fingerprints = ev
        .iter()
        .find_map(|e| match e {
            Event::ShareSetCreated {
                share_fingerprints, ..
            } => Some(share_fingerprints.clone()),
            _ => None,
        })
        .expect("share set journaled");
    assert_eq!(fingerprints.len(), 5);
    for f in &fingerprints {
        assert!(text.contains(f.as_str()), "share fingerprint {f} missing");
    }
    for (i, page) in text
        .split('\u{c}')
        .filter(|p| !p.trim().is_empty())
        .enumerate()
    {
        assert!(
            page.contains("REHEARSAL — SOFTWARE HSM"),
            "page {} has no stamp",
            i + 1
        );
    }
    // The checkpoint QR, rendered at 150 dpi and decoded by zbar.
    let dir = t.scratch("record-pages");
    std::fs::create_dir_all(&dir).unwrap();
    let o = Command::new("pdftoppm")
        .args(["-r", "150", "-png"])
        .arg(record)
        .arg(dir.join("page"))
        .output()
        .expect("pdftoppm");
    assert!(o.status.success());
    let decoded = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let z = Command::new("zbarimg")
                .arg("--quiet")
                .arg(e.unwrap().path())
                .output()
                .expect("zbarimg");
            let s = String::from_utf8_lossy(&z.stdout).into_owned();
            s.starts_with("QR-Code:").then_some(s)
        })
        .next()
        .expect("a QR code on some page of the record");
    let qr = t.scratch("checkpoint-from-qr.txt");
    std::fs::write(&qr, &decoded).unwrap();
    let v = keyrite(
        data,
        &["journal", "verify", "--checkpoint", qr.to_str().unwrap()],
    );
    assert!(v.status.success(), "{}{}", stdout(&v), stderr(&v));
    assert!(
        stdout(&v).contains("Consistent with the checkpoint of"),
        "{}",
        stdout(&v)
    );
}

/// A closing checkpoint as `keyrite ceremony run` prints it.
#[derive(Debug, Clone)]
struct Closing {
    size: u64,
    root_words: String,
    fingerprint: String,
    file: std::path::PathBuf,
}

/// The result card each step prints before its sign-offs shows what the journal recorded, in
/// the words the script tells people to read aloud.
fn check_result_cards(name: &str, out: &str, ev: &[Event]) {
    let words = |hex_digest: &str| {
        keyrite_core::words::short_words(
            &hex::decode(hex_digest).unwrap(),
            keyrite_core::engine::FINGERPRINT_WORDS,
        )
    };
    let mut expected: Vec<String> = Vec::new();
    for e in ev {
        match e {
            Event::HsmTokenInitialised { token_serial, .. } if name == "hsm-initialisation" => {
                expected.push(format!("serial {token_serial}"));
            }
            Event::KeyGenerated {
                label,
                cka_id,
                public_fingerprint: Some(fp),
                ..
            } if name == "hsm-initialisation" => {
                expected.push(format!(
                    "Key                     {label} (ec-p384), CKA_ID {cka_id}"
                ));
                expected.push(format!("Public key fingerprint  {}", words(fp)));
            }
            Event::KeyImported { label, cka_id, .. } if name == "root-key-generation" => {
                expected.push(format!("{label} (aes-256), CKA_ID {cka_id}"));
                expected
                    .push("sensitive yes, extractable no, private yes, modifiable no".to_string());
                expected.push(format!(
                    "Laptop copy  {}",
                    keyrite_core::engine::HOST_COPY_ERASED
                ));
            }
            Event::ShareVerified {
                index,
                custodian_id,
                ..
            } if name == "root-key-generation" => {
                expected.push(format!("share {index} verifies ({custodian_id})"));
            }
            Event::BackupMade { blob_sha256, .. } if name == "root-key-generation" => {
                expected.push(format!("Backup SHA-256  {}", words(blob_sha256)));
            }
            _ => {}
        }
    }
    assert!(expected.len() >= 2, "{name}: nothing to look for");
    for x in expected {
        assert!(out.contains(&x), "{name}: the output lacks \"{x}\":\n{out}");
    }
}

fn closing_of(out: &str) -> Closing {
    let field = |name: &str| {
        out.lines()
            .find_map(|l| {
                l.trim_start()
                    .strip_prefix(name)
                    .map(|v| v.trim().to_string())
            })
            .unwrap_or_else(|| panic!("no \"{name}\" line in the output: {out}"))
    };
    assert!(
        out.contains("Closing checkpoint (every entry of the ceremony"),
        "{out}"
    );
    let signed = field("signed:");
    Closing {
        size: field("size:").parse().expect("size"),
        root_words: field("root words:"),
        fingerprint: signed.rsplit(' ').next().expect("fingerprint").to_string(),
        file: field("file:").into(),
    }
}

/// The first page and the rest as an auditor reads them: outcome, the KEK's KCV in hex and
/// words, the exception summary, the signature block, the previous ceremony's closing
/// checkpoint and the destruction-free root-key outputs.
fn check_auditor_view(data: &std::path::Path, text: &str, previous: &Closing) {
    let first = text.split('\u{c}').next().unwrap_or_default();
    assert!(first.contains("Outcome: completed"), "{first}");
    assert!(first.contains("Exceptions (summary)"), "{first}");
    assert!(first.contains("Root words:"), "{first}");
    // The root KEK: KCV and its words as journaled in `details.evidence`.
    let j = Journal::open_read_only(&data.join("journal.sqlite"), &Default::default()).unwrap();
    let mut kcv = None;
    let mut failed_checks = Vec::new();
    j.for_each_entry(0, j.head().size - 1, |e| {
        let b = e.body_json()?;
        if b["event"]["type"] == "key_imported" {
            kcv = b["details"]["evidence"]["kcv"]["value"]
                .as_str()
                .map(str::to_string);
        }
        if b["event"]["type"] == "preflight_result"
            && b["event"]["passed"] == false
            && b["event"]["check"] != "clock"
        {
            failed_checks.push(b["event"]["check"].as_str().unwrap_or("").to_string());
        }
        Ok(())
    })
    .unwrap();
    let kcv = kcv.expect("the root KEK's KCV is journaled");
    let words = keyrite_core::words::to_words(&hex::decode(&kcv).unwrap());
    assert!(text.contains(&kcv), "KCV {kcv} missing from the record");
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains(&words),
        "KCV words {words} missing from the record"
    );
    // Failed air-gap checks in rehearsal are exceptions the mode allows, and said so.
    if failed_checks.is_empty() {
        assert!(first.contains("None: no exception was raised"), "{first}");
    } else {
        for c in &failed_checks {
            assert!(
                flat.contains(&format!("Preflight check {c} failed")),
                "{c}: {first}"
            );
        }
        assert!(
            flat.contains("an exception rehearsal mode allows"),
            "{first}"
        );
        assert!(!first.contains("None: no exception"), "{first}");
    }
    // One signature line per participant (3 + 5 custodians), one in the witness statement.
    assert_eq!(text.matches("Signature: ____").count(), 9, "{text}");
    assert!(text.contains("Witness statement"));
    assert!(text.contains("Closing checkpoint size: ____"));
    // The sign-record step is there and in progress; the checkpoint step completed.
    assert!(
        flat.contains("in progress: this record is its output"),
        "{flat}"
    );
    assert!(!flat.contains("not finished"), "{flat}");
    // The previous ceremony's closing checkpoint, as the room saw it.
    assert!(
        flat.contains(&format!("Its closing checkpoint: size {}", previous.size)),
        "{first}"
    );
    assert!(flat.contains(&previous.root_words), "{first}");
}

/// Copies the data directory, rewrites its journal with `edit` (bodies by seq; the entries
/// renumbered and the whole chain re-hashed, as an attacker with the file would) and returns
/// the copy.
fn tampered_copy(
    t: &TempData,
    data: &std::path::Path,
    name: &str,
    edit: impl FnOnce(&mut Vec<serde_json::Value>),
) -> std::path::PathBuf {
    let copy = t.scratch(name);
    let o = std::process::Command::new("cp")
        .arg("-a")
        .arg(data)
        .arg(&copy)
        .output()
        .expect("cp");
    assert!(o.status.success());
    let store = keyrite_core::store::Store::open(&copy.join("journal.sqlite"), &Default::default())
        .expect("store");
    let conn = store.conn();
    let mut bodies: Vec<serde_json::Value> = {
        let mut stmt = conn
            .prepare("SELECT body FROM journal_entry ORDER BY seq")
            .unwrap();
        let rows = stmt
            .query_map([], |r| r.get::<_, Vec<u8>>(0))
            .unwrap()
            .map(|b| serde_json::from_slice(&b.unwrap()).unwrap())
            .collect();
        rows
    };
    edit(&mut bodies);
    let mut sql = String::from(
        "DROP TRIGGER IF EXISTS journal_no_update; DROP TRIGGER IF EXISTS journal_no_delete; \
         DELETE FROM journal_entry;",
    );
    let mut prev = [0u8; 32];
    for (seq, body) in bodies.iter_mut().enumerate() {
        body["seq"] = serde_json::json!(seq);
        let bytes = keyrite_core::journal::canonical::encode(body).unwrap();
        let h = keyrite_core::journal::merkle::entry_hash(seq as u64, &prev, &bytes);
        sql.push_str(&format!(
            "INSERT INTO journal_entry(seq, body, prev_hash, entry_hash) VALUES ({seq}, X'{}', X'{}', X'{}');",
            hex::encode(&bytes),
            hex::encode(prev),
            hex::encode(h)
        ));
        prev = h;
    }
    conn.execute_batch(&sql).unwrap();
    drop(store);
    copy
}

fn index_of(bodies: &[serde_json::Value], kind: &str, ceremony_prefix: &str) -> usize {
    bodies
        .iter()
        .rposition(|b| {
            b["event"]["type"] == kind
                && b["event"]["ceremony_id"]
                    .as_str()
                    .is_some_and(|c| c.starts_with(ceremony_prefix))
        })
        .unwrap_or_else(|| panic!("no {kind} of {ceremony_prefix}"))
}

/// Changing or deleting the last entry of a closed ceremony is detected: for the last
/// ceremony by `journal verify` with its closing checkpoint, for an earlier one by the next
/// ceremony's record (`record verify --journal`).
fn tampering_with_a_ceremony_end_is_detected(
    t: &TempData,
    data: &std::path::Path,
    closings: &[Closing],
    next_record: &std::path::Path,
) {
    let verify_cp = |d: &std::path::Path, c: &Closing| {
        keyrite(
            d,
            &[
                "journal",
                "verify",
                "--checkpoint",
                c.file.to_str().unwrap(),
                "--trust",
                &c.fingerprint,
            ],
        )
    };
    let verify_record = |d: &std::path::Path| {
        keyrite(
            d,
            &[
                "record",
                "verify",
                next_record.to_str().unwrap(),
                "--journal",
                d.join("journal.sqlite").to_str().unwrap(),
            ],
        )
    };
    let (first, last) = (&closings[0], &closings[1]);
    // The genuine journal agrees with both closing checkpoints and the record.
    for c in closings {
        let o = verify_cp(data, c);
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    }
    assert!(verify_record(data).status.success());
    // The last ceremony's outcome changed (the chain re-hashed).
    let d = tampered_copy(t, data, "outcome-changed", |b| {
        let i = index_of(b, "ceremony_closed", "root-key-generation");
        b[i]["event"]["outcome"] = "aborted".into();
    });
    let o = verify_cp(&d, last);
    assert!(
        !o.status.success(),
        "changed outcome passed: {}",
        stdout(&o)
    );
    // Its last entries deleted (ceremony_closed and everything after it).
    let d = tampered_copy(t, data, "close-deleted", |b| {
        let i = index_of(b, "ceremony_closed", "root-key-generation");
        b.truncate(i);
    });
    let o = verify_cp(&d, last);
    assert!(!o.status.success(), "deleted close passed: {}", stdout(&o));
    // The previous ceremony's outcome changed, or its close deleted: the next record says no.
    let d = tampered_copy(t, data, "previous-outcome-changed", |b| {
        let i = index_of(b, "ceremony_closed", "hsm-initialisation");
        b[i]["event"]["outcome"] = "aborted".into();
    });
    assert!(!verify_cp(&d, first).status.success());
    let o = verify_record(&d);
    assert!(
        stdout(&o).starts_with("INVALID:"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    let d = tampered_copy(t, data, "previous-close-deleted", |b| {
        let i = index_of(b, "ceremony_closed", "hsm-initialisation");
        b.remove(i);
    });
    let o = verify_record(&d);
    assert!(
        stdout(&o).starts_with("INVALID:"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
}
