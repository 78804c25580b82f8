"""The run report's demand charts: inline SVG in the colours of the Replenishment page.

One chart per SKU: actual daily demand (0 on a day without sales) from the first day
observed in the window up to the day before the run date, the forecast and its interval
after it. On a stock-out day (ended with nothing on hand) the sales are censored demand,
not demand: the line of actuals stops there, a red band covers those days and a red bar
marks them on the axis, as the page marks them. The interval is a band where its lower
end is above 0 and only its upper bound, dashed, where it was clipped at 0 (a fill down
to the axis would read as a block of demand). The date axis is labelled at each month's
first day (``YYYY-MM``), the run date is a dashed line, the y axis is in units per day.
No script, no network.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable

import pandas as pd

from replenishment.order_file import format_number

#: The page's colours (``plugins/replenishment_ui/static/page.css``, ``:root``): actual
#: demand, forecast, its interval, stock-out days; and the grid, axis and muted text.
COLOURS = {
    "actual": "#2563eb",
    "fc": "#ea580c",
    "band": "rgba(234,88,12,.18)",
    "stock": "#dc2626",
    "muted": "#6b7280",
    "line": "#e5e7eb",
    "axis": "#9ca3af",
}
W, H, LEFT, RIGHT, TOP, BOTTOM = 640, 210, 48, 10, 16, 24
DAY = pd.Timedelta(days=1)


def nice_max(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at least ``value`` (1 if not > 0).

    >>> nice_max(0.0), nice_max(7.3), nice_max(21.0), nice_max(1000.0)
    (1.0, 10.0, 25.0, 1000.0)
    """
    if not value > 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next((m * power for m in (1, 2, 2.5, 5) if m * power >= value), 10 * power)


def _runs(days: Iterable[pd.Timestamp], flags: Iterable[bool]) -> list[tuple[bool, list[int]]]:
    """Indexes of consecutive days grouped by flag: [(flag, [i, ...]), ...]."""
    out: list[tuple[bool, list[int]]] = []
    for i, (_, flag) in enumerate(zip(days, flags, strict=True)):
        if out and out[-1][0] == flag:
            out[-1][1].append(i)
        else:
            out.append((flag, [i]))
    return out


