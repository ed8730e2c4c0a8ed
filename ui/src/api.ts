// Typed wrappers over Keyrite's Tauri commands. The UI only displays what the core returns.
// Every type comes from ./generated/keyrite.ts, generated from the Rust view model
// (keyrite-core src/view/); nothing here mirrors a Rust type by hand.
import { invoke } from "@tauri-apps/api/core";
import type {
  AnswerIn,
  AppStatus,
  UnfinishedView,
  CeremonySummary,
  CeremonyView,
  EntryPage,
  ExportDone,
  HsmView,
  InventoryView,
  JournalVerdict,
  RecordVerdict,
  RecordPrinted,
  ScriptView,
  ScriptChoice,
  FolderScripts,
  ShareOnScreen,
} from "./generated/keyrite";

export type * from "./generated/keyrite";

/** The approval request as custodians see it: the `approval` prompt's fields. */
export type ApprovalView = Extract<CeremonyView["prompt"], { kind: "approval" }>;

export const appStatus = () => invoke<AppStatus>("app_status");
export const hsmTokens = () => invoke<HsmView>("hsm_tokens");

export const journalVerify = () => invoke<JournalVerdict>("journal_verify");
export const journalEntries = (before: number | null, limit: number) =>
  invoke<EntryPage>("journal_entries", { before, limit });
export const journalExport = (format: string, out: string, from: number | null, to: number | null) =>
  invoke<ExportDone>("journal_export", { format, out, from, to });
export const inventoryView = () => invoke<InventoryView>("inventory_view");
export const ceremoniesRecent = (limit: number) => invoke<CeremonySummary[]>("ceremonies_recent", { limit });
export const recordVerify = (path: string, pinnedCert: string | null) =>
  invoke<RecordVerdict>("record_verify", { path, pinnedCert });
/** Prints the signed record (a file of DATA/records) on the site's or CUPS's default queue. */
export const recordPrint = (path: string) => invoke<RecordPrinted>("record_print", { path });

export const scriptInspect = (path: string) => invoke<ScriptView>("script_inspect", { path });
/** The shipped scripts with their pre-start checklists. */
export const scriptShipped = () => invoke<ScriptChoice[]>("script_shipped");
/** The scripts of a folder (full path), with their checklists. */
export const scriptFolder = (path: string) => invoke<FolderScripts>("script_folder", { path });
export const ceremonyStartShipped = (name: string) => invoke<CeremonyView>("ceremony_start_shipped", { name });
export const ceremonyUnfinished = () => invoke<UnfinishedView[]>("ceremony_unfinished");
export const ceremonyStart = (path: string) => invoke<CeremonyView>("ceremony_start", { path });
/** Resumes `ceremonyId` with the shipped script of its journaled hash (path null), or a typed path. */
export const ceremonyResume = (path: string | null, ceremonyId: string) =>
  invoke<CeremonyView>("ceremony_resume", { path, ceremonyId });
export const ceremonyCurrent = () => invoke<CeremonyView | null>("ceremony_current");
/** Stop: pauses the running ceremony (journaled; resumable); says what to tell the room. */
export const ceremonyPause = () => invoke<string | null>("ceremony_pause");
/** Raises an exception at the current step by hand; the engine then asks for the decision. */
export const ceremonyRaise = (by: string, reason: string) => invoke<CeremonyView>("ceremony_raise", { by, reason });
/** Corrects a check-in (until the ceremony's first HSM action): the seat, the right name, why. */
export const ceremonyCorrect = (participantId: string, name: string, reason: string) =>
  invoke<CeremonyView>("ceremony_correct", { participantId, name, reason });
/** Aborts the running ceremony (confirmed in the window first). */
export const ceremonyAbort = (by: string, reason: string) => invoke<CeremonyView>("ceremony_abort", { by, reason });
/** Closing the window anyway: pauses the running ceremony (it stays resumable) and quits. */
export const ceremonyPauseAndQuit = () => invoke<void>("ceremony_pause_and_quit");
export const ceremonyAnswer = (answer: AnswerIn) => invoke<CeremonyView>("ceremony_answer", { answer });
export const ceremonyShare = () => invoke<ShareOnScreen>("ceremony_share");
export const ceremonyShareConfirm = (check: string, sealPassphrase: string | null) =>
  invoke<CeremonyView>("ceremony_share_confirm", { check, sealPassphrase });
