//! The rehearsal token survives a process killed while SoftHSM2 rewrites its `token.object`
//! (every `C_Login` does): Keyrite keeps a known-good copy and puts it back.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

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
use std::time::{Duration, Instant};

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
    // Tell the parent the loop runs, then mark every finished login, so the parent can time
    // its kill by this process's own pace rather than by the wall clock of a busy machine.
    println!("looping");
    let mut out = std::io::stdout();
    loop {
        let (mut s, _) = TokenSession::login(&m, &sel(), UserKind::User, &user).unwrap();
        s.logout();
        std::io::Write::write_all(&mut out, b".").unwrap();
        std::io::Write::flush(&mut out).unwrap();
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
            .args([
                "--exact",
                "hsm_rehearsal_store::killed_during_login_loops",
                "--nocapture",
            ])
            .env(LOOP_ENV, data.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Wait until it has finished a few logins, then kill it at a different point of its
        // next login each time: a fraction of the pace it showed, which follows the machine's
        // load (a fixed delay on a busy CI machine landed before the first login 300 times).
        let mut out = child.stdout.take().unwrap();
        let mut buf = [0u8; 64];
        let mut seen = Vec::new();
        let mut started = None;
        let finished = |seen: &[u8]| {
            let text = String::from_utf8_lossy(seen);
            text.split_once("looping")
                .map_or(0, |(_, after)| after.matches('.').count())
        };
        while finished(&seen) < 3 {
            let n = std::io::Read::read(&mut out, &mut buf).unwrap();
            assert!(n > 0, "the login loop did not start");
            seen.extend_from_slice(&buf[..n]);
            if started.is_none() && finished(&seen) >= 1 {
                started = Some(Instant::now());
            }
        }
        let pace = started.map_or(Duration::ZERO, |t| t.elapsed()) / 2;
        // The golden-ratio sequence spreads the kills evenly over one login.
        let fraction = (f64::from(kills) * 0.618_034).fract();
        std::thread::sleep(pace.mul_f64(fraction));
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
    eprintln!("{kills} kills, {damaged} of them inside a rewrite of token.object");
    assert!(damaged > 0, "{kills} kills never damaged token.object");
}

/// The first records of a SoftHSM2 object file, up to (not including) attribute type `stop`:
/// what `C_CopyObject`, which writes the new file once per attribute in type order, leaves
/// when its process is killed.
fn prefix_before(bytes: &[u8], stop: u64) -> Vec<u8> {
    let u64_at = |i: usize| u64::from_be_bytes(bytes[i..i + 8].try_into().unwrap());
    let mut i = 8;
    while i < bytes.len() && u64_at(i) < stop {
        let kind = u64_at(i + 8);
        i += 16;
        i += match kind {
            1 => 1,
            2 => 8,
            3 | 4 => 8 + u64_at(i) as usize,
            5 => 8 + 8 * u64_at(i) as usize,
            k => panic!("kind {k}"),
        };
    }
    bytes[..i].to_vec()
}

/// A process killed while SoftHSM2 copies a key (the root KEK's import copies it into a
/// private object) leaves an object with a class but no label or id, which SoftHSM2 lists and
/// the journal cannot name; one killed right after creating an object's file leaves it empty.
/// Opening the rehearsal HSM moves both out of the token before SoftHSM2 reads it.
#[test]
#[serial(softhsm)]
fn half_made_key_objects_are_moved_out_of_the_token() {
    let (_tmp, data, hsm) = with_key();
    let token_dir = token_object(&data).parent().unwrap().to_path_buf();
    let whole: Vec<PathBuf> = std::fs::read_dir(&token_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "object") && !p.ends_with("token.object"))
        .collect();
    let private_key = whole
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        // First record: CKA_CLASS (type 0, kind 2) = CKO_PRIVATE_KEY (3).
        .find(|b| b.len() >= 32 && b[8..16] == [0; 8] && b[24..32] == 3u64.to_be_bytes())
        .expect("the private key's object file");
    let copied = token_dir.join("0badc0de-0000-4000-8000-000000000001.object");
    let empty = token_dir.join("0badc0de-0000-4000-8000-000000000002.object");
    std::fs::write(&copied, prefix_before(&private_key, 3)).unwrap();
    std::fs::write(&empty, b"").unwrap();
    let again = RehearsalHsm::ensure(&data).unwrap();
    assert!(again.repairs().is_empty(), "{:?}", again.repairs());
    let [first, second] = again.set_aside() else {
        panic!("two half-made objects expected: {:?}", again.set_aside())
    };
    assert_eq!((&first.file, &second.file), (&copied, &empty));
    assert_eq!(
        first.problem,
        "an object of class 3 without CKA_LABEL, which SoftHSM2 writes for every such object"
    );
    assert_eq!(second.problem, "it is empty");
    for found in [first, second] {
        assert!(found
            .moved_to
            .starts_with(data.softhsm_dir().join("damaged")));
        assert!(!found.file.exists());
    }
    assert_eq!(
        std::fs::read(&first.moved_to).unwrap(),
        prefix_before(&private_key, 3)
    );
    assert_eq!(
        second.to_string(),
        format!(
            "the rehearsal token held a half-made key object {} (it is empty; SoftHSM2 was \
             interrupted while creating it); it was never a usable key and was moved out of the \
             token to {}",
            empty.display(),
            second.moved_to.display()
        )
    );
    assert_eq!(labels(&again).unwrap(), ["k1"]);
    // Whole objects are never touched, and the next opening finds nothing.
    assert!(RehearsalHsm::ensure(&data).unwrap().set_aside().is_empty());
    for p in &whole {
        assert!(p.exists(), "{} was moved", p.display());
    }
    // Why the guard runs before SoftHSM2 is loaded: SoftHSM2 itself lists the cut copy as a
    // key without label or id, and completes its file with default attributes on the way.
    std::fs::write(&copied, prefix_before(&private_key, 3)).unwrap();
    assert_eq!(labels(&hsm).unwrap(), ["", "k1"]);
    assert!(std::fs::read(&copied).unwrap().len() > prefix_before(&private_key, 3).len());
}

