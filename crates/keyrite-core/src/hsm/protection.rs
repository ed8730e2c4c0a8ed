//! How well the token protects the key hierarchy, decided from the vendor quirks before the
//! root KEK is made, and the wrap/unwrap templates that bind what the KEK may produce.
//!
//! Keyrite wants the root KEK private (nothing without login), trusted (so keys marked
//! `CKA_WRAP_WITH_TRUSTED` can be backed up under it and under nothing else), non-modifiable,
//! and carrying a `CKA_UNWRAP_TEMPLATE` that makes every key it unwraps come back sensitive,
//! private and wrappable only by a trusted key. A module that cannot give all of that is
//! described in the vendor-quirks data; production refuses it unless the site profile accepts
//! the weaker protection explicitly, and the KEK's evidence says which protection applied
//! ([`KeyProtection`], journaled as `key_protection`).

use super::quirks::{ModuleQuirks, TrustedKeys};
use super::HsmError;
use cryptoki::object::{Attribute, AttributeType};
use serde::Serialize;
use std::os::raw::c_ulong;

/// `CKA_WRAP_TEMPLATE` (`CKF_ARRAY_ATTRIBUTE | 0x211`); cryptoki 0.12 has no variant for it.
const CKA_WRAP_TEMPLATE: c_ulong = 0x4000_0211;
/// `CKA_UNWRAP_TEMPLATE` (`CKF_ARRAY_ATTRIBUTE | 0x212`).
const CKA_UNWRAP_TEMPLATE: c_ulong = 0x4000_0212;
const CKA_PRIVATE: c_ulong = 0x2;
const CKA_SENSITIVE: c_ulong = 0x103;
const CKA_WRAP_WITH_TRUSTED: c_ulong = 0x210;

/// The CK_BBOOL the template entries point at. A `static`, so the address stays valid for as
/// long as any template built here is alive (the module reads it during the call).
static CK_TRUE: u8 = 1;

/// Whether the site accepts a module that protects the hierarchy less than Keyrite wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtectionRule {
    /// Rehearsal: any protection the quirks describe is accepted (and recorded).
    Rehearsal,
    /// Production: weaker protection only with `[hsm] accept_weaker_key_protection = true`.
    Production {
        /// The site profile's `accept_weaker_key_protection`.
        accept_weaker: bool,
    },
}

impl ProtectionRule {
    /// The rule a site profile sets.
    pub fn of(profile: &crate::profile::SiteProfile) -> Self {
        match profile.site.mode {
            crate::profile::Mode::Rehearsal => ProtectionRule::Rehearsal,
            crate::profile::Mode::Production => ProtectionRule::Production {
                accept_weaker: profile.hsm.accept_weaker_key_protection,
            },
        }
    }
}

/// Overall verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProtectionLevel {
    /// Private, trusted, non-modifiable KEK whose unwrap template the module enforces.
    Full,
    /// Something of the above is missing; `weaknesses` says what.
    Weaker,
}

/// Which protection the root KEK got: journaled with the import evidence as `key_protection`
/// so that the record can state it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyProtection {
    /// `full` or `weaker`.
    pub level: ProtectionLevel,
    /// The vendor-quirks section that decided it ("SoftHSM2", "default", …).
    pub module: String,
    /// How the module lets Keyrite hold a trusted key (`trusted_keys` quirk).
    pub trusted_keys: TrustedKeys,
    /// The KEK is a private object (`CKA_PRIVATE` true): invisible and unusable without login.
    /// (Not named `kek_private`: the journal refuses field names that sound like secrets.)
    pub kek_login_required: bool,
    /// The KEK is `CKA_TRUSTED`.
    pub kek_trusted: bool,
    /// The KEK carries `CKA_UNWRAP_TEMPLATE` and the module enforces it.
    pub unwrap_template_enforced: bool,
    /// The KEK carries `CKA_WRAP_TEMPLATE` and the module enforces it.
    pub wrap_template_enforced: bool,
    /// Each weakness in words (empty when `full`).
    pub weaknesses: Vec<String>,
    /// Whether the weaker protection was accepted by the site profile
    /// (`[hsm] accept_weaker_key_protection`); false in rehearsal and when `full`.
    pub accepted_by_profile: bool,
}

