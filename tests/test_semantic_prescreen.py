"""The cross-encoder's prescreen (issue 19): a long pair the cheap embedding-interaction score
rejects is rejected without the cross-encoder run; every other pair is judged as before.
Real models: the packaged MiniLM (int8) for the vectors and the shipped verifier adapter."""

from __future__ import annotations

import pytest

from clawhost.engines.bert_graph import build_bert_onnx
from clawhost.engines.cross_encoder import RerankEngine
from clawhost.engines.embed_engine import EmbedEngine
from clawhost.plugins.semantic_cache.options import Options
from clawhost.plugins.semantic_cache.verifier import Candidate, Settings, Verifier

# Two ~50-word statements as an agent sends them; the stored one, a rewording of it, one
# whose second half says something else, and look-alikes that differ in one word that matters.
STORED = ("Hugging Face Hub is a platform to host Git-based models, datasets, and Spaces. "
          "You can upload a model with the huggingface_hub library and share it with your "
          "team, then load it from Python with a single call to from_pretrained.")
REWORDED = ("Hugging Face Hub serves as a repository for Git-based models, datasets, and "
            "Spaces. With the huggingface_hub library you can push a model and share it with "
            "your team, and later load it in Python with one from_pretrained call.")
HALF_OTHER = ("Hugging Face Hub is a platform to host Git-based models, datasets, and Spaces. "
              "Its pricing page lists a free tier for public repositories and paid plans for "
              "private ones with more storage and compute.")
ONE_WORD = [  # the one word that matters: a negation, a direction, a version
    STORED.replace("You can upload", "You cannot upload"),
    STORED.replace("upload a model", "download a model"),
    STORED.replace("a single call", "two calls"),
]


@pytest.fixture(scope="module")
def models(tmp_path_factory, packaged_minilm):
    from clawhost.plugins.quantized_model import ModelSpec
    from clawhost.plugins.quantized_model.prepare import build
    root = tmp_path_factory.mktemp("prescreen")
    build_bert_onnx(packaged_minilm, root / "embed", "int8")
    spec = ModelSpec(source=str(packaged_minilm), kind="rerank", adapter="qqp-verifier").build_spec()
    build("verifier", spec, root, lambda f, s: None)
    return EmbedEngine.load(root / "embed", threads=1), RerankEngine.load(root / "models" / "verifier")


def _verifier(models, prescreen: float):
    embed, ce = models
    runs: list[tuple[str, str]] = []

    def scorer(pairs):
        runs.extend(pairs)
        return ce.score(pairs)
    v = Verifier(Settings(min_similarity=Options().min_similarity, prescreen=prescreen)
                 ).with_scorer(scorer, ce.info)
    return v, runs, embed


def _decide(v, embed, stored: str, new: str):
    u, w = embed.embed([stored, new])
    return v.choose(new, [Candidate(1, float(u @ w), stored, "x", u)], w)


@pytest.mark.slow
def test_a_statement_half_about_something_else_is_rejected_without_the_model(models):
    v, runs, embed = _verifier(models, Options().prescreen)
    assert v.screen is not None
    d = _decide(v, embed, STORED, HALF_OTHER)
    assert d.reason == "rejected" and runs == []
    # the same pair with the prescreen off: the cross-encoder runs and rejects it too
    off, off_runs, _ = _verifier(models, 0.0)
    assert off.screen is None
    assert _decide(off, embed, STORED, HALF_OTHER).reason == "rejected" and len(off_runs) == 1


@pytest.mark.slow
def test_a_reworded_statement_still_reaches_the_model_and_is_served(models):
    v, runs, embed = _verifier(models, Options().prescreen)
    d = _decide(v, embed, STORED, REWORDED)
    assert d.reason == "hit" and d.entry_id == 1 and len(runs) == 1


@pytest.mark.slow
@pytest.mark.parametrize("new", ONE_WORD)
def test_a_statement_that_differs_in_one_word_that_matters_is_never_served(models, new):
    for prescreen in (Options().prescreen, 0.0):
        v, _, embed = _verifier(models, prescreen)
        assert _decide(v, embed, STORED, new).entry_id is None, (prescreen, new)
    # the cross-encoder alone scores each near or over its threshold (0.95 against 0.935): the
    # structure rejects them before the prescreen or the model is asked
    _, ce = models
    assert ce.score([(STORED, new)])[0] >= ce.info["threshold"] - 0.05


def test_the_prescreen_needs_both_vectors_and_is_off_without_a_cross_encoder():
    v = Verifier(Settings(prescreen=0.5)).with_scorer(lambda pairs: [0.99] * len(pairs),
                                                      {"threshold": 0.9})
    # no vectors (an old entry, another embedding size): the model decides, as before
    d = v.choose("a b c d e f", [Candidate(1, 0.9, "a b c d e g", "x")])
    assert d.reason == "hit"
    assert Verifier(Settings(prescreen=0.5, verifier=False)).screen is None
