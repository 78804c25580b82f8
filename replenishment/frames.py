"""Small helpers over DataFrames shared by the order modules: column access, checks and
example values for error messages. Imports nothing of the project."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]
FloatOrArray = float | FloatArray


def sample(values: Iterable[Any], limit: int = 5) -> str:
    """Up to ``limit`` example values for an error message, with how many more."""
    items = [str(v) for v in values]
    shown = ", ".join(items[:limit])
    return shown + (f", … ({len(items) - limit} more)" if len(items) > limit else "")


def require_columns(name: str, frame: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name}: missing columns {missing}")


def require_unique(name: str, sku_ids: pd.Series) -> None:
    duplicated = sku_ids[sku_ids.duplicated()]
    if len(duplicated):
        raise ValueError(
            f"{name}: {len(duplicated)} duplicate sku_id rows ({sample(duplicated.unique())})"
        )


def float_col(frame: pd.DataFrame, column: str) -> FloatArray:
    """A numeric column as float64, anything unparsable as NaN."""
    values = pd.to_numeric(frame[column], errors="coerce")
    return np.asarray(values.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)


def to_naive_datetime(values: pd.Series) -> pd.Series:
    """Datetimes in UTC without a time zone; unparsable values NaT."""
    converted = pd.to_datetime(values, errors="coerce")
    if getattr(converted.dt, "tz", None) is not None:
        converted = converted.dt.tz_convert("UTC").dt.tz_localize(None)
    return converted


def text_col(frame: pd.DataFrame, column: str, default: str) -> npt.NDArray[np.object_]:
    if column not in frame:
        return np.full(len(frame), default, dtype=object)
    return np.asarray(
        frame[column].astype(object).where(frame[column].notna(), default), dtype=object
    )


def as_float_array(x: npt.ArrayLike) -> FloatArray:
    """``x`` as a float64 array."""
    return np.asarray(x, dtype=np.float64)


def scalar_or_array(x: FloatArray) -> FloatOrArray:
    """A Python float for 0-d results, the array otherwise."""
    return float(x) if x.ndim == 0 else x
