//! The script's SHA-256 over its exact file bytes: what reviewers sign off and the record prints.

use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::fmt;

/// SHA-256 of the script file's bytes, exactly as read (no normalisation).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ScriptDigest([u8; 32]);

impl ScriptDigest {
    /// Hashes the file bytes.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// The 32 digest bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// One word per byte (`crate::words`), for reading aloud.
    pub fn words(&self) -> String {
        crate::words::to_words(&self.0)
    }
}

impl fmt::Debug for ScriptDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScriptDigest({})", self.hex())
    }
}

impl fmt::Display for ScriptDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl Serialize for ScriptDigest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("ScriptDigest", 2)?;
        st.serialize_field("sha256", &self.hex())?;
        st.serialize_field("words", &self.words())?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        let d = ScriptDigest::of(b"abc");
        assert_eq!(
            d.hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            crate::words::from_words(&d.words()).ok().as_deref(),
            Some(&d.bytes()[..])
        );
        assert!(d
            .words()
            .starts_with(&format!("{} ", crate::words::word(0xba))));
    }
}
