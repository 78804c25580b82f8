"""Prophet's features and holidays without Prophet: the same values as Prophet's own, and a
forecast worker that imports Prophet only when a SKU falls back to Stan."""

from __future__ import annotations

import ast
import datetime as dt
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from prophet.make_holidays import make_holidays_df

from replenishment.forecast import ForecastConfig, ForecastResult, holidays_frame
from replenishment.forecast import prophet_batch as pb
from replenishment.forecast import prophet_features as pf
from replenishment.forecast.models import ModelContext
from replenishment.forecast.workers import _write_chunk

RUN_DATE = dt.date(2026, 7, 1)


def test_holidays_frame_is_prophets():
    ours = holidays_frame("US", RUN_DATE, 200)  # the horizon reaches into 2027
    pd.testing.assert_frame_equal(
        ours, make_holidays_df(year_list=list(range(2022, 2028)), country="US")
    )
    assert ours["ds"].dt.year.max() == 2027
    pd.testing.assert_frame_equal(
        holidays_frame("DE", RUN_DATE, 28),
        make_holidays_df(year_list=list(range(2022, 2027)), country="DE"),
    )
    with pytest.raises(ValueError, match="'XX' is not a known country code"):
        holidays_frame("XX", RUN_DATE, 28)


@pytest.mark.parametrize("yearly", [False, True])
@pytest.mark.parametrize("promo", [False, True])
@pytest.mark.parametrize(
    ("first", "last", "country"),
    [("2023-06-20", "2026-07-28", "US"), ("2026-01-02", "2026-03-01", "GB"), (None, None, "")],
)
def test_feature_matrix_is_prophets_to_the_bit(yearly, promo, first, last, country):
    holidays = holidays_frame(country, RUN_DATE, 28) if country else None
    first, last = np.datetime64(first or "2025-12-25"), np.datetime64(last or "2026-02-10")
    context = ModelContext(holidays, 0.8)
    ours = pb.features(context, first, last, yearly, promo)
    prophets = pb._prophet_features(context, first, last, yearly, promo)  # Prophet's preprocess
    assert ours.x.shape == prophets.x.shape
    assert np.array_equal(ours.x, prophets.x)  # the same floats, not just close ones
    assert ours.x.flags["F_CONTIGUOUS"] == prophets.x.flags["F_CONTIGUOUS"]
    assert np.array_equal(ours.sigmas, prophets.sigmas)
    assert (ours.first, ours.promo_column, ours.tau) == (
        prophets.first,
        prophets.promo_column,
        prophets.tau,
    )
    if holidays is not None:  # holidays outside the grid still have their (zero) column
        assert ours.x.shape[1] == 6 + 20 * yearly + holidays["holiday"].nunique() + promo


def test_holidays_with_windows_go_to_prophets_builder():
    holidays = pd.DataFrame(
        {"ds": pd.to_datetime(["2026-02-14"]), "holiday": ["valentine"], "lower_window": [-1]}
    )
    holidays["upper_window"] = 1
    assert not pf.is_plain(holidays)
    context = ModelContext(holidays, 0.8)
    f = pb.features(context, np.datetime64("2026-02-01"), np.datetime64("2026-02-28"), False, False)
    assert f.x.shape[1] == 6 + 3  # weekly terms and the day before, of and after
    with pytest.raises(ValueError, match="windows"):
        pf.feature_matrix(holidays, np.datetime64("2026-02-01"), np.datetime64("2026-02-28"), 0, 0)


_PROBE = (
    "import sys; from replenishment.forecast.workers import worker_main; "
    "worker_main(sys.argv[1]); "
    "print(sorted(m for m in ('prophet', 'cmdstanpy', 'matplotlib') if m in sys.modules))"
)


def _worker_imports(tmp: Path, constant_sku: bool) -> list[str]:
    """What of Prophet a forecast worker imported, on 8 Poisson SKUs (and a constant one)."""
    days = pd.date_range(end="2026-06-30", periods=800, freq="D")
    rng = np.random.default_rng(3)
    ids = [f"P{i}" for i in range(8)] + (["CONST"] if constant_sku else [])
    demand = pd.concat(
        pd.DataFrame(
            {"sku_id": s, "ds": days, "y": 5.0 if s == "CONST" else rng.poisson(8.0, days.size)}
        )
        for s in ids
    )
    stockouts = pd.DataFrame({"sku_id": pd.Series(dtype=str), "ds": pd.Series(dtype="M8[ns]")})
    promotions = pd.DataFrame(
        {"sku_id": pd.Series(dtype=str)}
        | {c: pd.Series(dtype="M8[ns]") for c in ("start_date", "end_date")}
    )
    cfg = ForecastConfig(
        run_date=RUN_DATE, horizon_days=7, backtest_every_days=1, only=("prophet",)
    )
    tmp.mkdir()
    _write_chunk(tmp / "chunk", ids, demand, stockouts, promotions, cfg, None)
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(tmp / "chunk")],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = ForecastResult.load(tmp / "chunk", "out").summary
    assert (summary["model"] == "prophet").all() and len(summary) == len(ids)
    return list(ast.literal_eval(out.stdout.strip().splitlines()[-1]))


def test_worker_does_not_import_prophet_unless_a_sku_falls_back_to_stan(tmp_path):
    assert _worker_imports(tmp_path / "batched", constant_sku=False) == []
    # a constant history is not the solver's (Prophet fits no model): Stan, so Prophet
    # (the lean Stan path runs the model binary itself: cmdstanpy may stay out even then)
    assert "prophet" in _worker_imports(tmp_path / "stan", constant_sku=True)
