//! HSM administration against real SoftHSM2 tokens: init, login, generation with read-back,
//! root KEK, backup/restore, destruction, identity, quirks, signer, certificates, and an
//! independent cross-check with OpenSC's pkcs11-tool.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::hsm::attributes::{expected, failures, read_and_compare, Half};
use keyrite_core::hsm::backup::{backup_key, restore_key, KeyBackup};
use keyrite_core::hsm::certificate::{read_certificate, store_certificate};
use keyrite_core::hsm::destroy::destroy_key;
use keyrite_core::hsm::identity::check_identity;
use keyrite_core::hsm::init::{init_token, InitTarget};
use keyrite_core::hsm::keygen::{generate, KeyEvidence};
use keyrite_core::hsm::policy::{Origin, PolicySet};
use keyrite_core::hsm::protection::ProtectionRule;
use keyrite_core::hsm::quirks::Quirks;
use keyrite_core::hsm::rehearsal::{RehearsalHsm, REHEARSAL_TOKEN_LABEL};
use keyrite_core::hsm::rootkek::{draw_root_kek, import_root_kek, seal_root_kek};
use keyrite_core::hsm::signer::HsmSigner;
use keyrite_core::hsm::{Pkcs11Module, TokenSelector, TokenSession, UserKind};
use keyrite_core::paths::DataDir;
use keyrite_core::profile::{ExpectedIdentity, Mode};
use keyrite_core::secret::SecretText;
use keyrite_core::signer::{verify, SignatureAlgorithm, Signer};
use serial_test::serial;

struct Fx {
    _tmp: tempfile::TempDir,
    hsm: RehearsalHsm,
    m: Pkcs11Module,
    so: SecretText,
    user: SecretText,
    policies: PolicySet,
    quirks: Quirks,
}

fn fx() -> Fx {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::open_at(tmp.path().join("d")).unwrap();
    let hsm = RehearsalHsm::ensure(&data).unwrap();
    let m = Pkcs11Module::load(hsm.module_path()).unwrap();
    let (so, user) = hsm.pins().unwrap();
    Fx {
        _tmp: tmp,
        hsm,
        m,
        so,
        user,
        policies: PolicySet::builtin().unwrap(),
        quirks: Quirks::builtin().unwrap(),
    }
}

fn sel() -> TokenSelector {
    TokenSelector::Label(REHEARSAL_TOKEN_LABEL.into())
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
    fn kek(&self, label: &str) -> KeyEvidence {
        let so = self.so();
        let kek = draw_root_kek(&so).unwrap();
        let p = self.policies.get("root-kek-import").unwrap();
        let staged =
            import_root_kek(&so, p, label, kek, &self.quirks, ProtectionRule::Rehearsal).unwrap();
        drop(so);
        seal_root_kek(&self.user(), p, staged, &self.quirks).unwrap()
    }
    fn token_name(&self) -> String {
        let (_, t) = self.m.find_token(&sel()).unwrap();
        format!("token \"{}\" (serial {})", t.label, t.serial)
    }
}

fn row<'a>(e: &'a [keyrite_core::hsm::attributes::AttributeRow], name: &str) -> Option<&'a str> {
    e.iter()
        .find(|r| r.attribute == name)
        .and_then(|r| r.actual.as_deref())
}

