// The chat connection (`builderai.v1` over /ws): a single-use ticket from the REST API offered in the
// subprotocol list, replies matched by `ref`, reconnection with backoff, and resume: after a reconnect
// every joined project is joined again and every open conversation re-opened after the last seq seen.
import { api } from "./api.js";

export function randomID() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class ChatError extends Error {
  constructor(code, message) {
    super(message || code);
    this.code = code;
  }
}

export class ChatConnection {
  constructor() {
    this.socket = null;
    this.state = "idle"; // idle | connecting | open | reconnecting | closed
    this.pending = new Map();
    this.projects = new Set();
    this.open = new Map(); // conversation id → last seq processed
    this.handlers = new Set();
    this.stateHandlers = new Set();
    this.refCounter = 0;
    this.attempt = 0;
    this.timer = null;
    this.stopped = false;
    this.user = null;
    this.lastError = "";
  }

  onEvent(fn) { this.handlers.add(fn); return () => this.handlers.delete(fn); }
  onState(fn) { this.stateHandlers.add(fn); return () => this.stateHandlers.delete(fn); }

  setState(state, detail = "") {
    this.state = state;
    this.lastError = detail;
    for (const fn of this.stateHandlers) fn(state, detail);
  }

  /** Resolves once the socket is open and `hello` arrived. */
  async connect() {
    this.stopped = false;
    if (this.socket && this.greeted) return;
    if (this.connecting) return this.connecting;
    this.connecting = this.dial().finally(() => { this.connecting = null; });
    return this.connecting;
  }

  async dial() {
    this.setState(this.attempt ? "reconnecting" : "connecting");
    const ticket = await api("POST", "/ws-tickets");
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const protocols = ticket.subprotocols || ["builderai.v1", `bearer.${ticket.ticket}`];
    await new Promise((resolve, reject) => {
      const socket = new WebSocket(`${scheme}//${location.host}/ws`, protocols);
      this.socket = socket;
      let greeted = false;
      socket.onmessage = (event) => {
        let message;
        try { message = JSON.parse(event.data); } catch { return; }
        if (message.type === "hello") {
          greeted = true;
          this.greeted = true;
          this.user = message.user;
          const resuming = this.attempt > 0;
          this.attempt = 0;
          resolve();
          // "open" once the projects are joined again, so that nothing is sent before they are.
          if (resuming) this.resume().finally(() => { if (this.socket === socket) this.setState("open"); });
          else this.setState("open");
          return;
        }
        this.dispatch(message);
      };
      socket.onclose = (event) => {
        if (this.socket !== socket) return;
        this.socket = null;
        this.greeted = false;
        for (const [, waiter] of this.pending) waiter.reject(new ChatError("disconnected", "the connection was lost"));
        this.pending.clear();
        const reason = event.reason || (event.code === 1006 ? "the network connection dropped"
          : event.code === 1001 ? "the server is restarting" : `the connection closed (code ${event.code})`);
        if (!greeted) reject(new ChatError("closed", reason));
        if (this.stopped) { this.setState("closed"); return; }
        if (event.code === 4403) { this.setState("closed", "your account is disabled"); return; }
        this.scheduleReconnect(reason);
      };
    });
  }

