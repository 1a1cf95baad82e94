"""``clawhost semantic-cache eval``: output format on a tiny BERT, and the real model (slow)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import ask as ask_chat
from conftest import models_settled, run_cli
from test_local_embed import _tiny_model

from clawhost.engines.bert_graph import build_bert_onnx
from clawhost.plugins.semantic_cache import evaluate
from clawhost.plugins.semantic_cache.verifier import Candidate, Settings, Verifier
from clawhost.plugins.semantic_cache import STATE as SEMANTIC_CACHE_STATE
from clawhost.api import CACHE_RESULT

PAIRS = [("how do i bake bread", "what is a recipe for bread", True),
         ("how do i fix a car", "how do i fix the car", True),
         ("the cat sat on the mat", "the dog ran fast", False),
         ("what is bread", "how do i fix a car", False)]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A config whose workspace holds a prepared (tiny) embedding model, as the CLI finds it."""
    root = tmp_path_factory.mktemp("semantic_eval")
    _tiny_model(root / "src")
    build_bert_onnx(root / "src", root / "ws" / "models" / "all-minilm-l6-v2", "fp32")
    (root / "config.yaml").write_text("workspace: ./ws\nplugins:\n  semantic_cache:\n"
                                      "    verifier: false\n    min_similarity: 0.5\n")
    with open(root / "pairs.jsonl", "w") as fh:
        for a, b, dup in PAIRS:
            fh.write(json.dumps({"a": a, "b": b, "duplicate": dup}) + "\n")
    return root


def cli(root, *args):
    return run_cli("semantic-cache", "eval", "--config", str(root / "config.yaml"),
                   "--pairs", str(root / "pairs.jsonl"), *args)


def expected(root, floor):
    """The figures computed here, straight from the engine, for the CLI to agree with."""
    from clawhost.engines.embed_engine import EmbedEngine
    eng = EmbedEngine.load(root / "ws" / "models" / "all-minilm-l6-v2", threads=1)
    a, b = eng.embed([p[0] for p in PAIRS]), eng.embed([p[1] for p in PAIRS])
    cos = (a * b).sum(1)
    hit = cos >= floor
    y = np.array([p[2] for p in PAIRS])
    return int(hit.sum()), int((hit & y).sum())


