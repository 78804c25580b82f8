-- Forecasts stored by the latest earlier run made at least a week before the
-- run date, for the days that have happened since (forecast_date < :run_date):
-- scored against the actuals that arrived after it ran.
SELECT
    f.run_date,
    f.sku_id,
    f.forecast_date,
    f.yhat
FROM {{ reporting }}demand_forecast f
WHERE f.run_date = (
        SELECT MAX(run_date)
        FROM {{ reporting }}demand_forecast
        WHERE run_date <= :scored_before
    )
  AND f.forecast_date < :run_date
