//! SIEM export: each format parsed back (serde for JSON lines, CEF and RFC 5424 by grammar),
//! and the manifest's range and hashes match.

use keyrite_core::journal::export::{export, ExportFormat, ExportOptions, Manifest, DEFAULT_PEN};
use keyrite_core::journal::merkle::entry_hash;
use keyrite_core::journal::{Event, Journal};
use keyrite_core::store::StoreOptions;
use sha2::{Digest, Sha256};

fn build() -> (tempfile::TempDir, Journal) {
    let tmp = tempfile::tempdir().unwrap();
    let mut j =
        Journal::open(&tmp.path().join("journal.sqlite"), &StoreOptions::default()).unwrap();
    j.append(Event::CeremonyStarted {
        ceremony_id: "c|1=x".into(),
        script_name: "root \"kek\" ]gen[".into(),
        script_sha256: "ab".repeat(32),
        mode: "rehearsal".into(),
    })
    .unwrap();
    for i in 0..5 {
        j.append(Event::StepStarted {
            ceremony_id: "c|1=x".into(),
            step: format!("s{i}"),
            title: "back\\slash\nnew line".into(),
        })
        .unwrap();
    }
    j.append(Event::KeyDestroyed {
        key_id: "k=1".into(),
        token_serial: "S".into(),
        cka_id: "01".into(),
        proof: serde_json::json!({"absent": true}),
    })
    .unwrap();
    (tmp, j)
}

fn run(j: &Journal, format: ExportFormat, from: u64) -> (String, Manifest) {
    let mut out = Vec::new();
    let opts = ExportOptions {
        format,
        from,
        to: None,
        hostname: "airgap-01".into(),
        pen: DEFAULT_PEN,
    };
    let m = export(j, &opts, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(m.file_sha256, hex::encode(Sha256::digest(text.as_bytes())));
    assert_eq!((m.first_seq, m.last_seq, m.count), (from, 6, 7 - from));
    assert_eq!(text.lines().count() as u64, m.count);
    (text, m)
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
            "body re-hashes"
        );
        prev = h.clone();
    }
    assert_eq!(prev, m.last_entry_hash);
}

#[test]
fn jsonl_parses_back_with_serde() {
    let (_t, j) = build();
    let (text, m) = run(&j, ExportFormat::Jsonl, 2);
    let mut rows = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(
            v["type_uid"].as_u64().unwrap(),
            v["class_uid"].as_u64().unwrap() * 100 + v["activity_id"].as_u64().unwrap()
        );
        let u = &v["unmapped"];
        rows.push((
            u["seq"].as_u64().unwrap(),
            u["prev_hash"].as_str().unwrap().into(),
            u["entry_hash"].as_str().unwrap().into(),
            u["body"].as_str().unwrap().into(),
        ));
        assert_eq!(
            v["metadata"]["uid"].as_str().unwrap(),
            format!("{}/{}", j.origin(), u["seq"])
        );
    }
    check_chain(&m, &rows);
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["type_uid"], 300404);
    assert_eq!(m.head_root, j.head().root_hex());
}

