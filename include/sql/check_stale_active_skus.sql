-- Active SKUs that sold before :year_ago (D - 365 days) and not since: no sales line
-- (status not cancelled) in [:year_ago, :run_date), at least one before. The SKU is
-- probably discontinued and its master row stale. SKUs without any sales line are new
-- or never sold, and are not judged here. Index lookups on (sku_id, order_ts) per SKU.
SELECT m.sku_id, MAX(l.order_ts) AS last_sale
FROM sku_master AS m
JOIN order_lines AS l ON l.sku_id = m.sku_id AND l.order_ts < :year_ago
WHERE m.active = TRUE
  AND l.status <> 'cancelled'
  AND NOT EXISTS (
      SELECT 1
      FROM order_lines AS r
      WHERE r.sku_id = m.sku_id
        AND r.order_ts >= :year_ago
        AND r.order_ts < :run_date
        AND r.status <> 'cancelled'
  )
GROUP BY m.sku_id
ORDER BY m.sku_id
