"""Serve a sentence-embedding ONNX artifact with onnxruntime + tokenizers + numpy only."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from .ort_session import session_options

# Texts are sorted by token count and cut into batches of at most this size, so each batch pads
# only to its own longest text (padding costs compute in every layer).
DEFAULT_BATCH = 32
# One session run costs about as much as this many padded tokens (op launch, thread sync); the
# batch planner trades extra runs against padding with it.
RUN_COST_TOKENS = 24
# Above a few hundred tokens a run's activations (the [tokens, 1536] FFN block) fall out of
# the core's cache and throughput per token drops: measured on MiniLM int8, 2 threads, 16k
# tok/s at 160-330 tokens per run vs 12.5k at 448; capping runs here made 32 texts of ~110
# tokens 1.23-1.36x faster and QQP questions unchanged (benchmarks/embed_run_cap.py).
MAX_RUN_TOKENS = 320


class InputTooLongError(ValueError):
    """A text has more tokens than max_length and truncation is off."""


class EmbedEngine:
    """Mean-pooled, L2-normalised sentence embeddings from a prepared artifact folder."""

    def __init__(self, session: ort.InferenceSession, tokenizer: Tokenizer, dim: int,
                 max_length: int, batch_size: int = DEFAULT_BATCH, truncate: bool = True) -> None:
        self._session = session
        self._tokenizer = tokenizer  # never mutated after load: encode_batch is then thread-safe
        self._dim = dim
        self._max_length = max_length
        self._batch_size = batch_size
        self._truncate = truncate
        self._pad_id = tokenizer.token_to_id("[PAD]") or 0
        self.folder: Path | None = None  # the artifact folder it was loaded from (load sets it)

    @classmethod
    def load(cls, artifact_dir: Path, threads: int = 2, max_length: int | None = None,
             truncate: bool = True, batch_size: int = DEFAULT_BATCH, spin: bool = False) -> "EmbedEngine":
        """Open model.onnx + tokenizer.json + embed_config.json written by bert_graph.build_bert_onnx.

        ``spin`` off by default: on the shared 2-core box, two spinning threads took twice the
        wall time of two sleeping ones for one query (7.9 vs 3.9 ms, 13 tokens; 16.9 vs 7.8 ms,
        55 tokens; load 5, issue 19), as the chat engine found for decoding."""
        artifact_dir = Path(artifact_dir)
        for name in ("model.onnx", "tokenizer.json", "embed_config.json"):
            if not (artifact_dir / name).is_file():
                raise FileNotFoundError(f"embedding artifact incomplete: {artifact_dir / name} is missing")
        try:
            cfg = json.loads((artifact_dir / "embed_config.json").read_text())
            dim, limit = int(cfg["dim"]), int(cfg["max_positions"])
            default_len = int(cfg["max_length"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"corrupt embed_config.json in {artifact_dir}: {exc}") from None
        length = default_len if max_length is None else int(max_length)
        if not 2 < length <= limit:
            raise ValueError(f"max_length must be between 3 and {limit}, got {length}")
        tokenizer = Tokenizer.from_file(str(artifact_dir / "tokenizer.json"))
        # Packaged tokenizer.json files often pin padding/truncation (MiniLM's pads to 128);
        # the engine pads per batch and truncates itself so count_tokens sees true lengths.
        tokenizer.no_padding()
        tokenizer.no_truncation()
        try:
            session = ort.InferenceSession(str(artifact_dir / "model.onnx"), session_options(threads, spin, arena=True),
                                           providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises several private types for a bad file
            raise ValueError(f"cannot load {artifact_dir / 'model.onnx'}: {str(exc).splitlines()[0]}") from None
        engine = cls(session, tokenizer, dim, length, batch_size, truncate)
        engine.folder = artifact_dir
        return engine

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def max_length(self) -> int:
        return self._max_length

    @staticmethod
    def _check(texts: list[str]) -> list[str]:
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise TypeError("texts must be a list of strings")
        return list(texts)

    def _encode(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self._tokenizer.encode_batch(texts, add_special_tokens=True)]

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Token counts including [CLS]/[SEP], before truncation."""
        return [len(ids) for ids in self._encode(self._check(texts))]

    def _fit(self, ids: list[int], index: int) -> list[int]:
        if len(ids) <= self._max_length:
            return ids
        if not self._truncate:
            raise InputTooLongError(f"text {index} has {len(ids)} tokens; the limit is {self._max_length}")
        # Keep [CLS] + the first tokens and the closing [SEP], like the tokenizer's own truncation.
        return ids[: self._max_length - 1] + ids[-1:]

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed texts: float32 [n, dim], each row of unit L2 norm. An empty string embeds [CLS][SEP]."""
        return self.embed_counted(texts)[0]

    def embed_counted(self, texts: list[str]) -> tuple[np.ndarray, list[int]]:
        """embed() plus the tokens each text used (after truncation), from one tokenization."""
        texts = self._check(texts)
        out = np.empty((len(texts), self._dim), dtype=np.float32)
        if not texts:
            return out, []
        encoded = [self._fit(ids, i) for i, ids in enumerate(self._encode(texts))]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        bounds = plan_batches([len(encoded[i]) for i in order], self._batch_size)
        for start, stop in zip(bounds, bounds[1:]):
            chunk = order[start:stop]
            # Per-call buffers: concurrent embed() calls never share mutable state.
            ids, mask = padded([encoded[i] for i in chunk], self._pad_id)
            result = self._session.run(["sentence_embedding"], {"input_ids": ids, "attention_mask": mask})
            out[chunk] = result[0]
        return out, [len(ids) for ids in encoded]


def padded(rows: list[list[int]], pad_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Token id rows as one int64 batch, right-padded with ``pad_id`` to the longest, and its
    attention mask (1 over each row's own tokens)."""
    width = max(map(len, rows))
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for r, row in enumerate(rows):
        ids[r, :len(row)], mask[r, :len(row)] = row, 1
    return ids, mask


def default_threads() -> int:
    """Cores this process may use (the container's limit, not the host's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def plan_batches(lengths: list[int], max_batch: int, run_cost: int = RUN_COST_TOKENS,
                 max_tokens: int = MAX_RUN_TOKENS) -> list[int]:
    """Split ascending lengths into contiguous batches minimising padded tokens + run_cost per run.

    A batch of two or more texts holds at most max_tokens padded tokens (one text always fits).
    Returns the boundaries [0, ..., len(lengths)]. Dynamic programming over the last batch's
    start: O(n * max_batch), a few ms for thousands of texts.
    """
    n = len(lengths)
    best = [0] + [1 << 60] * n
    start_of = [0] * (n + 1)
    for end in range(1, n + 1):
        width = lengths[end - 1]  # ascending: the last text is the widest
        # Widest first so the token cap can stop the scan early: batches only grow from here.
        for start in range(end - 1, max(0, end - max_batch) - 1, -1):
            if end - start > 1 and (end - start) * width > max_tokens:
                break
            cost = best[start] + (end - start) * width + run_cost
            if cost < best[end]:
                best[end], start_of[end] = cost, start
    bounds = [n]
    while bounds[-1] > 0:
        bounds.append(start_of[bounds[-1]])
    return bounds[::-1]

