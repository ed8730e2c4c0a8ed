//! Key types and their suggested cryptoperiods (SP 800-57 Pt 1 Rev 5 §5.3.6, Table 1).
//! The days are the upper end of the originator-usage period; "several years" is taken as 5.

use serde::{Deserialize, Serialize};

/// Key types of Table 1 that a ceremony inventories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[expect(missing_docs, reason = "names follow Table 1 rows")]
pub enum KeyType {
    PrivateSignature,
    PublicSignatureVerification,
    SymmetricAuthentication,
    PrivateAuthentication,
    PublicAuthentication,
    SymmetricDataEncryption,
    SymmetricKeyWrapping,
    SymmetricMasterKey,
    PrivateKeyTransport,
    PublicKeyTransport,
    SymmetricKeyAgreement,
    PrivateStaticKeyAgreement,
    PublicStaticKeyAgreement,
    SymmetricAuthorization,
    PrivateAuthorization,
    PublicAuthorization,
}

impl KeyType {
    /// The SP 800-57 key type a key policy makes: the one rule both the ceremony engine and
    /// the journaled `keyrite hsm` operations register keys by.
    pub(crate) fn for_policy(policy: &crate::hsm::policy::KeyPolicy) -> Self {
        use crate::hsm::policy::Usage;
        let secret = policy.key.is_secret();
        if policy.trusted || (secret && policy.usage.contains(&Usage::Wrap)) {
            KeyType::SymmetricKeyWrapping
        } else if secret {
            KeyType::SymmetricDataEncryption
        } else if policy.usage.contains(&Usage::Sign) {
            KeyType::PrivateSignature
        } else {
            KeyType::PrivateKeyTransport
        }
    }

    /// (Table 1 row, kebab name, suggested originator-usage period in days).
    fn row(self) -> (u8, &'static str, i64) {
        use KeyType::*;
        match self {
            PrivateSignature => (1, "private-signature", 3 * 365),
            PublicSignatureVerification => (2, "public-signature-verification", 5 * 365),
            SymmetricAuthentication => (3, "symmetric-authentication", 2 * 365),
            PrivateAuthentication => (4, "private-authentication", 2 * 365),
            PublicAuthentication => (5, "public-authentication", 2 * 365),
            SymmetricDataEncryption => (6, "symmetric-data-encryption", 2 * 365),
            SymmetricKeyWrapping => (7, "symmetric-key-wrapping", 2 * 365),
            SymmetricMasterKey => (9, "symmetric-master-key", 365),
            PrivateKeyTransport => (10, "private-key-transport", 2 * 365),
            PublicKeyTransport => (11, "public-key-transport", 2 * 365),
            SymmetricKeyAgreement => (12, "symmetric-key-agreement", 2 * 365),
            PrivateStaticKeyAgreement => (13, "private-static-key-agreement", 2 * 365),
            PublicStaticKeyAgreement => (14, "public-static-key-agreement", 2 * 365),
            SymmetricAuthorization => (17, "symmetric-authorization", 2 * 365),
            PrivateAuthorization => (18, "private-authorization", 2 * 365),
            PublicAuthorization => (19, "public-authorization", 2 * 365),
        }
    }

    /// All key types.
    pub const ALL: [KeyType; 16] = {
        use KeyType::*;
        [
            PrivateSignature,
            PublicSignatureVerification,
            SymmetricAuthentication,
            PrivateAuthentication,
            PublicAuthentication,
            SymmetricDataEncryption,
            SymmetricKeyWrapping,
            SymmetricMasterKey,
            PrivateKeyTransport,
            PublicKeyTransport,
            SymmetricKeyAgreement,
            PrivateStaticKeyAgreement,
            PublicStaticKeyAgreement,
            SymmetricAuthorization,
            PrivateAuthorization,
            PublicAuthorization,
        ]
    };

    /// The kebab-case name.
    pub fn name(self) -> &'static str {
        self.row().1
    }

    /// Parses the kebab-case name.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }

    /// The row number in SP 800-57 Table 1.
    pub fn table_row(self) -> u8 {
        self.row().0
    }

    /// The suggested cryptoperiod (days): the policy default.
    pub fn suggested_days(self) -> i64 {
        self.row().2
    }
}
