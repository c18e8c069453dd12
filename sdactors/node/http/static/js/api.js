// The node's JSON API as the page uses it: the session, ops, the event stream, thumbnails.
// Every write carries the session's CSRF token; the browser adds the cookie and its Origin.

let csrf = null;
let onSignedOut = () => {};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function whenSignedOut(callback) {
  onSignedOut = callback;
}

async function answer(response) {
  const type = response.headers.get("content-type") || "";
  if (!response.ok) {
    let code = "http_" + response.status;
    let message = response.statusText || "the node refused";
    if (type.includes("json")) {
      const body = await response.json();
      if (body && body.error) {
        code = body.error.code || code;
        message = body.error.message || message;
      }
    }
    if (response.status === 401) onSignedOut(message);
    throw new ApiError(response.status, code, message);
  }
  if (type.includes("x-ndjson")) {
    const text = await response.text();
    const items = text.split("\n").filter((line) => line).map((line) => JSON.parse(line));
    const last = items[items.length - 1];
    if (last && last.error && Object.keys(last).length === 1) {
      throw new ApiError(400, "stream", last.error);
    }
    return items;
  }
  return response.json();
}

export async function session() {
  const found = await answer(await fetch("/api/v1/session", { credentials: "same-origin" }));
  csrf = found.csrf;
  return found;
}

export async function login(password) {
  const response = await fetch("/api/v1/login", {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ password }),
  });
  const found = await answer(response);
  csrf = found.csrf;
  return found;
}

export async function logout() {
  await answer(await fetch("/api/v1/logout", post({})));
  csrf = null;
}

function post(body) {
  const headers = { "content-type": "application/json" };
  if (csrf) headers["x-csrf-token"] = csrf;
  return { method: "POST", credentials: "same-origin", headers, body: JSON.stringify(body) };
}

// Run an op of the registry (its arguments as the OpenAPI document names them).
export async function op(name, args = {}) {
  return answer(await fetch(`/api/v1/op/${encodeURIComponent(name)}`, post(args)));
}

let described = null;

// The OpenAPI document of every op: what the page may offer (search modes, agent ops).
export async function ops() {
  if (described === null) {
    described = answer(await fetch("/api/v1/ops", { credentials: "same-origin" }));
  }
  return described;
}

export async function hasOp(name) {
  const doc = await ops();
  return Object.prototype.hasOwnProperty.call(doc.paths || {}, `/api/v1/op/${name}`);
}

// The properties of an op's arguments (an empty object when it has none or is unknown).
export async function argumentsOf(name) {
  const doc = await ops();
  const path = (doc.paths || {})[`/api/v1/op/${name}`];
  const schema = path?.post?.requestBody?.content?.["application/json"]?.schema;
  return schema?.properties || {};
}

// The library's log as it happens: one callback per event (its JSON), resumed by the
// browser from its last position after a break.
export function follow(library, callback, onState = () => {}) {
  const params = new URLSearchParams({ library });
  const source = new EventSource(`/api/v1/events?${params}`, { withCredentials: true });
  source.onopen = () => onState("open");
  source.onerror = () => onState(source.readyState === EventSource.CLOSED ? "closed" : "retrying");
  source.onmessage = (message) => {
    let event;
    try {
      event = JSON.parse(message.data);
    } catch {
      return;
    }
    callback(event);
  };
  return () => source.close();
}

export function thumbUrl(library, contentId, size, device) {
  const url = `/api/v1/thumb/${library}/${contentId}/${size}`;
  return device ? `${url}?device=${encodeURIComponent(device)}` : url;
}

export function fileUrl(library, path) {
  return `/api/v1/file/${library}?${new URLSearchParams({ path })}`;
}
