//! The actions the engine runs for steps. Every HSM change is bracketed by `action_intent`
//! and `action_done`; outputs are journaled before the engine moves on.

use super::prompt::{Answer, Progress, Prompt, ShareProof};
use super::state::{Engine, Phase, SetRecord};
use super::EngineError;
use crate::hsm::backup::backup_key;
use crate::hsm::init::{init_token_checked, InitTarget};
use crate::hsm::objects::describe_key;
use crate::hsm::protection::ProtectionRule;
use crate::hsm::rootkek::{draw_root_kek, import_root_kek, seal_root_kek};
use crate::hsm::signer::HsmSigner;
use crate::hsm::{HsmError, TokenSession, UserKind};
use crate::journal::Event;
use crate::preflight::{ClockCheckResult, ClockConfirmation, ClockReading};
use crate::profile::{Mode, REHEARSAL_TOKEN_LABEL};
use crate::script::Action;
use crate::secret::SecretText;
use crate::shares::seal::{open_with_passphrase, seal_with_passphrase, Argon2Params};
use crate::shares::{split, Share};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// Label of the record-signing key the checkpoint and sign-record actions use.
pub const RECORD_SIGNING_LABEL: &str = "keyrite-record-signing";

/// Outcome of trying an action.
enum Ran {
    /// Finished; collect sign-offs.
    Done,
    /// Waits for people (phase set).
    Waiting,
}

fn hsm_err(e: HsmError) -> String {
    e.to_string()
}

/// Writes a new output file `path` inside the data directory `root` (backups, checkpoints,
/// sealed shares): never overwriting, never through a link out of `root`
/// (`crate::paths::write_new_within`).
pub(super) fn write_new(
    root: &std::path::Path,
    path: &std::path::Path,
    bytes: &[u8],
) -> Result<(), String> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Err(format!("cannot write {}: it names no file", path.display()));
    };
    crate::paths::write_new_within(root, dir, name, "the output file", bytes)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

impl Engine {
    fn login(&self, who: UserKind) -> Result<TokenSession, String> {
        let pin = match who {
            UserKind::So => self.so_pin.as_ref(),
            UserKind::User => self.user_pin.as_ref(),
        }
        .ok_or_else(|| format!("the {who} PIN is not known"))?;
        TokenSession::login(&self.module, &self.selector, who, pin)
            .map(|(s, _)| s)
            .map_err(hsm_err)
    }

    pub(super) fn need_pin(&mut self, who: UserKind, purpose: &str) -> bool {
        let known = match who {
            UserKind::So => self.so_pin.is_some(),
            UserKind::User => self.user_pin.is_some(),
        };
        if !known {
            self.phase = Phase::Pin(who, purpose.into());
        }
        !known
    }

    pub(super) fn intent(&mut self, label: Option<&str>) -> Result<(), EngineError> {
        self.journal.append(Event::ActionIntent {
            ceremony_id: self.id.clone(),
            step: self.step_id(),
            action: self.kind().name().into(),
            label: label.map(str::to_string),
        })?;
        Ok(())
    }

    pub(super) fn done_event(&mut self) -> Result<(), EngineError> {
        self.journal.append(Event::ActionDone {
            ceremony_id: self.id.clone(),
            step: self.step_id(),
            action: self.kind().name().into(),
        })?;
        Ok(())
    }

    /// Runs (or continues) the current step's action.
    pub(super) fn run_action(&mut self) -> Result<Progress, EngineError> {
        let step = match self.current() {
            Some(s) => s.clone(),
            None => return Ok(Progress::Continue),
        };
        let expected = format!("{} ({}) succeeds", step.title, step.action.kind());
        match self.try_action(&step.action) {
            Ok(Ran::Done) => self.action_finished(),
            Ok(Ran::Waiting) => Ok(Progress::Continue),
            Err(Failure::Engine(e)) => Err(*e),
            Err(Failure::Step(happened)) => self.raise(&expected, &happened),
        }
    }

