//! The first slice of `hsm` against real SoftHSM2 tokens, each created in a temporary directory.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::hsm::rehearsal::{RehearsalHsm, REHEARSAL_TOKEN_LABEL};
use keyrite_core::hsm::{HsmError, Pkcs11Module, TokenSelector};
use keyrite_core::paths::DataDir;
use serial_test::serial;

fn fresh() -> (tempfile::TempDir, RehearsalHsm) {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::open_at(tmp.path().join("data")).unwrap();
    let hsm = RehearsalHsm::ensure(&data).unwrap();
    (tmp, hsm)
}

#[test]
#[serial(softhsm)]
fn rehearsal_token_is_created_listed_and_flagged_software() {
    let (tmp, hsm) = fresh();
    let m = Pkcs11Module::load(hsm.module_path()).unwrap();
    let tokens = m.tokens().unwrap();
    let t = tokens
        .iter()
        .find(|t| t.label == REHEARSAL_TOKEN_LABEL)
        .expect("rehearsal token listed");
    assert!(t.initialized);
    assert!(t.software);
    assert_eq!(t.manufacturer, "SoftHSM project");
    assert!(t.flags.user_pin_initialized);
    assert!(!t.serial.is_empty());
    // SoftHSM2 always offers one more, uninitialised token.
    assert!(tokens.iter().any(|t| !t.initialized));
    let (_, found) = m
        .find_token(&TokenSelector::Serial(t.serial.clone()))
        .unwrap();
    assert_eq!(found.label, REHEARSAL_TOKEN_LABEL);
    // No scratch directory left behind, PIN file private.
    let names: Vec<_> = std::fs::read_dir(tmp.path().join("data"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec!["softhsm".to_string()]);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(tmp.path().join("data/softhsm/rehearsal-token.toml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let (so, user) = hsm.pins().unwrap();
    assert_eq!(so.len(), 16);
    assert_eq!(user.len(), 12);
}

#[test]
#[serial(softhsm)]
fn second_ensure_reuses_the_token() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::open_at(tmp.path().join("data")).unwrap();
    let first = RehearsalHsm::ensure(&data).unwrap();
    let serial1 = {
        let m = Pkcs11Module::load(first.module_path()).unwrap();
        let (_, t) = m
            .find_token(&TokenSelector::Label(REHEARSAL_TOKEN_LABEL.into()))
            .unwrap();
        t.serial
    };
    let second = RehearsalHsm::ensure(&data).unwrap();
    let m = Pkcs11Module::load(second.module_path()).unwrap();
    let (_, t) = m
        .find_token(&TokenSelector::Label(REHEARSAL_TOKEN_LABEL.into()))
        .unwrap();
    assert_eq!(t.serial, serial1);
}

#[test]
#[serial(softhsm)]
fn unknown_token_names_what_is_present() {
    let (_tmp, hsm) = fresh();
    let m = Pkcs11Module::load(hsm.module_path()).unwrap();
    let err = m
        .find_token(&TokenSelector::Label("nope".into()))
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "no token labelled \"nope\" in PKCS#11 module {}; present tokens: \"keyrite-rehearsal\" (serial ",
            hsm.module_path().display()
        )),
        "{msg}"
    );
}

#[test]
#[serial(softhsm)]
fn missing_module_is_named() {
    let err = Pkcs11Module::load(std::path::Path::new("/nonexistent/libpkcs11.so")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "PKCS#11 module /nonexistent/libpkcs11.so does not exist; check hsm.module in the site \
         profile (SoftHSM2 is usually /usr/lib/softhsm/libsofthsm2.so)"
    );
}

#[test]
#[serial(softhsm)]
fn a_file_that_is_not_a_library_fails_to_load() {
    let tmp = tempfile::tempdir().unwrap();
    let bogus = tmp.path().join("bogus.so");
    std::fs::write(&bogus, b"this is not an ELF file").unwrap();
    let err = Pkcs11Module::load(&bogus).unwrap_err();
    assert!(matches!(err, HsmError::ModuleLoad { .. }));
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("cannot load PKCS#11 module {}: ", bogus.display())),
        "{msg}"
    );
    assert!(
        msg.contains("invalid ELF header") || msg.contains("file too short"),
        "{msg}"
    );
    assert!(
        msg.ends_with("check that it is the vendor's PKCS#11 library"),
        "{msg}"
    );
}

#[test]
#[serial(softhsm)]
fn module_failing_c_initialize_is_reported_with_its_code() {
    let tmp = tempfile::tempdir().unwrap();
    let conf = tmp.path().join("missing.conf");
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let module = keyrite_core::hsm::rehearsal::softhsm_module_path().unwrap();
    let err = Pkcs11Module::load(&module).unwrap_err();
    std::env::remove_var("SOFTHSM2_CONF");
    assert_eq!(
        err.to_string(),
        format!(
            "PKCS#11 module {} failed C_Initialize: CKR_GENERAL_ERROR (the module reported a \
             general error); check the module's own configuration (SoftHSM2 reads SOFTHSM2_CONF={})",
            module.display(),
            conf.display()
        )
    );
}

#[test]
#[serial(softhsm)]
fn half_created_rehearsal_dir_is_refused_not_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::open_at(tmp.path().join("data")).unwrap();
    std::fs::create_dir_all(data.softhsm_dir()).unwrap();
    let err = RehearsalHsm::ensure(&data).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "cannot create the rehearsal SoftHSM2 in {}: the directory exists but lacks \
             softhsm2.conf or rehearsal-token.toml; move it aside and run again to create a fresh \
             rehearsal token",
            data.softhsm_dir().display()
        )
    );
}
