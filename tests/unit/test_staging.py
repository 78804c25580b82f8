"""Staging: the one object that knows the staging files, on a local root and in memory."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pandas as pd
import pytest

from replenishment.staging import Staging, StagingError, run_key, runs, sweep

D = dt.date(2026, 7, 1)
T0 = dt.datetime(2026, 7, 1, 6, 0)


@pytest.fixture(params=["local", "memory"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A staging root: a local directory, or fsspec's in-memory filesystem."""
    if request.param == "local":
        yield str(tmp_path / "staging")
        return
    url = f"memory://staging-{uuid.uuid4().hex}"
    yield url
    fs, path = fsspec.core.url_to_fs(url)
    if fs.exists(path):
        fs.rm(path, recursive=True)


def _demand() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sku_id": ["A", "A", "B", "C"],
            "ds": pd.to_datetime(["2026-06-01", "2026-06-20", "2026-06-20", "2026-06-25"]),
            "y": [1.0, 2.0, 3.0, 4.0],
        }
    )


def _run(root: str, run_id: str = "manual__1") -> Staging:
    staging = Staging(root, run_key(D, run_id))
    staging.start(T0)
    return staging


def test_extract_round_trips_with_row_and_column_filters(root: str) -> None:
    staging = _run(root)
    sku = pd.DataFrame({"sku_id": ["A", "B", "C"], "active": [True, False, True]})
    staging.save_extract({"sku": sku, "demand": _demand()})

    pd.testing.assert_frame_equal(staging.read("sku"), sku)
    batch = staging.read("demand", sku_ids=["A", "C"])
    assert batch["sku_id"].tolist() == ["A", "A", "C"]
    recent = staging.read("demand", sku_ids=["A"], since=dt.date(2026, 6, 10), columns=["y"])
    assert list(recent.columns) == ["y"] and recent["y"].tolist() == [2.0]
    none = staging.read("demand", sku_ids=[])
    assert none.empty and list(none.columns) == ["sku_id", "ds", "y"]


def test_results_orders_quality_and_timings(root: str) -> None:
    staging = _run(root)
    part = pd.DataFrame({"sku_id": ["A"], "yhat": [1.5]})
    staging.save_batch(1, {"forecast": part.assign(sku_id="B"), "summary": part})
    staging.save_batch(0, {"forecast": part, "summary": part})
    batches = staging.batches()
    assert [b["forecast"]["sku_id"].tolist() for b in batches] == [["A"], ["B"]]
    assert set(batches[0]) == {"forecast", "summary"}
    staging.save_calibrated({"forecast": part})
    pd.testing.assert_frame_equal(staging.calibrated()["forecast"], part)
    assert len(staging.batches()) == 2, "the calibrated result is not a batch"

    orders = pd.DataFrame({"sku_id": ["A"], "order_qty": [12.0]})
    staging.save_orders(orders)
    pd.testing.assert_frame_equal(staging.orders(), orders)
    quality = pd.DataFrame({"suite": ["sku_master"], "success": [True]})
    staging.save_quality(quality)
    pd.testing.assert_frame_equal(staging.quality(), quality)

    staging.save_timing("forecast-0", T0, 2.5)
    staging.save_timing("load", T0, 1.0)
    assert staging.timings() == {
        "forecast-0": {"started_at": "2026-07-01T06:00:00", "seconds": 2.5},
        "load": {"started_at": "2026-07-01T06:00:00", "seconds": 1.0},
    }


def test_a_missing_file_names_the_run_folder(root: str) -> None:
    staging = _run(root)
    with pytest.raises(StagingError, match=r"2026-07-01/manual__1: no staged 'extract.sku'"):
        staging.read("sku")
    with pytest.raises(StagingError, match="no forecast batches found in .*manual__1"):
        staging.batches()


def test_two_runs_of_one_date_keep_their_own_files(root: str) -> None:
    first = _run(root, "scheduled__2026-07-01T00:00:00+00:00")
    first.save_orders(pd.DataFrame({"sku_id": ["A"], "order_qty": [1.0]}))
    second = _run(root, "manual__2026-07-01T09:30:00+00:00")  # starts clean: its own folder
    second.save_orders(pd.DataFrame({"sku_id": ["A"], "order_qty": [2.0]}))
    assert first.path != second.path
    assert set(runs(root)) == {first.run_key, second.run_key}

    second.cleanup()
    assert not second.exists()
    assert first.orders()["order_qty"].tolist() == [1.0]
    first.start(T0)  # a retry of the first stage starts that run over, only that run
    assert first.files() == ["run.json"]
    first.cleanup()
    assert runs(root) == {}


def test_sweep_deletes_only_runs_older_than_the_retention(root: str) -> None:
    old = Staging(root, run_key(D, "manual__old"))
    old.start(T0 - dt.timedelta(days=8))
    old.save_orders(pd.DataFrame({"sku_id": ["A"]}))
    recent = Staging(root, run_key(D, "manual__recent"))
    recent.start(T0 - dt.timedelta(days=6))

    assert sweep(root, 0, T0) == [], "0 keeps every run's files"
    assert sweep(root, 7, T0) == [old.run_key]
    assert not old.exists() and recent.exists()
    assert list(runs(root)) == [recent.run_key]


def test_a_location_that_cannot_be_written_fails_naming_it(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    staging = Staging(str(blocker / "staging"), run_key(D, "manual__1"))
    with pytest.raises(StagingError, match=r"staging location .*not-a-directory/staging/2026"):
        staging.start(T0)


def test_run_key_needs_a_run_id() -> None:
    with pytest.raises(ValueError, match="keyed by run"):
        run_key(D, "")


def test_url_hides_credentials() -> None:
    staging = Staging("memory://user:secret@bucket/prefix", "2026-07-01/x")
    assert "secret" not in staging.url and "secret" not in repr(staging)


def test_doctests() -> None:
    import doctest

    import replenishment.staging

    result = doctest.testmod(replenishment.staging)
    assert result.attempted >= 3 and result.failed == 0
