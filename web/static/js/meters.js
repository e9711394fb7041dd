// Meter pages over the generic device routes: the fleet, one device (hourly readings, daily and monthly
// usage charts, events), the received exchanges (hex beside the decoded fields) and the dead letters.

import { api, chart, field, h, notice, query, registerPage, roles, t, table, time } from "./app.js";

const yesNo = (value) => (value ? t("app.yes") : t("app.no"));

function searchForm(value, onSearch) {
  const input = h("input", { type: "search", name: "q", value: value ?? "" });
  return h(
    "form",
    {
      className: "search",
      role: "search",
      onsubmit: (event) => {
        event.preventDefault();
        onSearch(input.value);
      },
    },
    field(t("app.search"), input),
    h("button", { type: "submit" }, t("app.search")),
  );
}

async function fleet(main) {
  const list = h("div", {});
  const load = async (q) => {
    const [page, events] = await Promise.all([
      api("GET", `/api/v1/devices${query({ q, limit: 200, sort: "device_uid" })}`),
      api("GET", `/api/v1/events${query({ limit: 1000, sort: "-event_time" })}`),
    ]);
    const counts = new Map();
    for (const event of events.items) counts.set(event.device_uid, (counts.get(event.device_uid) ?? 0) + 1);
    list.replaceChildren(
      page.items.length
        ? table(
            [
              [t("meters.uid"), (d) => h("a", { href: `#/meters/${encodeURIComponent(d.device_uid)}` }, d.device_uid)],
              [t("meters.customer"), (d) => d.customer_name || d.customer_no || ""],
              [t("meters.last_count"), (d) => d.last_count],
              [t("meters.battery"), (d) => d.battery],
              [t("meters.last_access"), (d) => d.last_access],
              [t("meters.late"), (d) => h("span", { className: d.reporting_late ? "badge warn" : "badge" }, yesNo(d.reporting_late))],
              [
                t("meters.events"),
                (d) => h("a", { href: `#/meters/${encodeURIComponent(d.device_uid)}`, className: "events" }, String(counts.get(d.device_uid) ?? 0)),
              ],
            ],
            page.items,
            `${t("meters.title")} (${page.total})`,
          )
        : notice(t("app.none")),
    );
  };
  main.replaceChildren(h("h1", {}, t("meters.title")), searchForm("", load), list);
  await load("");
}

function usageChart(container, usage, title) {
  chart(
    container,
    {
      type: "bar",
      data: {
        labels: usage.items.map((item) => item.label),
        datasets: [{ label: t("meters.usage"), data: usage.items.map((item) => item.usage), backgroundColor: "#2f6db5" }],
      },
    },
    title,
  );
}

async function device(main, uid) {
  const base = `/api/v1/devices/${encodeURIComponent(uid)}`;
  const [info, readings, daily, monthly, events] = await Promise.all([
    api("GET", base),
    api("GET", `${base}/readings${query({ sort: "-timestamp", limit: 48 })}`),
    api("GET", `${base}/usage${query({ bucket: "day" })}`),
    api("GET", `${base}/usage${query({ bucket: "month" })}`),
    api("GET", `${base}/events${query({ sort: "-event_time", limit: 100 })}`),
  ]);
  const dev = info.device ?? info.item ?? info;
  const hourly = [...readings.items].reverse();
  const readingsChart = h("section", { id: "readings-chart" });
  const dailyChart = h("section", { id: "daily-chart" });
  const monthlyChart = h("section", { id: "monthly-chart" });
  main.replaceChildren(
    h("h1", {}, `${t("meters.uid")} ${uid}`),
    h(
      "dl",
      { className: "facts" },
      h("dt", {}, t("meters.last_count")),
      h("dd", {}, dev.last_count ?? ""),
      h("dt", {}, t("meters.battery")),
      h("dd", {}, dev.battery ?? ""),
      h("dt", {}, t("meters.last_access")),
      h("dd", {}, dev.last_access ?? ""),
      h("dt", {}, t("meters.late")),
      h("dd", {}, yesNo(dev.reporting_late)),
    ),
    h("h2", {}, t("meters.readings")),
    readingsChart,
    h("div", { className: "columns" }, h("div", {}, h("h2", {}, t("meters.daily")), dailyChart), h("div", {}, h("h2", {}, t("meters.monthly")), monthlyChart)),
    h("h2", {}, t("meters.events")),
    events.items.length
      ? table(
          [
            [t("meters.time"), (e) => time(e.at)],
            [t("meters.event_type"), (e) => e.event_type],
            [t("meters.event_status"), (e) => e.event_status],
          ],
          events.items,
        )
      : notice(t("app.none")),
  );
  chart(
    readingsChart,
    {
      type: "line",
      data: {
        labels: hourly.map((r) => time(r.at)),
        datasets: [{ label: t("meters.count"), data: hourly.map((r) => r.count), borderColor: "#2f6db5" }],
      },
    },
    t("meters.readings"),
  );
  usageChart(dailyChart, daily, t("meters.daily"));
  usageChart(monthlyChart, monthly, t("meters.monthly"));
}

registerPage({
  path: "meters",
  order: 20,
  label: () => t("nav.meters"),
  render: (main, [uid]) => (uid ? device(main, uid) : fleet(main)),
});

function decodedFields(exchange) {
  if (!exchange.decoded) return h("span", { className: "badge warn" }, exchange.decode_error ?? "");
  const values = exchange.decoded.values ?? {};
  return h(
    "dl",
    { className: "decoded" },
    h("dt", {}, "message"),
    h("dd", {}, exchange.decoded.message),
    ...Object.entries(values).flatMap(([name, value]) => [
      h("dt", {}, name),
      h("dd", {}, typeof value === "object" ? JSON.stringify(value) : String(value)),
    ]),
  );
}

registerPage({
  path: "exchanges",
  order: 30,
  label: () => t("nav.exchanges"),
  allowed: roles.staff,
  render: async (main) => {
    const page = await api("GET", `/api/v1/exchanges${query({ limit: 50 })}`);
    main.replaceChildren(
      h("h1", {}, t("exchanges.title")),
      page.items.length
        ? table(
            [
              [t("exchanges.at"), (x) => x.datetime ?? time(x.at)],
              [t("meters.uid"), (x) => x.device_uid ?? ""],
              [t("exchanges.received"), (x) => h("code", { className: "hex" }, x.recv ?? "")],
              [t("exchanges.decoded"), decodedFields],
              [t("exchanges.sent"), (x) => h("code", { className: "hex" }, x.send ?? "")],
            ],
            page.items,
          )
        : notice(t("app.none")),
    );
  },
});

registerPage({
  path: "dead-letters",
  order: 40,
  label: () => t("nav.dead_letters"),
  allowed: roles.systemAdmin,
  render: async (main) => {
    const page = await api("GET", `/api/v1/dead-letters${query({ limit: 50 })}`);
    main.replaceChildren(
      h("h1", {}, t("dead.title")),
      page.items.length
        ? table(
            [
              [t("exchanges.at"), (d) => (typeof d.at === "number" ? new Date(d.at * 1000).toLocaleString() : d.at)],
              [t("dead.listener"), (d) => `${d.device_type ?? ""}:${d.port ?? ""} ${d.ip ?? ""}`],
              [t("dead.error"), (d) => d.error],
              [t("dead.path"), (d) => h("code", {}, d.path ?? "")],
              [t("dead.data"), (d) => h("code", { className: "hex" }, d.data ?? "")],
            ],
            page.items,
          )
        : notice(t("app.none")),
    );
  },
});
