"""A deterministic demo warehouse: the five source tables of the contract plus ``demo_truth``.

``generate(engine, DemoSpec(...))`` invents a catalogue of SKUs, their true daily
demand (trend, weekly and yearly seasonality, public holidays, promotions, four
demand patterns), simulates a store that replenishes them with an (s, S) rule
under noisy supplier lead times, and writes what such a store's systems would
hold: sales lines (censored by stock-outs), end-of-day stock, purchase orders and
promotions, past and planned. The parameters behind every SKU go to
``demo_truth`` (documented in ``include/sql/create_demo_truth.sql``) so that a
forecaster can be checked against what really drove the data.

Everything is drawn from ``numpy.random.Generator(PCG64(...))`` seeded by
``DemoSpec.seed``: the same spec gives the same rows on every database. The work
is vectorised over SKUs, which are processed in blocks of ``_SKU_BLOCK`` to bound
memory; only the inventory simulation loops, over days.

Day indices: day 0 is the first day of history, day ``n_days - 1`` is
``end_date``; the run date of the demo is ``end_date + 1`` (day ``n_days``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import math
import time
from dataclasses import dataclass
from statistics import NormalDist

import holidays
import numpy as np
import pandas as pd
from sqlalchemy.engine import Connection, Engine

from replenishment import db, warehouse
from replenishment.config import DEFAULT_WAREHOUSE_URL

log = logging.getLogger(__name__)

SOURCE_TABLES = (
    "sku_master",
    "order_lines",
    "promotions",
    "inventory_snapshots",
    "purchase_orders",
)
TRUTH_TABLE = "demo_truth"
PATTERNS = ("smooth", "erratic", "intermittent", "new")
#: Days after end_date whose true expected demand is summed into demo_truth.
TRUTH_HORIZON_DAYS = 28

_PATTERN_SHARES = (0.68, 0.12, 0.15, 0.05)
_SKU_BLOCK = 1000
_PACK_SIZES = np.array([1, 1, 1, 4, 6, 6, 12, 12, 24, 48])
_SERVICE_LEVELS = np.array([0.90, 0.95, 0.95, 0.97, 0.98, 0.99])
_DISCOUNTS = np.array([10, 15, 20, 25, 30, 35, 40])
_ADJECTIVES = ("Classic", "Premium", "Organic", "Eco", "Family", "Value", "Deluxe", "Everyday")
#: Weekly shape, Monday..Sunday, mean 0: multiplier 1 + weekly_amplitude * shape.
_WEEKLY_SHAPE = np.array([-0.4, -0.4, -0.4, -0.4, -0.4, 1.0, 1.0])
_Q4_CENTRE_DOY, _Q4_WIDTH_DAYS = 340.0, 14.0
_PRE_HOLIDAY_DAYS = 3
_MAJOR_HOLIDAY_WORDS = ("christmas", "thanksgiving", "new year")
_HOUR_WEIGHTS = np.array(
    [3, 2, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 9, 9, 9, 9, 8, 8, 8, 7, 6, 5, 4, 3], dtype=float
)
#: Smoothing constant of the simulated planner's demand estimate (per day).
_PLANNER_ALPHA = 0.05
#: The planner orders at most this many days of demand beyond the reorder point (caps the EOQ).
_MAX_CYCLE_DAYS = 14.0
_PO_CANCEL_SHARE = 0.02
_LATE_SUPPLIER_DAYS = 2  # days a late supplier adds to every order
_RETURNED_SHARE = 0.02
_CANCELLED_LINE_PER_CELL = 0.055  # ~3 % of all lines once sales are split into ~1.9 lines
_NEW_ORDER_SHARE = 0.55  # a sales line starts a new customer order with this probability
_NO_DATE = 10**7  # "never" as a day index


@dataclass(frozen=True)
class DemoSpec:
    """What to generate.

    n_skus: number of SKUs. years: length of the order history, years of 365.25 days.
    end_date: last day with order history; the run date of the demo is end_date + 1.
    seed: seed of every random draw. planned_promo_days: promotions are planned up to
    end_date + planned_promo_days. holiday_country: ISO code whose public holidays
    shape demand (the ``holidays`` package).
    """

    n_skus: int = 200
    years: float = 3.0
    end_date: dt.date = dt.date(2026, 6, 30)
    seed: int = 42
    planned_promo_days: int = 120
    holiday_country: str = "US"

    def __post_init__(self) -> None:
        if self.n_skus < 1:
            raise ValueError(f"n_skus must be >= 1, got {self.n_skus}")
        if self.n_days < 60:
            raise ValueError(f"years must cover at least 60 days, got {self.years}")
        if self.planned_promo_days < 0:
            raise ValueError(f"planned_promo_days must be >= 0, got {self.planned_promo_days}")

    @property
    def n_days(self) -> int:
        """Days of history, end_date included."""
        return int(round(self.years * 365.25))

    @property
    def start_date(self) -> dt.date:
        """First day of history."""
        return self.end_date - dt.timedelta(days=self.n_days - 1)

    @property
    def run_date(self) -> dt.date:
        return self.end_date + dt.timedelta(days=1)


#: Category -> (share of SKUs, yearly amplitude range, yearly peak day-of-year range,
#: share of its SKUs with a Q4 (gift season) peak, Q4 peak range).
_CATEGORY_SEASONS: dict[
    str, tuple[float, tuple[float, float], tuple[float, float], float, tuple[float, float]]
] = {
    "Beverages": (0.16, (0.15, 0.40), (170, 215), 0.0, (0.0, 0.0)),
    "Snacks": (0.16, (0.00, 0.15), (0, 365), 0.3, (0.1, 0.4)),
    "Household": (0.15, (0.00, 0.10), (0, 365), 0.0, (0.0, 0.0)),
    "Personal Care": (0.13, (0.05, 0.30), (150, 210), 0.2, (0.1, 0.3)),
    "Garden & Outdoor": (0.08, (0.35, 0.60), (115, 165), 0.0, (0.0, 0.0)),
    "Toys & Games": (0.10, (0.00, 0.15), (0, 365), 1.0, (0.6, 1.5)),
    "Electronics": (0.10, (0.00, 0.10), (0, 365), 0.8, (0.3, 0.9)),
    "Apparel": (0.12, (0.20, 0.45), (330, 395), 0.5, (0.1, 0.4)),
}
_CATEGORY_NOUNS: dict[str, tuple[str, ...]] = {
    "Beverages": ("Sparkling Water", "Cold Brew Coffee", "Iced Tea", "Orange Juice", "Lemonade"),
    "Snacks": ("Potato Chips", "Trail Mix", "Granola Bar", "Pretzels", "Popcorn"),
    "Household": ("Dish Soap", "Paper Towels", "Laundry Pods", "Trash Bags", "Sponges"),
    "Personal Care": ("Shampoo", "Toothpaste", "Hand Soap", "Sunscreen", "Body Lotion"),
    "Garden & Outdoor": ("Potting Soil", "Garden Hose", "Seed Mix", "Plant Food", "Bird Feeder"),
    "Toys & Games": ("Building Blocks", "Jigsaw Puzzle", "Board Game", "Plush Bear", "Model Car"),
    "Electronics": ("USB-C Cable", "Wireless Earbuds", "Power Bank", "Phone Case", "Smart Plug"),
    "Apparel": ("Wool Socks", "Rain Jacket", "Beanie", "T-Shirt", "Gloves"),
}
_CATEGORY_NAMES = tuple(_CATEGORY_SEASONS)


@dataclass(frozen=True)
class _Calendar:
    start: dt.date
    n_days: int  # history, day 0 .. n_days - 1
    n_ext: int  # history plus the truth horizon
    dow: np.ndarray  # Monday = 0, per day of n_ext
    doy: np.ndarray  # day of year, 1-based
    holiday_kind: np.ndarray  # 0 none, 1 minor, 2 major
    pre_holiday: np.ndarray  # bool: one of the days before a major holiday
    q4_bump: np.ndarray
    t_ref: float  # day index of trend_ref_date

    def dates(self, idx: np.ndarray) -> np.ndarray:
        """datetime.date objects for day indices."""
        return (np.datetime64(self.start, "D") + idx.astype("timedelta64[D]")).astype(object)

    def dates_where(self, mask: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """datetime.date objects for day indices where ``mask``, else None (SQL NULL)."""
        out = np.full(idx.size, None, dtype=object)
        out[mask] = self.dates(idx[mask])
        return out


@dataclass(frozen=True)
class _Promotions:
    sku: np.ndarray  # SKU index
    start: np.ndarray  # day index
    end: np.ndarray  # day index, inclusive
    discount: np.ndarray  # percent


@dataclass(frozen=True)
class _Spells:
    """Supplier failures: no receipt between start and end (day indices, inclusive)."""

    sku: np.ndarray
    start: np.ndarray
    end: np.ndarray


@dataclass
class _Counts:
    """Per-day id sequences shared by the blocks, and rows written per table."""

    orders_per_day: np.ndarray
    pos_per_day: np.ndarray
    rows: dict[str, int]


_PO_DAY_OFFSET = 64  # initial POs of new SKUs are ordered before day 0


# --------------------------------------------------------------------------- public API


def generate(engine: Engine, spec: DemoSpec = DemoSpec(), replace: bool = True) -> pd.DataFrame:
    """Create and fill the demo warehouse at ``engine``; return the ``demo_truth`` frame.

    Creates the five source tables of the contract and ``demo_truth`` (dropping them
    first when ``replace``; otherwise refusing if any exists), fills them in one
    transaction and creates the indexes of ``create_source_indexes.sql`` after
    loading. Same ``spec`` -> identical rows.
    """
    truth, _ = _generate(engine, spec, replace)
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
        help="last day of history (ISO); the demo run date is the day after",
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
        print(f"demo warehouse not written: {where} already holds sku_master rows")
        engine.dispose()
        return 0
    started = time.perf_counter()
    try:
        _, rows = _generate(engine, spec, replace=True)
    finally:
        engine.dispose()
    summary = ", ".join(f"{table}={count}" for table, count in rows.items())
    print(
        f"demo warehouse written to {where} "
        f"in {time.perf_counter() - started:.1f}s (run date {spec.run_date}): {summary}"
    )
    return 0


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


def _write(conn: Connection, table: str, frame: pd.DataFrame, counts: _Counts) -> None:
    written = warehouse.bulk_insert(conn, table, frame)
    counts.rows[table] = counts.rows.get(table, 0) + written
    log.debug("demo: %s: %d rows", table, written)


# --------------------------------------------------------------------------- calendar, catalogue


def _make_calendar(spec: DemoSpec) -> _Calendar:
    n_days = spec.n_days
    n_ext = n_days + TRUTH_HORIZON_DAYS
    days = np.datetime64(spec.start_date, "D") + np.arange(n_ext).astype("timedelta64[D]")
    dow = ((days.astype(np.int64) + 3) % 7).astype(np.int64)  # 1970-01-01 was a Thursday
    doy = (days - days.astype("datetime64[Y]")).astype(np.int64) + 1
    kind = np.zeros(n_ext, dtype=np.int8)
    years = range(spec.start_date.year, spec.start_date.year + (n_ext // 365) + 2)
    try:
        calendar = holidays.country_holidays(spec.holiday_country, years=years, language="en_US")
    except NotImplementedError as exc:
        raise ValueError(f"demo: holiday_country {spec.holiday_country!r}: {exc}") from exc
    for day, name in calendar.items():
        i = (day - spec.start_date).days
        if 0 <= i < n_ext:
            words = any(w in str(name).lower() for w in _MAJOR_HOLIDAY_WORDS)
            major = words or (day.month, day.day) in ((12, 25), (1, 1))
            kind[i] = max(int(kind[i]), 2 if major else 1)
    pre = np.zeros(n_ext, dtype=bool)
    for major_day in np.flatnonzero(kind == 2):
        pre[max(0, major_day - _PRE_HOLIDAY_DAYS) : major_day] = True
    pre &= kind == 0
    q4_bump = np.exp(-0.5 * ((doy - _Q4_CENTRE_DOY) / _Q4_WIDTH_DAYS) ** 2)
    return _Calendar(
        start=spec.start_date,
        n_days=n_days,
        n_ext=n_ext,
        dow=dow,
        doy=doy,
        holiday_kind=kind,
        pre_holiday=pre,
        q4_bump=q4_bump,
        t_ref=float(n_days // 2),
    )


def _assign_exact(rng: np.random.Generator, n: int, shares: tuple[float, ...]) -> np.ndarray:
    """Class labels in exact proportions (every class present once n allows), shuffled."""
    counts = np.floor(np.asarray(shares) * n).astype(np.int64)
    if n >= len(shares):
        counts = np.maximum(counts, 1)
    counts[0] += n - counts.sum()
    return rng.permutation(np.repeat(np.arange(len(shares)), counts))


def _pick(
    rng: np.random.Generator, candidates: np.ndarray, share: float, n_total: int
) -> np.ndarray:
    """A boolean mask over n_total choosing round(share * n_total) of ``candidates`` (>= 1 if possible)."""
    k = int(round(share * n_total))
    if n_total >= 10:
        k = max(k, 1)
    k = min(k, candidates.size)
    mask = np.zeros(n_total, dtype=bool)
    mask[rng.choice(candidates, size=k, replace=False)] = True
    return mask


def _uniform_in(rng: np.random.Generator, ranges: np.ndarray, code: np.ndarray) -> np.ndarray:
    lo, hi = ranges[code, 0], ranges[code, 1]
    return lo + rng.random(code.size) * (hi - lo)


def _make_catalog(spec: DemoSpec, cal: _Calendar, rng: np.random.Generator) -> pd.DataFrame:
    """One row per SKU: master data and the true parameters of its demand and supply."""
    n, n_days = spec.n_skus, cal.n_days
    pattern = _assign_exact(rng, n, _PATTERN_SHARES)
    seasons = [_CATEGORY_SEASONS[name] for name in _CATEGORY_NAMES]
    weights = np.array([season[0] for season in seasons])
    category = rng.choice(len(seasons), size=n, p=weights / weights.sum())
    noun = rng.integers(0, 5, n)
    adjective = rng.integers(0, len(_ADJECTIVES), n)

    unit_cost = np.clip(rng.lognormal(math.log(12.0), 1.0, n), 1.0, 200.0).round(2)
    pack = rng.choice(_PACK_SIZES, n)
    moq = np.where(rng.random(n) < 0.55, 0, pack * rng.integers(2, 7, n))
    lead = rng.integers(3, 22, n)
    review = rng.choice(np.array([1, 7, 3, 14]), n, p=[0.45, 0.45, 0.05, 0.05])
    review_phase = rng.integers(0, 14, n) % review
    service = rng.choice(_SERVICE_LEVELS, n)
    holding = rng.uniform(0.15, 0.35, n).round(3)
    order_cost = rng.uniform(20.0, 150.0, n).round(2)
    markup = rng.uniform(1.3, 2.2, n).round(3)

    # demand level and noise by pattern (all drawn for every SKU: fixed use of the stream)
    smooth_base = np.exp(rng.uniform(math.log(5), math.log(80), n))
    smooth_k = rng.uniform(8.0, 40.0, n)
    erratic_base = np.exp(rng.uniform(math.log(2), math.log(40), n))
    erratic_k = rng.uniform(0.6, 2.0, n)
    occurrence = rng.uniform(0.05, 0.40, n)
    mean_size = rng.uniform(1.5, 10.0, n)
    new_base = np.exp(rng.uniform(math.log(3), math.log(40), n))
    new_k = rng.uniform(5.0, 20.0, n)
    is_int = pattern == 2
    base = np.choose(pattern, [smooth_base, erratic_base, occurrence * mean_size, new_base])
    dispersion = np.choose(pattern, [smooth_k, erratic_k, np.full(n, np.nan), new_k])

    trend = rng.uniform(-0.30, 0.40, n)
    weekly = rng.uniform(0.05, 0.50, n) * np.where(rng.random(n) < 0.6, 1.0, -1.0)
    yearly_ranges = np.array([season[1] for season in seasons])
    peak_ranges = np.array([season[2] for season in seasons], dtype=float)
    q4_share = np.array([season[3] for season in seasons])
    q4_ranges = np.array([season[4] for season in seasons])
    yearly = _uniform_in(rng, yearly_ranges, category)
    peak = np.mod(_uniform_in(rng, peak_ranges, category), 365.25)
    q4 = np.where(rng.random(n) < q4_share[category], _uniform_in(rng, q4_ranges, category), 0.0)
    holiday_mult = rng.uniform(0.2, 0.7, n)
    pre_uplift = rng.uniform(0.1, 0.5, n)

    promoted = _pick(rng, np.arange(n), 0.40, n)
    uplift = np.where(promoted, rng.uniform(0.3, 1.5, n), 0.0)

    launch = np.where(pattern == 3, np.maximum(0, n_days - rng.integers(21, 57, n)), 0)
    inactive = _pick(rng, np.flatnonzero(pattern != 3), 0.03, n)
    discontinued = np.where(
        inactive, np.maximum(n_days // 2, n_days - rng.integers(60, 366, n)), _NO_DATE
    )
    forced = _pick(rng, np.flatnonzero((pattern <= 1) & ~inactive), 0.10, n)
    late = _pick(rng, np.arange(n), 0.20, n)

    z_of = {float(s): NormalDist().inv_cdf(float(s)) for s in np.unique(service)}
    numbers = np.arange(1, n + 1)
    descriptions = [
        f"{_ADJECTIVES[a]} {_CATEGORY_NOUNS[_CATEGORY_NAMES[c]][w]}"
        + (f" {p}-pack" if p > 1 else "")
        for a, c, w, p in zip(adjective, category, noun, pack, strict=True)
    ]
    return pd.DataFrame(
        {
            "sku_id": _format_ids("SKU-", [(numbers, 6)]),
            "description": descriptions,
            "category": np.array(_CATEGORY_NAMES, dtype=object)[category],
            "unit_cost": unit_cost,
            "pack_size": pack,
            "moq": moq,
            "lead_time_days": lead,
            "review_period_days": review,
            "service_level": service,
            "holding_cost_rate": holding,
            "order_cost": order_cost,
            "active": ~inactive,
            "pattern_code": pattern,
            "pattern": np.array(PATTERNS, dtype=object)[pattern],
            "is_intermittent": is_int,
            "base_daily": base,
            "dispersion": dispersion,
            "occurrence_prob": np.where(is_int, occurrence, np.nan),
            "mean_size": np.where(is_int, mean_size, np.nan),
            "trend_per_year": trend,
            "weekly_amplitude": weekly,
            "yearly_amplitude": yearly,
            "yearly_peak_doy": peak,
            "q4_peak": q4,
            "holiday_multiplier": holiday_mult,
            "minor_holiday_multiplier": 1.0 - 0.3 * (1.0 - holiday_mult),
            "pre_holiday_uplift": pre_uplift,
            "promo_uplift": uplift,
            "markup": markup,
            "launch": launch,
            "discontinued": discontinued,
            "forced_stockouts": forced.astype(np.int64),
            "late_supplier": late.astype(np.int64),
            "review_phase": review_phase,
            "z": np.array([z_of[float(s)] for s in service]),
        }
    )


def _make_promotions(
    spec: DemoSpec, cal: _Calendar, catalog: pd.DataFrame, rng: np.random.Generator
) -> _Promotions:
    """2-5 non-overlapping promotions a year for promoted SKUs, past and planned."""
    skus = np.flatnonzero(catalog["promo_uplift"].to_numpy() > 0)
    lo = catalog["launch"].to_numpy()[skus]
    hi = np.minimum(catalog["discontinued"].to_numpy()[skus], cal.n_days + spec.planned_promo_days)
    cycle = 365.0 / rng.uniform(2.0, 5.0, skus.size)
    cur = lo + np.floor(rng.random(skus.size) * cycle).astype(np.int64)
    parts: list[tuple[np.ndarray, ...]] = []
    while skus.size and (cur < hi).any():
        length = rng.integers(4, 15, skus.size)
        discount = rng.choice(_DISCOUNTS, skus.size)
        end = cur + length - 1
        ok = end < hi
        parts.append((skus[ok], cur[ok], end[ok], discount[ok]))
        gap = np.maximum(7, np.round((cycle - length) * rng.uniform(0.5, 1.5, skus.size)))
        cur = end + 1 + gap.astype(np.int64)
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return _Promotions(empty, empty, empty, empty)
    sku, start, end, discount = (np.concatenate(p) for p in zip(*parts, strict=True))
    order = np.lexsort((start, sku))
    return _Promotions(sku[order], start[order], end[order], discount[order])


def _make_spells(cal: _Calendar, catalog: pd.DataFrame, rng: np.random.Generator) -> _Spells:
    """1-3 supplier failures of 25-50 days for the SKUs flagged forced_stockouts."""
    skus = np.flatnonzero(catalog["forced_stockouts"].to_numpy() == 1)
    n_spells = int(np.clip(round(cal.n_days / 365), 1, 3))
    window_lo, window_hi = 30, cal.n_days - 10
    segment = (window_hi - window_lo) // n_spells
    parts: list[tuple[np.ndarray, ...]] = []
    for j in range(n_spells):
        length = np.minimum(rng.integers(25, 51, skus.size), max(segment - 1, 1))
        start = window_lo + j * segment + np.floor(rng.random(skus.size) * (segment - length))
        start = start.astype(np.int64)
        parts.append((skus, start, start + length - 1))
    sku, start, end = (np.concatenate(p) for p in zip(*parts, strict=True))
    return _Spells(sku, start, end)


# --------------------------------------------------------------------------- simulation


def _expected_demand(
    cal: _Calendar, c: dict[str, np.ndarray], promo_day: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """True expected demand (units/day) and its multiplier over base_daily, SKUs x n_ext days."""
    tt = np.arange(cal.n_ext)
    level = np.maximum(0.05, 1.0 + c["trend_per_year"][:, None] * (tt - cal.t_ref) / 365.25)
    weekly = 1.0 + c["weekly_amplitude"][:, None] * _WEEKLY_SHAPE[cal.dow][None, :]
    angle = 2.0 * np.pi * (cal.doy[None, :] - c["yearly_peak_doy"][:, None]) / 365.25
    yearly = np.maximum(
        0.1,
        1.0
        + c["yearly_amplitude"][:, None] * np.cos(angle)
        + c["q4_peak"][:, None] * cal.q4_bump[None, :],
    )
    kind = cal.holiday_kind[None, :]
    holiday = np.where(
        kind == 2,
        c["holiday_multiplier"][:, None],
        np.where(
            kind == 1,
            c["minor_holiday_multiplier"][:, None],
            np.where(cal.pre_holiday[None, :], 1.0 + c["pre_holiday_uplift"][:, None], 1.0),
        ),
    )
    promo = 1.0 + c["promo_uplift"][:, None] * promo_day
    alive = (tt[None, :] >= c["launch"][:, None]) & (tt[None, :] < c["discontinued"][:, None])
    mult = level * weekly * yearly * holiday * promo * alive
    intermittent = c["is_intermittent"][:, None]
    occ = np.nan_to_num(c["occurrence_prob"])[:, None]
    size = np.nan_to_num(c["mean_size"])[:, None]
    expected = np.where(
        intermittent, np.minimum(1.0, occ * mult) * size, c["base_daily"][:, None] * mult
    )
    return expected, mult


def _draw_demand(
    rng: np.random.Generator, c: dict[str, np.ndarray], expected: np.ndarray, mult: np.ndarray
) -> np.ndarray:
    """Integer daily demand with the SKU's noise: negative binomial, or occurrence x size."""
    k = np.nan_to_num(c["dispersion"], nan=1.0)[:, None]
    counts = rng.negative_binomial(k, k / (k + expected))
    occ = np.nan_to_num(c["occurrence_prob"])[:, None]
    occurs = rng.random(expected.shape) < np.minimum(1.0, occ * mult)
    size_mean = np.nan_to_num(c["mean_size"], nan=2.0)[:, None]
    sizes = 1 + rng.negative_binomial(2.0, 2.0 / (2.0 + size_mean - 1.0), size=expected.shape)
    return np.where(c["is_intermittent"][:, None], occurs * sizes, counts).astype(np.int64)


