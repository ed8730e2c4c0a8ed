//! Quorum-gated operations through the real stack: five custodians enrolled on virtual
//! YubiKeys (the `yubikey` crate → pcscd → vpcd → `piv-sim`), 3-of-5 approvals, and real
//! SoftHSM2 tokens. Refused operations must leave the token, the inventory and the journal's
//! record of the key unchanged, and every refusal must be in the journal.
#![allow(
    clippy::unwrap_used,
    reason = "tests and their fixtures stop at the first unexpected error, with its location"
)]

use keyrite_core::custodian::enrol::EnrolmentRecord;
use keyrite_core::custodian::YubiKeyPiv;
use keyrite_core::hsm::backup::{backup_key, KeyBackup};
use keyrite_core::hsm::init::{init_token, InitTarget};
use keyrite_core::hsm::keygen::{find_key, generate};
use keyrite_core::hsm::policy::PolicySet;
use keyrite_core::hsm::protection::ProtectionRule;
use keyrite_core::hsm::quirks::Quirks;
use keyrite_core::hsm::rehearsal::{RehearsalHsm, REHEARSAL_TOKEN_LABEL};
use keyrite_core::hsm::rootkek::{draw_root_kek, import_root_kek, seal_root_kek};
use keyrite_core::hsm::signer::HsmSigner;
use keyrite_core::hsm::{Pkcs11Module, TokenSelector, TokenSession, UserKind};
use keyrite_core::inventory::{self, KeyState, KeyType, NewKey};
use keyrite_core::journal::{Event, Journal};
use keyrite_core::operations::{
    destroy_key, kek_fingerprint, new_request, open_sealed_share, recover_root_kek, restore_backup,
    rotate_key, rotate_root_kek, HsmAccess, LiveBackup, NewKek, Quorum, Replacement,
};
use keyrite_core::paths::DataDir;
use keyrite_core::quorum::{Approval, ApprovalRequest, Operation, QuorumPolicy};
use keyrite_core::secret::SecretText;
use keyrite_core::signer::{verify, SignatureAlgorithm, Signer};
use keyrite_core::words::short_words;
use keyrite_testkit::piv::{approve_many, enrol_card, now, secret, Harness, NEW_PIN};
use serial_test::serial;

struct Fx {
    tmp: tempfile::TempDir,
    m: Pkcs11Module,
    so: SecretText,
    user: SecretText,
    policies: PolicySet,
    quirks: Quirks,
    journal: Journal,
    serial: String,
}

fn sel() -> TokenSelector {
    TokenSelector::Label(REHEARSAL_TOKEN_LABEL.into())
}

/// The rehearsal token's access, built from fields so the journal can be borrowed mutably.
macro_rules! access {
    ($f:expr) => {
        HsmAccess {
            module: &$f.m,
            token: sel(),
            user_pin: &$f.user,
            so_pin: Some(&$f.so),
            policies: &$f.policies,
            quirks: &$f.quirks,
            protection: ProtectionRule::Rehearsal,
        }
    };
}

