//! A room that answers every prompt of a ceremony in the window by keyboard only, as the
//! people of the rehearsal answers file would: check-ins by role, the clock, PINs, custodians'
//! virtual YubiKeys (one in the reader at a time, inserted when the screen asks for it), the
//! key each quorum step acts on, who approves, shares presented for recovery, and sign-offs —
//! an enrolled custodian signs on their YubiKey. What each step's result card said is kept,
//! so a test can check what the room read aloud.

use super::Session;
use crate::ceremony::{SO_PIN, USER_PIN};
use crate::piv::Harness;
use crate::quorum::YK_PIN;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The custodians' cards: one in the reader at a time, as in the room.
pub struct Cards<'a> {
    h: &'a mut Harness,
    current: Option<u32>,
    /// Serials inserted, in order.
    pub inserted: Vec<u32>,
}

impl<'a> Cards<'a> {
    /// No card in the reader yet.
    pub fn new(h: &'a mut Harness) -> Self {
        Self {
            h,
            current: None,
            inserted: Vec::new(),
        }
    }

    /// Puts `name`'s card (serial `serial`) in the reader, taking out the one there.
    pub fn insert(&mut self, name: &str, serial: u32) {
        if self.current == Some(serial) {
            return;
        }
        tokio::task::block_in_place(|| {
            if let Some(old) = self.current.take() {
                self.h.remove(old);
            }
            self.h.insert(name, serial, 0);
        });
        self.current = Some(serial);
        self.inserted.push(serial);
    }

    /// Takes the card out of the reader.
    pub fn pull_out(&mut self) {
        if let Some(old) = self.current.take() {
            tokio::task::block_in_place(|| self.h.remove(old));
        }
    }
}

/// How a custodian presents their share for recovery.
#[derive(Debug, Clone)]
pub enum Presentation {
    /// Their card and its PIN open the share sealed to it.
    YubiKey,
    /// The share typed from their card.
    Typed(String),
    /// The passphrase of their sealed file.
    Passphrase(String),
    /// A share typed wrong: the engine must refuse it (its words are kept in
    /// [`Seen::refusals`]); the custodian tries again with the next presentation.
    TypedWrong(String),
}

/// Who is in the room and what they answer.
#[derive(Default)]
pub struct Room {
    /// Custodians in check-in order.
    pub custodians: Vec<String>,
    /// Enrolled custodians' YubiKey serials, by name.
    pub serials: BTreeMap<String, u32>,
    /// The key label each quorum step acts on, by step id.
    pub keys: BTreeMap<String, String>,
    /// Who approves each quorum step, in order, by step id.
    pub approvers: BTreeMap<String, Vec<String>>,
    /// Who presents a share for recovery, in order, and how.
    pub presents: Vec<(String, Presentation)>,
    /// Photograph the recovery form (`ceremony-recover.png`, and after a refused share
    /// `ceremony-recover-refused.png`) when screenshots are asked for.
    pub shots: bool,
    /// At most this many sign-offs of a step are signed on a YubiKey (the others on paper,
    /// as the engine allows); `None`: every enrolled custodian signs on their card.
    pub yubikey_sign_offs_per_step: Option<usize>,
    checked_in: BTreeMap<String, usize>,
}

/// What the room saw while the ceremony ran.
#[derive(Debug, Default)]
pub struct Seen {
    /// The done screen's summary line.
    pub summary: String,
    /// Each step's result card as read aloud (`label: value` lines), by step id.
    pub results: BTreeMap<String, String>,
    /// Sign-offs made on a YubiKey: (step, custodian name).
    pub yubikey_sign_offs: Vec<(String, String)>,
    /// Shares presented for recovery, by custodian name, in order (refused ones too).
    pub presented: Vec<String>,
    /// The engine's refusals of presented shares, as the screen said them.
    pub refusals: Vec<String>,
    /// The recovery form's own refusals (nothing sent), as the screen said them.
    pub form_refusals: Vec<String>,
    /// Whether the page's text ever held a typed share (it must not).
    pub share_echoed: bool,
    /// Time spent answering each kind of prompt (for the report of the tests' run times).
    pub time_by_kind: BTreeMap<String, std::time::Duration>,
}

