//! Which key policy a backup records: one rule for the ceremony engine's backup step and for
//! `keyrite hsm backup`. A backup restores its key under the policy it names, so the choice must
//! not depend on the face that made it.
//!
//! 1. A policy the caller names (`--policy`) is taken if the key satisfies it.
//! 2. Otherwise the policy the key was made under, as journaled when it was generated or
//!    restored on that token (the newest such entry for the label), if the key still satisfies it.
//!    Two policies can describe the same attributes (the record-signing key satisfies the
//!    general EC P-384 signing policy too); the journal says which one was meant.
//! 3. Otherwise the only policy the key satisfies.
//!
//! Anything else is refused, naming the policies or why none fits.

use crate::journal::{Journal, JournalError, Select};

/// Why no policy could be chosen for a backup.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupPolicyError {
    /// The named policy does not describe the key as it is on the token.
    #[error("key \"{label}\" on {token} does not satisfy policy \"{policy}\" ({problem})")]
    NotSatisfied {
        /// The key's label.
        label: String,
        /// The token.
        token: String,
        /// The policy named.
        policy: String,
        /// Why not (failed attributes, or the policies it satisfies instead).
        problem: String,
    },
    /// The key satisfies no policy.
    #[error(
        "key \"{label}\" on {token} satisfies no key policy ({problem}); it cannot be backed up"
    )]
    NoneSatisfied {
        /// The key's label.
        label: String,
        /// The token.
        token: String,
        /// The attributes that failed.
        problem: String,
    },
    /// Several policies fit and the journal does not say which one the key was made under.
    #[error("key \"{label}\" on {token} satisfies policies {}, and the journal does not say which one it was made under", policies.join(", "))]
    Ambiguous {
        /// The key's label.
        label: String,
        /// The token.
        token: String,
        /// The policies it satisfies.
        policies: Vec<String>,
    },
    /// The journal could not be read.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// The key on the token, as far as the choice needs it.
#[derive(Debug, Clone, Copy)]
pub struct KeyOnToken<'a> {
    /// Its label.
    pub label: &'a str,
    /// The token's name, for messages.
    pub token: &'a str,
    /// The token's serial (journal entries name it).
    pub token_serial: &'a str,
    /// The policies its attributes satisfy.
    pub satisfies: &'a [String],
    /// Why it fails the others.
    pub failures: &'a [String],
}

/// The policy a backup of `key` records (module docs: the rule).
pub fn choose_backup_policy(
    journal: &Journal,
    key: KeyOnToken<'_>,
    requested: Option<&str>,
) -> Result<String, BackupPolicyError> {
    let problem = || {
        if key.failures.is_empty() {
            "its attributes satisfy other policies".to_string()
        } else {
            key.failures.join("; ")
        }
    };
    if let Some(p) = requested {
        if key.satisfies.iter().any(|s| s == p) {
            return Ok(p.to_string());
        }
        return Err(BackupPolicyError::NotSatisfied {
            label: key.label.into(),
            token: key.token.into(),
            policy: p.into(),
            problem: problem(),
        });
    }
    if let Some(made) = journaled_policy(journal, key.token_serial, key.label)? {
        if key.satisfies.contains(&made) {
            return Ok(made);
        }
    }
    match key.satisfies {
        [one] => Ok(one.clone()),
        [] => Err(BackupPolicyError::NoneSatisfied {
            label: key.label.into(),
            token: key.token.into(),
            problem: problem(),
        }),
        many => Err(BackupPolicyError::Ambiguous {
            label: key.label.into(),
            token: key.token.into(),
            policies: many.to_vec(),
        }),
    }
}

