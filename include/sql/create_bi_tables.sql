-- Reporting tables for BI tools that are not a run's output: written by every load
-- (replenishment.load.write_bi_tables) so that no view reads a source table.
-- {{ reporting }} becomes "reporting." on databases with schemas and nothing on SQLite.
--
-- daily_actuals: one row per SKU and day, the demand the run saw in its as-of history
-- (order lines before D that are not cancelled, by the date of order_ts; 0 on a day
-- without sales) and whether the day ended out of stock. Each load replaces the days
-- D - actuals_days .. D - 1: a day's actuals are the same whichever later run
-- computes them (a run for D sees every line before D).
CREATE TABLE IF NOT EXISTS {{ reporting }}daily_actuals (
    demand_date     DATE             NOT NULL,
    sku_id          VARCHAR(64)      NOT NULL,
    actual_units    DOUBLE PRECISION NOT NULL,
    stockout_day    INTEGER          NOT NULL,
    as_of_run_date  DATE             NOT NULL,
    PRIMARY KEY (demand_date, sku_id)
);

-- sku_dim: one row per SKU of the SKU master as of the latest loaded run date, with
-- the lead time that run planned with (a backfill of an older date leaves it alone).
CREATE TABLE IF NOT EXISTS {{ reporting }}sku_dim (
    sku_id              VARCHAR(64)      NOT NULL,
    description         VARCHAR(200),
    category            VARCHAR(64),
    unit_cost           DOUBLE PRECISION NOT NULL,
    currency            VARCHAR(3)       NOT NULL,
    pack_size           INTEGER          NOT NULL,
    moq                 INTEGER          NOT NULL,
    lead_time_days      DOUBLE PRECISION NOT NULL,
    lead_time_used_days DOUBLE PRECISION,
    lead_time_source    VARCHAR(16),
    review_period_days  DOUBLE PRECISION NOT NULL,
    service_level       DOUBLE PRECISION NOT NULL,
    active              INTEGER          NOT NULL,
    as_of_run_date      DATE             NOT NULL,
    PRIMARY KEY (sku_id)
);

-- One SKU's actuals over time (the forecast views join on sku_id and day).
CREATE INDEX IF NOT EXISTS ix_daily_actuals_sku ON {{ reporting }}daily_actuals (sku_id, demand_date);
