//! openCryptoki's soft token (Debian 12's `opencryptoki` package, 3.8.1) for one test, in a
//! private mount and IPC namespace.
//!
//! The package takes no configuration for where it keeps state: `pkcsslotd`, the library and
//! the soft token have `/etc/opencryptoki/opencryptoki.conf`, `/var/lib/opencryptoki`,
//! `/var/run/pkcsslotd.socket` and `/var/lock/opencryptoki` compiled in, and share System V
//! shared memory with every client; the soft token also mirrors its objects in POSIX shared
//! memory (`/dev/shm/var.lib.opencryptoki.swtok`). So the fixture starts `pkcsslotd` under
//! `unshare -m -i` with a temporary directory bind-mounted over `/etc/opencryptoki`,
//! `/var/lib/opencryptoki` and `/run`, a fresh tmpfs on `/dev/shm`, and runs every client (`keyrite`, `pkcsconf`) inside that namespace with
//! `nsenter`: each test gets a fresh token, tests run in parallel, and the machine's own
//! openCryptoki state is never read or written. This needs root (CAP_SYS_ADMIN), as CI has.
#![expect(
    unsafe_code,
    reason = "test fixture: signals the pkcsslotd daemon it started"
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The PKCS#11 library of Debian's `libopencryptoki0` (`/usr/lib/<triplet>/pkcs11/`).
pub fn module() -> PathBuf {
    let p = PathBuf::from("/usr/lib/x86_64-linux-gnu/pkcs11/libopencryptoki.so");
    assert!(
        p.exists(),
        "openCryptoki is not installed at {}: run .ci/setup.sh (Debian package opencryptoki)",
        p.display()
    );
    p
}

/// The soft token's factory SO PIN (openCryptoki's documentation; `pkcsconf -I` asks for it).
pub const FACTORY_SO_PIN: &str = "87654321";

/// A running `pkcsslotd` with one slot (0, the soft token) and its own state.
pub struct OpenCryptoki {
    dir: tempfile::TempDir,
    holder: Child,
}

impl OpenCryptoki {
    /// Starts the daemon in a new mount and IPC namespace; waits for its socket.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for d in ["etc", "lib/swtok/TOK_OBJ", "run/lock/opencryptoki/swtok"] {
            std::fs::create_dir_all(root.join(d)).expect("state dir");
        }
        // One slot: the soft token, as slot 0 (the package's file also names TPM, ICA, CCA
        // and EP11 slots that have no hardware here).
        std::fs::write(
            root.join("etc/opencryptoki.conf"),
            "version opencryptoki-3.1\n\nslot 0\n{\nstdll = libpkcs11_sw.so\n}\n",
        )
        .expect("opencryptoki.conf");
        // The holder stays in the namespace (nsenter's target); pkcsslotd daemonises itself.
        let script = "set -e\n\
             mount --bind \"$1/etc\" /etc/opencryptoki\n\
             mount --bind \"$1/lib\" /var/lib/opencryptoki\n\
             mount --bind \"$1/run\" /run\n\
             mount -t tmpfs -o mode=1777 keyrite-ock-shm /dev/shm\n\
             /usr/sbin/pkcsslotd\n\
             exec sleep 86400\n";
        let holder = Command::new("unshare")
            .args([
                "-m",
                "-i",
                "--propagation",
                "private",
                "sh",
                "-c",
                script,
                "sh",
            ])
            .arg(root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("unshare (util-linux) must be installed");
        let mut ock = Self { dir, holder };
        let socket = ock.dir.path().join("run/pkcsslotd.socket");
        let deadline = Instant::now() + Duration::from_secs(15);
        while !socket.exists() {
            if let Ok(Some(status)) = ock.holder.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = ock.holder.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                panic!(
                    "pkcsslotd could not start in a private namespace ({status}): {err}\
                     (the fixture needs root for unshare -m and mount --bind)"
                );
            }
            assert!(
                Instant::now() < deadline,
                "pkcsslotd did not create its socket within 15 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        ock
    }

    /// `program` run inside the daemon's namespace (`nsenter -t HOLDER -m -i -- program`).
    pub fn command(&self, program: &Path) -> Command {
        let mut c = Command::new("nsenter");
        c.arg("-t")
            .arg(self.holder.id().to_string())
            .args(["-m", "-i", "--"])
            .arg(program);
        c
    }

    /// `keyrite --data-dir DATA ARGS` inside the namespace, `(fd, text)` readable on `fd`.
    pub fn keyrite(&self, data: &Path, args: &[&str], fds: &[(i32, &str)]) -> Output {
        let mut cmd = self.command(&crate::bin("keyrite"));
        cmd.arg("--data-dir").arg(data).args(args);
        cmd.env_remove("SOFTHSM2_CONF")
            .env_remove("KEYRITE_DATA_DIR");
        crate::hsm::run_with_fds(cmd, fds, "")
    }

    /// `pkcsconf ARGS` inside the namespace.
    pub fn pkcsconf(&self, args: &[&str]) -> Output {
        self.command(Path::new("/usr/sbin/pkcsconf"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("pkcsconf")
    }

    /// The soft token's state directory (the namespace's `/var/lib/opencryptoki/swtok`).
    pub fn token_dir(&self) -> PathBuf {
        self.dir.path().join("lib/swtok")
    }
}

impl Drop for OpenCryptoki {
    fn drop(&mut self) {
        let pid_file = self.dir.path().join("run/pkcsslotd.pid");
        if let Some(pid) = std::fs::read_to_string(pid_file)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
        {
            // SAFETY: kill(2) on the daemon this fixture started (its pid file is private).
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}
