"""Generate the demo warehouse: tables, blocks of SKUs, the command line."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import time

import numpy as np
import pandas as pd
from sqlalchemy.engine import Connection, Engine

from replenishment import db
from replenishment.config import DEFAULT_WAREHOUSE_URL
from replenishment.demo.catalog import _make_catalog, _make_promotions, _make_spells
from replenishment.demo.frames import _promotions_frame, _sku_master_frame, _truth_frame, _write
from replenishment.demo.spec import (
    _PO_DAY_OFFSET,
    _SKU_BLOCK,
    SOURCE_TABLES,
    TRUTH_TABLE,
    DemoSpec,
    _Counts,
    _make_calendar,
)
from replenishment.demo.store import _simulate_block

log = logging.getLogger(__name__)


def generate(engine: Engine, spec: DemoSpec | None = None, replace: bool = True) -> pd.DataFrame:
    """Create and fill the demo warehouse at ``engine``; return the ``demo_truth`` frame.

    Creates the five source tables of the contract and ``demo_truth`` (dropping them
    first when ``replace``; otherwise refusing if any exists), fills them in one
    transaction and creates the indexes of ``create_source_indexes.sql`` after
    loading. Same ``spec`` -> identical rows.
    """
    truth, _ = _generate(engine, spec or DemoSpec(), replace)
    return truth


def main(argv: list[str] | None = None) -> int:
    """Command line: ``replenishment demo-warehouse --url ... --skus 200 --years 3``."""
    parser = argparse.ArgumentParser(
        prog="replenishment demo-warehouse",
        description="Fill a warehouse with deterministic demo data (drops the source tables).",
    )
    defaults = DemoSpec()
    parser.add_argument("--url", default=DEFAULT_WAREHOUSE_URL, help="SQLAlchemy URL")
    parser.add_argument("--skus", type=int, default=defaults.n_skus, help="number of SKUs")
    parser.add_argument("--years", type=float, default=defaults.years, help="years of history")
    parser.add_argument(
        "--end-date",
        type=dt.date.fromisoformat,
        default=defaults.end_date,
        help="last day of history (ISO, default yesterday); the demo run date is the day after",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--planned-promo-days", type=int, default=defaults.planned_promo_days)
    parser.add_argument("--holiday-country", default=defaults.holiday_country)
    parser.add_argument(
        "--if-empty",
        action="store_true",
        help="leave the warehouse as it is when sku_master already holds rows",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        spec = DemoSpec(
            n_skus=args.skus,
            years=args.years,
            end_date=args.end_date,
            seed=args.seed,
            planned_promo_days=args.planned_promo_days,
            holiday_country=args.holiday_country,
        )
    except ValueError as exc:
        parser.error(str(exc))
    engine = db.make_engine(args.url)
    where = engine.url.render_as_string(hide_password=True)
    if args.if_empty and _has_skus(engine):
        log.info("demo: %s already holds sku_master rows; left as it is (--if-empty)", where)
        print(
            f"demo warehouse not written: {where} already holds sku_master rows; "
            f"{_dates_held(engine)}"
        )
        engine.dispose()
        return 0
    started = time.perf_counter()
    try:
        _, rows = _generate(engine, spec, replace=True)
        held = _dates_held(engine)
    finally:
        engine.dispose()
    summary = ", ".join(f"{table}={count}" for table, count in rows.items())
    print(
        f"demo warehouse written to {where} "
        f"in {time.perf_counter() - started:.1f}s (run date {spec.run_date}): {summary}\n{held}"
    )
    return 0


def _dates_held(engine: Engine) -> str:
    """Which dates the warehouse's order history covers and which run dates that allows.

    A run for D reads what is known before D and needs order lines on D - 1, so the
    run dates go from the day after the first day of history to the day after the last.
    """
    with engine.connect() as conn:
        first, last = conn.exec_driver_sql(
            "SELECT MIN(order_ts), MAX(order_ts) FROM order_lines"
        ).one()
    if first is None:
        return "no order history: no date can be run"
    first_day = dt.date.fromisoformat(str(first)[:10])
    last_day = dt.date.fromisoformat(str(last)[:10])
    one = dt.timedelta(days=1)
    return (
        f"order history {first_day} .. {last_day}: run dates {first_day + one} .. {last_day + one}"
    )


# --------------------------------------------------------------------------- orchestration


def _has_skus(engine: Engine) -> bool:
    if not db.table_exists(engine, "sku_master"):
        return False
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT 1 FROM sku_master LIMIT 1").first() is not None


def _generate(engine: Engine, spec: DemoSpec, replace: bool) -> tuple[pd.DataFrame, dict[str, int]]:
    started = time.perf_counter()
    rng = np.random.Generator(np.random.PCG64(spec.seed))
    cal = _make_calendar(spec)
    catalog = _make_catalog(spec, cal, rng)
    promos = _make_promotions(spec, cal, catalog, rng)
    spells = _make_spells(cal, catalog, rng)
    catalog["n_promotions"] = np.bincount(promos.sku, minlength=len(catalog))
    counts = _Counts(
        orders_per_day=np.zeros(cal.n_days, dtype=np.int64),
        pos_per_day=np.zeros(cal.n_days + _PO_DAY_OFFSET, dtype=np.int64),
        rows={},
    )
    stats: list[pd.DataFrame] = []
    with engine.begin() as conn:
        _create_tables(conn, replace)
        _write(conn, "sku_master", _sku_master_frame(catalog), counts)
        _write(conn, "promotions", _promotions_frame(cal, catalog, promos), counts)
        for block_no, b0 in enumerate(range(0, spec.n_skus, _SKU_BLOCK)):
            b1 = min(spec.n_skus, b0 + _SKU_BLOCK)
            block_rng = np.random.Generator(np.random.PCG64([spec.seed, 1, block_no]))
            stats.append(
                _simulate_block(conn, cal, catalog, promos, spells, b0, b1, block_rng, counts)
            )
            log.info("demo: simulated SKUs %d..%d of %d", b0 + 1, b1, spec.n_skus)
        truth = _truth_frame(spec, cal, catalog, pd.concat(stats, ignore_index=True))
        _write(conn, TRUTH_TABLE, truth, counts)
        index_started = time.perf_counter()
        if conn.dialect.name == "postgresql":
            # sorts of the index builds in memory rather than on disk; this transaction only
            conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '512MB'")
        db.run_script(conn, "create_source_indexes.sql")
        for table in (*SOURCE_TABLES, TRUTH_TABLE):
            conn.exec_driver_sql(f"ANALYZE {table}")
        log.info("demo: indexes created in %.1fs", time.perf_counter() - index_started)
    log.info(
        "demo: %d SKUs x %d days (%s .. %s) written in %.1fs: %s",
        spec.n_skus,
        cal.n_days,
        cal.start,
        spec.end_date,
        time.perf_counter() - started,
        ", ".join(f"{t}={n}" for t, n in counts.rows.items()),
    )
    return truth, counts.rows


def _create_tables(conn: Connection, replace: bool) -> None:
    tables = (*SOURCE_TABLES, TRUTH_TABLE)
    if replace:
        for table in tables:
            if conn.dialect.name == "postgresql":
                # the BI views read source tables; the next load recreates them
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table} CASCADE")
            else:
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
    else:
        existing = [t for t in tables if db.table_exists(conn, t)]
        if existing:
            raise RuntimeError(
                f"demo: tables {', '.join(existing)} already exist; generate with replace=True "
                "to drop and recreate them"
            )
    db.run_script(conn, "create_source_tables.sql")
    db.run_script(conn, "create_demo_truth.sql")
