"""Connecting to Weaviate: the embedded server by default, `WEAVIATE_URL` when set.

`WEAVIATE_URL` may list several nodes of a cluster, comma-separated: the client connects
to the first that is ready (and stays on it). Every read and write of the chunk collection
goes through `collection_handles`, which carries the configured consistency levels.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import httpx
import weaviate
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from weaviate.classes.config import ConsistencyLevel
from weaviate.classes.init import AdditionalConfig, Auth, Timeout
from weaviate.collections import Collection
from weaviate.exceptions import WeaviateBaseError

from knowledge.weaviate_lifetime import DEFAULT_IDLE_TIMEOUT, shared_server
from knowledge.weaviate_server import WEAVIATE_VERSION, Endpoint, WeaviateStartError, default_binary_path

logger = logging.getLogger(__name__)

Consistency = Literal["ONE", "QUORUM", "ALL"]
_DEFAULT_GRPC_PORT = 50051
_PROBE_TIMEOUT = 5.0


class WeaviateConnectError(WeaviateStartError):
    """No configured Weaviate server could be reached; the message names each and why."""


class WeaviateSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = Field(
        None,
        description=(
            "WEAVIATE_URL: an external server, or a cluster's nodes comma-separated (the first "
            "ready one is used); unset runs the embedded server."
        ),
    )
    grpc_url: str | None = Field(
        None,
        description=(
            "WEAVIATE_GRPC_URL: one for all nodes, or one per URL in the same order; "
            "default: each URL's host on port 50051."
        ),
    )
    api_key: SecretStr | None = Field(None, description="WEAVIATE_API_KEY for an external server.")
    binary: Path | None = Field(None, description="WEAVIATE_BIN: the weaviate-server binary to run.")
    http_port: int | None = Field(
        None, description="Fixed HTTP port for the embedded server (default: a free one)."
    )
    startup_timeout: float = Field(90.0, gt=0, description="Seconds to wait for the embedded server.")
    idle_timeout: float = Field(
        DEFAULT_IDLE_TIMEOUT,
        gt=0,
        description=(
            "Seconds the embedded server keeps running after the last command used it (15 min); "
            "commands started meanwhile reuse it. Set by the command that starts it."
        ),
    )
    collection: str = Field("PolicyChunks", pattern=r"^[A-Z][A-Za-z0-9_]*$", description="Collection alias.")
    replication_factor: int = Field(
        1,
        ge=1,
        description=(
            "WEAVIATE_REPLICATION_FACTOR: copies of each chunk, applied when the collection is "
            "created (external clusters; at most the number of nodes)."
        ),
    )
    read_consistency: Consistency = Field(
        "QUORUM",
        description=(
            "WEAVIATE_READ_CONSISTENCY: replicas that must answer a read (searches, the catalogue). "
            "QUORUM with QUORUM writes reads every acknowledged write and survives one node down of 3."
        ),
    )
    write_consistency: Consistency = Field(
        "QUORUM",
        description=(
            "WEAVIATE_WRITE_CONSISTENCY: replicas that must acknowledge an insert or delete. "
            "ALL refuses writes while any replica is down."
        ),
    )

    @model_validator(mode="after")
    def _checked_urls(self) -> WeaviateSettings:
        for url in [*self.urls(), *self.grpc_urls()]:
            parsed = urlparse(url)
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                raise ValueError(f"not an http(s)://host[:port] URL: {url!r}")
        grpc = self.grpc_urls()
        if self.url and not self.urls():
            raise ValueError(f"url lists no URL: {self.url!r}")
        if grpc and not self.urls():
            raise ValueError("grpc_url is set but url is not")
        if len(grpc) > 1 and len(grpc) != len(self.urls()):
            raise ValueError(
                f"grpc_url lists {len(grpc)} URLs for {len(self.urls())} in url: give one, or one per URL"
            )
        return self

    def binary_path(self) -> Path:
        return self.binary or default_binary_path(WEAVIATE_VERSION)

    def urls(self) -> list[str]:
        """The HTTP URLs of the external server or cluster nodes, in the order they are tried."""
        return [u.strip() for u in (self.url or "").split(",") if u.strip()]

    def grpc_urls(self) -> list[str]:
        return [u.strip() for u in (self.grpc_url or "").split(",") if u.strip()]

    def endpoints(self) -> list[tuple[str, str | None]]:
        """(HTTP URL, gRPC URL or None for the host's port 50051) per node, in order."""
        grpc = self.grpc_urls()
        urls = self.urls()
        paired: list[str | None] = (
            list(grpc) if len(grpc) == len(urls) else [grpc[0] if grpc else None] * len(urls)
        )
        return list(zip(urls, paired, strict=True))


@dataclass(frozen=True)
class CollectionHandles:
    """One collection at the configured consistency levels: reads through one, writes the other.

    Weaviate applies a level to searches, object fetches, inserts and deletes; its aggregate
    API takes none, and the filtered and grouped aggregations the catalogue counts chunks
    with are answered from one replica.
    """

    reads: Collection[Any, Any]
    writes: Collection[Any, Any]


def collection_handles(
    client: weaviate.WeaviateClient, name: str, settings: WeaviateSettings | None = None
) -> CollectionHandles:
    """Handles on `name` at the settings' consistency levels (None: the server's defaults,
    which are ONE for searches and QUORUM for writes)."""
    base = client.collections.get(name)
    if settings is None:
        return CollectionHandles(reads=base, writes=base)
    return CollectionHandles(
        reads=base.with_consistency_level(ConsistencyLevel(settings.read_consistency)),
        writes=base.with_consistency_level(ConsistencyLevel(settings.write_consistency)),
    )


_TIMEOUTS = AdditionalConfig(timeout=Timeout(init=10, query=30, insert=120))


def not_ready(url: str, timeout: float = _PROBE_TIMEOUT) -> str | None:
    """Why the node at `url` cannot serve (None: it is ready). The ready probe needs no key."""
    probe = url.rstrip("/") + "/v1/.well-known/ready"
    try:
        # trust_env=False as weaviate-client's own default: no proxy from the environment
        response = httpx.get(probe, timeout=timeout, trust_env=False)
    except httpx.HTTPError as err:
        return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
    if response.status_code != 200:
        return f"not ready (HTTP {response.status_code} from /v1/.well-known/ready)"
    return None


def _connect_one(settings: WeaviateSettings, url: str, grpc_url: str | None) -> weaviate.WeaviateClient:
    http = urlparse(url)
    grpc = urlparse(grpc_url) if grpc_url else None
    secure = http.scheme == "https"
    return weaviate.connect_to_custom(
        http_host=http.hostname or "localhost",
        http_port=http.port or (443 if secure else 80),
        http_secure=secure,
        grpc_host=(grpc.hostname if grpc else None) or http.hostname or "localhost",
        grpc_port=(grpc.port if grpc else None) or _DEFAULT_GRPC_PORT,
        grpc_secure=(grpc.scheme == "https") if grpc else secure,
        auth_credentials=Auth.api_key(settings.api_key.get_secret_value()) if settings.api_key else None,
        additional_config=_TIMEOUTS,
        skip_init_checks=True,  # the init checks call out to the internet
    )


def connect_external(settings: WeaviateSettings) -> tuple[weaviate.WeaviateClient, str]:
    """A client on the first node (in WEAVIATE_URL's order) that is ready, and that node's URL."""
    failed: list[str] = []
    for url, grpc_url in settings.endpoints():
        reason = not_ready(url)
        if reason is None:
            try:
                client = _connect_one(settings, url, grpc_url)
            except WeaviateBaseError as err:
                reason = str(err)
            else:
                if failed:
                    logger.warning("connected to Weaviate at %s; not ready: %s", url, "; ".join(failed))
                return client, url
        failed.append(f"{url} ({reason})")
    raise WeaviateConnectError(f"no Weaviate server is ready; tried {len(failed)}: " + "; ".join(failed))


def local_client(endpoint: Endpoint) -> weaviate.WeaviateClient:
    """A client of the embedded server at `endpoint`."""
    return weaviate.connect_to_local(
        host=endpoint.host,
        port=endpoint.http_port,
        grpc_port=endpoint.grpc_port,
        additional_config=_TIMEOUTS,
        skip_init_checks=True,
    )


@contextmanager
def connect(settings: WeaviateSettings, data_dir: Path) -> Iterator[weaviate.WeaviateClient]:
    if settings.urls():
        client, _ = connect_external(settings)
        try:
            yield client
        finally:
            client.close()
        return
    # The embedded server outlives this command and is leased while connected (see
    # knowledge/weaviate_lifetime.py): the next command skips the ~8 s start.
    with shared_server(
        settings.binary_path(),
        data_dir,
        settings.http_port,
        settings.startup_timeout,
        settings.idle_timeout,
    ) as endpoint:
        client = local_client(endpoint)
        try:
            yield client
        finally:
            client.close()