def _promo_discount(cal: _Calendar, promos: _Promotions, b0: int, b1: int) -> np.ndarray:
    """Discount percent of the promotion running on each SKU-day of the block (0 = none)."""
    sel = (promos.sku >= b0) & (promos.sku < b1)
    rows = promos.sku[sel] - b0
    diff = np.zeros((b1 - b0, cal.n_ext + 1), dtype=np.int64)
    np.add.at(diff, (rows, np.minimum(promos.start[sel], cal.n_ext)), promos.discount[sel])
    np.add.at(diff, (rows, np.minimum(promos.end[sel] + 1, cal.n_ext)), -promos.discount[sel])
    return np.cumsum(diff, axis=1)[:, : cal.n_ext]


def _blocked_until(cal: _Calendar, spells: _Spells, b0: int, b1: int) -> np.ndarray:
    """Per SKU-day of the block: last day of the supplier failure covering it, else -1."""
    blocked = np.full((b1 - b0, cal.n_days), -1, dtype=np.int64)
    sel = np.flatnonzero((spells.sku >= b0) & (spells.sku < b1))
    for i in sel:  # a few spells per flagged SKU
        blocked[spells.sku[i] - b0, spells.start[i] : spells.end[i] + 1] = spells.end[i]
    return blocked


def _simulate_block(
    conn: Connection,
    cal: _Calendar,
    catalog: pd.DataFrame,
    promos: _Promotions,
    spells: _Spells,
    b0: int,
    b1: int,
    rng: np.random.Generator,
    counts: _Counts,
) -> pd.DataFrame:
    """Demand, stock and replenishment of SKUs b0..b1-1; writes their rows, returns truth stats."""
    c = {col: catalog[col].to_numpy()[b0:b1] for col in catalog.columns}
    nb, n_days = b1 - b0, cal.n_days
    discount = _promo_discount(cal, promos, b0, b1)
    expected, mult = _expected_demand(cal, c, discount > 0)
    demand = _draw_demand(rng, c, expected[:, :n_days], mult[:, :n_days])

    # The planner: exponentially smoothed mean and variance of daily demand, (s, S) levels.
    launch, stop = c["launch"], c["discontinued"] - c["lead_time_days"]
    first_month = (np.arange(cal.n_ext)[None, :] >= launch[:, None]) & (
        np.arange(cal.n_ext)[None, :] < launch[:, None] + 28
    )
    mean = (expected * first_month).sum(axis=1) / 28.0
    k = np.nan_to_num(c["dispersion"], nan=1.0)
    ms = np.nan_to_num(c["mean_size"], nan=2.0)
    occ = np.nan_to_num(c["occurrence_prob"])
    size_var = (ms - 1.0) + (ms - 1.0) ** 2 / 2.0
    var_int = occ * (size_var + ms**2) - (occ * ms) ** 2
    var = np.maximum(mean, np.where(c["is_intermittent"], var_int, mean + mean**2 / k))
    cover = (c["lead_time_days"] + c["review_period_days"]).astype(float)
    pack = c["pack_size"].astype(np.int64)
    moq = c["moq"].astype(np.int64)
    z = c["z"]
    eoq_factor = 2.0 * 365.0 * c["order_cost"] / (c["holding_cost_rate"] * c["unit_cost"])

    def levels(m: np.ndarray, v: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        low = m * cover[rows] + z[rows] * np.sqrt(v * cover[rows])
        eoq = np.minimum(np.sqrt(eoq_factor[rows] * m), _MAX_CYCLE_DAYS * m)
        return low, low + np.maximum(m * c["review_period_days"][rows], eoq)

    all_rows = np.arange(nb)
    s0, big_s0 = levels(mean, var, all_rows)
    start_stock = np.round(s0 + rng.random(nb) * (big_s0 - s0)).astype(np.int64)
    on_hand = np.where(launch == 0, start_stock, 0)
    on_order = np.zeros(nb, dtype=np.int64)
    arrivals = np.zeros((nb, n_days + 1), dtype=np.int64)  # column n_days: after end_date
    po_parts: list[tuple[np.ndarray, ...]] = []

    # new SKUs: the first stock was ordered a lead time before launch
    launched_later = np.flatnonzero(launch > 0)
    if launched_later.size:
        first_qty = np.ceil(big_s0[launched_later] / pack[launched_later]) * pack[launched_later]
        first_qty = np.maximum(first_qty, pack[launched_later]).astype(np.int64)
        arrivals[launched_later, launch[launched_later]] += first_qty
        on_order[launched_later] += first_qty
        lead = c["lead_time_days"][launched_later]
        po_parts.append(
            (
                launched_later,
                launch[launched_later] - lead,
                first_qty,
                lead,
                launch[launched_later],
                np.zeros(launched_later.size, dtype=bool),
            )
        )

    blocked = _blocked_until(cal, spells, b0, b1)
    late = c["late_supplier"] == 1
    sales = np.zeros((nb, n_days), dtype=np.int64)
    snapshot = np.zeros((nb, n_days), dtype=np.int64)
    for t in range(n_days):
        got = arrivals[:, t]
        on_hand += got
        on_order -= got
        d = demand[:, t]
        sold = np.minimum(d, on_hand)
        on_hand -= sold
        sales[:, t] = sold
        snapshot[:, t] = on_hand
        alive = launch <= t
        diff = d - mean
        mean = np.where(alive, mean + _PLANNER_ALPHA * diff, mean)
        var = np.where(alive, (1.0 - _PLANNER_ALPHA) * (var + _PLANNER_ALPHA * diff * diff), var)
        review = (
            alive & (t < stop) & ((t - launch - c["review_phase"]) % c["review_period_days"] == 0)
        )
        rows = np.flatnonzero(review)
        if not rows.size:
            continue
        position = on_hand[rows] + on_order[rows]
        low, high = levels(mean[rows], var[rows], rows)
        need = position <= low
        rows, position, high = rows[need], position[need], high[need]
        if not rows.size:
            continue
        qty = np.ceil(np.maximum(high - position, 1.0) / pack[rows]) * pack[rows]
        qty = np.maximum(qty, moq[rows]).astype(np.int64)
        planned = c["lead_time_days"][rows]
        noise = np.round(rng.normal(0.0, 0.1 * planned))
        # a late supplier is 2 days late on every order, and on half of them later still
        # (exponential, mean 40 % of the planned lead time): about 3-5 days on average
        extra = np.where(rng.random(rows.size) < 0.5, np.ceil(rng.exponential(0.4 * planned)), 0)
        delay = np.where(late[rows], _LATE_SUPPLIER_DAYS + extra, 0)
        arrive = t + np.maximum(1, planned + noise + delay).astype(np.int64)
        in_window = arrive < n_days
        until = np.where(in_window, blocked[rows, np.minimum(arrive, n_days - 1)], -1)
        arrive = np.where(until >= 0, until + 1 + rng.integers(0, 3, rows.size), arrive)
        cancelled = rng.random(rows.size) < _PO_CANCEL_SHARE
        ok = ~cancelled
        arrivals[rows[ok], np.minimum(arrive[ok], n_days)] += qty[ok]
        on_order[rows[ok]] += qty[ok]
        po_parts.append((rows, np.full(rows.size, t), qty, planned, arrive, cancelled))

    po = [np.concatenate(p) for p in zip(*po_parts, strict=True)] if po_parts else None
    _write(conn, "inventory_snapshots", _inventory_frame(cal, c, snapshot), counts)
    _write(conn, "purchase_orders", _purchase_orders_frame(cal, c, po, counts), counts)
    _write(
        conn,
        "order_lines",
        _order_lines_frame(cal, c, demand, sales, discount, rng, counts),
        counts,
    )
    return _block_stats(cal, c, demand, sales, snapshot, expected, po)


# --------------------------------------------------------------------------- frames


def _format_ids(prefix: str, parts: list[tuple[np.ndarray, int]]) -> np.ndarray:
    """Strings ``prefix`` + zero-padded integers joined by '-', built without a Python loop."""
    n = len(parts[0][0])
    columns = [np.tile(np.frombuffer(prefix.encode(), dtype=np.uint8), (n, 1))]
    for i, (values, width) in enumerate(parts):
        if i:
            columns.append(np.full((n, 1), ord("-"), dtype=np.uint8))
        powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
        digits = (np.asarray(values, dtype=np.int64)[:, None] // powers) % 10 + ord("0")
        columns.append(digits.astype(np.uint8))
    matrix = np.ascontiguousarray(np.hstack(columns))
    width = matrix.shape[1]
    return matrix.view(f"S{width}").ravel().astype(f"U{width}").astype(object)


def _yyyymmdd(cal: _Calendar, day: np.ndarray) -> np.ndarray:
    days = np.datetime64(cal.start, "D") + day.astype("timedelta64[D]")
    year = days.astype("datetime64[Y]").astype(np.int64) + 1970
    month = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    dom = (days - days.astype("datetime64[M]")).astype(np.int64) + 1
    return year * 10_000 + month * 100 + dom


def _day_sequence(day: np.ndarray, per_day: np.ndarray, offset: int = 0) -> np.ndarray:
    """1-based numbers within each day continuing ``per_day`` (updated); ``day`` sorted."""
    n = day.size
    starts = np.r_[True, day[1:] != day[:-1]] if n else np.zeros(0, dtype=bool)
    first = np.maximum.accumulate(np.where(starts, np.arange(n), 0)) if n else starts.astype(int)
    seq = per_day[day + offset] + (np.arange(n) - first) + 1
    np.add.at(per_day, day + offset, 1)
    return seq


def _sku_master_frame(catalog: pd.DataFrame) -> pd.DataFrame:
    columns = [
        "sku_id",
        "description",
        "category",
        "unit_cost",
        "pack_size",
        "moq",
        "lead_time_days",
        "review_period_days",
        "service_level",
        "holding_cost_rate",
        "order_cost",
        "active",
    ]
    return catalog[columns].copy()


def _promotions_frame(cal: _Calendar, catalog: pd.DataFrame, promos: _Promotions) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "promo_id": _format_ids("PR-", [(np.arange(1, promos.sku.size + 1), 7)]),
            "sku_id": catalog["sku_id"].to_numpy()[promos.sku],
            "start_date": cal.dates(promos.start),
            "end_date": cal.dates(promos.end),
            "discount_pct": promos.discount.astype(float),
        }
    )


