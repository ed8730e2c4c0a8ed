//! SIEM export: every format checked by third-party tools (pydantic-ocsf against the OCSF
//! 1.3.0 schema it ships, pycef, syslog-rfc5424-parser; see tests/siem/validate.py), values
//! carrying `|`, `\`, `=`, `"`, `]`, line breaks and non-ASCII; the manifest's range and
//! hashes match, and nothing is ever overwritten.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

#[path = "../../../../tests/siem/validator.rs"]
mod validator;

use keyrite_core::journal::export::{
    export, export_to, manifest_path, ExportFormat, ExportOptions, ExportTarget, Manifest,
    PenChoice, PenSource, DEFAULT_PEN,
};
use keyrite_core::journal::merkle::entry_hash;
use keyrite_core::journal::{Event, Journal};
use keyrite_core::store::StoreOptions;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// A ceremony id with every character the formats must escape.
const NASTY: &str = "c|1=x \"q\" ]b[ back\\slash\nnew line ü 鍵";

fn build() -> (tempfile::TempDir, Journal) {
    let tmp = tempfile::tempdir().unwrap();
    let mut j =
        Journal::open(&tmp.path().join("journal.sqlite"), &StoreOptions::default()).unwrap();
    j.append(Event::CeremonyStarted {
        ceremony_id: NASTY.into(),
        script_name: "root \"kek\" ]gen[".into(),
        script_sha256: "ab".repeat(32),
        mode: "rehearsal".into(),
    })
    .unwrap();
    j.append(Event::ParticipantCheckedIn {
        ceremony_id: NASTY.into(),
        participant_id: "custodian-1".into(),
        name: "Zoë | \\ = \" ] O'Brien".into(),
        role: "custodian".into(),
        credential_fingerprint: None,
    })
    .unwrap();
    j.append(Event::StepFailed {
        ceremony_id: NASTY.into(),
        step: "s1".into(),
        error: "token said = | \"no\"\nsecond line".into(),
    })
    .unwrap();
    j.append(Event::ApprovalRefused {
        request_id: "r1".into(),
        custodian_id: "custodian-1".into(),
        reason: "not today ]".into(),
    })
    .unwrap();
    // A body longer than CEF's 4,000-character cs6 and 1,023-character msg.
    j.append_with_details(
        Event::Note {
            kind: "long ".repeat(300),
        },
        json!({"text": "ü=|\\".repeat(1200)}),
    )
    .unwrap();
    j.append(Event::KeyRegistered {
        key_id: "k=1".into(),
        label: "root | kek".into(),
        purpose: "wrap".into(),
        key_type: "secret".into(),
        algorithm: "aes-256".into(),
        token_serial: "S1".into(),
        cka_id: "01".into(),
        fingerprint: Some("ff".repeat(32)),
        cryptoperiod_days: 730,
        nist_suggested_days: 730,
        justification: None,
    })
    .unwrap();
    j.append(Event::KeyDestroyed {
        key_id: "k=1".into(),
        token_serial: "S1".into(),
        cka_id: "01".into(),
        proof: json!({"absent": true}),
    })
    .unwrap();
    (tmp, j)
}

const LAST: u64 = 6;

fn opts(format: ExportFormat, from: u64) -> ExportOptions {
    ExportOptions {
        format,
        from,
        to: None,
        hostname: "airgap-01".into(),
        pen: 53124,
    }
}

/// Exports into a new file in `dir`, validates it with the third-party tools and returns
/// the text, what they parsed and the manifest.
fn run(
    j: &Journal,
    dir: &std::path::Path,
    format: ExportFormat,
    from: u64,
) -> (String, Vec<Value>, Manifest) {
    let name = format!("{format:?}-{from}").to_lowercase();
    let path = dir.join(&name);
    let w = export_to(j, &opts(format, from), ExportTarget::File(&path), None).unwrap();
    let m = w.manifest;
    assert_eq!(w.manifest_path, Some(manifest_path(&path)));
    let on_disk: Manifest =
        serde_json::from_slice(&std::fs::read(manifest_path(&path)).unwrap()).unwrap();
    assert_eq!(on_disk, m);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(m.file_sha256, hex::encode(Sha256::digest(text.as_bytes())));
    assert_eq!(
        (m.first_seq, m.last_seq, m.count),
        (from, LAST, LAST + 1 - from)
    );
    assert_eq!(text.lines().count() as u64, m.count);
    let fmt = match format {
        ExportFormat::Jsonl => "jsonl",
        ExportFormat::Cef => "cef",
        ExportFormat::Syslog => "syslog",
    };
    let parsed = validator::validate(fmt, &path);
    assert_eq!(parsed.len() as u64, m.count);
    (text, parsed, m)
}

