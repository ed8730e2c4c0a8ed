//! Vendor quirks as data: per-module limits and missing mechanisms.
//!
//! The shipped file is `data/vendor-quirks.toml` (format: `docs/formats/vendor-quirks.md`);
//! a site may pass its own. Code asks [`ModuleQuirks`] instead of branching on vendor names.

use super::session::token_name;
use super::{HsmError, TokenSummary};
use cryptoki::mechanism::MechanismType;
use serde::Deserialize;
use std::path::Path;

/// The shipped quirks file.
pub const BUILTIN_QUIRKS: &str = include_str!("../../data/vendor-quirks.toml");

/// The quirks of one module.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleQuirks {
    /// Human name ("SoftHSM2"); "default" for the fallback.
    #[serde(default = "default_name")]
    pub name: String,
    /// `CK_TOKEN_INFO.manufacturerID` to match (exact, trimmed).
    #[serde(default)]
    pub manufacturer: String,
    /// Prefix of `CK_TOKEN_INFO.model` to match.
    #[serde(default)]
    pub model_prefix: String,
    /// Longest label (bytes) the module accepts for tokens and keys.
    pub label_max: usize,
    /// Mechanisms the module lacks, by `CKM_` name.
    pub missing_mechanisms: Vec<String>,
    /// Attributes the module does not know, by `CKA_` name (`CKR_ATTRIBUTE_TYPE_INVALID`).
    #[serde(default)]
    pub missing_attributes: Vec<String>,
    /// The module refuses `CKA_VALUE_LEN` in an unwrap template (CKR_ATTRIBUTE_READ_ONLY)
    /// and then reports 0 for the unwrapped secret key.
    #[serde(default)]
    pub unwrapped_value_len_zero: bool,
    /// Attributes (`CKA_` names) the module does not return for a key it unwrapped; a
    /// restore's read-back does not expect them.
    #[serde(default)]
    pub unwrapped_omits: Vec<String>,
    /// How the module lets Keyrite hold a trusted (`CKA_TRUSTED`) wrapping key, and whether it
    /// can also be private. Absent: the PKCS#11 rule, [`TrustedKeys::SoOnlyPublic`].
    #[serde(default)]
    pub trusted_keys: TrustedKeys,
    /// The module enforces `CKA_UNWRAP_TEMPLATE` in `C_UnwrapKey`. Absent: false (unverified
    /// modules are not trusted to enforce it).
    #[serde(default)]
    pub unwrap_template: bool,
    /// The module enforces `CKA_WRAP_TEMPLATE` in `C_WrapKey`. Absent: false.
    #[serde(default)]
    pub wrap_template: bool,
    /// The RFC 5649 mechanism number to use (`CKM_AES_KEY_WRAP_PAD` or
    /// `CKM_AES_KEY_WRAP_KWP`). Absent: whichever the module offers, 0x210A first.
    #[serde(default)]
    pub wrap_mechanism: Option<super::wrap::Rfc5649>,
    /// A fresh (uninitialised) token already has an SO PIN, the factory one, which
    /// `C_InitToken` takes (openCryptoki): initialisation asks for the current SO PIN as for
    /// an initialised token. Absent: false (PKCS#11: a fresh token takes the new SO PIN).
    #[serde(default)]
    pub fresh_token_has_so_pin: bool,
    /// `C_InitToken` on an initialised token leaves a usable token. Absent: true. False for
    /// openCryptoki 3.8.1, whose soft token re-initialised with any SO PIN but the factory one
    /// refuses every SO login afterwards (`CKR_FUNCTION_FAILED`): Keyrite then refuses
    /// re-initialisation before anything changes.
    #[serde(default = "yes")]
    pub reinitialise: bool,
    /// A software token: its keys live in host files (refused in production).
    #[serde(default)]
    pub software: bool,
    /// Shortest PIN the module accepts, if it is stricter than Keyrite's own minimum.
    #[serde(default)]
    pub pin_min: Option<usize>,
    /// Longest PIN the module accepts.
    #[serde(default)]
    pub pin_max: Option<usize>,
    /// Where the section's claims come from.
    #[serde(default)]
    pub source: Option<Source>,
}

/// Where a quirks section's claims come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// Verified against the module on Keyrite's test machines.
    TestedHere,
    /// Taken from the vendor's public documentation, not verified here.
    FromDocumentation,
}

/// How a module lets Keyrite hold a trusted wrapping key (`docs/formats/vendor-quirks.md`).
///
/// PKCS#11 lets only the SO set `CKA_TRUSTED`, and an SO session may create only public
/// objects; a private trusted key therefore needs a module-specific path, named here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrustedKeys {
    /// An SO session may create a private trusted key directly.
    Supported,
    /// The SO creates the trusted key as a public object; a user session copies it with
    /// `C_CopyObject` and `CKA_PRIVATE` true (`CKA_TRUSTED` survives the copy), makes the copy
    /// non-modifiable and destroys the public original.
    CopyToPrivate,
    /// Trusted keys exist only as public objects: visible, and destroyable, without login.
    #[default]
    SoOnlyPublic,
    /// The module refuses `CKA_TRUSTED` on every key (Kryoptic). The root KEK is made private
    /// as with `copy-to-private` but is not trusted, and every policy is applied in its
    /// documented weaker form ([`super::policy::KeyPolicy::for_module`]).
    Unsupported,
}

