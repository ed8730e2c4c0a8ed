// Small DOM helpers: every text goes through textContent (never innerHTML), so nothing the
// HSM, the journal or a file says can become markup.
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(typeof c === "string" ? document.createTextNode(c) : c);
  return node;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`missing element #${id}`);
  return node as T;
}

/** A definition list; rows with a null value are left out. `data-field` names each value. */
export function facts(rows: [string, string | null, string?][], cls = "facts-list"): HTMLDListElement {
  const dl = el("dl", { class: cls });
  for (const [k, v, field] of rows) {
    if (v === null) continue;
    dl.append(el("dt", {}, k), el("dd", { "data-field": field ?? k.toLowerCase().replace(/\W+/g, "-") }, v));
  }
  return dl;
}

/** A section with a heading (and optional buttons beside it). */
export function panel(id: string, title: string, ...actions: HTMLElement[]): HTMLElement {
  const h = el("h2", { id: `${id}-title` }, title);
  return el(
    "section",
    { id, "aria-labelledby": `${id}-title`, "data-state": "loading" },
    el("div", { class: "panel-head" }, h, ...actions),
  );
}

/** A message box; role=alert for errors and warnings so screen readers announce them. Green
 * ("ok") only for success; "warn" is amber. */
export function message(kind: "error" | "warn" | "ok" | "info", text: string, id?: string): HTMLElement {
  const attrs: Record<string, string> = { class: kind };
  if (kind === "error" || kind === "warn") attrs.role = "alert";
  if (id) attrs.id = id;
  return el("p", attrs, text);
}

/** A labelled text field: label, input, hint. */
export function field(id: string, label: string, hint: string, value = ""): [HTMLElement, HTMLInputElement] {
  const input = el("input", { id, type: "text", autocomplete: "off", spellcheck: "false", "aria-describedby": `${id}-hint` });
  input.value = value;
  const box = el(
    "div",
    { class: "field" },
    el("label", { for: id }, label),
    input,
    el("p", { class: "hint", id: `${id}-hint` }, hint),
  );
  return [box, input];
}

/** "(3f9a…c21e)" — a hash shortened for tables; the full value is in the title. */
export function short(hex: string): HTMLElement {
  return el("code", { title: hex }, hex.length > 16 ? `${hex.slice(0, 8)}…${hex.slice(-8)}` : hex);
}

/** Runs `work` with `button` disabled and the section marked busy. */
export async function busy(button: HTMLButtonElement, work: () => Promise<void>): Promise<void> {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    await work();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

export function errText(e: unknown): string {
  return typeof e === "string" ? e : e instanceof Error ? e.message : String(e);
}
