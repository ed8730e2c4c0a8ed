//! Keyrite on a second, independent PKCS#11 module: Kryoptic (a PKCS#11 3.x soft token,
//! built by `.ci/setup.sh` into the tools directory). It offers RFC 5649 only as
//! `CKM_AES_KEY_WRAP_KWP` (0x210B), refuses `CKA_TRUSTED` on every key and has no EdDSA
//! against Debian 12's OpenSSL: token initialisation, generation under the weaker policy,
//! root KEK import and sealing, backup, and recovery across modules (a backup made on one
//! restores on the other once the KEK is rebuilt from its shares) are checked here.
//!
//! The module is `$KEYRITE_KRYOPTIC_MODULE`, else `$KEYRITE_TOOLS/lib/libkryoptic_pkcs11.so`
//! (default tools directory `~/.cache/keyrite-tools`). Its absence fails the tests: run
//! `.ci/setup.sh`.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::hsm::backup::{backup_key, restore_key, KeyBackup};
use keyrite_core::hsm::init::{init_token, InitTarget};
use keyrite_core::hsm::keygen::generate;
use keyrite_core::hsm::policy::{PolicySet, WITHOUT_TRUSTED_KEYS};
use keyrite_core::hsm::protection::{ProtectionLevel, ProtectionRule};
use keyrite_core::hsm::quirks::{Quirks, TrustedKeys};
use keyrite_core::hsm::rehearsal::{RehearsalHsm, REHEARSAL_TOKEN_LABEL};
use keyrite_core::hsm::rootkek::{import_root_kek, seal_root_kek};
use keyrite_core::hsm::wrap::Rfc5649;
use keyrite_core::hsm::{Pkcs11Module, TokenSelector, TokenSession, UserKind};
use keyrite_core::paths::DataDir;
use keyrite_core::secret::{SecretBytes, SecretText};
use keyrite_core::shares::{combine, split, Share};
use serial_test::serial;
use std::path::PathBuf;
use std::sync::OnceLock;

const SO: &str = "Kry-so-pin-731";
const USER: &str = "Kry-user-pin-482";

fn module_path() -> PathBuf {
    if let Some(p) = std::env::var_os("KEYRITE_KRYOPTIC_MODULE") {
        return PathBuf::from(p);
    }
    let tools = std::env::var_os("KEYRITE_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/keyrite-tools")
        });
    let p = tools.join("lib/libkryoptic_pkcs11.so");
    assert!(
        p.exists(),
        "Kryoptic is not built at {}: run .ci/setup.sh",
        p.display()
    );
    p
}

/// The Kryoptic configuration of this test process: four slots, each part initialising its own.
fn kryoptic() -> Pkcs11Module {
    static CONF: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = CONF.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        let mut conf = String::new();
        for slot in 1..=4 {
            conf.push_str(&format!(
                "[[slots]]\nslot = {slot}\ndbtype = \"sqlite\"\ndbargs = \"{}\"\n",
                d.path().join(format!("token{slot}.sql")).display()
            ));
        }
        std::fs::write(d.path().join("kryoptic.conf"), conf).unwrap();
        std::env::set_var("KRYOPTIC_CONF", d.path().join("kryoptic.conf"));
        d
    });
    assert!(dir.path().exists());
    Pkcs11Module::load(&module_path()).unwrap()
}

fn pins() -> (SecretText, SecretText) {
    (SecretText::new(SO.into()), SecretText::new(USER.into()))
}

fn login(m: &Pkcs11Module, label: &str, who: UserKind) -> TokenSession {
    let (so, user) = pins();
    let pin = if who == UserKind::So { so } else { user };
    TokenSession::login(m, &TokenSelector::Label(label.into()), who, &pin)
        .unwrap()
        .0
}

/// One test: the module reads its configuration once per process, and the fresh-module
/// checks must come before any slot is initialised.
#[test]
#[serial(kryoptic, softhsm)]
fn kryoptic_from_a_fresh_module_to_cross_module_recovery() {
    let m = kryoptic();
    lists_initialises_and_is_described_by_its_quirks(&m);
    weaker_policy_backup_and_cross_module_recovery_from_shares(&m);
}

