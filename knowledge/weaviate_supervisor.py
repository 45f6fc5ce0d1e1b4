"""Serve's watch on Weaviate: see that the server is gone, fail fast while it is, and get a
working client back: the embedded server is restarted, an external one (`WEAVIATE_URL`)
only waited for.

The weaviate client retries an unavailable gRPC search for 63 s (1 + 2 + ... + 32 s of
back-off, fixed inside weaviate-client), so a question asked of a dead server would wait
that long for its apology. The supervisor closes the knowledge base's client as soon as a
probe finds the server down: a search under way fails at its next attempt, and each later
one at once, until a ready server is found and the knowledge base gets a new client (the
old one's channels point at a dead port, which is why the first question after a manual
restart used to fail).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import weaviate
from tenacity import RetryCallState, RetryError, Retrying, stop_when_event_set, wait_exponential

from knowledge.connection import WeaviateSettings, connect_external, local_client, not_ready
from knowledge.weaviate_files import ServerFiles, pid_alive
from knowledge.weaviate_lifetime import start_or_reuse
from knowledge.weaviate_server import Endpoint

logger = logging.getLogger(__name__)

# Between restart attempts: doubling from 1 s, at most 10 s. A start that fails at once (a
# port taken, a full disk) must not spin, and a server that can start again must not wait
# long: questions get the apology meanwhile.
_FIRST_WAIT, _MAX_WAIT = 1.0, 10.0


class Reconnectable(Protocol):
    """The knowledge base as the supervisor sees it (knowledge.service.WeaviateKnowledgeBase)."""

    client: weaviate.WeaviateClient

    def reconnect(self, client: weaviate.WeaviateClient) -> None: ...


@dataclass(frozen=True)
class Probe:
    reason: str | None  # None: the server is ready
    certain: bool = True  # False: only a probe that took too long, which load alone can cause


class WeaviateLink(Protocol):
    """How to look at the server in use and how to get a client on a ready one."""

    restarts: bool

    def probe(self, timeout: float) -> Probe: ...

    def recover(self) -> weaviate.WeaviateClient:
        """A client on a ready server; raises while there is none."""
        ...


def _probe_url(url: str, timeout: float) -> Probe:
    started = time.monotonic()
    reason = not_ready(url, timeout)
    # A quick "no" (connection refused, HTTP 503) is an answer; a probe that ran out of time
    # may only mean a loaded machine.
    return Probe(reason, certain=reason is None or time.monotonic() - started < timeout * 0.9)


class EmbeddedLink:
    """The data directory's own server: restarted (through its keeper) when it is gone."""

    restarts = True

    def __init__(self, settings: WeaviateSettings, data_dir: Path) -> None:
        self.settings = settings
        self.data_dir = data_dir
        state = ServerFiles.of(data_dir).read_state()  # the server serve has just connected to
        self.endpoint = (
            Endpoint("127.0.0.1", state.http_port, state.grpc_port, state.pid, owned=False) if state else None
        )

    def probe(self, timeout: float) -> Probe:
        endpoint = self.endpoint
        if endpoint is None:
            return Probe("no embedded server is running")
        if not pid_alive(endpoint.pid):
            return Probe(f"the embedded Weaviate (pid {endpoint.pid}) has exited")
        return _probe_url(f"http://{endpoint.host}:{endpoint.http_port}", timeout)

    def recover(self) -> weaviate.WeaviateClient:
        settings = self.settings
        # serve holds its lease all along (knowledge.weaviate_lifetime.shared_server), so no
        # keeper stops the new server as idle.
        self.endpoint = start_or_reuse(
            settings.binary_path(),
            self.data_dir,
            settings.http_port,
            settings.startup_timeout,
            settings.idle_timeout,
        )
        return local_client(self.endpoint)


