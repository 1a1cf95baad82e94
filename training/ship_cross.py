"""Turn trained cross-encoder adapters into the shipped one, with its threshold set.

    python -m training.ship_cross --source MINILM_DIR --embeddings DIR A.npz [B.npz ...]

Several adapters are averaged into one ("model soup"): their LoRA factors are concatenated,
so the merged delta is exactly the mean of theirs, and the small tensors are averaged. The
result is built as the INT8 graph the host serves, and its threshold is read off the dev
slice (``train_cross.dev_slice``, never fitted on) through the live decision code: the
cosine floor and rules of the default options, then the highest threshold at which dev QQP
recall is still >= ``--recall``. No torch needed.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from clawhost.plugins.semantic_cache.evaluate import held_back, load_pairs
from .train_cross import ADAPTER, choose_threshold, dev_slice


def soup(paths: list[Path]) -> dict[str, np.ndarray]:
    """The mean of several adapters, as one adapter (LoRA rank = the sum of theirs)."""
    zs = [dict(np.load(p, allow_pickle=False)) for p in paths]
    n, out = len(zs), {}
    for key in zs[0]:
        if key == "info":
            continue
        if key.startswith("lora/") and key.endswith(".A"):
            out[key] = np.concatenate([z[key] for z in zs], 0)
        elif key.startswith("lora/") and key.endswith(".B"):
            out[key] = np.concatenate([z[key].astype(np.float32) / n for z in zs], 1).astype(np.float16)
        else:
            out[key] = np.mean([z[key] for z in zs], 0).astype(zs[0][key].dtype)
    infos = [json.loads(z["info"].tobytes()) for z in zs if "info" in z]
    info = dict(infos[0]) if infos else {}
    info["soup_of"] = infos
    out["info"] = np.frombuffer(json.dumps(info).encode(), np.uint8)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("adapters", nargs="+", type=Path)
    ap.add_argument("--source", required=True, help="all-MiniLM-L6-v2 folder (model.safetensors)")
    ap.add_argument("--embeddings", required=True, help="prepared embedding artifact folder")
    ap.add_argument("--eval", default="/work/shared/eval")
    ap.add_argument("--out", type=Path, default=ADAPTER)
    ap.add_argument("--recall", type=float, default=0.32)
    args = ap.parse_args(argv)

    from clawhost.engines.bert_graph import build_bert_onnx
    from clawhost.engines.embed_engine import EmbedEngine
    from clawhost.plugins.semantic_cache import Options
    from clawhost.plugins.semantic_cache import evaluate
    from clawhost.plugins.semantic_cache.verifier import Settings, Verifier

    arrays = soup(args.adapters)
    opts = Options()
    with tempfile.TemporaryDirectory(prefix="clawhost-ship-") as tmp:
        adapter = Path(tmp) / "adapter.npz"
        np.savez_compressed(adapter, **arrays)
        build_bert_onnx(Path(args.source), Path(tmp) / "int8", "int8", adapter=adapter)
        pairs = load_pairs(Path(args.eval) / "qqp_dev.jsonl")
        emb = evaluate.embed_pairs(EmbedEngine.load(Path(args.embeddings), threads=2).embed, pairs)
        settings = Settings(min_similarity=opts.min_similarity, rules=tuple(opts.rules))
        verifier = Verifier(settings).with_cross_encoder(Path(tmp) / "int8", threads=2)
        scores = evaluate.scores(verifier, pairs, emb)  # 0 below the floor or on a rule
    y = np.array([p.duplicate for p in pairs])
    held = np.array([held_back(p.a, p.b) for p in pairs])
    dev = np.array([not h and dev_slice(p.a, p.b) for p, h in zip(pairs, held)])
    threshold = choose_threshold(scores[dev], y[dev], args.recall)
    info = json.loads(arrays["info"].tobytes())
    info.update(threshold=threshold, threshold_rule=(
        f"highest with dev-slice QQP recall >= {args.recall} through the INT8 graph, cosine "
        f"floor {opts.min_similarity}, rules {', '.join(opts.rules)}"))
    arrays["info"] = np.frombuffer(json.dumps(info).encode(), np.uint8)
    np.savez_compressed(args.out, **arrays)
    for name, mask in (("dev", dev), ("held-back", held)):
        f = evaluate.figures([p for p, m in zip(pairs, mask) if m], (scores >= threshold)[mask])
        print(f"{name}: precision {f.precision:.3f} recall {f.recall:.3f} hits {f.hits}")
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes): threshold {threshold}")


if __name__ == "__main__":
    main()