impl Fx {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let data = DataDir::open_at(tmp.path().join("d")).unwrap();
        let hsm = RehearsalHsm::ensure(&data).unwrap();
        let m = Pkcs11Module::load(hsm.module_path()).unwrap();
        let (so, user) = hsm.pins().unwrap();
        let journal = Journal::open_data_dir(&data).unwrap();
        let serial = m.find_token(&sel()).unwrap().1.serial;
        Fx {
            tmp,
            m,
            so,
            user,
            policies: PolicySet::builtin().unwrap(),
            quirks: Quirks::builtin().unwrap(),
            journal,
            serial,
        }
    }
    fn session(&self, user: UserKind) -> TokenSession {
        let pin = if user == UserKind::So {
            &self.so
        } else {
            &self.user
        };
        TokenSession::login(&self.m, &sel(), user, pin).unwrap().0
    }
    fn object_count(&self) -> usize {
        let s = self.session(UserKind::User);
        s.find("counting", &[]).unwrap().len()
    }
    fn on_token(&self, label: &str) -> bool {
        !find_key(&self.session(UserKind::User), label)
            .unwrap()
            .is_empty()
    }
    /// A P-384 signing key, generated, registered and active.
    fn signing_key(&mut self, id: &str) {
        let ev = {
            let s = self.session(UserKind::User);
            let p = self.policies.get("ec-p384-sign").unwrap();
            generate(&s, p, id, &self.quirks).unwrap()
        };
        inventory::register(
            &mut self.journal,
            NewKey {
                key_id: id.into(),
                label: id.into(),
                purpose: "signing".into(),
                key_type: KeyType::PrivateSignature,
                algorithm: "ec-p384".into(),
                token_serial: self.serial.clone(),
                cka_id: ev.id,
                fingerprint: ev.spki_sha256,
                cryptoperiod_days: None,
                justification: None,
            },
            "test",
        )
        .unwrap();
        inventory::transition(&mut self.journal, id, KeyState::Active, "in use", "test").unwrap();
    }
    /// The first root KEK, split 3-of-5 (set recorded), imported, registered, active.
    fn root_kek(&mut self, id: &str) {
        let ev = {
            let so = self.session(UserKind::So);
            let kek = draw_root_kek(&so).unwrap();
            let set = keyrite_core::shares::split(&kek, 3, 5).unwrap();
            let p = self.policies.get("root-kek-import").unwrap();
            let staged =
                import_root_kek(&so, p, id, kek, &self.quirks, ProtectionRule::Rehearsal).unwrap();
            drop(so);
            let user = self.session(UserKind::User);
            let ev = seal_root_kek(&user, p, staged, &self.quirks).unwrap();
            (ev, hex::encode(set.set_id.0))
        };
        let kcv = ev.0.kcv.clone().unwrap().value;
        inventory::register(
            &mut self.journal,
            NewKey {
                key_id: id.into(),
                label: id.into(),
                purpose: "root KEK".into(),
                key_type: KeyType::SymmetricKeyWrapping,
                algorithm: "aes-256".into(),
                token_serial: self.serial.clone(),
                cka_id: ev.0.id.clone(),
                fingerprint: Some(kek_fingerprint(&kcv)),
                cryptoperiod_days: None,
                justification: None,
            },
            "test",
        )
        .unwrap();
        inventory::set_share_set(&mut self.journal, id, &ev.1).unwrap();
        inventory::transition(&mut self.journal, id, KeyState::Active, "in use", "test").unwrap();
    }
    fn backup(&mut self, backup_id: &str, key: &str, kek: &str) -> LiveBackup {
        let (b, _) = {
            let s = self.session(UserKind::User);
            let p = self.policies.get("ec-p384-sign").unwrap();
            backup_key(&s, key, p, kek, &self.quirks).unwrap()
        };
        let path = self.tmp.path().join(format!("{backup_id}.backup"));
        std::fs::write(&path, b.encode()).unwrap();
        inventory::add_backup(
            &mut self.journal,
            backup_id,
            key,
            kek,
            &path.display().to_string(),
        )
        .unwrap();
        LiveBackup {
            backup_id: backup_id.into(),
            source_name: path.display().to_string(),
            backup: b,
        }
    }
    fn request(&self, op: Operation, key_id: &str, expires_at: u64) -> ApprovalRequest {
        let rec = inventory::get(self.journal.store(), key_id)
            .unwrap()
            .unwrap();
        new_request(&self.journal, op, &rec, "C-2026-07", 3, expires_at).unwrap()
    }
    fn last_event(&self) -> Event {
        let head = self.journal.head();
        self.journal.entry(head.size - 1).unwrap().event().unwrap()
    }
    fn events(&self) -> Vec<Event> {
        let n = self.journal.head().size;
        (0..n)
            .map(|i| self.journal.entry(i).unwrap().event().unwrap())
            .collect()
    }
    /// The read-back journaled with the last `key_imported` of `key_id` (`details.evidence`,
    /// what the record prints: attributes, KCV, key protection).
    fn imported_evidence(&self, key_id: &str) -> serde_json::Value {
        let n = self.journal.head().size;
        (0..n)
            .rev()
            .map(|i| self.journal.entry(i).unwrap().body_json().unwrap())
            .find(|b| b["event"]["type"] == "key_imported" && b["event"]["key_id"] == key_id)
            .unwrap_or_else(|| panic!("no key_imported of {key_id}"))["details"]["evidence"]
            .clone()
    }
    fn state(&self, key_id: &str) -> KeyState {
        inventory::get(self.journal.store(), key_id)
            .unwrap()
            .unwrap()
            .state
    }
}

