//! Issue 14's attack, tried on the token the shipped ceremonies make: hsm-initialisation and
//! root-key-generation run unattended in rehearsal through the `keyrite` binary, then the
//! record-signing key's real `.krbak` backup (written by the ceremony's backup step) is unwrapped
//! under the ceremony's root KEK the way an intruder on the laptop would try it:
//!
//! - a session that never logs in asks `C_UnwrapKey` for a non-sensitive, extractable key;
//! - a logged-in user asks for a key readable in the clear (or wrappable by any key).
//!
//! Both are refused by the token itself (the KEK is private; its `CKA_UNWRAP_TEMPLATE`), and
//! OpenSC's `pkcs11-tool --unwrap --extractable` is refused the same way. Every
//! object on the token is private (read with `C_GetAttributeValue` on every object, and
//! cross-checked with OpenSC's `pkcs11-tool`, a separate process: it lists nothing without
//! login and all of them after), and the generated keys and the KEK are non-modifiable. The
//! ceremony's record names the KEK by its KCV and words, with the KEK and beside the backup.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use keyrite_core::hsm::backup::KeyBackup;
use keyrite_core::hsm::keygen::find_key;
use keyrite_core::hsm::rehearsal::{RehearsalHsm, REHEARSAL_TOKEN_LABEL};
use keyrite_core::hsm::{Pkcs11Module, TokenSelector, TokenSession, UserKind};
use keyrite_core::paths::DataDir;
use keyrite_core::secret::SecretText;
use keyrite_testkit::ceremony::{
    answers, record_of, script, verify_record_against_journal, USER_PIN,
};
use keyrite_testkit::{keyrite, stderr, stdout, TempData};
use serial_test::serial;
use std::path::Path;

const KEK: &str = "keyrite-root-kek";
const SIGNING: &str = "keyrite-record-signing";

fn sel() -> TokenSelector {
    TokenSelector::Label(REHEARSAL_TOKEN_LABEL.into())
}

/// Runs the two shipped ceremonies in rehearsal, unattended, on a fresh data directory.
fn ceremonies(t: &TempData) {
    let ans = answers(t.tmp.path());
    for name in ["hsm-initialisation", "root-key-generation"] {
        let o = keyrite(
            &t.path(),
            &[
                "ceremony",
                "run",
                script(name).to_str().unwrap(),
                "--answers",
                ans.to_str().unwrap(),
            ],
        );
        assert!(o.status.success(), "{name}: {}{}", stdout(&o), stderr(&o));
    }
}

/// The record-signing key's backup the root-key ceremony wrote into `DATA/backups`.
fn ceremony_backup(data: &Path) -> KeyBackup {
    let files: Vec<_> = std::fs::read_dir(data.join("backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_str().unwrap().to_string();
    assert!(
        name.starts_with(&format!("{SIGNING}-")) && name.ends_with(".krbak"),
        "{name}"
    );
    let b = KeyBackup::decode(&name, &std::fs::read_to_string(&files[0]).unwrap()).unwrap();
    assert_eq!(
        (b.label.as_str(), b.wrapping_key_label.as_str()),
        (SIGNING, KEK)
    );
    b
}

/// What an attacker asks for: a key whose `CKA_VALUE` is readable.
fn readable(private: bool) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(KeyType::EC),
        Attribute::Token(false),
        Attribute::Private(private),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
    ]
}

fn rv(e: Error) -> RvError {
    match e {
        Error::Pkcs11(rv, _) => rv,
        other => panic!("not a PKCS#11 return code: {other}"),
    }
}

fn kek_handle(s: &TokenSession) -> ObjectHandle {
    find_key(s, KEK).unwrap().secret.expect("the root KEK")
}

/// Every object the token holds (what a logged-in user sees), as (class, label, private,
/// modifiable) read with `C_GetAttributeValue`.
fn every_object(s: &TokenSession) -> Vec<(String, String, bool, bool)> {
    let mut out = Vec::new();
    for h in s.find("listing every object", &[]).unwrap() {
        let mut row = (String::new(), String::new(), false, true);
        for a in s
            .raw()
            .get_attributes(
                h,
                &[
                    AttributeType::Class,
                    AttributeType::Label,
                    AttributeType::Private,
                    AttributeType::Modifiable,
                ],
            )
            .unwrap()
        {
            match a {
                Attribute::Class(c) => row.0 = c.to_string(),
                Attribute::Label(l) => row.1 = String::from_utf8(l).unwrap(),
                Attribute::Private(p) => row.2 = p,
                Attribute::Modifiable(m) => row.3 = m,
                _ => {}
            }
        }
        out.push(row);
    }
    out.sort();
    out
}

