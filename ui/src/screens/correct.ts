// "Correct a check-in…": until the ceremony's first HSM action, the seat checked in under the
// wrong name (a typo, a name typed ahead onto the wrong role) gets the right one, with a
// reason. The engine decides whether it may and journals it; this only asks and shows.
import { ceremonyCorrect, type CeremonyView } from "../api";
import { busy, el, field } from "../dom";
import { fieldError, modal } from "./byhand";

function correctDialog(v: CeremonyView, redraw: (v: CeremonyView) => void): void {
  const seat = el("select", { id: "correct-seat" });
  for (const p of v.status.participants) seat.append(el("option", { value: p.id }, `${p.id}: checked in as ${p.name}`));
  const [nBox, name] = field("correct-name", "The right name", "The name of the person who holds this seat.");
  const [rBox, reason] = field("correct-reason", "Why", "Said in the journal and listed in the record, with the name before and after.");
  const send = el("button", { id: "correct-confirm", type: "submit" }, "Correct the check-in");
  const cancel = el("button", { id: "correct-cancel", type: "button" }, "Cancel");
  const form = el(
    "form",
    { id: "correct-form", novalidate: "" },
    el("p", { id: "correct-text" }, "Possible until the ceremony's first HSM action; after it, a wrong check-in is an exception."),
    el("div", { class: "field" }, el("label", { for: "correct-seat" }, "Seat"), seat),
    nBox,
    rBox,
    el("div", { class: "actions" }, send, cancel),
  );
  const { box, close } = modal("correct-dialog", "dialog", "Correct a check-in", form);
  box.setAttribute("aria-describedby", "correct-text");
  cancel.addEventListener("click", close);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    void busy(send, async () => {
      try {
        const nv = await ceremonyCorrect(seat.value, name.value, reason.value);
        close();
        redraw(nv);
      } catch (e) {
        fieldError(name, "correct-error", e);
      }
    });
  });
  seat.focus();
}

/** The button, on the step screens while a check-in can still be corrected. */
export function correctButton(v: CeremonyView, redraw: (v: CeremonyView) => void): HTMLElement[] {
  if (!v.correctable || v.prompt.kind === "done") return [];
  const b = el("button", { id: "ceremony-correct", type: "button" }, "Correct a check-in…");
  b.addEventListener("click", () => correctDialog(v, redraw));
  return [b];
}
