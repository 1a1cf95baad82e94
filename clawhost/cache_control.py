"""Per-request cache controls (body ``cache`` field and ``Cache-Control`` header) and policy.

Body (LiteLLM's shape): ``"cache": {"no-cache": true, "no-store": true, "ttl": 600,
"namespace": "x"}``. Header: ``Cache-Control: no-cache | no-store | max-age=N``.
``no-cache`` skips the lookup (the answer may still be stored), ``no-store`` skips the
store. ``ttl`` / ``max-age`` set how long a stored answer lives; ``max-age`` also refuses
cached answers older than N seconds, as in HTTP (``max-age=0`` == ``no-cache``).
Both sources combine: either one can turn caching off; the smaller limit wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError

from .errors import BadRequest
from .stash import StashKey

if TYPE_CHECKING:  # annotations only: the CLI imports this through the plugin API
    from .types import ModelRequest

Policy = Literal["deterministic", "all"]


class CacheControls(BaseModel):
    """LiteLLM-style per-request cache controls (``"cache": {...}`` in the body)."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")
    no_cache: bool = Field(False, alias="no-cache")
    no_store: bool = Field(False, alias="no-store")
    ttl: Annotated[float, Strict()] | None = Field(None, gt=0)  # not true, not "60"
    namespace: str | None = Field(None, max_length=128)


class RequestCacheFields(BaseModel):
    """The body fields a caching plugin adds to every request (its ``RequestFields``)."""

    cache: CacheControls | None = None


@dataclass(frozen=True)
class CacheDirectives:
    no_cache: bool = False           # do not answer from the cache
    no_store: bool = False           # do not keep this answer
    ttl: float | None = None         # seconds a stored answer lives (None: the default)
    max_age: float | None = None     # refuse cached answers older than this
    namespace: str | None = None

    @property
    def bypass(self) -> bool:
        return self.no_cache and self.no_store


def _header(headers: Mapping[str, str], name: str) -> str:
    """A header by case-insensitive name (``request.headers`` is a plain dict)."""
    value = headers.get(name)
    if value is None:
        low = name.lower()
        for k, v in headers.items():
            if k.lower() == low:
                return v
        return ""
    return value


def parse_cache_control(value: str) -> tuple[bool, bool, float | None]:
    """``(no_cache, no_store, max_age)`` from a Cache-Control value; junk is ignored."""
    no_cache = no_store = False
    max_age: float | None = None
    for part in value.split(","):
        name, _, arg = part.strip().partition("=")
        name = name.strip().lower()
        if name == "no-cache":
            no_cache = True
        elif name == "no-store":
            no_store = True
        elif name == "max-age":
            try:
                n = float(arg.strip().strip('"'))
            except ValueError:
                continue
            if n >= 0 and (max_age is None or n < max_age):
                max_age = n
    return no_cache, no_store, max_age


def _min(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def directives(request: ModelRequest) -> CacheDirectives:
    """The combined controls of one request (body field and header), parsed once."""
    known = request.notes.get(_DIRECTIVES)
    if known is not None:
        return known
    request.notes[_DIRECTIVES] = d = _parse(request)
    return d


_DIRECTIVES: StashKey[CacheDirectives] = StashKey("cache_directives")


def _body_controls(request: ModelRequest) -> CacheControls | None:
    """The body's ``cache`` field: validated by the server when a caching plugin declared it,
    else (a request built in Python) a plain dict checked here."""
    raw: Any = getattr(request.body, "cache", None)
    if raw is None or isinstance(raw, CacheControls):
        return raw
    try:
        return CacheControls.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise BadRequest(f"cache{'.' + where if where else ''}: {first['msg']}",
                         param="cache") from None


_NONE = CacheDirectives()


def _parse(request: ModelRequest) -> CacheDirectives:
    body = _body_controls(request)
    header = _header(request.headers or {}, "Cache-Control")
    if body is None and not header:
        return _NONE  # the common case, kept cheap: it runs on every request
    h_no_cache, h_no_store, max_age = parse_cache_control(header)
    if max_age == 0:  # nothing cached is fresh enough, and nothing stored would live
        h_no_cache = h_no_store = True
    return CacheDirectives(
        no_cache=h_no_cache or bool(body and body.no_cache),
        no_store=h_no_store or bool(body and body.no_store),
        ttl=_min(body.ttl if body else None, max_age),
        max_age=max_age,
        namespace=body.namespace if body else None)


def deterministic(request: ModelRequest) -> bool:
    """Embeddings and rerank scores always; generation at temperature 0 or with a fixed seed."""
    if request.kind in ("embedding", "rerank"):
        return True
    body = request.body
    return getattr(body, "temperature", None) == 0 or getattr(body, "seed", None) is not None


def cacheable(request: ModelRequest, policy: Policy = "deterministic") -> bool:
    """Whether the policy allows caching this request at all (controls aside)."""
    return policy == "all" or deterministic(request)
