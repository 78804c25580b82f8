-- The five source tables of the contract (../shared/CONTRACT.md), as the demo
-- warehouse creates them. Your own warehouse only needs the same columns; map
-- differently named tables by editing the extract_*.sql files.
CREATE TABLE sku_master (
    sku_id             VARCHAR(64)      NOT NULL PRIMARY KEY,
    description        VARCHAR(200),
    category           VARCHAR(64),
    unit_cost          DOUBLE PRECISION NOT NULL,
    pack_size          INTEGER          NOT NULL,
    moq                INTEGER          NOT NULL,
    lead_time_days     INTEGER          NOT NULL,
    review_period_days INTEGER          NOT NULL,
    service_level      DOUBLE PRECISION NOT NULL,
    holding_cost_rate  DOUBLE PRECISION NOT NULL,
    order_cost         DOUBLE PRECISION NOT NULL,
    active             BOOLEAN          NOT NULL
);

CREATE TABLE order_lines (
    order_id   VARCHAR(64)      NOT NULL,
    line_no    INTEGER          NOT NULL,
    sku_id     VARCHAR(64)      NOT NULL,
    order_ts   TIMESTAMP        NOT NULL,
    quantity   DOUBLE PRECISION NOT NULL,
    unit_price DOUBLE PRECISION,
    status     VARCHAR(16)      NOT NULL,
    PRIMARY KEY (order_id, line_no)
);

CREATE TABLE promotions (
    promo_id     VARCHAR(64) NOT NULL PRIMARY KEY,
    sku_id       VARCHAR(64) NOT NULL,
    start_date   DATE        NOT NULL,
    end_date     DATE        NOT NULL,
    discount_pct DOUBLE PRECISION
);

CREATE TABLE inventory_snapshots (
    sku_id        VARCHAR(64)      NOT NULL,
    snapshot_date DATE             NOT NULL,
    on_hand       DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (sku_id, snapshot_date)
);

CREATE TABLE purchase_orders (
    po_id         VARCHAR(64)      NOT NULL PRIMARY KEY,
    sku_id        VARCHAR(64)      NOT NULL,
    order_date    DATE             NOT NULL,
    expected_date DATE,
    received_date DATE,
    quantity      DOUBLE PRECISION NOT NULL,
    status        VARCHAR(16)      NOT NULL
);
