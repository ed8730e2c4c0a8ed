//! The sealed key hierarchy on a real SoftHSM2 token: nothing Keyrite creates is usable or
//! visible without login, and the root KEK unwraps a backup only into a key as protected as the
//! one that was backed up (issue 14). Cross-checked from outside with OpenSC's `pkcs11-tool`.
//!
//! The token is made the way the ceremonies make it: the rehearsal token
//! (`RehearsalHsm::ensure`, what hsm-initialisation uses in rehearsal), the root KEK drawn and
//! imported as SO and sealed as user (`rootkek::{draw_root_kek, import_root_kek,
//! seal_root_kek}`, what the root-key ceremony calls), the record-signing key generated with
//! its certificate, and a `.krbak` backup of it under the root KEK (`backup::backup_key`).
//!
//! Each "control" test shows the same attack succeeding against the old design (a public
//! trusted KEK without templates) on the same module, so the refusals here are the new design's
//! doing and the tests can fail.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use keyrite_core::hsm::backup::{backup_key, restore_key, KeyBackup};
use keyrite_core::hsm::destroy::destroy_key;
use keyrite_core::hsm::keygen::{find_key, generate, KeyEvidence};
use keyrite_core::hsm::policy::PolicySet;
use keyrite_core::hsm::protection::{KeyProtection, ProtectionLevel, ProtectionRule};
use keyrite_core::hsm::quirks::{Quirks, TrustedKeys};
use keyrite_core::hsm::rehearsal::{RehearsalHsm, REHEARSAL_TOKEN_LABEL};
use keyrite_core::hsm::rootkek::{draw_root_kek, import_root_kek, seal_root_kek};
use keyrite_core::hsm::signer::HsmSigner;
use keyrite_core::hsm::{HsmError, Pkcs11Module, TokenSelector, TokenSession, UserKind};
use keyrite_core::paths::DataDir;
use keyrite_core::secret::SecretText;
use serial_test::serial;

const KEK: &str = "keyrite-root-kek";
const SIGNING: &str = "record-signing";
/// A KEK made the old way (public, trusted, no templates), for the control tests only.
const NAKED: &str = "naked-kek";

fn sel() -> TokenSelector {
    TokenSelector::Label(REHEARSAL_TOKEN_LABEL.into())
}

struct Fx {
    _tmp: tempfile::TempDir,
    hsm: RehearsalHsm,
    m: Pkcs11Module,
    so: SecretText,
    user: SecretText,
    policies: PolicySet,
    quirks: Quirks,
    kek: KeyEvidence,
    backup: KeyBackup,
}

impl Fx {
    fn user(&self) -> TokenSession {
        TokenSession::login(&self.m, &sel(), UserKind::User, &self.user)
            .unwrap()
            .0
    }
    fn so(&self) -> TokenSession {
        TokenSession::login(&self.m, &sel(), UserKind::So, &self.so)
            .unwrap()
            .0
    }

    /// The old design, reproduced for the controls: the SO imports a trusted AES key as a public
    /// object without any template; the record-signing key is wrapped under it.
    fn naked_kek_backup(&self) -> Vec<u8> {
        {
            let so = self.so();
            so.raw()
                .create_object(&[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::Token(true),
                    Attribute::Private(false),
                    Attribute::Label(NAKED.as_bytes().to_vec()),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                    Attribute::Wrap(true),
                    Attribute::Unwrap(true),
                    Attribute::Trusted(true),
                    Attribute::Value(vec![7u8; 32]),
                ])
                .unwrap();
        }
        let u = self.user();
        let naked = secret(&u, NAKED);
        let key = find_key(&u, SIGNING).unwrap().private.unwrap();
        u.raw()
            .wrap_key(&Mechanism::AesKeyWrapPad, naked, key)
            .unwrap()
    }
}

