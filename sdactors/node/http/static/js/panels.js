// The library's other views: duplicates, devices and sync status, jobs with live progress,
// the log as it happens, Spacedrop, and the agents' proposals (once the node has them).
import * as api from "./api.js";
import { state } from "./app.js";
import * as details from "./details.js";
import { announce, bytes, clear, debounce, facts, h, keepingFocus, short, showError, when } from "./dom.js";

function table(label, columns, rows) {
  return h("table", { "aria-label": label },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", text: c })))),
    h("tbody", {}, rows));
}

function openPath(path) {
  return h("button", { type: "button", class: "link", text: path,
    onclick: () => details.open({ path, name: path.split("/").pop(), type: "file" }) });
}

// -- duplicates -------------------------------------------------------------------------

export const duplicates = {
  async render(main) {
    const similar = h("button", { type: "button", text: "Similar pictures" });
    const out = h("div", {});
    clear(main, h("h2", { text: "Duplicates" }), h("div", { class: "toolbar" }, similar), out);
    similar.addEventListener("click", async () => {
      similar.disabled = true;
      try {
        const groups = await api.op("duplicates.similar", { library: state.library });
        clear(out, h("h3", { text: "Similar pictures" }), groups.length
          ? h("ol", {}, groups.map((g) => h("li", {}, h("ul", {}, (g.files || g.paths || []).map((f) =>
            h("li", {}, openPath(typeof f === "string" ? f : f.path)))))))
          : h("p", { class: "muted", text: "No similar pictures." }));
      } catch (error) {
        showError(out, error);
      }
    });
    const groups = await api.op("duplicates", { library: state.library });
    if (!groups.length) return clear(out, h("p", { class: "muted", text: "No duplicates." }));
    clear(out, table("Duplicate groups", ["Copies", "Size", "Wasted", "Files"], groups.map((g) =>
      h("tr", {}, h("td", { text: g.count }), h("td", { text: bytes(g.size) }), h("td", { text: bytes(g.waste) }),
        h("td", {}, h("ul", {}, g.paths.map((p) => h("li", {}, openPath(p)))))))));
  },
};

// -- devices and sync -------------------------------------------------------------------

export const devices = {
  async render(main) {
    const [list, sync] = await Promise.all([
      api.op("device.list", { library: state.library }),
      api.op("sync.status", { library: state.library }).catch((error) => ({ error })),
    ]);
    const status = new Map((Array.isArray(sync) ? sync : []).map((s) => [s.device, s]));
    clear(main, h("h2", { text: "Devices" }),
      sync.error ? h("p", { class: "error", role: "alert", text: sync.error.message }) : null,
      table("Devices and sync status", ["Device", "Role", "Connected", "Behind / ahead", "Last sync", "Why"],
        list.map((d) => {
          const s = status.get(d.device) || {};
          return h("tr", { dataset: { device: d.device } },
            h("td", {}, d.name || short(d.device), d.this_device ? " (this device)" : "",
              h("div", { class: "holder", text: short(d.device) })),
            h("td", { text: d.revoked ? "revoked" : d.role }),
            h("td", { text: d.this_device ? "" : (s.connected ?? d.connected) ? "yes" : "no" }),
            h("td", { text: s.behind !== undefined && s.behind !== null ? `${s.behind} / ${s.ahead}` : "" }),
            h("td", { text: when(s.last_sync) }),
            h("td", { class: "reason", text: d.this_device ? "" : syncReason(d, s) }));
        })));
  },
  onEvent: debounce((event) => {
    const type = event.type || "";
    if (state.view === "devices" && (type.startsWith("device") || type.startsWith("library."))) {
      devices.render(document.getElementById("main")).catch(() => {});
    }
  }, 300),
};

// Why a device is (or is not) in step with this one, in the words of `sd sync status`.
function syncReason(device, status) {
  if (device.revoked) return "revoked";
  if (status.reason) return status.reason;
  if (status.connected && status.behind === 0 && status.ahead === 0) return "in step";
  if (status.connected) return "syncing";
  return "";
}

// -- jobs -------------------------------------------------------------------------------

let polling = null;

