//! Signed checkpoints: (origin, size, root, time) signed by the record-signing key.
//!
//! The text form is compact enough for a QR code (about 600 bytes with a P-384 key) and is
//! the only encoding; see `docs/formats/checkpoint.md`:
//!
//! ```text
//! keyrite-checkpoint/v1
//! origin keyrite/0011223344556677
//! size 42
//! root <64 hex>
//! time 2026-01-02T03:04:05.678Z
//! signer ecdsa-p384-sha384 <SPKI DER, hex>
//! sig <DER ECDSA signature, hex>
//! ```
//!
//! The signature covers the first six lines, each ending in `\n`.

use super::merkle::Hash;
use super::time::UtcTime;
use super::{Event, Journal, JournalError, TreeHead};
use crate::signer::{self, SignatureAlgorithm, Signer, SignerError};
use crate::store::StoreError;
use serde_json::Value;

const MAGIC: &str = "keyrite-checkpoint/v1";

/// A signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The journal it belongs to (`keyrite/<install id>`).
    pub origin: String,
    /// Number of entries covered.
    pub size: u64,
    /// RFC 9162 root of those entries.
    pub root: Hash,
    /// When it was signed.
    pub time: UtcTime,
    /// Signature algorithm.
    pub algorithm: SignatureAlgorithm,
    /// Signer's public key (DER SubjectPublicKeyInfo).
    pub signer_spki: Vec<u8>,
    /// DER ECDSA signature over [`Checkpoint::signed_text`].
    pub signature: Vec<u8>,
}

/// Errors reading or checking a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The text does not follow the format.
    #[error("checkpoint line {line}: {what}")]
    Parse {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        what: String,
    },
    /// The signature does not verify under the key the checkpoint names.
    #[error("the checkpoint signature does not verify with the key it names (SPKI SHA-256 {fingerprint}): the checkpoint text was altered")]
    BadSignature {
        /// SPKI SHA-256 of the named key.
        fingerprint: String,
    },
    /// Signed by a key that is not pinned.
    #[error("the checkpoint is signed by an unknown key (SPKI SHA-256 {fingerprint}); the pinned record-signing key is {pinned}")]
    UnknownSigner {
        /// SPKI SHA-256 of the signer.
        fingerprint: String,
        /// The pinned fingerprint(s).
        pinned: String,
    },
}

fn alg_name(a: SignatureAlgorithm) -> &'static str {
    match a {
        SignatureAlgorithm::EcdsaP384Sha384 => "ecdsa-p384-sha384",
        SignatureAlgorithm::EcdsaP256Sha256 => "ecdsa-p256-sha256",
    }
}

impl Checkpoint {
    /// Signs `head` of journal `origin` at `time`.
    pub fn sign(
        origin: &str,
        head: TreeHead,
        time: UtcTime,
        signer: &dyn Signer,
    ) -> Result<Self, SignerError> {
        let mut cp = Self {
            origin: origin.to_string(),
            size: head.size,
            root: head.root,
            time,
            algorithm: signer.algorithm(),
            signer_spki: signer.public_key_spki()?,
            signature: Vec::new(),
        };
        cp.signature = signer.sign(cp.signed_text().as_bytes())?;
        Ok(cp)
    }

    /// The signed part: six lines, each ending in `\n`.
    pub fn signed_text(&self) -> String {
        format!(
            "{MAGIC}\norigin {}\nsize {}\nroot {}\ntime {}\nsigner {} {}\n",
            self.origin,
            self.size,
            hex::encode(self.root),
            self.time.to_rfc3339(),
            alg_name(self.algorithm),
            hex::encode(&self.signer_spki)
        )
    }

    /// The full text form (signed part plus the `sig` line).
    pub fn to_text(&self) -> String {
        format!(
            "{}sig {}\n",
            self.signed_text(),
            hex::encode(&self.signature)
        )
    }

    /// SHA-256 of the signer's SPKI.
    pub fn signer_fingerprint(&self) -> [u8; 32] {
        signer::spki_fingerprint(&self.signer_spki)
    }

