//! What the engine asks for ([`Prompt`]) and what a face answers ([`Answer`]).
//!
//! Secrets (PINs, passphrases, shares) travel only inside [`SecretText`] fields; neither type
//! is `Serialize` and their `Debug` output is redacted, so a prompt or an answer can be logged
//! with `{:?}` without leaking anything.

use crate::hsm::UserKind;
use crate::preflight::{AirGapReport, ClockReading};
use crate::script::Role;
use crate::secret::SecretText;
use serde::Serialize;
use std::path::PathBuf;
use ts_rs::TS;

pub use super::decision::Decision;

/// What the engine needs next. The face shows it and answers with the matching [`Answer`].
#[derive(Debug)]
pub enum Prompt {
    /// A participant of `role` must check in; `remaining` more of that role are expected.
    CheckIn {
        /// The role being filled.
        role: Role,
        /// How many of that role are still expected (including this one).
        remaining: u8,
    },
    /// The step's instructions: the administrator reads them aloud and confirms
    /// ([`Answer::Proceed`]) before the action runs.
    Instructions {
        /// Step id.
        step: String,
        /// Step title.
        title: String,
        /// Markdown instructions from the script.
        text: String,
    },
    /// The air-gap report; answer [`Answer::Proceed`] to record it and continue (rehearsal
    /// continues past findings; production never reaches this prompt with findings).
    ConfirmPreflight(AirGapReport),
    /// The witness compares `reading` with an independent clock and answers
    /// [`Answer::Clock`].
    ClockConfirmation {
        /// The system clock as read now.
        reading: ClockReading,
        /// Largest accepted difference.
        tolerance_seconds: u32,
    },
    /// A PIN of the token is needed (answer [`Answer::Pin`]).
    Pin {
        /// SO or user.
        who: UserKind,
        /// Why, e.g. "import the root KEK".
        purpose: String,
        /// Asked again: the token rejected the PIN given (who, token, return code, and the
        /// tries left as far as the token reports them). The rejected PIN was dropped.
        rejected: Option<String>,
        /// When the PIN may be left out (answer [`Answer::Proceed`]): what happens then.
        proceed_without: Option<String>,
    },
    /// New SO and user PINs for initialising `token` (answer [`Answer::NewPins`]).
    NewPins {
        /// The token about to be (re)initialised.
        token: String,
    },
    /// The current SO PIN of `token`, which is about to be (re)initialised: asked apart from
    /// the new PINs, never echoed (answer [`Answer::CurrentSoPin`]).
    CurrentSoPin {
        /// The token, as `keyrite hsm info` names it.
        token: String,
        /// Asked again: why the token rejected the PIN given (it was dropped).
        rejected: Option<String>,
    },
    /// Show one share to its custodian and/or seal it (answer [`Answer::ShareHandled`]).
    /// Only the custodian looks at the screen.
    ShowShare {
        /// Custodian's participant id.
        custodian: String,
        /// Custodian's name.
        custodian_name: String,
        /// Share index, 1..=N.
        index: u8,
        /// N.
        count: u8,
        /// The share set's id as words (read aloud; not secret).
        set_words: String,
        /// The share's fingerprint as words (not secret).
        fingerprint_words: String,
        /// The share in its human form (secret).
        human_form: SecretText,
        /// The QR payload (secret).
        qr_payload: SecretText,
    },
    /// `custodian` proves they hold share `index` (answer [`Answer::ShareProof`]).
    VerifyShare {
        /// Custodian's participant id.
        custodian: String,
        /// Custodian's name.
        custodian_name: String,
        /// Expected share index.
        index: u8,
        /// The sealed file Keyrite wrote for this share, if it was sealed.
        sealed_file: Option<PathBuf>,
        /// The YubiKey the share is sealed to (answer [`ShareProof::YubiKey`]), if it is.
        yubikey_serial: Option<u32>,
    },
    /// A sign-off by a participant of `role` is needed (answer [`Answer::SignOff`]).
    SignOff {
        /// Step id.
        step: String,
        /// The role that must sign.
        role: Role,
        /// Participants of that role who have not signed this step yet.
        candidates: Vec<Participant>,
        /// How many more signatures of this role are needed.
        remaining: u8,
        /// What the step's action did, to read aloud before signing
        /// (the result card; empty when the step recorded nothing to read).
        result: Vec<super::ResultLine>,
    },
    /// Something did not go as the script expects: decide (answer [`Answer::Decide`]).
    ExceptionDecision {
        /// Exception id.
        exception_id: String,
        /// Step id.
        step: String,
        /// What the script expected.
        expected: String,
        /// What happened.
        happened: String,
        /// Whether retrying makes sense.
        retry_allowed: bool,
    },
    /// The next custodian enrols their YubiKey (answer [`Answer::Enrol`]). Only the
    /// custodian types the PINs.
    EnrolYubiKey {
        /// Custodian's participant id.
        custodian: String,
        /// Custodian's name.
        custodian_name: String,
        /// Custodians enrolled so far in this step.
        enrolled: u8,
        /// Custodians to enrol in this step.
        count: u8,
    },
    /// Choose the key the step acts on (answer [`Answer::ChooseKey`]).
    ChooseKey {
        /// Step id.
        step: String,
        /// `rotate` or `destroy`.
        operation: String,
        /// Keys on this token the operation may act on.
        candidates: Vec<KeyChoice>,
    },
    /// Custodians approve the request on their YubiKeys, one at a time (answer
    /// [`Answer::Approve`], or [`Answer::SubmitApprovals`] when no more custodians will
    /// approve).
    Approval(ApprovalPrompt),
    /// The ceremony is closed.
    Done {
        /// How it ended.
        summary: Summary,
    },
}

