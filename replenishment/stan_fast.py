"""A lean path from Prophet to its Stan optimizer.

Prophet hands the optimizer its inputs through cmdstanpy, which writes them as
JSON with a pure-Python encoder and reads the result back through its own CSV
machinery; for a three-year daily series that costs several times what the
L-BFGS optimisation itself does. :class:`LeanProphet` is Prophet with a backend
that writes the same JSON with orjson, runs the same compiled model binary
(shipped inside the prophet wheel) and parses its one-line CSV output with
numpy. The optimisation, its settings and so its results are unchanged;
anything unexpected falls back to Prophet's own cmdstanpy path.

``OPTIMIZER_SECONDS`` accumulates the wall time spent inside the Stan binary
in this process, which the benchmark reports as the floor.
"""

from __future__ import annotations

import atexit
import importlib.resources
import logging
import shutil
import subprocess
import tempfile
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from prophet import Prophet
from prophet.models import CmdStanPyBackend

log = logging.getLogger(__name__)

OPTIMIZER_SECONDS = [0.0]
_WORKDIR: Path | None = None
_BACKEND: LeanBackend | None = None


def _workdir() -> Path:
    global _WORKDIR
    if _WORKDIR is None:
        _WORKDIR = Path(tempfile.mkdtemp(prefix="lean-stan-"))
        atexit.register(shutil.rmtree, _WORKDIR, ignore_errors=True)
    return _WORKDIR


def _model_exe() -> str:
    return str(importlib.resources.files("prophet") / "stan_model" / "prophet_model.bin")


class LeanBackend(CmdStanPyBackend):
    """CmdStanPyBackend whose MAP fit skips cmdstanpy's slow JSON/CSV handling."""

    def __init__(self) -> None:
        self._cmdstan_model: Any = None
        self.stan_fit = None
        self.newton_fallback = True
        self.exe = _model_exe()

    @property
    def model(self) -> Any:  # loaded only for the fallback path
        if self._cmdstan_model is None:
            self._cmdstan_model = CmdStanPyBackend.load_model(self)
        return self._cmdstan_model

    @model.setter
    def model(self, value: Any) -> None:
        self._cmdstan_model = value

    def fit(
        self, stan_init: dict[str, Any], stan_data: dict[str, Any], **kwargs: Any
    ) -> OrderedDict[str, np.ndarray]:
        if "init" in kwargs and "inits" not in kwargs:
            stan_init = self.sanitize_custom_inits(stan_init, kwargs.pop("init"))
        if kwargs:  # options this path does not know: Prophet's own path
            return super().fit(stan_init, stan_data, **kwargs)
        algorithm = "newton" if int(stan_data["T"]) < 100 else "lbfgs"
        try:
            return self._optimize(stan_init, stan_data, algorithm)
        except RuntimeError:
            if algorithm == "newton":
                raise
            log.debug("L-BFGS terminated abnormally; falling back to Newton")
            return self._optimize(stan_init, stan_data, "newton")

    def _optimize(
        self, init: dict[str, Any], data: dict[str, Any], algorithm: str
    ) -> OrderedDict[str, np.ndarray]:
        work = Path(tempfile.mkdtemp(dir=_workdir()))
        try:
            data_file, init_file, out_file = work / "d.json", work / "i.json", work / "o.csv"
            payload = {
                "T": int(data["T"]),
                "S": int(data["S"]),
                "K": int(data["K"]),
                "tau": float(data["tau"]),
                "trend_indicator": int(data["trend_indicator"]),
                "y": _arr(data["y"]),
                "t": _arr(data["t"]),
                "cap": _arr(data["cap"]),
                "t_change": _arr(data["t_change"]),
                "s_a": _arr(data["s_a"]),
                "s_m": _arr(data["s_m"]),
                "X": _arr(data["X"]),
                "sigmas": _arr(data["sigmas"]),
            }
            data_file.write_bytes(orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY))
            inits = {
                "k": float(np.asarray(init["k"]).reshape(-1)[0]),
                "m": float(np.asarray(init["m"]).reshape(-1)[0]),
                "delta": _arr(init["delta"]).reshape(-1),
                "beta": _arr(init["beta"]).reshape(-1),
                "sigma_obs": float(np.asarray(init["sigma_obs"]).reshape(-1)[0]),
            }
            init_file.write_bytes(orjson.dumps(inits, option=orjson.OPT_SERIALIZE_NUMPY))
            cmd = [
                self.exe,
                "optimize",
                f"algorithm={algorithm}",
                "iter=10000",
                "data",
                f"file={data_file}",
                f"init={init_file}",
                "output",
                f"file={out_file}",
                "refresh=0",
            ]
            started = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=work)
            OPTIMIZER_SECONDS[0] += time.perf_counter() - started
            if proc.returncode != 0 or not out_file.exists():
                raise RuntimeError(
                    f"Stan optimizer failed ({proc.returncode}): {proc.stdout[-500:]}"
                )
            names, values = _read_csv(out_file)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        params = self.stan_to_dict_numpy(names, values)
        for name in params:
            params[name] = params[name].reshape((1, -1))
        return params


