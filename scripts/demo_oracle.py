"""WAPE of the demo generator's TRUE expected daily demand on the rolling-origin backtest windows.

The oracle: ``replenishment.demo.demand._expected_demand``, the mean of the integer demand the
generator draws (before stock-outs and cancellations), i.e. the best any forecaster of the mean
could do. It is scored exactly as ``replenishment backtest --date D`` scores the pipeline:
origins o_k = D - 28 - 28 k (k = 0..3), windows o_k .. o_k + 27, actual daily demand = sum of
non-cancelled order-line quantities by UTC date (missing days 0), stock-out days
(inventory_snapshots on_hand <= 0, ``extract_stockout_days.sql``) not scored, active SKUs only.
WAPE = sum |expected - actual| / sum actual, pooled over the scored SKU-days.

The generator is re-run in memory (same spec, same seed, same order of random draws as
``replenishment.demo.generate._generate``: catalogue, promotions, spells, then per block of SKUs
the demand draw and the store simulation); nothing is written. The reconstruction is checked
against the warehouse: simulated sales == non-cancelled order-line units and simulated stock ==
inventory_snapshots on every SKU-day, drawn demand == actual on every non-stock-out day.

Cancelled lines (frames._order_lines_frame) are extra lines for ~5.5 % of the SKU-days with
demand > 0; they are not taken out of the sales lines, so the non-cancelled units of a day are
exactly the units sold: no scaling of the oracle for cancellations.

Classes: ``replenishment.forecast.classify.classify`` on each SKU's series before each origin
(built by ``build_series`` from the extract, as the backtest does). Two groupings are printed:
"last origin" (the class the backtest table reports: the class at the latest origin, 2026-06-03)
and "per origin" (each window scored under the class at its own origin).

Run (light: one process, a few seconds):

    cd /work/main && source <(./dev env)
    python scripts/demo_oracle.py [--url sqlite:////work/main/.data/warehouse.db]
        [--date 2026-07-01] [--end-date 2026-12-01] [--skus 200] [--seed 42]
"""

from __future__ import annotations

import argparse
import datetime as dt

import numpy as np
import pandas as pd
from scipy import stats

from replenishment import db
from replenishment.config import DEFAULT_WAREHOUSE_URL, Settings
from replenishment.demo.catalog import _make_catalog, _make_promotions, _make_spells
from replenishment.demo.demand import (
    _blocked_until,
    _draw_demand,
    _expected_demand,
    _promo_discount,
)
from replenishment.demo.spec import _SKU_BLOCK, DemoSpec, _make_calendar
from replenishment.demo.store import _Planner, _run_days, _Store
from replenishment.extract import extract
from replenishment.forecast.classify import classify
from replenishment.forecast.series import build_series

CLASSES = ("smooth", "erratic", "intermittent", "lumpy", "short", "none")


def regenerate(spec: DemoSpec) -> dict[str, object]:
    """The generator's arrays for ``spec``: expected, demand, sales, snapshot (SKUs x days)."""
    rng = np.random.Generator(np.random.PCG64(spec.seed))
    cal = _make_calendar(spec)
    catalog = _make_catalog(spec, cal, rng)
    promos = _make_promotions(spec, cal, catalog, rng)
    spells = _make_spells(cal, catalog, rng)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("expected", "demand", "sales", "snap")}
    parts["median"] = []
    for block_no, b0 in enumerate(range(0, spec.n_skus, _SKU_BLOCK)):
        b1 = min(spec.n_skus, b0 + _SKU_BLOCK)
        block_rng = np.random.Generator(np.random.PCG64([spec.seed, 1, block_no]))
        c = {col: catalog[col].to_numpy()[b0:b1] for col in catalog.columns}
        discount = _promo_discount(cal, promos, b0, b1)
        expected, mult = _expected_demand(cal, c, discount > 0)
        demand = _draw_demand(block_rng, c, expected[:, : cal.n_days], mult[:, : cal.n_days])
        store = _Store(c, _Planner(c, expected, cal.n_ext), cal.n_days, block_rng)
        sales, snapshot = _run_days(store, c, demand, _blocked_until(cal, spells, b0, b1))
        parts["expected"].append(expected[:, : cal.n_days])
        parts["median"].append(_median(c, expected[:, : cal.n_days], mult[:, : cal.n_days]))
        parts["demand"].append(demand)
        parts["sales"].append(sales)
        parts["snap"].append(snapshot)
    out: dict[str, object] = {k: np.vstack(v) for k, v in parts.items()}
    out["catalog"] = catalog
    out["dates"] = pd.date_range(pd.Timestamp(spec.start_date), periods=cal.n_days, freq="D")
    return out


