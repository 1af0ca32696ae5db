// BuilderAI in the browser: hash routes, one view at a time. Plain ES modules, no build step.
import { api, ApiError, session, register, login, logout, refresh, hasStoredSession, onSessionChange, query } from "./api.js";
import { ChatConnection } from "./chat.js";
import { ConversationView } from "./chatview.js";
import { h, append, clear, field, notice, formatTime, formatBytes } from "./dom.js";
import { marketView, appView, publishView } from "./market.js";
import { adminView } from "./admin.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const connectionBanner = document.getElementById("connection");
export const chat = new ChatConnection();
let cleanup = () => {};

chat.onState((state, detail) => {
  connectionBanner.hidden = state === "open" || state === "idle" || state === "connecting";
  connectionBanner.className = `banner ${state}`;
  connectionBanner.textContent = state === "reconnecting"
    ? `Connection lost: ${detail || "the network connection dropped"}. Reconnecting… your conversation resumes where it stopped.`
    : state === "closed" && detail ? `Disconnected: ${detail}` : "";
});

/** Words for an error, for people. */
export function describe(error, what = "") {
  if (error instanceof ApiError && error.missingRoute) {
    return `${what ? `${what}: ` : ""}this server does not offer this yet (404). It comes with a later version of BuilderAI.`;
  }
  return `${what ? `${what}: ` : ""}${error.message || String(error)}`;
}

export function go(hash) {
  if (location.hash === hash) route(); else location.hash = hash;
}

function renderNav() {
  clear(nav);
  if (!session.user) return;
  const link = (href, text) => h("a", { href, "aria-current": location.hash.startsWith(href) ? "page" : null }, text);
  append(nav, [
    link("#/projects", "Projects"),
    link("#/market", "Marketplace"),
    session.user.role === "admin" ? link("#/admin", "Admin") : null,
    h("span", { class: "me", title: session.user.email }, session.user.name),
    h("button", { type: "button", class: "link", onclick: async () => { chat.stop(); await logout(); go("#/login"); } }, "Sign out"),
  ]);
}

onSessionChange(renderNav);

// ---------------------------------------------------------------- sign in / register

function authView() {
  const status = notice();
  const signIn = h("form", { class: "card", "aria-labelledby": "signin-title" });
  const email = field("Email", { type: "email", name: "email", autocomplete: "username", required: true });
  const password = field("Password", { type: "password", name: "password", autocomplete: "current-password", required: true });
  signIn.append(h("h2", { id: "signin-title" }, "Sign in"), email.wrap, password.wrap,
    h("button", { type: "submit", id: "signin-submit" }, "Sign in"));
  signIn.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.clear();
    try { await login(email.input.value.trim(), password.input.value); afterSignIn(); }
    catch (error) { status.show(describe(error, "Could not sign in")); }
  });

  const signUp = h("form", { class: "card", "aria-labelledby": "register-title" });
  const name = field("Your name", { name: "name", autocomplete: "name", required: true, maxlength: 100 });
  const newEmail = field("Email", { type: "email", name: "new-email", autocomplete: "email", required: true });
  const newPassword = field("Password (at least 10 characters)", { type: "password", name: "new-password",
    autocomplete: "new-password", required: true, minlength: 10 });
  signUp.append(h("h2", { id: "register-title" }, "Create an account"), name.wrap, newEmail.wrap, newPassword.wrap,
    h("button", { type: "submit", id: "register-submit" }, "Create account"));
  signUp.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.clear();
    try { await register(name.input.value.trim(), newEmail.input.value.trim(), newPassword.input.value); afterSignIn(); }
    catch (error) { status.show(describe(error, "Could not create the account")); }
  });
  return h("section", { class: "auth" }, h("h1", {}, "Welcome to BuilderAI"),
    h("p", { class: "muted" }, "Describe what you want built; the assistant writes it into your project."),
    status, h("div", { class: "auth-forms" }, signIn, signUp));
}

function afterSignIn() {
  const wanted = sessionStorage.getItem("builderai.after") || "#/projects";
  sessionStorage.removeItem("builderai.after");
  go(wanted.startsWith("#/login") ? "#/projects" : wanted);
}

