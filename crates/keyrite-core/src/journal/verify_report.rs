//! What verification reports: the verdict's types (tampering found, trust, coverage, stored
//! checkpoints) and its errors. `verify` fills them.

use super::checkpoint::CheckpointError;
use super::merkle::Hash;
use super::TreeHead;
use crate::store::StoreError;

/// What kind of tampering was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TamperKind {
    /// An entry's contents or hash were changed.
    Modified,
    /// Entries are missing.
    Deleted,
    /// Entries are out of order.
    Reordered,
    /// Entries were added that were never written by Keyrite in that place.
    Inserted,
    /// The tail is missing compared with a checkpoint (truncation or rollback).
    Truncated,
    /// The history covered by a checkpoint no longer matches its root.
    Rewritten,
}

/// A successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// The head over all entries.
    pub head: TreeHead,
    /// Hash of the last entry (zeros when empty).
    pub last_entry_hash: Hash,
    /// The checkpoint that was proven consistent with the journal, if one was given.
    pub checkpoint: Option<(u64, Hash)>,
    /// Whose key the checkpoints were checked against.
    pub trust: CheckpointTrust,
    /// What the journal's own stored checkpoints showed.
    pub stored: StoredCheckpoints,
    /// Which entries are covered by what.
    pub coverage: Coverage,
}

/// Whose key checkpoints were checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointTrust {
    /// Keys the caller gave (`--trust`): pinned outside the journal.
    Pinned(Vec<[u8; 32]>),
    /// No key was given: the journal's own record-signing key, as named by its latest stored
    /// checkpoint (or, when that table is empty, its latest `checkpoint` entry). Not pinned:
    /// whoever can rewrite the journal can also swap that key and re-sign.
    JournalOwn(Option<[u8; 32]>),
}

impl CheckpointTrust {
    /// One sentence for an auditor.
    pub fn describe(&self) -> String {
        match self {
            CheckpointTrust::Pinned(keys) => format!(
                "checkpoints were checked against the pinned record-signing key{} {}",
                if keys.len() == 1 { "" } else { "s" },
                keys.iter().map(hex::encode).collect::<Vec<_>>().join(", ")
            ),
            CheckpointTrust::JournalOwn(Some(k)) => format!(
                "NOT PINNED: checkpoints were checked only against the journal's own record-signing key (SPKI SHA-256 {}), which the journal itself names; anyone able to rewrite the journal could replace that key and re-sign. Compare it with the key printed on your records, or pass --trust",
                hex::encode(k)
            ),
            CheckpointTrust::JournalOwn(None) => "NOT PINNED: no key was given and the journal names none (it holds no stored checkpoint and no checkpoint entry), so no checkpoint could be checked; pass --trust".into(),
        }
    }
}

/// An inclusive range of sequence numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SeqRange {
    /// First sequence number.
    pub first: u64,
    /// Last sequence number.
    pub last: u64,
}

impl SeqRange {
    pub(super) fn of(from: u64, to_exclusive: u64) -> Option<Self> {
        (to_exclusive > from).then(|| SeqRange {
            first: from,
            last: to_exclusive - 1,
        })
    }
}

impl std::fmt::Display for SeqRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.first == self.last {
            write!(f, "entry {}", self.first)
        } else {
            write!(f, "entries {} to {}", self.first, self.last)
        }
    }
}

/// Which entries are covered by which kind of checkpoint. The three ranges are disjoint and
/// together are the whole journal: checkpoints cover prefixes, so each is one range.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Coverage {
    /// Covered by the checkpoint the caller gave (typed or scanned from paper).
    pub paper: Option<SeqRange>,
    /// Covered only by a signed checkpoint stored in the journal itself.
    pub stored_only: Option<SeqRange>,
    /// Covered by no checkpoint: nothing signed proves these entries were not changed.
    pub uncovered: Option<SeqRange>,
}

impl Coverage {
    /// One line per non-empty range, for both faces.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(r) = self.paper {
            out.push(format!("{r}: covered by the given (paper) checkpoint"));
        }
        if let Some(r) = self.stored_only {
            out.push(format!(
                "{r}: covered only by a signed checkpoint stored in the journal itself"
            ));
        }
        if let Some(r) = self.uncovered {
            out.push(format!("{r}: covered by no checkpoint"));
        }
        out
    }
}

/// How many missing checkpoint sizes a warning names (the first ones and the last two).
const MISSING_LISTED: usize = 8;

/// What the journal's stored checkpoints showed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredCheckpoints {
    /// Sizes of stored checkpoints signed by a trusted key that match the journal.
    pub verified: Vec<u64>,
    /// Sizes of stored checkpoints signed by a key that is not trusted (not counted).
    pub other_signer: Vec<u64>,
    /// Sizes named by `checkpoint` entries whose signed text the stored table does not hold:
    /// the table was emptied or rows were deleted.
    pub missing: Vec<u64>,
    /// The `journal_checkpoint` table itself is gone.
    pub table_missing: bool,
}

