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
