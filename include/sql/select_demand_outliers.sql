-- SKU-days whose demand is far above the SKU's own history: a unit change (cases
-- instead of units), a test order, a one-off bulk order. Demand is the quantity of
-- the lines that are not cancelled, per SKU and UTC date of order_ts, over the
-- window [:history_start, :run_date). The SKU's history is its selling days in that
-- window (days without sales are not counted, so intermittent SKUs are judged on
-- their usual order sizes). The cap is the largest of
--     median + :mad_k x 1.4826 x MAD, :min_multiple x median, median + :min_excess
-- (the last keeps slow sellers, whose median is 1 or 2 units, from being judged on noise),
-- and a day above it is returned when it falls in [:recent_start, :run_date) and the
-- SKU has at least :min_days selling days. value, cap, median and mad are in units.
WITH daily AS (
    SELECT l.sku_id, date(l.order_ts) AS day, SUM(l.quantity) AS units
    FROM order_lines AS l
    JOIN sku_master AS m ON m.sku_id = l.sku_id
    WHERE l.status <> 'cancelled'
      AND l.order_ts >= :history_start
      AND l.order_ts < :run_date
    GROUP BY l.sku_id, date(l.order_ts)
),
ranked AS (
    SELECT
        sku_id,
        day,
        units,
        ROW_NUMBER() OVER (PARTITION BY sku_id ORDER BY units) AS rn,
        COUNT(*) OVER (PARTITION BY sku_id) AS n
    FROM daily
),
med AS (
    SELECT sku_id, AVG(units) AS median, MAX(n) AS n
    FROM ranked
    WHERE rn IN ((n + 1) / 2, (n + 2) / 2)
    GROUP BY sku_id
),
deviation AS (
    SELECT
        r.sku_id,
        ABS(r.units - d.median) AS dev,
        ROW_NUMBER() OVER (PARTITION BY r.sku_id ORDER BY ABS(r.units - d.median)) AS rn,
        COUNT(*) OVER (PARTITION BY r.sku_id) AS n
    FROM ranked AS r
    JOIN med AS d ON d.sku_id = r.sku_id
),
spread AS (
    SELECT d.sku_id, d.median, AVG(v.dev) AS mad, d.n
    FROM med AS d
    JOIN deviation AS v ON v.sku_id = d.sku_id
    WHERE v.rn IN ((v.n + 1) / 2, (v.n + 2) / 2)
    GROUP BY d.sku_id, d.median, d.n
),
bounds AS (
    SELECT
        sku_id,
        median,
        mad,
        n,
        median + :mad_k * 1.4826 * mad AS by_mad,
        :min_multiple * median AS by_multiple,
        median + :min_excess AS by_excess
    FROM spread
),
caps AS (
    SELECT
        sku_id,
        median,
        mad,
        n,
        CASE
            WHEN by_mad >= by_multiple AND by_mad >= by_excess THEN by_mad
            WHEN by_multiple >= by_excess THEN by_multiple
            ELSE by_excess
        END AS cap
    FROM bounds
)
SELECT x.sku_id, x.day, x.units AS value, c.cap, c.median, c.mad
FROM daily AS x
JOIN caps AS c ON c.sku_id = x.sku_id
WHERE x.day >= :recent_start
  AND c.n >= :min_days
  AND x.units > c.cap
ORDER BY x.sku_id, x.day
