// What is on every ceremony screen: the sticky banner (where the ceremony is, in the core's
// words) and the acts by hand — Stop (pause), Raise an exception, Abort (confirmed). The
// engine decides whether each is allowed and journals it; this only asks and shows.
import { ceremonyAbort, ceremonyPause, ceremonyRaise, type CeremonyView, type Participant } from "../api";
import { busy, el, errText, field, message } from "../dom";
import { correctButton } from "./correct";

/** "REHEARSAL · Root key generation · Step 4 of 8 · Generate … · share 2 of 5 · C Two". */
export function ceremonyBanner(v: CeremonyView): HTMLElement {
  const b = v.banner;
  const parts: HTMLElement[] = [
    el("strong", { id: "banner-mode" }, b.mode_label),
    el("span", { id: "banner-script" }, b.script_title),
  ];
  if (b.step) parts.push(el("span", { id: "banner-step" }, b.step));
  if (b.share) parts.push(el("span", { id: "banner-share" }, b.share));
  const box = el("div", { id: "ceremony-banner", class: "ceremony-banner", "data-mode": b.mode, "aria-label": "Where the ceremony is" });
  parts.forEach((p, i) => {
    if (i) box.append(el("span", { class: "sep", "aria-hidden": "true" }, "·"));
    box.append(p);
  });
  return box;
}

/** A modal over the screen: Escape closes it, Tab and Shift+Tab stay inside, focus returns. */
export function modal(id: string, role: "dialog" | "alertdialog", title: string, ...content: HTMLElement[]): { box: HTMLElement; close: () => void } {
  const back = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  const box = el(
    "div",
    { id, class: "modal", role, "aria-modal": "true", "aria-labelledby": `${id}-title` },
    el("div", { class: "modal-box" }, el("h2", { id: `${id}-title` }, title), ...content),
  );
  const close = () => {
    box.remove();
    back?.focus();
  };
  box.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") {
      ev.preventDefault();
      close();
    } else if (ev.key === "Tab") {
      const items = [...box.querySelectorAll<HTMLElement>("input, select, button")].filter((x) => !(x as HTMLButtonElement).disabled);
      const i = items.indexOf(document.activeElement as HTMLElement);
      const next = ev.shiftKey ? (i <= 0 ? items.length - 1 : i - 1) : i < 0 || i === items.length - 1 ? 0 : i + 1;
      ev.preventDefault();
      items[next]?.focus();
    }
  });
  document.body.append(box);
  return { box, close };
}

function whoSelect(id: string, people: Participant[]): HTMLSelectElement {
  const s = el("select", { id });
  for (const p of people) s.append(el("option", { value: p.id }, `${p.name} (${p.id})`));
  return s;
}

/** An error said beside the reason field, which gets the focus back. */
export function fieldError(reason: HTMLInputElement, id: string, e: unknown): void {
  document.getElementById(id)?.remove();
  reason.after(el("p", { class: "error field-error", id, role: "alert" }, errText(e)));
  reason.setAttribute("aria-invalid", "true");
  reason.setAttribute("aria-describedby", `${id} ${reason.id}-hint`);
  reason.focus();
}

function raiseDialog(v: CeremonyView, redraw: (v: CeremonyView) => void): void {
  const [rBox, reason] = field("raise-reason", "What is wrong", "Said in the journal and the record. The room then decides: retry (back to where the step was), skip or abort.");
  const who = whoSelect("raise-who", v.status.participants);
  const send = el("button", { id: "raise-confirm", type: "submit" }, "Raise the exception");
  const cancel = el("button", { id: "raise-cancel", type: "button" }, "Cancel");
  const form = el(
    "form",
    { id: "raise-form", novalidate: "" },
    el("p", {}, `Step ${v.status.current_step ?? "-"}: stop and record an exception, as the script says whenever something is not as it should be.`),
    rBox,
    el("div", { class: "field" }, el("label", { for: "raise-who" }, "Raised by"), who),
    el("div", { class: "actions" }, send, cancel),
  );
  const { close } = modal("raise-dialog", "dialog", "Raise an exception", form);
  cancel.addEventListener("click", close);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    void busy(send, async () => {
      try {
        const nv = await ceremonyRaise(who.value, reason.value);
        close();
        redraw(nv);
      } catch (e) {
        fieldError(reason, "raise-error", e);
      }
    });
  });
  reason.focus();
}

function abortDialog(v: CeremonyView, redraw: (v: CeremonyView) => void): void {
  const [rBox, reason] = field("abort-reason", "Why", "Recorded in the journal as the abort decision's reason.");
  const who = whoSelect("abort-who", v.status.participants);
  const keep = el("button", { id: "abort-keep", type: "button" }, "Keep working");
  // Not a submit button: Enter in the reason field does nothing; only this button aborts.
  const confirm = el("button", { id: "abort-confirm", type: "button", class: "danger" }, "Abort the ceremony");
  const form = el(
    "form",
    { id: "abort-form", novalidate: "" },
    el(
      "p",
      { id: "abort-text" },
      `Ceremony ${v.status.ceremony_id} is closed as ABORTED: it cannot be resumed and no record is signed. What was done so far stays in the journal.`,
    ),
    rBox,
    el("div", { class: "field" }, el("label", { for: "abort-who" }, "Decided by"), who),
    el("div", { class: "actions" }, keep, confirm),
  );
  const { box, close } = modal("abort-dialog", "alertdialog", `Abort ceremony ${v.status.ceremony_id}?`, form);
  box.setAttribute("aria-describedby", "abort-text");
  keep.addEventListener("click", close);
  form.addEventListener("submit", (ev) => ev.preventDefault());
  confirm.addEventListener("click", () => {
    void busy(confirm, async () => {
      try {
        const nv = await ceremonyAbort(who.value, reason.value);
        close();
        redraw(nv);
      } catch (e) {
        fieldError(reason, "abort-error", e);
      }
    });
  });
  // The safe choice has the focus: a stray Enter keeps working.
  keep.focus();
}

/** Stop, Raise an exception, Abort: on every step screen (not once the ceremony is done). */
export function byHandBar(v: CeremonyView, redraw: (v: CeremonyView) => void, stopped: (said: string | null) => void): HTMLElement {
  const bar = el("div", { id: "by-hand", class: "actions by-hand", role: "group", "aria-label": "Stop, raise an exception, abort" });
  const kind = v.prompt.kind;
  if (kind === "done") return bar;
  const stop = el("button", { id: "ceremony-pause", type: "button" }, "Stop (pause, resume later)");
  stop.addEventListener("click", () =>
    void busy(stop, async () => {
      stopped(await ceremonyPause());
    }),
  );
  bar.append(stop);
  if (v.status.current_step && kind !== "exception-decision" && v.status.outcome === "running") {
    const raise = el("button", { id: "ceremony-raise", type: "button" }, "Raise an exception…");
    raise.addEventListener("click", () => raiseDialog(v, redraw));
    bar.append(raise);
  }
  bar.append(...correctButton(v, redraw));
  if (v.status.outcome === "running") {
    const abort = el("button", { id: "ceremony-abort", type: "button" }, "Abort…");
    abort.addEventListener("click", () => abortDialog(v, redraw));
    bar.append(abort);
  }
  return bar;
}

/** What a stop said, for the screen shown next. */
export function stoppedNotice(said: string | null): HTMLElement | string {
  return said ? message("info", said, "ceremony-paused") : "";
}