    fn try_action(&mut self, action: &Action) -> Result<Ran, Failure> {
        match action {
            Action::Preflight => {
                let report = self.options.airgap.run();
                if self.env.mode() == Mode::Production && !report.is_clean() {
                    return Err(Failure::Step(format!(
                        "the air-gap check failed: {}",
                        report.findings().join("; ")
                    )));
                }
                self.phase = Phase::Preflight(report);
                Ok(Ran::Waiting)
            }
            Action::ClockCheck { tolerance_seconds } => {
                self.phase = Phase::Clock(ClockReading::now(), *tolerance_seconds);
                Ok(Ran::Waiting)
            }
            Action::Manual => Ok(Ran::Done),
            Action::HsmInit { token_label } => {
                if self.so_pin.is_none() || self.user_pin.is_none() {
                    self.phase = Phase::NewPins;
                    return Ok(Ran::Waiting);
                }
                self.hsm_init(token_label)?;
                Ok(Ran::Done)
            }
            Action::GenerateKey { policy, label } => {
                if self.need_pin(UserKind::User, &format!("generate key \"{label}\"")) {
                    return Ok(Ran::Waiting);
                }
                self.generate_key(policy, label)?;
                Ok(Ran::Done)
            }
            Action::GenerateAndSplitRootKek { label } => {
                if self.need_pin(UserKind::So, &format!("import the root KEK \"{label}\"")) {
                    return Ok(Ran::Waiting);
                }
                if self.need_pin(UserKind::User, &format!("seal the root KEK \"{label}\"")) {
                    return Ok(Ran::Waiting);
                }
                self.root_kek(label)?;
                Ok(Ran::Done)
            }
            Action::DistributeShare => {
                if self.shares.is_none() {
                    return Err(Failure::Step(
                        "no share set is in memory to distribute: the generate-and-split step must run in this session".into(),
                    ));
                }
                self.phase = Phase::Distribute;
                Ok(Ran::Waiting)
            }
            Action::VerifyShares => {
                if self.set.as_ref().is_none_or(|s| s.void) {
                    return Err(Failure::Step(
                        "no share set of this ceremony to verify".into(),
                    ));
                }
                self.phase = Phase::Verify;
                Ok(self.verify_next())
            }
            Action::Backup { key, wrap_key } => {
                if self.need_pin(UserKind::User, &format!("back up key \"{key}\"")) {
                    return Ok(Ran::Waiting);
                }
                self.backup(key, wrap_key)?;
                Ok(Ran::Done)
            }
            Action::Checkpoint => {
                if self.need_pin(UserKind::User, "sign a journal checkpoint") {
                    return Ok(Ran::Waiting);
                }
                self.checkpoint()?;
                Ok(Ran::Done)
            }
            Action::SignRecord => {
                if self.options.record_producer.is_none() {
                    return Err(Failure::Step(
                        EngineError::NoRecordProducer {
                            step: self.step_id(),
                        }
                        .to_string(),
                    ));
                }
                if self.need_pin(UserKind::User, "sign the ceremony record") {
                    return Ok(Ran::Waiting);
                }
                self.sign_record()?;
                Ok(Ran::Done)
            }
            Action::EnrolCustodian => Ok(if self.start_enrolment()? {
                Ran::Done
            } else {
                Ran::Waiting
            }),
            Action::Recover { label } => {
                self.recover_action(label).map_err(Failure::Step)?;
                Ok(Ran::Waiting)
            }
            Action::Rotate { .. } | Action::Destroy { .. } | Action::ReplaceCustodian => {
                self.quorum_action(action).map_err(Failure::Step)?;
                Ok(Ran::Waiting)
            }
        }
    }

