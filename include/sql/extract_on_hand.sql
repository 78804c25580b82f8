-- On hand per SKU from the latest inventory snapshot before the run date.
SELECT
    s.sku_id,
    s.snapshot_date,
    s.on_hand
FROM inventory_snapshots s
JOIN (
    SELECT sku_id, MAX(snapshot_date) AS snapshot_date
    FROM inventory_snapshots
    WHERE snapshot_date < :run_date
    GROUP BY sku_id
) latest
  ON latest.sku_id = s.sku_id
 AND latest.snapshot_date = s.snapshot_date
