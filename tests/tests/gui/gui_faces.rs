//! One rule, two faces (issue 16): rules moved into the core, walked as one table in one
//! window session: for each row the same input goes to `keyrite` and to the window (keyboard
//! only), and the two answers must be the same word for word. The rows are the situations no
//! other GUI test compares with the CLI.
//!
//! The session is a production site whose profile points at the software token (SoftHSM2):
//! - the token identity check refuses it (`view::hsm_view`): `keyrite hsm info`'s "Profile's
//!   token" line and the Home screen's HSM panel;
//! - a ceremony's start is refused before anything is touched or journaled
//!   (`engine::Ceremony::start`): `keyrite ceremony run` and the ceremony screen's Start;
//! - the full record verdict against the data directory's journal (`record::verify_record`):
//!   `keyrite record verify --journal` and Records → Verify, for a record whose journal agrees
//!   and then for the same record once an entry of the journal was changed (the transcript no
//!   longer matches the journal).
//!
//! Every rule's both-faces test is listed in docs/architecture.md, "One rule, two faces".
//! Run with `xvfb-run cargo test -p keyrite-tests --test gui -- --ignored gui_faces::`.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::journal::Journal;
use keyrite_core::record::RECORD_SIGNING_LABEL;
use keyrite_core::store::StoreOptions;
use keyrite_testkit::ceremony::script;
use keyrite_testkit::gui::Session;
use keyrite_testkit::hsm::{certify_record_signing, rehearsal_serial};
use keyrite_testkit::journal as ceremony;
use keyrite_testkit::{keyrite, keyrite_with_env, stderr, stdout, TempData};
use std::path::{Path, PathBuf};
use std::process::Output;

/// One rule's answers: what the CLI said and what the window shows, for the same input.
struct Row {
    rule: &'static str,
    cli: String,
    window: String,
}

