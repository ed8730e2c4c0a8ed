import "./style.css";
import { appStatus, hsmTokens, type TokenSummary } from "./api";
import { byId, el } from "./dom";

function flagList(t: TokenSummary): string[] {
  const f = t.flags;
  const out: string[] = [];
  if (f.user_pin_initialized) out.push("user PIN set");
  if (f.login_required) out.push("login required");
  if (f.rng) out.push("has RNG");
  if (f.write_protected) out.push("write protected");
  if (f.user_pin_count_low) out.push("user PIN count low");
  if (f.user_pin_final_try) out.push("user PIN final try");
  if (f.user_pin_locked) out.push("user PIN LOCKED");
  if (f.so_pin_locked) out.push("SO PIN LOCKED");
  return out;
}

function tokenCard(t: TokenSummary): HTMLElement {
  if (!t.initialized) {
    return el(
      "article",
      { class: "token token-empty", "data-initialized": "false" },
      el("h3", {}, `Slot ${t.slot_id}: uninitialised token`),
      el("p", { class: "muted" }, t.slot_description),
    );
  }
  const rows: [string, string][] = [
    ["Manufacturer", t.manufacturer],
    ["Model", t.model],
    ["Serial", t.serial],
    ["Firmware", t.firmware],
    ["Slot", String(t.slot_id)],
    ["Flags", flagList(t).join(", ") || "none"],
  ];
  const dl = el("dl", {});
  for (const [k, v] of rows) dl.append(el("dt", {}, k), el("dd", { "data-field": k.toLowerCase() }, v));
  const badge = t.software
    ? el("span", { class: "badge badge-software" }, "SOFTWARE TOKEN — rehearsal only")
    : el("span", { class: "badge badge-hardware" }, "hardware");
  return el(
    "article",
    { class: "token", "data-initialized": "true", "data-token-label": t.label, "data-software": String(t.software) },
    el("h3", {}, t.label, " ", badge),
    dl,
  );
}

async function loadStatus(): Promise<void> {
  const s = await appStatus();
  const banner = byId("mode-banner");
  banner.dataset.mode = s.mode ?? "error";
  banner.textContent =
    s.mode === "rehearsal"
      ? "REHEARSAL — SOFTWARE HSM — nothing done here protects real data"
      : s.mode === "production"
        ? "PRODUCTION — real keys, real consequences"
        : "NOT READY — see the message below";
  const facts = byId("app-facts");
  facts.replaceChildren();
  const add = (k: string, v: string | null) => {
    if (v) facts.append(el("dt", {}, k), el("dd", {}, v));
  };
  add("Site", s.site);
  add("Data", s.data_dir);
  add("Profile", s.profile ?? (s.mode ? "default rehearsal profile" : null));
  add("Version", s.version);
  if (s.startup_error) {
    const box = byId("startup-error");
    box.textContent = s.startup_error;
    box.hidden = false;
  }
}

async function loadHsm(): Promise<void> {
  const panel = byId("hsm-panel");
  const list = byId("hsm-tokens");
  const err = byId("hsm-error");
  panel.dataset.state = "loading";
  try {
    const view = await hsmTokens();
    byId("hsm-module").textContent = `PKCS#11 module: ${view.module}`;
    list.replaceChildren(...view.tokens.map(tokenCard));
    err.hidden = true;
    panel.dataset.state = "ok";
  } catch (e) {
    list.replaceChildren();
    err.textContent = String(e);
    err.hidden = false;
    panel.dataset.state = "error";
  }
}

window.addEventListener("DOMContentLoaded", () => {
  byId("hsm-refresh").addEventListener("click", () => void loadHsm());
  void loadStatus().then(loadHsm);
});
