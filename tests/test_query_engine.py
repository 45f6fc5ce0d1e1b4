"""The answer path as a LlamaIndex query engine over a real Weaviate: scoped retriever, node
postprocessors (the score floor), and our answerer as the response synthesizer."""

from __future__ import annotations

from typing import Any

import pytest
import weaviate

from knowledge.loaders import DocumentDefaults, build_document
from knowledge.query_engine import RetrievalError
from knowledge.service import WeaviateKnowledgeBase
from knowledge.types import AccessScope, Passage
from tests.conftest import KBFactory

pytestmark = pytest.mark.weaviate
GROUPS = {"everyone": ["*"], "hr": ["C0HR"]}


@pytest.fixture(scope="module")
def kb(make_kb: KBFactory) -> WeaviateKnowledgeBase:
    kb = make_kb(GROUPS)
    docs = [
        build_document(
            "leave.md",
            "# Leave\n\nStaff get 25 days of annual leave.\n\n## Carry over\nFive days carry over.\n",
            DocumentDefaults(audience=("everyone",)),
            id_hint="leave",
        ),
        build_document(
            "pay.md",
            "# Pay bands\n\nBand C pays 60,000 EUR a year.\n",
            DocumentDefaults(audience=("hr",)),
            id_hint="pay",
        ),
    ]
    assert all(r.ok for r in kb.ingest_documents(docs))
    return kb


def echo(question: str, passages: list[Passage]) -> tuple[str, list[str]]:
    return question, [p.doc_id for p in passages]


def test_the_engine_answers_from_what_the_retriever_may_see(kb: WeaviateKnowledgeBase) -> None:
    scope = kb.scope_for("C0ENG")
    found = kb.answer("How many days of annual leave?", scope, echo)
    assert found.passages == kb.retrieve("How many days of annual leave?", scope)
    assert found.result == ("How many days of annual leave?", [p.doc_id for p in found.passages])
    assert "pay" not in found.result[1] and found.passages and found.retrieval_s > 0
    assert "pay" in [p.doc_id for p in kb.answer("band C pay", kb.scope_for("C0HR"), echo).passages]


def test_an_empty_scope_asks_nothing_and_the_answerer_gets_no_passages(kb: WeaviateKnowledgeBase) -> None:
    found = kb.answer("annual leave", AccessScope("C0X", frozenset()), echo)
    assert found.passages == [] and found.result == ("annual leave", [])


def test_the_score_floor_is_a_node_postprocessor(make_kb: KBFactory, kb: WeaviateKnowledgeBase) -> None:
    floored = WeaviateKnowledgeBase(
        kb.client,
        kb.collection_name,
        kb.embed_model,
        kb.access,
        kb.settings.model_copy(
            update={"retrieval": kb.settings.retrieval.model_copy(update={"score_floor": 0.99})}
        ),
    )
    scope = kb.scope_for("C0HR")
    everything = kb.retrieve("annual leave", scope)
    kept = floored.answer("annual leave", scope, echo).passages
    assert kept == [p for p in everything if p.score >= 0.99] and len(kept) < len(everything)


def test_a_failed_search_is_a_retrieval_error_not_the_answerers(
    kb: WeaviateKnowledgeBase, weaviate_server: Any
) -> None:
    client = weaviate.connect_to_local(
        host="127.0.0.1",
        port=weaviate_server.http_port,
        grpc_port=weaviate_server.grpc_port,
        skip_init_checks=True,
    )
    gone = WeaviateKnowledgeBase(client, kb.collection_name, kb.embed_model, kb.access, kb.settings)
    client.close()
    called: list[str] = []
    with pytest.raises(RetrievalError):
        gone.answer("annual leave", kb.scope_for("C0ENG"), lambda q, p: called.append(q))
    assert called == []

    def broken_answerer(question: str, passages: list[Passage]) -> None:
        raise KeyError("a bug in the answerer")

    with pytest.raises(KeyError):  # not mistaken for a search failure
        kb.answer("annual leave", kb.scope_for("C0ENG"), broken_answerer)