    fn hsm_init(&mut self, script_label: &str) -> Result<(), Failure> {
        let embedded = self.env.rehearsal().is_some()
            && self.selector.to_string().contains(REHEARSAL_TOKEN_LABEL);
        let (slot, token) = self
            .module
            .find_token(&self.selector)
            .map_err(|e| Failure::Step(hsm_err(e)))?;
        let (target, label, force) = if embedded {
            (
                InitTarget::Slot(slot.id()),
                REHEARSAL_TOKEN_LABEL.to_string(),
                true,
            )
        } else if self.env.mode() == Mode::Rehearsal {
            (InitTarget::Slot(slot.id()), script_label.to_string(), true)
        } else {
            // Production initialises the token whose pinned identity was checked at start,
            // never "the first free one" (issue 14); it is re-checked after C_InitToken below.
            let Some(e) = self.env.profile().hsm.expect.as_ref() else {
                return Err(Failure::Step(
                    "production needs hsm.expect in the profile".into(),
                ));
            };
            let t = crate::hsm::init::select_pinned(&self.module, e)
                .map_err(|e| Failure::Step(hsm_err(e)))?;
            (
                InitTarget::Slot(t.slot_id),
                script_label.to_string(),
                t.initialized,
            )
        };
        self.intent(Some(&label))?;
        let quirks = crate::hsm::sitedata::quirks_for(self.env.profile())
            .map_err(|e| Failure::Step(hsm_err(e)))?;
        let (Some(so), Some(user)) = (self.so_pin.as_ref(), self.user_pin.as_ref()) else {
            return Err(Failure::Step("the new PINs are not known".into()));
        };
        // Re-initialising an initialised token needs its current SO PIN; the embedded
        // rehearsal token's is stored in the data directory. The new SO PIN is then set.
        let current_so = match (embedded, self.env.rehearsal()) {
            (true, Some(r)) => Some(r.pins().map_err(|e| Failure::Step(hsm_err(e)))?.0),
            _ => None,
        };
        let init_so = current_so.as_ref().unwrap_or(so);
        let pins = crate::hsm::init::InitPins {
            current_so: None,
            new_so: init_so,
            new_user: user,
        };
        let expected = self.env.profile().hsm.expect.as_ref();
        let t = init_token_checked(
            &self.module,
            &target,
            &label,
            &pins,
            force,
            self.env.mode(),
            expected,
            &quirks,
        )
        .map_err(|e| Failure::Step(hsm_err(e)))?;
        if let Some(old) = &current_so {
            let s = TokenSession::login(&self.module, &self.selector, UserKind::So, old)
                .map_err(|e| Failure::Step(hsm_err(e)))?
                .0;
            s.raw()
                .set_pin(
                    &cryptoki::types::AuthPin::new(old.expose().into()),
                    &cryptoki::types::AuthPin::new(so.expose().into()),
                )
                .map_err(|e| {
                    Failure::Step(hsm_err(s.err("setting the new SO PIN (C_SetPIN)", e)))
                })?;
            if let Some(r) = self.env.rehearsal() {
                r.store_pins(so, user)
                    .map_err(|e| Failure::Step(hsm_err(e)))?;
            }
        }
        self.journal.append_with_details(
            Event::HsmTokenInitialised {
                token_serial: t.serial.clone(),
                token_label: t.label.clone(),
                manufacturer: t.manufacturer.clone(),
                model: t.model.clone(),
            },
            json!({"script_label": script_label, "previous_serial": token.serial,
                   "embedded_rehearsal_token": embedded}),
        )?;
        self.done_event()?;
        Ok(())
    }

    fn generate_key(&mut self, policy: &str, label: &str) -> Result<(), Failure> {
        let policies = crate::hsm::sitedata::policies_for(self.env.profile())
            .map_err(|e| Failure::Step(hsm_err(e)))?;
        let p = policies
            .get(policy)
            .map_err(|e| Failure::Step(hsm_err(e)))?
            .clone();
        let quirks = crate::hsm::sitedata::quirks_for(self.env.profile())
            .map_err(|e| Failure::Step(hsm_err(e)))?;
        self.intent(Some(label))?;
        let s = self.login(UserKind::User).map_err(Failure::Step)?;
        let ev = crate::hsm::keygen::generate(&s, &p, label, &quirks)
            .map_err(|e| Failure::Step(hsm_err(e)))?;
        let serial = s.token().serial.clone();
        drop(s);
        if policy == "record-signing" {
            self.certify_record_signing(label, &ev.id)
                .map_err(Failure::Step)?;
        }
        self.journal.append(Event::KeyGenerated {
            key_id: label.into(),
            label: label.into(),
            cka_id: ev.id.clone(),
            token_serial: serial.clone(),
            algorithm: ev.key.name().into(),
            public_fingerprint: ev.spki_sha256.clone(),
            evidence: serde_json::to_value(&ev).unwrap_or_default(),
        })?;
        self.register_key(&ev, &p, &serial, None)?;
        self.done_event()?;
        Ok(())
    }