/// CEF by its grammar: 7 `|`-separated header fields (with `\|` and `\\` escapes), then
/// `key=value` pairs where a value runs to the next unescaped ` key=`.
fn parse_cef(line: &str) -> (Vec<String>, Vec<(String, String)>) {
    let rest = line.strip_prefix("CEF:").expect("CEF prefix");
    let mut header = Vec::new();
    let mut cur = String::new();
    let mut chars = rest.chars();
    while header.len() < 7 {
        match chars.next().expect("header ends early") {
            '\\' => cur.push(chars.next().unwrap()),
            '|' => header.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    let ext: String = chars.collect();
    let mut pairs: Vec<(String, String)> = Vec::new();
    let (mut key, mut val, mut in_key) = (String::new(), String::new(), true);
    let mut it = ext.chars().peekable();
    while let Some(c) = it.next() {
        if in_key {
            if c == '=' {
                in_key = false
            } else {
                assert!(c.is_ascii_alphanumeric(), "bad key char {c:?}");
                key.push(c)
            }
            continue;
        }
        match c {
            '\\' => match it.next().unwrap() {
                'n' => val.push('\n'),
                'r' => val.push('\r'),
                e => {
                    assert!(matches!(e, '\\' | '='), "bad escape {e}");
                    val.push(e)
                }
            },
            '=' => panic!("unescaped = in value of {key}"),
            ' ' => {
                // A space starts a new pair if what follows is `key=`.
                let look: String = it.clone().take_while(|c| *c != ' ' && *c != '=').collect();
                let is_key = !look.is_empty()
                    && it.clone().nth(look.len()) == Some('=')
                    && look.chars().all(|c| c.is_ascii_alphanumeric());
                if is_key {
                    pairs.push((std::mem::take(&mut key), std::mem::take(&mut val)));
                    in_key = true;
                } else {
                    val.push(' ');
                }
            }
            c => val.push(c),
        }
    }
    pairs.push((key, val));
    (header, pairs)
}

#[test]
fn cef_parses_back_by_its_grammar() {
    let (_t, j) = build();
    let (text, m) = run(&j, ExportFormat::Cef, 0);
    let mut rows = Vec::new();
    for line in text.lines() {
        let (h, pairs) = parse_cef(line);
        assert_eq!(&h[..3], &["0", "Keyrite", "Keyrite"]);
        let sev: u8 = h[6].parse().unwrap();
        assert!(sev <= 10);
        let get = |k: &str| {
            pairs
                .iter()
                .find(|p| p.0 == k)
                .unwrap_or_else(|| panic!("{k} missing"))
                .1
                .clone()
        };
        let seq: u64 = get("externalId").parse().unwrap();
        assert_eq!(get("cs3"), if seq < 6 { "c|1=x" } else { "" });
        rows.push((
            get("externalId").parse().unwrap(),
            get("cs2"),
            get("cs1"),
            get("msg"),
        ));
    }
    assert_eq!(
        parse_cef(text.lines().last().unwrap()).0[4],
        "KEY_DESTROYED"
    );
    check_chain(&m, &rows);
}

/// RFC 5424: `<PRI>1 TS HOST APP PROCID MSGID [SD-ID k="v"...] MSG`.
fn parse_5424(line: &str) -> (u8, Vec<&str>, Vec<(String, String)>, &str) {
    let rest = line.strip_prefix('<').unwrap();
    let (pri, rest) = rest.split_once('>').unwrap();
    let pri: u8 = pri.parse().unwrap();
    assert!(pri <= 191);
    let mut fields = Vec::new();
    let mut rest = rest;
    for _ in 0..6 {
        let (f, r) = rest.split_once(' ').unwrap();
        assert!(!f.is_empty() && f.chars().all(|c| c.is_ascii_graphic()));
        fields.push(f);
        rest = r;
    }
    assert_eq!(fields[0], "1");
    keyrite_core::journal::UtcTime::parse(fields[1]).expect("RFC 3339 timestamp");
    let rest = rest.strip_prefix('[').expect("one SD-ELEMENT");
    let (id, mut rest) = rest.split_once(' ').unwrap();
    assert_eq!(id, format!("keyrite@{DEFAULT_PEN}"));
    let mut params = Vec::new();
    loop {
        let (name, r) = rest.split_once("=\"").unwrap();
        let mut val = String::new();
        let mut chars = r.char_indices();
        let end = loop {
            let (i, c) = chars.next().unwrap();
            match c {
                '\\' => val.push(chars.next().unwrap().1),
                '"' => break i,
                ']' => panic!("unescaped ]"),
                c => val.push(c),
            }
        };
        params.push((name.to_string(), val));
        rest = &r[end + 1..];
        if let Some(r) = rest.strip_prefix("] ") {
            return (pri, fields, params, r);
        }
        rest = rest.strip_prefix(' ').unwrap();
    }
}

#[test]
fn syslog_parses_back_by_rfc5424_grammar() {
    let (_t, j) = build();
    let (text, m) = run(&j, ExportFormat::Syslog, 1);
    let mut rows = Vec::new();
    for line in text.lines() {
        let (pri, fields, params, msg) = parse_5424(line);
        assert_eq!(pri / 8, 10, "authpriv");
        assert_eq!(fields[2], "airgap-01");
        let get = |k: &str| params.iter().find(|p| p.0 == k).unwrap().1.clone();
        let seq: u64 = get("seq").parse().unwrap();
        assert_eq!(get("ceremony"), if seq < 6 { "c|1=x" } else { "" });
        rows.push((
            get("seq").parse().unwrap(),
            get("prev"),
            get("hash"),
            msg.to_string(),
        ));
    }
    check_chain(&m, &rows);
    let err = export(
        &j,
        &ExportOptions {
            format: ExportFormat::Jsonl,
            from: 9,
            to: None,
            hostname: "-".into(),
            pen: 1,
        },
        &mut Vec::new(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the journal has no entries from 9 to 7; it holds 7 entries"
    );
}
