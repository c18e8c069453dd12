// Small helpers to build the page's elements: text is always set as text, never as HTML,
// so a file's name cannot act as markup.

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function bytes(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  let value = n;
  while (value >= 1000 && i < units.length - 1) {
    value /= 1000;
    i += 1;
  }
  return i === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[i]}`;
}

export function when(iso) {
  if (!iso) return "";
  const date = new Date(iso.replace(" ", "T"));
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

export function short(hex) {
  return hex ? hex.slice(0, 8) : "";
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

// A polite live region: what changed, read out by screen readers.
export function announce(message) {
  const region = document.getElementById("announce");
  if (region) region.textContent = message;
}

export function showError(where, error) {
  clear(where, h("p", { class: "error", role: "alert", text: error.message || String(error) }));
}

// A definition list from [label, value] pairs (values left out when empty).
export function facts(pairs) {
  return h(
    "dl",
    { class: "facts" },
    pairs
      .filter(([, value]) => value !== null && value !== undefined && value !== "")
      .map(([label, value]) => [h("dt", { text: label }), h("dd", {}, value)]),
  );
}

// Draw a region again (`draw`) without taking the keyboard's place away: whoever was on an
// element of it is put back on the element that stands for the same thing (the same file,
// control or action), or on the region itself when it is gone.
export function keepingFocus(region, draw) {
  const was = region.contains(document.activeElement) ? document.activeElement : null;
  draw();
  if (!was || region.contains(was)) return;
  const same = (el) =>
    el.tagName === was.tagName &&
    (was.dataset.path ? el.dataset.path === was.dataset.path
      : was.id ? el.id === was.id
      : was.getAttribute("aria-label") ? el.getAttribute("aria-label") === was.getAttribute("aria-label")
      : el.textContent === was.textContent);
  const again = [...region.querySelectorAll(was.tagName)].find(same);
  if (again) again.focus();
  else {
    if (!region.hasAttribute("tabindex")) region.setAttribute("tabindex", "-1");
    region.focus();
  }
}