    /// Parses the text form strictly (exact lines, lowercase hex, one trailing newline
    /// optional). Does not check the signature: see [`Checkpoint::check_signature`].
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        let lines: Vec<&str> = text
            .strip_suffix('\n')
            .unwrap_or(text)
            .split('\n')
            .collect();
        let err = |line: usize, what: &str| CheckpointError::Parse {
            line,
            what: what.to_string(),
        };
        if lines.len() != 7 {
            return Err(err(
                lines.len().min(7) + usize::from(lines.len() < 7),
                &format!("expected 7 lines, found {}", lines.len()),
            ));
        }
        if lines[0] != MAGIC {
            return Err(err(1, &format!("expected \"{MAGIC}\"")));
        }
        let field = |i: usize, key: &str| -> Result<&str, CheckpointError> {
            lines[i]
                .strip_prefix(key)
                .and_then(|r| r.strip_prefix(' '))
                .ok_or_else(|| err(i + 1, &format!("expected \"{key} …\"")))
        };
        let hexval = |i: usize, s: &str| -> Result<Vec<u8>, CheckpointError> {
            if s.bytes().any(|b| b.is_ascii_uppercase()) {
                return Err(err(i + 1, "hex must be lowercase"));
            }
            hex::decode(s).map_err(|_| err(i + 1, "not hex"))
        };
        let origin = field(1, "origin")?.to_string();
        let size_s = field(2, "size")?;
        let size: u64 = if size_s.bytes().all(|b| b.is_ascii_digit())
            && !(size_s.len() > 1 && size_s.starts_with('0'))
        {
            size_s.parse().map_err(|_| err(3, "size is not a number"))?
        } else {
            return Err(err(3, "size is not a number"));
        };
        let root: Hash = hexval(3, field(3, "root")?)?
            .try_into()
            .map_err(|_| err(4, "root must be 32 bytes"))?;
        let time = UtcTime::parse(field(4, "time")?)
            .ok_or_else(|| err(5, "time is not YYYY-MM-DDTHH:MM:SS.mmmZ"))?;
        let signer_line = field(5, "signer")?;
        let (alg, spki) = signer_line
            .split_once(' ')
            .ok_or_else(|| err(6, "expected \"signer <algorithm> <spki hex>\""))?;
        let algorithm = match alg {
            "ecdsa-p384-sha384" => SignatureAlgorithm::EcdsaP384Sha384,
            "ecdsa-p256-sha256" => SignatureAlgorithm::EcdsaP256Sha256,
            other => return Err(err(6, &format!("unknown algorithm \"{other}\""))),
        };
        let signer_spki = hexval(5, spki)?;
        let signature = hexval(6, field(6, "sig")?)?;
        let cp = Self {
            origin,
            size,
            root,
            time,
            algorithm,
            signer_spki,
            signature,
        };
        // One encoding only: re-encoding must give the same text.
        if cp.to_text() != format!("{}\n", lines.join("\n")) {
            return Err(err(
                5,
                "time is not in the canonical form YYYY-MM-DDTHH:MM:SS.mmmZ",
            ));
        }
        Ok(cp)
    }

    /// Checks the signature, and that the signer is one of `trusted` SPKI SHA-256 values.
    pub fn check_signature(&self, trusted: &[[u8; 32]]) -> Result<(), CheckpointError> {
        let fp = self.signer_fingerprint();
        if !trusted.contains(&fp) {
            let pinned = if trusted.is_empty() {
                "none (pin one with --trust)".to_string()
            } else {
                trusted
                    .iter()
                    .map(hex::encode)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(CheckpointError::UnknownSigner {
                fingerprint: hex::encode(fp),
                pinned,
            });
        }
        signer::verify(
            self.algorithm,
            &self.signer_spki,
            self.signed_text().as_bytes(),
            &self.signature,
        )
        .map_err(|_| CheckpointError::BadSignature {
            fingerprint: hex::encode(fp),
        })
    }
}

/// One row of the journal's stored-checkpoint table (`journal_checkpoint(size, text)`), as
/// stored: a row whose text does not parse is listed with the reason, so a report can name
/// it instead of failing as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// The row's `size` column (entries covered).
    pub size: u64,
    /// The stored text.
    pub text: String,
    /// The text parsed (signature not checked), or why it does not parse.
    pub parsed: Result<Checkpoint, CheckpointError>,
}

/// How one closed ceremony's tail is anchored: its `ceremony_closed` entry and the closing
/// checkpoint over it (`docs/formats/checkpoint.md`, "Closing a ceremony").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CeremonyClosing {
    /// The ceremony.
    pub ceremony_id: String,
    /// The outcome `ceremony_closed` states.
    pub outcome: String,
    /// Sequence number of `ceremony_closed`, the ceremony's last entry.
    pub closed_seq: u64,
    /// Size of its closing checkpoint: the first `checkpoint` entry after the close whose
    /// size exceeds `closed_seq` (normally `closed_seq + 1`). `None`: not signed yet.
    pub checkpoint_size: Option<u64>,
    /// Why no closing checkpoint could be signed, when the engine journaled that instead
    /// (a `note` of kind [`CLOSING_UNAVAILABLE_NOTE`] right after the close).
    pub unavailable: Option<String>,
}

