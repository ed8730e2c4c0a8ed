//! Key policies as data: what a key must look like, checked before generation.
//!
//! The shipped file is `data/key-policies.toml` (format: `docs/formats/key-policy.md`). Every
//! policy is validated when the file is loaded, so an unacceptable policy is refused before the
//! HSM is touched: keys are always sensitive; a key is extractable only under wrap by a trusted
//! key (`CKA_WRAP_WITH_TRUSTED`), never in the clear; a key that needs a backup must be
//! extractable that way; only an imported AES wrapping key may be `CKA_TRUSTED`.

use super::HsmError;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The shipped policy file.
pub const BUILTIN_POLICIES: &str = include_str!("../../data/key-policies.toml");

/// Key algorithm and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeySpec {
    /// AES with a 256-bit key.
    #[serde(rename = "aes-256")]
    Aes256,
    /// ECDSA on NIST P-256.
    #[serde(rename = "ec-p256")]
    EcP256,
    /// ECDSA on NIST P-384.
    #[serde(rename = "ec-p384")]
    EcP384,
    /// EdDSA on edwards25519.
    #[serde(rename = "ed25519")]
    Ed25519,
    /// RSA with a 3072-bit modulus.
    #[serde(rename = "rsa-3072")]
    Rsa3072,
    /// RSA with a 4096-bit modulus.
    #[serde(rename = "rsa-4096")]
    Rsa4096,
}

impl KeySpec {
    /// Whether this is a secret (symmetric) key rather than a key pair.
    pub fn is_secret(&self) -> bool {
        matches!(self, KeySpec::Aes256)
    }

    /// The DER `CKA_EC_PARAMS` (named-curve OID) for EC and Edwards keys.
    pub fn ec_params(&self) -> Option<&'static [u8]> {
        match self {
            // 1.2.840.10045.3.1.7
            KeySpec::EcP256 => Some(&[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]),
            // 1.3.132.0.34
            KeySpec::EcP384 => Some(&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22]),
            // 1.3.101.112
            KeySpec::Ed25519 => Some(&[0x06, 0x03, 0x2b, 0x65, 0x70]),
            _ => None,
        }
    }

    /// RSA modulus bits.
    pub fn rsa_bits(&self) -> Option<u64> {
        match self {
            KeySpec::Rsa3072 => Some(3072),
            KeySpec::Rsa4096 => Some(4096),
            _ => None,
        }
    }

    /// The name used in files.
    pub fn name(&self) -> &'static str {
        match self {
            KeySpec::Aes256 => "aes-256",
            KeySpec::EcP256 => "ec-p256",
            KeySpec::EcP384 => "ec-p384",
            KeySpec::Ed25519 => "ed25519",
            KeySpec::Rsa3072 => "rsa-3072",
            KeySpec::Rsa4096 => "rsa-4096",
        }
    }

    /// Parses [`KeySpec::name`].
    pub fn from_name(s: &str) -> Option<Self> {
        [
            KeySpec::Aes256,
            KeySpec::EcP256,
            KeySpec::EcP384,
            KeySpec::Ed25519,
            KeySpec::Rsa3072,
            KeySpec::Rsa4096,
        ]
        .into_iter()
        .find(|k| k.name() == s)
    }
}

/// Where the key comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Generated inside the HSM (`CKA_LOCAL` true, always sensitive, …).
    Generated,
    /// Imported from the host (`CKA_LOCAL` false, not always-sensitive).
    Imported,
}

/// A key usage flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Usage {
    /// `CKA_SIGN` (private key) / `CKA_VERIFY` (public key).
    Sign,
    /// `CKA_ENCRYPT`.
    Encrypt,
    /// `CKA_DECRYPT`.
    Decrypt,
    /// `CKA_WRAP`.
    Wrap,
    /// `CKA_UNWRAP`.
    Unwrap,
    /// `CKA_DERIVE`.
    Derive,
}

/// One key policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPolicy {
    /// Unique name, e.g. "ec-p384-sign".
    pub name: String,
    /// What the key is for.
    pub description: String,
    /// Algorithm and size.
    pub key: KeySpec,
    /// Generated in the HSM or imported.
    pub origin: Origin,
    /// Usages the key (private or secret half) has; all others are false.
    pub usage: Vec<Usage>,
    /// `CKA_SENSITIVE`; must be true.
    #[serde(default = "yes")]
    pub sensitive: bool,
    /// `CKA_EXTRACTABLE`.
    pub extractable: bool,
    /// `CKA_WRAP_WITH_TRUSTED`.
    pub wrap_with_trusted: bool,
    /// `CKA_TRUSTED` (wrapping keys only).
    #[serde(default)]
    pub trusted: bool,
    /// Whether the key must be backed up under the root KEK.
    pub backup: bool,
    /// Set by [`KeyPolicy::for_module`] only: the documented weaker form for a module that
    /// refuses `CKA_TRUSTED` ([`WITHOUT_TRUSTED_KEYS`]). Never read from a policy file.
    #[serde(skip)]
    pub without_trusted_keys: bool,
}

