-- Ground truth of the demo warehouse (replenishment/demo.py), one row per SKU:
-- the parameters the demand was generated from, so that a forecaster and a
-- replenishment policy can be checked against what really drove the data.
-- Not part of the contract; your own warehouse has no such table.
--
-- True expected demand of a SKU on day t (units/day), before noise and stock-outs:
--   level(t)   = base_daily * max(0.05, 1 + trend_per_year * (t - trend_ref_date) / 365.25)
--   weekly(t)  = 1 - 0.4 * weekly_amplitude on Monday..Friday, 1 + weekly_amplitude on Sat/Sun
--   yearly(t)  = max(0.1, 1 + yearly_amplitude * cos(2 pi (doy - yearly_peak_doy) / 365.25)
--                        + q4_peak * exp(-((doy - 340) / 14)^2 / 2))
--   holiday(t) = holiday_multiplier on Christmas / Thanksgiving / New Year type days,
--                minor_holiday_multiplier on other public holidays of the country,
--                1 + pre_holiday_uplift on the 3 days before a major holiday, else 1
--   promo(t)   = 1 + promo_uplift on a promoted day, else 1
--   rate(t)    = level * weekly * yearly * holiday * promo, 0 before launch_date and
--                from discontinued_date on.
-- smooth / erratic / new: demand ~ NegativeBinomial(mean = rate, size = dispersion).
-- intermittent: demand occurs with probability min(1, occurrence_prob * rate / base_daily),
--   size 1 + NegativeBinomial(mean = mean_size - 1, size = 2); base_daily = occurrence_prob * mean_size.
-- Sales = min(demand, on hand); lost_sales = total_demand - total_sales.
CREATE TABLE demo_truth (
    sku_id                   VARCHAR(64)      NOT NULL PRIMARY KEY,
    pattern                  VARCHAR(16)      NOT NULL,
    category                 VARCHAR(64)      NOT NULL,
    active                   BOOLEAN          NOT NULL,
    base_daily               DOUBLE PRECISION NOT NULL,
    trend_per_year           DOUBLE PRECISION NOT NULL,
    trend_ref_date           DATE             NOT NULL,
    daily_rate_at_end        DOUBLE PRECISION NOT NULL,
    weekly_amplitude         DOUBLE PRECISION NOT NULL,
    yearly_amplitude         DOUBLE PRECISION NOT NULL,
    yearly_peak_doy          DOUBLE PRECISION NOT NULL,
    q4_peak                  DOUBLE PRECISION NOT NULL,
    holiday_multiplier       DOUBLE PRECISION NOT NULL,
    minor_holiday_multiplier DOUBLE PRECISION NOT NULL,
    pre_holiday_uplift       DOUBLE PRECISION NOT NULL,
    promo_uplift             DOUBLE PRECISION NOT NULL,
    n_promotions             INTEGER          NOT NULL,
    dispersion               DOUBLE PRECISION,
    occurrence_prob          DOUBLE PRECISION,
    mean_size                DOUBLE PRECISION,
    markup                   DOUBLE PRECISION NOT NULL,
    forced_stockouts         INTEGER          NOT NULL,
    late_supplier            INTEGER          NOT NULL,
    mean_lead_time_actual    DOUBLE PRECISION,
    launch_date              DATE             NOT NULL,
    first_sale_date          DATE,
    discontinued_date        DATE,
    total_demand             DOUBLE PRECISION NOT NULL,
    total_sales              DOUBLE PRECISION NOT NULL,
    lost_sales               DOUBLE PRECISION NOT NULL,
    stockout_days            INTEGER          NOT NULL,
    run_date                 DATE             NOT NULL,
    expected_demand_next_28d DOUBLE PRECISION NOT NULL
);
