//! Site profiles: *where* a ceremony runs.
//!
//! A ceremony script says what happens; a site profile says which PKCS#11 module, which token,
//! which HSM identity is expected, and whether this is a rehearsal or production. The format
//! is documented in `docs/formats/site-profile.md`. Unknown keys are rejected, and production
//! profiles must name their module and the HSM identity they expect.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

mod expect;
pub use expect::{ExpectError, ExpectedIdentity, SlotDescription};

/// Rehearsal (software HSM allowed, every record stamped) or production.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Practice run, normally on the embedded SoftHSM2 token.
    Rehearsal,
    /// A real ceremony: hardware HSM with pinned identity, air-gap enforced.
    Production,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Rehearsal => "rehearsal",
            Mode::Production => "production",
        })
    }
}

/// A site profile as read from TOML.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteProfile {
    /// Format version; only 1 exists.
    pub version: u32,
    /// The site.
    pub site: Site,
    /// The HSM to use.
    #[serde(default)]
    pub hsm: HsmSelection,
    /// What the site asks of custodians' YubiKeys.
    #[serde(default)]
    pub custodians: CustodianRules,
    /// How journal exports identify the site to its SIEM.
    #[serde(default)]
    pub siem: SiemSettings,
    /// Where the site prints (optional).
    #[serde(default)]
    pub printing: Printing,
}

/// The site's printers (`[printing]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Printing {
    /// The CUPS queue share cards are printed on; unset: no card is printed.
    pub share_cards: Option<QueueName>,
}

/// A CUPS queue name, checked when the profile is read ([`crate::printing::check_queue_name`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct QueueName(String);

impl QueueName {
    /// The name as CUPS knows it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for QueueName {
    type Error = crate::printing::QueueNameError;
    fn try_from(name: String) -> Result<Self, Self::Error> {
        crate::printing::check_queue_name(&name)?;
        Ok(QueueName(name))
    }
}

impl From<QueueName> for String {
    fn from(q: QueueName) -> String {
        q.0
    }
}

/// SIEM export settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiemSettings {
    /// The organisation's IANA Private Enterprise Number, used in the syslog SD-ID
    /// `keyrite@<PEN>`; unset: the documentation number 32473, with a notice on every export.
    pub syslog_enterprise_number: Option<u32>,
}

/// Rules for custodians' YubiKeys at this site.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustodianRules {
    /// Enrol only YubiKeys whose 9c and 9d keys are attested to a trusted root (Yubico's PIV
    /// attestation CA); default false (a non-attested key is enrolled and recorded as such).
    #[serde(default)]
    pub require_attestation: bool,
}

/// Where the ceremony happens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    /// Human name of the site, printed on records.
    pub name: String,
    /// Rehearsal or production.
    pub mode: Mode,
}

/// Which PKCS#11 module and token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HsmSelection {
    /// Path of the PKCS#11 module. Absent: the embedded rehearsal SoftHSM2 (rehearsal only).
    pub module: Option<PathBuf>,
    /// Select the token by label.
    pub token_label: Option<String>,
    /// Select the token by serial number.
    pub token_serial: Option<String>,
    /// The HSM identity this site expects; required in production.
    pub expect: Option<ExpectedIdentity>,
    /// Production accepts a module whose vendor quirks give the key hierarchy weaker
    /// protection than Keyrite requires (public or template-less root KEK); every record then
    /// states it. Default false. Ignored in rehearsal, which always accepts and records it.
    #[serde(default)]
    pub accept_weaker_key_protection: bool,
    /// A vendor-quirks file merged over the built-in one (`docs/formats/vendor-quirks.md`);
    /// relative to the profile's directory.
    #[serde(default)]
    pub vendor_quirks: Option<PathBuf>,
    /// A key-policy file merged over the built-in one (`docs/formats/key-policy.md`); relative
    /// to the profile's directory.
    #[serde(default)]
    pub key_policies: Option<PathBuf>,
    /// The two files as read and validated when the profile was loaded: what ceremonies use
    /// and records name (`crate::hsm::sitedata`).
    #[serde(skip)]
    pub site_files: crate::hsm::sitedata::SiteFiles,
}

