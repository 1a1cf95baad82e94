"""Semantic cache: scoped nearest-neighbour lookup of paraphrased queries, with a verifier.

Pieces: ``features`` (lexical checks on a question pair), ``verifier`` (a small logistic
model over cosine + those checks), ``index`` (per-scope vectors, persisted in sqlite,
LRU/TTL bounded, optional hnswlib for large scopes), ``embedder`` (the host's embedding
model), ``cache`` (the runtime object the plugin keeps in ``host.state``), ``evaluate``
(the calibration tool behind ``clawhost semantic-cache eval``).
"""