fn secret(s: &TokenSession, label: &str) -> ObjectHandle {
    find_key(s, label)
        .unwrap()
        .secret
        .unwrap_or_else(|| panic!("no secret key \"{label}\" visible"))
}

/// The token as the ceremonies leave it, plus a backup of the record-signing key.
fn sealed_token() -> Fx {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::open_at(tmp.path().join("d")).unwrap();
    let hsm = RehearsalHsm::ensure(&data).unwrap();
    let (so, user) = hsm.pins().unwrap();
    let m = Pkcs11Module::load(hsm.module_path()).unwrap();
    let policies = PolicySet::builtin().unwrap();
    let quirks = Quirks::builtin().unwrap();
    let kek_policy = policies.get("root-kek-import").unwrap();
    let staged = {
        let (s, _) = TokenSession::login(&m, &sel(), UserKind::So, &so).unwrap();
        let kek = draw_root_kek(&s).unwrap();
        import_root_kek(&s, kek_policy, KEK, kek, &quirks, ProtectionRule::Rehearsal).unwrap()
    };
    let (s, _) = TokenSession::login(&m, &sel(), UserKind::User, &user).unwrap();
    let kek = seal_root_kek(&s, kek_policy, staged, &quirks).unwrap();
    let signing = policies.get("record-signing").unwrap();
    let ev = generate(&s, signing, SIGNING, &quirks).unwrap();
    let signer = HsmSigner::open(s, SIGNING, &quirks).unwrap();
    let der = keyrite_core::x509::record_signing_certificate(
        &signer,
        "Sealed test site",
        std::time::SystemTime::now(),
    )
    .unwrap();
    drop(signer);
    let (s, _) = TokenSession::login(&m, &sel(), UserKind::User, &user).unwrap();
    let id = hex::decode(&ev.id).unwrap();
    keyrite_core::hsm::certificate::store_certificate(&s, SIGNING, &id, &der).unwrap();
    let (backup, _) = backup_key(&s, SIGNING, signing, KEK, &quirks).unwrap();
    drop(s);
    Fx {
        _tmp: tmp,
        hsm,
        m,
        so,
        user,
        policies,
        quirks,
        kek,
        backup,
    }
}

