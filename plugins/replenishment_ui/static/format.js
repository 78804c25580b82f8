// How the Replenishment page writes numbers and picks rows: pure functions, no DOM, so
// that tests/unit/test_plugin_page_js.py runs them under Node as the page runs them.
"use strict";
const Fmt = (() => {
  // Numbers with the browser's thousands separator and a fixed number of decimals.
  function num(v, d = 0) {
    if (v === null || v === undefined || !Number.isFinite(Number(v))) return "–";
    return Number(v).toLocaleString(undefined, { minimumFractionDigits: d, maximumFractionDigits: d });
  }

  // Units as the reason text writes them (policy._fmt): whole numbers without decimals,
  // anything else with one, so a card and the reason beside it show the same figure.
  function units(v) {
    if (v === null || v === undefined || !Number.isFinite(Number(v))) return "–";
    const x = Number(v);
    const whole = Math.abs(x - Math.round(x)) < 0.05;
    const text = num(x, whole ? 0 : 1);
    return text === "-0" ? "0" : text;
  }

  // A value in the configured currency (ISO 4217 code); an unknown code is written after it.
  function money(v, currency) {
    if (v === null || v === undefined || !Number.isFinite(Number(v))) return "–";
    try {
      return Number(v).toLocaleString(undefined, { style: "currency", currency });
    } catch (e) {
      return `${num(v, 2)} ${currency}`;
    }
  }

  // The reason text with its numbers written as num() writes them, keeping each number's
  // decimals; dates (2026-07-08) and identifiers (SKU-0001) are left as they are.
  const NUMBER = /(?<![\w.\-])\d+(?:\.\d+)?(?![\w.]|-\d)/g;
  function reason(text) {
    return String(text || "").replace(NUMBER, (m) => num(Number(m), (m.split(".")[1] || "").length));
  }

  // A number of days: "1 day", "7 days", "9.5 days".
  function days(v) {
    const text = units(v);
    return `${text} ${text === "1" ? "day" : "days"}`;
  }

  // Lead time and its spread: "unknown" where no receipts measured the spread.
  function leadTime(lead, stdDays, stdKnown) {
    return `${days(lead)} ± ${stdKnown ? days(stdDays) : "unknown"}`;
  }

  // The forecast interval split into runs of consecutive days: "band" where the lower end
  // is above 0, "clipped" where the interval was clipped at 0 (drawn as its upper bound only:
  // a fill down to the axis would read as a solid block of demand).
  function bandRuns(forecast) {
    const runs = [];
    for (const f of forecast) {
      const kind = Number(f.yhat_lower) > 0 ? "band" : "clipped";
      const last = runs[runs.length - 1];
      if (last && last.kind === kind) last.days.push(f);
      else runs.push({ kind, days: [f] });
    }
    return runs;
  }

  // Does an order or SKU row match what was typed in the search box (SKU id or description)?
  function matches(row, query) {
    const q = String(query || "").trim().toLowerCase();
    if (!q) return true;
    return [row.sku_id, row.description].some((v) => String(v || "").toLowerCase().includes(q));
  }

  const SORTS = {
    value: (a, b) => b.order_value - a.order_value,
    exceptions: (a, b) => (b.exceptions || []).length - (a.exceptions || []).length || b.order_value - a.order_value,
    sku: (a, b) => String(a.sku_id).localeCompare(String(b.sku_id)),
    qty: (a, b) => b.order_qty - a.order_qty,
    receipt: (a, b) => String(a.expected_receipt_date).localeCompare(String(b.expected_receipt_date)),
  };

  // The orders table's rows: of one category ("" for all), matching the search, sorted by
  // one of SORTS (ties by SKU, so the order is stable).
  function pickOrders(rows, { category = "", query = "", sort = "value" } = {}) {
    const by = SORTS[sort] || SORTS.value;
    return rows
      .filter((r) => (!category || r.category === category) && matches(r, query))
      .sort((a, b) => by(a, b) || SORTS.sku(a, b));
  }

  // How the SKU's forecast model was chosen, from its forecast_accuracy row: the winner,
  // its holdout WAPE against the incumbent's and seasonal naive's, and the candidates.
  function modelChoice(a) {
    if (!a) return "No accuracy row for this SKU and run.";
    const pct = (v) => (v === null || v === undefined || !Number.isFinite(Number(v))) ? "–" : num(Number(v) * 100, 1) + " %";
    const head = {
      backtest: `${a.model}: chosen by backtest over the default ${a.incumbent}`,
      default: `${a.model}: the default (class model and global model averaged); no candidate beat it by 20 %`,
      incumbent: `${a.model}: the class's own model; no candidate beat it by 20 %`,
      not_backtested: `${a.model}: not backtested on this run date (first candidate)`,
      fallback: `${a.model}: fallback, the candidates failed`,
    }[a.selection] || String(a.model);
    if (a.selection === "not_backtested" || a.wape === null || a.wape === undefined) return head + ".";
    let text = `${head}. Holdout WAPE ${pct(a.wape)}`;
    if (a.selection === "backtest" && a.incumbent_wape !== null && a.incumbent_wape !== undefined) text += ` (${a.incumbent} ${pct(a.incumbent_wape)})`;
    text += `, seasonal naive ${pct(a.baseline_wape)}; value added ${pct(a.fva)}.`;
    if (a.candidate_wapes) text += ` Candidates: ${a.candidate_wapes}.`;
    return text;
  }

  return { num, units, money, days, reason, leadTime, bandRuns, matches, pickOrders, modelChoice, SORTS };
})();
if (typeof module !== "undefined") module.exports = Fmt;
