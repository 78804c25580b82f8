"""Staging: where a run's stages hand their data to each other.

The one place that knows the staging files' names and formats. A run's files live
under ``<root>/<run key>/``; the root is a URL that fsspec understands: a local
directory (the embedded default), ``s3://bucket/prefix``, ``gs://...``, ``az://...``.
The run key is the run date and the DAG run id (:func:`run_key`), so two runs of one
date (a manual re-run during a backfill, ``max_active_runs=2``) never share a folder
nor delete each other's files.

Frames are Parquet (pyarrow), read back with column and row filters, so a forecast
batch reads only its own SKUs' rows. Small JSON files hold the run marker (when the
run's folder was started, for the retention sweep of failed runs, :func:`sweep`) and
the stage timings.

Credentials never pass through here as arguments from code: fsspec's S3, GCS and Azure
filesystems read the standard environment variables (``AWS_ACCESS_KEY_ID``,
``AWS_ENDPOINT_URL``, ...), or the Airflow glue hands a filesystem built from an
Airflow connection (``fs``).
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import fsspec
import pandas as pd
import pyarrow.parquet as pq
from fsspec import AbstractFileSystem

log = logging.getLogger(__name__)

#: The marker of a run's folder: its run key and when it was started (UTC).
RUN_MARKER = "run.json"
_EXTRACT = "extract"
_RESULT = "result"
_PARQUET = ".parquet"


class StagingError(RuntimeError):
    """The staging location cannot be used, or holds no file a stage needs; says which."""


def run_key(run_date: dt.date, run_id: str) -> str:
    """``<run date>/<run id>``, the run id with every character but letters, digits and
    ``._-`` replaced by ``_`` (a path segment on every filesystem and object store).

    >>> run_key(dt.date(2026, 7, 1), "manual__2026-07-01T06:00:00+00:00")
    '2026-07-01/manual__2026-07-01T06_00_00_00_00'
    """
    if not run_id:
        raise ValueError("run_id is required: the staging folder is keyed by run")
    return f"{run_date.isoformat()}/{re.sub(r'[^A-Za-z0-9._-]', '_', run_id)}"


def cli_run_id(run_type: str, now: dt.datetime) -> str:
    """A run id for a run without Airflow, like Airflow's: ``<run_type>__<UTC timestamp>``.

    >>> cli_run_id("manual", dt.datetime(2026, 7, 1, 6, 0, 5, 120))
    'manual__20260701T060005.000120'
    """
    return f"{run_type}__{now:%Y%m%dT%H%M%S.%f}"


def display_url(url: str) -> str:
    """``url`` without any ``user:password@`` part, for messages and logs.

    >>> display_url("s3://key:secret@bucket/prefix")
    's3://bucket/prefix'
    """
    return re.sub(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", r"\1", url)


def _root_fs(
    root: str, fs: AbstractFileSystem | None, storage_options: Mapping[str, Any] | None
) -> tuple[AbstractFileSystem, str]:
    if fs is None:
        fs, path = fsspec.core.url_to_fs(root, **dict(storage_options or {}))
        return fs, str(path).rstrip("/")
    return fs, str(fs._strip_protocol(root)).rstrip("/")


class Staging:
    """The staging folder of one run: ``<root>/<run_key>``.

    root: a local directory or an fsspec URL (``s3://bucket/prefix``); run_key: the
    run's key (:func:`run_key`), or ``""`` for ``root`` itself (a scratch folder).
    fs: the filesystem to use (the Airflow glue passes one built from a connection);
    by default fsspec's for ``root``, with ``storage_options``.
    """

    def __init__(
        self,
        root: str,
        run_key: str,
        fs: AbstractFileSystem | None = None,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.fs, self._root_path = _root_fs(root, fs, storage_options)
        self.root = root
        self.run_key = run_key
        self.path = f"{self._root_path}/{run_key}" if run_key else self._root_path

    @property
    def url(self) -> str:
        """The run's folder as a URL, without credentials (for messages and XCom)."""
        base = display_url(self.root).rstrip("/")
        return f"{base}/{self.run_key}" if self.run_key else base

    def __repr__(self) -> str:
        return f"Staging({self.url!r})"

    # ------------------------------------------------------------------ the run's folder

    def start(self, now: dt.datetime) -> None:
        """Start the run's folder clean (a retry of the first stage rewrites it) and mark it.

        Raises :class:`StagingError` naming the URL when the location cannot be written
        (a bucket that does not exist, wrong credentials), before any stage does work.
        """
        try:
            if self.exists():
                self.fs.rm(self.path, recursive=True)
            marker = {"run_key": self.run_key, "created_at": now.isoformat()}
            self._write_text(RUN_MARKER, json.dumps(marker))
        except Exception as exc:
            raise StagingError(
                f"staging location {self.url} cannot be written: {type(exc).__name__}: {exc}"
            ) from None

    def exists(self) -> bool:
        """Whether the run's folder holds any file (object stores may keep empty folders)."""
        return bool(self.files())

    def cleanup(self) -> None:
        """Delete the run's folder (after a successful load), and its date folder if empty."""
        if self.fs.exists(self.path):
            self.fs.rm(self.path, recursive=True)
        parent = self.path.rsplit("/", 1)[0]
        if self.run_key and "/" in self.run_key and parent != self._root_path:
            try:
                if self.fs.exists(parent) and not self.fs.ls(parent):
                    self.fs.rmdir(parent)
            except OSError:  # another run of the date wrote into it meanwhile
                pass

    def files(self) -> list[str]:
        """Names of the files in the run's folder, sorted."""
        self.fs.invalidate_cache(self.path)  # another worker may have written since
        if not self.fs.exists(self.path):
            return []
        inside = [str(p) for p in self.fs.find(self.path) if str(p).startswith(self.path + "/")]
        return sorted(p.rsplit("/", 1)[-1] for p in inside)

    # ------------------------------------------------------------------ frames

    def _file(self, name: str) -> str:
        return f"{self.path}/{name}"

    def _new_file(self, name: str) -> str:
        """The path to write ``name`` to; a local run folder is created first (an object
        store has no folders, and creating one there could create a bucket)."""
        protocols = (self.fs.protocol,) if isinstance(self.fs.protocol, str) else self.fs.protocol
        if {"file", "local"} & set(protocols):
            self.fs.makedirs(self.path, exist_ok=True)
        return self._file(name)

    def _write_frame(self, name: str, frame: pd.DataFrame) -> None:
        with self._writing(name):
            frame.to_parquet(self._new_file(name + _PARQUET), index=False, filesystem=self.fs)

    @contextmanager
    def _writing(self, name: str) -> Iterator[None]:
        """A full disk or quota is said in one line naming the staging area and the file,
        as a :class:`StagingError` (the stage fails; nothing is loaded)."""
        try:
            yield
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT) and "No space left" not in str(exc):
                raise
            raise StagingError(
                f"staging area {self.url} is full (no space left on device) writing {name!r}: "
                "free space there or point staging_dir elsewhere"
            ) from None

    def _read_frame(
        self,
        name: str,
        columns: Sequence[str] | None = None,
        filters: list[tuple[str, str, Any]] | None = None,
    ) -> pd.DataFrame:
        path = self._file(name + _PARQUET)
        cols = list(columns) if columns is not None else None
        try:
            return pd.read_parquet(path, filesystem=self.fs, columns=cols, filters=filters)
        except FileNotFoundError:
            raise StagingError(
                f"{self.url}: no staged {name!r} (has the stage that writes it run for this run?)"
            ) from None

    def _empty_frame(self, name: str, columns: Sequence[str] | None) -> pd.DataFrame:
        with self.fs.open(self._file(name + _PARQUET), "rb") as f:
            empty = pq.ParquetFile(f).schema_arrow.empty_table().to_pandas()
        return empty[list(columns)] if columns is not None else empty

    def save_extract(self, frames: Mapping[str, pd.DataFrame]) -> None:
        """Write the run's extracted frames (``name -> frame``)."""
        for name, frame in frames.items():
            self._write_frame(f"{_EXTRACT}.{name}", frame)

    def read(
        self,
        name: str,
        sku_ids: Sequence[str] | None = None,
        columns: Sequence[str] | None = None,
        since: dt.date | None = None,
    ) -> pd.DataFrame:
        """One extracted frame: only the rows of ``sku_ids`` (if given), with ``ds >= since``
        (if given), only ``columns`` (if given). The filters are pushed into the Parquet
        reader: rows of other SKUs or days are skipped, not read then dropped."""
        if sku_ids is not None and not len(sku_ids):
            return self._empty_frame(f"{_EXTRACT}.{name}", columns)
        filters: list[tuple[str, str, Any]] = []
        if sku_ids is not None:
            filters.append(("sku_id", "in", list(sku_ids)))
        if since is not None:
            filters.append(("ds", ">=", pd.Timestamp(since)))
        return self._read_frame(f"{_EXTRACT}.{name}", columns, filters or None)

    def save_quality(self, frame: pd.DataFrame) -> None:
        """Write the data-quality report frame of the run's validation."""
        self._write_frame("data_quality", frame)

    def quality(self) -> pd.DataFrame:
        return self._read_frame("data_quality")

    def save_quarantine(self, frame: pd.DataFrame) -> None:
        """Write the SKUs the run's validation quarantined (``dq_mode = quarantine``)."""
        self._write_frame("quarantine", frame)

    def quarantine(self) -> pd.DataFrame | None:
        """The SKUs the run's validation quarantined; None when it quarantined none."""
        if not self.fs.exists(self._file("quarantine" + _PARQUET)):
            return None
        return self._read_frame("quarantine")

    def save_orders(self, frame: pd.DataFrame) -> None:
        """Write the run's order recommendations."""
        self._write_frame("orders", frame)

    def orders(self) -> pd.DataFrame:
        return self._read_frame("orders")

    # ------------------------------------------------------------------ forecast results

    def save_result(self, stem: str, frames: Mapping[str, pd.DataFrame]) -> None:
        """Write the frames of one forecast result (``part -> frame``) under ``stem``."""
        for part, frame in frames.items():
            self._write_frame(f"{_RESULT}.{stem}.{part}", frame)

    def has_result(self, stem: str) -> bool:
        return bool(self._result_parts(stem))

    def result(self, stem: str) -> dict[str, pd.DataFrame]:
        """The frames of the forecast result saved under ``stem``, by part."""
        parts = self._result_parts(stem)
        if not parts:
            raise StagingError(f"{self.url}: no staged forecast result {stem!r}")
        return {part: self._read_frame(f"{_RESULT}.{stem}.{part}") for part in parts}

    def _result_parts(self, stem: str) -> list[str]:
        prefix = f"{_RESULT}.{stem}."
        self.fs.invalidate_cache(self.path)
        found = self.fs.glob(self._file(f"{prefix}*{_PARQUET}"))
        return sorted(str(p).rsplit("/", 1)[-1][len(prefix) : -len(_PARQUET)] for p in found)

    def save_batch(self, batch: int, frames: Mapping[str, pd.DataFrame]) -> None:
        """Write forecast batch ``batch``'s result."""
        self.save_result(f"batch{batch:04d}", frames)

    def batches(self) -> list[dict[str, pd.DataFrame]]:
        """Every forecast batch's result, in batch order; :class:`StagingError` if none."""
        stems = sorted(
            {
                n.split(".")[1]
                for n in self.files()
                if n.startswith(f"{_RESULT}.batch") and n.endswith(_PARQUET)
            }
        )
        if not stems:
            raise StagingError(f"no forecast batches found in {self.url}")
        return [self.result(stem) for stem in stems]

    def save_calibrated(self, frames: Mapping[str, pd.DataFrame]) -> None:
        """Write the calibrated forecast (all batches, intervals calibrated)."""
        self.save_result("calibrated", frames)

    def calibrated(self) -> dict[str, pd.DataFrame]:
        return self.result("calibrated")

    # ------------------------------------------------------------------ small JSON files

    def _write_text(self, name: str, text: str) -> None:
        with self._writing(name), self.fs.open(self._new_file(name), "w") as f:
            f.write(text)

    def save_timing(self, stage: str, started_at: dt.datetime, seconds: float) -> None:
        """Record that ``stage`` started at ``started_at`` (UTC) and took ``seconds``."""
        timing = {"started_at": started_at.isoformat(), "seconds": seconds}
        self._write_text(f"timing.{stage}.json", json.dumps(timing))

    def timings(self) -> dict[str, dict[str, Any]]:
        """Each recorded stage's ``{"started_at": iso text, "seconds": float}``."""
        out = {}
        for name in self.files():
            if name.startswith("timing.") and name.endswith(".json"):
                with self.fs.open(self._file(name), "r") as f:
                    out[name.split(".")[1]] = json.loads(f.read())
        return out