impl StoredCheckpoints {
    /// A warning for an auditor when stored checkpoints are missing.
    pub fn warning(&self) -> Option<String> {
        if self.table_missing {
            return Some("the journal's stored-checkpoint table is missing (dropped): entries are covered only by a checkpoint given on the command line, or by none".into());
        }
        if self.missing.is_empty() {
            return None;
        }
        // A journal emptied of its table may name thousands: the first and the last few.
        let n = self.missing.len();
        let sizes: Vec<String> = if n > MISSING_LISTED {
            let (first, last) = (&self.missing[..MISSING_LISTED - 2], &self.missing[n - 2..]);
            let first = first.iter().map(u64::to_string);
            first
                .chain(std::iter::once("…".to_string()))
                .chain(last.iter().map(u64::to_string))
                .collect()
        } else {
            self.missing.iter().map(u64::to_string).collect()
        };
        Some(format!(
            "the journal records {} signed checkpoint{} (of {} entries) that its stored-checkpoint table does not hold: the table was emptied or rows were deleted; those checkpoints cover nothing here",
            self.missing.len(),
            if self.missing.len() == 1 { "" } else { "s" },
            sizes.join(", ")
        ))
    }
}

/// Why verification failed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Tampering found at entry `seq` (the first bad sequence number).
    #[error("journal entry {seq}: {what}")]
    Tamper {
        /// First bad sequence number.
        seq: u64,
        /// What was done.
        kind: TamperKind,
        /// Description.
        what: String,
    },
    /// The checkpoint's root does not match the journal's first `size` entries.
    #[error("the journal's first {size} entries do not match the checkpoint root {root}: history before entry {size} was rewritten after the checkpoint was signed (the journal's root there is {found})")]
    CheckpointMismatch {
        /// Checkpoint size.
        size: u64,
        /// Checkpoint root (hex).
        root: String,
        /// The journal's root at that size (hex).
        found: String,
    },
    /// The checkpoint covers more entries than the journal holds.
    #[error("the checkpoint covers {size} entries but the journal holds only {have}: entries {have} to {last} are missing (the journal was truncated or rolled back to an older copy)")]
    CheckpointBeyondJournal {
        /// Checkpoint size.
        size: u64,
        /// Entries in the journal.
        have: u64,
        /// Last missing sequence number.
        last: u64,
    },
    /// The checkpoint belongs to another journal.
    #[error("the checkpoint is for journal {checkpoint} but this journal is {journal}")]
    OtherJournal {
        /// Origin in the checkpoint.
        checkpoint: String,
        /// This journal's origin.
        journal: String,
    },
    /// The checkpoint itself is bad.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// No key to check the given checkpoint against: none given, none in the journal.
    #[error("the checkpoint cannot be checked: no --trust key was given and the journal names no record-signing key of its own (its stored-checkpoint table is empty and it has no checkpoint entry); pass --trust <SPKI SHA-256 of the record-signing key printed on your records>")]
    NoTrustAnchor,
    /// A checkpoint stored in the journal contradicts it, or was altered.
    #[error("the journal's stored checkpoint of {size} entries {what}")]
    StoredCheckpoint {
        /// Its size.
        size: u64,
        /// What is wrong.
        what: String,
    },
    /// The database could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl VerifyError {
    /// The first bad sequence number, where one can be named.
    pub fn first_bad_seq(&self) -> Option<u64> {
        match self {
            VerifyError::Tamper { seq, .. } => Some(*seq),
            VerifyError::CheckpointBeyondJournal { have, .. } => Some(*have),
            VerifyError::StoredCheckpoint { size, .. } => Some(*size),
            _ => None,
        }
    }
}

/// The fields of a body verification reads.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct BodyHead {
    pub(crate) seq: u64,
    pub(crate) time: String,
}

pub(super) struct Row {
    pub(super) seq: u64,
    pub(super) body: Vec<u8>,
    pub(super) prev: Vec<u8>,
    pub(super) hash: Vec<u8>,
}

pub(super) fn tamper(seq: u64, kind: TamperKind, what: String) -> VerifyError {
    VerifyError::Tamper { seq, kind, what }
}

#[cfg(test)]
mod tests {
    use super::StoredCheckpoints;

    #[test]
    fn a_long_list_of_missing_checkpoints_names_the_first_and_the_last() {
        let w = |missing: Vec<u64>| {
            StoredCheckpoints {
                missing,
                ..Default::default()
            }
            .warning()
            .unwrap_or_default()
        };
        assert!(w((1..=8).collect()).starts_with(
            "the journal records 8 signed checkpoints (of 1, 2, 3, 4, 5, 6, 7, 8 entries)"
        ));
        assert_eq!(
            w((1..=62496).map(|i| i * 16).collect()),
            "the journal records 62496 signed checkpoints (of 16, 32, 48, 64, 80, 96, …, 999920, 999936 entries) that its stored-checkpoint table does not hold: the table was emptied or rows were deleted; those checkpoints cover nothing here"
        );
    }
}