/// `note` kind the engine journals after `ceremony_closed` when no closing checkpoint can be
/// signed (no record-signing key, no PIN): the ceremony is then anchored by the next
/// checkpoint signed on this journal.
pub const CLOSING_UNAVAILABLE_NOTE: &str = "closing-checkpoint-unavailable";

impl Journal {
    /// Signs the current head with `signer`, stores the checkpoint in `journal_checkpoint`
    /// and journals a `checkpoint` event with `details` (which the next checkpoint covers),
    /// all in one transaction. `details` names what the checkpoint is for (the engine:
    /// `{"ceremony_id": …, "purpose": "record" | "closing"}`).
    pub fn checkpoint_with(
        &mut self,
        signer: &dyn Signer,
        details: Value,
    ) -> Result<Checkpoint, JournalError> {
        let head = self.head();
        let cp = Checkpoint::sign(&self.origin, head, super::time::now(), signer)?;
        let text = cp.to_text();
        let fp = hex::encode(signer::spki_fingerprint(&cp.signer_spki));
        let path = self.store.path().to_path_buf();
        self.append_with(
            Event::Checkpoint {
                size: head.size,
                root: head.root_hex(),
                signer_fingerprint: fp,
            },
            details,
            |tx| {
                tx.execute(
                    "INSERT OR REPLACE INTO journal_checkpoint(size, text) VALUES (?1, ?2)",
                    rusqlite::params![head.size as i64, text],
                )
                .map_err(|e| {
                    JournalError::from(StoreError::from_sqlite(&path, std::time::Duration::ZERO, e))
                })
            },
        )?;
        Ok(cp)
    }