def runs(
    root: str,
    fs: AbstractFileSystem | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> dict[str, dt.datetime]:
    """The run folders under ``root`` (left by runs still going or failed): run key ->
    when it was started (UTC, naive)."""
    fs, path = _root_fs(root, fs, storage_options)
    fs.invalidate_cache(path)
    if not fs.exists(path):
        return {}
    out = {}
    for marker in fs.glob(f"{path}/*/*/{RUN_MARKER}"):
        with fs.open(marker, "r") as f:
            data = json.loads(f.read())
        out[str(data["run_key"])] = dt.datetime.fromisoformat(data["created_at"])
    return out


def sweep(
    root: str,
    retention_days: int,
    now: dt.datetime,
    fs: AbstractFileSystem | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> list[str]:
    """Delete the run folders under ``root`` started more than ``retention_days`` days
    before ``now`` (failed runs' files, kept that long for debugging; a successful run
    deletes its own). ``retention_days`` 0 keeps them all. Returns the keys deleted."""
    if retention_days <= 0:
        return []
    fs, _ = _root_fs(root, fs, storage_options)
    cutoff = now - dt.timedelta(days=retention_days)
    deleted = []
    for key, started in sorted(runs(root, fs=fs).items()):
        if started < cutoff:
            Staging(root, key, fs=fs).cleanup()
            deleted.append(key)
    if deleted:
        log.info(
            "staging: deleted %d run folders older than %d days under %s: %s",
            len(deleted),
            retention_days,
            display_url(root),
            ", ".join(deleted),
        )
    return deleted
