// Records → Verify: an auditor types a PDF path; the Rust side reads and verifies it offline.
import { recordVerify, type RecordVerdict } from "../api";
import { busy, el, errText, facts, field, message, panel } from "../dom";

/** The core's verdict as the auditor's screen and the done screen show it. */
export function verdictView(v: RecordVerdict, path: string): HTMLElement {
  // The core's verdict line, word for word what `keyrite record verify` prints first.
  const box = el("div", { class: "verdict", "data-verdict": v.valid ? "valid" : "rejected" });
  // Green only when the signer is authenticated too: valid but not pinned is amber.
  box.append(message(v.valid ? (v.trust === "not-pinned" ? "warn" : "ok") : "error", v.verdict, "record-verdict-text"));
  const mark = { pass: "ok", fail: "FAIL", skipped: "skip" } as const;
  box.append(
    el("h3", {}, "Checks"),
    el(
      "table",
      { id: "record-checks" },
      el("thead", {}, el("tr", {}, ...["Check", "Result", "Details"].map((h) => el("th", { scope: "col" }, h)))),
      el(
        "tbody",
        {},
        ...v.checks.map((c) =>
          el("tr", { "data-check": c.check, "data-outcome": c.outcome }, el("td", {}, c.check), el("td", {}, mark[c.outcome]), el("td", {}, c.detail)),
        ),
      ),
    ),
  );
  box.append(
    facts([
      ["File", path, "path"],
      ["Size", `${v.size} bytes`, "size"],
      ["File SHA-256", v.file_sha256, "file-sha256"],
      ["Signer", v.signer_subject, "signer"],
      ["Key fingerprint (words)", v.spki_words, "spki-words"],
      ["Key fingerprint (hex)", v.spki_fingerprint, "spki-hex"],
      ["Trust", v.trust === null ? null : v.trust === "pinned" ? "pinned certificate" : "not pinned", "trust"],
      ["Signed at (UTC)", v.signing_time, "signing-time"],
      ["Reason", v.reason, "reason"],
      ["Location", v.location, "location"],
      ["Signed bytes", v.signed_len === null ? null : String(v.signed_len), "signed-len"],
    ]),
  );
  if (v.attachments.length) {
    box.append(
      el("h3", {}, "Embedded files"),
      el(
        "table",
        { id: "record-attachments" },
        el("thead", {}, el("tr", {}, ...["Name", "Type", "Bytes", "SHA-256"].map((h) => el("th", { scope: "col" }, h)))),
        el(
          "tbody",
          {},
          ...v.attachments.map((a) =>
            el("tr", { "data-name": a.name }, el("td", {}, a.name), el("td", {}, a.mime ?? "—"), el("td", { class: "num" }, String(a.size)), el("td", {}, el("code", {}, a.sha256))),
          ),
        ),
      ),
    );
  }
  return box;
}

export function renderRecords(root: HTMLElement): void {
  const sec = panel("record-verify", "Verify a signed record");
  const form = el("form", { id: "record-form", novalidate: "" });
  const [pathBox, path] = field("record-path", "PDF record", "Full path of the record, e.g. /media/usb/root-2026-05.pdf. Keyrite only reads it.");
  const [pinBox, pin] = field("record-pin", "Pinned signer certificate (optional)", "Full path of the site's record-signing certificate (DER). Without it, the signer is not authenticated.");
  const submit = el("button", { id: "record-verify-button", type: "submit" }, "Verify");
  form.append(pathBox, pinBox, submit);
  const out = el("div", { id: "record-result", "aria-live": "polite" });
  sec.append(form, out);
  sec.dataset.state = "idle";
  root.replaceChildren(el("h2", { class: "screen-title", tabindex: "-1" }, "Records"), sec);

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    void busy(submit, async () => {
      sec.dataset.state = "loading";
      try {
        const v = await recordVerify(path.value, pin.value.trim() ? pin.value : null);
        out.replaceChildren(verdictView(v, path.value.trim()));
        sec.dataset.state = v.valid ? "valid" : "rejected";
      } catch (e) {
        out.replaceChildren(message("error", errText(e), "record-error"));
        sec.dataset.state = "error";
      }
    });
  });
}
