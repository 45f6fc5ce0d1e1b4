"""Finding the Weaviate keepers and servers running on data directories under a folder.

The tests use it to prove they leave nothing behind: a keeper outlives the command that
started it by design, so only a look at the process table shows one left over.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

_KEEPER_MODULE = b"knowledge.weaviate_keeper"


@dataclass(frozen=True)
class ServerProcess:
    pid: int
    kind: str  # "keeper" or "weaviate"
    data_dir: Path


def _args(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def _weaviate_data(pid: int) -> Path | None:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:  # not ours to read, or gone
        return None
    for item in environ:
        if item.startswith(b"PERSISTENCE_DATA_PATH="):
            # <data dir>/weaviate/data
            return Path(item.split(b"=", 1)[1].decode()).parent.parent
    return None


def server_processes(under: Path) -> list[ServerProcess]:
    """Keepers and weaviate-server processes whose data directory lies under `under`."""
    base = under.resolve()
    found: list[ServerProcess] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        args = _args(pid)
        data_dir: Path | None = None
        kind = ""
        if _KEEPER_MODULE in args and b"--data-dir" in args:
            kind, data_dir = "keeper", Path(args[args.index(b"--data-dir") + 1].decode())
        elif args and args[0].endswith(b"weaviate-server"):
            kind, data_dir = "weaviate", _weaviate_data(pid)
        if data_dir is not None and data_dir.resolve().is_relative_to(base):
            found.append(ServerProcess(pid, kind, data_dir))
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes.
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pid: int, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.1)
    return False


def kill_all(processes: list[ServerProcess]) -> None:
    for process in processes:
        try:
            os.kill(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
