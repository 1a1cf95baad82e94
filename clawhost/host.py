"""The host: plugins in chain order, the model registry, and the request loop.

``Host.handle`` is the one place a model request travels through:
started -> lookup -> infer -> store -> finished, with per-stage timings.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, TypeVar

from pydantic import BaseModel

from . import streaming
from .config import Config, load_config
from .contracts import FleetLink, ReplyShape, engine_of
from .errors import BadRequest, ClawhostError, ConfigError, ModelNotFound, Unavailable
from .pluginmanager import Chain, Installed, canonical, discover
from .notes import REPLY_SHAPE, USAGE
from .stash import Stash
from .types import Kind, Model, ModelRequest, Reply, extend_bodies

if TYPE_CHECKING:
    from .fleet import Link

C = TypeVar("C")

log = logging.getLogger("clawhost")


class Host:
    """A configured plugin chain that answers model requests."""

    def __init__(self, config: Config, installed: dict[str, Installed] | None = None,
                 extra_plugins: list[tuple[str, Any]] = ()):
        self.config = config
        if installed is None:
            installed = discover(plugins_dir=config.plugins_dir, only=set(config.enabled))
        self.installed = installed
        config.validate_plugins(self.installed)
        self.chain = Chain()
        plugins = [(n, self.installed[n].module) for n in config.enabled] + list(extra_plugins)
        self.chain.register_in_order(plugins)
        # the request body models, with the fields the plugins declare (``RequestFields``)
        self.body_models = extend_bodies(
            [fields for _, p in plugins if (fields := getattr(p, "RequestFields", None))])
        self.models: dict[str, Model] = {}
        # alias -> model id: config.yaml's ``aliases`` and the models' own, set at start
        self.aliases: dict[str, str] = dict(config.host.aliases)
        self.state = Stash()  # per-plugin runtime objects, under each plugin's own StashKey
        self.started_at: float | None = None
        self.ready = False
        self._registered = False  # the plugins were asked for their models (`register_models`)
        self.errors = 0
        # fleet mode (``fleet:`` in config.yaml): the link to the shared Redis, set at start;
        # plugins read it with ``clawhost.api.fleet_of(host)``
        self._link: Link | None = None
        self.address: str | None = None  # the URL the server listens on, once it does
        self.port: int | None = None
        # API requests answered with an error before reaching the loop (bad body, wrong
        # token, unknown route, server full), by (path, status): no hook ever sees them
        self.refused: Counter[tuple[str, int]] = Counter()

    @classmethod
    def from_file(cls, path=None, **kw) -> "Host":
        return cls(load_config(path), **kw)

    @property
    def workspace(self):
        return self.config.workspace

    @property
    def fleet(self) -> FleetLink | None:
        """The link to the fleet's Redis while the host runs in fleet mode, else None."""
        return self._link

    def options(self, plugin: str) -> BaseModel | None:
        """The validated ``Options`` of an enabled plugin (None when it has no options)."""
        return self.config.options.get(canonical(plugin))

    # -- boot -------------------------------------------------------------------------
    def prepare_workspace(self) -> None:
        prepare_workspace(self.workspace)

    def register_model(self, model: Model) -> None:
        if model.id in self.models and self.models[model.id].owner != model.owner:
            log.warning("model %r from %r replaces the one from %r", model.id, model.owner,
                        self.models[model.id].owner)
        self.models[model.id] = model

    def register_models(self) -> None:
        """Ask the plugins for their models, once per start. A model plugin may begin loading
        them here (quantized_model does, on its threads): `clawhost run` calls this before
        it imports the server, so the loads overlap the rest of the start-up."""
        if not self._registered:
            self._registered = True
            self.chain.walk_sync("clawhost_register_models", register=self.register_model,
                                 host=self)

    async def start(self) -> None:
        self.prepare_workspace()
        self.register_models()
        self.aliases = build_aliases(self.config.host.aliases, self.models,
                                     self.config.path.name if self.config.path else "config")
        if self.config.host.fleet is not None and self._link is None:
            # before the plugins start, so one can catch up from Redis before the host is ready
            from .fleet import Link
            link = Link(self.config.host.fleet, port=self.port, address=self.address)
            await link.start()
            self._link = link
        await self.chain.walk("clawhost_startup", host=self)
        if not self.models:
            log.warning("no model is available: enable a model plugin "
                        "(quantized_model, connection_pool) in %s", self.config.path or "config")
        self.started_at = time.time()
        self.ready = True

    async def stop(self) -> None:
        self.ready = False
        self._registered = False
        await self.chain.walk("clawhost_shutdown", host=self)
        if self._link is not None:
            await self._link.stop()
            self._link = None

    def readiness(self) -> dict[str, Any]:
        now = time.time()
        facts = {"ready": self.ready, "pid": os.getpid(),
                 # from process start, so a host stuck preparing models shows its age
                 "uptime_s": round(now - process_started(), 1),
                 "ready_after_s": (round(self.started_at - process_started(), 2)
                                   if self.started_at else None),
                 "plugins": self.chain.names(),
                 "models": {m.id: m.status for m in self.models.values()}}
        if self._link is not None:  # Redis down is a fact, not unreadiness: local tiers serve
            facts["fleet"] = self._link.facts()
        for extra in self.chain.walk_sync("clawhost_readiness", host=self):
            facts.update(extra)
        return facts

    def engine(self, model_id: str, contract: type[C]) -> C | None:
        """A registered model's engine when it implements ``contract`` (None otherwise):
        how one plugin uses an engine another plugin serves."""
        model = self.models.get(model_id)
        return engine_of(model, contract) if model is not None else None

    # -- the request loop -------------------------------------------------------------
    def model_for(self, name: str) -> Model | None:
        """The model registered under ``name`` (aliases not followed), else the provider
        model registered as "prefix/*", which takes any model under that prefix."""
        model = self.models.get(name)
        if model is None and "/" in name:
            model = self.models.get(f"{name.split('/', 1)[0]}/*")
        return model

    def resolve_model(self, name: str, kind: Kind) -> Model:
        target = self.aliases.get(name)
        if target is not None:
            try:
                return self.resolve_model(target, kind)  # one level: targets are no aliases
            except ModelNotFound as exc:
                raise ModelNotFound(f"model {name!r} is an alias of {target!r}: {exc}",
                                    param="model") from None
        model = self.model_for(name)
        if model is None or not model.serves(kind):
            have = sorted(m.id for m in self.models.values() if m.serves(kind))
            if not self.models:
                raise ModelNotFound(f"model {name!r} not found: no model is available "
                                    "(enable quantized_model or connection_pool)", param="model")
            what = "not found" if model is None else f"cannot serve {kind} requests"
            raise ModelNotFound(f"model {name!r} {what}; available: {', '.join(have) or 'none'}",
                                param="model")
        return model

    async def handle(self, request: ModelRequest) -> Reply:
        """Answer one request: the whole loop, stage by stage."""
        if request.model is None:
            request.model = self.resolve_model(request.body.model, request.kind)
        if (target := self.aliases.get(request.body.model)) is not None:
            # From here on the request names the real model: cache keys (an alias and its
            # target share entries), upstream calls and reply bodies all use it, as OpenAI
            # reports the model that answered (gpt-4o -> gpt-4o-2024-08-06). The header
            # says what happened.
            request.response_headers["x-clawhost-alias"] = f"{request.body.model} -> {target}"
            request.body.model = target
        request.body = self._with_extensions(request)
        request.host = self
        walk, timings = self.chain.walk, request.timings
        await walk("clawhost_request_started", request=request)
        reply, error = None, None
        try:
            t0 = time.perf_counter()
            reply = await walk("clawhost_lookup", first=True, request=request)
            if reply is not None:
                reply.cached = True
            t1 = time.perf_counter()
            timings["lookup"] = t1 - t0
            if reply is None:
                reply = await walk("clawhost_infer", first=True, isolate=False, request=request)
                if reply is None:
                    raise Unavailable(f"no plugin could serve model {request.model.id!r}")
                timings["infer"] = time.perf_counter() - t1
                if (shape := request.notes.get(REPLY_SHAPE)) is not None:
                    reply = self._shaped(shape, reply)
            if request.stream:
                if reply.stream is None:
                    reply.stream = streaming.replay(request, reply.body)
                reply.stream = self._finish_stream(request, reply, reply.stream)
                return reply
            if reply.stream is not None:
                reply.body = await streaming.assemble(request, reply.stream)
                reply.stream = None
            if not reply.cached:  # a lookup's answer is kept already; each store plugin decides the rest
                await walk("clawhost_store", request=request, reply=reply)
            return reply
        except ClawhostError as exc:
            error = exc
            raise
        except Exception as exc:
            error = exc
            self.errors += 1
            log.error("request %s failed in a plugin: %s: %s", request.id, type(exc).__name__,
                      self.config.redact(str(exc)))
            raise ClawhostError("internal error while serving the request") from None
        finally:
            if not request.stream or error is not None:
                timings["total"] = time.perf_counter() - request.started
                await walk("clawhost_request_finished", request=request, reply=reply, error=error)

    @staticmethod
    def _shaped(shape: ReplyShape, reply: Reply) -> Reply:
        """The model plugin's answer in its final shape (before the caches keep it)."""
        if reply.stream is not None:
            reply.stream = shape.chunks(reply.stream)
        else:
            reply.body = shape.body(reply.body)
        return reply

    def _with_extensions(self, request: ModelRequest):
        """A body built in Python from the plain model, with fields a plugin declared (say
        ``cache``), validated as the server would; HTTP bodies already are."""
        body, model = request.body, self.body_models[request.kind]
        if type(body) is model or not body.model_extra or model.extension_fields.isdisjoint(
                body.model_extra):
            return body
        from pydantic import ValidationError
        try:
            return model.model_validate(body.model_dump(exclude_unset=True, by_alias=True))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(map(str, err["loc"]))
            raise BadRequest(f"{where}: {err['msg']}", param=where) from None

    async def _finish_stream(self, request: ModelRequest, reply: Reply,
                             chunks: AsyncIterator[dict]) -> AsyncIterator[dict]:
        """Pass chunks on; at the end store the assembled reply and report the request."""
        seen: list[dict] = []
        error: BaseException | None = None
        try:
            async for chunk in chunks:
                if not seen:
                    request.timings["ttft"] = time.perf_counter() - request.started
                seen.append(chunk)
                yield chunk
        except BaseException as exc:
            error = exc
            raise
        finally:
            # close the plugin's stream now (e.g. cancel an upstream call on client disconnect);
            # GC would do it only later, since ``error`` and its traceback form a cycle
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except Exception as exc:  # noqa: BLE001 - a plugin's close must not lose the report
                    log.warning("request %s: closing the stream failed: %s", request.id,
                                self.config.redact(str(exc)))
            request.timings["total"] = time.perf_counter() - request.started
            if error is None and seen and not reply.cached:
                done = Reply(body=streaming.merge_chunks(request, seen), headers=reply.headers,
                             source=reply.source, cached=reply.cached)
                if done.body.get("usage"):  # for the access log and the monitor
                    request.notes[USAGE] = done.body["usage"]
                await self.chain.walk("clawhost_store", request=request, reply=done)
            await self.chain.walk("clawhost_request_finished", request=request, reply=reply,
                                  error=error)