impl KeyProtection {
    /// The protection a module with quirks `q` gives the root KEK.
    pub fn plan(q: &ModuleQuirks) -> Self {
        let kek_login_required = q.trusted_keys != TrustedKeys::SoOnlyPublic;
        let kek_trusted = q.trusted_keys != TrustedKeys::Unsupported;
        let mut weaknesses = Vec::new();
        if !kek_trusted {
            weaknesses.push(super::policy::WITHOUT_TRUSTED_KEYS.to_string());
        }
        if !kek_login_required {
            weaknesses.push(
                "the root KEK is a public object: only the SO may set CKA_TRUSTED and this \
                 module lets the SO create public objects only, so the KEK is visible and can \
                 be destroyed without login"
                    .to_string(),
            );
        }
        if !q.unwrap_template {
            weaknesses.push(format!(
                "the module is not known to enforce CKA_UNWRAP_TEMPLATE: a session {} could \
                 unwrap a backup under the root KEK into a non-sensitive, extractable key",
                if kek_login_required {
                    "logged in as user"
                } else {
                    "without any login"
                }
            ));
        }
        KeyProtection {
            level: if weaknesses.is_empty() {
                ProtectionLevel::Full
            } else {
                ProtectionLevel::Weaker
            },
            module: q.name.clone(),
            trusted_keys: q.trusted_keys,
            kek_login_required,
            kek_trusted,
            unwrap_template_enforced: q.unwrap_template,
            wrap_template_enforced: q.wrap_template,
            weaknesses,
            accepted_by_profile: false,
        }
    }

    /// Applies the site's rule: production refuses weaker protection unless accepted.
    /// Called before anything is created on the token.
    pub fn check(
        mut self,
        rule: ProtectionRule,
        operation: &str,
        token: &str,
    ) -> Result<Self, HsmError> {
        if self.level == ProtectionLevel::Full {
            return Ok(self);
        }
        match rule {
            ProtectionRule::Rehearsal => Ok(self),
            ProtectionRule::Production {
                accept_weaker: true,
            } => {
                self.accepted_by_profile = true;
                Ok(self)
            }
            ProtectionRule::Production {
                accept_weaker: false,
            } => Err(HsmError::WeakerKeyProtection {
                operation: operation.into(),
                token: token.into(),
                module: self.module.clone(),
                weaknesses: self.weaknesses.join("; "),
            }),
        }
    }
}

/// One template entry as the bytes of a `CK_ATTRIBUTE` {type, pValue, ulValueLen} pointing at
/// [`CK_TRUE`]. Built from integers so no `unsafe` is needed; native layout, as PKCS#11
/// modules on Unix expect.
fn true_entry(out: &mut Vec<u8>, ty: c_ulong) {
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(&(std::ptr::addr_of!(CK_TRUE) as usize).to_ne_bytes());
    out.extend_from_slice(&(1 as c_ulong).to_ne_bytes());
}

/// The attributes a key unwrapped by the root KEK is forced to have: sensitive, private and
/// wrappable only by a trusted key. Restore and rewrap templates state the same values.
pub const UNWRAP_FORCED: &[(AttributeType, bool)] = &[
    (AttributeType::Sensitive, true),
    (AttributeType::Private, true),
    (AttributeType::WrapWithTrusted, true),
];

/// `CKA_UNWRAP_TEMPLATE` = [`UNWRAP_FORCED`]; without `CKA_WRAP_WITH_TRUSTED` when the KEK
/// cannot be trusted (`trusted` false: the weaker policy's keys do not carry it).
pub fn unwrap_template(trusted: bool) -> Attribute {
    let mut v = Vec::new();
    for ty in [CKA_SENSITIVE, CKA_PRIVATE, CKA_WRAP_WITH_TRUSTED] {
        if trusted || ty != CKA_WRAP_WITH_TRUSTED {
            true_entry(&mut v, ty);
        }
    }
    Attribute::VendorDefined((AttributeType::VendorDefined(CKA_UNWRAP_TEMPLATE), v))
}

