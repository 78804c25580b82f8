-- Active SKUs whose planned lead_time_days is far from the lead times measured on
-- their receipts: received purchase orders with received_date in
-- [:year_ago, :run_date) (the last 365 days), at least :min_receipts of them. The measured lead
-- time is the median of received_date - order_date (days). A SKU is returned when
-- the median is :ratio times the planned value or more, or the planned value is
-- :ratio times the median or more, and the two differ by at least :min_days days.
--
-- Day numbers are computed from the ISO text of the dates with integer arithmetic
-- (days from the civil calendar, H. Hinnant, "chrono-compatible low-level date
-- algorithms", days_from_civil), because SQLite and PostgreSQL share no date
-- difference function. A date's text is its ISO form (PostgreSQL's default DateStyle).
WITH receipts AS (
    SELECT
        p.sku_id,
        CAST(substr(CAST(date(p.order_date) AS VARCHAR(10)), 1, 4) AS INTEGER) AS oy,
        CAST(substr(CAST(date(p.order_date) AS VARCHAR(10)), 6, 2) AS INTEGER) AS om,
        CAST(substr(CAST(date(p.order_date) AS VARCHAR(10)), 9, 2) AS INTEGER) AS od,
        CAST(substr(CAST(date(p.received_date) AS VARCHAR(10)), 1, 4) AS INTEGER) AS ry,
        CAST(substr(CAST(date(p.received_date) AS VARCHAR(10)), 6, 2) AS INTEGER) AS rm,
        CAST(substr(CAST(date(p.received_date) AS VARCHAR(10)), 9, 2) AS INTEGER) AS rd
    FROM purchase_orders AS p
    WHERE p.status = 'received'
      AND p.received_date IS NOT NULL
      AND p.received_date >= :year_ago
      AND p.received_date < :run_date
),
shifted AS (
    SELECT
        sku_id,
        oy - CASE WHEN om <= 2 THEN 1 ELSE 0 END AS oy2,
        CASE WHEN om > 2 THEN om - 3 ELSE om + 9 END AS om2,
        od,
        ry - CASE WHEN rm <= 2 THEN 1 ELSE 0 END AS ry2,
        CASE WHEN rm > 2 THEN rm - 3 ELSE rm + 9 END AS rm2,
        rd
    FROM receipts
),
measured AS (
    SELECT
        sku_id,
        (365 * ry2 + ry2 / 4 - ry2 / 100 + ry2 / 400 + (153 * rm2 + 2) / 5 + rd)
        - (365 * oy2 + oy2 / 4 - oy2 / 100 + oy2 / 400 + (153 * om2 + 2) / 5 + od) AS lead_days
    FROM shifted
),
ranked AS (
    SELECT
        sku_id,
        lead_days,
        ROW_NUMBER() OVER (PARTITION BY sku_id ORDER BY lead_days) AS rn,
        COUNT(*) OVER (PARTITION BY sku_id) AS n
    FROM measured
),
med AS (
    SELECT sku_id, AVG(lead_days) AS measured_lead_days, MAX(n) AS receipts
    FROM ranked
    WHERE rn IN ((n + 1) / 2, (n + 2) / 2)
    GROUP BY sku_id
)
SELECT m.sku_id, m.lead_time_days AS planned_lead_days, d.measured_lead_days, d.receipts
FROM sku_master AS m
JOIN med AS d ON d.sku_id = m.sku_id
WHERE m.active = TRUE
  AND d.receipts >= :min_receipts
  AND ABS(d.measured_lead_days - m.lead_time_days) >= :min_days
  AND (d.measured_lead_days >= :ratio * m.lead_time_days
       OR m.lead_time_days >= :ratio * d.measured_lead_days)
ORDER BY m.sku_id
