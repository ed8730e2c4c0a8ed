// Run a ceremony: choose a script (hash in words), start or resume, then answer the engine's
// prompts one at a time. Every rule is the engine's; this screen shows and asks.
import {
  ceremonyAnswer,
  ceremonyCurrent,
  ceremonyPause,
  ceremonyResume,
  ceremonyShare,
  ceremonyShareConfirm,
  ceremonyStart,
  ceremonyUnfinished,
  scriptInspect,
  type AnswerIn,
  type CeremonyView,
  type Participant,
  type PromptView,
  type ShareOnScreen,
  type Summary,
  type QrView,
  recordVerify,
} from "../api";
import { checkpointQr, printRecordButton } from "./closing";
import { busy, el, errText, facts, field, message, panel } from "../dom";
import { renderMarkdown } from "../markdown";
import { verdictView } from "./records";
import { byHandBar, ceremonyBanner, stoppedNotice } from "./byhand";
import { pickerPanel } from "./picker";
import { approvalForm, chooseKeyForm, clearSecrets, enrolForm, secretField, type FormKit } from "./quorum";
import { recoverForm } from "./recover";

let scriptPath = "";
let renders = 0;

function participantSelect(id: string, people: Participant[]): HTMLSelectElement {
  const s = el("select", { id });
  for (const p of people) s.append(el("option", { value: p.id }, `${p.name} (${p.id})`));
  return s;
}

function labelled(id: string, label: string, control: HTMLElement): HTMLElement {
  return el("div", { class: "field" }, el("label", { for: id }, label), control);
}

/** Draws QR modules on a canvas (no image decoding, no markup). */
function qrCanvas(share: ShareOnScreen): HTMLCanvasElement {
  const scale = 6;
  const quiet = 4;
  const side = (share.qr_size + 2 * quiet) * scale;
  const c = el("canvas", { id: "share-qr", width: String(side), height: String(side), "aria-label": "QR code of the share" });
  const g = c.getContext("2d");
  if (g) {
    g.fillStyle = "#fff";
    g.fillRect(0, 0, side, side);
    g.fillStyle = "#000";
    share.qr_modules.forEach((dark, i) => {
      if (!dark) return;
      const x = i % share.qr_size;
      const y = Math.floor(i / share.qr_size);
      g.fillRect((x + quiet) * scale, (y + quiet) * scale, scale, scale);
    });
  }
  return c;
}

function statusPanel(v: CeremonyView): HTMLElement {
  const s = v.status;
  const steps = el("ol", { id: "ceremony-steps", class: "steps" });
  for (const st of s.steps) {
    const attrs: Record<string, string> = { "data-step": st.id, "data-state": st.state };
    if (st.id === s.current_step) attrs["aria-current"] = "step";
    steps.append(
      el(
        "li",
        attrs,
        el("span", { class: `step-state step-${st.state}` }, st.state),
        " ",
        st.title,
        st.signed_off_by.length ? el("span", { class: "muted" }, ` — signed off by ${st.signed_off_by.join(", ")}`) : "",
      ),
    );
  }
  const people = el("ul", { id: "ceremony-participants", class: "people" });
  for (const p of s.participants) people.append(el("li", { "data-participant": p.id }, `${p.name} — ${p.id}`));
  const box = el(
    "aside",
    { class: "ceremony-status", "aria-label": "Ceremony status" },
    el("h3", {}, s.script_title),
    facts([
      ["Ceremony", s.ceremony_id, "ceremony-id"],
      ["Mode", s.mode, "mode"],
      ["Script in words", s.script_words, "script-words"],
      ["Outcome", s.outcome, "outcome"],
    ]),
    el("h4", {}, "Steps"),
    steps,
    el("h4", {}, "Participants"),
    s.participants.length ? people : el("p", { class: "muted" }, "Nobody checked in yet."),
  );
  if (s.exceptions.length) {
    const ex = el("ul", { id: "ceremony-exceptions" });
    for (const e of s.exceptions)
      ex.append(el("li", {}, `${e.id} in ${e.step}: ${e.description} — ${e.decision ?? "open"}${e.decided_by.length ? ` (${e.decided_by.join(", ")})` : ""}`));
    box.append(el("h4", {}, "Exceptions"), ex);
  }
  return box;
}

