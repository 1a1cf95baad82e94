"""Finding, loading and calling plugins: the one place that walks hook implementations.

Built-in and third-party plugins alike are modules registered under the ``clawhost``
entry-point group. pluggy calls implementations last-registered-first, so the chain is
registered in reverse ``config.yaml`` order to make the first listed plugin run first.

pluggy itself is synchronous: under ``firstresult`` an un-awaited coroutine counts as a
result. The host therefore walks implementations itself, awaiting each in turn, which also
lets it time every plugin and isolate one that raises.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import os
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from . import hookspecs
from .errors import ClawhostError, ConfigError

log = logging.getLogger("clawhost.plugins")


class PluginError(ConfigError):
    """A plugin the host cannot register as it is (one line, naming the plugin)."""
GROUP = "clawhost"
BUILTIN_DIST = "clawhost"


def canonical(name: str) -> str:
    """Plugin names compare with ``-`` and ``_`` alike: ``semantic-cache`` is ``semantic_cache``."""
    return name.strip().replace("-", "_").lower()


@dataclass
class Installed:
    """A plugin found through its entry point, loaded or not."""

    name: str
    value: str
    dist: str
    version: str
    builtin: bool
    module: ModuleType | None = None
    error: str | None = None

    @property
    def hooks(self) -> list[str]:
        if self.module is None:
            return []
        return sorted(n for n in dir(self.module) if n.startswith("clawhost_")
                      and hasattr(getattr(self.module, n), "clawhost_impl"))

    @property
    def options_model(self):
        return getattr(self.module, "Options", None)

    @property
    def request_fields(self):
        """The plugin's ``RequestFields`` model: body fields it adds to every request."""
        return getattr(self.module, "RequestFields", None)


def _allowed_third_party() -> set[str] | None:
    raw = os.environ.get("CLAWHOST_LOAD_PLUGINS")
    if raw is None:
        return None
    return {canonical(n) for n in raw.split(",") if n.strip()}


def discover(load: bool = True, plugins_dir: Path | None = None,
             only: set[str] | None = None) -> dict[str, Installed]:
    """Every plugin installed under the entry-point group, imported unless ``load`` is False.

    A plugin that fails to import is kept with its error, never raised: only the host's
    config decides whether that is fatal. ``CLAWHOST_LOAD_PLUGINS`` limits third parties.
    ``plugins_dir`` adds each ``*.py`` in it as a plugin named after the file (datasette's
    ``--plugins-dir``): handy for one-off local plugins; a file there runs code when imported,
    so the host and ``start`` pass ``only`` (the config's list) and import no other.
    ``only`` imports just those names (the host imports only what its config enables).
    """
    allowed = _allowed_third_party()
    found: dict[str, Installed] = {}
    for ep in entry_points(group=GROUP):
        dist = ep.dist.metadata["Name"] if ep.dist else "?"
        version = ep.dist.version if ep.dist else "?"
        builtin = canonical(dist) == BUILTIN_DIST
        name = canonical(ep.name)
        if not builtin and allowed is not None and name not in allowed:
            continue
        item = Installed(name, ep.value, dist, version, builtin)
        if load and (only is None or name in only):
            try:
                item.module = ep.load()
            except Exception as exc:  # noqa: BLE001 - any import failure is reported, not raised
                item.error = f"{type(exc).__name__}: {exc}"
                log.debug("plugin %r failed to import: %s", name, item.error)
        found.setdefault(name, item)
    if plugins_dir is not None:
        for path in sorted(Path(plugins_dir).glob("*.py")):
            name = canonical(path.stem)
            if name in found:  # a file must never silently stand in for an installed plugin
                raise ConfigError(f"plugins_dir file {path} has the name of the installed "
                                  f"plugin {name!r} ({found[name].value}); rename the file")
            found[name] = _from_file(path, load and (only is None or name in only))
    return found


