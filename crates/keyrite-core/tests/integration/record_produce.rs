//! Ceremony records from a real journal, signed by the record-signing key on a SoftHSM2 token:
//! the transcript's content, canonical form and every failure `check_record` reports.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_testkit::journal as ceremony;

use keyrite_core::hsm::keygen::generate;
use keyrite_core::hsm::policy::PolicySet;
use keyrite_core::hsm::quirks::Quirks;
use keyrite_core::hsm::rehearsal::{RehearsalHsm, REHEARSAL_TOKEN_LABEL};
use keyrite_core::hsm::signer::HsmSigner;
use keyrite_core::hsm::{Pkcs11Module, TokenSelector, TokenSession, UserKind};
use keyrite_core::journal::Journal;
use keyrite_core::paths::DataDir;
use keyrite_core::pdf::PageSize;
use keyrite_core::record::{
    attach_file, check_record, produce_from_transcript, produce_record, record_certificate,
    render_record, sign_pdf, Outcome, RecordTranscript,
};
use keyrite_core::signer::SoftwareP384Signer;
use keyrite_core::store::StoreOptions;
use serial_test::serial;
use std::time::SystemTime;

struct Fx {
    _tmp: tempfile::TempDir,
    signer: HsmSigner,
    cert: Vec<u8>,
    journal: Journal,
    cer: ceremony::Ceremony,
    _m: Pkcs11Module,
}

fn fx(steps: usize) -> Fx {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::open_at(tmp.path().join("d")).unwrap();
    let hsm = RehearsalHsm::ensure(&data).unwrap();
    let m = Pkcs11Module::load(hsm.module_path()).unwrap();
    let (_, pin) = hsm.pins().unwrap();
    let sel = TokenSelector::Label(REHEARSAL_TOKEN_LABEL.into());
    let (s, _) = TokenSession::login(&m, &sel, UserKind::User, &pin).unwrap();
    let policies = PolicySet::builtin().unwrap();
    let quirks = Quirks::builtin().unwrap();
    let ev = generate(
        &s,
        policies.get("record-signing").unwrap(),
        "record-signing",
        &quirks,
    )
    .unwrap();
    let signer = HsmSigner::open(s, "record-signing", &quirks).unwrap();
    let s2 = TokenSession::open(&m, &sel).unwrap();
    // Producing a record never writes to the token: without the certificate the ceremony
    // stores, it is refused.
    let err = record_certificate(&s2, "record-signing").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} holds no certificate for the record-signing key \"record-signing\" (the ceremony \
             that made the key stores it; producing a record never writes to the token)",
            s2.name()
        )
    );
    // What the ceremony's journaled step does (`engine::keyops::certify_record_signing`).
    let der =
        keyrite_core::x509::record_signing_certificate(&signer, "Lab West", SystemTime::now())
            .unwrap();
    let id = hex::decode(&ev.id).unwrap();
    keyrite_core::hsm::certificate::store_certificate(&s2, "record-signing", &id, &der).unwrap();
    let cert = record_certificate(&s2, "record-signing").unwrap();
    assert_eq!(cert, der);
    drop(s2);
    let mut journal = Journal::open(&tmp.path().join("j.db"), &StoreOptions::default()).unwrap();
    let fp = ev.spki_sha256.clone().unwrap();
    let cer = ceremony::write(
        &mut journal,
        "CER-2026-0007",
        steps,
        serde_json::to_value(&ev).unwrap(),
        &fp,
    );
    journal.checkpoint(&signer).unwrap();
    Fx {
        _tmp: tmp,
        signer,
        cert,
        journal,
        cer,
        _m: m,
    }
}

fn fail_detail(r: &keyrite_core::record::RecordReport, check: &str) -> String {
    let l = r.lines.iter().find(|l| l.check == check).unwrap();
    assert_eq!(l.outcome, Outcome::Fail, "{check}: {}", l.detail);
    l.detail.clone()
}

