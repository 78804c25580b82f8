-- Daily demand per SKU, aggregated by the database: the quantity of order lines
-- that are not cancelled, by the UTC calendar date of order_ts, for the history
-- window [:history_start, :run_date). Nothing from the run date on is seen.
SELECT
    sku_id,
    date(order_ts) AS ds,
    SUM(quantity) AS y
FROM order_lines
WHERE status <> 'cancelled'
  AND order_ts >= :history_start
  AND order_ts < :run_date
GROUP BY sku_id, date(order_ts)