    /// Stores a self-signed X.509 certificate for the record-signing key `label` (CKA_ID
    /// `id_hex`) on the token: records carry it, verifiers pin its key.
    pub(super) fn certify_record_signing(&self, label: &str, id_hex: &str) -> Result<(), String> {
        let quirks = crate::hsm::sitedata::quirks_for(self.env.profile()).map_err(hsm_err)?;
        let s = self.login(UserKind::User)?;
        let signer = HsmSigner::open(s, label, &quirks).map_err(hsm_err)?;
        let der = crate::x509::record_signing_certificate(
            &signer,
            &self.env.profile().site.name,
            std::time::SystemTime::now(),
        )
        .map_err(|e| e.to_string())?;
        drop(signer);
        let s = self.login(UserKind::User)?;
        let id = hex::decode(id_hex).unwrap_or_default();
        crate::hsm::certificate::store_certificate(&s, label, &id, &der).map_err(hsm_err)
    }

    fn root_kek(&mut self, label: &str) -> Result<(), Failure> {
        let Some(t) = self.script.roles.custodians else {
            return Err(Failure::Step("the script declares no custodians".into()));
        };
        let policies = crate::hsm::sitedata::policies_for(self.env.profile())
            .map_err(|e| Failure::Step(hsm_err(e)))?;
        let p = policies
            .get("root-kek-import")
            .map_err(|e| Failure::Step(hsm_err(e)))?
            .clone();
        let quirks = crate::hsm::sitedata::quirks_for(self.env.profile())
            .map_err(|e| Failure::Step(hsm_err(e)))?;
        self.intent(Some(label))?;
        let s = self.login(UserKind::So).map_err(Failure::Step)?;
        let kek = draw_root_kek(&s).map_err(|e| Failure::Step(hsm_err(e)))?;
        let set = split(&kek, t.k(), t.n()).map_err(|e| Failure::Step(e.to_string()))?;
        let rule = ProtectionRule::of(self.env.profile());
        let staged = import_root_kek(&s, &p, label, kek, &quirks, rule)
            .map_err(|e| Failure::Step(hsm_err(e)))?;
        let serial = s.token().serial.clone();
        drop(s);
        let u = self.login(UserKind::User).map_err(Failure::Step)?;
        let ev = seal_root_kek(&u, &p, staged, &quirks).map_err(|e| Failure::Step(hsm_err(e)))?;
        drop(u);
        let evidence = ev.clone();
        self.journal.append_with_details(
            Event::KeyImported {
                key_id: label.into(),
                label: label.into(),
                cka_id: ev.id.clone(),
                token_serial: serial.clone(),
                algorithm: ev.key.name().into(),
                source:
                    "root KEK drawn from HSM and OS randomness, Shamir-split; host copy zeroized"
                        .into(),
            },
            json!({"evidence": ev, "ceremony_id": self.id}),
        )?;
        let fps: Vec<String> = set.shares.iter().map(|s| s.fingerprint().hex()).collect();
        self.journal.append_with_details(
            Event::ShareSetCreated {
                set_id: set.set_id.to_string(),
                protects_key_id: label.into(),
                threshold: t.k(),
                share_count: t.n(),
                share_fingerprints: fps.clone(),
            },
            json!({"ceremony_id": self.id, "set_words": set.set_id.words()}),
        )?;
        self.register_key(&evidence, &p, &serial, Some(&set.set_id.to_string()))?;
        self.done_event()?;
        self.set = Some(SetRecord {
            set_id: set.set_id.to_string(),
            threshold: t.k(),
            count: t.n(),
            fingerprints: fps,
            protects: label.into(),
            ..Default::default()
        });
        self.shares = Some(set);
        Ok(())
    }

