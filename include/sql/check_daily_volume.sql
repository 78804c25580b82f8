-- Volume of the last complete day (:day_before, D - 1) against the same weekday of
-- the trailing weeks (:reference_days, public holidays skipped), overall ('(all)')
-- and per category: order lines of every status ('lines') and units of the lines
-- that are not cancelled ('units'). A category absent on a day that has lines counts 0.
--
-- The band is robust: median +/- :mad_k x MAD x 1.4826 (1.4826 x MAD estimates the
-- standard deviation of a normal sample), widened to at least :mad_k x sqrt(median x q),
-- the spread of a compound Poisson count: q = 1 for lines, q = units per line (median
-- units / median lines of the scope) for units. It is compared squared, so no sqrt
-- function is needed.
-- :rule picks what is returned, one row per scope and measure:
--   'low'     the day is below the band (a partial or missing load, a feed that slowed);
--   'high'    the day is above the band (a load twice, a unit change, or a real peak);
--   'stopped' a category with no line on the day, while the day has lines and the
--             category's median is at least :min_median lines (a feed that stopped).
-- Scopes whose median is below :min_median, or with fewer than :min_reference_days
-- reference days, are not judged. On a public holiday (:day_is_holiday = 1) nothing
-- is returned: a holiday is not an ordinary weekday (the missing-day rule still runs).
WITH lines AS (
    SELECT
        date(l.order_ts) AS day,
        COALESCE(m.category, '(none)') AS scope,
        COUNT(*) AS n_lines,
        SUM(CASE WHEN l.status <> 'cancelled' THEN l.quantity ELSE 0 END) AS units
    FROM order_lines AS l
    JOIN sku_master AS m ON m.sku_id = l.sku_id
    WHERE l.order_ts >= :window_start
      AND l.order_ts < :run_date
      AND (date(l.order_ts) = :day_before OR date(l.order_ts) IN :reference_days)
    GROUP BY date(l.order_ts), COALESCE(m.category, '(none)')
),
scoped AS (
    SELECT day, scope, n_lines, units FROM lines
    UNION ALL
    SELECT day, '(all)' AS scope, SUM(n_lines) AS n_lines, SUM(units) AS units
    FROM lines
    GROUP BY day
),
measured AS (
    SELECT day, scope, 'lines' AS measure, n_lines AS value FROM scoped
    UNION ALL
    SELECT day, scope, 'units' AS measure, units AS value FROM scoped
),
grid AS (
    SELECT d.day, s.scope, s.measure
    FROM (SELECT DISTINCT day FROM measured) AS d
    CROSS JOIN (SELECT DISTINCT scope, measure FROM measured) AS s
),
filled AS (
    SELECT
        g.day,
        g.scope,
        g.measure,
        COALESCE(x.value, 0) AS value,
        CASE WHEN g.day = :day_before THEN 1 ELSE 0 END AS is_last
    FROM grid AS g
    LEFT JOIN measured AS x ON x.day = g.day AND x.scope = g.scope AND x.measure = g.measure
),
-- A reference day on which nothing at all was ordered has no row in `filled`: it counts
-- as 0 (a shop that is often shut on this weekday has a wide band, not a false alarm),
-- provided the warehouse already held lines before the window (a young warehouse's
-- days before its first line are not zeros). The sorted reference values are then
-- `zeros` zeros followed by the present values, and the median and the MAD are read at
-- positions (n + 1) / 2 and (n + 2) / 2 of that list.
ranked AS (
    SELECT
        scope,
        measure,
        value,
        ROW_NUMBER() OVER (PARTITION BY scope, measure ORDER BY value) AS rn,
        COUNT(*) OVER (PARTITION BY scope, measure) AS n_present
    FROM filled
    WHERE is_last = 0
),
padded AS (
    SELECT
        r.scope,
        r.measure,
        r.value,
        r.rn + z.zeros AS pos,
        z.zeros,
        r.n_present + z.zeros AS n
    FROM ranked AS r
    CROSS JOIN (
        SELECT CASE
            WHEN EXISTS (SELECT 1 FROM order_lines AS o WHERE o.order_ts < :window_start)
            THEN :n_reference_days - (SELECT COUNT(DISTINCT day) FROM measured WHERE day <> :day_before)
            ELSE 0
        END AS zeros
    ) AS z
),
med AS (
    SELECT
        scope,
        measure,
        (SUM(CASE WHEN pos = (n + 1) / 2 THEN value ELSE 0 END)
         + SUM(CASE WHEN pos = (n + 2) / 2 THEN value ELSE 0 END)) / 2.0 AS median,
        MAX(zeros) AS zeros,
        MAX(n) AS n
    FROM padded
    GROUP BY scope, measure
),
-- each zero day deviates from the median by the median itself: `zeros` copies of it sit
-- among the sorted deviations right after the present deviations that are <= the median
deviation AS (
    SELECT
        p.scope,
        p.measure,
        ABS(p.value - d.median) AS dev,
        d.median,
        ROW_NUMBER() OVER (PARTITION BY p.scope, p.measure ORDER BY ABS(p.value - d.median))
        + CASE WHEN ABS(p.value - d.median) > d.median THEN d.zeros ELSE 0 END AS pos
    FROM padded AS p
    JOIN med AS d ON d.scope = p.scope AND d.measure = p.measure
),
counted AS (
    SELECT
        d.scope,
        d.measure,
        d.median,
        d.n,
        d.zeros,
        SUM(CASE WHEN v.dev <= d.median THEN 1 ELSE 0 END) AS at_most_median,
        SUM(CASE WHEN v.pos = (d.n + 1) / 2 THEN v.dev ELSE 0 END) AS dev1,
        SUM(CASE WHEN v.pos = (d.n + 2) / 2 THEN v.dev ELSE 0 END) AS dev2
    FROM med AS d
    JOIN deviation AS v ON v.scope = d.scope AND v.measure = d.measure
    GROUP BY d.scope, d.measure, d.median, d.n, d.zeros
),
band AS (
    SELECT
        scope,
        measure,
        median,
        n,
        (CASE WHEN (n + 1) / 2 > at_most_median AND (n + 1) / 2 <= at_most_median + zeros
              THEN median ELSE dev1 END
         + CASE WHEN (n + 2) / 2 > at_most_median AND (n + 2) / 2 <= at_most_median + zeros
              THEN median ELSE dev2 END) / 2.0 AS mad
    FROM counted
),
scaled AS (
    SELECT
        b.scope,
        b.measure,
        b.median,
        b.mad,
        b.n,
        CASE WHEN b.measure = 'lines' THEN b.median ELSE b.median * b.median / l.median END
            AS poisson_var
    FROM band AS b
    JOIN band AS l ON l.scope = b.scope AND l.measure = 'lines'
    WHERE l.median > 0
),
last_day AS (
    SELECT f.scope, f.measure, f.value, t.value AS day_total
    FROM filled AS f
    JOIN filled AS t ON t.day = f.day AND t.scope = '(all)' AND t.measure = 'lines'
    WHERE f.is_last = 1
)
SELECT
    :day_before AS day,
    b.scope,
    b.measure,
    l.value,
    b.median,
    b.mad,
    b.n AS reference_days
FROM scaled AS b
JOIN last_day AS l ON l.scope = b.scope AND l.measure = b.measure
WHERE :day_is_holiday = 0
  AND b.n >= :min_reference_days
  AND b.median >= :min_median
  AND (
      (:rule = 'low'
       AND b.median - l.value > :mad_k * 1.4826 * b.mad
       AND (b.median - l.value) * (b.median - l.value) > :mad_k * :mad_k * b.poisson_var)
      OR (:rule = 'high'
       AND l.value - b.median > :mad_k * 1.4826 * b.mad
       AND (l.value - b.median) * (l.value - b.median) > :mad_k * :mad_k * b.poisson_var)
      OR (:rule = 'stopped'
       AND b.scope <> '(all)' AND b.measure = 'lines' AND l.value = 0 AND l.day_total > 0)
  )
ORDER BY b.scope, b.measure
