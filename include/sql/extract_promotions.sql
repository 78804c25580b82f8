-- Promotions overlapping the history window or the forecast horizon
-- (planned promotions are known ahead, so future ones are read too).
SELECT
    promo_id,
    sku_id,
    start_date,
    end_date,
    discount_pct
FROM promotions
WHERE end_date >= :history_start
  AND start_date <= :horizon_end