/// The template an attacker asks for: a session key that is readable in the clear.
fn attack_template(private: bool) -> Vec<Attribute> {
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

fn value_of(s: &TokenSession, h: ObjectHandle) -> Option<Vec<u8>> {
    s.raw()
        .get_attributes(h, &[AttributeType::Value])
        .unwrap()
        .into_iter()
        .find_map(|a| match a {
            Attribute::Value(v) => Some(v),
            _ => None,
        })
}

#[test]
#[serial(softhsm)]
fn root_kek_is_private_trusted_non_modifiable_with_full_protection_on_softhsm2() {
    let fx = sealed_token();
    let p = fx
        .kek
        .key_protection
        .as_ref()
        .expect("key_protection journaled");
    assert_eq!(p.level, ProtectionLevel::Full);
    assert_eq!(p.module, "SoftHSM2");
    assert_eq!(p.trusted_keys, TrustedKeys::CopyToPrivate);
    assert!(p.kek_login_required && p.kek_trusted && p.unwrap_template_enforced);
    assert!(p.wrap_template_enforced && p.weaknesses.is_empty() && !p.accepted_by_profile);
    let row = |name: &str| {
        fx.kek
            .attributes
            .iter()
            .find(|r| r.attribute == name)
            .map(|r| (r.actual.clone(), r.ok))
    };
    assert_eq!(row("CKA_PRIVATE"), Some((Some("true".into()), true)));
    assert_eq!(row("CKA_TRUSTED"), Some((Some("true".into()), true)));
    assert_eq!(row("CKA_MODIFIABLE"), Some((Some("false".into()), true)));
    let json = serde_json::to_value(&fx.kek).unwrap();
    assert_eq!(json["key_protection"]["level"], "full");
    assert_eq!(json["key_protection"]["trusted_keys"], "copy-to-private");

    let u = fx.user();
    let hits = u
        .find("test", &[Attribute::Label(KEK.as_bytes().to_vec())])
        .unwrap();
    assert_eq!(
        hits.len(),
        1,
        "the public original was destroyed after the copy"
    );
    let kek = hits[0];
    // Adding a usage would turn the KEK into an AES oracle that unwraps backups by hand.
    let err = u
        .raw()
        .update_attributes(kek, &[Attribute::Decrypt(true)])
        .unwrap_err();
    assert_eq!(rv(err), RvError::ActionProhibited);
}

#[test]
#[serial(softhsm)]
fn no_login_session_cannot_find_the_kek_nor_unwrap_a_backup_under_it() {
    let fx = sealed_token();
    // Opened before the user logs in and kept open, so that the handle learned while logged in
    // stays meaningful for the module: the most an intruder on the laptop could hold.
    let anon = TokenSession::open(&fx.m, &sel()).unwrap();
    let kek = {
        let u = fx.user();
        secret(&u, KEK)
        // Dropping the user session logs out (C_Logout applies to every session).
    };
    assert_eq!(anon.user(), None);
    for label in [KEK, SIGNING] {
        let hits = anon
            .find("test", &[Attribute::Label(label.as_bytes().to_vec())])
            .unwrap();
        assert!(hits.is_empty(), "\"{label}\" is visible without login");
    }
    for private in [false, true] {
        let err = anon
            .raw()
            .unwrap_key(
                &Mechanism::AesKeyWrapPad,
                kek,
                &fx.backup.wrapped,
                &attack_template(private),
            )
            .unwrap_err();
        assert_eq!(rv(err), RvError::UnwrappingKeyHandleInvalid);
    }
    // Through Keyrite itself: restoring without login is refused before the token is asked.
    let err = restore_key(&anon, "b.krbak", &fx.backup, &fx.policies, KEK, &fx.quirks).unwrap_err();
    assert!(
        err.to_string().ends_with(
            "failed: CKR_USER_NOT_LOGGED_IN (nobody is logged in to the token); log in as user first"
        ),
        "{err}"
    );
}

#[test]
#[serial(softhsm)]
fn control_old_public_kek_without_templates_lets_a_no_login_session_read_the_key() {
    let fx = sealed_token();
    let wrapped = fx.naked_kek_backup();
    let anon = TokenSession::open(&fx.m, &sel()).unwrap();
    let naked = anon
        .find("test", &[Attribute::Label(NAKED.as_bytes().to_vec())])
        .unwrap()[0];
    let leaked = anon
        .raw()
        .unwrap_key(
            &Mechanism::AesKeyWrapPad,
            naked,
            &wrapped,
            &attack_template(false),
        )
        .expect("the issue's attack works against a public KEK without templates");
    let value = value_of(&anon, leaked).expect("CKA_VALUE readable in the clear");
    assert_eq!(value.len(), 48, "the P-384 private scalar");
}

#[test]
#[serial(softhsm)]
fn logged_in_unwrap_asking_for_a_readable_key_is_refused_by_the_unwrap_template() {
    let fx = sealed_token();
    assert!(
        fx.quirks
            .for_token(&fx.m.find_token(&sel()).unwrap().1)
            .unwrap_template
    );
    let u = fx.user();
    let kek = secret(&u, KEK);
    let refused = |t: Vec<Attribute>| {
        rv(u.raw()
            .unwrap_key(&Mechanism::AesKeyWrapPad, kek, &fx.backup.wrapped, &t)
            .unwrap_err())
    };
    // Extractable and not sensitive: CKA_VALUE would be readable.
    let mut t = attack_template(true);
    t.push(Attribute::WrapWithTrusted(true));
    assert_eq!(refused(t), RvError::TemplateInconsistent);
    // Saying nothing about sensitivity (the module's default is not sensitive).
    let t = vec![
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(KeyType::EC),
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Extractable(true),
        Attribute::WrapWithTrusted(true),
    ];
    assert_eq!(refused(t), RvError::TemplateInconsistent);
    // Sensitive, but wrappable under any key (then wrapped under a key the attacker knows).
    let mut t = attack_template(true);
    t.retain(|a| !matches!(a, Attribute::Sensitive(_)));
    t.push(Attribute::Sensitive(true));
    t.push(Attribute::WrapWithTrusted(false));
    assert_eq!(refused(t), RvError::TemplateInconsistent);
    // As protected as it left: accepted, and the value stays inside.
    let good = vec![
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(KeyType::EC),
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(true),
        Attribute::WrapWithTrusted(true),
    ];
    let h = u
        .raw()
        .unwrap_key(&Mechanism::AesKeyWrapPad, kek, &fx.backup.wrapped, &good)
        .unwrap();
    assert_eq!(
        value_of(&u, h),
        None,
        "a sensitive key's CKA_VALUE is not returned"
    );
    u.raw().destroy_object(h).unwrap();
}

#[test]
#[serial(softhsm)]
fn control_without_unwrap_template_a_logged_in_user_reads_the_key() {
    let fx = sealed_token();
    let wrapped = fx.naked_kek_backup();
    let u = fx.user();
    let naked = secret(&u, NAKED);
    let mut t = attack_template(true);
    t.push(Attribute::WrapWithTrusted(true));
    let h = u
        .raw()
        .unwrap_key(&Mechanism::AesKeyWrapPad, naked, &wrapped, &t)
        .expect("without CKA_UNWRAP_TEMPLATE the module unwraps into a readable key");
    assert_eq!(value_of(&u, h).map(|v| v.len()), Some(48));
}

#[test]
#[serial(softhsm)]
fn root_kek_wraps_only_keys_wrappable_by_trusted_keys_only_wrap_template() {
    let fx = sealed_token();
    // Creates the template-less trusted KEK the control below needs.
    fx.naked_kek_backup();
    let u = fx.user();
    let kek = secret(&u, KEK);
    let naked = secret(&u, NAKED);
    // An extractable, sensitive session key that any wrapping key may wrap.
    let (_, loose) = u
        .raw()
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[
                Attribute::Token(false),
                Attribute::EcParams(vec![0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22]),
            ],
            &[
                Attribute::Token(false),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(true),
                Attribute::WrapWithTrusted(false),
                Attribute::Sign(true),
            ],
        )
        .unwrap();
    let err = u
        .raw()
        .wrap_key(&Mechanism::AesKeyWrapPad, kek, loose)
        .unwrap_err();
    assert_eq!(rv(err), RvError::KeyNotWrappable);
    // The same key wraps under a trusted KEK without CKA_WRAP_TEMPLATE: the template refused.
    u.raw()
        .wrap_key(&Mechanism::AesKeyWrapPad, naked, loose)
        .expect("no wrap template, no refusal");
}

