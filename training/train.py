"""Fit a verifier; write its weights where the semantic cache reads them (plugins/semantic_cache/).

    python -m training.train --embeddings DIR --trees      # verifier_align.json/.npz
    python -m training.train --embeddings DIR              # verifier_interaction.*
    python -m training.train --embeddings DIR --lexical --out .../verifier.json

``--trees`` (the shipped default): gradient-boosted trees (scikit-learn's
HistGradientBoostingClassifier at train time only; exported to numpy arrays, see ``trees``)
over the lexical features plus the token-alignment features of ``tokens.align_features``,
with the same training rows, split, weighting and threshold rule as below (GPTCache hard
negatives: the 3 other origins among the 4 nearest, as the live cache sees them).

Otherwise:
Model: L2 logistic regression (Newton) over the lexical features (``features.NAMES``) and
the embedding interaction terms |u-v| and u*v (2 * 384 for MiniLM), SBERT-classifier style.
Training rows: QQP pairs outside the held-back hash split, plus GPTCache rows outside it:
(own origin, paraphrase) as positives and (each of the 6 nearest other origins with a
different text, paraphrase) as hard negatives, weighted ``--gptcache-weight``. The held-back
30% is for reporting only. The threshold is chosen on out-of-fold scores of the training
split (5 folds): the highest one at which QQP-train recall is still >= ``--recall``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import clawhost.plugins.semantic_cache
from clawhost.plugins.semantic_cache.evaluate import held_back, load_pairs
from clawhost.plugins.semantic_cache.features import NAMES, pair_features
from clawhost.plugins.semantic_cache.wordlists import feature_words_digest

# the shipped weights live where the semantic cache reads them
SEMANTIC_DIR = Path(clawhost.plugins.semantic_cache.__file__).parent


def design(lex: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The model's inputs: lexical features, then |u-v|, then u*v."""
    return np.concatenate([lex, np.abs(u - v), u * v], 1)


def fit_logistic(x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None,
                 l2: float = 300.0, steps: int = 30):
    """Weighted L2 logistic regression by Newton's method on standardised features."""
    mean, scale = x.mean(0), x.std(0) + 1e-6
    z = np.c_[(x - mean) / scale, np.ones(len(x))]
    w = np.ones(len(y)) if w is None else w
    b = np.zeros(z.shape[1])
    reg = l2 * np.r_[np.ones(z.shape[1] - 1), 0.0]
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ b, -30, 30)))
        step = np.linalg.solve((z * (w * p * (1 - p))[:, None]).T @ z + np.diag(reg),
                               z.T @ ((p - y) * w) + reg * b)
        b -= step
        if np.abs(step).max() < 1e-7:
            break
    return mean, scale, b[:-1], float(b[-1])


def predict(model, x: np.ndarray) -> np.ndarray:
    mean, scale, coef, bias = model
    return 1.0 / (1.0 + np.exp(-np.clip((x - mean) / scale @ coef + bias, -30, 30)))


def training_rows(embed, eval_dir: Path, negatives: int = 6):
    """(x, y, weight-group) for the training split; group 0 = QQP, 1 = GPTCache."""
    pairs = [p for p in load_pairs(eval_dir / "qqp_dev.jsonl") if not held_back(p.a, p.b)]
    a, b = embed([p.a for p in pairs]), embed([p.b for p in pairs])
    cos = np.einsum("ij,ij->i", a, b)
    lex = [pair_features(float(c), p.a, p.b) for c, p in zip(cos, pairs)]
    us, vs, y = [a], [b], [float(p.duplicate) for p in pairs]
    rows = json.loads((eval_dir / "gptcache_mock_data.json").read_text())
    origins = [r["origin"] for r in rows]
    ov, sv = embed(origins), embed([r["similar"] for r in rows])
    sims = sv @ ov.T
    gi, gj = [], []
    for i, r in enumerate(rows):
        if held_back(r["origin"], r["similar"]):
            continue
        gi.append(i), gj.append(i), y.append(1.0)
        others = [j for j in np.argsort(-sims[i])[:negatives + 4]
                  if j != i and origins[j] != origins[i]][:negatives]
        for j in others:
            gi.append(i), gj.append(int(j)), y.append(0.0)
    lex += [pair_features(float(sims[i, j]), origins[j], rows[i]["similar"])
            for i, j in zip(gi, gj)]
    us.append(ov[gj]), vs.append(sv[gi])
    x = design(np.array(lex), np.concatenate(us), np.concatenate(vs))
    group = np.r_[np.zeros(len(pairs)), np.ones(len(gi))]
    return x, np.array(y), group


