//! Compliance references on steps: which control a step produces evidence for.

use serde::Serialize;
use std::fmt;

/// A compliance framework Keyrite maps steps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Framework {
    /// HIPAA Security Rule (45 CFR 164).
    #[serde(rename = "HIPAA")]
    Hipaa,
    /// ISO/IEC 27001:2022 Annex A.
    #[serde(rename = "ISO 27001")]
    Iso27001,
    /// AICPA SOC 2 trust services criteria.
    #[serde(rename = "SOC 2")]
    Soc2,
    /// PCI DSS v4.0.1.
    #[serde(rename = "PCI DSS")]
    PciDss,
    /// CA/Browser Forum Baseline Requirements.
    #[serde(rename = "BR")]
    CabForumBr,
    /// NIST special publications.
    #[serde(rename = "NIST")]
    Nist,
    /// WebTrust for CAs.
    #[serde(rename = "WebTrust")]
    WebTrust,
}

impl Framework {
    const ALL: [Framework; 7] = [
        Framework::Hipaa,
        Framework::Iso27001,
        Framework::Soc2,
        Framework::PciDss,
        Framework::CabForumBr,
        Framework::Nist,
        Framework::WebTrust,
    ];

    /// The prefix used in scripts.
    pub fn name(self) -> &'static str {
        match self {
            Framework::Hipaa => "HIPAA",
            Framework::Iso27001 => "ISO 27001",
            Framework::Soc2 => "SOC 2",
            Framework::PciDss => "PCI DSS",
            Framework::CabForumBr => "BR",
            Framework::Nist => "NIST",
            Framework::WebTrust => "WebTrust",
        }
    }
}

/// A reference such as `PCI DSS 3.7.6` or `HIPAA 164.312(b)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComplianceRef {
    /// The framework.
    pub framework: Framework,
    /// The clause within it, e.g. `3.7.6`, `164.312(a)(2)(iv)`, `A.8.24`.
    pub clause: String,
}

impl ComplianceRef {
    /// Parses `FRAMEWORK CLAUSE`; the clause holds letters, digits, `.`, `(`, `)`, `-`.
    pub fn parse(s: &str) -> Option<Self> {
        Framework::ALL.into_iter().find_map(|fw| {
            let clause = s.strip_prefix(fw.name())?.strip_prefix(' ')?;
            let ok = !clause.is_empty()
                && clause
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric())
                && clause
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".()-".contains(c));
            ok.then(|| ComplianceRef {
                framework: fw,
                clause: clause.to_string(),
            })
        })
    }
}

impl fmt::Display for ComplianceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.framework.name(), self.clause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_frameworks_only() {
        let r = ComplianceRef::parse("HIPAA 164.312(a)(2)(iv)");
        assert_eq!(
            r.map(|r| r.to_string()),
            Some("HIPAA 164.312(a)(2)(iv)".into())
        );
        assert_eq!(
            ComplianceRef::parse("ISO 27001 A.8.24").map(|r| r.clause),
            Some("A.8.24".into())
        );
        assert_eq!(ComplianceRef::parse("PCI 3.7.6"), None);
        assert_eq!(ComplianceRef::parse("PCI DSS "), None);
        assert_eq!(ComplianceRef::parse("PCI DSS 3.7;6"), None);
    }
}
