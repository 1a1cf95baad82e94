"""A trivial in-process model plugin, for tests and benchmarks of the loop itself."""

from __future__ import annotations

import asyncio
import hashlib

from .hookspecs import hookimpl


class EchoModel:
    """A model plugin that answers with the last user message (``echo``) and hash embeddings."""

    def __init__(self, name: str = "echo", dim: int = 8, delay: float = 0.0):
        self.name, self.dim, self.delay = name, dim, delay
        self.calls = 0

    @hookimpl
    def clawhost_register_models(self, register):
        from .types import Model
        register(Model(self.name, "chat+completion", owner="echo", context_length=4096))
        register(Model(f"{self.name}-embed", "embedding", owner="echo"))

    @hookimpl
    async def clawhost_infer(self, request):
        from . import streaming
        from .types import Reply
        if request.model.owner != "echo":
            return None
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if request.kind == "embedding":
            vecs = [self.vector(t) for t in request.body.texts]
            return Reply(streaming.embedding_list(request.model.id, vecs))
        text = (request.body.prompt_text if request.kind == "completion"
                else request.body.messages[-1].text())
        limit = request.body.token_limit
        words = text.split(" ")
        finish = "stop"
        if limit is not None and len(words) > limit:
            words, finish = words[:limit], "length"
        use = streaming.usage(len(text.split()), len(words))
        if request.kind == "completion":
            body = streaming.text_completion(request.model.id, " ".join(words),
                                             finish_reason=finish, usage=use)
        else:
            body = streaming.chat_completion(request.model.id, " ".join(words),
                                             finish_reason=finish, usage=use)
        if request.stream:
            return Reply(stream=streaming.replay(request, body))
        return Reply(body)

    def vector(self, text: str) -> list[float]:
        digest = hashlib.sha256(text.encode()).digest()
        raw = [b / 255.0 - 0.5 for b in digest[: self.dim]]
        norm = sum(x * x for x in raw) ** 0.5 or 1.0
        return [x / norm for x in raw]


# The same model as a plugins_dir file, for hosts in their own process (CLI tests, benchmarks).
PLUGIN_FILE = '''"""A local plugin file (plugins_dir) serving the EchoModel."""
from clawhost.testmodel import EchoModel

_echo = EchoModel()
clawhost_register_models = _echo.clawhost_register_models
clawhost_infer = _echo.clawhost_infer
'''


class BagEngine:
    """A deterministic bag-of-words embedder: the sum of one random vector per word (seeded
    by the word's hash), normalised. Reordered or recased words embed identically and one
    changed word lowers the cosine, so tests and benchmarks of the semantic cache check its
    logic, not a real model's quality. ``embed(texts) -> float32 [n, dim]``; ``calls``
    counts the batches embedded."""

    def __init__(self, dim: int = 64):
        self.dim = dim
        self.calls = 0

    def embed(self, texts: list[str]):
        import re

        import numpy as np
        self.calls += 1
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9']+", text.lower()):
                seed = int(hashlib.sha256(word.encode()).hexdigest()[:8], 16)
                out[i] += np.random.default_rng(seed).standard_normal(self.dim)
            out[i] /= np.linalg.norm(out[i]) or 1.0
        return out


class BagModel:
    """A model plugin serving a ``BagEngine`` as the embedding model ``name``: on
    ``Model.engine`` for the semantic cache, and through the loop for /v1/embeddings."""

    def __init__(self, name: str = "bag-embed", dim: int = 64):
        self.name = name
        self.engine = BagEngine(dim)

    @hookimpl
    def clawhost_register_models(self, register):
        from .types import Model
        register(Model(self.name, "embedding", owner="bag", engine=self.engine))

    @hookimpl
    async def clawhost_infer(self, request):
        from . import streaming
        from .types import Reply
        if request.model.owner != "bag":
            return None
        vecs = self.engine.embed(request.body.texts).tolist()
        return Reply(streaming.embedding_list(request.model.id, vecs))
