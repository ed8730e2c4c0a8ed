// Root-key recovery on the ceremony screen: the custodians in the room present their shares of
// the set being recovered, each in the form it was issued — typed or scanned from the share
// card, the passphrase-sealed file and its passphrase, or the file sealed to their YubiKey
// (card and PIN). The engine checks every share against the journal and rebuilds the root KEK
// at K; this form lists who holds which share and passes one presentation on at a time. Shares,
// passphrases and PINs are password fields, emptied the moment the form is submitted.
import type { AnswerIn, ApprovalView, ShareHolder } from "../api";
import { busy, el, facts, message } from "../dom";
import { secretField, type FormKit } from "./quorum";

/** The holder who was about to present, kept across a redraw after a refused share. */
let chosenHolder: string | null = null;

function holderText(h: ShareHolder): string {
  const kind =
    h.yubikey_serial !== null
      ? `sealed to YubiKey ${h.yubikey_serial}`
      : h.sealed_file
        ? h.shown
          ? `card, or sealed file ${h.sealed_file}`
          : `sealed file ${h.sealed_file}`
        : "card";
  return `Share ${h.index}: ${h.name} — ${kind}`;
}

export function recoverForm(p: ApprovalView, kit: FormKit): void {
  const { form, submit, onSubmit, send, showError } = kit;
  const presented = p.holders.filter((h) => h.presented);
  const open = p.holders.filter((h) => !h.presented && h.custodian !== null);
  const absent = p.holders.filter((h) => !h.presented && h.custodian === null);
  const done = el("ul", { id: "recover-presented", class: "people" });
  for (const h of presented) done.append(el("li", { "data-index": String(h.index) }, `✔ ${holderText(h)}`));
  const who = el("fieldset", { id: "recover-holders", class: "choices" }, el("legend", {}, "Who presents a share now"));
  // What the chosen holder gives, for the form their share was issued in.
  const how = el("div", { id: "recover-how", "aria-live": "polite" }, el("p", { class: "insert" }, "Choose who presents a share now."));
  let inputs: { kind: "yubikey" | "card"; pin?: HTMLInputElement; text?: HTMLInputElement; pass?: HTMLInputElement; file?: string } | null = null;
  const choose = (h: ShareHolder) => {
    chosenHolder = h.custodian;
    if (h.yubikey_serial !== null) {
      const [box, pin] = secretField("recover-yubikey-pin", "YubiKey PIN", "Only the custodian types it; it goes to their YubiKey and is never shown or stored.");
      how.replaceChildren(el("p", { id: "recover-insert", class: "insert chosen" }, `Insert the YubiKey of ${h.name} (serial ${h.yubikey_serial}), then enter its PIN.`), box);
      inputs = { kind: "yubikey", pin };
      return;
    }
    const [tBox, text] = secretField("recover-share-text", "The share, typed or scanned from the card", "Groups of four characters; spaces and case do not matter. A scanner may type the card's QR code here. It is never shown.");
    const parts: HTMLElement[] = [el("p", { id: "recover-insert", class: "insert chosen" }, `${h.name}: type or scan share ${h.index} from your card${h.sealed_file ? ", or give the passphrase of your sealed file" : ""}.`), tBox];
    let pass: HTMLInputElement | undefined;
    if (h.sealed_file) {
      const [pBox, p2] = secretField("recover-passphrase", "Or: the sealed file's passphrase", `Opens ${h.sealed_file}; leave the share above empty. It is never shown.`);
      parts.push(pBox);
      pass = p2;
    }
    how.replaceChildren(...parts);
    inputs = { kind: "card", text, pass, file: h.sealed_file ?? undefined };
  };
  for (const h of open) {
    const radio = el("input", { type: "radio", name: "holder", value: h.custodian as string, "data-custodian": h.custodian as string, "data-name": h.name, "data-index": String(h.index) });
    radio.addEventListener("change", () => choose(h));
    if (h.custodian === chosenHolder) radio.checked = true;
    who.append(el("label", { class: "choice" }, radio, el("span", {}, holderText(h), ` (${h.custodian})`)));
  }
  const again = open.find((h) => h.custodian === chosenHolder);
  if (again) {
    choose(again);
    how.querySelector<HTMLInputElement>("input")?.setAttribute("data-autofocus", "");
  } else chosenHolder = null;
  const failures = el("ul", { id: "recover-failures" });
  for (const f of p.failures) failures.append(el("li", {}, f));
  const k = presented.length;
  const finish = el("button", { id: "recover-finish", type: "button" }, "No more shares: rebuild with these");
  const finishBox = el("div", { id: "recover-finish-box" }, finish);
  finish.addEventListener("click", () => {
    const yes = el("button", { id: "recover-finish-confirm", type: "button" }, `Rebuild with ${k} of ${p.needed} shares`);
    const no = el("button", { id: "recover-finish-cancel", type: "button" }, "Back");
    finishBox.replaceChildren(message("error", `Only ${k} of the ${p.needed} shares needed: the root KEK will not be rebuilt, and the step raises an exception.`, "recover-finish-warning"), yes, no);
    yes.addEventListener("click", () => void busy(yes, () => send({ kind: "submit-approvals" })));
    no.addEventListener("click", () => {
      finishBox.replaceChildren(finish);
      finish.focus();
    });
    yes.focus();
  });
  form.dataset.presented = String(k);
  form.dataset.needed = String(p.needed);
  form.append(
    el("h3", {}, `Recover the root KEK “${p.key_label}”`),
    el("p", { id: "recover-request", class: "request-text" }, p.request_text),
    message("info", "Read the share set's words aloud; each custodian compares them with the words on their card.", "recover-compare"),
    el("p", { id: "recover-set-words", class: "hash-words" }, p.hash_words),
    el("p", { id: "recover-progress", class: "quorum-progress" }, el("strong", {}, `${k} of ${p.needed}`), " shares presented"),
    k ? done : el("p", { class: "muted", id: "recover-none" }, "No share presented yet."),
    absent.length ? el("p", { id: "recover-absent", class: "muted" }, `Not checked in: ${absent.map((h) => `share ${h.index} (${h.name})`).join(", ")}.`) : "",
    p.failures.length ? el("h4", {}, "Refused shares (journaled when the step ends)") : "",
    p.failures.length ? failures : "",
    open.length ? who : message("error", "No custodian in the room holds a share still to present.", "recover-nobody"),
    how,
    submit("Present this share"),
    k < p.needed ? finishBox : "",
    facts([
      ["Step", p.step, "step"],
      ["Share set", p.request_sha256, "share-set"],
    ]),
  );
  onSubmit(() => {
    const chosen = who.querySelector<HTMLInputElement>("input:checked");
    const i = inputs;
    if (!chosen || !i) {
      showError("Choose who presents a share first (arrow keys move through the list).");
      return null;
    }
    const custodian = chosen.value;
    if (i.kind === "yubikey") return { kind: "present-share-yubikey", custodian, pin: i.pin?.value ?? "" };
    const text = i.text?.value.trim() ?? "";
    const pass = i.pass?.value ?? "";
    let answer: AnswerIn | null = null;
    if (text && pass) showError("Give either the share from the card or the sealed file's passphrase, not both.");
    else if (text) answer = { kind: "present-share-text", custodian, text };
    else if (pass && i.file) answer = { kind: "present-share-sealed", custodian, file: i.file, passphrase: pass };
    else showError(i.pass ? "Type or scan the share from the card, or type the sealed file's passphrase." : "Type or scan the share from the card.");
    return answer;
  });
}
