// The weighing station: a live panel per scale, the commit form, the weighing log with search, and a
// cylinder's weight history as a chart with its anomalies marked. Loaded by the dashboard shell from the
// fg150kal plugin's dashboard module; it talks to the scale-gateway and weighing routes only.
//
// The panels are the scales the user may see (`GET /api/v1/scales`), narrowed by the scale filter when set.
// Live lines come from the WebSocket `/api/v1/live` (topic `scale:<id>`). While it is not available the
// panels poll `GET /api/scale-gateway/latest/` every 500 ms, and the socket is retried with backoff.

import {
  addStrings,
  api,
  chart,
  currentUser,
  field,
  h,
  moduleLabel,
  notice,
  query,
  registerPage,
  roles,
  say,
  select,
  t,
  table,
  time,
} from "/static/js/app.js";

addStrings({
  eng: {
    "station.title": "Weighing station",
    "station.scale": "Scale",
    "station.stable": "Stable",
    "station.unstable": "Unstable",
    "station.overload": "OVERLOAD",
    "station.stale": "No reading from the scale for a while: check it and its converter.",
    "station.no_data": "No stable reading yet",
    "station.live": "live",
    "station.polling": "polling",
    "station.scales": "Scale filter (comma-separated IDs; empty: every scale)",
    "station.no_scales": "No scale to show: none is configured or has sent a reading, or the filter matches none.",
    "station.show": "Show",
    "station.commit": "Commit weighing",
    "station.cylinder": "Cylinder number",
    "station.event": "Event",
    "station.arrival": "Arrival/shipping number",
    "station.committed": "Committed #{id}: {cylinder} {event} {weight} kg at {at}",
    "station.log": "Weighing log",
    "station.time": "Committed at",
    "station.gross": "Gross (kg)",
    "station.history": "History of cylinder {cylinder}",
    "station.anomaly": "Anomaly",
    "station.anomalies": "Anomalies",
    "station.usual": "Usual weight",
  },
  kor: {
    "station.title": "계량소",
    "station.scale": "저울",
    "station.stable": "안정",
    "station.unstable": "불안정",
    "station.overload": "과부하",
    "station.stale": "저울에서 한동안 값이 오지 않습니다. 저울과 변환기를 확인하세요.",
    "station.no_data": "아직 안정된 값이 없습니다",
    "station.live": "실시간",
    "station.polling": "주기 조회",
    "station.scales": "저울 필터 (쉼표로 구분한 ID, 비우면 모든 저울)",
    "station.no_scales": "표시할 저울이 없습니다. 설정되었거나 값을 보낸 저울이 없거나, 필터에 맞는 저울이 없습니다.",
    "station.show": "표시",
    "station.commit": "계량 확정",
    "station.cylinder": "용기 번호",
    "station.event": "구분",
    "station.arrival": "입고/출고 번호",
    "station.committed": "확정 #{id}: {cylinder} {event} {weight} kg ({at})",
    "station.log": "계량 기록",
    "station.time": "확정 시각",
    "station.gross": "총중량 (kg)",
    "station.history": "용기 {cylinder}의 이력",
    "station.anomaly": "이상",
    "station.anomalies": "이상 기록",
    "station.usual": "평소 무게",
  },
});

const POLL_MS = 500;
const STALE_MS = 5000;
const BACKOFF_MS = [1000, 2000, 5000, 10000, 30000];
const SCALES_KEY = "specgate.scales";
const STABLE = new Set(["ST", "WT", "QT"]);

/** The scale IDs of the filter; none: every listed scale. */
function scaleFilter() {
  const saved = (localStorage.getItem(SCALES_KEY) || "").split(",");
  return [...new Set(saved.map((id) => id.trim()).filter(Boolean))];
}

