// Typed wrappers over Keyrite's Tauri commands. The UI only displays what the core returns.
import { invoke } from "@tauri-apps/api/core";

export interface HardeningReport {
  core_dumps_disabled: boolean;
  not_dumpable: boolean;
  memlock_limit_bytes: number | null;
}

export interface AppStatus {
  version: string;
  mode: "rehearsal" | "production" | null;
  site: string | null;
  data_dir: string | null;
  profile: string | null;
  startup_error: string | null;
  hardening: HardeningReport;
}

export interface TokenFlags {
  user_pin_initialized: boolean;
  login_required: boolean;
  write_protected: boolean;
  rng: boolean;
  user_pin_count_low: boolean;
  user_pin_final_try: boolean;
  user_pin_locked: boolean;
  so_pin_count_low: boolean;
  so_pin_final_try: boolean;
  so_pin_locked: boolean;
  hardware_slot: boolean;
  removable: boolean;
}

export interface TokenSummary {
  slot_id: number;
  slot_description: string;
  label: string;
  manufacturer: string;
  model: string;
  serial: string;
  firmware: string;
  hardware: string;
  initialized: boolean;
  software: boolean;
  flags: TokenFlags;
}

export interface HsmView {
  module: string;
  tokens: TokenSummary[];
}

export const appStatus = () => invoke<AppStatus>("app_status");
export const hsmTokens = () => invoke<HsmView>("hsm_tokens");

export interface JournalVerdict {
  db: string;
  exists: boolean;
  origin: string | null;
  size: number;
  root_hex: string;
  root_words: string;
  ok: boolean;
  error: string | null;
  first_bad_seq: number | null;
  checked_at: string;
}

export interface EntryView {
  seq: number;
  time: string;
  kind: string;
  fields: [string, string][];
  details: [string, string][];
  entry_hash: string;
}

export interface EntryPage {
  size: number;
  entries: EntryView[];
}

export interface CeremonySummary {
  ceremony_id: string;
  script_name: string;
  mode: string;
  started: [string, number] | null;
  closed: [string, string] | null;
  steps_completed: number;
  exceptions: number;
  records: string[];
  last_seq: number;
}

export type KeyState = "pre-activation" | "active" | "suspended" | "deactivated" | "compromised" | "destroyed";

export interface KeyRecord {
  key_id: string;
  label: string;
  purpose: string;
  key_type: string;
  algorithm: string;
  token_serial: string;
  cka_id: string;
  fingerprint: string | null;
  state: KeyState;
  created: string;
  activated: string | null;
  state_changed: string;
  cryptoperiod_days: number;
  justification: string | null;
  share_set_id: string | null;
  rotation_due: string;
  backups: string[];
}

export interface InventoryView {
  exists: boolean;
  keys: KeyRecord[];
  due_now: string[];
  due_soon: string[];
  soon_days: number;
  as_of: string;
}

export interface Manifest {
  format: "jsonl" | "cef" | "syslog";
  origin: string;
  first_seq: number;
  last_seq: number;
  count: number;
  first_prev_hash: string;
  last_entry_hash: string;
  head_size: number;
  head_root: string;
  file_sha256: string;
}

export interface ExportDone {
  out: string;
  manifest_path: string;
  manifest: Manifest;
}

export interface AttachmentView {
  name: string;
  mime: string | null;
  size: number;
  sha256: string;
}

export interface RecordVerdict {
  path: string;
  size: number;
  file_sha256: string;
  valid: boolean;
  rejection: string | null;
  signer_subject: string | null;
  spki_fingerprint: string | null;
  spki_words: string | null;
  trust: "pinned" | "not-pinned" | null;
  signing_time: string | null;
  reason: string | null;
  location: string | null;
  signed_len: number | null;
  attachments: AttachmentView[];
}

export const journalVerify = () => invoke<JournalVerdict>("journal_verify");
export const journalEntries = (before: number | null, limit: number) =>
  invoke<EntryPage>("journal_entries", { before, limit });
export const journalExport = (format: string, out: string, from: number | null, to: number | null) =>
  invoke<ExportDone>("journal_export", { format, out, from, to });
export const inventoryView = () => invoke<InventoryView>("inventory_view");
export const ceremoniesRecent = (limit: number) => invoke<CeremonySummary[]>("ceremonies_recent", { limit });
export const recordVerify = (path: string, pinnedCert: string | null) =>
  invoke<RecordVerdict>("record_verify", { path, pinnedCert });

export interface ScriptView {
  file: string;
  id: string;
  version: string;
  title: string;
  purpose: string;
  sha256: string;
  words: string;
  steps: [number, string, string, string, string][];
}

export interface CeremonyHistory {
  ceremony_id: string;
  script_name: string;
  script_sha256: string;
  mode: string;
  started_seq: number;
  steps_completed: string[];
  current_step: string | null;
  outcome: string | null;
}

