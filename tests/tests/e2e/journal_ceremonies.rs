//! `keyrite journal ceremonies` and the home screen's "Recent ceremonies" are one core function
//! (`view::recent_ceremonies`) reading through the journal's index; here its answer is checked
//! against a fold over every entry of the journal (`view::ceremonies`), which is what the
//! desktop computed before. The window's side is in `gui_journal`.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::journal::{Event, Journal};
use keyrite_core::paths::DataDir;
use keyrite_core::view::{ceremonies, CeremonySummary};
use keyrite_testkit::gui::seed_journal;
use keyrite_testkit::{keyrite, stderr, stdout, TempData};

fn full_fold(data: &std::path::Path) -> Vec<CeremonySummary> {
    let dd = DataDir::open_at(data.to_path_buf()).unwrap();
    let j = Journal::open_data_dir(&dd).unwrap();
    let mut events = Vec::new();
    j.for_each_entry(0, j.head().size - 1, |e| {
        events.push((e.seq, e.time.to_rfc3339(), e.event().unwrap()));
        Ok(())
    })
    .unwrap();
    ceremonies(&events)
}

#[test]
fn journal_ceremonies_lists_the_most_recently_active_first_as_a_fold_over_every_entry_does() {
    let d = TempData::new();
    let data = d.path();
    let empty = keyrite(&data, &["journal", "ceremonies"]);
    assert!(empty.status.success(), "{}", stderr(&empty));
    assert_eq!(stdout(&empty), "No ceremony has been journaled yet.\n");

    seed_journal(&data);
    {
        // Thirty more ceremonies, every third closed, then one more step of the oldest: it
        // becomes the most recently active although it started first.
        let dd = DataDir::open_at(data.clone()).unwrap();
        let mut j = Journal::open_data_dir(&dd).unwrap();
        for i in 0..30 {
            let id = format!("drill-{i:02}");
            j.append(Event::CeremonyStarted {
                ceremony_id: id.clone(),
                script_name: "key-destruction".into(),
                script_sha256: "01".repeat(32),
                mode: "rehearsal".to_string().into(),
            })
            .unwrap();
            if i % 3 == 0 {
                j.append(Event::CeremonyClosed {
                    ceremony_id: id,
                    outcome: "aborted".to_string().into(),
                })
                .unwrap();
            }
        }
        j.append(Event::StepCompleted {
            ceremony_id: "root-2026-05".into(),
            step: "late".into(),
        })
        .unwrap();
    }

    let fold = full_fold(&data);
    assert_eq!(fold.len(), 32);
    let json = keyrite(
        &data,
        &["journal", "ceremonies", "--limit", "100", "--json"],
    );
    assert!(json.status.success(), "{}", stderr(&json));
    let listed: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(listed, serde_json::to_value(&fold).unwrap());

    let text = keyrite(&data, &["journal", "ceremonies", "--limit", "3"]);
    assert!(text.status.success(), "{}", stderr(&text));
    let minute = |c: &CeremonySummary| {
        let (t, _) = c.started.as_ref().unwrap();
        t.replacen('T', " ", 1).chars().take(16).collect::<String>()
    };
    assert_eq!(fold[0].ceremony_id, "root-2026-05");
    assert_eq!(fold[1].ceremony_id, "drill-29");
    assert_eq!(fold[2].ceremony_id, "drill-28");
    assert_eq!(
        stdout(&text),
        format!(
            "root-2026-05  root-key  rehearsal  started {}  completed  3 steps, 0 exceptions, 1 record\n\
             drill-29  key-destruction  rehearsal  started {}  in progress  0 steps, 0 exceptions, 0 records\n\
             drill-28  key-destruction  rehearsal  started {}  in progress  0 steps, 0 exceptions, 0 records\n",
            minute(&fold[0]),
            minute(&fold[1]),
            minute(&fold[2]),
        )
    );
    let aborted = keyrite(&data, &["journal", "ceremonies", "--limit", "5"]);
    assert!(
        stdout(&aborted).contains("drill-27  key-destruction  rehearsal  started "),
        "{}",
        stdout(&aborted)
    );
    assert!(
        stdout(&aborted).contains("  aborted  0 steps"),
        "{}",
        stdout(&aborted)
    );
}
