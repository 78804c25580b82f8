-- Synthetic year of daily runs for the BI benchmark (scripts/bi_benchmark.py,
-- scripts/benchmark.py bi, tests/integration/test_bi_performance.py). PostgreSQL only:
-- every row is made by the server (generate_series, random()), nothing passes through
-- Python. The tables themselves come from the project's DDL (create_source_tables.sql,
-- create_reporting_tables.sql); these statements only fill them.
--
-- Each statement starts with a "-- step: name" line. Steps "skus" to "promotions" run
-- once; the run steps run for each chunk of run dates :first_run + [:day_from, :day_to),
-- pipeline_runs last, as the daily load writes it. Values are plausible in shape
-- (the same distributions the demo warehouse and a 10,000-SKU run show: a long tail
-- of slow movers, ~12 % of SKUs ordering per run, a seventh backtested), not a model.
--
-- Bind parameters: :seed (-1..1), :skus, :history_start, :history_end (first day of
-- source history; the day after the last, i.e. the latest run date), :first_run,
-- :day_from, :day_to, :horizon_days, :forecast_days (horizon days stored per run).

-- step: seed
SELECT setseed(:seed);

-- step: skus
-- One row per SKU with what the other steps derive from it (a session's temp table).
CREATE TEMP TABLE bi_sku AS
SELECT
    i,
    'SKU-' || lpad(CAST(i AS TEXT), 6, '0') AS sku_id,
    mod(i, 33) <> 0 AS active,
    category,
    mu,
    CASE WHEN mu >= 0.7 THEN 'prophet' WHEN mu >= 0.3 THEN 'sba' ELSE 'moving_average' END
        AS model,
    CASE
        WHEN mu >= 0.7 THEN CASE WHEN mod(i, 7) = 0 THEN 'erratic' ELSE 'smooth' END
        WHEN mu >= 0.3 THEN CASE WHEN mod(i, 3) = 0 THEN 'lumpy' ELSE 'intermittent' END
        ELSE 'short'
    END AS demand_class,
    0.3 + 0.45 * mu AS sigma,
    pack_size,
    CASE WHEN mod(i, 3) = 0 THEN 3 * pack_size ELSE 0 END AS moq,
    round(CAST(2 + mod(i * 37, 200) / 2.0 AS NUMERIC), 2) AS unit_cost,
    3 + mod(i * 13, 20) AS lead_time_days,
    CASE WHEN mod(i, 4) = 0 THEN 7 ELSE 1 END AS review_period_days,
    mod(i, 5) < 2 AS promoted,
    mod(i * 17, 91) AS promo_phase,
    6 + mod(i, 9) AS promo_days
FROM (
    SELECT
        i,
        (ARRAY['Apparel', 'Beverages', 'Electronics', 'Garden & Outdoor', 'Household',
               'Personal Care', 'Snacks', 'Toys & Games'])[1 + mod(i, 8)] AS category,
        -- mean daily units: log-uniform from 0.2 to 30 (slow movers to fast sellers)
        exp(mod(i * 7919, 1000) / 1000.0 * 5.0 - 1.6) AS mu,
        (ARRAY[1, 6, 12, 24, 48])[1 + mod(i, 5)] AS pack_size
    FROM generate_series(1, :skus) AS i
) s;

-- step: sku_master
INSERT INTO sku_master (
    sku_id, description, category, unit_cost, pack_size, moq, lead_time_days,
    review_period_days, service_level, holding_cost_rate, order_cost, active
)
SELECT
    sku_id,
    category || ' item ' || i || ' ' || pack_size || '-pack',
    category,
    unit_cost,
    pack_size,
    moq,
    lead_time_days,
    review_period_days,
    0.95,
    0.2,
    20 + mod(i, 150),
    active
FROM bi_sku
ORDER BY i;

-- step: order_lines
-- Up to four lines per SKU and day, fewer for slow movers (~1.5 a SKU-day on average);
-- two consecutive lines of a SKU share an order.
INSERT INTO order_lines (order_id, line_no, sku_id, order_ts, quantity, unit_price, status)
SELECT
    'SO-' || to_char(d, 'YYYYMMDD') || '-' || lpad(CAST(2 * i + k / 2 AS TEXT), 6, '0'),
    1 + mod(k, 2),
    sku_id,
    d + date_trunc('second', u1 * INTERVAL '1 day'),
    1 + floor(u2 * greatest(1.0, mu / 2)),
    round(CAST(unit_cost * 1.6 AS NUMERIC), 2),
    CASE WHEN u3 < 0.03 THEN 'cancelled' WHEN u3 < 0.05 THEN 'returned' ELSE 'completed' END
FROM (
    SELECT d, s.i, s.sku_id, s.mu, s.unit_cost, k, random() AS u1, random() AS u2, random() AS u3
    FROM generate_series(
        CAST(:history_start AS TIMESTAMP),
        CAST(:history_end AS TIMESTAMP) - INTERVAL '1 day',
        INTERVAL '1 day'
    ) AS d
    CROSS JOIN bi_sku s
    CROSS JOIN generate_series(0, 3) AS k
    WHERE random() < s.mu / (4.5 * (k + 1))
) q;

-- step: inventory_snapshots
-- End-of-day stock of every SKU and day; about 3 % of the days end in a stock-out.
INSERT INTO inventory_snapshots (sku_id, snapshot_date, on_hand)
SELECT
    s.sku_id,
    CAST(d AS DATE),
    CASE WHEN random() < 0.03 THEN 0 ELSE round(s.mu * (2 + 25 * random())) END
FROM bi_sku s
CROSS JOIN LATERAL generate_series(
    CAST(:history_start AS TIMESTAMP) + 0 * s.i * INTERVAL '1 day',
    CAST(:history_end AS TIMESTAMP) - INTERVAL '1 day',
    INTERVAL '1 day'
) AS d;

-- step: promotions
-- Two SKUs in five run a promotion every 91 days, past and planned (through the last horizon).
INSERT INTO promotions (promo_id, sku_id, start_date, end_date, discount_pct)
SELECT
    'PR-' || lpad(CAST(i AS TEXT), 6, '0') || '-' || n,
    sku_id,
    start_date,
    start_date + promo_days - 1,
    10 + 5 * mod(i + n, 5)
FROM (
    SELECT s.i, s.sku_id, s.promo_days, n,
           CAST(:history_start AS DATE) + s.promo_phase + 91 * n AS start_date
    FROM bi_sku s
    CROSS JOIN generate_series(
        0, (CAST(:history_end AS DATE) - CAST(:history_start AS DATE) + :horizon_days) / 91
    ) AS n
    WHERE s.promoted
) q;

-- step: sku_dim
-- The SKU dimension the latest load writes (create_bi_tables.sql): the SKU master,
-- planned with its planned lead time.
INSERT INTO {{ reporting }}sku_dim (
    sku_id, description, category, unit_cost, currency, pack_size, moq, lead_time_days,
    lead_time_used_days, lead_time_source, review_period_days, service_level, active,
    as_of_run_date
)
SELECT
    sku_id, description, category, unit_cost, 'USD', pack_size, moq, lead_time_days,
    lead_time_days, 'planned', review_period_days, service_level,
    CASE WHEN active THEN 1 ELSE 0 END, CAST(:history_end AS DATE)
FROM sku_master;

-- step: daily_actuals
-- The daily actuals the loads write: every SKU and day of the history (a snapshot
-- exists for each), its order lines that are not cancelled, and its stock-out flag.
INSERT INTO {{ reporting }}daily_actuals (
    demand_date, sku_id, actual_units, stockout_day, as_of_run_date
)
SELECT
    st.snapshot_date,
    st.sku_id,
    COALESCE(l.units, 0),
    CASE WHEN st.on_hand <= 0 THEN 1 ELSE 0 END,
    CAST(:history_end AS DATE)
FROM inventory_snapshots st
LEFT JOIN (
    SELECT sku_id, CAST(order_ts AS DATE) AS ds, SUM(quantity) AS units
    FROM order_lines
    WHERE status <> 'cancelled'
    GROUP BY sku_id, CAST(order_ts AS DATE)
) l ON l.sku_id = st.sku_id AND l.ds = st.snapshot_date;

-- step: replenishment_orders
-- One recommendation per active SKU and run: reorder point and order-up-to from the
-- SKU's demand, an inventory position around the reorder point (~12 % below it: an
-- order in whole packs, at least the MOQ).
INSERT INTO {{ reporting }}replenishment_orders (
    run_date, sku_id, policy, model, on_hand, on_order, backorders, inventory_position,
    avg_daily_demand, sigma_daily, lead_time_days, lead_time_std_days, review_period_days,
    protection_days, service_level, z, lead_time_demand, protection_demand, sigma_protection,
    safety_stock, reorder_point, order_up_to, eoq, pack_size, moq, order_qty, order_packs,
    order_value, expected_receipt_date, reason
)
SELECT
    run_date, sku_id, policy, model, on_hand, on_order, 0, on_hand + on_order,
    avg_daily_demand, sigma_daily, lead_time_days, 0.1 * lead_time_days, review_period_days,
    protection_days, 0.95, 1.6449, avg_daily_demand * lead_time_days,
    avg_daily_demand * protection_days, sigma_protection, safety_stock, reorder_point,
    order_up_to, eoq, pack_size, moq, order_packs * pack_size, order_packs,
    order_packs * pack_size * unit_cost, run_date + lead_time_days,
    CASE WHEN order_packs > 0
        THEN 'position ' || round(CAST(on_hand + on_order AS NUMERIC))
             || ' below reorder point ' || round(CAST(reorder_point AS NUMERIC), 1)
        ELSE 'position ' || round(CAST(on_hand + on_order AS NUMERIC))
             || ' at or above reorder point ' || round(CAST(reorder_point AS NUMERIC), 1)
    END