/// A data directory copied elsewhere (or moved) uses its own token store from then on: a key
/// generated in the copy is not in the original, and the original is unchanged.
#[test]
#[serial(softhsm)]
fn a_copied_data_directory_uses_its_own_tokens() {
    let (tmp, data, _hsm) = with_key();
    let copy_path = tmp.path().join("copy");
    let o = Command::new("cp")
        .arg("-a")
        .arg(data.path())
        .arg(&copy_path)
        .output()
        .unwrap();
    assert!(o.status.success());
    let copy = DataDir::open_at(copy_path.clone()).unwrap();
    let in_copy = RehearsalHsm::ensure(&copy).unwrap();
    let conf = std::fs::read_to_string(copy.softhsm_dir().join("softhsm2.conf")).unwrap();
    let own = copy_path.canonicalize().unwrap().join("softhsm/tokens");
    assert!(
        conf.contains(&format!("directories.tokendir = {}\n", own.display())),
        "{conf}"
    );
    {
        let m = Pkcs11Module::load(in_copy.module_path()).unwrap();
        let (_, user) = in_copy.pins().unwrap();
        let (s, _) = TokenSession::login(&m, &sel(), UserKind::User, &user).unwrap();
        let p = PolicySet::builtin().unwrap();
        generate(
            &s,
            p.get("ec-p256-sign").unwrap(),
            "k2",
            &Quirks::builtin().unwrap(),
        )
        .unwrap();
    }
    assert_eq!(labels(&in_copy).unwrap(), ["k1", "k2"]);
    let original = RehearsalHsm::ensure(&data).unwrap();
    assert_eq!(labels(&original).unwrap(), ["k1"]);
}