type Send = (a: AnswerIn) => Promise<void>;

function promptForm(v: CeremonyView, send: Send, redraw: (v: CeremonyView) => void, showError: (e: unknown) => void, fieldError: string | null): HTMLElement {
  const p: PromptView = v.prompt;
  const form = el("form", { id: "prompt-form", novalidate: "" });
  const submit = (label: string) => el("button", { id: "prompt-submit", type: "submit" }, label);
  const onSubmit = (make: () => AnswerIn | null) =>
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const a = make();
      // Nothing secret stays on screen once sent (or refused by the form itself).
      clearSecrets(form);
      if (a) void busy(form.querySelector("#prompt-submit") as HTMLButtonElement, () => send(a));
    });
  const people = v.status.participants;
  const kit: FormKit = { form, submit, onSubmit, send, showError };
  switch (p.kind) {
    case "check-in": {
      const [box, name] = field("checkin-name", `Full name of the ${p.role}`, `${p.remaining} more ${p.role}(s) expected. Check the person's identity document before typing.`);
      form.append(el("h3", {}, `Check in: ${p.role}`), box, submit("Check in"));
      onSubmit(() => ({ kind: "check-in", name: name.value, role: p.role }));
      break;
    }
    case "instructions": {
      const text = el("div", { class: "instructions", id: "step-instructions" });
      text.append(renderMarkdown(p.text));
      form.append(el("h3", {}, `Step ${p.step}: ${p.title}`), text, submit("Read aloud — proceed"));
      onSubmit(() => ({ kind: "proceed" }));
      break;
    }
    case "confirm-preflight": {
      const list = el("ul", { id: "preflight-checks" });
      for (const c of p.checks)
        list.append(el("li", { "data-passed": String(c.passed) }, el("strong", {}, c.passed ? "ok " : "FINDING "), `${c.check}: ${c.reason}`, c.findings.length ? ` (${c.findings.join("; ")})` : ""));
      form.append(
        el("h3", {}, "Preflight results"),
        message(p.clean ? "ok" : "error", p.clean ? "The air-gap check found nothing." : "The air-gap check found something: the witness must see this before proceeding."),
        list,
        submit("Record and proceed"),
      );
      onSubmit(() => ({ kind: "proceed" }));
      break;
    }
    case "clock-confirmation": {
      const witness = participantSelect("clock-witness", people.filter((x) => x.role === "witness"));
      const [refBox, ref] = field("clock-reference", "Reference clock", "Which independent clock the witness compared with.");
      const [offBox, off] = field("clock-offset", "System clock minus reference (seconds)", `Tolerance: ${p.tolerance_seconds} s.`, "0");
      form.append(
        el("h3", {}, "Clock check"),
        el("p", { class: "clock" }, "System clock (UTC): ", liveUtc(p.utc)),
        labelled("clock-witness", "Witness confirming", witness),
        refBox,
        offBox,
        submit("Confirm the clock"),
      );
      onSubmit(() => {
        const n = Number(off.value.trim());
        if (!Number.isInteger(n)) {
          showError("The offset must be a whole number of seconds, e.g. 0 or -2.");
          return null;
        }
        return { kind: "clock", witness: witness.value, reference: ref.value, offset_seconds: n };
      });
      break;
    }
    case "pin": {
      const [box, pin] = secretField("pin-input", `${p.who} PIN`, `Needed to ${p.purpose}. It is never shown or stored.`);
      form.append(el("h3", {}, `${p.who} PIN`));
      // A refusal is shown beside the field: the engine's words (a rejected PIN was dropped, the
      // tries left as the token reports them); the field is empty and keeps the focus.
      const why = fieldError ?? (p.rejected ? `${p.rejected}. Type it again.` : null);
      if (why) {
        pin.after(el("p", { class: "error field-error", id: "pin-rejected", role: "alert" }, why));
        pin.setAttribute("aria-invalid", "true");
        pin.setAttribute("aria-describedby", "pin-rejected pin-input-hint");
      }
      pin.setAttribute("data-autofocus", "");
      form.append(box, submit("Log in"));
      if (p.proceed_without) {
        // The engine allows leaving the PIN out here (closing): it says what happens then.
        const without = el("button", { id: "pin-proceed-without", type: "button", "aria-describedby": "pin-proceed-without-hint" }, "Proceed without the PIN");
        without.addEventListener("click", () => void busy(without, () => send({ kind: "proceed" })));
        form.append(el("p", { class: "hint", id: "pin-proceed-without-hint" }, `Without the PIN, Keyrite will ${p.proceed_without}.`), without);
      }
      onSubmit(() => ({ kind: "pin", pin: pin.value }));
      break;
    }
    case "current-so-pin": {
      // Asked apart from the new PINs: the token (re)initialised takes the SO PIN it has now.
      const [box, pin] = secretField("current-so-pin", "Current SO PIN", "The SO PIN the token has now (a new token of some modules: the factory one). It is never shown or stored.");
      form.append(el("h3", {}, `Current SO PIN of ${p.token}`));
      const why = fieldError ?? (p.rejected ? `${p.rejected}. Type it again.` : null);
      if (why) {
        pin.after(el("p", { class: "error field-error", id: "current-so-pin-rejected", role: "alert" }, why));
        pin.setAttribute("aria-invalid", "true");
        pin.setAttribute("aria-describedby", "current-so-pin-rejected current-so-pin-hint");
      }
      pin.setAttribute("data-autofocus", "");
      form.append(box, submit("Check the current SO PIN"));
      onSubmit(() => ({ kind: "current-so-pin", pin: pin.value }));
      break;
    }
    case "new-pins": {
      const [a, so] = secretField("new-so", "New SO PIN", "At least 8 characters.");
      const [b, so2] = secretField("new-so-again", "New SO PIN again", "");
      const [c, user] = secretField("new-user", "New user PIN", "At least 8 characters.");
      const [d, user2] = secretField("new-user-again", "New user PIN again", "");
      form.append(el("h3", {}, `New PINs for ${p.token}`), a, b, c, d, submit("Initialise the token"));
      onSubmit(() => {
        if (so.value !== so2.value || user.value !== user2.value) {
          showError("The two entries of a PIN differ: type them again.");
          return null;
        }
        return { kind: "new-pins", so: so.value, user: user.value };
      });
      break;
    }
    case "show-share":
      return shareDistribution(p, redraw, showError);
    case "verify-share": {
      form.append(el("h3", {}, `${p.custodian_name} proves share ${p.index}`));
      if (p.yubikey_serial !== null) {
        // Sealed to the custodian's YubiKey: their card and PIN open it, nothing is typed.
        const [box, pin] = secretField("share-yubikey-pin", "YubiKey PIN", "The custodian types it; it is never shown or stored.");
        form.append(
          el("p", { id: "share-yubikey-insert" }, `Insert the YubiKey of ${p.custodian_name} (serial ${p.yubikey_serial}), then enter its PIN.`),
          box,
          submit("Verify with the YubiKey"),
        );
        onSubmit(() => ({ kind: "share-yubikey", pin: pin.value }));
      } else if (p.sealed_file) {
        const [box, pass] = secretField("share-passphrase", "Passphrase of the sealed share", p.sealed_file);
        form.append(box, submit("Verify"));
        onSubmit(() => ({ kind: "share-sealed", file: p.sealed_file as string, passphrase: pass.value }));
      } else {
        const [box, text] = secretField("share-text", "The share, typed from your copy", "Groups of four characters; spaces and case do not matter.");
        form.append(box, submit("Verify"));
        onSubmit(() => ({ kind: "share-text", text: text.value }));
      }
      break;
    }
    case "sign-off": {
      const who = participantSelect("signoff-who", p.candidates);
      const [pinBox, pin] = secretField("signoff-yubikey-pin", "YubiKey PIN (optional)", "Only to sign with an enrolled YubiKey; leave empty for a signature on paper.");
      // The result card: what the step's action did, read aloud before anyone signs.
      const card = el("dl", { id: "step-result", class: "result-card" });
      for (const l of p.result) card.append(el("dt", {}, l.label), el("dd", {}, l.value));
      form.append(
        el("h3", {}, `Sign-off of step ${p.step}`),
        ...(p.result.length ? [el("p", {}, "Result — read it aloud, then sign off:"), card] : []),
        el("p", {}, `${p.remaining} more sign-off(s) by a ${p.role} needed.`),
        labelled("signoff-who", `Signing ${p.role}`, who),
        pinBox,
        submit("Sign off"),
      );
      // An enrolled custodian may sign with their YubiKey: a PIN typed here asks for it.
      onSubmit(() => (pin.value ? { kind: "sign-off-yubikey", participant: who.value, pin: pin.value } : { kind: "sign-off", participant: who.value }));
      break;
    }
    case "exception-decision": {
      // Radio buttons, not a select: a key like End on a focused select silently changed the
      // decision. Arrow keys move between them; the first (retry, else skip) is chosen.
      const said: Record<string, string> = {
        retry: "Retry — back to where the step was",
        skip: "Skip the step (a witness must be among those deciding)",
        abort: "Abort the ceremony",
      };
      const decision = el("fieldset", { id: "exception-decision", class: "choices" }, el("legend", {}, "Decision"));
      (p.retry_allowed ? ["retry", "skip", "abort"] : ["skip", "abort"]).forEach((d, i) => {
        const r = el("input", { type: "radio", name: "decision", value: d, id: `decision-${d}` });
        r.checked = i === 0;
        decision.append(el("label", { class: "choice", for: `decision-${d}` }, r, said[d]));
      });
      const boxes = el("fieldset", { id: "exception-who" }, el("legend", {}, "Decided by"));
      for (const x of people)
        boxes.append(el("label", { class: "check" }, el("input", { type: "checkbox", value: x.id, "data-participant": x.id }), ` ${x.name} (${x.id})`));
      const [rBox, reason] = field("exception-reason", "Why", "Recorded in the journal and the record.");
      form.setAttribute("role", "alertdialog");
      form.setAttribute("aria-labelledby", "exception-title");
      form.append(
        el("h3", { id: "exception-title", class: "exception-title" }, `EXCEPTION ${p.exception_id} in step ${p.step}`),
        facts([
          ["Expected", p.expected, "expected"],
          ["Happened", p.happened, "happened"],
        ]),
        decision,
        boxes,
        rBox,
        submit("Record the decision"),
      );
      onSubmit(() => ({
        kind: "decide",
        decision: decision.querySelector<HTMLInputElement>("input:checked")?.value ?? "",
        decided_by: [...boxes.querySelectorAll<HTMLInputElement>("input:checked")].map((i) => i.value),
        reason: reason.value,
      }));
      break;
    }
    case "enrol-yubikey":
      enrolForm(p, kit);
      break;
    case "choose-key":
      chooseKeyForm(p, kit);
      break;
    case "approval":
      // Recovery presents shares of any kind, not approvals on cards.
      if (p.operation === "recover") recoverForm(p, kit);
      else approvalForm(p, kit);
      break;
    case "done":
      return doneView(p.summary, p.checkpoint_qr);
  }
  return form;
}

