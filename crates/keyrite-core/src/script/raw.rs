//! The script as parsed by serde, before validation: strict about keys and types only.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScript {
    pub id: String,
    pub version: String,
    pub title: String,
    pub purpose: String,
    pub roles: RawRoles,
    #[serde(default)]
    pub steps: Vec<RawStep>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoles {
    pub administrator: u32,
    #[serde(default)]
    pub witness: u32,
    #[serde(default)]
    pub auditor: u32,
    pub custodians: Option<RawCustodians>,
    /// Pairs of roles one person may hold together; checked in validation.
    #[serde(default)]
    pub combine: Vec<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCustodians {
    pub threshold: i64,
    pub total: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStep {
    pub id: String,
    pub title: String,
    pub role: String,
    pub action: String,
    pub instructions: String,
    /// Checked against the action's parameter list in validation (kinds differ per action).
    #[serde(default)]
    pub params: toml::Table,
    /// Role → count or "all"/"threshold"; checked in validation.
    #[serde(default)]
    pub sign_off: toml::Table,
    #[serde(default)]
    pub quorum: bool,
    #[serde(default)]
    pub compliance: Vec<String>,
}
