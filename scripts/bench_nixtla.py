"""Nixtla statsforecast against the hand-written models of ``replenishment.forecast.statistical``.

For the decision "move to pandas 2.x for statsforecast/mlforecast, or keep pandas 3.1 with
hand-written models": on the same daily series (the demo warehouse's ``order_lines``,
status <> 'cancelled', quantity summed per SKU and day of ``order_ts``, missing days 0,
from each SKU's first sale to the warehouse's last day), in one run on this machine:

  import      seconds to import the models in a fresh process (wall; CPU alongside)
  first call  seconds the first fit + forecast of one series in that process takes more
              than the same call again (statsforecast 2.1 has no numba: its models are
              C++; mlforecast's and numba's import and a first njit compile are timed too)
  cpu-ms      fit + forecast CPU per series, h = 28, one process, no parallelism
  agreement   mean |ours - statsforecast| over the series and the 28 days, relative to
              the mean daily demand; also the median and p95 of that ratio per series

Both halves run as fresh subprocesses: ours with this interpreter (the project's venv),
statsforecast's with ``--side-venv`` (a virtualenv with ``statsforecast==2.1.*`` and
``pandas<3``; without it only our half runs). The worker modes import only numpy at the
top, so this file runs in either venv::

    python scripts/bench_nixtla.py --url sqlite:////tmp/demo1k.db --side-venv /tmp/sfenv

Make the 1,000-SKU warehouse with
``python -m replenishment.demo --skus 1000 --url sqlite:////tmp/demo1k.db``.

Run of 2026-12-02 on the 2-core dev machine (another job running: CPU figures are per
process, wall figures inflated), 1,000 series of 23..1,096 days (mean 1,042), 20.3/day:

  model              ours ms  sf ms   |diff|/demand (median, p95)
  ets / AutoETS(7)     1.66   179.7   0.030 (0.009, 0.23)  AutoETS picks other models too
  ets / AutoETS ANA    1.66    22.1   0.012 (0.003, 0.068) same model, other optimiser
  theta / Theta(7)     0.76    34.2   0.0016 (0.000, 0.0025)
  tsb                  0.07     0.17  3e-16
  adida                0.38     0.23  2e-7
  imapa                0.62     0.29  5e-7 (one series 2%: a non-unimodal SES loss)

  import: ours 0.29 s CPU (0.7 s wall, pandas included); statsforecast 1.6 s CPU (4.1 s
  wall); mlforecast 1.5 s, numba 0.2 s, a first njit compile 0.7 s; first-call warm-up
  of every model, ours and statsforecast's, < 0.02 s (statsforecast 2.1 has no numba).
  Side venv: pip install statsforecast==2.1.* 'pandas<3' 24 s, 584 MB; mlforecast and
  numba 10.5 s, 304 MB more (llvmlite 180, scipy 143, pyarrow 176, statsmodels 61 MB).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

H = 28
#: (our model name, statsforecast model expression, label)
PAIRS = [
    ("ets", "AutoETS(season_length=7)", "AutoETS(7)"),
    ("ets", "AutoETS(season_length=7, model='ANA')", "AutoETS(7, ANA)"),
    ("theta", "Theta(season_length=7)", "Theta(7)"),
    ("tsb", "TSB(alpha_d=0.1, alpha_p=0.1)", "TSB(0.1, 0.1)"),
    ("adida", "ADIDA()", "ADIDA"),
    ("imapa", "IMAPA()", "IMAPA"),
]
OURS = ["ets", "theta", "tsb", "adida", "imapa"]


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def load_series(url: str, skus: int) -> list[np.ndarray]:
    """Daily demand per SKU (sorted ids, the first ``skus``) from a SQLite warehouse."""
    path = url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as con:
        rows = con.execute(
            "SELECT sku_id, CAST(julianday(date(order_ts)) AS INTEGER), SUM(quantity) "
            "FROM order_lines WHERE status <> 'cancelled' GROUP BY 1, 2"
        ).fetchall()
    ids = sorted({r[0] for r in rows})[:skus]
    index = {sku: i for i, sku in enumerate(ids)}
    end = max(r[1] for r in rows)
    first = dict.fromkeys(range(len(ids)), end)
    for sku, day, _ in rows:
        if sku in index:
            first[index[sku]] = min(first[index[sku]], day)
    series = [np.zeros(end - first[i] + 1) for i in range(len(ids))]
    for sku, day, qty in rows:
        if sku in index:
            series[index[sku]][day - first[index[sku]]] += qty
    return series


def fresh(python: str, code: str) -> float:
    """Seconds a fresh ``python -c code`` prints."""
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def _first_call(call: Any) -> float:
    """Seconds the first ``call`` takes more than a second one (the one-off warm-up)."""
    started = time.perf_counter()
    call()
    first = time.perf_counter() - started
    started = time.perf_counter()
    call()
    return first - (time.perf_counter() - started)


def _timed_import(stmt: str) -> str:
    return f"import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"


# --------------------------------------------------------------------------- workers


def ours_worker(inp: str, out: str) -> None:
    """Our half, in a fresh process of the project's venv."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    import pandas as pd

    from replenishment.forecast.models import MODELS, History, Horizon, Job, ModelContext
    from replenishment.forecast.statistical import run_batched

    result: dict[str, Any] = {
        "import_s": time.perf_counter() - wall,
        "import_cpu_s": cpu_seconds() - cpu,
    }
    data = np.load(inp)
    ys = np.split(data["y"], np.cumsum(data["lengths"])[:-1])
    context = ModelContext(holidays=None, interval_width=0.9)
    end = pd.Timestamp("2026-06-30")
    future = pd.date_range(end + pd.Timedelta(days=1), periods=H, freq="D")

    def job(i: int, y: np.ndarray) -> Job:
        dates = pd.date_range(end=end, periods=y.size, freq="D")
        history = History(dates, y, np.zeros(y.size))
        return Job(f"s{i:04d}", history, Horizon(future, np.zeros(H)))

    jobs = [job(i, y) for i, y in enumerate(ys)]
    forecasts = {}
    for name in OURS:
        cls = MODELS[name]
        first = _first_call(lambda cls=cls: run_batched(cls.batch, ys[:1], H))
        cpu = cpu_seconds()
        outcomes = cls.forecast_many(jobs, context)
        per_series = (cpu_seconds() - cpu) / len(jobs)
        failed = sum(not hasattr(o, "future") for o in outcomes)
        forecasts[name] = np.array(
            [o.future.mean if hasattr(o, "future") else np.full(H, np.nan) for o in outcomes]
        )
        result[name] = {"cpu_ms": per_series * 1e3, "first_s": first, "failed": failed}
    np.savez(out, **forecasts)
    Path(out + ".json").write_text(json.dumps(result))


