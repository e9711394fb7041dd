// Administration (tenant administrators and system administrators): users (add, edit, disable and enable,
// set a password), pending registrations, subscribers with CSV import and its per-row report, device
// release and binding, API tokens.

import { api, field, h, notice, query, registerPage, roles, say, select, t, table, time } from "./app.js";

const ROLE_CHOICES = ["admin", "operator", "installer", "user", "viewer"].map((role) => [role, role]);
const LANG_CHOICES = [
  ["eng", "English"],
  ["kor", "한국어"],
  ["chn", "中文"],
];

/** A form whose submit calls `action(form)`; the answer (or the error) goes into its status line. */
function actionForm(title, controls, buttonText, action, otherButtons = []) {
  const status = notice();
  const form = h(
    "form",
    {
      className: "card",
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          say(status, await action(form));
        } catch (error) {
          say(status, error.message, "error");
        }
      },
    },
    h("h3", {}, title),
    ...controls,
    h("div", { className: "actions" }, h("button", { type: "submit" }, buttonText), ...otherButtons),
    status,
  );
  return form;
}

/** The edit card of one user: name, e-mail, language and role (PATCH), and a new password. */
function userEditor(user, reload) {
  const inputs = {
    name: h("input", { name: "name", required: true, value: user.name ?? "" }),
    email: h("input", { name: "email", type: "email", value: user.email ?? "" }),
    lang: select("lang", LANG_CHOICES, user.lang),
    role: select("role", ROLE_CHOICES, user.role === "guest" ? "viewer" : user.role),
  };
  const password = h("input", { name: "password", type: "password", required: true, autocomplete: "new-password" });
  const path = `/api/v1/users/${encodeURIComponent(user.ID)}`;
  return h(
    "div",
    { className: "user-editor", role: "group", "aria-label": t("admin.edit_user", { login: user.ID }) },
    actionForm(
      t("admin.edit_user", { login: user.ID }),
      [
        field(t("admin.name"), inputs.name),
        field(t("admin.email"), inputs.email),
        field(t("admin.lang"), inputs.lang),
        field(t("admin.role"), inputs.role),
      ],
      t("app.save"),
      async () => {
        // only what changed: an unchanged role must not end the user's sessions
        const changes = Object.fromEntries(
          Object.entries(inputs)
            .filter(([name, input]) => input.value !== (user[name] ?? ""))
            .map(([name, input]) => [name, input.value]),
        );
        if (!Object.keys(changes).length) return t("admin.unchanged");
        await api("PATCH", path, changes);
        await reload(t("admin.saved", { login: user.ID }));
        return t("admin.saved", { login: user.ID });
      },
    ),
    actionForm(t("admin.set_password", { login: user.ID }), [field(t("admin.new_password"), password)], t("admin.set_password_button"), async () => {
      await api("POST", `${path}/password`, { password: password.value });
      password.value = "";
      return t("admin.password_set", { login: user.ID });
    }),
  );
}

async function users(section, message) {
  const page = await api("GET", `/api/v1/users${query({ limit: 500 })}`);
  const reload = (text) => users(section, text);
  const editor = h("div", { className: "editor", "aria-live": "polite" });
  const status = message ? notice(message, "ok") : notice();
  const edit = (user) => () => {
    editor.replaceChildren(userEditor(user, reload));
    editor.querySelector("input")?.focus();
  };
  const toggle = (user) => async () => {
    const path = `/api/v1/users/${encodeURIComponent(user.ID)}`;
    try {
      if (user.flag) await api("DELETE", path);
      else await api("PATCH", path, { flag: true });
      await reload(t(user.flag ? "admin.disabled" : "admin.enabled_again", { login: user.ID }));
    } catch (error) {
      say(status, error.message, "error");
    }
  };
  const inputs = {
    ID: h("input", { name: "ID", required: true }),
    name: h("input", { name: "name", required: true }),
    email: h("input", { name: "email", type: "email" }),
    role: select("role", ROLE_CHOICES, "viewer"),
    lang: select("lang", LANG_CHOICES, "kor"),
    password: h("input", { name: "password", type: "password", required: true, autocomplete: "new-password" }),
  };
  section.replaceChildren(
    status,
    table(
      [
        [t("admin.login"), (u) => u.ID],
        [t("admin.name"), (u) => u.name],
        [t("admin.email"), (u) => u.email],
        [t("admin.role"), (u) => u.role],
        [t("admin.lang"), (u) => u.lang],
        [t("admin.enabled"), (u) => (u.flag ? t("app.yes") : t("app.no"))],
        [
          t("admin.actions"),
          (u) =>
            h(
              "span",
              { className: "actions" },
              h("button", { type: "button", className: "secondary", onclick: edit(u), "aria-label": t("admin.edit_user", { login: u.ID }) }, t("admin.edit")),
              h(
                "button",
                { type: "button", className: "secondary", onclick: toggle(u), "aria-label": `${t(u.flag ? "admin.disable" : "admin.enable")} ${u.ID}` },
                t(u.flag ? "admin.disable" : "admin.enable"),
              ),
            ),
        ],
      ],
      page.items,
      `${t("admin.users")} (${page.total})`,
    ),
    editor,
    actionForm(
      t("admin.add_user"),
      [
        field(t("admin.login"), inputs.ID),
        field(t("admin.name"), inputs.name),
        field(t("admin.email"), inputs.email),
        field(t("admin.role"), inputs.role),
        field(t("admin.lang"), inputs.lang),
        field(t("admin.password"), inputs.password),
      ],
      t("admin.add_user"),
      async () => {
        const body = Object.fromEntries(Object.entries(inputs).map(([name, input]) => [name, input.value]));
        if (!body.email) delete body.email;
        const answer = await api("POST", "/api/v1/users", body);
        setTimeout(() => users(section), 1500);
        return `${t("admin.created")}: ${answer.user?.ID ?? body.ID}`;
      },
    ),
  );
}