function progressOf(job) {
  // A running job tells its progress; a paused or ended one, its last checkpoint.
  const p = job.progress || {};
  const saved = job.checkpoint && typeof job.checkpoint === "object" ? job.checkpoint : {};
  const done = p.done ?? saved.files ?? null;
  const expected = p.expected ?? saved.total ?? null;
  if (done === null || !expected) return h("span", { class: "muted", text: job.state });
  return h("progress", { max: expected, value: done, "aria-label": `${job.kind} job progress`, text: `${done}/${expected}` });
}

function jobButtons(job) {
  const act = (name, label) => h("button", { type: "button", text: label, "aria-label": `${label} the ${job.kind} job ${short(job.id)}`,
    onclick: async (event) => {
      event.target.disabled = true;
      try {
        await api.op(`jobs.${name}`, { job: job.id, library: state.library });
        announce(`${label}: ${job.kind} job ${short(job.id)}`);
      } catch (error) {
        announce(error.message);
        alertIn(error.message);
      }
      await jobs.refresh();
    } });
  const buttons = [];
  if (["running", "queued"].includes(job.state)) buttons.push(act("pause", "Pause"));
  if (job.state === "paused") buttons.push(act("resume", "Resume"));
  if (["running", "queued", "paused"].includes(job.state)) buttons.push(act("cancel", "Cancel"));
  return buttons;
}

function alertIn(message) {
  const where = document.getElementById("jobs-error");
  if (where) where.textContent = message;
}

export const jobs = {
  main: null,
  async render(main) {
    jobs.main = main;
    clear(main, h("h2", { text: "Jobs" }), h("p", { id: "jobs-error", class: "error", role: "alert" }), h("div", { id: "jobs-table" }));
    await jobs.refresh();
    clearInterval(polling);
    polling = setInterval(() => {
      if (state.view !== "jobs") return clearInterval(polling);
      jobs.refresh().catch(() => {});
    }, 1000);
  },
  async refresh() {
    const where = document.getElementById("jobs-table");
    if (!where) return;
    const list = await api.op("jobs.list", { all: true, library: state.library });
    keepingFocus(where, () => clear(where, list.length ? table("Jobs", ["Job", "Where", "State", "Progress", "Actions"], list.map((job) =>
      h("tr", { dataset: { job: job.id } },
        h("td", {}, job.kind, h("div", { class: "holder", text: short(job.id) })),
        h("td", { text: job.path || "" }),
        h("td", { text: job.reason ? `${job.state}: ${typeof job.reason === "string" ? job.reason : JSON.stringify(job.reason)}` : job.state }),
        h("td", {}, progressOf(job)),
        h("td", {}, jobButtons(job))))) : h("p", { class: "muted", text: "No jobs." })));
  },
  onEvent: debounce((event) => {
    if (state.view === "jobs" && (event.type || "").startsWith("job.")) jobs.refresh().catch(() => {});
  }, 200),
};

// -- the log ----------------------------------------------------------------------------

const KEEP = 300;
let following = true;
let logType = "";

function logLine(event) {
  const body = event.body ? JSON.stringify(event.body) : "";
  return h("li", { dataset: { pos: event.pos } },
    h("strong", { text: `${event.pos} ` }), h("span", { text: `${event.type} ` }),
    h("span", { class: "muted", text: body.length > 240 ? body.slice(0, 240) + "…" : body }));
}

export const log = {
  async render(main) {
    const list = h("ol", { id: "log-lines", class: "logview", "aria-label": "Events, newest last", "aria-live": "off" });
    const toggle = h("button", { type: "button", "aria-pressed": String(following), text: "Follow live",
      onclick: () => {
        following = !following;
        toggle.setAttribute("aria-pressed", String(following));
      } });
    const type = h("input", { id: "log-type", value: logType, size: 14, placeholder: "entries.",
      onchange: () => {
        logType = type.value.trim();
        log.render(main);
      } });
    clear(main, h("h2", { text: "Log" }), h("div", { class: "toolbar" }, toggle,
      h("label", { for: "log-type", text: "Types starting with" }), type), list);
    const recent = await api.op("log.tail", { count: 100, type_prefix: logType || null, library: state.library });
    for (const event of recent) list.append(logLine(event));
    list.lastElementChild?.scrollIntoView({ block: "nearest" });
  },
  onEvent(event) {
    const list = document.getElementById("log-lines");
    if (!list || state.view !== "log" || !following) return;
    if (logType && !(event.type || "").startsWith(logType)) return;
    const last = list.lastElementChild;
    if (last && Number(last.dataset.pos) >= event.pos) return;
    list.append(logLine(event));
    while (list.childElementCount > KEEP) list.firstElementChild.remove();
    list.lastElementChild.scrollIntoView({ block: "nearest" });
  },
};

