//! One wrong PIN costs one failed login. The window runs on a SoftHSM2 store of the test's
//! own, reached through OpenSC's PKCS#11 spy (the site profile's `hsm.module` is the spy;
//! `PKCS11SPY` names SoftHSM2, `PKCS11SPY_OUTPUT` the log the desktop writes every PKCS#11 call
//! to). The HSM initialisation runs to its end (it uses the new user PIN as set: nothing asks
//! it); then the root-key generation up to its first user PIN: a wrong one is typed once, the
//! window clears the field and asks again with the token's words on the tries left; then the
//! right one. The spy's log must hold exactly one `C_Login` that did not return `CKR_OK` —
//! `CKR_PIN_INCORRECT` — and the rejected PIN must appear in it once: it was never sent again.
//! Run with `xvfb-run cargo test -p keyrite-tests --test gui_wrong_pin -- --ignored`.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_tests::ceremony::{script, SO_PIN, USER_PIN};
use keyrite_tests::gui::Session;
use keyrite_tests::hsm::{keyrite_fds, softhsm_store};
use keyrite_tests::{stderr, stdout, TempData};
use std::path::{Path, PathBuf};

/// OpenSC's PKCS#11 spy (Debian's `opensc-pkcs11`).
const SPY: &str = "/usr/lib/x86_64-linux-gnu/pkcs11-spy.so";
const SOFTHSM2: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// The SO PIN the token has before the ceremony (set by `keyrite hsm init`).
const OLD_SO: &str = "so-Old-48151";
const OLD_USER: &str = "us-Old-48151";
const WRONG: &str = "wrong-pin-0000";

/// A site: the token store, a profile reaching SoftHSM2 through the spy (the window's) and one
/// reaching it directly (the test's own CLI calls, so the spy's log holds only the window's
/// calls).
struct Site {
    t: TempData,
    conf: PathBuf,
    spied: PathBuf,
    direct: PathBuf,
    log: PathBuf,
}

impl Site {
    fn new() -> Self {
        let t = TempData::new();
        let conf = softhsm_store(t.tmp.path());
        let profile = |name: &str, module: &str| {
            let p = t.scratch(name);
            std::fs::write(
                &p,
                format!(
                    "version = 1\n[site]\nname = \"Spy lab\"\nmode = \"rehearsal\"\n[hsm]\n\
                     module = \"{module}\"\ntoken_label = \"keyrite\"\n"
                ),
            )
            .unwrap();
            p
        };
        let spied = profile("spied.toml", SPY);
        let direct = profile("direct.toml", SOFTHSM2);
        let log = t.scratch("pkcs11-spy.log");
        Site {
            conf,
            spied,
            direct,
            log,
            t,
        }
    }

    fn data(&self) -> PathBuf {
        self.t.path()
    }

    /// `keyrite --profile direct.toml ARGS` with the PINs `pins` on their descriptors.
    fn cli(&self, args: &[&str], pins: &[(i32, &str)]) -> std::process::Output {
        let mut all = vec!["--profile", self.direct.to_str().unwrap()];
        all.extend_from_slice(args);
        let lines: Vec<(i32, String)> = pins.iter().map(|(f, s)| (*f, format!("{s}\n"))).collect();
        let refs: Vec<(i32, &str)> = lines.iter().map(|(f, s)| (*f, s.as_str())).collect();
        let env = [("SOFTHSM2_CONF", self.conf.to_str().unwrap())];
        keyrite_fds(&self.data(), &all, &env, &refs, "")
    }

