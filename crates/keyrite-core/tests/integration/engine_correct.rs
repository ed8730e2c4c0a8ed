//! Correcting a check-in: allowed until the ceremony's first HSM action (its first
//! `action_intent`), journaled as `participant_corrected`, replayed on resume, and refused
//! afterwards with the same words, live or resumed (exact messages).
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::engine::answers::AnswerFile;
use keyrite_core::engine::{Answer, Ceremony, CeremonyOptions, Prompt};
use keyrite_core::environment::Environment;
use keyrite_core::journal::{Event, Journal};
use keyrite_core::script::{Role, Script};
use serial_test::serial;
use std::path::Path;

const ANSWERS: &str = r#"
so_pin = "so-pin-12345678"
user_pin = "user-pin-1234567"
[participants]
administrator = ["Ada Admin"]
witness = ["Wes Witness"]
auditor = ["Aud Auditor"]
[clock]
reference = "test clock"
offset_seconds = 0
"#;

fn script() -> Script {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ceremony-scripts");
    Script::load(&root.join("hsm-initialisation.toml")).unwrap()
}

fn options() -> CeremonyOptions {
    CeremonyOptions {
        unattended: true,
        ..Default::default()
    }
}

fn check_in(c: &mut Ceremony, role: Role, name: &str) {
    c.answer(Answer::CheckIn {
        name: name.into(),
        role,
        credential_fingerprint: None,
    })
    .unwrap();
}

fn names(c: &Ceremony) -> Vec<(String, String)> {
    c.status()
        .participants
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect()
}

fn corrections(j: &Journal) -> Vec<Event> {
    let mut out = Vec::new();
    j.for_each_entry(0, j.head().size - 1, |e| {
        let ev = e.event()?;
        if matches!(ev, Event::ParticipantCorrected { .. }) {
            out.push(ev);
        }
        Ok(())
    })
    .unwrap();
    out
}

const AFTER: &str = "the answer does not fit: check-ins can be corrected only before the \
                     ceremony's first HSM action, and step \"initialise-token\" has acted on the \
                     token: the check-in of witness-1 stands; raise an exception if it is wrong";

#[test]
#[serial(softhsm)]
fn a_check_in_is_corrected_before_the_first_hsm_action_and_never_after() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let env = Environment::open(Some(&data), None).unwrap();
    let j = Journal::open_data_dir(env.data()).unwrap();
    let mut c = Ceremony::start(env, j, script(), options()).unwrap();
    check_in(&mut c, Role::Administrator, "Ada Admin");
    // Typed ahead: the auditor's name landed on the witness's seat.
    check_in(&mut c, Role::Witness, "Aud Auditor");
    let e = |r: Result<_, keyrite_core::engine::EngineError>| r.unwrap_err().to_string();
    assert_eq!(
        e(c.correct_check_in("witness-2", "Wes Witness", "typed ahead")),
        "the answer does not fit: witness-2 has not checked in; the checked-in participants \
         are: administrator-1, witness-1"
    );
    assert_eq!(
        e(c.correct_check_in("witness-1", "  ", "typed ahead")),
        "the answer does not fit: the corrected name is empty: type the name of the person in \
         that seat"
    );
    assert_eq!(
        e(c.correct_check_in("witness-1", "Wes Witness", " ")),
        "the answer does not fit: a correction needs a reason: say what was wrong with the \
         check-in"
    );
    assert_eq!(
        e(c.correct_check_in("witness-1", "Aud  Auditor", "typed ahead")),
        "the answer does not fit: witness-1 is already checked in as \"Aud Auditor\": there is \
         nothing to correct"
    );
    assert_eq!(
        e(c.correct_check_in("witness-1", "ada admin", "typed ahead")),
        "the answer does not fit: \"Ada Admin\" has already checked in as administrator-1 \
         (administrator); one person holds one role unless the script allows the combination \
         ([roles] combine = [[\"administrator\", \"witness\"]]), and this script does not: \
         check in another witness"
    );
    // Refusals changed nothing: still the wrong name, nothing journaled, same prompt.
    assert_eq!(corrections(c.journal()), Vec::<Event>::new());
    assert!(matches!(
        c.prompt(),
        Prompt::CheckIn {
            role: Role::Auditor,
            ..
        }
    ));

    let fixed = c
        .correct_check_in(
            "witness-1",
            " Wes   Witness ",
            "the auditor's name was typed ahead",
        )
        .unwrap();
    assert_eq!(
        (fixed.id.as_str(), fixed.name.as_str()),
        ("witness-1", "Wes Witness")
    );
    // The prompt is where it was; the auditor can now check in under their own name.
    assert!(matches!(
        c.prompt(),
        Prompt::CheckIn {
            role: Role::Auditor,
            ..
        }
    ));
    check_in(&mut c, Role::Auditor, "Aud Auditor");
    assert_eq!(
        names(&c),
        [
            ("administrator-1".to_string(), "Ada Admin".to_string()),
            ("witness-1".to_string(), "Wes Witness".to_string()),
            ("auditor-1".to_string(), "Aud Auditor".to_string()),
        ]
    );
    let id = c.id().to_string();
    assert_eq!(
        corrections(c.journal()),
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

    // Up to the token's initialisation (its action_intent), then no more corrections.
    let file = AnswerFile::parse("a.toml", ANSWERS).unwrap();
    // Still allowed before the first HSM action (at the clock check, say).
    while !matches!(c.prompt(), Prompt::NewPins { .. }) {
        let p = c.prompt();
        c.answer(file.answer(&p).unwrap()).unwrap();
    }
    let p = c.prompt();
    c.answer(file.answer(&p).unwrap()).unwrap();
    assert_eq!(
        e(c.correct_check_in("witness-1", "Wim Witness", "x")),
        AFTER
    );
    assert_eq!(corrections(c.journal()).len(), 1);
    drop(c);

    // Resumed: the corrected name is replayed, and the refusal is the same.
    let env = Environment::open(Some(&data), None).unwrap();
    let j = Journal::open_data_dir(env.data()).unwrap();
    let mut c = Ceremony::resume(env, j, script(), &id, options()).unwrap();
    assert_eq!(
        names(&c)[1],
        ("witness-1".to_string(), "Wes Witness".to_string())
    );
    assert_eq!(
        e(c.correct_check_in("witness-1", "Wim Witness", "x")),
        AFTER
    );
    assert_eq!(corrections(c.journal()).len(), 1);
}
