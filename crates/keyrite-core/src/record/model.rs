//! The parts of a [`super::RecordTranscript`]. Times are the journal's timestamps (the
//! ceremony clock) as `YYYY-MM-DDTHH:MM:SS.mmmZ`; `seq` is the journal entry that says it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Ceremony, script and software.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// Ceremony id.
    pub ceremony_id: String,
    /// Script name.
    pub script_name: String,
    /// Script id (`details.script_id`).
    pub script_id: Option<String>,
    /// Script version (`details.script_version`).
    pub script_version: Option<String>,
    /// SHA-256 of the script, hex.
    pub script_sha256: String,
    /// The same in words.
    pub script_sha256_words: String,
    /// `rehearsal` or `production`.
    pub mode: String,
    /// Site name.
    pub site: Option<String>,
    /// Keyrite version.
    pub app_version: Option<String>,
    /// SHA-256 of the running executable, hex.
    pub binary_sha256: Option<String>,
    /// Operating system.
    pub os: Option<String>,
    /// The journal's origin.
    pub journal_origin: String,
    /// When the ceremony started.
    pub started_at: String,
    /// Its `ceremony_started` entry.
    pub started_seq: u64,
    /// When it closed, if it did before the record's checkpoint (a record produced after
    /// the close); a record signed in its `sign-record` step precedes the close.
    pub closed_at: Option<String>,
    /// The outcome: decided before the record (`ceremony_outcome`), or the one it closed with.
    pub outcome: Option<String>,
    /// When the outcome was decided (`ceremony_outcome`).
    #[serde(default)]
    pub outcome_at: Option<String>,
    /// Its journal entry.
    #[serde(default)]
    pub outcome_seq: Option<u64>,
    /// Vendor quirks and key policies in force: built-in and site files with SHA-256
    /// (`ceremony_started` `details.hsm_data`, `hsm::sitedata::evidence`).
    #[serde(default)]
    pub hsm_data: Option<Value>,
}

/// A checked-in participant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Participant {
    /// Id used in sign-offs and approvals.
    pub participant_id: String,
    /// Name.
    pub name: String,
    /// Role.
    pub role: String,
    /// Fingerprint of the credential used to identify them.
    pub credential_fingerprint: Option<String>,
    /// Enrolled 9c signing key (DER SPKI, hex) for approvals (`details.signature_spki`).
    pub signature_spki: Option<String>,
    /// Check-in time.
    pub at: String,
    /// Journal entry.
    pub seq: u64,
}

/// A preflight result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreflightRow {
    /// Check name (`clock`, `air-gap`, …).
    pub check: String,
    /// Passed?
    pub passed: bool,
    /// What was found.
    pub detail: String,
    /// When.
    pub at: String,
    /// Journal entry.
    pub seq: u64,
}

/// An HSM token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HsmIdentity {
    /// Serial.
    pub token_serial: String,
    /// Label.
    pub token_label: String,
    /// Manufacturer.
    pub manufacturer: String,
    /// Model.
    pub model: String,
    /// Journal entry.
    pub seq: u64,
    /// The serial `C_InitToken` assigned to a token the profile pinned by slot
    /// (`details.assigned_serial`): the officer pins it in the profile from now on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_serial: Option<String>,
}

/// One script step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepRow {
    /// Step id.
    pub step: String,
    /// Title.
    pub title: String,
    /// Who performed it (`details.actor`).
    pub actor: Option<String>,
    /// Start time.
    pub started_at: String,
    /// End time.
    pub finished_at: Option<String>,
    /// `completed`, `failed: …` or `not finished`.
    pub outcome: String,
    /// Sign-offs.
    pub sign_offs: Vec<SignOffRow>,
    /// Journal entry of the start.
    pub seq: u64,
    /// Entries journaled while the step ran.
    pub event_seqs: Vec<u64>,
    /// Compliance references this step gives evidence for.
    pub compliance: Vec<String>,
}

