//! Correcting a check-in at the interactive CLI's prompts (`!correct SEAT NAME`, then the
//! reason): accepted before the ceremony's first HSM action and journaled as
//! `participant_corrected`; refused with the engine's exact words after it (the token's
//! initialisation), live in the terminal and again after a resume. The signed record lists
//! the correction.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::journal::Event;
use keyrite_testkit::ceremony::{events, script, SO_PIN, USER_PIN};
use keyrite_testkit::pty::{plain, Pty};
use keyrite_testkit::{bin, stderr, stdout, TempData};
use serial_test::serial;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

const REFUSED_AFTER: &str = "keyrite: the answer does not fit: check-ins can be corrected only \
     before the ceremony's first HSM action, and step \"initialise-token\" has acted on the \
     token: the check-in of witness-1 stands; raise an exception if it is wrong";

fn command(data: &Path) -> Command {
    let mut cmd = Command::new(bin("keyrite"));
    cmd.arg("--data-dir")
        .arg(data)
        .args(["ceremony", "run"])
        .arg(script("hsm-initialisation"))
        .env_remove("SOFTHSM2_CONF")
        .env_remove("KEYRITE_DATA_DIR");
    cmd
}

fn corrections(data: &Path) -> Vec<Event> {
    events(data)
        .into_iter()
        .filter(|e| matches!(e, Event::ParticipantCorrected { .. }))
        .collect()
}

const PROMPTS: &[&str] = &[
    "Name of the administrator: ",
    "Name of the witness: ",
    "Name of the auditor: ",
    "Type \"yes\" to proceed: ",
    "Participant id signing off: ",
    "Sign with your enrolled YubiKey? (yes/no): ",
    "Witness participant id (e.g. witness-1): ",
    "Reference clock used: ",
    "System clock minus reference, seconds: ",
    "new SO PIN: ",
    "new SO PIN again: ",
    "new user PIN: ",
    "new user PIN again: ",
];

#[test]
#[serial(softhsm)]
fn a_check_in_is_corrected_at_the_prompts_until_the_first_hsm_action() {
    let t = TempData::new();
    let data = t.path();
    let mut p = Pty::spawn(command(&data));
    let mut inited = false;
    loop {
        let (i, before) = p.expect_any(PROMPTS);
        match PROMPTS[i] {
            "Name of the administrator: " => p.line("Ada Admin"),
            // Typed ahead: the auditor's name on the witness's seat.
            "Name of the witness: " => p.line("Aud Auditor"),
            "Name of the auditor: " => {
                // A seat nobody holds, then the same person twice: refused, nothing changes.
                p.line("!correct witness-2 Wes Witness");
                p.expect("Why is the check-in corrected? ");
                p.line("typed ahead");
                p.expect(
                    "keyrite: the answer does not fit: witness-2 has not checked in; the \
                     checked-in participants are: administrator-1, witness-1",
                );
                p.expect("Name of the auditor: ");
                p.line("!correct witness-1");
                p.expect(
                    "keyrite: !correct needs the seat and the right name: type e.g. !correct \
                     witness-1 Wes Witness",
                );
                p.expect("Name of the auditor: ");
                p.line("!correct witness-1 Ada Admin");
                p.expect("Why is the check-in corrected? ");
                p.line("typed ahead");
                p.expect(
                    "keyrite: the answer does not fit: \"Ada Admin\" has already checked in as \
                     administrator-1 (administrator); one person holds one role unless the \
                     script allows the combination ([roles] combine = [[\"administrator\", \
                     \"witness\"]]), and this script does not: check in another witness",
                );
                p.expect("Name of the auditor: ");
                p.line("!correct witness-1 Wes Witness");
                p.expect("Why is the check-in corrected? ");
                p.line("the auditor's name was typed ahead");
                p.expect("Check-in corrected: witness-1 is Wes Witness.");
                p.expect("Name of the auditor: ");
                p.line("Aud Auditor");
            }
            "Type \"yes\" to proceed: " if inited => {
                // After the token's initialisation: refused, then stopped here.
                p.line("!correct witness-1 Wim Witness");
                p.expect("Why is the check-in corrected? ");
                p.line("a second thought");
                p.expect(REFUSED_AFTER);
                p.expect("Type \"yes\" to proceed: ");
                p.line("!stop");
                break;
            }
            "Type \"yes\" to proceed: " => p.line("yes"),
            "Participant id signing off: " => {
                let role = ["administrator", "witness", "auditor"]
                    .into_iter()
                    .filter_map(|r| before.rfind(&format!(" {r}.")).map(|at| (at, r)))
                    .max()
                    .map(|(_, r)| r)
                    .unwrap_or_else(|| panic!("which role signs off? {before}"));
                p.line(&format!("{role}-1"));
            }
            "Sign with your enrolled YubiKey? (yes/no): " => p.line("no"),
            "Witness participant id (e.g. witness-1): " => p.line("witness-1"),
            "Reference clock used: " => p.line("test clock"),
            "System clock minus reference, seconds: " => p.line("0"),
            "new SO PIN: " | "new SO PIN again: " => p.secret("", SO_PIN),
            "new user PIN: " => p.secret("", USER_PIN),
            "new user PIN again: " => {
                p.secret("", USER_PIN);
                inited = true;
            }
            other => panic!("unexpected prompt {other}"),
        }
    }
    let (status, out) = p.finish();
    assert_eq!(status.code(), Some(6), "{}", plain(&out));
    let id = plain(&out)
        .lines()
        .find_map(|l| {
            l.strip_prefix("Ceremony ")?
                .split(':')
                .next()
                .map(str::to_string)
        })
        .unwrap();
    let c = corrections(&data);
    assert_eq!(
        c,
        [Event::ParticipantCorrected {
            ceremony_id: id.clone(),
            participant_id: "witness-1".into(),
            role: "witness".into(),
            seat: 1,
            previous_name: "Aud Auditor".into(),
            name: "Wes Witness".into(),
            reason: "the auditor's name was typed ahead".into(),
        }]
    );

    // Resumed: the same refusal; the seat keeps its corrected name.
    let mut cmd = command(&data);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"!correct witness-1 Wim Witness\nstill a second thought\n!stop\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(6), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).starts_with(&format!("Resuming ceremony {id} ")),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains(&format!("{REFUSED_AFTER}\n")),
        "{}",
        stderr(&o)
    );
    assert_eq!(corrections(&data), c);
}
