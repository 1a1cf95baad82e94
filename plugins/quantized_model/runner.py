"""The lean onnxruntime loop under the chat engine: one session, a KV cache that never moves.

The KV cache is one numpy buffer per layer and kind, ``[rows, kv_heads, capacity, head_dim]``,
each on its own anonymous memory mapping (`kv_buffer`): a page is committed only when a key is
written into it, so a batch of 4 slots with one 7k-token sequence holds that sequence's KV and
not 4 rows of it, and a freed row or a dropped cache goes back to the OS at once.
Past and present outputs of GroupQueryAttention are bound to the *same* memory through I/O
binding, so GQA appends new keys in place (no per-step copy of the cache). Decode bindings are
cached per batch size and their small input arrays are rewritten in place, so a decode step
costs one ``run_with_iobinding`` and nothing else.
"""
from __future__ import annotations

import mmap
import os
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import onnxruntime as ort

from clawhost.engines.mapped_files import release_file_pages
from clawhost.engines.ort_session import session_options  # noqa: F401 - re-exported
from .kv_cache import NUMPY, bytes_per_token
from .kv_prefill import IN_PLACE_TOKENS
from .memory import large_blocks_mapped


RESCORE_MARGIN = 6.0
# positions a row's cache is rounded up to. A decode step costs the same in any capacity
# (onnxruntime 1.32, int8 or float32 cache: 256 to 8,192 positions within 1.5%,
# benchmarks/decode_capacity.py); only the pages written are committed (`kv_buffer`)
CAPACITY_STEP = 256