// ---------------------------------------------------------------- projects

const RECENT = () => `builderai.recent.${session.user?.id}`;
export function recentProjects() {
  try { return JSON.parse(localStorage.getItem(RECENT()) || "[]"); } catch { return []; }
}
function rememberProject(id, name) {
  const list = recentProjects().filter((p) => p.id !== id);
  list.unshift({ id, name: name || id });
  try { localStorage.setItem(RECENT(), JSON.stringify(list.slice(0, 20))); } catch { /* storage full or disabled */ }
}

function projectsView() {
  const status = notice();
  const list = h("ul", { class: "project-list", "aria-label": "Your projects" });
  const listState = h("p", { class: "muted" }, "Loading your projects…");
  (async () => {
    try {
      const page = await api("GET", "/projects");
      listState.textContent = page.items.length ? "" : "No projects yet: create one below.";
      for (const project of page.items) list.append(projectItem(project));
    } catch (error) {
      listState.textContent = describe(error, "Listing projects");
      const recent = recentProjects();
      if (recent.length) {
        list.append(h("li", { class: "muted" }, "Projects you opened recently:"));
        for (const project of recent) list.append(projectItem(project));
      }
    }
  })();

  const create = h("form", { class: "card", "aria-labelledby": "create-title" });
  const name = field("Name", { name: "project-name", required: true, maxlength: 100 });
  const model = field("Model (provider/model)", { name: "project-model", placeholder: "openai/gpt-4o-mini", list: "models" });
  const mcp = field("MCP servers (comma separated, * for all)", { name: "project-mcp", placeholder: "clock, git" });
  create.append(h("h2", { id: "create-title" }, "New project"), name.wrap, model.wrap, mcp.wrap,
    h("button", { type: "submit" }, "Create project"));
  create.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.clear();
    try {
      const body = { name: name.input.value.trim() };
      if (model.input.value.trim()) body.model = model.input.value.trim();
      const project = await api("POST", "/projects", body);
      rememberProject(project.id, project.name);
      const servers = mcp.input.value.split(",").map((s) => s.trim()).filter(Boolean);
      if (servers.length) {
        const path = `/projects/${encodeURIComponent(project.id)}/config`;
        const config = await api("GET", path);
        await api("PUT", path, { model: config.model, system_prompt: config.system_prompt || "default", mcp_servers: servers,
          settings: config.settings ?? {} });
      }
      go(`#/p/${encodeURIComponent(project.id)}`);
    } catch (error) { status.show(describe(error, "Could not create the project")); }
  });

  const open = h("form", { class: "card", "aria-labelledby": "open-title" });
  const id = field("Project id", { name: "project-id", required: true, autocomplete: "off" });
  open.append(h("h2", { id: "open-title" }, "Open a project by id"), id.wrap, h("button", { type: "submit", id: "open-project" }, "Open"));
  open.addEventListener("submit", (event) => {
    event.preventDefault();
    go(`#/p/${encodeURIComponent(id.input.value.trim())}`);
  });
  return h("section", {}, h("h1", {}, "Projects"), status, listState, list, h("div", { class: "grid2" }, create, open));
}

function projectItem(project) {
  return h("li", {}, h("a", { href: `#/p/${encodeURIComponent(project.id)}` }, project.name || project.id),
    project.model ? h("span", { class: "muted" }, ` · ${project.model}`) : null,
    project.role ? h("span", { class: "badge" }, project.role) : null);
}

function projectTabs(id, current) {
  const base = `#/p/${encodeURIComponent(id)}`;
  const tab = (href, text, key) => h("a", { href, class: "tab", "aria-current": current === key ? "page" : null }, text);
  return h("nav", { class: "tabs", "aria-label": "Project" },
    tab(base, "Chat", "chat"), tab(`${base}/files`, "Files", "files"), tab(`${base}/settings`, "Settings", "settings"),
    tab(`#/publish/${encodeURIComponent(id)}`, "Publish", "publish"));
}

// ---------------------------------------------------------------- chat