/// The policy of the newest `key_generated` / `key_imported` entry for `label` on the token
/// that names one. Read newest first and only until found: a ceremony's backup step costs the
/// same whatever the journal's history (issue 21).
fn journaled_policy(
    journal: &Journal,
    token_serial: &str,
    label: &str,
) -> Result<Option<String>, JournalError> {
    let mut found = None;
    journal.find_newest_selected(&Select::kinds(&["key_generated", "key_imported"]), |e| {
        let body = e.body_json()?;
        let ev = &body["event"];
        if ev["label"] == label && ev["token_serial"] == token_serial {
            // key_generated carries its evidence in the event, key_imported in the details.
            let evidence = if ev["evidence"].is_object() {
                &ev["evidence"]
            } else {
                &body["details"]["evidence"]
            };
            found = evidence["policy"].as_str().map(str::to_string);
        }
        Ok(found.is_some())
    })?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Event;
    use serde_json::json;

    fn journal_with(made: &[(&str, &str, &str)]) -> (tempfile::TempDir, Journal) {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut j = Journal::open(&dir.path().join("j.db"), &Default::default()).expect("journal");
        for (label, serial, policy) in made {
            j.append(Event::KeyGenerated {
                key_id: (*label).into(),
                label: (*label).into(),
                cka_id: "01".into(),
                token_serial: (*serial).into(),
                algorithm: "ec-p384".into(),
                public_fingerprint: None,
                evidence: json!({"policy": policy}),
            })
            .expect("append");
        }
        (dir, j)
    }

    fn key<'a>(satisfies: &'a [String], failures: &'a [String]) -> KeyOnToken<'a> {
        KeyOnToken {
            label: "signer",
            token: "token \"t\" (serial 42)",
            token_serial: "42",
            satisfies,
            failures,
        }
    }

    #[test]
    fn the_rule_in_order_with_every_refusal_worded() {
        let both = vec!["ec-p384-sign".to_string(), "record-signing".to_string()];
        let none: Vec<String> = vec![];
        let fails = vec!["CKA_SIGN is false, the policy requires true".to_string()];
        // Made under record-signing on this token (and under another on another token).
        let (_d, j) = journal_with(&[
            ("signer", "42", "ec-p384-sign"),
            ("signer", "42", "record-signing"),
            ("signer", "99", "ec-p384-sign"),
        ]);
        // 1. named and satisfied; named and not.
        assert_eq!(
            choose_backup_policy(&j, key(&both, &none), Some("ec-p384-sign")).unwrap(),
            "ec-p384-sign"
        );
        assert_eq!(
            choose_backup_policy(&j, key(&both, &none), Some("aes-data"))
                .unwrap_err()
                .to_string(),
            "key \"signer\" on token \"t\" (serial 42) does not satisfy policy \"aes-data\" \
             (its attributes satisfy other policies)"
        );
        // 2. the newest journaled policy on this token breaks the tie.
        assert_eq!(
            choose_backup_policy(&j, key(&both, &none), None).unwrap(),
            "record-signing"
        );
        // 3. without a journaled policy: the only one, or refused.
        let (_d2, empty) = journal_with(&[]);
        assert_eq!(
            choose_backup_policy(&empty, key(&both[..1], &none), None).unwrap(),
            "ec-p384-sign"
        );
        assert_eq!(
            choose_backup_policy(&empty, key(&both, &none), None)
                .unwrap_err()
                .to_string(),
            "key \"signer\" on token \"t\" (serial 42) satisfies policies ec-p384-sign, \
             record-signing, and the journal does not say which one it was made under"
        );
        assert_eq!(
            choose_backup_policy(&empty, key(&none, &fails), None)
                .unwrap_err()
                .to_string(),
            "key \"signer\" on token \"t\" (serial 42) satisfies no key policy (CKA_SIGN is \
             false, the policy requires true); it cannot be backed up"
        );
        // A restore (key_imported, evidence in the details) is newer than the generation.
        let (_d4, mut restored) = journal_with(&[("signer", "42", "record-signing")]);
        restored
            .append_with_details(
                Event::KeyImported {
                    key_id: "signer".into(),
                    label: "signer".into(),
                    cka_id: "01".into(),
                    token_serial: "42".into(),
                    algorithm: "ec-p384".into(),
                    source: "backup".into(),
                },
                json!({"evidence": {"policy": "ec-p384-sign"}}),
            )
            .expect("append");
        assert_eq!(
            choose_backup_policy(&restored, key(&both, &none), None).unwrap(),
            "ec-p384-sign"
        );
        // A journaled policy the key no longer satisfies is not taken.
        let (_d3, stale) = journal_with(&[("signer", "42", "aes-data")]);
        assert!(matches!(
            choose_backup_policy(&stale, key(&both, &none), None),
            Err(BackupPolicyError::Ambiguous { .. })
        ));
    }
}
