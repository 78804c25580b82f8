-- Views for BI tools over the reporting tables. {{ reporting }} becomes "reporting."
-- on databases with schemas and nothing on SQLite. No view reads a source table: the
-- SKU attributes come from sku_dim and the actual demand from daily_actuals, both
-- written by the load (create_bi_tables.sql).
-- replenishment.reporting.create_views runs this script: CREATE OR REPLACE VIEW on
-- PostgreSQL, DROP VIEW IF EXISTS + CREATE VIEW on SQLite. One statement per view.
-- Three macros are rendered per database by replenishment.reporting.render_macros:
--   BI_DATE(col)          a date column as BI tools compare it: the DATE itself on
--                         PostgreSQL; 'YYYY-MM-DD 00:00:00.000000' text on SQLite, so a
--                         tool's `>= '2026-07-01 00:00:00.000000'` filter keeps that day;
--   DAYS_BETWEEN(a, b)    whole days from date b to date a, an integer;
-- Every computed column is CAST to its type, so SQLite returns one storage class per
-- column (a REAL ratio never comes back as an INTEGER). Flags are BOOLEAN on PostgreSQL
-- (0/1 on SQLite, which has no boolean type). Columns: reporting_columns.yaml.

-- One row per SKU: the SKU master as of the latest loaded run, with the planned and
-- the measured lead time.
CREATE OR REPLACE VIEW {{ reporting }}v_sku AS
SELECT
    s.sku_id,
    s.description,
    s.category,
    s.unit_cost,
    s.currency,
    s.pack_size,
    s.moq,
    s.lead_time_days,
    s.lead_time_used_days,
    s.lead_time_source,
    s.review_period_days,
    s.service_level,
    CAST(s.active AS BOOLEAN) AS active,
    BI_DATE(s.as_of_run_date) AS as_of_run_date
FROM {{ reporting }}sku_dim s;

-- One row per SKU and day: actual demand and stock-outs, with the SKU's attributes.
CREATE OR REPLACE VIEW {{ reporting }}v_daily_actuals AS
SELECT
    BI_DATE(a.demand_date) AS demand_date,
    a.sku_id,
    s.description,
    s.category,
    a.actual_units,
    CAST(a.stockout_day AS BOOLEAN) AS stockout_day,
    BI_DATE(a.as_of_run_date) AS as_of_run_date
FROM {{ reporting }}daily_actuals a
LEFT JOIN {{ reporting }}sku_dim s ON s.sku_id = a.sku_id;

-- The latest run's recommendation for every SKU, with its description and category.
CREATE OR REPLACE VIEW {{ reporting }}v_latest_orders AS
SELECT
    BI_DATE(o.run_date) AS run_date,
    o.sku_id,
    s.description,
    s.category,
    o.policy,
    o.model,
    o.on_hand,
    o.on_order,
    o.inventory_position,
    o.avg_daily_demand,
    CAST(o.inventory_position / NULLIF(o.avg_daily_demand, 0) AS DOUBLE PRECISION) AS days_of_cover,
    o.safety_stock,
    o.reorder_point,
    o.order_up_to,
    o.pack_size,
    o.moq,
    o.order_qty,
    o.order_packs,
    o.order_value,
    BI_DATE(o.expected_receipt_date) AS expected_receipt_date,
    o.reason,
    CAST(o.order_qty > 0 AS BOOLEAN) AS order_placed,
    s.unit_cost,
    s.currency,
    o.lead_time_days,
    o.lead_time_used_days,
    o.lead_time_source
FROM {{ reporting }}replenishment_orders o
LEFT JOIN {{ reporting }}sku_dim s ON s.sku_id = o.sku_id
WHERE o.run_date = (SELECT MAX(run_date) FROM {{ reporting }}replenishment_orders);

-- Every stored forecast next to the actual demand of its day, once the day is known
-- (a daily_actuals row exists). One row per run, SKU and forecast day: a day appears
-- once per run that forecast it, so sum it with a filter on is_latest_run or
-- horizon_day, or use v_latest_forecast / v_forecast_vs_actual_lag7.
CREATE OR REPLACE VIEW {{ reporting }}v_forecast_vs_actual AS
SELECT
    BI_DATE(f.run_date) AS run_date,
    f.sku_id,
    BI_DATE(f.forecast_date) AS forecast_date,
    f.model,
    CAST(f.promo AS BOOLEAN) AS promo,
    f.yhat,
    f.yhat_lower,
    f.yhat_upper,
    a.actual_units,
    CAST(ABS(f.yhat - a.actual_units) AS DOUBLE PRECISION) AS abs_error,
    CAST(a.actual_units BETWEEN f.yhat_lower AND f.yhat_upper AS BOOLEAN) AS within_interval,
    CAST(a.stockout_day AS BOOLEAN) AS stockout_day,
    CAST(DAYS_BETWEEN(f.forecast_date, f.run_date) AS INTEGER) AS horizon_day,
    CAST(f.run_date = k.latest_run_date AS BOOLEAN) AS is_latest_run,
    s.description,
    s.category
