"""The data-quality gate's cost, side by side: this checkout's suites against an earlier
revision's, on the same warehouse, in one run, alternating so drift hits both alike.

    python scripts/bench_gate.py --url postgresql+psycopg2://postgres@127.0.0.1:5432/bench10k \\
        --before fa0818a^ --repeat 2

Each measurement is a fresh process (``validate_sources`` for the demo run date, Data Docs
into a scratch folder) with the revision's package and suites on its path; the earlier
revision is checked out into a temporary git worktree. Prints seconds per suite and in
total for each revision (the median over ``--repeat``), and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN_DATE = "2026-07-01"

_MEASURE = r"""
import datetime as dt, json, sys, tempfile, time
import replenishment.validate as v
from replenishment.db import make_engine
times = {}
original = v._run_suite
def timed(context, datasource, engine, plan, *args, **kwargs):
    started = time.perf_counter()
    try:
        return original(context, datasource, engine, plan, *args, **kwargs)
    finally:
        times[plan.spec.name] = time.perf_counter() - started
v._run_suite = timed
engine = make_engine(sys.argv[1])
started = time.perf_counter()
report = v.validate_sources(engine, dt.date.fromisoformat(sys.argv[2]), tempfile.mkdtemp())
times["total"] = time.perf_counter() - started
print("RESULT " + json.dumps(times))
"""


def measure(checkout: Path, url: str) -> dict[str, float]:
    """One validation of ``url`` by the package in ``checkout``: seconds per suite, total."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    env.pop("REPLENISHMENT_INCLUDE_DIR", None)  # each revision reads its own suites
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, url, RUN_DATE],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    return {k: float(v) for k, v in json.loads(line[len("RESULT ") :]).items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True, help="SQLAlchemy URL of the warehouse")
    parser.add_argument("--before", required=True, help="git revision to compare with")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gate-before-") as tmp:
        before = Path(tmp) / "checkout"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(before), args.before],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        try:
            runs: dict[str, list[dict[str, float]]] = {"before": [], "now": []}
            for i in range(args.repeat):
                for name, checkout in (("before", before), ("now", ROOT)):
                    runs[name].append(measure(checkout, args.url))
                    print(f"run {i + 1} {name}: {runs[name][-1]['total']:.1f} s", flush=True)
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(before)], cwd=ROOT, check=False
            )
    suites = sorted({k for r in runs["now"] + runs["before"] for k in r} - {"total"}) + ["total"]
    print(f"\n{'suite':<22}{'before (s)':>12}{'now (s)':>10}{'now/before':>12}")
    for s in suites:
        b = statistics.median(r.get(s, 0.0) for r in runs["before"])
        n = statistics.median(r.get(s, 0.0) for r in runs["now"])
        print(f"{s:<22}{b:>12.1f}{n:>10.1f}{(n / b if b else float('nan')):>12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
