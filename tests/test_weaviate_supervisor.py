"""Several processes' supervisors watching one embedded server (serve and its answer workers
each hold a client): a killed server is restarted once, and every client is handed over to it."""

from __future__ import annotations

import os
import signal
import threading
from contextlib import ExitStack
from pathlib import Path

import pytest
import weaviate

from knowledge.connection import WeaviateSettings, connect
from knowledge.weaviate_files import ServerFiles
from knowledge.weaviate_supervisor import start_supervisor
from tests.conftest import weaviate_binary
from tests.server_processes import server_processes

pytestmark = pytest.mark.weaviate


class Holder:
    """What the supervisor needs of a knowledge base: its client, and a way to replace it."""

    def __init__(self, client: weaviate.WeaviateClient) -> None:
        self.client = client
        self.reconnected = threading.Event()

    def reconnect(self, client: weaviate.WeaviateClient) -> None:
        self.client = client
        self.reconnected.set()


def test_two_supervisors_restart_a_killed_server_once_and_both_reconnect(data_dir: Path) -> None:
    settings = WeaviateSettings(binary=weaviate_binary())
    files = ServerFiles.of(data_dir)
    with ExitStack() as stack:
        holders = [Holder(stack.enter_context(connect(settings, data_dir))) for _ in range(2)]
        killed = files.read_state()
        assert killed is not None
        supervisors = [start_supervisor(holder, settings, data_dir) for holder in holders]
        for supervisor in supervisors:
            stack.callback(supervisor.stop)
        os.kill(killed.pid, signal.SIGKILL)
        for holder in holders:
            assert holder.reconnected.wait(180), [s.down_reason() for s in supervisors]
        restarted = files.read_state()
        assert restarted is not None and restarted.pid != killed.pid
        assert all(holder.client.is_ready() for holder in holders)
        assert all(s.down_reason() is None and s.outages == 1 for s in supervisors)
        assert [p.kind for p in server_processes(data_dir)].count("weaviate") == 1
