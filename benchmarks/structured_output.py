"""Structured output on the local model (issue 20): what grammar-constrained decoding costs,
and whether its answers are valid.

Runs SmolLM2-135M (prepared artifacts) in process through ``LocalChat.prepare`` (the code a
request takes: the instruction in the system message, llguidance's per-sequence matcher) and
the engine's SlotBatch (the batcher's continuous batching).

1. Speed: alternating rounds of a JSON Schema answer and a free-text answer to the same
   question, as many tokens long, one stream each, greedy. Decode ms per token is timed from the first token to the last (prefill excluded);
   the figure is the JSON/free ratio, both measured in the same run. The matcher's own time
   (mask + consume) per token is timed alone.
2. Validity: 10 schemas x 10 requests (sampled with seeds 0-9, 4 slots at a time), at the
   model's default sampling (temperature 0.2, top_p 0.9) and at temperature 0.7; each answer
   checked with ``jsonschema``; an answer cut by max_tokens counts as invalid.
3. Cost of the library: wheel size, import time, tokenizer build time.

    python benchmarks/structured_output.py --model-dir workspace/models/smollm2-135m-instruct
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from clawhost.bench.probe import cpu_model  # noqa: E402

EMAIL = "^[a-z]+@[a-z]+\\.(com|org)$"
SCHEMAS: list[tuple[str, str, dict]] = [
    ("person", "Describe a fictional person called Maria.", {
        "type": "object", "properties": {
            "name": {"type": "string"}, "age": {"type": "integer", "minimum": 0, "maximum": 120},
            "email": {"type": "string", "pattern": EMAIL}},
        "required": ["name", "age", "email"], "additionalProperties": False}),
    ("city", "Tell me about Rome.", {
        "type": "object", "properties": {
            "name": {"type": "string"}, "country": {"type": "string"},
            "population_millions": {"type": "number", "minimum": 0},
            "landmarks": {"type": "array", "items": {"type": "string"}, "maxItems": 3}},
        "required": ["name", "country", "population_millions", "landmarks"],
        "additionalProperties": False}),
    ("order", "Bob (bob@shop.com) orders 2 of ABC-123 and 1 of XYZ-999, no rush.", {
        "type": "object", "properties": {
            "customer": {"type": "object", "properties": {
                "name": {"type": "string"}, "email": {"type": "string", "pattern": EMAIL}},
                "required": ["name", "email"], "additionalProperties": False},
            "items": {"type": "array", "minItems": 1, "maxItems": 3, "items": {
                "type": "object", "properties": {
                    "sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{3}$"},
                    "qty": {"type": "integer", "minimum": 1}},
                "required": ["sku", "qty"], "additionalProperties": False}},
            "priority": {"enum": ["low", "normal", "high"]}},
        "required": ["customer", "items", "priority"], "additionalProperties": False}),
    ("event", "Plan a team lunch next Friday.", {
        "type": "object", "properties": {
            "title": {"type": "string"},
            "date": {"type": "string", "pattern": "^20[0-9]{2}-[01][0-9]-[0-3][0-9]$"},
            "attendees": {"type": "array", "items": {"type": "string"}, "maxItems": 4},
            "location": {"type": "string"}},
        "required": ["title", "date", "attendees"], "additionalProperties": False}),
    ("product", "Describe a cheap blue coffee mug for sale.", {
        "type": "object", "properties": {
            "name": {"type": "string"}, "price": {"type": "number", "minimum": 0},
            "tags": {"type": "array", "items": {"enum": ["kitchen", "gift", "sale", "blue"]},
                     "maxItems": 4},
            "in_stock": {"type": "boolean"}},
        "required": ["name", "price", "tags", "in_stock"], "additionalProperties": False}),
    ("recipe", "Give me a simple pancake recipe.", {
        "type": "object", "properties": {
            "title": {"type": "string"}, "servings": {"type": "integer", "minimum": 1},
            "ingredients": {"type": "array", "maxItems": 5, "items": {
                "type": "object", "properties": {"item": {"type": "string"},
                                                 "amount": {"type": "string"}},
                "required": ["item", "amount"], "additionalProperties": False}},
            "steps": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                      "maxItems": 4}},
        "required": ["title", "servings", "ingredients", "steps"],
        "additionalProperties": False}),
    ("sentiment", "Classify: 'The hotel was lovely but the food was cold.'", {
        "type": "object", "properties": {
            "label": {"enum": ["positive", "negative", "neutral", "mixed"]},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1}},
        "required": ["label", "confidence"], "additionalProperties": False}),
    ("book", "Describe the novel Dune.", {
        "type": "object", "properties": {
            "title": {"type": "string"},
            "author": {"type": "object", "properties": {
                "first": {"type": "string"}, "last": {"type": "string"}},
                "required": ["first", "last"], "additionalProperties": False},
            "year": {"type": "integer", "minimum": 1000, "maximum": 2100},
            "genres": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
            "rating": {"enum": [1, 2, 3, 4, 5]}},
        "required": ["title", "author", "year", "genres"], "additionalProperties": False}),
    ("weather_call", "What's the weather in Oslo for the next three days, in celsius?", {
        "type": "object", "properties": {
            "city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 7}},
        "required": ["city", "unit", "days"], "additionalProperties": False}),
    ("todos", "Make a to-do list for moving house.", {
        "type": "object", "properties": {"todos": {"type": "array", "minItems": 1, "maxItems": 4,
                                                   "items": {
            "type": "object", "properties": {
                "task": {"type": "string"}, "done": {"type": "boolean"},
                "priority": {"enum": ["low", "mid", "high"]}},
            "required": ["task", "done"], "additionalProperties": False}}},
        "required": ["todos"], "additionalProperties": False}),
]
ESSAYS = ["Write a detailed essay about lighthouses.", "Write a detailed essay about bread.",
          "Write a detailed essay about volcanoes.", "Write a detailed essay about bees."]


def _request(prompt: str, schema: dict | None, *, temperature: float | None, seed: int | None,
             max_tokens: int):
    from clawhost.api import ChatRequest, ModelRequest
    extra = {"response_format": {"type": "json_schema",
                                 "json_schema": {"name": "answer", "schema": schema}}} if schema else {}
    return ModelRequest(kind="chat", body=ChatRequest(
        model="smollm2", messages=[{"role": "user", "content": prompt}], temperature=temperature,
        seed=seed, max_tokens=max_tokens, **extra))


class Timed:
    """Wraps a Constraint to time its mask + consume per token."""

    def __init__(self, inner, sink: list[float]):
        self.inner, self.sink = inner, sink

    def mask(self, logits):
        t = time.perf_counter()
        out = self.inner.mask(logits)
        self.sink.append(time.perf_counter() - t)
        return out

    def accept(self, token):
        t = time.perf_counter()
        self.inner.accept(token)
        self.sink[-1] += time.perf_counter() - t


def decode_ms_per_token(chat, request, mask_times: list[float] | None = None):
    """One stream alone: (ms per decoded token after the first, tokens, finish, text)."""
    ids, params = chat.prepare(request)
    if mask_times is not None and params._constraint is not None:
        params._constraint = Timed(params._constraint, mask_times)
    batch = chat.engine.new_batch(1)
    slot = batch.add(ids, params)
    stamps, text, finish = [], [], None
    while finish is None:
        ev = batch.step().get(slot)
        if ev is None:
            continue
        stamps.append(time.perf_counter())
        text.append(ev.text)
        finish = ev.finish_reason
    n = len(stamps)
    return (stamps[-1] - stamps[0]) / (n - 1) * 1000, n, finish, "".join(text)


def speed(chat, rounds: int) -> dict:
    """Per round and schema: the JSON answer, and a free-text answer to the same question as
    long as it (no grammar, no schema in the prompt), in alternating order."""
    free, constrained, masks = [], [], []
    for r in range(rounds):
        for name, prompt, schema in (SCHEMAS[5], SCHEMAS[2]):
            runs = {}
            for kind in (("json", "free") if r % 2 == 0 else ("free", "json")):
                if kind == "json":
                    runs[kind] = decode_ms_per_token(chat, _request(
                        prompt, schema, temperature=0, seed=None, max_tokens=200), masks)
                else:  # as many tokens as the JSON answer took (known after the first round)
                    n = runs["json"][1] if "json" in runs else 100
                    runs[kind] = decode_ms_per_token(chat, _request(
                        prompt, None, temperature=0, seed=None, max_tokens=n))
            free.append(runs["free"][0])
            constrained.append(runs["json"][0])
            print(f"round {r} {name}: free {runs['free'][0]:.1f} ms/token ({runs['free'][1]} "
                  f"tokens), json {runs['json'][0]:.1f} ms/token ({runs['json'][1]} tokens, "
                  f"{runs['json'][2]})", flush=True)
    return {"free_ms": statistics.median(free), "json_ms": statistics.median(constrained),
            "ratio": statistics.median(constrained) / statistics.median(free),
            "pair_ratios_median": statistics.median(j / f for j, f in zip(constrained, free)),
            "mask_us_mean": statistics.mean(masks) * 1e6,
            "mask_us_median": statistics.median(masks) * 1e6,
            "mask_us_max": max(masks) * 1e6, "rounds": rounds}


def validity(chat, per_schema: int, slots: int, max_tokens: int,
             temperature: float | None) -> dict:
    import jsonschema

    from clawhost.plugins.quantized_model.constrained import CLOSE_WITHIN
    jobs = [(name, prompt, schema, seed) for name, prompt, schema in SCHEMAS
            for seed in range(per_schema)]
    batch = chat.engine.new_batch(slots)
    running: dict[int, tuple] = {}
    texts: dict[int, list[str]] = {}
    constraints: dict[int, object] = {}
    results = []
    t0 = time.perf_counter()
    while jobs or running:
        while jobs and len(running) < slots:
            job = jobs.pop(0)
            ids, params = chat.prepare(_request(job[1], job[2], temperature=temperature, seed=job[3],
                                                max_tokens=max_tokens))
            slot = batch.add(ids, params)
            running[slot], texts[slot] = job, []
            constraints[slot] = params._constraint
        for slot, ev in batch.step().items():
            texts[slot].append(ev.text)
            if ev.finish_reason is None:
                continue
            name, _, schema, seed = running.pop(slot)
            text = "".join(texts.pop(slot))
            try:
                jsonschema.validate(json.loads(text), schema)
                ok, why = True, ""
            except (ValueError, jsonschema.ValidationError) as exc:
                ok, why = False, str(exc).splitlines()[0]
            n = len(constraints.pop(slot).ids)
            results.append({"schema": name, "seed": seed, "finish": ev.finish_reason,
                            "tokens": n, "wrapped_up": n > max_tokens - CLOSE_WITHIN,
                            "valid": ok, "why": why, "text": text})
            if not ok:
                print(f"INVALID {name} seed {seed} ({ev.finish_reason}): {why}: {text[:200]}")
    per = {name: sum(r["valid"] for r in results if r["schema"] == name) for name, _, _ in SCHEMAS}
    return {"temperature": temperature, "valid": sum(r["valid"] for r in results),
            "total": len(results), "per_schema": per,
            "finish": {f: sum(r["finish"] == f for r in results) for f in ("stop", "length")},
            "wrapped_up": sum(r["wrapped_up"] for r in results),
            "tokens_median": statistics.median(r["tokens"] for r in results),
            "tokens_max": max(r["tokens"] for r in results),
            "invalid": [(r["schema"], r["seed"], r["finish"], r["text"][:160]) for r in results
                        if not r["valid"]],
            "seconds": time.perf_counter() - t0,
            "examples": {r["schema"]: r["text"] for r in results if r["seed"] == 0}}


def library() -> dict:
    import importlib.metadata as md
    dist = md.distribution("llguidance")
    size = sum((Path(dist.locate_file(f)).stat().st_size for f in dist.files or []
                if Path(dist.locate_file(f)).exists()), 0)
    times = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", "import time; t = time.perf_counter(); "
                              "import llguidance; print(time.perf_counter() - t)"],
                             capture_output=True, text=True, check=True)
        times.append(float(out.stdout))
    return {"version": dist.version, "installed_mb": size / 2**20,
            "import_ms": statistics.median(times) * 1000}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", required=True, type=Path)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--per-schema", type=int, default=10)
    ap.add_argument("--slots", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=300)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--temperatures", default="default,0.7",
                    help="validity runs: 'default' is the model's (0.2, top_p 0.9)")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    from clawhost.plugins.quantized_model.chat_serving import LocalChat
    from clawhost.plugins.quantized_model.chat_engine import ChatEngine
    from clawhost.plugins.quantized_model.options import ModelSpec
    load = os.getloadavg()
    lib = library()
    chat = LocalChat(ChatEngine.load(a.model_dir, threads=a.threads),
                     ModelSpec(source="bench", kind="chat"))
    t = time.perf_counter()
    chat.prepare(_request("hi", {"type": "object"}, temperature=0, seed=None, max_tokens=8))
    first = time.perf_counter() - t  # tokenizer built for llguidance + first grammar
    sp = speed(chat, a.rounds)
    va = [validity(chat, a.per_schema, a.slots, a.max_tokens,
                   None if t == "default" else float(t)) for t in a.temperatures.split(",")]
    load_end = os.getloadavg()
    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu_model(),
              "load_start": load, "load_end": load_end, "threads": a.threads, "library": lib,
              "first_request_setup_s": first, "speed": sp, "validity": va}
    print(json.dumps({k: v for k, v in report.items() if k != "validity"}, indent=1))
    for v in va:
        print(f"temperature {v['temperature']}: valid {v['valid']} of {v['total']} "
              f"{v['per_schema']} finish {v['finish']}; reached the wrap-up (last "
              f"24 tokens): {v['wrapped_up']}; tokens median {v['tokens_median']}, max "
              f"{v['tokens_max']}")
    if a.out:
        a.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
