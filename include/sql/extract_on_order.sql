-- Units on order as of the run date: purchase orders placed before it that had
-- not been received by then (a PO received later counts as open on the run
-- date, whatever its status says today). Cancelled POs never count, nor do
-- POs marked received without a received_date (validation warns about those).
SELECT
    sku_id,
    SUM(quantity) AS on_order,
    COUNT(*) AS open_purchase_orders
FROM purchase_orders
WHERE order_date < :run_date
  AND status <> 'cancelled'
  AND ((received_date IS NULL AND status = 'open') OR received_date >= :run_date)
GROUP BY sku_id