/// What the weaker form of a policy means, as every record made with it states.
pub const WITHOUT_TRUSTED_KEYS: &str = "weaker policy without trusted keys: the module refuses \
     CKA_TRUSTED on every key, so keys are made with CKA_WRAP_WITH_TRUSTED false and the root \
     KEK is not trusted; keys stay sensitive, private and never readable in the clear, and \
     leave the token only wrapped, but by any wrapping key a logged-in user holds, not only by \
     the root KEK";

fn yes() -> bool {
    true
}

impl KeyPolicy {
    /// Checks the policy's internal rules. Called on load, so nothing reaches the HSM unchecked.
    pub fn validate(&self) -> Result<(), HsmError> {
        let bad = |problem: &str| {
            Err(HsmError::PolicyInvalid {
                policy: self.name.clone(),
                problem: problem.into(),
            })
        };
        if !self.sensitive {
            return bad("CKA_SENSITIVE must be true: key values never leave the HSM in the clear");
        }
        if self.extractable && !self.wrap_with_trusted && !self.without_trusted_keys {
            return bad(
                "extractable is true without wrap_with_trusted: the key could be wrapped by any \
                 key, or read; set wrap_with_trusted = true or extractable = false",
            );
        }
        if self.backup && !self.extractable {
            return bad("backup = true needs extractable = true (under wrap_with_trusted)");
        }
        if self.trusted && !(self.key.is_secret() && self.origin == Origin::Imported) {
            return bad("only the imported root KEK (an AES key) may be CKA_TRUSTED");
        }
        if self.trusted && self.extractable {
            return bad("a trusted wrapping key must not be extractable");
        }
        if self.usage.is_empty() {
            return bad("usage is empty");
        }
        for u in &self.usage {
            let ok = match self.key {
                KeySpec::Aes256 => !matches!(u, Usage::Sign),
                KeySpec::EcP256 | KeySpec::EcP384 => matches!(u, Usage::Sign | Usage::Derive),
                KeySpec::Ed25519 => matches!(u, Usage::Sign),
                KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
                    matches!(u, Usage::Sign | Usage::Decrypt | Usage::Unwrap)
                }
            };
            if !ok {
                return Err(HsmError::PolicyInvalid {
                    policy: self.name.clone(),
                    problem: format!("usage {u:?} is not possible for a {} key", self.key.name()),
                });
            }
        }
        if self.key.is_secret()
            && self
                .usage
                .iter()
                .any(|u| matches!(u, Usage::Wrap | Usage::Unwrap))
            && self
                .usage
                .iter()
                .any(|u| matches!(u, Usage::Encrypt | Usage::Decrypt))
        {
            return bad("a key either wraps keys or encrypts data, never both");
        }
        Ok(())
    }

    /// The policy as a module with quirks `q` can apply it. A module that refuses
    /// `CKA_TRUSTED` (`trusted_keys = "unsupported"`) gets the weaker form: no
    /// `CKA_WRAP_WITH_TRUSTED`, no `CKA_TRUSTED`, marked [`KeyPolicy::without_trusted_keys`];
    /// every other module gets the policy unchanged.
    pub fn for_module(&self, q: &super::quirks::ModuleQuirks) -> KeyPolicy {
        let mut p = self.clone();
        if q.trusted_keys == super::quirks::TrustedKeys::Unsupported
            && (p.wrap_with_trusted || p.trusted)
        {
            p.wrap_with_trusted = false;
            p.trusted = false;
            p.without_trusted_keys = true;
        }
        p
    }

    /// Whether the policy grants `u`.
    pub fn has(&self, u: Usage) -> bool {
        self.usage.contains(&u)
    }
}

/// `file:line:column` of the `nth` (0-based) `name = "<name>"` line, where a policy's
/// problems are reported; the file alone if it cannot be found.
fn name_location(file: &str, text: &str, name: &str, nth: usize) -> String {
    let quoted = format!("\"{name}\"");
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim_start();
            t.starts_with("name") && t.contains(&quoted)
        })
        .nth(nth)
        .map(|(i, l)| format!("{file}:{}:{}", i + 1, l.len() - l.trim_start().len() + 1))
        .unwrap_or_else(|| file.to_string())
}

