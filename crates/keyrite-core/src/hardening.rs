//! Process hardening applied at the start of both binaries.
//!
//! Core dumps would write secrets (the root KEK while it exists, shares being shown) to disk,
//! and a dumpable process can be read by another process of the same user through ptrace.
//! We therefore set `RLIMIT_CORE` to zero and clear the dumpable flag. Memory locking is done
//! per secret buffer (see [`crate::secret`]), not with `mlockall(MCL_FUTURE)`, which makes
//! ordinary allocations fail once `RLIMIT_MEMLOCK` is reached.
#![expect(
    unsafe_code,
    reason = "process hardening is a few libc calls (setrlimit, prctl); each block says why it is sound"
)]

use serde::Serialize;

/// What hardening could be applied to this process.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ts_rs::TS)]
pub struct HardeningReport {
    /// `RLIMIT_CORE` is now zero.
    pub core_dumps_disabled: bool,
    /// `PR_SET_DUMPABLE` is now zero (no core dump, no same-user ptrace).
    pub not_dumpable: bool,
    /// The soft `RLIMIT_MEMLOCK` in bytes (how much secret memory can be locked), if known.
    pub memlock_limit_bytes: Option<u64>,
}

/// Disables core dumps and ptrace-ability of the current process.
///
/// Failures are reported in the returned value and logged; they are not fatal because the
/// process can still run correctly, but the caller should surface them to the operator.
pub fn harden_process() -> HardeningReport {
    let zero = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit with a valid pointer to an initialised rlimit.
    let core_dumps_disabled = unsafe { libc::setrlimit(libc::RLIMIT_CORE, &zero) } == 0;
    // SAFETY: prctl(PR_SET_DUMPABLE, 0) takes no pointers.
    let not_dumpable = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } == 0;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the valid rlimit we pass.
    let memlock_limit_bytes = if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) } == 0 {
        Some(lim.rlim_cur)
    } else {
        None
    };
    if !core_dumps_disabled {
        tracing::warn!("could not set RLIMIT_CORE to 0: core dumps may be written");
    }
    if !not_dumpable {
        tracing::warn!("could not clear PR_SET_DUMPABLE: the process may be traced or dumped");
    }
    HardeningReport {
        core_dumps_disabled,
        not_dumpable,
        memlock_limit_bytes,
    }
}

/// Reads the current dumpable flag (for tests and the status screen).
pub fn is_dumpable() -> bool {
    // SAFETY: prctl(PR_GET_DUMPABLE) takes no pointers.
    unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) == 1 }
}

/// Reads the current soft core-dump limit in bytes.
pub fn core_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the valid rlimit we pass.
    (unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut lim) } == 0).then_some(lim.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hardening_disables_core_dumps_and_dumpable() {
        let report = harden_process();
        assert!(report.core_dumps_disabled);
        assert!(report.not_dumpable);
        assert_eq!(core_limit(), Some(0));
        assert!(!is_dumpable());
    }
}
