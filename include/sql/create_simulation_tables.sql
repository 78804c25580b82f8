-- Reporting tables of the replay simulator (replenishment/simulate/), read by BI.
-- {{ reporting }} becomes "reporting." on databases with schemas and nothing on
-- SQLite. Both tables are keyed by run_id (by default built from the window and the
-- settings, e.g. "2026-01-01+180d-periodic-lost_sales-refit7"): a re-run of the same
-- window deletes its rows and inserts the new ones in one transaction.
--
-- policy: "pipeline" (the project's policy), "spreadsheet" (order-up-to from the
-- trailing 8 weeks and the measured mean lead time, on review days) or "forecast_net"
-- (forecast over L+R minus (position - safety stock), on review days).
-- pipeline_policy: "periodic" (R,S) or "continuous" (s,Q) given to compute_orders.
-- Units are stock units; costs and values are at unit cost; rates are fractions.
CREATE TABLE IF NOT EXISTS {{ reporting }}inventory_simulation (
    run_id              VARCHAR(100)     NOT NULL,
    start_date          DATE             NOT NULL,  -- first simulated day
    end_date            DATE             NOT NULL,  -- last simulated day
    days                INTEGER          NOT NULL,
    policy              VARCHAR(32)      NOT NULL,
    sku_id              VARCHAR(64)      NOT NULL,
    demand_class        VARCHAR(16)      NOT NULL,  -- Syntetos-Boylan class at the first refit
    model               VARCHAR(32)      NOT NULL,  -- forecast model at the first refit
    pipeline_policy     VARCHAR(16)      NOT NULL,
    demand_mode         VARCHAR(16)      NOT NULL,  -- lost_sales or backorders
    refit_every_days    INTEGER          NOT NULL,
    service_level       DOUBLE PRECISION NOT NULL,  -- target cycle service level (sku_master)
    unit_cost           DOUBLE PRECISION NOT NULL,
    cycles              INTEGER          NOT NULL,  -- complete review cycles (receipt of a review day's order to the next)
    stockout_cycles     INTEGER          NOT NULL,  -- of which with a shortage
    cycle_service_level DOUBLE PRECISION,           -- 1 - stockout_cycles / cycles; NULL without cycles
    service_level_gap   DOUBLE PRECISION,           -- cycle_service_level - service_level; NULL without cycles
    lot_bound           INTEGER,                    -- 1: max(MOQ, pack) > 2 review periods of demand (the lot sets the service)
    demand_units        DOUBLE PRECISION NOT NULL,
    served_units        DOUBLE PRECISION NOT NULL,  -- demand served from stock on the day asked
    short_units         DOUBLE PRECISION NOT NULL,  -- demand lost (or backordered) on the day asked
    shipped_units       DOUBLE PRECISION NOT NULL,  -- units that left stock, backorders included
    fill_rate           DOUBLE PRECISION,           -- served_units / demand_units
    stockout_days       INTEGER          NOT NULL,  -- days ending with on_hand = 0
    short_days          INTEGER          NOT NULL,  -- days with unserved demand
    avg_on_hand         DOUBLE PRECISION NOT NULL,  -- mean end-of-day stock, units
    avg_inventory_value DOUBLE PRECISION NOT NULL,  -- avg_on_hand * unit_cost
    inventory_turns     DOUBLE PRECISION,           -- shipped_units per year / avg_on_hand
    orders              INTEGER          NOT NULL,  -- purchase orders placed
    units_ordered       DOUBLE PRECISION NOT NULL,
    holding_cost        DOUBLE PRECISION NOT NULL,  -- sum of on_hand * unit_cost * holding_cost_rate / 365
    ordering_cost       DOUBLE PRECISION NOT NULL,  -- orders * order_cost
    total_cost          DOUBLE PRECISION NOT NULL,
    ending_backorders   DOUBLE PRECISION NOT NULL,  -- owed at the end (backorders mode)
    PRIMARY KEY (run_id, policy, sku_id)
);

CREATE TABLE IF NOT EXISTS {{ reporting }}inventory_simulation_summary (
    run_id               VARCHAR(100)     NOT NULL,
    start_date           DATE             NOT NULL,
    end_date             DATE             NOT NULL,
    days                 INTEGER          NOT NULL,
    policy               VARCHAR(32)      NOT NULL,
    demand_class         VARCHAR(16)      NOT NULL,  -- "all" or a Syntetos-Boylan class
    pipeline_policy      VARCHAR(16)      NOT NULL,
    demand_mode          VARCHAR(16)      NOT NULL,
    refit_every_days     INTEGER          NOT NULL,
    skus                 INTEGER          NOT NULL,
    skus_with_cycles     INTEGER          NOT NULL,
    target_service_level DOUBLE PRECISION,           -- mean target over SKUs with cycles
    cycle_service_level  DOUBLE PRECISION,           -- mean achieved over SKUs with cycles
    service_level_gap    DOUBLE PRECISION,           -- signed mean (achieved - target): over- and under-shoot cancel
    service_level_abs_gap DOUBLE PRECISION,          -- mean |achieved - target| over SKUs with cycles
    lot_bound_skus       INTEGER,                    -- SKUs whose lot sets their service (lot_bound = 1)
    controlled_service_level_gap DOUBLE PRECISION,   -- signed mean gap over the SKUs with cycles that are not lot-bound
    controlled_gap_std_error DOUBLE PRECISION,       -- binomial standard error of that gap at the targets
    fill_rate            DOUBLE PRECISION,           -- total served / total demand
    stockout_days        INTEGER          NOT NULL,
    short_days           INTEGER          NOT NULL,
    demand_units         DOUBLE PRECISION NOT NULL,
    short_units          DOUBLE PRECISION NOT NULL,
    avg_on_hand          DOUBLE PRECISION NOT NULL,  -- sum over SKUs, units
    avg_inventory_value  DOUBLE PRECISION NOT NULL,  -- sum over SKUs, at unit cost
    inventory_turns      DOUBLE PRECISION,           -- cost of goods shipped per year / avg_inventory_value
    orders               INTEGER          NOT NULL,
    units_ordered        DOUBLE PRECISION NOT NULL,
    holding_cost         DOUBLE PRECISION NOT NULL,
    ordering_cost        DOUBLE PRECISION NOT NULL,
    total_cost           DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (run_id, policy, demand_class)
);

CREATE INDEX IF NOT EXISTS ix_inventory_simulation_sku ON {{ reporting }}inventory_simulation (sku_id, run_id);
