"""Which question pairs and texts the shipped verifiers were trained on, as hashes.

``semantic-cache eval`` warns when the pairs it is given overlap them: figures on training
rows flatter the verifier. The shipped verifiers (``verifier_cross.npz`` and the weights of
``train``) trained on the eval data's rows outside the held-back hash split
(``evaluate.held_back``), the threshold slice included. ``verifier_train_hashes.npz`` beside
them holds 8-byte hashes of those rows (order-independent pairs, and single texts), after
``normalize.canonical`` so a recased copy still counts. Regenerate after retraining:

    python -m clawhost.plugins.semantic_cache.training_pairs --eval ../shared/eval
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .normalize import canonical

HASHES = Path(__file__).with_name("verifier_train_hashes.npz")


def _h(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") & (2**63 - 1)


def text_hash(text: str) -> int:
    return _h(canonical(text, fillers=False))


def pair_hash(a: str, b: str) -> int:
    x, y = sorted((canonical(a, fillers=False), canonical(b, fillers=False)))
    return _h(x + "\x00" + y)


@dataclass
class Overlap:
    pairs: int   # eval pairs that were training pairs (either order)
    texts: int   # eval pairs with at least one text seen in training
    source: str

    def warning(self, total: int) -> str | None:
        if self.pairs:
            return (f"warning: {self.pairs} of {total} pairs were training pairs of the "
                    f"shipped verifier ({self.source}); figures on them flatter it: report "
                    f"rows it never saw")
        if self.texts:
            return (f"note: no pair was a training pair of the shipped verifier, but "
                    f"{self.texts} of {total} share a question with its training data")
        return None


def overlap(pairs, path: Path = HASHES) -> Overlap | None:
    """How many of ``pairs`` (``evaluate.Pair``) the shipped verifier trained on; None
    without the hash file."""
    try:
        with np.load(path, allow_pickle=False) as z:
            ph, th = set(z["pairs"].tolist()), set(z["texts"].tolist())
    except OSError:
        return None
    n_pairs = sum(pair_hash(p.a, p.b) in ph for p in pairs)
    n_texts = sum(text_hash(p.a) in th or text_hash(p.b) in th for p in pairs)
    return Overlap(n_pairs, n_texts, path.name)


def training_rows(eval_dir: Path) -> list[tuple[str, str]]:
    """The rows ``train_cross`` and ``train`` fit on or chose thresholds with."""
    from .evaluate import held_back, load_pairs
    rows = [(p.a, p.b) for p in load_pairs(eval_dir / "qqp_dev.jsonl")
            if not held_back(p.a, p.b)]
    data = json.loads((eval_dir / "gptcache_mock_data.json").read_text())
    rows += [(r["origin"], r["similar"]) for r in data if not held_back(r["origin"], r["similar"])]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eval", required=True, type=Path)
    ap.add_argument("--out", type=Path, default=HASHES)
    args = ap.parse_args()
    rows = training_rows(args.eval)
    pairs = np.array(sorted({pair_hash(a, b) for a, b in rows}), np.int64)
    texts = np.array(sorted({text_hash(t) for r in rows for t in r}), np.int64)
    np.savez_compressed(args.out, pairs=pairs, texts=texts)
    print(f"{len(pairs)} pairs, {len(texts)} texts -> {args.out}")


if __name__ == "__main__":
    main()
