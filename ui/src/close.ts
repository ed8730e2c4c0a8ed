// Closing the window mid-ceremony: the Rust side holds the close and sends this event; the
// window asks. "Keep working" is the default; closing anyway pauses the ceremony (it stays in
// the journal and is resumed from the list of unfinished ceremonies) and quits.
import { listen } from "@tauri-apps/api/event";
import { ceremonyCurrent, ceremonyPauseAndQuit } from "./api";
import { busy, el, errText, message } from "./dom";

async function confirmClose(): Promise<void> {
  if (document.getElementById("close-confirm")) return;
  const back = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  const v = await ceremonyCurrent().catch(() => null);
  const where = v ? `Ceremony ${v.status.ceremony_id} (${v.status.script_title})${v.status.current_step ? `, step ${v.status.current_step},` : ""} is running.` : "A ceremony is running.";
  const keep = el("button", { id: "close-keep", type: "button" }, "Keep working");
  const quit = el("button", { id: "close-pause", type: "button" }, "Pause the ceremony and close");
  const err = el("div", { "aria-live": "assertive" });
  const box = el(
    "div",
    { id: "close-confirm", class: "modal", role: "alertdialog", "aria-modal": "true", "aria-labelledby": "close-confirm-title", "aria-describedby": "close-confirm-text" },
    el(
      "div",
      { class: "modal-box" },
      el("h2", { id: "close-confirm-title" }, "Close Keyrite in the middle of a ceremony?"),
      el(
        "p",
        { id: "close-confirm-text" },
        `${where} Closing pauses it: everything done so far stays in the journal, and it is resumed from the list of unfinished ceremonies on the ceremony screen. Anything not yet journaled (a PIN typed, a share on screen) is forgotten.`,
      ),
      err,
      el("div", { class: "actions" }, keep, quit),
    ),
  );
  const dismiss = () => {
    box.remove();
    back?.focus();
  };
  keep.addEventListener("click", dismiss);
  quit.addEventListener("click", () =>
    void busy(quit, async () => {
      try {
        await ceremonyPauseAndQuit();
      } catch (e) {
        err.replaceChildren(message("error", errText(e)));
      }
    }),
  );
  // Modal: Escape keeps working; Tab stays between the two buttons.
  box.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") {
      ev.preventDefault();
      dismiss();
    } else if (ev.key === "Tab") {
      ev.preventDefault();
      (document.activeElement === keep ? quit : keep).focus();
    }
  });
  document.body.append(box);
  keep.focus();
}

export function watchCloseRequests(): void {
  void listen("keyrite://close-requested", () => void confirmClose());
}
