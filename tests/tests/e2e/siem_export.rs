//! SIEM export of real ceremonies through the CLI: hsm-initialisation and
//! root-key-generation run unattended on the embedded SoftHSM2, then every event is exported
//! in the three formats and checked by third-party tools (tests/siem/validate.py: pydantic-ocsf
//! with its shipped OCSF 1.3.0 schema, pycef, syslog-rfc5424-parser).
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

#[path = "../../siem/validator.rs"]
mod validator;

use keyrite_core::journal::Journal;
use keyrite_testkit::ceremony::{answers, script};
use keyrite_testkit::{keyrite, stderr, stdout, TempData};
use serial_test::serial;
use std::collections::HashMap;

fn run_ceremonies(t: &TempData) {
    let ans = answers(t.tmp.path());
    for name in ["hsm-initialisation", "root-key-generation"] {
        let o = keyrite(
            &t.path(),
            &[
                "ceremony",
                "run",
                script(name).to_str().unwrap(),
                "--answers",
                ans.to_str().unwrap(),
            ],
        );
        assert!(o.status.success(), "{name}: {}{}", stdout(&o), stderr(&o));
    }
}

/// seq → (ceremony the body names or that was open, body text), from the journal itself.
fn journal_bodies(data: &std::path::Path) -> Vec<String> {
    let j = Journal::open_read_only(&data.join("journal.sqlite"), &Default::default()).unwrap();
    let mut v = Vec::new();
    j.for_each_entry(0, j.head().size - 1, |e| {
        v.push(String::from_utf8(e.body.clone()).expect("utf-8 body"));
        Ok(())
    })
    .unwrap();
    v
}

#[test]
#[serial(softhsm)]
fn every_event_of_real_ceremonies_passes_the_siem_validators() {
    let t = TempData::new();
    let data = t.path();
    run_ceremonies(&t);
    let bodies = journal_bodies(&data);
    let d = data.to_str().unwrap();
    let export = |format: &str, extra: &[&str]| {
        let out = t.scratch(&format!("export.{format}"));
        let mut args = vec![
            "journal",
            "export",
            "--format",
            format,
            "--out",
            out.to_str().unwrap(),
            "--hostname",
            "airgap-01",
        ];
        args.extend_from_slice(extra);
        let o = keyrite(&data, &args);
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
        (out, o)
    };

    // OCSF: every event valid, every event of a ceremony correlated to it.
    let (jsonl, _) = export("jsonl", &[]);
    let events = validator::validate("jsonl", &jsonl);
    assert_eq!(events.len(), bodies.len());
    let mut classes: HashMap<u64, usize> = HashMap::new();
    for (v, body) in events.iter().zip(&bodies) {
        assert_eq!(v["unmapped"]["body"].as_str(), Some(body.as_str()));
        assert!(
            v["metadata"]["correlation_uid"]
                .as_str()
                .is_some_and(|c| c.starts_with("hsm-initialisation-")
                    || c.starts_with("root-key-generation-")),
            "no ceremony in {v}"
        );
        *classes.entry(v["class_uid"].as_u64().unwrap()).or_default() += 1;
        if v["class_uid"] == 3004 && v["entity"]["type"] == "Key" {
            assert!(
                v["entity"]["data"]["fingerprint"].is_string(),
                "key without fingerprint: {v}"
            );
            assert_eq!(v["device"]["type"], "HSM", "{v}");
        }
        // The preflight on a networked test machine fails its air-gap checks: Failure.
        if v["metadata"]["event_code"] == "preflight_result" && body.contains("\"passed\":false") {
            assert_eq!(v["status_id"], 2, "{v}");
            assert!(v["status_detail"].is_string());
        }
    }
    assert!(
        classes.contains_key(&3004) && classes.contains_key(&3002) && classes.contains_key(&6003)
    );

    // CEF: pycef splits every line, msg within 1,023 characters, the body complete.
    let (cef, _) = export("cef", &[]);
    let recs = validator::validate("cef", &cef);
    assert_eq!(recs.len(), bodies.len());
    for (r, body) in recs.iter().zip(&bodies) {
        assert!(r["msg"].as_str().unwrap().chars().count() <= 1023);
        assert_eq!(r["body"].as_str(), Some(body.as_str()));
    }

    // Syslog with the site's enterprise number from the profile... and the flag over it.
    let (syslog, o) = export("syslog", &["--enterprise-number", "53124"]);
    assert!(
        !stderr(&o).contains("documentation enterprise number"),
        "{}",
        stderr(&o)
    );
    let recs = validator::validate("syslog", &syslog);
    for (r, body) in recs.iter().zip(&bodies) {
        assert!(r["sd"]["keyrite@53124"].is_object(), "{r}");
        assert_eq!(r["body"].as_str(), Some(body.as_str()));
        assert_eq!(r["procid"], serde_json::Value::Null);
    }
    // `--out -` writes the same lines to standard output, nothing to a file named `-`.
    let o = keyrite(
        &data,
        &[
            "journal",
            "export",
            "--format",
            "syslog",
            "--out",
            "-",
            "--hostname",
            "airgap-01",
            "--enterprise-number",
            "53124",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), std::fs::read_to_string(&syslog).unwrap());
    assert!(
        stderr(&o).contains("to standard output; no manifest written"),
        "{}",
        stderr(&o)
    );
    assert!(!std::path::Path::new("-").exists());
    // Without a configured number the default is used, and said.
    let o = keyrite(
        &data,
        &[
            "journal",
            "export",
            "--format",
            "syslog",
            "--out",
            "-",
            "--data-dir",
            d,
        ],
    );
    assert!(
        stderr(&o).contains(
            "keyrite: note: syslog SD-ID keyrite@32473 uses the documentation enterprise number"
        ),
        "{}",
        stderr(&o)
    );
}

#[test]
#[serial(softhsm)]
fn bad_export_requests_are_refused_with_exact_messages() {
    let t = TempData::new();
    let data = t.path();
    run_ceremonies(&t);
    let out = t.scratch("old.jsonl");
    std::fs::write(&out, "old").unwrap();
    let o = keyrite(
        &data,
        &[
            "journal",
            "export",
            "--format",
            "jsonl",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "keyrite: error: {} already exists; Keyrite never overwrites an export: choose another file name\n",
            out.display()
        )
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "old");
    let o = keyrite(
        &data,
        &["journal", "export", "--format", "xml", "--out", "x"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).starts_with(
            "error: invalid value 'xml' for '--format <FORMAT>': unknown export format \"xml\": use jsonl, cef or syslog"
        ),
        "{}",
        stderr(&o)
    );
    let o = keyrite(
        &data,
        &[
            "journal",
            "export",
            "--format",
            "syslog",
            "--out",
            "-",
            "--enterprise-number",
            "0",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).starts_with(
            "error: invalid value '0' for '--enterprise-number <PEN>': 0 is not in 1..=4294967295"
        ),
        "{}",
        stderr(&o)
    );
    // The profile's number is used when no flag is given.
    let profile = t.scratch("site.toml");
    std::fs::write(
        &profile,
        "version = 1\n[site]\nname = \"Lab\"\nmode = \"rehearsal\"\n[siem]\nsyslog_enterprise_number = 61000\n",
    )
    .unwrap();
    let o = keyrite(
        &data,
        &[
            "--profile",
            profile.to_str().unwrap(),
            "journal",
            "export",
            "--format",
            "syslog",
            "--out",
            "-",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("[keyrite@61000 "),
        "{}",
        &stdout(&o)[..300]
    );
    assert!(!stderr(&o).contains("documentation enterprise number"));
}
