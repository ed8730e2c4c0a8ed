// Custodians' YubiKeys on the ceremony screen: enrolment, choosing the key a quorum step acts
// on, and K-of-N approval. The engine decides who may enrol or approve and whether the quorum
// holds; these forms show its prompt and pass the answer on. PINs and PUKs leave the fields the
// moment they are sent (FormKit.onSubmit empties them).
import type { AnswerIn, ApprovalView, Approver, KeyChoice } from "../api";
import { busy, el, facts, field, message } from "../dom";

/** What the ceremony screen gives a prompt form. */
export interface FormKit {
  form: HTMLFormElement;
  /** The form's submit button (id prompt-submit). */
  submit: (label: string) => HTMLButtonElement;
  /** Builds the answer on submit (null: nothing sent, the form said why); the form's
   * password fields are emptied as soon as `make` returns. */
  onSubmit: (make: () => AnswerIn | null) => void;
  /** Sends an answer outside the form's submit (e.g. a second button). */
  send: (a: AnswerIn) => Promise<void>;
  showError: (e: unknown) => void;
}

export function secretField(id: string, label: string, hint: string): [HTMLElement, HTMLInputElement] {
  const [box, input] = field(id, label, hint);
  input.type = "password";
  return [box, input];
}

/** Empties every password field of `form` (called as soon as an answer is built). */
export function clearSecrets(form: HTMLElement): void {
  for (const i of form.querySelectorAll<HTMLInputElement>("input[type=password]")) i.value = "";
}

/** The custodian who was about to approve, kept across a redraw after a refused attempt. */
let chosenApprover: string | null = null;

export function enrolForm(p: { custodian: string; custodian_name: string; enrolled: number; count: number }, kit: FormKit): void {
  const { form, submit, onSubmit, showError } = kit;
  const name = p.custodian_name;
  const [serialBox, serial] = field("enrol-serial", "YubiKey serial", `${name}: read the serial number printed on your YubiKey and type it. Keyrite opens only the key with this serial and waits for it to be inserted.`);
  serial.inputMode = "numeric";
  const [a, curPin] = secretField("enrol-current-pin", "Current PIN", "A new YubiKey's is 123456.");
  const [b, newPin] = secretField("enrol-new-pin", "New PIN", "6 to 8 characters, not the default.");
  const [c, newPin2] = secretField("enrol-new-pin-again", "New PIN again", "Only you will know it.");
  const [d, curPuk] = secretField("enrol-current-puk", "Current PUK", "A new YubiKey's is 12345678.");
  const [e, newPuk] = secretField("enrol-new-puk", "New PUK", "Unblocks the PIN; 6 to 8 characters.");
  const [f, newPuk2] = secretField("enrol-new-puk-again", "New PUK again", "");
  const touch = el("input", { type: "checkbox", id: "enrol-touch" });
  form.dataset.custodian = p.custodian;
  form.dataset.custodianName = name;
  form.append(
    el("h3", {}, `Enrol the YubiKey of ${name} (${p.enrolled + 1} of ${p.count})`),
    message("info", `Only ${name} types on this screen; everyone else looks away from the keyboard. ${name}: insert your YubiKey now. Keyrite replaces its factory PIN, PUK and management key.`, "enrol-who"),
    serialBox,
    el("div", { class: "row" }, a, b, c),
    el("div", { class: "row" }, d, e, f),
    el("label", { class: "check" }, touch, " Require a touch of the YubiKey for every use of its keys"),
    submit("Enrol"),
  );
  onSubmit(() => {
    const s = serial.value.trim();
    // Input hygiene only: the engine checks the PINs themselves and the card checks the serial.
    const problem = !/^\d{1,10}$/.test(s) || Number(s) > 0xffffffff
      ? "The YubiKey serial is the number printed on the key, digits only, e.g. 12345678."
      : newPin.value !== newPin2.value
        ? "The two entries of the new PIN differ: type them again."
        : newPuk.value !== newPuk2.value
          ? "The two entries of the new PUK differ: type them again."
          : null;
    const answer: AnswerIn | null = problem
      ? null
      : { kind: "enrol", serial: Number(s), current_pin: curPin.value, new_pin: newPin.value, current_puk: curPuk.value, new_puk: newPuk.value, touch: touch.checked };
    if (problem) showError(problem);
    return answer;
  });
}

export function chooseKeyForm(p: { step: string; operation: string; candidates: KeyChoice[] }, kit: FormKit): void {
  const { form, submit, onSubmit, showError } = kit;
  const box = el("fieldset", { id: "key-choices", class: "choices" }, el("legend", {}, `Key to ${p.operation}`));
  for (const k of p.candidates)
    box.append(
      el(
        "label",
        { class: "choice" },
        el("input", { type: "radio", name: "key-choice", value: k.key_id, "data-key-id": k.key_id, "data-label": k.label }),
        el(
          "span",
          {},
          el("strong", {}, k.label),
          ` — ${k.algorithm}, `,
          el("span", { class: `state state-${k.state}` }, k.state),
          el("br", {}),
          el("span", { class: "words" }, k.fingerprint_words),
          el("span", { class: "muted" }, ` (inventory id ${k.key_id})`),
        ),
      ),
    );
  form.append(
    el("h3", {}, `Step ${p.step}: choose the key to ${p.operation}`),
    message("info", "Read aloud the label and the fingerprint words of the key chosen; the witness compares them with the invitation."),
    p.candidates.length ? box : message("error", `No key on this token can be ${p.operation === "destroy" ? "destroyed" : `${p.operation}d`} now. Pause, or raise an exception.`, "key-none"),
    submit("Choose this key"),
  );
  onSubmit(() => {
    const chosen = box.querySelector<HTMLInputElement>("input:checked");
    if (!chosen) {
      showError("Choose a key first (arrow keys move through the list).");
      return null;
    }
    return { kind: "choose-key", key_id: chosen.value };
  });
}

