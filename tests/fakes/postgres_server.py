"""A throwaway PostgreSQL server for tests: Debian's binaries, a temporary directory, loopback.

It never touches the Debian cluster (/var/lib/postgresql): its own data directory,
socket directory and a free port, all removed on exit.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

INSTALL_HINT = "PostgreSQL server binaries not found: run `scripts/install_postgres.sh`"


def find_bin_dir(root: Path = Path("/usr/lib/postgresql")) -> Path:
    """The newest `/usr/lib/postgresql/<ver>/bin` that has initdb and pg_ctl."""
    candidates = [p.parent for p in root.glob("*/bin/initdb") if (p.parent / "pg_ctl").is_file()]
    if not candidates:
        raise RuntimeError(f"{INSTALL_HINT} (looked in {root}/*/bin)")
    return max(candidates, key=lambda d: tuple(int(x) for x in re.findall(r"\d+", d.parent.name)))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """`with PostgresServer() as pg:` runs a trust-auth server on 127.0.0.1:`pg.port`."""

    host = "127.0.0.1"
    user = "postgres"

    def __init__(self, bin_dir: Path | None = None) -> None:
        self.bin_dir = bin_dir or find_bin_dir()
        self.port = 0
        self._root: Path | None = None

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        # CREATE DATABASE cannot run inside a transaction block.
        with psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name)

    def start(self) -> None:
        if self._root is not None:
            raise RuntimeError("PostgresServer already started")
        # Not under pytest's tmp_path: that sits in a 0700 directory the postgres user
        # cannot enter. mkdtemp in /tmp also keeps the socket path short (107-byte limit).
        self._root = Path(tempfile.mkdtemp(prefix="pgtest-"))
        try:
            if os.geteuid() == 0:
                # initdb refuses to run as root: hand the directory to the postgres user.
                shutil.chown(self._root, self.user, self.user)
            self._run(
                "initdb",
                "-D",
                str(self._data),
                "-A",
                "trust",
                "-U",
                self.user,
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            )
            self.port = _free_port()
            self._start_postmaster()
        except BaseException:
            with contextlib.suppress(Exception):
                self.stop()  # pg_ctl -w may give up on a server that did start
            self._cleanup()
            raise

    def _start_postmaster(self) -> None:
        # Durability is pointless for a throwaway server and costs seconds per test run.
        options = (
            f"-p {self.port} -k {self._root} -c listen_addresses={self.host}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        # -l: without a log file the postmaster would inherit (and hold open) our pipes.
        self._run(
            "pg_ctl", "-D", str(self._data), "-l", str(self._log), "-o", options, "-w", "-t", "30", "start"
        )

    def halt(self) -> None:
        """Stop the server but keep its data and port: a database outage, until `resume()`."""
        self._run("pg_ctl", "-D", str(self._data), "-m", "fast", "-w", "stop")

    def resume(self) -> None:
        self._start_postmaster()

    def stop(self) -> None:
        if self._root is None:
            return
        try:
            if (self._data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self._data), "-m", "fast", "-w", "stop")
        finally:
            self._cleanup()

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def _data(self) -> Path:
        assert self._root is not None
        return self._root / "data"

    @property
    def _log(self) -> Path:
        assert self._root is not None
        return self._root / "server.log"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", self.user, "--", *command]
        # cwd: as postgres, our own working directory may be unreadable (initdb warns).
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=self._root)
        if result.returncode != 0:
            log = self._log.read_text(errors="replace")[-2000:] if self._log.exists() else ""
            raise RuntimeError(
                f"{tool} failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}\n{log}"
            )

    def _cleanup(self) -> None:
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None
            self.port = 0
