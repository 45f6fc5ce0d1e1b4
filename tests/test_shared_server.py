"""The embedded server kept between commands: one per data dir, replaced when it dies, stopped when idle."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from knowledge.weaviate_files import ServerFiles, flocked, wait_unlocked
from knowledge.weaviate_lifetime import ServerInUseError, server_status, shared_server, stop_server
from knowledge.weaviate_server import WeaviateStartError, is_ready
from tests.cli_runner import CONFIG, REPO, cli, json_lines, run
from tests.conftest import model_path, weaviate_binary
from tests.server_processes import alive, server_processes, wait_gone

pytestmark = pytest.mark.weaviate


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def process_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def embedded_env() -> dict[str, str]:
    env = {**os.environ, "EMBED_MODEL_PATH": str(model_path()), "WEAVIATE_BIN": str(weaviate_binary())}
    for key in ("WEAVIATE_URL", "WEAVIATE_GRPC_URL", "SUPPORTBOT_DATA_DIR", "SUPPORTBOT_CONFIG"):
        env.pop(key, None)
    return env


def app(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run(["--config", str(CONFIG), "--data-dir", str(data_dir), *args], embedded_env())


def test_a_command_starts_a_server_that_outlives_it_and_server_stop_stops_it(data_dir: Path) -> None:
    none = app(data_dir, "server", "status")
    assert none.returncode == 3 and f"No Weaviate server runs for {data_dir}" in none.stdout

    out = app(data_dir, "ingest", "samples/policies/expenses.md", "--json")
    assert out.returncode == 0, out.stderr
    assert json_lines(out.stdout)[0]["status"] == "added"

    shown = app(data_dir, "server", "status", "--json")
    assert shown.returncode == 0, shown.stderr
    [status] = json_lines(shown.stdout)
    assert status["running"] and status["ready"] and not status["in_use"]
    assert status["data_dir"] == str(data_dir.resolve())
    assert 0 < status["idle_left_s"] <= status["idle_timeout_s"] == 900
    assert alive(status["keeper_pid"]) and alive(status["pid"])

    listed = app(data_dir, "docs", "list", "--json")
    assert [d["doc_id"] for d in json_lines(listed.stdout)] == ["expenses"], "data persists across runs"
    text = app(data_dir, "server", "status").stdout
    # the same server: reused, not restarted
    assert f"weaviate pid {status['pid']}, keeper pid {status['keeper_pid']}" in text
    assert f"http://127.0.0.1:{status['http_port']}" in text
    assert "stops itself in" in text and "idle timeout 15 min" in text

    stopped = app(data_dir, "server", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert f"Stopped the Weaviate server of {data_dir} (pid {status['pid']})" in stopped.stdout
    # stop returns once both are gone: no waiting needed here
    assert not alive(status["pid"]) and not alive(status["keeper_pid"])
    assert app(data_dir, "server", "status", "--json").returncode == 3
    assert stop_server(data_dir) is None


def test_the_weaviate_url_path_starts_no_embedded_server(env: dict[str, str]) -> None:
    data_dir = Path(env["SUPPORTBOT_DATA_DIR"])
    out = cli(["docs", "list", "--json"], env)
    assert out.returncode == 0, out.stderr
    assert not (data_dir / "weaviate").exists()
    assert server_processes(data_dir.parent) == []
    status = run(["server", "status"], env)
    assert status.returncode == 3
    assert "WEAVIATE_URL is set" in status.stderr


STARTER = """
import json, sys
from pathlib import Path
from knowledge.weaviate_lifetime import shared_server
with shared_server(Path(sys.argv[1]), Path(sys.argv[2])) as endpoint:
    print(json.dumps(endpoint.__dict__), flush=True)