/** The system clock as the witness compares it: the engine's reading first, then this
 * machine's clock every second (the same clock the engine read), until the screen changes. */
function liveUtc(reading: string): HTMLElement {
  const out = el("strong", { id: "clock-utc", "aria-live": "off" }, reading);
  const tick = window.setInterval(() => {
    if (!out.isConnected) {
      window.clearInterval(tick);
      return;
    }
    out.textContent = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
  }, 1000);
  return out;
}

/** The closed ceremony: outcome (green only when completed), the record and the closing
 * checkpoint to write on it, and the record's full verification, as `keyrite record verify`. */
function doneView(s: Summary, qr: QrView | null): HTMLElement {
  const completed = s.outcome === "completed";
  const box = el("div", { id: "prompt-form", class: "done-box", "data-outcome": s.outcome });
  const counts = `${s.steps_completed} steps completed, ${s.steps_skipped} skipped, ${s.exceptions} exceptions.`;
  box.append(
    el("h3", {}, `Ceremony ${s.outcome}`),
    message(
      completed ? "ok" : "warn",
      completed ? `Ceremony ${s.ceremony_id} completed.` : `Ceremony ${s.ceremony_id} was ${s.outcome.toUpperCase()}: it did not complete. The journal holds what happened and the exception decisions.`,
      "ceremony-outcome",
    ),
    el("p", { id: "ceremony-summary" }, counts),
  );
  const cp = s.closing_checkpoint;
  box.append(
    facts([
      [
        "Record (signed PDF)",
        s.record_path ?? (completed ? `produced before a resume: DATA/records/${s.ceremony_id}.pdf` : "none: the ceremony closed without a record (see the Journal screen)"),
        "record-path",
      ],
      ["Closing checkpoint: entries", cp ? String(cp.size) : null, "checkpoint-size"],
      ["Closing checkpoint: root in words", cp ? cp.root_words : null, "checkpoint-words"],
      ["Closing checkpoint: root (hex)", cp ? cp.root : null, "checkpoint-hex"],
      ["Checkpoint file", cp ? cp.file : null, "checkpoint-file"],
      ["No closing checkpoint", s.closing_checkpoint_unavailable, "checkpoint-unavailable"],
    ]),
  );
  if (cp) box.append(el("p", { class: "hint" }, "The witness writes the checkpoint's size and words on the printed record."));
  if (qr) box.append(checkpointQr(qr));
  const out = el("div", { id: "done-verify", "aria-live": "polite" });
  const actions = el("div", { class: "actions" });
  let printed: HTMLElement | null = null;
  if (s.record_path) {
    const path = s.record_path;
    const verify = el("button", { id: "done-verify-button", type: "button", "data-autofocus": "" }, "Verify the record");
    verify.addEventListener("click", () =>
      void busy(verify, async () => {
        try {
          const v = await recordVerify(path, null);
          out.replaceChildren(verdictView(v, path));
          out.dataset.verdict = v.valid ? "valid" : "rejected";
        } catch (e) {
          out.replaceChildren(message("error", errText(e), "done-verify-error"));
          out.dataset.verdict = "error";
        }
      }),
    );
    const [print, printOut] = printRecordButton(path);
    actions.append(verify, print);
    printed = printOut;
  }
  const back = el("button", { id: "ceremony-close", type: "button" }, "Close this ceremony screen");
  if (!s.record_path) back.setAttribute("data-autofocus", "");
  back.addEventListener("click", () => void ceremonyPause().then(() => renderCeremony(document.getElementById("screen") as HTMLElement)));
  actions.append(back);
  box.append(actions);
  if (printed) box.append(printed);
  box.append(out);
  return box;
}

