"""Local model engines: pure numpy + onnx + onnxruntime + tokenizers (no torch, no transformers)."""
