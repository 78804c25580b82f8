"""A PostgreSQL server of a test's own, to stop and restart for real.

The machine's PostgreSQL serves every other test; restarting it would break them. This
starts a second server from the same binaries (``initdb`` + ``pg_ctl``, as the
``postgres`` user, since PostgreSQL refuses to run as root) on a free port with a data
directory under a temporary folder, and removes it afterwards.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@dataclass
class Cluster:
    """A running server: ``url`` for SQLAlchemy, ``restart()`` and ``stop()`` for real."""

    data: Path
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        cmd = [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", *args]
        done = subprocess.run(_as_postgres(cmd), capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl {args[0]} failed: {done.stderr or done.stdout}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl("-o", options, "start")

    def stop(self) -> None:
        self._ctl("-m", "fast", "stop")

    def restart(self) -> None:
        """Stop (terminating every session) and start again: a real server restart."""
        self.stop()
        self.start()


@contextmanager
def temporary_cluster() -> Iterator[Cluster]:
    """A new PostgreSQL server on 127.0.0.1 (trust auth, user postgres), removed after."""
    if not (PG_BIN / "initdb").exists():
        raise RuntimeError(f"{PG_BIN}/initdb not found: PostgreSQL 15 server binaries needed")
    root = Path(tempfile.mkdtemp(prefix="replenishment-pg-"))
    data = root / "data"
    try:
        if os.geteuid() == 0:
            shutil.chown(root, "postgres")
        cmd = [str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]
        done = subprocess.run(_as_postgres(cmd), capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr or done.stdout}")
        cluster = Cluster(data=data, port=_free_port(), log=root / "server.log")
        cluster.start()
        try:
            yield cluster
        finally:
            with suppress(RuntimeError):
                cluster.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
