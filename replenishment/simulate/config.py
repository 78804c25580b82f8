"""Configuration of a replay: what to simulate, the names every module shares.

Lives here: :class:`SimulationConfig`, the policy and demand-mode names, the array
aliases, :func:`refit_horizon`. Imports ``replenishment.config`` only.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from replenishment.config import Settings

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

POLICY_NAMES = ("pipeline", "spreadsheet", "forecast_net")
BASELINES = ("spreadsheet", "forecast_net")
DEMAND_MODES = ("lost_sales", "backorders")
ALL_CLASSES = "all"
#: Weeks before and after a censored day whose same weekday estimates its demand.
FILL_WEEKS = 4

# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class SimulationConfig:
    """What to replay: the shared run settings plus the simulator's own fields.

    settings: :class:`replenishment.config.Settings`, the one source of every setting a
        simulation shares with the daily run (``policy`` periodic (R, S) or continuous
        (s, Q), ``service_target``, ``holiday_country``, ``interval_width``,
        ``min_history_days``, ``backtest_days``); build with :meth:`from_settings` so the
        environment and the DAG params reach it.
    start: first simulated day. days: simulated days, start .. start + days - 1.
    demand_mode: ``lost_sales`` (unserved demand is lost) or ``backorders`` (owed).
    refit_every: days between two forecast refits (the forecast is rolled forward between).
    backtest_every: ForecastConfig.backtest_every_days of each refit (1 = every SKU).
    max_skus: simulate only the first N eligible SKUs (by sku_id); None = all.
    trailing_days: window of the baselines' mean and standard deviation, days.
    seed: seed of the lead-time draws. workers: forecast processes (0 = one per core).
    run_id: key of the reporting rows; default from start, days, policy, mode, refit,
        backtest_every (when not 1), review_schedule and the scenarios.
    review_schedule: the pipeline's policy (:func:`replenishment.policy.compute_orders`)
        itself places periodic-review orders on each SKU's review days only
        (:func:`~replenishment.policy.review_days`); this flag also holds continuous-review
        orders to those days (for periodic runs it adds nothing) and marks the run id
        "-reviewed".
    supplier_delay_days: scenario "suppliers late": every order of the replay arrives
        this many days later than the receipt it is drawn from (the master data's planned
        lead time is unchanged); run id "-late<N>".
    stale_lead_time_days: scenario "stale master data": the SKU master's planned lead
        times are this many days shorter than the suppliers deliver (at least 1 day),
        before the window as in it: the receipts and the lead-time draws stay as they
        were, the purchase orders' expected dates are the stale promise; run id
        "-stale<N>". The late receipts were in ``purchase_orders`` all along, as in a
        warehouse whose master data was never updated.
    demand_shock_factor, demand_shock_day: scenario "demand shock": the demand of
        simulated days >= demand_shock_day is multiplied by the factor, in the demand
        served and in the history the forecasts and baselines read; run id
        "-shock<F>@<day>".
    """

    start: dt.date
    settings: Settings = field(default_factory=Settings)
    days: int = 180
    demand_mode: str = "lost_sales"
    refit_every: int = 7
    backtest_every: int = 1
    trailing_days: int = 56
    max_skus: int | None = None
    seed: int = 0
    workers: int = 1
    run_id: str | None = None
    review_schedule: bool = False
    supplier_delay_days: int = 0
    stale_lead_time_days: int = 0
    demand_shock_factor: float = 1.0
    demand_shock_day: int = 0

    def __post_init__(self) -> None:
        if self.days < 1:
            raise ValueError(f"days must be >= 1, got {self.days}")
        if self.refit_every < 1:
            raise ValueError(f"refit_every must be >= 1, got {self.refit_every}")
        if self.demand_mode not in DEMAND_MODES:
            raise ValueError(f"demand_mode must be one of {DEMAND_MODES}, got {self.demand_mode!r}")
        if self.backtest_every < 1 or math.gcd(self.backtest_every, self.refit_every) != 1:
            # the forecast backtests a SKU when (crc32(sku_id) + date ordinal) % every == 0:
            # with a common factor the same SKUs would be backtested at every refit
            raise ValueError(
                f"backtest_every ({self.backtest_every}) must be >= 1 and coprime with "
                f"refit_every ({self.refit_every})"
            )
        if self.trailing_days < 2:
            raise ValueError(f"trailing_days must be >= 2, got {self.trailing_days}")
        if self.max_skus is not None and self.max_skus < 1:
            raise ValueError(f"max_skus must be >= 1, got {self.max_skus}")
        self._check_scenarios()

    def _check_scenarios(self) -> None:
        for name in ("supplier_delay_days", "stale_lead_time_days"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not (math.isfinite(self.demand_shock_factor) and self.demand_shock_factor >= 0):
            raise ValueError(f"demand_shock_factor must be >= 0, got {self.demand_shock_factor}")
        if not 0 <= self.demand_shock_day < self.days:
            raise ValueError(
                f"demand_shock_day must be a simulated day (0 .. {self.days - 1}), "
                f"got {self.demand_shock_day}"
            )

    @classmethod
    def from_settings(cls, settings: Settings, start: dt.date, **own: Any) -> SimulationConfig:
        """The config of a replay from ``settings`` (environment, then DAG params or
        command-line options: :meth:`Settings.load`) and only the simulator's own fields.

        A shared setting passed in ``own`` is refused: it would shadow ``settings`` and
        replay a different policy than the daily run.
        """
        shared = sorted(set(own) & {f.name for f in fields(Settings)})
        if shared:
            raise TypeError(f"{shared} are run settings: pass them in settings, not as fields")
        return cls(start=start, settings=settings, **own)

    @property
    def end(self) -> dt.date:
        """The day after the last simulated day."""
        return self.start + dt.timedelta(days=self.days)

    @property
    def key(self) -> str:
        """run_id of the reporting rows."""
        return self.run_id or (
            f"{self.start.isoformat()}+{self.days}d-{self.settings.policy}-{self.demand_mode}"
            f"-refit{self.refit_every}"
            + (f"-bt{self.backtest_every}" if self.backtest_every != 1 else "")
            + ("-reviewed" if self.review_schedule else "")
            + (f"-late{self.supplier_delay_days}" if self.supplier_delay_days else "")
            + (f"-stale{self.stale_lead_time_days}" if self.stale_lead_time_days else "")
            + (
                f"-shock{self.demand_shock_factor:g}@{self.demand_shock_day}"
                if self.shocked
                else ""
            )
        )

    @property
    def shocked(self) -> bool:
        """True when the demand-shock scenario changes the demand."""
        return self.demand_shock_factor != 1.0

    def date(self, day: int) -> dt.date:
        return self.start + dt.timedelta(days=day)


def refit_horizon(cfg: SimulationConfig, max_protection_days: float) -> int:
    """Days forecast at a refit: until the next refit plus the longest protection period."""
    return int(cfg.refit_every + math.ceil(max_protection_days) + 1)


def parse_demand_shock(text: str) -> tuple[float, int]:
    """``FACTOR@DAY`` (e.g. ``1.5@60``) as (factor, simulated day).

    >>> parse_demand_shock("1.5@60")
    (1.5, 60)
    """
    factor, sep, day = text.partition("@")
    try:
        if not sep:
            raise ValueError(text)
        return float(factor), int(day)
    except ValueError:
        raise ValueError(f"demand shock must be FACTOR@DAY (e.g. 1.5@60), got {text!r}") from None