/// A sign-off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignOffRow {
    /// Participant.
    pub participant_id: String,
    /// Role they signed in.
    pub role: String,
    /// SHA-256 of their signature, if signed with a token.
    pub signature_sha256: Option<String>,
    /// When.
    pub at: String,
    /// Journal entry.
    pub seq: u64,
}

/// An exception.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExceptionRow {
    /// Id.
    pub exception_id: String,
    /// Step it arose in.
    pub step: String,
    /// What happened.
    pub description: String,
    /// When.
    pub opened_at: String,
    /// Journal entry.
    pub seq: u64,
    /// Decision (continue / remediate / abort).
    pub decision: Option<String>,
    /// Who decided.
    pub decided_by: Vec<String>,
    /// Why.
    pub reason: Option<String>,
    /// When decided.
    pub decided_at: Option<String>,
}

/// One row of an attribute read-back table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeCheck {
    /// `CKA_…`.
    pub attribute: String,
    /// Required by policy.
    pub expected: String,
    /// Read back.
    pub actual: Option<String>,
    /// Match?
    pub ok: bool,
}

/// A key made or imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyOutput {
    /// Inventory id.
    pub key_id: String,
    /// CKA_LABEL.
    pub label: String,
    /// CKA_ID hex.
    pub cka_id: String,
    /// Token.
    pub token_serial: String,
    /// Algorithm.
    pub algorithm: String,
    /// `generated` or `imported from …`.
    pub origin: String,
    /// Public key fingerprint (SPKI SHA-256).
    pub fingerprint: Option<String>,
    /// Key check value of a secret key (hex; `evidence.kcv.value`), e.g. the root KEK's: a
    /// custodian who rebuilds the key confirms it against this.
    #[serde(default)]
    pub kcv: Option<String>,
    /// How the KCV is computed (`evidence.kcv.method`).
    #[serde(default)]
    pub kcv_method: Option<String>,
    /// The fingerprint, or else the KCV, as words (one per byte) to read aloud.
    #[serde(default)]
    pub fingerprint_words: Option<String>,
    /// The key protection applied, when the engine journals it (`evidence.protection` or
    /// `details.protection`: e.g. private, unwrap template), as journaled.
    #[serde(default)]
    pub protection: Option<Value>,
    /// Private/secret half's checked attributes.
    pub attributes: Vec<AttributeCheck>,
    /// Public half's checked attributes.
    pub public_attributes: Vec<AttributeCheck>,
    /// When.
    pub at: String,
    /// Journal entry.
    pub seq: u64,
}

/// One share of a set: index, fingerprint, holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareRow {
    /// 1-based index.
    pub index: u8,
    /// Fingerprint (never the share).
    pub fingerprint: String,
    /// Custodian who verified holding it.
    pub custodian_id: Option<String>,
    /// When verified.
    pub verified_at: Option<String>,
}

/// A Shamir share set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareSetOutput {
    /// Set id.
    pub set_id: String,
    /// Key it protects.
    pub protects_key_id: String,
    /// K.
    pub threshold: u8,
    /// N.
    pub share_count: u8,
    /// Shares.
    pub shares: Vec<ShareRow>,
    /// When.
    pub at: String,
    /// Journal entry.
    pub seq: u64,
}

/// A backup made or restored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupRow {
    /// Backup id.
    pub backup_id: String,
    /// Key.
    pub key_id: String,
    /// `made` or `restored`.
    pub action: String,
    /// Wrapping key (made).
    pub wrapped_by: Option<String>,
    /// The wrapping key's (the root KEK's) check value, hex, as journaled with the backup
    /// (`details.wrapping_key_kcv`); printed with its words. Absent in records made before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrapping_key_kcv: Option<String>,
    /// SHA-256 of the blob (made).
    pub blob_sha256: Option<String>,
    /// Where it is kept (made).
    pub location: Option<String>,
    /// Token restored to (restored).
    pub token_serial: Option<String>,
    /// When.
    pub at: String,
    /// Journal entry.
    pub seq: u64,
}

