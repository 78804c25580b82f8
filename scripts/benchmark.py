"""Benchmarks: where the forecast stage's time goes, the whole run end to end, BI queries.

    python scripts/benchmark.py forecast --url sqlite:///.data/warehouse.db --skus 200
    python scripts/benchmark.py e2e --url postgresql+psycopg2://postgres@127.0.0.1/bench --skus 1000 --generate
    python scripts/benchmark.py bi --url postgresql+psycopg2://postgres@127.0.0.1/bench_bi --generate --before bd972d0

``forecast`` measures, on the same SKUs in the same process tree:
  naive     a loop over SKUs: default Prophet() fit + predict (1,000 uncertainty samples), one process
  pipeline  the pipeline's forecast stage as configured by default (routing, holidays, promo
            regressor, backtest, lean Stan path, one worker process per core)
  floor     the Stan optimizer binary alone on each SKU's Prophet inputs, one process
and prints SKUs/s, the ratios and peak memory.

``prophet`` measures Prophet's fits side by side (the project's batched solver,
prophet-batch, Stan per SKU, the optimizer floor, the naive loop, the whole stage) in
CPU-seconds per SKU, and how their log posteriors and forecasts compare with Stan's
(scripts/bench_prophet.py).

``e2e`` runs ``replenishment run`` for the demo run date as a subprocess and prints each
stage's time (from pipeline_runs) and the peak RSS of any process of the run.

``bi`` fills a PostgreSQL database with a year of daily runs (scripts/bi_benchmark.py:
365 run dates x 10,000 SKUs, 99 M forecast rows, and the source tables the views read),
then times the queries BI tools and the Airflow plugin send, with their EXPLAIN (ANALYZE,
BUFFERS) summaries; with ``--before REF`` first with the views, indexes and plugin of the
git revision REF, then with the current ones. Last, the time of the daily load (one run's
rows, COPY in one transaction) with each set of indexes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import logging
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

RUN_DATE = dt.date(2026, 7, 1)
ROOT = Path(__file__).resolve().parents[1]
PLUGIN_FILE = "plugins/replenishment_plugin.py"


def _peak_rss_mib() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def _quiet() -> None:
    logging.getLogger("cmdstanpy").disabled = True
    logging.getLogger("prophet").setLevel(logging.CRITICAL)
    logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)


def bench_forecast(args: argparse.Namespace) -> None:
    from replenishment.db import make_engine
    from replenishment.extract import extract
    from replenishment.forecast import ForecastConfig, build_series, forecast_frames

    _quiet()
    engine = make_engine(args.url)
    data = extract(engine, RUN_DATE, 28)
    active = sorted(data.sku.loc[data.sku["active"], "sku_id"])
    ids = active[: args.skus]
    series = build_series(ids, data.demand, data.stockouts, data.promotions, RUN_DATE, 28)
    print(f"benchmark on {len(ids)} SKUs, run date {RUN_DATE}, {os.cpu_count()} cores")

    # naive: default Prophet, one process
    from prophet import Prophet

    naive_ids = [s for s in series if np.count_nonzero(~np.isnan(s.y)) >= 2][: args.naive_skus]
    t0 = time.perf_counter()
    for s in naive_ids:
        frame = pd.DataFrame({"ds": s.dates, "y": np.nan_to_num(s.y)})
        m = Prophet().fit(frame)
        m.predict(m.make_future_dataframe(28))
    naive = (time.perf_counter() - t0) / len(naive_ids)

    # pipeline forecast stage, default configuration
    workers = os.cpu_count() or 1
    cfg = ForecastConfig(run_date=RUN_DATE)
    t0 = time.perf_counter()
    result = forecast_frames(
        ids, data.demand, data.stockouts, data.promotions, cfg, workers=workers
    )
    pipeline = (time.perf_counter() - t0) / len(ids)
    models = result.summary["model"].value_counts().to_dict()

    # floor: the optimizer alone, on each Prophet-routed SKU's own inputs
    floor, n_floor = _optimizer_floor(series, result.summary, cfg)

    own, children = _peak_rss_mib()
    rows = [
        ("naive (default Prophet loop, 1 process)", naive, len(naive_ids)),
        (f"pipeline forecast stage ({workers} processes)", pipeline, len(ids)),
        ("floor (Stan optimizer alone, 1 process)", floor, n_floor),
    ]
    print(f"models: {models}")
    print(f"{'measure':46s} {'s/SKU (wall)':>13s} {'SKUs/s':>8s} {'SKUs':>6s}")
    for name, per, n in rows:
        print(f"{name:46s} {per:13.4f} {1 / per:8.2f} {n:6d}")
    print(f"throughput pipeline / naive: {naive / pipeline:.2f}x")
    per_core = pipeline * workers
    print(f"pipeline CPU per SKU per core: {per_core:.4f} s = {per_core / floor:.2f}x the floor")
    print(f"peak RSS: benchmark process {own:.0f} MiB, largest worker {children:.0f} MiB")


def _optimizer_floor(series, summary: pd.DataFrame, cfg) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """Seconds per SKU the Stan binary alone needs (one cold fit per Prophet-routed SKU)."""
    import orjson

    from replenishment.forecast import YEARLY_MIN_DAYS, holidays_frame
    from replenishment.stan_fast import LeanProphet, _arr, _model_exe

    holidays = holidays_frame(cfg.holiday_country, cfg.run_date, cfg.horizon_days)
    prophet_ids = set(summary.loc[summary["model"] == "prophet", "sku_id"])
    total, n = 0.0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for s in series:
            if s.sku_id not in prophet_ids:
                continue
            observed = int(np.count_nonzero(~np.isnan(s.y)))
            m = LeanProphet(
                yearly_seasonality=observed >= YEARLY_MIN_DAYS,
                weekly_seasonality=True,
                daily_seasonality=False,
                seasonality_mode="multiplicative",
                holidays=holidays,
                uncertainty_samples=0,
            )
            train = pd.DataFrame({"ds": s.dates, "y": s.y})
            if np.nansum(s.promo_history[~np.isnan(s.y)]) > 0:
                m.add_regressor("promo", standardize=False, mode="multiplicative")
                train["promo"] = s.promo_history
            inputs = m.preprocess(train)
            init = m.calculate_initial_params(inputs.K)
            data = {k: (_arr(v) if not np.isscalar(v) else v) for k, v in vars(inputs).items()}
            payload = {
                k: (int(v) if k in ("T", "S", "K", "trend_indicator") else v)
                for k, v in data.items()
            }
            d, i, o = Path(tmp, "d.json"), Path(tmp, "i.json"), Path(tmp, "o.csv")
            d.write_bytes(orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY))
            i.write_bytes(
                orjson.dumps(
                    {
                        k: (_arr(v) if not np.isscalar(v) else float(v))
                        for k, v in vars(init).items()
                    },
                    option=orjson.OPT_SERIALIZE_NUMPY,
                )
            )
            cmd = [_model_exe(), "optimize", "algorithm=lbfgs", "iter=10000", "data",
                   f"file={d}", f"init={i}", "output", f"file={o}", "refresh=0"]  # fmt: skip
            t0 = time.perf_counter()
            subprocess.run(cmd, capture_output=True, check=True)
            total += time.perf_counter() - t0
            n += 1
    return total / max(n, 1), n


def bench_e2e(args: argparse.Namespace) -> None:
    from replenishment.db import make_engine
    from replenishment.load import read_output

    if args.generate:
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "replenishment.cli", "demo-warehouse", "--url", args.url,
             "--skus", str(args.skus), "--years", "3",
             "--end-date", (RUN_DATE - dt.timedelta(days=1)).isoformat()],
            check=True,
        )  # fmt: skip
        print(f"demo warehouse: {args.skus} SKUs x 3 years in {time.perf_counter() - t0:.0f} s")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "replenishment.cli", "run", "--date", RUN_DATE.isoformat(),
             "--url", args.url, "--staging-dir", f"{tmp}/staging", "--data-docs-dir", f"{tmp}/docs"],
            check=True,
        )  # fmt: skip
        wall = time.perf_counter() - t0
    _, children = _peak_rss_mib()
    run = read_output(make_engine(args.url), "reporting", "pipeline_runs", RUN_DATE).iloc[0]
    print(
        f"end to end: {wall:.0f} s wall for {run['skus_total']} SKUs; peak RSS of any process {children:.0f} MiB"
    )
    for stage in ("extract", "validate", "forecast", "replenish", "load"):
        print(f"  {stage:10s} {run[f'{stage}_seconds']:8.1f} s")
    print(
        json.dumps(
            {
                "skus": int(run["skus_total"]),
                "wall_s": round(wall, 1),
                "peak_rss_mib": round(children),
            }
        )
    )


# --------------------------------------------------------------------------- bi


def bench_bi(args: argparse.Namespace) -> None:
    import bi_benchmark as bb  # scripts/bi_benchmark.py, beside this file

    from replenishment.db import make_engine

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    engine = make_engine(args.url)
    spec = bb.BiSpec(
        skus=args.skus,
        run_days=args.run_days,
        forecast_days=args.forecast_days,
        history_days=args.history_days,
    )
    report: dict[str, Any] = {}
    if args.generate:
        generated = bb.generate(engine, spec)
        report["generate_s"] = {k: round(v, 1) for k, v in generated["seconds"].items()}
        print(
            "generated in " + ", ".join(f"{k} {v:.0f} s" for k, v in report["generate_s"].items())
        )
    else:
        spec = _spec_in_database(engine, spec)
    report["rows"] = bb.row_counts(engine)
    report["database_gib"] = round(bb.table_bytes(engine) / 2**30, 1)
    print(
        f"run dates {spec.first_run_date} .. {spec.last_run_date}; database {report['database_gib']} GiB"
    )
    print("rows: " + ", ".join(f"{k} {v:,}" for k, v in report["rows"].items()))
    values = bb.query_values(spec)
    print(f"query values: {values}")

    passes: dict[str, dict[str, dict[str, Any]]] = {}
    if args.before:
        old_plugin, old_indexes = _before_state(engine, args.before)
        print(f"\n== before: views, indexes and plugin of {args.before} ==")
        passes["before"] = _run_queries(engine, old_plugin, values, args.repeat)
        t0 = time.perf_counter()
        _current_state(engine)
        report["upgrade_s"] = round(time.perf_counter() - t0, 1)
        print(f"\nupgrade (first load's ensure_reporting_tables + views): {report['upgrade_s']} s")
    print("\n== after: current views, indexes and plugin ==")
    passes["after"] = _run_queries(engine, _load_module(ROOT / PLUGIN_FILE), values, args.repeat)
    report["queries"] = {
        label: {name: {k: v for k, v in r.items() if k != "scans"} for name, r in results.items()}
        for label, results in passes.items()
    }
    _print_comparison(passes)

    if args.load_repeat:
        configs = {"current indexes": None}
        if args.before:
            configs[f"indexes of {args.before}"] = old_indexes
        configs["primary keys only"] = set()
        report["load_s"] = _load_times(engine, spec, configs, args.load_repeat)
    print(json.dumps(report, default=str))


def _spec_in_database(engine: Any, spec: Any) -> Any:
    """``spec`` with the run dates found in pipeline_runs (a database generated before)."""
    import dataclasses

    import sqlalchemy as sa

    with engine.connect() as conn:
        first, last = conn.execute(
            sa.text("SELECT MIN(run_date), MAX(run_date) FROM reporting.pipeline_runs")
        ).one()
    return dataclasses.replace(spec, last_run_date=last, run_days=(last - first).days + 1)


def _git_show(ref: str, path: str) -> str:
    return subprocess.run(
        ["git", "show", f"{ref}:{path}"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout


def _load_module(path: Path, name: str = "replenishment_plugin") -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _before_state(engine: Any, ref: str) -> tuple[ModuleType, set[str]]:
    """Views, secondary indexes and plugin as they were at git revision ``ref``."""
    import bi_benchmark as bb  # scripts/bi_benchmark.py, beside this file

    from replenishment.db import split_statements

    ddl = _git_show(ref, "include/sql/create_reporting_tables.sql")
    old_indexes = set(re.findall(r"CREATE INDEX IF NOT EXISTS (\w+)", ddl))
    dropped = bb.drop_secondary_indexes(
        engine, names=tuple(set(bb.secondary_indexes(engine)) - old_indexes)
    )
    views = _git_show(ref, "include/sql/create_reporting_views.sql")
    with engine.begin() as conn:
        for statement in split_statements(views.replace("{{ reporting }}", "reporting.")):
            conn.exec_driver_sql(statement)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "replenishment_plugin.py"
        path.write_text(_git_show(ref, PLUGIN_FILE))
        plugin = _load_module(path, f"replenishment_plugin_{ref}")
    print(
        f"state of {ref}: indexes {sorted(old_indexes)} (dropped {dropped}), its views and plugin"
    )
    return plugin, old_indexes


def _current_state(engine: Any) -> None:
    """What the next load does to an existing database: missing indexes, then the views."""
    from replenishment.load import ensure_reporting_tables
    from replenishment.reporting import create_views

    ensure_reporting_tables(engine, "reporting")
    with engine.begin() as conn:
        create_views(conn, "reporting.")


def _run_queries(
    engine: Any, plugin: ModuleType, values: dict[str, Any], repeat: int
) -> dict[str, dict[str, Any]]:
    """Each query: its EXPLAIN (ANALYZE, BUFFERS) summary, then the median of ``repeat`` timed runs."""
    import bi_benchmark as bb  # scripts/bi_benchmark.py, beside this file

    queries = bb.view_queries(engine, values)
    queries += bb.plugin_queries(engine, plugin, values["run_date"], values["sku_id"])
    out: dict[str, dict[str, Any]] = {}
    print(f"{'query':28s} {'median ms':>10s} {'rows':>7s} {'exec ms':>9s} {'MiB':>7s}  table scans")
    with engine.connect() as conn:
        for q in queries:
            plan = bb.explain(conn, q)
            seconds, rows = bb.time_statement(conn, q, repeat)
            tables = [
                f"{s.relation}: {s.node}{' ' + s.index if s.index else ''} ({s.rows:,.0f} rows)"
                for s in bb.scans(plan)
            ]
            out[q.name] = {
                "ms": round(seconds * 1000, 1),
                "rows": rows,
                "exec_ms": round(plan["Execution Time"], 1),
                "mib": round(bb.buffers_mib(plan), 1),
                "scans": tables,
            }
            r = out[q.name]
            print(f"{q.name:28s} {r['ms']:10.1f} {rows:7d} {r['exec_ms']:9.1f} {r['mib']:7.1f}  "
                  + "; ".join(tables))  # fmt: skip
    return out


def _print_comparison(passes: dict[str, dict[str, dict[str, Any]]]) -> None:
    if "before" not in passes:
        return
    before, after = passes["before"], passes["after"]
    print(f"\n{'query':28s} {'before ms':>10s} {'after ms':>10s} {'speed-up':>9s}")
    for name, a in after.items():
        b = before.get(name)
        if b is None:
            continue
        ratio = b["ms"] / a["ms"] if a["ms"] else float("nan")
        print(f"{name:28s} {b['ms']:10.1f} {a['ms']:10.1f} {ratio:8.1f}x")


def _load_times(
    engine: Any, spec: Any, configs: dict[str, set[str] | None], repeat: int
) -> dict[str, float]:
    """Median seconds of ``load_outputs`` for one more run (the latest run's rows, new run dates).

    ``configs``: label -> secondary indexes kept (None: all). The extra run dates are
    deleted afterwards and every index is built again (timed: a year's rows).
    """
    import bi_benchmark as bb  # scripts/bi_benchmark.py, beside this file
    import sqlalchemy as sa

    from replenishment.load import (
        OUTPUT_TABLES,
        ensure_reporting_tables,
        load_outputs,
        read_output,
        reporting_columns,
    )

    frames = {t: read_output(engine, "reporting", t, spec.last_run_date) for t in OUTPUT_TABLES}
    for table, frame in frames.items():  # nullable integers come back as floats
        for column, sql_type in reporting_columns()[table].items():
            if sql_type == "INTEGER":
                frame[column] = frame[column].astype("Int64")
    rows = sum(len(f) for f in frames.values())
    run_date = spec.last_run_date + dt.timedelta(days=1)
    load_outputs(engine, "reporting", run_date, frames)  # warm-up, not timed
    out: dict[str, float] = {}
    print(f"\n== daily load: {rows:,} rows of one run, median of {repeat} ==")
    for label, keep in configs.items():
        if keep is not None:
            bb.drop_secondary_indexes(engine, names=tuple(set(bb.secondary_indexes(engine)) - keep))
        seconds = []
        for _ in range(repeat):
            run_date += dt.timedelta(days=1)
            t0 = time.perf_counter()
            load_outputs(engine, "reporting", run_date, frames)
            seconds.append(time.perf_counter() - t0)
        out[label] = round(statistics.median(seconds), 2)
        print(f"{label:28s} {out[label]:6.2f} s  (runs: {', '.join(f'{s:.2f}' for s in seconds)};"
              f" indexes {sorted(bb.secondary_indexes(engine))})")  # fmt: skip
    with engine.begin() as conn:
        for table in OUTPUT_TABLES:
            conn.execute(
                sa.text(f"DELETE FROM reporting.{table} WHERE run_date > :last"),
                {"last": spec.last_run_date},
            )
    t0 = time.perf_counter()
    ensure_reporting_tables(engine, "reporting")
    out["build all secondary indexes"] = round(time.perf_counter() - t0, 1)
    print(
        f"every secondary index built again on the year's rows in {out['build all secondary indexes']} s"
    )
    bb.vacuum_analyze(engine)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("forecast")
    f.add_argument("--url", required=True)
    f.add_argument("--skus", type=int, default=200)
    f.add_argument(
        "--naive-skus", type=int, default=200, help="SKUs for the naive loop (a subset if slow)"
    )
    p = sub.add_parser("prophet", help="Prophet fits side by side (scripts/bench_prophet.py)")
    p.add_argument("--url", required=True)
    p.add_argument("--skus", type=int, default=200)
    p.add_argument("--naive-skus", type=int, default=20, help="SKUs for the naive loop")
    p.add_argument("--workers", type=int, default=2, help="processes of the forecast stage")
    p.add_argument("--polish", action="store_true", help="also restart Stan at the project's fits")
    p.add_argument("--stage-only", action="store_true", help="only the whole forecast stage")
    e = sub.add_parser("e2e")
    e.add_argument("--url", required=True)
    e.add_argument("--skus", type=int, default=1000)
    e.add_argument("--generate", action="store_true", help="(re)create the demo warehouse first")
    b = sub.add_parser("bi", help="BI queries on a year of daily runs (PostgreSQL)")
    b.add_argument("--url", required=True, help="a PostgreSQL database of its own")
    b.add_argument("--generate", action="store_true", help="(re)create the tables and rows first")
    b.add_argument("--skus", type=int, default=10_000)
    b.add_argument("--run-days", type=int, default=365)
    b.add_argument("--forecast-days", type=int, default=28, help="forecast rows per SKU and run")
    b.add_argument("--history-days", type=int, default=730, help="source history before the runs")
    b.add_argument(
        "--before", metavar="REF", help="first time the views/indexes/plugin of this git revision"
    )
    b.add_argument("--repeat", type=int, default=3, help="timed runs per query (median)")
    b.add_argument("--load-repeat", type=int, default=3, help="timed loads per index set (0: none)")
    args = parser.parse_args()
    if args.command == "prophet":
        from bench_prophet import bench_prophet  # scripts/bench_prophet.py, beside this file

        bench_prophet(args)
        return
    {"forecast": bench_forecast, "e2e": bench_e2e, "bi": bench_bi}[args.command](args)


if __name__ == "__main__":
    main()
