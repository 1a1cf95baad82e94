"""Build a fused BERT sentence-embedding ONNX graph straight from safetensors weights (no torch)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import onnx

from .bert_ops import (CALIBRATION_TEXTS, DEFAULT_INT8, QUANTIZATIONS, BertConfig, _assemble, _Graph,
                       load_weights)
from . import cpu
from .onnx_files import save_with_external_data

__all__ = ["BertConfig", "CALIBRATION_TEXTS", "QUANTIZATIONS", "build_bert_onnx", "build_model",
           "load_weights"]


def build_model(model_dir: Path, quantization: str = "fp32", calibration: list[str] | None = None,
                alpha: float = 0.5, adapter: Path | None = None,
                cfg: BertConfig | None = None, weight_bits: int | None = None) -> onnx.ModelProto:
    """Return the ONNX model (inputs input_ids/attention_mask int64, output sentence_embedding);
    with a cross-encoder ``adapter`` (``cross_encoder.merge_adapter``), the pair scorer.
    ``cfg`` (default: read from model_dir) ends up as built: an adapter may cut its layers.
    ``weight_bits`` (default: this CPU's, ``cpu.weight_bits``) of the int8 weights."""
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"unknown quantization {quantization!r}; choose one of {', '.join(QUANTIZATIONS)}")
    q = DEFAULT_INT8 if quantization == "int8" else quantization
    model_dir = Path(model_dir)
    cfg, w = cfg or BertConfig(model_dir), load_weights(model_dir)
    head = None
    if adapter is not None:
        from .cross_encoder import CALIBRATION_PAIRS, merge_adapter
        w, head = merge_adapter(w, adapter, cfg)
        calibration = calibration or CALIBRATION_PAIRS
    act_max = None
    if q == "int8-sq":
        from .bert_calibrate import calibrate
        act_max = calibrate(model_dir, w, cfg, calibration or CALIBRATION_TEXTS, head=head)
    bits = weight_bits or cpu.weight_bits()
    return _assemble(_Graph(q, act_max, alpha, weight_bits=bits), w, cfg, head=head)


def build_bert_onnx(model_dir: Path, out_dir: Path, quantization: str,
                    calibration: list[str] | None = None, adapter: Path | None = None,
                    weight_bits: int | None = None) -> dict:
    """Write model.onnx, tokenizer.json and embed_config.json into out_dir; return facts about them."""
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    if not (model_dir / "tokenizer.json").exists():
        raise FileNotFoundError(f"no tokenizer.json in {model_dir}")
    cfg = BertConfig(model_dir)
    bits = weight_bits or cpu.weight_bits()
    model = build_model(model_dir, quantization, calibration, adapter=adapter, cfg=cfg,
                        weight_bits=bits)
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_bytes = model.ByteSize()  # the graph with its weights, as one inline file would hold it
    save_with_external_data(model, out_dir / "model.onnx")
    shutil.copyfile(model_dir / "tokenizer.json", out_dir / "tokenizer.json")
    st_cfg = model_dir / "sentence_bert_config.json"
    max_len = json.loads(st_cfg.read_text()).get("max_seq_length", 0) if st_cfg.exists() else 0
    max_len = min(int(max_len or cfg.max_positions), cfg.max_positions)
    pooling = model_dir / "1_Pooling" / "config.json"
    if pooling.exists():
        shutil.copyfile(pooling, out_dir / "pooling_config.json")
    ops: dict[str, int] = {}
    for node in model.graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    facts = {"quantization": DEFAULT_INT8 if quantization == "int8" else quantization,
             "dim": cfg.hidden, "max_length": max_len, "max_positions": cfg.max_positions,
             "layers": cfg.layers, "pooling": "mean", "normalized": True,
             "output": "score" if adapter is not None else "sentence_embedding",
             "onnx_bytes": onnx_bytes, "ops": ops}
    if facts["quantization"] in ("int8-sq", "int8-row"):
        facts["weight_bits"] = bits  # 7 where this CPU's u8 x s8 GEMM saturates (cpu.py)
    (out_dir / "embed_config.json").write_text(json.dumps(facts, indent=2))
    return facts
