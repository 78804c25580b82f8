"""What the demo generates: the spec, the constants of its world, the calendar.

Imports nothing of the demo package."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import holidays
import numpy as np

SOURCE_TABLES = (
    "sku_master",
    "order_lines",
    "promotions",
    "inventory_snapshots",
    "purchase_orders",
)
TRUTH_TABLE = "demo_truth"
#: The SKU master's value columns, in the table's order (after sku_id, description, category).
SKU_MASTER_VALUES = (
    "unit_cost",
    "pack_size",
    "moq",
    "lead_time_days",
    "review_period_days",
    "service_level",
    "holding_cost_rate",
    "order_cost",
)
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


def _yesterday() -> dt.date:
    """Yesterday's UTC date: the default last day of demo history (the run date is today)."""
    return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)


@dataclass(frozen=True)
class DemoSpec:
    """What to generate.

    n_skus: number of SKUs. years: length of the order history, years of 365.25 days.
    end_date: last day with order history; the run date of the demo is end_date + 1.
    Defaults to yesterday (UTC), so today's run, the UI's default, has its history;
    the rows depend only on the spec, so a fixed end_date gives fixed rows.
    seed: seed of every random draw. planned_promo_days: promotions are planned up to
    end_date + planned_promo_days. holiday_country: ISO code whose public holidays
    shape demand (the ``holidays`` package).
    """

    n_skus: int = 200
    years: float = 3.0
    end_date: dt.date = field(default_factory=_yesterday)
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