FROM (
    SELECT
        p.*,
        CASE WHEN on_hand + on_order < reorder_point
            THEN greatest(ceil((order_up_to - on_hand - on_order) / pack_size),
                          ceil(CAST(moq AS DOUBLE PRECISION) / pack_size))
            ELSE 0 END AS order_packs
    FROM (
        SELECT
            r.*,
            greatest(0, round(r.reorder_point * (0.8 + 1.6 * r.u1)) - r.on_order) AS on_hand,
            r.reorder_point + r.avg_daily_demand * r.review_period_days AS order_up_to
        FROM (
            SELECT
                x.*,
                1.6449 * x.sigma_daily * sqrt(x.protection_days) AS sigma_protection,
                1.6449 * x.sigma_daily * sqrt(x.protection_days) AS safety_stock,
                x.avg_daily_demand * x.protection_days
                    + 1.6449 * x.sigma_daily * sqrt(x.protection_days) AS reorder_point,
                sqrt(2 * 365 * x.avg_daily_demand * 60 / (0.2 * x.unit_cost)) AS eoq,
                CASE WHEN x.u2 < 0.25 THEN x.pack_size * ceil(x.u3 * 4) ELSE 0 END AS on_order
            FROM (
                SELECT
                    CAST(:first_run AS DATE) + g AS run_date,
                    s.sku_id,
                    CASE WHEN mod(s.i, 10) = 0 THEN 'continuous' ELSE 'periodic' END AS policy,
                    s.model,
                    s.mu * (0.85 + 0.3 * random()) AS avg_daily_demand,
                    s.sigma * (0.85 + 0.3 * random()) AS sigma_daily,
                    s.lead_time_days,
                    s.review_period_days,
                    s.lead_time_days + s.review_period_days AS protection_days,
                    s.unit_cost,
                    s.pack_size,
                    s.moq,
                    random() AS u1,
                    random() AS u2,
                    random() AS u3
                FROM generate_series(:day_from, :day_to - 1) AS g
                CROSS JOIN bi_sku s
                WHERE s.active
            ) x
        ) r
    ) p
) q
ORDER BY run_date, sku_id;

