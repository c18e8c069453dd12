// Libraries and locations as a tree; a folder as a grid of thumbnails or a list, sortable,
// kept up to date by the library's events.
import * as api from "./api.js";
import { state, show } from "./app.js";
import * as details from "./details.js";
import { announce, bytes, clear, debounce, h, keepingFocus, showError, when } from "./dom.js";
import { slider } from "./timeline.js";

// Icons drawn here (no icon font, no emoji: a machine without an emoji font shows boxes).
const SHAPES = {
  folder: "M2 5h7l2 2h11v12H2z",
  file: "M5 2h9l5 5v15H5z M14 2v5h5",
  image: "M3 4h18v16H3z M3 16l5-5 4 4 3-3 6 6 M16 8.5a1.5 1.5 0 1 0 0.01 0",
  video: "M3 5h14v14H3z M17 10l5-3v10l-5-3",
  audio: "M9 18V5l11-2v13 M9 18a3 3 0 1 1-0.01 0 M20 16a3 3 0 1 1-0.01 0",
};
const SVG = "http://www.w3.org/2000/svg";
const SORTS = { name: "Name", size: "Size", modified: "Modified", kind: "Kind" };
const look = { mode: localStorage.getItem("sd-look") || "grid", sort: "name", reverse: false };

let shown = [];
let main = null;

export function icon(entry, large = false) {
  const shape = entry.type === "file" ? SHAPES[entry.kind] || SHAPES.file : SHAPES.folder;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", large ? "icon" : "icon small");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", shape);
  svg.append(path);
  return svg;
}

// -- the tree ---------------------------------------------------------------------------

export async function renderTree(nav) {
  const locations = await api.op("ls", { path: null, library: state.library });
  const list = h("ul", { role: "list" });
  for (const loc of locations) list.append(branch(loc));
  clear(nav, h("h2", { class: "visually-hidden", text: "Locations" }), list);
  markCurrent();
}

function branch(entry) {
  const children = h("ul", { hidden: true });
  const toggle = h("button", {
    type: "button",
    class: "toggle",
    "aria-expanded": "false",
    "aria-label": `Show the folders in ${entry.name}`,
    text: "▸",
  });
  const open = h("button", {
    type: "button",
    class: "open",
    dataset: { path: entry.path },
    title: entry.path,
    text: entry.name + (entry.offline ? " (offline)" : ""),
    "aria-label": `${entry.name}${entry.device_name ? ` on ${entry.device_name}` : ""}${entry.offline ? ", offline" : ""}`,
    onclick: () => openFolder(entry.path, { focus: false }),
  });
  toggle.addEventListener("click", async () => {
    const expanded = toggle.getAttribute("aria-expanded") === "true";
    toggle.setAttribute("aria-expanded", String(!expanded));
    toggle.textContent = expanded ? "▸" : "▾";
    children.hidden = expanded;
    if (!expanded && !children.childElementCount) {
      try {
        const found = await api.op("ls", { path: entry.path, library: state.library });
        for (const dir of found.filter((e) => e.type === "dir")) children.append(branch(dir));
        if (!children.childElementCount) children.append(h("li", { class: "muted", text: "no folders" }));
      } catch (error) {
        children.append(h("li", { class: "error", text: error.message }));
      }
    }
  });
  const holder = entry.type === "location" && entry.device_name
    ? h("span", { class: "holder", "aria-hidden": "true", text: ` ${entry.device_name}` })
    : null;
  return h("li", {}, toggle, open, holder, children);
}

