//! Keyrite's test kit (never published): the fixtures shared by the core's integration tests
//! and the end-to-end tests — where the built binaries are, temporary data directories,
//! running the CLI, the rehearsal HSM and other tokens, the virtual-YubiKey harness, a journal
//! written through the API for record checks, and driving the desktop app through tauri-driver.
//! docs/testing.md says which test binary a new test file joins.
#![allow(
    clippy::unwrap_used,
    reason = "test fixtures stop at the first unexpected error, with its location"
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub mod ceremony;
pub mod cups;
pub mod gui;
pub mod hsm;
pub mod journal;
pub mod kek_record;
pub mod opencryptoki;
pub mod piv;
pub mod pty;
pub mod quorum;
pub mod room;
pub mod x11;

/// The directory holding the workspace's built binaries (`target/debug`), found from the test
/// executable's own path (`target/debug/deps/<test>`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current test executable");
    let deps = exe.parent().expect("deps dir");
    deps.parent().expect("target profile dir").to_path_buf()
}

/// Path of a workspace binary; panics with the command to run when it has not been built.
pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.exists(),
        "{} is not built; run `cargo build --workspace` first (the README's test command does)",
        p.display()
    );
    p
}

/// A temporary data directory for one test.
pub struct TempData {
    /// Keeps the directory alive.
    pub tmp: tempfile::TempDir,
}

impl TempData {
    /// Creates an empty temporary directory; the data directory is `path()` (not yet created).
    pub fn new() -> Self {
        Self {
            tmp: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// The data directory path.
    pub fn path(&self) -> PathBuf {
        self.tmp.path().join("data")
    }

    /// A scratch path beside the data directory.
    pub fn scratch(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }
}

impl Default for TempData {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs `keyrite` with `--data-dir` set and a clean environment for SoftHSM.
pub fn keyrite(data: &Path, args: &[&str]) -> Output {
    keyrite_with_env(data, args, &[])
}

/// Runs `keyrite` with extra environment variables.
pub fn keyrite_with_env(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin("keyrite"));
    cmd.arg("--data-dir").arg(data).args(args);
    cmd.env_remove("SOFTHSM2_CONF")
        .env_remove("KEYRITE_DATA_DIR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null());
    cmd.output().expect("run keyrite")
}

/// stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A child process in its own process group, killed with its whole group on drop (tauri-driver
/// starts WebKitWebDriver, which would otherwise outlive it and hold its port).
pub struct GroupChild {
    child: Child,
}

impl GroupChild {
    /// Spawns `cmd` as the leader of a new process group.
    pub fn spawn(mut cmd: Command) -> std::io::Result<Self> {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
        Ok(Self {
            child: cmd.spawn()?,
        })
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for GroupChild {
    #[expect(
        unsafe_code,
        reason = "test fixture: libc calls on processes and descriptors the tests own"
    )]
    fn drop(&mut self) {
        let pgid = self.child.id() as i32;
        // SAFETY: kill(2) with a negative pid signals the process group we created.
        unsafe {
            libc::kill(-pgid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // SAFETY: as above.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// Waits until `addr` accepts TCP connections.
pub fn wait_for_port(addr: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(addr).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}