def _inventory_frame(
    cal: _Calendar, c: dict[str, np.ndarray], snapshot: np.ndarray
) -> pd.DataFrame:
    rows, days = np.nonzero(np.arange(cal.n_days)[None, :] >= c["launch"][:, None])
    return pd.DataFrame(
        {
            "sku_id": c["sku_id"][rows],
            "snapshot_date": cal.dates(days),
            "on_hand": snapshot[rows, days],
        }
    )


def _purchase_orders_frame(
    cal: _Calendar, c: dict[str, np.ndarray], po: list[np.ndarray] | None, counts: _Counts
) -> pd.DataFrame:
    if po is None:
        return pd.DataFrame()
    rows, ordered, qty, planned, arrive, cancelled = po
    order = np.lexsort((rows, ordered))
    rows, ordered, qty, planned, arrive, cancelled = (
        a[order] for a in (rows, ordered, qty, planned, arrive, cancelled)
    )
    seq = _day_sequence(ordered, counts.pos_per_day, _PO_DAY_OFFSET)
    received = ~cancelled & (arrive < cal.n_days)
    status = np.where(cancelled, "cancelled", np.where(received, "received", "open"))
    received_date = cal.dates_where(received, arrive)
    return pd.DataFrame(
        {
            "po_id": _format_ids("PO-", [(_yyyymmdd(cal, ordered), 8), (seq, 6)]),
            "sku_id": c["sku_id"][rows],
            "order_date": cal.dates(ordered),
            "expected_date": cal.dates(ordered + planned),
            "received_date": received_date,
            "quantity": qty,
            "status": status.astype(object),
        }
    )


