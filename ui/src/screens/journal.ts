// Journal: the verified head, a verify button, and the entries newest first.
import { journalEntries, journalVerify, type EntryView, type JournalVerdict } from "../api";
import { busy, el, errText, facts, message, panel, short } from "../dom";

const PAGE = 50;

/** The verdict block shared by Home and the journal screen. */
export function journalVerdictView(v: JournalVerdict): HTMLElement {
  if (!v.exists) {
    return el(
      "div",
      { class: "verdict", "data-verdict": "empty" },
      el("p", { class: "info" }, "No journal yet: nothing has been recorded in this data directory."),
      facts([["Database", v.db, "db"]]),
    );
  }
  const head = v.ok
    ? message("ok", `Verified: all ${v.size} entries and the Merkle head check out.`)
    : message(
        "error",
        `VERIFICATION FAILED${v.first_bad_seq !== null ? ` at entry ${v.first_bad_seq}` : ""}: ${v.error ?? ""}`,
      );
  head.id = "journal-verdict-text";
  return el(
    "div",
    { class: "verdict", "data-verdict": v.ok ? "ok" : "failed", "data-first-bad-seq": v.first_bad_seq === null ? "" : String(v.first_bad_seq) },
    head,
    facts([
      ["Entries", String(v.size), "size"],
      ["Root in words", v.root_words, "root-words"],
      ["Root (hex)", v.root_hex, "root-hex"],
      ["Journal", v.origin, "origin"],
      ["Database", v.db, "db"],
      ["Checked", v.checked_at.replace("T", " ").replace("Z", " UTC"), "checked-at"],
    ]),
  );
}

function entryRow(e: EntryView, bad: number | null): HTMLElement {
  const fields = el("dl", { class: "entry-fields" });
  for (const [k, v] of e.fields) fields.append(el("dt", {}, k), el("dd", {}, v));
  for (const [k, v] of e.details) fields.append(el("dt", { class: "detail" }, k), el("dd", {}, v));
  const attrs: Record<string, string> = { "data-seq": String(e.seq), "data-kind": e.kind };
  if (bad !== null && e.seq === bad) attrs["data-bad"] = "true";
  return el(
    "tr",
    attrs,
    el("td", { class: "num" }, String(e.seq)),
    el("td", {}, e.time.replace("T", " ").slice(0, 19)),
    el("td", {}, el("strong", {}, e.kind), fields),
    el("td", {}, short(e.entry_hash)),
  );
}

export function renderJournal(root: HTMLElement): void {
  const verifyBtn = el("button", { id: "journal-verify", type: "button" }, "Verify the journal");
  const head = panel("journal-head", "Verification", verifyBtn);
  const verdict = el("div", { id: "journal-verdict", "aria-live": "polite" });
  head.append(verdict);

  const older = el("button", { id: "journal-older", type: "button" }, "Older entries");
  const newest = el("button", { id: "journal-newest", type: "button" }, "Newest");
  const list = panel("journal-entries", "Entries, newest first", newest, older);
  const status = el("p", { id: "journal-page", class: "muted" });
  const tbody = el("tbody", { id: "journal-rows" });
  list.append(
    status,
    el(
      "table",
      { class: "entries" },
      el("thead", {}, el("tr", {}, ...["Seq", "Time (UTC)", "Event", "Entry hash"].map((h) => el("th", { scope: "col" }, h)))),
      tbody,
    ),
  );
  root.replaceChildren(el("h2", { class: "screen-title", tabindex: "-1" }, "Journal"), head, list);

  let bad: number | null = null;
  let before: number | null = null;
  let lowest = 0;

  const loadPage = async (b: number | null) => {
    list.dataset.state = "loading";
    try {
      const page = await journalEntries(b, PAGE);
      before = b;
      tbody.replaceChildren(...page.entries.map((e) => entryRow(e, bad)));
      lowest = page.entries.length ? page.entries[page.entries.length - 1].seq : 0;
      status.textContent = page.entries.length
        ? `Showing entries ${lowest} to ${page.entries[0].seq} of ${page.size}.`
        : "The journal has no entries.";
      older.disabled = lowest === 0;
      newest.disabled = b === null;
      list.dataset.state = "ok";
    } catch (e) {
      tbody.replaceChildren();
      status.textContent = errText(e);
      list.dataset.state = "error";
    }
  };
  const verify = async () => {
    head.dataset.state = "loading";
    try {
      const v = await journalVerify();
      bad = v.first_bad_seq;
      verdict.replaceChildren(journalVerdictView(v));
      head.dataset.state = v.ok ? "ok" : "tampered";
      // Show the page holding the first bad entry.
      await loadPage(bad !== null ? bad + Math.floor(PAGE / 2) : before);
    } catch (e) {
      verdict.replaceChildren(message("error", errText(e)));
      head.dataset.state = "error";
    }
  };
  verifyBtn.addEventListener("click", () => void busy(verifyBtn, verify));
  older.addEventListener("click", () => void loadPage(lowest));
  newest.addEventListener("click", () => void loadPage(null));
  verdict.replaceChildren(el("p", { class: "muted" }, "Not verified on this screen yet: press “Verify the journal”."));
  head.dataset.state = "idle";
  void loadPage(null);
}