def kv_buffer(shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
    """A zeroed array on its own anonymous mapping.

    Why not np.zeros: once glibc's mmap threshold has risen (it follows the largest block
    freed, up to 32 MB), a 22 MB calloc comes from the heap and is memset, committing every
    row of every slot (measured: a 7k-token prompt in a 4-slot batch took RSS from 236 to
    1,545 MB), and freed heap stays with the process. A mapping commits only the pages that
    are written and is unmapped when the array goes."""
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    # private: a shared anonymous mapping is shmem, which MADV_DONTNEED does not free
    m = mmap.mmap(-1, max(nbytes, 1), flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    return np.frombuffer(m, dtype, int(np.prod(shape))).reshape(shape)


def _discard(buf: np.ndarray, start: int, stop: int) -> None:
    """Give rows start..stop-1 of a `kv_buffer` back to the OS (they read as zeros again)."""
    m = buf.base
    while m is not None and not isinstance(m, mmap.mmap):
        m = getattr(m, "base", None) if not isinstance(m, memoryview) else m.obj
    if m is None or start >= stop:
        return
    row = buf[0].nbytes
    first, last = start * row, stop * row
    page = mmap.PAGESIZE
    first = -(-first // page) * page  # only whole pages inside the range
    if last - first >= page:
        m.madvise(mmap.MADV_DONTNEED, first, (last - first) // page * page)


class LlamaSession:
    """The ORT session and embedding table of one prepared graph; shared by every Runner."""

    def __init__(self, model_path: Path, cfg, threads: int | None = None, cached: bool = False,
                 warm_cores: bool = True, spin_us: int = 0):
        """`cached`: open the graph through its cached optimised copy (`session_cache`);
        `warm_cores`: keep the cores the pool wakes busy at idle priority while it decodes;
        `spin_us`: the pool's workers spin that long between the ops of a run (`session_options`)."""
        from clawhost.engines import core_warmer

        from .embedding import EmbeddingTable

        self.cfg = cfg
        threads = threads or os.cpu_count() or 1
        if cached:
            from clawhost.engines.session_cache import open_session
            self.session = open_session(model_path,
                                        lambda: session_options(threads, spin_us=spin_us))
        else:
            self.session = ort.InferenceSession(str(model_path),
                                                session_options(threads, spin_us=spin_us),
                                                providers=["CPUExecutionProvider"])
        # held while a sequence decodes (engine `_run`, `SlotBatch`): one SCHED_IDLE busy
        # loop per worker the pool wakes, so waking it does not wait for a halted vCPU
        spare = min(threads, os.cpu_count() or 1) - 1
        self.warmer = core_warmer.CoreWarmer(
            spare if warm_cores and core_warmer.available() else 0)
        self.embed = EmbeddingTable(Path(model_path))
        # what onnxruntime keeps mapped of the weight files after prepacking (the scales and
        # zero points, ~18 MB on int4 SmolLM2) is resident but barely read: the pages that
        # are read fault back from the page cache (mapped_files.py)
        release_file_pages(Path(model_path).parent)
        self.metadata: dict[str, str] = self.session.get_modelmeta().custom_metadata_map
        # graphs with a 4-bit LM head also output the final hidden state, so the best
        # candidates can be rescored exactly from the 8-bit table (see `rescore`)
        self.has_hidden = any(o.name == "hidden" for o in self.session.get_outputs())
        # the graph decides the cache's element type (kv_cache.py: float32, float16, int8)
        past = next(i for i in self.session.get_inputs() if i.name == "past_key_0")
        self.kv_dtype = {"tensor(float)": "float32", "tensor(float16)": "float16",
                         "tensor(int8)": "int8"}[past.type]
        self.kv_bytes_per_token = bytes_per_token(cfg, self.kv_dtype)
        # int8 graphs run prefill chunks (more than IN_PLACE_TOKENS) through a float view of
        # the cache and hand back the chunk's new rows instead of writing them in place
        # (kv_prefill.py)
        outputs = {o.name for o in self.session.get_outputs()}
        self.new_rows = "new_key_0" in outputs

    def rescore(self, logits: np.ndarray, hidden: np.ndarray) -> np.ndarray:
        """Replace the logits within RESCORE_MARGIN of each row's best by exact 8-bit ones.

        On SmolLM2 the 4-bit head's logit error is 0.53 on average (max 4.8); with a margin
        of 6 the exact argmax was among the candidates (median 32 of them) at every position
        of the check text, so greedy output follows the 8-bit head at half its memory
        traffic. Tokens outside the margin keep their approximate logits (sampling tails)."""
        # per-row flatnonzero: 2-D np.nonzero is ~10x slower on a [B, 49152] mask
        cands = [np.flatnonzero(row >= row.max() - RESCORE_MARGIN) for row in logits]
        rows = np.repeat(np.arange(len(cands)), [len(c) for c in cands])
        cols = np.concatenate(cands)
        logits[rows, cols] = self.embed.logits(cols, hidden[rows])
        return logits


class Runner:
    """KV buffers and I/O bindings for up to `rows` sequences over one `LlamaSession`."""

    def __init__(self, model: LlamaSession | Path | str, cfg=None, rows: int = 1,
                 threads: int | None = None, capacity: int = 256):
        if not isinstance(model, LlamaSession):
            model = LlamaSession(Path(model), cfg, threads)
        self.model = model
        self.cfg = model.cfg
        self.session = model.session
        self.embed = model.embed
        self.rows = rows
        self.capacity = 0
        self.kv: list[np.ndarray] = []
        self._decode: dict[tuple[int, int], tuple] = {}  # (rows, tokens) -> `_binding`
        self._run_out: tuple[np.ndarray, np.ndarray] | None = None
        self.grow(capacity)

    # -- cache management -------------------------------------------------------------
    def grow(self, capacity: int, lengths: Sequence[int] | None = None) -> None:
        """Make room for `capacity` positions per row (rounded up to CAPACITY_STEP).

        `lengths[r]` is how many positions of row r hold keys: only those are copied, so
        rows nobody uses stay uncommitted (None: copy every position of every row)."""
        capacity = min(-(-capacity // CAPACITY_STEP) * CAPACITY_STEP, self.cfg.context_length)
        if capacity > self.capacity:
            self.resize(capacity, lengths)

    def resize(self, capacity: int, lengths: Sequence[int] | None = None) -> None:
        """Reallocate every buffer at `capacity` positions, keeping rows' first `lengths`.

        Shrinking after a long sequence left keeps the address space and the copy of the next
        growth small; a decode step costs the same at any capacity."""
        shape = (self.rows, self.cfg.num_kv_heads, capacity, self.cfg.head_dim)
        if lengths is None:
            lengths = [min(self.capacity, capacity)] * self.rows
        new = []
        for j, old in enumerate(self.kv or [None] * (2 * self.cfg.num_layers)):
            buf = kv_buffer(shape, NUMPY[self.model.kv_dtype])
            if old is not None:
                for r, n in enumerate(lengths):
                    if n:
                        buf[r, :, :n] = old[r, :, :n]
                self.kv[j] = None  # type: ignore[call-overload]  # unmap as we go: peak +1 buffer
            new.append(buf)
        self.kv, self.capacity = new, capacity
        self._decode.clear()  # bindings point at the old buffers

    def release(self) -> None:
        """Drop the whole cache (its mappings go back to the OS); `grow` makes a new one."""
        self.kv, self.capacity = [], 0
        self._decode.clear()
        self._run_out = None

    def clear_row(self, row: int) -> None:
        """Return one row's pages to the OS (a sequence left it; it reads as zeros again)."""
        for buf in self.kv:
            _discard(buf, row, row + 1)

    @property
    def committed_bytes(self) -> int:
        """The cache's capacity in bytes (an upper bound: pages never written cost nothing)."""
        return sum(b.nbytes for b in self.kv)

    def move_row(self, src: int, dst: int, length: int) -> None:
        """Copy one sequence's cache to another row (used to keep active rows contiguous)."""
        for buf in self.kv:
            buf[dst, :, :length] = buf[src, :, :length]

    def _bind_kv(self, io: ort.IOBinding, start: int, count: int,
                 new_rows: np.ndarray | None = None) -> None:
        """Bind rows start..start+count-1 of the cache as past and present (appended in
        place), or, given `new_rows` [2 x layers, 1, kv_heads, tokens, head_dim], as past
        only with the chunk's new rows written there (the int8 graph's prefill path)."""
        for j, buf in enumerate(self.kv):
            kind = "key" if j % 2 == 0 else "value"
            val = ort.OrtValue.ortvalue_from_numpy(buf[start:start + count])
            io.bind_ortvalue_input(f"past_{kind}_{j // 2}", val)
            if new_rows is None:
                io.bind_ortvalue_output(f"present_{kind}_{j // 2}", val)
            else:
                io.bind_ortvalue_output(f"new_{kind}_{j // 2}",
                                        ort.OrtValue.ortvalue_from_numpy(new_rows[j]))

    # -- forward passes -----------------------------------------------------------------
    def prefill(self, row: int, ids: list[int] | np.ndarray, past: int = 0,
                num_logits: int = 1) -> np.ndarray:
        """Run `ids` for one row whose cache already holds `past` tokens.

        Returns the logits of the last `num_logits` positions, [num_logits, V]."""
        ids = np.asarray(ids, np.int64).reshape(1, -1)
        total = past + ids.shape[1]
        if total > self.cfg.context_length:
            raise ValueError(f"{total} tokens exceed the context length {self.cfg.context_length}")
        if total > self.capacity:
            self.grow(total)
        io = self.session.io_binding()
        io.bind_cpu_input("inputs_embeds", self.embed.lookup(ids))
        io.bind_cpu_input("seqlens_k", np.array([total - 1], np.int32))
        io.bind_cpu_input("total_sequence_length", np.array(total, np.int32))
        io.bind_cpu_input("num_logits", np.array([num_logits], np.int64))
        new_rows = None
        if self.model.new_rows and ids.shape[1] > IN_PLACE_TOKENS:
            new_rows = np.empty((len(self.kv), 1, self.cfg.num_kv_heads, ids.shape[1],
                                 self.cfg.head_dim), self.kv[0].dtype)
        self._bind_kv(io, row, 1, new_rows)
        logits = np.empty((1, num_logits, self.cfg.vocab_size), np.float32)
        io.bind_ortvalue_output("logits", ort.OrtValue.ortvalue_from_numpy(logits))
        if self.model.has_hidden:
            hidden = np.empty((1, num_logits, self.cfg.hidden_size), np.float32)
            io.bind_ortvalue_output("hidden", ort.OrtValue.ortvalue_from_numpy(hidden))
        if new_rows is None:
            self.session.run_with_iobinding(io)
        else:
            with large_blocks_mapped():
                self.session.run_with_iobinding(io)
            for buf, rows in zip(self.kv, new_rows):
                buf[row, :, past:total] = rows[0]
        if self.model.has_hidden:
            self.model.rescore(logits[0], hidden[0])
        return logits[0] if num_logits > 1 else logits[0, 0]

    def decode(self, tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """One step for rows 0..B-1: `tokens[b]` goes after `lengths[b]` cached tokens.

        Returns logits [B, V] (a view into a reused buffer: copy it if you keep it)."""
        b = len(tokens)
        need = int(lengths.max()) + 1
        if need > self.capacity:
            self.grow(need, [int(n) for n in lengths])
        io, ids, seqlens, total, logits, hidden = self._binding(b, 1)
        ids[:, 0] = self.embed.lookup(tokens)
        seqlens[:] = lengths  # = new total length - 1
        total[...] = need
        self.session.run_with_iobinding(io)
        if self.model.has_hidden:
            self.model.rescore(logits[:, 0], hidden[:, 0])
        return logits[:, 0]

    def verify(self, tokens: list[int], past: int) -> Iterator[np.ndarray]:
        """Run a token and the guesses after it (speculate.py; at most IN_PLACE_TOKENS in
        all) for row 0, whose cache holds `past` tokens; their keys go in place.

        Yields each position's logits in order (a reused buffer), rescored only when asked
        for: a guess that fails leaves the rows after it unread."""
        n = len(tokens)
        if not 1 <= n <= IN_PLACE_TOKENS or past + n > self.capacity:
            raise ValueError(f"{n} tokens after {past} do not fit a verification run")
        io, ids, seqlens, total, logits, hidden = self._binding(1, n)
        ids[0] = self.embed.lookup(np.asarray(tokens, np.int64))
        seqlens[0] = past + n - 1
        total[...] = past + n
        self.session.run_with_iobinding(io)
        for i in range(n):
            if self.model.has_hidden:
                self.model.rescore(logits[0, i:i + 1], hidden[0, i:i + 1])
            yield logits[0, i]

    def _binding(self, b: int, n: int) -> tuple:
        """The I/O binding for `n` tokens in each of rows 0..b-1, made once per shape (the
        cache binds in place), and its arrays: (io, inputs_embeds, seqlens_k, total,
        logits, hidden). Logits and hidden of one-row runs share one buffer."""
        if (b, n) not in self._decode:
            io = self.session.io_binding()
            ids = np.zeros((b, n, self.cfg.hidden_size), np.float32)
            seqlens = np.zeros(b, np.int32)
            total = np.zeros((), np.int32)
            count = np.full(1, n, np.int64)
            if b == 1:  # verification runs of every length: 1.5 MB, not 1.5 per length
                if self._run_out is None:
                    self._run_out = (
                        np.empty((1, IN_PLACE_TOKENS, self.cfg.vocab_size), np.float32),
                        np.empty((1, IN_PLACE_TOKENS, self.cfg.hidden_size), np.float32))
                logits, hidden = (a[:, :n] for a in self._run_out)
            else:
                logits = np.empty((b, n, self.cfg.vocab_size), np.float32)
                hidden = np.empty((b, n, self.cfg.hidden_size), np.float32)
            for name, arr in (("inputs_embeds", ids), ("seqlens_k", seqlens),
                              ("total_sequence_length", total), ("num_logits", count)):
                io.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(arr))
            self._bind_kv(io, 0, b)
            io.bind_ortvalue_output("logits", ort.OrtValue.ortvalue_from_numpy(logits))
            if self.model.has_hidden:
                io.bind_ortvalue_output("hidden", ort.OrtValue.ortvalue_from_numpy(hidden))
            self._decode[b, n] = (io, ids, seqlens, total, logits, hidden)
        return self._decode[b, n]