/// A set of policies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySet {
    /// Format version; only 1 exists.
    pub version: u32,
    /// The policies.
    #[serde(rename = "policy")]
    pub policies: Vec<KeyPolicy>,
}

impl PolicySet {
    /// The shipped policies.
    pub fn builtin() -> Result<Self, HsmError> {
        Self::parse("built-in key-policies.toml", BUILTIN_POLICIES)
    }

    /// Reads a policy file (a site's override).
    pub fn load(path: &Path) -> Result<Self, HsmError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| HsmError::PolicyFile {
            source_name: name.clone(),
            message: e.to_string(),
        })?;
        Self::parse(&name, &text)
    }

    /// Parses and validates every policy.
    pub fn parse(source_name: &str, text: &str) -> Result<Self, HsmError> {
        let set: PolicySet = toml::from_str(text).map_err(|e| HsmError::PolicyFile {
            source_name: super::quirks::located(source_name, text, &e),
            message: e.message().to_string(),
        })?;
        if set.version != 1 {
            return Err(HsmError::PolicyFile {
                source_name: source_name.into(),
                message: format!("version {} is not supported (only 1)", set.version),
            });
        }
        for (i, p) in set.policies.iter().enumerate() {
            let earlier = set.policies[..i]
                .iter()
                .filter(|q| q.name == p.name)
                .count();
            let at = |message: String| HsmError::PolicyFile {
                source_name: name_location(source_name, text, &p.name, earlier),
                message,
            };
            if earlier > 0 {
                return Err(at(format!("policy \"{}\" is defined twice", p.name)));
            }
            p.validate().map_err(|e| at(e.to_string()))?;
        }
        Ok(set)
    }

    /// The names of the policies, in file order.
    pub fn names(&self) -> Vec<&str> {
        self.policies.iter().map(|p| p.name.as_str()).collect()
    }

    /// The policy named `name`.
    pub fn get(&self, name: &str) -> Result<&KeyPolicy, HsmError> {
        self.policies
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| HsmError::UnknownPolicy {
                name: name.into(),
                known: self.names().join(", "),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_policies_are_all_valid() {
        let s = PolicySet::builtin().unwrap();
        assert_eq!(s.policies.len(), 8);
        let kek = s.get("root-kek-import").unwrap();
        assert!(kek.trusted && !kek.extractable && kek.origin == Origin::Imported);
        assert_eq!(s.get("record-signing").unwrap().key, KeySpec::EcP384);
    }

    #[test]
    fn unknown_policy_lists_known_ones() {
        let s = PolicySet::builtin().unwrap();
        assert_eq!(
            s.get("aes128").unwrap_err().to_string(),
            "unknown key policy \"aes128\"; known policies: aes256-dek, ec-p256-sign, \
             ec-p384-sign, ed25519-sign, rsa3072-sign, rsa4096-sign, record-signing, root-kek-import"
        );
    }

    #[test]
    fn extractable_without_wrap_with_trusted_is_refused_on_load() {
        let text = r#"version = 1
[[policy]]
name = "leaky"
description = "x"
key = "ec-p256"
origin = "generated"
usage = ["sign"]
extractable = true
wrap_with_trusted = false
backup = true
"#;
        assert_eq!(
            PolicySet::parse("site.toml", text).unwrap_err().to_string(),
            "key policy file site.toml:3:1: key policy \"leaky\" is refused: extractable is \
             true without wrap_with_trusted: the key could be wrapped by any key, or read; set \
             wrap_with_trusted = true or extractable = false"
        );
    }

    #[test]
    fn other_rules() {
        let mut p = PolicySet::builtin()
            .unwrap()
            .get("aes256-dek")
            .unwrap()
            .clone();
        p.sensitive = false;
        assert_eq!(p.validate().unwrap_err().to_string(), "key policy \"aes256-dek\" is refused: CKA_SENSITIVE must be true: key values never leave the HSM in the clear");
        p.sensitive = true;
        p.usage.push(Usage::Wrap);
        assert_eq!(p.validate().unwrap_err().to_string(), "key policy \"aes256-dek\" is refused: a key either wraps keys or encrypts data, never both");
        p.usage = vec![Usage::Encrypt];
        p.trusted = true;
        assert_eq!(p.validate().unwrap_err().to_string(), "key policy \"aes256-dek\" is refused: only the imported root KEK (an AES key) may be CKA_TRUSTED");
    }

    #[test]
    fn bad_toml_names_file_and_line() {
        let err = PolicySet::parse("site.toml", "version = 1\n[[policy]]\nname = 3\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "key policy file site.toml:3:8: invalid type: integer `3`, expected a string"
        );
    }
}