#[test]
#[serial(softhsm)]
fn init_token_with_pin_policy_and_refusal_without_force() {
    let f = fx();
    let so = SecretText::new("Xq7-so-pin-42".into());
    let user = SecretText::new("Xq7-user-pin-9".into());
    let weak = SecretText::new("123456".into());
    let err = init_token(
        &f.m,
        &InitTarget::FirstFree,
        "ceremony",
        &weak,
        &user,
        false,
        &f.quirks,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "PIN policy refused the SO PIN: it has 6 characters, at least 8 are required"
    );
    let t = init_token(
        &f.m,
        &InitTarget::FirstFree,
        "ceremony",
        &so,
        &user,
        false,
        &f.quirks,
    )
    .unwrap();
    assert!(t.initialized && t.flags.user_pin_initialized);
    // The user PIN works; the token is found by label.
    let (_s, ev) = TokenSession::login(
        &f.m,
        &TokenSelector::Label("ceremony".into()),
        UserKind::User,
        &user,
    )
    .unwrap();
    assert_eq!(ev.before.to_string(), "ok");
    drop(_s);
    let err = init_token(
        &f.m,
        &InitTarget::Slot(t.slot_id),
        "other",
        &so,
        &user,
        false,
        &f.quirks,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "refusing to re-initialise token \"ceremony\" (serial {}): it is already initialised \
             and may hold keys (0 public objects visible; private objects cannot be counted \
             without the user PIN); re-initialising erases every key, pass force only if that \
             is intended",
            t.serial
        )
    );
    let long = "a-label-that-is-longer-than-32-bytes";
    let err = init_token(
        &f.m,
        &InitTarget::FirstFree,
        long,
        &so,
        &user,
        false,
        &f.quirks,
    )
    .unwrap_err();
    assert!(
        err.to_string().ends_with(&format!(
            "the label \"{long}\" has 36 bytes; SoftHSM2 accepts 1 to 32 (vendor quirks)"
        )),
        "{err}"
    );
    let t2 = init_token(
        &f.m,
        &InitTarget::Slot(t.slot_id),
        "ceremony2",
        &so,
        &user,
        true,
        &f.quirks,
    )
    .unwrap();
    assert_eq!(t2.label, "ceremony2");
}

#[test]
#[serial(softhsm)]
fn wrong_pin_reports_state_and_is_not_retried() {
    let f = fx();
    let bad = SecretText::new("not-the-pin".into());
    let err = TokenSession::login(&f.m, &sel(), UserKind::User, &bad).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "user login (C_Login) on {} failed: CKR_PIN_INCORRECT (the PIN is wrong); PIN state \
             before: ok, after: count low (a wrong PIN was entered before); Keyrite never \
             retries a PIN: check it before trying again",
            f.token_name()
        )
    );
    // The next (correct) attempt sees the count-low state before, and clears it.
    let (_s, ev) = TokenSession::login(&f.m, &sel(), UserKind::User, &f.user).unwrap();
    assert!(ev.before.count_low);
    assert!(!ev.after.count_low);
}

#[test]
#[serial(softhsm)]
fn every_policy_generates_and_reads_back() {
    let f = fx();
    let s = f.user();
    for name in [
        "aes256-dek",
        "ec-p256-sign",
        "ec-p384-sign",
        "ed25519-sign",
        "rsa3072-sign",
        "record-signing",
    ] {
        let p = f.policies.get(name).unwrap();
        let ev = generate(&s, p, &format!("k-{name}"), &f.quirks).unwrap();
        assert!(
            ev.attributes.iter().all(|r| r.ok),
            "{name}: {:?}",
            ev.attributes
        );
        assert_eq!(ev.origin, Origin::Generated);
        assert_eq!(row(&ev.attributes, "CKA_LOCAL"), Some("true"));
        assert_eq!(row(&ev.attributes, "CKA_ALWAYS_SENSITIVE"), Some("true"));
        assert_eq!(row(&ev.attributes, "CKA_WRAP_WITH_TRUSTED"), Some("true"));
        if p.key.is_secret() {
            assert!(ev.kcv.is_some() && ev.spki_sha256.is_none());
        } else {
            assert_eq!(ev.spki_sha256.as_ref().unwrap().len(), 64);
        }
    }
    let p = f.policies.get("ec-p256-sign").unwrap();
    let err = generate(&s, p, "k-ec-p256-sign", &f.quirks).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "generating key \"k-ec-p256-sign\" under policy \"ec-p256-sign\" on {} refused: an \
             object labelled \"k-ec-p256-sign\" already exists; choose another label or destroy \
             the old key first",
            f.token_name()
        )
    );
    let err = generate(
        &s,
        f.policies.get("root-kek-import").unwrap(),
        "x",
        &f.quirks,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "key policy \"root-kek-import\" is refused: it is for imported keys; generation inside \
         the HSM needs a policy with origin = \"generated\""
    );
    assert_eq!(
        f.policies.get("nope").unwrap_err().to_string(),
        "unknown key policy \"nope\"; known policies: aes256-dek, ec-p256-sign, ec-p384-sign, \
         ed25519-sign, rsa3072-sign, rsa4096-sign, record-signing, root-kek-import"
    );
}

