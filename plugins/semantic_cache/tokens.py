"""MiniLM's contextual token vectors, for the verifier's token-alignment features.

The prepared embedding artifact (``model.onnx``, from ``clawhost.engines.bert_graph``) only
outputs the pooled sentence vector. This module loads the same file with ``onnx``, adds the
last encoder layer's output (the tensor the mean pooling reads) as a second graph output,
and runs that graph in a session of its own. Nothing is written to disk and the artifact is
not changed; the extra session costs about the artifact's size in memory (~25 MB int8).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

_LAYER_OPS = ("SkipLayerNormalization", "LayerNormalization")


def hidden_output(model, layer: int = -1) -> str:
    """Name of an encoder layer's output in a bert_graph ONNX model (-1: the last).

    The mean pooling reads the last (Skip)LayerNormalization's output; the one after the
    embeddings comes first, then two per layer (attention, feed-forward). Found by op type,
    not by name: the builder numbers its node names."""
    outs = [n.output[0] for n in model.graph.node if n.op_type in _LAYER_OPS]
    if len(outs) < 3:
        raise ValueError("no LayerNormalization in the embedding graph: not a bert_graph model")
    return outs[-1] if layer < 0 else outs[min(2 * layer, len(outs) - 1)]


class TokenEncoder:
    """``encode(texts) -> list of float32 [n_tokens, dim]``: unit-norm contextual token
    vectors without [CLS]/[SEP], plus the word-piece ids they belong to."""

    def __init__(self, folder: Path, threads: int = 1, layer: int = -1) -> None:
        import onnx
        import onnxruntime as ort
        from tokenizers import Tokenizer

        from clawhost.engines.ort_session import session_options
        folder = Path(folder)
        model = onnx.load(str(folder / "model.onnx"), load_external_data=True)
        name = hidden_output(model, layer)
        if name not in {o.name for o in model.graph.output}:
            model.graph.output.append(onnx.helper.make_tensor_value_info(
                name, onnx.TensorProto.FLOAT, None))
        self._out = name
        self._session = ort.InferenceSession(model.SerializeToString(),
                                             session_options(threads, False, arena=True),
                                             providers=["CPUExecutionProvider"])
        tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tok.no_padding()
        tok.no_truncation()
        self._tok = tok
        self._pad = tok.token_to_id("[PAD]") or 0
        self.vocab_size = tok.get_vocab_size()
        self.max_tokens = 128  # questions are short; longer texts keep their first tokens
        self._lock = threading.Lock()  # one run at a time: 2 cores, and the memo is shared
        # Recently encoded texts: a popular cached question is a candidate again and again.
        self._memo: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self.memo_size = 256  # ~25 kB each for a 16-token question

    def encode(self, texts: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per text: (token vectors [n, dim] unit-norm, word-piece ids [n]); n >= 1."""
        with self._lock:  # lookups may come from several threads; the memo is shared
            todo = list(dict.fromkeys(t for t in texts if t not in self._memo))
            if todo:
                for t, r in zip(todo, self._run(todo)):
                    self._memo[t] = r
            out = []
            for t in texts:
                out.append(self._memo[t])
                self._memo.move_to_end(t)
            while len(self._memo) > self.memo_size:
                self._memo.popitem(last=False)
            return out

    def _run(self, texts: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        if not texts:
            return []
        ids = [e.ids[: self.max_tokens - 1][:-1] + e.ids[-1:] if len(e.ids) > self.max_tokens
               else e.ids for e in self._tok.encode_batch(list(texts))]
        width = max(len(i) for i in ids)
        x = np.full((len(ids), width), self._pad, np.int64)
        m = np.zeros((len(ids), width), np.int64)
        for r, i in enumerate(ids):
            x[r, : len(i)], m[r, : len(i)] = i, 1
        h = self._session.run([self._out], {"input_ids": x, "attention_mask": m})[0]
        out = []
        for r, i in enumerate(ids):
            keep = slice(1, max(2, len(i) - 1))  # drop [CLS] and [SEP]; keep one if empty
            v = h[r, keep].astype(np.float32)
            v /= np.linalg.norm(v, axis=1, keepdims=True) + 1e-9
            out.append((v, np.asarray(i[keep], np.int64)))
        return out


# BERTScore-style greedy alignment between the two questions' token vectors, plain and
# idf-weighted, plus the worst-aligned token: a look-alike question usually aligns well
# except for the one word that changes its meaning ("electrical" vs "mechanical").
ALIGN_NAMES = ("tok_p", "tok_r", "tok_f", "tok_pw", "tok_rw", "tok_fw", "tok_min_p",
               "tok_min_r", "tok_worst_pw", "tok_worst_rw", "tok_bad_p", "tok_bad_r",
               "tok_bad_pw", "tok_bad_rw", "log_len_a", "log_len_b")
BAD_MATCH = 0.6  # a token whose best match is below this counts as unmatched


def align_features(cached: tuple[np.ndarray, np.ndarray], new: tuple[np.ndarray, np.ndarray],
                   idf: np.ndarray) -> list[float]:
    """``ALIGN_NAMES`` for one pair; ``cached``/``new`` are ``TokenEncoder.encode`` items.

    p = how well the new question's tokens are covered by the cached one's, r = the reverse."""
    va, ia = cached
    vb, ib = new
    s = va @ vb.T
    ra, pb = s.max(1), s.max(0)
    wa, wb = idf[ia].astype(np.float32), idf[ib].astype(np.float32)
    r, p = float(ra.mean()), float(pb.mean())
    rw, pw = float((wa * ra).sum() / wa.sum()), float((wb * pb).sum() / wb.sum())
    return [p, r, 2 * p * r / (p + r + 1e-9), pw, rw, 2 * pw * rw / (pw + rw + 1e-9),
            float(pb.min()), float(ra.min()), float((wb * (1 - pb)).max()),
            float((wa * (1 - ra)).max()), float((pb < BAD_MATCH).sum()),
            float((ra < BAD_MATCH).sum()), float((wb * (pb < BAD_MATCH)).sum()),
            float((wa * (ra < BAD_MATCH)).sum()), float(np.log(len(ia))), float(np.log(len(ib)))]