    pub(super) fn backup(&mut self, key: &str, wrap_key: &str) -> Result<(), Failure> {
        let policies = crate::hsm::sitedata::policies_for(self.env.profile())
            .map_err(|e| Failure::Step(hsm_err(e)))?;
        let quirks = crate::hsm::sitedata::quirks_for(self.env.profile())
            .map_err(|e| Failure::Step(hsm_err(e)))?;
        let path = self
            .env
            .data()
            .path()
            .join("backups")
            .join(format!("{key}-{}.krbak", self.id));
        self.intent(Some(key))?;
        let s = self.login(UserKind::User).map_err(Failure::Step)?;
        let listing =
            describe_key(&s, key, &policies, &quirks).map_err(|e| Failure::Step(hsm_err(e)))?;
        // The record-signing key satisfies the general EC policy too; record the specific one.
        let preferred = listing
            .policies
            .iter()
            .find(|p| key == RECORD_SIGNING_LABEL && p.as_str() == "record-signing")
            .or(listing.policies.first())
            .cloned();
        let Some(pname) = preferred else {
            return Err(Failure::Step(format!(
                "key \"{key}\" satisfies no key policy ({}); it cannot be backed up",
                listing.failures.join("; ")
            )));
        };
        let pol = policies
            .get(&pname)
            .map_err(|e| Failure::Step(hsm_err(e)))?;
        let (b, _) =
            backup_key(&s, key, pol, wrap_key, &quirks).map_err(|e| Failure::Step(hsm_err(e)))?;
        let serial = s.token().serial.clone();
        drop(s);
        let text = b.encode();
        write_new(self.env.data().path(), &path, text.as_bytes()).map_err(Failure::Step)?;
        self.journal.append_with_details(
            Event::BackupMade {
                backup_id: format!("{key}-{}", self.id),
                key_id: key.into(),
                wrapped_by: wrap_key.into(),
                blob_sha256: hex::encode(Sha256::digest(text.as_bytes())),
                location: path.display().to_string(),
            },
            json!({"ceremony_id": self.id, "policy": pname, "wrapping_key_kcv": b.wrapping_key_kcv}),
        )?;
        let location = path.display().to_string();
        self.register_backup(
            &format!("{key}-{}", self.id),
            key,
            wrap_key,
            &serial,
            &location,
        )?;
        self.done_event()?;
        Ok(())
    }

    fn signer(&self) -> Result<HsmSigner, Failure> {
        let quirks = crate::hsm::sitedata::quirks_for(self.env.profile())
            .map_err(|e| Failure::Step(hsm_err(e)))?;
        let s = self.login(UserKind::User).map_err(Failure::Step)?;
        HsmSigner::open(s, RECORD_SIGNING_LABEL, &quirks).map_err(|e| Failure::Step(hsm_err(e)))
    }

    fn checkpoint(&mut self) -> Result<(), Failure> {
        let signer = self.signer()?;
        let cp = self.journal.checkpoint(&signer)?;
        drop(signer);
        let path = self
            .env
            .data()
            .path()
            .join("checkpoints")
            .join(format!("{}.txt", cp.size));
        if !path.exists() {
            write_new(self.env.data().path(), &path, cp.to_text().as_bytes())
                .map_err(Failure::Step)?;
        }
        Ok(())
    }

    /// Decides and journals the outcome, signs the record checkpoint over it, then renders,
    /// signs and journals the record (`closing.rs`). When `record_produced` is already
    /// journaled (killed before the step completed), the record stands and only the
    /// sign-offs are asked again.
    fn sign_record(&mut self) -> Result<(), Failure> {
        if self.record_sha256.is_some() {
            return Ok(());
        }
        let signer = self.signer()?;
        let certificate =
            crate::hsm::certificate::read_certificate(signer.session(), RECORD_SIGNING_LABEL)
                .map_err(|e| Failure::Step(hsm_err(e)))?;
        self.decide_outcome(&signer)?;
        let status = self.status();
        let Some(producer) = self.options.record_producer.as_ref() else {
            return Err(Failure::Step("no record producer".into()));
        };
        let rec = producer
            .produce(super::RecordInput {
                status: &status,
                script: &self.script,
                journal: &self.journal,
                signer: &signer,
                certificate_der: &certificate,
                data: self.env.data(),
            })
            .map_err(Failure::Step)?;
        drop(signer);
        self.journal.append_with_details(
            Event::RecordProduced {
                ceremony_id: self.id.clone(),
                record_sha256: rec.sha256.clone(),
                pages: rec.pages,
            },
            json!({"location": rec.path.display().to_string()}),
        )?;
        self.record_sha256 = Some(rec.sha256);
        Ok(())
    }

    fn next_undistributed(&self) -> Option<u8> {
        let set = self.set.as_ref()?;
        (1..=set.count).find(|i| !set.distributed.contains_key(i))
    }

