// DOM helpers. Text always goes in through text nodes; there is no path to innerHTML.

/** h("button", {class: "x", onclick: fn, type: "button"}, "text", child, …) */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") element.addEventListener(key.slice(2), value);
    else if (key === "class") element.className = value;
    else if (key === "dataset") Object.assign(element.dataset, value);
    else if (key === "value") element.value = value;
    else if (key === "checked") element.checked = !!value;
    else element.setAttribute(key, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

export function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function clear(element) {
  while (element.firstChild) element.firstChild.remove();
  return element;
}

let fieldCounter = 0;
/** A labelled form field: returns {wrap, input}. */
export function field(label, attrs = {}, kind = "input") {
  const id = attrs.id || `f${++fieldCounter}`;
  const input = kind === "select" ? h("select", { ...attrs, id }, ...(attrs.options || []).map(([value, text]) =>
    h("option", { value }, text))) : h(kind, { ...attrs, id });
  if (kind === "select") input.removeAttribute("options");
  if (kind === "select" && attrs.value !== undefined) input.value = attrs.value;
  const wrap = h("div", { class: "field" }, h("label", { for: id }, label), input);
  return { wrap, input };
}

/** A region that states errors (and successes) in words, announced to screen readers. */
export function notice() {
  const element = h("p", { class: "notice", role: "status", "aria-live": "polite", hidden: true });
  element.show = (text, kind = "error") => {
    element.textContent = text;
    element.className = `notice ${kind}`;
    element.hidden = !text;
  };
  element.clear = () => element.show("");
  return element;
}

export function formatTime(ms) {
  if (!ms) return "";
  return new Date(ms).toLocaleString();
}

export function formatBytes(size) {
  if (typeof size !== "number") return "";
  if (size < 1024) return `${size} B`;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(1)} KiB`;
  return `${(size / 1024 / 1024).toFixed(1)} MiB`;
}