#[test]
#[serial(softhsm)]
fn a_record_from_the_journal_verifies_and_says_what_happened() {
    let f = fx(6);
    let t = RecordTranscript::from_journal(&f.journal, &f.cer.id).unwrap();
    assert_eq!(t.header.ceremony_id, "CER-2026-0007");
    assert_eq!(t.header.script_id.as_deref(), Some("root-key-rehearsal"));
    assert_eq!(t.header.binary_sha256.as_ref().map(String::len), Some(64));
    assert_eq!(t.header.outcome.as_deref(), Some("completed"));
    assert_eq!(t.participants.len(), 3);
    assert_eq!(t.preflight.len(), 2);
    assert_eq!(t.steps.len(), 6);
    assert!(t
        .steps
        .iter()
        .all(|s| s.outcome == "completed" && s.sign_offs.len() == 2));
    assert!(t.steps[2].compliance.contains(&"PCI DSS 3.7.6".to_string()));
    assert!(t.steps[1].compliance.contains(&"PCI DSS 3.7.1".to_string()));
    assert!(!t.steps[5].compliance.contains(&"PCI DSS 3.7.1".to_string()));
    assert_eq!(t.exceptions[0].decision.as_deref(), Some("continue"));
    assert_eq!(
        t.keys[0].fingerprint.as_deref(),
        Some(f.cer.key_fingerprint.as_str())
    );
    assert!(t.keys[0]
        .attributes
        .iter()
        .any(|a| a.attribute == "CKA_SENSITIVE" && a.ok));
    assert_eq!(
        t.share_sets[0].shares[1].custodian_id.as_deref(),
        Some("grace")
    );
    assert_eq!(t.share_sets[0].shares[2].custodian_id, None);
    assert_eq!(t.approvals[0].decisions.len(), 2);
    assert_eq!(t.backups.len(), 1);
    assert_eq!(t.inventory.len(), 1);
    assert_eq!(t.other_events.len(), 1);
    assert_eq!(t.other_events[0].kind, "note: video_reference");
    assert_eq!(t.checkpoint.size, f.journal.head().size - 1);
    // Canonical: the encoding round-trips, and a pretty-printed copy is refused.
    let json = t.canonical_json();
    assert_eq!(RecordTranscript::from_canonical_json(&json).unwrap(), t);
    let pretty = serde_json::to_vec_pretty(&t).unwrap();
    assert_eq!(
        RecordTranscript::from_canonical_json(&pretty).unwrap_err().to_string(),
        "the record transcript is invalid: it is not in the canonical encoding (sorted keys, no whitespace)"
    );

    for size in [PageSize::A4, PageSize::Letter] {
        let pdf = produce_record(&f.journal, &f.cer.id, &f.signer, &f.cert, size).unwrap();
        let r = check_record(&pdf, Some(&f.cert), Some(&f.journal));
        assert!(r.is_valid(), "{:#?}", r.lines);
        assert!(r.lines.iter().all(|l| l.outcome == Outcome::Pass));
        assert!(r
            .verdict()
            .starts_with("VALID: record of ceremony CER-2026-0007, signed by CN=Keyrite record signing — Lab West"));
        assert!(r
            .verdict()
            .ends_with("(the pinned certificate); the journal agrees"));
        assert_eq!(r.transcript.as_ref().unwrap(), &t);
    }
}

