"""The ONNX engines several plugins share: sentence embeddings (``embed_engine``), the BERT
graph builder (``bert_graph``, ``bert_calibrate``), the cross-encoder (``cross_encoder``),
ORT session settings (``ort_session``), sessions opened from a cached optimised graph
(``session_cache``) and the resident pages of mapped model files (``mapped_files``). Pure
numpy + onnx + onnxruntime + tokenizers (no torch, no transformers). Part of the plugin
API: a plugin may import ``clawhost.engines``."""

# The quantizations each kind of model can be prepared with. Here, in the package's light
# top module, so that config validation names them without importing onnx or numpy; the
# builders (chat_build.PRESETS, bert_graph) are checked against these by the tests.
QUANTIZATIONS: dict[str, tuple[str, ...]] = {
    "chat": ("int4-mixed", "int8", "int4", "fp32"),
    "embedding": ("int8", "fp32", "int8-sq", "int8-b32", "int8-b64", "int8-b128", "int8-dyn",
                  "int8-row"),
    "rerank": ("int8", "fp32", "int8-sq"),
}

# Cross-encoder adapters shipped in this package (a rerank model's ``adapter: NAME``), as
# paths relative to this package: here too, so config validation can name them cheaply.
ADAPTERS: dict[str, str] = {"qqp-verifier": "verifier_cross.npz"}

# How long a decoding model's ORT workers spin between the ops of one step
# (``ort_session.session_options(spin_us=...)``); quantized_model's `spin_us` defaults to it.
DECODE_SPIN_US = 100