    pub(super) fn share_prompt(&self) -> Prompt {
        let i = self.next_undistributed().unwrap_or(1);
        let share = self
            .shares
            .as_ref()
            .and_then(|s| s.shares.iter().find(|s| s.index() == i));
        let cid = format!("custodian-{i}");
        Prompt::ShowShare {
            custodian_name: self
                .participant(&cid)
                .map(|p| p.name.clone())
                .unwrap_or_default(),
            custodian: cid,
            index: i,
            count: self.set.as_ref().map(|s| s.count).unwrap_or(0),
            set_words: share.map(|s| s.set_id().words()).unwrap_or_default(),
            fingerprint_words: share.map(|s| s.fingerprint().words()).unwrap_or_default(),
            human_form: share
                .map(|s| s.human_form())
                .unwrap_or_else(|| SecretText::new(String::new())),
            qr_payload: share
                .map(|s| s.qr_payload())
                .unwrap_or_else(|| SecretText::new(String::new())),
        }
    }

    fn next_unverified(&self) -> Option<u8> {
        let set = self.set.as_ref()?;
        (1..=set.count).find(|i| !set.verified.contains(i))
    }

    fn verify_next(&mut self) -> Ran {
        if self.next_unverified().is_none() {
            Ran::Done
        } else {
            Ran::Waiting
        }
    }

    pub(super) fn verify_prompt(&self) -> Prompt {
        let i = self.next_unverified().unwrap_or(1);
        if let Some(holder) = self.set.as_ref().and_then(|s| s.holders.get(&i)) {
            let rec = crate::inventory::custodians::get(self.journal.store(), holder)
                .ok()
                .flatten()
                .map(|c| c.record);
            return Prompt::VerifyShare {
                custodian: holder.clone(),
                custodian_name: rec.as_ref().map(|r| r.name.clone()).unwrap_or_default(),
                index: i,
                sealed_file: self
                    .set
                    .as_ref()
                    .and_then(|s| s.distributed.get(&i).cloned().flatten())
                    .map(PathBuf::from),
                yubikey_serial: rec.map(|r| r.yubikey_serial),
            };
        }
        let cid = format!("custodian-{i}");
        Prompt::VerifyShare {
            yubikey_serial: None,
            custodian_name: self
                .participant(&cid)
                .map(|p| p.name.clone())
                .unwrap_or_default(),
            custodian: cid,
            index: i,
            sealed_file: self
                .set
                .as_ref()
                .and_then(|s| s.distributed.get(&i).cloned().flatten())
                .map(PathBuf::from),
        }
    }

    /// Answers that belong to an action's own prompts.
    pub(super) fn answer_action(&mut self, a: Answer) -> Result<Progress, EngineError> {
        let bad = |m: String| Err(EngineError::BadAnswer(m));
        match (&self.phase, a) {
            (Phase::Preflight(report), Answer::Proceed) => {
                let report = report.clone();
                for c in &report.checks {
                    self.journal.append_with_details(
                        Event::PreflightResult {
                            ceremony_id: self.id.clone(),
                            check: format!("{:?}", c.check),
                            passed: c.passed,
                            detail: c.reason.clone(),
                        },
                        json!({"findings": c.findings}),
                    )?;
                }
                self.action_finished()
            }
            (
                Phase::Clock(reading, tol),
                Answer::Clock {
                    witness,
                    reference,
                    offset_seconds,
                },
            ) => {
                if self
                    .participant(&witness)
                    .is_none_or(|p| p.role != crate::script::Role::Witness)
                {
                    return bad(format!("{witness} is not a checked-in witness"));
                }
                let r = ClockCheckResult::judge(
                    reading.clone(),
                    ClockConfirmation {
                        witness,
                        reference,
                        offset_seconds,
                    },
                    *tol,
                );
                self.journal.append_with_details(
                    Event::PreflightResult {
                        ceremony_id: self.id.clone(),
                        check: "clock".into(),
                        passed: r.passed,
                        detail: r.reason.clone(),
                    },
                    serde_json::to_value(&r).unwrap_or_default(),
                )?;
                if r.passed {
                    self.action_finished()
                } else {
                    let expected = format!(
                        "the system clock within {} s of the reference",
                        r.tolerance_seconds
                    );
                    self.raise(&expected, &r.reason)
                }
            }
            (Phase::NewPins, Answer::NewPins { so, user }) => {
                if let Err(e) = crate::hsm::init::check_pins(&so, &user) {
                    return bad(e.to_string());
                }
                self.so_pin = Some(so);
                self.user_pin = Some(user);
                self.run_action()
            }
            (
                Phase::Distribute,
                Answer::ShareHandled {
                    shown,
                    seal_passphrase,
                },
            ) => self.distribute(shown, seal_passphrase),
            (Phase::Verify, Answer::ShareProof(proof)) => self.verify(proof),
            (_, a) => bad(format!(
                "{} does not answer {}",
                answer_name(&a),
                prompt_name(&self.prompt())
            )),
        }
    }