export interface Participant {
  id: string;
  name: string;
  role: string;
  credential_fingerprint: string | null;
}

export interface StepStatus {
  id: string;
  title: string;
  action: string;
  state: "pending" | "running" | "exception" | "completed" | "skipped";
  signed_off_by: string[];
}

export interface CeremonyStatus {
  ceremony_id: string;
  script_id: string;
  script_title: string;
  script_sha256: string;
  script_words: string;
  mode: string;
  steps: StepStatus[];
  current_step: string | null;
  participants: Participant[];
  exceptions: { id: string; step: string; description: string; decision: string | null; decided_by: string[] }[];
  outcome: string;
}

export interface Summary {
  ceremony_id: string;
  outcome: string;
  steps_completed: number;
  steps_skipped: number;
  exceptions: number;
}

export type PromptView =
  | { kind: "check-in"; role: string; remaining: number }
  | { kind: "instructions"; step: string; title: string; text: string }
  | { kind: "confirm-preflight"; clean: boolean; checks: { check: string; passed: boolean; reason: string; findings: string[] }[] }
  | { kind: "clock-confirmation"; utc: string; tolerance_seconds: number }
  | { kind: "pin"; who: string; purpose: string }
  | { kind: "new-pins"; token: string }
  | { kind: "show-share"; custodian: string; custodian_name: string; index: number; count: number; set_words: string; fingerprint_words: string }
  | { kind: "verify-share"; custodian: string; custodian_name: string; index: number; sealed_file: string | null }
  | { kind: "sign-off"; step: string; role: string; candidates: Participant[]; remaining: number }
  | { kind: "exception-decision"; exception_id: string; step: string; expected: string; happened: string; retry_allowed: boolean }
  | { kind: "enrol-yubikey"; custodian: string; custodian_name: string; enrolled: number; count: number }
  | { kind: "choose-key"; step: string; operation: string; candidates: KeyChoice[] }
  | ({ kind: "approval" } & ApprovalView)
  | { kind: "done"; summary: Summary };

/** A key a quorum operation may act on. */
export interface KeyChoice {
  key_id: string;
  label: string;
  algorithm: string;
  state: string;
  fingerprint_words: string;
}

/** An enrolled custodian who may approve. */
export interface Approver {
  custodian_id: string;
  name: string;
  yubikey_serial: number;
  checked_in: boolean;
}

/** An approval request as custodians see it (the engine's ApprovalPrompt). */
export interface ApprovalView {
  step: string;
  operation: string;
  key_label: string;
  request_text: string;
  hash_words: string;
  request_sha256: string;
  needed: number;
  approved: Approver[];
  candidates: Approver[];
  failures: string[];
  expires_at: number;
}

export interface CeremonyView {
  status: CeremonyStatus;
  prompt: PromptView;
  progress: string | null;
}

export type AnswerIn =
  | { kind: "check-in"; name: string; role: string }
  | { kind: "proceed" }
  | { kind: "clock"; witness: string; reference: string; offset_seconds: number }
  | { kind: "pin"; pin: string }
  | { kind: "new-pins"; so: string; user: string }
  | { kind: "share-text"; text: string }
  | { kind: "share-sealed"; file: string; passphrase: string }
  | { kind: "sign-off"; participant: string }
  | { kind: "decide"; decision: string; decided_by: string[]; reason: string }
  | { kind: "enrol"; serial: number; current_pin: string; new_pin: string; current_puk: string; new_puk: string; touch: boolean }
  | { kind: "choose-key"; key_id: string }
  | { kind: "approve"; custodian_id: string; pin: string }
  | { kind: "submit-approvals" };

export interface ShareOnScreen {
  index: number;
  human_form: string;
  qr_size: number;
  qr_modules: boolean[];
}

export const scriptInspect = (path: string) => invoke<ScriptView>("script_inspect", { path });
export const ceremonyUnfinished = () => invoke<CeremonyHistory[]>("ceremony_unfinished");
export const ceremonyStart = (path: string) => invoke<CeremonyView>("ceremony_start", { path });
export const ceremonyResume = (path: string, ceremonyId: string) =>
  invoke<CeremonyView>("ceremony_resume", { path, ceremonyId });
export const ceremonyCurrent = () => invoke<CeremonyView | null>("ceremony_current");
export const ceremonyPause = () => invoke<void>("ceremony_pause");
export const ceremonyAnswer = (answer: AnswerIn) => invoke<CeremonyView>("ceremony_answer", { answer });
export const ceremonyShare = () => invoke<ShareOnScreen>("ceremony_share");
export const ceremonyShareConfirm = (check: string, sealPassphrase: string | null) =>
  invoke<CeremonyView>("ceremony_share_confirm", { check, sealPassphrase });
