//! Records → Verify in the real window: an auditor types a PDF path and sees the full verdict
//! of the core (`record::verify_record`: signature, transcript, checkpoint, approvals,
//! journal), word for word what `keyrite record verify` prints, for a record whose signature
//! is intact but whose transcript is not a ceremony's, a tampered copy and a wrongly pinned
//! signer. Run with `xvfb-run cargo test -p keyrite-tests --test gui -- --ignored gui_records::`.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::record::{verify_pdf, verify_record, Verdict};
use keyrite_testkit::gui::{signed_record, Session};
use keyrite_testkit::{keyrite, TempData};
use std::path::Path;

/// The CLI's answer for the same file: its verdict line (stdout's first line), its check
/// lines and its exit code; and its `--json` verdict.
fn cli_verdict(data: &Path, pdf: &Path, trust: Option<&Path>) -> (String, i32, serde_json::Value) {
    let mut args = vec!["record", "verify", pdf.to_str().unwrap()];
    if let Some(t) = trust {
        args.extend(["--trust", t.to_str().unwrap()]);
    }
    let text = keyrite(data, &args);
    args.push("--json");
    let json = keyrite(data, &args);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("--json prints JSON");
    (
        String::from_utf8_lossy(&text.stdout).into_owned(),
        text.status.code().unwrap_or(-1),
        v,
    )
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs an X display and tauri-driver: run under xvfb-run with --ignored"]
async fn records_verify_in_the_window_gives_the_clis_full_verdict() {
    let data = TempData::new();
    let (pdf, cert) = signed_record("Example Bank Vault B");
    let good = data.scratch("record.pdf");
    std::fs::write(&good, &pdf).unwrap();
    let cert_path = data.scratch("signer.der");
    std::fs::write(&cert_path, &cert).unwrap();
    let Verdict::Valid(expected) = verify_pdf(&pdf, Some(&cert)) else {
        panic!("the fixture record does not verify");
    };

    let s = Session::open(&data.path()).await;
    s.shortcut('4').await;
    s.wait("#record-form").await;

    // Intact signature by the pinned signer, but the embedded transcript is not a ceremony
    // transcript: the window says INVALID for the transcript, as the CLI does.
    let core = verify_record(&pdf, Some(&cert), None);
    assert!(!core.valid);
    assert!(
        core.verdict.starts_with("INVALID: ") && core.checks[1].check == "transcript",
        "{core:?}"
    );
    let state = s
        .verify_record(good.to_str().unwrap(), cert_path.to_str().unwrap())
        .await;
    assert_eq!(state, "rejected");
    let shown = s.text("#record-verdict-text").await;
    assert_eq!(shown, core.verdict);
    let (cli, code, json) = cli_verdict(&data.path(), &good, Some(&cert_path));
    assert_eq!(cli.lines().next(), Some(shown.as_str()), "{cli}");
    assert_eq!(code, 4, "{cli}");
    assert_eq!(json["verdict"], shown.as_str());
    let rows = s.record_checks().await;
    let cli_rows: Vec<(String, String, String)> = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let f = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (f("check"), f("outcome"), f("detail"))
        })
        .collect();
    assert_eq!(rows, cli_rows);
    assert_eq!(rows[0].1, "pass");
    assert_eq!(rows[1].1, "fail");
    // The signature's facts are shown all the same.
    assert_eq!(
        s.text("#record-result dd[data-field='signer']").await,
        expected.signer_subject
    );
    assert_eq!(
        s.text("#record-result dd[data-field='spki-words']").await,
        keyrite_core::words::to_words(&expected.spki_fingerprint)
    );
    assert_eq!(
        s.text("#record-result dd[data-field='reason']").await,
        "Ceremony record root-2026-05"
    );
    assert_eq!(
        s.text("#record-result dd[data-field='location']").await,
        "Vault B"
    );
    assert_eq!(
        s.text("#record-result dd[data-field='signing-time']").await,
        "2026-05-21T09:30:00.000Z"
    );
    let att = s
        .text("#record-attachments tr[data-name='transcript.json']")
        .await;
    assert!(att.contains("application/json"), "{att}");
    s.screenshot("record-verify-valid").await;

    // A copy with one byte changed inside the signed range: rejected with the core's reason.
    let mut bad = pdf.clone();
    // Flip the case of "Vault B" in the signature's /Location (signed, outside /Contents):
    // still a well-formed PDF, but not the bytes that were signed.
    let at = bad
        .windows(7)
        .position(|w| w == b"Vault B")
        .expect("the signature dictionary names its location");
    bad[at] ^= 0x20;
    let Verdict::Rejected(why) = verify_pdf(&bad, None) else {
        panic!("the tampered copy still verifies");
    };
    let tampered = data.scratch("record-tampered.pdf");
    std::fs::write(&tampered, &bad).unwrap();
    let state = s.verify_record(tampered.to_str().unwrap(), "").await;
    assert_eq!(state, "rejected");
    assert_eq!(
        s.text("#record-verdict-text").await,
        format!("INVALID: {why}")
    );
    let (cli, code, _) = cli_verdict(&data.path(), &tampered, None);
    assert_eq!(cli.lines().next(), Some(format!("INVALID: {why}").as_str()));
    assert_eq!(code, 4, "{cli}");
    assert!(s
        .all("#record-result dd[data-field='signer']")
        .await
        .is_empty());
    s.screenshot("record-verify-tampered").await;

    // The intact record against another site's certificate: not trusted.
    let (_, other_cert) = signed_record("Another Site");
    let other = data.scratch("other.der");
    std::fs::write(&other, &other_cert).unwrap();
    let state = s
        .verify_record(good.to_str().unwrap(), other.to_str().unwrap())
        .await;
    assert_eq!(state, "rejected");
    let Verdict::Rejected(why) = verify_pdf(&pdf, Some(&other_cert)) else {
        panic!("another site's pin accepted");
    };
    assert!(
        why.to_string().starts_with("signed by an unknown key"),
        "{why}"
    );
    assert_eq!(
        s.text("#record-verdict-text").await,
        format!("INVALID: {why}")
    );
    let (cli, _, _) = cli_verdict(&data.path(), &good, Some(&other));
    assert_eq!(cli.lines().next(), Some(format!("INVALID: {why}").as_str()));

    // A path that does not exist.
    let missing = data.scratch("nope.pdf");
    let state = s.verify_record(missing.to_str().unwrap(), "").await;
    assert_eq!(state, "error");
    assert_eq!(
        s.text("#record-error").await,
        format!(
            "cannot read {}: No such file or directory (os error 2)",
            missing.display()
        )
    );
    s.close().await;
}
