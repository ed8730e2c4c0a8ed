//! Choosing a script without typing its path: the shipped scripts and the scripts of a chosen
//! folder (e.g. the reviewed USB stick), each with its title, purpose, steps, roles and hash
//! (the words `keyrite ceremony validate` prints), and the pre-start checklist: the people
//! and materials the script needs and whether it can run on this token. Both faces show the
//! checklist from [`checklist`].

use super::ScriptView;
use crate::hsm::{HsmError, TokenSelector, TokenSummary};
use crate::script::shipped::ShippedError;
use crate::script::{shipped, ActionKind, Script, ScriptError};
use serde::Serialize;
use std::path::{Path, PathBuf};
use ts_rs::TS;

/// How a checklist item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "kebab-case")]
pub enum CheckState {
    /// Keyrite checked it: fine.
    Ready,
    /// For the people in the room to check before starting.
    Bring,
    /// Keyrite checked it: the ceremony cannot run as things are.
    Blocked,
}

/// One line of the pre-start checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct CheckItem {
    /// What it is about.
    pub what: String,
    /// Ready, to bring, or blocked.
    pub state: CheckState,
}

/// A script offered by the picker.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ScriptChoice {
    /// Title, purpose, steps and hash (hex and words).
    pub script: ScriptView,
    /// The shipped script's file name, to start it by (none for a script in a folder).
    pub shipped: Option<String>,
    /// The people the script needs, one line per role.
    pub roles: Vec<String>,
    /// The pre-start checklist.
    pub checklist: Vec<CheckItem>,
}

/// A file of a chosen folder that is not a valid script, and why.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ScriptRefused {
    /// The file.
    pub file: String,
    /// Every problem, as `keyrite ceremony validate` says it.
    pub error: String,
}

/// What the picker lists from a folder.
#[derive(Debug, Clone, Serialize, TS)]
pub struct FolderScripts {
    /// The valid scripts.
    pub scripts: Vec<ScriptChoice>,
    /// The `.toml` files that are not valid scripts.
    pub refused: Vec<ScriptRefused>,
}

/// The module's tokens as the checklist reads them, or why they could not be read.
pub type Tokens<'a> = Result<&'a [TokenSummary], &'a TokensUnreadable>;

/// Why the checklist could not read the module's tokens.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokensUnreadable {
    /// The module could not be loaded or its tokens listed.
    #[error(transparent)]
    Hsm(#[from] HsmError),
    /// The module is held by the ceremony open in the desktop window (one user of the HSM at
    /// a time).
    #[error("the HSM is held by the ceremony open in this window; close that screen first")]
    HeldByCeremony,
}

/// A chosen folder that could not be listed ([`folder_choices`]).
#[derive(Debug, thiserror::Error)]
#[error("cannot list the folder {}: {source}", dir.display())]
pub struct FolderError {
    /// The folder.
    pub dir: PathBuf,
    /// Why.
    pub source: std::io::Error,
}

/// The people a script needs, one line per role, as `keyrite ceremony show` counts them.
pub fn roles_needed(s: &Script) -> Vec<String> {
    let r = &s.roles;
    let mut out = vec![format!("{} administrator(s)", r.administrators)];
    if r.witnesses > 0 {
        out.push(format!("{} witness(es)", r.witnesses));
    }
    if r.auditors > 0 {
        out.push(format!("{} auditor(s)", r.auditors));
    }
    if let Some(t) = r.custodians {
        out.push(format!(
            "{} custodians (any {} of the {} rebuild or approve)",
            t.n(),
            t.k(),
            t.n()
        ));
    }
    out
}