    /// Every row of the stored-checkpoint table, smallest size first. The table is not
    /// covered by the hash chain: treat its rows as claims to verify, not as anchors.
    pub fn stored_checkpoints(&self) -> Result<Vec<StoredCheckpoint>, JournalError> {
        let path = self.store.path().to_path_buf();
        let err =
            |e| JournalError::from(StoreError::from_sqlite(&path, std::time::Duration::ZERO, e));
        let conn = self.store.conn();
        let mut stmt = conn
            .prepare("SELECT size, text FROM journal_checkpoint ORDER BY size")
            .map_err(err)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (size, text) = row.map_err(err)?;
            let parsed = Checkpoint::parse(&text);
            out.push(StoredCheckpoint {
                size: u64::try_from(size).unwrap_or(0),
                text,
                parsed,
            });
        }
        Ok(out)
    }

    /// The stored checkpoint over exactly `size` entries, if the table holds one.
    pub fn stored_checkpoint(&self, size: u64) -> Result<Option<StoredCheckpoint>, JournalError> {
        // One row by its key: a journal holds a checkpoint per ceremony, and parsing them all
        // would make every record grow slower with history.
        let r = self.store.conn().query_row(
            "SELECT text FROM journal_checkpoint WHERE size = ?1",
            [i64::try_from(size).unwrap_or(i64::MAX)],
            |r| r.get::<_, String>(0),
        );
        match r {
            Ok(text) => Ok(Some(StoredCheckpoint {
                size,
                parsed: Checkpoint::parse(&text),
                text,
            })),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
            Err(e) => Err(self.store.err(e).into()),
        }
    }

    /// Every closed ceremony with its closing checkpoint (if signed), in journal order.
    /// Read from the entries (`ceremony_closed`, `checkpoint`, the unavailable note), so a
    /// deleted table row still shows as a closing checkpoint the journal says was signed.
    pub fn closings(&self) -> Result<Vec<CeremonyClosing>, JournalError> {
        self.closings_from(0)
    }

    /// [`Journal::closings`] of the ceremonies closed at entry `from` or later: a closing's
    /// checkpoint and note always come after its `ceremony_closed`, so nothing before `from`
    /// is read.
    pub fn closings_from(&self, from: u64) -> Result<Vec<CeremonyClosing>, JournalError> {
        let mut out: Vec<CeremonyClosing> = Vec::new();
        // Only these three kinds matter: read them through the index, not every entry.
        let select = super::Select::kinds(&["ceremony_closed", "checkpoint", "note"]);
        self.for_each_selected(&select, from, |e| {
            let body = e.body_json()?;
            let ev = body.get("event").cloned().unwrap_or(Value::Null);
            let text = |k: &str| ev.get(k).and_then(Value::as_str).map(str::to_string);
            match ev.get("type").and_then(Value::as_str) {
                Some("ceremony_closed") => {
                    if let (Some(ceremony_id), Some(outcome)) =
                        (text("ceremony_id"), text("outcome"))
                    {
                        out.push(CeremonyClosing {
                            ceremony_id,
                            outcome,
                            closed_seq: e.seq,
                            checkpoint_size: None,
                            unavailable: None,
                        });
                    }
                }
                Some("checkpoint") => {
                    if let Some(size) = ev.get("size").and_then(Value::as_u64) {
                        for c in out.iter_mut().filter(|c| c.checkpoint_size.is_none()) {
                            if size > c.closed_seq {
                                c.checkpoint_size = Some(size);
                            }
                        }
                    }
                }
                Some("note") if text("kind").as_deref() == Some(CLOSING_UNAVAILABLE_NOTE) => {
                    let details = body.get("details");
                    let named = details
                        .and_then(|d| d.get("ceremony_id"))
                        .and_then(Value::as_str);
                    if let Some(c) = out
                        .iter_mut()
                        .rev()
                        .find(|c| Some(c.ceremony_id.as_str()) == named)
                    {
                        c.unavailable = Some(
                            details
                                .and_then(|d| d.get("reason"))
                                .and_then(Value::as_str)
                                .unwrap_or("no reason given")
                                .to_string(),
                        );
                    }
                }
                _ => {}
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// The last ceremony closed before entry `seq`, as [`Journal::closings`] shows it.
    pub fn closing_before(&self, seq: u64) -> Result<Option<CeremonyClosing>, JournalError> {
        let Some(closed) = self.last_of_kind_before("ceremony_closed", seq)? else {
            return Ok(None);
        };
        Ok(self
            .closings_from(closed)?
            .into_iter()
            .rfind(|c| c.closed_seq < seq))
    }

    /// Where a ceremony that may be unfinished can start at the earliest: the smallest
    /// `ceremony_started` seq of a ceremony not closed, or closed at or after the size of the
    /// journal's last `checkpoint` entry (so its closing checkpoint may be missing). The
    /// journal's size when there is none. Ceremonies starting earlier are closed and have
    /// their closing checkpoint, so listing unfinished ceremonies can read from here.
    pub fn unfinished_from(&self) -> Result<u64, JournalError> {
        let size = self.head().size;
        if self.indexed < size {
            // Read-only copy of a journal not yet indexed: no shortcut.
            return Ok(0);
        }
        let last_cp = match self.last_of_kind_before("checkpoint", size)? {
            Some(seq) => self
                .entry(seq)?
                .body_json()?
                .pointer("/event/size")
                .and_then(Value::as_u64)
                .unwrap_or(0),
            None => 0,
        };
        Ok(
            super::index::first_start_not_closed_before(&self.store, size, last_cp)?
                .unwrap_or(size),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signer::SoftwareP384Signer;

    fn sample() -> (Checkpoint, SoftwareP384Signer) {
        let s = SoftwareP384Signer::generate();
        let head = TreeHead {
            size: 42,
            root: [7; 32],
        };
        let cp = Checkpoint::sign("keyrite/00aa", head, UtcTime(1_767_225_600_123), &s).unwrap();
        (cp, s)
    }

    #[test]
    fn text_round_trips_and_verifies() {
        let (cp, _) = sample();
        let text = cp.to_text();
        assert!(text.len() < 700, "QR-sized: {}", text.len());
        let back = Checkpoint::parse(&text).unwrap();
        assert_eq!(back, cp);
        back.check_signature(&[cp.signer_fingerprint()]).unwrap();
    }

    #[test]
    fn altered_and_unknown_signers_are_refused() {
        let (cp, _) = sample();
        let fp = hex::encode(cp.signer_fingerprint());
        let altered = cp.to_text().replace("size 42", "size 43");
        let err = Checkpoint::parse(&altered)
            .unwrap()
            .check_signature(&[cp.signer_fingerprint()])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("the checkpoint signature does not verify with the key it names (SPKI SHA-256 {fp}): the checkpoint text was altered")
        );
        let err = cp.check_signature(&[[1; 32]]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("the checkpoint is signed by an unknown key (SPKI SHA-256 {fp}); the pinned record-signing key is {}", hex::encode([1u8; 32]))
        );
    }

    #[test]
    fn malformed_text_names_the_line() {
        let (cp, _) = sample();
        let text = cp.to_text().replace("size 42", "size 4x2");
        assert_eq!(
            Checkpoint::parse(&text).unwrap_err().to_string(),
            "checkpoint line 3: size is not a number"
        );
        let text = cp.to_text().replace("root ", "root AB");
        assert_eq!(
            Checkpoint::parse(&text).unwrap_err().to_string(),
            "checkpoint line 4: hex must be lowercase"
        );
        assert_eq!(
            Checkpoint::parse("keyrite-checkpoint/v1\n")
                .unwrap_err()
                .to_string(),
            "checkpoint line 2: expected 7 lines, found 1"
        );
    }
}