/// `pkcs11-tool --list-objects` (OpenSC, its own process) as (type, label) pairs, sorted.
fn pkcs11_tool_objects(r: &RehearsalHsm, login: bool) -> Vec<(String, String)> {
    let mut cmd = std::process::Command::new("pkcs11-tool");
    cmd.env("SOFTHSM2_CONF", r.conf_path())
        .arg("--module")
        .arg(r.module_path())
        .args(["--token-label", REHEARSAL_TOKEN_LABEL, "--list-objects"]);
    if login {
        cmd.args(["--login", "--pin", USER_PIN]);
    }
    let out = cmd.output().expect("run pkcs11-tool (OpenSC)");
    assert!(
        out.status.success(),
        "pkcs11-tool failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut objs: Vec<(String, String)> = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if line.contains(" Object;") || line.ends_with(" Object") {
            let kind = line.split(';').next().unwrap_or(line).trim().to_string();
            objs.push((kind, String::new()));
        } else if let Some(l) = line.trim().strip_prefix("label:") {
            if let Some(last) = objs.last_mut() {
                last.1 = l.trim().to_string();
            }
        }
    }
    objs.sort();
    objs
}

/// The root-key ceremony's record says which KEK: its KCV and words with the KEK, and beside
/// the backup made under it; `record verify` accepts the record against the journal.
fn record_names_the_kek(data: &Path, kcv: &str) {
    let record = record_of(data, "root-key-generation");
    let v = verify_record_against_journal(data, &record);
    assert!(v.status.success(), "{}{}", stdout(&v), stderr(&v));
    let o = std::process::Command::new("pdftotext")
        .arg(&record)
        .arg("-")
        .output()
        .expect("pdftotext");
    let flat = String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let words = keyrite_core::words::to_words(&hex::decode(kcv).unwrap());
    assert!(
        flat.contains(&format!(
            "Key check value (KCV, kwp-zero-key-sha256): {kcv}"
        )),
        "{flat}"
    );
    assert!(
        flat.contains(&format!(
            "KCV (a custodian rebuilding the key confirms it against these) in words: {words}"
        )),
        "{flat}"
    );
    assert!(
        flat.contains(&format!("wrapped by {KEK} (KCV {kcv}: {words})")),
        "{flat}"
    );
}

