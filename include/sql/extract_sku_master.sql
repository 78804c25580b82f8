-- SKU master data: every SKU, active or not (validation checks them all;
-- planning uses the active ones).
SELECT
    sku_id,
    description,
    category,
    unit_cost,
    pack_size,
    moq,
    lead_time_days,
    review_period_days,
    service_level,
    holding_cost_rate,
    order_cost,
    active
FROM sku_master
