//! Test fixture: virtual YubiKeys through the real stack — the `yubikey` crate →
//! libpcsclite → pcscd → vpcd → `piv-sim` (a software PIV card).
//!
//! The fixture needs root (CI runs as root). Each test process gets its own pcscd, so test
//! binaries run at the same time never share one: pcscd starts in a private mount namespace
//! where /run/pcscd (its socket and pid file, fixed in pcsc-lite 1.9) is this process's own
//! directory, and in its own network namespace `keyrite-pcsc-<pid>` so vpcd's TCP listener
//! (0.0.0.0:35963/35964) neither faces a real network nor collides with another harness's.
//! The process and every program it starts (the `keyrite` CLI, the desktop app) reach it through
//! `PCSCLITE_CSOCK_NAME`. One `piv-sim` per inserted card runs in that network namespace.
//! Everything is stopped on drop, also when pcscd does not come up.
//!
//! Every card attests its keys under the harness's test attestation CA (`piv-sim make-ca`,
//! trusted with [`Harness::attestation_trust`]) unless inserted with other [`SimOptions`].

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use keyrite_core::custodian::attestation::AttestationTrust;
use keyrite_core::custodian::enrol::{enrol, EnrolmentInput, EnrolmentRecord, Role};
use keyrite_core::custodian::{list_cards, YubiKeyPiv};
use keyrite_core::quorum::{approve, Approval, ApprovalRequest};
use keyrite_core::secret::SecretBytes;

/// This process's network namespace for pcscd and the simulators.
fn netns() -> String {
    format!("keyrite-pcsc-{}", std::process::id())
}

/// This process's pcscd directory (bound over /run/pcscd in pcscd's mount namespace). Fixed per
/// process, because libpcsclite reads `PCSCLITE_CSOCK_NAME` once per process; the harnesses of
/// one process run one after the other (`serial(piv)`) and reuse it.
fn pcscd_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("keyrite-pcscd-{}", std::process::id()));
        // Set before this process's first PC/SC call; inherited by the programs it starts.
        std::env::set_var("PCSCLITE_CSOCK_NAME", d.join("pcscd.comm"));
        d
    })
    .clone()
}

/// The workspace root: the nearest ancestor of the test kit's crate holding `Cargo.lock`.
fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .find(|d| d.join("Cargo.lock").is_file())
        .unwrap_or(here)
        .to_path_buf()
}

/// Builds (once per run; cargo makes it a no-op when fresh) and locates the simulator.
fn piv_sim_bin() -> PathBuf {
    if let Ok(bin) = std::env::var("PIV_SIM_BIN") {
        return PathBuf::from(bin);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "-q", "-p", "piv-sim"])
        .current_dir(workspace_root())
        .status()
        .expect("run cargo build -p piv-sim");
    assert!(status.success(), "cargo build -p piv-sim failed");
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join("target"));
    target.join("debug/piv-sim")
}

fn pcscd_answers() -> bool {
    pcsc::Context::establish(pcsc::Scope::System)
        .and_then(|c| c.list_readers_owned())
        .map(|r| !r.is_empty())
        .unwrap_or(false)
}

/// How a simulated card is started.
#[derive(Debug, Clone, Default)]
pub struct SimOptions {
    /// Attestation CA directory; `None` = the harness's test CA.
    pub attestation_ca: Option<PathBuf>,
    /// The card cannot attest (no f9 certificate), like a non-YubiKey PIV card.
    pub no_attestation: bool,
    /// `--attestation-fault`: "serial" or "key".
    pub fault: Option<&'static str>,
    /// Return as soon as the simulator is started, before PC/SC sees the card (a card being
    /// pushed in while something polls the reader).
    pub no_wait: bool,
}

/// Creates a test attestation CA named `CN=<cn>` in `dir` with `piv-sim make-ca`.
pub fn make_ca(bin: &Path, dir: &Path, cn: &str) {
    let status = Command::new(bin)
        .arg("make-ca")
        .arg(dir)
        .args(["--name", cn])
        .status()
        .expect("run piv-sim make-ca");
    assert!(status.success(), "piv-sim make-ca {} failed", dir.display());
}

/// Name of the harness's test attestation root.
pub const TEST_ROOT: &str = "piv-sim test PIV attestation root";