class ExternalLink:
    """`WEAVIATE_URL`'s server or cluster: someone else runs it, so it is never restarted; the
    client moves to the first node that is ready again."""

    restarts = False

    def __init__(self, settings: WeaviateSettings) -> None:
        self.settings = settings
        self.url = settings.urls()[0]

    def probe(self, timeout: float) -> Probe:
        probe = _probe_url(self.url, timeout)
        if probe.reason is None:
            return probe
        return Probe(f"{self.url}: {probe.reason} (WEAVIATE_URL: not restarted by serve)", probe.certain)

    def recover(self) -> weaviate.WeaviateClient:
        client, self.url = connect_external(self.settings)
        return client


def link_for(settings: WeaviateSettings, data_dir: Path) -> WeaviateLink:
    return ExternalLink(settings) if settings.urls() else EmbeddedLink(settings, data_dir)


def start_supervisor(kb: Reconnectable, settings: WeaviateSettings, data_dir: Path) -> WeaviateSupervisor:
    """Supervise the client `kb` connected with `settings` and `data_dir`, from now on.

    One per process that holds a client: several may watch one embedded server, as the
    start lock lets one of them restart it and the others find and reuse that server."""
    supervisor = WeaviateSupervisor(kb, link_for(settings, data_dir))
    supervisor.start()
    return supervisor


class WeaviateSupervisor:
    """A thread that probes the server every `interval` seconds while serve runs."""

    def __init__(
        self, kb: Reconnectable, link: WeaviateLink, interval: float = 0.5, probe_timeout: float = 2.0
    ) -> None:
        self.kb = kb
        self.link = link
        self.interval = interval
        self.probe_timeout = probe_timeout
        self.outages = 0
        self._down: str | None = None
        self._cause = ""  # what the probe saw when the outage began
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="weaviate-supervisor", daemon=True)
        self._made: weaviate.WeaviateClient | None = None  # the last client it handed over

    def down_reason(self) -> str | None:
        """Why Weaviate cannot be searched now (None: it can). Cheap: /health calls it."""
        return self._down

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if self._made is not None:  # the first client belongs to whoever connected it
            self._made.close()

    def _watch(self) -> None:
        doubtful = 0
        while not self._stop.wait(self.interval):
            try:
                probe = self.link.probe(self.probe_timeout)
                if probe.reason is None:
                    doubtful = 0
                    continue
                doubtful += 1
                if probe.certain or doubtful >= 2:
                    doubtful = 0
                    self._recover(probe.reason)
            except Exception:  # a bug here must not end the watch for the rest of serve's life
                logger.exception("the Weaviate supervisor failed; it keeps watching")

    def _recover(self, reason: str) -> None:
        self.outages += 1
        action = "restarting it" if self.link.restarts else "waiting for it to be ready"
        self._down = self._cause = reason
        logger.warning("Weaviate is down (%s): %s; questions get the apology meanwhile", reason, action)
        try:
            self.kb.client.close()  # searches under way and to come fail now, not after 63 s
        except Exception as error:
            logger.warning("closing the Weaviate client failed: %s", error)
        retrying = Retrying(
            wait=wait_exponential(multiplier=_FIRST_WAIT, max=_MAX_WAIT),
            stop=stop_when_event_set(self._stop),
            sleep=self._pause,
            before_sleep=self._still_down,
        )
        try:
            client = retrying(self.link.recover)
        except RetryError:
            return  # serve is stopping
        if self._stop.is_set():
            client.close()
            return
        self.kb.reconnect(client)
        self._made = client  # the one before was closed when the outage began
        self._down = None
        logger.warning(
            "Weaviate is back after %d attempt(s); answering again", retrying.statistics["attempt_number"]
        )

    def _still_down(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        self._down = f"{self._cause}; attempt {state.attempt_number} to recover failed: {error}"
        logger.warning("Weaviate still down after attempt %d: %s", state.attempt_number, error)

    def _pause(self, seconds: float) -> None:
        self._stop.wait(seconds)
