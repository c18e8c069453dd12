// Search as you type, with filters; each result shows the device that holds it. The modes
// are what the search op offers (its `mode` argument, when it has one).
import * as api from "./api.js";
import { query, state } from "./app.js";
import { activate, icon } from "./files.js";
import { announce, bytes, clear, debounce, h, showError } from "./dom.js";
import { slider } from "./timeline.js";

const filters = { kind: "", ext: "", tag: "", favourite: false, under: false, mode: "" };
let main = null;
let results = null;
let asked = 0;
// Hits shown at most: a screenful and more; a longer query narrows them.
const LIMIT = 100;

export async function render(into) {
  main = into;
  const [args, tags] = await Promise.all([
    api.argumentsOf("search"),
    api.op("tag.list", { library: state.library }).catch(() => []),
  ]);
  results = h("div", { id: "results" }); // the count is announced, not the table
  clear(main, h("h2", { text: "Search" }), form(args, tags), slider(state, () => typed(true)), results);
  await typed(true);
}

function form(args, tags) {
  const modes = modesOf(args.mode);
  const select = (id, label, options, key) => [
    h("label", { for: id, text: label }),
    h("select", { id, onchange: (e) => { filters[key] = e.target.value; typed(true); } },
      options.map(([value, text]) => h("option", { value, text, selected: filters[key] === value }))),
  ];
  const kinds = ["", "image", "video", "audio", "document", "text", "code", "archive", "executable", "font", "database", "book", "config", "unknown"];
  return h("div", { class: "filters", role: "group", "aria-label": "Search filters" },
    select("mode", "Mode", modes.length ? modes.map((m) => [m, m]) : [["", "names"]], "mode"),
    select("kind", "Kind", kinds.map((k) => [k, k || "any"]), "kind"),
    h("label", { for: "ext", text: "Extension" }),
    h("input", { id: "ext", size: 6, value: filters.ext, oninput: (e) => { filters.ext = e.target.value.trim(); typed(); } }),
    select("tag", "Tag", [["", "any"], ...tags.map((t) => [t.name, t.name])], "tag"),
    h("label", {}, h("input", { type: "checkbox", checked: filters.favourite,
      onchange: (e) => { filters.favourite = e.target.checked; typed(true); } }), " Favourites"),
    state.folder ? h("label", {}, h("input", { type: "checkbox", checked: filters.under,
      onchange: (e) => { filters.under = e.target.checked; typed(true); } }), ` Only in ${state.folder}`) : null);
}

// The search op's modes, from its declared arguments (none until it has a `mode`).
function modesOf(schema) {
  if (!schema) return [];
  const options = schema.anyOf || [schema];
  for (const option of options) {
    if (Array.isArray(option.enum)) return option.enum;
    // A text argument held to a few words: the OpenAPI document says so as ^(?:a|b)$.
    const words = /^\^\(\?:([\w|-]+)\)\$$/.exec(option.pattern || "");
    if (words) return words[1].split("|");
  }
  return [];
}

const soon = debounce(() => run(), 120);

export function typed(now = false) {
  if (now) return run();
  soon();
}

async function run() {
  if (!results) return;
  const mine = ++asked;
  const args = { query: query() || null, library: state.library, at: state.at, limit: LIMIT };
  if (filters.kind) args.kind = filters.kind;
  if (filters.ext) args.ext = filters.ext.replace(/^\./, "");
  if (filters.tag) args.tags = [filters.tag];
  if (filters.favourite) args.favourite = true;
  if (filters.under && state.folder) args.under = state.folder;
  if (filters.mode) args.mode = filters.mode;
  let found;
  try {
    found = await api.op("search", args);
  } catch (error) {
    if (mine === asked) showError(results, error);
    return;
  }
  if (mine !== asked) return; // a later keystroke's answer wins
  clear(results, found.length ? table(found) : h("p", { class: "muted", text: "No file matches." }),
    found.length === LIMIT ? h("p", { class: "muted", text: `The first ${LIMIT}: type more to narrow them.` }) : null);
  announce(`${found.length} result${found.length === 1 ? "" : "s"}`);
}

function table(found) {
  return h("table", { "aria-label": "Search results" },
    h("thead", {}, h("tr", {}, ["Name", "Held by", "Kind", "Size", "Tags"].map((t) => h("th", { scope: "col", text: t })))),
    h("tbody", {}, found.map((hit) => h("tr", {},
      h("td", { class: "name" }, h("button", { type: "button", dataset: { path: hit.path }, onclick: () => activate(hit) },
        icon(hit), hit.name),
        h("div", { class: "holder", text: hit.path })),
      h("td", { class: "device", text: hit.device_name || (hit.device || "").slice(0, 8) }),
      h("td", { text: hit.kind || hit.type }),
      h("td", { text: hit.type === "file" ? bytes(hit.size) : "" }),
      h("td", { text: (hit.tags || []).map((t) => (typeof t === "string" ? t : t.name)).join(", ") })))));
}

const again = debounce(() => run(), 250);

export function onEvent(event) {
  const type = event.type || "";
  if (state.at === null && (type.startsWith("entries.") || type.startsWith("tag") || type.startsWith("file."))) again();
}