def _from_file(path: Path, load: bool) -> Installed:
    item = Installed(canonical(path.stem), str(path), "plugins_dir", "-", False)
    if load:
        try:
            spec = importlib.util.spec_from_file_location(f"clawhost_local_{path.stem}", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            item.module = module
        except Exception as exc:  # noqa: BLE001
            item.error = f"{type(exc).__name__}: {exc}"
    return item


def _refuse_wrappers(pm: pluggy.PluginManager, name: str) -> None:
    """The chain walks implementations itself (to await async ones in order), so pluggy's
    wrappers would never wrap anything: refuse them at start rather than misbehave."""
    for caller in pm.get_hookcallers(pm.get_plugin(name)) or ():
        for impl in caller.get_hookimpls():
            if impl.plugin_name == name and (impl.wrapper or impl.hookwrapper):
                raise PluginError(f"plugin {name!r}: {caller.name} is a hook wrapper, which "
                                  "clawhost does not support; use a plain hookimpl")


def new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    return pm


@dataclass
class HookStats:
    """Per-plugin hook time and error counts, read by the monitor."""

    seconds: defaultdict = field(default_factory=lambda: defaultdict(float))
    calls: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)


class Chain:
    """The registered plugins in chain order, and the walks over their hooks."""

    def __init__(self, pm: pluggy.PluginManager | None = None):
        self.pm = pm or new_manager()
        self.stats = HookStats()
        self._impls: dict[str, list] = {}

    def register_in_order(self, plugins: list[tuple[str, Any]]) -> None:
        """Register ``(name, module)`` pairs so that the first one is called first."""
        for name, module in reversed(plugins):
            self.register(module, name=name)
        self.pm.check_pending()

    def register(self, plugin: Any, name: str | None = None) -> str:
        """Add one plugin at the front of the chain (tests, embedding hosts)."""
        name = self.pm.register(plugin, name=name)
        self._impls.clear()
        try:
            _refuse_wrappers(self.pm, name)
        except PluginError:
            self.pm.unregister(name=name)
            raise
        return name

    def unregister(self, name: str) -> None:
        self.pm.unregister(name=name)
        self._impls.clear()

    def names(self) -> list[str]:
        return [n for n, _ in reversed(self.pm.list_name_plugin())]

    def impls(self, hook: str) -> list:
        """Implementations of ``hook`` in call order (pluggy's tryfirst/trylast respected)."""
        got = self._impls.get(hook)
        if got is None:
            got = self._impls[hook] = list(reversed(getattr(self.pm.hook, hook).get_hookimpls()))
        return got

    def _fail(self, impl, hook: str, exc: BaseException) -> None:
        self.stats.errors[(impl.plugin_name, hook)] += 1
        log.warning("plugin %r failed in %s: %s: %s", impl.plugin_name, hook,
                    type(exc).__name__, exc, exc_info=log.isEnabledFor(logging.DEBUG))

    async def walk(self, hook: str, *, first: bool = False, isolate: bool = True, **kwargs):
        """Call each implementation in order, awaiting awaitables.

        ``first``: stop at the first non-None result and return it (else return all results).
        ``isolate``: a plugin that raises is logged and counted, and the walk goes on;
        otherwise its exception propagates (a ``ClawhostError`` always propagates: it is an
        answer for the client, not a fault).
        """
        results = []
        for impl in self.impls(hook):
            started = time.perf_counter()
            try:
                res = impl.function(*[kwargs[a] for a in impl.argnames])
                # None first: isawaitable costs ~0.3 us, paid per plugin per request otherwise
                if res is not None and inspect.isawaitable(res):
                    res = await res
            except ClawhostError:
                raise
            except Exception as exc:
                if not isolate:
                    raise
                self._fail(impl, hook, exc)
                continue
            finally:
                key = (impl.plugin_name, hook)
                self.stats.seconds[key] += time.perf_counter() - started
                self.stats.calls[key] += 1
            if res is not None:
                if first:
                    return res
                results.append(res)
        return None if first else results

    def walk_sync(self, hook: str, **kwargs) -> list:
        """The boot-time walk for synchronous hooks (routes, commands, models); isolated."""
        results = []
        for impl in self.impls(hook):
            try:
                res = impl.function(*[kwargs[a] for a in impl.argnames])
            except Exception as exc:  # noqa: BLE001
                self._fail(impl, hook, exc)
                continue
            if inspect.isawaitable(res):
                res.close()
                raise TypeError(f"plugin {impl.plugin_name!r}: {hook} must not be async")
            if res is not None:
                results.append(res)
        return results
