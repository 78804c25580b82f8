-- Indexes the extract queries rely on; recommended for your own warehouse too.
-- Created after the demo data is loaded (faster than maintaining them row by row).
CREATE INDEX IF NOT EXISTS ix_order_lines_sku_ts ON order_lines (sku_id, order_ts);
CREATE INDEX IF NOT EXISTS ix_order_lines_ts ON order_lines (order_ts);
CREATE INDEX IF NOT EXISTS ix_promotions_sku ON promotions (sku_id, start_date);
CREATE INDEX IF NOT EXISTS ix_inventory_date ON inventory_snapshots (snapshot_date);
CREATE INDEX IF NOT EXISTS ix_purchase_orders_sku ON purchase_orders (sku_id, order_date);