/// Checks a chain of (seq, prev, hash, body) as the SIEM side would.
fn check_chain(m: &Manifest, rows: &[(u64, String, String, String)]) {
    let mut prev = m.first_prev_hash.clone();
    for (i, (seq, p, h, body)) in rows.iter().enumerate() {
        assert_eq!(*seq, m.first_seq + i as u64);
        assert_eq!(*p, prev);
        let pb: [u8; 32] = hex::decode(p).unwrap().try_into().unwrap();
        assert_eq!(
            *h,
            hex::encode(entry_hash(*seq, &pb, body.as_bytes())),
            "body of {seq} re-hashes"
        );
        prev = h.clone();
    }
    assert_eq!(prev, m.last_entry_hash);
}

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_string()
}

#[test]
fn jsonl_is_valid_ocsf_and_rehashes() {
    let (t, j) = build();
    let (_, events, m) = run(&j, t.path(), ExportFormat::Jsonl, 0);
    let mut rows = Vec::new();
    for v in &events {
        let u = &v["unmapped"];
        rows.push((
            u["seq"].as_u64().unwrap(),
            s(&u["prev_hash"]),
            s(&u["entry_hash"]),
            s(&u["body"]),
        ));
        assert_eq!(
            s(&v["metadata"]["uid"]),
            format!("{}/{}", j.origin(), u["seq"])
        );
        assert_eq!(v["metadata"]["version"], "1.3.0");
        // Every event of the open ceremony names it, also those whose body does not.
        assert_eq!(s(&v["metadata"]["correlation_uid"]), NASTY, "{v}");
    }
    check_chain(&m, &rows);
    let by_seq = |n: usize| &events[n];
    // The participant logs on to the ceremony (Authentication) as who they are, with role.
    assert_eq!(by_seq(1)["class_uid"], 3002);
    assert_eq!(by_seq(1)["user"]["name"], "Zoë | \\ = \" ] O'Brien");
    assert_eq!(by_seq(1)["user"]["groups"][0]["name"], "custodian");
    // Failures and refusals are Failure with the reason.
    assert_eq!(by_seq(2)["status_id"], 2);
    assert_eq!(
        by_seq(2)["status_detail"],
        "token said = | \"no\"\nsecond line"
    );
    assert_eq!(by_seq(3)["status_id"], 2);
    assert_eq!(by_seq(3)["actor"]["user"]["uid"], "custodian-1");
    assert_eq!(by_seq(3)["actor"]["user"]["groups"][0]["name"], "custodian");
    assert_eq!(by_seq(0)["status_id"], 1);
    // Key events: Entity Management with the key and its fingerprint, the HSM as device.
    let destroyed = by_seq(6);
    assert_eq!(destroyed["type_uid"], 300404);
    assert_eq!(destroyed["entity"]["uid"], "k=1");
    assert_eq!(destroyed["entity"]["data"]["fingerprint"], "ff".repeat(32));
    assert_eq!(destroyed["device"]["uid"], "S1");
    assert_eq!(destroyed["metadata"]["profiles"], json!(["host"]));
    assert_eq!(by_seq(5)["activity_name"], "Enroll");
    assert_eq!(m.head_root, j.head().root_hex());
}

#[test]
fn cef_parses_with_pycef_msg_fits_and_body_is_complete() {
    let (t, j) = build();
    let (text, recs, m) = run(&j, t.path(), ExportFormat::Cef, 0);
    let mut rows = Vec::new();
    for r in &recs {
        assert_eq!(r["DeviceVendor"], "Keyrite");
        let sev: u8 = s(&r["Severity"]).parse().unwrap();
        assert!(sev <= 10);
        let msg = s(&r["msg"]);
        assert!(
            msg.chars().count() <= 1023,
            "msg of {} chars",
            msg.chars().count()
        );
        assert_eq!(s(&r["ceremonyId"]), NASTY);
        rows.push((
            s(&r["externalId"]).parse().unwrap(),
            s(&r["prevHash"]),
            s(&r["entryHash"]),
            s(&r["body"]),
        ));
    }
    check_chain(&m, &rows);
    // The long note really was split over cs6 and keyriteBody2.. and its msg cut.
    let note = text.lines().nth(4).unwrap();
    assert!(note.contains(" keyriteBody2="), "{}", &note[..200]);
    assert!(s(&recs[4]["msg"]).ends_with('…'));
    assert_eq!(recs[2]["outcome"], "failure");
    assert_eq!(recs[2]["reason"], "token said = | \"no\"\nsecond line");
    assert_eq!(s(&recs[6]["DeviceEventClassID"]), "KEY_DESTROYED");
}

