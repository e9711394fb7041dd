// Small DOM helpers: elements are built with properties and text nodes, never from HTML strings, so no
// text from a device or a user can become markup (and no inline style the CSP would refuse).

let fieldCount = 0;

/** `h("td", {className: "num"}, "12")`: attributes starting with "on" are listeners, "data-*"/"aria-*" attributes. */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name.startsWith("data-") || name.startsWith("aria-") || name === "for" || name === "role") {
      element.setAttribute(name, value === true ? "" : String(value));
    } else {
      element[name] = value;
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** A labelled form field: `<label for=id>text</label>` beside the control, which gets the id. */
export function field(labelText, control) {
  control.id ||= `field-${++fieldCount}`;
  return h("div", { className: "field" }, h("label", { for: control.id }, labelText), control);
}

export function select(name, options, value) {
  return h("select", { name }, ...options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)));
}

/** A table of `rows` (objects) with `columns`: `[[heading, row => cell]]`. */
export function table(columns, rows, caption) {
  return h(
    "table",
    {},
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, ...columns.map(([heading]) => h("th", { scope: "col" }, heading)))),
    h("tbody", {}, ...rows.map((row) => h("tr", {}, ...columns.map(([, cell]) => h("td", {}, cell(row) ?? ""))))),
  );
}

/** A status line for results and errors, announced to screen readers. */
export function notice(text = "", kind = "info") {
  return h("p", { className: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

/** Puts `content` (text or a node) into a `notice`, as an alert when it is an error. */
export function say(element, content, kind = "ok") {
  element.className = `notice ${kind}`;
  element.setAttribute("role", kind === "error" ? "alert" : "status");
  element.replaceChildren(content instanceof Node ? content : document.createTextNode(String(content)));
}

/** A Chart.js chart on a new canvas inside `container`; the previous one there is destroyed. */
export function chart(container, config, label) {
  for (const old of container.querySelectorAll("canvas")) window.Chart.getChart(old)?.destroy();
  const canvas = h("canvas", { role: "img", "aria-label": label });
  container.replaceChildren(h("div", { className: "chart" }, canvas));
  return new window.Chart(canvas, {
    ...config,
    options: { responsive: true, maintainAspectRatio: false, animation: false, ...config.options },
  });
}

export function time(iso) {
  if (!iso) return "";
  const moment = new Date(iso);
  return Number.isNaN(moment.getTime()) ? String(iso) : moment.toLocaleString();
}
