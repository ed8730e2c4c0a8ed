//! Bad input "token absent or removed mid-way", against a real module (SoftHSM2).
//!
//! SoftHSM2 has no removable slots. What a removal looks like to it is its token store going
//! away while the library is loaded and a session is open, so these tests move the token's
//! directory out of the rehearsal data directory between two calls and look at what SoftHSM2
//! 2.6.1 returns: `C_GetTokenInfo` on the slot fails with `CKR_GENERAL_ERROR`,
//! `C_FindObjects` answers `CKR_OK` with no objects, `C_GetAttributeValue` on a handle fails
//! with `CKR_OBJECT_HANDLE_INVALID`. (Its `CKR_TOKEN_NOT_PRESENT` is unreachable: a SoftHSM2
//! slot always has a token object.) Keyrite asks the token whether it is still there after
//! each failure, and reports [`HsmError::TokenGone`] with both return codes; the token is
//! then put back, the module reloaded, and what is on it checked.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use cryptoki::mechanism::Mechanism;
use cryptoki::object::Attribute;
use keyrite_core::engine::answers::AnswerFile;
use keyrite_core::engine::{
    Ceremony, CeremonyOptions, JournalRecordProducer, ProduceError, ProducedRecord, Prompt,
    RecordInput, RecordProducer,
};
use keyrite_core::environment::Environment;
use keyrite_core::hsm::backup::backup_key;
use keyrite_core::hsm::keygen::{find_key, generate, read_back};
use keyrite_core::hsm::objects::list_keys;
use keyrite_core::hsm::policy::{Origin, PolicySet};
use keyrite_core::hsm::protection::ProtectionRule;
use keyrite_core::hsm::quirks::Quirks;
use keyrite_core::hsm::rehearsal::{RehearsalHsm, REHEARSAL_TOKEN_LABEL};
use keyrite_core::hsm::rootkek::{draw_root_kek, import_root_kek, seal_root_kek};
use keyrite_core::hsm::{HsmError, Pkcs11Module, TokenSelector, TokenSession, UserKind};
use keyrite_core::journal::{Event, Journal};
use keyrite_core::paths::DataDir;
use keyrite_core::script::Script;
use keyrite_core::secret::SecretText;
use serial_test::serial;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const GENERAL_ERROR: &str = "CKR_GENERAL_ERROR (the module reported a general error)";

/// A rehearsal token with a root KEK ("kek") and an EC signing key ("k1").
struct Fx {
    tmp: tempfile::TempDir,
    data: DataDir,
    hsm: RehearsalHsm,
    user: SecretText,
    policies: PolicySet,
    quirks: Quirks,
}

fn sel() -> TokenSelector {
    TokenSelector::Label(REHEARSAL_TOKEN_LABEL.into())
}

fn fx() -> Fx {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::open_at(tmp.path().join("d")).unwrap();
    let hsm = RehearsalHsm::ensure(&data).unwrap();
    let (so, user) = hsm.pins().unwrap();
    let policies = PolicySet::builtin().unwrap();
    let quirks = Quirks::builtin().unwrap();
    {
        let m = Pkcs11Module::load(hsm.module_path()).unwrap();
        let (s, _) = TokenSession::login(&m, &sel(), UserKind::So, &so).unwrap();
        let kek = draw_root_kek(&s).unwrap();
        let staged = import_root_kek(
            &s,
            policies.get("root-kek-import").unwrap(),
            "kek",
            kek,
            &quirks,
            ProtectionRule::Rehearsal,
        )
        .unwrap();
        drop(s);
        let (s, _) = TokenSession::login(&m, &sel(), UserKind::User, &user).unwrap();
        seal_root_kek(
            &s,
            policies.get("root-kek-import").unwrap(),
            staged,
            &quirks,
        )
        .unwrap();
        generate(&s, policies.get("ec-p256-sign").unwrap(), "k1", &quirks).unwrap();
    }
    Fx {
        tmp,
        data,
        hsm,
        user,
        policies,
        quirks,
    }
}

impl Fx {
    fn module(&self) -> Pkcs11Module {
        Pkcs11Module::load(self.hsm.module_path()).unwrap()
    }

