//! Vendor quirks and key policies as site data: the site profile may name a vendor-quirks file
//! and a key-policy file (`[hsm] vendor_quirks`, `[hsm] key_policies`). Both are read and
//! validated when the profile is loaded — an error names `file:line:col` and the profile is
//! refused — and kept, text and SHA-256, with the profile, so what a ceremony uses is exactly
//! what its record names ([`evidence`], journaled with `ceremony_started`).
//!
//! Merging: a site quirks file's `[[module]]` sections are matched before the built-in ones and
//! its `[default]`, if given, replaces the built-in default; a site policy replaces the built-in
//! policy of the same name, and new names are added.

use super::policy::{KeyPolicy, PolicySet};
use super::quirks::{ModuleQuirks, Quirks};
use super::HsmError;
use crate::profile::SiteProfile;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A site data file as read when the profile was loaded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SiteFile {
    /// The file, resolved against the profile's directory.
    pub path: PathBuf,
    /// Its text.
    pub text: String,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
}

impl SiteFile {
    /// Reads `path`; `what` names the file kind in errors.
    pub fn read(path: &Path, what: &str) -> Result<Self, HsmError> {
        let bytes = std::fs::read(path).map_err(|e| file_err(what, path, e.to_string()))?;
        let text = String::from_utf8(bytes.clone())
            .map_err(|_| file_err(what, path, "it is not UTF-8 text".into()))?;
        Ok(Self {
            path: path.to_path_buf(),
            text,
            sha256: hex::encode(Sha256::digest(&bytes)),
        })
    }

    fn name(&self) -> String {
        self.path.display().to_string()
    }
}

fn file_err(what: &str, path: &Path, message: String) -> HsmError {
    let source_name = path.display().to_string();
    if what == "quirks" {
        HsmError::QuirksFile {
            source_name,
            message,
        }
    } else {
        HsmError::PolicyFile {
            source_name,
            message,
        }
    }
}

/// A site quirks file: like the built-in one, but `[default]` is optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteQuirks {
    version: u32,
    #[serde(default)]
    default: Option<ModuleQuirks>,
    #[serde(default, rename = "module")]
    modules: Vec<ModuleQuirks>,
}

/// Parses and validates a site quirks file.
pub fn parse_site_quirks(
    f: &SiteFile,
) -> Result<(Option<ModuleQuirks>, Vec<ModuleQuirks>), HsmError> {
    let q: SiteQuirks = toml::from_str(&f.text).map_err(|e| HsmError::QuirksFile {
        source_name: super::quirks::located(&f.name(), &f.text, &e),
        message: e.message().to_string(),
    })?;
    if q.version != 1 {
        return Err(HsmError::QuirksFile {
            source_name: f.name(),
            message: format!("version {} is not supported (only 1)", q.version),
        });
    }
    Ok((q.default, q.modules))
}

/// The built-in quirks with the site's file (if any) merged over them; carries the site's
/// rule for weaker protection.
pub fn quirks_for(profile: &SiteProfile) -> Result<Quirks, HsmError> {
    let mut q = Quirks::builtin()?;
    if let Some(f) = &profile.hsm.site_files.vendor_quirks {
        let (default, mut modules) = parse_site_quirks(f)?;
        if let Some(d) = default {
            q.default = d;
        }
        modules.append(&mut q.modules);
        q.modules = modules;
    }
    q.site_rule = Some(super::protection::ProtectionRule::of(profile));
    Ok(q)
}

/// The built-in policies with the site's file (if any) merged over them.
pub fn policies_for(profile: &SiteProfile) -> Result<PolicySet, HsmError> {
    let mut set = PolicySet::builtin()?;
    if let Some(f) = &profile.hsm.site_files.key_policies {
        let site = PolicySet::parse(&f.name(), &f.text)?;
        for p in site.policies {
            merge_policy(&mut set, p);
        }
    }
    Ok(set)
}

fn merge_policy(set: &mut PolicySet, p: KeyPolicy) {
    match set.policies.iter_mut().find(|q| q.name == p.name) {
        Some(slot) => *slot = p,
        None => set.policies.push(p),
    }
}

/// Which quirks and policies a ceremony runs with: file and SHA-256 of the built-in data and
/// of the site's files, for the journal and every record.
pub fn evidence(profile: &SiteProfile) -> Value {
    let builtin = |text: &str| hex::encode(Sha256::digest(text.as_bytes()));
    let site = |f: &Option<SiteFile>| match f {
        Some(f) => json!({"file": f.path, "sha256": f.sha256}),
        None => Value::Null,
    };
    json!({
        "vendor_quirks": {
            "builtin_sha256": builtin(super::quirks::BUILTIN_QUIRKS),
            "site": site(&profile.hsm.site_files.vendor_quirks),
        },
        "key_policies": {
            "builtin_sha256": builtin(super::policy::BUILTIN_POLICIES),
            "site": site(&profile.hsm.site_files.key_policies),
        },
    })
}

/// The site files a profile names, read and validated (profile loading).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SiteFiles {
    /// `[hsm] vendor_quirks`.
    pub vendor_quirks: Option<SiteFile>,
    /// `[hsm] key_policies`.
    pub key_policies: Option<SiteFile>,
}