// -- Spacedrop --------------------------------------------------------------------------

// Offers are not events of the library's log: the list is asked again every two seconds
// while the view is shown (the send form is left as the user is filling it).
const DROP_POLL_MS = 2000;
let dropPolling = null;

export const drop = {
  async render(main, _state, options = {}) {
    const devices = await api.op("device.list", { library: state.library }).catch(() => []);
    const others = devices.filter((d) => !d.this_device && !d.revoked);
    const device = h("select", { id: "drop-device", required: true },
      others.map((d) => h("option", { value: d.device, text: d.name || short(d.device) })));
    const paths = h("textarea", { id: "drop-paths", rows: 3, required: true });
    paths.value = (options.paths || []).join("\n");
    const said = h("p", { id: "drop-said", role: "status" });
    const send = h("form", { onsubmit: async (event) => {
      event.preventDefault();
      said.textContent = "Sending…";
      try {
        const sent = await api.op("drop.send", { device: device.value, library: state.library,
          paths: paths.value.split("\n").map((p) => p.trim()).filter(Boolean) });
        said.textContent = `Sent: ${sent.state || "done"}${sent.reason ? ` (${sent.reason})` : ""}`;
      } catch (error) {
        said.textContent = error.message;
      }
      await drop.refresh();
    } }, h("h3", { text: "Send" }),
      others.length ? [h("label", { for: "drop-device", text: "To device" }), " ", device] : h("p", { class: "muted", text: "No other device is paired." }),
      h("p", {}, h("label", { for: "drop-paths", text: "Files (one path a line)" })), paths,
      h("p", {}, h("button", { type: "submit", text: "Send", disabled: !others.length })), said);
    clear(main, h("h2", { text: "Spacedrop" }), h("h3", { text: "Offers and drops" }),
      h("div", { id: "drop-offers" }), send);
    await drop.refresh();
    clearInterval(dropPolling);
    dropPolling = setInterval(() => {
      if (state.view !== "drop") return clearInterval(dropPolling);
      drop.refresh().catch(() => {});
    }, DROP_POLL_MS);
  },
  async refresh() {
    const where = document.getElementById("drop-offers");
    if (!where) return;
    let rows;
    try {
      rows = await api.op("drop.list");
    } catch (error) {
      return showError(where, error);
    }
    const decide = (offer, accept) => async (event) => {
      event.target.disabled = true;
      try {
        const args = accept ? { offer: offer.id, library: state.library } : { offer: offer.id };
        await api.op(accept ? "drop.accept" : "drop.reject", args);
        announce(accept ? `Accepted the drop from ${offer.name}.` : `Declined the drop from ${offer.name}.`);
      } catch (error) {
        announce(error.message);
        const said = document.getElementById("drop-said");
        if (said) said.textContent = error.message;
      }
      await drop.refresh();
    };
    keepingFocus(where, () => clear(where, rows.length ? table("Drops", ["From / to", "Files", "State", "Decide"], rows.map((offer) => h("tr", { dataset: { offer: offer.id } },
      h("td", { text: `${offer.direction === "in" ? "from" : "to"} ${offer.name || short(offer.device)}` }),
      h("td", {}, h("ul", {}, (offer.files || []).map((f) => h("li", { text: `${f.path || f.name} ${f.size !== undefined ? bytes(f.size) : ""}` })))),
      h("td", { class: "state", text: offer.reason ? `${offer.state}: ${offer.reason}` : offer.state }),
      h("td", {}, offer.direction === "in" && offer.state === "pending"
        ? [h("button", { type: "button", text: "Accept", "aria-label": `Accept the drop from ${offer.name}`, onclick: decide(offer, true) }), " ",
          h("button", { type: "button", text: "Decline", "aria-label": `Decline the drop from ${offer.name}`, onclick: decide(offer, false) })]
        : null)))) : h("p", { class: "muted", text: "No drops." })));
  },
};