/// The pre-start checklist of `s`: people and materials by the script's actions, and whether
/// the profile's token (`selector`, among `tokens` as the module lists them) fits: a script
/// that works on keys needs an initialised token; initialising one needs the token there.
pub fn checklist(
    s: &Script,
    tokens: Tokens<'_>,
    selector: Option<&TokenSelector>,
) -> Vec<CheckItem> {
    let has = |k: ActionKind| s.steps.iter().any(|st| st.action.kind() == k);
    let bring = |what: String| CheckItem {
        what,
        state: CheckState::Bring,
    };
    let mut out: Vec<CheckItem> = roles_needed(s)
        .into_iter()
        .map(|r| bring(format!("In the room, identity checked: {r}")))
        .collect();
    let materials = [
        (ActionKind::ClockCheck, "An independent clock for the witness (e.g. a wristwatch set from a GPS clock)"),
        (ActionKind::HsmInit, "The HSM in its tamper-evident bag, and the bag number from the invitation"),
        (ActionKind::EnrolCustodian, "A new YubiKey in its packaging for every custodian who enrols"),
        (ActionKind::DistributeShare, "A pen and a share card or envelope for every custodian"),
        (ActionKind::Rotate, "Every approving custodian's enrolled YubiKey"),
        (ActionKind::Destroy, "Every approving custodian's enrolled YubiKey"),
        (ActionKind::ReplaceCustodian, "Every approving custodian's enrolled YubiKey, and a new YubiKey for the new custodian"),
        (ActionKind::Recover, "Enough custodians with their shares (cards, sealed files or YubiKeys), and the backups to restore"),
        (ActionKind::SignRecord, "A printer for the signed record, or removable media to carry the PDF"),
    ];
    for (k, what) in materials {
        if has(k) && !out.iter().any(|i| i.what == what) {
            out.push(bring(what.into()));
        }
    }
    let uses_keys = s.steps.iter().any(|st| {
        !matches!(
            st.action.kind(),
            ActionKind::Preflight
                | ActionKind::ClockCheck
                | ActionKind::Manual
                | ActionKind::HsmInit
        )
    });
    out.push(token_item(
        has(ActionKind::HsmInit),
        uses_keys,
        tokens,
        selector,
    ));
    out
}

fn token_item(
    initialises: bool,
    uses_keys: bool,
    tokens: Tokens<'_>,
    selector: Option<&TokenSelector>,
) -> CheckItem {
    let item = |state, what: String| CheckItem { what, state };
    let tokens = match tokens {
        Ok(t) => t,
        Err(why) => {
            return item(
                CheckState::Blocked,
                format!("The HSM could not be read: {why}"),
            )
        }
    };
    let chosen = tokens.iter().find(|t| match selector {
        Some(TokenSelector::Label(l)) => &t.label == l,
        Some(TokenSelector::Serial(s)) => &t.serial == s,
        None => t.initialized,
    });
    let fresh = tokens.iter().any(|t| !t.initialized);
    match (chosen, initialises) {
        (Some(t), true) if t.initialized => item(
            CheckState::Bring,
            format!(
                "Token \"{}\" (serial {}) is already initialised: this ceremony initialises \
                 it again, which is refused while it holds keys the inventory knows as live",
                t.label, t.serial
            ),
        ),
        (_, true) if fresh || chosen.is_some() => item(
            CheckState::Ready,
            "A token is ready to be initialised".into(),
        ),
        (_, true) => item(
            CheckState::Blocked,
            "No token to initialise: connect the HSM named in the site profile".into(),
        ),
        (Some(t), false) if t.initialized => item(
            CheckState::Ready,
            format!("Token \"{}\" (serial {}) is initialised", t.label, t.serial),
        ),
        (_, false) if uses_keys => item(
            CheckState::Blocked,
            "The token is not initialised: run the hsm-initialisation ceremony first".into(),
        ),
        (_, false) => item(
            CheckState::Ready,
            "This script does not use the token's keys".into(),
        ),
    }
}

/// Every shipped script with its checklist.
pub fn shipped_choices(
    tokens: Tokens<'_>,
    selector: Option<&TokenSelector>,
) -> Result<Vec<ScriptChoice>, ScriptError> {
    shipped::SHIPPED
        .iter()
        .map(|(name, bytes)| {
            let s = Script::parse(&format!("{}{name}", shipped::SHIPPED_PREFIX), bytes)?;
            Ok(choice(&s, Some(name), tokens, selector))
        })
        .collect()
}

/// The shipped script named `name` (its file name, e.g. `root-key-generation.toml`).
pub fn shipped_script(name: &str) -> Result<Script, ShippedError> {
    shipped::by_name(name)
}

