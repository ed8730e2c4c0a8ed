//! The approval request and its one canonical encoding.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::words::{short_words, to_words};

/// First line of every encoded request; names the format and its version.
pub const MAGIC: &str = "keyrite approval request v1";

/// The quorum operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    /// Rotate the root KEK.
    Rotate,
    /// Destroy a key.
    Destroy,
    /// Recover the root KEK from shares.
    Recover,
    /// Replace a custodian's YubiKey.
    ReplaceCustodian,
}

impl Operation {
    /// The name used in the canonical encoding.
    pub fn as_str(&self) -> &'static str {
        match self {
            Operation::Rotate => "rotate",
            Operation::Destroy => "destroy",
            Operation::Recover => "recover",
            Operation::ReplaceCustodian => "replace-custodian",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Operation::Rotate,
            Operation::Destroy,
            Operation::Recover,
            Operation::ReplaceCustodian,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

/// The key an operation acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRef {
    /// CKA_LABEL.
    pub label: String,
    /// CKA_ID bytes.
    #[serde(with = "hex::serde")]
    pub cka_id: Vec<u8>,
    /// SHA-256 fingerprint of the key (public key SPKI or KCV-style digest from the inventory).
    #[serde(with = "hex::serde")]
    pub fingerprint: Vec<u8>,
}

/// Why a request cannot be built or decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    /// A text field breaks the encoding's rules.
    #[error("approval request field {field}: {problem}")]
    BadField {
        /// Field name as in the encoding.
        field: &'static str,
        /// What is wrong.
        problem: &'static str,
    },
    /// The bytes are not a canonical request.
    #[error("not a canonical approval request: line {line}: {problem}")]
    NotCanonical {
        /// 1-based line.
        line: usize,
        /// What was expected.
        problem: String,
    },
}

/// What custodians approve. Build with [`ApprovalRequest::new`]; sign
/// [`ApprovalRequest::canonical_bytes`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequest {
    /// The operation.
    pub operation: Operation,
    /// The key it acts on.
    pub key: KeyRef,
    /// Serial of the HSM token holding the key.
    pub token_serial: String,
    /// Ceremony identifier.
    pub ceremony_id: String,
    /// Step number within the ceremony.
    pub step: u32,
    /// SHA-256 head of the journal when the request was made.
    #[serde(with = "hex::serde")]
    pub journal_head: [u8; 32],
    /// 16 random bytes: two requests never encode alike.
    #[serde(with = "hex::serde")]
    pub nonce: [u8; 16],
    /// Unix seconds after which approvals are refused.
    pub expires_at: u64,
}

fn check_text(field: &'static str, value: &str) -> Result<(), RequestError> {
    let bad = |problem| Err(RequestError::BadField { field, problem });
    if value.is_empty() {
        return bad("is empty");
    }
    if value.len() > 256 {
        return bad("is longer than 256 bytes");
    }
    if value.chars().any(char::is_control) {
        return bad("contains a control character (newline, tab, ...)");
    }
    if value.trim() != value {
        return bad("starts or ends with whitespace");
    }
    Ok(())
}

impl ApprovalRequest {
    /// Builds a request with a fresh random nonce, checking every field encodes canonically.
    pub fn new(
        operation: Operation,
        key: KeyRef,
        token_serial: &str,
        ceremony_id: &str,
        step: u32,
        journal_head: [u8; 32],
        expires_at: u64,
    ) -> Result<Self, RequestError> {
        let mut nonce = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
        let request = Self {
            operation,
            key,
            token_serial: token_serial.to_owned(),
            ceremony_id: ceremony_id.to_owned(),
            step,
            journal_head,
            nonce,
            expires_at,
        };
        request.validate()?;
        Ok(request)
    }

    fn validate(&self) -> Result<(), RequestError> {
        check_text("key-label", &self.key.label)?;
        check_text("token-serial", &self.token_serial)?;
        check_text("ceremony", &self.ceremony_id)?;
        if self.key.cka_id.is_empty() || self.key.cka_id.len() > 64 {
            return Err(RequestError::BadField {
                field: "key-id",
                problem: "must be 1 to 64 bytes",
            });
        }
        if self.key.fingerprint.len() != 32 {
            return Err(RequestError::BadField {
                field: "key-fingerprint",
                problem: "must be 32 bytes (SHA-256)",
            });
        }
        Ok(())
    }