/// Each listed custodian inserts their card once and signs every request given.
fn approvals(
    h: &mut Harness,
    who: &[&EnrolmentRecord],
    reqs: &[&ApprovalRequest],
) -> Vec<Vec<Approval>> {
    let per_custodian: Vec<Vec<Approval>> = who.iter().map(|r| approve_many(h, r, reqs)).collect();
    (0..reqs.len())
        .map(|i| per_custodian.iter().map(|v| v[i].clone()).collect())
        .collect()
}

fn enrol_five(h: &mut Harness, base: u32) -> Vec<EnrolmentRecord> {
    ["c1", "c2", "c3", "c4", "c5"]
        .iter()
        .enumerate()
        .map(|(i, id)| enrol_card(h, id, base + i as u32))
        .collect()
}

#[test]
#[serial(piv, softhsm)]
fn three_of_five_gate_destroy_rotate_root_kek_rotation_and_recovery() {
    let mut h = Harness::start();
    let cs = enrol_five(&mut h, 40_000_001);
    let policy = QuorumPolicy::new(3, cs.clone()).unwrap();
    let mut f = Fx::new();
    f.root_kek("kek-1");
    f.signing_key("sign-1");
    f.signing_key("old-1");
    let b1 = f.backup("b1", "sign-1", "kek-1");
    let original_spki = HsmSigner::open(f.session(UserKind::User), "sign-1", &f.quirks)
        .unwrap()
        .public_key_spki()
        .unwrap();

    // --- Destruction: two approvals change nothing; the refusal is journaled.
    let req = f.request(Operation::Destroy, "old-1", now() + 600);
    let two = approvals(&mut h, &[&cs[0], &cs[1]], &[&req]).remove(0);
    let before = f.object_count();
    let q = Quorum {
        policy: &policy,
        request: &req,
        approvals: &two,
    };
    let err = destroy_key(&mut f.journal, &access!(f), &q, "old-1", "test").unwrap_err();
    let w = req.short_hash_words();
    assert_eq!(
        err.to_string(),
        format!("destroy of key old-1 was refused: 2 of the 3 required approvals for request {w}: the operation needs 3 distinct enrolled custodians")
    );
    assert_eq!(f.object_count(), before);
    assert!(f.on_token("old-1"));
    assert_eq!(f.state("old-1"), KeyState::Active);
    assert!(
        matches!(f.last_event(), Event::ApprovalRefused { ref custodian_id, ref reason, .. }
        if custodian_id == "quorum" && reason.starts_with("2 of the 3 required approvals"))
    );

    // The root KEK wraps a live backup: the retention guard names it, before any approval.
    let kreq = f.request(Operation::Destroy, "kek-1", now() + 600);
    let q = Quorum {
        policy: &policy,
        request: &kreq,
        approvals: &[],
    };
    assert_eq!(
        destroy_key(&mut f.journal, &access!(f), &q, "kek-1", "test").unwrap_err().to_string(),
        "destroy of key kek-1 was refused: it wraps live backup b1 (of key sign-1); restore or retire those first"
    );
    assert!(f.on_token("kek-1"));

    // Three approvals at the current head: destroyed, with proof, approvals journaled.
    let req = f.request(Operation::Destroy, "old-1", now() + 600);
    let three = approvals(&mut h, &[&cs[0], &cs[2], &cs[4]], &[&req]).remove(0);
    let q = Quorum {
        policy: &policy,
        request: &req,
        approvals: &three,
    };
    let d = destroy_key(&mut f.journal, &access!(f), &q, "old-1", "test").unwrap();
    assert_eq!(d.quorum.approvers, ["c1", "c3", "c5"]);
    assert_eq!(
        (d.proof.remaining_with_label, d.proof.remaining_with_id),
        (0, 0)
    );
    assert_eq!(d.proof.destroyed, ["private key", "public key"]);
    assert_eq!(f.object_count(), before - 2);
    assert!(!f.on_token("old-1"));
    assert_eq!(f.state("old-1"), KeyState::Destroyed);
    let granted: Vec<String> = f
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::ApprovalGranted { custodian_id, .. } => Some(custodian_id),
            _ => None,
        })
        .collect();
    assert_eq!(granted, ["c1", "c3", "c5"]);
    assert!(f
        .events()
        .iter()
        .any(|e| matches!(e, Event::KeyDestroyed { key_id, .. } if key_id == "old-1")));

    // --- Key rotation: two approvals refused (token unchanged), three rotate.
    let req = f.request(Operation::Rotate, "sign-1", now() + 600);
    let two = approvals(&mut h, &[&cs[3], &cs[4]], &[&req]).remove(0);
    let before = f.object_count();
    let repl = Replacement {
        key_id: "sign-2",
        label: "sign-2",
        policy: "ec-p384-sign",
    };
    let q = Quorum {
        policy: &policy,
        request: &req,
        approvals: &two,
    };
    let err = rotate_key(&mut f.journal, &access!(f), &q, "sign-1", &repl, "test").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("rotate of key sign-1 was refused: 2 of the 3 required approvals"),
        "{err}"
    );
    assert_eq!(f.object_count(), before);
    assert!(!f.on_token("sign-2"));
    let req = f.request(Operation::Rotate, "sign-1", now() + 600);
    let three = approvals(&mut h, &[&cs[1], &cs[3], &cs[4]], &[&req]).remove(0);
    let q = Quorum {
        policy: &policy,
        request: &req,
        approvals: &three,
    };
    let r = rotate_key(&mut f.journal, &access!(f), &q, "sign-1", &repl, "test").unwrap();
    assert_eq!(r.old.state, KeyState::Deactivated);
    assert_eq!(r.new.state, KeyState::Active);
    assert_eq!(r.new.fingerprint, r.evidence.spki_sha256);
    assert!(f.on_token("sign-1") && f.on_token("sign-2"));
    assert_eq!(f.object_count(), before + 2);

    // --- Root KEK rotation: rewrap b1 under kek-2, new share set sealed to each 9d key.
    let req = f.request(Operation::Rotate, "kek-1", now() + 600);
    let three = approvals(&mut h, &[&cs[0], &cs[1], &cs[2]], &[&req]).remove(0);
    let q = Quorum {
        policy: &policy,
        request: &req,
        approvals: &three,
    };
    let old_set = inventory::get(f.journal.store(), "kek-1")
        .unwrap()
        .unwrap()
        .share_set_id;
    let out = f.tmp.path().join("rewrapped");
    std::fs::create_dir(&out).unwrap();
    let new = NewKek {
        key_id: "kek-2",
        label: "kek-2",
        threshold: 3,
        backup_dir: &out,
    };
    // A backups directory that is a link out is refused before anything is journaled.
    let elsewhere = f.tmp.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let linked = f.tmp.path().join("linked-backups");
    std::os::unix::fs::symlink(&elsewhere, &linked).unwrap();
    let head = f.journal.head();
    let err = rotate_root_kek(
        &mut f.journal,
        &access!(f),
        &q,
        "kek-1",
        &NewKek {
            backup_dir: &linked,
            ..new
        },
        std::slice::from_ref(&b1),
        "test",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "rotate-root-kek: cannot write {l}: cannot write the rewrapped backups: {l} is a \
             symbolic link (to {e}); Keyrite writes only inside {t} and never follows a link out \
             of it; replace the link by a real directory; nothing was written",
            l = linked.display(),
            e = elsewhere.display(),
            t = f.tmp.path().display()
        )
    );
    assert_eq!(f.journal.head(), head, "nothing journaled");
    assert!(f.on_token("kek-1") && !f.on_token("kek-2"));
    let rot = rotate_root_kek(
        &mut f.journal,
        &access!(f),
        &q,
        "kek-1",
        &new,
        std::slice::from_ref(&b1),
        "test",
    )
    .unwrap();
    assert_eq!(rot.sealed_shares.len(), 5);
    assert_eq!(rot.backups.len(), 1);
    let (nid, path, nb) = &rot.backups[0];
    assert_eq!(nid, "b1@kek-2");
    assert_eq!(nb.wrapping_key_label, "kek-2");
    assert_ne!(nb.wrapping_key_kcv, b1.backup.wrapping_key_kcv);
    // The new KEK's read-back reaches the journal, and so the record (issue 14, item 6).
    let ev = f.imported_evidence("kek-2");
    assert_eq!(ev["kcv"]["value"], nb.wrapping_key_kcv.as_str(), "{ev}");
    assert_eq!(ev["key_protection"]["level"], "full", "{ev}");
    assert!(
        ev["attributes"].as_array().is_some_and(|a| !a.is_empty()),
        "{ev}"
    );
    assert_ne!(nb.wrapped, b1.backup.wrapped);
    assert_eq!(nb.spki_sha256, b1.backup.spki_sha256);
    let on_disk = KeyBackup::decode(path, &std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(&on_disk, nb);
    // Old KEK: nothing depends on it any more, so it is gone, with proof.
    let proof = rot.old_kek_destroyed.clone().expect("old KEK destroyed");
    assert_eq!(proof.remaining_with_label, 0);
    assert!(!f.on_token("kek-1") && f.on_token("kek-2"));
    assert_eq!(f.state("kek-1"), KeyState::Destroyed);
    let kek2 = inventory::get(f.journal.store(), "kek-2").unwrap().unwrap();
    assert_eq!(kek2.state, KeyState::Active);
    assert_eq!(
        kek2.share_set_id.as_deref(),
        Some(rot.share_set_id.as_str())
    );
    let sign1 = inventory::get(f.journal.store(), "sign-1")
        .unwrap()
        .unwrap();
    assert!(
        sign1.backups.contains(&"b1@kek-2".to_string()),
        "{:?}",
        sign1.backups
    );
    let evs = f.events();
    assert!(evs.iter().any(|e| matches!(e, Event::ShareSetCreated { set_id, protects_key_id, threshold: 3, share_count: 5, share_fingerprints }
        if *set_id == rot.share_set_id && protects_key_id == "kek-2"
        && *share_fingerprints == rot.sealed_shares.iter().map(|s| s.fingerprint.clone()).collect::<Vec<_>>())));
    let voided = evs.iter().any(
        |e| matches!(e, Event::ShareSetVoided { set_id, .. } if Some(set_id) == old_set.as_ref()),
    );
    assert!(voided, "old share set recorded void");
    // The old backup is no longer live: kek-1 no longer has dependants.
    inventory::retention_guard(f.journal.store(), "kek-1").unwrap();

    // --- Recovery: c3, c4, c5 open their sealed shares with their cards; the KEK is rebuilt
    // into a fresh token, checked against the recorded fingerprint, and b1@kek-2 restores
    // there and signs under the original public key.
    let mut opened = Vec::new();
    for c in &cs[2..] {
        let s = rot
            .sealed_shares
            .iter()
            .find(|s| s.custodian_id == c.custodian_id)
            .unwrap();
        h.insert(&c.custodian_id, c.yubikey_serial, 0);
        let mut yk = YubiKeyPiv::open_serial(c.yubikey_serial).unwrap();
        let share = open_sealed_share(&mut yk, c, &secret(NEW_PIN), &s.sealed).unwrap();
        assert_eq!(share.fingerprint().hex(), s.fingerprint);
        drop(yk);
        h.remove(c.yubikey_serial);
        opened.push((c.custodian_id.clone(), share));
    }
    let (rso, ruser) = (
        SecretText::new("Rec-so-pin-77".into()),
        SecretText::new("Rec-user-pin-5".into()),
    );
    init_token(
        &f.m,
        &InitTarget::FirstFree,
        "recovery",
        &rso,
        &ruser,
        false,
        &f.quirks,
    )
    .unwrap();
    let racc = HsmAccess {
        module: &f.m,
        token: TokenSelector::Label("recovery".into()),
        user_pin: &ruser,
        so_pin: Some(&rso),
        policies: &f.policies,
        quirks: &f.quirks,
        protection: ProtectionRule::Rehearsal,
    };
    let rec = recover_root_kek(
        &mut f.journal,
        &racc,
        "kek-2",
        "kek-2-recovered",
        "kek-2",
        opened,
        "test",
    )
    .unwrap();
    assert_eq!(rec.custodians, ["c3", "c4", "c5"]);
    assert_eq!(rec.record.fingerprint, kek2.fingerprint);
    assert_eq!(
        rec.evidence.kcv.as_ref().unwrap().value,
        nb.wrapping_key_kcv
    );
    let ev = f.imported_evidence("kek-2-recovered");
    assert_eq!(ev["kcv"]["value"], nb.wrapping_key_kcv.as_str(), "{ev}");
    assert!(
        ev["attributes"].as_array().is_some_and(|a| !a.is_empty()),
        "{ev}"
    );
    let rs = TokenSession::login(&f.m, &racc.token, UserKind::User, &ruser)
        .unwrap()
        .0;
    let restored = restore_backup(&mut f.journal, &rs, &racc, nid, path, nb, "kek-2").unwrap();
    assert_eq!(
        restored.spki_sha256.as_deref(),
        Some(nb.spki_sha256.as_str())
    );
    let signer = HsmSigner::open(rs, "sign-1", &f.quirks).unwrap();
    let sig = signer.sign(b"recovered").unwrap();
    verify(
        SignatureAlgorithm::EcdsaP384Sha384,
        &original_spki,
        b"recovered",
        &sig,
    )
    .unwrap();
    assert!(verify(
        SignatureAlgorithm::EcdsaP384Sha384,
        &original_spki,
        b"other",
        &sig
    )
    .is_err());
    drop(signer);
    assert!(
        matches!(f.last_event(), Event::BackupRestored { ref backup_id, .. } if backup_id == "b1@kek-2")
    );
    f.journal.verify(None, &[]).unwrap();
}

