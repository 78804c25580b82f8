"""The staging root as Airflow's ``ObjectStoragePath``: object storage with Airflow credentials.

``staging_dir`` may be a local directory or a URL (``s3://bucket/prefix``, ``gs://``,
``az://``, ...). For a URL, the credentials come from the Airflow connection
``staging_conn_id`` (``aws_default`` by default) when it exists, else from the
standard environment variables (``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``, ...).
Where a provider registers a filesystem for the scheme (the Amazon, Google or
Microsoft provider), Airflow builds it from the connection; for ``s3://`` without the
Amazon provider, an ``s3fs`` filesystem is built here from the connection's login,
password and extra (``endpoint_url``, ``region_name``); any other scheme without a
provider gets fsspec's filesystem with the environment's credentials (gcsfs, adlfs).
Credentials are never logged.
Imported only inside tasks.
"""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger(__name__)

#: Schemes of the local filesystem (no connection).
LOCAL_SCHEMES = ("file", "local")
#: Schemes served by s3fs.
S3_SCHEMES = ("s3", "s3a")


def as_url(location: str) -> str:
    """``location`` as a URL: a local path becomes ``file://<absolute path>``.

    >>> as_url("s3://bucket/prefix")
    's3://bucket/prefix'
    >>> as_url("/data/staging")
    'file:///data/staging'
    """
    if "://" in location:
        return location
    return "file://" + os.path.abspath(location)


def staging_root(location: str, conn_id: str) -> Any:
    """The ``ObjectStoragePath`` of the staging root ``location`` (see the module doc)."""
    from airflow.sdk import ObjectStoragePath
    from airflow.sdk.io import attach, has_fs

    from replenishment.staging import display_url

    url = as_url(location)
    scheme = url.split("://", 1)[0]
    if scheme in LOCAL_SCHEMES:
        return ObjectStoragePath(url)
    conn = _connection(conn_id)
    used = conn.conn_id if conn is not None else None
    if not has_fs(scheme):  # no provider registers this scheme: fsspec's own filesystem
        if scheme in S3_SCHEMES:
            import s3fs

            attach(scheme, conn_id=used, fs=s3fs.S3FileSystem(**s3_options(conn)))
        else:  # gcsfs, adlfs, ...: credentials from their standard environment variables
            import fsspec

            used = None
            attach(scheme, fs=fsspec.filesystem(scheme))
    log.info(
        "staging in %s, credentials from %s",
        display_url(url),
        f"connection {used!r}" if used else "the environment",
    )
    return ObjectStoragePath(url, conn_id=used)


def _connection(conn_id: str) -> Any:
    """The Airflow connection ``conn_id``, or None if it is not defined (or not named)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    if not conn_id:
        return None
    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None


def s3_options(conn: Any) -> dict[str, Any]:
    """``s3fs.S3FileSystem`` options from an ``aws`` connection: login = access key id,
    password = secret key, extra ``endpoint_url`` (also ``service_config.s3.endpoint_url``,
    as the Amazon provider reads it) and ``region_name``. Nothing set: the environment's."""
    if conn is None:
        return {}
    extra = conn.extra_dejson or {}
    options: dict[str, Any] = {}
    if conn.login:
        options["key"] = conn.login
    if conn.password:
        options["secret"] = conn.password
    endpoint = extra.get("endpoint_url") or extra.get("service_config", {}).get("s3", {}).get(
        "endpoint_url"
    )
    if endpoint:
        options["endpoint_url"] = endpoint
    if extra.get("region_name"):
        options["client_kwargs"] = {"region_name": extra["region_name"]}
    return options