    /// The one canonical encoding (see `docs/formats/approval.md`): UTF-8 lines `name: value`
    /// in fixed order, each ending in `\n`, hex in lowercase, numbers in decimal.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        format!(
            "{MAGIC}\noperation: {}\nkey-label: {}\nkey-id: {}\nkey-fingerprint: {}\ntoken-serial: {}\nceremony: {}\nstep: {}\njournal-head: {}\nnonce: {}\nexpires-at: {}\n",
            self.operation.as_str(),
            self.key.label,
            hex::encode(&self.key.cka_id),
            hex::encode(&self.key.fingerprint),
            self.token_serial,
            self.ceremony_id,
            self.step,
            hex::encode(self.journal_head),
            hex::encode(self.nonce),
            self.expires_at,
        )
        .into_bytes()
    }

    /// Decodes canonical bytes; anything that would not re-encode to the same bytes is refused.
    pub fn from_canonical(bytes: &[u8]) -> Result<Self, RequestError> {
        let bad = |line: usize, problem: String| RequestError::NotCanonical { line, problem };
        let text = std::str::from_utf8(bytes).map_err(|_| bad(1, "not UTF-8".into()))?;
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| bad(1, "must end with a newline".into()))?;
        let lines: Vec<&str> = body.split('\n').collect();
        const NAMES: [&str; 10] = [
            "operation",
            "key-label",
            "key-id",
            "key-fingerprint",
            "token-serial",
            "ceremony",
            "step",
            "journal-head",
            "nonce",
            "expires-at",
        ];
        if lines.first() != Some(&MAGIC) {
            return Err(bad(1, format!("expected {MAGIC:?}")));
        }
        if lines.len() != NAMES.len() + 1 {
            return Err(bad(
                lines.len(),
                format!("expected {} lines", NAMES.len() + 1),
            ));
        }
        let mut v = Vec::new();
        for (i, name) in NAMES.iter().enumerate() {
            let line = lines[i + 1];
            let value = line
                .strip_prefix(name)
                .and_then(|r| r.strip_prefix(": "))
                .ok_or_else(|| bad(i + 2, format!("expected \"{name}: ...\"")))?;
            v.push(value);
        }
        let hex_field = |i: usize| {
            hex::decode(v[i])
                .ok()
                .filter(|b| hex::encode(b) == v[i])
                .ok_or_else(|| bad(i + 2, format!("{} must be lowercase hex", NAMES[i])))
        };
        let number = |i: usize| {
            v[i].parse::<u64>()
                .ok()
                .filter(|n| n.to_string() == v[i])
                .ok_or_else(|| bad(i + 2, format!("{} must be a decimal number", NAMES[i])))
        };
        let operation = Operation::parse(v[0]).ok_or_else(|| bad(2, "unknown operation".into()))?;
        let journal_head: [u8; 32] = hex_field(7)?
            .try_into()
            .map_err(|_| bad(9, "journal-head must be 32 bytes".into()))?;
        let nonce: [u8; 16] = hex_field(8)?
            .try_into()
            .map_err(|_| bad(10, "nonce must be 16 bytes".into()))?;
        let step = u32::try_from(number(6)?).map_err(|_| bad(8, "step is too large".into()))?;
        let request = Self {
            operation,
            key: KeyRef {
                label: v[1].to_owned(),
                cka_id: hex_field(2)?,
                fingerprint: hex_field(3)?,
            },
            token_serial: v[4].to_owned(),
            ceremony_id: v[5].to_owned(),
            step,
            journal_head,
            nonce,
            expires_at: number(9)?,
        };
        request.validate()?;
        Ok(request)
    }

    /// SHA-256 of the canonical bytes: the request's identity.
    pub fn sha256(&self) -> [u8; 32] {
        Sha256::digest(self.canonical_bytes()).into()
    }

    /// The request's hash as four words, for custodians to compare across screens.
    pub fn short_hash_words(&self) -> String {
        short_words(&self.sha256(), 4)
    }

    /// The request in words, as shown to each custodian before they enter their PIN.
    pub fn in_words(&self) -> String {
        format!(
            "{} key \"{}\" (id {}, fingerprint {}) on token {}, ceremony {} step {}, at journal head {}, expires at {} (unix time). Request: {}",
            self.operation.as_str(),
            self.key.label,
            hex::encode(&self.key.cka_id),
            short_words(&self.key.fingerprint, 4),
            self.token_serial,
            self.ceremony_id,
            self.step,
            short_words(&self.journal_head, 4),
            self.expires_at,
            to_words(&self.sha256()[..4]),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ApprovalRequest {
        ApprovalRequest {
            operation: Operation::ReplaceCustodian,
            key: KeyRef {
                label: "root-kek".into(),
                cka_id: vec![0x01, 0xab],
                fingerprint: vec![0x5a; 32],
            },
            token_serial: "7d1a0000".into(),
            ceremony_id: "C-2026-01".into(),
            step: 4,
            journal_head: [0x11; 32],
            nonce: [0x22; 16],
            expires_at: 1_800_000_000,
        }
    }

    #[test]
    fn canonical_bytes_match_the_documented_example_and_round_trip() {
        let r = sample();
        let expected = format!(
            "keyrite approval request v1\noperation: replace-custodian\nkey-label: root-kek\nkey-id: 01ab\nkey-fingerprint: {}\ntoken-serial: 7d1a0000\nceremony: C-2026-01\nstep: 4\njournal-head: {}\nnonce: {}\nexpires-at: 1800000000\n",
            "5a".repeat(32),
            "11".repeat(32),
            "22".repeat(16)
        );
        assert_eq!(String::from_utf8(r.canonical_bytes()).unwrap(), expected);
        assert_eq!(
            ApprovalRequest::from_canonical(&r.canonical_bytes()).unwrap(),
            r
        );
    }

    #[test]
    fn non_canonical_encodings_are_refused() {
        let good = String::from_utf8(sample().canonical_bytes()).unwrap();
        let upper = good.replace("key-id: 01ab", "key-id: 01AB");
        assert_eq!(
            ApprovalRequest::from_canonical(upper.as_bytes())
                .unwrap_err()
                .to_string(),
            "not a canonical approval request: line 4: key-id must be lowercase hex"
        );
        let padded = good.replace("step: 4", "step: 04");
        assert_eq!(
            ApprovalRequest::from_canonical(padded.as_bytes())
                .unwrap_err()
                .to_string(),
            "not a canonical approval request: line 8: step must be a decimal number"
        );
        assert_eq!(
            ApprovalRequest::from_canonical(good.trim_end().as_bytes())
                .unwrap_err()
                .to_string(),
            "not a canonical approval request: line 1: must end with a newline"
        );
    }

    #[test]
    fn fields_that_would_break_the_encoding_are_refused() {
        let key = sample().key;
        let err = ApprovalRequest::new(Operation::Rotate, key.clone(), "t\nx", "c", 1, [0; 32], 9)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "approval request field token-serial: contains a control character (newline, tab, ...)"
        );
        let mut short = key;
        short.fingerprint = vec![1; 20];
        let err =
            ApprovalRequest::new(Operation::Rotate, short, "t", "c", 1, [0; 32], 9).unwrap_err();
        assert_eq!(
            err.to_string(),
            "approval request field key-fingerprint: must be 32 bytes (SHA-256)"
        );
    }

    #[test]
    fn nonce_makes_requests_distinct_and_words_name_the_hash() {
        let key = sample().key;
        let a =
            ApprovalRequest::new(Operation::Destroy, key.clone(), "t", "c", 1, [0; 32], 9).unwrap();
        let b = ApprovalRequest::new(Operation::Destroy, key, "t", "c", 1, [0; 32], 9).unwrap();
        assert_ne!(a.sha256(), b.sha256());
        assert_eq!(
            a.short_hash_words(),
            crate::words::to_words(&a.sha256()[..4])
        );
        assert!(a.in_words().starts_with("destroy key \"root-kek\""));
    }
}