def process_started() -> float:
    """When this process started (epoch seconds), from the kernel's record."""
    global _PROCESS_STARTED
    if _PROCESS_STARTED is None:
        import psutil
        _PROCESS_STARTED = psutil.Process().create_time()
    return _PROCESS_STARTED


_PROCESS_STARTED: float | None = None


def build_aliases(configured: dict[str, str], models: dict[str, Model],
                  where: str = "config") -> dict[str, str]:
    """config.yaml's aliases plus the models' own, checked against the registered models.

    An alias that is also a model id is an error: which one a request meant would depend on
    this table. An alias whose target is not served here is a warning, not an error: the
    default config maps OpenAI's embedding names to a local model, and a box that disables
    quantized_model (or a provider that is not configured yet) should still start; a
    request for it gets a 404 naming the alias and its target."""
    table = dict(configured)
    for model in models.values():
        for alias in model.aliases:
            if table.get(alias, model.id) != model.id:
                raise ConfigError(f"{where}: alias {alias!r} names both {table[alias]!r} and "
                                  f"{model.id!r}")
            table[alias] = model.id
    for alias, target in table.items():
        if alias in models:
            raise ConfigError(f"{where}: alias {alias!r} is also the id of a model "
                              f"({models[alias].owner}); rename or remove the alias")
        if target in table:
            raise ConfigError(f"{where}: alias {alias!r} -> {target!r}: {target!r} is itself "
                              "an alias (point it at a model id)")
        wildcard = "/" in target and f"{target.split('/', 1)[0]}/*" in models
        if target not in models and not wildcard:
            log.warning("alias %r names %r, which no enabled plugin serves; requests for it "
                        "get 404", alias, target)
    return table


def prepare_workspace(ws: Path) -> None:
    """Create the workspace and its folders, or say in one line why it cannot be used."""
    if ws.exists() and not ws.is_dir():
        raise ConfigError(f"workspace {ws} is not a directory; set workspace: to a folder")
    try:
        for sub in ("", ".cache", "logs", "models"):
            (ws / sub).mkdir(parents=True, exist_ok=True)
        probe = ws / ".write-probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"workspace {ws} cannot be written: {exc.strerror or exc}") from None