/// Errors reading a site profile.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file could not be read.
    #[error("cannot read site profile {path}: {source}")]
    Read {
        /// The profile file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The TOML is malformed, has an unknown key, or a bad value. The message names line and
    /// column.
    #[error("site profile {path} is invalid: {message}")]
    Parse {
        /// The profile file.
        path: PathBuf,
        /// What the parser said, including line and column.
        message: String,
    },
    /// The profile parses but is not acceptable.
    #[error("site profile {path} is invalid: {problem}")]
    Invalid {
        /// The profile file.
        path: PathBuf,
        /// What is wrong and what to do.
        problem: String,
    },
}

/// Describes a TOML error as "line L, column C: message" (1-based), the form every Keyrite
/// message about a TOML file uses.
pub fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let (line, column) = line_column(text, span.start);
            format!("line {line}, column {column}: {}", e.message())
        }
        None => e.message().to_string(),
    }
}

/// 1-based line and column (in characters) of a byte offset; an offset past the end or
/// inside a character counts as the end of the text.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, column)
}

/// Label of the embedded rehearsal token.
pub const REHEARSAL_TOKEN_LABEL: &str = "keyrite-rehearsal";

impl SiteProfile {
    /// The profile used when none is given: rehearsal on the embedded SoftHSM2 token.
    pub fn default_rehearsal() -> Self {
        Self {
            version: 1,
            site: Site {
                name: "Rehearsal (embedded SoftHSM2)".into(),
                mode: Mode::Rehearsal,
            },
            hsm: HsmSelection {
                module: None,
                token_label: Some(REHEARSAL_TOKEN_LABEL.into()),
                token_serial: None,
                expect: None,
                accept_weaker_key_protection: false,
                vendor_quirks: None,
                key_policies: None,
                site_files: Default::default(),
            },
            custodians: CustodianRules::default(),
            siem: SiemSettings::default(),
            printing: Printing::default(),
        }
    }

    /// Reads and validates a profile file.
    pub fn load(path: &Path) -> Result<Self, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates profile text; `path` is used in messages only.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ProfileError> {
        let mut profile: SiteProfile = toml::from_str(text).map_err(|e| ProfileError::Parse {
            path: path.to_path_buf(),
            message: describe_toml_error(text, &e),
        })?;
        profile.validate(path)?;
        // Site quirks and policies are read and validated now, like the profile itself: a bad
        // file refuses the profile before anything is created.
        profile.hsm.site_files = crate::hsm::sitedata::SiteFiles::load(
            path.parent().unwrap_or(Path::new(".")),
            profile.hsm.vendor_quirks.as_deref(),
            profile.hsm.key_policies.as_deref(),
        )
        .map_err(|e| ProfileError::Invalid {
            path: path.to_path_buf(),
            problem: e.to_string(),
        })?;
        Ok(profile)
    }

    fn validate(&self, path: &Path) -> Result<(), ProfileError> {
        let invalid = |problem: &str| ProfileError::Invalid {
            path: path.to_path_buf(),
            problem: problem.to_string(),
        };
        if self.version != 1 {
            return Err(invalid(&format!(
                "version {} is not supported (this Keyrite reads version 1)",
                self.version
            )));
        }
        if self.site.name.trim().is_empty() {
            return Err(invalid(
                "site.name is empty; name the site as the record should show it",
            ));
        }
        if self.siem.syslog_enterprise_number == Some(0) {
            return Err(invalid(
                "siem.syslog_enterprise_number is 0, which IANA reserves; \
                 use your organisation's Private Enterprise Number",
            ));
        }
        if self.hsm.token_label.is_some() && self.hsm.token_serial.is_some() {
            return Err(invalid(
                "hsm.token_label and hsm.token_serial are both set; select the token by one of them",
            ));
        }
        // The same name rule as script labels (crate::names): the label is printed on records
        // and compared with what the token reports.
        if let Some(l) = &self.hsm.token_label {
            crate::names::check_label("hsm.token_label", l)
                .map_err(|e| invalid(&format!("{e}; write the token's label as Keyrite set it")))?;
        }
        if self.site.mode == Mode::Production {
            if self.hsm.module.is_none() {
                return Err(invalid(
                    "production needs hsm.module: the path of the HSM's PKCS#11 module \
                     (the embedded SoftHSM2 is for rehearsal only)",
                ));
            }
            if self.hsm.expect.is_none() {
                return Err(invalid(
                    "production needs [hsm.expect] with manufacturer, model and serial of the HSM",
                ));
            }
            if self.hsm.token_label.is_none() && self.hsm.token_serial.is_none() {
                return Err(invalid(
                    "production needs hsm.token_label or hsm.token_serial to select the token",
                ));
            }
        }
        Ok(())
    }