/// The expiry message quotes "(now T)"; the test computes T a moment before the operation
/// does, so accept the operation's own T when it is at most two seconds later.
fn same_second(actual: &str, expected: &str) -> String {
    let num = |s: &str| -> Option<(usize, u64)> {
        let i = s.find("(now ")? + 5;
        let len = s[i..].find(')')?;
        Some((i, s[i..i + len].parse().ok()?))
    };
    match (num(actual), num(expected)) {
        (Some((ia, ta)), Some((_, te))) if ta >= te && ta - te <= 2 => {
            let rest = &actual[ia..];
            let len = rest.find(')').unwrap_or(0);
            format!("{}{}{}", &actual[..ia], te, &rest[len..])
        }
        _ => actual.to_string(),
    }
}

#[test]
#[serial(piv, softhsm)]
fn refusals_are_exact_journaled_and_leave_the_token_unchanged() {
    let mut h = Harness::start();
    let cs = enrol_five(&mut h, 50_000_001);
    let policy = QuorumPolicy::new(3, cs.clone()).unwrap();
    let mut f = Fx::new();
    f.signing_key("k");
    let before = f.object_count();
    let head_words = |f: &Fx| short_words(&f.journal.head().root, 4);

    // One card round at one head: a good request and an expired one.
    let good = f.request(Operation::Destroy, "k", now() + 600);
    let expired = f.request(Operation::Destroy, "k", now() - 1);
    let mut signed = approvals(&mut h, &[&cs[0]], &[&good, &expired]);
    let (good_a, expired_a) = (signed.remove(0), signed.remove(0));
    let gw = good.short_hash_words();

    let check =
        |f: &mut Fx, req: &ApprovalRequest, a: &[Approval], expected: String, custodian: &str| {
            let q = Quorum {
                policy: &policy,
                request: req,
                approvals: a,
            };
            let err = destroy_key(&mut f.journal, &access!(f), &q, "k", "test").unwrap_err();
            assert_eq!(same_second(&err.to_string(), &expected), expected);
            assert_eq!(f.object_count(), before);
            assert_eq!(f.state("k"), KeyState::Active);
            match f.last_event() {
                Event::ApprovalRefused {
                    custodian_id,
                    reason,
                    ..
                } => {
                    assert_eq!(custodian_id, custodian);
                    assert!(expected.ends_with(&reason), "{expected} / {reason}");
                }
                e => panic!("refusal not journaled: {e:?}"),
            }
        };
    // Expired (checked first, so the head does not matter yet).
    let ew = expired.short_hash_words();
    check(
        &mut f,
        &expired,
        &expired_a,
        format!("destroy of key k was refused: approval request {ew} expired at {} (now {}): make a new request", expired.expires_at, now()),
        "quorum",
    );
    // The refusal moved the head: the good request is now a replay from another head.
    let at = short_words(&good.journal_head, 4);
    let cur = head_words(&f);
    check(
        &mut f,
        &good,
        &good_a,
        format!("destroy of key k was refused: approval request {gw} was made at journal head {at}, but the journal head is now {cur}: approvals cannot be replayed; make a new request"),
        "quorum",
    );

    // Duplicate custodian: c1 counted twice.
    let req = f.request(Operation::Destroy, "k", now() + 600);
    let mut a = approvals(&mut h, &[&cs[0], &cs[1]], &[&req]).remove(0);
    a.push(a[0].clone());
    check(
        &mut f,
        &req,
        &a,
        "destroy of key k was refused: custodian c1 approved more than once: each custodian counts once".into(),
        "c1",
    );

    // Unenrolled key: c5 is not a custodian of a 3-of-4 policy over c1..c4.
    let small = QuorumPolicy::new(3, cs[..4].to_vec()).unwrap();
    let req = f.request(Operation::Destroy, "k", now() + 600);
    let a = approvals(&mut h, &[&cs[4]], &[&req]).remove(0);
    let q = Quorum {
        policy: &small,
        request: &req,
        approvals: &a,
    };
    let err = destroy_key(&mut f.journal, &access!(f), &q, "k", "test").unwrap_err();
    assert_eq!(
        err.to_string(),
        "destroy of key k was refused: approval by c5, who is not an enrolled custodian of this quorum"
    );
    assert!(
        matches!(f.last_event(), Event::ApprovalRefused { ref custodian_id, .. } if custodian_id == "c5")
    );
    assert_eq!(f.object_count(), before);

    // A signature over another request (same operation and key, another nonce).
    let req = f.request(Operation::Destroy, "k", now() + 600);
    let other = f.request(Operation::Destroy, "k", now() + 600);
    let a = approvals(&mut h, &[&cs[2]], &[&other]).remove(0);
    let (rw, ow) = (req.short_hash_words(), other.short_hash_words());
    check(
        &mut f,
        &req,
        &a,
        format!("destroy of key k was refused: approval by c3 is for request {ow}, not for this request {rw}"),
        "c3",
    );

    // A request for another operation on the key: refused before the quorum is counted.
    let rot = f.request(Operation::Rotate, "k", now() + 600);
    let q = Quorum {
        policy: &policy,
        request: &rot,
        approvals: &[],
    };
    let err = destroy_key(&mut f.journal, &access!(f), &q, "k", "test").unwrap_err();
    let rec = inventory::get(f.journal.store(), "k").unwrap().unwrap();
    assert_eq!(
        err.to_string(),
        format!(
            "destroy of key k was refused: the approval request is for rotate of key \"k\" (id {id}) on token {t}, not for destroy of key \"k\" (id {id}) on token {t}; make a new request",
            id = rec.cka_id,
            t = f.serial
        )
    );
    match f.last_event() {
        Event::Note { kind } => assert_eq!(kind, "operation_refused"),
        e => panic!("refusal not journaled: {e:?}"),
    }
    assert_eq!(f.object_count(), before);
    assert!(f.on_token("k"));
    f.journal.verify(None, &[]).unwrap();
}