def _median(c: dict[str, np.ndarray], expected: np.ndarray, mult: np.ndarray) -> np.ndarray:
    """Median of the drawn demand's distribution (for comparison only: WAPE is an absolute
    error, minimised in expectation by the median, not the mean)."""
    k = np.nan_to_num(c["dispersion"], nan=1.0)[:, None] * np.ones_like(expected)
    nb_median = stats.nbinom.ppf(0.5, k, k / (k + expected))
    q = np.minimum(1.0, np.nan_to_num(c["occurrence_prob"])[:, None] * mult)
    size_mean = np.nan_to_num(c["mean_size"], nan=2.0)[:, None] * np.ones_like(expected)
    # smallest m with (1 - q) + q * P(1 + NB(2, p) <= m) >= 0.5
    need = np.clip((0.5 - (1.0 - q)) / np.where(q > 0, q, 1.0), 0.0, 1.0)
    size_quantile = 1.0 + stats.nbinom.ppf(need, 2.0, 2.0 / (2.0 + size_mean - 1.0))
    int_median = np.where(1.0 - q >= 0.5, 0.0, size_quantile)
    return np.where(c["is_intermittent"][:, None], int_median, nb_median)


def warehouse_daily(
    engine, start: dt.date, days: int, sku_ids: np.ndarray
) -> dict[str, np.ndarray]:
    """Non-cancelled units by UTC date and end-of-day stock (NaN = no snapshot), SKUs x days."""
    pos = {s: i for i, s in enumerate(sku_ids)}
    units = np.zeros((len(sku_ids), days))
    stock = np.full((len(sku_ids), days), np.nan)
    with engine.connect() as conn:
        lines = pd.read_sql_query(
            "SELECT sku_id, date(order_ts) AS ds, SUM(quantity) AS y FROM order_lines "
            "WHERE status <> 'cancelled' GROUP BY sku_id, date(order_ts)",
            conn,
        )
        snaps = pd.read_sql_query(
            "SELECT sku_id, snapshot_date, on_hand FROM inventory_snapshots", conn
        )
    for frame, col, day_col, target in (
        (lines, "y", "ds", units),
        (snaps, "on_hand", "snapshot_date", stock),
    ):
        d = (pd.to_datetime(frame[day_col]) - pd.Timestamp(start)).dt.days.to_numpy()
        r = frame["sku_id"].map(pos).to_numpy()
        ok = (d >= 0) & (d < days)
        target[r[ok], d[ok]] = frame[col].to_numpy(dtype=float)[ok]
    return {"units": units, "stock": stock}


