//! PINs in the engine, on the embedded SoftHSM2: a PIN the token rejects is dropped and asked
//! for again with the tries left as far as the token reports them, never sent a second time.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::engine::answers::AnswerFile;
use keyrite_core::engine::{
    Answer, Ceremony, CeremonyOptions, EngineError, JournalRecordProducer, Prompt,
};
use keyrite_core::environment::Environment;
use keyrite_core::hsm::UserKind;
use keyrite_core::journal::Journal;
use keyrite_core::script::Script;
use keyrite_core::secret::SecretText;
use serial_test::serial;
use std::path::Path;

const ANSWERS: &str = r#"
so_pin = "so-pin-12345678"
user_pin = "user-pin-1234567"
share_passphrase = "rehearsal passphrase"
[participants]
administrator = ["Ada Admin"]
witness = ["Wes Witness"]
auditor = ["Aud Auditor"]
custodian = ["C One", "C Two", "C Three", "C Four", "C Five"]
[clock]
reference = "test clock"
offset_seconds = 0
"#;

fn script(name: &str) -> Script {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ceremony-scripts");
    Script::load(&root.join(format!("{name}.toml"))).unwrap()
}

fn options() -> CeremonyOptions {
    CeremonyOptions {
        unattended: true,
        record_producer: Some(Box::new(JournalRecordProducer {
            page_size: keyrite_core::pdf::PageSize::A4,
        })),
        ..Default::default()
    }
}

fn start(data: &Path, name: &str) -> Ceremony {
    let env = Environment::open(Some(data), None).unwrap();
    let j = Journal::open_data_dir(env.data()).unwrap();
    Ceremony::start(env, j, script(name), options()).unwrap()
}

/// Answers from the file until `stop` says so (or the ceremony closes).
fn drive(c: &mut Ceremony, file: &AnswerFile, stop: impl Fn(&Prompt) -> bool) {
    loop {
        let p = c.prompt();
        if matches!(p, Prompt::Done { .. }) || stop(&p) {
            return;
        }
        c.answer(file.answer(&p).unwrap()).unwrap();
    }
}

fn rejected(who: UserKind, serial: &str, tries: &str) -> String {
    format!(
        "the {who} PIN was rejected by token \"keyrite-rehearsal\" (serial {serial}): \
         CKR_PIN_INCORRECT (the PIN is wrong); {tries}"
    )
}

