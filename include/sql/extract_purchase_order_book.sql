-- Purchase orders placed in the look-back window before the run date (order_date on
-- or after lead_time_start, as extract_purchase_orders.sql reads them for the
-- pipeline): the simulator's order book at the start of its window. A received_date
-- on or after a simulated day is not known on that day, and an order placed before a
-- simulated day's own look-back is not read on it; the simulator hides both day by day.
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
  AND order_date >= :lead_time_start
