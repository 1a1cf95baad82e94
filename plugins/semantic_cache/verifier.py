"""Second stage: decide whether a cached question really asks what the new one asks.

Three checks, in order, on the nearest candidates of the same scope:
1. a cosine floor (cheap pre-filter; the index already ranked by cosine);
2. hard rules that reject look-alikes outright: different numbers, a negation on one side
   only, an antonym swapped in ("good" vs "bad"), optionally an unseen name;
3. a learned score: either a logistic model over cosine, the lexical features
   (``features.NAMES``) and, when the weights carry them, the embedding interaction terms
   |u-v| and u*v (``verifier.json``, ``verifier_interaction.json``); or gradient-boosted
   trees over the lexical features plus token-alignment features computed from MiniLM's
   own contextual token vectors (``tokens.align_features``; ``verifier_align.json`` +
   ``.npz``, plain arrays, no pickle). All fit by ``training.train``.
Then an ambiguity check: when two verified candidates with different answers are within
``margin`` cosine of each other, the cache cannot tell which one is meant, so it misses.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .contrast import Comparer, Verdict
from .features import NAMES, pair_features
from .options import Options
from .tokens import ALIGN_NAMES
from .wordlists import feature_words_digest

# Two shipped weight sets: lexical features only (the default), and the same plus the
# embedding interaction terms (opt-in: ``verifier_weights: interaction``; MiniLM vectors).
LEXICAL_WEIGHTS = Path(__file__).with_name("verifier.json")
INTERACTION_WEIGHTS = Path(__file__).with_name("verifier_interaction.json")
ALIGN_WEIGHTS = Path(__file__).with_name("verifier_align.json")
WEIGHT_SETS = {"lexical": LEXICAL_WEIGHTS, "interaction": INTERACTION_WEIGHTS,
               "align": ALIGN_WEIGHTS}
RULES = {"number": "number_mismatch", "negation": "negation_mismatch", "antonym": "antonym",
         "entity": "entity_mismatch"}
_IDX = {n: i for i, n in enumerate(NAMES)}
# "negation" rejects a flip: a negation on one side of two texts that share most content
# words ("Is coffee good for you?" / "... not good ..."). Rewording around a negation ("No, X
# doesn't exist in 2.10" / "X is not in 2.10") is left to the verifier. Chosen on the rows
# outside the held-back split: the bare parity check vetoed 58 of GPTCache's 999 own
# paraphrases, this one 19; dev-slice QQP precision at the shipped threshold is unchanged.
NEGATION_FLIP_JACCARD = 0.6
TOKEN_WINDOWS = 1  # see Verifier.token_windows


class NeedsModel(Exception):
    """``choose(..., model=False)`` met a candidate that only a model run can judge."""


@dataclass(frozen=True)
class Candidate:
    entry_id: int
    cos: float
    question: str        # the cached query text
    answer_key: str = ""  # a hash of the cached answer (equal answers are never ambiguous)
    vec: Any = None      # the cached query's unit vector (numpy), for the interaction terms


@dataclass(frozen=True)
class Decision:
    entry_id: int | None
    similarity: float = 0.0
    score: float = 0.0
    reason: str = "miss"   # hit | miss (nothing above the floor) | rejected | ambiguous


# The plugin's option defaults are the verifier's: one place for both (the eval command, the
# benchmarks and the tests build Settings directly).
_DEFAULT = {name: f.default for name, f in Options.model_fields.items()}


@dataclass
class Settings:
    """The verifier's part of the semantic cache's options, under the verifier's own names."""
    min_similarity: float = _DEFAULT["min_similarity"]
    verifier: bool = _DEFAULT["verifier"]
    threshold: float | None = _DEFAULT["verifier_threshold"]  # None: shipped with the weights
    rules: tuple[str, ...] = tuple(_DEFAULT["rules"])
    margin: float = _DEFAULT["margin"]
    weights: str = _DEFAULT["verifier_weights"]  # a WEIGHT_SETS name or a weights JSON path
    # The structural comparison (``contrast``): rejects swapped directions, antonyms,
    # numbers, units, negations and names whatever the scores; serves a pair that differs
    # only in wording (function words, wrappers, order, inflection, listed synonyms) at
    # ``same_floor`` cosine, and one that also differs by typos at ``typo_floor``, without
    # the learned score. Everything else goes to the learned score as before.
    structure: bool = _DEFAULT["structure"]
    same_floor: float = _DEFAULT["same_floor"]
    typo_floor: float = _DEFAULT["typo_floor"]
    typos: bool = _DEFAULT["typos"]
    # With a cross-encoder: a pair the embedding-interaction weights (dot products over the
    # two vectors and the lexical features the rules already computed: ~20 us) score below
    # this is rejected without the cross-encoder run (~10 ms for two ~55-token statements).
    prescreen: float = _DEFAULT["prescreen"]

    @classmethod
    def of(cls, opts: Options) -> "Settings":
        """The settings a configured cache runs with."""
        return cls(min_similarity=opts.min_similarity, verifier=opts.verifier,
                   threshold=opts.verifier_threshold, rules=tuple(opts.rules),
                   margin=opts.margin, weights=opts.verifier_weights,
                   structure=opts.structure, same_floor=opts.same_floor,
                   typo_floor=opts.typo_floor, typos=opts.typos, prescreen=opts.prescreen)

    @property
    def floor(self) -> float:
        """The lowest cosine any candidate can be served at."""
        if not self.structure:
            return self.min_similarity
        return min(self.min_similarity, self.same_floor,
                   self.typo_floor if self.typos else 1.0)