impl Room {
    /// A room with `custodians` (in check-in order), those in `serials` enrolled.
    pub fn new(custodians: &[&str], serials: &[(&str, u32)]) -> Self {
        Self {
            custodians: custodians.iter().map(|c| c.to_string()).collect(),
            serials: serials.iter().map(|(n, s)| (n.to_string(), *s)).collect(),
            ..Default::default()
        }
    }

    /// `step` acts on the key labelled `label`, approved by `approvers` in order.
    pub fn quorum(&mut self, step: &str, label: &str, approvers: &[&str]) -> &mut Self {
        if !label.is_empty() {
            self.keys.insert(step.into(), label.into());
        }
        self.approvers.insert(
            step.into(),
            approvers.iter().map(|a| a.to_string()).collect(),
        );
        self
    }

    fn serial(&self, name: &str) -> u32 {
        *self
            .serials
            .get(name)
            .unwrap_or_else(|| panic!("{name} has no enrolled YubiKey in this room"))
    }

    fn name_for(&mut self, role: &str) -> String {
        let n = self.checked_in.entry(role.into()).or_default();
        let name = match role {
            "administrator" => "Ada Admin".to_string(),
            "witness" => "Wes Witness".to_string(),
            "auditor" => "Aud Auditor".to_string(),
            _ => self.custodians[*n % self.custodians.len()].clone(),
        };
        *n += 1;
        name
    }
}

impl Session {
    /// Starts `script` ([`Session::start_ceremony`]: its path typed, its words checked),
    /// answers every prompt as `room` would and closes the done screen; panics at an
    /// exception or a prompt the room cannot answer.
    pub async fn run_ceremony(
        &self,
        script: &Path,
        room: &mut Room,
        cards: &mut Cards<'_>,
    ) -> Seen {
        room.checked_in.clear();
        self.start_ceremony(script).await;
        let mut seen = Seen::default();
        loop {
            let kind = self.attr("#ceremony-view", "data-kind").await;
            if kind == "done" {
                seen.summary = self.text("#ceremony-summary").await;
                self.activate("#ceremony-close").await;
                self.wait("#script-form").await;
                cards.pull_out();
                return seen;
            }
            let heading = self.text("#prompt-form h3").await;
            let at = std::time::Instant::now();
            match kind.as_str() {
                "check-in" => {
                    let role = heading.trim_start_matches("Check in: ").to_string();
                    let name = room.name_for(&role);
                    self.type_into("#checkin-name", &name).await;
                    self.submit_prompt().await;
                }
                "instructions" | "confirm-preflight" => self.submit_prompt().await,
                "clock-confirmation" => {
                    self.type_into("#clock-reference", "test clock").await;
                    self.submit_prompt().await;
                }
                "pin" => {
                    let pin = if heading.starts_with("SO") {
                        SO_PIN
                    } else {
                        USER_PIN
                    };
                    self.type_into("#pin-input", pin).await;
                    self.submit_prompt().await;
                }
                "new-pins" => {
                    for (css, pin) in [
                        ("#new-so", SO_PIN),
                        ("#new-so-again", SO_PIN),
                        ("#new-user", USER_PIN),
                        ("#new-user-again", USER_PIN),
                    ] {
                        self.type_into(css, pin).await;
                    }
                    self.submit_prompt().await;
                }
                "verify-share" => {
                    let name = heading
                        .split_once(" proves share ")
                        .map(|(n, _)| n.to_string())
                        .unwrap_or_else(|| panic!("heading {heading}"));
                    cards.insert(&name, room.serial(&name));
                    self.type_into("#share-yubikey-pin", YK_PIN).await;
                    self.submit_prompt().await;
                }
                "choose-key" => {
                    let step = step_of(&heading);
                    let label = room
                        .keys
                        .get(&step)
                        .unwrap_or_else(|| panic!("no key chosen for step {step}"));
                    self.check_radio(&format!("#key-choices input[data-label='{label}']"))
                        .await;
                    self.submit_prompt().await;
                }
                "approval" if !self.all("#recover-holders").await.is_empty() => {
                    self.present_share(room, cards, &mut seen).await
                }
                "approval" => self.approve_on_card(room, cards).await,
                "sign-off" => self.sign_off(room, cards, &mut seen).await,
                "exception-decision" => panic!(
                    "{heading}: {}",
                    self.text("dd[data-field='happened']").await
                ),
                other => panic!("unexpected prompt {other}: {heading}"),
            }
            *seen.time_by_kind.entry(kind).or_default() += at.elapsed();
        }
    }

