// A tiny, safe Markdown subset for ceremony script instructions, built as DOM nodes (never
// innerHTML): paragraphs (blank-line separated), numbered lists ("1. "), bullet lists ("- "),
// and **bold**. Everything else is shown as the literal text it is.
import { el } from "./dom";

/** Inline text with **bold** spans; an unmatched "**" stays literal. */
export function inline(text: string): (Node | string)[] {
  const out: (Node | string)[] = [];
  let rest = text;
  for (;;) {
    const start = rest.indexOf("**");
    const end = start < 0 ? -1 : rest.indexOf("**", start + 2);
    if (start < 0 || end < 0) {
      if (rest) out.push(rest);
      return out;
    }
    if (start > 0) out.push(rest.slice(0, start));
    out.push(el("strong", {}, rest.slice(start + 2, end)));
    rest = rest.slice(end + 2);
  }
}

type Block = { kind: "p" | "ol" | "ul"; lines: string[] };

/** Renders `source` into a fragment of <p>, <ol> and <ul> elements. */
export function renderMarkdown(source: string): DocumentFragment {
  const blocks: Block[] = [];
  let cur: Block | null = null;
  for (const raw of source.replace(/\r\n?/g, "\n").split("\n")) {
    const line = raw.trim();
    if (!line) {
      cur = null;
      continue;
    }
    const ol = /^\d+[.)]\s+(.*)$/.exec(line);
    const ul = /^[-*]\s+(.*)$/.exec(line);
    const kind: Block["kind"] = ol ? "ol" : ul ? "ul" : "p";
    const text = ol ? ol[1] : ul ? ul[1] : line;
    if (cur && cur.kind === kind) {
      cur.lines.push(text);
    } else if (cur && kind === "p" && cur.kind !== "p") {
      // A continuation line of a list item.
      cur.lines[cur.lines.length - 1] += ` ${text}`;
    } else {
      cur = { kind, lines: [text] };
      blocks.push(cur);
    }
  }
  const frag = document.createDocumentFragment();
  for (const b of blocks) {
    if (b.kind === "p") frag.append(el("p", {}, ...inline(b.lines.join(" "))));
    else frag.append(el(b.kind, {}, ...b.lines.map((l) => el("li", {}, ...inline(l)))));
  }
  return frag;
}