function chatView(projectID, conversationID) {
  const status = notice();
  const title = h("h1", {}, "Project");
  const meta = h("p", { class: "muted" });
  const watchers = h("ul", { class: "watchers", "aria-label": "Watching now" });
  const conversations = h("ul", { class: "conversations", "aria-label": "Conversations" });
  const more = h("button", { type: "button", class: "link", hidden: true }, "Older conversations");
  const names = new Map();
  let view = null;
  let nextCursor = null;
  let role = "viewer";
  const known = new Map();

  const scroller = h("div", { class: "chat-scroll", tabindex: "0", "aria-label": "Conversation" });
  const prompt = h("textarea", { id: "prompt", rows: 3, placeholder: "Describe what to build…  (Ctrl+Enter sends)", required: true });
  const send = h("button", { type: "submit", id: "send" }, "Send");
  const stop = h("button", { type: "button", id: "stop", class: "danger", hidden: true }, "Stop");
  const composer = h("form", { class: "composer" }, h("label", { for: "prompt", class: "visually-hidden" }, "Prompt"),
    prompt, h("div", { class: "composer-actions" }, stop, send));

  const newForm = h("form", { class: "new-conversation" });
  const newTitle = field("New conversation", { name: "title", placeholder: "Title (optional)", maxlength: 200 });
  newForm.append(newTitle.wrap, h("button", { type: "submit" }, "Start"));

  function conversationItem(conversation) {
    known.set(conversation.id, conversation);
    const link = h("a", { href: `#/p/${encodeURIComponent(projectID)}/c/${encodeURIComponent(conversation.id)}`,
      "aria-current": conversation.id === conversationID ? "page" : null }, conversation.title || "Untitled");
    return h("li", { dataset: { id: conversation.id } }, link,
      conversation.running ? h("span", { class: "badge live" }, "running") : null,
      h("span", { class: "muted small" }, ` ${formatTime(conversation.updated_at)}`));
  }

  function showWatchers(list) {
    clear(watchers);
    for (const watcher of list || []) {
      names.set(watcher.user, watcher.name);
      watchers.append(h("li", {}, h("span", { class: "dot", "aria-hidden": "true" }), watcher.name));
    }
  }

  const off = chat.onEvent((event) => {
    if (event.project && event.project !== projectID && !event.conversation) return;
    switch (event.type) {
      case "joined":
        if (event.project !== projectID) return;
        showWatchers(event.watchers);
        break;
      case "presence":
        showWatchers(event.watchers);
        break;
      case "conversation_created":
        if (event.project === projectID && !known.has(event.conversation.id)) {
          conversations.prepend(conversationItem(event.conversation));
        }
        break;
      default:
        if (view && event.conversation === view.conversation) view.handle(event);
    }
  });

  async function openConversation(id) {
    if (view) chat.closeConversation(view.conversation);
    view = new ConversationView({ conversation: id, names, me: session.user });
    view.onRunning = (running) => { stop.hidden = !running; };
    clear(scroller).append(view.element);
    try { await chat.openConversation(id, 0); }
    catch (error) { status.show(describe(error, "Could not open the conversation")); }
  }

  async function newConversation(title) {
    const created = await chat.request({ type: "new_conversation", project: projectID, title: title || "New conversation" });
    if (!known.has(created.conversation.id)) conversations.prepend(conversationItem(created.conversation));
    return created.conversation.id;
  }

  newForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.clear();
    try {
      const id = await newConversation(newTitle.input.value.trim());
      newTitle.input.value = "";
      go(`#/p/${encodeURIComponent(projectID)}/c/${encodeURIComponent(id)}`);
    } catch (error) { status.show(describe(error, "Could not start a conversation")); }
  });

  composer.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = prompt.value;
    if (!text.trim()) return;
    status.clear();
    send.disabled = true;
    try {
      if (!view) {
        const id = await newConversation(text.trim().split("\n")[0].slice(0, 60));
        history.replaceState(null, "", `#/p/${encodeURIComponent(projectID)}/c/${encodeURIComponent(id)}`);
        conversationID = id;
        await openConversation(id);
      }
      prompt.value = "";
      await chat.prompt(view.conversation, text);
    } catch (error) {
      if (!prompt.value) prompt.value = text;
      status.show(describe(error, "Your prompt was not sent"));
    } finally {
      send.disabled = false;
    }
  });
  prompt.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); composer.requestSubmit(); }
  });
  stop.addEventListener("click", async () => {
    if (!view) return;
    try { await chat.request({ type: "cancel", conversation: view.conversation }); }
    catch (error) { status.show(describe(error, "Could not stop")); }
  });
  more.addEventListener("click", async () => {
    try {
      const page = await chat.request({ type: "list_conversations", project: projectID, cursor: nextCursor, limit: 50 });
      for (const conversation of page.conversations) if (!known.has(conversation.id)) conversations.append(conversationItem(conversation));
      nextCursor = page.next_cursor;
      more.hidden = !nextCursor;
    } catch (error) { status.show(describe(error, "Listing conversations")); }
  });

  (async () => {
    try {
      const joined = await chat.join(projectID);
      role = joined.role;
      title.textContent = joined.name || "Project";
      meta.textContent = `${joined.model ? `Model ${joined.model} · ` : ""}your role: ${role}`;
      document.title = `${joined.name || "Project"} · BuilderAI`;
      rememberProject(projectID, joined.name);
      showWatchers(joined.watchers);
      for (const conversation of joined.conversations || []) conversations.append(conversationItem(conversation));
      nextCursor = joined.next_cursor;
      more.hidden = !nextCursor;
      if (role === "viewer") { composer.hidden = true; newForm.hidden = true; }
      const first = conversationID || (joined.conversations?.[0]?.id);
      if (first) {
        if (!conversationID) history.replaceState(null, "", `#/p/${encodeURIComponent(projectID)}/c/${encodeURIComponent(first)}`);
        conversationID = first;
        for (const a of conversations.querySelectorAll("a")) a.toggleAttribute("aria-current", a.closest("li").dataset.id === first);
        await openConversation(first);
      } else {
        clear(scroller).append(h("p", { class: "muted empty" }, "No conversations yet. Send a prompt to start one."));
      }
    } catch (error) {
      status.show(describe(error, "Could not open the project"));
    }
  })();

  cleanup = () => {
    off();
    if (view) chat.closeConversation(view.conversation);
  };
  return h("section", { class: "project" }, h("div", { class: "project-head" }, title, meta), projectTabs(projectID, "chat"), status,
    h("div", { class: "chat-layout" },
      h("aside", { class: "sidebar" },
        h("h2", {}, "Conversations"), conversations, more, newForm,
        h("h2", {}, "Watching now"), watchers),
      h("div", { class: "chat-main" }, scroller, composer)));
}