fn yes() -> bool {
    true
}

fn default_name() -> String {
    "default".into()
}

/// The whole quirks file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quirks {
    /// Format version; only 1 exists.
    pub version: u32,
    /// Quirks when no module matches.
    pub default: ModuleQuirks,
    /// Per-module sections.
    #[serde(default, rename = "module")]
    pub modules: Vec<ModuleQuirks>,
    /// The site's rule for weaker protection, when the quirks were loaded for a site profile
    /// (`hsm::sitedata`); `None`: rehearsal rules (everything accepted and recorded).
    #[serde(skip)]
    pub site_rule: Option<super::protection::ProtectionRule>,
}

impl Quirks {
    /// The shipped quirks.
    pub fn builtin() -> Result<Self, HsmError> {
        Self::parse("built-in vendor-quirks.toml", BUILTIN_QUIRKS)
    }

    /// Reads a quirks file.
    pub fn load(path: &Path) -> Result<Self, HsmError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| HsmError::QuirksFile {
            source_name: name.clone(),
            message: e.to_string(),
        })?;
        Self::parse(&name, &text)
    }

    /// Parses quirks TOML; `source_name` names it in errors.
    pub fn parse(source_name: &str, text: &str) -> Result<Self, HsmError> {
        let q: Quirks = toml::from_str(text).map_err(|e| HsmError::QuirksFile {
            source_name: located(source_name, text, &e),
            message: e.message().to_string(),
        })?;
        if q.version != 1 {
            return Err(HsmError::QuirksFile {
                source_name: source_name.into(),
                message: format!("version {} is not supported (only 1)", q.version),
            });
        }
        Ok(q)
    }

    /// The section for `token` (first match by manufacturer and model prefix), or the default.
    pub fn for_token(&self, token: &TokenSummary) -> &ModuleQuirks {
        self.modules
            .iter()
            .find(|m| m.matches(&token.manufacturer, &token.model))
            .unwrap_or(&self.default)
    }
}

/// `file:line:column` of a TOML error (1-based), or the file alone when it has no place.
pub fn located(file: &str, text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let (line, column) = crate::profile::line_column(text, span.start);
            format!("{file}:{line}:{column}")
        }
        None => file.to_string(),
    }
}

/// The `CKM_` name of a mechanism (cryptoki's Display gives it without the prefix).
pub fn mechanism_name(m: MechanismType) -> String {
    if let Some(w) = super::wrap::ALL
        .into_iter()
        .find(|w| w.mechanism_type() == m)
    {
        return w.name().into();
    }
    let s = m.to_string();
    if s.starts_with("CKM_") {
        s
    } else {
        format!("CKM_{s}")
    }
}

impl ModuleQuirks {
    /// Whether this section describes a token with this manufacturer and model.
    pub fn matches(&self, manufacturer: &str, model: &str) -> bool {
        self.manufacturer == manufacturer && model.starts_with(&self.model_prefix)
    }

    /// Refuses a label longer than the module accepts, or empty.
    pub fn check_label(&self, operation: &str, token: &str, label: &str) -> Result<(), HsmError> {
        if label.is_empty() || label.len() > self.label_max {
            return Err(HsmError::Malformed {
                operation: operation.into(),
                token: token.into(),
                problem: format!(
                    "the label \"{label}\" has {} bytes; {} accepts 1 to {} (vendor quirks)",
                    label.len(),
                    self.name,
                    self.label_max
                ),
            });
        }
        Ok(())
    }

    /// `policy` as this module can apply it ([`KeyPolicy::for_module`]); the weaker form is
    /// refused here, before anything changes, when the site rule is production without
    /// `accept_weaker_key_protection`.
    pub fn policy_for(
        &self,
        policy: &super::policy::KeyPolicy,
        rule: Option<super::protection::ProtectionRule>,
        operation: &str,
        token: &str,
    ) -> Result<super::policy::KeyPolicy, HsmError> {
        self.require_key_attributes(operation, token)?;
        let p = policy.for_module(self);
        if p.without_trusted_keys
            && rule
                == Some(super::protection::ProtectionRule::Production {
                    accept_weaker: false,
                })
        {
            return Err(HsmError::WeakerKeyProtection {
                operation: operation.into(),
                token: token.into(),
                module: self.name.clone(),
                weaknesses: super::policy::WITHOUT_TRUSTED_KEYS.into(),
            });
        }
        Ok(p)
    }

    /// Refuses, before anything is created, a module that lacks an attribute every key
    /// template of Keyrite's carries (`CKA_WRAP_WITH_TRUSTED`).
    pub fn require_key_attributes(&self, operation: &str, token: &str) -> Result<(), HsmError> {
        const NEEDED: &[&str] = &["CKA_WRAP_WITH_TRUSTED"];
        match NEEDED
            .iter()
            .find(|a| self.missing_attributes.iter().any(|m| m == *a))
        {
            Some(a) => Err(HsmError::AttributeMissing {
                operation: operation.into(),
                token: token.into(),
                module: self.name.clone(),
                attribute: (*a).into(),
            }),
            None => Ok(()),
        }
    }

