//! PINs through the CLI with an answers file: a PIN the token rejects stops the unattended
//! run with a clear message (it is never sent again, the run does not loop), and the corrected
//! file resumes the ceremony. A PIN written as a number is refused without echoing it.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_testkit::ceremony::{answers, script, SO_PIN};
use keyrite_testkit::hsm::rehearsal_serial;
use keyrite_testkit::{keyrite, stderr, stdout, TempData};
use serial_test::serial;
use std::path::Path;

fn run(data: &Path, ans: &Path, name: &str) -> std::process::Output {
    keyrite_testkit::ceremony::run_answered(data, &script(name), ans)
}

#[test]
#[serial(softhsm)]
fn a_rejected_pin_stops_an_unattended_run_and_the_corrected_file_resumes() {
    let t = TempData::new();
    let data = t.path();
    let ans = answers(t.tmp.path());
    let o = run(&data, &ans, "hsm-initialisation");
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let serial = rehearsal_serial(&data);

    let wrong = t.tmp.path().join("wrong.toml");
    let text = std::fs::read_to_string(&ans).unwrap();
    std::fs::write(&wrong, text.replace(SO_PIN, "so-pin-wrong-0000")).unwrap();
    let o = run(&data, &wrong, "root-key-generation");
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let why = format!(
        "the SO PIN was rejected by token \"keyrite-rehearsal\" (serial {serial}): \
         CKR_PIN_INCORRECT (the PIN is wrong); the token does not say how many tries are left \
         (it reports CKF_SO_PIN_COUNT_LOW: a wrong PIN was given since the last good one)"
    );
    assert_eq!(
        stderr(&o),
        format!(
            "keyrite: error: the answer does not fit: answers file {}: so_pin: {why}; an \
             unattended run never sends a rejected PIN again: correct so_pin in the file and run \
             the ceremony again (it resumes)\n",
            wrong.display()
        )
    );
    // Said once on screen, then the run stopped: one attempt, no loop.
    assert_eq!(stdout(&o).matches(&why).count(), 1, "{}", stdout(&o));

    let o = run(&data, &ans, "root-key-generation");
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    assert!(
        out.contains("Resuming ceremony root-key-generation-"),
        "{out}"
    );
    assert!(
        out.contains("completed: 8 steps completed, 0 skipped, 0 exceptions"),
        "{out}"
    );
    let v = keyrite(&data, &["journal", "verify"]);
    assert!(v.status.success(), "{}", stderr(&v));
}

#[test]
fn a_pin_written_as_a_number_is_not_echoed() {
    let t = TempData::new();
    let data = t.path();
    let ans = answers(t.tmp.path());
    let text = std::fs::read_to_string(&ans).unwrap();
    std::fs::write(
        &ans,
        text.replace(
            &format!("user_pin = \"{}\"", keyrite_testkit::ceremony::USER_PIN),
            "user_pin = 20261206",
        ),
    )
    .unwrap();
    let o = run(&data, &ans, "hsm-initialisation");
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(
        stderr(&o),
        format!(
            "keyrite: error: the answer does not fit: answers file {}:2:12: user_pin must be a \
             quoted string (user_pin = \"…\"); a PIN, PUK or passphrase is never repeated in a \
             message\n",
            ans.display()
        )
    );
    assert!(!stderr(&o).contains("20261206") && !stdout(&o).contains("20261206"));
}

/// The clock check names the clock it compared with: an empty reference is refused before
/// anything about the clock is journaled.
#[test]
#[serial(softhsm)]
fn an_unnamed_reference_clock_is_refused() {
    let t = TempData::new();
    let data = t.path();
    let ans = answers(t.tmp.path());
    let blank = t.tmp.path().join("blank-clock.toml");
    let text = std::fs::read_to_string(&ans).unwrap();
    std::fs::write(
        &blank,
        text.replace("reference = \"test clock\"", "reference = \"  \""),
    )
    .unwrap();
    let o = run(&data, &blank, "hsm-initialisation");
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(
        stderr(&o),
        "keyrite: error: the answer does not fit: the reference clock is not named: say which \
         independent clock the witness compared the system clock with (for example \"wristwatch \
         set to UTC from a GPS clock\")\n"
    );
    let j = keyrite_core::journal::Journal::open_read_only(
        &data.join("journal.sqlite"),
        &Default::default(),
    )
    .unwrap();
    let mut clock_checks = 0;
    j.for_each_entry(0, j.head().size - 1, |e| {
        if matches!(e.event()?, keyrite_core::journal::Event::PreflightResult { ref check, .. } if check == "clock")
        {
            clock_checks += 1;
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(clock_checks, 0);
}
