import "./style.css";
import { appStatus } from "./api";
import { watchCloseRequests } from "./close";
import { byId, el } from "./dom";
import { renderCeremony } from "./screens/ceremony";
import { renderExport } from "./screens/export";
import { renderHome } from "./screens/home";
import { renderInventory } from "./screens/inventory";
import { renderJournal } from "./screens/journal";
import { renderRecords } from "./screens/records";

// Screens by route; the order is the order of the Alt+digit shortcuts and the nav links.
const ROUTES: [string, (root: HTMLElement) => void][] = [
  ["home", renderHome],
  ["journal", renderJournal],
  ["inventory", renderInventory],
  ["records", renderRecords],
  ["export", renderExport],
  ["ceremony", renderCeremony],
];

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

function show(route: string, focus: boolean): void {
  const entry = ROUTES.find(([r]) => r === route) ?? ROUTES[0];
  const root = byId("screen");
  root.dataset.route = entry[0];
  for (const a of document.querySelectorAll<HTMLAnchorElement>("#nav a")) {
    if (a.dataset.route === entry[0]) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  entry[1](root);
  // Keyboard users land on the new screen's heading, not back at the top of the page.
  if (focus) root.querySelector<HTMLElement>(".screen-title")?.focus();
}

function route(): string {
  return location.hash.replace(/^#/, "") || "home";
}

window.addEventListener("DOMContentLoaded", () => {
  watchCloseRequests();
  window.addEventListener("hashchange", () => show(route(), true));
  // "Skip to the screen" moves focus to the current screen's content; following its href
  // would change the route (and land on Home).
  document.querySelector<HTMLAnchorElement>("a.skip")?.addEventListener("click", (ev) => {
    ev.preventDefault();
    const screen = document.getElementById("screen");
    (screen?.querySelector<HTMLElement>(".screen-title") ?? screen)?.focus();
  });
  document.addEventListener("keydown", (ev) => {
    if (!ev.altKey || ev.ctrlKey || ev.metaKey) return;
    // ev.code too: some layouts turn Alt+digit into another character.
    const n = /^Digit\d$/.test(ev.code) ? Number(ev.code.slice(5)) : Number(ev.key);
    if (Number.isInteger(n) && n >= 1 && n <= ROUTES.length) {
      ev.preventDefault();
      const target = ROUTES[n - 1][0];
      if (route() === target) show(target, true);
      else location.hash = target;
    }
  });
  void loadStatus().finally(() => show(route(), false));
});