impl SiteFiles {
    /// Reads and validates the files; relative paths are taken from `base` (the profile's
    /// directory).
    pub fn load(
        base: &Path,
        vendor_quirks: Option<&Path>,
        key_policies: Option<&Path>,
    ) -> Result<Self, HsmError> {
        let vendor_quirks = match vendor_quirks {
            Some(p) => {
                let f = SiteFile::read(&base.join(p), "quirks")?;
                parse_site_quirks(&f)?;
                Some(f)
            }
            None => None,
        };
        let key_policies = match key_policies {
            Some(p) => {
                let f = SiteFile::read(&base.join(p), "policies")?;
                PolicySet::parse(&f.name(), &f.text)?;
                Some(f)
            }
            None => None,
        };
        Ok(Self {
            vendor_quirks,
            key_policies,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hsm::TokenSummary;

    const PROFILE: &str = "version = 1\n[site]\nname = \"Lab\"\nmode = \"rehearsal\"\n[hsm]\n\
                           vendor_quirks = \"quirks.toml\"\nkey_policies = \"policies.toml\"\n";

    fn softhsm_token() -> TokenSummary {
        let mut t = TokenSummary::for_tests("t", true);
        t.serial = "1".into();
        t
    }

    fn site(quirks: &str, policies: &str) -> (tempfile::TempDir, Result<SiteProfile, String>) {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("quirks.toml"), quirks).unwrap();
        std::fs::write(d.path().join("policies.toml"), policies).unwrap();
        std::fs::write(d.path().join("site.toml"), PROFILE).unwrap();
        let p = SiteProfile::load(&d.path().join("site.toml")).map_err(|e| e.to_string());
        (d, p)
    }

    const GOOD_POLICIES: &str = "version = 1\n[[policy]]\nname = \"ec-p256-site\"\n\
        description = \"site key\"\nkey = \"ec-p256\"\norigin = \"generated\"\n\
        usage = [\"sign\"]\nextractable = false\nwrap_with_trusted = false\nbackup = false\n";

    #[test]
    fn a_site_quirks_file_with_an_error_is_refused_with_its_location() {
        let (d, p) = site(
            "version = 1\n[[module]]\nname = \"Lab HSM\"\nlabel_max = \"long\"\n",
            GOOD_POLICIES,
        );
        assert_eq!(
            p.unwrap_err(),
            format!(
                "site profile {} is invalid: vendor quirks file {}:4:13: invalid type: string \
                 \"long\", expected usize",
                d.path().join("site.toml").display(),
                d.path().join("quirks.toml").display()
            )
        );
        let (d, p) = site(
            "version = 1\n",
            &GOOD_POLICIES.replace("backup = false", "backup = true"),
        );
        assert_eq!(
            p.unwrap_err(),
            format!(
                "site profile {} is invalid: key policy file {}:3:1: key policy \
                 \"ec-p256-site\" is refused: backup = true needs extractable = true (under \
                 wrap_with_trusted)",
                d.path().join("site.toml").display(),
                d.path().join("policies.toml").display()
            )
        );
    }

    #[test]
    fn a_valid_site_file_changes_behaviour_and_is_named_by_its_hash() {
        let quirks = "version = 1\n[[module]]\nname = \"SoftHSM2 (site)\"\n\
                      manufacturer = \"SoftHSM project\"\nmodel_prefix = \"SoftHSM\"\n\
                      label_max = 8\nmissing_mechanisms = [\"CKM_AES_KEY_WRAP_PAD\"]\n\
                      source = \"tested-here\"\n";
        let (d, p) = site(quirks, GOOD_POLICIES);
        let p = p.unwrap();
        let builtin = Quirks::builtin().unwrap();
        let token = softhsm_token();
        assert!(builtin
            .for_token(&token)
            .check_label("generating", "t", "a-longer-label")
            .is_ok());
        let q = quirks_for(&p).unwrap();
        let m = q.for_token(&token);
        assert_eq!(m.name, "SoftHSM2 (site)");
        assert_eq!(
            m.check_label("generating", "t", "a-longer-label")
                .unwrap_err()
                .to_string(),
            "generating on t: the label \"a-longer-label\" has 14 bytes; SoftHSM2 (site) \
             accepts 1 to 8 (vendor quirks)"
        );
        assert!(m.lacks("CKM_AES_KEY_WRAP_PAD"));
        // The built-in sections stay, after the site's.
        assert_eq!(q.modules.len(), builtin.modules.len() + 1);
        let set = policies_for(&p).unwrap();
        assert_eq!(
            set.policies.len(),
            PolicySet::builtin().unwrap().policies.len() + 1
        );
        assert!(set.get("ec-p256-site").is_ok());
        let ev = evidence(&p);
        assert_eq!(
            ev["vendor_quirks"]["site"]["sha256"],
            hex::encode(Sha256::digest(quirks.as_bytes()))
        );
        assert_eq!(
            ev["key_policies"]["site"]["file"],
            d.path().join("policies.toml").display().to_string()
        );
        assert_eq!(
            ev["vendor_quirks"]["builtin_sha256"],
            hex::encode(Sha256::digest(
                super::super::quirks::BUILTIN_QUIRKS.as_bytes()
            ))
        );
    }
}
