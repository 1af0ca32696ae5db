// One open conversation: applies `builderai.v1` events to a list of messages and renders them.
// Assistant text is Markdown (rendered by markdown.js into DOM nodes); tool calls are <details>
// cards holding their arguments and, once it arrives, their result.
import { h, clear } from "./dom.js";
import { renderMarkdown } from "./markdown.js";

function textOf(content) {
  if (!Array.isArray(content)) return typeof content === "string" ? content : JSON.stringify(content);
  return content.map((block) => (block && block.type === "text" ? block.text : JSON.stringify(block))).join("\n");
}

function pretty(value) {
  try { return JSON.stringify(value, null, 2); } catch { return String(value); }
}

export class ConversationView {
  constructor({ conversation, names, me }) {
    this.conversation = conversation;
    this.names = names; // user id → display name (from presence)
    this.me = me;
    this.messages = new Map();
    this.callOwner = new Map();
    this.results = new Map();
    this.openCards = new Set();
    this.running = false;
    this.dirty = new Set();
    this.frame = 0;
    this.onRunning = () => {};
    this.list = h("ol", { class: "messages", "aria-label": "Messages", "aria-live": "polite", "aria-relevant": "additions" });
    this.empty = h("p", { class: "muted empty" }, "No messages yet. Send a prompt to start.");
    this.element = h("div", { class: "conversation" }, this.empty, this.list);
  }

  setRunning(running) {
    this.running = running;
    this.onRunning(running);
  }

  message(id, fields = {}) {
    let message = this.messages.get(id);
    if (!message) {
      message = { id, role: "assistant", parts: [], status: "streaming", element: null, ...fields };
      this.messages.set(id, message);
    } else {
      Object.assign(message, fields);
    }
    return message;
  }

  /** Replaces a message with a stored snapshot (history replay, resume, `message` events). */
  applySnapshot(snapshot) {
    const message = this.message(snapshot.id);
    Object.assign(message, {
      role: snapshot.role, status: snapshot.status, stop_reason: snapshot.stop_reason, author: snapshot.author,
      seq: snapshot.seq, model: snapshot.model, client_id: snapshot.client_id, parts: [],
    });
    for (const part of snapshot.content || []) {
      if (part.type === "text") message.parts.push({ type: "text", text: part.text || "" });
      else if (part.type === "tool_call") {
        message.parts.push({ type: "tool_call", id: part.id, name: part.name, arguments: part.arguments });
        this.callOwner.set(part.id, message.id);
      } else if (part.type === "tool_result") {
        this.results.set(part.call, { name: part.name, is_error: !!part.is_error, content: part.content });
        message.parts.push({ type: "tool_result", call: part.call });
        const owner = this.callOwner.get(part.call);
        if (owner) this.touch(owner);
      }
    }
    this.touch(message.id);
  }

  handle(event) {
    switch (event.type) {
      case "opened":
        this.setRunning(!!event.running);
        break;
      case "prompt_accepted":
        if (event.message) this.applySnapshot(event.message);
        break;
      case "prompt_failed": {
        const message = this.message(`failed-${event.seq}`, { role: "system", status: "error" });
        message.parts = [{ type: "error", text: `Your prompt was not saved: ${event.message || event.code}` }];
        this.touch(message.id);
        break;
      }
      case "message":
        if (event.message) this.applySnapshot(event.message);
        break;
      case "message_started":
        this.message(event.message, { role: "assistant", status: "streaming", seq: event.seq });
        this.setRunning(true);
        this.touch(event.message);
        break;
      case "delta": {
        const message = this.message(event.message);
        const last = message.parts[message.parts.length - 1];
        if (last && last.type === "text") last.text += event.text;
        else message.parts.push({ type: "text", text: event.text });
        this.touch(message.id);
        break;
      }
      case "tool_call": {
        const message = this.message(event.message);
        message.parts.push({ type: "tool_call", id: event.call, name: event.name, arguments: event.arguments });
        this.callOwner.set(event.call, message.id);
        this.touch(message.id);
        break;
      }
      case "tool_result": {
        this.results.set(event.call, { name: event.name, is_error: !!event.is_error, content: event.content });
        const owner = this.callOwner.get(event.call);
        if (owner) this.touch(owner);
        else {
          const message = this.message(event.message, { role: "tool", status: "complete", seq: event.seq });
          message.parts.push({ type: "tool_result", call: event.call });
          this.touch(message.id);
        }
        break;
      }
      case "message_finished": {
        this.message(event.message, { status: event.status, stop_reason: event.stop_reason, model: event.model });
        this.touch(event.message);
        break;
      }
      case "generation_error": {
        const message = this.message(event.message);
        message.error = event.error || event.code;
        this.touch(message.id);
        break;
      }
      case "generation_finished":
        this.setRunning(false);
        if (event.stop_reason === "step_limit" && event.message) {
          const note = this.message(`note-${event.seq}`, { role: "system", status: "complete" });
          note.parts = [{ type: "error", text: event.message }];
          this.touch(note.id);
        }
        break;
      default:
        break; // unknown events are ignored (the protocol may add some)
    }
  }

