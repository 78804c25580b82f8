"""Unit tests of scripts/simulation_bars.py: the acceptance bars of issue 14 on a summary."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "simulation_bars.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("simulation_bars", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["simulation_bars"] = module
    spec.loader.exec_module(module)
    return module


bars = _script()


def _summary(**pipeline_all: float) -> pd.DataFrame:
    rows = []
    for policy in ("pipeline", "spreadsheet", "forecast_net"):
        for demand_class in ("all", "smooth", "erratic", "intermittent", "lumpy"):
            rows.append(
                {
                    "run_id": "r1",
                    "policy": policy,
                    "demand_class": demand_class,
                    "skus_with_cycles": 5,
                    "target_service_level": 0.95,
                    "cycle_service_level": 0.95,
                    "skus": 6,
                    "service_level_gap": 0.0,
                    "service_level_abs_gap": 0.01,
                    "lot_bound_skus": 1,
                    "controlled_service_level_gap": 0.0,
                    "fill_rate": 0.985,
                    "stockout_days": 100,
                    "avg_inventory_value": 1000.0,
                }
            )
    frame = pd.DataFrame(rows)
    is_pipe = (frame["policy"] == "pipeline") & (frame["demand_class"] == "all")
    for column, value in pipeline_all.items():
        frame.loc[is_pipe, column] = value
    return frame


def test_all_bars_pass_on_a_good_run() -> None:
    result = bars.evaluate(_summary(avg_inventory_value=800.0, stockout_days=90))
    assert [b.passed for b in result] == [True] * 7
    assert "-20%" in result[-1].value  # 800 against 1000


def test_the_class_bar_is_the_absolute_class_gap_and_classes_never_cancel() -> None:
    summary = _summary(avg_inventory_value=800.0)
    pipe = summary["policy"] == "pipeline"
    lumpy = pipe & (summary["demand_class"] == "lumpy")
    smooth = pipe & (summary["demand_class"] == "smooth")
    # lumpy 5 pp under, smooth 5 pp over: a signed mean over classes would say 0
    summary.loc[lumpy, "controlled_service_level_gap"] = -0.05
    summary.loc[smooth, "controlled_service_level_gap"] = 0.05
    # the gap over all SKUs, lot-bound ones included, is printed, not judged
    summary.loc[pipe & (summary["demand_class"] == "erratic"), "service_level_gap"] = 0.04
    result = bars.evaluate(summary)
    assert [b.passed for b in result[:5]] == [False, True, True, False, False]
    assert result[3].value.startswith("5.0 pp over the 5 SKUs the level controls")
    assert "mean |per-SKU gap| 1.0 pp" in result[3].value
    assert "+4.0 pp with 1 lot-bound" in result[1].value
    assert result[4].value == "2.50 pp"  # (5 + 0 + 0 + 5) / 4
    # the class gap's binomial noise is printed beside it, when the summary has it
    summary["controlled_gap_std_error"] = 0.016
    assert bars.evaluate(summary)[3].value.startswith("5.0 pp (standard error 1.6 pp) over")
    summary = summary.drop(columns="controlled_gap_std_error")
    # 1.8 pp fails on time (1.5 pp) and passes late (2 pp)
    summary.loc[lumpy | smooth, "controlled_service_level_gap"] = -0.018
    assert not bars.evaluate(summary, "on_time")[3].passed
    assert bars.evaluate(summary, "late")[3].passed
    assert bars.evaluate(summary, "late")[4].passed


def test_fill_rate_and_baseline_bars() -> None:
    low_fill = bars.evaluate(_summary(fill_rate=0.975, avg_inventory_value=500.0))
    assert not low_fill[5].passed  # < 98 %
    assert not low_fill[6].passed  # less stock, but worse fill than the spreadsheet
    assert bars.evaluate(_summary(fill_rate=0.975), "late")[5].passed  # >= 97 % late
    # neither 15 % less inventory (-10 %) nor 30 % fewer stock-out days (-20 %)
    assert not bars.evaluate(_summary(avg_inventory_value=900.0, stockout_days=80))[6].passed
    assert bars.evaluate(_summary(avg_inventory_value=1200.0, stockout_days=70))[6].passed


def test_a_missing_class_fails_its_bar() -> None:
    summary = _summary(avg_inventory_value=800.0)
    summary = summary[summary["demand_class"] != "erratic"]
    result = bars.evaluate(summary)
    assert not result[1].passed and "no SKU" in result[1].value
    assert not result[4].passed  # the mean needs all four classes


def test_main_reads_a_csv_and_infers_the_late_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "summary.csv"
    summary = _summary(fill_rate=0.975, avg_inventory_value=800.0)
    summary.loc[summary["policy"] == "spreadsheet", "fill_rate"] = 0.97
    summary.assign(run_id="2026-01-01+180d-periodic-lost_sales-refit28-late3").to_csv(
        path, index=False
    )
    assert bars.main(["--csv", str(path)]) == 0
    out = capsys.readouterr().out
    assert "(late)" in out and "PASS  fill rate >= 97%" in out
    assert bars.main(["--csv", str(path), "--scenario", "on_time"]) == 1
    assert "FAIL  fill rate >= 98%" in capsys.readouterr().out
