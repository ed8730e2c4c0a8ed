//! The rehearsal token survives a process killed while SoftHSM2 rewrites its `token.object`
//! (every `C_Login` does): Keyrite keeps a known-good copy and puts it back.

use keyrite_core::hsm::keygen::generate;
use keyrite_core::hsm::objects::list_keys;
use keyrite_core::hsm::policy::PolicySet;
use keyrite_core::hsm::quirks::Quirks;
use keyrite_core::hsm::rehearsal::{RehearsalHsm, REHEARSAL_TOKEN_LABEL};
use keyrite_core::hsm::{HsmError, Pkcs11Module, TokenSelector, TokenSession, UserKind};
use keyrite_core::paths::DataDir;
use serial_test::serial;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Set in the child process of [`killed_during_login_loops`]: log in and out forever.
const LOOP_ENV: &str = "KEYRITE_TEST_LOGIN_LOOP_DATA";

fn sel() -> TokenSelector {
    TokenSelector::Label(REHEARSAL_TOKEN_LABEL.into())
}

fn token_object(data: &DataDir) -> PathBuf {
    std::fs::read_dir(data.softhsm_dir().join("tokens"))
        .unwrap()
        .map(|e| e.unwrap().path().join("token.object"))
        .find(|p| p.is_file())
        .expect("token.object")
}

/// Logs in as the user and lists the keys' labels.
fn labels(hsm: &RehearsalHsm) -> Result<Vec<String>, HsmError> {
    let m = Pkcs11Module::load(hsm.module_path())?;
    let (_, user) = hsm.pins()?;
    let (s, _) = TokenSession::login(&m, &sel(), UserKind::User, &user)?;
    let keys = list_keys(&s, &PolicySet::builtin()?, &Quirks::builtin()?)?;
    drop(s);
    Ok(keys.into_iter().map(|k| k.label).collect())
}

fn with_key() -> (tempfile::TempDir, DataDir, RehearsalHsm) {
    let tmp = tempfile::tempdir().unwrap();
    let data = DataDir::open_at(tmp.path().join("d")).unwrap();
    let hsm = RehearsalHsm::ensure(&data).unwrap();
    {
        let m = Pkcs11Module::load(hsm.module_path()).unwrap();
        let (_, user) = hsm.pins().unwrap();
        let (s, _) = TokenSession::login(&m, &sel(), UserKind::User, &user).unwrap();
        let p = PolicySet::builtin().unwrap();
        generate(
            &s,
            p.get("ec-p256-sign").unwrap(),
            "k1",
            &Quirks::builtin().unwrap(),
        )
        .unwrap();
    }
    (tmp, data, hsm)
}

#[test]
#[serial(softhsm)]
fn an_emptied_token_object_is_put_back() {
    let (_tmp, data, hsm) = with_key();
    assert!(hsm.repairs().is_empty());
    let file = token_object(&data);
    // What a kill between SoftHSM2's ftruncate and its write leaves.
    std::fs::write(&file, b"").unwrap();
    // SoftHSM2 alone no longer lists the token.
    {
        let m = Pkcs11Module::load(hsm.module_path()).unwrap();
        assert_eq!(
            m.find_token(&sel()).unwrap_err().to_string(),
            format!(
                "no token labelled \"keyrite-rehearsal\" in PKCS#11 module {}; present tokens: none",
                hsm.module_path().display()
            )
        );
    }
    let again = RehearsalHsm::ensure(&data).unwrap();
    let [repair] = again.repairs() else {
        panic!("one repair expected: {:?}", again.repairs())
    };
    let known_good = data.softhsm_dir().join("known-good").join(format!(
        "{}.token.object",
        file.parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
    ));
    assert_eq!(repair.file, file);
    assert_eq!(repair.restored_from, known_good);
    assert!(repair
        .damaged_copy
        .starts_with(data.softhsm_dir().join("damaged")));
    assert_eq!(std::fs::read(&repair.damaged_copy).unwrap(), b"");
    assert_eq!(
        repair.to_string(),
        format!(
            "the rehearsal token's store file {} was damaged (it is empty; SoftHSM2 was \
             interrupted while rewriting it) and was restored from {}, the copy taken when \
             Keyrite last opened the rehearsal HSM; the damaged file is kept as {}; a PIN change \
             made after that copy is lost (run hsm-initialisation again if one was)",
            file.display(),
            known_good.display(),
            repair.damaged_copy.display()
        )
    );
    // The token is back, with its PINs and its key.
    assert_eq!(labels(&again).unwrap(), ["k1"]);
    // And the next opening has nothing to repair.
    assert!(RehearsalHsm::ensure(&data).unwrap().repairs().is_empty());
}