/** The scales the user may see, each with its latest stable reading, narrowed by the filter. */
async function listedScales() {
  const scales = [];
  let cursor = null;
  do {
    const page = await api("GET", `/api/v1/scales${query({ limit: 1000, cursor })}`);
    scales.push(...page.items);
    cursor = page.next;
  } while (cursor);
  const filter = scaleFilter();
  return filter.length ? scales.filter((scale) => filter.includes(scale.scale_id)) : scales;
}

const weightText = (weight) => (weight === null || weight === undefined ? "" : Number(weight).toFixed(2));

class ScalePanel {
  constructor(scaleId) {
    this.scaleId = scaleId;
    this.lastLine = 0;
    this.weight = h("output", { className: "weight", "aria-live": "polite" }, "—");
    this.unit = h("span", { className: "unit" }, "");
    this.stable = h("span", { className: "badge" }, t("station.no_data"));
    this.stale = h("p", { className: "notice warn", role: "alert", hidden: true }, t("station.stale"));
    this.element = h(
      "section",
      { className: "scale-panel", "data-scale": scaleId, "data-state": "none", "aria-label": `${t("station.scale")} ${scaleId}` },
      h("h2", {}, `${t("station.scale")} ${scaleId}`),
      h("p", { className: "reading" }, this.weight, " ", this.unit),
      this.stable,
      this.stale,
    );
  }

  /** A scale line: `{status, weight, unit, stable, at}` (from the socket, or a polled stable reading). */
  show(line, stale = false) {
    this.lastLine = Date.now();
    const overload = line.status === "OL";
    const stable = !overload && (line.stable ?? STABLE.has(line.status));
    this.weight.textContent = overload ? t("station.overload") : weightText(line.weight);
    this.unit.textContent = overload ? "" : line.unit ?? "";
    this.stable.textContent = overload ? t("station.overload") : stable ? t("station.stable") : t("station.unstable");
    this.stable.className = `badge ${overload ? "error" : stable ? "ok" : "warn"}`;
    this.element.dataset.state = overload ? "overload" : stable ? "stable" : "unstable";
    this.element.title = line.at ? time(line.at) : "";
    this.setStale(stale);
  }

  noData() {
    this.weight.textContent = "—";
    this.unit.textContent = "";
    this.stable.textContent = t("station.no_data");
    this.stable.className = "badge";
    this.element.dataset.state = "none";
  }

  setStale(stale) {
    this.stale.hidden = !stale;
    this.element.classList.toggle("stale", stale);
  }
}

/** Feeds the panels from the WebSocket, or by polling while it is not there. */
class LiveScales {
  constructor(panels, badge) {
    this.panels = new Map(panels.map((panel) => [panel.scaleId, panel]));
    this.badge = badge;
    this.attempt = 0;
    this.stopped = false;
  }

  start() {
    this.connect();
    this.staleTimer = setInterval(() => this.checkStale(), 1000);
  }

  stop() {
    this.stopped = true;
    clearInterval(this.staleTimer);
    clearTimeout(this.retryTimer);
    this.stopPolling();
    this.socket?.close();
  }

  setMode(mode) {
    this.mode = mode;
    this.badge.textContent = t(`station.${mode}`);
    this.badge.dataset.mode = mode;
  }

