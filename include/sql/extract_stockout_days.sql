-- Days that ended with nothing on hand: their sales are censored demand.
SELECT
    sku_id,
    snapshot_date AS ds
FROM inventory_snapshots
WHERE on_hand <= 0
  AND snapshot_date >= :history_start
  AND snapshot_date < :run_date
