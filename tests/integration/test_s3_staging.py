"""Staging in a real S3 server (SeaweedFS): same rows as local staging, runs kept apart."""

from __future__ import annotations

import datetime as dt

import pytest

from replenishment.cli import main
from replenishment.config import Settings
from replenishment.pipeline import (
    plan_batches,
    run_pipeline,
    run_staging,
    stage_extract,
    stage_forecast,
    stage_load,
    stage_replenish,
    stage_validate,
)
from replenishment.staging import Staging, StagingError, run_key, runs
from tests.s3_server import S3Server
from tests.support import RUN_DATE, assert_same_outputs, check_contract, outputs

pytestmark = pytest.mark.slow


def _run_args(url: str, staging: str, tmp_path) -> list[str]:
    args = ["run", "--date", RUN_DATE.isoformat(), "--url", url, "--staging-dir", staging]
    return [*args, "--data-docs-dir", str(tmp_path / "docs")]


def test_demo_run_with_s3_staging_gives_the_rows_of_local_staging(
    sqlite_warehouse: str, s3_env: S3Server, tmp_path
) -> None:
    assert main(_run_args(sqlite_warehouse, str(tmp_path / "staging"), tmp_path)) == 0
    local = check_contract(sqlite_warehouse, RUN_DATE)

    root = s3_env.url("demo")
    assert main(_run_args(sqlite_warehouse, root, tmp_path)) == 0
    assert_same_outputs(local, outputs(sqlite_warehouse, RUN_DATE))
    assert runs(root) == {}, "the run's staging objects were not deleted after the load"
    prefix = f"{s3_env.bucket}/demo"
    left = [p for p in s3_env.fs().find(prefix) if p != prefix]  # SeaweedFS shows the folder
    assert not left, f"objects left in the bucket: {left}"


def _settings(url: str, staging: str, tmp_path) -> Settings:
    return Settings.load(
        {
            "warehouse_url": url,
            "staging_dir": staging,
            "data_docs_dir": str(tmp_path / "docs"),
            "forecast_batches": 2,
        }
    )


def test_two_runs_of_one_date_at_once_keep_separate_keys(
    sqlite_warehouse: str, s3_env: S3Server, tmp_path
) -> None:
    """A manual re-run starts while the scheduled run of the date is between its stages:
    its first stage starts its own folder, the scheduled run's files stay, both load."""
    settings = _settings(sqlite_warehouse, s3_env.url("overlap"), tmp_path)
    first = run_staging(settings, RUN_DATE, "scheduled__2026-07-01T00:00:00+00:00")
    second = run_staging(settings, RUN_DATE, "manual__2026-07-01T09:30:00+00:00")
    stage_validate(settings, RUN_DATE, first)
    stage_extract(settings, RUN_DATE, first)
    staged = first.files()

    stage_validate(settings, RUN_DATE, second)  # once wiped the date's one folder
    assert first.files() == staged
    assert set(runs(settings.staging_dir)) == {first.run_key, second.run_key}
    stage_extract(settings, RUN_DATE, second)
    for staging in (first, second):
        batches = plan_batches(settings, RUN_DATE, staging)
        for b in batches:
            stage_forecast(settings, RUN_DATE, staging, b, len(batches))
        stage_replenish(settings, RUN_DATE, staging)
    stage_load(settings, RUN_DATE, second)
    second_rows = outputs(sqlite_warehouse, RUN_DATE)
    assert set(runs(settings.staging_dir)) == {first.run_key}, "the load deletes only its run"
    stage_load(settings, RUN_DATE, first)
    assert_same_outputs(second_rows, outputs(sqlite_warehouse, RUN_DATE))
    assert runs(settings.staging_dir) == {}


def test_a_missing_bucket_fails_naming_the_url_before_any_stage_works(
    sqlite_warehouse: str, s3_env: S3Server, tmp_path
) -> None:
    settings = _settings(sqlite_warehouse, "s3://no-such-bucket/staging", tmp_path)
    with pytest.raises(StagingError, match=r"s3://no-such-bucket/staging/2026-07-01/cli__\S+"):
        run_pipeline(settings, RUN_DATE)
    assert outputs(sqlite_warehouse, RUN_DATE)["data_quality_results"].empty


def test_wrong_credentials_fail_naming_the_url(s3_env: S3Server) -> None:
    staging = Staging(
        s3_env.url("denied"),
        run_key(RUN_DATE, "manual__1"),
        storage_options={"key": s3_env.key, "secret": "wrong", "skip_instance_cache": True},
    )
    with pytest.raises(StagingError, match=rf"{s3_env.url('denied')}/2026-07-01/manual__1") as e:
        staging.start(dt.datetime(2026, 7, 1))
    assert "wrong" not in str(e.value)