    async fn approve_on_card(&self, room: &Room, cards: &mut Cards<'_>) {
        let step = self.text("dd[data-field='step']").await;
        let k: usize = self
            .attr("#prompt-form", "data-approved")
            .await
            .parse()
            .expect("approvals so far");
        let name = room
            .approvers
            .get(&step)
            .and_then(|a| a.get(k))
            .unwrap_or_else(|| panic!("approval {} of step {step}: nobody left to approve", k + 1));
        let serial = room.serial(name);
        cards.insert(name, serial);
        self.check_radio(&format!(
            "#approval-candidates input[data-custodian='yk-{serial}']"
        ))
        .await;
        self.type_into("#approval-pin", YK_PIN).await;
        self.submit_prompt().await;
    }

    async fn present_share(&self, room: &Room, cards: &mut Cards<'_>, seen: &mut Seen) {
        let k = seen.presented.len();
        let (name, how) = room
            .presents
            .get(k)
            .unwrap_or_else(|| panic!("presentation {} of the recovery: nobody left", k + 1));
        if k == 0 {
            // Nobody chosen: the form says so and sends nothing.
            seen.form_refusals.push(self.refused_by_form().await);
        }
        self.check_radio(&format!("#recover-holders input[data-name='{name}']"))
            .await;
        seen.presented.push(name.clone());
        match how {
            Presentation::YubiKey => {
                cards.insert(name, room.serial(name));
                self.type_into("#recover-yubikey-pin", YK_PIN).await;
            }
            Presentation::TypedWrong(text) => {
                // Neither the share nor the passphrase, then both: refused by the form.
                seen.form_refusals.push(self.refused_by_form().await);
                self.type_into("#recover-share-text", text).await;
                self.type_into("#recover-passphrase", "a passphrase too")
                    .await;
                seen.form_refusals.push(self.refused_by_form().await);
                self.type_into("#recover-share-text", text).await;
            }
            Presentation::Typed(text) => self.type_into("#recover-share-text", text).await,
            Presentation::Passphrase(p) => self.type_into("#recover-passphrase", p).await,
        }
        if room.shots && k == 0 {
            self.scroll_to("#recover-holders").await;
            self.screenshot("ceremony-recover").await;
        }
        if let Presentation::TypedWrong(text) = how {
            self.activate("#prompt-submit").await;
            let said = self.text("#prompt-error-text").await;
            if room.shots {
                self.scroll_to("#prompt-error").await;
                self.screenshot("ceremony-recover-refused").await;
            }
            let page = self
                .client
                .execute("return document.body.innerText;", vec![])
                .await
                .expect("page text");
            seen.share_echoed |= page.as_str().is_some_and(|p| p.contains(text.as_str()));
            seen.refusals.push(said);
            self.clear_prompt_error().await;
            return;
        }
        self.submit_prompt().await;
    }

    /// Submits the prompt expecting the form itself to refuse (the view is not redrawn):
    /// gives back what it said and clears it.
    async fn refused_by_form(&self) -> String {
        let before = self.attr("#ceremony-view", "data-render").await;
        self.activate("#prompt-submit").await;
        let said = self.text("#prompt-error-text").await;
        assert_eq!(self.attr("#ceremony-view", "data-render").await, before);
        self.clear_prompt_error().await;
        said
    }