/** One custodian at a time: others look away, the share is shown on request, typed back, cleared. */
function shareDistribution(p: Extract<PromptView, { kind: "show-share" }>, redraw: (v: CeremonyView) => void, showError: (e: unknown) => void): HTMLElement {
  const box = el("div", { id: "prompt-form", class: "share-box" });
  const intro = () => {
    const show = el("button", { id: "share-show", type: "button" }, `I am ${p.custodian_name}: show my share`);
    // Focus goes to the heading, never to the button: one stray Enter must not show a share.
    const heading = el("h3", { id: "share-heading", tabindex: "-1", "data-autofocus": "" }, `Share ${p.index} of ${p.count} for ${p.custodian_name}`);
    box.replaceChildren(
      heading,
      message("error", `Everyone except ${p.custodian_name}: look away from the screen now.`, "share-look-away"),
      facts([
        ["Share set (words)", p.set_words, "set-words"],
        ["Share fingerprint (words)", p.fingerprint_words, "fingerprint-words"],
      ]),
      show,
    );
    show.addEventListener("click", () =>
      void busy(show, async () => {
        try {
          reveal(await ceremonyShare());
        } catch (e) {
          showError(e);
        }
      }),
    );
    heading.focus();
  };
  const reveal = (share: ShareOnScreen) => {
    const words = el("p", { id: "share-human", class: "share-human" }, share.human_form);
    const qr = qrCanvas(share);
    // Drop our references: from here the share lives only in the DOM nodes, removed below.
    share.human_form = "";
    share.qr_modules = [];
    const form = el("form", { id: "share-confirm-form", novalidate: "" });
    const [checkBox, check] = field("share-check", "Type the last two groups of your copy", "This proves the copy is complete. The share is then cleared from the screen.");
    const [sealBox, seal] = secretField("share-seal", "Also seal it to a passphrase (optional)", "Writes an encrypted file for this share in the data directory.");
    const confirm = el("button", { id: "share-confirm", type: "submit" }, "Confirm and clear the share");
    const hide = el("button", { id: "share-hide", type: "button" }, "Hide the share");
    form.append(checkBox, sealBox, confirm, hide);
    const clear = () => {
      words.textContent = "";
      qr.width = 0;
      qr.remove();
    };
    hide.addEventListener("click", () => {
      clear();
      intro();
    });
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      void busy(confirm, async () => {
        try {
          const v = await ceremonyShareConfirm(check.value, seal.value || null);
          check.value = "";
          seal.value = "";
          clear();
          redraw(v);
        } catch (e) {
          showError(e);
        }
      });
    });
    box.replaceChildren(el("h3", {}, `Share ${p.index} of ${p.count} — only ${p.custodian_name} looks`), el("div", { class: "share-show" }, words, qr), form);
    check.focus();
  };
  intro();
  return box;
}