fn lists_initialises_and_is_described_by_its_quirks(m: &Pkcs11Module) {
    let quirks = Quirks::builtin().unwrap();
    let before = m.tokens().unwrap();
    let fresh = before.iter().find(|t| t.slot_id == 1).unwrap();
    assert!(!fresh.initialized && fresh.unreadable.is_empty());
    // A fresh module has no initialised token: a ceremony's selection says so and points
    // to hsm-initialisation.
    let err = keyrite_core::hsm::fresh_token_hint(
        m,
        m.find_token(&TokenSelector::Label("keyrite".into()))
            .unwrap_err(),
    );
    assert_eq!(
        err.to_string(),
        format!(
            "no token labelled \"keyrite\" in PKCS#11 module {}; present tokens: none \
             (uninitialised tokens in slots {}: initialise one first with the \
             hsm-initialisation ceremony or `keyrite hsm init`)",
            m.path().display(),
            before
                .iter()
                .filter(|t| !t.initialized)
                .map(|t| t.slot_id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    );
    let (so, user) = pins();
    let t = init_token(
        m,
        &InitTarget::Slot(1),
        "kry-list",
        &so,
        &user,
        false,
        &quirks,
    )
    .unwrap();
    assert_eq!(t.manufacturer, "Kryoptic Project");
    assert!(t.initialized && t.software && t.flags.user_pin_initialized);
    let q = quirks.for_token(&t);
    assert_eq!(q.name, "Kryoptic");
    assert_eq!(q.trusted_keys, TrustedKeys::Unsupported);
    assert_eq!(q.wrap_mechanism, Some(Rfc5649::Kwp));
    let s = login(m, "kry-list", UserKind::User);
    // The module offers 0x210B and refuses 0x210A, whatever the quirks say.
    for (mech, offered) in [(Rfc5649::Kwp, true), (Rfc5649::Pad, false)] {
        assert_eq!(
            keyrite_core::hsm::wrap::offers(s.raw_ctx(), s.slot(), s.token(), mech).unwrap(),
            offered,
            "{mech}"
        );
    }
    // Without the quirks' choice, Keyrite finds 0x210B by asking.
    assert_eq!(
        keyrite_core::hsm::wrap::choose(s.raw_ctx(), s.slot(), s.token(), None, "x").unwrap(),
        Rfc5649::Kwp
    );
    // Ed25519 needs EdDSA, which this build lacks: refused before anything is created.
    let policies = PolicySet::builtin().unwrap();
    let err = generate(&s, policies.get("ed25519-sign").unwrap(), "ed", &quirks).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "generating key \"ed\" under policy \"ed25519-sign\" on {} needs \
             CKM_EC_EDWARDS_KEY_PAIR_GEN, which the module does not offer \
             (CKR_MECHANISM_INVALID); use a module that supports it or a policy that avoids it",
            s.name()
        )
    );
}

