//! A production site and the people in the room, for tests that drive the interactive CLI
//! through a pseudo-terminal ([`crate::pty`]): a SoftHSM2 store of the site's own whose token
//! the `testkit` switch `KEYRITE_TESTKIT_SOFTWARE_TOKEN_AS_HARDWARE=1` makes "hardware", a
//! production profile pinning it, `keyrite ceremony run` air-gapped in a network namespace of
//! its own, and [`drive`], which answers every prompt as the room would.

use crate::ceremony::{record_of, script, verify_record_against_journal};
use crate::piv::Harness;
use crate::pty::{plain, Pty};
use crate::{bin, keyrite, stderr, stdout, TempData};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

/// The SO PIN the vendor sets and the room types.
pub const SO_PIN: &str = "so-Pin-73915284";
/// The SO PIN a token is delivered with: the room types it when hsm-initialisation asks for
/// the token's current SO PIN, then sets [`SO_PIN`].
pub const VENDOR_SO_PIN: &str = "so-Vendor-5521907";
/// The user PIN the room sets.
pub const USER_PIN: &str = "us-Pin-73915284";
/// What the CLI writes once a share has been copied: home, erase the screen, erase the
/// scrollback (what `clear` sends).
pub const CLEAR: &str = "\x1b[H\x1b[2J\x1b[3J";
/// The custodians, in check-in order.
pub const CUSTODIANS: [&str; 5] = ["C One", "C Two", "C Three", "C Four", "C Five"];
/// Each custodian's virtual YubiKey serial.
pub const SERIALS: [u32; 5] = [7_101, 7_102, 7_103, 7_104, 7_105];
/// The custodians' YubiKey PIN and PUK after enrolment (digits: the simulated card takes no
/// others; eight of them, so they do not turn up on screen by chance).
pub const YK_PIN: &str = "73915028";
/// The custodians' PUK after enrolment.
pub const YK_PUK: &str = "50284739";

/// A production site: a SoftHSM2 store of its own holding one "vendor-delivered" token, and a
/// production profile pinning that token's identity.
pub struct Site {
    /// The site's temporary directory (data directory, token store, profile).
    pub t: TempData,
    /// The SoftHSM2 configuration naming the site's token store.
    pub conf: PathBuf,
    /// The production site profile.
    pub profile: PathBuf,
    /// The serial of the token the profile pins.
    pub serial: String,
}

impl Site {
    /// A site whose HSM has just been delivered.
    pub fn delivered() -> Self {
        let t = TempData::new();
        let conf = crate::hsm::softhsm_store(t.tmp.path());
        let mut s = Site {
            profile: t.scratch("production.toml"),
            t,
            conf,
            serial: String::new(),
        };
        s.deliver_hsm();
        s
    }

    /// A new HSM arrives: a fresh token store with one token, initialised as a vendor
    /// delivers it, and the site profile rewritten to pin it. The vendor's SO PIN is the one
    /// the room then types as the new SO PIN: the hsm-init step opens `C_InitToken` of an
    /// initialised token with the new SO PIN (it has no current-SO-PIN prompt yet); and
    /// SoftHSM2 lists no serial for an uninitialised token, which a pinned identity therefore
    /// cannot name (`hsm::init::check_serial_pinnable`), while production selects its token
    /// among initialised ones.
    pub fn deliver_hsm(&mut self) {
        std::fs::create_dir_all(self.t.scratch("tokens")).unwrap();
        let serial = self.vendor_token("vendor");
        self.pin(&serial);
    }

    /// Initialises the store's free token as a vendor would (label `label`, SO PIN
    /// [`VENDOR_SO_PIN`]);
    /// returns its serial.
    pub fn vendor_token(&self, label: &str) -> String {
        let o = Command::new("softhsm2-util")
            .args([
                "--init-token",
                "--free",
                "--label",
                label,
                "--so-pin",
                VENDOR_SO_PIN,
            ])
            .args(["--pin", "vendor-user-pin-1"])
            .env("SOFTHSM2_CONF", &self.conf)
            .output()
            .expect("softhsm2-util");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        self.slots()
            .into_iter()
            .find(|(_, l)| l == label)
            .map(|(s, _)| s)
            .unwrap_or_else(|| panic!("no token labelled {label}"))
    }