/// A running virtual PIV card set (piv-sim processes behind the real pcscd) for one test.
pub struct Harness {
    pcscd: Option<Child>,
    in_netns: bool,
    sims: Vec<(u32, Child)>,
    bin: PathBuf,
    /// Scratch directory of the cards' state and identities.
    pub dir: tempfile::TempDir,
}

impl Harness {
    /// Starts an empty harness (no card inserted yet).
    pub fn start() -> Self {
        let bin = piv_sim_bin();
        let dir = tempfile::tempdir().unwrap();
        make_ca(&bin, &dir.path().join("attestation-ca"), TEST_ROOT);
        let run_dir = pcscd_dir();
        if pcscd_answers() {
            return Self {
                pcscd: None,
                in_netns: false,
                sims: vec![],
                bin,
                dir,
            };
        }
        let ns = netns();
        // `ip netns add` fails harmlessly when the namespace exists from an earlier harness.
        let _ = Command::new("ip")
            .args(["netns", "add", &ns])
            .stderr(Stdio::null())
            .status();
        let up = Command::new("ip")
            .args(["netns", "exec", &ns, "ip", "link", "set", "lo", "up"])
            .status()
            .expect("ip netns exec (needs root and iproute2)");
        assert!(up.success(), "could not bring up loopback in netns {ns}");
        // A socket or pid file left by a pcscd of this directory that was killed: pcscd would
        // take it for a running one.
        for f in ["pcscd.comm", "pcscd.pid"] {
            let _ = std::fs::remove_file(run_dir.join(f));
        }
        std::fs::create_dir_all(&run_dir).expect("create this process's pcscd directory");
        std::fs::create_dir_all("/run/pcscd").expect("create /run/pcscd (the mount point)");
        // unshare and sh exec: the child is pcscd itself, so SIGTERM reaches it.
        let pcscd = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg("mount --bind \"$0\" /run/pcscd && exec ip netns exec \"$1\" pcscd --foreground")
            .arg(&run_dir)
            .arg(&ns)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pcscd (needs unshare from util-linux)");
        // Owned by the harness before the wait: a pcscd that never answers is stopped on drop
        // (when the assertion below unwinds) instead of being left running for the next test.
        let harness = Self {
            pcscd: Some(pcscd),
            in_netns: true,
            sims: vec![],
            bin,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while !pcscd_answers() {
            assert!(Instant::now() < deadline, "pcscd did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
        harness
    }

    /// The file holding the identity named `name`.
    pub fn identity(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The harness's test attestation CA directory (`ca.pem` is its root).
    pub fn attestation_ca(&self) -> PathBuf {
        self.dir.path().join("attestation-ca")
    }

    /// The test root as PEM.
    pub fn attestation_root_pem(&self) -> String {
        std::fs::read_to_string(self.attestation_ca().join("ca.pem")).unwrap()
    }

    /// Trust in the harness's test root only (what `AttestationTrust::yubico()` is in ceremonies).
    pub fn attestation_trust(&self) -> AttestationTrust {
        AttestationTrust::from_pem(&self.attestation_root_pem()).unwrap()
    }

    /// Creates another test CA (`CN=<cn>`) under the harness directory and returns its directory.
    pub fn make_ca(&self, dir_name: &str, cn: &str) -> PathBuf {
        let dir = self.dir.path().join(dir_name);
        make_ca(&self.bin, &dir, cn);
        dir
    }

    /// "Inserts" the card with identity `name` into vpcd reader `reader` (0 or 1).
    pub fn insert(&mut self, name: &str, serial: u32, reader: u16) {
        self.insert_with(name, serial, reader, &SimOptions::default());
    }

    /// Like [`Harness::insert`], with the card's attestation behaviour chosen.
    pub fn insert_with(&mut self, name: &str, serial: u32, reader: u16, opts: &SimOptions) {
        let mut cmd = if self.in_netns {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", &netns()]).arg(&self.bin);
            c
        } else {
            Command::new(&self.bin)
        };
        cmd.arg("--state")
            .arg(self.identity(name))
            .args(["--serial", &serial.to_string()])
            .args(["--vpcd", &format!("127.0.0.1:{}", 35963 + reader)]);
        if !opts.no_attestation {
            let ca = opts
                .attestation_ca
                .clone()
                .unwrap_or_else(|| self.attestation_ca());
            cmd.arg("--attestation-ca").arg(ca);
            if let Some(fault) = opts.fault {
                cmd.args(["--attestation-fault", fault]);
            }
        }
        let child = cmd.stdout(Stdio::null()).spawn().expect("start piv-sim");
        self.sims.push((serial, child));
        if opts.no_wait {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if list_cards()
                .map(|c| c.iter().any(|c| c.serial == serial))
                .unwrap_or(false)
            {
                return;
            }
            assert!(Instant::now() < deadline, "card {serial} did not appear");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Pulls card `serial` out, at once: PC/SC may still see it for a moment (a card yanked
    /// mid-use).
    pub fn pull(&mut self, serial: u32) {
        if let Some(i) = self.sims.iter().position(|(s, _)| *s == serial) {
            let (_, mut child) = self.sims.remove(i);
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Pulls card `serial` out and waits until PC/SC no longer sees it.
    pub fn remove(&mut self, serial: u32) {
        self.pull(serial);
        let deadline = Instant::now() + Duration::from_secs(20);
        while list_cards()
            .map(|c| c.iter().any(|c| c.serial == serial))
            .unwrap_or(false)
        {
            assert!(Instant::now() < deadline, "card {serial} did not go away");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops pcscd (only if this fixture started it).
    #[expect(
        unsafe_code,
        reason = "test fixture: stops the virtual card processes it started"
    )]
    pub fn stop_pcscd(&mut self) -> bool {
        for (_, mut c) in self.sims.drain(..) {
            let _ = c.kill();
            let _ = c.wait();
        }
        match self.pcscd.take() {
            Some(mut p) => {
                // SIGTERM lets pcscd remove its socket.
                unsafe { libc::kill(p.id() as i32, libc::SIGTERM) };
                let _ = p.wait();
                true
            }
            None => false,
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if self.stop_pcscd() {
            // Nothing runs in them any more; the next harness of this process makes them again.
            let _ = Command::new("ip")
                .args(["netns", "delete", &netns()])
                .stderr(Stdio::null())
                .status();
            let _ = std::fs::remove_dir(pcscd_dir());
        }
    }
}

/// `s` as secret bytes (a PIN or passphrase of a test).
pub fn secret(s: &str) -> SecretBytes {
    SecretBytes::from_slice(s.as_bytes())
}

/// The PIV PIN the harness sets on every enrolled card.
pub const NEW_PIN: &str = "246810";

/// Inserts a card with `serial` and enrols it as custodian `id`.
pub fn enrol_card(h: &mut Harness, id: &str, serial: u32) -> EnrolmentRecord {
    h.insert(id, serial, 0);
    let mut yk = YubiKeyPiv::open_serial(serial).unwrap();
    assert_eq!(
        keyrite_core::custodian::PivToken::pin_retries(&mut yk).unwrap(),
        3
    );
    let (cur_pin, new_pin) = (secret("123456"), secret(NEW_PIN));
    let (cur_puk, new_puk) = (secret("12345678"), secret("87654321"));
    let e = enrol(
        &mut yk,
        &EnrolmentInput {
            custodian_id: id,
            name: &format!("Custodian {id}"),
            role: Role::Custodian,
            current_pin: &cur_pin,
            new_pin: &new_pin,
            current_puk: &cur_puk,
            new_puk: &new_puk,
            current_management_key: None,
            touch: false,
            attestation_trust: &h.attestation_trust(),
            require_attestation: true,
        },
    )
    .unwrap();
    assert!(e.defaults_found.pin && e.defaults_found.puk && e.defaults_found.management_key);
    drop(yk);
    h.remove(serial);
    e.record
}

/// Seconds since the epoch, for approval timestamps.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Signs several requests with one insertion of the custodian's card.
pub fn approve_many(
    h: &mut Harness,
    rec: &EnrolmentRecord,
    reqs: &[&ApprovalRequest],
) -> Vec<Approval> {
    h.insert(&rec.custodian_id, rec.yubikey_serial, 0);
    let mut yk = YubiKeyPiv::open_serial(rec.yubikey_serial).unwrap();
    let out = reqs
        .iter()
        .map(|r| approve(&mut yk, rec, &secret(NEW_PIN), r).unwrap())
        .collect();
    drop(yk);
    h.remove(rec.yubikey_serial);
    out
}
