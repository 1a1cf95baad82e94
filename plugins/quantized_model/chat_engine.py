"""The local chat engine: a prepared fused llama graph served with numpy + onnxruntime.

Imports neither torch nor transformers (a test checks ``sys.modules``).

    engine = ChatEngine.load("workspace/models/smollm2-135m-instruct", threads=2)
    ids = engine.encode_chat([{"role": "user", "content": "Hi"}])
    gen = engine.generate(ids, SamplingParams(max_tokens=64, temperature=0))
    for delta in gen:            # text deltas as they decode (stop strings held back)
        print(delta, end="")
    gen.result                   # ChatResult(text, finish_reason, usage, token_ids)

    batch = engine.new_batch(max_slots=8)       # continuous batching
    slot = batch.add(ids, SamplingParams(...))  # prefill one sequence
    events = batch.step()                       # {slot: TokenEvent} for all active slots
    batch.remove(slot)                          # free a slot early

Artifacts (written by `clawhost.plugins.quantized_model.chat_build`): ``model.onnx`` + ``model.onnx.data``,
``tokenizer.json``, ``chat_config.json`` (llama config, chat template, special tokens).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from clawhost.engines import DECODE_SPIN_US

from .chat_template import ChatTemplate
from .kv_budget import KVBudget, KVBudgetError
from .runner import LlamaSession, Runner
from .sampling import SamplingParams
from .sequence import ChatResult, Sequence, TokenEvent, Usage
from .slot_batch import SlotBatch
from .weights import LlamaConfig

__all__ = ["ChatEngine", "ChatResult", "ContextLengthError", "Generation", "KVBudget",
           "KVBudgetError", "SamplingParams", "SlotBatch", "TokenEvent", "Usage"]

# Prompt tokens per graph run. GQA's scratch for a chunk is heads x chunk x capacity floats,
# where heads are the query heads one attention op scores (all of them over a float cache;
# one KV head's group over an int8 cache, kv_prefill.py), freed after each op: at most
# PREFILL_SCRATCH bytes of it, so chunks get shorter as the cache grows (SmolLM2 at 7k, float
# cache: 124 tokens, 32 MB; 256 tokens took 66 MB, a fifth of the peak of a 7k prompt). The
# int8 cache's chunks are three times as long at the same scratch, and each one casts the
# cached rows to float once, so fewer chunks cast less: a 7k prompt prefilled 6% faster with
# 256-token chunks than with 128 (BENCHMARKS.md, #18 session 22). The floor keeps long
# prefills from crawling; the cap keeps a chunk's step short for the streams decoding beside it.
PREFILL_CHUNK = 256
PREFILL_SCRATCH = 32 * 2**20
MIN_PREFILL_CHUNK = 64


class ContextLengthError(ValueError):
    """Prompt plus requested answer do not fit in the context (an HTTP 400, not a crash)."""


class Generation:
    """Iterate for text deltas; afterwards ``result`` holds the `ChatResult`."""

    def __init__(self, events: Iterator[TokenEvent], seq: Sequence):
        self._events, self._seq = events, seq
        self.result: ChatResult | None = None

    def __iter__(self) -> Iterator[str]:
        for ev in self._events:
            if ev.text:
                yield ev.text
        self.result = self._seq.result()

    def events(self) -> Iterator[TokenEvent]:
        """The raw per-token events instead of text deltas."""
        yield from self._events
        self.result = self._seq.result()

    def complete(self) -> ChatResult:
        """Run to the end and return the result."""
        for _ in self:
            pass
        return self.result  # type: ignore[return-value]


class ChatEngine:
    def __init__(self, folder: Path, model: LlamaSession, tokenizer, meta: dict[str, Any],
                 context_length: int, budget: KVBudget | None = None):
        self.folder, self.model, self.tokenizer, self.meta = folder, model, tokenizer, meta
        self.config: LlamaConfig = model.cfg
        self.kv_dtype = model.kv_dtype
        self.kv_bytes_per_token = model.kv_bytes_per_token
        # the query heads one attention op scores in a prefill chunk: an int8 graph's chunks
        # attend one KV head's group at a time (kv_prefill.py), a float graph all heads at once
        heads = self.config.num_heads
        self.attended_heads = heads // self.config.num_kv_heads if model.new_rows else heads
        self.budget = budget or KVBudget()
        self.prefix_cache = None  # a PrefixCache (`enable_prefix_cache`): off by default
        self.prefix_store = None  # a PrefixStore on disk (`enable_prefix_store`)
        self.speculation = None  # a speculate.Speculation (`enable_speculation`)
        fits = self.budget.tokens(self.kv_bytes_per_token)
        # the context served is what one stream can have: a longer one could never start
        self._context = context_length if fits is None else min(context_length, fits)
        self.template = ChatTemplate(meta.get("chat_template"))
        vocab = tokenizer.get_vocab(with_added_tokens=True)
        ends = [meta.get("eos_token"), "<|endoftext|>", "<|im_end|>", "<|im_start|>", "</s>",
                "<|eot_id|>"]
        self.stop_ids = {vocab[t] for t in ends if t and t in vocab}

    @classmethod
    def load(cls, artifact_dir: str | Path, threads: int | None = 2,
             context_length: int | None = None, budget: KVBudget | None = None,
             kv_cache: str = "float32", cached: bool = False,
             warm_cores: bool = True, spin_us: int = DECODE_SPIN_US) -> "ChatEngine":
        """Open prepared artifacts. `context_length` caps the model's own; `budget` bounds
        the KV cache of all streams together (SmolLM2-135M: 45 KB per token in float32,
        11.25 KB in int8) and with it the context served; `kv_cache` is the cache's element
        type (`kv_cache.KV_DTYPES`; the serving default is int8, see options.py); `cached`
        opens the graph through its cached optimised copy (`clawhost.engines.session_cache`:
        serving does, preparation and checks do not); `warm_cores` keeps the cores the pool
        wakes busy at idle priority while it decodes (runner.py); `spin_us` is how long its
        workers spin between the ops of one run (`clawhost.engines.ort_session`)."""
        from tokenizers import Tokenizer

        from .kv_cache import graph_file

        folder = Path(artifact_dir)
        for name in (graph_file(kv_cache), "tokenizer.json", "chat_config.json"):
            if not (folder / name).exists():
                raise FileNotFoundError(f"{folder}: missing artifact {name} (prepare the model)")
        meta = json.loads((folder / "chat_config.json").read_text())
        cfg = LlamaConfig(**meta["config"])
        ctx = min(context_length or cfg.context_length, cfg.context_length)
        model = LlamaSession(folder / graph_file(kv_cache), cfg, threads, cached, warm_cores,
                             spin_us)
        return cls(folder, model, Tokenizer.from_file(str(folder / "tokenizer.json")), meta, ctx,
                   budget)

    def enable_prefix_cache(self, limit_bytes: int, min_tokens: int = 1024) -> None:
        """Keep the KV of long prompts' prefixes (up to `limit_bytes`, inside the budget)."""
        from .prefix_cache import PrefixCache
        self.prefix_cache = PrefixCache(self.budget, self.kv_bytes_per_token, limit_bytes,
                                        min_tokens)

    def enable_prefix_store(self, root: Path, limit_bytes: int, min_tokens: int | None = None) -> None:
        """Keep long prompts' KV on disk under `root`, in blocks, up to `limit_bytes`
        (prefix_store.py): a next turn, or the same prompt after a restart, reads them
        instead of prefilling."""
        from .kv_cache import graph_file
        from .prefix_cache import BLOCK
        from .prefix_store import PrefixStore, fingerprint
        self.prefix_store = PrefixStore(
            root, fingerprint(self.folder, graph_file(self.kv_dtype), self.kv_dtype, BLOCK),
            self.kv_bytes_per_token, limit_bytes, BLOCK, min_tokens)

    @property
    def keeps_prefixes(self) -> bool:
        return self.prefix_cache is not None or self.prefix_store is not None

    def enable_speculation(self, max_draft: int = 6, max_context: int | None = None) -> None:
        """Guess up to `max_draft` tokens from earlier text when one stream decodes (with at
        most `max_context` cached tokens, if given), and check them in one run (speculate.py)."""
        from .speculate import Speculation
        self.speculation = Speculation(max_draft=max_draft, max_context=max_context)

    def prefill_chunk(self, capacity: int) -> int:
        """Prompt tokens per graph run for a cache of `capacity` positions."""
        per_token = self.attended_heads * max(capacity, 1) * 4  # float32 attention scores
        if PREFILL_CHUNK * per_token <= PREFILL_SCRATCH:
            return PREFILL_CHUNK
        return max(MIN_PREFILL_CHUNK, PREFILL_SCRATCH // per_token)

    # -- text <-> tokens ---------------------------------------------------------------------
    @property
    def context_length(self) -> int:
        return self._context

    def render_chat(self, messages: list[dict[str, Any]], add_generation_prompt: bool = True) -> str:
        return self.template.render(messages, add_generation_prompt)

    def encode(self, text: str) -> list[int]:
        """Tokens of `text`; special markers like ``<|im_start|>`` map to their ids, no BOS."""
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def encode_chat(self, messages: list[dict[str, Any]]) -> list[int]:
        """Tokens of the chat template applied to `messages`, ready to generate the answer."""
        return self.encode(self.render_chat(messages))

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    # -- generation --------------------------------------------------------------------------
    def sampling(self, params: SamplingParams | dict | None) -> SamplingParams:
        if params is None:
            return SamplingParams()
        return params if isinstance(params, SamplingParams) else SamplingParams(**params)

    def new_sequence(self, prompt_ids: list[int], params: SamplingParams) -> Sequence:
        """Check the context budget and resolve ``max_tokens`` (None: what is left)."""
        n = len(prompt_ids)
        if n == 0:
            raise ValueError("empty prompt")
        room = self._context - n
        if room < 1:
            raise ContextLengthError(f"the prompt has {n} tokens; the context holds "
                                     f"{self._context}")
        want = params.max_tokens or room
        if want > room:
            raise ContextLengthError(f"prompt ({n} tokens) + max_tokens ({want}) exceed the "
                                     f"context length {self._context}")
        return Sequence(self.tokenizer, list(prompt_ids), params, want, self.stop_ids)

    def prefill(self, runner: Runner, row: int, ids: list[int]) -> np.ndarray:
        """Run a prompt through one KV row in chunks; return the last position's logits."""
        logits, start = None, 0
        runner.grow(len(ids))
        while start < len(ids):
            piece = ids[start:start + self.prefill_chunk(runner.capacity)]
            logits = runner.prefill(row, piece, past=start)
            start += len(piece)
        return logits  # type: ignore[return-value]

    def generate(self, prompt: list[int] | list[dict[str, Any]],
                 params: SamplingParams | dict | None = None) -> Generation:
        """Stream one answer. `prompt` is token ids or chat messages."""
        ids = prompt if not prompt or isinstance(prompt[0], int) else self.encode_chat(prompt)  # type: ignore[arg-type]
        p = self.sampling(params)
        seq = self.new_sequence(list(ids), p)  # raises before any work is done
        return Generation(self._run(seq, list(ids)), seq)

    def _run(self, seq: Sequence, ids: list[int]) -> Iterator[TokenEvent]:
        need = seq.prompt_len + seq.max_tokens
        reserved = self.budget.reserve(need, self.kv_bytes_per_token)
        self.model.warmer.hold()
        try:
            runner = Runner(self.model, rows=1, capacity=need)
            logits = self.prefill(runner, 0, ids)
            while True:
                ev = seq.advance(logits)
                yield ev
                if ev.finish_reason is not None:
                    return
                logits = runner.decode(np.array([ev.token_id]),
                                       np.array([seq.length - 1], np.int32))[0]
        finally:  # also when the caller drops the generator early
            self.model.warmer.release()
            self.budget.release(reserved)

    def chat(self, messages: list[dict[str, Any]], **params: Any) -> ChatResult:
        """Convenience: the whole answer to `messages` (params as in `SamplingParams`)."""
        return self.generate(self.encode_chat(messages), SamplingParams(**params)).complete()

    def new_batch(self, max_slots: int = 8) -> SlotBatch:
        """A `SlotBatch` for continuous batching (its own KV cache, this engine's session)."""
        return SlotBatch(self, max_slots)
