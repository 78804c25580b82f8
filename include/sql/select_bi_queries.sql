-- What BI tools ask the reporting views, filtered the way a dashboard filters them.
-- Timed by `scripts/benchmark.py bi` and plan-checked by
-- tests/integration/test_bi_performance.py (view_queries of scripts/bi_benchmark.py).
-- Each statement starts with a "-- query: name" line. Bind parameters: :sku_id,
-- :category, :since (first run date of the last 90 days), :scored_run_date (a run
-- whose whole horizon has actuals).

-- query: latest_orders
-- The order list of the latest run, every SKU.
SELECT * FROM {{ reporting }}v_latest_orders ORDER BY sku_id;

-- query: latest_orders_category
-- The same for one category, biggest orders first.
SELECT * FROM {{ reporting }}v_latest_orders WHERE category = :category
ORDER BY order_value DESC;

-- query: forecast_vs_actual_sku
-- Every stored forecast of one SKU over the year next to its actuals.
SELECT * FROM {{ reporting }}v_forecast_vs_actual WHERE sku_id = :sku_id
ORDER BY run_date, forecast_date;

-- query: forecast_realised_sku
-- How each run's forecast of one SKU fared.
SELECT * FROM {{ reporting }}v_forecast_realised WHERE sku_id = :sku_id ORDER BY run_date;

-- query: forecast_realised_run
-- How one run's forecasts fared, every SKU (scores its whole horizon against actuals).
SELECT * FROM {{ reporting }}v_forecast_realised WHERE run_date = :scored_run_date
ORDER BY sku_id;

-- query: accuracy_by_category_90d
-- Backtest accuracy per category and run over the last 90 days.
SELECT * FROM {{ reporting }}v_accuracy_by_category WHERE run_date >= :since
ORDER BY run_date, category;

-- query: accuracy_sku
-- Backtest accuracy of one SKU over the year.
SELECT * FROM {{ reporting }}forecast_accuracy WHERE sku_id = :sku_id ORDER BY run_date;

-- query: data_quality_history
-- Every run's data-quality results.
SELECT * FROM {{ reporting }}v_data_quality_history ORDER BY run_date DESC, suite;