    /// A sign-off: the result card is kept; a custodian with an enrolled YubiKey signs on it
    /// (the one whose card is already in the reader first, so cards change hands less).
    async fn sign_off(&self, room: &Room, cards: &mut Cards<'_>, seen: &mut Seen) {
        let step = self
            .text("#prompt-form h3")
            .await
            .trim_start_matches("Sign-off of step ")
            .to_string();
        if !self.all("#step-result").await.is_empty() {
            let mut lines = Vec::new();
            for row in self.all("#step-result dt, #step-result dd").await {
                lines.push(row.text().await.unwrap_or_default());
            }
            let text = lines
                .chunks(2)
                .map(|c| c.join(": "))
                .collect::<Vec<_>>()
                .join("\n");
            seen.results.entry(step.clone()).or_insert(text);
        }
        let options: Vec<(String, String)> = {
            let mut v = Vec::new();
            for o in self.all("#signoff-who option").await {
                let value = o.attr("value").await.ok().flatten().unwrap_or_default();
                let text = o.text().await.unwrap_or_default();
                let name = text
                    .rsplit_once(" (")
                    .map(|(n, _)| n.to_string())
                    .unwrap_or(text);
                v.push((value, name));
            }
            v
        };
        let on_card = seen
            .yubikey_sign_offs
            .iter()
            .filter(|(s, _)| *s == step)
            .count();
        let cards_left = room
            .yubikey_sign_offs_per_step
            .is_none_or(|max| on_card < max);
        let enrolled = |n: &str| cards_left && room.serials.contains_key(n);
        let pick = options
            .iter()
            .find(|(_, n)| enrolled(n) && cards.current == room.serials.get(n).copied())
            .or_else(|| options.iter().find(|(_, n)| enrolled(n)))
            .or_else(|| options.first())
            .cloned()
            .expect("someone to sign off");
        if self.value("#signoff-who").await != pick.0 {
            self.select("#signoff-who", &pick.0).await;
        }
        if enrolled(&pick.1) {
            cards.insert(&pick.1, room.serial(&pick.1));
            self.type_into("#signoff-yubikey-pin", YK_PIN).await;
            seen.yubikey_sign_offs.push((step, pick.1.clone()));
        }
        self.submit_prompt().await;
    }
}

/// "Step rotate-key: choose the key to rotate" → "rotate-key".
fn step_of(heading: &str) -> String {
    heading
        .trim_start_matches("Step ")
        .split_once(':')
        .map(|(s, _)| s.to_string())
        .unwrap_or_else(|| panic!("heading {heading}"))
}

/// The records in `DATA/records`, sorted.
pub fn records(data: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(data.join("records"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// The one record of a `ceremony` ceremony that is not in `before`; it passes
/// `keyrite record verify` in full against the journal (exit 0, VALID) and poppler's `pdfsig`
/// (signature valid, the whole document signed).
pub fn verified_record(data: &Path, before: &[PathBuf], ceremony: &str) -> PathBuf {
    let new: Vec<PathBuf> = records(data)
        .into_iter()
        .filter(|r| !before.contains(r))
        .filter(|r| {
            r.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{ceremony}-")) && n.ends_with(".pdf"))
        })
        .collect();
    assert_eq!(new.len(), 1, "one new record of {ceremony}: {new:?}");
    let record = new[0].clone();
    let v = crate::ceremony::verify_record_against_journal(data, &record);
    let out = crate::stdout(&v);
    assert!(v.status.success(), "{out}{}", crate::stderr(&v));
    assert!(out.starts_with("VALID: record of ceremony "), "{out}");
    let sig = std::process::Command::new("pdfsig")
        .arg(&record)
        .output()
        .expect("pdfsig (poppler-utils)");
    let sig_out = String::from_utf8_lossy(&sig.stdout);
    assert!(sig_out.contains("Signature is Valid."), "{sig_out}");
    assert!(sig_out.contains("Total document signed"), "{sig_out}");
    record
}