def align_rows(embed, encoder, eval_dir: Path, candidates: int = 4):
    """(x, y, group, idf) for the tree verifier, training split only; group 0 = QQP, 1 = GPTCache."""
    from clawhost.plugins.semantic_cache.tokens import align_features
    pairs = [p for p in load_pairs(eval_dir / "qqp_dev.jsonl") if not held_back(p.a, p.b)]
    rows = json.loads((eval_dir / "gptcache_mock_data.json").read_text())
    origins = [r["origin"] for r in rows]
    ov, sv = embed(origins), embed([r["similar"] for r in rows])
    sims = sv @ ov.T
    triples = [(p.a, p.b, float(np.dot(u, v)), float(p.duplicate))
               for p, u, v in zip(pairs, embed([p.a for p in pairs]), embed([p.b for p in pairs]))]
    n_qqp = len(triples)
    for i, r in enumerate(rows):
        if held_back(r["origin"], r["similar"]):
            continue
        for j in np.argsort(-sims[i])[:candidates]:
            if j == i or origins[j] != origins[i]:  # a copy of the same text is no negative
                triples.append((origins[j], r["similar"], float(sims[i, j]), float(j == i)))
    texts = sorted({t for a, b, _, _ in triples for t in (a, b)})
    # idf of word pieces over the training texts (the held-back part stays unseen)
    toks = {}
    order = sorted(texts, key=len)
    for k in range(0, len(order), 32):
        toks.update(zip(order[k:k + 32], encoder._run(order[k:k + 32])))
    df = np.zeros(encoder.vocab_size)
    for t in texts:
        df[np.unique(toks[t][1])] += 1
    idf = np.log((len(texts) + 1) / (df + 1)).astype(np.float32)
    x = np.array([pair_features(c, a, b) + align_features(toks[a], toks[b], idf)
                  for a, b, c, _ in triples])
    y = np.array([t[3] for t in triples])
    group = np.r_[np.zeros(n_qqp), np.ones(len(triples) - n_qqp)]
    return x, y, group, idf


def fit_trees(x, y, w):
    from sklearn.ensemble import HistGradientBoostingClassifier
    return HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05, max_leaf_nodes=15,
                                          l2_regularization=1.0, random_state=0).fit(
        x, y, sample_weight=w)


def train_trees(args) -> None:
    from clawhost.engines.embed_engine import EmbedEngine
    from clawhost.plugins.semantic_cache.tokens import ALIGN_NAMES, TokenEncoder
    from clawhost.plugins.semantic_cache.trees import Forest, export
    engine = EmbedEngine.load(Path(args.embeddings), threads=2)
    encoder = TokenEncoder(Path(args.embeddings), threads=2)
    x, y, group, idf = align_rows(engine.embed, encoder, Path(args.eval))
    w = np.where(group == 1, args.gptcache_weight, 1.0)
    fold = np.arange(len(y)) % 5
    oof = np.zeros(len(y))
    for k in range(5):
        oof[fold == k] = fit_trees(x[fold != k], y[fold != k], w[fold != k]).predict_proba(
            x[fold == k])[:, 1]
    # The cosine floor and rules apply before the model in the live path; mimic them here.
    ok = (x[:, 0] >= args.floor) & (x[:, [4, 6, 7]].sum(1) == 0)
    q = group == 0
    threshold = choose_threshold(np.where(ok, oof, 0.0)[q], y[q], args.recall)
    model = fit_trees(x, y, w)
    out_path = Path(args.out or Path(SEMANTIC_DIR, "verifier_align.json"))
    npz = out_path.with_suffix(".npz")
    export(model, npz)
    with np.load(npz) as z:  # add the idf table to the same file
        arrays = dict(z)
    np.savez_compressed(npz, **arrays, idf=idf.astype(np.float16))
    gap = float(np.abs(Forest.load(npz).score(x) - model.predict_proba(x)[:, 1]).max())
    if gap > 1e-6:
        raise SystemExit(f"exported trees disagree with scikit-learn by {gap}")
    cfg = json.loads((Path(args.embeddings) / "embed_config.json").read_text())
    out = {"kind": "trees", "features": list(NAMES) + list(ALIGN_NAMES), "trees": npz.name,
           "feature_words": feature_words_digest(),
           "info": {"rows": int(len(y)), "positives": int(y.sum()),
                    "model": "HistGradientBoosting 300 rounds, lr 0.05, 15 leaves, l2 1",
                    "gptcache_weight": args.gptcache_weight, "threshold": threshold,
                    "threshold_rule": f"highest with out-of-fold QQP-train recall >= "
                                      f"{args.recall} (cosine floor {args.floor}, rules)",
                    "embedder": f"all-MiniLM-L6-v2 {cfg.get('quantization')}",
                    "split": "sha256(a\\0b) % 100 >= 30 trains; < 30 is held back",
                    "data": "qqp_dev.jsonl + gptcache_mock_data.json (../shared/eval)"}}
    out_path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {out_path} + {npz.name}: {len(y)} rows; threshold {threshold}; "
          f"export matches scikit-learn within {gap:.1e}")