function drawCeremony(root: HTMLElement, v: CeremonyView, error?: unknown): void {
  renders += 1;
  const err = el("div", { id: "prompt-error", "aria-live": "assertive" });
  const showError = (e: unknown) => err.replaceChildren(message("error", errText(e), "prompt-error-text"));
  const redraw = (nv: CeremonyView) => drawCeremony(root, nv);
  const send: Send = async (a) => {
    // A new attempt: the previous refusal is no longer the news.
    err.replaceChildren();
    try {
      redraw(await ceremonyAnswer(a));
    } catch (e) {
      // A refused approval is counted by the engine (failed attempts are listed): show the
      // prompt as it is now, with the refusal.
      // A rejected PIN: the prompt asks again with the token's words, shown beside the field.
      if (v.prompt.kind === "approval" || v.prompt.kind === "pin" || v.prompt.kind === "current-so-pin") {
        const now = await ceremonyCurrent().catch(() => null);
        if (now) return drawCeremony(root, now, e);
      }
      showError(e);
    }
  };
  const main = el(
    "section",
    { id: "ceremony-view", "aria-labelledby": "ceremony-title", "data-kind": v.prompt.kind, "data-render": String(renders) },
    el("div", { class: "panel-head" }, el("h2", { id: "ceremony-title" }, "Now")),
    // The done screen says the outcome itself (green only for completed).
    v.progress && v.prompt.kind !== "done" ? message("ok", v.progress, "ceremony-progress") : "",
    err,
    promptForm(v, send, redraw, showError, error !== undefined && (v.prompt.kind === "pin" || v.prompt.kind === "current-so-pin") ? errText(error) : null),
  );
  const stopped = (said: string | null) => drawChooser(root, said);
  root.replaceChildren(
    ceremonyBanner(v),
    el("h2", { class: "screen-title", tabindex: "-1" }, "Run a ceremony"),
    byHandBar(v, redraw, stopped),
    el("div", { class: "ceremony-grid" }, main, statusPanel(v)),
  );
  if (error !== undefined && v.prompt.kind !== "pin" && v.prompt.kind !== "current-so-pin") showError(error);
  const first = main.querySelector<HTMLElement>("[data-autofocus]") ?? main.querySelector<HTMLElement>("input, select, button[type=submit]");
  first?.focus();
}

