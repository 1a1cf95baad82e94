"""Gradient-boosted trees in numpy: the verifier's model, no scikit-learn at serving time.

``training.train`` fits scikit-learn's HistGradientBoostingClassifier and exports its
trees as flat arrays (``export``); ``Forest.score`` walks all trees at once, one level per
numpy step, so a few hundred trees cost tens of microseconds per candidate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FIELDS = ("feature", "threshold", "left", "right", "value", "leaf")


class Forest:
    def __init__(self, feature: np.ndarray, threshold: np.ndarray, left: np.ndarray,
                 right: np.ndarray, value: np.ndarray, leaf: np.ndarray, roots: np.ndarray,
                 baseline: float) -> None:
        self.feature, self.threshold = feature.astype(np.int64), threshold.astype(np.float64)
        self.left, self.right = left.astype(np.int64), right.astype(np.int64)
        self.value, self.leaf = value.astype(np.float64), leaf.astype(bool)
        self.roots, self.baseline = roots.astype(np.int64), float(baseline)
        n = len(self.feature)
        if not (len(self.threshold) == len(self.left) == len(self.right) == len(self.value)
                == len(self.leaf) == n) or n == 0 or self.roots.max() >= n:
            raise ValueError("verifier trees: inconsistent arrays")
        # A leaf points at itself, so walking past it is a no-op.
        idx = np.arange(n)
        self.left[self.leaf], self.right[self.leaf] = idx[self.leaf], idx[self.leaf]
        self.depth = 64  # bound on the walk; real trees stop far earlier

    @classmethod
    def load(cls, path: Path) -> "Forest":
        with np.load(path, allow_pickle=False) as z:
            return cls(*(z[f] for f in FIELDS), z["roots"], float(z["baseline"]))

    def raw(self, x: np.ndarray) -> np.ndarray:
        """Log-odds for rows ``x`` [n, features]."""
        x = np.atleast_2d(np.asarray(x, np.float64))
        node = np.broadcast_to(self.roots, (len(x), len(self.roots))).copy()
        rows = np.arange(len(x))[:, None]
        for _ in range(self.depth):
            if self.leaf[node].all():
                break
            go_left = x[rows, self.feature[node]] <= self.threshold[node]
            node = np.where(go_left, self.left[node], self.right[node])
        return self.baseline + self.value[node].sum(1)

    def score(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.clip(self.raw(x), -30, 30)))


def export(model, path: Path) -> None:
    """Write a fitted binary HistGradientBoostingClassifier as ``Forest`` arrays (train time)."""
    parts, roots, offset = [], [], 0
    for (pred,) in model._predictors:  # one tree per boosting round (binary: one class)
        nodes = pred.nodes
        if nodes["is_categorical"].any():
            raise ValueError("categorical splits are not supported")
        roots.append(offset)
        parts.append((nodes["feature_idx"], nodes["num_threshold"], nodes["left"] + offset,
                      nodes["right"] + offset, nodes["value"], nodes["is_leaf"]))
        offset += len(nodes)
    arrays = {f: np.concatenate([p[k] for p in parts]) for k, f in enumerate(FIELDS)}
    arrays["feature"] = arrays["feature"].astype(np.int16)
    arrays["left"], arrays["right"] = arrays["left"].astype(np.int32), arrays["right"].astype(np.int32)
    arrays["leaf"] = arrays["leaf"].astype(np.uint8)
    np.savez_compressed(path, **arrays, roots=np.array(roots, np.int32),
                        baseline=np.float64(np.ravel(model._baseline_prediction)[0]))
