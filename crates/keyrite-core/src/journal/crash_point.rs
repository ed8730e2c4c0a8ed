//! A crash point for Keyrite's own kill tests (feature `testkit` only; the shipped binaries
//! refuse to build in release with that feature).
//!
//! With `KEYRITE_TESTKIT_KILL_AT_JOURNAL_SIZE=N` in the environment, the process sends itself
//! SIGKILL the moment a commit makes the journal hold `N` entries: the entry is durable and
//! nothing after it ran. Sending the signal from inside is what makes "a kill after every
//! journal entry" exact; a test that watches the journal from outside kills a few
//! milliseconds late, somewhere in the next action.
#![expect(
    unsafe_code,
    reason = "kill(2) on this very process: the only way to stop it with SIGKILL from inside"
)]

use std::sync::OnceLock;

/// The environment variable naming the journal size at which to die.
pub const KILL_AT_JOURNAL_SIZE: &str = "KEYRITE_TESTKIT_KILL_AT_JOURNAL_SIZE";

/// Called after every commit with the journal's new size.
pub(super) fn after_commit(size: u64) {
    static AT: OnceLock<Option<u64>> = OnceLock::new();
    let at = AT.get_or_init(|| {
        std::env::var(KILL_AT_JOURNAL_SIZE)
            .ok()
            .and_then(|v| v.parse().ok())
    });
    if *at == Some(size) {
        // SAFETY: kill(2) with this process's own pid and a valid signal number.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}
