"""Run configuration: one typed place, read from the environment and run parameters."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INCLUDE_DIR = Path(os.environ.get("REPLENISHMENT_INCLUDE_DIR", PROJECT_ROOT / "include"))
DEFAULT_DATA_DIR = Path(os.environ.get("REPLENISHMENT_DATA_DIR", PROJECT_ROOT / ".data"))
DEFAULT_WAREHOUSE_URL = f"sqlite:///{DEFAULT_DATA_DIR / 'warehouse.db'}"

_ENV_PREFIX = "REPLENISHMENT_"

#: Replenishment policies: "periodic" review (R, S) and "continuous" review (s, Q).
POLICIES = ("periodic", "continuous")
#: What safety stock is sized for: "cycle" service level (alpha, the probability of no
#: stock-out in a replenishment cycle) or "fill_rate" (beta, the share of demand served).
SERVICE_TARGETS = ("cycle", "fill_rate")
#: What a critical data-quality failure stops: "block" the whole run, or "quarantine" the
#: SKUs whose rows it is confined to (table-level failures block in both modes).
DQ_MODES = ("block", "quarantine")


@dataclass(frozen=True)
class Settings:
    """Everything a run can be told.

    Every field can be set from the environment as ``REPLENISHMENT_<FIELD>``
    (for example ``REPLENISHMENT_HORIZON_DAYS=42``) and overridden per run by a DAG
    param or a command-line option of the same name.
    """

    #: SQLAlchemy URL of the warehouse holding the source and reporting tables.
    warehouse_url: str = DEFAULT_WAREHOUSE_URL
    #: Schema of the output tables on databases that have schemas (ignored on SQLite).
    reporting_schema: str = "reporting"
    #: Days forecast from the run date D: D .. D+horizon_days-1.
    horizon_days: int = 28
    #: ISO country code whose public holidays enter the Prophet model.
    holiday_country: str = "US"
    #: Central probability mass of [yhat_lower, yhat_upper].
    interval_width: float = 0.80
    #: Replenishment policy when the SKU master does not say: "periodic" (R,S) or "continuous" (s,Q).
    policy: str = "periodic"
    #: Service target the safety stock is sized for: "cycle" (alpha) or "fill_rate" (beta).
    service_target: str = "cycle"
    #: Number of forecast batches (Airflow mapped tasks).
    forecast_batches: int = 4
    #: Worker processes inside one forecast batch (0 = one per core).
    forecast_workers: int = 0
    #: Days of history held out to measure forecast error (0 disables the backtest).
    backtest_days: int = 28
    #: Each SKU is backtested on one run date in this many (1 = every SKU every run);
    #: a backtested SKU's model is chosen among its candidates by the holdout error, the
    #: others get their class's first candidate and their error spread calibrated on the
    #: day's backtested SKUs.
    backtest_every_days: int = 1
    #: Fit the global LightGBM model across the SKUs of each forecast batch (a candidate
    #: for every SKU with history; the cold-start model of SKUs with little history).
    global_model: bool = True
    #: Days of history a SKU needs before Prophet is tried on it.
    min_history_days: int = 56
    #: Where the stages hand data to each other, as ``<staging_dir>/<run_date>/<run_id>/``:
    #: a local directory, or an object-store URL such as ``s3://bucket/prefix`` (also
    #: ``gs://``, ``az://``: whatever fsspec has a filesystem for).
    staging_dir: str = str(DEFAULT_DATA_DIR / "staging")
    #: Airflow connection whose credentials reach an object-store ``staging_dir`` (the DAG
    #: only); without that connection, the standard environment variables (AWS_*, ...).
    staging_conn_id: str = "aws_default"
    #: Days a failed run's staging files are kept for debugging before a later run deletes
    #: them (0 keeps them); a successful run deletes its own after the load.
    staging_retention_days: int = 7
    #: Directory for Great Expectations Data Docs.
    data_docs_dir: str = str(DEFAULT_DATA_DIR / "data_docs")
    #: Directory of the per-run HTML reports (``<run_date>.html``).
    report_dir: str = str(DEFAULT_DATA_DIR / "reports")
    #: Create or replace the BI views (and comments) on every load. The views read
    #: source tables, so a warehouse whose jobs drop and recreate those tables may
    #: turn this off and create them with ``replenishment reporting --create-views``.
    publish_views: bool = True
    #: ISO 4217 code of every money value (unit_cost, order_value, costs): on the page, the
    #: CSV and the reports, and beside each money column of the reporting views.
    currency: str = "USD"
    #: What a critical data-quality failure stops: "block" (the whole run) or "quarantine"
    #: (only the SKUs whose rows it is confined to; table-level failures still block).
    dq_mode: str = "block"

    def __post_init__(self) -> None:
        if self.horizon_days < 1:
            raise ValueError(f"horizon_days must be >= 1, got {self.horizon_days}")
        if not 0 < self.interval_width < 1:
            raise ValueError(f"interval_width must be in (0, 1), got {self.interval_width}")
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {self.policy!r}")
        if self.service_target not in SERVICE_TARGETS:
            raise ValueError(
                f"service_target must be one of {SERVICE_TARGETS}, got {self.service_target!r}"
            )
        if self.dq_mode not in DQ_MODES:
            raise ValueError(f"dq_mode must be one of {DQ_MODES}, got {self.dq_mode!r}")
        if self.forecast_batches < 1:
            raise ValueError(f"forecast_batches must be >= 1, got {self.forecast_batches}")
        if not (len(self.currency) == 3 and self.currency.isalpha() and self.currency.isupper()):
            raise ValueError(f"currency must be an ISO 4217 code like USD, got {self.currency!r}")
        if self.staging_retention_days < 0:
            raise ValueError(
                f"staging_retention_days must be >= 0, got {self.staging_retention_days}"
            )
        if len(self.holiday_country) < 2:
            raise ValueError(f"holiday_country must be an ISO code, got {self.holiday_country!r}")

    @classmethod
    def load(
        cls, overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
    ) -> Settings:
        """Defaults, then ``REPLENISHMENT_*`` environment variables, then ``overrides``.

        Unknown keys in ``overrides`` are ignored so that DAG params meant for
        Airflow itself can be passed through unchanged; ``None`` values are skipped.
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            raw = env.get(_ENV_PREFIX + field.name.upper())
            if raw not in (None, ""):
                values[field.name] = _coerce(field.type, raw)
        for key, value in (overrides or {}).items():
            if key in {f.name for f in dataclasses.fields(cls)} and value not in (None, ""):
                values[key] = _coerce(_field_type(cls, key), value)
        return cls(**values)

    def worker_count(self, tasks_at_once: int = 1) -> int:
        """Forecast worker processes for one of ``tasks_at_once`` forecast tasks running side
        by side: ``forecast_workers``, or with 0 the cores shared among those tasks."""
        return self.forecast_workers or max(1, (os.cpu_count() or 1) // max(1, tasks_at_once))

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _field_type(cls: type, name: str) -> Any:
    return next(f.type for f in dataclasses.fields(cls) if f.name == name)


def _coerce(type_name: Any, value: Any) -> Any:
    kind = str(type_name)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"not a boolean: {value!r} (use true or false)")
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    return str(value)


def parse_run_date(value: str | dt.date | dt.datetime) -> dt.date:
    """The run date D as a calendar date, from an ISO string, a date or a datetime."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])