    fn distribute(
        &mut self,
        shown: bool,
        pass: Option<SecretText>,
    ) -> Result<Progress, EngineError> {
        let Some(i) = self.next_undistributed() else {
            return Err(EngineError::BadAnswer("every share is distributed".into()));
        };
        if !shown && pass.is_none() {
            return Err(EngineError::BadAnswer(format!(
                "share {i} was neither shown nor sealed; it must reach custodian-{i} one way"
            )));
        }
        let set_id = self
            .set
            .as_ref()
            .map(|s| s.set_id.clone())
            .unwrap_or_default();
        let share: &Share = self
            .shares
            .as_ref()
            .and_then(|s| s.shares.iter().find(|s| s.index() == i))
            .ok_or_else(|| EngineError::BadAnswer(format!("share {i} is not in memory")))?;
        let mut sealed = None;
        if let Some(p) = pass {
            if p.len() < 8 {
                return Err(EngineError::BadAnswer(format!(
                    "the passphrase for share {i} is shorter than 8 characters; choose a longer one"
                )));
            }
            let bytes = seal_with_passphrase(share, &p, Argon2Params::default())
                .map_err(|e| EngineError::BadAnswer(e.to_string()))?;
            let path = self
                .env
                .data()
                .path()
                .join("shares")
                .join(format!("{set_id}-{i}.krseal"));
            write_new(self.env.data().path(), &path, &bytes).map_err(EngineError::Io)?;
            sealed = Some((
                path.display().to_string(),
                hex::encode(Sha256::digest(&bytes)),
            ));
        }
        self.journal.append(Event::ShareDistributed {
            ceremony_id: self.id.clone(),
            set_id,
            index: i,
            custodian_id: format!("custodian-{i}"),
            shown,
            sealed_file: sealed.as_ref().map(|s| s.0.clone()),
            sealed_sha256: sealed.as_ref().map(|s| s.1.clone()),
        })?;
        if let Some(set) = self.set.as_mut() {
            set.distributed.insert(i, sealed.map(|s| s.0));
        }
        if let Some(mem) = self.shares.as_mut() {
            mem.shares.retain(|s| s.index() != i);
        }
        if self.next_undistributed().is_none() {
            self.shares = None;
            return self.action_finished();
        }
        Ok(Progress::Continue)
    }

    fn verify(&mut self, proof: ShareProof) -> Result<Progress, EngineError> {
        let Some(i) = self.next_unverified() else {
            return Err(EngineError::BadAnswer("every share is verified".into()));
        };
        let set = self.set.clone().unwrap_or_default();
        let share = match proof {
            ShareProof::Text(t) => crate::shares::verify_one(t.expose())
                .map_err(|e| EngineError::BadAnswer(e.to_string()))?,
            ShareProof::Sealed { file, passphrase } => {
                let bytes = std::fs::read(&file).map_err(|e| {
                    EngineError::BadAnswer(format!(
                        "cannot read sealed share {}: {e}",
                        file.display()
                    ))
                })?;
                open_with_passphrase(&bytes, &passphrase)
                    .map_err(|e| EngineError::BadAnswer(e.to_string()))?
            }
            ShareProof::YubiKey { pin } => self.open_with_yubikey(&set, i, &pin)?,
        };
        let cid = set
            .holders
            .get(&i)
            .cloned()
            .unwrap_or_else(|| format!("custodian-{i}"));
        if share.set_id().to_string() != set.set_id || share.index() != i {
            return Err(EngineError::BadAnswer(format!(
                "{cid} presented share {} of set {}, but share {i} of set {} is expected",
                share.index(),
                share.set_id(),
                set.set_id
            )));
        }
        let fp = share.fingerprint().hex();
        if set.fingerprints.get(usize::from(i) - 1) != Some(&fp) {
            return Err(EngineError::BadAnswer(format!(
                "share {i} of {cid} does not match the fingerprint recorded when the set was created; it is not the share issued"
            )));
        }
        self.journal.append_with_details(
            Event::ShareVerified {
                set_id: set.set_id.clone(),
                index: i,
                fingerprint: fp,
                custodian_id: cid,
            },
            json!({"ceremony_id": self.id}),
        )?;
        if let Some(s) = self.set.as_mut() {
            s.verified.insert(i);
        }
        match self.verify_next() {
            Ran::Done => self.action_finished(),
            Ran::Waiting => Ok(Progress::Continue),
        }
    }

