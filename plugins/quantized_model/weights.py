"""Read llama-family weights (GGUF or a Hugging Face safetensors folder) into numpy, no torch.

Both readers expose the same small interface (`LlamaConfig` + `WeightReader`) with logical
tensor names, so the graph builder does not care where the weights came from.
Logical names: ``embed``, ``lm_head`` (absent when tied), ``norm`` and per layer
``layers.{i}.{q,k,v,o,gate,up,down,attn_norm,ffn_norm}``. Matrices are ``[out, in]``.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Protocol

import numpy as np
from pydantic import BaseModel


class LlamaConfig(BaseModel):
    """Shape of a llama-style decoder (SmolLM2, TinyLlama, Llama 2/3 ...)."""

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    rope_theta: float = 10000.0
    rms_eps: float = 1e-5
    context_length: int = 2048
    tie_embeddings: bool = True
    # GGUF stores Q/K rows permuted for llama.cpp's interleaved ("GPT-J") rotary; HF does not.
    rotary_interleaved: bool = False


class WeightReader(Protocol):
    config: LlamaConfig

    def get(self, name: str) -> np.ndarray: ...           # float32
    def q8_0_blocks(self, name: str) -> np.ndarray | None: ...  # raw Q8_0 rows when stored so


_GGUF_NAMES = {
    "embed": "token_embd.weight", "lm_head": "output.weight", "norm": "output_norm.weight",
    "q": "attn_q.weight", "k": "attn_k.weight", "v": "attn_v.weight", "o": "attn_output.weight",
    "gate": "ffn_gate.weight", "up": "ffn_up.weight", "down": "ffn_down.weight",
    "attn_norm": "attn_norm.weight", "ffn_norm": "ffn_norm.weight",
}


def _gguf_name(name: str) -> str:
    if name.startswith("layers."):
        _, idx, short = name.split(".", 2)
        return f"blk.{idx}.{_GGUF_NAMES[short]}"
    return _GGUF_NAMES[name]


class GGUFWeights:
    """Weights and metadata of a llama GGUF file, dequantized with the `gguf` package."""

    def __init__(self, path: Path):
        from gguf import GGUFReader  # local import: only preparation needs it

        self.path = Path(path)
        with open(path, "rb") as fh:  # gguf's own error for this is "GGUF magic invalid"
            if fh.read(4) != b"GGUF":
                raise ValueError(f"{path} is not a GGUF file (it does not start with 'GGUF')")
        self.reader = GGUFReader(str(path))
        self.tensors = {t.name: t for t in self.reader.tensors}
        arch = self.field("general.architecture")
        if arch != "llama":
            raise ValueError(f"unsupported GGUF architecture {arch!r} (only llama is supported)")
        n_heads = int(self.field("llama.attention.head_count"))
        hidden = int(self.field("llama.embedding_length"))
        self.config = LlamaConfig(
            vocab_size=int(self.tensors["token_embd.weight"].shape[1]),
            hidden_size=hidden,
            intermediate_size=int(self.field("llama.feed_forward_length")),
            num_layers=int(self.field("llama.block_count")),
            num_heads=n_heads,
            num_kv_heads=int(self.field("llama.attention.head_count_kv", n_heads)),
            head_dim=int(self.field("llama.rope.dimension_count", hidden // n_heads)),
            rope_theta=float(self.field("llama.rope.freq_base", 10000.0)),
            rms_eps=float(self.field("llama.attention.layer_norm_rms_epsilon", 1e-5)),
            context_length=int(self.field("llama.context_length", 2048)),
            tie_embeddings="output.weight" not in self.tensors,
            rotary_interleaved=True,
        )

    def field(self, key: str, default=None):
        f = self.reader.fields.get(key)
        return default if f is None else f.contents()

    def get(self, name: str) -> np.ndarray:
        from gguf.quants import dequantize

        t = self.tensors[_gguf_name(name)]
        arr = dequantize(np.asarray(t.data), t.tensor_type)
        return np.ascontiguousarray(arr, dtype=np.float32)

    def q8_0_blocks(self, name: str) -> np.ndarray | None:
        from gguf import GGMLQuantizationType

        t = self.tensors[_gguf_name(name)]
        if t.tensor_type != GGMLQuantizationType.Q8_0:
            return None
        return np.asarray(t.data)

    def tensor_type(self, name: str) -> str:
        return self.tensors[_gguf_name(name)].tensor_type.name


_HF_NAMES = {
    "embed": "model.embed_tokens.weight", "lm_head": "lm_head.weight", "norm": "model.norm.weight",
    "q": "self_attn.q_proj.weight", "k": "self_attn.k_proj.weight", "v": "self_attn.v_proj.weight",
    "o": "self_attn.o_proj.weight", "gate": "mlp.gate_proj.weight", "up": "mlp.up_proj.weight",
    "down": "mlp.down_proj.weight", "attn_norm": "input_layernorm.weight",
    "ffn_norm": "post_attention_layernorm.weight",
}


def _read_safetensors_index(path: Path) -> dict[str, tuple[Path, dict, int]]:
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    return {k: (path, v, 8 + n) for k, v in header.items()}


class HFWeights:
    """A Hugging Face llama folder (config.json + *.safetensors), read without torch.

    bf16 is widened by bit-shifting (numpy has no bfloat16)."""

    _DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16}

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        cfg = json.loads((self.folder / "config.json").read_text())
        if cfg.get("model_type") not in ("llama", "mistral", None):
            raise ValueError(f"unsupported model_type {cfg.get('model_type')!r} (llama only)")
        self.index: dict[str, tuple[Path, dict, int]] = {}
        for st in sorted(self.folder.glob("*.safetensors")):
            self.index.update(_read_safetensors_index(st))
        if not self.index:
            raise ValueError(f"no .safetensors files in {self.folder}")
        heads = int(cfg["num_attention_heads"])
        self.config = LlamaConfig(
            vocab_size=int(cfg["vocab_size"]),
            hidden_size=int(cfg["hidden_size"]),
            intermediate_size=int(cfg["intermediate_size"]),
            num_layers=int(cfg["num_hidden_layers"]),
            num_heads=heads,
            num_kv_heads=int(cfg.get("num_key_value_heads", heads)),
            head_dim=int(cfg.get("head_dim") or cfg["hidden_size"] // heads),
            rope_theta=float(cfg.get("rope_theta", 10000.0)),
            rms_eps=float(cfg.get("rms_norm_eps", 1e-5)),
            context_length=int(cfg.get("max_position_embeddings", 2048)),
            tie_embeddings=bool(cfg.get("tie_word_embeddings", "lm_head.weight" not in self.index)),
            rotary_interleaved=False,
        )

    def get(self, name: str) -> np.ndarray:
        if name.startswith("layers."):
            _, idx, short = name.split(".", 2)
            key = f"model.layers.{idx}.{_HF_NAMES[short]}"
        else:
            key = _HF_NAMES[name]
        path, meta, base = self.index[key]
        start, end = meta["data_offsets"]
        dtype = self._DTYPES.get(meta["dtype"])
        if dtype is None:
            raise ValueError(f"unsupported safetensors dtype {meta['dtype']} for {key}")
        raw = np.fromfile(path, dtype=np.uint8, count=end - start, offset=base + start)
        arr = raw.view(dtype).reshape(meta["shape"])
        if meta["dtype"] == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        return np.ascontiguousarray(arr, dtype=np.float32)

    def q8_0_blocks(self, name: str) -> np.ndarray | None:
        return None


def open_weights(path: Path) -> GGUFWeights | HFWeights:
    """Open a `.gguf` file or a Hugging Face folder."""
    path = Path(path)
    if path.is_file() and path.suffix == ".gguf":
        return GGUFWeights(path)
    if path.is_dir() and (path / "config.json").exists():
        return HFWeights(path)
    raise ValueError(f"{path} is neither a .gguf file nor a folder with config.json")
