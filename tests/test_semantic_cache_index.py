"""The semantic index alone: bounds, LRU, TTL, persistence, the optional HNSW graph; features."""

from __future__ import annotations

import json

import numpy as np
import pytest

from clawhost.plugins.semantic_cache.features import NAMES, pair_features
from clawhost.plugins.semantic_cache.index import SemanticIndex
from clawhost.plugins.semantic_cache.verifier import Candidate, Settings, Verifier

DIM = 16


def unit(rng, n=1):
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def open_index(path, **kw):
    args = dict(dim=DIM, fingerprint="test:16", max_entries=1000, max_bytes=10**9,
                ann_min_entries=10**6)
    args.update(kw)
    return SemanticIndex(path, **args)


def body(text):
    return {"choices": [{"message": {"role": "assistant", "content": text}}]}


def test_entries_bound_evicts_the_least_recently_used(tmp_path):
    rng = np.random.default_rng(0)
    ix = open_index(tmp_path / "i.sqlite", max_entries=3)
    vecs = unit(rng, 4)
    ids = [ix.add("s", f"q{i}", vecs[i], body(f"a{i}"), ttl=60) for i in range(3)]
    ix.touch(ids[0])                      # q0 is now the most recently used
    ix.add("s", "q3", vecs[3], body("a3"), ttl=60)
    assert len(ix) == 3 and ids[1] not in ix.entries and ids[0] in ix.entries
    assert ix.evicted == 1
    # the survivors are still found at their own vectors
    assert ix.search("s", vecs[0], 1)[0][0] == ids[0]


def test_bytes_bound_holds(tmp_path):
    rng = np.random.default_rng(1)
    ix = open_index(tmp_path / "i.sqlite", max_bytes=5000)
    for i in range(40):
        ix.add("s", f"question {i}", unit(rng)[0], body("x" * 200), ttl=60)
        assert ix.bytes <= 5000
    assert 0 < len(ix) < 40


def test_expired_entries_are_purged_and_not_reloaded(tmp_path):
    rng = np.random.default_rng(2)
    ix = open_index(tmp_path / "i.sqlite")
    ix.add("s", "old", unit(rng)[0], body("a"), ttl=10, now=1000.0)
    keep = ix.add("s", "new", unit(rng)[0], body("b"), ttl=10**9)
    assert ix.purge_expired(now=1011.0) == 1 and list(ix.entries) == [keep]
    ix.close()
    again = open_index(tmp_path / "i.sqlite")
    assert list(again.entries) == [keep] and again.answer(keep) == body("b")


def test_persistence_keeps_vectors_scopes_and_lru_order(tmp_path):
    rng = np.random.default_rng(3)
    vecs = unit(rng, 3)
    ix = open_index(tmp_path / "i.sqlite", max_entries=3)
    ids = [ix.add(f"scope{i % 2}", f"q{i}", vecs[i], body(f"a{i}"), ttl=60) for i in range(3)]
    ix.touch(ids[0], now=ix.entries[ids[2]].created + 5)
    ix.close()
    ix = open_index(tmp_path / "i.sqlite", max_entries=3)
    assert ix.search("scope0", vecs[2], 2)[0][0] == ids[2]
    assert ix.search("scope1", vecs[1], 5) == [(ids[1], pytest.approx(1.0, abs=1e-5))]
    assert list(ix.lru)[-1] == ids[0]      # the touched entry is still the freshest
    ix.add("scope1", "q3", unit(rng)[0], body("a3"), ttl=60)
    assert ids[1] not in ix.entries        # so the oldest untouched one went first


def test_another_embedder_starts_an_empty_index(tmp_path):
    ix = open_index(tmp_path / "i.sqlite")
    ix.add("s", "q", unit(np.random.default_rng(4))[0], body("a"), ttl=60)
    ix.close()
    assert len(open_index(tmp_path / "i.sqlite", fingerprint="other:16")) == 0


def test_scopes_are_searched_apart(tmp_path):
    rng = np.random.default_rng(5)
    v = unit(rng)[0]
    ix = open_index(None)
    ix.add("a", "q", v, body("a"), ttl=60)
    assert ix.search("b", v, 4) == []


def test_the_hnsw_graph_finds_what_brute_force_finds(tmp_path):
    pytest.importorskip("hnswlib")
    rng = np.random.default_rng(6)
    vecs = unit(rng, 300)
    ix = open_index(None, ann_min_entries=100)
    ids = [ix.add("s", f"q{i}", vecs[i], body(str(i)), ttl=60, commit=False) for i in range(300)]
    block = ix.blocks["s"]
    for _ in range(200):
        if block.ann is not None:
            break
        import time
        time.sleep(0.02)
    assert block.ann is not None
    ix.remove(ids[5])
    hits = [ix.search("s", vecs[i], 1)[0][0] for i in range(0, 300, 7) if i != 5]
    assert hits == [ids[i] for i in range(0, 300, 7) if i != 5]
    assert all(e != ids[5] for e, _ in ix.search("s", vecs[5], 3))


