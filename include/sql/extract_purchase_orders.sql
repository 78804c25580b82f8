-- Purchase orders as they were known before the run date, for learning supplier
-- lead times (replenishment/lead_time.py): placed in the look-back window before
-- the run date, not cancelled. received_date is kept only when the receipt was
-- known before the run date; an order received on or after it was still open then.
-- Orders marked received without a received_date are left out (validation warns).
SELECT
    sku_id,
    order_date,
    expected_date,
    CASE WHEN received_date < :run_date THEN received_date END AS received_date
FROM purchase_orders
WHERE order_date < :run_date
  AND order_date >= :lead_time_start
  AND status <> 'cancelled'
  AND (received_date IS NOT NULL OR status = 'open')
