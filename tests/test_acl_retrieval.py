"""Access control against a real Weaviate: a restricted chunk never reaches an outside channel."""

from __future__ import annotations

import pytest
from llama_index.core.vector_stores.types import VectorStoreQuery, VectorStoreQueryMode

from knowledge.loaders import DocumentDefaults, build_document
from knowledge.store import AccessScopeRequired, ScopedWeaviateVectorStore
from knowledge.types import AccessScope
from tests.conftest import KBFactory

pytestmark = pytest.mark.weaviate

# Group names that share substrings: word tokenization would leak between them.
GROUPS = {
    "team-a": ["CA"],
    "team-ab": ["CAB"],
    "a-team": ["CATEAM"],
    "team": ["CTEAM"],
    "everyone": ["*"],
}
SECRETS = {
    group: f"The {group} launch codeword is zebra{index} and the budget is {index}00 thousand."
    for index, group in enumerate(["team-a", "team-ab", "a-team", "team"])
}
PUBLIC = "The cafeteria opens at eight and the launch of the new menu is on Monday."


@pytest.fixture(scope="module")
def kb(make_kb: KBFactory):  # type: ignore[no-untyped-def]
    base = make_kb(GROUPS, top_k=10)
    docs = [
        build_document(f"{g}.md", f"# {g} plans\n{text}\n", DocumentDefaults(audience=(g,)), id_hint=g)
        for g, text in SECRETS.items()
    ]
    docs.append(
        build_document(
            "public.md",
            f"# Cafeteria\n{PUBLIC}\n",
            DocumentDefaults(audience=("everyone",)),
            id_hint="public",
        )
    )
    results = base.ingest_documents(docs)
    assert all(r.ok for r in results), results
    return base


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("channel", ["CA", "CAB", "CATEAM", "CTEAM", "CUNKNOWN"])
def test_channel_sees_only_its_groups(kb, channel: str, alpha: float) -> None:  # type: ignore[no-untyped-def]
    scope = kb.scope_for(channel)
    allowed = scope.groups
    for group, secret in SECRETS.items():
        # The restricted text word for word: the strongest possible match for BM25 and vectors.
        passages = kb.retrieve(secret, scope, alpha=alpha)
        assert passages, "the public document should still be visible"
        for passage in passages:
            assert set(passage.acl) & allowed, (channel, passage)
        leaked = [p for p in passages if p.doc_id == group]
        if group in allowed:
            assert leaked and leaked[0].doc_id == passages[0].doc_id, "own secret should rank first"
        else:
            assert not leaked, f"{group} leaked to {channel} at alpha={alpha}"


def test_unknown_channel_sees_only_open_documents(kb) -> None:  # type: ignore[no-untyped-def]
    passages = kb.retrieve("launch codeword budget", kb.scope_for("C0STRANGER"), alpha=0.5)
    assert {p.doc_id for p in passages} == {"public"}


def test_empty_scope_returns_nothing(kb) -> None:  # type: ignore[no-untyped-def]
    assert kb.retrieve(SECRETS["team-a"], AccessScope("CX", frozenset())) == []


def test_store_refuses_unscoped_and_overriding_queries(kb) -> None:  # type: ignore[no-untyped-def]
    store = ScopedWeaviateVectorStore(weaviate_client=kb.client, index_name=kb.collection_name)
    vector = kb.embed_model.get_query_embedding("codeword")
    query = VectorStoreQuery(
        query_embedding=vector,
        query_str="codeword",
        similarity_top_k=5,
        mode=VectorStoreQueryMode.HYBRID,
        alpha=0.5,
    )
    with pytest.raises(AccessScopeRequired):
        store.query(query)
    with pytest.raises(TypeError, match="unsupported query arguments: filters"):
        store.query(query, scope=kb.scope_for("CA"), filters=None)
    empty = store.query(query, scope=AccessScope("CX", frozenset()))
    assert empty.nodes == []
    scoped = store.query(query, scope=kb.scope_for("CA"))
    assert {n.ref_doc_id for n in scoped.nodes} <= {"team-a", "public"}
    assert all(n.embedding is None for n in scoped.nodes), "vectors must not be shipped back"


def test_alpha_zero_is_pure_bm25(kb) -> None:  # type: ignore[no-untyped-def]
    scope = kb.scope_for("CA")
    lexical = kb.retrieve("zebra0", scope, alpha=0.0)
    assert [p.doc_id for p in lexical] == ["team-a"], "BM25 returns only documents containing the term"
    hybrid = kb.retrieve("zebra0", scope, alpha=0.5)
    assert {p.doc_id for p in hybrid} == {"team-a", "public"}, "hybrid also brings in the vector leg"


def test_bm25_ignores_metadata_fields(kb) -> None:  # type: ignore[no-untyped-def]
    # "everyone" appears only in the acl property and the LlamaIndex JSON blob, never in text or title.
    assert kb.retrieve("everyone", kb.scope_for("CA"), alpha=0.0) == []


def test_score_floor_drops_weak_passages(make_kb: KBFactory) -> None:
    kb = make_kb({"everyone": ["*"]}, score_floor=0.9)
    kb.ingest_documents(
        [
            build_document(
                "a.md",
                "# Parking\nParking permits are issued by facilities.\n",
                DocumentDefaults(("everyone",)),
            ),
            build_document(
                "b.md",
                "# Holidays\nThe office closes between Christmas and New Year.\n",
                DocumentDefaults(("everyone",)),
            ),
        ]
    )
    passages = kb.retrieve("parking permits", kb.scope_for("C1"))
    assert [p.doc_id for p in passages] == ["parking"]
    assert passages[0].score >= 0.9