async function registrations(section) {
  const page = await api("GET", `/api/v1/registrations${query({ limit: 500 })}`);
  const status = notice();
  const decide = (login, verdict) => async () => {
    try {
      await api("POST", `/api/v1/registrations/${encodeURIComponent(login)}/${verdict}`, {});
      await registrations(section);
      section.prepend(notice(t(verdict === "approve" ? "admin.approved" : "admin.rejected", { login }), "ok"));
    } catch (error) {
      say(status, error.message, "error");
    }
  };
  section.replaceChildren(
    status,
    page.items.length
      ? table(
          [
            [t("admin.login"), (r) => r.ID],
            [t("admin.name"), (r) => r.name],
            [t("admin.email"), (r) => r.email],
            [t("register.tenant"), (r) => r.tenant ?? ""],
            [
              t("admin.result"),
              (r) =>
                h(
                  "span",
                  { className: "actions" },
                  h("button", { type: "button", onclick: decide(r.ID, "approve"), "aria-label": `${t("admin.approve")} ${r.ID}` }, t("admin.approve")),
                  h("button", { type: "button", className: "secondary", onclick: decide(r.ID, "reject"), "aria-label": `${t("admin.reject")} ${r.ID}` }, t("admin.reject")),
                ),
            ],
          ],
          page.items,
          t("admin.registrations"),
        )
      : notice(t("app.none")),
  );
}

function importReport(answer) {
  const rows = [
    ...answer.import_records.map((r) => ({ ...r, result: r.created ? "created" : "updated" })),
    ...answer.duplicated_records.map((r) => ({ ...r, result: `duplicated: ${r.error}` })),
    ...answer.failed_records.map((r) => ({ ...r, result: `failed: ${r.error}` })),
  ].sort((a, b) => a.row - b.row);
  return h(
    "div",
    {},
    t("admin.imported", { imported: answer.import_count, duplicated: answer.duplicated_count, failed: answer.failed_count }),
    table(
      [
        [t("admin.row"), (r) => r.row],
        [t("admin.customer_no"), (r) => r.customer_no ?? ""],
        [t("admin.result"), (r) => r.result],
      ],
      rows,
    ),
  );
}

async function subscribers(section) {
  const page = await api("GET", `/api/v1/subscribers${query({ limit: 500 })}`);
  const file = h("input", { name: "file", type: "file", accept: ".csv,text/csv", required: true });
  section.replaceChildren(
    table(
      [
        [t("admin.customer_no"), (s) => s.customer_no],
        [t("admin.name"), (s) => s.customer_name ?? ""],
        [t("admin.meter_id"), (s) => s.meter_id ?? ""],
        [t("admin.bound"), (s) => (s.binded ? s.bind_device_id : "")],
      ],
      page.items,
      `${t("admin.subscribers")} (${page.total})`,
    ),
    actionForm(t("admin.import"), [field(t("admin.csv"), file)], t("admin.import"), async () => {
      const text = await file.files[0].text();
      return importReport(await api("POST", "/api/v1/subscribers/import", text, "text/csv"));
    }),
  );
}

