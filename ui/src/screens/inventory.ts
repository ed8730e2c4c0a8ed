// Inventory: every key with its state, location and rotation due date.
import { inventoryView, type InventoryView, type KeyRecord } from "../api";
import { el, errText, message, panel } from "../dom";

function keyRow(k: KeyRecord, inv: InventoryView): HTMLElement {
  const due = inv.due_now.includes(k.key_id) ? "now" : inv.due_soon.includes(k.key_id) ? "soon" : "no";
  const dueCell = el("td", { "data-field": "rotation-due" }, k.rotation_due.slice(0, 10));
  if (due !== "no") dueCell.append(" ", el("span", { class: `badge badge-due-${due}` }, due === "now" ? "DUE NOW" : "due soon"));
  return el(
    "tr",
    { "data-key-id": k.key_id, "data-state": k.state, "data-due": due },
    el("td", {}, el("strong", {}, k.key_id), el("br"), el("span", { class: "muted" }, k.label)),
    el("td", { "data-field": "state" }, el("span", { class: `state state-${k.state}` }, k.state)),
    el("td", {}, k.key_type, el("br"), el("span", { class: "muted" }, k.algorithm)),
    el("td", {}, k.token_serial, el("br"), el("span", { class: "muted" }, `CKA_ID ${k.cka_id}`)),
    dueCell,
    el("td", { class: "num" }, String(k.cryptoperiod_days)),
    el("td", { class: "num" }, String(k.backups.length)),
  );
}

export function renderInventory(root: HTMLElement): void {
  const onlyDue = el("input", { id: "inventory-only-due", type: "checkbox" });
  const filter = el("label", { class: "check" }, onlyDue, " Only keys due for rotation");
  const refresh = el("button", { id: "inventory-refresh", type: "button" }, "Refresh");
  const sec = panel("inventory-keys", "Keys", filter, refresh);
  const body = el("div");
  sec.append(body);
  root.replaceChildren(el("h2", { class: "screen-title", tabindex: "-1" }, "Inventory"), sec);

  let inv: InventoryView | null = null;
  const draw = () => {
    if (!inv) return;
    if (!inv.exists || !inv.keys.length) {
      body.replaceChildren(el("p", { class: "muted", id: "inventory-empty" }, "The inventory holds no keys yet."));
      return;
    }
    const keys = onlyDue.checked ? inv.keys.filter((k) => inv!.due_soon.includes(k.key_id)) : inv.keys;
    body.replaceChildren(
      el(
        "p",
        { class: "muted", id: "inventory-summary" },
        `${inv.keys.length} keys; ${inv.due_now.length} due for rotation now, ${inv.due_soon.length} within ${inv.soon_days} days (as of ${inv.as_of.slice(0, 10)}).`,
      ),
      el(
        "table",
        { id: "inventory-table" },
        el(
          "thead",
          {},
          el("tr", {}, ...["Key", "State", "Type", "Token", "Rotation due", "Cryptoperiod (days)", "Backups"].map((h) => el("th", { scope: "col" }, h))),
        ),
        el("tbody", {}, ...keys.map((k) => keyRow(k, inv!))),
      ),
    );
  };
  const load = async () => {
    sec.dataset.state = "loading";
    try {
      inv = await inventoryView();
      draw();
      sec.dataset.state = "ok";
    } catch (e) {
      body.replaceChildren(message("error", errText(e)));
      sec.dataset.state = "error";
    }
  };
  onlyDue.addEventListener("change", draw);
  refresh.addEventListener("click", () => void load());
  void load();
}