    fn login(&self, m: &Pkcs11Module) -> TokenSession {
        TokenSession::login(m, &sel(), UserKind::User, &self.user)
            .unwrap()
            .0
    }

    fn token_dir(&self) -> PathBuf {
        token_dir(&self.data)
    }

    fn away(&self) -> PathBuf {
        self.tmp.path().join("token-pulled-out")
    }

    /// Takes the token's store away, as if the token were pulled out.
    fn pull(&self) -> PathBuf {
        let dir = self.token_dir();
        std::fs::rename(&dir, self.away()).unwrap();
        dir
    }

    /// Puts it back.
    fn reinsert(&self, dir: &Path) {
        std::fs::rename(self.away(), dir).unwrap();
    }

    /// Labels of the keys on the token, read with a freshly loaded module.
    fn labels(&self) -> Vec<String> {
        let m = self.module();
        let s = self.login(&m);
        let v = list_keys(&s, &self.policies, &self.quirks)
            .unwrap()
            .into_iter()
            .map(|k| k.label)
            .collect();
        drop(s);
        v
    }
}

fn token_dir(data: &DataDir) -> PathBuf {
    std::fs::read_dir(data.softhsm_dir().join("tokens"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("token.object").is_file())
        .expect("the rehearsal token's directory")
}

fn gone(operation: &str, serial: &str, rv: &str) -> String {
    format!(
        "{operation} on token \"keyrite-rehearsal\" (serial {serial}) failed: {rv}; the token is \
         no longer there (C_GetTokenInfo on its slot now fails with {GENERAL_ERROR}): it was \
         removed or lost its store during the operation; reconnect it and list its keys \
         (keyrite hsm keys) before going on"
    )
}

#[test]
#[serial(softhsm)]
fn removed_between_login_and_generation() {
    let f = fx();
    let m = f.module();
    let s = f.login(&m);
    let serial = s.token().serial.clone();
    let dir = f.pull();
    let err = generate(&s, f.policies.get("ec-p256-sign").unwrap(), "k2", &f.quirks).unwrap_err();
    assert!(matches!(err, HsmError::TokenGone { .. }), "{err:?}");
    // The first call of the generation that reaches the token is the label-free check: its
    // empty answer is not taken for "label free".
    assert_eq!(
        err.to_string(),
        gone(
            "generating key \"k2\" under policy \"ec-p256-sign\" (C_FindObjects)",
            &serial,
            "CKR_OK with no objects, which cannot be trusted"
        )
    );
    drop(s);
    drop(m);
    f.reinsert(&dir);
    // Nothing half-made: the token holds what it held.
    assert_eq!(f.labels(), ["k1", "kek"]);
}

#[test]
#[serial(softhsm)]
fn removed_between_generation_and_read_back() {
    let f = fx();
    let m = f.module();
    let s = f.login(&m);
    let serial = s.token().serial.clone();
    let policy = f.policies.get("aes256-dek").unwrap();
    let id = vec![0x33];
    let h = s
        .raw()
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::ValueLen(32.into()),
                Attribute::Label(b"k3".to_vec()),
                Attribute::Id(id.clone()),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
            ],
        )
        .unwrap();
    let dir = f.pull();
    let err = read_back(&s, policy, Origin::Generated, "k3", &id, h, None).unwrap_err();
    assert!(matches!(err, HsmError::TokenGone { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        gone(
            "reading back key \"k3\" (C_GetAttributeValue)",
            &serial,
            "CKR_OBJECT_HANDLE_INVALID (the object is no longer there (destroyed or token removed))"
        )
    );
    drop(s);
    drop(m);
    f.reinsert(&dir);
    // The key was made before the token went: it is there, unchecked. This is why the engine
    // journals its intent before generating, and on resume destroys a key the journal does not
    // know (see ceremony_resume and the engine test below).
    assert_eq!(f.labels(), ["k1", "k3", "kek"]);
}

#[test]
#[serial(softhsm)]
fn removed_before_backup() {
    let f = fx();
    let m = f.module();
    let s = f.login(&m);
    let serial = s.token().serial.clone();
    let dir = f.pull();
    let err = backup_key(
        &s,
        "k1",
        f.policies.get("ec-p256-sign").unwrap(),
        "kek",
        &f.quirks,
    )
    .unwrap_err();
    assert!(matches!(err, HsmError::TokenGone { .. }), "{err:?}");
    // Not "no key labelled k1": the search came back empty because the token is gone.
    assert_eq!(
        err.to_string(),
        gone(
            "looking up \"k1\" (C_FindObjects)",
            &serial,
            "CKR_OK with no objects, which cannot be trusted"
        )
    );
    drop(s);
    drop(m);
    f.reinsert(&dir);
    assert_eq!(f.labels(), ["k1", "kek"]);
}

#[test]
#[serial(softhsm)]
fn an_empty_search_on_a_present_token_is_trusted() {
    let f = fx();
    let m = f.module();
    let s = f.login(&m);
    assert!(s.gone().is_none());
    assert!(find_key(&s, "no-such-key").unwrap().is_empty());
}

#[test]
#[serial(softhsm)]
fn absent_token_is_reported_by_the_module_listing() {
    let f = fx();
    // Removed after the module was loaded: reading the slot fails.
    let m = f.module();
    let (slot, _) = m.find_token(&sel()).unwrap();
    let dir = f.pull();
    let err = TokenSession::login(&m, &sel(), UserKind::User, &f.user).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "reading token in slot {} (C_GetTokenInfo) on PKCS#11 module {} failed: \
             {GENERAL_ERROR}",
            slot.id(),
            f.hsm.module_path().display()
        )
    );
    drop(m);
    // Absent when the module is loaded: the token is simply not listed.
    let m = f.module();
    let err = m.find_token(&sel()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "no token labelled \"keyrite-rehearsal\" in PKCS#11 module {}; present tokens: none",
            f.hsm.module_path().display()
        )
    );
    drop(m);
    f.reinsert(&dir);
    assert_eq!(f.labels(), ["k1", "kek"]);
}