function markCurrent() {
  for (const button of document.querySelectorAll("#tree button.open")) {
    if (button.dataset.path === state.folder) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
}

export async function openFolder(path, options = {}) {
  state.folder = path;
  await show("files", options);
}

// -- the folder -------------------------------------------------------------------------

export async function render(into) {
  main = into;
  const view = state.folder;
  let entries;
  try {
    entries = await api.op("ls", { path: view, library: state.library, at: state.at });
  } catch (error) {
    if (view !== state.folder) return;
    clear(main, header(), h("p", { class: "error", role: "alert", text: error.message }));
    return;
  }
  if (view !== state.folder || state.view !== "files") return; // another folder since
  shown = entries;
  draw();
  markCurrent();
}

function header() {
  const crumbs = h("ol", { class: "crumbs", "aria-label": "Folder path" });
  crumbs.append(h("li", {}, h("button", { type: "button", text: "Locations", onclick: () => openFolder(null) })));
  if (state.folder) {
    const base = locationOf(state.folder);
    const rest = base ? state.folder.slice(base.length).split("/").filter(Boolean) : [];
    let path = base || state.folder;
    crumbs.append(h("li", {}, h("button", { type: "button", text: base || state.folder, onclick: () => openFolder(base) })));
    for (const part of rest) {
      path = `${path}/${part}`;
      const target = path;
      crumbs.append(h("li", {}, h("button", { type: "button", text: part, onclick: () => openFolder(target) })));
    }
    crumbs.lastChild.firstChild.setAttribute("aria-current", "location");
  }
  return h(
    "div",
    {},
    h("h2", { text: state.folder ? state.folder.split("/").pop() || state.folder : "Locations" }),
    crumbs,
    state.folder ? slider(state, () => render(main)) : null,
  );
}

function locationOf(path) {
  let best = null;
  for (const button of document.querySelectorAll("#tree > ul > li > button.open")) {
    const base = button.dataset.path;
    if ((path === base || path.startsWith(base + "/")) && (!best || base.length > best.length)) best = base;
  }
  return best;
}

function sorted(entries) {
  const key = look.sort;
  const out = [...entries].sort((a, b) => {
    const dirs = (b.type !== "file") - (a.type !== "file");
    if (dirs) return dirs;
    const x = a[key] ?? "";
    const y = b[key] ?? "";
    return typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
  });
  return look.reverse ? out.reverse() : out;
}

function toolbar() {
  const mode = (name, label) =>
    h("button", {
      type: "button",
      "aria-pressed": String(look.mode === name),
      text: label,
      onclick: () => {
        look.mode = name;
        localStorage.setItem("sd-look", name);
        draw();
      },
    });
  const sort = h("select", { id: "sort", onchange: (e) => { look.sort = e.target.value; draw(); } },
    Object.entries(SORTS).map(([value, label]) => h("option", { value, text: label, selected: look.sort === value })));
  const reverse = h("button", {
    type: "button",
    "aria-pressed": String(look.reverse),
    text: look.reverse ? "Descending" : "Ascending",
    onclick: () => { look.reverse = !look.reverse; draw(); },
  });
  return h("div", { class: "toolbar", role: "group", "aria-label": "How to show the folder" },
    mode("grid", "Grid"), mode("list", "List"),
    h("label", { for: "sort", text: "Sort by" }), sort, reverse,
    h("span", { class: "muted", text: `${shown.length} item${shown.length === 1 ? "" : "s"}` }));
}

function draw() {
  if (!main) return;
  const entries = sorted(shown);
  const body = entries.length === 0
    ? h("p", { class: "muted", text: "Nothing here." })
    : look.mode === "grid" ? grid(entries) : table(entries);
  keepingFocus(main, () => clear(main, header(), toolbar(), body));
}

export function activate(entry) {
  if (entry.type === "dir" || entry.type === "location") return openFolder(entry.path, { focus: true });
  return details.open(entry);
}

function grid(entries) {
  return h("ul", { class: "grid", "aria-label": "Folder contents" }, entries.map((entry) =>
    h("li", {}, h("button", {
      type: "button",
      class: "item",
      dataset: { path: entry.path },
      "aria-label": `${entry.name}, ${entry.type === "file" ? entry.kind || "file" : "folder"}`,
      onclick: () => activate(entry),
    }, picture(entry), h("span", { text: entry.name })))));
}

// A thumbnail where the library has one (a picture or a video), else an icon.
export function picture(entry, size = 256) {
  if (entry.type === "file" && (entry.kind === "image" || entry.kind === "video") && entry.content_id) {
    const img = h("img", { class: "thumb", alt: "", loading: "lazy", dataset: { path: entry.path } });
    thumbnailOf(entry, size).then((url) => {
      if (url) img.src = url;
      else img.replaceWith(icon(entry, true));
    });
    return img;
  }
  return icon(entry, true);
}

const fullIds = new Map();

// Listings name a content by its short id; the thumbnail route wants the whole one, which
// the file's info gives (asked once per content).
export async function thumbnailOf(entry, size) {
  const key = `${state.library}:${entry.content_id}`;
  if (!fullIds.has(key)) {
    fullIds.set(key, api.op("info", { path: entry.path, library: state.library })
      .then((info) => info.content?.id || null)
      .catch(() => null));
  }
  const full = await fullIds.get(key);
  return full ? api.thumbUrl(state.library, full, size, entry.device) : null;
}

function table(entries) {
  const head = (key, label) => {
    const current = look.sort === key;
    return h("th", { scope: "col", "aria-sort": current ? (look.reverse ? "descending" : "ascending") : "none" },
      h("button", { type: "button", text: label, onclick: () => {
        look.reverse = current ? !look.reverse : false;
        look.sort = key;
        draw();
      } }));
  };
  return h("table", { "aria-label": "Folder contents" },
    h("thead", {}, h("tr", {}, head("name", "Name"), head("kind", "Kind"), head("size", "Size"),
      head("modified", "Modified"), h("th", { scope: "col", class: "hide-narrow", text: "Device" }))),
    h("tbody", {}, entries.map((entry) => h("tr", {},
      h("td", { class: "name" }, h("button", { type: "button", dataset: { path: entry.path }, onclick: () => activate(entry) },
        icon(entry), entry.name)),
      h("td", { text: entry.type === "file" ? entry.kind || "" : "folder" }),
      h("td", { text: entry.type === "file" ? bytes(entry.size) : "" }),
      h("td", { text: when(entry.modified) }),
      h("td", { class: "hide-narrow", text: entry.device_name || "" })))));
}

// -- live -------------------------------------------------------------------------------

const reload = debounce(() => {
  if (state.view === "files" && state.at === null) {
    render(main).then(() => announce("The folder changed."));
  }
}, 150);

export function onEvent(event) {
  if (state.at !== null) return;
  const type = event.type || "";
  if (type.startsWith("entries.") || type.startsWith("tag") || type.startsWith("file.") || type.startsWith("media.")) {
    if (state.view === "files") reload();
  }
  if (type.startsWith("location.")) renderTree(document.getElementById("tree")).catch(() => {});
}

export { showError };
