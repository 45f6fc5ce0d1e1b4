"""The keeper: runs a data directory's Weaviate beyond the command that started it.

python -m knowledge.weaviate_keeper --data-dir DIR --binary BIN --report-fd FD [...]

Started by the first command that finds no server (knowledge/weaviate_lifetime.py), in a
session of its own. It starts weaviate-server as its child (tied to it by PR_SET_PDEATHSIG,
so killing the keeper stops Weaviate), reports the endpoint or the start error on
`--report-fd`, then stops Weaviate and itself once no command has held a lease for
`--idle-timeout` seconds, when Weaviate dies, or on SIGTERM (`app.py server stop`).

A process of its own rather than a daemon thread in the first command: that command exits,
and anything it leaves must be a process without its memory (the embedding model), its
open files or its secrets. Imports only the standard library and knowledge's launcher.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
import os
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path
from types import FrameType

from knowledge.weaviate_files import ServerFiles, flocked
from knowledge.weaviate_server import EmbeddedWeaviate, WeaviateStartError, take_server_lock

logger = logging.getLogger("knowledge.weaviate_keeper")

# How often the keeper looks at the lease: a tenth of the idle time, within these bounds.
_MIN_CHECK, _MAX_CHECK = 0.05, 5.0


class _Stop(Exception):  # raised by SIGTERM/SIGINT, unwinds to the stop
    pass


def _stop_on_signal(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m knowledge.weaviate_keeper")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--binary", type=Path, required=True)
    parser.add_argument("--report-fd", type=int, required=True, help="where the endpoint is written")
    parser.add_argument("--idle-timeout", type=float, default=900.0)
    parser.add_argument("--startup-timeout", type=float, default=90.0)
    parser.add_argument("--http-port", type=int)
    return parser.parse_args(argv)


def watch(server: EmbeddedWeaviate, files: ServerFiles, idle_timeout: float) -> str:
    """Return why to stop: Weaviate exited, or it was idle for `idle_timeout` seconds.

    Idle is decided under an exclusive lease, and the server is stopped before that lease is
    released: a command arriving meanwhile waits for its shared lease, then finds no server
    and starts a new one; it never connects to one being stopped."""
    interval = min(max(idle_timeout / 10, _MIN_CHECK), _MAX_CHECK)
    while True:
        code = server.exit_code()
        if code is not None:
            return f"Weaviate exited with code {code}"
        with flocked(files.lease, fcntl.LOCK_EX | fcntl.LOCK_NB) as unused:
            idle = time.time() - files.last_used()
            if unused and idle >= idle_timeout:
                server.stop()
                return f"unused for {idle:.1f} s"
        # The heartbeat: status shows when the keeper last looked, tests wait for a look.
        os.utime(files.server_lock)
        # Waiting on the process, not sleeping: a crash lets go of server.lock at once, so
        # serve's supervisor can start the next server without waiting out the interval.
        server.wait_exit(interval)


def run(args: argparse.Namespace) -> int:
    files = ServerFiles.of(args.data_dir)
    report = os.fdopen(args.report_fd, "w")
    server = EmbeddedWeaviate(args.binary, args.data_dir, args.http_port, args.startup_timeout)
    try:
        try:
            # Never closed: the kernel lets go of server.lock only once this process is gone,
            # so `server stop` and the next command wait for the keeper itself, not just Weaviate.
            lock = take_server_lock(files)
            endpoint = server.spawn(os.getpid(), args.idle_timeout, server_lock=lock)
        except WeaviateStartError as err:
            report.write(json.dumps({"error": str(err)}) + "\n")
            return 1
        files.mark_used()
        try:
            report.write(json.dumps(asdict(endpoint)) + "\n")
            report.close()
        except BrokenPipeError:  # the starter was interrupted: the server is the next command's
            logger.info("the command that started the server is gone")
        logger.info(
            "Weaviate (pid %s) ready on port %s; stops after %.0f s unused",
            endpoint.pid,
            endpoint.http_port,
            args.idle_timeout,
        )
        reason = watch(server, files, args.idle_timeout)
    except _Stop as stop:
        reason = f"{stop} received"
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second `server stop` must not cut this short
        server.stop()
        with contextlib.suppress(BrokenPipeError):
            report.close()
    logger.info("stopped: %s", reason)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    # Fork once more and let the first process exit: the starter collects it at once, and
    # the keeper is adopted by init, so a long-running starter (serve) never holds a zombie.
    if os.fork() > 0:
        os._exit(0)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s keeper[%(process)d]: %(message)s"
    )
    signal.signal(signal.SIGTERM, _stop_on_signal)
    signal.signal(signal.SIGINT, _stop_on_signal)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