#[test]
#[serial(softhsm)]
fn a_rejected_pin_is_dropped_and_asked_for_again_never_resent() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let file = AnswerFile::parse("pins.toml", ANSWERS).unwrap();
    let mut c = start(&data, "hsm-initialisation");
    drive(&mut c, &file, |_| false);
    assert_eq!(c.status().outcome, "completed");
    drop(c);
    let serial = {
        let env = Environment::open(Some(&data), None).unwrap();
        let m = env.load_module().unwrap();
        m.find_token(&keyrite_core::hsm::TokenSelector::Label(
            "keyrite-rehearsal".into(),
        ))
        .unwrap()
        .1
        .serial
    };

    let mut c = start(&data, "root-key-generation");
    drive(&mut c, &file, |p| matches!(p, Prompt::Pin { .. }));
    let Prompt::Pin {
        who,
        purpose,
        rejected: None,
        ..
    } = c.prompt()
    else {
        panic!("a PIN prompt without a rejection")
    };
    assert_eq!(who, UserKind::So);
    let wrong = || Answer::Pin(SecretText::new("so-pin-wrong-0000".into()));
    let count_low = "the token does not say how many tries are left (it reports \
                     CKF_SO_PIN_COUNT_LOW: a wrong PIN was given since the last good one)";
    let first = rejected(UserKind::So, &serial, count_low);
    let e = c.answer(wrong()).unwrap_err();
    assert!(matches!(e, EngineError::PinRejected(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!(
            "{first}; the PIN was dropped and nothing more was sent to the token: give it again"
        )
    );
    // The same prompt, saying why it comes again; the rejected PIN is not kept.
    let Prompt::Pin {
        who: again,
        purpose: same,
        rejected: Some(why),
        ..
    } = c.prompt()
    else {
        panic!("the PIN prompt again")
    };
    assert_eq!(
        (again, same.as_str(), why.as_str()),
        (who, purpose.as_str(), first.as_str())
    );
    // Nothing but a PIN answers it: the engine does not go on with the rejected one.
    let e = c.answer(Answer::Proceed).unwrap_err();
    assert!(
        e.to_string()
            .ends_with("proceed does not answer the PIN request"),
        "{e}"
    );
    assert!(c.status().exceptions.is_empty());
    // An unattended run stops here rather than send the file's PIN again.
    let stop = file.answer(&c.prompt()).unwrap_err();
    assert_eq!(
        stop.to_string(),
        format!(
            "the answer does not fit: answers file pins.toml: so_pin: {first}; an unattended \
             run never sends a rejected PIN again: correct so_pin in the file and run the \
             ceremony again (it resumes)"
        )
    );
    // The right PIN: the ceremony goes on.
    c.answer(Answer::Pin(SecretText::new("so-pin-12345678".into())))
        .unwrap();
    assert!(c.status().exceptions.is_empty());

    // A PIN known from an earlier step that the token rejects during an action (here: the
    // user PIN changed behind the ceremony's back): the exception's retry asks for it again
    // instead of sending the rejected one a second time.
    drive(
        &mut c,
        &file,
        |p| matches!(p, Prompt::Instructions { step, .. } if step == "backup-record-signing-key"),
    );
    let new_user = "user-pin-changed-9";
    {
        let env = Environment::open(Some(&data), None).unwrap();
        let m = env.load_module().unwrap();
        let sel = keyrite_core::hsm::TokenSelector::Label("keyrite-rehearsal".into());
        let old = SecretText::new("user-pin-1234567".into());
        let (s, _) =
            keyrite_core::hsm::TokenSession::login(&m, &sel, UserKind::User, &old).unwrap();
        s.raw()
            .set_pin(
                &cryptoki::types::AuthPin::new(old.expose().into()),
                &cryptoki::types::AuthPin::new(new_user.into()),
            )
            .unwrap();
    }
    c.answer(Answer::Proceed).unwrap();
    let Prompt::ExceptionDecision { happened, .. } = c.prompt() else {
        panic!("an exception: {:?}", c.prompt())
    };
    assert!(
        happened.starts_with("user login (C_Login) on token \"keyrite-rehearsal\"")
            && happened.contains("CKR_PIN_INCORRECT"),
        "{happened}"
    );
    c.answer(Answer::Decide {
        decision: keyrite_core::engine::Decision::Retry,
        decided_by: vec!["administrator-1".into(), "witness-1".into()],
        reason: "the user PIN was changed; the holder types the new one".into(),
    })
    .unwrap();
    let Prompt::Pin {
        who: UserKind::User,
        purpose,
        rejected: None,
        ..
    } = c.prompt()
    else {
        panic!("the user PIN asked again: {:?}", c.prompt())
    };
    assert_eq!(purpose, "back up key \"keyrite-record-signing\"");
    assert_eq!(
        c.status().exceptions.len(),
        1,
        "the rejected PIN was not sent again"
    );
    c.answer(Answer::Pin(SecretText::new(new_user.into())))
        .unwrap();
    let file =
        AnswerFile::parse("pins.toml", &ANSWERS.replace("user-pin-1234567", new_user)).unwrap();
    drive(&mut c, &file, |_| false);
    let st = c.status();
    assert_eq!(st.outcome, "completed");
    assert_eq!(st.exceptions.len(), 1, "{:?}", st.exceptions);
    c.into_journal().verify(None, &[]).unwrap();
}