"""


def lease_holders(lease: Path) -> int:
    """How many processes hold a granted flock on `lease` (from /proc/locks)."""
    inode = f":{lease.stat().st_ino} "
    lines = Path("/proc/locks").read_text().splitlines()
    return sum(1 for line in lines if "FLOCK" in line and inode in line and "->" not in line)


def test_two_commands_starting_at_once_start_one_server(data_dir: Path) -> None:
    files = ServerFiles.of(data_dir)
    files.root.mkdir(parents=True)
    # Both are held at the start lock until each holds its lease: then both race for the start.
    with flocked(files.start_lock, fcntl.LOCK_EX):
        starters = [
            subprocess.Popen(
                [sys.executable, "-c", STARTER, str(weaviate_binary()), str(data_dir)],
                cwd=REPO,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        wait_for(lambda: files.lease.exists() and lease_holders(files.lease) == 2, "both leases")
    endpoints = []
    for starter in starters:
        stdout, _ = starter.communicate(timeout=300)
        assert starter.returncode == 0
        endpoints.append(json.loads(stdout))
    assert endpoints[0] == endpoints[1]
    keepers = [p for p in server_processes(data_dir) if p.kind == "keeper"]
    assert len(keepers) == 1, keepers
    assert "starting Weaviate" in files.keeper_log.read_text()
    assert files.keeper_log.read_text().count("starting Weaviate") == 1


@pytest.mark.parametrize("crash", ["kill weaviate", "kill keeper", "freeze weaviate"])
def test_a_crashed_or_hung_server_is_replaced_by_the_next_command(data_dir: Path, crash: str) -> None:
    with shared_server(weaviate_binary(), data_dir) as first:
        pass
    state = ServerFiles.of(data_dir).read_state()
    assert state is not None and state.keeper_pid is not None and state.pid == first.pid
    if crash == "kill weaviate":
        os.kill(state.pid, signal.SIGKILL)
    elif crash == "kill keeper":
        os.kill(state.keeper_pid, signal.SIGKILL)
    else:
        os.kill(state.pid, signal.SIGSTOP)
        wait_for(lambda: process_state(state.pid) == "T", "weaviate to be stopped")  # signals are async
    if crash != "freeze weaviate":
        assert wait_gone(state.pid if crash == "kill weaviate" else state.keeper_pid)
    with shared_server(weaviate_binary(), data_dir) as second:
        assert second.pid != first.pid
        assert is_ready(second.host, second.http_port)
    # The old pair is gone: nothing runs on the data dir twice.
    assert wait_gone(state.pid) and wait_gone(state.keeper_pid)
    assert len([p for p in server_processes(data_dir) if p.kind == "keeper"]) == 1


def test_an_unused_server_stops_itself_after_the_idle_time_but_never_while_leased(data_dir: Path) -> None:
    files = ServerFiles.of(data_dir)
    with shared_server(weaviate_binary(), data_dir, idle_timeout=1.0) as endpoint:
        state = files.read_state()
        assert state is not None and state.keeper_pid is not None
        # Wait for a keeper check made after the idle time passed with our lease still held.
        due = files.last_used() + 1.0 + 0.5
        wait_for(lambda: files.server_lock.stat().st_mtime > due, "a keeper check past the idle time")
        assert alive(state.keeper_pid) and is_ready(endpoint.host, endpoint.http_port)
        with pytest.raises(ServerInUseError, match="in use by a running command"):
            stop_server(data_dir)
    assert wait_gone(state.keeper_pid, 120), "the keeper did not stop an unused server"
    assert wait_gone(state.pid) and wait_unlocked(files.server_lock, 60)
    assert server_status(data_dir).state is None and not files.state.exists()
    assert "stopped: unused for" in files.keeper_log.read_text()


def test_a_start_failure_reaches_the_command_with_the_server_log(data_dir: Path, tmp_path: Path) -> None:
    fake = tmp_path / "weaviate-server"
    fake.write_text("#!/bin/sh\necho 'fatal: something broke at start' >&2\nexit 3\n")
    fake.chmod(0o755)
    with (
        pytest.raises(WeaviateStartError, match=r"(?s)exited during start-up with code 3.*something broke"),
        shared_server(fake, data_dir),
    ):
        pass
    files = ServerFiles.of(data_dir)
    assert wait_unlocked(files.server_lock, 60), "the server lock stays held after a failed start"
    wait_for(lambda: server_processes(data_dir) == [], "the keeper to exit after a failed start")
    with (
        pytest.raises(WeaviateStartError, match="binary not found"),
        shared_server(tmp_path / "nope", data_dir),
    ):
        pass


def test_a_command_interrupted_while_starting_leaves_the_server_to_the_next(data_dir: Path) -> None:
    files = ServerFiles.of(data_dir)
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER, str(weaviate_binary()), str(data_dir)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(
        lambda: files.keeper_log.exists() and "starting Weaviate" in files.keeper_log.read_text(), "start"
    )
    starter.send_signal(signal.SIGINT)
    _, stderr = starter.communicate(timeout=120)
    assert "KeyboardInterrupt" in stderr
    # The next command waits for the server being started instead of starting another.
    with shared_server(weaviate_binary(), data_dir) as endpoint:
        assert is_ready(endpoint.host, endpoint.http_port)
    assert files.keeper_log.read_text().count("starting Weaviate") == 1
