//! Stop, raise an exception, abort — typed at the interactive CLI's prompts (`!stop`,
//! `!raise REASON`, `!abort REASON`), driven through standard input: the journal entries each
//! leaves, the exact messages, and that a raised exception ends in the engine's decision
//! prompt as in the window (`gui_ceremony`).
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_testkit::ceremony::script;
use keyrite_testkit::{bin, stderr, stdout, TempData};
use serial_test::serial;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `keyrite ceremony run hsm-initialisation` with `lines` on standard input.
fn run(data: &Path, lines: &[&str]) -> Output {
    let mut cmd = Command::new(bin("keyrite"));
    cmd.arg("--data-dir")
        .arg(data)
        .args(["ceremony", "run"])
        .arg(script("hsm-initialisation"))
        .env_remove("SOFTHSM2_CONF")
        .env_remove("KEYRITE_DATA_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut input = lines.join("\n");
    input.push('\n');
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Every journal entry's body (`event` and `details`), in order.
fn events(data: &Path) -> Vec<serde_json::Value> {
    let j = keyrite_core::journal::Journal::open_read_only(
        &data.join("journal.sqlite"),
        &Default::default(),
    )
    .unwrap();
    (0..j.head().size)
        .map(|s| j.entry(s).unwrap().body_json().unwrap())
        .collect()
}

#[test]
#[serial(softhsm)]
fn stop_raise_and_abort_typed_at_the_prompts() {
    let t = TempData::new();
    let data = t.path();

    // Stop at the first step's instructions: paused, journaled, resumable.
    let o = run(&data, &["Ada Admin", "Wes Witness", "Aud Auditor", "!stop"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(6), "{out}{}", stderr(&o));
    assert!(out.contains(
        "At any prompt that reads a line you may type: !stop to pause the ceremony (run the \
         same command again to resume it), !raise REASON to raise an exception at the current \
         step, !abort REASON to abort the ceremony (you are asked to confirm). A PIN or share \
         prompt does not read these."
    ));
    // The pre-start checklist, the core's (as the window's picker shows it).
    assert!(
        out.contains(
            "Before starting \"HSM initialisation\":\n  [CHECK] In the room, identity checked: \
             1 administrator(s)\n"
        ),
        "{out}"
    );
    // The embedded rehearsal token comes initialised (with no keys) with a new data directory.
    assert!(
        out.contains(
            " is already initialised: this ceremony initialises it again, which is refused \
             while it holds keys the inventory knows as live\n"
        ),
        "{out}"
    );
    assert!(out.contains("[REHEARSAL · HSM initialisation · Check-in before step 1 of 7]\n"));
    assert!(out.contains("[REHEARSAL · HSM initialisation · Step 1 of 7 · Check the air gap]\n"));
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("Ceremony ")?.split(':').next())
        .unwrap()
        .to_string();
    assert!(
        out.ends_with(&format!(
            "Ceremony {id} paused during step \"preflight\" (Check the air gap). Nothing more \
             is done until it is resumed; the journal holds everything so far.\n"
        )),
        "{out}"
    );
    let ev = events(&data);
    let last = ev.last().unwrap();
    assert_eq!(last["event"]["kind"], "ceremony_paused", "{last}");
    assert_eq!(last["details"]["ceremony_id"], id.as_str());

    // Resume; raise an exception at the clock check: the decision prompt, then back to it.
    let n = ev.len();
    let o = run(
        &data,
        &[
            "yes",
            "yes",
            "witness-1",
            "no",
            "!bogus",
            "!raise the wall clock is missing",
            "witness-1",
            "retry",
            "administrator-1,witness-1",
            "a wristwatch set from GPS is used",
            "yes",
            "witness-1",
            "wristwatch set from GPS",
            "0",
            "witness-1",
            "no",
            // Unpack the HSM: an abort without a reason is refused, one not confirmed is not
            // done, a confirmed one closes the ceremony as aborted.
            "!abort",
            "administrator-1",
            "abort",
            "!abort the bag's seal is broken",
            "administrator-1",
            "no",
            "!abort the bag's seal is broken",
            "administrator-1",
            "abort",
            "no",
        ],
    );
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(6), "{out}{err}");
    assert!(
        out.starts_with(&format!("Resuming ceremony {id} (step preflight)\n")),
        "{out}"
    );
    assert!(
        err.contains(
            "keyrite: \"!bogus\" is not an act by hand: type !stop, !raise REASON, !abort REASON \
             or !correct SEAT NAME\n"
        ),
        "{err}"
    );
    assert!(
        out.contains(
            "EXCEPTION x1 in step \"clock-check\"\n  expected: Confirm the clock (clock-check) \
             succeeds\n  happened: exception raised by hand by Wes Witness (witness-1): the wall \
             clock is missing\n"
        ),
        "{out}"
    );
    assert!(
        err.contains(
            "keyrite: the answer does not fit: aborting the ceremony needs a reason: say what \
             is wrong\n"
        ),
        "{err}"
    );
    assert!(err.contains(&format!(
        "Abort ceremony {id}? It is closed as aborted and cannot be resumed. Type \"abort\" to \
         confirm, anything else to keep working: "
    )));
    assert!(
        out.contains("Not aborted: the ceremony goes on.\n"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "Ceremony {id} aborted: 2 steps completed, 0 skipped, 2 exceptions\n"
        )),
        "{out}"
    );

    let ev = events(&data);
    let new: Vec<(&str, &serde_json::Value)> = ev[n..]
        .iter()
        .filter(|e| {
            let t = e["event"]["type"].as_str().unwrap_or_default();
            t.starts_with("exception") || t == "ceremony_closed"
        })
        .map(|e| (e["event"]["type"].as_str().unwrap_or_default(), &e["event"]))
        .collect();
    let kinds: Vec<&str> = new.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        kinds,
        [
            "exception_opened",
            "exception_decided",
            "exception_opened",
            "exception_decided",
            "ceremony_closed"
        ]
    );
    assert_eq!(new[0].1["step"], "clock-check");
    assert_eq!(new[1].1["decision"], "retry");
    assert_eq!(
        new[2].1["description"],
        "expected: Unpack and identify the HSM (manual) succeeds; happened: the ceremony was \
         aborted by hand by Ada Admin (administrator-1) during step \"unpack-hsm\" (Unpack and \
         identify the HSM): the bag's seal is broken"
    );
    assert_eq!(new[3].1["decision"], "abort");
    assert_eq!(new[4].1["outcome"], "aborted");
}
