"""Deterministic fake engines for testing the batcher (and slot engines against it): an embedder
plugin and a slot-batch chat engine. No numpy, no model: timing and composition are what count."""

from __future__ import annotations

import asyncio
import threading
import time

from clawhost import streaming
from clawhost.errors import BadRequest
from clawhost.hookspecs import hookimpl
from clawhost.types import ChatRequest, EmbeddingRequest, Model, ModelRequest, Reply

VOCAB = 50


def next_token(last: int) -> int:
    """The fake model's 'greedy' rule: the next token depends only on the last one."""
    return (last * 7 + 3) % VOCAB


class FakeBatch:
    """A SlotBatch: slots hold (name, last token); each step sleeps like a decode would."""

    def __init__(self, engine: "FakeChatEngine", max_slots: int):
        self.engine, self.max_slots = engine, max_slots
        self.slots: dict[int, dict] = {}
        self.thread_ids: set[int] = set()

    def add(self, prompt_ids, sampling) -> int:
        self.thread_ids.add(threading.get_ident())
        if sampling["name"].startswith("BADADD"):
            raise ValueError("cannot prefill this prompt")
        free = [i for i in range(self.max_slots) if i not in self.slots]
        if not free:
            raise RuntimeError("no free slot")
        time.sleep(self.engine.prefill_s)
        self.slots[free[0]] = {"name": sampling["name"], "last": prompt_ids[-1]}
        return free[0]

    def step(self) -> dict:
        self.thread_ids.add(threading.get_ident())
        names = sorted(s["name"] for s in self.slots.values())
        self.engine.steps.append(names)
        if self.engine.crash_steps and any("POISON" in n for n in names):
            raise RuntimeError("poisoned step")
        time.sleep(self.engine.step_s)
        events = {}
        for slot, s in self.slots.items():
            s["last"] = next_token(s["last"])
            events[slot] = Event(s["last"], f"<{s['last']}>", None)
        return events

    def remove(self, slot: int) -> None:
        self.thread_ids.add(threading.get_ident())
        self.slots.pop(slot, None)


class Event:
    def __init__(self, token_id, text, finish_reason):
        self.token_id, self.text, self.finish_reason = token_id, text, finish_reason


class FakeChatEngine:
    """Speaks the slot protocol; records every step's members (by prompt name)."""

    def __init__(self, step_s: float = 0.01, prefill_s: float = 0.0):
        self.step_s, self.prefill_s = step_s, prefill_s
        self.steps: list[list[str]] = []
        self.batches: list[FakeBatch] = []
        self.crash_steps = True

    def new_batch(self, max_slots: int) -> FakeBatch:
        b = FakeBatch(self, max_slots)
        self.batches.append(b)
        return b

    def prepare(self, request):
        text = (request.body.prompt_text if request.kind == "completion"
                else request.body.messages[-1].text())
        if text.startswith("TOOLONG"):
            raise BadRequest("prompt is longer than the context")
        return [ord(c) % VOCAB for c in text], {"name": text}


def expected_tokens(text: str, n: int) -> str:
    last, out = ord(text[-1]) % VOCAB, []
    for _ in range(n):
        last = next_token(last)
        out.append(f"<{last}>")
    return "".join(out)


class FakeModels:
    """A model plugin: 'fake-embed' (with clawhost_infer_batch) and 'fake-chat' (slot engine)."""

    def __init__(self, delay: float = 0.02, chat: FakeChatEngine | None = None):
        self.delay = delay
        self.calls: list[list[str]] = []  # texts of each clawhost_infer_batch call
        self.started = asyncio.Event()
        self.chat = chat or FakeChatEngine()

    @hookimpl
    def clawhost_register_models(self, register):
        register(Model("fake-embed", "embedding", owner="fake"))
        register(Model("fake-chat", "chat+completion", owner="fake", engine=self.chat))

    @hookimpl
    async def clawhost_infer_batch(self, model, requests):
        if model.owner != "fake":
            return None
        texts = [t for r in requests for t in r.body.texts]
        self.calls.append(texts)
        self.started.set()
        if any("POISON" in t for t in texts):
            raise RuntimeError("this input breaks the model")
        await asyncio.to_thread(time.sleep, self.delay)
        return [Reply(streaming.embedding_list(model.id, [[float(len(t)), 1.0] for t in r.body.texts]))
                for r in requests]


def embed_request(text, priority=None, model="fake-embed") -> ModelRequest:
    return ModelRequest(kind="embedding", body=EmbeddingRequest(model=model, input=text,
                                                                priority=priority))


def chat_request(text, max_tokens=5, stream=False, priority=None) -> ModelRequest:
    return ModelRequest(kind="chat", body=ChatRequest(
        model="fake-chat", messages=[{"role": "user", "content": text}], max_tokens=max_tokens,
        stream=stream, priority=priority))