def main() -> None:  # noqa: PLR0915 (one linear report)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default=DEFAULT_WAREHOUSE_URL)
    p.add_argument("--date", type=dt.date.fromisoformat, default=dt.date(2026, 7, 1))
    p.add_argument("--end-date", type=dt.date.fromisoformat, default=dt.date(2026, 12, 1))
    p.add_argument("--skus", type=int, default=200)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--origins", type=int, default=4)
    args = p.parse_args()
    spec = DemoSpec(n_skus=args.skus, end_date=args.end_date, seed=args.seed)
    settings = Settings()
    horizon = settings.horizon_days

    gen = regenerate(spec)
    catalog: pd.DataFrame = gen["catalog"]  # type: ignore[assignment]
    dates: pd.DatetimeIndex = gen["dates"]  # type: ignore[assignment]
    sku_ids = catalog["sku_id"].to_numpy()
    expected, median = gen["expected"], gen["median"]
    demand, sales, snap = gen["demand"], gen["sales"], gen["snap"]

    # ---- verification of the reconstruction against the warehouse
    engine = db.make_engine(args.url)
    wh = warehouse_daily(engine, spec.start_date, len(dates), sku_ids)
    has_snap = ~np.isnan(wh["stock"])
    launched = np.arange(len(dates))[None, :] >= catalog["launch"].to_numpy()[:, None]
    not_out = has_snap & (wh["stock"] > 0)
    print(f"spec: {args.skus} SKUs, seed {args.seed}, history {spec.start_date} .. {spec.end_date}")
    print("verification (all SKU-days of history):")
    print(
        f"  simulated sales == warehouse non-cancelled units: "
        f"{int((sales == wh['units']).sum())} / {sales.size} SKU-days"
    )
    print(
        f"  simulated stock == inventory_snapshots: "
        f"{int((snap[has_snap] == wh['stock'][has_snap]).sum())} / {int(has_snap.sum())} snapshots "
        f"(snapshots exist exactly from launch: {bool((has_snap == launched).all())})"
    )
    print(
        f"  drawn demand == warehouse actual on non-stock-out days: "
        f"{int((demand[not_out] == wh['units'][not_out]).sum())} / {int(not_out.sum())}"
    )
    print(
        f"  drawn demand >= actual on stock-out days: "
        f"{bool((demand[has_snap & ~not_out] >= wh['units'][has_snap & ~not_out]).all())}"
    )
    with engine.connect() as conn:
        truth = pd.read_sql_query("SELECT sku_id, total_demand, total_sales FROM demo_truth", conn)
    truth = truth.set_index("sku_id").loc[sku_ids]
    print(
        f"  demo_truth total_demand / total_sales match: "
        f"{bool(np.allclose(truth['total_demand'], demand.sum(1)))} / "
        f"{bool(np.allclose(truth['total_sales'], sales.sum(1)))}"
    )

    # ---- the backtest's windows, scored on the project's extract
    data = extract(engine, args.date, horizon)
    engine.dispose()
    active = sorted(data.sku.loc[data.sku["active"], "sku_id"])
    row_of = {s: i for i, s in enumerate(sku_ids)}
    censored = set(zip(data.stockouts["sku_id"], pd.to_datetime(data.stockouts["ds"]), strict=True))
    last = args.date - dt.timedelta(days=horizon)
    origins = sorted(last - dt.timedelta(days=28 * k) for k in range(args.origins))
    actual_by_day = data.demand.assign(ds=pd.to_datetime(data.demand["ds"]))
    records, drawn_all = [], []
    classes: dict[dt.date, dict[str, str]] = {}
    for origin in origins:
        o = pd.Timestamp(origin)
        known = actual_by_day[actual_by_day["ds"] < o]
        series = build_series(
            active,
            known,
            data.stockouts[pd.to_datetime(data.stockouts["ds"]) < o],
            data.promotions,
            origin,
            horizon,
        )
        cls = {s.sku_id: classify(s.y, settings.min_history_days)[0] for s in series}
        classes[origin] = cls
        window = pd.date_range(o, periods=horizon, freq="D")
        actual = actual_by_day[
            (actual_by_day["ds"] >= o) & (actual_by_day["ds"] <= window[-1])
        ].set_index(["sku_id", "ds"])["y"]
        cols = dates.get_indexer(window)
        for sku in active:
            r = row_of[sku]
            drawn_all.append((expected[r, cols], demand[r, cols]))
            for day, col in zip(window, cols, strict=True):
                if (sku, day) in censored:
                    continue
                records.append(
                    (
                        sku,
                        origin,
                        day,
                        cls[sku],
                        float(actual.get((sku, day), 0.0)),
                        float(expected[r, col]),
                        float(median[r, col]),
                        float(demand[r, col]),
                    )
                )
    scored = pd.DataFrame(
        records,
        columns=[
            "sku_id",
            "origin",
            "ds",
            "class_at_origin",
            "actual",
            "expected",
            "median",
            "drawn",
        ],
    )
    assert (scored["actual"] == scored["drawn"]).all(), "scored actual != drawn demand"
    scored["class_last"] = scored["sku_id"].map(classes[origins[-1]])
    scored["pattern"] = scored["sku_id"].map(catalog.set_index("sku_id")["pattern"])

    def table(by: str) -> pd.DataFrame:
        def agg(g: pd.DataFrame) -> pd.Series:
            a = g["actual"].sum()
            return pd.Series(
                {
                    "skus": g["sku_id"].nunique(),
                    "days": len(g),
                    "actual": a,
                    "wape_mean": (g["expected"] - g["actual"]).abs().sum() / a if a else np.nan,
                    "bias_mean": (g["expected"].sum() - a) / a if a else np.nan,
                    "wape_median": (g["median"] - g["actual"]).abs().sum() / a if a else np.nan,
                }
            )

        t = scored.groupby(by)[scored.columns.tolist()].apply(agg)
        order = [c for c in (*CLASSES, "new") if c in t.index]
        t = t.loc[order]
        t.loc["all"] = agg(scored)
        return t

    print(
        f"\nwindows: origins {', '.join(map(str, origins))}, {horizon} days each; "
        f"{scored['sku_id'].nunique()} active SKUs, {len(scored)} scored SKU-days "
        f"(stock-out days left out)"
    )
    fmt = {
        "skus": "{:.0f}".format,
        "days": "{:.0f}".format,
        "actual": "{:.0f}".format,
        "wape_mean": "{:.3f}".format,
        "bias_mean": "{:+.3f}".format,
        "wape_median": "{:.3f}".format,
    }
    for by, title in (
        ("class_last", "class at the last origin (as the backtest table)"),
        ("class_at_origin", "class at each window's own origin"),
        ("pattern", "generator's pattern (demo_truth)"),
    ):
        print(f"\noracle = true expected demand; by {title}:")
        print(table(by).to_string(formatters=fmt))
    e_all = np.concatenate([e for e, _ in drawn_all])
    d_all = np.concatenate([d for _, d in drawn_all]).astype(float)
    print(
        f"\nfor comparison, the oracle against the drawn (uncensored) demand on every SKU-day of "
        f"the windows, stock-out days included: WAPE {np.abs(e_all - d_all).sum() / d_all.sum():.3f}, "
        f"bias {(e_all.sum() - d_all.sum()) / d_all.sum():+.3f} ({e_all.size} SKU-days)"
    )
    print(
        "\nwape_mean: the oracle (mean); wape_median: the distribution's median, for comparison"
        "\nproject's forecasts (BENCHMARKS.md): all 0.279, smooth 0.234, erratic 0.760,"
        " intermittent 1.323, lumpy 1.149"
    )


if __name__ == "__main__":
    main()
