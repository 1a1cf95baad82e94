"""SmoothQuant calibration for bert_graph's int8-sq: activation maxima through the fp32 graph."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper

from .bert_ops import BertConfig, _assemble, _Graph
from .embed_engine import padded
from .onnx_files import save_with_external_data


def calibrate(model_dir: Path, w: dict[str, np.ndarray], cfg: BertConfig, texts: list,
              batch: int = 32, head=None) -> dict[str, np.ndarray]:
    """Per-input-channel max |x| of every MatMul input of the fp32 graph over texts' real tokens.

    Padded positions are left out: they are not part of any sentence and would skew the maxima.
    With a pair-scoring ``head`` the texts are (a, b) pairs, encoded as the scorer sees them.
    """
    import onnxruntime as ort
    from tokenizers import Tokenizer

    g = _Graph("fp32")
    model = _assemble(g, w, cfg, head=head)
    taps = dict(g.taps)
    for t in taps.values():
        model.graph.output.append(helper.make_tensor_value_info(t, TensorProto.FLOAT, None))
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep tapped names
    # Weights go through a file with external data, which ORT maps instead of copying: a
    # session from serialized bytes held the weights three more times (peak 452 vs 326 MB in
    # process), and preparation must fit a 1.6 GB box beside the running host.
    with tempfile.TemporaryDirectory(prefix="clawhost-calib-") as tmp:
        path = Path(tmp) / "fp32.onnx"
        save_with_external_data(model, path)
        del model, g
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    encoded = tok.encode_batch(list(texts))
    enc = [e.ids[:128] for e in encoded]
    types = [e.type_ids[:128] for e in encoded]
    names = list(taps)
    amax = {h: np.zeros(0, np.float32) for h in names}
    for start in range(0, len(enc), batch):
        ids, mask = padded(enc[start:start + batch])
        feed = {"input_ids": ids, "attention_mask": mask}
        if head is not None:
            tt = np.zeros_like(ids)
            for r, row in enumerate(types[start:start + batch]):
                tt[r, :len(row)] = row
            feed["token_type_ids"] = tt
        outs = sess.run([taps[h] for h in names], feed)
        valid = mask.astype(bool)
        for h, o in zip(names, outs):
            m = np.abs(o[valid]).max(axis=0)
            amax[h] = m if amax[h].size == 0 else np.maximum(amax[h], m)
    return amax
