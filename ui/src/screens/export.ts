// SIEM export: format + output path → journal::export with a manifest beside the file.
import { journalExport } from "../api";
import { busy, el, errText, facts, field, message, panel } from "../dom";

function optNum(s: string): number | null {
  const t = s.trim();
  return t === "" ? null : Number(t);
}

export function renderExport(root: HTMLElement): void {
  const sec = panel("siem-export", "Export the journal for a SIEM");
  const form = el("form", { id: "export-form", novalidate: "" });
  const format = el("select", { id: "export-format" });
  for (const [v, label] of [
    ["jsonl", "JSON lines (OCSF 1.3)"],
    ["cef", "CEF (ArcSight Common Event Format)"],
    ["syslog", "Syslog (RFC 5424)"],
  ]) {
    format.append(el("option", { value: v }, label));
  }
  const fmtBox = el("div", { class: "field" }, el("label", { for: "export-format" }, "Format"), format);
  const [outBox, out] = field("export-out", "Output file", "Full path of a new file, e.g. /media/usb/keyrite-journal.jsonl. A manifest FILE.manifest.json is written beside it. Existing files are never overwritten.");
  const [fromBox, from] = field("export-from", "First entry (optional)", "Sequence number to start at; empty means 0.");
  const [toBox, to] = field("export-to", "Last entry (optional)", "Sequence number to end at; empty means the last entry.");
  for (const i of [from, to]) i.setAttribute("inputmode", "numeric");
  const submit = el("button", { id: "export-button", type: "submit" }, "Export");
  form.append(fmtBox, outBox, el("div", { class: "row" }, fromBox, toBox), submit);
  const result = el("div", { id: "export-result", "aria-live": "polite" });
  sec.append(form, result);
  sec.dataset.state = "idle";
  root.replaceChildren(el("h2", { class: "screen-title", tabindex: "-1" }, "SIEM export"), sec);

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = optNum(from.value);
    const t = optNum(to.value);
    for (const [n, label] of [[f, "First entry"], [t, "Last entry"]] as const) {
      if (n !== null && (!Number.isInteger(n) || n < 0)) {
        result.replaceChildren(message("error", `${label} must be a whole number (0 or more) or empty.`, "export-error"));
        sec.dataset.state = "error";
        return;
      }
    }
    void busy(submit, async () => {
      sec.dataset.state = "loading";
      try {
        const d = await journalExport(format.value, out.value, f, t);
        const m = d.manifest;
        result.replaceChildren(
          message("ok", `Exported ${m.count} events (entries ${m.first_seq} to ${m.last_seq}).`, "export-done"),
          facts([
            ["File", d.out, "out"],
            ["Manifest", d.manifest_path, "manifest"],
            ["File SHA-256", m.file_sha256, "file-sha256"],
            ["Journal head", `${m.head_size} entries, root ${m.head_root}`, "head"],
            ["Last entry hash", m.last_entry_hash, "last-entry-hash"],
          ]),
        );
        sec.dataset.state = "ok";
      } catch (e) {
        result.replaceChildren(message("error", errText(e), "export-error"));
        sec.dataset.state = "error";
      }
    });
  });
}
