// Choosing a script without typing its path: the shipped scripts, or the scripts of a chosen
// folder (the reviewed USB stick). Each shows title, hash in words (as `keyrite ceremony
// validate`), purpose, roles, steps and the core's pre-start checklist before Start.
import { ceremonyStart, ceremonyStartShipped, scriptFolder, scriptShipped, type CeremonyView, type ScriptChoice } from "../api";
import { busy, el, errText, facts, field, message, panel } from "../dom";
import { renderMarkdown } from "../markdown";

const MARK: Record<string, string> = { ready: "READY", bring: "CHECK", blocked: "BLOCKED" };

/** The chosen script in full, with its checklist and the Start button. */
function details(c: ScriptChoice, out: HTMLElement, started: (v: CeremonyView) => void): void {
  const s = c.script;
  const purpose = el("div", { class: "instructions" });
  purpose.append(renderMarkdown(s.purpose));
  const steps = el("ol", { id: "picker-steps" });
  for (const [, id, title, role, action] of s.steps) steps.append(el("li", { "data-step": id }, `${title} — ${role}, ${action}`));
  const roles = el("ul", { id: "picker-roles" });
  for (const r of c.roles) roles.append(el("li", {}, r));
  const list = el("ul", { id: "picker-checklist", class: "checklist" });
  for (const i of c.checklist)
    list.append(el("li", { "data-state": i.state }, el("strong", { class: `check-${i.state}` }, MARK[i.state] ?? i.state), " ", i.what));
  const blocked = c.checklist.some((i) => i.state === "blocked");
  const err = el("div", { id: "picker-start-error", "aria-live": "assertive" });
  const start = el("button", { id: "picker-start", type: "button" }, blocked ? "Start anyway (the checklist says it cannot run)" : "Start this ceremony");
  start.addEventListener("click", () =>
    void busy(start, async () => {
      try {
        started(c.shipped ? await ceremonyStartShipped(c.shipped) : await ceremonyStart(s.file));
      } catch (e) {
        err.replaceChildren(message("error", errText(e), "picker-start-error-text"));
      }
    }),
  );
  const heading = el("h3", { id: "picker-title", tabindex: "-1" }, s.title);
  out.replaceChildren(
    heading,
    message("info", "Compare these words with the reviewed copy of the script before starting. They must be identical.", "picker-compare"),
    facts([
      ["Script in words", s.words, "picker-words"],
      ["SHA-256", s.sha256, "picker-hex"],
      ["Id and version", `${s.id} ${s.version}`, "picker-id"],
      ["File", s.file, "picker-file"],
    ]),
    purpose,
    el("h4", {}, "People"),
    roles,
    el("h4", {}, "Before starting"),
    blocked ? message("warn", "The checklist says this ceremony cannot run as things are.", "picker-blocked") : "",
    list,
    el("h4", {}, "Steps"),
    steps,
    err,
    start,
  );
  out.dataset.state = "chosen";
  // The next thing to read is the script's title; Tab goes on to its words and Start.
  heading.focus();
}

function rows(list: ScriptChoice[], out: HTMLElement, started: (v: CeremonyView) => void): HTMLElement {
  const ul = el("ul", { class: "picker-list" });
  for (const c of list) {
    const b = el("button", { type: "button", "data-choose": c.shipped ?? c.script.file }, `Review "${c.script.title}"`);
    b.addEventListener("click", () => details(c, out, started));
    ul.append(el("li", {}, b, el("span", { class: "muted" }, ` ${c.script.words.split(" ").slice(0, 4).join(" ")} …`)));
  }
  return ul;
}

/** The picker: shipped scripts, then a folder's; the chosen one in full below. */
export function pickerPanel(started: (v: CeremonyView) => void): HTMLElement {
  const sec = panel("ceremony-picker", "Choose a ceremony script");
  const out = el("div", { id: "picker-details", "aria-live": "polite" });
  const shipped = el("div", { id: "picker-shipped" }, el("p", { class: "muted" }, "Loading…"));
  const [box, path] = field("folder-path", "Or a folder of reviewed scripts", "Full path, e.g. /media/usb.");
  const form = el("form", { id: "folder-form", novalidate: "" }, box, el("button", { id: "folder-list", type: "submit" }, "List its scripts"));
  const folder = el("div", { id: "picker-folder", "aria-live": "polite" });
  sec.append(el("h3", {}, "Shipped with Keyrite"), shipped, form, folder, out);
  void scriptShipped()
    .then((list) => {
      shipped.replaceChildren(rows(list, out, started));
      sec.dataset.state = "ok";
    })
    .catch((e) => {
      shipped.replaceChildren(message("error", errText(e), "picker-shipped-error"));
      sec.dataset.state = "error";
    });
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const button = form.querySelector("#folder-list") as HTMLButtonElement;
    void busy(button, async () => {
      try {
        const f = await scriptFolder(path.value);
        const refused = f.refused.map((r) => message("warn", `${r.file}: ${r.error}`));
        folder.replaceChildren(
          f.scripts.length ? rows(f.scripts, out, started) : el("p", { id: "folder-empty" }, "No valid ceremony script (.toml) in this folder."),
          ...refused,
        );
        folder.dataset.state = "ok";
      } catch (e) {
        path.setAttribute("aria-invalid", "true");
        folder.replaceChildren(message("error", errText(e), "folder-error"));
        path.focus();
      }
    });
  });
  return sec;
}