-- step: forecast_accuracy
-- Every active SKU has a row per run; a seventh of them (by SKU and run) were
-- backtested and carry error measures against the seasonal-naive baseline.
INSERT INTO {{ reporting }}forecast_accuracy (
    run_date, sku_id, model, demand_class, backtest_start, backtest_days, actual_units,
    wape, mase, bias, baseline_wape, baseline_mase, baseline_bias, beats_baseline
)
SELECT
    run_date, sku_id, model, demand_class,
    CASE WHEN backtested THEN run_date - 28 END,
    CASE WHEN backtested THEN 28 ELSE 0 END,
    CASE WHEN backtested THEN round(mu * 28 * (0.7 + 0.6 * u1)) END,
    CASE WHEN backtested THEN base_wape * (0.55 + 0.5 * u2) END,
    CASE WHEN backtested THEN base_wape * (0.55 + 0.5 * u2) * 2.2 END,
    CASE WHEN backtested THEN 0.3 * (u3 - 0.5) END,
    CASE WHEN backtested THEN base_wape END,
    CASE WHEN backtested THEN base_wape * 2.2 END,
    CASE WHEN backtested THEN 0.4 * (u1 - 0.5) END,
    CASE WHEN backtested THEN CASE WHEN 0.55 + 0.5 * u2 < 1 THEN 1 ELSE 0 END END