function drawChooser(root: HTMLElement, said: string | null = null): void {
  const sec = panel("ceremony-choose", "Or type the path of a script");
  const form = el("form", { id: "script-form", novalidate: "" });
  const [box, path] = field("script-path", "Ceremony script", "Full path of the reviewed script, e.g. /media/usb/root-key-generation.toml.", scriptPath);
  const load = el("button", { id: "script-load", type: "submit" }, "Load and check");
  form.append(box, load);
  const details = el("div", { id: "script-details", "aria-live": "polite" });
  const unfinished = panel("ceremony-unfinished", "Unfinished ceremonies (resume after a restart)");
  const ulist = el("div");
  unfinished.append(ulist);
  sec.append(form, details);
  sec.dataset.state = "idle";
  const picker = pickerPanel((v) => drawCeremony(root, v));
  root.replaceChildren(el("h2", { class: "screen-title", tabindex: "-1" }, "Run a ceremony"), stoppedNotice(said), unfinished, picker, sec);
  // After a stop, focus lands on the screen's title (the notice under it says what happened).
  if (said) root.querySelector<HTMLElement>(".screen-title")?.focus();

  const err = (e: unknown, where: HTMLElement) => where.replaceChildren(message("error", errText(e), "ceremony-start-error"));
  const loadUnfinished = async () => {
    try {
      const list = await ceremonyUnfinished();
      if (!list.length) {
        ulist.replaceChildren(el("p", { class: "muted" }, "None."));
      } else {
        ulist.replaceChildren(
          ...list.map((u, i) => {
            const h = u.ceremony;
            const rowErr = el("div", { class: "resume-error", id: `resume-error-${i}`, "aria-live": "assertive" });
            // Resumed with the shipped script of the hash journaled at its start; only when no
            // shipped script has it, with the reviewed copy's path typed below.
            const b = u.shipped_script
              ? el("button", { type: "button", "data-resume": h.ceremony_id, "aria-describedby": `resume-error-${i}` }, `Resume ${h.ceremony_id}`)
              : el("button", { type: "button", "data-resume-typed": h.ceremony_id, "aria-describedby": `resume-error-${i}` }, `Resume ${h.ceremony_id} with the script path typed below`);
            b.addEventListener("click", () =>
              void busy(b, async () => {
                rowErr.replaceChildren();
                try {
                  drawCeremony(root, await ceremonyResume(u.shipped_script ? null : path.value, h.ceremony_id));
                } catch (e) {
                  rowErr.replaceChildren(message("error", errText(e), `resume-error-text-${i}`));
                }
              }).then(() => {
                // A refusal: said beside the button, which keeps the focus (enabled again).
                if (rowErr.childElementCount) b.focus();
              }),
            );
            return el(
              "div",
              { class: "resume-row", "data-ceremony-id": h.ceremony_id },
              el("h3", {}, `${u.script_title ?? h.script_name} — ${h.ceremony_id}`),
              facts([
                ["Mode", h.mode, "resume-mode"],
                ["Progress", `${h.steps_completed.length} steps completed${h.current_step ? `, stopped in step ${h.current_step}` : ""}`, "resume-progress"],
                ["Script in words", u.script_words, "resume-script-words"],
                ["Shipped script", u.shipped_script, "resume-script"],
              ]),
              u.not_shipped ? message("warn", u.not_shipped, `resume-not-shipped-${i}`) : "",
              rowErr,
              b,
            );
          }),
        );
      }
      unfinished.dataset.state = "ok";
    } catch (e) {
      err(e, ulist);
      unfinished.dataset.state = "error";
    }
  };
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    void busy(load, async () => {
      try {
        const s = await scriptInspect(path.value);
        scriptPath = path.value;
        const steps = el("ol", { id: "script-steps" });
        for (const [, id, title, role, action] of s.steps) steps.append(el("li", { "data-step": id }, `${title} — ${role}, ${action}`));
        const purpose = el("div", { class: "instructions" });
        purpose.append(renderMarkdown(s.purpose));
        const start = el("button", { id: "ceremony-start", type: "button" }, "Start this ceremony");
        start.addEventListener("click", () =>
          void busy(start, async () => {
            try {
              drawCeremony(root, await ceremonyStart(path.value));
            } catch (e) {
              err(e, details.querySelector("#start-error") as HTMLElement);
            }
          }),
        );
        details.replaceChildren(
          el("h3", {}, s.title),
          message("info", "Compare these words with the reviewed copy of the script before starting. They must be identical.", "script-compare"),
          facts([
            ["Script in words", s.words, "script-words"],
            ["SHA-256", s.sha256, "script-hex"],
            ["Id and version", `${s.id} ${s.version}`, "script-id"],
            ["Site profile", document.getElementById("mode-banner")?.dataset.mode === "production" ? "production (see the banner)" : "rehearsal (see the banner); start Keyrite with --profile FILE for another site profile", "profile"],
          ]),
          purpose,
          steps,
          el("div", { id: "start-error" }),
          start,
        );
        sec.dataset.state = "loaded";
      } catch (e) {
        err(e, details);
        sec.dataset.state = "error";
      }
    });
  });
  void loadUnfinished();
}

export function renderCeremony(root: HTMLElement): void {
  root.replaceChildren(el("h2", { class: "screen-title", tabindex: "-1" }, "Run a ceremony"), el("p", { class: "muted" }, "Loading…"));
  void ceremonyCurrent()
    .then((v) => (v ? drawCeremony(root, v) : drawChooser(root)))
    .catch((e) => root.append(message("error", errText(e))));
}