/// The `.toml` scripts directly in `dir`, by file name: valid ones with their checklist,
/// the others with every problem. Links are not followed.
pub fn folder_choices(
    dir: &Path,
    tokens: Tokens<'_>,
    selector: Option<&TokenSelector>,
) -> Result<FolderScripts, FolderError> {
    let entries = std::fs::read_dir(dir).map_err(|source| FolderError {
        dir: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<std::path::PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut out = FolderScripts {
        scripts: Vec::new(),
        refused: Vec::new(),
    };
    for f in files {
        match Script::load(&f) {
            Ok(s) => out.scripts.push(choice(&s, None, tokens, selector)),
            Err(e) => out.refused.push(ScriptRefused {
                file: f.display().to_string(),
                error: e.to_string(),
            }),
        }
    }
    Ok(out)
}

fn choice(
    s: &Script,
    shipped: Option<&str>,
    tokens: Tokens<'_>,
    selector: Option<&TokenSelector>,
) -> ScriptChoice {
    ScriptChoice {
        script: ScriptView::from(s),
        shipped: shipped.map(str::to_string),
        roles: roles_needed(s),
        checklist: checklist(s, tokens, selector),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(label: &str, initialized: bool) -> TokenSummary {
        TokenSummary::for_tests(label, initialized)
    }

    fn last(name: &str, tokens: Tokens<'_>) -> CheckItem {
        let s = shipped_script(name).unwrap_or_else(|e| panic!("{e}"));
        let sel = TokenSelector::Label("keyrite-rehearsal".into());
        checklist(&s, tokens, Some(&sel))
            .pop()
            .unwrap_or_else(|| panic!("an empty checklist"))
    }

    #[test]
    fn the_token_decides_what_can_run() {
        let fresh = [token("", false)];
        let ready = [token("keyrite-rehearsal", true)];
        let item = |state, what: &str| CheckItem {
            state,
            what: what.into(),
        };
        assert_eq!(
            last("root-key-generation.toml", Ok(&fresh)),
            item(
                CheckState::Blocked,
                "The token is not initialised: run the hsm-initialisation ceremony first"
            )
        );
        assert_eq!(
            last("root-key-generation.toml", Ok(&ready)),
            item(
                CheckState::Ready,
                "Token \"keyrite-rehearsal\" (serial 5e1a) is initialised"
            )
        );
        assert_eq!(
            last("hsm-initialisation.toml", Ok(&fresh)),
            item(CheckState::Ready, "A token is ready to be initialised")
        );
        assert_eq!(
            last("hsm-initialisation.toml", Ok(&ready)).state,
            CheckState::Bring
        );
        assert_eq!(
            last(
                "hsm-initialisation.toml",
                Err(&TokensUnreadable::HeldByCeremony)
            ),
            item(
                CheckState::Blocked,
                "The HSM could not be read: the HSM is held by the ceremony open in this window; \
                 close that screen first"
            )
        );
        assert_eq!(
            shipped_script("nope.toml").unwrap_err().to_string(),
            "no script named \"nope.toml\" is shipped with this Keyrite"
        );
    }

    #[test]
    fn picker_errors_say_what_could_not_be_read() {
        let table = [
            (
                folder_choices(Path::new("/nonexistent/usb"), Ok(&[]), None)
                    .unwrap_err()
                    .to_string(),
                "cannot list the folder /nonexistent/usb: No such file or directory (os error 2)",
            ),
            (
                TokensUnreadable::HeldByCeremony.to_string(),
                "the HSM is held by the ceremony open in this window; close that screen first",
            ),
            (
                shipped_script("nope.toml").unwrap_err().to_string(),
                "no script named \"nope.toml\" is shipped with this Keyrite",
            ),
        ];
        for (got, expected) in table {
            assert_eq!(got, expected);
        }
    }

    #[test]
    fn people_and_materials_follow_the_script() {
        let s = shipped_script("root-key-generation.toml").unwrap_or_else(|e| panic!("{e}"));
        let items: Vec<String> = checklist(&s, Ok(&[]), None)
            .into_iter()
            .map(|i| i.what)
            .collect();
        assert!(
            items.contains(
                &"In the room, identity checked: 5 custodians (any 3 of the 5 rebuild or approve)"
                    .to_string()
            ),
            "{items:#?}"
        );
        assert!(
            items.contains(&"A pen and a share card or envelope for every custodian".to_string()),
            "{items:#?}"
        );
        assert!(
            !items.iter().any(|i| i.contains("tamper-evident")),
            "{items:#?}"
        );
        let all = shipped_choices(Ok(&[]), None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(all.len(), shipped::SHIPPED.len());
    }
}