/// A face's answer to a [`Prompt`].
#[derive(Debug)]
pub enum Answer {
    /// To [`Prompt::CheckIn`].
    CheckIn {
        /// Full name.
        name: String,
        /// Must be the prompted role.
        role: Role,
        /// Fingerprint of the participant's credential (YubiKey), if one was read.
        credential_fingerprint: Option<String>,
    },
    /// To [`Prompt::Instructions`] and [`Prompt::ConfirmPreflight`].
    Proceed,
    /// To [`Prompt::ClockConfirmation`].
    Clock {
        /// Participant id of the witness confirming.
        witness: String,
        /// Which independent clock was used.
        reference: String,
        /// System clock minus reference clock, seconds.
        offset_seconds: i64,
    },
    /// To [`Prompt::Pin`].
    Pin(SecretText),
    /// To [`Prompt::NewPins`].
    NewPins {
        /// New SO PIN.
        so: SecretText,
        /// New user PIN.
        user: SecretText,
    },
    /// To [`Prompt::CurrentSoPin`].
    CurrentSoPin(SecretText),
    /// To [`Prompt::ShowShare`]: the share was shown and/or sealed.
    ShareHandled {
        /// The custodian saw (and copied or printed) the share.
        shown: bool,
        /// Seal the share to this passphrase into `DATA/shares/`.
        seal_passphrase: Option<SecretText>,
    },
    /// To [`Prompt::VerifyShare`].
    ShareProof(ShareProof),
    /// To [`Prompt::SignOff`].
    SignOff {
        /// Participant id of the signer.
        participant: String,
        /// SHA-256 (hex) of a signature over the sign-off, when a YubiKey signed it.
        signature_sha256: Option<String>,
    },
    /// To [`Prompt::EnrolYubiKey`]: the custodian's card and PINs.
    Enrol {
        /// The inserted YubiKey's serial.
        serial: u32,
        /// The card's current PIN (the factory default on a new key).
        current_pin: SecretText,
        /// The custodian's new PIN (6–8 characters, not the default).
        new_pin: SecretText,
        /// The card's current PUK.
        current_puk: SecretText,
        /// The new PUK.
        new_puk: SecretText,
        /// Require a touch for every use of the keys.
        touch: bool,
    },
    /// To [`Prompt::ChooseKey`].
    ChooseKey {
        /// The inventory key id chosen.
        key_id: String,
    },
    /// To [`Prompt::Approval`]: this custodian approves with their YubiKey and PIN.
    Approve {
        /// The enrolled custodian's id.
        custodian_id: String,
        /// Their YubiKey PIN.
        pin: SecretText,
    },
    /// To [`Prompt::Approval`]: no more custodians will approve; run the quorum check now
    /// (with fewer than K approvals it is refused and journaled).
    SubmitApprovals,
    /// To [`Prompt::Approval`] of a `recover` step: a custodian in the room presents a share.
    PresentShare {
        /// Who: participant id here (`custodian-2`), enrolled id (`yk-7001`) or name.
        custodian: String,
        /// The share: typed or scanned, a passphrase-sealed file, or opened by their YubiKey.
        proof: ShareProof,
    },
    /// To [`Prompt::SignOff`]: an enrolled custodian signs off with their YubiKey (9c, PIN):
    /// the signature over the step outcome ([`super::step_outcome_text`]) is journaled.
    SignOffWithYubiKey {
        /// Participant id of the signer (a custodian enrolled under the same name).
        participant: String,
        /// Their YubiKey PIN.
        pin: SecretText,
    },
    /// To [`Prompt::ExceptionDecision`].
    Decide {
        /// What to do.
        decision: Decision,
        /// Participant ids of those who decided (skip needs a witness among them).
        decided_by: Vec<String>,
        /// Why.
        reason: String,
    },
}