    /// (serial, label) of every token of the store, as `softhsm2-util --show-slots` lists
    /// them (uninitialised ones with blank serial and label).
    pub fn slots(&self) -> Vec<(String, String)> {
        let o = Command::new("softhsm2-util")
            .arg("--show-slots")
            .env("SOFTHSM2_CONF", &self.conf)
            .output()
            .expect("softhsm2-util");
        let mut out = Vec::new();
        let mut serial = String::new();
        for l in String::from_utf8_lossy(&o.stdout).lines() {
            if let Some(s) = l.trim().strip_prefix("Serial number:") {
                serial = s.trim().to_string();
            } else if let Some(label) = l.trim().strip_prefix("Label:") {
                out.push((std::mem::take(&mut serial), label.trim().to_string()));
            }
        }
        out.sort();
        out
    }

    /// Writes the production profile selecting and pinning the token `serial`.
    pub fn pin(&mut self, serial: &str) {
        self.serial = serial.to_string();
        std::fs::write(
            &self.profile,
            format!(
                "version = 1\n[site]\nname = \"Vault room B\"\nmode = \"production\"\n[hsm]\n\
                 module = \"{m}\"\ntoken_serial = \"{s}\"\n\
                 [hsm.expect]\nmanufacturer = \"SoftHSM project\"\nmodel = \"SoftHSM v2\"\n\
                 serial = \"{s}\"\n",
                m = softhsm().display(),
                s = self.serial
            ),
        )
        .unwrap();
    }

    /// The HSM is lost: its token store is moved away.
    pub fn lose_hsm(&self) {
        std::fs::rename(self.t.scratch("tokens"), self.t.scratch("lost-tokens")).unwrap();
    }

    /// The data directory.
    pub fn data(&self) -> PathBuf {
        self.t.path()
    }

    /// `keyrite --profile production.toml ceremony run SCRIPT` on a PTY, air-gapped.
    pub fn ceremony(&self, name: &str) -> Pty {
        let mut cmd = Command::new("unshare");
        // A network namespace has only a loopback interface, down, and no route; sysfs
        // mounted again inside it lists that namespace's interfaces only.
        cmd.args(["--net", "--mount", "sh", "-c"])
            .arg("mount -t sysfs sysfs /sys && exec \"$0\" \"$@\"")
            .arg(bin("keyrite"))
            .arg("--data-dir")
            .arg(self.data())
            .arg("--profile")
            .arg(&self.profile)
            .args(["ceremony", "run"])
            .arg(script(name))
            .env_remove("KEYRITE_DATA_DIR")
            .env("SOFTHSM2_CONF", &self.conf)
            .env("KEYRITE_TESTKIT_SOFTWARE_TOKEN_AS_HARDWARE", "1")
            .env("TERM", "xterm");
        Pty::spawn(cmd)
    }

