//! Stop, raise an exception, abort — by hand, at any step (issue 17 item 7, issue 18): the
//! journal entries each leaves, the exact refusals, the banner, and a retry that goes back to
//! where the step was instead of running its action again.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::engine::{Answer, Ceremony, CeremonyOptions, Decision, Prompt, PAUSED_NOTE};
use keyrite_core::environment::Environment;
use keyrite_core::journal::Journal;
use keyrite_core::script::{Role, Script};
use keyrite_core::store::StoreOptions;
use serde_json::Value;
use serial_test::serial;
use std::path::Path;

const SCRIPT: &str = r#"id = "by-hand"
version = "1"
title = "By hand"
purpose = "Stop, raise, abort."

[roles]
administrator = 1
witness = 1

[[steps]]
id = "count"
title = "Count the bags"
role = "administrator"
action = "manual"
instructions = "Count the bags."
sign_off = { witness = 1 }

[[steps]]
id = "seal"
title = "Seal the bags"
role = "administrator"
action = "manual"
instructions = "Seal them."
sign_off = { witness = 1 }

[[steps]]
id = "record"
title = "Record"
role = "administrator"
action = "sign-record"
instructions = "Sign the record."
"#;

fn script() -> Script {
    Script::parse("by-hand.toml", SCRIPT.as_bytes()).unwrap()
}

fn start(data: &Path) -> Ceremony {
    let env = Environment::open(Some(data), None).unwrap();
    let j = Journal::open_data_dir(env.data()).unwrap();
    Ceremony::start(env, j, script(), CeremonyOptions::default()).unwrap()
}

fn check_in(c: &mut Ceremony, role: Role, name: &str) {
    c.answer(Answer::CheckIn {
        name: name.into(),
        role,
        credential_fingerprint: None,
    })
    .unwrap();
}

/// The journal's events from entry `from` on, as (type, event with its details).
fn entries(data: &Path, from: u64) -> Vec<(String, Value)> {
    let env = Environment::open(Some(data), None).unwrap();
    let j = Journal::open_read_only(&env.data().journal_db(), &StoreOptions::default()).unwrap();
    (from..j.head().size)
        .map(|seq| {
            let b = j.entry(seq).unwrap().body_json().unwrap();
            let mut e = b["event"].clone();
            e["details"] = b["details"].clone();
            (e["type"].as_str().unwrap_or_default().to_string(), e)
        })
        .collect()
}

fn kinds(e: &[(String, Value)]) -> Vec<&str> {
    e.iter().map(|(k, _)| k.as_str()).collect()
}

const NOT_FIT: &str = "the answer does not fit: ";