def statsforecast_worker(inp: str, out: str) -> None:
    """The statsforecast half, in a fresh process of the side venv."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    import pandas as pd
    import statsforecast
    from statsforecast import StatsForecast
    from statsforecast.models import ADIDA, IMAPA, TSB, AutoETS, Theta  # noqa: F401

    result: dict[str, Any] = {
        "import_s": time.perf_counter() - wall,
        "import_cpu_s": cpu_seconds() - cpu,
        "version": statsforecast.__version__,
        "pandas": pd.__version__,
    }
    data = np.load(inp)
    lengths = data["lengths"]
    end = pd.Timestamp("2026-06-30")
    ds = np.concatenate([pd.date_range(end=end, periods=n, freq="D").to_numpy() for n in lengths])
    ids = np.repeat([f"s{i:04d}" for i in range(lengths.size)], lengths)
    frame = pd.DataFrame({"unique_id": ids, "ds": ds, "y": data["y"]})
    one = frame[frame["unique_id"] == "s0000"]
    forecasts = {}
    for _, expr, label in PAIRS:
        model = eval(expr)  # the expressions of PAIRS above
        first = _first_call(
            lambda model=model: StatsForecast(models=[model], freq="D", n_jobs=1).forecast(
                df=one, h=H
            )
        )
        cpu = cpu_seconds()
        fc = StatsForecast(models=[model], freq="D", n_jobs=1).forecast(df=frame, h=H)
        per_series = (cpu_seconds() - cpu) / lengths.size
        column = [c for c in fc.columns if c not in ("unique_id", "ds")][0]
        fc = fc.sort_values(["unique_id", "ds"])
        forecasts[label] = fc[column].to_numpy(dtype=float).reshape(lengths.size, H)
        result[label] = {"cpu_ms": per_series * 1e3, "first_s": first}
    np.savez(out, **forecasts)
    py = sys.executable
    result["mlforecast_import_s"] = fresh(py, _timed_import("import mlforecast"))
    result["numba_import_s"] = fresh(py, _timed_import("import numba"))
    result["numba_first_jit_s"] = fresh(
        py,
        "import numba, numpy as np, time\n"
        "f = numba.njit(lambda x: (x * x).sum())\n"
        "t = time.perf_counter(); f(np.ones(3)); print(time.perf_counter() - t)",
    )
    result["sizes_mb"] = _dist_sizes()
    Path(out + ".json").write_text(json.dumps(result))


def _dist_sizes() -> dict[str, float]:
    """Installed size (MB) of the side venv's main distributions."""
    from importlib import metadata

    sizes = {}
    for name in (
        "statsforecast",
        "mlforecast",
        "numba",
        "llvmlite",
        "coreforecast",
        "statsmodels",
        "scipy",
        "scikit-learn",
        "pandas",
        "pyarrow",
        "optuna",
    ):
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        total = sum(
            os.path.getsize(dist.locate_file(f))
            for f in dist.files or []
            if os.path.exists(dist.locate_file(f))
        )
        sizes[name] = total / 1e6
    return sizes