// ---------------------------------------------------------------- files

function filesView(projectID, path) {
  const status = notice();
  const list = h("ul", { class: "files", "aria-label": "Files" });
  const viewer = h("div", { class: "viewer" });
  const base = `#/p/${encodeURIComponent(projectID)}/files`;
  (async () => {
    try {
      const page = await api("GET", `/projects/${encodeURIComponent(projectID)}/files`);
      if (!page.items.length) list.append(h("li", { class: "muted" }, "No files yet. Ask the assistant to write some."));
      for (const file of page.items) {
        list.append(h("li", {}, h("a", { href: `${base}/${file.path.split("/").map(encodeURIComponent).join("/")}`,
          "aria-current": file.path === path ? "page" : null }, file.path),
          h("span", { class: "muted small" }, ` ${formatBytes(file.size)} ${formatTime(file.updated_at)}`)));
      }
    } catch (error) { status.show(describe(error, "Listing files")); }
    if (!path) return;
    try {
      const response = await api("GET", `/projects/${encodeURIComponent(projectID)}/files/${path.split("/").map(encodeURIComponent).join("/")}`,
        undefined, { raw: true });
      const type = response.headers.get("Content-Type") || "";
      let text;
      if (type.includes("json")) {
        const body = await response.json();
        text = typeof body.content === "string" ? body.content : JSON.stringify(body, null, 2);
      } else {
        text = await response.text();
      }
      viewer.append(h("h2", {}, path), h("pre", { class: "file-content", tabindex: "0" }, text));
    } catch (error) { status.show(describe(error, `Opening ${path}`)); }
  })();
  return h("section", {}, h("h1", {}, "Files"), projectTabs(projectID, "files"), status,
    h("div", { class: "files-layout" }, list, viewer));
}

