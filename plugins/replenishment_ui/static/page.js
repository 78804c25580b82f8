"use strict";
const SVGNS = "http://www.w3.org/2000/svg";
const here = new URL(location.href);
const base = new URL(here.pathname.endsWith("/") ? here.pathname : here.pathname + "/", here.origin);
const state = {
  runDate: here.searchParams.get("run_date"), sku: here.searchParams.get("sku_id"),
  orders: [], skus: [], category: "", query: "", sort: "value",
};
state.urlSku = Boolean(state.sku);  // the URL's SKU is shown or is an error, never replaced
const $ = (id) => document.getElementById(id);
const { num, units } = Fmt;
const currency = document.body.dataset.currency || "USD";
const money = (v) => Fmt.money(v, currency);

function url(path, params) {
  const u = new URL(path, base);
  for (const [k, v] of Object.entries(params || {})) u.searchParams.set(k, v);
  return u;
}

async function getJSON(path, params) {
  const r = await fetch(url(path, params), { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!r.ok) {
    let detail = r.statusText;
    try { detail = (await r.json()).detail || detail; } catch (e) { /* not JSON */ }
    if (r.status === 401 || r.status === 403) detail += " (log in to Airflow with access to replenishment_daily)";
    throw new Error(`${r.status}: ${detail}`);
  }
  return r.json();
}

function showError(err) {
  const box = $("error");
  box.hidden = !err;
  box.textContent = err ? String(err.message || err) : "";
}

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function svg(tag, attrs, parent) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

const dayMs = 86400000;
const toDay = (s) => Math.round(Date.parse(s + "T00:00:00Z") / dayMs);
const fromDay = (n) => new Date(n * dayMs).toISOString().slice(0, 10);

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function chartFrame(s) {
  const W = 900, H = 320, L = 56, R = 12, T = 12, B = 28;
  const days = [...s.actual.map((a) => a.date), ...s.forecast.map((f) => f.forecast_date)];
  const d0 = toDay(days[0]), d1 = toDay(days[days.length - 1]);
  const step = (W - L - R) / Math.max(1, d1 - d0 + 1);
  const top = niceMax(Math.max(1, ...s.actual.map((a) => a.units), ...s.forecast.map((f) => f.yhat_upper)) * 1.05);
  return {
    W, H, L, R, T, B, d0, d1, step, top,
    x: (d) => L + (toDay(d) - d0 + 0.5) * step,
    y: (v) => T + (H - T - B) * (1 - v / top),
  };
}

function drawAxes(chart, f) {
  const { W, H, L, R, T, B, d0, d1, x, y, top } = f;
  for (let i = 0; i <= 4; i++) {
    const v = (top * i) / 4;
    svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#e5e7eb" }, chart);
    svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, chart).textContent = num(v, v < 10 && top < 10 ? 1 : 0);
  }
  svg("text", { class: "axis-title", x: 12, y: T + (H - T - B) / 2, "text-anchor": "middle",
    transform: `rotate(-90 12 ${T + (H - T - B) / 2})` }, chart).textContent = "units per day";
  for (let d = d0; d <= d1; d++) {
    const day = fromDay(d);
    if (day.endsWith("-01")) {
      svg("line", { x1: x(day), x2: x(day), y1: H - B, y2: H - B + 4, stroke: "#9ca3af" }, chart);
      svg("text", { x: x(day), y: H - 8, "text-anchor": "middle" }, chart).textContent = day.slice(0, 7);
    }
  }
  svg("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, stroke: "#9ca3af" }, chart);
}

function drawPromotions(chart, s, f) {
  const { H, L, T, B, d0, d1, step } = f;
  for (const p of s.promotions) {
    const a = Math.max(toDay(p.start_date), d0), b = Math.min(toDay(p.end_date), d1);
    if (b < a) continue;
    const r = svg("rect", { class: "promo", x: L + (a - d0) * step, y: T, width: (b - a + 1) * step,
      height: H - T - B, fill: "var(--promo)" }, chart);
    svg("title", {}, r).textContent = `promotion ${p.promo_id}: ${p.start_date} – ${p.end_date}` +
      (p.discount_pct === null ? "" : `, ${num(p.discount_pct)} % off`);
  }
}

// The interval: a filled band where its lower end is above 0; where it was clipped at 0,
// only its upper bound, dashed (a fill down to the axis would look like a block of demand).
function drawBand(chart, s, { x, y }) {
  for (const run of Fmt.bandRuns(s.forecast)) {
    const up = run.days.map((d) => `${x(d.forecast_date)},${y(d.yhat_upper)}`);
    if (run.kind === "band") {
      const lo = run.days.slice().reverse().map((d) => `${x(d.forecast_date)},${y(d.yhat_lower)}`);
      svg("polygon", { class: "band", points: [...up, ...lo].join(" "), fill: "var(--band)" }, chart);
    } else {
      svg("polyline", { class: "band-clipped", points: up.join(" "), fill: "none", stroke: "var(--fc)",
        "stroke-width": 1, "stroke-dasharray": "3 3", opacity: 0.7 }, chart);
    }
  }
}

function drawLines(chart, s, { H, T, B, step, x, y }) {
  const xr = x(s.run_date) - step / 2;
  svg("line", { class: "run-date", x1: xr, x2: xr, y1: T, y2: H - B, stroke: "#6b7280", "stroke-dasharray": "4 3" }, chart);
  svg("text", { x: xr + 4, y: T + 10 }, chart).textContent = `run date ${s.run_date}`;
  if (s.actual.length) svg("polyline", { class: "actual", fill: "none", stroke: "var(--actual)", "stroke-width": 1.6,
    points: s.actual.map((a) => `${x(a.date)},${y(a.units)}`).join(" ") }, chart);
  if (s.forecast.length) svg("polyline", { class: "forecast", fill: "none", stroke: "var(--fc)", "stroke-width": 2,
    points: s.forecast.map((f) => `${x(f.forecast_date)},${y(f.yhat)}`).join(" ") }, chart);
  for (const a of s.actual.filter((a) => a.stockout)) {
    svg("rect", { class: "stockout", x: x(a.date) - step / 2, y: H - B - 4, width: Math.max(step, 2), height: 4, fill: "var(--stock)" }, chart);
  }
}

function drawTips(chart, s, { H, T, B, step, x }) {
  const tips = svg("g", { class: "tips" }, chart);
  const promoDays = new Set();
  for (const p of s.promotions) for (let d = toDay(p.start_date); d <= toDay(p.end_date); d++) promoDays.add(fromDay(d));
  const tip = (day, text) => {
    const r = svg("rect", { x: x(day) - step / 2, y: T, width: step, height: H - T - B, fill: "transparent" }, tips);
    svg("title", {}, r).textContent = day + (promoDays.has(day) ? " (promotion)" : "") + "\n" + text;
  };
  for (const a of s.actual) tip(a.date, `actual ${units(a.units)} units${a.stockout ? " (stock-out: censored)" : ""}`);
  for (const f of s.forecast) tip(f.forecast_date,
    `forecast ${num(f.yhat, 1)} units [${num(f.yhat_lower, 1)} – ${num(f.yhat_upper, 1)}] (${f.model})`);
}

function drawChart(s) {
  const chart = $("chart");
  chart.replaceChildren();
  if (!s.actual.length && !s.forecast.length) return;
  const f = chartFrame(s);
  drawAxes(chart, f);
  drawPromotions(chart, s, f);
  drawBand(chart, s, f);
  drawLines(chart, s, f);
  drawTips(chart, s, f);
}

function drawOrder(s) {
  const o = s.order, sku = s.sku || {};
  const body = $("order-body");
  body.className = "";
  body.replaceChildren();
  body.appendChild(el("div", { class: "muted" }, [o.sku_id, sku.description, sku.category].filter(Boolean).join(" · ")));
  const qty = Number(o.order_qty);
  body.appendChild(el("div", { class: "big", "data-testid": "order-qty" },
    qty > 0 ? `Order ${units(qty)} units` : "No order today"));
  if (qty > 0) body.appendChild(el("div", { "data-testid": "order-detail" },
    `${num(o.order_packs)} × ${units(o.pack_size)} units per pack · value ${money(o.order_value)} · receipt ${o.expected_receipt_date}`));
  body.appendChild(el("div", { class: "reason", "data-testid": "reason" }, Fmt.reason(o.display_reason)));
  const dl = el("dl", { "data-testid": "order-figures" });
  const u = (v) => `${units(v)} units`;
  const rows = [
    ["on hand", u(o.on_hand)], ["on order", u(o.on_order)], ["inventory position", u(o.inventory_position)],
    ["reorder point", u(o.reorder_point)], ["order-up-to", u(o.order_up_to)], ["safety stock", u(o.safety_stock)],
    ["mean daily demand", `${num(o.avg_daily_demand, 2)} units/day`], ["forecast error σ", `${num(o.sigma_daily, 2)} units/day`],
    ["lead time", Fmt.leadTime(o.lead_time_days, o.lead_time_std_days, o.lead_time_std_known)],
    ["review period", Fmt.days(o.review_period_days)],
    ["service level", num(o.service_level * 100, 1) + " %"], ["policy", o.policy], ["model", o.model],
    ["EOQ", u(o.eoq)], ["MOQ", u(o.moq)],
  ];
  for (const [k, v] of rows) { dl.appendChild(el("dt", {}, k)); dl.appendChild(el("dd", {}, v)); }
  body.appendChild(dl);
  body.appendChild(el("div", { class: "muted", "data-testid": "model-choice" }, Fmt.modelChoice(s.accuracy)));
}

function drawOrders() {
  const tbody = $("orders").tBodies[0];
  tbody.replaceChildren();
  const rows = Fmt.pickOrders(state.orders, state);
  let value = 0;
  for (const r of rows) {
    value += Number(r.order_value);
    const tr = el("tr", { "data-sku": r.sku_id });
    if (r.sku_id === state.sku) tr.className = "sel";
    for (const [v, cls] of [[r.sku_id], [r.description || ""], [r.category || ""], [units(r.order_qty), "num"],
      [num(r.order_packs), "num"], [money(r.order_value), "num"], [r.expected_receipt_date],
      [(r.exceptions || []).join(", "), "exceptions"], [Fmt.reason(r.display_reason), "reason-cell"]]) {
      tr.appendChild(el("td", cls ? { class: cls } : {}, v));
    }
    tr.addEventListener("click", () => { $("sku").value = r.sku_id; selectSku(r.sku_id); });
    tbody.appendChild(tr);
  }
  const foot = $("orders").tFoot;
  foot.replaceChildren();
  const tr = el("tr");
  const shown = rows.length === state.orders.length ? `${rows.length} orders` : `${rows.length} of ${state.orders.length} orders`;
  tr.appendChild(el("td", { colspan: 5, "data-testid": "orders-count" }, state.orders.length ? shown : "no orders on this run date"));
  tr.appendChild(el("td", { class: "num" }, money(value)));
  tr.appendChild(el("td", { colspan: 3 }));
  foot.appendChild(tr);
}

function fillCategories() {
  const sel = $("category");
  const cats = [...new Set(state.orders.map((r) => r.category).filter(Boolean))].sort();
  if (!cats.includes(state.category)) state.category = "";
  sel.replaceChildren(el("option", { value: "" }, "all categories"), ...cats.map((c) => el("option", { value: c }, c)));
  sel.value = state.category;
}

function fillSkus() {
  const sel = $("sku");
  const keep = state.sku;
  sel.replaceChildren();
  if (keep && !state.skus.some((s) => s.sku_id === keep)) sel.appendChild(el("option", { value: keep }, `${keep} (not in this run)`));
  for (const s of state.skus.filter((s) => Fmt.matches(s, state.query) || s.sku_id === keep)) {
    const label = `${s.sku_id}${s.description ? " · " + s.description : ""}${Number(s.order_qty) > 0 ? " — order " + units(s.order_qty) : ""}`;
    sel.appendChild(el("option", { value: s.sku_id }, label));
  }
  if (keep) sel.value = keep;
}

function remember() {
  const u = new URL(location.href);
  u.searchParams.set("run_date", state.runDate);
  if (state.sku) u.searchParams.set("sku_id", state.sku);
  history.replaceState(null, "", u);
}

async function selectSku(sku) {
  state.sku = sku;
  remember();
  for (const tr of $("orders").tBodies[0].rows) tr.className = tr.dataset.sku === sku ? "sel" : "";
  try {
    const s = await getJSON("api/series", { run_date: state.runDate, sku_id: sku });
    if (s.sku_id !== state.sku || s.run_date !== state.runDate) return;  // a newer pick won
    $("chart-title").textContent = `Demand of ${sku}` + (s.sku && s.sku.description ? ` — ${s.sku.description}` : "");
    drawChart(s);
    drawOrder(s);
    showError(null);
    document.body.dataset.loaded = `${s.run_date}/${s.sku_id}`;
  } catch (err) { clearSku(); showError(err); }
}

function clearSku() {
  $("chart").replaceChildren();
  $("chart-title").textContent = "Demand";
  const body = $("order-body");
  body.className = "muted";
  body.textContent = "Pick a SKU.";
}

async function selectRun(runDate) {
  state.runDate = runDate;
  $("csv-placed").href = url("orders.csv", { run_date: runDate });
  $("csv-all").href = url("orders_raw.csv", { run_date: runDate });
  $("orders-title").textContent = `Orders of the run ${runDate}`;
  try {
    const [skus, orders, run] = await Promise.all([
      getJSON("api/skus", { run_date: runDate }),
      getJSON("api/orders", { run_date: runDate, placed_only: "true" }),
      getJSON("api/run", { run_date: runDate }).catch(() => null),
    ]);
    state.skus = skus.skus;
    state.orders = orders.orders;
    $("run-summary").textContent = run ?
      `${num(run.skus_total)} SKUs forecast · ${num(run.orders_placed)} orders worth ${money(run.order_value)} · ${run.status}` : "";
    fillCategories();
    drawOrders();
    // a SKU asked for in the URL is shown, or its error is: never silently another one
    const first = Fmt.pickOrders(state.orders, { sort: "value" })[0];
    const known = state.skus.some((s) => s.sku_id === state.sku);
    const pick = (state.urlSku || known ? state.sku : null) || (first || {}).sku_id || (skus.skus[0] || {}).sku_id;
    state.urlSku = false;
    state.sku = pick;
    fillSkus();
    if (pick) { $("sku").value = pick; await selectSku(pick); }
  } catch (err) {
    state.orders = []; state.skus = [];
    drawOrders(); fillSkus(); clearSku(); showError(err);
  }
}

function listen() {
  $("category").addEventListener("change", (e) => { state.category = e.target.value; drawOrders(); });
  $("sort").addEventListener("change", (e) => { state.sort = e.target.value; drawOrders(); });
  for (const th of $("orders").tHead.querySelectorAll("th[data-sort]")) {
    th.addEventListener("click", () => { state.sort = th.dataset.sort; $("sort").value = state.sort; drawOrders(); });
  }
  const search = $("sku-search");
  search.addEventListener("input", () => { state.query = search.value; fillSkus(); drawOrders(); });
  search.addEventListener("keydown", (e) => {
    const hit = state.skus.find((s) => Fmt.matches(s, state.query));
    if (e.key === "Enter" && hit) { $("sku").value = hit.sku_id; selectSku(hit.sku_id); }
  });
  $("value-header").textContent = `value (${currency})`;
}

// run dates the data-quality gate blocked: each with its failures and the Data Docs link
async function showBlocked() {
  const { blocked_runs } = await getJSON("api/blocked-runs");
  const list = $("blocked-list");
  list.replaceChildren();
  for (const b of blocked_runs) {
    const item = el("li", {}, "");
    item.appendChild(el("b", {}, `${b.run_date}: blocked`));
    const fails = el("ul", {}, "");
    for (const f of b.failures) fails.appendChild(el("li", {}, f));
    item.appendChild(fails);
    if (b.data_docs_path) {
      const uri = "file://" + encodeURI(b.data_docs_path);
      item.appendChild(el("a", { href: uri, "data-testid": "data-docs" }, `Data Docs: ${b.data_docs_path}`));
    }
    list.appendChild(item);
  }
  $("blocked").hidden = !blocked_runs.length;
}

async function init() {
  showBlocked().catch((err) => showError(err));
  try {
    const { run_dates } = await getJSON("api/run-dates");
    const sel = $("run-date");
    for (const d of run_dates) sel.appendChild(el("option", { value: d }, d));
    if (!run_dates.length) { showError("No run has been loaded yet: run the DAG replenishment_daily first."); return; }
    sel.addEventListener("change", () => selectRun(sel.value));
    $("sku").addEventListener("change", (e) => selectSku(e.target.value));
    listen();
    // a run date asked for in the URL is loaded as asked: an unknown one shows the server's 404
    const pick = state.runDate || run_dates[0];
    if (!run_dates.includes(pick)) sel.prepend(el("option", { value: pick }, `${pick} (no run)`));
    sel.value = pick;
    await selectRun(pick);
  } catch (err) { showError(err); }
}
init();
