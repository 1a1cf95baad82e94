"""The layout's rules, checked on the source: one package per built-in plugin, importing the
host only through the plugin API; no import cycles; the old second module name is gone."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from clawhost.api import hookimpl
from clawhost.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
BUILTINS = sorted(p.parent.name for p in (ROOT / "plugins").glob("*/__init__.py"))
# what a plugin may import from clawhost: the plugin API and the shared engines
API = ("clawhost.api", "clawhost.engines")
UPWARD = ("clawhost.cli", "clawhost.server", "clawhost.daemon")


def _modules() -> dict[str, Path]:
    """Every module of the runtime (and the training tools) by its one import name."""
    found = {}
    for base, prefix in ((ROOT / "clawhost", "clawhost"), (ROOT / "plugins", "clawhost.plugins"),
                         (ROOT / "training", "training")):
        for path in base.rglob("*.py"):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([prefix, *parts])] = path
    return found


MODULES = _modules()


def _type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(name: str) -> set[str]:
    """The modules ``name`` imports (at top level or inside functions; not for type checkers),
    resolved to the module files they load."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                out.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.rsplit(".", child.level - 1)[0] if child.level > 1 else package
                    target = f"{base}.{child.module}" if child.module else base
                else:
                    target = child.module
                for alias in child.names:
                    sub = f"{target}.{alias.name}"
                    out.add(sub if sub in MODULES else target)
            visit(child)

    visit(ast.parse(path.read_text()))
    return out


GRAPH = {name: {m for m in imports_of(name) if m in MODULES and m != name} for name in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_the_graph_sees_lazy_imports():
    """The checks below would pass vacuously if the walk missed imports inside functions."""
    assert "clawhost.plugins.cache.manager" in GRAPH["clawhost.plugins.cache"]
    assert "clawhost.api" in GRAPH["clawhost.plugins.cache"]


def test_no_import_cycle_between_files():
    assert _cycles(GRAPH) == []


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("plugin", BUILTINS)
def test_builtin_imports_the_host_only_through_the_plugin_api(plugin):
    own = f"clawhost.plugins.{plugin}"
    bad = {}
    for name in MODULES:
        if name == own or name.startswith(own + "."):
            wrong = sorted(m for m in imports_of(name) if m.startswith(("clawhost", "training"))
                           and not m.startswith(API) and m != own and not m.startswith(own + "."))
            if wrong:
                bad[name] = wrong
    assert bad == {}, "built-in plugins import clawhost only as clawhost.api / clawhost.engines"


def test_plugins_and_engines_never_import_the_cli_or_server():
    bad = {name: sorted(m for m in imports_of(name) if m.startswith(UPWARD))
           for name in MODULES if name.startswith(("clawhost.plugins", "clawhost.engines"))}
    assert {k: v for k, v in bad.items() if v} == {}


def test_core_knows_no_plugin():
    """The host's own modules name no built-in plugin (the CLI finds them by entry point)."""
    core = [n for n in MODULES if n.startswith("clawhost.") and not n.startswith(
        ("clawhost.plugins", "clawhost.engines"))]
    bad = {n: sorted(m for m in imports_of(n) if m.startswith("clawhost.plugins."))
           for n in core}
    assert {k: v for k, v in bad.items() if v} == {}


def test_the_example_distribution_uses_only_the_plugin_api():
    pkg = ROOT / "examples" / "clawhost-budget" / "clawhost_budget"
    used = set()
    for path in pkg.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                used.add(node.module)
            elif isinstance(node, ast.Import):
                used.update(a.name for a in node.names)
    assert {m for m in used if m.startswith("clawhost")} == {"clawhost.api"}


def test_the_scaffold_uses_only_the_plugin_api(tmp_path):
    from clawhost.scaffold import create
    made = create("clawhost-hello", tmp_path)
    used = set()
    for path in made.rglob("*.py"):
        if "tests" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("clawhost"):
                used.add(node.module)
    assert used == {"clawhost.api"}


def test_one_importable_spelling_of_a_builtin():
    """``plugins.cache`` (the folder, from a checkout's root) would be a second module with its
    own ``Options`` class; only ``clawhost.plugins.cache`` imports."""
    run = subprocess.run([sys.executable, "-c", "import plugins.cache"], cwd=ROOT,
                         capture_output=True, text=True)
    assert run.returncode != 0 and "clawhost.plugins" in run.stderr.splitlines()[-1]
    ok = subprocess.run([sys.executable, "-c", "import clawhost.plugins.cache as c; print(c.Options)"],
                        cwd=ROOT, capture_output=True, text=True)
    assert ok.returncode == 0 and "clawhost.plugins.cache.options.Options" in ok.stdout


def test_every_builtin_is_a_package_with_its_options_and_machinery():
    for plugin in BUILTINS:
        folder = ROOT / "plugins" / plugin
        assert (folder / "options.py").is_file(), f"{plugin}: options.py holds its Options"
        assert len(list(folder.glob("*.py"))) >= 3, f"{plugin}: hooks, options and machinery"
    assert not list((ROOT / "plugins").glob("*.py"))[1:], "only plugins/__init__.py at the top"


def test_cli_help_imports_no_plugin_machinery():
    """Every CLI call imports each installed plugin's hooks module: only it, its options and
    its CLI commands may load, and nothing heavy (the host, aiohttp, numpy, onnxruntime)."""
    code = ("import sys; from clawhost.cli import build; build(); "
            "print('\\n'.join(sorted(sys.modules)))")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    loaded = set(run.stdout.split())
    machinery = sorted(m for m in loaded if m.startswith("clawhost.plugins.")
                       and m.count(".") > 2 and not m.endswith((".options", ".commands")))
    assert machinery == []
    assert {"clawhost.plugins.cache", "clawhost.plugins.quantized_model"} <= loaded
    assert not loaded & {"aiohttp", "numpy", "onnxruntime", "clawhost.host", "torch"}


def test_a_hook_wrapper_is_refused_at_start_with_one_line(clawhost_host):
    class Timing:
        @hookimpl(wrapper=True)
        def clawhost_lookup(self, request):
            return (yield)

    from clawhost.pluginmanager import Chain
    chain = Chain()
    with pytest.raises(ConfigError) as err:
        chain.register(Timing(), name="timing")
    message = str(err.value)
    assert "timing" in message and "clawhost_lookup" in message and "\n" not in message
    assert "timing" not in chain.names()  # nothing half-registered stays behind


async def test_a_wrapper_fails_host_start_naming_the_plugin(clawhost_host):
    class OldStyle:
        @hookimpl(hookwrapper=True)
        def clawhost_infer(self, request):
            yield

    with pytest.raises(ConfigError, match="'old'"):
        from clawhost.host import Host
        from clawhost.testing import make_config
        Host(make_config(Path("/tmp/clawhost-wrapper-test")), extra_plugins=[("old", OldStyle())])
