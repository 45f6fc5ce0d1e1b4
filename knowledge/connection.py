"""Connecting to Weaviate: the embedded server by default, `WEAVIATE_URL` when set."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import weaviate
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from weaviate.classes.init import AdditionalConfig, Auth, Timeout

from knowledge.weaviate_server import WEAVIATE_VERSION, EmbeddedWeaviate, default_binary_path

logger = logging.getLogger(__name__)


class WeaviateSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = Field(
        None, description="WEAVIATE_URL: an external server; unset runs the embedded one."
    )
    grpc_url: str | None = Field(
        None, description="WEAVIATE_GRPC_URL; default: the URL's host on port 50051."
    )
    api_key: SecretStr | None = Field(None, description="WEAVIATE_API_KEY for an external server.")
    binary: Path | None = Field(None, description="WEAVIATE_BIN: the weaviate-server binary to run.")
    http_port: int | None = Field(
        None, description="Fixed HTTP port for the embedded server (default: a free one)."
    )
    startup_timeout: float = Field(90.0, gt=0, description="Seconds to wait for the embedded server.")
    collection: str = Field("PolicyChunks", pattern=r"^[A-Z][A-Za-z0-9_]*$", description="Collection alias.")
    replication_factor: int = Field(1, ge=1, description="Copies of each chunk (external clusters).")

    def binary_path(self) -> Path:
        return self.binary or default_binary_path(WEAVIATE_VERSION)


_TIMEOUTS = AdditionalConfig(timeout=Timeout(init=10, query=30, insert=120))


def _connect_external(settings: WeaviateSettings) -> weaviate.WeaviateClient:
    assert settings.url is not None
    http = urlparse(settings.url)
    grpc = urlparse(settings.grpc_url) if settings.grpc_url else None
    secure = http.scheme == "https"
    return weaviate.connect_to_custom(
        http_host=http.hostname or "localhost",
        http_port=http.port or (443 if secure else 80),
        http_secure=secure,
        grpc_host=(grpc.hostname if grpc else None) or http.hostname or "localhost",
        grpc_port=(grpc.port if grpc else None) or 50051,
        grpc_secure=(grpc.scheme == "https") if grpc else secure,
        auth_credentials=Auth.api_key(settings.api_key.get_secret_value()) if settings.api_key else None,
        additional_config=_TIMEOUTS,
        skip_init_checks=True,  # the init checks call out to the internet
    )


@contextmanager
def connect(settings: WeaviateSettings, data_dir: Path) -> Iterator[weaviate.WeaviateClient]:
    if settings.url:
        client = _connect_external(settings)
        try:
            yield client
        finally:
            client.close()
        return
    with EmbeddedWeaviate(
        settings.binary_path(), data_dir, settings.http_port, settings.startup_timeout
    ) as endpoint:
        client = weaviate.connect_to_local(
            host=endpoint.host,
            port=endpoint.http_port,
            grpc_port=endpoint.grpc_port,
            additional_config=_TIMEOUTS,
            skip_init_checks=True,
        )
        try:
            yield client
        finally:
            client.close()