def choose_threshold(oof: np.ndarray, y: np.ndarray, recall: float, step: float = 0.01,
                     low: float = 0.3) -> float:
    """Highest threshold (on a ``step`` grid down to ``low``) whose recall on ``y`` is still
    >= ``recall``."""
    grid = np.round(np.arange(1.0 - step, low - step / 2, -step), 4)
    for t in grid:
        if ((oof >= t) & (y == 1)).sum() >= recall * (y == 1).sum():
            return float(t)
    return low


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--embeddings", required=True, help="prepared embedding artifact folder")
    ap.add_argument("--eval", default="/work/shared/eval", help="folder with the eval data")
    ap.add_argument("--out", default=None, help="weights JSON (default: by kind)")
    ap.add_argument("--trees", action="store_true",
                    help="the token-alignment tree verifier (verifier_align.json + .npz)")
    ap.add_argument("--floor", type=float, default=0.8, help="cosine floor the live path applies")
    ap.add_argument("--l2", type=float, default=300.0)
    ap.add_argument("--gptcache-weight", type=float, default=3.0)
    ap.add_argument("--lexical", action="store_true",
                    help="lexical features only (the default verifier.json; no .npz)")
    ap.add_argument("--recall", type=float, default=0.31,
                    help="QQP-train recall the chosen threshold keeps (out of fold)")
    args = ap.parse_args(argv)
    if args.trees:
        return train_trees(args)
    if args.out is None:
        args.out = str(Path(SEMANTIC_DIR, "verifier_interaction.json"))
    from clawhost.engines.embed_engine import EmbedEngine
    engine = EmbedEngine.load(Path(args.embeddings), threads=2)
    x, y, group = training_rows(engine.embed, Path(args.eval))
    if args.lexical:
        x = x[:, :len(NAMES)]
    w = np.where(group == 1, args.gptcache_weight, 1.0)
    fold = np.arange(len(y)) % 5
    oof = np.zeros(len(y))
    for k in range(5):
        oof[fold == k] = predict(fit_logistic(x[fold != k], y[fold != k], w[fold != k], args.l2),
                                 x[fold == k])
    # The cosine floor and rules apply before the model in the live path; mimic them here.
    ok = (x[:, 0] >= 0.75) & (x[:, [4, 6, 7]].sum(1) == 0)
    q = group == 0
    threshold = choose_threshold(np.where(ok, oof, 0.0)[q], y[q], args.recall)
    mean, scale, coef, bias = fit_logistic(x, y, w, args.l2)
    n, dim = len(NAMES), (x.shape[1] - len(NAMES)) // 2
    out_path = Path(args.out)
    pair_file = out_path.with_suffix(".npz").name
    if dim:  # fold the standardisation into the weights: z += |u-v| @ diff + (u*v) @ prod
        folded = coef[n:] / scale[n:]
        bias -= float(coef[n:] @ (mean[n:] / scale[n:]))
        np.savez(out_path.with_suffix(".npz"), diff=folded[:dim].astype(np.float32),
                 prod=folded[dim:].astype(np.float32))
    cfg = json.loads((Path(args.embeddings) / "embed_config.json").read_text())
    out = {"features": list(NAMES), "mean": mean[:n].tolist(), "scale": scale[:n].tolist(),
           "coef": coef[:n].tolist(), "bias": bias, "pair_terms": pair_file if dim else None,
           "feature_words": feature_words_digest(),
           "info": {"rows": int(len(y)), "positives": int(y.sum()), "dim": dim,
                    "l2": args.l2, "gptcache_weight": args.gptcache_weight,
                    "threshold": threshold,
                    "threshold_rule": f"highest with out-of-fold QQP-train recall >= {args.recall}",
                    "embedder": f"all-MiniLM-L6-v2 {cfg.get('quantization')}",
                    "split": "sha256(a\\0b) % 100 >= 30 trains; < 30 is held back",
                    "data": "qqp_dev.jsonl + gptcache_mock_data.json (../shared/eval)"}}
    out_path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {out_path}: {len(y)} rows; threshold {threshold} "
          f"(out-of-fold QQP-train recall >= {args.recall}); lexical weights "
          + ", ".join(f"{nm}={c:+.2f}" for nm, c in zip(NAMES, coef[:n])))


if __name__ == "__main__":
    main()