@dataclass
class Weights:
    mean: list[float]
    scale: list[float]
    coef: list[float]
    bias: float
    info: dict = field(default_factory=dict)
    # Interaction terms, folded so that z += |u-v| @ diff + (u*v) @ prod (standardisation
    # already divided in and its offset added to ``bias``); None for lexical-only weights.
    diff: Any = None
    prod: Any = None
    # Token-alignment weights: a ``trees.Forest`` over NAMES + ALIGN_NAMES, and the
    # word-piece idf table the alignment features weigh tokens by.
    forest: Any = None
    idf: Any = None
    # A cross-encoder's ``score(pairs) -> [n]`` (a ``rerank`` model of quantized_model, see
    # ``Verifier.with_scorer``): it reads both questions at once, no features.
    scorer: Any = None

    @classmethod
    def load(cls, path: Path | str = LEXICAL_WEIGHTS) -> "Weights":
        path = Path(path)
        data = json.loads(path.read_text())
        words = data.get("feature_words")  # weights written before it was recorded lack it
        if words is not None and words != feature_words_digest():
            raise ValueError(f"{path}: the verifier's word lists or stemmer changed since "
                             "these weights were fit (wordlists.FEATURE_*, stemming.STEMMER): "
                             "refit them (training/train.py)")
        if data.get("kind") == "trees":
            return cls._load_trees(path, data)
        if data.get("features") != list(NAMES):
            raise ValueError(f"{path}: verifier features do not match this version")
        w = cls(data["mean"], data["scale"], data["coef"], float(data["bias"]),
                data.get("info", {}))
        if data.get("pair_terms"):
            import numpy as np  # only when the interaction terms are in use
            with np.load(path.parent / data["pair_terms"], allow_pickle=False) as z:
                w.diff, w.prod = z["diff"].astype(np.float32), z["prod"].astype(np.float32)
        return w

    @classmethod
    def _load_trees(cls, path: Path, data: dict) -> "Weights":
        if data.get("features") != list(NAMES) + list(ALIGN_NAMES):
            raise ValueError(f"{path}: verifier features do not match this version")
        import numpy as np

        from .trees import Forest
        forest = Forest.load(path.parent / data["trees"])
        with np.load(path.parent / data["trees"], allow_pickle=False) as z:
            idf = z["idf"].astype(np.float32)
        return cls([], [], [], 0.0, data.get("info", {}), forest=forest, idf=idf)

    @property
    def needs_vectors(self) -> bool:
        return self.diff is not None

    @property
    def needs_tokens(self) -> bool:
        return self.forest is not None

    @property
    def dim(self) -> int | None:
        return None if self.diff is None else int(self.diff.shape[0])

    def score_tokens(self, rows: list[list[float]]) -> list[float]:
        """Tree scores for rows of NAMES + ALIGN_NAMES features."""
        return [float(s) for s in self.forest.score(rows)]

    def score(self, feats: list[float], u: Any = None, v: Any = None) -> float:
        z = self.bias + sum(c * (f - m) / s for f, m, s, c in
                            zip(feats, self.mean, self.scale, self.coef))
        if self.diff is not None:
            if u is None or v is None:
                raise ValueError("these verifier weights need the two query vectors")
            import numpy as np
            z += float(np.abs(u - v) @ self.diff + (u * v) @ self.prod)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