def _arr(value: Any) -> np.ndarray:
    if hasattr(value, "to_numpy"):
        value = value.to_numpy()
    return np.ascontiguousarray(np.asarray(value, dtype=np.float64))


def _read_csv(path: Path) -> tuple[list[str], np.ndarray]:
    rows = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    if len(rows) < 2:
        raise RuntimeError(f"Stan optimizer wrote no estimates to {path}")
    names = rows[0].split(",")
    values = np.array([float(v) for v in rows[1].split(",")])
    return names, values


def _backend() -> LeanBackend:
    global _BACKEND
    if _BACKEND is None:
        _BACKEND = LeanBackend()
    return _BACKEND


_FEATURES: dict[tuple[Any, ...], Any] = {}
_FEATURES_MAX = 512


def _cached(key: tuple[Any, ...], make: Any) -> Any:
    if key not in _FEATURES:
        if len(_FEATURES) >= _FEATURES_MAX:
            _FEATURES.clear()
        _FEATURES[key] = make()
    return _FEATURES[key]


_DAY = np.timedelta64(1, "D")


def _day_positions(dates: Any) -> tuple[np.datetime64, np.datetime64, np.ndarray] | None:
    """(first, last, row positions in the daily range first..last), or None if not whole days."""
    values = np.asarray(dates.values, dtype="datetime64[ns]")
    if values.size == 0 or np.any(values != values.astype("datetime64[D]")):
        return None
    first, last = values.min(), values.max()
    return first, last, ((values - first) // _DAY).astype(np.int64)


def _full_range(first: np.datetime64, last: np.datetime64) -> Any:
    import pandas as pd

    return pd.Series(pd.date_range(first, last, freq="D"))


class LeanProphet(Prophet):
    """Prophet with :class:`LeanBackend` and memoised design matrices.

    Most SKUs share their calendar, so the Fourier terms, the holiday columns
    and the component map Prophet rebuilds for every fit and predict are
    computed once per process for each distinct set of dates and reused
    (copies are handed out, so nothing is shared mutably). Results are
    identical to Prophet's; only repeated work is skipped.
    """

    def _load_stan_backend(self, stan_backend: str | None) -> None:
        self.stan_backend = _backend()

    # Both feature kinds are functions of each date alone, so they are computed
    # once over the whole daily range and the rows of the dates asked for are
    # taken from it (a series with censored days has gaps in its dates).

    @staticmethod
    def fourier_series(dates: Any, period: float, series_order: int) -> Any:
        days = _day_positions(dates)
        if days is None:
            return Prophet.fourier_series(dates, period, series_order)
        first, last, pos = days
        key = ("fourier", first, last, float(period), int(series_order))
        full = _cached(
            key, lambda: Prophet.fourier_series(_full_range(first, last), period, series_order)
        )
        return full[pos]

    def make_holiday_features(self, dates: Any, holidays: Any) -> Any:
        import pandas as pd

        days = _day_positions(dates)
        if days is None:
            return Prophet.make_holiday_features(self, dates, holidays)
        first, last, pos = days
        key = (
            "holidays",
            first,
            last,
            int(pd.util.hash_pandas_object(holidays, index=False).sum()),
            tuple(holidays.columns),
            float(self.holidays_prior_scale),
        )
        features, scales, names = _cached(
            key, lambda: Prophet.make_holiday_features(self, _full_range(first, last), holidays)
        )
        if self.train_holiday_names is None:
            self.train_holiday_names = pd.Series(names)
        rows = features.iloc[pos].reset_index(drop=True)
        return rows, list(scales), list(names)

    def regressor_column_matrix(self, seasonal_features: Any, modes: Any) -> Any:
        key = (
            "components",
            tuple(seasonal_features.columns),
            tuple(modes["additive"]),
            tuple(modes["multiplicative"]),
            None if self.train_holiday_names is None else tuple(self.train_holiday_names),
            tuple(sorted((k, v["mode"]) for k, v in self.extra_regressors.items())),
            self.holidays_mode,
            None if self.train_component_cols is None else tuple(self.train_component_cols.columns),
        )
        cols, new_modes = _cached(
            key,
            lambda: Prophet.regressor_column_matrix(
                self, seasonal_features, {k: list(v) for k, v in modes.items()}
            ),
        )
        return cols.copy(), {k: list(v) for k, v in new_modes.items()}