FROM {{ reporting }}demand_forecast f
CROSS JOIN (SELECT MAX(run_date) AS latest_run_date FROM {{ reporting }}demand_forecast) k
LEFT JOIN {{ reporting }}daily_actuals a
    ON a.sku_id = f.sku_id AND a.demand_date = f.forecast_date
LEFT JOIN {{ reporting }}sku_dim s ON s.sku_id = f.sku_id;

-- The latest run's forecast: one row per SKU and forecast day of its horizon.
CREATE OR REPLACE VIEW {{ reporting }}v_latest_forecast AS
SELECT
    BI_DATE(f.forecast_date) AS forecast_date,
    f.sku_id,
    s.description,
    s.category,
    BI_DATE(f.run_date) AS run_date,
    CAST(DAYS_BETWEEN(f.forecast_date, f.run_date) AS INTEGER) AS horizon_day,
    f.model,
    CAST(f.promo AS BOOLEAN) AS promo,
    f.yhat,
    f.yhat_lower,
    f.yhat_upper,
    s.unit_cost,
    CAST(f.yhat * s.unit_cost AS DOUBLE PRECISION) AS forecast_value,
    s.currency
FROM {{ reporting }}demand_forecast f
LEFT JOIN {{ reporting }}sku_dim s ON s.sku_id = f.sku_id
WHERE f.run_date = (SELECT MAX(run_date) FROM {{ reporting }}demand_forecast);

-- Accuracy at lag 7: each SKU and day against the forecast made 7 days before (the run
-- of forecast_date - 7, horizon day 7). One row per SKU and forecast day, so sums over
-- days, SKUs and categories count every day once: pooled WAPE = SUM(abs_error) /
-- SUM(actual_units) over the rows with actuals.
CREATE OR REPLACE VIEW {{ reporting }}v_forecast_vs_actual_lag7 AS
SELECT
    forecast_date,
    sku_id,
    description,
    category,
    run_date,
    horizon_day AS lag_days,
    model,
    promo,
    yhat,
    yhat_lower,
    yhat_upper,
    actual_units,
    CAST(yhat - actual_units AS DOUBLE PRECISION) AS error,
    abs_error,
    within_interval,
    stockout_day
FROM {{ reporting }}v_forecast_vs_actual
WHERE horizon_day = 7;

-- How each run's stored forecasts fared against the actuals known since, per SKU:
-- computed when read, so no run's rows depend on other runs.
CREATE OR REPLACE VIEW {{ reporting }}v_forecast_realised AS
SELECT
    run_date,
    sku_id,
    MIN(model) AS model,
    CAST(COUNT(*) AS INTEGER) AS days_scored,
    CAST(SUM(actual_units) AS DOUBLE PRECISION) AS actual_units,
    CAST(SUM(yhat) AS DOUBLE PRECISION) AS forecast_units,
    CAST(SUM(abs_error) AS DOUBLE PRECISION) AS abs_error,
    CAST(SUM(abs_error) / NULLIF(SUM(actual_units), 0) AS DOUBLE PRECISION) AS wape,
    CAST((SUM(yhat) - SUM(actual_units)) / NULLIF(SUM(actual_units), 0) AS DOUBLE PRECISION)
        AS bias,
    CAST(AVG(CASE WHEN within_interval THEN 1.0 ELSE 0.0 END) AS DOUBLE PRECISION)
        AS within_interval_share,
    MIN(description) AS description,
    MIN(category) AS category
FROM {{ reporting }}v_forecast_vs_actual
WHERE actual_units IS NOT NULL
  AND NOT stockout_day
GROUP BY run_date, sku_id;