FROM (
    SELECT
        CAST(:first_run AS DATE) + g AS run_date,
        s.sku_id, s.model, s.demand_class, s.mu,
        mod(s.i + g, 7) = 0 AS backtested,
        CASE s.demand_class
            WHEN 'smooth' THEN 0.36 WHEN 'erratic' THEN 1.0 WHEN 'intermittent' THEN 1.6
            WHEN 'lumpy' THEN 1.3 ELSE 0.7
        END AS base_wape,
        random() AS u1,
        random() AS u2,
        random() AS u3
    FROM generate_series(:day_from, :day_to - 1) AS g
    CROSS JOIN bi_sku s
    WHERE s.active
) q
ORDER BY run_date, sku_id;

-- step: demand_forecast
-- :forecast_days daily forecasts per active SKU and run, with a weekly pattern, the
-- SKU's promotion days raised, and an 80 % interval.
INSERT INTO {{ reporting }}demand_forecast (
    run_date, sku_id, forecast_date, yhat, yhat_lower, yhat_upper, interval_width, promo, model
)
SELECT
    run_date, sku_id, forecast_date, yhat, greatest(0, yhat - 1.2816 * sigma),
    yhat + 1.2816 * sigma, 0.8, promo, model
FROM (
    SELECT
        f.*,
        f.mu * (1 + 0.15 * cos(2 * pi() * f.dow / 7)) * (1 + 0.4 * f.promo)
            * (0.9 + 0.2 * random()) AS yhat
    FROM (
        SELECT
            CAST(:first_run AS DATE) + g AS run_date,
            s.sku_id,
            CAST(:first_run AS DATE) + g + h AS forecast_date,
            CAST(extract(isodow FROM CAST(:first_run AS DATE) + g + h) AS INTEGER) AS dow,
            CASE WHEN s.promoted
                      AND g + h + (CAST(:first_run AS DATE) - CAST(:history_start AS DATE))
                          >= s.promo_phase
                      AND mod(g + h + (CAST(:first_run AS DATE) - CAST(:history_start AS DATE))
                              - s.promo_phase, 91) < s.promo_days
                 THEN 1 ELSE 0 END AS promo,
            s.mu, s.sigma, s.model
        FROM generate_series(:day_from, :day_to - 1) AS g
        CROSS JOIN bi_sku s
        CROSS JOIN generate_series(0, :forecast_days - 1) AS h
        WHERE s.active
    ) f
) q
ORDER BY run_date, sku_id, forecast_date;

