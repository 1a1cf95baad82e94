"""The connection-pool runtime: providers by name, routing by model id, fallbacks, figures.

A request for ``NAME/MODEL`` goes to provider NAME as ``MODEL``. When that fails in a way
another model may not (429/5xx/connection/timeout after retries, cooldown, local limits,
401/403/404), the next model of ``fallbacks[requested id]`` is tried, within the deadline.
A fallback this plugin does not own (a local model) goes back through ``host.handle``.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging

from clawhost.api import (FALLBACK, PROVIDER, RETRIES, STANDS_IN_FOR, ClawhostError, Model,
                          ModelRequest, Overloaded, Reply, UpstreamError, fleet_of)

from .options import PoolOptions
from .providers import Provider, StreamCall
from .retry import AttemptFailed

log = logging.getLogger("clawhost.remote")
OWNER = "connection_pool"
# models already tried by the requests this task is nested in, so fallbacks that lead back
# here through other plugins cannot loop; and the outermost deadline, which nesting keeps
_VISITED: contextvars.ContextVar[frozenset] = contextvars.ContextVar("cp_visited",
                                                                     default=frozenset())
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("cp_deadline",
                                                                        default=None)


def models_of(opts: PoolOptions) -> list[Model]:
    """The models to register: NAME/MODEL for each listed one, and NAME/* for the prefix."""
    out = []
    for name, p in opts.providers.items():
        meta = {"provider": name, "kind": p.kind}
        for m in p.models:
            out.append(Model(f"{name}/{m}", "chat+completion", owner=OWNER, engine=name,
                             description=f"{m} at provider {name}", meta=meta))
        for m in p.embedding_models if p.kind == "openai" else []:
            out.append(Model(f"{name}/{m}", "embedding", owner=OWNER, engine=name,
                             description=f"{m} at provider {name}", meta=meta))
        if p.prefix:
            out.append(Model(f"{name}/*", "chat+completion", owner=OWNER, engine=name,
                             description=f"any model at provider {name}", meta=meta))
    return out


class Pool:
    def __init__(self, opts: PoolOptions, host):
        self.opts, self.host = opts, host
        link = fleet_of(host) if opts.shared_limits else None
        self.shared = None
        if link is not None:  # fleet mode: the limits are the fleet's, counted in its Redis
            from .shared_limits import SharedLimits
            self.shared = SharedLimits(link, opts.lease_s)
            self.providers = {n: Provider(n, p, self.shared.limiter)
                              for n, p in opts.providers.items()}
        else:
            self.providers = {n: Provider(n, p) for n, p in opts.providers.items()}

    async def start(self) -> None:
        for p in self.providers.values():
            await p.start()
        if self.shared is not None:
            await self.shared.start()

    async def close(self) -> None:
        if self.shared is not None:
            await self.shared.close()
        for p in self.providers.values():
            await p.close()

    def figures(self) -> dict[str, dict[str, float]]:
        ps = self.providers.items()
        return {"inflight": {n: p.limiter.inflight for n, p in ps},
                "cooldown": {n: int(p.breaker.cooling) for n, p in ps},
                "retries_total": {n: p.retries_total for n, p in ps},
                "errors_total": {n: p.errors_total for n, p in ps},
                "calls_total": {n: p.calls_total for n, p in ps}}

    def readiness(self) -> dict[str, str]:
        out = {}
        for n, p in self.providers.items():
            out[n] = f"cooling down ({p.breaker.remaining():.0f}s)" if p.breaker.cooling else "ok"
            share = getattr(p.limiter, "share", None)  # fleet mode, Redis away
            if share is not None and share.until is None:
                out[n] += f" (limits: this host's share, 1/{share.hosts})"
        return out

    def route(self, model_id: str, kind: str) -> tuple[Provider, str] | None:
        """The provider and upstream model name for an id this plugin owns, else None."""
        name, _, rest = model_id.partition("/")
        p = self.providers.get(name)
        if p is None or not rest:
            return None
        m = self.host.models.get(model_id) or (self.host.models.get(f"{name}/*")
                                               if p.opts.prefix else None)
        if m is None or m.owner != OWNER or not m.serves(kind):
            return None
        return p, rest

    # -- one client request, with failover ---------------------------------------------
    async def infer(self, request: ModelRequest) -> Reply:
        loop = asyncio.get_running_loop()
        outer = _DEADLINE.get()
        deadline = loop.time() + self.opts.deadline
        deadline = min(deadline, outer) if outer else deadline
        primary = request.body.model
        visited = _VISITED.get()
        nested = len(visited) >= self.opts.max_fallback_depth
        targets = [primary] + ([] if nested else self.opts.fallbacks.get(primary, []))
        request.notes.setdefault(RETRIES, 0)
        tried: list[tuple[str, Exception]] = []
        cooling: list[tuple[int, str]] = []   # skipped for an open breaker: the last resort
        for i, target in enumerate(targets):
            if target in visited or any(t == target for t, _ in tried):
                continue
            if loop.time() >= deadline:
                break
            try:
                reply = await self._attempt(request, target, deadline,
                                            visited | set(targets[: i + 1]), force=False)
            except AttemptFailed as exc:
                tried.append((target, exc))
                if exc.kind == "cooldown":
                    cooling.append((i, target))
                if not exc.failover:
                    break
                continue
            except ClawhostError as exc:   # local limits (Overloaded), or a nested request
                tried.append((target, exc))
                if i == 0 and not isinstance(exc, Overloaded):
                    break
                continue
            return self._answered(request, reply, i, target, primary)
        # nothing answered, and some routes were only skipped because their breaker is open:
        # try those anyway before giving up (a breaker must not take away the last route)
        if self.opts.last_resort and cooling and not self._hopeless(tried):
            for i, target in cooling:
                if loop.time() >= deadline:
                    break
                try:
                    reply = await self._attempt(request, target, deadline,
                                                visited | set(targets[: i + 1]), force=True)
                except (AttemptFailed, ClawhostError) as exc:
                    tried = [(t, exc if t == target else e) for t, e in tried]
                    if isinstance(exc, AttemptFailed) and not exc.failover:
                        break
                    continue
                log.info("request %s: %s answered though cooling down", request.id, target)
                return self._answered(request, reply, i, target, primary)
        raise self._give_up(primary, tried, deadline <= loop.time())

    @staticmethod
    def _hopeless(tried: list[tuple[str, Exception]]) -> bool:
        """A failure no other model would fix (a bad request body) ended the list."""
        return any(isinstance(e, AttemptFailed) and not e.failover for _, e in tried)

    async def _attempt(self, request: ModelRequest, target: str, deadline: float,
                       seen: frozenset, *, force: bool) -> Reply:
        route = self.route(target, request.kind)
        if route is not None:
            return await self._call(request, *route, deadline, force=force)
        return await self._via_host(request, target, deadline, seen)

    @staticmethod
    def _answered(request: ModelRequest, reply: Reply, i: int, target: str,
                  primary: str) -> Reply:
        if i > 0:
            request.notes[FALLBACK] = target
            reply.headers["x-clawhost-fallback"] = target
            log.info("request %s: %s answered for %s", request.id, target, primary)
        return reply

    async def infer_batch(self, requests: list[ModelRequest]) -> list[Reply] | None:
        """Embedding requests the batcher gathered, as one upstream call (split afterwards).

        None when they differ in what the upstream would see (the batcher then runs each).
        """
        first = requests[0]
        same = lambda r: (r.body.model, r.body.encoding_format, r.body.dimensions,  # noqa: E731
                          r.body.user)
        if first.kind != "embedding" or any(same(r) != same(first) for r in requests[1:]):
            return None
        texts = [t for r in requests for t in r.body.texts]
        merged = ModelRequest(kind="embedding", body=first.body.model_copy(update={"input": texts}),
                              tenant=first.tenant, headers=first.headers, model=first.model,
                              host=self.host)
        reply = await self.infer(merged)
        data = sorted(reply.body.get("data") or [], key=lambda d: d.get("index", 0))
        if len(data) != len(texts):
            raise UpstreamError(f"{first.body.model}: the provider returned {len(data)} "
                                f"embeddings for {len(texts)} inputs")
        used = (reply.body.get("usage") or {}).get("prompt_tokens") or 0
        out, at = [], 0
        for r in requests:
            n = len(r.body.texts)
            part = [{**d, "index": j} for j, d in enumerate(data[at:at + n])]
            at += n
            share = round(used * n / len(texts))
            for key in (PROVIDER, RETRIES, FALLBACK):
                if key in merged.notes:
                    r.notes[key] = merged.notes[key]
            out.append(Reply(body={"object": "list", "data": part,
                                   "model": reply.body.get("model", first.body.model),
                                   "usage": {"prompt_tokens": share, "total_tokens": share}},
                             headers=dict(reply.headers), source=reply.source))
        return out

    async def _call(self, request: ModelRequest, provider: Provider, model: str,
                    deadline: float, *, force: bool = False) -> Reply:
        result = await provider.call(request, model, deadline, force=force)
        request.notes[PROVIDER] = provider.name
        headers = {"x-clawhost-provider": provider.name}
        if isinstance(result, StreamCall):
            return Reply(stream=result.iterate(), headers=headers, source="upstream")
        return Reply(body=result, headers=headers, source="upstream")

    async def _via_host(self, request: ModelRequest, target: str, deadline: float,
                        seen: frozenset) -> Reply:
        sub = ModelRequest(kind=request.kind, body=request.body.model_copy(update={"model": target}),
                           tenant=request.tenant, headers=request.headers,
                           disconnected=request.disconnected,
                           )
        sub.notes[STANDS_IN_FOR] = request.body.model
        t1, t2 = _VISITED.set(seen), _DEADLINE.set(deadline)
        try:
            async with asyncio.timeout_at(deadline):
                reply = await self.host.handle(sub)
        except TimeoutError:
            raise AttemptFailed(f"{target} did not answer before the deadline", status=504,
                                kind="deadline") from None
        finally:
            _VISITED.reset(t1)
            _DEADLINE.reset(t2)
        request.notes[PROVIDER] = sub.notes.get(PROVIDER, sub.model.owner if sub.model else "")
        request.notes[RETRIES] += sub.notes.get(RETRIES, 0)
        return reply

    def _give_up(self, primary: str, tried: list[tuple[str, Exception]],
                 late: bool) -> ClawhostError:
        """One error for the client: the primary's status, every model's reason, no secrets."""
        if not tried:
            why = ("reached its deadline before any model was tried" if late else
                   "every model in its fallback list was already tried in this request")
            return UpstreamError(f"{primary}: {why}", status=504 if late else 508)
        if all(isinstance(e, Overloaded) for _, e in tried):
            first = tried[0][1]
            return Overloaded("; ".join(f"{t}: {e}" for t, e in tried),
                              retry_after=float(first.headers.get("Retry-After", 1)))
        reasons = "; ".join(f"{t}: {getattr(e, 'message', str(e))}" for t, e in tried)
        if late:
            reasons += "; deadline reached"
        first = tried[0][1]
        status = first.status if isinstance(first, (AttemptFailed, ClawhostError)) else 502
        headers = {}
        if isinstance(first, AttemptFailed) and first.retry_after is not None:
            headers["Retry-After"] = str(max(1, round(first.retry_after)))
        code = (first.body or {}).get("type") if isinstance(first, AttemptFailed) else None
        return UpstreamError(reasons, status=status, headers=headers,
                             code=code if isinstance(code, str) else None)