    /// Whether this profile uses the embedded rehearsal SoftHSM2.
    pub fn uses_embedded_hsm(&self) -> bool {
        self.hsm.module.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<SiteProfile, String> {
        SiteProfile::parse(text, Path::new("site.toml")).map_err(|e| e.to_string())
    }

    const PROD: &str = r#"
version = 1
[site]
name = "Vault room B"
mode = "production"
[hsm]
module = "/opt/hsm/lib.so"
token_label = "root"
[hsm.expect]
manufacturer = "ACME"
model = "HSM-9"
serial = "1234"
"#;

    #[test]
    fn production_profile_parses() {
        let p = parse(PROD).unwrap();
        assert_eq!(p.site.mode, Mode::Production);
        assert_eq!(p.hsm.expect.unwrap().serial, "1234");
    }

    #[test]
    fn accept_weaker_key_protection_defaults_false_and_sets_the_production_rule() {
        use crate::hsm::protection::ProtectionRule;
        let p = parse(PROD).unwrap();
        assert!(!p.hsm.accept_weaker_key_protection);
        assert_eq!(
            ProtectionRule::of(&p),
            ProtectionRule::Production {
                accept_weaker: false
            }
        );
        let text = PROD.replace(
            "token_label = \"root\"\n",
            "token_label = \"root\"\naccept_weaker_key_protection = true\n",
        );
        let p = parse(&text).unwrap();
        assert_eq!(
            ProtectionRule::of(&p),
            ProtectionRule::Production {
                accept_weaker: true
            }
        );
        let err = parse(&PROD.replace(
            "token_label = \"root\"\n",
            "token_label = \"root\"\naccept_weaker_key_protection = \"yes\"\n",
        ))
        .unwrap_err();
        assert_eq!(
            err,
            "site profile site.toml is invalid: line 9, column 32: invalid type: string \"yes\", \
             expected a boolean"
        );
    }

    #[test]
    fn unknown_key_is_rejected_with_line() {
        let err =
            parse("version = 1\n[site]\nname = \"x\"\nmode = \"rehearsal\"\ncolour = \"red\"\n")
                .unwrap_err();
        assert_eq!(
            err,
            "site profile site.toml is invalid: line 5, column 1: unknown field `colour`, \
             expected `name` or `mode`"
        );
    }

    #[test]
    fn bad_mode_value_is_rejected() {
        let err = parse("version = 1\n[site]\nname = \"x\"\nmode = \"live\"\n").unwrap_err();
        assert!(err.contains("line 4, column 8"), "{err}");
        assert!(
            err.contains("unknown variant `live`, expected `rehearsal` or `production`"),
            "{err}"
        );
    }

    #[test]
    fn production_without_identity_is_refused() {
        let text = PROD.replace(
            "[hsm.expect]\nmanufacturer = \"ACME\"\nmodel = \"HSM-9\"\nserial = \"1234\"\n",
            "",
        );
        assert_eq!(
            parse(&text).unwrap_err(),
            "site profile site.toml is invalid: production needs [hsm.expect] with manufacturer, \
             model and serial of the HSM"
        );
    }

    #[test]
    fn production_without_module_is_refused() {
        let text = PROD.replace("module = \"/opt/hsm/lib.so\"\n", "");
        assert_eq!(
            parse(&text).unwrap_err(),
            "site profile site.toml is invalid: production needs hsm.module: the path of the \
             HSM's PKCS#11 module (the embedded SoftHSM2 is for rehearsal only)"
        );
    }

    #[test]
    fn custodian_attestation_requirement_parses_and_defaults_to_off() {
        assert!(!parse(PROD).unwrap().custodians.require_attestation);
        let text = format!("{PROD}[custodians]\nrequire_attestation = true\n");
        assert!(parse(&text).unwrap().custodians.require_attestation);
        let err = parse(&format!("{PROD}[custodians]\nrequire_attested = true\n")).unwrap_err();
        assert_eq!(
            err,
            "site profile site.toml is invalid: line 14, column 1: unknown field \
             `require_attested`, expected `require_attestation`"
        );
        let err = parse(&format!(
            "{PROD}[custodians]\nrequire_attestation = \"yes\"\n"
        ))
        .unwrap_err();
        assert!(
            err.starts_with("site profile site.toml is invalid: line 14, column 23: "),
            "{err}"
        );
    }

    #[test]
    fn token_label_that_is_not_a_name_is_refused() {
        let text = "version = 1\n[site]\nname = \"Lab\"\nmode = \"rehearsal\"\n[hsm]\n\
                    token_label = \"../tok\"\n";
        let err = SiteProfile::parse(text, Path::new("site.toml")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "site profile site.toml is invalid: hsm.token_label \"../tok\" contains the dot \
             segment \"..\"; a name must not lead out of its directory; write the token's label \
             as Keyrite set it"
        );
    }

    #[test]
    fn syslog_enterprise_number_parses_and_zero_is_refused() {
        let base = "version = 1\n[site]\nname = \"x\"\nmode = \"rehearsal\"\n";
        assert_eq!(parse(base).unwrap().siem.syslog_enterprise_number, None);
        let p = parse(&format!("{base}[siem]\nsyslog_enterprise_number = 99999\n")).unwrap();
        assert_eq!(p.siem.syslog_enterprise_number, Some(99999));
        assert_eq!(
            parse(&format!("{base}[siem]\nsyslog_enterprise_number = 0\n")).unwrap_err(),
            "site profile site.toml is invalid: siem.syslog_enterprise_number is 0, which IANA \
             reserves; use your organisation's Private Enterprise Number"
        );
    }

    #[test]
    fn printing_queue_parses_and_is_checked_with_line_and_column() {
        let base = "version = 1\n[site]\nname = \"x\"\nmode = \"rehearsal\"\n";
        assert_eq!(parse(base).unwrap().printing.share_cards, None);
        let p = parse(&format!(
            "{base}[printing]\nshare_cards = \"vault-cards\"\n"
        ))
        .unwrap();
        assert_eq!(
            p.printing.share_cards.as_ref().map(QueueName::as_str),
            Some("vault-cards")
        );
        assert_eq!(
            parse(&format!("{base}[printing]\nshare_cards = \"vault cards\"\n")).unwrap_err(),
            "site profile site.toml is invalid: line 6, column 15: print queue name \"vault cards\" \
             is not a CUPS queue name Keyrite accepts: 1 to 127 ASCII letters, digits, '-', '_' or \
             '.', starting with a letter or digit"
        );
        assert_eq!(
            parse(&format!("{base}[printing]\nshare_card = \"q\"\n")).unwrap_err(),
            "site profile site.toml is invalid: line 6, column 1: unknown field `share_card`, \
             expected `share_cards`"
        );
    }

    #[test]
    fn unsupported_version_is_refused() {
        let err = parse("version = 2\n[site]\nname = \"x\"\nmode = \"rehearsal\"\n").unwrap_err();
        assert_eq!(
            err,
            "site profile site.toml is invalid: version 2 is not supported (this Keyrite reads version 1)"
        );
    }
}