/// A key created deliberately weaker than its policy (raw cryptoki, bypassing Keyrite's
/// templates) is caught by the read-back checker, attribute by attribute.
#[test]
#[serial(softhsm)]
fn weaker_key_from_the_module_is_caught_at_read_back() {
    use cryptoki::mechanism::Mechanism;
    use cryptoki::object::Attribute;
    let f = fx();
    let s = f.user();
    let p = f.policies.get("ec-p384-sign").unwrap();
    let params = p.key.ec_params().unwrap().to_vec();
    let (_pub, priv_h) = s
        .raw()
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[
                Attribute::Token(true),
                Attribute::EcParams(params),
                Attribute::Verify(true),
            ],
            &[
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(false),
                Attribute::Extractable(true),
                Attribute::Sign(true),
                Attribute::Derive(true),
            ],
        )
        .unwrap();
    let rows = read_and_compare(
        s.raw(),
        priv_h,
        &expected(p, Half::Private, Origin::Generated),
    )
    .unwrap();
    assert_eq!(
        failures(&rows),
        vec![
            "CKA_MODIFIABLE is true, the policy requires false",
            "CKA_SENSITIVE is false, the policy requires true",
            "CKA_ALWAYS_SENSITIVE is false, the policy requires true",
            "CKA_WRAP_WITH_TRUSTED is false, the policy requires true",
            // SoftHSM2's defaults, which Keyrite's templates always set explicitly:
            "CKA_DECRYPT is true, the policy requires false",
            "CKA_UNWRAP is true, the policy requires false",
            "CKA_DERIVE is true, the policy requires false",
        ]
    );
}

