//! People in the engine: one person holds one role unless the script allows the combination,
//! and a step is never signed off by the person who performed it (exact messages).
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::engine::{Answer, Ceremony, CeremonyOptions, Prompt};
use keyrite_core::environment::Environment;
use keyrite_core::journal::Journal;
use keyrite_core::script::{Role, Script};
use serial_test::serial;

const SCRIPT: &str = r#"id = "people"
version = "1"
title = "People"
purpose = "Who may stand as what."

[roles]
administrator = 2
witness = 1
auditor = 1
combine = [["witness", "auditor"]]

[[steps]]
id = "count"
title = "Count the bags"
role = "administrator"
action = "manual"
instructions = "Count the bags."
sign_off = { administrator = 1, witness = 1 }

[[steps]]
id = "observe"
title = "Observe"
role = "witness"
action = "manual"
instructions = "Watch."
sign_off = { auditor = 1 }

[[steps]]
id = "record"
title = "Record"
role = "administrator"
action = "sign-record"
instructions = "Sign the record."
"#;

fn check_in(c: &mut Ceremony, role: Role, name: &str) -> Result<(), String> {
    c.answer(Answer::CheckIn {
        name: name.into(),
        role,
        credential_fingerprint: None,
    })
    .map(|_| ())
    .map_err(|e| e.to_string())
}

fn sign(c: &mut Ceremony, participant: &str) -> Result<(), String> {
    c.answer(Answer::SignOff {
        participant: participant.into(),
        signature_sha256: None,
    })
    .map(|_| ())
    .map_err(|e| e.to_string())
}

fn candidates(c: &Ceremony) -> Vec<String> {
    match c.prompt() {
        Prompt::SignOff { candidates, .. } => candidates.into_iter().map(|p| p.id).collect(),
        p => panic!("a sign-off prompt, not {p:?}"),
    }
}

#[test]
#[serial(softhsm)]
fn one_person_one_role_and_never_signing_off_ones_own_step() {
    let tmp = tempfile::tempdir().unwrap();
    let env = Environment::open(Some(&tmp.path().join("data")), None).unwrap();
    let j = Journal::open_data_dir(env.data()).unwrap();
    let script = Script::parse("people.toml", SCRIPT.as_bytes()).unwrap();
    let mut c = Ceremony::start(env, j, script, CeremonyOptions::default()).unwrap();

    check_in(&mut c, Role::Administrator, "Ada Admin").unwrap();
    assert_eq!(
        check_in(&mut c, Role::Administrator, "  ada   ADMIN ").unwrap_err(),
        "the answer does not fit: \"Ada Admin\" has already checked in as administrator-1; \
         every administrator is a different person: check in another administrator"
    );
    check_in(&mut c, Role::Administrator, "Bo Admin").unwrap();
    assert_eq!(
        check_in(&mut c, Role::Witness, "Ada Admin").unwrap_err(),
        "the answer does not fit: \"Ada Admin\" has already checked in as administrator-1 \
         (administrator); one person holds one role unless the script allows the combination \
         ([roles] combine = [[\"administrator\", \"witness\"]]), and this script does not: \
         check in another witness"
    );
    check_in(&mut c, Role::Witness, "Wes Witness").unwrap();
    // The script lets the witness also be the auditor.
    check_in(&mut c, Role::Auditor, "Wes Witness").unwrap();
    let ids: Vec<String> = c.status().participants.into_iter().map(|p| p.id).collect();
    assert_eq!(
        ids,
        [
            "administrator-1",
            "administrator-2",
            "witness-1",
            "auditor-1"
        ]
    );

    // Step "count" is performed by administrator-1: the other administrator signs it off.
    assert!(matches!(c.prompt(), Prompt::Instructions { .. }));
    c.answer(Answer::Proceed).unwrap();
    assert_eq!(candidates(&c), ["administrator-2"]);
    assert_eq!(
        sign(&mut c, "administrator-1").unwrap_err(),
        "the answer does not fit: administrator-1 (Ada Admin) performed step \"count\" as \
         administrator-1; a step is signed off by someone other than the one who performed it: \
         another administrator signs off"
    );
    sign(&mut c, "administrator-2").unwrap();
    sign(&mut c, "witness-1").unwrap();

    // Step "observe" is performed by the witness, who is also the auditor: the same person
    // cannot sign it off in their other role.
    assert!(matches!(c.prompt(), Prompt::Instructions { step, .. } if step == "observe"));
    c.answer(Answer::Proceed).unwrap();
    assert!(candidates(&c).is_empty());
    assert_eq!(
        sign(&mut c, "auditor-1").unwrap_err(),
        "the answer does not fit: auditor-1 (Wes Witness) performed step \"observe\" as \
         witness-1; a step is signed off by someone other than the one who performed it: \
         another auditor signs off"
    );
    let st = c.status();
    assert_eq!(st.steps[1].signed_off_by, Vec::<String>::new());
    c.into_journal().verify(None, &[]).unwrap();
}
