//! Opt-in phase timings for the benchmarks (`tests/bench/ceremony.sh`). With
//! `KEYRITE_TIMINGS=FILE` in the environment, every timed phase appends one line
//! `phase cpu_ns wall_ns` to FILE when it ends. CPU time is the whole process's (so a phase's
//! worker threads count, e.g. Argon2id's lanes on rayon's pool), *exclusive* of the timed
//! phases nested inside it, so the lines of one run add up to at most the process's CPU time.
//! Without the variable a phase costs one cached environment lookup; nothing is ever measured
//! or written, and no result depends on it.
#![expect(
    unsafe_code,
    reason = "clock_gettime(2) of the process CPU clock: std has no CPU clock"
)]

use std::cell::RefCell;
use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

/// The environment variable naming the file the timings are appended to.
pub const TIMINGS_FILE: &str = "KEYRITE_TIMINGS";

fn target() -> Option<&'static PathBuf> {
    static FILE: OnceLock<Option<PathBuf>> = OnceLock::new();
    FILE.get_or_init(|| std::env::var_os(TIMINGS_FILE).map(PathBuf::from))
        .as_ref()
}

thread_local! {
    /// For each phase open on this thread, the CPU time (ns) of the phases nested in it.
    static OPEN: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

fn process_cpu_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes only the timespec it is given, which lives on this stack.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    if rc != 0 {
        return 0;
    }
    (t.tv_sec as u64) * 1_000_000_000 + t.tv_nsec as u64
}

/// Runs `f` as the phase `name` (a word: no spaces), timed when [`TIMINGS_FILE`] is set.
pub fn phase<T>(name: &'static str, f: impl FnOnce() -> T) -> T {
    let Some(file) = target() else {
        return f();
    };
    OPEN.with(|o| o.borrow_mut().push(0));
    let (cpu0, wall0) = (process_cpu_ns(), Instant::now());
    let out = f();
    let cpu = process_cpu_ns().saturating_sub(cpu0);
    let wall = wall0.elapsed().as_nanos();
    let nested = OPEN.with(|o| {
        let mut o = o.borrow_mut();
        let nested = o.pop().unwrap_or(0);
        if let Some(parent) = o.last_mut() {
            *parent += cpu;
        }
        nested
    });
    // A benchmark aid: a failed write loses a line, never the phase's result.
    if let Ok(mut w) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
    {
        let _ = writeln!(w, "{name} {} {wall}", cpu.saturating_sub(nested));
    }
    out
}