/// A rebuilt root KEK's check value is computed on the host exactly as the token computes it
/// (`hsm::kcv`), so shares that rebuild a key other than the recorded one are refused before
/// anything is imported.
#[test]
#[serial(softhsm)]
fn a_rebuilt_root_kek_is_checked_on_the_host_before_it_is_imported() {
    let mut f = Fx::new();
    let (set, token_kcv, set_id) = {
        let so = f.session(UserKind::So);
        let kek = draw_root_kek(&so).unwrap();
        let set = keyrite_core::shares::split(&kek, 3, 5).unwrap();
        let p = f.policies.get("root-kek-import").unwrap();
        let staged =
            import_root_kek(&so, p, "kek-x", kek, &f.quirks, ProtectionRule::Rehearsal).unwrap();
        drop(so);
        let user = f.session(UserKind::User);
        let ev = seal_root_kek(&user, p, staged, &f.quirks).unwrap();
        let id = hex::encode(set.set_id.0);
        (set, ev.kcv.unwrap().value, id)
    };
    let rebuilt = keyrite_core::shares::combine(&set.shares[..3]).unwrap();
    let host = keyrite_core::hsm::kcv::wrapping_key_kcv_of(rebuilt.secret.expose()).unwrap();
    assert_eq!(
        host.value, token_kcv,
        "the host computes the token's check value"
    );

    // The inventory records another key's fingerprint for it.
    let recorded = kek_fingerprint("0000000000000000");
    inventory::register(
        &mut f.journal,
        NewKey {
            key_id: "kek-x".into(),
            label: "kek-x".into(),
            purpose: "root KEK".into(),
            key_type: KeyType::SymmetricKeyWrapping,
            algorithm: "aes-256".into(),
            token_serial: f.serial.clone(),
            cka_id: "01".into(),
            fingerprint: Some(recorded.clone()),
            cryptoperiod_days: None,
            justification: None,
        },
        "test",
    )
    .unwrap();
    inventory::set_share_set(&mut f.journal, "kek-x", &set_id).unwrap();
    inventory::transition(&mut f.journal, "kek-x", KeyState::Active, "in use", "test").unwrap();
    let before = f.object_count();
    let opened: Vec<_> = set
        .shares
        .into_iter()
        .take(3)
        .enumerate()
        .map(|(i, s)| (format!("c{}", i + 1), s))
        .collect();
    let e = recover_root_kek(
        &mut f.journal,
        &access!(f),
        "kek-x",
        "kek-y",
        "kek-y",
        opened,
        "test",
    )
    .unwrap_err()
    .to_string();
    let fp = kek_fingerprint(&token_kcv);
    assert!(
        e.contains(&format!(
            "the rebuilt key has fingerprint {fp}, the inventory records {recorded}; nothing was imported"
        )),
        "{e}"
    );
    assert_eq!(f.object_count(), before, "nothing reached the token");
    assert!(!f.on_token("kek-y"));
}
