"""Rebuild a Hugging Face `tokenizer.json` (byte-level BPE) from GGUF metadata.

Why by hand: the traps are (1) decoding must go through a ByteLevel decoder, or text comes
out with raw `Ġ`/`Ċ` markers, and (2) no BOS may be prepended by a post-processor, because
the chat template already starts with `<|im_start|>` (a doubled marker confuses the model).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# token_type values in GGUF (llama.cpp's llama_token_type)
_CONTROL, _USER_DEFINED = 3, 4


def tokenizer_json_from_gguf(fields: dict[str, Any]) -> dict:
    """Return the tokenizer.json dict for a GGUF `tokenizer.ggml.model == 'gpt2'` vocabulary."""
    model = fields.get("tokenizer.ggml.model")
    if model != "gpt2":
        raise ValueError(f"unsupported GGUF tokenizer model {model!r} (only byte-level BPE 'gpt2')")
    tokens: list[str] = list(fields["tokenizer.ggml.tokens"])
    types: list[int] = list(fields.get("tokenizer.ggml.token_type") or [1] * len(tokens))
    merges: list[str] = list(fields.get("tokenizer.ggml.merges") or [])
    pre = fields.get("tokenizer.ggml.pre", "default")
    added = [
        {"id": i, "content": tok, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": types[i] == _CONTROL}
        for i, tok in enumerate(tokens) if types[i] in (_CONTROL, _USER_DEFINED)
    ]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                  "use_regex": True}
    pretok: list[dict] = [byte_level]
    if pre in ("smollm", "starcoder", "refact", "qwen2", "llama3", "llama-bpe", "deepseek-coder"):
        # these pre-tokenizers split digits one by one before the GPT-2 regex
        pretok.insert(0, {"type": "Digits", "individual_digits": True})
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": pretok},
        "post_processor": None,  # no implicit BOS: the chat template provides the markers
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
            "ignore_merges": False,
            "vocab": {tok: i for i, tok in enumerate(tokens)},
            "merges": [m.split(" ", 1) for m in merges],
        },
    }


def chat_meta_from_gguf(fields: dict[str, Any]) -> dict:
    """Chat template and special token ids, as stored next to the artifacts."""
    tokens = list(fields["tokenizer.ggml.tokens"])

    def tok(key: str) -> str | None:
        idx = fields.get(key)
        return tokens[int(idx)] if idx is not None and int(idx) < len(tokens) else None

    return {
        "chat_template": fields.get("tokenizer.chat_template"),
        "bos_token": tok("tokenizer.ggml.bos_token_id"),
        "eos_token": tok("tokenizer.ggml.eos_token_id"),
        "pad_token": tok("tokenizer.ggml.padding_token_id"),
    }


def chat_meta_from_hf(folder: Path) -> dict:
    """Same as `chat_meta_from_gguf` for a Hugging Face folder (tokenizer_config.json)."""
    cfg_path = Path(folder) / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text()) if cfg_path.exists() else {}

    def name(v: Any) -> str | None:
        return v.get("content") if isinstance(v, dict) else v

    return {
        "chat_template": cfg.get("chat_template"),
        "bos_token": name(cfg.get("bos_token")),
        "eos_token": name(cfg.get("eos_token")),
        "pad_token": name(cfg.get("pad_token")),
    }