class Verifier:
    def __init__(self, settings: Settings, weights: Weights | None = None) -> None:
        unknown = set(settings.rules) - set(RULES)
        if unknown:
            raise ValueError(f"unknown verifier rule(s) {sorted(unknown)}; known: {sorted(RULES)}")
        self.settings = settings
        self.weights = weights if weights is not None else (
            Weights.load(WEIGHT_SETS.get(settings.weights, settings.weights))
            if settings.verifier else None)
        self.threshold = settings.threshold if settings.threshold is not None else float(
            (self.weights.info.get("threshold", 0.75) if self.weights else 0.75))
        self._rule_idx = [_IDX[RULES[r]] for r in settings.rules]
        self._flip_idx = _IDX["negation_mismatch"] if "negation" in settings.rules else None
        self.tokens = None  # a tokens.TokenEncoder, for token-alignment weights (attach)
        self.comparer = Comparer(None, settings.typos)  # with_vocabulary: real typo checks
        self.screen: Weights | None = None  # with_scorer: the prescreen's weights
        # Token-alignment weights score at most this many groups of candidates (one ONNX run
        # each) before the lookup gives up as "rejected": bounds the verifier's cost when
        # many near-but-different questions are stored.
        self.token_windows = TOKEN_WINDOWS

    def _like(self, other: "Verifier") -> "Verifier":
        """``other`` with this verifier's structural comparer (its vocabulary)."""
        other.comparer = self.comparer
        return other

    def with_vocabulary(self, folder: Path | str | None) -> "Verifier":
        """Let typo matching read the embedding model's word list (``tokenizer.json`` in its
        artifact folder): "slovenia"/"slovakia", both real words, are then no typo."""
        from .lexicon import vocabulary_of
        vocab = vocabulary_of(folder) if folder is not None else None
        if vocab is not None:
            self.comparer = Comparer(vocab, self.settings.typos)
        return self

    def verdict(self, cached: str, new: str) -> Verdict | None:
        """The structural verdict on a pair, or None when the comparison is off."""
        return self.comparer.compare(cached, new) if self.settings.structure else None

    def structural(self, cos: float, cached: str, new: str) -> str:
        """reject | serve | judge: what the structure alone says about a candidate."""
        v = self.verdict(cached, new)
        s = self.settings
        if v is None:
            return "judge" if cos >= s.min_similarity else "reject"
        if v.kind == "reject":
            return "reject"
        if v.kind == "same" and cos >= (s.typo_floor if v.typos else s.same_floor):
            return "serve"
        return "judge" if cos >= s.min_similarity else "reject"

    def for_dim(self, dim: int) -> "Verifier":
        """This verifier, or the lexical-only one if the interaction terms need another dim."""
        w = self.weights
        if w is None or w.dim is None or w.dim == dim:
            return self
        return self.lexical()

    def lexical(self) -> "Verifier":
        """The same settings with the lexical-only weights (and their own threshold)."""
        return self._like(Verifier(self.settings, Weights.load(LEXICAL_WEIGHTS)))

    @property
    def needs_tokens(self) -> bool:
        return self.weights is not None and self.weights.needs_tokens

    @property
    def cross(self) -> bool:
        """Judged by a cross-encoder (one ONNX run per lookup, so off the event loop)."""
        return self.weights is not None and self.weights.scorer is not None

    def with_scorer(self, scorer: Any, info: dict | None = None) -> "Verifier":
        """The same settings judged by a cross-encoder: ``scorer(pairs)`` gives each (cached,
        new) pair's probability of asking the same; ``info`` its threshold (``train_cross``)."""
        v = self._like(Verifier(self.settings, Weights([], [], [], 0.0, dict(info or {}),
                                                       scorer=scorer)))
        if self.settings.prescreen > 0:
            v.screen = Weights.load(INTERACTION_WEIGHTS)
        return v

    def with_cross_encoder(self, folder: Path | str, threads: int | None = None) -> "Verifier":
        """``with_scorer`` for a prepared rerank model's folder (its adapter's threshold)."""
        from clawhost.engines.cross_encoder import RerankEngine
        engine = RerankEngine.load(Path(folder), threads)
        return self.with_scorer(engine.score, engine.info)

    def attach(self, folder: Path | str | None, threads: int = 1) -> "Verifier":
        """Give token-alignment weights their token encoder: the embedding artifact folder
        (model.onnx + tokenizer.json). Returns this verifier, or the lexical-only one when
        there is no folder or it cannot give token vectors (another model, a test engine)."""
        if not self.needs_tokens or self.tokens is not None:
            return self
        if folder is None:
            return self.lexical()
        from .tokens import TokenEncoder
        try:
            self.tokens = TokenEncoder(Path(folder), threads)
        except (OSError, ValueError) as exc:
            import logging
            logging.getLogger("clawhost.semantic").warning(
                "semantic_cache: no token vectors from %s (%s): using the lexical verifier",
                folder, exc)
            return self.lexical()
        return self

    def judge(self, cos: float, question: str, new: str, u: Any = None, v: Any = None) -> float:
        """Probability-like score in [0, 1]; 0.0 when a hard rule rejects the pair.

        ``u``/``v`` are the cached and new query vectors (needed by interaction weights)."""
        return self.judge_many(new, [(cos, question, u)], v)[0]

    def judge_many(self, new: str, items: list[tuple[float, str, Any]], v: Any = None,
                   model: bool = True) -> list[float]:
        """``judge`` for several (cos, cached question, cached vector) against one new
        question: token-alignment weights encode them all in one batch. ``model=False``
        raises ``NeedsModel`` instead of running an ONNX model (cross-encoder or tokens)."""
        # The structure first: a rejected pair scores 0 and a pair that differs only in
        # wording scores 1 (served whatever the threshold); only the rest are scored.
        ways = [self.structural(cos, q, new) for cos, q, _ in items]
        if not self._rule_idx and self.weights is None:
            return [0.0 if way == "reject" else 1.0 if way == "serve" else cos
                    for (cos, _, _), way in zip(items, ways)]
        feats = [self._features(cos, q, new, way) for (cos, q, _), way in zip(items, ways)]
        # The hard rules read the verifier's frozen feature lists; a pair the structure
        # serves has passed its own, fuller ones ("didnt" is a negation there, not here).
        ok = [way == "serve" or (way != "reject" and not self._vetoed(f))
              for f, way in zip(feats, ways)]
        out = [1.0 if good and way == "serve" else 0.0 for good, way in zip(ok, ways)]
        ok = [good and way == "judge" for good, way in zip(ok, ways)]
        w = self.weights
        if w is None:
            return [cos if good else o for (cos, _, _), good, o in zip(items, ok, out)]
        if w.scorer is not None:
            keep = [k for k, good in enumerate(ok) if good]
            if keep and self.screen is not None:
                keep = [k for k in keep if not self._screened_out(feats[k], items[k][2], v)]
            if keep and not model:
                raise NeedsModel
            for k, sc in zip(keep, w.scorer([(items[k][1], new) for k in keep]) if keep else ()):
                out[k] = float(sc)
            return out
        if not w.needs_tokens:
            return [w.score(f, u, v) if good else o
                    for f, (_, _, u), good, o in zip(feats, items, ok, out)]
        if self.tokens is None:
            raise ValueError("these verifier weights need token vectors: call attach(folder)")
        keep = [k for k, good in enumerate(ok) if good]
        if keep and not model:
            raise NeedsModel
        if keep:
            from .tokens import align_features
            toks = self.tokens.encode([new] + [items[k][1] for k in keep])
            rows = [feats[k] + align_features(toks[n + 1], toks[0], w.idf)
                    for n, k in enumerate(keep)]
            for k, sc in zip(keep, w.score_tokens(rows)):
                out[k] = sc
        return out

    @staticmethod
    def _features(cos: float, cached: str, new: str, way: str) -> list[float] | None:
        """The pair's lexical features; None when the structure rejected it (it scores 0
        whatever they say)."""
        return None if way == "reject" else pair_features(cos, cached, new)

    def _screened_out(self, feats: list[float], u: Any, v: Any) -> bool:
        """The prescreen rejects the pair: the cheap score is below ``prescreen`` (only
        when both vectors are there and of the weights' size)."""
        w = self.screen
        if u is None or v is None or len(u) != w.dim or len(v) != w.dim:
            return False
        return w.score(feats, u, v) < self.settings.prescreen

    def _vetoed(self, f: list[float]) -> bool:
        """A hard rule rejects the pair (features in ``NAMES`` order)."""
        return any(f[i] > 0 and (i != self._flip_idx or f[_IDX["jaccard"]] >= NEGATION_FLIP_JACCARD)
                   for i in self._rule_idx)

    def _passed(self, new: str, cands: list[Candidate], vec: Any,
                model: bool = True) -> list[tuple[Candidate, float]]:
        scores = self.judge_many(new, [(c.cos, c.question, c.vec) for c in cands], vec, model)
        return [(c, score) for c, score in zip(cands, scores) if self.accepts(score)]

    def _passed_lazily(self, new: str, above: list[Candidate], vec: Any,
                       model: bool = True) -> list[tuple[Candidate, float]]:
        """What ``_passed`` would return as far as ``choose`` reads it, scoring as few
        candidates as possible (each batch is an ONNX run for the token vectors): the best
        one by cosine and those within ``margin`` of it, then the next such group only if
        none of them passed; once one passes, also the rest within margin of it."""
        margin, i, runs = self.settings.margin, 0, 0
        while i < len(above) and runs < self.token_windows:
            runs += 1
            j = i + 1
            while j < len(above) and above[i].cos - above[j].cos < margin:
                j += 1
            passed = self._passed(new, above[i:j], vec, model)
            if passed:
                top = passed[0][0]
                k = j
                while k < len(above) and top.cos - above[k].cos < margin:
                    k += 1
                return passed + (self._passed(new, above[j:k], vec, model) if k > j else [])
            i = j
        return []

    def _choose_one(self, new: str, above: list[Candidate], vec: Any,
                    model: bool = True) -> Decision:
        """The cross-encoder's decision: ambiguous at once when another stored question with
        a different answer is within ``margin`` cosine of the best one (verified or not: the
        cache cannot tell which was meant), else the best one alone is scored. One pair per
        lookup (~2 ms) instead of every near candidate (~12 ms for four); on the GPTCache
        set (session 4, before the negation rule became flip-only) it served 690 right /
        5 wrong against 712 / 9 when every near candidate was scored."""
        ways = [self.structural(c.cos, c.question, new) for c in above]
        served = [c for c, way in zip(above, ways) if way == "serve"]
        if served:
            # The structure says these stored questions are the new one reworded: the best
            # of them, whatever nearer look-alikes score, unless two disagree on the answer.
            top = served[0]
            if any(c.answer_key != top.answer_key or not top.answer_key for c in served[1:]):
                return Decision(None, top.cos, 0.0, "ambiguous")
            score = self.judge_many(new, [(top.cos, top.question, top.vec)], vec, model)[0]
            if self.accepts(score):
                return Decision(top.entry_id, top.cos, score, "hit")
        best = above[0].cos
        above = [c for c in above if c.cos >= self.settings.min_similarity]
        if not above:  # only typo-floor candidates, and none served: nothing was near enough
            return Decision(None, best, 0.0, "rejected" if served else "miss")
        top, margin = above[0], self.settings.margin
        if any(top.cos - c.cos < margin and (c.answer_key != top.answer_key or not top.answer_key)
               for c in above[1:]):
            return Decision(None, top.cos, 0.0, "ambiguous")
        score = self.judge_many(new, [(top.cos, top.question, top.vec)], vec, model)[0]
        if not self.accepts(score):
            return Decision(None, top.cos, score, "rejected")
        return Decision(top.entry_id, top.cos, score, "hit")

    def accepts(self, score: float) -> bool:
        if self.weights is None:  # rules only: any score left non-zero passes
            return score > 0.0
        return score >= self.threshold

    def choose(self, new: str, candidates: list[Candidate], vec: Any = None,
               model: bool = True) -> Decision:
        """The candidate to serve for ``new`` (best cosine first), or why none is served.

        ``model=False`` decides without an ONNX run or raises ``NeedsModel``: most lookups
        (a miss, a look-alike the structure rejects, a rewording it serves) need none, and
        the cache then decides on the event loop instead of paying a thread hop.

        ``vec`` is the new query's vector; candidates carry theirs. Ranking stays by cosine
        and the margin compares cosines: re-ranking by the verifier's score, or a margin on
        scores, served more wrong answers on the GPTCache set (benchmarks/results)."""
        s = self.settings
        above = sorted((c for c in candidates if c.cos >= s.floor), key=lambda c: -c.cos)
        if not above:
            best = max((c.cos for c in candidates), default=0.0)
            return Decision(None, best, 0.0, "miss")
        if self.cross:
            return self._choose_one(new, above, vec, model)
        passed = (self._passed_lazily(new, above, vec, model) if self.needs_tokens
                  else self._passed(new, above, vec, model))
        if not passed:
            return Decision(None, above[0].cos, 0.0, "rejected")
        top, score = passed[0]
        for other, _ in passed[1:]:
            if top.cos - other.cos >= s.margin:
                break
            if other.answer_key != top.answer_key or not top.answer_key:
                return Decision(None, top.cos, score, "ambiguous")
        return Decision(top.entry_id, top.cos, score, "hit")