# --------------------------------------------------------------------------- report


def agreement(
    ours: np.ndarray, theirs: np.ndarray, demand: np.ndarray
) -> tuple[float, float, float]:
    """(mean |diff| / mean demand, median and p95 over series of each one's ratio)."""
    ok = np.isfinite(ours).all(1) & np.isfinite(theirs).all(1) & (demand > 0)
    diff = np.abs(ours[ok] - theirs[ok]).mean(axis=1)
    ratio = diff / demand[ok]
    return (
        float(diff.mean() / demand[ok].mean()),
        float(np.median(ratio)),
        float(np.quantile(ratio, 0.95)),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="sqlite:////tmp/demo1k.db")
    parser.add_argument("--skus", type=int, default=1000)
    parser.add_argument("--side-venv", help="virtualenv with statsforecast 2.1 and pandas < 3")
    parser.add_argument("--save", help="also write both halves' forecasts to this .npz")
    parser.add_argument("--worker", choices=["ours", "statsforecast"], help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "ours":
        return ours_worker(*args.paths)
    if args.worker == "statsforecast":
        return statsforecast_worker(*args.paths)
    series = load_series(args.url, args.skus)
    demand = np.array([y.mean() for y in series])
    lengths = np.array([y.size for y in series])
    print(
        f"{len(series)} series from {args.url}: {lengths.min()}..{lengths.max()} days (mean {lengths.mean():.0f}), mean demand {demand.mean():.2f}/day"
    )
    with tempfile.TemporaryDirectory() as tmp:
        inp = os.path.join(tmp, "series.npz")
        np.savez(inp, y=np.concatenate(series), lengths=lengths)
        runs = {"ours": sys.executable}
        if args.side_venv:
            runs["statsforecast"] = str(Path(args.side_venv) / "bin" / "python")
        results, forecasts = {}, {}
        for half, python in runs.items():
            out = os.path.join(tmp, f"{half}.npz")
            subprocess.run([python, __file__, "--worker", half, inp, out], check=True)
            results[half] = json.loads(Path(out + ".json").read_text())
            forecasts[half] = dict(np.load(out))
    if args.save:
        flat = {f"{half}/{k}": v for half, fc in forecasts.items() for k, v in fc.items()}
        np.savez(args.save, demand=demand, lengths=lengths, **flat)
    report(results, forecasts, demand)


def report(results: dict[str, Any], forecasts: dict[str, Any], demand: np.ndarray) -> None:
    ours = results["ours"]
    theirs = results.get("statsforecast")
    print(
        f"\nimport (fresh process): ours {ours['import_s']:.2f} s wall, {ours['import_cpu_s']:.2f} s CPU",
        end="",
    )
    if theirs:
        print(
            f"; statsforecast {theirs['version']} (pandas {theirs['pandas']}) {theirs['import_s']:.2f} s wall, {theirs['import_cpu_s']:.2f} s CPU"
        )
        print(
            f"mlforecast import {theirs['mlforecast_import_s']:.2f} s, numba import {theirs['numba_import_s']:.2f} s, numba first njit compile {theirs['numba_first_jit_s']:.2f} s"
        )
        print(
            "side venv sizes (MB): "
            + ", ".join(f"{k} {v:.0f}" for k, v in theirs["sizes_mb"].items())
        )
    print()
    print(
        f"{'model':<16} {'ours ms':>8} {'sf ms':>8} {'ours 1st s':>10} {'sf 1st s':>9} {'|diff|/demand':>13} {'median':>7} {'p95':>7}"
    )
    for name, _, label in PAIRS:
        mine = ours[name]
        row = f"{name + ' / ' + label:<16} {mine['cpu_ms']:8.2f}"
        if theirs:
            agree = agreement(forecasts["ours"][name], forecasts["statsforecast"][label], demand)
            row += f" {theirs[label]['cpu_ms']:8.2f} {mine['first_s']:10.3f} {theirs[label]['first_s']:9.3f}"
            row += f" {agree[0]:13.4f} {agree[1]:7.4f} {agree[2]:7.4f}"
        else:
            row += f" {'':>8} {mine['first_s']:10.3f}"
        print(row + (f"  ({mine['failed']} failed)" if mine["failed"] else ""))


if __name__ == "__main__":
    main()