  connect() {
    const url = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/api/v1/live`;
    let socket;
    try {
      socket = new WebSocket(url);
    } catch {
      return this.fallBack();
    }
    this.socket = socket;
    socket.addEventListener("message", (event) => this.receive(event.data));
    socket.addEventListener("close", () => {
      if (this.socket === socket) this.socket = null;
      this.fallBack();
    });
    // until the server says hello, the panels keep whatever fed them before
    if (!this.polling) this.startPolling();
  }

  receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (message.type === "hello") {
      this.attempt = 0;
      this.stopPolling();
      this.setMode("live");
      const now = Date.now(); // the stale clock starts with the socket, not with the page
      for (const panel of this.panels.values()) panel.lastLine = Math.max(panel.lastLine, now);
      const topics = [...this.panels.keys()].map((id) => `scale:${id}`);
      this.socket?.send(JSON.stringify({ type: "subscribe", topics }));
    } else if (message.type === "scale") {
      this.panels.get(message.scale_id)?.show(message);
    }
  }

  fallBack() {
    if (this.stopped) return;
    this.startPolling();
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  startPolling() {
    if (this.polling) return;
    this.setMode("polling");
    this.polling = setInterval(() => this.pollOnce(), POLL_MS);
    this.pollOnce();
  }

  stopPolling() {
    clearInterval(this.polling);
    this.polling = null;
  }

  async pollOnce() {
    await Promise.all(
      [...this.panels.values()].map(async (panel) => {
        try {
          const latest = await api("GET", `/api/scale-gateway/latest/${query({ scale_id: panel.scaleId })}`);
          if (this.polling) panel.show({ ...latest, at: latest.received_at }, latest.stale);
        } catch (error) {
          if (error.status === 404) panel.noData();
        }
      }),
    );
  }

  checkStale() {
    if (this.mode !== "live") return; // a polled reading carries the server's own staleness
    const now = Date.now();
    for (const panel of this.panels.values()) panel.setStale(now - panel.lastLine > STALE_MS);
  }
}

function scalesForm(onChange) {
  const input = h("input", { name: "scales", value: scaleFilter().join(", ") });
  return h(
    "form",
    {
      className: "inline-form",
      onsubmit: (event) => {
        event.preventDefault();
        localStorage.setItem(SCALES_KEY, input.value);
        onChange();
      },
    },
    field(t("station.scales"), input),
    h("button", { type: "submit", className: "secondary" }, t("station.show")),
  );
}

function commitForm(scales, onCommitted) {
  const scale = select("scale_id", scales.map((id) => [id, id]), scales[0]);
  const cylinder = h("input", { name: "cylinder_no", required: true, autocomplete: "off", inputMode: "text" });
  const event = select("event_type", [
    ["SHIP", "SHIP"],
    ["RETURN", "RETURN"],
  ]);
  const arrival = h("input", { name: "arrival_shipping_no", autocomplete: "off" });
  const status = notice();
  return h(
    "form",
    {
      className: "card commit",
      "aria-labelledby": "commit-title",
      onsubmit: async (submitted) => {
        submitted.preventDefault();
        const body = { scale_id: scale.value, cylinder_no: cylinder.value, event_type: event.value };
        if (arrival.value.trim()) body.arrival_shipping_no = arrival.value;
        try {
          const record = await api("POST", "/api/scale-gateway/commit/", body);
          say(status, t("station.committed", {
            id: record.id,
            cylinder: record.cylinder_no,
            event: record.event_type,
            weight: weightText(record.gross_kg),
            at: time(record.committed_at),
          }));
          status.classList.add("committed");
          cylinder.value = "";
          arrival.value = "";
          cylinder.focus();
          onCommitted(record);
        } catch (error) {
          say(status, error.message, "error");
        }
      },
    },
    h("h2", { id: "commit-title" }, t("station.commit")),
    field(t("station.scale"), scale),
    field(t("station.cylinder"), cylinder),
    field(t("station.event"), event),
    field(t("station.arrival"), arrival),
    h("button", { type: "submit", className: "big" }, t("station.commit")),
    status,
  );
}

async function history(container, cylinder) {
  const answer = await api("GET", `/api/v1/cylinders/${encodeURIComponent(cylinder)}/weighings${query({ limit: 1000 })}`);
  const items = answer.items;
  const anomalies = items.filter((item) => item.anomaly);
  const chartBox = h("div", { id: "history-chart" });
  container.replaceChildren(
    h("h2", { id: "history-title" }, t("station.history", { cylinder })),
    chartBox,
    anomalies.length
      ? table(
          [
            [t("station.time"), (w) => time(w.committed_at)],
            [t("station.event"), (w) => w.event_type],
            [t("station.gross"), (w) => weightText(w.gross_kg)],
            [t("station.anomaly"), (w) => w.anomaly_reason ?? ""],
          ],
          anomalies,
          t("station.anomalies"),
        )
      : null,
  );
  chart(
    chartBox,
    {
      type: "line",
      data: {
        labels: items.map((w) => time(w.committed_at)),
        datasets: [
          {
            label: t("station.gross"),
            data: items.map((w) => Number(w.gross_kg)),
            borderColor: "#2f6db5",
            pointRadius: items.map((w) => (w.anomaly ? 8 : 4)),
            pointStyle: items.map((w) => (w.anomaly ? "triangle" : "circle")),
            pointBackgroundColor: items.map((w) => (w.anomaly ? "#c62828" : "#2f6db5")),
          },
        ],
      },
    },
    t("station.history", { cylinder }),
  );
}

function weighingLog(container, historyBox) {
  const results = h("div", {});
  const search = h("input", { type: "search", name: "q", autocomplete: "off" });
  const event = select("event_type", [
    ["", "SHIP / RETURN"],
    ["SHIP", "SHIP"],
    ["RETURN", "RETURN"],
  ]);
  const load = async () => {
    const page = await api("GET", `/api/v1/weighings${query({ q: search.value.trim(), event_type: event.value, limit: 50 })}`);
    results.replaceChildren(
      page.items.length
        ? table(
            [
              [t("station.time"), (w) => time(w.committed_at)],
              [t("station.scale"), (w) => w.scale_id],
              [
                t("station.cylinder"),
                (w) =>
                  h(
                    "button",
                    { type: "button", className: "link", onclick: () => history(historyBox, w.cylinder_no) },
                    w.cylinder_no,
                  ),
              ],
              [t("station.event"), (w) => w.event_type],
              [t("station.gross"), (w) => weightText(w.gross_kg)],
              [t("station.arrival"), (w) => w.arrival_shipping_no ?? ""],
            ],
            page.items,
            `${t("station.log")} (${page.total})`,
          )
        : notice(t("app.none")),
    );
  };
  container.replaceChildren(
    h("h2", {}, t("station.log")),
    h(
      "form",
      {
        className: "search",
        role: "search",
        onsubmit: (submitted) => {
          submitted.preventDefault();
          load();
        },
      },
      field(t("app.search"), search),
      field(t("station.event"), event),
      h("button", { type: "submit" }, t("app.search")),
    ),
    results,
  );
  return load;
}

async function render(main) {
  const user = currentUser();
  const logBox = h("section", { className: "log", "aria-label": t("station.log") });
  const historyBox = h("section", { className: "history", "aria-live": "polite" });
  const reload = weighingLog(logBox, historyBox);
  let live = null;
  if (roles.staff(user)) {
    const shown = location.hash;
    const listed = await listedScales();
    if (location.hash !== shown) return undefined; // the user went on to another page meanwhile
    const scales = listed.map((scale) => scale.scale_id);
    const panels = listed.map((scale) => {
      const panel = new ScalePanel(scale.scale_id);
      if (scale.received_at) panel.show({ ...scale, at: scale.received_at }, scale.stale);
      return panel;
    });
    const badge = h("span", { className: "badge mode" });
    live = new LiveScales(panels, badge);
    main.replaceChildren(
      h("h1", {}, moduleLabel("fg150kal", t("station.title")), " ", badge),
      scalesForm(() => window.dispatchEvent(new HashChangeEvent("hashchange"))),
      ...(panels.length
        ? [h("div", { className: "panels" }, ...panels.map((panel) => panel.element)), commitForm(scales, reload)]
        : [notice(t("station.no_scales"))]),
      logBox,
      historyBox,
    );
    live.start();
  } else {
    main.replaceChildren(h("h1", {}, moduleLabel("fg150kal", t("station.title"))), logBox, historyBox);
  }
  await reload();
  return () => live?.stop();
}

registerPage({
  path: "station",
  order: 10,
  label: () => moduleLabel("fg150kal", t("station.title")),
  render,
});