// ---- the engine: token pulled out in the middle of an action, then resumed ----

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
[exceptions.sign-record]
decision = "retry"
by = ["administrator-1", "witness-1"]
reason = "the HSM was reconnected"
"#;

fn script(name: &str) -> Script {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ceremony-scripts");
    Script::load(&root.join(format!("{name}.toml"))).unwrap()
}

/// The record producer both faces use, except that it first pulls the token out: the engine
/// is then in the middle of `sign-record`, logged in, with the signing key open.
struct PullsTheToken {
    token_dir: PathBuf,
    away: PathBuf,
}

impl RecordProducer for PullsTheToken {
    fn produce(&self, input: RecordInput<'_>) -> Result<ProducedRecord, ProduceError> {
        std::fs::rename(&self.token_dir, &self.away).map_err(|e| e.to_string())?;
        JournalRecordProducer {
            page_size: keyrite_core::pdf::PageSize::A4,
        }
        .produce(input)
    }
}

/// Runs the ceremony until it closes or raises an exception; returns the exception text.
fn drive(c: &mut Ceremony, answers: &AnswerFile, stop_at_exception: bool) -> Option<String> {
    loop {
        let p = c.prompt();
        match &p {
            Prompt::Done { .. } => return None,
            Prompt::ExceptionDecision { happened, .. } if stop_at_exception => {
                return Some(happened.clone())
            }
            _ => {}
        }
        let a = answers.answer(&p).unwrap();
        c.answer(a).unwrap();
    }
}

/// (label, CKA_ID) of every key the journal says is on the token.
fn journal_keys(j: &Journal) -> BTreeSet<(String, String)> {
    let mut known = BTreeSet::new();
    let size = j.head().size;
    j.for_each_entry(0, size - 1, |e| {
        match e.event()? {
            Event::KeyGenerated { label, cka_id, .. }
            | Event::KeyImported { label, cka_id, .. } => {
                known.insert((label, cka_id));
            }
            Event::KeyDestroyed { key_id, cka_id, .. } => {
                known.remove(&(key_id, cka_id));
            }
            Event::HsmTokenInitialised { .. } => known.clear(),
            _ => {}
        }
        Ok(())
    })
    .unwrap();
    known
}