def _order_lines_frame(
    cal: _Calendar,
    c: dict[str, np.ndarray],
    demand: np.ndarray,
    sales: np.ndarray,
    discount: np.ndarray,
    rng: np.random.Generator,
    counts: _Counts,
) -> pd.DataFrame:
    """Sales of each SKU-day split into 1-4 lines, plus ~3 % cancelled lines, grouped into orders."""
    # sales lines
    cell_row, cell_day = np.nonzero(sales)
    sold = sales[cell_row, cell_day]
    n_lines = np.minimum(sold, 1 + rng.choice(4, size=sold.size, p=[0.45, 0.30, 0.15, 0.10]))
    cell = np.repeat(np.arange(sold.size), n_lines)
    weight = rng.random(cell.size) + 0.05
    weight_sum = np.bincount(cell, weights=weight, minlength=sold.size)
    spare = sold - n_lines
    extra = np.floor(spare[cell] * weight / weight_sum[cell]).astype(np.int64)
    remainder = spare - np.bincount(cell, weights=extra, minlength=sold.size).astype(np.int64)
    first_line = np.r_[0, np.cumsum(n_lines)[:-1]].astype(np.int64)
    quantity = 1 + extra
    quantity[first_line] += remainder
    status = np.where(rng.random(cell.size) < _RETURNED_SHARE, "returned", "completed")
    line_row, line_day = cell_row[cell], cell_day[cell]

    # cancelled lines: customers who came (demand > 0), sold or not
    asked_row, asked_day = np.nonzero(demand)
    pick = rng.random(asked_row.size) < _CANCELLED_LINE_PER_CELL
    asked_row, asked_day = asked_row[pick], asked_day[pick]
    cancelled_qty = np.minimum(demand[asked_row, asked_day], rng.integers(1, 6, asked_row.size))

    row = np.r_[line_row, asked_row]
    day = np.r_[line_day, asked_day]
    quantity = np.r_[quantity, cancelled_qty]
    status = np.r_[status, np.full(asked_row.size, "cancelled")]
    price = c["unit_cost"][row] * c["markup"][row] * (1.0 - discount[row, day] / 100.0)

    # group the lines of a day into customer orders of ~1.8 lines
    order = np.lexsort((rng.random(row.size), day))
    row, day, quantity, status, price = (a[order] for a in (row, day, quantity, status, price))
    n = row.size
    day_start = np.r_[True, day[1:] != day[:-1]] if n else np.zeros(0, dtype=bool)
    new_order = day_start | (rng.random(n) < _NEW_ORDER_SHARE)
    order_start = np.maximum.accumulate(np.where(new_order, np.arange(n), 0)) if n else day_start
    line_no = np.arange(n) - order_start + 1
    first_of_order = np.flatnonzero(new_order)
    order_seq = _day_sequence(day[first_of_order], counts.orders_per_day)
    hours = rng.choice(24, size=first_of_order.size, p=_HOUR_WEIGHTS / _HOUR_WEIGHTS.sum())
    seconds = hours * 3600 + rng.integers(0, 3600, first_of_order.size)
    order_no = np.cumsum(new_order) - 1
    order_day = day[first_of_order]
    order_ts = (
        np.datetime64(cal.start, "s") + (order_day * 86_400 + seconds).astype("timedelta64[s]")
    )[order_no]
    order_id = _format_ids("SO-", [(_yyyymmdd(cal, order_day), 8), (order_seq, 6)])[order_no]
    return pd.DataFrame(
        {
            "order_id": order_id,
            "line_no": line_no,
            "sku_id": c["sku_id"][row],
            "order_ts": order_ts,
            "quantity": quantity,
            "unit_price": price.round(2),
            "status": status.astype(object),
        }
    )