  scheduleReconnect(reason) {
    if (this.timer || this.stopped) return;
    this.attempt += 1;
    const delay = Math.min(10000, 300 * 2 ** Math.min(this.attempt, 6)) * (0.75 + Math.random() / 2);
    this.setState("reconnecting", reason);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect().catch((error) => this.scheduleReconnect(error.message));
    }, delay);
  }

  /** After (re)connecting: join the projects again, then resume each open conversation after the
   *  last seq processed (joins complete first: the server refuses `open` outside a joined project). */
  async resume() {
    await Promise.all([...this.projects].map((project) => this.request({ type: "join", project }).catch(() => null)));
    for (const [conversation, seq] of this.open) {
      this.request({ type: "open", conversation, after_seq: seq }).catch((error) => {
        if (error.code !== "disconnected") setTimeout(() => this.reopen(conversation), 500);
      });
    }
  }

  reopen(conversation) {
    if (!this.open.has(conversation) || this.state !== "open") return;
    this.request({ type: "open", conversation, after_seq: this.open.get(conversation) }).catch(() => {});
  }

  emit(message) { for (const fn of this.handlers) fn(message); }

  dispatch(message) {
    if (message.conversation && typeof message.seq === "number" && this.open.has(message.conversation)
        && !["ok", "error", "opened", "conversation_created"].includes(message.type)) {
      const last = this.open.get(message.conversation);
      if (message.type !== "resync" && message.seq <= last) return; // already processed
    }
    const waiter = message.ref && this.pending.get(message.ref);
    if (waiter) {
      this.pending.delete(message.ref);
      if (message.type === "error") waiter.reject(new ChatError(message.code, message.message));
      else waiter.resolve(message);
      if (message.type !== "opened" && message.type !== "joined") return;
    }
    if (message.type === "resync") {
      // Too far behind: the server stopped live delivery; catch up from the last seq processed.
      const after = this.open.get(message.conversation) ?? 0;
      this.request({ type: "open", conversation: message.conversation, after_seq: after }).catch(() => {});
      return;
    }
    this.emit(message);
    if (message.conversation && typeof message.seq === "number" && this.open.has(message.conversation)
        && message.type !== "opened") {
      this.open.set(message.conversation, Math.max(this.open.get(message.conversation), message.seq));
    }
  }

  send(message) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) {
      throw new ChatError("disconnected", "not connected; reconnecting…");
    }
    this.socket.send(JSON.stringify(message));
  }

  /** Sends a message with a fresh `ref` and resolves with the reply (rejects on `error`). */
  request(message, timeout = 20000) {
    const ref = `r${++this.refCounter}`;
    return new Promise((resolve, reject) => {
      try { this.send({ ...message, ref }); } catch (error) { reject(error); return; }
      const timer = setTimeout(() => {
        if (this.pending.delete(ref)) reject(new ChatError("timeout", "the server did not answer in time"));
      }, timeout);
      this.pending.set(ref, {
        resolve: (value) => { clearTimeout(timer); resolve(value); },
        reject: (error) => { clearTimeout(timer); reject(error); },
      });
    });
  }

  /** Resolves when connected (and resumed), or rejects after `timeout` ms. */
  waitOpen(timeout = 20000) {
    if (this.state === "open" && this.socket) return Promise.resolve();
    if (!this.timer && !this.connecting && this.state !== "reconnecting") this.connect().catch(() => {});
    return new Promise((resolve, reject) => {
      const off = this.onState((state) => {
        if (state === "open") { clearTimeout(timer); off(); resolve(); }
      });
      const timer = setTimeout(() => { off(); reject(new ChatError("disconnected", "still reconnecting; try again")); }, timeout);
    });
  }

  /** Sends a prompt; if the connection drops before the server confirms it, sends it again with the same
   *  client_id once reconnected (the server answers a repeat with the original, never a second run). */
  async prompt(conversation, text) {
    const clientID = randomID();
    for (let attempt = 0; ; attempt += 1) {
      try {
        await this.waitOpen();
        return await this.request({ type: "prompt", conversation, client_id: clientID, text });
      } catch (error) {
        if ((error.code !== "disconnected" && error.code !== "timeout") || attempt >= 3) throw error;
      }
    }
  }

  async join(project) {
    await this.connect();
    const joined = await this.request({ type: "join", project });
    this.projects.add(project);
    return joined;
  }

  async leave(project) {
    this.projects.delete(project);
    if (this.state === "open") await this.request({ type: "leave", project }).catch(() => {});
  }

  /** Opens a conversation from the start: the server replays its whole history, then live events. */
  async openConversation(conversation, afterSeq = 0) {
    this.open.set(conversation, afterSeq);
    return this.request({ type: "open", conversation, after_seq: afterSeq });
  }

  closeConversation(conversation) {
    if (!this.open.delete(conversation)) return;
    try { this.send({ type: "close_conversation", conversation }); } catch { /* closed anyway */ }
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = null;
    this.projects.clear();
    this.open.clear();
    if (this.socket) this.socket.close(1000, "signed out");
  }
}
