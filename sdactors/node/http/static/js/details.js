// The details panel: a file's facts and media data, its tags (editable), why it is (or is
// not) in the index, and its history across devices.
import * as api from "./api.js";
import { state } from "./app.js";
import { announce, bytes, clear, debounce, facts, h, short, when } from "./dom.js";

let current = null;

function panel() {
  return document.getElementById("details");
}

export function close() {
  current = null;
  const aside = panel();
  aside.hidden = true;
  clear(aside);
}

export async function open(entry, options = { focus: true }) {
  current = entry;
  const aside = panel();
  aside.hidden = false;
  clear(aside, h("p", { class: "muted", text: `Loading ${entry.name}…` }));
  const args = { path: entry.path, library: state.library };
  const [info, why, history, tags] = await Promise.all([
    api.op("info", args).catch((error) => ({ error })),
    api.op("why", args).catch((error) => ({ error })),
    api.op("log.history", args).catch((error) => ({ error })),
    api.op("tag.list", { library: state.library }).catch(() => []),
  ]);
  if (current !== entry) return;
  const known = info.error ? entry : info;
  const heading = h("h2", { id: "details-title", tabindex: "-1", text: known.name || entry.name });
  clear(
    aside,
    h("button", { type: "button", class: "close", text: "Close details", onclick: close }),
    heading,
    info.error ? h("p", { class: "error", text: info.error.message }) : null,
    preview(known),
    facts([
      ["Path", known.path],
      ["Kind", known.kind || known.type],
      ["Size", known.type === "file" ? bytes(known.size) : ""],
      ["Modified", when(known.modified)],
      ["Held by", known.device_name ? `${known.device_name} (${short(known.device)})` : ""],
      ["Content", known.content?.id ? short(known.content.id) : known.content_id],
      ["Copies", known.content?.instances],
    ]),
    media(known.media),
    tagEditor(known, tags),
    h("h3", { text: "Why" }),
    why.error ? h("p", { class: "error", text: why.error.message }) : h("p", { text: why.detail || why.reason }),
    h("h3", { text: "History" }),
    historyOf(history),
    h("p", {}, h("button", {
      type: "button",
      text: "Send with Spacedrop",
      onclick: () => import("./app.js").then((app) => app.show("drop", { paths: [known.path], focus: true })),
    })),
  );
  if (options.focus) heading.focus();
}

function preview(info) {
  const full = info.content?.id;
  if (!full || !(info.thumbnails || []).length) return null;
  const small = api.thumbUrl(state.library, full, 256, info.device);
  const large = api.thumbUrl(state.library, full, 1024, info.device);
  return h("button", {
    type: "button",
    class: "preview",
    "aria-label": `Open the picture of ${info.name}`,
    onclick: () => {
      const viewer = document.getElementById("viewer");
      const img = document.getElementById("viewer-img");
      img.src = large;
      img.alt = info.name;
      document.getElementById("viewer-open").href = api.fileUrl(state.library, info.path);
      viewer.showModal();
    },
  }, h("img", { class: "thumb", src: small, alt: "" }));
}

function media(data) {
  if (!data) return null;
  const size = data.width && data.height ? `${data.width} × ${data.height}` : "";
  const camera = [data.make, data.model].filter(Boolean).join(" ");
  const place = data.lat !== null && data.lat !== undefined ? `${data.lat}, ${data.lon}` : "";
  return h("section", { "aria-label": "Media data" }, h("h3", { text: "Media" }), facts([
    ["Dimensions", size],
    ["Taken", when(data.taken)],
    ["Camera", camera],
    ["Place", place],
    ["Duration", data.duration_ms ? `${(data.duration_ms / 1000).toFixed(1)} s` : ""],
    ["Codecs", [data.video_codec, data.audio_codec].filter(Boolean).join(", ")],
    ["Pages", data.pages],
    ["Problem", data.error],
  ]));
}

function tagEditor(info, known) {
  const tags = info.tags || [];
  const list = h("ul", { class: "tags", "aria-label": "Tags" }, tags.map((tag) => {
    const name = typeof tag === "string" ? tag : tag.name;
    return h("li", { class: "tag" }, name, h("button", {
      type: "button",
      "aria-label": `Remove the tag ${name}`,
      text: "×",
      onclick: () => change("tag.remove", { paths: [info.path], tag: name }, `Removed the tag ${name}.`),
    }));
  }));
  const input = h("input", { id: "tag-name", list: "tag-names", autocomplete: "off", required: true });
  const names = h("datalist", { id: "tag-names" }, known.map((tag) => h("option", { value: tag.name })));
  const form = h("form", { class: "toolbar", onsubmit: (event) => {
    event.preventDefault();
    const tag = input.value.trim();
    if (tag) change("tag.add", { paths: [info.path], tag, create: true }, `Tagged ${info.name} ${tag}.`);
  } }, h("label", { for: "tag-name", text: "Add a tag" }), input, names, h("button", { type: "submit", text: "Add" }));
  return h("section", { "aria-label": "Tags" }, h("h3", { text: "Tags" }),
    tags.length ? list : h("p", { class: "muted", text: "No tags." }), form,
    h("p", { id: "tag-error", class: "error", role: "alert" }));
}

async function change(name, args, done) {
  const entry = current;
  try {
    await api.op(name, { ...args, library: state.library });
    announce(done);
    if (entry) await open(entry, { focus: false });
    document.getElementById("tag-name")?.focus();
  } catch (error) {
    const where = document.getElementById("tag-error");
    if (where) where.textContent = error.message;
  }
}

function historyOf(history) {
  if (history.error) return h("p", { class: "error", text: history.error.message });
  if (!history.length) return h("p", { class: "muted", text: "No history." });
  return h("ol", { class: "history" }, history.map((step) => h("li", {},
    `${step.time} · ${step.what} on ${step.device_name || short(step.device)}`,
    step.old_path ? ` (from ${step.old_path})` : "")));
}

const refresh = debounce(() => {
  if (current) open(current, { focus: false });
}, 200);

export function onEvent(event) {
  if (!current) return;
  const type = event.type || "";
  if (type.startsWith("tag") || type.startsWith("file.") || type.startsWith("media.")) refresh();
}