#[test]
#[serial(softhsm)]
fn a_cut_token_object_without_a_copy_is_refused() {
    let (_tmp, data, hsm) = with_key();
    let file = token_object(&data);
    let whole = std::fs::read(&file).unwrap();
    std::fs::write(&file, &whole[..100]).unwrap();
    std::fs::remove_dir_all(data.softhsm_dir().join("known-good")).unwrap();
    let err = RehearsalHsm::ensure(&data).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "the rehearsal token's store file {} is unusable: it ends inside attribute \
             0x8000534a at byte 64 ({} bytes); SoftHSM2 was interrupted while rewriting it and \
             there is no known-good copy at {}; move {} aside and run again to create a fresh \
             rehearsal token",
            file.display(),
            100,
            data.softhsm_dir()
                .join("known-good")
                .join(format!(
                    "{}.token.object",
                    file.parent()
                        .unwrap()
                        .file_name()
                        .unwrap()
                        .to_string_lossy()
                ))
                .display(),
            data.softhsm_dir().display()
        )
    );
    // Nothing was touched.
    assert_eq!(std::fs::read(&file).unwrap(), &whole[..100]);
    drop(hsm);
}

/// Child mode: log in and out on the rehearsal token of the data directory in `LOOP_ENV`
/// until killed.
fn login_loop(data: &Path) -> ! {
    let data = DataDir::open_at(data.to_path_buf()).unwrap();
    let hsm = RehearsalHsm::ensure(&data).unwrap();
    let m = Pkcs11Module::load(hsm.module_path()).unwrap();
    let (_, user) = hsm.pins().unwrap();
    // Tell the parent the loop runs.
    println!("looping");
    loop {
        let (mut s, _) = TokenSession::login(&m, &sel(), UserKind::User, &user).unwrap();
        s.logout();
    }
}

/// SIGKILLs a process that logs in and out in a loop (this test binary re-run in child mode),
/// again and again until five kills have damaged `token.object`; after each kill the token must
/// be usable once Keyrite opened the rehearsal HSM, with a repair reported exactly when the
/// file was damaged.
#[test]
#[serial(softhsm)]
fn killed_during_login_loops() {
    if let Some(dir) = std::env::var_os(LOOP_ENV) {
        login_loop(Path::new(&dir));
    }
    let (_tmp, data, _) = with_key();
    let file = token_object(&data);
    let whole_len = std::fs::read(&file).unwrap().len();
    let mut damaged = 0;
    let mut kills = 0;
    while kills < 300 && damaged < 5 {
        kills += 1;
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "killed_during_login_loops", "--nocapture"])
            .env(LOOP_ENV, data.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Wait until it loops, then let it run a little.
        let mut out = child.stdout.take().unwrap();
        let mut buf = [0u8; 64];
        let mut seen = Vec::new();
        while !String::from_utf8_lossy(&seen).contains("looping") {
            let n = std::io::Read::read(&mut out, &mut buf).unwrap();
            assert!(n > 0, "the login loop did not start");
            seen.extend_from_slice(&buf[..n]);
        }
        std::thread::sleep(Duration::from_micros(200 + (kills as u64 * 397) % 3000));
        child.kill().unwrap();
        child.wait().unwrap();
        let was_damaged = std::fs::read(&file).unwrap().len() != whole_len;
        let hsm = RehearsalHsm::ensure(&data).unwrap();
        assert_eq!(
            hsm.repairs().len(),
            usize::from(was_damaged),
            "kill {kills}"
        );
        damaged += usize::from(was_damaged);
        assert_eq!(labels(&hsm).unwrap(), ["k1"], "kill {kills}");
    }
    // A kill lands inside SoftHSM2's rewrite often (a third to a half of them here): the
    // repair path was taken, not only the happy one.
    assert!(damaged > 0, "{kills} kills never damaged token.object");
}
