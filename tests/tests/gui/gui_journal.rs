//! Home, Journal, Inventory and SIEM export screens in the real window, on a journal seeded
//! through the core, checked against what the CLI prints for the same data directory.
//! Run with `xvfb-run cargo test -p keyrite-tests --test gui -- --ignored gui_journal::`.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_testkit::gui::{seed_journal, tamper_entry, Session};
use keyrite_testkit::{keyrite, stderr, stdout, TempData};

/// The value after `label` on the CLI's output line starting with it.
fn cli_field(out: &str, label: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label} line in:\n{out}"))
        .trim()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs an X display and tauri-driver: run under xvfb-run with --ignored"]
async fn home_shows_the_verified_head_the_cli_prints_inventory_due_and_ceremonies() {
    let data = TempData::new();
    let size = seed_journal(&data.path());
    let head = keyrite(&data.path(), &["journal", "head"]);
    assert!(head.status.success(), "{}", stderr(&head));
    let cli = stdout(&head);
    let s = Session::open(&data.path()).await;

    s.wait("#journal-panel[data-state='ok']").await;
    assert_eq!(
        s.text("#journal-panel dd[data-field='root-words']").await,
        cli_field(&cli, "Words:")
    );
    assert_eq!(
        s.text("#journal-panel dd[data-field='root-hex']").await,
        cli_field(&cli, "Root:")
    );
    assert_eq!(
        s.text("#journal-panel dd[data-field='size']").await,
        size.to_string()
    );
    assert_eq!(cli_field(&cli, "Size:"), size.to_string());
    // `--json` serialises the same core head.
    let json = keyrite(&data.path(), &["journal", "head", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON head");
    assert_eq!(json["root_words"], cli_field(&cli, "Words:").as_str());
    assert_eq!(json["root_hex"], cli_field(&cli, "Root:").as_str());
    assert_eq!(json["size"], size);
    assert_eq!(
        s.text("#journal-verdict-text").await,
        format!("Verified: all {size} entries and the Merkle head check out.")
    );

    // Inventory summary: old-dek (cryptoperiod 0 days) is due now, next-dek (30 days) soon.
    s.wait("#inventory-panel[data-state='due']").await;
    assert_eq!(
        s.text("#inventory-panel dd[data-field='due-now']").await,
        "1"
    );
    assert_eq!(
        s.text("#inventory-panel dd[data-field='due-soon']").await,
        "2"
    );
    assert!(s
        .text("#home-due li[data-key-id='old-dek'][data-due='now']")
        .await
        .starts_with("DUE NOW old-dek"));
    s.wait("#home-due li[data-key-id='next-dek'][data-due='soon']")
        .await;
    assert!(s
        .all("#home-due li[data-key-id='root-kek']")
        .await
        .is_empty());

    // Recent ceremonies, most recently active first.
    s.wait("#ceremonies-panel[data-state='ok']").await;
    let rows = s.all("#ceremony-table tbody tr").await;
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0].attr("data-ceremony-id").await.unwrap().as_deref(),
        Some("rotate-2026-06")
    );
    // The same list, in the same order, as `keyrite journal ceremonies` (one core function).
    let cli = keyrite(&data.path(), &["journal", "ceremonies", "--json"]);
    assert!(cli.status.success(), "{}", stderr(&cli));
    let cli: serde_json::Value = serde_json::from_slice(&cli.stdout).expect("JSON list");
    let cli_ids: Vec<&str> = cli
        .as_array()
        .expect("a list")
        .iter()
        .map(|c| c["ceremony_id"].as_str().expect("id"))
        .collect();
    let mut window_ids = Vec::new();
    for r in &rows {
        window_ids.push(r.attr("data-ceremony-id").await.unwrap().unwrap());
    }
    assert_eq!(window_ids, cli_ids);
    // Row by row, what the table shows of each is what the CLI lists.
    for (r, c) in rows.iter().zip(cli.as_array().unwrap()) {
        let cells = r.find_all(fantoccini::Locator::Css("td")).await.unwrap();
        let mut shown = Vec::new();
        for i in [1, 2, 4, 5, 6] {
            shown.push(cells[i].text().await.unwrap());
        }
        let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
        let outcome = c["closed"]
            .get(0)
            .map_or_else(|| "in progress".to_string(), text);
        assert_eq!(
            shown,
            [
                text(&c["script_name"]),
                text(&c["mode"]),
                outcome,
                c["steps_completed"].to_string(),
                c["exceptions"].to_string(),
            ],
            "{c}"
        );
    }
    let root = s.text("tr[data-ceremony-id='root-2026-05']").await;
    assert!(root.contains("root-key"), "{root}");
    assert!(root.contains("completed"), "{root}");
    s.wait("#hsm-panel[data-state='ok']").await;
    s.screenshot("home").await;
    s.close().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs an X display and tauri-driver: run under xvfb-run with --ignored"]
async fn journal_screen_lists_entries_and_names_the_first_bad_seq_after_tampering() {
    let data = TempData::new();
    let size = seed_journal(&data.path());
    let s = Session::open(&data.path()).await;
    s.wait("#journal-panel[data-state='ok']").await;

    // Keyboard only: Alt+2 opens the journal; the heading gets the focus.
    s.shortcut('2').await;
    s.wait("main[data-route='journal']").await;
    let focused = s
        .client
        .active_element()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(focused, "Journal");
    s.wait("#journal-entries[data-state='ok']").await;
    let rows = s.all("#journal-rows tr").await;
    assert_eq!(rows.len() as u64, size);
    assert_eq!(
        rows[0].attr("data-seq").await.unwrap(),
        Some((size - 1).to_string())
    );
    let first = s.text("#journal-rows tr[data-seq='0']").await;
    assert!(first.contains("ceremony_started"), "{first}");
    assert!(first.contains("root-2026-05"), "{first}");

    s.activate("#journal-verify").await;
    s.wait("#journal-head[data-state='ok']").await;
    s.screenshot("journal").await;

    // Tamper with entry 2 while the app runs; the CLI and the GUI must agree on the verdict.
    tamper_entry(&data.path(), 2);
    let cli = keyrite(&data.path(), &["journal", "verify"]);
    assert_eq!(cli.status.code(), Some(4));
    let err = stderr(&cli);
    let cli_seq = cli_field(&err, "first bad sequence number:");
    assert_eq!(cli_seq, "2");
    let cli_msg = cli_field(&err, "keyrite: journal verification FAILED:");
    // The window's verdict and `journal verify --json` are one core type.
    let json = keyrite(&data.path(), &["journal", "verify", "--json"]);
    assert_eq!(json.status.code(), Some(4));
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON verdict");
    assert_eq!(json["ok"], false);
    assert_eq!(json["first_bad_seq"], 2);
    assert_eq!(json["error"], cli_msg.as_str());

    s.activate("#journal-verify").await;
    s.wait("#journal-head[data-state='tampered']").await;
    assert_eq!(
        s.text("#journal-verdict-text").await,
        format!("VERIFICATION FAILED at entry {cli_seq}: {cli_msg}")
    );
    let bad = s.wait("#journal-rows tr[data-bad='true']").await;
    assert_eq!(bad.attr("data-seq").await.unwrap().as_deref(), Some("2"));
    s.screenshot("journal-tampered").await;
    s.scroll_to("#journal-rows tr[data-bad='true']").await;
    s.screenshot("journal-tampered-row").await;
    s.close().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs an X display and tauri-driver: run under xvfb-run with --ignored"]
async fn inventory_screen_shows_states_and_due_dates_as_the_cli_lists_them() {
    let data = TempData::new();
    seed_journal(&data.path());
    let cli = keyrite(&data.path(), &["inventory", "list", "--json"]);
    assert!(cli.status.success(), "{}", stderr(&cli));
    let keys: serde_json::Value = serde_json::from_slice(&cli.stdout).unwrap();
    let s = Session::open(&data.path()).await;
    s.shortcut('3').await;
    s.wait("#inventory-keys[data-state='ok']").await;
    let rows = s.all("#inventory-table tbody tr").await;
    let keys = keys.as_array().unwrap();
    assert_eq!(rows.len(), keys.len());
    for (row, k) in rows.iter().zip(keys) {
        assert_eq!(
            row.attr("data-key-id").await.unwrap().as_deref(),
            k["key_id"].as_str()
        );
        assert_eq!(
            row.attr("data-state").await.unwrap().as_deref(),
            k["state"].as_str()
        );
        let due = row
            .find(fantoccini::Locator::Css("td[data-field='rotation-due']"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            due.starts_with(&k["rotation_due"].as_str().unwrap()[..10]),
            "{due}"
        );
    }
    assert_eq!(
        s.wait("tr[data-key-id='old-dek']")
            .await
            .attr("data-due")
            .await
            .unwrap()
            .as_deref(),
        Some("now")
    );
    assert_eq!(
        s.wait("tr[data-key-id='root-kek']")
            .await
            .attr("data-state")
            .await
            .unwrap()
            .as_deref(),
        Some("active")
    );
    s.screenshot("inventory").await;
    // The filter keeps only keys due within the window.
    s.activate("#inventory-only-due").await;
    let ids: Vec<Option<String>> = futures_ids(&s).await;
    assert_eq!(ids, vec![Some("next-dek".into()), Some("old-dek".into())]);
    s.close().await;
}

async fn futures_ids(s: &Session) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for r in s.all("#inventory-table tbody tr").await {
        out.push(r.attr("data-key-id").await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs an X display and tauri-driver: run under xvfb-run with --ignored"]
async fn siem_export_writes_the_file_and_manifest_and_refuses_bad_paths() {
    let data = TempData::new();
    let size = seed_journal(&data.path());
    let s = Session::open(&data.path()).await;
    s.shortcut('5').await;
    s.wait("#export-form").await;

    s.type_into("#export-out", "relative.cef").await;
    s.activate("#export-button").await;
    s.wait("#siem-export[data-state='error']").await;
    assert_eq!(
        s.text("#export-error").await,
        "\"relative.cef\" is not a full path: start it with / (e.g. /media/usb/keyrite-journal.jsonl)"
    );

    let out = data.scratch("journal.cef");
    s.select("#export-format", "cef").await;
    s.type_into("#export-out", out.to_str().unwrap()).await;
    s.activate("#export-button").await;
    s.wait("#siem-export[data-state='ok']").await;
    assert_eq!(
        s.text("#export-done").await,
        format!("Exported {size} events (entries 0 to {}).", size - 1)
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count() as u64, size);
    assert!(text.lines().all(|l| l.starts_with("CEF:0|")), "{text}");
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(data.scratch("journal.cef.manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["count"], size);
    assert_eq!(manifest["format"], "cef");
    assert_eq!(
        s.text("dd[data-field='file-sha256']").await,
        manifest["file_sha256"].as_str().unwrap()
    );
    s.screenshot("siem-export").await;

    // A second export to the same file is refused, the first one stays as it was.
    s.activate("#export-button").await;
    s.wait("#siem-export[data-state='error']").await;
    assert_eq!(
        s.text("#export-error").await,
        format!(
            "{} already exists; Keyrite never overwrites an export: choose another file name",
            out.display()
        )
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), text);
    // The CLI refuses the same file with the same words: one rule, in the core.
    let cli = keyrite(
        &data.path(),
        &[
            "journal",
            "export",
            "--format",
            "cef",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(cli.status.code(), Some(1));
    assert_eq!(
        stderr(&cli).trim_end(),
        format!(
            "keyrite: error: {} already exists; Keyrite never overwrites an export: choose another file name",
            out.display()
        )
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), text);
    // `--json` prints what was written: the same core type the window received.
    let second = data.scratch("second.cef");
    let cli = keyrite(
        &data.path(),
        &[
            "journal",
            "export",
            "--format",
            "cef",
            "--out",
            second.to_str().unwrap(),
            "--json",
        ],
    );
    assert!(cli.status.success(), "{}", stderr(&cli));
    let done: serde_json::Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(done["out"], second.to_str().unwrap());
    assert_eq!(
        done["manifest_path"],
        format!("{}.manifest.json", second.display()).as_str()
    );
    assert_eq!(done["manifest"]["count"], manifest["count"]);
    let cli = keyrite(
        &data.path(),
        &[
            "journal", "export", "--format", "cef", "--out", "-", "--json",
        ],
    );
    assert_eq!(cli.status.code(), Some(1));
    assert_eq!(
        stderr(&cli).trim_end(),
        "keyrite: error: --json cannot be used with --out -: standard output carries the export"
    );
    s.close().await;
}