/// How a custodian proves a share.
#[derive(Debug)]
pub enum ShareProof {
    /// The share typed or scanned (human form, canonical text or QR payload).
    Text(SecretText),
    /// A sealed file and its passphrase.
    Sealed {
        /// The sealed file.
        file: PathBuf,
        /// Its passphrase.
        passphrase: SecretText,
    },
    /// The share is sealed to the custodian's YubiKey: their card and PIN open it.
    YubiKey {
        /// Their YubiKey PIN.
        pin: SecretText,
    },
}

/// A key an operation may act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct KeyChoice {
    /// Inventory key id.
    pub key_id: String,
    /// `CKA_LABEL`.
    pub label: String,
    /// Algorithm.
    pub algorithm: String,
    /// SP 800-57 state.
    pub state: String,
    /// Fingerprint as short words (read aloud).
    pub fingerprint_words: String,
}

/// An enrolled custodian who may approve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Approver {
    /// Enrolled custodian id.
    pub custodian_id: String,
    /// Name.
    pub name: String,
    /// Their YubiKey's serial.
    pub yubikey_serial: u32,
    /// Whether they checked in to this ceremony (only those present may approve).
    pub checked_in: bool,
}

/// The approval request as custodians see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct ApprovalPrompt {
    /// Step id.
    pub step: String,
    /// The operation (`rotate`, `destroy`, …).
    pub operation: String,
    /// The key's label.
    pub key_label: String,
    /// The whole request in plain words (canonical fields).
    pub request_text: String,
    /// The request's SHA-256 as short words: custodians compare them before signing.
    pub hash_words: String,
    /// The request's SHA-256, hex.
    pub request_sha256: String,
    /// Approvals needed (K).
    pub needed: usize,
    /// Those who approved so far.
    pub approved: Vec<Approver>,
    /// Enrolled custodians who have not approved yet.
    pub candidates: Vec<Approver>,
    /// Failed attempts so far (wrong PIN, wrong card …), journaled with the outcome.
    pub failures: Vec<String>,
    /// Expiry, seconds since the Unix epoch.
    pub expires_at: u64,
    /// `recover` only: the shares of the set issued to custodians, any kind (else empty).
    pub holders: Vec<super::holder::ShareHolder>,
}

/// A checked-in participant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Participant {
    /// Id within the ceremony (`administrator-1`, `custodian-3`, …).
    pub id: String,
    /// Full name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Credential fingerprint, if any.
    pub credential_fingerprint: Option<String>,
}

/// How a ceremony ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Summary {
    /// Ceremony id.
    pub ceremony_id: String,
    /// `completed` or `aborted`.
    pub outcome: String,
    /// Steps completed.
    pub steps_completed: usize,
    /// Steps skipped by exception.
    pub steps_skipped: usize,
    /// Exceptions raised.
    pub exceptions: usize,
    /// Where the signed record was written (absent when it was produced before a resume).
    pub record_path: Option<String>,
    /// The closing checkpoint over every entry of the ceremony (hex, words, text): the
    /// witness writes its words on the printed record.
    pub closing_checkpoint: Option<super::closing::ClosingCheckpoint>,
    /// Why no closing checkpoint could be signed, if none was.
    pub closing_checkpoint_unavailable: Option<String>,
}

/// What an answer achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Accepted; ask [`super::Ceremony::prompt`] for what comes next.
    Continue,
    /// A step completed (its id).
    StepCompleted(String),
    /// The ceremony closed (boxed: the summary carries the closing checkpoint's text).
    Closed(Box<Summary>),
}