fn weaker_policy_backup_and_cross_module_recovery_from_shares(m: &Pkcs11Module) {
    let quirks = Quirks::builtin().unwrap();
    let policies = PolicySet::builtin().unwrap();
    let (so, user) = pins();
    init_token(
        m,
        &InitTarget::Slot(2),
        "kry-flow",
        &so,
        &user,
        false,
        &quirks,
    )
    .unwrap();

    // Production without the site's acceptance refuses the weaker policy before generating.
    let strict = Quirks {
        site_rule: Some(ProtectionRule::Production {
            accept_weaker: false,
        }),
        ..quirks.clone()
    };
    let s = login(m, "kry-flow", UserKind::User);
    let sign = policies.get("ec-p384-sign").unwrap();
    let err = generate(&s, sign, "sig-kry", &strict).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "generating key \"sig-kry\" under policy \"ec-p384-sign\" on {} refused in \
             production: the module (vendor quirks \"Kryoptic\") protects the key hierarchy \
             less than Keyrite requires: {WITHOUT_TRUSTED_KEYS}; use a module whose vendor \
             quirks give full protection, or accept this explicitly with \
             accept_weaker_key_protection = true in the [hsm] section of the site profile \
             (every record then states it); nothing was created",
            s.name()
        )
    );
    assert!(keyrite_core::hsm::find_key(&s, "sig-kry")
        .unwrap()
        .is_empty());

    // Rehearsal: generated under the weaker form, which the evidence states.
    let ev = generate(&s, sign, "sig-kry", &quirks).unwrap();
    assert_eq!(ev.weaker_policy.as_deref(), Some(WITHOUT_TRUSTED_KEYS));
    let wwt = ev
        .attributes
        .iter()
        .find(|r| r.attribute == "CKA_WRAP_WITH_TRUSTED")
        .unwrap();
    assert_eq!(wwt.actual.as_deref(), Some("false"));
    let journaled = serde_json::to_value(&ev).unwrap();
    assert_eq!(journaled["protection"], WITHOUT_TRUSTED_KEYS);
    drop(s);

    // The root KEK, split into shares; each module gets it rebuilt from a different pair.
    let mut raw = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
    let set = split(&SecretBytes::from_slice(&raw), 2, 3).unwrap();
    // As custodians hand them in: their printed text, read back.
    let texts: Vec<String> = set
        .shares
        .iter()
        .map(|s| s.human_form().expose().to_string())
        .collect();
    let from = |a: usize, b: usize| {
        let pair = [&texts[a], &texts[b]].map(|t| Share::parse(t, None).unwrap());
        combine(&pair).unwrap().secret
    };
    let kek_policy = policies.get("root-kek-import").unwrap();
    let so_s = login(m, "kry-flow", UserKind::So);
    let err = import_root_kek(
        &so_s,
        kek_policy,
        "root-kek",
        from(0, 1),
        &quirks,
        ProtectionRule::Production {
            accept_weaker: false,
        },
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "importing the root KEK \"root-kek\" under policy \"root-kek-import\" on {} \
             refused in production: the module (vendor quirks \"Kryoptic\") protects the key \
             hierarchy less than Keyrite requires: {WITHOUT_TRUSTED_KEYS}; ",
            so_s.name()
        )),
        "{err}"
    );
    let staged = import_root_kek(
        &so_s,
        kek_policy,
        "root-kek",
        from(0, 1),
        &quirks,
        ProtectionRule::Rehearsal,
    )
    .unwrap();
    drop(so_s);
    let s = login(m, "kry-flow", UserKind::User);
    let kek = seal_root_kek(&s, kek_policy, staged, &quirks).unwrap();
    let p = kek.key_protection.as_ref().unwrap();
    assert_eq!(p.level, ProtectionLevel::Weaker);
    assert!(p.kek_login_required && !p.kek_trusted && p.unwrap_template_enforced);
    assert_eq!(p.weaknesses, vec![WITHOUT_TRUSTED_KEYS.to_string()]);
    assert_eq!(kek.wrap_mechanism, Some(Rfc5649::Kwp));

    // Backup under the KEK with 0x210B, recorded in the file and the evidence.
    let (kry_backup, bev) = backup_key(&s, "sig-kry", sign, "root-kek", &quirks).unwrap();
    assert_eq!(kry_backup.mechanism, Rfc5649::Kwp);
    assert_eq!(bev.wrap_mechanism, Some(Rfc5649::Kwp));
    let kry_file = kry_backup.encode();
    assert!(kry_file.contains("\nmechanism: CKM_AES_KEY_WRAP_KWP\n"));
    drop(s);

    // SoftHSM2 (full protection, 0x210A) gets the same KEK from two other shares.
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::open_at(tmp.path().join("d")).unwrap();
    let hsm = RehearsalHsm::ensure(&data).unwrap();
    let soft = Pkcs11Module::load(hsm.module_path()).unwrap();
    let (soft_so, soft_user) = hsm.pins().unwrap();
    let sel = TokenSelector::Label(REHEARSAL_TOKEN_LABEL.into());
    let so_s = TokenSession::login(&soft, &sel, UserKind::So, &soft_so)
        .unwrap()
        .0;
    let staged = import_root_kek(
        &so_s,
        kek_policy,
        "root-kek",
        from(1, 2),
        &quirks,
        ProtectionRule::Rehearsal,
    )
    .unwrap();
    drop(so_s);
    let soft_s = TokenSession::login(&soft, &sel, UserKind::User, &soft_user)
        .unwrap()
        .0;
    let soft_kek = seal_root_kek(&soft_s, kek_policy, staged, &quirks).unwrap();
    assert_eq!(
        soft_kek.key_protection.as_ref().unwrap().level,
        ProtectionLevel::Full
    );
    assert_eq!(soft_kek.wrap_mechanism, Some(Rfc5649::Pad));
    // Same KEK, same check value on both modules.
    assert_eq!(soft_kek.kcv, kek.kcv);

    // Kryoptic's backup restores on SoftHSM2, under the full policy there.
    let b = KeyBackup::decode("kry.backup", &kry_file).unwrap();
    let restored = restore_key(&soft_s, "kry.backup", &b, &policies, "root-kek", &quirks).unwrap();
    assert_eq!(restored.spki_sha256, ev.spki_sha256);
    assert_eq!(restored.weaker_policy, None);
    assert_eq!(restored.wrap_mechanism, Some(Rfc5649::Pad));

    // And a SoftHSM2 backup restores on Kryoptic, under the weaker form there.
    let soft_ev = generate(&soft_s, sign, "sig-soft", &quirks).unwrap();
    let (soft_backup, _) = backup_key(&soft_s, "sig-soft", sign, "root-kek", &quirks).unwrap();
    assert_eq!(soft_backup.mechanism, Rfc5649::Pad);
    drop(soft_s);
    let s = login(m, "kry-flow", UserKind::User);
    let b = KeyBackup::decode("soft.backup", &soft_backup.encode()).unwrap();
    let back = restore_key(&s, "soft.backup", &b, &policies, "root-kek", &quirks).unwrap();
    assert_eq!(back.spki_sha256, soft_ev.spki_sha256);
    assert_eq!(back.weaker_policy.as_deref(), Some(WITHOUT_TRUSTED_KEYS));
    assert_eq!(back.wrap_mechanism, Some(Rfc5649::Kwp));
    // Listing checks every key, generated, restored and the KEK, against its policy's form
    // for this module: nothing fails.
    let listed = keyrite_core::hsm::objects::list_keys(&s, &policies, &quirks).unwrap();
    assert_eq!(listed.len(), 3);
    for k in &listed {
        assert!(k.failures.is_empty(), "{}: {:?}", k.label, k.failures);
    }
}
