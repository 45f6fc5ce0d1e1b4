"""Shared fixtures: a real Weaviate server, the real embedding model, and a network guard."""

from __future__ import annotations

import ipaddress
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import weaviate
from sqlalchemy import Engine

from bot.store.database import create_db_engine, migrate
from knowledge.access import AccessPolicy
from knowledge.connection import WeaviateSettings
from knowledge.embeddings import EmbeddingSettings, load_embedding_model
from knowledge.schema import open_collection
from knowledge.service import KnowledgeSettings, WeaviateKnowledgeBase, schema_stamp
from knowledge.weaviate_lifetime import stop_server
from knowledge.weaviate_server import EmbeddedWeaviate, Endpoint, default_binary_path
from tests.cli_runner import cli
from tests.fakes.postgres_server import PostgresServer
from tests.server_processes import kill_all, server_processes

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
POLICY_QA = SHARED / "data" / "policy-qa"


def _is_local(address: object) -> bool:
    if isinstance(address, tuple) and address:
        host = str(address[0])
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host.split("%", maxsplit=1)[0]).is_loopback
        except ValueError:
            return False
    return True  # unix sockets


@pytest.fixture(autouse=True, scope="session")
def _no_internet() -> Iterator[None]:
    """Any Python-level connection to a non-loopback address fails the test loudly."""
    original = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> None:
        if not _is_local(address):
            raise RuntimeError(f"test tried to reach the network: {address!r}")
        original(self, address)  # type: ignore[arg-type]

    socket.socket.connect = guarded  # type: ignore[method-assign]
    yield
    socket.socket.connect = original  # type: ignore[method-assign]


def model_path() -> Path:
    configured = os.environ.get("EMBED_MODEL_PATH")
    path = Path(configured) if configured else SHARED / "models" / "all-MiniLM-L6-v2-onnx"
    if not (path / "model.onnx").is_file():
        pytest.fail(f"embedding model not found at {path}: set EMBED_MODEL_PATH")
    return path


def weaviate_binary() -> Path:
    path = Path(os.environ.get("WEAVIATE_BIN") or default_binary_path())
    if not path.is_file():
        pytest.fail(f"weaviate-server not found at {path}: run `make weaviate` or set WEAVIATE_BIN")
    return path


@pytest.fixture(scope="session")
def embedding_settings() -> EmbeddingSettings:
    return EmbeddingSettings(model_path=model_path())


@pytest.fixture(scope="session")
def embed_model(embedding_settings: EmbeddingSettings):  # type: ignore[no-untyped-def]
    return load_embedding_model(embedding_settings)


@pytest.fixture(scope="session")
def weaviate_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    server = EmbeddedWeaviate(weaviate_binary(), tmp_path_factory.mktemp("weaviate-session"))
    with server as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def weaviate_client(weaviate_server: Endpoint) -> Iterator[weaviate.WeaviateClient]:
    client = weaviate.connect_to_local(
        host=weaviate_server.host,
        port=weaviate_server.http_port,
        grpc_port=weaviate_server.grpc_port,
        skip_init_checks=True,
    )
    yield client
    client.close()


@pytest.fixture(scope="session")
def weaviate_url(weaviate_server: Endpoint) -> str:
    return f"http://{weaviate_server.host}:{weaviate_server.http_port}"


KBFactory = Callable[..., WeaviateKnowledgeBase]


@pytest.fixture(scope="session")
def make_kb(
    weaviate_client: weaviate.WeaviateClient,
    embed_model,
    embedding_settings: EmbeddingSettings,  # type: ignore[no-untyped-def]
) -> KBFactory:
    """A knowledge base on its own fresh collection of the session's server."""

    def build(groups: dict[str, list[str]], **retrieval: object) -> WeaviateKnowledgeBase:
        alias = f"Test_{uuid.uuid4().hex[:12]}"
        settings = KnowledgeSettings(
            weaviate=WeaviateSettings(collection=alias),
            embedding=embedding_settings,
            retrieval=retrieval or {},  # type: ignore[arg-type]
        )
        name = open_collection(weaviate_client, alias, schema_stamp(settings))
        return WeaviateKnowledgeBase(
            weaviate_client, name, embed_model, AccessPolicy(groups=groups), settings
        )

    return build


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL on loopback for the session; tests create their own databases."""
    with PostgresServer() as server:
        yield server


@pytest.fixture(autouse=True, scope="session")
def _no_server_left_behind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Fails the run if a test left a Weaviate keeper or server running on its data (and stops it).

    A command's embedded server outlives the command by design: each test that runs one
    without WEAVIATE_URL must stop it (the `env` and `data_dir` fixtures do)."""
    yield
    base = tmp_path_factory.getbasetemp()
    left = server_processes(base)
    if not left:
        return
    for data_dir in {p.data_dir for p in left if p.kind == "keeper"}:
        stop_server(data_dir, force=True)
    kill_all([p for p in server_processes(base) if p.kind == "weaviate"])
    pytest.fail(
        "tests left Weaviate running (now stopped): "
        + ", ".join(f"{p.kind} pid {p.pid} on {p.data_dir}" for p in left)
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A data directory whose embedded server (if a command started one) is stopped afterwards."""
    path = tmp_path / "data"
    yield path
    stop_server(path, force=True)


@pytest.fixture
def env(weaviate_url: str, weaviate_server: Endpoint, data_dir: Path, tmp_path: Path) -> dict[str, str]:
    """Environment for a CLI subprocess: the session's server, a collection and data dir of its own.

    Without WEAVIATE_URL a command starts an embedded server on the data dir that outlives
    it: `data_dir` stops it at teardown."""
    config = tmp_path / "settings.yaml"
    sample = (REPO / "config" / "sample.yaml").read_text()
    config.write_text(sample + f"weaviate:\n  collection: Cli_{uuid.uuid4().hex[:10]}\n")
    return {
        **os.environ,
        "WEAVIATE_URL": weaviate_url,
        "WEAVIATE_GRPC_URL": f"http://127.0.0.1:{weaviate_server.grpc_port}",
        "EMBED_MODEL_PATH": str(model_path()),
        "SUPPORTBOT_DATA_DIR": str(data_dir),
        "CFG": str(config),
        # A developer's own key or database must never be used by a test (empty = unset).
        "ANTHROPIC_API_KEY": "",
        "ANTHROPIC_BASE_URL": "",
        "DATABASE_URL": "",
    }


@pytest.fixture(scope="module")
def _samples_config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    # Filled by the first test that asks for `samples_env`; a directory of the module's own,
    # as that test's tmp_path may be removed after it (tmp_path_retention_policy).
    return {"dir": str(tmp_path_factory.mktemp("samples"))}


@pytest.fixture
def samples_env(env: dict[str, str], _samples_config: dict[str, str]) -> dict[str, str]:
    """`env` (its own data directory) on one collection per module holding samples/policies.

    The samples are ingested once, by the first test of the module that asks; later tests
    reuse that settings file (the collection lives in Weaviate, not in the data directory).
    """
    if "CFG" not in _samples_config:
        config = Path(_samples_config["dir"]) / "settings.yaml"
        config.write_text(Path(env["CFG"]).read_text())
        ingested = cli(["ingest", "samples/policies"], {**env, "CFG": str(config)})
        assert ingested.returncode == 0, ingested.stdout + ingested.stderr
        _samples_config["CFG"] = str(config)
    return {**env, "CFG": _samples_config["CFG"]}


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database: once on SQLite, once on the session's PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'log.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.create_database(f"log_{uuid.uuid4().hex[:10]}")
    engine = create_db_engine(url)
    migrate(engine)
    yield engine
    engine.dispose()