/// A custodian's answer to a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalDecision {
    /// Custodian.
    pub custodian_id: String,
    /// Granted or refused.
    pub granted: bool,
    /// SHA-256 of the signature (granted).
    pub signature_sha256: Option<String>,
    /// The DER signature, hex (`details.signature`).
    pub signature: Option<String>,
    /// The custodian's enrolled 9c key the quorum checked it with (DER SPKI, hex;
    /// `details.signature_spki`).
    #[serde(default)]
    pub signature_spki: Option<String>,
    /// Why refused.
    pub reason: Option<String>,
    /// When.
    pub at: String,
    /// Journal entry.
    pub seq: u64,
}

/// A quorum approval request and its answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRow {
    /// Request id.
    pub request_id: String,
    /// SHA-256 of the canonical request.
    pub request_sha256: String,
    /// Operation.
    pub operation: String,
    /// Key.
    pub key_id: Option<String>,
    /// K.
    pub required: u8,
    /// The canonical request text (`details.request`), so signatures can be checked.
    pub request: Option<String>,
    /// When requested.
    pub requested_at: String,
    /// Journal entry.
    pub seq: u64,
    /// Answers.
    pub decisions: Vec<ApprovalDecision>,
}

/// An inventory change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryChange {
    /// Key.
    pub key_id: String,
    /// Event type.
    pub change: String,
    /// Human summary.
    pub detail: String,
    /// When.
    pub at: String,
    /// Journal entry.
    pub seq: u64,
}

/// Any other entry, shown as its type and JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtherEvent {
    /// Event type (`note`: `kind` too).
    pub kind: String,
    /// The event and details as journaled.
    pub body: Value,
    /// When.
    pub at: String,
    /// Journal entry.
    pub seq: u64,
}

/// A key destroyed, with the proof: the token enumerated again afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Destruction {
    /// Key.
    pub key_id: String,
    /// Token.
    pub token_serial: String,
    /// CKA_ID(s) of the destroyed objects.
    pub cka_id: String,
    /// The proof as journaled (`hsm::destroy::DestructionProof`: classes destroyed, objects
    /// before/after, objects left with the label or ids).
    pub proof: Value,
    /// When.
    pub at: String,
    /// Journal entry.
    pub seq: u64,
}

/// The previous ceremony's end, as the journal holds it when this ceremony started: its
/// closing checkpoint, which the witness wrote on that ceremony's printed record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviousClosing {
    /// The previous ceremony.
    pub ceremony_id: String,
    /// The outcome it closed with.
    pub outcome: String,
    /// Its `ceremony_closed` entry.
    pub closed_seq: u64,
    /// Its closing checkpoint; `None` when none was signed before this ceremony started.
    pub checkpoint: Option<CheckpointRef>,
    /// Why there is none (journaled as unavailable, or missing from the checkpoint table).
    pub missing: Option<String>,
}

/// The closing checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointRef {
    /// Entries covered.
    pub size: u64,
    /// Root, hex.
    pub root: String,
    /// Root in words.
    pub root_words: String,
    /// When signed.
    pub time: String,
    /// SPKI SHA-256 of the signer.
    pub signer_fingerprint: String,
    /// The signed checkpoint text (also the QR code's content).
    pub text: String,
}

/// The root KEK in force on the ceremony's token, as the journal states it
/// (`operations::kek_in_force`): at the start, and at the end when the ceremony changed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootKekInForce {
    /// The token's serial journaled with `ceremony_started` (`details.token_serial`); `None`
    /// when no initialised token answered to the profile's selector then (a fresh HSM).
    pub token_serial: Option<String>,
    /// The root KEK in force when the ceremony started (`None`: none yet).
    pub at_start: Option<crate::operations::kek_in_force::JournaledKek>,
    /// The root KEK in force after the ceremony's own entries (`None`: none).
    pub at_end: Option<crate::operations::kek_in_force::JournaledKek>,
    /// The token the end state is about (changes when the ceremony initialised a token).
    pub end_token_serial: Option<String>,
}