// ---------------------------------------------------------------- settings (model and MCP servers)

function settingsView(projectID) {
  const status = notice();
  const form = h("form", { class: "card" });
  const model = field("Model (provider/model)", { name: "model", placeholder: "openai/gpt-4o-mini" });
  const system = field("System prompt", { name: "system_prompt", rows: 5 }, "textarea");
  const servers = h("fieldset", { class: "servers" }, h("legend", {}, "MCP servers the assistant may use"));
  const other = field("Other MCP servers or groups (comma separated, * for all)", { name: "mcp_servers" });
  let settings = {};
  form.append(h("h2", {}, "Model and tools"), model.wrap, system.wrap, servers, other.wrap, h("button", { type: "submit" }, "Save"));
  const boxes = new Map();
  (async () => {
    let config = null;
    try {
      config = await api("GET", `/projects/${encodeURIComponent(projectID)}/config`);
      model.input.value = config.model || "";
      system.input.value = config.system_prompt || "";
      settings = config.settings || {};
    } catch (error) { status.show(describe(error, "Loading the settings")); }
    let names = [];
    if (session.user?.role === "admin") {
      try { names = (await api("GET", "/admin/mcp-servers")).items.map((server) => server.name); } catch { /* not listed */ }
    }
    const chosen = new Set(config?.mcp_servers || []);
    for (const name of names) {
      const box = field(name, { type: "checkbox", name: `mcp-${name}`, checked: chosen.has(name) });
      box.wrap.classList.add("check");
      boxes.set(name, box.input);
      servers.append(box.wrap);
      chosen.delete(name);
    }
    if (!names.length) servers.append(h("p", { class: "muted small" }, "Name the servers below."));
    other.input.value = [...chosen].join(", ");
  })();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.clear();
    const mcp = [...boxes].filter(([, box]) => box.checked).map(([name]) => name)
      .concat(other.input.value.split(",").map((s) => s.trim()).filter(Boolean));
    try {
      await api("PUT", `/projects/${encodeURIComponent(projectID)}/config`,
        { model: model.input.value.trim(), system_prompt: system.input.value, mcp_servers: mcp, settings });
      status.show("Saved.", "ok");
    } catch (error) { status.show(describe(error, "Could not save")); }
  });
  return h("section", {}, h("h1", {}, "Settings"), projectTabs(projectID, "settings"), status, form);
}

// ---------------------------------------------------------------- routing

async function route() {
  cleanup();
  cleanup = () => {};
  const hash = location.hash || "#/projects";
  const parts = hash.slice(2).split("?")[0].split("/").map((part) => { try { return decodeURIComponent(part); } catch { return part; } });
  if (!session.user && hasStoredSession()) {
    try { await refresh(); } catch { /* signed out */ }
  }
  if (!session.user && parts[0] !== "login") {
    sessionStorage.setItem("builderai.after", hash);
    location.hash = "#/login";
    return;
  }
  renderNav();
  let view;
  if (parts[0] === "login") view = session.user ? (go("#/projects"), null) : authView();
  else if (parts[0] === "p" && parts[1]) {
    if (parts[2] === "files") view = filesView(parts[1], parts.slice(3).join("/"));
    else if (parts[2] === "settings") view = settingsView(parts[1]);
    else view = chatView(parts[1], parts[2] === "c" ? parts[3] : null);
  } else if (parts[0] === "market" && parts[1]) view = appView(parts[1]);
  else if (parts[0] === "market") view = marketView(new URLSearchParams(hash.split("?")[1] || ""));
  else if (parts[0] === "publish") view = publishView(parts[1] || "");
  else if (parts[0] === "admin") { const admin = adminView(); view = admin.element; cleanup = admin.cleanup; }
  else view = projectsView();
  if (!view) return;
  clear(main).append(view);
  const heading = main.querySelector("h1");
  if (heading) { heading.setAttribute("tabindex", "-1"); heading.focus({ preventScroll: true }); }
}

window.addEventListener("hashchange", route);
route();
