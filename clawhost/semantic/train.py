"""Fit the verifier's logistic weights on the eval data's training split; write verifier.json.

    python -m clawhost.semantic.train --embeddings DIR --eval /work/shared/eval [--out PATH]

Training rows: QQP pairs outside the held-back hash split, plus GPTCache rows outside it:
(paraphrase, own origin) as positives and (paraphrase, nearest other origins with cosine
>= 0.7 and a different text) as negatives. The held-back 30% is for reporting only.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from .evaluate import held_back, load_pairs
from .features import NAMES, pair_features


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 50):
    """L2-regularised logistic regression by Newton's method on standardised features."""
    mean, scale = x.mean(0), x.std(0) + 1e-9
    z = np.c_[(x - mean) / scale, np.ones(len(x))]
    b = np.zeros(z.shape[1])
    reg = l2 * np.r_[np.ones(z.shape[1] - 1), 0.0]
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-z @ b))
        grad = z.T @ (p - y) + reg * b
        hess = (z * (p * (1 - p))[:, None]).T @ z + np.diag(reg)
        b -= np.linalg.solve(hess, grad)
    return mean, scale, b[:-1], float(b[-1])


def training_rows(embed, eval_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    pairs = [p for p in load_pairs(eval_dir / "qqp_dev.jsonl") if not held_back(p.a, p.b)]
    a, b = embed([p.a for p in pairs]), embed([p.b for p in pairs])
    cos = np.einsum("ij,ij->i", a, b)
    x = [pair_features(float(c), p.a, p.b) for c, p in zip(cos, pairs)]
    y = [float(p.duplicate) for p in pairs]
    rows = json.loads((eval_dir / "gptcache_mock_data.json").read_text())
    origins = [r["origin"] for r in rows]
    sims = embed([r["similar"] for r in rows]) @ embed(origins).T
    for i, r in enumerate(rows):
        if held_back(r["origin"], r["similar"]):
            continue
        x.append(pair_features(float(sims[i, i]), r["origin"], r["similar"]))
        y.append(1.0)
        for j in np.argsort(-sims[i])[:4]:
            if j != i and origins[j] != origins[i] and sims[i, j] >= 0.7:
                x.append(pair_features(float(sims[i, j]), origins[j], r["similar"]))
                y.append(0.0)
    return np.array(x), np.array(y)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--embeddings", required=True, help="prepared embedding artifact folder")
    ap.add_argument("--eval", default="/work/shared/eval", help="folder with the eval data")
    ap.add_argument("--out", default=str(Path(__file__).with_name("verifier.json")))
    args = ap.parse_args(argv)
    from ..local.embed_engine import EmbedEngine
    engine = EmbedEngine.load(Path(args.embeddings), threads=2)
    x, y = training_rows(engine.embed, Path(args.eval))
    mean, scale, coef, bias = fit_logistic(x, y)
    cfg = json.loads((Path(args.embeddings) / "embed_config.json").read_text())
    out = {"features": list(NAMES), "mean": mean.tolist(), "scale": scale.tolist(),
           "coef": coef.tolist(), "bias": bias,
           "info": {"rows": int(len(y)), "positives": int(y.sum()),
                    "embedder": f"all-MiniLM-L6-v2 {cfg.get('quantization')}",
                    "split": "sha256(a\\0b) % 100 >= 30 trains; < 30 is held back",
                    "data": "qqp_dev.jsonl + gptcache_mock_data.json (../shared/eval)"}}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}: {len(y)} rows, weights "
          + ", ".join(f"{n}={c:+.2f}" for n, c in zip(NAMES, coef)))


if __name__ == "__main__":
    main()