#[test]
fn syslog_parses_as_rfc5424_with_bom_and_is_reproducible() {
    let (t, j) = build();
    let (text, recs, m) = run(&j, t.path(), ExportFormat::Syslog, 1);
    let mut rows = Vec::new();
    for r in &recs {
        assert_eq!(r["facility"], 10, "authpriv");
        assert_eq!(r["hostname"], "airgap-01");
        assert_eq!(r["appname"], "keyrite");
        assert_eq!(r["procid"], Value::Null, "PROCID is -");
        let sd = &r["sd"]["keyrite@53124"];
        // RFC 5424 has no line-break escape: control characters appear as \uXXXX.
        assert_eq!(s(&sd["ceremony"]), NASTY.replace('\n', "\\u000a"));
        rows.push((
            s(&sd["seq"]).parse().unwrap(),
            s(&sd["prev"]),
            s(&sd["hash"]),
            s(&r["body"]),
        ));
    }
    check_chain(&m, &rows);
    assert_eq!(recs[1]["sd"]["keyrite@53124"]["outcome"], "failure");
    // Two exports of one range are identical (no exporter pid, no export time).
    let mut again = Vec::new();
    export(&j, &opts(ExportFormat::Syslog, 1), &mut again).unwrap();
    assert_eq!(String::from_utf8(again).unwrap(), text);
}

#[test]
fn existing_files_are_never_overwritten() {
    let (t, j) = build();
    let out = t.path().join("e.jsonl");
    std::fs::write(&out, b"old").unwrap();
    let err = export_to(
        &j,
        &opts(ExportFormat::Jsonl, 0),
        ExportTarget::File(&out),
        None,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} already exists; Keyrite never overwrites an export: choose another file name",
            out.display()
        )
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"old");
    assert!(!manifest_path(&out).exists(), "nothing created");
    // An existing manifest alone stops it too, before the export file is created.
    let out2 = t.path().join("f.cef");
    std::fs::write(manifest_path(&out2), b"old manifest").unwrap();
    let err = export_to(
        &j,
        &opts(ExportFormat::Cef, 0),
        ExportTarget::File(&out2),
        None,
    )
    .unwrap_err();
    assert!(err.to_string().ends_with(
        ".manifest.json already exists; Keyrite never overwrites an export: choose another file name"
    ));
    assert!(!out2.exists());
    assert_eq!(
        std::fs::read(manifest_path(&out2)).unwrap(),
        b"old manifest"
    );
    // A stream export with a manifest file that exists writes no line.
    let mut sink = Vec::new();
    let m = t.path().join("m.json");
    std::fs::write(&m, b"x").unwrap();
    assert!(export_to(
        &j,
        &opts(ExportFormat::Syslog, 0),
        ExportTarget::Writer(&mut sink),
        Some(&m)
    )
    .is_err());
    assert!(sink.is_empty());
}

#[test]
fn bad_input_is_named() {
    let (_t, j) = build();
    let err = export(&j, &opts(ExportFormat::Jsonl, 9), &mut Vec::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the journal has no entries from 9 to 7; it holds 7 entries"
    );
    let mut o = opts(ExportFormat::Syslog, 0);
    o.hostname = "air gap".into();
    assert_eq!(
        export(&j, &o, &mut Vec::new()).unwrap_err().to_string(),
        "hostname \"air gap\" cannot be a syslog HOSTNAME: use 1 to 255 printable ASCII \
         characters without spaces, or - for none"
    );
    assert_eq!(
        "xml".parse::<ExportFormat>().unwrap_err().to_string(),
        "unknown export format \"xml\": use jsonl, cef or syslog"
    );
    // The enterprise number: flag over profile over the documented default, never silent.
    assert_eq!(PenChoice::resolve(Some(7), Some(9)).pen, 7);
    assert_eq!(PenChoice::resolve(None, Some(9)).source, PenSource::Profile);
    let d = PenChoice::resolve(None, None);
    assert_eq!((d.pen, d.source), (DEFAULT_PEN, PenSource::Default));
    assert!(d
        .notice(ExportFormat::Syslog)
        .unwrap()
        .contains("documentation enterprise number"));
    assert_eq!(d.notice(ExportFormat::Jsonl), None);
}