#[test]
#[serial(softhsm)]
fn root_kek_is_imported_truthfully_and_backup_round_trip_signs() {
    let f = fx();
    let kek = f.kek("root-kek");
    assert!(kek.attributes.iter().all(|r| r.ok), "{:?}", kek.attributes);
    assert_eq!(kek.origin, Origin::Imported);
    assert_eq!(row(&kek.attributes, "CKA_LOCAL"), Some("false"));
    assert_eq!(row(&kek.attributes, "CKA_ALWAYS_SENSITIVE"), Some("false"));
    assert_eq!(row(&kek.attributes, "CKA_NEVER_EXTRACTABLE"), Some("false"));
    assert_eq!(row(&kek.attributes, "CKA_EXTRACTABLE"), Some("false"));
    assert_eq!(row(&kek.attributes, "CKA_TRUSTED"), Some("true"));
    assert_eq!(kek.kcv.as_ref().unwrap().method, "kwp-zero-key-sha256");

    let s = f.user();
    let p = f.policies.get("ec-p384-sign").unwrap();
    let original = generate(&s, p, "sig-1", &f.quirks).unwrap();
    let (b, _) = backup_key(&s, "sig-1", p, "root-kek", &f.quirks).unwrap();
    assert_eq!(b.wrapping_key_kcv, kek.kcv.as_ref().unwrap().value);
    let text = b.encode();
    let proof = destroy_key(&s, "sig-1").unwrap();
    assert_eq!(proof.destroyed, vec!["private key", "public key"]);
    assert_eq!(
        (proof.remaining_with_label, proof.remaining_with_id),
        (0, 0)
    );
    assert_eq!(proof.objects_after + 2, proof.objects_before);
    assert_eq!(proof.ids, vec![original.id.clone()]);

    let back = KeyBackup::decode("sig-1.backup", &text).unwrap();
    let restored = restore_key(
        &s,
        "sig-1.backup",
        &back,
        &f.policies,
        "root-kek",
        &f.quirks,
    )
    .unwrap();
    assert_eq!(restored.origin, Origin::Imported);
    assert_eq!(row(&restored.attributes, "CKA_LOCAL"), Some("false"));
    assert_eq!(restored.spki_sha256, original.spki_sha256);
    assert_eq!(restored.id, original.id);
    // As unchangeable as a generated key: read back non-modifiable, and the token refuses a
    // new usage on it. Only the copy is left: one private key under the label (the session
    // object it was unwrapped into is gone).
    assert_eq!(row(&restored.attributes, "CKA_MODIFIABLE"), Some("false"));
    {
        use cryptoki::object::{Attribute, ObjectClass};
        let keys = s
            .raw()
            .find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::Label(b"sig-1".to_vec()),
            ])
            .unwrap();
        assert_eq!(keys.len(), 1, "private keys labelled sig-1");
        let err = s
            .raw()
            .update_attributes(keys[0], &[Attribute::Derive(true)])
            .unwrap_err();
        assert!(
            matches!(
                err,
                cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::ActionProhibited, _)
            ),
            "{err:?}"
        );
    }
    drop(s);

    // Sign with the restored key; verify under the ORIGINAL public key.
    let signer = HsmSigner::open(f.user(), "sig-1", &f.quirks).unwrap();
    let sig = signer.sign(b"restored key signs").unwrap();
    let original_spki = signer.public_key_spki().unwrap();
    assert_eq!(
        hex::encode(keyrite_core::signer::spki_fingerprint(&original_spki)),
        original.spki_sha256.clone().unwrap()
    );
    verify(
        SignatureAlgorithm::EcdsaP384Sha384,
        &original_spki,
        b"restored key signs",
        &sig,
    )
    .unwrap();
    assert!(verify(
        SignatureAlgorithm::EcdsaP384Sha384,
        &original_spki,
        b"other",
        &sig
    )
    .is_err());
}

#[test]
#[serial(softhsm)]
fn aes_dek_round_trip_keeps_its_check_value() {
    let f = fx();
    f.kek("root-kek");
    let s = f.user();
    let p = f.policies.get("aes256-dek").unwrap();
    let ev = generate(&s, p, "dek-1", &f.quirks).unwrap();
    let (b, _) = backup_key(&s, "dek-1", p, "root-kek", &f.quirks).unwrap();
    destroy_key(&s, "dek-1").unwrap();
    let r = restore_key(&s, "dek.backup", &b, &f.policies, "root-kek", &f.quirks).unwrap();
    assert_eq!(r.kcv, ev.kcv);
    // SoftHSM2 quirk (vendor-quirks.toml: unwrapped_value_len_zero); the equal KCV above is
    // what proves the restored key is the original.
    assert_eq!(row(&r.attributes, "CKA_VALUE_LEN"), Some("0"));
}

