"""A data directory's embedded Weaviate, shared by commands: use it, start it, report and stop it.

A command holds a lease (a shared flock, see knowledge/weaviate_files.py) for as long as it
is connected, so `serve` holds one for its whole life and is never stopped under. The first
command that finds no server starts a keeper (knowledge/weaviate_keeper.py) that outlives
it; the keeper stops Weaviate after the idle time with no lease held. A dead or hung server
is stopped and replaced by the next command (and by serve's supervisor, which calls
`start_or_reuse` again under its lease). Imports only the standard library, so
`app.py server status|stop` stays quick.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from knowledge.weaviate_files import ServerFiles, ServerState, flocked, is_locked
from knowledge.weaviate_server import (
    EmbeddedWeaviate,
    Endpoint,
    WeaviateStartError,
    find_running,
    is_ready,
    terminate,
)

logger = logging.getLogger(__name__)

_PROJECT_ROOT = Path(__file__).resolve().parents[1]
_KEEPER_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "PYTHONDONTWRITEBYTECODE")
_LOG_TAIL_LINES = 20
DEFAULT_IDLE_TIMEOUT = 900.0


class ServerInUseError(RuntimeError):
    """`stop` without force while a command (serve, chat...) is connected."""


@dataclass(frozen=True)
class ServerStatus:
    data_dir: Path
    state: ServerState | None  # None: no server is running
    busy: bool  # server.lock is held: a server is running, starting or stopping
    ready: bool
    in_use: bool  # a command holds a lease
    idle_left: float | None  # seconds until it stops itself; None while in use or without keeper
    last_check: float | None  # seconds since the keeper last looked at the lease


@contextmanager
def shared_server(
    binary: Path,
    data_dir: Path,
    http_port: int | None = None,
    startup_timeout: float = 90.0,
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
) -> Iterator[Endpoint]:
    """The running server of `data_dir`, started if there is none, leased for the block."""
    files = ServerFiles.of(data_dir)
    EmbeddedWeaviate(binary, data_dir, http_port, startup_timeout).prepare()
    # Lease first: once held, no keeper can decide it is idle while we look for it.
    with flocked(files.lease, fcntl.LOCK_SH):
        files.mark_used()
        try:
            yield start_or_reuse(binary, data_dir, http_port, startup_timeout, idle_timeout)
        finally:
            files.mark_used()


def start_or_reuse(
    binary: Path,
    data_dir: Path,
    http_port: int | None = None,
    startup_timeout: float = 90.0,
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
) -> Endpoint:
    """The ready server of `data_dir`: the running one, or a new keeper's after clearing what is
    left of a crashed or hung one. The caller holds a lease (`shared_server`); serve's
    supervisor calls it again, under the lease it holds, when its server has died."""
    files = ServerFiles.of(data_dir)
    EmbeddedWeaviate(binary, data_dir, http_port, startup_timeout).prepare()
    with flocked(files.start_lock, fcntl.LOCK_EX):
        endpoint = find_running(files, starting_for=startup_timeout)
        if endpoint is None:
            terminate(files)
            return _start_keeper(files, binary, http_port, startup_timeout, idle_timeout)
        logger.info("reusing Weaviate (pid %s) on port %s", endpoint.pid, endpoint.http_port)
        return endpoint


def _start_keeper(
    files: ServerFiles, binary: Path, http_port: int | None, startup_timeout: float, idle_timeout: float
) -> Endpoint:
    read_fd, write_fd = os.pipe()
    command = [
        sys.executable,
        "-m",
        "knowledge.weaviate_keeper",
        "--data-dir",
        str(files.root.parent),
        "--binary",
        str(binary.resolve()),
        "--report-fd",
        str(write_fd),
        "--idle-timeout",
        repr(idle_timeout),
        "--startup-timeout",
        repr(startup_timeout),
        *(["--http-port", str(http_port)] if http_port else []),
    ]
    try:
        with open(files.keeper_log, "ab") as log:
            first = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
                command,
                cwd=_PROJECT_ROOT,
                # None of the command's secrets live on in a process that needs none.
                env={k: os.environ[k] for k in _KEEPER_ENV if k in os.environ},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # not stopped by the command's Ctrl-C or its terminal closing
                pass_fds=(write_fd,),
            )
    finally:
        os.close(write_fd)
    try:
        first.wait(timeout=60)  # it forks the keeper and exits
        line = _read_line(read_fd, startup_timeout + 30)
    finally:
        os.close(read_fd)
    if not line:
        terminate(files)
        raise WeaviateStartError(
            f"the Weaviate keeper stopped before the server was ready. Last lines of "
            f"{files.keeper_log}:\n{_tail(files.keeper_log)}\nLast lines of {files.log}:\n{_tail(files.log)}"
        )
    report = json.loads(line)
    if "error" in report:
        raise WeaviateStartError(str(report["error"]))
    logger.info(
        "started Weaviate (pid %s) on port %s, kept for %.0f s idle",
        report["pid"],
        report["http_port"],
        idle_timeout,
    )
    return Endpoint(report["host"], report["http_port"], report["grpc_port"], report["pid"], owned=False)


def _read_line(fd: int, timeout: float) -> str:
    """The first line written to the pipe `fd`; empty if the writer closed it or took too long."""
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return ""
        chunk = os.read(fd, 65536)
        if not chunk:
            return ""
        data += chunk
    return data.split(b"\n", 1)[0].decode()


def _tail(path: Path) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-_LOG_TAIL_LINES:])
    except OSError:
        return "(no log)"


def server_status(data_dir: Path) -> ServerStatus:
    files = ServerFiles.of(data_dir)
    busy = is_locked(files.server_lock)
    state = files.read_state() if busy else None
    if state is None:
        return ServerStatus(files.root.parent, None, busy, False, False, None, None)
    in_use = is_locked(files.lease)
    now = time.time()
    idle_left = None
    if state.idle_timeout is not None and not in_use:
        idle_left = max(0.0, state.idle_timeout - (now - files.last_used()))
    last_check = None
    if state.keeper_pid is not None:
        last_check = max(0.0, now - files.server_lock.stat().st_mtime)
    ready = is_ready("127.0.0.1", state.http_port)
    return ServerStatus(files.root.parent, state, busy, ready, in_use, idle_left, last_check)


def stop_server(data_dir: Path, force: bool = False) -> ServerState | None:
    """Stop the data directory's server and wait until it is gone; what ran (None: nothing).

    Refuses (ServerInUseError) while a command is connected, unless `force`."""
    files = ServerFiles.of(data_dir)
    if not files.root.is_dir():
        return None
    with flocked(files.start_lock, fcntl.LOCK_EX):
        state = files.read_state()
        if not is_locked(files.server_lock):
            files.remove_state()
            return None
        # Held while stopping: a command arriving now waits, then starts a new server.
        with flocked(files.lease, fcntl.LOCK_EX | fcntl.LOCK_NB) as unused:
            if not unused and not force:
                raise ServerInUseError(
                    f"the Weaviate server of {files.root.parent} is in use by a running command "
                    "(serve, chat, ...): stop that first, or use --force"
                )
            terminate(files, grace=60.0)
    return state
