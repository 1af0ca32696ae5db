// A small Markdown renderer that builds DOM nodes and sets text only through textContent and text
// nodes: nothing from the model or other users is ever parsed as HTML.
// Supports fenced code blocks, headings, bullet and numbered lists, block quotes, paragraphs,
// inline code, bold, italic and http(s) links.

const INLINE = [
  { kind: "code", re: /`([^`\n]+)`/ },
  { kind: "strong", re: /\*\*(?=\S)([\s\S]+?)\*\*/ },
  { kind: "strong", re: /(?<![A-Za-z0-9_.])__(?=\S)([\s\S]+?)__(?![A-Za-z0-9_])/ },
  { kind: "em", re: /\*(?=[^\s*])([^*\n]+?)\*/ },
  { kind: "em", re: /(?<![A-Za-z0-9_])_(?=[^\s_])([^_\n]+?)_(?![A-Za-z0-9_])/ },
  { kind: "link", re: /\[([^\]\n]+)\]\(([^)\s]+)\)/ },
];

function safeURL(href) {
  try {
    const url = new URL(href, window.location.origin);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

/** Appends inline Markdown `text` to `parent`. */
export function renderInline(text, parent) {
  let rest = text;
  while (rest.length) {
    let best = null;
    for (const rule of INLINE) {
      const match = rule.re.exec(rest);
      if (match && (best === null || match.index < best.match.index)) best = { rule, match };
    }
    if (!best) break;
    const { rule, match } = best;
    if (match.index > 0) appendText(parent, rest.slice(0, match.index));
    if (rule.kind === "code") {
      const code = document.createElement("code");
      code.textContent = match[1];
      parent.append(code);
    } else if (rule.kind === "link") {
      const href = safeURL(match[2]);
      if (href) {
        const a = document.createElement("a");
        a.setAttribute("href", href);
        a.setAttribute("rel", "noopener noreferrer nofollow");
        a.setAttribute("target", "_blank");
        renderInline(match[1], a);
        parent.append(a);
      } else {
        appendText(parent, match[0]);
      }
    } else {
      const element = document.createElement(rule.kind);
      renderInline(match[1], element);
      parent.append(element);
    }
    rest = rest.slice(match.index + match[0].length);
  }
  if (rest.length) appendText(parent, rest);
}

function appendText(parent, text) {
  const lines = text.split("\n");
  lines.forEach((line, index) => {
    if (index > 0) parent.append(document.createElement("br"));
    if (line) parent.append(document.createTextNode(line));
  });
}

const FENCE = /^\s{0,3}(```+|~~~+)\s*([\w+#.-]*)\s*$/;
const BULLET = /^\s{0,3}[-*+]\s+(.*)$/;
const NUMBER = /^\s{0,3}(\d{1,9})[.)]\s+(.*)$/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const QUOTE = /^\s{0,3}>\s?(.*)$/;
const RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;

/** Renders Markdown `source` into a new <div class="md">. */
export function renderMarkdown(source) {
  const root = document.createElement("div");
  root.className = "md";
  renderBlocks(String(source ?? "").replace(/\r\n?/g, "\n").split("\n"), root);
  return root;
}

function renderBlocks(lines, root) {
  let i = 0;
  let paragraph = [];
  const flush = () => {
    if (!paragraph.length) return;
    const p = document.createElement("p");
    renderInline(paragraph.join("\n"), p);
    root.append(p);
    paragraph = [];
  };
  while (i < lines.length) {
    const line = lines[i];
    let m;
    if ((m = FENCE.exec(line))) {
      flush();
      const fence = m[1];
      const body = [];
      i += 1;
      while (i < lines.length && !lines[i].trim().startsWith(fence)) { body.push(lines[i]); i += 1; }
      i += 1; // closing fence (or end of a still-streaming block)
      const pre = document.createElement("pre");
      const code = document.createElement("code");
      if (m[2]) code.dataset.lang = m[2];
      code.textContent = body.join("\n");
      pre.append(code);
      root.append(pre);
      continue;
    }
    if (!line.trim()) { flush(); i += 1; continue; }
    if ((m = HEADING.exec(line))) {
      flush();
      const h = document.createElement(`h${Math.min(6, m[1].length + 2)}`);
      renderInline(m[2], h);
      root.append(h);
      i += 1;
      continue;
    }
    if (RULE.test(line)) { flush(); root.append(document.createElement("hr")); i += 1; continue; }
    if (QUOTE.test(line)) {
      flush();
      const quoted = [];
      while (i < lines.length && (m = QUOTE.exec(lines[i]))) { quoted.push(m[1]); i += 1; }
      const block = document.createElement("blockquote");
      renderBlocks(quoted, block);
      root.append(block);
      continue;
    }
    if (BULLET.test(line) || NUMBER.test(line)) {
      flush();
      const ordered = !BULLET.test(line);
      const list = document.createElement(ordered ? "ol" : "ul");
      if (ordered) {
        const start = Number(NUMBER.exec(line)[1]);
        if (start !== 1) list.setAttribute("start", String(start));
      }
      const pattern = ordered ? NUMBER : BULLET;
      let item = null;
      while (i < lines.length) {
        const current = lines[i];
        const hit = pattern.exec(current);
        if (hit) {
          item = document.createElement("li");
          renderInline(ordered ? hit[2] : hit[1], item);
          list.append(item);
        } else if (item && current.trim() && /^\s+/.test(current)) {
          item.append(document.createElement("br"));
          renderInline(current.trim(), item);
        } else {
          break;
        }
        i += 1;
      }
      root.append(list);
      continue;
    }
    paragraph.push(line);
    i += 1;
  }
  flush();
}