-- step: data_quality_results
-- Five suites per run; now and then a suite records a warning (the run still loads).
INSERT INTO {{ reporting }}data_quality_results (
    run_date, suite, success, evaluated_expectations, failed_expectations, failed_critical,
    failed_warning, failures, data_docs_path
)
SELECT
    run_date, suite,
    CASE WHEN warned THEN 0 ELSE 1 END,
    expectations,
    CASE WHEN warned THEN 1 ELSE 0 END,
    0,
    CASE WHEN warned THEN 1 ELSE 0 END,
    CASE WHEN warned THEN suite || ': 1 expectation failed (warning): ' || rule END,
    '.data/data_docs/' || to_char(run_date, 'YYYY-MM-DD') || '/index.html'
FROM (
    SELECT
        CAST(:first_run AS DATE) + g AS run_date,
        v.suite, v.expectations, v.rule,
        mod(g + 11 * v.k, 29) = 0 AS warned
    FROM generate_series(:day_from, :day_to - 1) AS g
    CROSS JOIN (
        VALUES
            (1, 'sku_master', 30, 'description is not null'),
            (2, 'order_lines', 19, 'unit_price within the usual range'),
            (3, 'promotions', 13, 'discount_pct between 0 and 90'),
            (4, 'inventory_snapshots', 11, 'a snapshot for every active SKU'),
            (5, 'purchase_orders', 17, 'received orders have a received_date')
    ) AS v (k, suite, expectations, rule)
) q;

-- step: pipeline_runs
-- The run's summary row, counted from the rows written above (as the load writes it).
INSERT INTO {{ reporting }}pipeline_runs (
    run_date, run_id, run_type, status, started_at, finished_at, horizon_days,
    holiday_country, skus_total, skus_prophet, skus_intermittent, skus_fallback, skus_failed,
    orders_placed, order_value, wape, baseline_wape, extract_seconds, validate_seconds,
    forecast_seconds, replenish_seconds, load_seconds, report_path
)
SELECT
    o.run_date,
    'scheduled__' || to_char(o.run_date, 'YYYY-MM-DD') || 'T00:00:00+00:00',
    'scheduled',
    'success',
    o.run_date + INTERVAL '10 minutes',
    o.run_date + INTERVAL '19 minutes',
    :horizon_days,
    'US',
    o.skus,
    o.prophet,
    o.intermittent,
    o.skus - o.prophet - o.intermittent,
    0,
    o.placed,
    o.order_value,
    a.wape,
    a.baseline_wape,
    46 + 5 * random(),
    113 + 10 * random(),
    379 + 30 * random(),
    0.7 + 0.1 * random(),
    5 + random(),
    '.data/reports/' || to_char(o.run_date, 'YYYY-MM-DD') || '.html'
FROM (
    SELECT
        run_date,
        COUNT(*) AS skus,
        SUM(CASE WHEN model = 'prophet' THEN 1 ELSE 0 END) AS prophet,
        SUM(CASE WHEN model = 'sba' THEN 1 ELSE 0 END) AS intermittent,
        SUM(CASE WHEN order_qty > 0 THEN 1 ELSE 0 END) AS placed,
        SUM(order_value) AS order_value
    FROM {{ reporting }}replenishment_orders
    WHERE run_date >= CAST(:first_run AS DATE) + :day_from
      AND run_date < CAST(:first_run AS DATE) + :day_to
    GROUP BY run_date
) o
LEFT JOIN (
    SELECT
        run_date,
        SUM(wape * actual_units) / NULLIF(SUM(actual_units), 0) AS wape,
        SUM(baseline_wape * actual_units) / NULLIF(SUM(actual_units), 0) AS baseline_wape
    FROM {{ reporting }}forecast_accuracy
    WHERE run_date >= CAST(:first_run AS DATE) + :day_from
      AND run_date < CAST(:first_run AS DATE) + :day_to
      AND wape IS NOT NULL
    GROUP BY run_date
) a ON a.run_date = o.run_date;
