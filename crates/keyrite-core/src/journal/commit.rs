//! Which commits are synced: see [`GROUPED_KINDS`] and `docs/formats/journal.md`, "Derived
//! tables and grouped commits".

use super::{Journal, JournalError};

/// Event types committed without an fsync of their own (`synchronous=NORMAL` for that commit):
/// the bookkeeping of a step and the results of an action, up to the next entry that is
/// synced. In WAL mode the next `synchronous=FULL` commit syncs the log up to and including
/// every earlier commit, and a power loss can only lose a suffix of commits, never a middle
/// one; a killed process loses nothing (the commit is in the operating system's cache).
///
/// What may be lost to a power cut is therefore the tail after the last synced entry, and
/// every kind here is one whose loss the engine already handles as a crash: a check-in or
/// sign-off is asked again, a step restarts, and results after an `action_intent` (always
/// synced, before the HSM or file operation) leave an intent without outcome that resuming
/// reconciles against the token (docs/engine.md "Crashes"). Everything else — intents,
/// shares handed out, checkpoints, outcomes, records, closings, every operation outside a
/// ceremony — is synced before [`Journal::append`] returns.
pub const GROUPED_KINDS: &[&str] = &[
    "participant_checked_in",
    "preflight_result",
    "step_started",
    "sign_off",
    "step_completed",
    "key_generated",
    "key_imported",
    "key_registered",
    "backup_made",
    "share_set_created",
    "action_done",
];

impl Journal {
    /// `synchronous=NORMAL` for a grouped commit, `FULL` otherwise (only when it changes).
    pub(super) fn set_synchronous(&mut self, grouped: bool) -> Result<(), JournalError> {
        if self.grouped != grouped {
            let mode = if grouped { "NORMAL" } else { "FULL" };
            self.store
                .conn()
                .pragma_update(None, "synchronous", mode)
                .map_err(|e| self.store.err(e))?;
            self.grouped = grouped;
        }
        Ok(())
    }
}
