// The done screen's additions: the closing checkpoint as a QR code (drawn from the modules the
// core computed from the checkpoint's signed text) and "Print the record" (the core hands the
// signed PDF to CUPS; the queue and job id, or the cause of a failure, show beside the button).
import { recordPrint, type QrView } from "../api";
import { busy, el, errText, message } from "../dom";

/** Draws QR modules on a canvas (no image decoding, no markup). */
export function qrModulesCanvas(id: string, qr: QrView, label: string, scale: number): HTMLCanvasElement {
  const quiet = 4;
  const side = (qr.size + 2 * quiet) * scale;
  const c = el("canvas", { id, width: String(side), height: String(side), role: "img", "aria-label": label });
  const g = c.getContext("2d");
  if (g) {
    g.fillStyle = "#fff";
    g.fillRect(0, 0, side, side);
    g.fillStyle = "#000";
    qr.modules.forEach((dark, i) => {
      if (!dark) return;
      g.fillRect(((i % qr.size) + quiet) * scale, (Math.floor(i / qr.size) + quiet) * scale, scale, scale);
    });
  }
  return c;
}

/** The closing checkpoint's QR code, with what it holds. */
export function checkpointQr(qr: QrView): HTMLElement {
  return el(
    "figure",
    { id: "checkpoint-qr-figure" },
    qrModulesCanvas("checkpoint-qr", qr, "QR code of the closing checkpoint's signed text", 4),
    el("figcaption", { class: "hint" }, "The closing checkpoint's signed text (no secret): scan it later with `keyrite journal verify --checkpoint`."),
  );
}

/** "Print the record" and, beside it, where it went or why it did not print. */
export function printRecordButton(path: string): [HTMLButtonElement, HTMLElement] {
  const out = el("div", { id: "done-print", "aria-live": "polite" });
  const button = el("button", { id: "done-print-button", type: "button", "aria-describedby": "done-print" }, "Print the record");
  button.addEventListener("click", () =>
    void busy(button, async () => {
      try {
        const job = await recordPrint(path);
        out.replaceChildren(message("ok", `Sent to print queue ${job.queue} as job ${job.job_id}.`, "done-print-text"));
        out.dataset.state = "printed";
        out.dataset.job = job.job_id;
      } catch (e) {
        out.replaceChildren(message("error", errText(e), "done-print-text"));
        out.dataset.state = "error";
      }
    }),
  );
  return [button, out];
}
