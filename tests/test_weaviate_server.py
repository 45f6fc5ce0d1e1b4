"""The embedded server: clear start-up failures, reuse, and no orphan on any kind of exit."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from knowledge.weaviate_server import EmbeddedWeaviate, WeaviateStartError, is_ready
from tests.conftest import REPO, weaviate_binary
from tests.server_processes import alive, wait_gone

pytestmark = pytest.mark.weaviate


def test_missing_binary_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(WeaviateStartError, match=r"binary not found.*make weaviate.*WEAVIATE_BIN"):
        EmbeddedWeaviate(tmp_path / "nope", tmp_path).start()


def test_unwritable_data_dir_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(WeaviateStartError, match="is not writable"):
        EmbeddedWeaviate(weaviate_binary(), blocker / "data").start()


def test_taken_port_is_reported(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(WeaviateStartError, match=f"port {port} .* already in use"):
            EmbeddedWeaviate(weaviate_binary(), tmp_path, http_port=port).start()


def test_crash_at_start_shows_the_server_log(tmp_path: Path) -> None:
    fake = tmp_path / "weaviate-server"
    fake.write_text("#!/bin/sh\necho 'fatal: something broke at start' >&2\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(WeaviateStartError, match=r"(?s)exited during start-up with code 3.*something broke"):
        EmbeddedWeaviate(fake, tmp_path).start()


def test_second_user_of_a_data_dir_reuses_the_server_and_data_survives_restart(tmp_path: Path) -> None:
    first = EmbeddedWeaviate(weaviate_binary(), tmp_path)
    endpoint = first.start()
    try:
        second = EmbeddedWeaviate(weaviate_binary(), tmp_path)
        reused = second.start()
        assert (reused.pid, reused.http_port, reused.owned) == (endpoint.pid, endpoint.http_port, False)
        second.stop()  # not the owner: must not stop it
        assert is_ready("127.0.0.1", endpoint.http_port)
    finally:
        first.stop()
    assert wait_gone(endpoint.pid)
    assert not (tmp_path / "weaviate" / "server.json").exists()
    restarted = EmbeddedWeaviate(weaviate_binary(), tmp_path)
    with restarted as again:
        assert again.owned and is_ready("127.0.0.1", again.http_port)


HOLDER = """
import json, sys, time
from pathlib import Path
from knowledge.weaviate_server import EmbeddedWeaviate
import signal
signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
# A shell that starts jobs in the background makes them ignore SIGINT, and Python then
# installs no KeyboardInterrupt handler: restore it, so Ctrl-C is what is tested.
signal.signal(signal.SIGINT, signal.default_int_handler)
with EmbeddedWeaviate(Path(sys.argv[1]), Path(sys.argv[2])) as endpoint:
    print(json.dumps({"pid": endpoint.pid}), flush=True)
    time.sleep(600)
"""


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_server_does_not_outlive_its_owner(tmp_path: Path, how: signal.Signals) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(weaviate_binary()), str(tmp_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert owner.stdout is not None
        server_pid = json.loads(owner.stdout.readline())["pid"]
        assert alive(server_pid)
        owner.send_signal(how)
        # The owner waits up to 20 s for a graceful stop before killing; leave room on a busy machine.
        owner.wait(timeout=60)
        assert wait_gone(server_pid), f"weaviate outlived its owner after {how.name}"
    finally:
        owner.kill()