#[test]
#[serial(softhsm)]
fn an_exception_raised_by_hand_is_journaled_decided_and_retried_where_the_step_was() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut c = start(&data);
    check_in(&mut c, Role::Administrator, "Ada Admin");
    let b = c.banner();
    assert_eq!(b.text, "REHEARSAL · By hand · Check-in before step 1 of 3");
    assert_eq!(
        c.raise_exception("administrator-1", "why")
            .unwrap_err()
            .to_string(),
        format!(
            "{NOT_FIT}no step has started yet: an exception belongs to a step; finish the \
             check-in, or abort the ceremony"
        )
    );
    check_in(&mut c, Role::Witness, "Wes Witness");
    assert_eq!(
        c.banner().step.as_deref(),
        Some("Step 1 of 3 · Count the bags")
    );
    c.answer(Answer::Proceed).unwrap();
    assert!(matches!(c.prompt(), Prompt::SignOff { .. }));
    let before = c.journal().head().size;

    // Refusals change nothing.
    assert_eq!(
        c.raise_exception("witness-9", "a bag is torn")
            .unwrap_err()
            .to_string(),
        format!(
            "{NOT_FIT}witness-9 has not checked in: raising an exception needs the participant \
             id of the person who decides it (e.g. administrator-1)"
        )
    );
    assert_eq!(
        c.raise_exception("witness-1", "  ")
            .unwrap_err()
            .to_string(),
        format!("{NOT_FIT}raising an exception needs a reason: say what is wrong")
    );
    assert_eq!(c.journal().head().size, before);
    assert!(matches!(c.prompt(), Prompt::SignOff { .. }));

    c.raise_exception("witness-1", " bag 3 is torn ").unwrap();
    let Prompt::ExceptionDecision {
        exception_id,
        step,
        expected,
        happened,
        retry_allowed,
    } = c.prompt()
    else {
        panic!("the decision prompt")
    };
    assert_eq!(
        (exception_id.as_str(), step.as_str(), retry_allowed),
        ("x1", "count", true)
    );
    assert_eq!(expected, "Count the bags (manual) succeeds");
    assert_eq!(
        happened,
        "exception raised by hand by Wes Witness (witness-1): bag 3 is torn"
    );
    assert_eq!(
        c.raise_exception("administrator-1", "again")
            .unwrap_err()
            .to_string(),
        format!("{NOT_FIT}exception x1 is open: decide it first (retry, skip or abort)")
    );
    c.answer(Answer::Decide {
        decision: Decision::Retry,
        decided_by: vec!["administrator-1".into(), "witness-1".into()],
        reason: "bag 3 replaced by bag 3a".into(),
    })
    .unwrap();
    // Back to the sign-off: the step's action is not run a second time.
    assert!(
        matches!(c.prompt(), Prompt::SignOff { ref step, .. } if step == "count"),
        "{:?}",
        c.prompt()
    );
    let e = entries(&data, before);
    assert_eq!(kinds(&e), ["exception_opened", "exception_decided"]);
    assert_eq!(
        e[0].1["description"],
        "expected: Count the bags (manual) succeeds; happened: exception raised by hand by \
         Wes Witness (witness-1): bag 3 is torn"
    );
    assert_eq!(e[0].1["step"], "count");
    assert_eq!(e[1].1["decision"], "retry");
    assert_eq!(c.status().exceptions[0].decision.as_deref(), Some("retry"));
    c.answer(Answer::SignOff {
        participant: "witness-1".into(),
        signature_sha256: None,
    })
    .unwrap();
    assert!(matches!(c.prompt(), Prompt::Instructions { ref step, .. } if step == "seal"));

    // Abort: refused without a reason; then journaled as an exception decided "abort".
    assert_eq!(
        c.abort("administrator-1", "").unwrap_err().to_string(),
        format!("{NOT_FIT}aborting the ceremony needs a reason: say what is wrong")
    );
    let before = c.journal().head().size;
    c.abort("administrator-1", "the witness was called away")
        .unwrap();
    let e = entries(&data, before);
    assert_eq!(
        kinds(&e),
        ["exception_opened", "exception_decided", "ceremony_closed"]
    );
    assert_eq!(
        e[0].1["description"],
        "expected: Seal the bags (manual) succeeds; happened: the ceremony was aborted by hand \
         by Ada Admin (administrator-1) during step \"seal\" (Seal the bags): the witness was \
         called away"
    );
    assert_eq!(e[1].1["decision"], "abort");
    assert_eq!(e[1].1["decided_by"], serde_json::json!(["administrator-1"]));
    assert_eq!(e[1].1["reason"], "the witness was called away");
    assert_eq!(e[2].1["outcome"], "aborted");
    assert_eq!(c.status().outcome, "aborted");
    assert_eq!(c.banner().text, "REHEARSAL · By hand");
    assert_eq!(
        c.raise_exception("administrator-1", "late")
            .unwrap_err()
            .to_string(),
        format!(
            "{NOT_FIT}the ceremony is closed; raising an exception is no longer possible: give \
             the user PIN for the closing checkpoint, or proceed without it"
        )
    );
    c.answer(Answer::Proceed).unwrap();
    let Prompt::Done { summary } = c.prompt() else {
        panic!("done")
    };
    assert_eq!(
        (summary.outcome.as_str(), summary.exceptions),
        ("aborted", 2)
    );
    c.into_journal().verify(None, &[]).unwrap();
}

#[test]
#[serial(softhsm)]
fn abort_decides_the_open_exception_and_stop_pauses_resumably() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut c = start(&data);
    check_in(&mut c, Role::Administrator, "Ada Admin");
    check_in(&mut c, Role::Witness, "Wes Witness");
    let id = c.id().to_string();

    // Stop: journaled where it stopped; the ceremony resumes from the journal.
    let before = c.journal().head().size;
    let said = c.pause().unwrap();
    assert_eq!(
        said,
        format!(
            "Ceremony {id} paused during step \"count\" (Count the bags). Nothing more is done \
             until it is resumed; the journal holds everything so far."
        )
    );
    let e = entries(&data, before);
    assert_eq!(kinds(&e), ["note"]);
    assert_eq!(e[0].1["kind"], PAUSED_NOTE);
    assert_eq!(e[0].1["details"]["ceremony_id"], id.as_str());
    assert_eq!(e[0].1["details"]["step"], "count");

    let env = Environment::open(Some(&data), None).unwrap();
    let j = Journal::open_data_dir(env.data()).unwrap();
    let unfinished: Vec<String> = Ceremony::unfinished(&j)
        .unwrap()
        .into_iter()
        .map(|h| h.ceremony_id)
        .collect();
    assert_eq!(unfinished, std::slice::from_ref(&id));
    let mut c = Ceremony::resume(env, j, script(), &id, CeremonyOptions::default()).unwrap();
    assert!(matches!(c.prompt(), Prompt::Instructions { ref step, .. } if step == "count"));

    // An exception is open: abort decides that one, no second exception is opened.
    c.raise_exception("administrator-1", "the list is missing")
        .unwrap();
    let before = c.journal().head().size;
    c.abort("witness-1", "no list, no ceremony").unwrap();
    let e = entries(&data, before);
    assert_eq!(kinds(&e), ["exception_decided", "ceremony_closed"]);
    assert_eq!(e[0].1["exception_id"], "x1");
    assert_eq!(e[0].1["decided_by"], serde_json::json!(["witness-1"]));
    assert_eq!(e[1].1["outcome"], "aborted");
    c.answer(Answer::Proceed).unwrap();
    // Once done, nothing by hand is possible.
    assert_eq!(
        c.abort("witness-1", "again").unwrap_err().to_string(),
        format!("ceremony {id} is closed; start a new one")
    );
    assert!(c.pause().is_err());
}
