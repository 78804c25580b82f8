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
WITH ranked AS (
    -- the SKU-days, each with its rank among the SKU's days by units and their number
    SELECT
        l.sku_id,
        date(l.order_ts) AS day,
        SUM(l.quantity) AS units,
        ROW_NUMBER() OVER (PARTITION BY l.sku_id ORDER BY SUM(l.quantity)) AS rn,
        COUNT(*) OVER (PARTITION BY l.sku_id) AS n
    FROM order_lines AS l
    WHERE l.status <> 'cancelled'
      AND l.order_ts >= :history_start
      AND l.order_ts < :run_date
    GROUP BY l.sku_id, date(l.order_ts)
),
med AS (
    SELECT sku_id, AVG(units) AS median, MAX(n) AS n
    FROM ranked
    WHERE rn IN ((n + 1) / 2, (n + 2) / 2)
    GROUP BY sku_id
),
-- The cap is at least :min_multiple x median and at least median + :min_excess, so only a
-- SKU with a recent day above both can have a day above its cap: the MAD (a second sort of
-- the SKU's days) is measured for those SKUs alone.
candidates AS (
    SELECT d.sku_id, d.median, d.n
    FROM med AS d
    JOIN sku_master AS m ON m.sku_id = d.sku_id
    JOIN ranked AS r ON r.sku_id = d.sku_id
    WHERE d.n >= :min_days
      AND r.day >= :recent_start
      AND r.units > :min_multiple * d.median
      AND r.units > d.median + :min_excess
    GROUP BY d.sku_id, d.median, d.n
),
deviation AS (
    SELECT
        r.sku_id,
        ABS(r.units - c.median) AS dev,
        ROW_NUMBER() OVER (PARTITION BY r.sku_id ORDER BY ABS(r.units - c.median)) AS rn,
        c.n
    FROM ranked AS r
    JOIN candidates AS c ON c.sku_id = r.sku_id
),
spread AS (
    SELECT c.sku_id, c.median, AVG(v.dev) AS mad, c.n
    FROM candidates AS c
    JOIN deviation AS v ON v.sku_id = c.sku_id
    WHERE v.rn IN ((v.n + 1) / 2, (v.n + 2) / 2)
    GROUP BY c.sku_id, c.median, c.n
),
bounds AS (
    SELECT
        sku_id,
        median,
        mad,
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
        CASE
            WHEN by_mad >= by_multiple AND by_mad >= by_excess THEN by_mad
            WHEN by_multiple >= by_excess THEN by_multiple
            ELSE by_excess
        END AS cap
    FROM bounds
)
SELECT x.sku_id, x.day, x.units AS value, c.cap, c.median, c.mad
FROM ranked AS x
JOIN caps AS c ON c.sku_id = x.sku_id
WHERE x.day >= :recent_start
  AND x.units > c.cap
ORDER BY x.sku_id, x.day