#[test]
#[serial(softhsm)]
fn check_record_reports_each_failure_precisely() {
    let mut f = fx(4);
    let id = f.cer.id.clone();
    let t = RecordTranscript::from_journal(&f.journal, &id).unwrap();

    // Unknown ceremony.
    assert_eq!(
        RecordTranscript::from_journal(&f.journal, "CER-NONE").unwrap_err().to_string(),
        "ceremony CER-NONE is not in the journal (no ceremony_started entry names it); check the ceremony id with `keyrite journal export`"
    );

    // An approval signature that does not verify.
    let mut bad = t.clone();
    let sig = bad.approvals[0].decisions[1].signature.clone().unwrap();
    let mut bytes = hex::decode(&sig).unwrap();
    let n = bytes.len() - 3;
    bytes[n] ^= 1;
    bad.approvals[0].decisions[1].signature = Some(hex::encode(&bytes));
    let pdf = produce_from_transcript(&bad, &f.signer, &f.cert, PageSize::A4).unwrap();
    let r = check_record(&pdf, Some(&f.cert), None);
    assert_eq!(
        fail_detail(&r, "approvals"),
        "approval by grace on request REQ-1: the signature does not match its journaled SHA-256"
    );
    assert!(!r.is_valid());

    // A transcript that says something the journal does not.
    let mut bad = t.clone();
    bad.participants[0].name = "Eve".into();
    let pdf = produce_from_transcript(&bad, &f.signer, &f.cert, PageSize::A4).unwrap();
    let r = check_record(&pdf, Some(&f.cert), Some(&f.journal));
    assert_eq!(
        r.verdict(),
        "INVALID: the journal's entries for ceremony CER-2026-0007 differ from the record's transcript (section \"participants\" differs)"
    );

    // A transcript that is not canonical, validly signed.
    let pdf = render_record(&t, PageSize::A4).unwrap();
    let pdf = attach_file(
        &pdf,
        "transcript.json",
        "application/json",
        &serde_json::to_vec_pretty(&t).unwrap(),
    )
    .unwrap();
    let pdf = sign_pdf(&pdf, &f.signer, &f.cert, SystemTime::now(), "r", "l").unwrap();
    assert_eq!(
        check_record(&pdf, Some(&f.cert), None).verdict(),
        "INVALID: the record transcript is invalid: it is not in the canonical encoding (sorted keys, no whitespace)"
    );

    // A record with no transcript at all.
    let pdf = render_record(&t, PageSize::A4).unwrap();
    let pdf = sign_pdf(&pdf, &f.signer, &f.cert, SystemTime::now(), "r", "l").unwrap();
    let r = check_record(&pdf, Some(&f.cert), None);
    assert_eq!(
        fail_detail(&r, "transcript"),
        "the PDF has no attachment named \"transcript.json\""
    );

    // Not a PDF, truncated: unreadable.
    let r = check_record(b"hello", None, None);
    assert!(r.unreadable);
    assert_eq!(
        r.verdict(),
        "INVALID: not a PDF: the file does not start with %PDF-"
    );
    let good = produce_record(&f.journal, &id, &f.signer, &f.cert, PageSize::A4).unwrap();
    let r = check_record(&good[..good.len() / 2], None, None);
    assert!(r.unreadable);

    // A checkpoint signed by another key than the record's.
    let rogue = SoftwareP384Signer::generate();
    let cp = f.journal.checkpoint(&rogue).unwrap();
    let t2 = RecordTranscript::from_journal_at(&f.journal, &id, cp.size).unwrap();
    let pdf = produce_from_transcript(&t2, &f.signer, &f.cert, PageSize::A4).unwrap();
    let r = check_record(&pdf, Some(&f.cert), Some(&f.journal));
    assert!(fail_detail(&r, "checkpoint").starts_with(
        "the record's closing checkpoint: the checkpoint is signed by an unknown key"
    ));

    // The journal changed after the record was made.
    let db = f.journal.store().path().to_path_buf();
    let attacker = Journal::open_read_only(&db, &StoreOptions::default()).unwrap();
    drop(attacker);
    let c = f.journal.store().conn();
    c.execute_batch(
        "DROP TRIGGER journal_no_update; \
         UPDATE journal_entry SET body = CAST(replace(CAST(body AS TEXT), 'Grace Hopper', 'Grace Hoppar') AS BLOB) WHERE seq = 2;",
    )
    .unwrap();
    let r = check_record(&good, Some(&f.cert), Some(&f.journal));
    let d = fail_detail(&r, "journal");
    assert!(
        d.starts_with("the journal does not match the record: journal entry 2:"),
        "{d}"
    );
}