function devices(section) {
  const uids = h("textarea", { name: "devices", rows: 4, required: true });
  const installer = h("input", { name: "installer_id", required: true });
  const customer = h("input", { name: "customer_no", required: true });
  const device = h("input", { name: "device_uid" });
  let unbinding = false;
  section.replaceChildren(
    actionForm(
      t("admin.release"),
      [field(t("admin.uids"), uids), field(t("admin.installer"), installer)],
      t("admin.release"),
      async () => {
        const list = uids.value.split(/\s+/).filter(Boolean);
        const answer = await api("POST", "/api/v1/devices/release", { devices: list, installer_id: installer.value });
        const report = answer.report ?? answer;
        return Object.entries(report)
          .filter(([, value]) => Array.isArray(value) && value.length)
          .map(([name, value]) => `${name}: ${value.join(", ")}`)
          .join("; ");
      },
    ),
    actionForm(
      `${t("admin.bind")} / ${t("admin.unbind")}`,
      [
        field(t("admin.bind_customer"), customer),
        field(t("admin.bind_device"), device),
      ],
      t("admin.bind"),
      async () => {
        const path = `/api/v1/subscribers/${encodeURIComponent(customer.value)}`;
        const undo = unbinding;
        unbinding = false;
        const answer = undo
          ? await api("POST", `${path}/unbind`, {})
          : await api("POST", `${path}/bind`, { device_uid: device.value });
        return answer.message ?? `${customer.value}: ${answer.subscriber?.bind_device_id ?? "-"}`;
      },
      [
        h(
          "button",
          {
            type: "button",
            className: "secondary",
            onclick: (event) => {
              unbinding = true;
              event.target.form.requestSubmit();
            },
          },
          t("admin.unbind"),
        ),
      ],
    ),
  );
}

async function tokens(section) {
  const page = await api("GET", `/api/v1/tokens${query({ limit: 200 })}`);
  const name = h("input", { name: "name", required: true });
  const scopes = ["read", "scale", "metrics"].map((scope) => h("input", { type: "checkbox", name: "scopes", value: scope, checked: scope === "read" }));
  const revoke = (id) => async () => {
    await api("DELETE", `/api/v1/tokens/${encodeURIComponent(id)}`);
    await tokens(section);
  };
  section.replaceChildren(
    table(
      [
        [t("admin.token_name"), (k) => k.name],
        [t("admin.scopes"), (k) => k.scopes.join(", ")],
        [t("admin.created"), (k) => time(new Date(k.created_at * 1000).toISOString())],
        [
          t("admin.revoke"),
          (k) => (k.revoked ? t("app.no") : h("button", { type: "button", className: "secondary", onclick: revoke(k.token_id), "aria-label": `${t("admin.revoke")} ${k.name}` }, t("admin.revoke"))),
        ],
      ],
      page.items,
      t("admin.tokens"),
    ),
    actionForm(
      t("admin.create_token"),
      [
        field(t("admin.token_name"), name),
        h("fieldset", {}, h("legend", {}, t("admin.scopes")), ...scopes.map((box) => field(box.value, box))),
      ],
      t("admin.create_token"),
      async () => {
        const chosen = scopes.filter((box) => box.checked).map((box) => box.value);
        const answer = await api("POST", "/api/v1/tokens", { name: name.value, scopes: chosen });
        return h("code", {}, t("admin.token_secret", { token: answer.token }));
      },
    ),
  );
}

const SECTIONS = [
  ["users", "admin.users", users],
  ["registrations", "admin.registrations", registrations],
  ["subscribers", "admin.subscribers", subscribers],
  ["devices", "admin.devices", devices],
  ["tokens", "admin.tokens", tokens],
];

registerPage({
  path: "admin",
  order: 90,
  label: () => t("nav.admin"),
  allowed: roles.admin,
  render: async (main, [name]) => {
    const [key, title, render] = SECTIONS.find(([candidate]) => candidate === name) ?? SECTIONS[0];
    const section = h("section", { "aria-labelledby": "admin-section" });
    main.replaceChildren(
      h("h1", {}, t("nav.admin")),
      h(
        "nav",
        { className: "tabs", "aria-label": t("nav.admin") },
        ...SECTIONS.map(([id, label]) => h("a", { href: `#/admin/${id}`, "aria-current": id === key ? "page" : null }, t(label))),
      ),
      h("h2", { id: "admin-section" }, t(title)),
      section,
    );
    await render(section);
  },
});
