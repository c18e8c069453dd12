// The time slider: a folder or a search as it was at a position of the log (the ops' `at`).
import * as api from "./api.js";
import { h } from "./dom.js";

// A slider over the log's positions; `changed(at)` with null for "now".
export function slider(state, changed) {
  const id = `at-${state.view}`;
  const told = h("output", { for: id, class: "muted", text: state.at === null ? "now" : "" });
  const range = h("input", {
    id,
    type: "range",
    min: 1,
    max: Math.max(state.head, 1),
    step: 1,
    value: state.at === null ? Math.max(state.head, 1) : state.at,
    "aria-label": "Position in the library's history",
  });
  const now = h("button", { type: "button", text: "Now", disabled: state.at === null });
  async function tell(at) {
    if (at === null) {
      told.textContent = "now";
      return;
    }
    try {
      const moment = await api.op("log.moment", { at: String(at), library: state.library });
      told.textContent = `as it was at event ${moment.position} (${moment.when})`;
    } catch (error) {
      told.textContent = `event ${at}`;
    }
  }
  tell(state.at);
  // The slider tells and enables itself: a view that is not drawn again (search) keeps it.
  function move(at) {
    state.at = at;
    now.disabled = at === null;
    if (at === null) range.value = range.max;
    tell(at);
    changed(at);
  }
  range.addEventListener("change", () => move(Number(range.value) >= state.head ? null : Number(range.value)));
  now.addEventListener("click", () => move(null));
  return h("div", { class: "slider" }, h("label", { for: id, text: "Time" }), range, told, now);
}