    /// Labels of the keys on the site's current token, read with OpenSC's `pkcs11-tool`.
    pub fn token_labels(&self) -> Vec<String> {
        let o = Command::new("pkcs11-tool")
            .arg("--module")
            .arg(softhsm())
            .args(["--token-label", "keyrite"])
            .args(["--login", "--pin", USER_PIN, "--list-objects"])
            .env("SOFTHSM2_CONF", &self.conf)
            .output()
            .expect("pkcs11-tool");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let mut v: Vec<String> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| l.trim().strip_prefix("label:"))
            .map(|l| l.trim().to_string())
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// What one ceremony run showed.
#[derive(Default)]
pub struct Seen {
    /// Shares shown on screen, by index: (custodian name, share text).
    pub shares: BTreeMap<u8, (String, String)>,
    /// Screen-and-scrollback clears that followed a shown share.
    pub clears_after_share: usize,
    /// Everything the terminal showed.
    pub output: String,
    /// The refusal of the slipped type-back ([`WRONG_TYPE_BACK`]): the share's index and what
    /// the terminal said after `keyrite: `.
    pub type_back_refusal: Option<(u8, String)>,
}

/// Prompts the driver answers. The earliest one in the output wins, so "new SO PIN: " is not
/// taken for "SO PIN: ".
pub const PROMPTS: &[&str] = &[
    "Name of the administrator: ",
    "Name of the witness: ",
    "Name of the auditor: ",
    "Name of the custodian: ",
    "Type \"yes\" to proceed: ",
    "Witness participant id (e.g. witness-1): ",
    "Reference clock used: ",
    "System clock minus reference, seconds: ",
    "Participant id signing off: ",
    "Sign with your enrolled YubiKey? (yes/no): ",
    "current SO PIN of ",
    "new SO PIN: ",
    "new SO PIN again: ",
    "new user PIN: ",
    "new user PIN again: ",
    "SO PIN: ",
    "user PIN: ",
    "Press Enter to show the share: ",
    "Also seal it to a passphrase file? (yes/no): ",
    "share (typed, not shown): ",
    "Custodian id presenting a share (empty: no more shares): ",
    ": insert your YubiKey, then press Enter: ",
    "current YubiKey PIN (new key: 123456): ",
    "new YubiKey PIN: ",
    "new YubiKey PIN again: ",
    "current PUK (new key: 12345678): ",
    "new PUK: ",
    "new PUK again: ",
    "Key id: ",
    "Custodian id approving (empty: no more approvals): ",
    "Insert the YubiKey of ",
    "YubiKey PIN: ",
    " steps completed, ",
    "keyrite: ",
    "Decision (retry/skip/abort): ",
];

/// The custodians' virtual YubiKeys: the one asked for is inserted, the one before pulled out.
pub struct Cards<'a> {
    /// The virtual-card harness.
    h: &'a mut Harness,
    /// The card in the reader now.
    inserted: Option<u32>,
    /// Serials inserted, in order.
    pub log: Vec<u32>,
}

impl<'a> Cards<'a> {
    /// No card in the reader yet.
    pub fn new(h: &'a mut Harness) -> Self {
        Self {
            h,
            inserted: None,
            log: Vec::new(),
        }
    }

    /// Inserts the card of custodian `name`, pulling out the one before.
    pub fn insert(&mut self, name: &str) {
        let i = CUSTODIANS.iter().position(|c| *c == name).unwrap();
        let serial = SERIALS[i];
        if self.inserted == Some(serial) {
            return;
        }
        if let Some(old) = self.inserted.take() {
            self.h.remove(old);
        }
        self.h.insert(name, serial, 0);
        self.inserted = Some(serial);
        self.log.push(serial);
    }
}

impl Drop for Cards<'_> {
    fn drop(&mut self) {
        if let Some(old) = self.inserted.take() {
            self.h.remove(old);
        }
    }
}

/// A wrong SO PIN, typed once when the room slips.
pub const WRONG_SO_PIN: &str = "so-Wrong-4471902";
/// The wrong tail typed back once when the room slips, in the terminal and in the window
/// (`gui_ceremony`), so both faces get the same input.
pub const WRONG_TYPE_BACK: &str = "ZZZZ ZZZZ";