/// `CKA_WRAP_TEMPLATE`: the KEK wraps only keys that are sensitive and themselves marked
/// wrappable by trusted keys only. (Not `CKA_PRIVATE`: the key-check-value probe is a public
/// session object, see `hsm::kcv`.) Only sensitive keys when the KEK cannot be trusted.
pub fn wrap_template(trusted: bool) -> Attribute {
    let mut v = Vec::new();
    for ty in [CKA_SENSITIVE, CKA_WRAP_WITH_TRUSTED] {
        if trusted || ty != CKA_WRAP_WITH_TRUSTED {
            true_entry(&mut v, ty);
        }
    }
    Attribute::VendorDefined((AttributeType::VendorDefined(CKA_WRAP_TEMPLATE), v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hsm::quirks::Quirks;

    #[test]
    fn softhsm_quirks_give_full_protection_default_is_weaker_and_refused_in_production() {
        let q = Quirks::builtin().unwrap();
        let soft = q.modules.iter().find(|m| m.name == "SoftHSM2").unwrap();
        let p = KeyProtection::plan(soft);
        assert_eq!(p.level, ProtectionLevel::Full);
        assert!(p.kek_login_required && p.unwrap_template_enforced && p.weaknesses.is_empty());
        let d = KeyProtection::plan(&q.default);
        assert_eq!(d.level, ProtectionLevel::Weaker);
        assert!(!d.kek_login_required);
        let err = d
            .clone()
            .check(
                ProtectionRule::Production {
                    accept_weaker: false,
                },
                "importing the root KEK \"kek\"",
                "token \"t\" (serial 1)",
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "importing the root KEK \"kek\" on token \"t\" (serial 1) refused in production: \
             the module (vendor quirks \"default\") protects the key hierarchy less than \
             Keyrite requires: the root KEK is a public object: only the SO may set CKA_TRUSTED \
             and this module lets the SO create public objects only, so the KEK is visible and \
             can be destroyed without login; the module is not known to enforce \
             CKA_UNWRAP_TEMPLATE: a session without any login could unwrap a backup under the \
             root KEK into a non-sensitive, extractable key; use a module whose vendor quirks \
             give full protection, or accept this explicitly with \
             accept_weaker_key_protection = true in the [hsm] section of the site profile \
             (every record then states it); nothing was created"
        );
        let ok = d
            .clone()
            .check(
                ProtectionRule::Production {
                    accept_weaker: true,
                },
                "x",
                "y",
            )
            .unwrap();
        assert!(ok.accepted_by_profile);
        assert!(
            !d.check(ProtectionRule::Rehearsal, "x", "y")
                .unwrap()
                .accepted_by_profile
        );
    }

    #[test]
    fn templates_are_arrays_of_native_ck_attributes() {
        let entry = std::mem::size_of::<c_ulong>() * 2 + std::mem::size_of::<usize>();
        match unwrap_template(true) {
            Attribute::VendorDefined((AttributeType::VendorDefined(t), v)) => {
                assert_eq!(t, CKA_UNWRAP_TEMPLATE);
                assert_eq!(v.len(), 3 * entry);
            }
            other => panic!("{other:?}"),
        }
        match wrap_template(true) {
            Attribute::VendorDefined((_, v)) => assert_eq!(v.len(), 2 * entry),
            other => panic!("{other:?}"),
        }
        match (unwrap_template(false), wrap_template(false)) {
            (Attribute::VendorDefined((_, u)), Attribute::VendorDefined((_, w))) => {
                assert_eq!((u.len(), w.len()), (2 * entry, entry));
            }
            other => panic!("{other:?}"),
        }
    }
}