#[test]
#[serial(softhsm)]
fn restored_key_comes_back_private_sensitive_and_passes_read_back() {
    let fx = sealed_token();
    let u = fx.user();
    destroy_key(&u, SIGNING).unwrap();
    let ev = restore_key(&u, "b.krbak", &fx.backup, &fx.policies, KEK, &fx.quirks).unwrap();
    for (name, want) in [
        ("CKA_PRIVATE", "true"),
        ("CKA_SENSITIVE", "true"),
        ("CKA_WRAP_WITH_TRUSTED", "true"),
        ("CKA_LOCAL", "false"),
    ] {
        let r = ev.attributes.iter().find(|r| r.attribute == name).unwrap();
        assert_eq!((r.actual.as_deref(), r.ok), (Some(want), true), "{name}");
    }
    let public = ev.public_attributes.as_ref().unwrap();
    let r = public
        .iter()
        .find(|r| r.attribute == "CKA_PRIVATE")
        .unwrap();
    assert_eq!((r.actual.as_deref(), r.ok), (Some("true"), true));
    assert_eq!(
        ev.spki_sha256.as_deref(),
        Some(fx.backup.spki_sha256.as_str())
    );
}

/// `pkcs11-tool --list-objects` as (type line, label) pairs, run as its own process.
fn pkcs11_tool_objects(fx: &Fx, login: bool) -> Vec<(String, String)> {
    let mut cmd = std::process::Command::new("pkcs11-tool");
    cmd.env("SOFTHSM2_CONF", fx.hsm.conf_path())
        .arg("--module")
        .arg(fx.hsm.module_path())
        .args(["--token-label", REHEARSAL_TOKEN_LABEL, "--list-objects"]);
    if login {
        cmd.args(["--login", "--pin", fx.user.expose()]);
    }
    let out = cmd.output().expect("run pkcs11-tool (OpenSC)");
    assert!(
        out.status.success(),
        "pkcs11-tool failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut objs = Vec::new();
    for line in text.lines() {
        if line.contains(" Object;") || line.ends_with(" Object") {
            let kind = line.split(';').next().unwrap_or(line).trim().to_string();
            objs.push((kind, String::new()));
        } else if let Some(l) = line.trim().strip_prefix("label:") {
            if let Some(last) = objs.last_mut() {
                last.1 = l.trim().to_string();
            }
        }
    }
    objs
}

#[test]
#[serial(softhsm)]
fn pkcs11_tool_sees_no_keyrite_object_without_login_and_all_of_them_after_login() {
    let fx = sealed_token();
    let anon = pkcs11_tool_objects(&fx, false);
    assert_eq!(
        anon,
        Vec::<(String, String)>::new(),
        "objects visible without login"
    );
    let mut logged = pkcs11_tool_objects(&fx, true);
    logged.sort();
    assert_eq!(
        logged,
        vec![
            ("Certificate Object".to_string(), SIGNING.to_string()),
            ("Private Key Object".to_string(), SIGNING.to_string()),
            ("Public Key Object".to_string(), SIGNING.to_string()),
            ("Secret Key Object".to_string(), KEK.to_string()),
        ]
    );
}

#[test]
#[serial(softhsm)]
fn weaker_quirks_are_refused_in_production_accepted_by_the_profile_and_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::open_at(tmp.path().join("d")).unwrap();
    let hsm = RehearsalHsm::ensure(&data).unwrap();
    let (so, user) = hsm.pins().unwrap();
    let m = Pkcs11Module::load(hsm.module_path()).unwrap();
    let policies = PolicySet::builtin().unwrap();
    let policy = policies.get("root-kek-import").unwrap();
    // A site's quirks file describing SoftHSM2 as a module that keeps trusted keys public and
    // is not known to enforce templates.
    let weak = Quirks::parse(
        "weak-quirks.toml",
        "version = 1\n[default]\nlabel_max = 32\nmissing_mechanisms = []\n[[module]]\n\
         name = \"weak\"\nmanufacturer = \"SoftHSM project\"\nmodel_prefix = \"SoftHSM\"\n\
         label_max = 32\nmissing_mechanisms = []\nunwrapped_value_len_zero = true\n\
         trusted_keys = \"so-only-public\"\n",
    )
    .unwrap();
    let import = |rule| {
        let (s, _) = TokenSession::login(&m, &sel(), UserKind::So, &so).unwrap();
        let kek = draw_root_kek(&s).unwrap();
        import_root_kek(&s, policy, KEK, kek, &weak, rule)
    };
    let err = import(ProtectionRule::Production {
        accept_weaker: false,
    })
    .unwrap_err();
    assert!(matches!(err, HsmError::WeakerKeyProtection { .. }));
    let token = {
        let (_, t) = m.find_token(&sel()).unwrap();
        format!("token \"{}\" (serial {})", t.label, t.serial)
    };
    assert_eq!(
        err.to_string(),
        format!(
            "importing the root KEK \"{KEK}\" under policy \"root-kek-import\" on {token} \
             refused in production: the module (vendor quirks \"weak\") protects the key \
             hierarchy less than Keyrite requires: the root KEK is a public object: only the SO \
             may set CKA_TRUSTED and this module lets the SO create public objects only, so the \
             KEK is visible and can be destroyed without login; the module is not known to \
             enforce CKA_UNWRAP_TEMPLATE: a session without any login could unwrap a backup \
             under the root KEK into a non-sensitive, extractable key; use a module whose \
             vendor quirks give full protection, or accept this explicitly with \
             accept_weaker_key_protection = true in the [hsm] section of the site profile \
             (every record then states it); nothing was created"
        )
    );
    {
        let (s, _) = TokenSession::login(&m, &sel(), UserKind::User, &user).unwrap();
        assert!(find_key(&s, KEK).unwrap().is_empty(), "nothing was created");
    }
    let staged = import(ProtectionRule::Production {
        accept_weaker: true,
    })
    .unwrap();
    let (s, _) = TokenSession::login(&m, &sel(), UserKind::User, &user).unwrap();
    let ev = seal_root_kek(&s, policy, staged, &weak).unwrap();
    let p: &KeyProtection = ev.key_protection.as_ref().unwrap();
    assert_eq!(p.level, ProtectionLevel::Weaker);
    assert!(p.accepted_by_profile && !p.kek_login_required && !p.unwrap_template_enforced);
    assert_eq!(p.weaknesses.len(), 2);
    let row = ev
        .attributes
        .iter()
        .find(|r| r.attribute == "CKA_PRIVATE")
        .unwrap();
    assert_eq!((row.actual.as_deref(), row.ok), (Some("false"), true));
    let json = serde_json::to_value(&ev).unwrap();
    assert_eq!(json["key_protection"]["level"], "weaker");
    assert_eq!(json["key_protection"]["accepted_by_profile"], true);
}

