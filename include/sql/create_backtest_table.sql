-- Rolling-origin backtest results (replenishment backtest / DAG replenishment_backtest_weekly).
CREATE TABLE IF NOT EXISTS {{ reporting }}forecast_backtest (
    run_date        DATE             NOT NULL,
    sku_id          VARCHAR(64)      NOT NULL,
    model           VARCHAR(32)      NOT NULL,
    demand_class    VARCHAR(16)      NOT NULL,
    origins         INTEGER          NOT NULL,
    horizon_days    INTEGER          NOT NULL,
    scored_days     INTEGER          NOT NULL,
    actual_units    DOUBLE PRECISION NOT NULL,
    wape            DOUBLE PRECISION,
    mase            DOUBLE PRECISION,
    bias            DOUBLE PRECISION,
    baseline_wape   DOUBLE PRECISION,
    baseline_mase   DOUBLE PRECISION,
    baseline_bias   DOUBLE PRECISION,
    beats_baseline  INTEGER,
    interval_coverage DOUBLE PRECISION,
    PRIMARY KEY (run_date, sku_id)
);
