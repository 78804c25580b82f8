-- Views for BI tools over the reporting tables. {{ reporting }} becomes "reporting."
-- on databases with schemas and nothing on SQLite; the source tables (sku_master,
-- order_lines, inventory_snapshots) are read unqualified, as the extract SQL reads them.
-- replenishment.reporting.create_views runs this script: CREATE OR REPLACE VIEW on
-- PostgreSQL, DROP VIEW IF EXISTS + CREATE VIEW on SQLite. One statement per view,
-- plain SQL that both databases run. Columns are documented in reporting_columns.yaml.

-- The latest run's recommendation for every SKU, with its description and category.
CREATE OR REPLACE VIEW {{ reporting }}v_latest_orders AS
SELECT
    o.run_date,
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
    o.expected_receipt_date,
    o.reason
FROM {{ reporting }}replenishment_orders o
LEFT JOIN sku_master s ON s.sku_id = o.sku_id
WHERE o.run_date = (SELECT MAX(run_date) FROM {{ reporting }}replenishment_orders);

-- Stored forecasts next to the actual demand of their day, once the day is known:
-- a run for D has seen every order line before D, so the days before the latest
-- loaded run date are complete. Actual demand is defined as in
-- extract_daily_demand.sql (lines not cancelled, by the date of order_ts); only
-- the order lines from the earliest stored run date on are aggregated (a run's
-- forecast days start at its run date; MIN(run_date) is read from the primary key,
-- MIN(forecast_date) would read every forecast row).
CREATE OR REPLACE VIEW {{ reporting }}v_forecast_vs_actual AS
SELECT
    f.run_date,
    f.sku_id,
    f.forecast_date,
    f.model,
    f.promo,
    f.yhat,
    f.yhat_lower,
    f.yhat_upper,
    CASE WHEN f.forecast_date < k.known_before
        THEN COALESCE(a.actual_units, 0) END AS actual_units,
    CASE WHEN f.forecast_date < k.known_before
        THEN ABS(f.yhat - COALESCE(a.actual_units, 0)) END AS abs_error,
    CASE WHEN f.forecast_date < k.known_before
        THEN CASE WHEN COALESCE(a.actual_units, 0) BETWEEN f.yhat_lower AND f.yhat_upper
                  THEN 1 ELSE 0 END END AS within_interval,
    CASE WHEN f.forecast_date < k.known_before
        THEN CASE WHEN st.on_hand <= 0 THEN 1 ELSE 0 END END AS stockout_day
FROM {{ reporting }}demand_forecast f
CROSS JOIN (SELECT MAX(run_date) AS known_before FROM {{ reporting }}pipeline_runs) k
LEFT JOIN (
    SELECT
        sku_id,
        date(order_ts) AS ds,
        SUM(quantity) AS actual_units
    FROM order_lines
    WHERE status <> 'cancelled'
      AND order_ts >= (SELECT MIN(run_date) FROM {{ reporting }}demand_forecast)
    GROUP BY sku_id, date(order_ts)
) a ON a.sku_id = f.sku_id AND a.ds = f.forecast_date
LEFT JOIN inventory_snapshots st
    ON st.sku_id = f.sku_id AND st.snapshot_date = f.forecast_date;

-- How each run's stored forecasts fared against the actuals known since, per SKU:
-- computed when read, so no run's rows depend on other runs.
CREATE OR REPLACE VIEW {{ reporting }}v_forecast_realised AS
SELECT
    run_date,
    sku_id,
    MIN(model) AS model,
    COUNT(*) AS days_scored,
    SUM(actual_units) AS actual_units,
    SUM(yhat) AS forecast_units,
    SUM(abs_error) AS abs_error,
    CAST(SUM(abs_error) / NULLIF(SUM(actual_units), 0) AS DOUBLE PRECISION) AS wape,
    CAST((SUM(yhat) - SUM(actual_units)) / NULLIF(SUM(actual_units), 0) AS DOUBLE PRECISION)
        AS bias,
    CAST(AVG(CAST(within_interval AS DOUBLE PRECISION)) AS DOUBLE PRECISION)
        AS within_interval_share
FROM {{ reporting }}v_forecast_vs_actual
WHERE actual_units IS NOT NULL
  AND stockout_day = 0
GROUP BY run_date, sku_id;

-- Accuracy per run date and SKU category, errors pooled (weighted by actual units) over
-- the SKUs whose model and baseline were both scored, as pipeline_runs.wape is.
CREATE OR REPLACE VIEW {{ reporting }}v_accuracy_by_category AS
SELECT
    a.run_date,
    COALESCE(s.category, '(none)') AS category,
    COUNT(*) AS skus,
    SUM(CASE WHEN a.wape IS NOT NULL AND a.baseline_wape IS NOT NULL THEN 1 ELSE 0 END)
        AS skus_backtested,
    SUM(CASE WHEN a.wape IS NOT NULL AND a.baseline_wape IS NOT NULL THEN a.actual_units END)
        AS actual_units,
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
        AS DOUBLE PRECISION) AS share_beating_baseline
FROM {{ reporting }}forecast_accuracy a
LEFT JOIN sku_master s ON s.sku_id = a.sku_id
GROUP BY a.run_date, COALESCE(s.category, '(none)');

-- Data-quality results over time, with the totals of each run date and whether the
-- run was blocked by a critical failure or loaded.
CREATE OR REPLACE VIEW {{ reporting }}v_data_quality_history AS
SELECT
    d.run_date,
    d.suite,
    d.success,
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
    CASE
        WHEN r.failed_critical_in_run > 0 THEN 'blocked'
        ELSE p.status
    END AS run_status,
    d.failures,
    d.data_docs_path
FROM {{ reporting }}data_quality_results d
JOIN (
    SELECT
        run_date,
        COUNT(*) AS suites_in_run,
        SUM(CASE WHEN success = 1 THEN 0 ELSE 1 END) AS suites_failed_in_run,
        SUM(failed_critical) AS failed_critical_in_run
    FROM {{ reporting }}data_quality_results
    GROUP BY run_date
) r ON r.run_date = d.run_date
LEFT JOIN {{ reporting }}pipeline_runs p ON p.run_date = d.run_date;

-- Inventory KPIs of the simulated policies (include/sql/create_simulation_tables.sql),
-- each next to the project's policy ("pipeline") on the same window and demand class.
CREATE OR REPLACE VIEW {{ reporting }}v_inventory_kpis AS
SELECT
    s.run_id,
    s.start_date,
    s.end_date,
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
    CAST(s.fill_rate - p.fill_rate AS DOUBLE PRECISION) AS fill_rate_vs_pipeline
FROM {{ reporting }}inventory_simulation_summary s
LEFT JOIN {{ reporting }}inventory_simulation_summary p
    ON p.run_id = s.run_id
   AND p.demand_class = s.demand_class
   AND p.policy = 'pipeline';