    /// The token's serial and whether it reports a wrong user PIN since the last good one.
    fn token(&self) -> (String, bool) {
        let o = self.cli(&["hsm", "info", "--json"], &[]);
        assert!(o.status.success(), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        let t = v["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["label"] == "keyrite")
            .unwrap_or_else(|| panic!("no token \"keyrite\" in {v}"))
            .clone();
        (
            t["serial"].as_str().unwrap().to_string(),
            t["flags"]["user_pin_count_low"].as_bool().unwrap(),
        )
    }

    async fn open(&self) -> Session {
        let env = [
            ("SOFTHSM2_CONF", self.conf.to_str().unwrap()),
            ("PKCS11SPY", SOFTHSM2),
            ("PKCS11SPY_OUTPUT", self.log.to_str().unwrap()),
        ];
        Session::open_with(
            &self.data(),
            &["--profile", self.spied.to_str().unwrap()],
            &env,
        )
        .await
    }

    /// The spy's log: every `C_Login` with what it returned, and how often `pin` was sent.
    fn logins(&self, pin: &str) -> (Vec<String>, usize) {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut logins = Vec::new();
        let mut in_login = false;
        for line in log.lines() {
            if line.contains(": C_") {
                in_login = line.ends_with(": C_Login");
            } else if in_login && line.starts_with("Returned:") {
                logins.push(line.trim_start_matches("Returned:").trim().to_string());
                in_login = false;
            }
        }
        // The spy dumps a PIN as hex and as text, on one line for a PIN of up to 16 bytes.
        (logins, log.matches(pin).count())
    }
}

/// A name for the `n`-th check-in of `role`.
fn name_for(role: &str, n: usize) -> String {
    match role {
        "administrator" => "Ada Admin".into(),
        "witness" => "Wes Witness".into(),
        "auditor" => "Aud Auditor".into(),
        _ => ["C One", "C Two", "C Three", "C Four", "C Five"][n % 5].into(),
    }
}

/// Where [`drive`] stopped.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    Done,
    UserPin,
}

/// Answers prompts until the done screen or (with `user_pin`) the first user-PIN prompt.
async fn drive(s: &Session, user_pin: bool) -> Stop {
    let mut checked_in: std::collections::BTreeMap<String, usize> = Default::default();
    loop {
        let kind = s.attr("#ceremony-view", "data-kind").await;
        let heading = s.text("#prompt-form h3").await;
        match kind.as_str() {
            "done" => return Stop::Done,
            "check-in" => {
                let role = heading.trim_start_matches("Check in: ").to_string();
                let n = checked_in.entry(role.clone()).or_default();
                s.type_into("#checkin-name", &name_for(&role, *n)).await;
                *n += 1;
            }
            "clock-confirmation" => s.type_into("#clock-reference", "test clock").await,
            "current-so-pin" => s.type_into("#current-so-pin", OLD_SO).await,
            "new-pins" => {
                for (id, pin) in [
                    ("#new-so", SO_PIN),
                    ("#new-so-again", SO_PIN),
                    ("#new-user", USER_PIN),
                    ("#new-user-again", USER_PIN),
                ] {
                    s.type_into(id, pin).await;
                }
            }
            // A PIN refused here would be a mistake of this driver: stop at once rather than
            // send it again.
            "pin" if !s.all("#pin-rejected").await.is_empty() => {
                panic!("{}", s.text("#pin-rejected").await)
            }
            "pin" if heading.starts_with("SO") => s.type_into("#pin-input", SO_PIN).await,
            "pin" if user_pin => return Stop::UserPin,
            "pin" => s.type_into("#pin-input", USER_PIN).await,
            "instructions" | "confirm-preflight" | "sign-off" => {}
            other => panic!("unexpected prompt {other} ({heading})"),
        }
        s.submit_prompt().await;
    }
}

fn init_token(site: &Site) {
    let o = site.cli(
        &[
            "hsm",
            "init",
            "--label",
            "keyrite",
            "--so-pin-fd",
            "3",
            "--pin-fd",
            "4",
        ],
        &[(3, OLD_SO), (4, OLD_USER)],
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs an X display and tauri-driver: run under xvfb-run with --ignored"]
#[serial_test::serial(softhsm)]
async fn one_wrong_pin_is_one_failed_login_and_is_never_sent_again() {
    assert!(Path::new(SPY).exists(), "{SPY} (Debian's opensc-pkcs11)");
    let site = Site::new();
    init_token(&site);
    let s = site.open().await;

    // HSM initialisation (the new user PIN is used as set: nothing asks it).
    s.start_ceremony(&script("hsm-initialisation")).await;
    assert_eq!(drive(&s, true).await, Stop::Done);
    s.activate("#ceremony-close").await;
    s.wait("#script-form").await;

    // Root key generation, up to its first user PIN.
    s.start_ceremony(&script("root-key-generation")).await;
    assert_eq!(drive(&s, true).await, Stop::UserPin);
    let (serial, low) = site.token();
    assert!(!low, "no wrong PIN was given yet");
    let (before, sent) = site.logins(WRONG);
    assert!(
        !before.iter().any(|r| r.contains("CKR_PIN_INCORRECT")),
        "{before:?}"
    );
    assert!(!before.is_empty(), "the window logs in through the spy");
    assert_eq!(sent, 0);

    // The wrong PIN: rejected once, the field emptied and asked again with the tries left.
    s.type_into("#pin-input", WRONG).await;
    s.submit_prompt().await;
    assert_eq!(s.attr("#ceremony-view", "data-kind").await, "pin");
    assert_eq!(
        s.text("#pin-rejected").await,
        format!(
            "the user PIN was rejected by token \"keyrite\" (serial {serial}): CKR_PIN_INCORRECT \
             (the PIN is wrong); the token does not say how many tries are left (it reports \
             CKF_USER_PIN_COUNT_LOW: a wrong PIN was given since the last good one); the PIN was \
             dropped and nothing more was sent to the token: give it again"
        )
    );
    assert_eq!(s.value("#pin-input").await, "");
    assert!(site.token().1, "the token counts one wrong PIN");
    let (after_wrong, sent) = site.logins(WRONG);
    assert_eq!(
        after_wrong
            .iter()
            .filter(|r| r.contains("CKR_PIN_INCORRECT"))
            .count(),
        1,
        "{after_wrong:?}"
    );
    assert_eq!(sent, 1, "the wrong PIN reached the token once");

    // The right one: accepted (the token's count is cleared), and the ceremony goes on.
    s.type_into("#pin-input", USER_PIN).await;
    s.submit_prompt().await;
    assert_ne!(s.attr("#ceremony-view", "data-kind").await, "pin");
    assert!(!site.token().1, "a good login clears the count");
    s.close().await;

    let (logins, sent) = site.logins(WRONG);
    let failed: Vec<&String> = logins.iter().filter(|r| !r.ends_with("CKR_OK")).collect();
    assert_eq!(
        failed,
        ["160 CKR_PIN_INCORRECT"],
        "every C_Login through the spy: {logins:?}"
    );
    assert_eq!(sent, 1, "the rejected PIN was never sent again");
}