#[test]
#[serial(softhsm)]
fn bad_backups_get_precise_errors() {
    let f = fx();
    f.kek("kek-a");
    f.kek("kek-b");
    let s = f.user();
    let p = f.policies.get("ec-p256-sign").unwrap();
    generate(&s, p, "k", &f.quirks).unwrap();
    let (b, _) = backup_key(&s, "k", p, "kek-a", &f.quirks).unwrap();
    destroy_key(&s, "k").unwrap();
    let mut other = b.clone();
    other.wrapping_key_label = "kek-b".into();
    let err = restore_key(&s, "k.backup", &b, &f.policies, "kek-b", &f.quirks).unwrap_err();
    let kcv_b = {
        let h = keyrite_core::hsm::keygen::find_key(&s, "kek-b")
            .unwrap()
            .secret
            .unwrap();
        keyrite_core::hsm::kcv::wrapping_key_kcv(&s, h)
            .unwrap()
            .value
    };
    assert_eq!(
        err.to_string(),
        format!(
            "backup file k.backup was wrapped under a key with check value {}, but \"kek-b\" on \
             {} has check value {kcv_b}; load the root KEK this backup was made under (from its \
             shares) before restoring",
            b.wrapping_key_kcv,
            f.token_name()
        )
    );
    // A forged wrapped blob with a valid checksum fails RFC 5649's integrity check on the token.
    let mut forged = b.clone();
    let n = forged.wrapped.len();
    forged.wrapped[n - 1] ^= 1;
    let forged = KeyBackup::decode("k.backup", &forged.encode()).unwrap();
    let err = restore_key(&s, "k.backup", &forged, &f.policies, "kek-a", &f.quirks).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "backup file k.backup does not unwrap under \"kek-a\" on {} (C_UnwrapKey: \
             CKR_GENERAL_ERROR (the module reported a general error)); its wrapped bytes are \
             damaged or forged although its checksum matches; restore from another copy",
            f.token_name()
        )
    );
    assert!(keyrite_core::hsm::keygen::find_key(&s, "k")
        .unwrap()
        .is_empty());
    // Truncated file.
    let text = b.encode();
    let err = KeyBackup::decode("k.backup", &text[..text.len() / 2]).unwrap_err();
    assert!(err
        .to_string()
        .starts_with("backup file k.backup is truncated: it ends before the"));
}

#[test]
#[serial(softhsm)]
fn missing_mechanism_from_quirks_is_refused_before_the_operation() {
    let f = fx();
    f.kek("root-kek");
    let s = f.user();
    let p = f.policies.get("ec-p256-sign").unwrap();
    generate(&s, p, "k", &f.quirks).unwrap();
    let q = Quirks::parse(
        "site-quirks.toml",
        "version = 1\n[default]\nlabel_max = 32\nmissing_mechanisms = []\n[[module]]\n\
         name = \"SoftHSM2 without KWP\"\nmanufacturer = \"SoftHSM project\"\nmodel_prefix = \"SoftHSM\"\n\
         label_max = 32\nmissing_mechanisms = [\"CKM_AES_KEY_WRAP_PAD\", \"CKM_ECDSA\"]\n",
    )
    .unwrap();
    let err = backup_key(&s, "k", p, "root-kek", &q).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "backing up key \"k\" under \"root-kek\" on {} needs RFC 5649 key wrapping \
             (CKM_AES_KEY_WRAP_PAD 0x210A or CKM_AES_KEY_WRAP_KWP 0x210B), which the module does \
             not offer (CKR_MECHANISM_INVALID); use a module that supports it or a policy that \
             avoids it",
            f.token_name()
        )
    );
    drop(s);
    let err = HsmSigner::open(f.user(), "k", &q).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "opening signing key \"k\" on {} needs CKM_ECDSA, which the module does not offer \
             (CKR_MECHANISM_INVALID); use a module that supports it or a policy that avoids it",
            f.token_name()
        )
    );
}

#[test]
#[serial(softhsm)]
fn identity_pinning_refuses_software_and_mismatch() {
    let f = fx();
    let (_, t) = f.m.find_token(&sel()).unwrap();
    let name = f.token_name();
    let err = check_identity(Mode::Production, None, &t).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "HSM identity check refused {name}: it is a software token (SoftHSM project SoftHSM v2) \
             whose keys live in host files; production needs a hardware HSM; no operation was performed"
        )
    );
    let wrong = ExpectedIdentity {
        manufacturer: "SoftHSM project".into(),
        model: "SoftHSM v2".into(),
        serial: "0000".into(),
        slot_id: None,
        slot_description: None,
    };
    let err = check_identity(Mode::Rehearsal, Some(&wrong), &t).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "HSM identity check refused {name}: serial is \"{}\", the profile expects \"0000\"; \
             no operation was performed",
            t.serial
        )
    );
    let right = ExpectedIdentity {
        serial: t.serial.clone(),
        ..wrong
    };
    assert!(
        check_identity(Mode::Rehearsal, Some(&right), &t)
            .unwrap()
            .pinned
    );
}