/// Answers every prompt of one ceremony as the room would, until it closes. `shares` are the
/// shares the custodians hold (for verification and recovery); `cards` their YubiKeys. With
/// `slips`, the first SO PIN typed is wrong and the first type-back of a share has a typo:
/// each must be refused, the PIN asked again without echoing it, the share cleared from the
/// screen before it is shown again.
pub fn drive(
    mut pty: Pty,
    shares: &BTreeMap<u8, (String, String)>,
    mut cards: Option<&mut Cards<'_>>,
    mut slips: bool,
) -> Seen {
    let mut seen = Seen::default();
    let mut pin_slipped = !slips;
    let mut custodians = CUSTODIANS.iter();
    let mut presented = 0;
    let mut approved: Vec<String> = Vec::new();
    loop {
        let (i, before) = pty.expect_any(PROMPTS);
        let before = plain(&before);
        match PROMPTS[i] {
            "Name of the administrator: " => pty.line("Ada Admin"),
            "Name of the witness: " => pty.line("Wes Witness"),
            "Name of the auditor: " => pty.line("Aud Auditor"),
            "Name of the custodian: " => pty.line(custodians.next().expect("five custodians")),
            "Type \"yes\" to proceed: " | "Sign with your enrolled YubiKey? (yes/no): " => pty
                .line(if PROMPTS[i].starts_with("Type") {
                    "yes"
                } else {
                    "no"
                }),
            "Witness participant id (e.g. witness-1): " => pty.line("witness-1"),
            "Reference clock used: " => pty.line("the witness's watch"),
            "System clock minus reference, seconds: " => pty.line("0"),
            "Participant id signing off: " => {
                // The engine lists who may sign; the first listed signs.
                let id = before
                    .lines()
                    .rev()
                    .take_while(|l| l.starts_with("  "))
                    .last()
                    .and_then(|l| l.trim().split_once(':'))
                    .map(|(id, _)| id.to_string())
                    .unwrap_or_else(|| panic!("no sign-off candidate listed:\n{before}"));
                pty.line(&id);
            }
            "SO PIN: " if !pin_slipped => {
                pin_slipped = true;
                pty.secret("", WRONG_SO_PIN);
                let (j, again) = pty.expect_any(&["SO PIN: ", " steps completed, "]);
                let again = plain(&again);
                assert_eq!(j, 0, "the SO PIN is asked again:\n{again}");
                assert!(
                    again.contains("keyrite: the SO PIN was rejected by ")
                        && again.contains(": the rejected PIN was dropped."),
                    "{again}"
                );
                pty.secret("", SO_PIN);
            }
            // First seen in the line that says why it is asked; the prompt itself ends "): ".
            "current SO PIN of " => pty.secret("): ", VENDOR_SO_PIN),
            "new SO PIN: " | "new SO PIN again: " | "SO PIN: " => pty.secret("", SO_PIN),
            "new user PIN: " | "new user PIN again: " | "user PIN: " => pty.secret("", USER_PIN),
            "Press Enter to show the share: " => {
                let (index, name) = share_heading(&before);
                pty.line("");
                let shown =
                    plain(&pty.expect("the last two groups of your copy (type-back check): "));
                let text = shown
                    .lines()
                    .map(str::trim)
                    .find(|l| !l.is_empty())
                    .expect("the share on screen")
                    .to_string();
                let groups: Vec<&str> = text.split_whitespace().collect();
                if slips {
                    // A typo: refused, and the share leaves the screen before it is shown again.
                    slips = false;
                    pty.hidden("", WRONG_TYPE_BACK);
                    pty.expect(CLEAR);
                    let said = plain(&pty.expect("Press Enter to show the share: "));
                    // The core's refusal, whole; `gui_ceremony` puts the same slip before the
                    // window and compares the two answers.
                    let refusal = keyrite_core::shares::typeback::TypeBackMismatch { index };
                    assert!(said.contains(&format!("keyrite: {refusal}")), "{said}");
                    let said = said
                        .lines()
                        .find_map(|l| l.trim().strip_prefix("keyrite: "))
                        .unwrap_or_else(|| panic!("no refusal after the slip:\n{said}"));
                    seen.type_back_refusal = Some((index, said.to_string()));
                    seen.clears_after_share += 1;
                    pty.line("");
                    pty.expect("the last two groups of your copy (type-back check): ");
                }
                // Typed without echo; the share itself is on screen by design, so this is
                // not added to the never-shown secrets.
                pty.hidden("", &groups[groups.len() - 2..].concat());
                seen.shares.insert(index, (name, text));
            }
            "Also seal it to a passphrase file? (yes/no): " => {
                pty.line("no");
                pty.expect("Press Enter when the share is copied; the screen is cleared: ");
                pty.line("");
                pty.expect(CLEAR);
                seen.clears_after_share += 1;
            }
            "share (typed, not shown): " => {
                let index = before
                    .rsplit_once("verifies share ")
                    .and_then(|(_, r)| r.split_once('.'))
                    .and_then(|(n, _)| n.parse::<u8>().ok())
                    .unwrap_or_else(|| panic!("which share is verified:\n{before}"));
                let share = seen
                    .shares
                    .get(&index)
                    .or_else(|| shares.get(&index))
                    .expect("the share being verified");
                let share = share.1.clone();
                pty.hidden("", &share);
            }
            "Custodian id presenting a share (empty: no more shares): " => {
                // The first three holders listed whose shares the custodians brought.
                let next = before.lines().find_map(|l| {
                    let rest = l.trim().strip_prefix("share ")?;
                    let (n, rest) = rest.split_once(": ")?;
                    let id = rest.split_once(" (")?.1.split_once(')')?.0;
                    let index: u8 = n.parse().ok()?;
                    (!l.contains("presented") && id.starts_with("custodian-"))
                        .then_some((index, id.to_string()))
                });
                match next {
                    Some((index, id)) if presented < 3 => {
                        presented += 1;
                        pty.line(&id);
                        pty.expect("Type or scan the share from the card (c), or open the sealed file (f)? ");
                        pty.line("c");
                        let share = &shares.get(&index).expect("a share the custodian holds").1;
                        pty.secret("share (typed or scanned, not shown): ", share);
                    }
                    _ => pty.line(""),
                }
            }
            ": insert your YubiKey, then press Enter: " => {
                let name = before.lines().last().unwrap_or_default().trim();
                cards.as_mut().expect("YubiKeys").insert(name);
                pty.line("");
            }
            // The factory PIN and PUK are printed in the prompt itself: typed hidden all the
            // same, but not counted among the secrets that never appear.
            "current YubiKey PIN (new key: 123456): " => pty.hidden("", "123456"),
            "current PUK (new key: 12345678): " => pty.hidden("", "12345678"),
            "new YubiKey PIN: " | "new YubiKey PIN again: " | "YubiKey PIN: " => {
                pty.secret("", YK_PIN)
            }
            "new PUK: " | "new PUK again: " => pty.secret("", YK_PUK),
            "Key id: " => {
                let id = before
                    .lines()
                    .find(|l| l.contains("\"keyrite-root-kek\""))
                    .and_then(|l| l.split_whitespace().next())
                    .unwrap_or_else(|| panic!("the root KEK is not offered:\n{before}"));
                pty.line(id);
            }
            "Custodian id approving (empty: no more approvals): " => {
                let next = before.lines().find_map(|l| {
                    let (id, rest) = l.trim().split_once(": ")?;
                    (id.starts_with("yk-")
                        && !rest.contains("not checked in")
                        && !approved.iter().any(|a| a == id))
                    .then(|| id.to_string())
                });
                match next {
                    Some(id) if approved.len() < 3 => {
                        pty.line(&id);
                        approved.push(id);
                    }
                    _ => pty.line(""),
                }
            }
            "Insert the YubiKey of " => {
                let rest = pty.expect(" now.");
                let name = rest.split_once(" (serial ").expect("insert line").0;
                cards.as_mut().expect("YubiKeys").insert(name);
            }
            " steps completed, " => break,
            other => {
                // Let the line finish, so the message says what the program said.
                std::thread::sleep(std::time::Duration::from_millis(500));
                let _ = pty.expect_any(&["\n"]);
                panic!(
                    "unexpected {other:?} after:\n{before}\n(all output:\n{})",
                    plain(&pty.output())
                )
            }
        }
    }
    let (status, out) = pty.finish();
    assert!(status.success(), "the ceremony failed:\n{}", plain(&out));
    seen.output = out;
    seen
}

