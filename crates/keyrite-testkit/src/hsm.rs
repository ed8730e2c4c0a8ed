//! Fixtures for the `keyrite hsm` end-to-end tests: PINs handed over on inherited file
//! descriptors, the rehearsal token's stored PINs, and a root KEK and a record-signing
//! certificate put on the token through the core (the CLI has no command for either: they
//! come from the ceremonies).
#![expect(
    unsafe_code,
    reason = "test fixture: passes PINs to child processes on inherited descriptors"
)]

use keyrite_core::hsm::policy::PolicySet;
use keyrite_core::hsm::protection::ProtectionRule;
use keyrite_core::hsm::quirks::Quirks;
use keyrite_core::hsm::rehearsal::{RehearsalHsm, REHEARSAL_TOKEN_LABEL};
use keyrite_core::hsm::{rootkek, Pkcs11Module, TokenSelector, TokenSession, UserKind};
use keyrite_core::paths::DataDir;
use std::io::Write;
use std::os::unix::io::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs `keyrite --data-dir DATA ARGS` with each `(fd, text)` readable on descriptor `fd`
/// (a file opened by the test and `dup2`ed in the child, as a shell's `3<file` would), `stdin`
/// on standard input, and `env` set.
pub fn keyrite_fds(
    data: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    fds: &[(i32, &str)],
    stdin: &str,
) -> Output {
    let mut cmd = Command::new(crate::bin("keyrite"));
    cmd.arg("--data-dir").arg(data).args(args);
    cmd.env_remove("SOFTHSM2_CONF")
        .env_remove("KEYRITE_DATA_DIR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_with_fds(cmd, fds, stdin)
}

/// Runs `cmd` with each `(fd, text)` readable on descriptor `fd` and `stdin` on standard input
/// (`keyrite_fds` for a command that is not plain `keyrite`, e.g. one run through `nsenter`).
pub fn run_with_fds(mut cmd: Command, fds: &[(i32, &str)], stdin: &str) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files = Vec::new();
    for (i, (fd, text)) in fds.iter().enumerate() {
        let p = dir.path().join(format!("fd{i}"));
        std::fs::write(&p, text).expect("write fd file");
        files.push((*fd, std::fs::File::open(&p).expect("open fd file")));
    }
    assert!(files.len() <= 8, "at most 8 descriptors");
    let pairs: Vec<(i32, i32)> = files.iter().map(|(fd, f)| (f.as_raw_fd(), *fd)).collect();
    // SAFETY: dup2 is async-signal-safe; the source descriptors stay open until the child exits.
    unsafe {
        cmd.pre_exec(move || {
            // Move every source out of the way first: a source may already sit on a target
            // number (dup2 onto itself would keep close-on-exec).
            let mut high = [0i32; 8];
            for (i, (from, _)) in pairs.iter().enumerate().take(8) {
                high[i] = libc::fcntl(*from, libc::F_DUPFD_CLOEXEC, 100);
                if high[i] < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            for (i, (_, to)) in pairs.iter().enumerate().take(8) {
                if libc::dup2(high[i], *to) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run keyrite");
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(stdin.as_bytes());
    }
    let out = child.wait_with_output().expect("wait for keyrite");
    drop(files);
    out
}

/// The embedded rehearsal token's (SO PIN, user PIN) as stored in the data directory.
pub fn rehearsal_pins(data: &Path) -> (String, String) {
    let text = std::fs::read_to_string(data.join("softhsm/rehearsal-token.toml"))
        .expect("rehearsal PIN file");
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key} = \"")))
            .and_then(|v| v.strip_suffix('"'))
            .expect("PIN line")
            .to_string()
    };
    (get("so_pin"), get("user_pin"))
}

/// Draws and imports a root KEK labelled `label` on the rehearsal token of `data` (created if
/// needed), as the Shamir ceremony would. Returns its key check value.
pub fn import_root_kek(data: &Path, label: &str) -> String {
    let dd = DataDir::open_at(data.to_path_buf()).expect("data dir");
    let r = RehearsalHsm::ensure(&dd).expect("rehearsal HSM");
    let (so, user) = r.pins().expect("pins");
    let m = Pkcs11Module::load(r.module_path()).expect("module");
    let sel = TokenSelector::Label(REHEARSAL_TOKEN_LABEL.into());
    let set = PolicySet::builtin().expect("policies");
    let q = Quirks::builtin().expect("quirks");
    let policy = set.get("root-kek-import").expect("root KEK policy");
    let kcv = {
        let (s, _) = TokenSession::login(&m, &sel, UserKind::So, &so).expect("SO login");
        let kek = rootkek::draw_root_kek(&s).expect("draw KEK");
        let staged =
            rootkek::import_root_kek(&s, policy, label, kek, &q, ProtectionRule::Rehearsal)
                .expect("import KEK");
        drop(s);
        let (u, _) = TokenSession::login(&m, &sel, UserKind::User, &user).expect("user login");
        let ev = rootkek::seal_root_kek(&u, policy, staged, &q).expect("seal KEK");
        ev.kcv.expect("KEK check value").value
    };
    drop(m);
    kcv
}

/// Stores the certificate of the record-signing key `label` on the rehearsal token of `data`,
/// (CKA_ID `id_hex`) as the hsm-initialisation ceremony's journaled step does (`keyrite record
/// produce` only reads it). Returns the certificate (DER).
pub fn certify_record_signing(data: &Path, label: &str, id_hex: &str, site: &str) -> Vec<u8> {
    let dd = DataDir::open_at(data.to_path_buf()).expect("data dir");
    let r = RehearsalHsm::ensure(&dd).expect("rehearsal HSM");
    let (_, user) = r.pins().expect("pins");
    let m = Pkcs11Module::load(r.module_path()).expect("module");
    let sel = TokenSelector::Label(REHEARSAL_TOKEN_LABEL.into());
    let q = Quirks::builtin().expect("quirks");
    let (s, _) = TokenSession::login(&m, &sel, UserKind::User, &user).expect("user login");
    let id = hex::decode(id_hex).expect("CKA_ID in hex");
    let signer = keyrite_core::hsm::signer::HsmSigner::open(s, label, &q).expect("signer");
    let der =
        keyrite_core::x509::record_signing_certificate(&signer, site, std::time::SystemTime::now())
            .expect("certificate");
    drop(signer);
    let (s, _) = TokenSession::login(&m, &sel, UserKind::User, &user).expect("user login");
    keyrite_core::hsm::certificate::store_certificate(&s, label, &id, &der).expect("store");
    der
}

/// A SoftHSM2 token store of a test's own: `DIR/tokens` and `DIR/softhsm2.conf` (file object
/// store, errors only in the log). Returns the configuration's path, for `SOFTHSM2_CONF`.
pub fn softhsm_store(dir: &Path) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("tokens")).expect("token directory");
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            dir.join("tokens").display()
        ),
    )
    .expect("write softhsm2.conf");
    conf
}

/// The rehearsal token's serial, from `keyrite hsm info --json`.
pub fn rehearsal_serial(data: &Path) -> String {
    let out = crate::keyrite(data, &["hsm", "info", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("info JSON");
    v["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .find(|t| t["label"] == REHEARSAL_TOKEN_LABEL)
        .expect("rehearsal token")["serial"]
        .as_str()
        .expect("serial")
        .to_string()
}