def daily_actuals(
    history: pd.DataFrame, stockouts: pd.DataFrame, since: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """One row per day (ds, y, stockout) from the first day with sales or a stock-out (at
    the earliest ``since``) to ``end`` inclusive: units sold (0 without sales), stock-out."""
    sold = history.assign(ds=pd.to_datetime(history["ds"])).groupby("ds")["y"].sum()
    out_days = set(pd.to_datetime(stockouts["ds"]))
    observed = [d for d in [*sold.index, *out_days] if since <= d <= end]
    if not observed:
        return pd.DataFrame({"ds": pd.DatetimeIndex([]), "y": [], "stockout": []})
    days = pd.date_range(min(observed), end, freq="D")
    return pd.DataFrame(
        {
            "ds": days,
            "y": sold.reindex(days, fill_value=0.0).to_numpy(dtype=float),
            "stockout": [d in out_days for d in days],
        }
    )


class _Frame:
    """Day and value -> SVG coordinates of one chart."""

    def __init__(self, first: pd.Timestamp, last: pd.Timestamp, top: float) -> None:
        self.first, self.last, self.top = first, last, top
        self.step = (W - LEFT - RIGHT) / max(1, (last - first).days + 1)

    def x(self, day: pd.Timestamp) -> float:
        return float(LEFT + ((day - self.first).days + 0.5) * self.step)

    def y(self, value: float) -> float:
        return TOP + (H - TOP - BOTTOM) * (1 - float(value) / self.top)

    def points(self, days: Iterable[pd.Timestamp], values: Iterable[float]) -> str:
        return " ".join(
            f"{self.x(d):.1f},{self.y(v):.1f}" for d, v in zip(days, values, strict=True)
        )


def _axes(f: _Frame, run_date: pd.Timestamp) -> list[str]:
    c = COLOURS
    parts = []
    for i in range(3):
        v = f.top * i / 2
        decimals = 1 if f.top < 10 and v != int(v) else 0
        parts.append(
            f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{f.y(v):.1f}" y2="{f.y(v):.1f}" stroke="{c["line"]}"/>'
            f'<text x="{LEFT - 4}" y="{f.y(v) + 4:.1f}" text-anchor="end">{format_number(v, decimals)}</text>'
        )
    parts.append(
        f'<text x="{LEFT}" y="{TOP - 5}">units per day</text>'
        f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{H - BOTTOM}" y2="{H - BOTTOM}" stroke="{c["axis"]}"/>'
    )
    months = [d for d in pd.date_range(f.first, f.last, freq="D") if d.day == 1]
    labelled = months or [f.first]  # a window inside one month: its first day
    for d in labelled:
        label = d.strftime("%Y-%m") if months else d.strftime("%Y-%m-%d")
        parts.append(
            f'<line class="tick" x1="{f.x(d):.1f}" x2="{f.x(d):.1f}" y1="{H - BOTTOM}" '
            f'y2="{H - BOTTOM + 4}" stroke="{c["axis"]}"/>'
            f'<text class="date" x="{f.x(d):.1f}" y="{H - 8}" text-anchor="middle">{label}</text>'
        )
    xr = f.x(run_date) - f.step / 2
    parts.append(
        f'<line class="run-date" x1="{xr:.1f}" x2="{xr:.1f}" y1="{TOP}" y2="{H - BOTTOM}" '
        f'stroke="{c["muted"]}" stroke-dasharray="4 3"/>'
        f'<text x="{xr + 4:.1f}" y="{TOP + 10}">run date {run_date.date().isoformat()}</text>'
    )
    return parts


def _stockout_marks(f: _Frame, actual: pd.DataFrame) -> list[str]:
    """A red band and an axis bar over each run of consecutive stock-out days."""
    parts = []
    days = list(actual["ds"])
    for out, idx in _runs(days, actual["stockout"]):
        if not out:
            continue
        a, b = days[idx[0]], days[idx[-1]]
        x0, width = f.x(a) - f.step / 2, max(f.step * len(idx), 2.0)
        span = a.date().isoformat() + ("" if a == b else f" – {b.date().isoformat()}")
        parts.append(
            f'<g class="stockout"><title>stock-out {span}: sales censored, not demand</title>'
            f'<rect x="{x0:.1f}" y="{TOP}" width="{width:.1f}" height="{H - TOP - BOTTOM}" '
            f'fill="{COLOURS["stock"]}" opacity="0.12"/>'
            f'<rect x="{x0:.1f}" y="{H - BOTTOM - 4}" width="{width:.1f}" height="4" '
            f'fill="{COLOURS["stock"]}"/></g>'
        )
    return parts


def _segment(f: _Frame, days: list[pd.Timestamp], values: list[float]) -> str:
    """Actual demand of consecutive days as a line; a lone day as a dot (a one-point
    polyline would not show)."""
    colour = COLOURS["actual"]
    if len(days) == 1:
        cx, cy = f.x(days[0]), f.y(values[0])
        return f'<circle class="actual" cx="{cx:.1f}" cy="{cy:.1f}" r="1.5" fill="{colour}"/>'
    return (
        f'<polyline class="actual" points="{f.points(days, values)}" fill="none" '
        f'stroke="{colour}" stroke-width="1.6"/>'
    )


def _series(f: _Frame, actual: pd.DataFrame, fc: pd.DataFrame) -> list[str]:
    parts = []
    days, values = list(actual["ds"]), list(actual["y"])
    for out, idx in _runs(days, actual["stockout"]):
        if not out:  # the line stops on stock-out days: their sales are not demand
            seg_days, seg_values = [days[i] for i in idx], [values[i] for i in idx]
            parts.append(_segment(f, seg_days, seg_values))
    fdays = list(fc["forecast_date"])
    for banded, idx in _runs(fdays, fc["yhat_lower"] > 0):
        up = [(fdays[i], fc["yhat_upper"].iloc[i]) for i in idx]
        if banded:
            lo = [(fdays[i], fc["yhat_lower"].iloc[i]) for i in reversed(idx)]
            pts = f.points([d for d, _ in up + lo], [v for _, v in up + lo])
            parts.append(f'<polygon class="band" points="{pts}" fill="{COLOURS["band"]}"/>')
        else:
            pts = f.points([d for d, _ in up], [v for _, v in up])
            parts.append(
                f'<polyline class="band-clipped" points="{pts}" fill="none" stroke="{COLOURS["fc"]}" '
                'stroke-width="1" stroke-dasharray="3 3" opacity="0.7"/>'
            )
    if len(fdays):
        parts.append(
            f'<polyline class="forecast" points="{f.points(fdays, fc["yhat"])}" fill="none" '
            f'stroke="{COLOURS["fc"]}" stroke-width="2"/>'
        )
    return parts


def chart(
    sku_id: str,
    run_date: pd.Timestamp,
    actual: pd.DataFrame,
    forecast: pd.DataFrame,
    caption: str = "",
) -> str:
    """One SKU's chart as a ``<figure>``. actual: :func:`daily_actuals` of the SKU;
    forecast: forecast_date, yhat, yhat_lower, yhat_upper (units/day) of the SKU."""
    fc = forecast.assign(forecast_date=pd.to_datetime(forecast["forecast_date"]))
    fc = fc.sort_values("forecast_date")
    days = [*actual["ds"], *fc["forecast_date"]]
    if not days:
        return ""
    peak = max([1.0, *actual["y"], *fc["yhat_upper"]])
    f = _Frame(min(days), max(days), nice_max(peak * 1.05))
    name = html.escape(sku_id)
    body = "".join([*_axes(f, run_date), *_stockout_marks(f, actual), *_series(f, actual, fc)])
    return (
        f"<figure><figcaption><b>{name}</b>{html.escape(caption)}</figcaption>"
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
        f'role="img" aria-label="demand and forecast of {name}">{body}</svg></figure>'
    )