#[test]
#[serial(softhsm)]
fn certificate_is_stored_and_read_back() {
    let f = fx();
    let dir = tempfile::tempdir().unwrap();
    let der = dir.path().join("c.der");
    let st = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-nodes",
            "-keyout",
        ])
        .arg(dir.path().join("k.pem"))
        .args([
            "-subj",
            "/CN=Keyrite record signing",
            "-days",
            "1",
            "-outform",
            "DER",
            "-out",
        ])
        .arg(&der)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let der = std::fs::read(&der).unwrap();
    let s = f.user();
    store_certificate(&s, "record-signing", b"\x01", &der).unwrap();
    assert_eq!(read_certificate(&s, "record-signing").unwrap(), der);
    let err = store_certificate(&s, "record-signing", b"\x01", &der).unwrap_err();
    assert!(err
        .to_string()
        .contains("refused: an object labelled \"record-signing\" already exists"));
    let err = store_certificate(&s, "junk", b"\x02", b"not der").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "storing certificate \"junk\" on {}: the data is not a DER X.509 certificate",
            f.token_name()
        )
    );
}

/// OpenSC's pkcs11-tool, reading the same token independently, reports the same access flags
/// as Keyrite recorded for each key.
#[test]
#[serial(softhsm)]
fn pkcs11_tool_access_flags_match_the_evidence() {
    let f = fx();
    let kek = f.kek("root-kek");
    let s = f.user();
    let mut evidence = vec![kek];
    for (name, label) in [
        ("ec-p384-sign", "sig"),
        ("aes256-dek", "dek"),
        ("ed25519-sign", "ed"),
    ] {
        evidence.push(generate(&s, f.policies.get(name).unwrap(), label, &f.quirks).unwrap());
    }
    let out = std::process::Command::new("pkcs11-tool")
        .arg("--module")
        .arg(f.hsm.module_path())
        .args([
            "--token-label",
            REHEARSAL_TOKEN_LABEL,
            "--login",
            "--pin",
            f.user.expose(),
            "-O",
        ])
        .env("SOFTHSM2_CONF", f.hsm.conf_path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    // (header, label) -> access words
    let mut seen = std::collections::BTreeMap::new();
    let (mut header, mut label) = (String::new(), String::new());
    for line in text.lines() {
        if !line.starts_with(' ') {
            header = line.split(';').next().unwrap_or("").to_string();
        } else if let Some(l) = line.trim().strip_prefix("label:") {
            label = l.trim().to_string();
        } else if let Some(a) = line.trim().strip_prefix("Access:") {
            let words: std::collections::BTreeSet<String> = a
                .split(',')
                .map(|w| w.trim().to_string())
                .filter(|w| !w.is_empty())
                .collect();
            seen.insert((header.clone(), label.clone()), words);
        }
    }
    for ev in &evidence {
        let header = if ev.key.is_secret() {
            "Secret Key Object"
        } else {
            "Private Key Object"
        };
        let mut want = std::collections::BTreeSet::new();
        for (attr, word) in [
            ("CKA_SENSITIVE", "sensitive"),
            ("CKA_ALWAYS_SENSITIVE", "always sensitive"),
            ("CKA_EXTRACTABLE", "extractable"),
            ("CKA_NEVER_EXTRACTABLE", "never extractable"),
            ("CKA_LOCAL", "local"),
        ] {
            if row(&ev.attributes, attr) == Some("true") {
                want.insert(word.to_string());
            }
        }
        let got = seen
            .get(&(header.to_string(), ev.label.clone()))
            .unwrap_or_else(|| panic!("pkcs11-tool did not list {header} {}: {text}", ev.label));
        assert_eq!(got, &want, "access flags of {}", ev.label);
    }
    assert!(seen.len() >= 4);
}
