"""The DAG params shared by the DAGs: titles, descriptions and allowed values for the form.

Imported by the DAG files at parse time, so it stays light: the country codes come from
the ``holidays`` library's registry read as source text (importing ``holidays`` costs a
second, more than the whole DAG file may), once per process.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from pathlib import Path
from typing import Any

from airflow.sdk import Param

#: Shown when the holidays library cannot be found (the task would fail on it anyway).
_FALLBACK_CODES = ("US",)


@functools.cache
def holiday_country_codes() -> tuple[str, ...]:
    """ISO 3166-1 alpha-2 codes of the countries the ``holidays`` library knows, sorted.

    Read from ``holidays/registry.py`` (its ``COUNTRIES`` literal: name -> (class, alpha-2,
    alpha-3, ...)) without importing the package.
    """
    spec = importlib.util.find_spec("holidays")
    if spec is None or not spec.submodule_search_locations:
        return _FALLBACK_CODES
    source = Path(next(iter(spec.submodule_search_locations)), "registry.py").read_text()
    for node in ast.parse(source).body:
        target = getattr(node, "target", None)
        if isinstance(node, ast.AnnAssign) and getattr(target, "id", None) == "COUNTRIES":
            entries = ast.literal_eval(node.value) if node.value else {}
            return tuple(sorted({str(v[1]) for v in entries.values() if len(v) > 1}))
    return _FALLBACK_CODES


def horizon_days(default: int = 28) -> Param:
    return Param(
        default,
        type="integer",
        minimum=1,
        maximum=365,
        title="Forecast horizon (days)",
        description="Days forecast from the run date D: D .. D + horizon - 1. "
        "Orders cover the lead time and review period inside it.",
    )


def holiday_country(default: str = "US") -> Param:
    return Param(
        default,
        type="string",
        enum=list(holiday_country_codes()),
        title="Holiday country",
        description="ISO code of the country whose public holidays shape the forecast "
        "(the holidays library's list).",
    )


def origins(default: int = 4) -> Param:
    return Param(
        default,
        type="integer",
        minimum=1,
        maximum=26,
        title="Backtest origins",
        description="Weekly forecast origins before the run date scored in the backtest.",
    )


def dq_mode(default: str = "block") -> Param:
    return Param(
        default,
        type="string",
        enum=["block", "quarantine"],
        title="Data-quality mode",
        description="What a critical data-quality failure stops: block the whole run, or "
        "quarantine the SKUs whose rows it is confined to (they get no order, listed with "
        "the reason); volume, freshness, repeated loads and schema faults block in both modes.",
    )


def shared(**overrides: Any) -> dict[str, Param]:
    """``horizon_days`` and ``holiday_country`` with their defaults (or ``overrides``)."""
    return {
        "horizon_days": horizon_days(overrides.get("horizon_days", 28)),
        "holiday_country": holiday_country(overrides.get("holiday_country", "US")),
    }
