-- A load repeated under new order ids: on the last complete day (:day_before), the
-- order lines whose (sku_id, order_ts, quantity, unit_price) occurs under more than
-- one order_id. Real orders rarely share a SKU, a timestamp to the second, a quantity
-- and a price, so the share of such lines is small and steady; a load run twice makes
-- it close to 100 %.
-- Returns the repeated tuples of the last day (with their first and last order ids)
-- when the day's repeated share is at least :min_share and at least :multiple times
-- the highest share of the reference days (:reference_days, the same weekday of the
-- trailing weeks).
WITH lines AS (
    SELECT
        date(l.order_ts) AS day,
        l.order_id,
        l.sku_id,
        l.order_ts,
        l.quantity,
        l.unit_price
    FROM order_lines AS l
    WHERE l.order_ts >= :window_start
      AND l.order_ts < :run_date
      AND (date(l.order_ts) = :day_before OR date(l.order_ts) IN :reference_days)
),
tuples AS (
    SELECT
        day,
        sku_id,
        order_ts,
        quantity,
        unit_price,
        COUNT(*) AS n_lines,
        COUNT(DISTINCT order_id) AS n_orders,
        MIN(order_id) AS first_order_id,
        MAX(order_id) AS last_order_id
    FROM lines
    GROUP BY day, sku_id, order_ts, quantity, unit_price
),
shares AS (
    SELECT
        day,
        SUM(n_lines) AS n_lines,
        1.0 * SUM(CASE WHEN n_orders > 1 THEN n_lines ELSE 0 END) / SUM(n_lines) AS share
    FROM tuples
    GROUP BY day
),
history AS (
    SELECT COALESCE(MAX(share), 0) AS max_share, COUNT(*) AS n_days
    FROM shares
    WHERE day <> :day_before
)
SELECT
    t.day,
    t.sku_id,
    t.order_ts,
    t.quantity,
    t.unit_price,
    t.n_orders,
    t.first_order_id,
    t.last_order_id,
    s.share AS repeated_share,
    h.max_share AS history_max_share
FROM tuples AS t
JOIN shares AS s ON s.day = t.day
CROSS JOIN history AS h
WHERE t.day = :day_before
  AND t.n_orders > 1
  AND s.share >= :min_share
  AND s.share >= :multiple * h.max_share
ORDER BY t.sku_id, t.order_ts
