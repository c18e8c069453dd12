// The Explorer: log in, pick a library, switch views; every view renders into <main> and
// hears the library's events as they happen.
import * as api from "./api.js";
import { announce, clear, h, showError } from "./dom.js";
import * as details from "./details.js";
import * as files from "./files.js";
import * as search from "./search.js";
import * as panels from "./panels.js";

const views = {
  files,
  search,
  duplicates: panels.duplicates,
  devices: panels.devices,
  jobs: panels.jobs,
  log: panels.log,
  drop: panels.drop,
  proposals: panels.proposals,
};

// What every view shares: the library, the view shown, the folder and the log position
// the folder or the search is shown at (null: now).
export const state = { library: null, view: "files", folder: null, at: null, head: 0 };

let stopFollowing = () => {};

function $(id) {
  return document.getElementById(id);
}

async function boot() {
  api.whenSignedOut(() => showLogin());
  let found;
  try {
    found = await api.session();
  } catch (error) {
    return showLogin(error.message);
  }
  if (!found.authenticated) return showLogin(null, found.password_set);
  try {
    await start();
  } catch (error) {
    showError(document.getElementById("main"), error);
  }
}

function showLogin(message = null, passwordSet = true) {
  stopFollowing();
  $("app").hidden = true;
  $("login").hidden = false;
  $("login-how").hidden = passwordSet;
  $("login-form").hidden = !passwordSet;
  $("login-error").textContent = message || "";
  if (passwordSet) $("password").focus();
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await api.login($("password").value);
    $("password").value = "";
  } catch (error) {
    $("login-error").textContent = error.message;
    return;
  }
  try {
    await start();
  } catch (error) {
    showError($("main"), error);
  }
});

$("logout").addEventListener("click", async () => {
  await api.logout().catch(() => {});
  showLogin();
});

async function start() {
  $("login").hidden = true;
  $("app").hidden = false;
  const libraries = await api.op("library.list");
  const select = $("library");
  clear(select, libraries.map((lib) => h("option", { value: lib.id, text: lib.name })));
  if (!libraries.length) {
    clear($("main"), h("p", { text: "No library yet: create one with sd library create NAME." }));
    return;
  }
  const wanted = new URLSearchParams(location.hash.slice(1)).get("library");
  state.library = libraries.some((lib) => lib.id === wanted) ? wanted : libraries[0].id;
  select.value = state.library;
  await openLibrary();
}

$("library").addEventListener("change", async (event) => {
  state.library = event.target.value;
  state.folder = null;
  state.at = null;
  await openLibrary();
});

async function openLibrary() {
  history.replaceState(null, "", `#library=${state.library}`); // a reload keeps it
  stopFollowing();
  details.close();
  await refreshHead();
  stopFollowing = api.follow(state.library, heard, (s) => {
    $("live").textContent = s === "open" ? "live" : s;
  });
  await files.renderTree($("tree"));
  await show(state.view);
}

export async function refreshHead() {
  const stats = await api.op("log.stats", { library: state.library });
  state.head = stats.events;
}

function heard(event) {
  if (event.pos > state.head) state.head = event.pos;
  for (const view of [files, details, views[state.view]]) {
    if (view.onEvent) view.onEvent(event, state);
  }
}

export async function show(name, options = {}) {
  state.view = name;
  for (const button of document.querySelectorAll(".views button")) {
    if (button.dataset.view === name) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  }
  const main = $("main");
  try {
    await views[name].render(main, state, options);
  } catch (error) {
    showError(main, error);
  }
  if (options.focus) main.focus();
}

for (const button of document.querySelectorAll(".views button")) {
  button.addEventListener("click", () => show(button.dataset.view, { focus: true }));
}

$("q").addEventListener("input", () => {
  if (state.view !== "search") show("search");
  else search.typed();
});

$("viewer-close").addEventListener("click", () => $("viewer").close());

export function query() {
  return $("q").value;
}

export { announce };

boot();