#[test]
#[serial(softhsm)]
fn the_ceremonies_token_refuses_both_unwrap_attacks_and_every_object_is_private() {
    let t = TempData::new();
    ceremonies(&t);
    let data = t.path();
    let backup = ceremony_backup(&data);
    record_names_the_kek(&data, &backup.wrapping_key_kcv);
    let r = RehearsalHsm::ensure(&DataDir::open_at(data.clone()).unwrap()).unwrap();
    let m = Pkcs11Module::load(r.module_path()).unwrap();
    let user = SecretText::new(USER_PIN.into());
    let login = || {
        TokenSession::login(&m, &sel(), UserKind::User, &user)
            .unwrap()
            .0
    };
    let mech = Mechanism::AesKeyWrapPad;

    // 1. No login. The session is opened first and the KEK's handle learned by a logged-in
    // session that then logs out (dropping it calls C_Logout): the most an intruder could hold.
    let anon = TokenSession::open(&m, &sel()).unwrap();
    let kek = kek_handle(&login());
    assert_eq!(anon.user(), None, "the attack session is not logged in");
    assert!(
        anon.find("looking without login", &[]).unwrap().is_empty(),
        "no object is visible without login"
    );
    for private in [false, true] {
        let err = anon
            .raw()
            .unwrap_key(&mech, kek, &backup.wrapped, &readable(private))
            .unwrap_err();
        assert_eq!(rv(err), RvError::UnwrappingKeyHandleInvalid, "{private}");
    }
    drop(anon);

    // 2. Logged in, asking for a key readable in the clear or wrappable under any key.
    let u = login();
    let kek = kek_handle(&u);
    let kek_id = match u
        .raw()
        .get_attributes(kek, &[AttributeType::Id])
        .unwrap()
        .pop()
    {
        Some(Attribute::Id(id)) => hex::encode(id),
        other => panic!("the KEK's CKA_ID: {other:?}"),
    };
    let objects_before = every_object(&u);
    let mut extractable_not_sensitive = readable(true);
    extractable_not_sensitive.push(Attribute::WrapWithTrusted(true));
    let silent_on_sensitivity = vec![
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(KeyType::EC),
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Extractable(true),
        Attribute::WrapWithTrusted(true),
    ];
    let wrappable_by_any_key = vec![
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(KeyType::EC),
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(true),
        Attribute::WrapWithTrusted(false),
    ];
    for (what, template) in [
        ("extractable and not sensitive", extractable_not_sensitive),
        ("sensitivity left to the module", silent_on_sensitivity),
        ("wrappable by any key", wrappable_by_any_key),
    ] {
        let err = u
            .raw()
            .unwrap_key(&mech, kek, &backup.wrapped, &template)
            .unwrap_err();
        assert_eq!(rv(err), RvError::TemplateInconsistent, "{what}");
    }
    assert_eq!(every_object(&u), objects_before, "nothing was created");
    // The KEK cannot be given another usage (CKA_DECRYPT would make it an AES oracle).
    let err = u
        .raw()
        .update_attributes(kek, &[Attribute::Decrypt(true)])
        .unwrap_err();
    assert_eq!(rv(err), RvError::ActionProhibited);
    // Control: the same backup unwraps when the template is as protected as the key was, so
    // the refusals above are the template's doing; the value still stays inside.
    let h = u
        .raw()
        .unwrap_key(
            &mech,
            kek,
            &backup.wrapped,
            &[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::KeyType(KeyType::EC),
                Attribute::Token(false),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(true),
                Attribute::WrapWithTrusted(true),
            ],
        )
        .expect("the ceremony's backup unwraps into a protected key");
    let value = u.raw().get_attributes(h, &[AttributeType::Value]).unwrap();
    assert!(
        !value.iter().any(|a| matches!(a, Attribute::Value(_))),
        "a sensitive key's CKA_VALUE is not returned"
    );
    u.raw().destroy_object(h).unwrap();

    // 3. Every object Keyrite made is private; the keys are non-modifiable.
    let objects = every_object(&u);
    let cls = |c: ObjectClass| c.to_string();
    assert_eq!(
        objects
            .iter()
            .map(|(c, l, _, _)| (c.clone(), l.clone()))
            .collect::<Vec<_>>(),
        {
            let mut v = vec![
                (cls(ObjectClass::CERTIFICATE), SIGNING.to_string()),
                (cls(ObjectClass::PRIVATE_KEY), SIGNING.to_string()),
                (cls(ObjectClass::PUBLIC_KEY), SIGNING.to_string()),
                (cls(ObjectClass::SECRET_KEY), KEK.to_string()),
            ];
            v.sort();
            v
        },
        "the ceremonies' objects"
    );
    for (class, label, private, modifiable) in &objects {
        assert!(private, "{class} \"{label}\" is not private");
        if *class != cls(ObjectClass::CERTIFICATE) {
            assert!(!modifiable, "{class} \"{label}\" is modifiable");
        }
    }
    let signing = find_key(&u, SIGNING).unwrap().private.unwrap();
    let err = u
        .raw()
        .update_attributes(signing, &[Attribute::Decrypt(true)])
        .unwrap_err();
    assert_eq!(rv(err), RvError::ActionProhibited);
    drop(u);

    // 4. OpenSC's view from outside. Its unwrap (it logs in first: pkcs11-tool has no unwrap
    // without login) asks for an extractable, non-sensitive secret key holding the backup's
    // bytes: refused by the KEK's template. (Under a template-less AES key the same command
    // fails later, with CKR_ATTRIBUTE_READ_ONLY: SoftHSM2 refuses the CKA_VALUE_LEN
    // pkcs11-tool sends.)
    let blob = t.scratch("stolen.wrapped");
    std::fs::write(&blob, &backup.wrapped).unwrap();
    let out = std::process::Command::new("pkcs11-tool")
        .env("SOFTHSM2_CONF", r.conf_path())
        .arg("--module")
        .arg(r.module_path())
        .args([
            "--token-label",
            REHEARSAL_TOKEN_LABEL,
            "--login",
            "--pin",
            USER_PIN,
        ])
        .args(["--unwrap", "-m", "0x210A", "--id", &kek_id, "-i"])
        .arg(&blob)
        .args(["--key-type", "GENERIC:80", "--extractable"])
        .args(["--application-label", "stolen"])
        .output()
        .expect("run pkcs11-tool (OpenSC)");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("C_UnwrapKey failed: rv = CKR_TEMPLATE_INCONSISTENT"),
        "{said}"
    );
    // Nothing without login; all four after login (and no "stolen" key). (a session without login sees only
    // objects whose CKA_PRIVATE is false), all four after login.
    assert_eq!(
        pkcs11_tool_objects(&r, false),
        Vec::<(String, String)>::new()
    );
    assert_eq!(
        pkcs11_tool_objects(&r, true),
        vec![
            ("Certificate Object".to_string(), SIGNING.to_string()),
            ("Private Key Object".to_string(), SIGNING.to_string()),
            ("Public Key Object".to_string(), SIGNING.to_string()),
            ("Secret Key Object".to_string(), KEK.to_string()),
        ]
    );
}
