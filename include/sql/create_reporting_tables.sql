-- Output tables read by BI tools. {{ reporting }} becomes "reporting." on
-- databases with schemas and nothing on SQLite. Every table is keyed by
-- run_date: a run replaces exactly its own rows.
CREATE TABLE IF NOT EXISTS {{ reporting }}demand_forecast (
    run_date        DATE             NOT NULL,
    sku_id          VARCHAR(64)      NOT NULL,
    forecast_date   DATE             NOT NULL,
    yhat            DOUBLE PRECISION NOT NULL,
    yhat_lower      DOUBLE PRECISION NOT NULL,
    yhat_upper      DOUBLE PRECISION NOT NULL,
    interval_width  DOUBLE PRECISION NOT NULL,
    promo           INTEGER          NOT NULL,
    model           VARCHAR(32)      NOT NULL,
    PRIMARY KEY (run_date, sku_id, forecast_date)
);

CREATE TABLE IF NOT EXISTS {{ reporting }}replenishment_orders (
    run_date              DATE             NOT NULL,
    sku_id                VARCHAR(64)      NOT NULL,
    policy                VARCHAR(16)      NOT NULL,
    model                 VARCHAR(32)      NOT NULL,
    on_hand               DOUBLE PRECISION NOT NULL,
    on_order              DOUBLE PRECISION NOT NULL,
    backorders            DOUBLE PRECISION NOT NULL,
    inventory_position    DOUBLE PRECISION NOT NULL,
    avg_daily_demand      DOUBLE PRECISION NOT NULL,
    sigma_daily           DOUBLE PRECISION NOT NULL,
    lead_time_days        DOUBLE PRECISION NOT NULL,
    lead_time_std_days    DOUBLE PRECISION NOT NULL,
    lead_time_used_days   DOUBLE PRECISION,
    lead_time_source      VARCHAR(16),
    lead_time_receipts    INTEGER,
    review_period_days    DOUBLE PRECISION NOT NULL,
    protection_days       DOUBLE PRECISION NOT NULL,
    service_level         DOUBLE PRECISION NOT NULL,
    z                     DOUBLE PRECISION NOT NULL,
    lead_time_demand      DOUBLE PRECISION NOT NULL,
    protection_demand     DOUBLE PRECISION NOT NULL,
    sigma_protection      DOUBLE PRECISION NOT NULL,
    error_inflation       DOUBLE PRECISION,
    demand_distribution   VARCHAR(24),
    safety_stock          DOUBLE PRECISION NOT NULL,
    reorder_point         DOUBLE PRECISION NOT NULL,
    order_up_to           DOUBLE PRECISION NOT NULL,
    eoq                   DOUBLE PRECISION NOT NULL,
    pack_size             INTEGER          NOT NULL,
    moq                   INTEGER          NOT NULL,
    order_qty             DOUBLE PRECISION NOT NULL,
    order_packs           INTEGER          NOT NULL,
    order_value           DOUBLE PRECISION NOT NULL,
    expected_receipt_date DATE             NOT NULL,
    reason                VARCHAR(200)     NOT NULL,
    PRIMARY KEY (run_date, sku_id)
);

CREATE TABLE IF NOT EXISTS {{ reporting }}forecast_accuracy (
    run_date        DATE             NOT NULL,
    sku_id          VARCHAR(64)      NOT NULL,
    model           VARCHAR(32)      NOT NULL,
    demand_class    VARCHAR(16)      NOT NULL,
    backtest_start  DATE,
    backtest_days   INTEGER          NOT NULL,
    actual_units    DOUBLE PRECISION,
    wape            DOUBLE PRECISION,
    mase            DOUBLE PRECISION,
    bias            DOUBLE PRECISION,
    baseline_wape   DOUBLE PRECISION,
    baseline_mase   DOUBLE PRECISION,
    baseline_bias   DOUBLE PRECISION,
    beats_baseline  INTEGER,
    selection       VARCHAR(16),
    incumbent       VARCHAR(32),
    incumbent_wape  DOUBLE PRECISION,
    fva             DOUBLE PRECISION,
    candidate_wapes VARCHAR(400),
    PRIMARY KEY (run_date, sku_id)
);

CREATE TABLE IF NOT EXISTS {{ reporting }}data_quality_results (
    run_date              DATE         NOT NULL,
    suite                 VARCHAR(64)  NOT NULL,
    success               INTEGER      NOT NULL,
    evaluated_expectations INTEGER     NOT NULL,
    failed_expectations   INTEGER      NOT NULL,
    failed_critical       INTEGER      NOT NULL,
    failed_warning        INTEGER      NOT NULL,
    failures              TEXT,
    data_docs_path        VARCHAR(500),
    PRIMARY KEY (run_date, suite)
);

CREATE TABLE IF NOT EXISTS {{ reporting }}pipeline_runs (
    run_date          DATE             NOT NULL PRIMARY KEY,
    run_id            VARCHAR(250),
    run_type          VARCHAR(32)      NOT NULL,
    status            VARCHAR(16)      NOT NULL,
    started_at        TIMESTAMP        NOT NULL,
    finished_at       TIMESTAMP        NOT NULL,
    horizon_days      INTEGER          NOT NULL,
    holiday_country   VARCHAR(8)       NOT NULL,
    skus_total        INTEGER          NOT NULL,
    skus_prophet      INTEGER          NOT NULL,
    skus_intermittent INTEGER          NOT NULL,
    skus_challenger   INTEGER,
    skus_fallback     INTEGER          NOT NULL,
    skus_failed       INTEGER          NOT NULL,
    skus_quarantined  INTEGER,
    orders_placed     INTEGER          NOT NULL,
    order_value       DOUBLE PRECISION NOT NULL,
    wape              DOUBLE PRECISION,
    baseline_wape     DOUBLE PRECISION,
    extract_seconds   DOUBLE PRECISION,
    validate_seconds  DOUBLE PRECISION,
    forecast_seconds  DOUBLE PRECISION,
    replenish_seconds DOUBLE PRECISION,
    load_seconds      DOUBLE PRECISION,
    report_path       VARCHAR(500),
    reason            TEXT
);

-- Every table's primary key leads with run_date: one run, a range of runs and the latest
-- run date (MAX(run_date)) are read through it. These serve the questions about one
-- SKU over time (a BI filter on sku_id, the plugin's page). Created on every load if
-- missing, so an existing database gets a new one on its next load. Each index costs
-- the daily load time (BENCHMARKS.md, "BI queries on a year of runs").
CREATE INDEX IF NOT EXISTS ix_demand_forecast_sku ON {{ reporting }}demand_forecast (sku_id, run_date);
CREATE INDEX IF NOT EXISTS ix_replenishment_orders_sku ON {{ reporting }}replenishment_orders (sku_id, run_date);
CREATE INDEX IF NOT EXISTS ix_forecast_accuracy_sku ON {{ reporting }}forecast_accuracy (sku_id, run_date);
