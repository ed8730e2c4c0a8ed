// Home: HSM status, journal head (verified), inventory summary, recent ceremonies.
import { ceremoniesRecent, hsmTokens, inventoryView, journalVerify, type TokenSummary } from "../api";
import { el, errText, facts, message, panel, short } from "../dom";
import { journalVerdictView } from "./journal";

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
  const badge = t.software
    ? el("span", { class: "badge badge-software" }, "SOFTWARE TOKEN — rehearsal only")
    : el("span", { class: "badge badge-hardware" }, "hardware");
  return el(
    "article",
    { class: "token", "data-initialized": "true", "data-token-label": t.label, "data-software": String(t.software) },
    el("h3", {}, t.label, " ", badge),
    facts([
      ["Manufacturer", t.manufacturer],
      ["Model", t.model],
      ["Serial", t.serial],
      ["Firmware", t.firmware],
      ["Slot", String(t.slot_id)],
      ["Flags", flagList(t).join(", ") || "none"],
    ]),
  );
}

async function loadHsm(section: HTMLElement, body: HTMLElement): Promise<void> {
  section.dataset.state = "loading";
  try {
    const view = await hsmTokens();
    // The core's identity verdict, in the words `keyrite hsm info` prints: green only when the
    // token is the pinned HSM, red when ceremonies would refuse it.
    const pt = view.profile_token;
    const kind = pt.verdict === "pinned" ? "ok" : pt.verdict === "refused" ? "error" : "warn";
    const verdict = message(kind, pt.text, "hsm-profile-token");
    verdict.dataset.verdict = pt.verdict;
    body.replaceChildren(
      el("p", { id: "hsm-module", class: "muted" }, `PKCS#11 module: ${view.module}`),
      verdict,
      el("div", { id: "hsm-tokens", class: "tokens" }, ...view.tokens.map(tokenCard)),
    );
    section.dataset.state = "ok";
  } catch (e) {
    body.replaceChildren(message("error", errText(e), "hsm-error"));
    section.dataset.state = "error";
  }
}

async function loadJournal(section: HTMLElement, body: HTMLElement): Promise<void> {
  section.dataset.state = "loading";
  try {
    const v = await journalVerify();
    body.replaceChildren(journalVerdictView(v));
    section.dataset.state = v.ok ? "ok" : "tampered";
  } catch (e) {
    body.replaceChildren(message("error", errText(e)));
    section.dataset.state = "error";
  }
}

async function loadInventory(section: HTMLElement, body: HTMLElement): Promise<void> {
  try {
    const inv = await inventoryView();
    const counts = new Map<string, number>();
    for (const k of inv.keys) counts.set(k.state, (counts.get(k.state) ?? 0) + 1);
    const summary = [...counts.entries()].map(([s, n]) => `${n} ${s}`).join(", ");
    const due = el("ul", { id: "home-due", class: "due-list" });
    for (const id of inv.due_soon) {
      const k = inv.keys.find((x) => x.key_id === id);
      const now = inv.due_now.includes(id);
      due.append(
        el(
          "li",
          { "data-key-id": id, "data-due": now ? "now" : "soon" },
          el("strong", {}, now ? "DUE NOW " : "due soon "),
          `${id} — rotation due ${k ? k.rotation_due.slice(0, 10) : "?"}`,
        ),
      );
    }
    body.replaceChildren(
      facts([
        ["Keys", inv.exists ? `${inv.keys.length}${summary ? ` (${summary})` : ""}` : "none yet", "key-count"],
        ["Rotation due now", String(inv.due_now.length), "due-now"],
        [`Due within ${inv.soon_days} days`, String(inv.due_soon.length), "due-soon"],
      ]),
      inv.due_soon.length ? due : el("p", { class: "muted" }, "No rotation due."),
    );
    section.dataset.state = inv.due_now.length ? "due" : "ok";
  } catch (e) {
    body.replaceChildren(message("error", errText(e)));
    section.dataset.state = "error";
  }
}

async function loadCeremonies(section: HTMLElement, body: HTMLElement): Promise<void> {
  try {
    const list = await ceremoniesRecent(8);
    if (!list.length) {
      body.replaceChildren(el("p", { class: "muted" }, "No ceremony has been journaled yet."));
    } else {
      const table = el(
        "table",
        { id: "ceremony-table" },
        el(
          "thead",
          {},
          el("tr", {}, ...["Ceremony", "Script", "Mode", "Started", "Outcome", "Steps", "Exceptions", "Records"].map((h) => el("th", { scope: "col" }, h))),
        ),
      );
      const tb = el("tbody");
      for (const c of list) {
        const rec = el("td", {});
        for (const r of c.records) rec.append(short(r), " ");
        if (!c.records.length) rec.append("—");
        tb.append(
          el(
            "tr",
            { "data-ceremony-id": c.ceremony_id },
            el("td", {}, c.ceremony_id),
            el("td", {}, c.script_name || "—"),
            el("td", {}, c.mode || "—"),
            el("td", {}, c.started ? c.started[0].replace("T", " ").slice(0, 16) : "—"),
            el("td", {}, c.closed ? c.closed[0] : "in progress"),
            el("td", { class: "num" }, String(c.steps_completed)),
            el("td", { class: "num" }, String(c.exceptions)),
            rec,
          ),
        );
      }
      table.append(tb);
      body.replaceChildren(table);
    }
    section.dataset.state = "ok";
  } catch (e) {
    body.replaceChildren(message("error", errText(e)));
    section.dataset.state = "error";
  }
}

export function renderHome(root: HTMLElement): void {
  const refresh = el("button", { id: "hsm-refresh", type: "button" }, "Refresh");
  const hsm = panel("hsm-panel", "HSM", refresh);
  const hsmBody = el("div");
  hsm.append(hsmBody);

  const verify = el("button", { id: "home-journal-verify", type: "button" }, "Verify again");
  const journal = panel("journal-panel", "Journal", verify);
  const journalBody = el("div");
  journal.append(journalBody);

  const inv = panel("inventory-panel", "Inventory");
  const invBody = el("div");
  inv.append(invBody);

  const cer = panel("ceremonies-panel", "Recent ceremonies");
  const cerBody = el("div");
  cer.append(cerBody);

  root.replaceChildren(el("h2", { class: "screen-title", tabindex: "-1" }, "Home"), journal, inv, cer, hsm);
  refresh.addEventListener("click", () => void loadHsm(hsm, hsmBody));
  verify.addEventListener("click", () => void loadJournal(journal, journalBody));
  void loadJournal(journal, journalBody);
  void loadInventory(inv, invBody);
  void loadCeremonies(cer, cerBody);
  void loadHsm(hsm, hsmBody);
}