// -- proposals (the agents') -----------------------------------------------------------

// What the agents propose: listed (open ones, or all), each previewed item by item
// (`agent.show`), accepted or rejected (`agent.accept`, `agent.reject`): the very ops
// `sd agent` runs, so a decision is audited with the proposal's id the same way.
let showDecided = false;

function previewOf(shown) {
  const items = shown.preview || [];
  return h("div", { class: "preview" },
    shown.bytes_freed ? h("p", { text: `Frees ${bytes(shown.bytes_freed)}.` }) : null,
    h("ol", { "aria-label": "What it would do" }, items.map((item) => h("li", {},
      h("span", { text: item.reason || item.command }),
      h("div", { class: "holder", text: item.command }),
      h("ul", {},
        (item.trash || []).map((path) => h("li", { text: `to the trash: ${path}` })),
        item.move ? h("li", { text: `move ${item.move.source} to ${item.move.destination}` }) : null,
        (item.trash || []).length || item.move ? null : (item.paths || []).map((path) => h("li", { text: path })))))));
}

function proposalCard(p, main) {
  const id = p.id.slice(0, 12);
  const region = h("div", { id: `proposal-${id}`, hidden: true });
  const preview = h("button", { type: "button", text: "Preview", "aria-expanded": "false",
    "aria-controls": region.id, "aria-label": `Preview: ${p.title}`,
    onclick: async () => {
      const open = preview.getAttribute("aria-expanded") === "true";
      preview.setAttribute("aria-expanded", String(!open));
      region.hidden = open;
      if (!open && !region.childElementCount) {
        try {
          clear(region, previewOf(await api.op("agent.show", { proposal: p.id, library: state.library })));
        } catch (error) {
          showError(region, error);
        }
      }
    } });
  const decide = (name, label) => h("button", { type: "button", text: label, "aria-label": `${label}: ${p.title}`,
    onclick: async (event) => {
      event.target.disabled = true;
      try {
        const done = await api.op(name, { proposal: p.id, library: state.library });
        const failed = (done.outcomes || []).filter((o) => !o.ok);
        announce(`${label}: ${p.title}${failed.length ? ` (${failed.length} item${failed.length === 1 ? "" : "s"} failed)` : ""}`);
      } catch (error) {
        announce(error.message);
        const said = document.getElementById("proposals-said");
        if (said) said.textContent = error.message;
      }
      await proposals.render(main);
    } });
  return h("li", { class: "proposal", dataset: { proposal: p.id } },
    h("h3", { text: p.title }),
    facts([
      ["Agent", p.agent],
      ["State", p.state],
      ["Items", p.items],
      ["Proposed", p.proposed ? `${when(p.proposed)}${p.device_name ? ` on ${p.device_name}` : ""}` : ""],
      ["Decided", p.decided ? `${when(p.decided)}${p.decided_by ? ` by ${p.decided_by}` : ""}` : ""],
    ]),
    h("div", { class: "toolbar" }, preview,
      p.state === "open" ? [decide("agent.accept", "Accept"), decide("agent.reject", "Reject")] : null),
    region);
}

export const proposals = {
  async render(main) {
    if (!(await api.hasOp("agent.proposals"))) {
      return clear(main, h("h2", { text: "Proposals" }),
        h("p", { class: "muted", text: "This node has no agents: their proposals would be listed here." }));
    }
    const list = await api.op("agent.proposals", { library: state.library, all: showDecided });
    const decided = h("input", { id: "proposals-all", type: "checkbox", checked: showDecided,
      onchange: () => { showDecided = decided.checked; proposals.render(main); } });
    clear(main, h("h2", { text: "Proposals" }),
      h("div", { class: "toolbar" }, decided, h("label", { for: "proposals-all", text: "Decided ones too" })),
      h("p", { id: "proposals-said", class: "error", role: "alert" }),
      list.length ? h("ul", { class: "proposals", "aria-label": "Proposals" }, list.map((p) => proposalCard(p, main)))
        : h("p", { class: "muted", text: showDecided ? "No proposals." : "No open proposals." }));
  },
  onEvent: debounce((event) => {
    if (state.view === "proposals" && (event.type || "").startsWith("agent.")) {
      proposals.render(document.getElementById("main")).catch(() => {});
    }
  }, 300),
};