def _block_stats(
    cal: _Calendar,
    c: dict[str, np.ndarray],
    demand: np.ndarray,
    sales: np.ndarray,
    snapshot: np.ndarray,
    expected: np.ndarray,
    po: list[np.ndarray] | None,
) -> pd.DataFrame:
    n_days = cal.n_days
    tt = np.arange(n_days)[None, :]
    selling = (tt >= c["launch"][:, None]) & (tt < c["discontinued"][:, None])
    has_sale = sales > 0
    first_sale = np.where(has_sale.any(axis=1), has_sale.argmax(axis=1), -1)
    lead_mean = np.full(len(c["sku_id"]), np.nan)
    if po is not None:
        rows, ordered, _, _, arrive, cancelled = po
        got = ~cancelled & (arrive < n_days)
        total = np.bincount(rows[got], weights=(arrive - ordered)[got], minlength=lead_mean.size)
        number = np.bincount(rows[got], minlength=lead_mean.size)
        lead_mean = np.where(number > 0, total / np.maximum(number, 1), np.nan)
    return pd.DataFrame(
        {
            "sku_id": c["sku_id"],
            "first_sale": first_sale,
            "mean_lead_time_actual": lead_mean,
            "total_demand": demand.sum(axis=1).astype(float),
            "total_sales": sales.sum(axis=1).astype(float),
            "stockout_days": ((snapshot == 0) & selling).sum(axis=1),
            "expected_demand_next_28d": expected[:, n_days : n_days + TRUTH_HORIZON_DAYS].sum(
                axis=1
            ),
        }
    )