    /// Refuses a PIN the module would refuse by length (`pin_min`, `pin_max`), before the
    /// token is touched.
    pub fn check_pin_len(
        &self,
        which: &'static str,
        pin: &crate::secret::SecretText,
    ) -> Result<(), HsmError> {
        let n = pin.expose().chars().count();
        let too_short = self.pin_min.is_some_and(|m| n < m);
        let too_long = self.pin_max.is_some_and(|m| n > m);
        if too_short || too_long {
            return Err(HsmError::PinPolicy {
                which,
                problem: format!(
                    "it has {n} characters; {} accepts {} to {} (vendor quirks)",
                    self.name,
                    self.pin_min.map_or("any number".into(), |m| m.to_string()),
                    self.pin_max.map_or("any number".into(), |m| m.to_string()),
                ),
            });
        }
        Ok(())
    }

    /// Whether the quirks file says the module lacks `mechanism` (by `CKM_` name).
    pub fn lacks(&self, mechanism: &str) -> bool {
        self.missing_mechanisms.iter().any(|m| m == mechanism)
    }
}

/// Checks that the token offers `mechanism` — from the quirks file first, then from the
/// module's own mechanism list — before an operation starts.
pub fn require_mechanism(
    ctx: &cryptoki::context::Pkcs11,
    slot: cryptoki::slot::Slot,
    token: &TokenSummary,
    quirks: &ModuleQuirks,
    operation: &str,
    mechanism: MechanismType,
) -> Result<(), HsmError> {
    let name = mechanism_name(mechanism);
    let missing = || HsmError::MechanismMissing {
        operation: operation.into(),
        token: token_name(token),
        mechanism: name.clone(),
    };
    if quirks.lacks(&name) {
        return Err(missing());
    }
    let list = ctx.get_mechanism_list(slot).map_err(|e| {
        super::session::call_err(
            "listing mechanisms (C_GetMechanismList)",
            &token_name(token),
            &e,
        )
    })?;
    if !list.contains(&mechanism) {
        return Err(missing());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_parses_and_names_softhsm_gaps() {
        let q = Quirks::builtin().unwrap();
        let soft = q.modules.iter().find(|m| m.name == "SoftHSM2").unwrap();
        assert!(soft.lacks("CKM_ECDSA_SHA384"));
        assert!(!soft.lacks("CKM_ECDSA"));
        assert_eq!(
            mechanism_name(MechanismType::ECDSA_SHA384),
            "CKM_ECDSA_SHA384"
        );
    }

    #[test]
    fn every_module_section_says_where_it_comes_from_and_opencryptoki_lacks_wrap_with_trusted() {
        let q = Quirks::builtin().unwrap();
        for m in &q.modules {
            assert!(m.source.is_some(), "{}", m.name);
        }
        for name in [
            "SoftHSM2",
            "Kryoptic",
            "openCryptoki",
            "OpenSC (smart cards and USB tokens)",
            "YubiHSM 2",
            "Thales Luna",
            "Entrust nShield",
            "AWS CloudHSM",
        ] {
            assert!(q.modules.iter().any(|m| m.name == name), "{name}");
        }
        let ock = q.modules.iter().find(|m| m.name == "openCryptoki").unwrap();
        let policies = super::super::policy::PolicySet::builtin().unwrap();
        let err = ock
            .policy_for(
                policies.get("aes256-dek").unwrap(),
                None,
                "generating key \"k\" under policy \"aes256-dek\"",
                "token \"ock\" (serial 123)",
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "generating key \"k\" under policy \"aes256-dek\" on token \"ock\" (serial 123) \
             needs the attribute CKA_WRAP_WITH_TRUSTED, which the module does not support \
             (vendor quirks \"openCryptoki\", missing_attributes); use a module that supports \
             it; nothing was created"
        );
        assert!(super::super::token::is_software("IBM Corp.", "IBM SoftTok"));
        assert!(!super::super::token::is_software("SafeNet", "Luna K7"));
    }

    #[test]
    fn only_opencryptoki_has_a_factory_so_pin_and_refuses_reinitialisation() {
        let q = Quirks::builtin().unwrap();
        for m in q.modules.iter().chain([&q.default]) {
            let ock = m.name == "openCryptoki";
            assert_eq!(m.fresh_token_has_so_pin, ock, "{}", m.name);
            assert_eq!(m.reinitialise, !ock, "{}", m.name);
        }
    }

    #[test]
    fn unknown_key_is_refused_with_position() {
        let err = Quirks::parse(
            "q.toml",
            "version = 1\nbogus = 2\n[default]\nlabel_max = 3\nmissing_mechanisms = []\n",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "vendor quirks file q.toml:2:1: unknown field `bogus`, expected one of `version`, \
             `default`, `module`"
        );
    }
}