  touch(id) {
    this.dirty.add(id);
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  flush() {
    this.frame = 0;
    const nearBottom = this.isNearBottom();
    for (const id of this.dirty) this.render(this.messages.get(id));
    this.dirty.clear();
    this.empty.hidden = this.messages.size > 0;
    if (nearBottom) this.scrollToEnd();
  }

  isNearBottom() {
    const scroller = this.element.closest(".chat-scroll");
    return !scroller || scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 120;
  }

  scrollToEnd() {
    const scroller = this.element.closest(".chat-scroll");
    if (scroller) scroller.scrollTop = scroller.scrollHeight;
  }

  /** Only tool messages whose calls are shown on their assistant message stay hidden. */
  hidden(message) {
    return message.role === "tool" && message.parts.every((part) => part.type === "tool_result" && this.callOwner.has(part.call));
  }

  render(message) {
    if (!message) return;
    if (!message.element) {
      message.element = h("li", { class: "msg", dataset: { id: message.id } });
      // Keep arrival (seq) order: snapshots of older messages go before newer ones.
      const after = [...this.list.children].find((li) => {
        const other = this.messages.get(li.dataset.id);
        return other && other.seq && message.seq && other.seq > message.seq;
      });
      this.list.insertBefore(message.element, after || null);
    }
    const li = message.element;
    li.hidden = this.hidden(message);
    li.className = `msg msg-${message.role} status-${message.status || "complete"}`;
    clear(li);
    const who = message.role === "user"
      ? (message.author && message.author === this.me?.id ? "You" : (this.names.get(message.author) || "A member"))
      : message.role === "assistant" ? "Assistant" : message.role === "tool" ? "Tool" : "Notice";
    const header = h("div", { class: "msg-head" }, h("span", { class: "who" }, who));
    if (message.role === "assistant" && message.status === "streaming") header.append(h("span", { class: "badge live" }, "writing…"));
    if (message.stop_reason === "cancelled") header.append(h("span", { class: "badge" }, "stopped"));
    else if (message.stop_reason === "interrupted") header.append(h("span", { class: "badge warn" }, "interrupted"));
    else if (message.stop_reason === "length") header.append(h("span", { class: "badge warn" }, "cut at length limit"));
    li.append(header);
    const body = h("div", { class: "msg-body" });
    for (const part of message.parts) {
      if (part.type === "text") body.append(renderMarkdown(part.text));
      else if (part.type === "tool_call") body.append(this.card(part));
      else if (part.type === "tool_result" && !this.callOwner.has(part.call)) body.append(this.card({ id: part.call, name: this.results.get(part.call)?.name }));
      else if (part.type === "error") body.append(h("p", { class: "notice error" }, part.text));
    }
    if (message.error) body.append(h("p", { class: "notice error" }, `The model failed: ${message.error}`));
    li.append(body);
  }

  card(call) {
    const result = this.results.get(call.id);
    const state = result ? (result.is_error ? "failed" : "done") : "running…";
    const details = h("details", { class: `tool-card ${result?.is_error ? "tool-error" : ""}`, dataset: { call: call.id || "" } },
      h("summary", {}, h("span", { class: "tool-icon", "aria-hidden": "true" }, "⚙"), " Tool ",
        h("code", {}, call.name || "tool"), h("span", { class: "badge" }, state)));
    if (this.openCards.has(call.id)) details.open = true;
    details.addEventListener("toggle", () => {
      if (details.open) this.openCards.add(call.id); else this.openCards.delete(call.id);
    });
    if (call.arguments !== undefined) {
      details.append(h("h4", {}, "Arguments"), h("pre", { class: "tool-args" }, pretty(call.arguments)));
    }
    if (result) {
      details.append(h("h4", {}, result.is_error ? "Error" : "Result"), h("pre", { class: "tool-result" }, textOf(result.content)));
    }
    return details;
  }
}