def test_eval_json_has_the_named_figures(workspace):
    out = cli(workspace, "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    for name in ("hits", "precision", "recall", "false_hit_rate"):
        assert name in data
    hits, correct = expected(workspace, 0.5)
    assert data["hits"] == hits and data["correct"] == correct
    assert data["recall"] == pytest.approx(correct / 2, abs=1e-4)
    assert data["settings"]["min_similarity"] == 0.5


def test_eval_text_sweep_and_suggestion(workspace):
    out = cli(workspace, "--sweep", "--target-precision", "0.5")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("pairs 4  duplicates 2")
    assert lines[2].startswith("hits ") and "precision" in lines[2] and "false-hit rate" in lines[2]
    rows = [ln.split() for ln in lines if ln.strip()[:1].isdigit() and ln.split()[0].count(".") == 1
            and len(ln.split()) == 5]
    assert len(rows) >= 10                       # one row per threshold
    hits = [int(r[1]) for r in rows]
    assert hits == sorted(hits, reverse=True)    # a higher threshold never hits more
    assert any(ln.startswith(("suggested:", "no min_similarity")) for ln in lines)


# One QQP row the shipped verifier trained on (outside the held-back split).
TRAINED = {"a": "What are some good reasons to practice sampling?",
           "b": "Why snapdragon quad-core 820 gets 2 times higher the marks in Antutu than "
                "octa-core 810?", "duplicate": False}


def test_eval_reports_what_it_ran_per_kind_and_warns_about_training_rows(workspace, tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"workspace: {workspace / 'ws'}\nplugins:\n  semantic_cache:\n"
                   "    verifier: false\n    min_similarity: 0.735\n")
    pairs = tmp_path / "pairs.jsonl"
    rows = [{"a": a, "b": b, "duplicate": d, "kind": "mine" if d else "other"}
            for a, b, d in PAIRS] + [{**TRAINED, "kind": "other"}]
    pairs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = run_cli("semantic-cache", "eval", "--config", str(cfg), "--pairs", str(pairs),
                  "--json", "--sweep", "--target-precision", "0.01")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    # no learned score ran: no verifier threshold or weights claimed
    assert data["settings"]["verifier"] is False
    assert data["settings"]["verifier_threshold"] is None
    assert data["settings"]["verifier_weights"] is None and data["settings"]["structure"]
    # the configured floor is a row of the sweep, and the suggestion says what it costs
    assert 0.735 in [row["min_similarity"] for row in data["sweep"]]
    assert len(data["sweep"]) >= 40
    assert "recall_cost" in data["suggestion"]
    kinds = data["kinds"]
    assert kinds["mine"]["duplicates"] == 2 and kinds["other"]["pairs"] == 3
    assert kinds["mine"]["duplicates_hit"] + kinds["other"]["near_misses_served"] == data["hits"]
    assert data["training_overlap"]["pairs"] == 1
    assert "training pairs" not in out.stderr  # nothing trained ran: nothing to flatter
    # the lexical weights trained on the same split: now the overlap is a warning
    cfg.write_text(f"workspace: {workspace / 'ws'}\nplugins:\n  semantic_cache:\n"
                   "    verifier_model: null\n    min_similarity: 0.5\n")
    text = run_cli("semantic-cache", "eval", "--config", str(cfg), "--pairs", str(pairs))
    assert text.returncode == 0, text.stderr
    assert "duplicates hit" in text.stdout and "near-misses served" in text.stdout
    assert "1 of 5 pairs were training pairs of the shipped verifier" in text.stderr


def test_training_overlap_counts_pairs_either_way_round_and_recased(tmp_path):
    import numpy as np

    from clawhost.plugins.semantic_cache.training_pairs import overlap, pair_hash, text_hash
    np.savez(tmp_path / "h.npz", pairs=np.array([pair_hash("How do I X?", "How can I X?")]),
             texts=np.array([text_hash("How do I X?")]))
    got = overlap([evaluate.Pair("how can i x", "HOW DO I X", True),
                   evaluate.Pair("How do I X?", "something else", False),
                   evaluate.Pair("new", "pair", False)], tmp_path / "h.npz")
    assert (got.pairs, got.texts) == (1, 2)
    assert overlap([evaluate.Pair("a", "b", True)], tmp_path / "none.npz") is None


def test_eval_errors_are_one_line(workspace, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": "x"}\n')
    out = run_cli("semantic-cache", "eval", "--config", str(workspace / "config.yaml"),
                  "--pairs", str(bad))
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "bad.jsonl:1: missing key 'b'" in out.stderr
    out = run_cli("semantic-cache", "eval", "--config", str(workspace / "config.yaml"),
                  "--pairs", str(tmp_path / "nowhere.jsonl"))
    assert out.returncode != 0 and "does not exist" in out.stderr and "Errno" not in out.stderr
    empty = tmp_path / "config.yaml"
    empty.write_text("workspace: ./nothing\n")
    out = run_cli("semantic-cache", "eval", "--config", str(empty), "--pairs", str(bad))
    assert out.returncode != 0 and "clawhost model prepare" in out.stderr


# -- the token-alignment ("align") verifier -------------------------------------------
def test_token_encoder_gives_unit_token_vectors_without_cls_and_sep(workspace):
    from clawhost.plugins.semantic_cache.tokens import TokenEncoder, align_features
    enc = TokenEncoder(workspace / "ws" / "models" / "all-minilm-l6-v2")
    (va, ia), (vb, ib), (vc, _) = enc.encode(["how do i bake bread", "how do i bake bread",
                                              "the dog ran fast"])
    assert va.shape[0] == len(ia) == 5 and np.allclose(np.linalg.norm(va, axis=1), 1, atol=1e-5)
    assert np.array_equal(va, vb)                # the memo hands back the same arrays
    idf = np.ones(enc.vocab_size, np.float32)
    same = align_features((va, ia), (vb, ib), idf)
    assert same[:6] == pytest.approx([1.0] * 6, abs=1e-5) and same[10:14] == [0.0] * 4
    other = align_features((va, ia), (vc, enc.encode(["the dog ran fast"])[0][1]), idf)
    assert other[2] < same[2] - 0.05             # a different question aligns worse


def test_forest_export_matches_scikit_learn(tmp_path):
    sklearn = pytest.importorskip("sklearn.ensemble")
    from clawhost.plugins.semantic_cache.trees import Forest, export
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 5))
    y = (x[:, 0] + 0.5 * x[:, 1] * x[:, 2] > 0).astype(float)
    model = sklearn.HistGradientBoostingClassifier(max_iter=20, max_leaf_nodes=7).fit(x, y)
    export(model, tmp_path / "f.npz")
    forest = Forest.load(tmp_path / "f.npz")
    assert np.abs(forest.score(x) - model.predict_proba(x)[:, 1]).max() < 1e-9
    assert ((forest.score(x) > 0.5) == y).mean() > 0.9


