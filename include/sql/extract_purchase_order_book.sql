-- Purchase orders placed before the run date whose receipt could still tell a lead
-- time (received on or after lead_time_start, or not received): the simulator's order
-- book at the start of its window. A received_date on or after a simulated day is not
-- known on that day; the simulator hides it day by day.
SELECT
    po_id,
    sku_id,
    order_date,
    expected_date,
    received_date,
    quantity,
    status
FROM purchase_orders
WHERE order_date < :run_date
  AND (received_date IS NULL OR received_date >= :lead_time_start)