def test_features_see_numbers_negation_antonyms_and_names():
    f = dict(zip(NAMES, pair_features(0.95, "Best phone in 2016?", "Best phone in 2017?")))
    assert f["number_mismatch"] == 1
    f = dict(zip(NAMES, pair_features(0.95, "Is tea good for you?", "Is tea not good for you?")))
    assert f["negation_mismatch"] == 1
    f = dict(zip(NAMES, pair_features(0.95, "Is tea good for you?", "Is tea bad for you?")))
    assert f["antonym"] == 1
    f = dict(zip(NAMES, pair_features(0.95, "Jobs at Google?", "Jobs at Microsoft?")))
    assert f["entity_mismatch"] == 2
    f = dict(zip(NAMES, pair_features(0.99, "How do I reset my password?", "how do i reset my password")))
    assert (f["number_mismatch"], f["negation_mismatch"], f["antonym"], f["jaccard"]) == (0, 0, 0, 1)


def test_negation_rule_rejects_a_flip_not_a_rewording():
    v = Verifier(Settings(min_similarity=0.8, verifier=False, rules=("negation",),
                          structure=False))  # the rule alone (contrast rejects both)
    assert v.judge(0.97, "Is tea good for you?", "Is tea not good for you?") == 0.0
    assert v.judge(0.97, "How do I lose weight?", "How do I not lose weight?") == 0.0
    # the same fact said with and without a negation word is left to the verifier
    assert v.judge(0.9, "No, LOAD_HU doesn't exist in v2.10.0.",
                   "LOAD_HU is not a feature of v2.10.0.") == 0.9
    assert Verifier(Settings(min_similarity=0.8, verifier=False, rules=(), structure=False)).judge(
        0.97, "Is tea good for you?", "Is tea not good for you?") == 0.97


def test_verifier_orders_rejects_and_detects_ambiguity():
    v = Verifier(Settings(min_similarity=0.8, verifier=False, margin=0.05))
    new = "Is tea bad for you?"
    assert v.choose(new, [Candidate(1, 0.97, "Is tea good for you?", "x")]).reason == "rejected"
    d = v.choose(new, [Candidate(1, 0.93, "Is tea bad for you?", "x"),
                       Candidate(2, 0.95, "Is tea bad for you at all?", "y")])
    assert d.reason == "ambiguous"
    d = v.choose(new, [Candidate(1, 0.93, "Is tea bad for you?", "x"),
                       Candidate(2, 0.95, "Is tea bad for you at all?", "x")])
    assert (d.reason, d.entry_id) == ("hit", 2)   # same answer: nothing to choose between
    assert v.choose(new, [Candidate(1, 0.25, new, "x")]).reason == "miss"
    with pytest.raises(ValueError, match="unknown verifier rule"):
        Verifier(Settings(rules=("colour",)))


def _weights_file(tmp_path, dim=4, threshold=0.6):
    """A lexical part that scores 0.5 (all zero) and interaction terms on dimension 0 only."""
    n = len(NAMES)
    diff, prod = np.zeros(dim, np.float32), np.zeros(dim, np.float32)
    diff[0], prod[0] = -10.0, 4.0
    np.savez(tmp_path / "w.npz", diff=diff, prod=prod)
    (tmp_path / "w.json").write_text(json.dumps({
        "features": list(NAMES), "mean": [0.0] * n, "scale": [1.0] * n, "coef": [0.0] * n,
        "bias": 0.0, "pair_terms": "w.npz", "info": {"threshold": threshold}}))
    return tmp_path / "w.json"


def test_interaction_weights_use_both_vectors_and_their_own_threshold(tmp_path):
    path = _weights_file(tmp_path)
    v = Verifier(Settings(min_similarity=0.5, rules=(), weights=str(path), structure=False))
    assert v.threshold == 0.6 and v.weights.dim == 4
    u = np.array([0.5, 0.5, 0.5, 0.5], np.float32)
    same = v.judge(0.9, "q", "q", u, u)                 # z = 4 * 0.25 = 1: score 0.73
    far = v.judge(0.9, "q", "q", u, np.array([-0.5, 0.5, 0.5, 0.5], np.float32))
    assert same > 0.7 > 0.01 > far                    # |u-v| on dim 0 costs -10
    with pytest.raises(ValueError, match="need the two query vectors"):
        v.judge(0.9, "q", "q")
    d = v.choose("q", [Candidate(1, 0.9, "q", "a", u)], u)
    assert (d.reason, d.entry_id) == ("hit", 1)
    # another embedder's dimension: fall back to the lexical-only weights
    assert v.for_dim(4) is v and v.for_dim(64).weights.dim is None


def test_shipped_weight_sets_load_without_pickle():
    lexical = Verifier(Settings())
    interaction = Verifier(Settings(weights="interaction"))
    assert lexical.weights.dim is None and lexical.threshold == 0.75
    assert interaction.weights.dim == 384 and 0.3 <= interaction.threshold <= 0.99
    assert Verifier(Settings(weights="interaction", threshold=0.5)).threshold == 0.5
