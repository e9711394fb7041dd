// The dashboard shell: login, navigation by role, language, and a hash router over the pages that
// modules register (`registerPage`). Everything shown comes from the JSON API, read as the logged-in user
// through the session cookie; the server decides what that user may see, the navigation only follows it.

import { chooseLanguage, pick, pickLanguage, t } from "./i18n.js";
import { field, h, notice, say } from "./dom.js";

export { addStrings, language, pick, t } from "./i18n.js";
export { chart, field, h, notice, say, select, table, time } from "./dom.js";

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.error;
    this.body = body;
  }
}

/** A JSON call to this server's API; same-origin fetch sends the session cookie and passes the CSRF check. */
export async function api(method, path, body, contentType = "application/json") {
  const options = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    options.headers["Content-Type"] = contentType;
    options.body = contentType === "application/json" ? JSON.stringify(body) : body;
  }
  const response = await fetch(path, options);
  const data = await response.json().catch(() => null);
  if (response.status === 401 && me && path !== "/api/v1/session") loggedOut(); // the session ended
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(name, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

const pages = [];
let me = null;
let leaving = [];

/**
 * Adds a page: `{path, label: () => text, allowed: user => bool, render: (main, params) => Promise, order}`.
 * `render` may return a function that is called when the user leaves the page (to stop polling).
 */
export function registerPage(page) {
  pages.push({ order: 50, allowed: () => true, ...page });
  pages.sort((a, b) => a.order - b.order);
}

export function currentUser() {
  return me;
}

export const roles = {
  staff: (user) => user.system_admin || ["admin", "operator"].includes(user.role),
  admin: (user) => user.system_admin || user.role === "admin",
  systemAdmin: (user) => Boolean(user.system_admin),
};

function moduleLabels() {
  const labels = {};
  for (const script of document.querySelectorAll("script[data-module]")) {
    try {
      labels[script.dataset.module] = JSON.parse(script.dataset.label || "{}");
    } catch {
      labels[script.dataset.module] = {};
    }
  }
  return labels;
}

/** The navigation label a plugin module's hook gave (by language), or `fallback`. */
export function moduleLabel(name, fallback) {
  return pick(moduleLabels()[name]) || fallback;
}

function translateShell() {
  document.querySelector(".skip").textContent = t("app.skip");
  document.querySelector("label[for=language]").textContent = t("app.language");
  document.getElementById("logout").textContent = t("app.logout");
}

function renderNav() {
  const nav = document.getElementById("nav");
  const current = location.hash.replace(/^#\/?/, "").split("/")[0];
  nav.replaceChildren(
    h(
      "ul",
      {},
      ...pages
        .filter((page) => page.allowed(me))
        .map((page) =>
          h(
            "li",
            {},
            h("a", { href: `#/${page.path}`, "aria-current": page.path === current ? "page" : null }, page.label()),
          ),
        ),
    ),
  );
  document.getElementById("whoami").textContent = `${me.name || me.ID} (${me.role})`;
}

async function route() {
  for (const stop of leaving) stop();
  leaving = [];
  const main = document.getElementById("main");
  if (!me) return;
  const [path, ...params] = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const visible = pages.filter((page) => page.allowed(me));
  const page = pages.find((candidate) => candidate.path === path) ?? (path ? null : visible[0]);
  renderNav();
  if (!page || !page.allowed(me)) {
    main.replaceChildren(notice(t("app.not_allowed"), "error"));
    return;
  }
  // each visit renders into its own view: a page still loading when the user moves on writes into a
  // view that is no longer shown, and is stopped as soon as it returns
  const view = h("div", { className: "view" }, notice(t("app.loading")));
  main.replaceChildren(view);
  try {
    const stop = await page.render(view, params);
    if (typeof stop === "function") {
      if (view.isConnected) leaving.push(stop);
      else stop();
    }
  } catch (error) {
    if (view.isConnected) view.append(notice(`${t("app.error")}: ${error.message}`, "error"));
  }
}

function loggedOut() {
  me = null;
  for (const stop of leaving) stop();
  leaving = [];
  loginPage();
}

function loginPage() {
  document.getElementById("top").hidden = true;
  const main = document.getElementById("main");
  const login = h("input", { name: "login", autocomplete: "username", required: true });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const status = notice();
  const form = h(
    "form",
    {
      className: "card narrow",
      "aria-labelledby": "login-title",
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          await api("POST", "/api/v1/session", { login: login.value, password: password.value });
          await start();
        } catch (error) {
          say(status, error.status === 401 ? t("login.failed") : error.message, "error");
          password.select();
        }
      },
    },
    h("h1", { id: "login-title" }, t("login.title")),
    field(t("login.id"), login),
    field(t("login.password"), password),
    h("button", { type: "submit" }, t("login.submit")),
    status,
  );
  main.replaceChildren(form, registerForm());
  login.focus();
}

function registerForm() {
  const inputs = {
    ID: h("input", { name: "ID", required: true, autocomplete: "off" }),
    name: h("input", { name: "name", required: true }),
    email: h("input", { name: "email", type: "email", required: true }),
    tenant: h("input", { name: "tenant", required: true }),
    password: h("input", { name: "password", type: "password", required: true, autocomplete: "new-password" }),
  };
  const status = notice();
  return h(
    "details",
    { className: "card narrow" },
    h("summary", {}, t("register.title")),
    h(
      "form",
      {
        onsubmit: async (event) => {
          event.preventDefault();
          const body = Object.fromEntries(Object.entries(inputs).map(([name, input]) => [name, input.value]));
          try {
            await api("POST", "/api/v1/registrations", body);
            say(status, t("register.sent"));
          } catch (error) {
            say(status, error.message, "error");
          }
        },
      },
      field(t("login.id"), inputs.ID),
      field(t("register.name"), inputs.name),
      field(t("register.email"), inputs.email),
      field(t("register.tenant"), inputs.tenant),
      field(t("login.password"), inputs.password),
      h("button", { type: "submit" }, t("register.submit")),
      status,
    ),
  );
}

async function start() {
  try {
    me = (await api("GET", "/api/v1/me")).user;
  } catch (error) {
    me = null;
    chooseLanguage(navigator.language?.startsWith("ko") ? "kor" : "eng");
    translateShell();
    if (error.status === 401 || error.status === 403) return loginPage();
    document.getElementById("main").replaceChildren(notice(error.message, "error"));
    return;
  }
  document.getElementById("language").value = chooseLanguage(me.lang);
  translateShell();
  document.getElementById("top").hidden = false;
  await route();
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("language").addEventListener("change", (event) => {
    pickLanguage(event.target.value);
    translateShell();
    if (me) route();
    else loginPage();
  });
  document.getElementById("logout").addEventListener("click", async () => {
    await api("DELETE", "/api/v1/session").catch(() => null);
    loggedOut();
  });
  window.addEventListener("hashchange", async () => {
    await route();
    if (me) document.getElementById("main").focus({ preventScroll: true }); // a keyboard user goes on from the new page
  });
  start();
});