-- Accuracy per run date and SKU category, errors pooled (weighted by actual units) over
-- the SKUs whose model and baseline were both scored, as pipeline_runs.wape is.
CREATE OR REPLACE VIEW {{ reporting }}v_accuracy_by_category AS
SELECT
    BI_DATE(a.run_date) AS run_date,
    COALESCE(s.category, '(none)') AS category,
    CAST(COUNT(*) AS INTEGER) AS skus,
    CAST(SUM(CASE WHEN a.wape IS NOT NULL AND a.baseline_wape IS NOT NULL THEN 1 ELSE 0 END)
        AS INTEGER) AS skus_backtested,
    CAST(SUM(CASE WHEN a.wape IS NOT NULL AND a.baseline_wape IS NOT NULL THEN a.actual_units END)
        AS DOUBLE PRECISION) AS actual_units,
    CAST(
        SUM(CASE WHEN a.wape IS NOT NULL AND a.baseline_wape IS NOT NULL
                 THEN a.wape * a.actual_units END)
        / NULLIF(SUM(CASE WHEN a.wape IS NOT NULL AND a.baseline_wape IS NOT NULL
                          THEN a.actual_units END), 0)
        AS DOUBLE PRECISION) AS wape,
    CAST(
        SUM(CASE WHEN a.wape IS NOT NULL AND a.baseline_wape IS NOT NULL
                 THEN a.baseline_wape * a.actual_units END)
        / NULLIF(SUM(CASE WHEN a.wape IS NOT NULL AND a.baseline_wape IS NOT NULL
                          THEN a.actual_units END), 0)
        AS DOUBLE PRECISION) AS baseline_wape,
    CAST(
        SUM(CASE WHEN a.wape IS NOT NULL AND a.baseline_wape IS NOT NULL AND a.bias IS NOT NULL
                 THEN a.bias * a.actual_units END)
        / NULLIF(SUM(CASE WHEN a.wape IS NOT NULL AND a.baseline_wape IS NOT NULL
                               AND a.bias IS NOT NULL
                          THEN a.actual_units END), 0)
        AS DOUBLE PRECISION) AS bias,
    CAST(
        AVG(CASE WHEN a.wape IS NOT NULL AND a.baseline_wape IS NOT NULL
                 THEN CAST(a.beats_baseline AS DOUBLE PRECISION) END)
        AS DOUBLE PRECISION) AS share_beating_baseline,
    CAST(
        SUM(CASE WHEN a.wape IS NOT NULL AND a.baseline_wape IS NOT NULL
                 THEN a.wape * a.actual_units END)
        AS DOUBLE PRECISION) AS abs_error
FROM {{ reporting }}forecast_accuracy a
LEFT JOIN {{ reporting }}sku_dim s ON s.sku_id = a.sku_id
GROUP BY a.run_date, COALESCE(s.category, '(none)');

-- Data-quality results over time, with the totals of each run date and whether the
-- run was blocked by a critical failure or loaded.
CREATE OR REPLACE VIEW {{ reporting }}v_data_quality_history AS
SELECT
    BI_DATE(d.run_date) AS run_date,
    d.suite,
    CAST(d.success AS BOOLEAN) AS success,
    d.evaluated_expectations,
    d.failed_expectations,
    d.failed_critical,
    d.failed_warning,
    CAST(
        1.0 - CAST(d.failed_expectations AS DOUBLE PRECISION)
              / NULLIF(d.evaluated_expectations, 0)
        AS DOUBLE PRECISION) AS pass_rate,
    r.suites_in_run,
    r.suites_failed_in_run,
    r.failed_critical_in_run,
    CAST(CASE
        WHEN r.failed_critical_in_run > 0 AND COALESCE(p.skus_quarantined, 0) = 0 THEN 'blocked'
        ELSE p.status
    END AS VARCHAR(16)) AS run_status,
    d.failures,
    d.data_docs_path
FROM {{ reporting }}data_quality_results d
JOIN (
    SELECT
        run_date,
        CAST(COUNT(*) AS INTEGER) AS suites_in_run,
        CAST(SUM(CASE WHEN success = 1 THEN 0 ELSE 1 END) AS INTEGER) AS suites_failed_in_run,
        CAST(SUM(failed_critical) AS INTEGER) AS failed_critical_in_run
    FROM {{ reporting }}data_quality_results
    GROUP BY run_date
) r ON r.run_date = d.run_date
LEFT JOIN {{ reporting }}pipeline_runs p ON p.run_date = d.run_date;

-- Inventory KPIs of the simulated policies (include/sql/create_simulation_tables.sql),
-- each next to the project's policy ("pipeline") on the same window and demand class.
CREATE OR REPLACE VIEW {{ reporting }}v_inventory_kpis AS
SELECT
    s.run_id,
    BI_DATE(s.start_date) AS start_date,
    BI_DATE(s.end_date) AS end_date,
    s.days,
    s.policy,
    s.demand_class,
    s.pipeline_policy,
    s.demand_mode,
    s.skus,
    s.target_service_level,
    s.cycle_service_level,
    s.service_level_gap,
    s.fill_rate,
    s.stockout_days,
    s.short_units,
    s.avg_on_hand,
    s.avg_inventory_value,
    s.inventory_turns,
    CAST(
        s.avg_on_hand / NULLIF(s.demand_units / NULLIF(s.days, 0), 0)
        AS DOUBLE PRECISION) AS days_of_supply,
    s.orders,
    s.holding_cost,
    s.ordering_cost,
    s.total_cost,
    CAST(s.total_cost / NULLIF(p.total_cost, 0) AS DOUBLE PRECISION) AS total_cost_vs_pipeline,
    CAST(s.fill_rate - p.fill_rate AS DOUBLE PRECISION) AS fill_rate_vs_pipeline,
    s.demand_units,
    CAST(c.currency AS VARCHAR(3)) AS currency
FROM {{ reporting }}inventory_simulation_summary s
LEFT JOIN {{ reporting }}inventory_simulation_summary p
    ON p.run_id = s.run_id
   AND p.demand_class = s.demand_class
   AND p.policy = 'pipeline'
CROSS JOIN (SELECT MIN(currency) AS currency FROM {{ reporting }}sku_dim) c;