function approverText(a: Approver): string {
  return `${a.name} — YubiKey ${a.yubikey_serial}`;
}

function utc(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(".000Z", "Z");
}

export function approvalForm(p: ApprovalView, kit: FormKit): void {
  const { form, submit, onSubmit, send, showError } = kit;
  const k = p.approved.length;
  const approved = el("ul", { id: "approval-approved", class: "people" });
  for (const a of p.approved) approved.append(el("li", { "data-custodian": a.custodian_id }, `✔ ${approverText(a)}`));
  const insert = el("p", { id: "approval-insert", class: "insert", "aria-live": "polite" }, "Choose who approves now.");
  const [pinBox, pin] = secretField("approval-pin", "YubiKey PIN", "Only the custodian types it. It goes to their YubiKey and is never shown or stored.");
  const who = el("fieldset", { id: "approval-candidates", class: "choices" }, el("legend", {}, "Who approves now"));
  const choose = (a: Approver) => {
    chosenApprover = a.custodian_id;
    insert.textContent = `Insert the YubiKey of ${a.name} (serial ${a.yubikey_serial}), then enter the PIN.`;
    insert.classList.add("chosen");
  };
  for (const a of p.candidates) {
    const radio = el("input", { type: "radio", name: "approver", value: a.custodian_id, "data-custodian": a.custodian_id });
    radio.addEventListener("change", () => choose(a));
    if (a.custodian_id === chosenApprover) {
      radio.checked = true;
      choose(a);
      pin.dataset.autofocus = "";
    }
    who.append(
      el(
        "label",
        { class: "choice" },
        radio,
        el("span", {}, approverText(a), " ", el("span", { class: a.checked_in ? "flag flag-in" : "flag flag-out" }, a.checked_in ? "checked in" : "not checked in")),
      ),
    );
  }
  if (!p.candidates.some((a) => a.custodian_id === chosenApprover)) chosenApprover = null;
  const failures = el("ul", { id: "approval-failures" });
  for (const f of p.failures) failures.append(el("li", {}, f));
  const finish = el("button", { id: "approval-finish", type: "button" }, "No more approvals: submit");
  const finishHint = el("p", { class: "hint" }, "When no more custodians will approve:");
  const finishBox = el("div", { id: "approval-finish-box" }, finishHint, finish);
  finish.addEventListener("click", () => {
    const yes = el("button", { id: "approval-finish-confirm", type: "button" }, `Submit with ${k} of ${p.needed} approvals`);
    const no = el("button", { id: "approval-finish-cancel", type: "button" }, "Back");
    finishBox.replaceChildren(
      message("error", k < p.needed ? `Only ${k} of the ${p.needed} approvals needed: the ${p.operation} operation will be refused, the refusal journaled, and the step raises an exception.` : `Submit the ${k} approvals to the quorum check.`, "approval-finish-warning"),
      yes,
      no,
    );
    yes.addEventListener("click", () => void busy(yes, () => send({ kind: "submit-approvals" })));
    no.addEventListener("click", () => {
      finishBox.replaceChildren(finishHint, finish);
      finish.focus();
    });
    yes.focus();
  });
  form.dataset.approved = String(k);
  form.dataset.needed = String(p.needed);
  form.append(
    el("h3", {}, `Approve: ${p.operation} of key “${p.key_label}”`),
    el("p", { id: "approval-request", class: "request-text" }, p.request_text),
    message("info", "Custodians: compare these words with the words read aloud. Approve only if they are the same.", "approval-compare"),
    el("p", { id: "approval-hash-words", class: "hash-words" }, p.hash_words),
    el("p", { id: "approval-progress", class: "quorum-progress" }, el("strong", {}, `${k} of ${p.needed}`), " approvals"),
    k ? approved : el("p", { class: "muted", id: "approval-none" }, "Nobody has approved yet."),
    p.failures.length ? el("h4", {}, "Refused attempts (journaled with the outcome)") : "",
    p.failures.length ? failures : "",
    who,
    insert,
    pinBox,
    submit("Approve"),
    finishBox,
    facts([
      ["Step", p.step, "step"],
      ["Request SHA-256", p.request_sha256, "request-sha256"],
      ["Expires (UTC)", utc(p.expires_at), "expires"],
    ]),
  );
  onSubmit(() => {
    const chosen = who.querySelector<HTMLInputElement>("input:checked");
    const answer: AnswerIn | null = chosen ? { kind: "approve", custodian_id: chosen.value, pin: pin.value } : null;
    if (!chosen) showError("Choose who approves first (arrow keys move through the list).");
    return answer;
  });
}