def test_shipped_align_weights_load_and_need_tokens(workspace):
    v = Verifier(Settings(weights="align"))
    assert v.needs_tokens and 0.3 <= v.threshold <= 0.99
    assert v.weights.idf.shape == (30522,) and v.weights.forest.roots.size >= 50
    with pytest.raises(ValueError, match="need token vectors"):
        v.judge(0.9, "q", "q")
    lexical = Verifier(Settings(weights="align")).attach(None)   # no artifact: lexical
    assert not lexical.needs_tokens and lexical.threshold == 0.75
    tiny = v.attach(workspace / "ws" / "models" / "all-minilm-l6-v2")
    assert tiny is v and v.tokens is not None
    assert 0.0 <= v.judge(0.9, "how do i bake bread", "how do i bake bread") <= 1.0
    assert v.judge(0.95, "bread in 2016", "bread in 2017") == 0.0   # rules still come first


def test_eval_cli_runs_the_align_verifier_like_the_library(workspace, tmp_path):
    """The CLI finds the token vectors in the same artifact and agrees with decide()."""
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"workspace: {workspace / 'ws'}\nplugins:\n  semantic_cache:\n"
                   "    verifier_model: null\n    verifier_weights: align\n    min_similarity: 0.5\n    rules: []\n")
    out = run_cli("semantic-cache", "eval", "--config", str(cfg), "--pairs",
                  str(workspace / "pairs.jsonl"), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["settings"]["verifier_weights"] == "align"
    from clawhost.engines.embed_engine import EmbedEngine
    folder = workspace / "ws" / "models" / "all-minilm-l6-v2"
    eng = EmbedEngine.load(folder, threads=1)
    pairs = [evaluate.Pair(*p) for p in PAIRS]
    emb = evaluate.embed_pairs(eng.embed, pairs, folder)
    v = Verifier(Settings(min_similarity=0.5, rules=(), weights="align"))
    hit = evaluate.decide(v, pairs, emb)
    assert v.tokens is not None                  # decide() attached the token encoder
    assert data["hits"] == int(hit.sum())
    assert data["settings"]["verifier_threshold"] == v.threshold


@pytest.mark.slow
def test_real_minilm_verifier_beats_raw_cosine_on_look_alikes(tmp_path, packaged_minilm):
    build_bert_onnx(packaged_minilm, tmp_path / "int8", "int8")
    from clawhost.engines.embed_engine import EmbedEngine
    eng = EmbedEngine.load(tmp_path / "int8", threads=2)
    pairs = [evaluate.Pair(a, b, d) for a, b, d in [
        ("How do I reset my password?", "How can I reset my password?", True),
        ("What is the capital of France?", "Which city is the capital of France?", True),
        ("Is coffee good for your health?", "Is coffee bad for your health?", False),
        ("What was the best phone in 2016?", "What was the best phone in 2017?", False),
        ("Can I take ibuprofen with alcohol?", "Can I not take ibuprofen with alcohol?", False)]]
    emb = evaluate.embed_pairs(eng.embed, pairs)
    raw = evaluate.figures(pairs, emb.cos >= 0.85)
    ours = evaluate.figures(pairs, evaluate.decide(Verifier(Settings()), pairs, emb))
    assert raw.hits - raw.correct >= 2           # raw cosine serves the look-alikes
    assert ours.hits == ours.correct >= 1        # the shipped verifier serves none of them
    inter = evaluate.figures(pairs, evaluate.decide(
        Verifier(Settings(weights="interaction")), pairs, emb))
    assert inter.hits == inter.correct >= 1      # nor does the interaction verifier
    emb = evaluate.embed_pairs(eng.embed, pairs, tmp_path / "int8")
    align = evaluate.figures(pairs, evaluate.decide(Verifier(Settings(weights="align")), pairs, emb))
    assert align.hits == align.correct >= 1      # nor the token-alignment verifier


@pytest.mark.slow
async def test_live_cache_with_the_quantized_model_plugins_minilm(clawhost_host, packaged_minilm):
    """Issue 19's cases with the real models the default config serves: MiniLM INT8 for the
    embedding and the shipped cross-encoder, prepared by the quantized_model plugin."""
    from clawhost.testing import EchoModel
    echo = EchoModel()
    host = await clawhost_host(echo, config={"plugins": {
        "semantic_cache": {},
        "quantized_model": {"models": {
            "all-minilm-l6-v2": {"source": str(packaged_minilm), "kind": "embedding",
                                 "check": False},
            "minilm-l6-qqp-verifier": {"source": str(packaged_minilm), "kind": "rerank",
                                       "adapter": "qqp-verifier", "check": False}}}}})
    await models_settled(host)
    assert host.models["all-minilm-l6-v2"].status == "ready"
    assert host.models["minilm-l6-qqp-verifier"].status == "ready"

    stored = ("What is the capital of France?", "How do I reset my password?",
              "How do I get from London to Paris by train?", "Is coffee good for your health?")
    for text in stored:
        await ask_chat(host, text)
    assert echo.calls == len(stored)
    served = {"What is the capital of France": ("hit-normalized", stored[0]),
              "what is the capital of france?": ("hit-normalized", stored[0]),
              "Which city is the capital of France?": ("hit-semantic", stored[0]),
              "Tell me the capital of France.": ("hit-semantic", stored[0]),
              "how can I reset my password": ("hit-semantic", stored[1]),
              "How do I reset my pasword?": ("hit-semantic", stored[1])}
    for text, (tier, source_question) in served.items():
        req, hit = await ask_chat(host, text)
        assert hit.source == "semantic", (text, req.notes)
        assert req.notes[CACHE_RESULT] == tier and hit.headers["x-clawhost-cache"] == tier, text
        assert hit.body["choices"][0]["message"]["content"] == source_question
    for text in ("How do I get from Paris to London by train?", "Is coffee bad for your health?",
                 "What is the capital of Germany?", "How do I not reset my password?"):
        req, reply = await ask_chat(host, text)
        assert reply.source == "model", (text, req.notes)
    figures = host.state[SEMANTIC_CACHE_STATE].figures()
    assert figures["hits"] == len(served) and figures["hits_normalized"] == 2
    assert figures["rejected_by_verifier"] >= 2


def test_align_verifier_scores_lazily_but_decides_like_scoring_all(workspace):
    """choose() scores the best candidate (and those within margin) first: the decisions
    must equal those from scoring every candidate, which is what the rules define."""
    folder = workspace / "ws" / "models" / "all-minilm-l6-v2"

    class Eager(Verifier):
        def _passed_lazily(self, new, above, vec, model=True):
            return self._passed(new, above, vec, model)

    texts = ["how do i bake bread", "how do i bake a bread", "what is a recipe for bread",
             "how do i fix a car", "the cat sat on the mat", "how do i bake bread fast"]
    rng = np.random.default_rng(1)
    for margin in (0.0, 0.01, 0.05):
        for threshold in (0.2, 0.5, 0.8):
            s = Settings(min_similarity=0.5, rules=(), margin=margin, threshold=threshold,
                         weights="align")
            lazy, eager = Verifier(s).attach(folder), Eager(s).attach(folder)
            lazy.token_windows = 99  # the default (1) gives up after the first group
            for _ in range(10):
                idx = rng.choice(len(texts), 4, replace=False)
                cands = [Candidate(int(i), float(c), texts[i], str(i % 3))
                         for i, c in zip(idx, rng.uniform(0.5, 1.0, 4).round(2))]
                new = texts[int(rng.integers(len(texts)))]
                assert lazy.choose(new, cands) == eager.choose(new, cands)


def test_eval_lists_each_wrong_pair_with_the_structures_verdict(workspace, tmp_path):
    """``--errors`` names every served near-miss and missed duplicate, and only those: the
    way to find the kind a rule misses in a check set of one's own. The structure decides
    both rows here whatever the (tiny) model's cosines: a swapped direction is never served,
    so labelled a near-miss it is right, and labelled a duplicate it is a missed one."""
    pairs = tmp_path / "pairs.jsonl"
    swap = {"a": "How do I fly from Madrid to Rome?", "b": "How do I fly from Rome to Madrid?"}
    rows = [{**swap, "duplicate": False, "kind": "direction"},
            {**swap, "duplicate": True, "kind": "mislabelled"}]
    pairs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ("semantic-cache", "eval", "--config", str(workspace / "config.yaml"),
            "--pairs", str(pairs), "--errors")
    out = run_cli(*args, "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["errors"] == [{"error": "missed duplicate", "kind": "mislabelled", **swap,
                               "structure": "reject/direction"}]
    assert "errors" not in json.loads(run_cli(*args[:-1], "--json").stdout)
    text = run_cli(*args)
    assert text.returncode == 0, text.stderr
    assert "1 wrong" in text.stdout
    assert "missed duplicate [mislabelled] structure reject/direction" in text.stdout
