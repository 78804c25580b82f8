-- Received purchase orders whose real lead time (received_date - order_date)
-- was known before the run date.
SELECT
    sku_id,
    order_date,
    received_date
FROM purchase_orders
WHERE status = 'received'
  AND received_date IS NOT NULL
  AND received_date >= :lead_time_start
  AND received_date < :run_date
