//! One person, one role, through the CLI: an answers file checking the administrator in again
//! as the witness is refused at check-in with the engine's words, before any step runs.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_testkit::ceremony::{answers, script};
use keyrite_testkit::{keyrite, stderr, stdout, TempData};
use serial_test::serial;

#[test]
#[serial(softhsm)]
fn the_administrator_cannot_also_be_the_witness() {
    let t = TempData::new();
    let data = t.path();
    let ans = answers(t.tmp.path());
    let text = std::fs::read_to_string(&ans).unwrap();
    std::fs::write(
        &ans,
        text.replace("witness = [\"Wes Witness\"]", "witness = [\"Ada Admin\"]"),
    )
    .unwrap();
    let o = keyrite(
        &data,
        &[
            "ceremony",
            "run",
            script("hsm-initialisation").to_str().unwrap(),
            "--answers",
            ans.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(
        stderr(&o),
        "keyrite: error: the answer does not fit: \"Ada Admin\" has already checked in as \
         administrator-1 (administrator); one person holds one role unless the script allows \
         the combination ([roles] combine = [[\"administrator\", \"witness\"]]), and this script \
         does not: check in another witness\n"
    );
    assert!(!stdout(&o).contains("== Step"), "{}", stdout(&o));
}