    /// Reconciles interrupted actions with the token (user PIN known).
    pub(super) fn run_reconcile(&mut self) -> Result<(), EngineError> {
        let pending = std::mem::take(&mut self.reconcile);
        for p in pending {
            if let Some(label) = &p.destroy_label {
                let s = match self.login(UserKind::User) {
                    Ok(s) => s,
                    Err(e) => {
                        self.reconcile.push(p.clone());
                        self.user_pin = None;
                        return Err(EngineError::Io(format!(
                            "reconciling after an interruption: {e}"
                        )));
                    }
                };
                let objs = crate::hsm::keygen::find_key(&s, label)?;
                if !objs.is_empty() {
                    let proof = crate::hsm::destroy::destroy_key(&s, label)?;
                    self.journal.append(Event::KeyDestroyed {
                        key_id: label.clone(),
                        token_serial: s.token().serial.clone(),
                        cka_id: proof.ids.join(","),
                        proof: serde_json::to_value(&proof).unwrap_or_default(),
                    })?;
                }
            }
            if let Some(set_id) = &p.void_set {
                self.journal.append(Event::ShareSetVoided {
                    set_id: set_id.clone(),
                    reason: p.reason.clone(),
                })?;
                self.set = None;
            }
            if let Some(file) = &p.remove_file {
                let _ = std::fs::remove_file(file);
            }
            for step in &p.reset_steps {
                self.journal.append(Event::StepReset {
                    ceremony_id: self.id.clone(),
                    step: step.clone(),
                    reason: p.reason.clone(),
                })?;
                self.done.remove(step);
                self.signed.remove(step);
            }
        }
        Ok(())
    }
}

/// Why an action did not finish: a step failure (becomes an exception) or an engine error.
pub(super) enum Failure {
    Step(String),
    Engine(Box<EngineError>),
}

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Self {
        Failure::Engine(Box::new(e))
    }
}

impl From<crate::journal::JournalError> for Failure {
    fn from(e: crate::journal::JournalError) -> Self {
        Failure::Engine(Box::new(e.into()))
    }
}

fn answer_name(a: &Answer) -> &'static str {
    match a {
        Answer::CheckIn { .. } => "a check-in",
        Answer::Proceed => "proceed",
        Answer::Clock { .. } => "a clock confirmation",
        Answer::Pin(_) => "a PIN",
        Answer::NewPins { .. } => "new PINs",
        Answer::ShareHandled { .. } => "a share hand-over",
        Answer::ShareProof(_) => "a share proof",
        Answer::SignOff { .. } => "a sign-off",
        Answer::SignOffWithYubiKey { .. } => "a YubiKey sign-off",
        Answer::Decide { .. } => "a decision",
        Answer::Enrol { .. } => "an enrolment",
        Answer::ChooseKey { .. } => "a key choice",
        Answer::Approve { .. } => "an approval",
        Answer::SubmitApprovals => "submitting the approvals",
    }
}

/// Short name of a prompt, for messages.
pub(super) fn prompt_name(p: &Prompt) -> &'static str {
    match p {
        Prompt::CheckIn { .. } => "the check-in",
        Prompt::Instructions { .. } => "the step's instructions",
        Prompt::ConfirmPreflight(_) => "the preflight report",
        Prompt::ClockConfirmation { .. } => "the clock confirmation",
        Prompt::Pin { .. } => "the PIN request",
        Prompt::NewPins { .. } => "the new-PIN request",
        Prompt::ShowShare { .. } => "the share hand-over",
        Prompt::VerifyShare { .. } => "the share verification",
        Prompt::SignOff { .. } => "the sign-off",
        Prompt::ExceptionDecision { .. } => "the exception",
        Prompt::EnrolYubiKey { .. } => "the YubiKey enrolment",
        Prompt::ChooseKey { .. } => "the key choice",
        Prompt::Approval(_) => "the approval request",
        Prompt::Done { .. } => "the closed ceremony",
    }
}
