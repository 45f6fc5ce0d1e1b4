"""External Weaviate: several URLs, replication factor, and a real three-node cluster losing a node."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import weaviate
from weaviate.classes.config import ConsistencyLevel
from weaviate.classes.query import Filter

from knowledge.access import AccessPolicy
from knowledge.connection import WeaviateConnectError, WeaviateSettings, collection_handles, connect
from knowledge.embeddings import EmbeddingSettings
from knowledge.loaders import DocumentDefaults, build_document
from knowledge.schema import TEXT_KEY, SchemaError, open_collection
from knowledge.service import KnowledgeSettings, WeaviateKnowledgeBase, open_knowledge, schema_stamp
from knowledge.store import ScopedWeaviateVectorStore
from knowledge.types import IngestStatus, Passage, SourceDocument
from knowledge.weaviate_server import Endpoint, free_port
from tests.conftest import REPO, KBFactory, weaviate_binary
from tests.weaviate_cluster import WeaviateCluster

pytestmark = pytest.mark.weaviate

GROUPS = {"everyone": ["*"], "hr-team": ["C0HR"], "security": ["C0SEC"]}
QUESTIONS = [
    "How many days per week can I work remotely?",
    "What is the daily limit for meals when travelling?",
    "How many weeks of paid leave does the birth parent get?",
    "How quickly must HR acknowledge a workplace complaint?",
]


class _NotReady(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def not_ready_url() -> Iterator[str]:
    """A server that answers, but not ready (a node still starting or shutting down)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotReady)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_first_ready_url_is_used(
    weaviate_server: Endpoint, not_ready_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    live = f"http://127.0.0.1:{weaviate_server.http_port}"
    settings = WeaviateSettings(
        url=f"{dead}, {not_ready_url},{live}",
        grpc_url=f"http://127.0.0.1:{free_port()},{not_ready_url},http://127.0.0.1:{weaviate_server.grpc_port}",
    )
    with caplog.at_level(logging.WARNING), connect(settings, tmp_path) as client:
        alias = f"Multi_{uuid.uuid4().hex[:10]}"
        open_collection(client, alias, schema_stamp(KnowledgeSettings()))  # REST and gRPC both work
        assert client.collections.get(alias).query.fetch_objects(limit=1).objects == []
    assert f"connected to Weaviate at {live}" in caplog.text and dead in caplog.text


def test_no_ready_url_names_each_and_why(not_ready_url: str, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with (
        pytest.raises(WeaviateConnectError) as caught,
        connect(WeaviateSettings(url=f"{dead},{not_ready_url}"), tmp_path),
    ):
        pass
    message = str(caught.value)
    assert message.startswith("no Weaviate server is ready; tried 2:")
    assert f"{dead} (ConnectError: [Errno 111] Connection refused)" in message
    assert f"{not_ready_url} (not ready (HTTP 503 from /v1/.well-known/ready))" in message


def test_a_factor_beyond_the_cluster_size_is_a_clear_error(weaviate_client: weaviate.WeaviateClient) -> None:
    with pytest.raises(
        SchemaError, match=r"replication factor 3 \(weaviate.replication_factor\): .*1 available, 3 requested"
    ):
        open_collection(weaviate_client, f"Rf_{uuid.uuid4().hex[:10]}", schema_stamp(KnowledgeSettings()), 3)


def test_an_existing_collection_with_fewer_copies_is_refused(
    weaviate_client: weaviate.WeaviateClient,
) -> None:
    alias, stamp = f"Rf_{uuid.uuid4().hex[:10]}", schema_stamp(KnowledgeSettings())
    name = open_collection(weaviate_client, alias, stamp)
    assert weaviate_client.collections.get(name).config.get().replication_config.factor == 1
    with pytest.raises(SchemaError, match=r"keeps 1 copy of each chunk .* is 2: .*`python app.py reindex`"):
        open_collection(weaviate_client, alias, stamp, 2)
    assert open_collection(weaviate_client, alias, stamp, 1) == name


def test_handles_carry_the_configured_levels(weaviate_client: weaviate.WeaviateClient) -> None:
    name = open_collection(weaviate_client, f"Cl_{uuid.uuid4().hex[:10]}", schema_stamp(KnowledgeSettings()))
    handles = collection_handles(
        weaviate_client, name, WeaviateSettings(read_consistency="ONE", write_consistency="ALL")
    )
    assert (handles.reads.consistency_level, handles.writes.consistency_level) == (
        ConsistencyLevel.ONE,
        ConsistencyLevel.ALL,
    )
    # One node, factor 1: every level is satisfied by the one copy (the defaults work embedded).
    defaults = collection_handles(weaviate_client, name, WeaviateSettings())
    assert defaults.writes.data.insert({"text": "x", "acl": ["*"]}) is not None
    assert len(defaults.reads.query.fetch_objects(limit=5).objects) == 1


def test_llamaindex_deletes_go_through_the_write_handle(make_kb: KBFactory) -> None:
    kb = make_kb(GROUPS)
    kb.ingest_documents(
        [
            policy(
                "bikes", "# Bikes\n\nStaff may lease a bicycle.\n\n## Parking\nBikes park in the basement."
            ),
            policy("canteen", "# Canteen\n\nLunch is served from noon."),
        ]
    )
    handles = collection_handles(kb.client, kb.collection_name, WeaviateSettings(write_consistency="ALL"))
    store = ScopedWeaviateVectorStore(
        weaviate_client=kb.client, index_name=kb.collection_name, text_key=TEXT_KEY, collections=handles
    )
    scope = kb.scope_for("C0HR")

    def visible(doc_id: str) -> set[str]:
        return {
            p.chunk_id for p in kb.retrieve("bicycle lunch basement", scope, top_k=20) if p.doc_id == doc_id
        }

    bikes = visible("bikes")
    first = sorted(bikes)[0]
    store.delete_nodes([first])
    assert visible("bikes") == bikes - {first}
    assert visible("canteen")
    store.delete("canteen")
    assert not visible("canteen")


def chunk_ids(passages: list[Passage]) -> list[str]:
    return [p.chunk_id for p in passages]


def policy(doc_id: str, text: str) -> SourceDocument:
    return build_document(f"{doc_id}.md", text, DocumentDefaults(audience=("everyone",), doc_id=doc_id))


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(0.5)


@pytest.mark.slow
def test_three_nodes_lose_one_and_the_restarted_node_catches_up(
    embedding_settings: EmbeddingSettings, tmp_path: Path
) -> None:
    access = AccessPolicy(groups=GROUPS)
    with WeaviateCluster(weaviate_binary(), tmp_path / "cluster") as cluster:
        # All three URLs, factor 3, the default QUORUM reads and writes: the project's own path.
        cluster_settings = WeaviateSettings(
            url=cluster.urls, grpc_url=cluster.grpc_urls, replication_factor=3, collection="ClusterChunks"
        )
        settings = KnowledgeSettings(weaviate=cluster_settings, embedding=embedding_settings)
        with open_knowledge(settings, access, tmp_path / "data") as kb:
            config = kb.client.collections.get(kb.collection_name).config.get()
            assert (config.replication_config.factor, config.sharding_config.desired_count) == (3, 1)
            ingested = kb.ingest_paths(
                [REPO / "samples" / "policies"], DocumentDefaults(audience=("everyone",))
            )
            assert [r for r in ingested if not r.ok] == []
            scope = kb.scope_for("C0HR")
            before = {q: chunk_ids(kb.retrieve(q, scope)) for q in QUESTIONS}
            assert all(before.values())

            # A crash (SIGKILL) of a node holding a replica, neither the one the client talks to
            # (node0: the client stays on the node it connected to) nor the raft leader: a write
            # sent while a leader election is under way can hang for a minute and fail.
            victim = 2 if cluster.leader() != 2 else 1
            cluster.kill(victim)

            assert {q: chunk_ids(kb.retrieve(q, scope)) for q in QUESTIONS} == before
            assert "remote-work" in {d.doc_id for d in kb.list_documents()}
            # Writes at QUORUM (2 of 3): a new document, and a new version replacing (deleting) an old one.
            added, replaced = kb.ingest_documents(
                [
                    policy(
                        "bike-scheme", "# Bike Scheme\n\nStaff may lease a bicycle through salary sacrifice."
                    ),
                    policy(
                        "expenses", "# Travel and Expenses\n\n## Meals\nMeals are reimbursed up to 75 EUR."
                    ),
                ]
            )
            assert (added.status, replaced.status) == (IngestStatus.ADDED, IngestStatus.REPLACED), (
                added,
                replaced,
            )
            bike_ids = [p.chunk_id for p in kb.retrieve("lease a bicycle", scope) if p.doc_id == added.doc_id]
            assert bike_ids
            [expenses] = [d for d in kb.list_documents() if d.doc_id == "expenses"]

        cluster.restart(victim)
        node = cluster.nodes[victim]
        alone = WeaviateSettings(
            url=node.url, grpc_url=node.grpc_url, read_consistency="ONE", collection="ClusterChunks"
        )
        with connect(alone, tmp_path / "alone") as client:
            name = open_collection(client, alone.collection, schema_stamp(settings), 3)
            reads = collection_handles(client, name, alone).reads

            def caught_up() -> bool:
                expenses_chunks = reads.query.fetch_objects(
                    filters=Filter.by_property("doc_id").equal("expenses"), limit=100
                ).objects
                return all(reads.query.fetch_object_by_id(i) is not None for i in bike_ids) and {
                    str(o.properties["content_hash"]) for o in expenses_chunks
                } == {expenses.content_hash}

            wait_for(caught_up, "the restarted node has what was written, not what was deleted, while down")
            # Its own copy, not a peer's: with the other two gone, it still answers (ONE, local replica).
            # (Built first: opening a store looks the collection up, and schema reads need a raft quorum.)
            kb_alone = WeaviateKnowledgeBase(
                client, name, kb.embed_model, access, settings.model_copy(update={"weaviate": alone})
            )
            for other in {0, 1, 2} - {victim}:
                cluster.kill(other)
            assert set(bike_ids) <= set(chunk_ids(kb_alone.retrieve("lease a bicycle", scope)))