/// "Share 2 of 5 for C Two (custodian-2); set: …" → (2, "C Two").
pub fn share_heading(before: &str) -> (u8, String) {
    let line = before
        .lines()
        .rev()
        .find(|l| l.starts_with("Share "))
        .unwrap_or_else(|| panic!("no share heading:\n{before}"));
    let rest = &line["Share ".len()..];
    let (index, rest) = rest.split_once(" of ").unwrap();
    let name = rest
        .split_once(" for ")
        .unwrap()
        .1
        .split_once(" (")
        .unwrap()
        .0;
    (index.parse().unwrap(), name.to_string())
}

/// The ceremony completed, its record verifies against the journal, and the journal verifies.
pub fn completed(site: &Site, id: &str, seen: &Seen) {
    let out = plain(&seen.output);
    assert!(
        out.contains(&format!("Ceremony {id}-")) && out.contains(" completed: "),
        "{out}"
    );
    let data = site.data();
    let v = verify_record_against_journal(&data, &record_of(&data, id));
    assert!(v.status.success(), "{}{}", stdout(&v), stderr(&v));
    let v = keyrite(&data, &["journal", "verify"]);
    assert!(v.status.success(), "{}{}", stdout(&v), stderr(&v));
}

/// The SoftHSM2 module, where the rehearsal HSM finds it.
pub fn softhsm() -> PathBuf {
    keyrite_core::hsm::rehearsal::softhsm_module_path().expect("SoftHSM2 is installed")
}
