//! `piv-sim`: one software PIV card, presented to the real pcscd through vpcd.
//!
//! Dev-only (never shipped, never a dependency of a shipped crate). Each card's identity lives
//! in a state directory — littlefs images for the applet's storage plus a `serial` file — so
//! test custodians can "insert" their YubiKeys one after another: stop one simulator, start
//! another with a different `--state`.
//!
//! ```text
//! piv-sim --state DIR [--serial N] [--vpcd HOST:PORT]
//!         [--attestation-ca CA_DIR [--attestation-fault serial|key]]
//! piv-sim make-ca CA_DIR [--name CN]
//! ```
//! Prints `piv-sim ready serial=N` once connected to vpcd and runs until vpcd closes the
//! connection or the process is killed. With `--attestation-ca` the card attests its keys like
//! a YubiKey, under the test CA that `make-ca` created (`CA_DIR/ca.pem` is the root to trust);
//! see [`attest`].

mod attest;
mod card;
mod dispatch;
mod platform;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use dispatch::{BackendIds, SimDispatch};
use piv_authenticator::{Authenticator, Options};
use trussed::backend::BackendId;
use trussed::pipe::TrussedChannel;
use trussed::virt::{Runner, StorageConfig, StoreConfig};

/// Backends the applet's client may use, tried in this order.
static BACKENDS: [BackendId<BackendIds>; 3] = [
    BackendId::Custom(BackendIds::Auth),
    BackendId::Custom(BackendIds::Staging),
    BackendId::Core,
];

struct Args {
    state: PathBuf,
    serial: Option<u32>,
    vpcd: String,
    attestation_ca: Option<PathBuf>,
    attestation_fault: Option<attest::Fault>,
}

/// What to do.
enum Task {
    /// Run a card.
    Card(Args),
    /// Create a test attestation CA.
    MakeCa { dir: PathBuf, name: String },
}

fn parse_make_ca(mut args: impl Iterator<Item = String>) -> Result<Task, String> {
    let dir = args.next().ok_or("make-ca needs a directory")?;
    let mut name = "piv-sim test PIV attestation root".to_string();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--name" => name = args.next().ok_or("--name needs a value")?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Task::MakeCa {
        dir: PathBuf::from(dir),
        name,
    })
}

fn parse_args() -> Result<Task, String> {
    let mut state = None;
    let mut serial = None;
    let mut vpcd = format!("127.0.0.1:{}", vpicc::DEFAULT_PORT);
    let mut attestation_ca = None;
    let mut attestation_fault = None;
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("make-ca") {
        args.next();
        return parse_make_ca(args);
    }
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--attestation-ca" => attestation_ca = Some(PathBuf::from(value("--attestation-ca")?)),
            "--attestation-fault" => {
                attestation_fault = Some(value("--attestation-fault")?.parse()?)
            }
            "--state" => state = Some(PathBuf::from(value("--state")?)),
            "--serial" => {
                let v = value("--serial")?;
                serial = Some(
                    v.parse()
                        .map_err(|_| format!("--serial {v}: not a number"))?,
                );
            }
            "--vpcd" => vpcd = value("--vpcd")?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if attestation_fault.is_some() && attestation_ca.is_none() {
        return Err("--attestation-fault needs --attestation-ca".into());
    }
    Ok(Task::Card(Args {
        state: state.ok_or("--state DIR is required")?,
        serial,
        vpcd,
        attestation_ca,
        attestation_fault,
    }))
}

/// The identity's serial: fixed at creation, read back on every later start.
fn identity_serial(dir: &Path, wanted: Option<u32>) -> Result<u32, String> {
    let file = dir.join("serial");
    match std::fs::read_to_string(&file) {
        Ok(text) => {
            let serial: u32 = text
                .trim()
                .parse()
                .map_err(|_| format!("{}: not a serial number", file.display()))?;
            if let Some(w) = wanted.filter(|w| *w != serial) {
                return Err(format!(
                    "{} already holds card serial {serial}, not {w}",
                    dir.display()
                ));
            }
            Ok(serial)
        }
        Err(_) => {
            let serial = match wanted {
                Some(s) => s,
                None => {
                    use rand_core::RngCore;
                    10_000_000 + rand_core::OsRng.next_u32() % 89_999_999
                }
            };
            std::fs::write(&file, format!("{serial}\n"))
                .map_err(|e| format!("{}: {e}", file.display()))?;
            Ok(serial)
        }
    }
}

fn connect(addr: &str) -> Result<vpicc::Connection, String> {
    // pcscd may still be loading the vpcd driver when the simulator starts.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match vpicc::connect_socket(addr) {
            Ok(c) => return Ok(c),
            Err(e) if Instant::now() >= deadline => {
                return Err(format!("cannot reach vpcd at {addr}: {e}"))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    std::fs::create_dir_all(&args.state).map_err(|e| format!("{}: {e}", args.state.display()))?;
    let serial = identity_serial(&args.state, args.serial)?;
    let attestation = match &args.attestation_ca {
        Some(dir) => {
            let ca = attest::TestCa::load(dir)?;
            Some(attest::CardAttestation::load_or_create(
                &args.state,
                &ca,
                serial,
                args.attestation_fault,
            )?)
        }
        None => None,
    };
    let mut store = StoreConfig {
        internal: StorageConfig::filesystem(args.state.join("internal.lfs")),
        external: StorageConfig::filesystem(args.state.join("external.lfs")),
        volatile: StorageConfig::ram(),
    };
    let connection = connect(&args.vpcd)?;
    store.with_store(|store| {
        let platform = platform::SimPlatform::new(store);
        let channel = TrussedChannel::new();
        let (requester, responder) = channel.split().ok_or("trussed channel already split")?;
        let mut runner = Runner::new();
        runner.add_endpoint(responder, "piv", &BACKENDS);
        let client = trussed::virt::Client::<SimDispatch>::new(requester, runner.syscall(), None);
        runner.run(platform, SimDispatch::new(), move || {
            let app = Authenticator::new(client, Options::default());
            let mut card = card::SimCard::new(app, serial, attestation);
            println!("piv-sim ready serial={serial}");
            let _ = std::io::stdout().flush();
            // Returns when vpcd (pcscd) closes the connection.
            match connection.run(&mut card) {
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(()),
                Err(e) => Err(format!("vpcd connection: {e}")),
                Ok(()) => Ok(()),
            }
        })
    })
}

fn main() -> ExitCode {
    let result = parse_args().and_then(|task| match task {
        Task::Card(args) => run(args),
        Task::MakeCa { dir, name } => attest::TestCa::create(&dir, &name),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("piv-sim: {e}");
            ExitCode::FAILURE
        }
    }
}
