//! The clock the core reads: journal timestamps, approval-request expiry and checks,
//! certificate validity, the clock-check reading, file stamps.
//!
//! Every read goes through [`now`]. By default it is the system clock ([`SystemClock`]).
//! Tests (this crate's, and builds with the `testkit` feature) can install another
//! [`Clock`] for the current thread ([`install`]): a [`FixedClock`] that stands still or
//! steps on each read, so expiry, time ordering and timestamps can be driven. Production
//! builds cannot replace the clock.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Something that tells the time.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that starts at a given instant and moves on by `step` after every read
/// (`Duration::ZERO`: it stands still).
#[derive(Debug)]
pub struct FixedClock {
    next: Mutex<SystemTime>,
    step: Duration,
}

impl FixedClock {
    /// Stands still at `at`.
    pub fn at(at: SystemTime) -> Self {
        Self::stepping(at, Duration::ZERO)
    }

    /// Starts at `at`, then each read is `step` later than the one before.
    pub fn stepping(at: SystemTime, step: Duration) -> Self {
        FixedClock {
            next: Mutex::new(at),
            step,
        }
    }

    /// Stands still at `secs` seconds after the Unix epoch.
    pub fn at_unix(secs: u64) -> Self {
        Self::at(UNIX_EPOCH + Duration::from_secs(secs))
    }

    /// Moves the clock on by `by` (the next read is that much later).
    pub fn advance(&self, by: Duration) {
        let mut t = self.next.lock().unwrap_or_else(|p| p.into_inner());
        *t += by;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        let mut t = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let now = *t;
        *t += self.step;
        now
    }
}

thread_local! {
    /// The clock installed for this thread, if any (tests only).
    static INSTALLED: RefCell<Option<Arc<dyn Clock>>> = const { RefCell::new(None) };
}

/// The current time: the installed clock's, else the system clock's.
pub fn now() -> SystemTime {
    INSTALLED
        .with(|c| c.borrow().as_ref().map(|c| c.now()))
        .unwrap_or_else(|| SystemClock.now())
}

/// Seconds since the Unix epoch ([`now`]); 0 for a clock set before 1970.
pub fn unix_seconds() -> u64 {
    now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Puts back the clock that was installed before, when dropped.
#[must_use = "the clock is uninstalled when the guard is dropped"]
pub struct ClockGuard {
    previous: Option<Arc<dyn Clock>>,
}

impl Drop for ClockGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        INSTALLED.with(|c| *c.borrow_mut() = previous);
    }
}

/// Installs `clock` for the current thread until the guard is dropped (tests only: the
/// `testkit` feature or this crate's own tests).
#[cfg(any(test, feature = "testkit"))]
pub fn install(clock: Arc<dyn Clock>) -> ClockGuard {
    let previous = INSTALLED.with(|c| c.borrow_mut().replace(clock));
    ClockGuard { previous }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_is_the_default() {
        let before = SystemTime::now();
        let t = now();
        assert!(t >= before && t <= SystemTime::now());
    }

    #[test]
    fn an_installed_clock_is_read_until_its_guard_drops() {
        let fixed = Arc::new(FixedClock::at_unix(1_700_000_000));
        {
            let _g = install(fixed.clone());
            assert_eq!(unix_seconds(), 1_700_000_000);
            assert_eq!(unix_seconds(), 1_700_000_000);
            fixed.advance(Duration::from_secs(3601));
            assert_eq!(unix_seconds(), 1_700_003_601);
        }
        assert!(unix_seconds() > 1_700_003_601 + 86_400);
    }

    #[test]
    fn a_stepping_clock_moves_on_at_every_read() {
        let c = FixedClock::stepping(UNIX_EPOCH + Duration::from_secs(10), Duration::from_secs(2));
        assert_eq!(c.now(), UNIX_EPOCH + Duration::from_secs(10));
        assert_eq!(c.now(), UNIX_EPOCH + Duration::from_secs(12));
    }

    #[test]
    fn guards_nest_and_restore_the_previous_clock() {
        let _outer = install(Arc::new(FixedClock::at_unix(100)));
        {
            let _inner = install(Arc::new(FixedClock::at_unix(200)));
            assert_eq!(unix_seconds(), 200);
        }
        assert_eq!(unix_seconds(), 100);
    }

    #[test]
    fn journal_timestamps_come_from_the_clock() {
        let _g = install(Arc::new(FixedClock::at(
            UNIX_EPOCH + Duration::from_millis(1_767_225_600_123),
        )));
        assert_eq!(crate::journal::time::now().0, 1_767_225_600_123);
    }

    #[test]
    fn the_clock_check_reads_the_clock() {
        let _g = install(Arc::new(FixedClock::at_unix(1_772_330_400)));
        let r = crate::preflight::ClockReading::now();
        assert_eq!(r.unix_seconds, 1_772_330_400);
        assert_eq!(r.utc, "2026-03-01T02:00:00Z");
    }
}
