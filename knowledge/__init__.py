"""Documents, chunking, embeddings, the Weaviate index and hybrid retrieval under ACL.

Imports nothing of the rest of the project; Weaviate and LlamaIndex types stay inside.
"""