def _truth_frame(
    spec: DemoSpec, cal: _Calendar, catalog: pd.DataFrame, stats: pd.DataFrame
) -> pd.DataFrame:
    n_days = cal.n_days
    active = catalog["active"].to_numpy()
    level_at_end = catalog["base_daily"].to_numpy() * np.maximum(
        0.05, 1.0 + catalog["trend_per_year"].to_numpy() * (n_days - cal.t_ref) / 365.25
    )
    first_sale = stats["first_sale"].to_numpy()
    discontinued = catalog["discontinued"].to_numpy()
    total_demand = stats["total_demand"].to_numpy()
    total_sales = stats["total_sales"].to_numpy()
    truth = pd.DataFrame(
        {
            "sku_id": catalog["sku_id"],
            "pattern": catalog["pattern"],
            "category": catalog["category"],
            "active": active,
            "base_daily": catalog["base_daily"].round(4),
            "trend_per_year": catalog["trend_per_year"].round(4),
            "trend_ref_date": cal.dates(np.full(len(catalog), int(cal.t_ref))),
            "daily_rate_at_end": np.where(active, level_at_end, 0.0).round(4),
        }
    )
    for col in (
        "weekly_amplitude",
        "yearly_amplitude",
        "yearly_peak_doy",
        "q4_peak",
        "holiday_multiplier",
        "minor_holiday_multiplier",
        "pre_holiday_uplift",
        "promo_uplift",
    ):
        truth[col] = catalog[col].round(4)
    truth["n_promotions"] = catalog["n_promotions"]
    for col in ("dispersion", "occurrence_prob", "mean_size", "markup"):
        truth[col] = catalog[col].round(4)
    truth["forced_stockouts"] = catalog["forced_stockouts"]
    truth["late_supplier"] = catalog["late_supplier"]
    truth["mean_lead_time_actual"] = stats["mean_lead_time_actual"].round(2).to_numpy()
    truth["launch_date"] = cal.dates(catalog["launch"].to_numpy())
    truth["first_sale_date"] = cal.dates_where(first_sale >= 0, first_sale)
    truth["discontinued_date"] = cal.dates_where(discontinued < _NO_DATE, discontinued)
    truth["total_demand"] = total_demand
    truth["total_sales"] = total_sales
    truth["lost_sales"] = total_demand - total_sales
    truth["stockout_days"] = stats["stockout_days"].to_numpy()
    truth["run_date"] = spec.run_date
    truth["expected_demand_next_28d"] = stats["expected_demand_next_28d"].round(3).to_numpy()
    return truth


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