#[test]
#[serial(softhsm)]
fn a_failed_seal_removes_the_staged_kek_so_the_import_can_be_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::open_at(tmp.path().join("d")).unwrap();
    let hsm = RehearsalHsm::ensure(&data).unwrap();
    let (so, user) = hsm.pins().unwrap();
    let m = Pkcs11Module::load(hsm.module_path()).unwrap();
    let policies = PolicySet::builtin().unwrap();
    let quirks = Quirks::builtin().unwrap();
    let policy = policies.get("root-kek-import").unwrap();
    let import = || {
        let (s, _) = TokenSession::login(&m, &sel(), UserKind::So, &so).unwrap();
        let kek = draw_root_kek(&s).unwrap();
        import_root_kek(&s, policy, KEK, kek, &quirks, ProtectionRule::Rehearsal).unwrap()
    };
    let staged = import();
    let (s, _) = TokenSession::login(&m, &sel(), UserKind::User, &user).unwrap();
    // Read back against a policy the key does not satisfy: the seal fails after the copy.
    let mut wrong = policy.clone();
    wrong.usage = vec![keyrite_core::hsm::policy::Usage::Wrap];
    let err = seal_root_kek(&s, &wrong, staged, &quirks).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "read-back of key \"{KEK}\" on {} does not satisfy policy \"root-kek-import\": \
             CKA_UNWRAP is true, the policy requires false; the key must not be used — destroy \
             it and investigate the module",
            s.name()
        )
    );
    assert!(
        find_key(&s, KEK).unwrap().is_empty(),
        "staged KEK left behind"
    );
    drop(s);
    let staged = import();
    let (s, _) = TokenSession::login(&m, &sel(), UserKind::User, &user).unwrap();
    seal_root_kek(&s, policy, staged, &quirks).unwrap();
    assert!(find_key(&s, KEK).unwrap().secret.is_some());
}