fn token_keys(env: &Environment) -> BTreeSet<(String, String)> {
    let m = env.load_module().unwrap();
    let (s, _) = TokenSession::login(
        &m,
        &sel(),
        UserKind::User,
        &SecretText::new("user-pin-1234567".into()),
    )
    .unwrap();
    let v = list_keys(
        &s,
        &PolicySet::builtin().unwrap(),
        &Quirks::builtin().unwrap(),
    )
    .unwrap()
    .into_iter()
    .map(|k| (k.label, k.id))
    .collect();
    drop(s);
    v
}

#[test]
#[serial(softhsm)]
fn token_pulled_out_while_signing_the_record_then_resumed() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let answers = AnswerFile::parse("removal-answers.toml", ANSWERS).unwrap();
    let options = |producer: Box<dyn RecordProducer>| CeremonyOptions {
        unattended: true,
        record_producer: Some(producer),
        ..Default::default()
    };
    let journal_producer = || -> Box<dyn RecordProducer> {
        Box::new(JournalRecordProducer {
            page_size: keyrite_core::pdf::PageSize::A4,
        })
    };
    {
        let env = Environment::open(Some(&data), None).unwrap();
        let j = Journal::open_data_dir(env.data()).unwrap();
        let mut c = Ceremony::start(
            env,
            j,
            script("hsm-initialisation"),
            options(journal_producer()),
        )
        .unwrap();
        assert_eq!(drive(&mut c, &answers, true), None);
    }
    let env = Environment::open(Some(&data), None).unwrap();
    let serial = {
        let m = env.load_module().unwrap();
        m.find_token(&sel()).unwrap().1.serial
    };
    let dir = token_dir(env.data());
    let away = tmp.path().join("token-pulled-out");
    let j = Journal::open_data_dir(env.data()).unwrap();
    let producer = PullsTheToken {
        token_dir: dir.clone(),
        away: away.clone(),
    };
    let mut c = Ceremony::start(
        env,
        j,
        script("root-key-generation"),
        options(Box::new(producer)),
    )
    .unwrap();
    let id = c.id().to_string();
    let happened = drive(&mut c, &answers, true).expect("an exception at sign-record");
    assert_eq!(
        happened,
        format!(
            "the PDF could not be signed: signing failed: {}",
            gone(
                "signing with \"keyrite-record-signing\" (C_Sign)",
                &serial,
                "CKR_OBJECT_HANDLE_INVALID (the object is no longer there (destroyed or token \
                 removed))"
            )
        )
    );
    // The operator stops, reconnects the token and resumes.
    drop(c);
    std::fs::rename(&away, &dir).unwrap();
    let env = Environment::open(Some(&data), None).unwrap();
    assert!(env.rehearsal().unwrap().repairs().is_empty());
    let j = Journal::open_data_dir(env.data()).unwrap();
    let mut c = Ceremony::resume(
        env,
        j,
        script("root-key-generation"),
        &id,
        options(journal_producer()),
    )
    .unwrap();
    assert_eq!(drive(&mut c, &answers, false), None);
    assert_eq!(c.status().outcome, "completed");
    let j = c.into_journal();
    j.verify(None, &[]).unwrap();
    let env = Environment::open(Some(&data), None).unwrap();
    let on_token = token_keys(&env);
    assert_eq!(on_token, journal_keys(&j));
    assert_eq!(
        on_token.iter().map(|k| k.0.as_str()).collect::<Vec<_>>(),
        ["keyrite-record-signing", "keyrite-root-kek"]
    );
    // The inventory's active keys on this token are exactly the keys on the token.
    let active: Vec<String> = keyrite_core::inventory::list(j.store())
        .unwrap()
        .into_iter()
        .filter(|k| {
            k.token_serial == serial && k.state == keyrite_core::inventory::KeyState::Active
        })
        .map(|k| k.label)
        .collect();
    assert_eq!(active, ["keyrite-record-signing", "keyrite-root-kek"]);
}