/// The table, one rule a paragraph, for the failure message.
fn table(rows: &[Row]) -> String {
    rows.iter()
        .map(|r| {
            let same = if r.cli == r.window { "same" } else { "DIFFER" };
            format!(
                "{} [{same}]\n  cli:    {}\n  window: {}",
                r.rule, r.cli, r.window
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `o`'s standard output, after checking that it succeeded.
fn ok(o: &Output, what: &str) -> String {
    assert!(o.status.success(), "{what}: {}{}", stdout(o), stderr(o));
    stdout(o)
}

/// A ceremony record made in the rehearsal data directory `data` as `record_pdf`'s end-to-end
/// test makes one: the token's record-signing key and its certificate, a ceremony journaled
/// through the core (`root-2026-05`), a checkpoint and `keyrite record produce`. Returns the
/// record and the signer's certificate (DER).
fn rehearsal_record(d: &TempData, data: &Path) -> (PathBuf, PathBuf) {
    let generate = |policy: &str, label: &str| {
        let o = keyrite(
            data,
            &[
                "hsm",
                "generate",
                "--policy",
                policy,
                "--label",
                label,
                "--rehearsal-pins",
                "--json",
            ],
        );
        serde_json::from_str::<serde_json::Value>(&ok(&o, "hsm generate")).unwrap()
    };
    let signing = generate("record-signing", RECORD_SIGNING_LABEL);
    certify_record_signing(
        data,
        RECORD_SIGNING_LABEL,
        signing["key"]["id"].as_str().unwrap(),
        "Vault room B",
    );
    let evidence = generate("ec-p384-sign", "root-2026")["key"].clone();
    let fp = evidence["spki_sha256"].as_str().unwrap().to_string();
    let mut j = Journal::open(&data.join("journal.sqlite"), &StoreOptions::default()).unwrap();
    ceremony::write(&mut j, "root-2026-05", 5, evidence, &fp);
    drop(j);
    ok(
        &keyrite(data, &["journal", "checkpoint", "--rehearsal-pins"]),
        "journal checkpoint",
    );
    let pdf = d.scratch("record.pdf");
    let cert = d.scratch("record.cer");
    ok(
        &keyrite(
            data,
            &[
                "record",
                "produce",
                "--ceremony",
                "root-2026-05",
                "--out",
                pdf.to_str().unwrap(),
                "--cert-out",
                cert.to_str().unwrap(),
                "--rehearsal-pins",
            ],
        ),
        "record produce",
    );
    (pdf, cert)
}

/// The window's Records → Verify for `pdf` pinned to `cert`: the verdict line and every check
/// as `check outcome: detail` lines.
async fn window_record_verdict(s: &Session, pdf: &Path, cert: &Path) -> (String, String) {
    s.verify_record(pdf.to_str().unwrap(), cert.to_str().unwrap())
        .await;
    let checks: Vec<String> = s
        .record_checks()
        .await
        .into_iter()
        .map(|(check, outcome, detail)| format!("{check} {outcome}: {detail}"))
        .collect();
    (s.text("#record-verdict-text").await, checks.join("\n"))
}

/// `keyrite record verify PDF --trust CERT --journal DB`: its verdict line (stdout's first) and
/// its `--json` checks in the window's lines.
fn cli_record_verdict(data: &Path, pdf: &Path, cert: &Path, db: &Path) -> (String, String) {
    let mut args = vec![
        "record",
        "verify",
        pdf.to_str().unwrap(),
        "--trust",
        cert.to_str().unwrap(),
        "--journal",
        db.to_str().unwrap(),
    ];
    let text = stdout(&keyrite(data, &args));
    args.push("--json");
    let json: serde_json::Value =
        serde_json::from_slice(&keyrite(data, &args).stdout).expect("--json prints JSON");
    let checks: Vec<String> = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let f = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            format!("{} {}: {}", f("check"), f("outcome"), f("detail"))
        })
        .collect();
    (
        text.lines().next().unwrap_or_default().to_string(),
        checks.join("\n"),
    )
}

/// The CLI's refusal without its `keyrite: error: ` prefix and final newline.
fn refusal(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(o), stderr(o));
    let err = stderr(o);
    err.strip_prefix("keyrite: error: ")
        .and_then(|e| e.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("not a refusal: {err}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs an X display and tauri-driver: run under xvfb-run with --ignored"]
#[serial_test::serial(softhsm)]
async fn each_rule_gives_the_same_answer_in_the_window_and_the_cli() {
    // The rehearsal token (SoftHSM2) made in one data directory, and a production site (its
    // own data directory) whose profile pins that token's identity: production still refuses
    // it, a software token.
    let d = TempData::new();
    let rehearsal = d.path();
    let serial = rehearsal_serial(&rehearsal);
    let (pdf, cert) = rehearsal_record(&d, &rehearsal);
    let conf = rehearsal.join("softhsm/softhsm2.conf");
    let module = keyrite_core::hsm::rehearsal::softhsm_module_path().unwrap();
    let profile = d.scratch("production.toml");
    std::fs::write(
        &profile,
        format!(
            "version = 1\n[site]\nname = \"Vault room B\"\nmode = \"production\"\n[hsm]\n\
             module = \"{}\"\ntoken_label = \"keyrite-rehearsal\"\n[hsm.expect]\n\
             manufacturer = \"SoftHSM project\"\nmodel = \"SoftHSM v2\"\nserial = \"{serial}\"\n",
            module.display()
        ),
    )
    .unwrap();
    let data = d.scratch("prod-data");
    let p = profile.to_str().unwrap();
    let env = [("SOFTHSM2_CONF", conf.to_str().unwrap())];
    let cli = |args: &[&str]| {
        let mut all = vec!["--profile", p];
        all.extend_from_slice(args);
        keyrite_with_env(&data, &all, &env)
    };
    let s = Session::open_with(&data, &["--profile", p], &env).await;
    assert_eq!(s.attr("#mode-banner", "data-mode").await, "production");
    let mut rows = Vec::new();

    // The token identity check (view::hsm_view, IdentityVerdict): `keyrite hsm info`'s
    // "Profile's token" line and the Home screen's HSM panel.
    let info = cli(&["hsm", "info"]);
    assert!(info.status.success(), "{}", stderr(&info));
    let line = stdout(&info)
        .lines()
        .find_map(|l| l.strip_prefix("Profile's token: "))
        .unwrap_or_else(|| panic!("no profile token line in:\n{}", stdout(&info)))
        .to_string();
    assert!(
        line.contains("it is a software token (SoftHSM project SoftHSM v2)"),
        "{line}"
    );
    let json = cli(&["hsm", "info", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON info");
    s.wait("#hsm-panel[data-state='ok']").await;
    assert_eq!(
        s.attr("#hsm-profile-token", "data-verdict").await,
        json["profile_token"]["verdict"].as_str().unwrap()
    );
    assert_eq!(
        s.attr("#hsm-profile-token", "data-verdict").await,
        "refused"
    );
    assert_eq!(s.attr("#hsm-profile-token", "class").await, "error");
    rows.push(Row {
        rule: "token identity check (view::hsm_view): hsm info / Home's HSM panel",
        cli: line,
        window: s.text("#hsm-profile-token").await,
    });
    s.screenshot("faces-hsm-refused").await;

    // Production refusals (engine::Ceremony::start): `keyrite ceremony run SCRIPT` and the
    // ceremony screen's Start for the same script, refused before anything is journaled.
    let path = script("root-key-generation").canonicalize().unwrap();
    let path = path.to_str().unwrap();
    let run = cli(&["ceremony", "run", path]);
    assert_eq!(stdout(&run), "", "a refused start prints nothing else");
    let said = refusal(&run);
    assert!(
        said.starts_with("HSM identity check refused token \"keyrite-rehearsal\""),
        "{said}"
    );
    s.shortcut('6').await;
    s.wait("#script-form").await;
    s.type_into("#script-path", path).await;
    s.activate("#script-load").await;
    s.wait("#ceremony-choose[data-state='loaded']").await;
    s.activate("#ceremony-start").await;
    rows.push(Row {
        rule: "production refusal at a ceremony's start (engine::Ceremony::start): \
               ceremony run / Run a ceremony → Start",
        cli: said,
        window: s.text("#start-error #ceremony-start-error").await,
    });
    s.screenshot("faces-production-start-refused").await;
    let db = data.join("journal.sqlite");
    if db.exists() {
        let j = Journal::open_read_only(&db, &StoreOptions::default()).unwrap();
        assert_eq!(j.head().size, 0, "a refused start journals nothing");
    }

    // The full record verdict (record::verify_record) against the data directory's journal:
    // `keyrite record verify --journal DB` and Records → Verify (the window compares with its
    // data directory's journal by itself). The journal of the record's site, copied here:
    // valid, the journal agrees; then one entry of the copy changed behind Keyrite's back: the
    // transcript no longer matches the journal.
    let journal_files = |dir: &Path| {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|f| f.unwrap().path())
            .filter(|f| {
                f.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("journal.sqlite"))
            })
            .collect::<Vec<_>>()
    };
    for f in journal_files(&data) {
        std::fs::remove_file(f).unwrap();
    }
    for f in journal_files(&rehearsal) {
        std::fs::copy(&f, data.join(f.file_name().unwrap())).unwrap();
    }
    s.shortcut('4').await;
    s.wait("#record-form").await;
    let (cli_line, cli_checks) = cli_record_verdict(&data, &pdf, &cert, &db);
    assert!(
        cli_line.starts_with("VALID: record of ceremony root-2026-05")
            && cli_line.ends_with("(the pinned certificate); the journal agrees"),
        "{cli_line}"
    );
    let (line, checks) = window_record_verdict(&s, &pdf, &cert).await;
    rows.push(Row {
        rule: "record verdict, the journal agrees (record::verify_record): \
               record verify --journal / Records → Verify",
        cli: cli_line,
        window: line,
    });
    rows.push(Row {
        rule: "  … every check",
        cli: cli_checks,
        window: checks,
    });
    let j = Journal::open(&db, &StoreOptions::default()).unwrap();
    j.store()
        .conn()
        .execute_batch(
            "DROP TRIGGER journal_no_update; \
             UPDATE journal_entry SET body = CAST(replace(CAST(body AS TEXT), 'Alan Turing', \
             'Alan Turinh') AS BLOB) WHERE seq = (SELECT min(seq) FROM journal_entry \
             WHERE CAST(body AS TEXT) LIKE '%Alan Turing%');",
        )
        .unwrap();
    drop(j);
    let (cli_line, cli_checks) = cli_record_verdict(&data, &pdf, &cert, &db);
    assert!(
        cli_line.starts_with("INVALID: the journal does not match the record: journal entry "),
        "{cli_line}"
    );
    let (line, checks) = window_record_verdict(&s, &pdf, &cert).await;
    assert_eq!(s.attr("#record-verify", "data-state").await, "rejected");
    s.screenshot("faces-record-journal-mismatch").await;
    rows.push(Row {
        rule: "record verdict, transcript and journal differ (record::verify_record): \
               record verify --journal / Records → Verify",
        cli: cli_line,
        window: line,
    });
    rows.push(Row {
        rule: "  … every check",
        cli: cli_checks,
        window: checks,
    });

    s.close().await;
    eprintln!("{}", table(&rows));
    assert!(
        rows.iter().all(|r| r.cli == r.window),
        "the faces differ:\n{}",
        table(&rows)
    );
}
