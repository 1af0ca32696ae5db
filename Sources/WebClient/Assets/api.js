// REST client: bearer access token in memory, refresh token in sessionStorage (rotated on every use,
// so refreshes are serialised: presenting a rotated token twice signs every session out).
const REFRESH_KEY = "builderai.refresh";

export class ApiError extends Error {
  constructor(status, detail, field) {
    super(detail);
    this.status = status;
    this.field = field;
  }
}

export const session = { access: null, user: null };
let refreshing = null;
const listeners = new Set();

export function onSessionChange(fn) { listeners.add(fn); }
function changed() { for (const fn of listeners) fn(session.user); }

function keepTokens(body) {
  session.access = body.access_token;
  session.user = body.user;
  try { sessionStorage.setItem(REFRESH_KEY, body.refresh_token); } catch { /* storage disabled */ }
  changed();
}

export function hasStoredSession() {
  try { return !!sessionStorage.getItem(REFRESH_KEY); } catch { return false; }
}

export function clearSession() {
  session.access = null;
  session.user = null;
  try { sessionStorage.removeItem(REFRESH_KEY); } catch { /* storage disabled */ }
  changed();
}

async function problem(response) {
  let detail = `${response.status} ${response.statusText || "error"}`;
  let field;
  try {
    const type = response.headers.get("Content-Type") || "";
    if (type.includes("json")) {
      const body = await response.json();
      if (body && typeof body.detail === "string") detail = body.detail;
      else if (body && typeof body.title === "string") detail = body.title;
      field = body && body.field;
    }
  } catch { /* not a problem document */ }
  const error = new ApiError(response.status, detail, field);
  // The router's own 404 (no route at all), as opposed to a route saying a thing does not exist.
  error.missingRoute = response.status === 404 && (detail.startsWith("404") || detail.startsWith("No resource at"));
  return error;
}

/** Exchanges the stored refresh token for new tokens; one exchange at a time. */
export function refresh() {
  if (refreshing) return refreshing;
  let token = null;
  try { token = sessionStorage.getItem(REFRESH_KEY); } catch { /* storage disabled */ }
  if (!token) return Promise.reject(new ApiError(401, "please sign in"));
  refreshing = (async () => {
    try {
      const response = await fetch("/api/v1/auth/refresh", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: token }),
      });
      if (!response.ok) {
        const error = await problem(response);
        if (response.status === 401) clearSession();
        throw error;
      }
      keepTokens(await response.json());
      return session.user;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/** Calls the API; JSON in and out. Throws ApiError with the problem document's detail. */
export async function api(method, path, body, { raw = false, retry = true } = {}) {
  const headers = {};
  if (session.access) headers.Authorization = `Bearer ${session.access}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "the server cannot be reached; check your connection");
  }
  if (response.status === 401 && retry && hasStoredSession()) {
    await refresh();
    return api(method, path, body, { raw, retry: false });
  }
  if (!response.ok) throw await problem(response);
  if (raw) return response;
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  return type.includes("json") ? response.json() : response.text();
}

export async function register(name, email, password) {
  keepTokens(await api("POST", "/auth/register", { name, email, password }, { retry: false }));
}

export async function login(email, password) {
  keepTokens(await api("POST", "/auth/login", { email, password }, { retry: false }));
}

export async function logout() {
  let token = null;
  try { token = sessionStorage.getItem(REFRESH_KEY); } catch { /* storage disabled */ }
  try { if (token && session.access) await api("POST", "/auth/logout", { refresh_token: token }, { retry: false }); }
  catch { /* signed out locally anyway */ }
  clearSession();
}

/** Builds a query string from the non-empty values. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
