"""YAML with a budget: the one loader for config.yaml and every SKILL.md frontmatter.

``yaml.safe_load`` refuses to build objects but not to build *big* ones: a "billion laughs"
document (aliases of aliases) is a few hundred bytes that stands for ~10^9 nodes. PyYAML
shares the aliased objects, so loading looks cheap, and the blow-up (MemoryError after
tens of seconds) happens later in whatever walks the tree (``${VAR}`` interpolation,
pydantic, ``str()``). A recursive alias (``&a [*a]``) makes a cyclic tree that walkers
recurse on forever, and a few thousand nested ``[`` overflow PyYAML's recursive composer.

So the text is capped in bytes, the composer counts aliases and nesting as it goes, and
before any Python object is built the composed node graph is measured as it would be
once expanded (nodes and depth, aliases followed, cycles refused). Every refusal is a
``YAMLBudgetError`` (a ``yaml.YAMLError``) with a one-line ``problem``.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, SequenceNode

# Real configs and frontmatter are a few KB, nest under 10 levels and use a handful of
# aliases; these leave a wide margin while keeping every walk far from Python's
# recursion limit and memory.
MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_ALIASES = 100
MAX_NODES = 100_000


class YAMLBudgetError(yaml.MarkedYAMLError):
    """The document is over one of the budgets; ``problem`` says which, in one line."""

    def __init__(self, problem: str, mark: yaml.Mark | None = None):
        super().__init__(problem=problem, problem_mark=mark)


class _BudgetLoader(yaml.SafeLoader):
    """SafeLoader whose composer counts aliases and nesting depth as it reads."""

    max_depth = MAX_DEPTH
    max_aliases = MAX_ALIASES

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def fetch_flow_collection_start(self, TokenClass: type) -> None:
        # The scanner looks ahead through nested '[' / '{' with a cost quadratic in their
        # depth, before the composer below sees the first of them: stop it here.
        if self.flow_level >= self.max_depth:
            raise YAMLBudgetError(f"nested deeper than {self.max_depth} levels",
                                  self.get_mark())
        super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        if self.check_event(AliasEvent):
            self._aliases += 1
            if self._aliases > self.max_aliases:
                raise YAMLBudgetError(f"more than {self.max_aliases} aliases",
                                      self.peek_event().start_mark)
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > self.max_depth:
                raise YAMLBudgetError(f"nested deeper than {self.max_depth} levels",
                                      self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _measure(root: Node, max_nodes: int, max_depth: int) -> None:
    """Refuse a graph whose expansion is too big or too deep, or that contains itself.

    Iterative post-order walk; each distinct node is measured once (memoised by identity),
    so the cost is the size of the *document*, not of its expansion."""
    memo: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded nodes, expanded depth)
    open_: set[int] = set()  # nodes on the current path: meeting one again is a cycle
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            kids = [memo[id(k)] for k in _children(node)]
            size = 1 + sum(k[0] for k in kids)
            depth = 1 + max((k[1] for k in kids), default=0)
            open_.discard(key)
            if size > max_nodes:
                raise YAMLBudgetError(f"expands to more than {max_nodes} values "
                                      "(aliases of aliases?)", node.start_mark)
            if depth > max_depth:
                raise YAMLBudgetError(f"nested deeper than {max_depth} levels once aliases "
                                      "are expanded", node.start_mark)
            memo[key] = (size, depth)
            continue
        if key in memo:
            continue
        open_.add(key)
        stack.append((node, True))
        for kid in _children(node):
            if id(kid) in open_:
                raise YAMLBudgetError("recursive alias (a value that contains itself)",
                                      kid.start_mark)
            if id(kid) not in memo:
                stack.append((kid, False))


def safe_load(text: str, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH,
              max_aliases: int = MAX_ALIASES, max_nodes: int = MAX_NODES) -> Any:
    """Like ``yaml.safe_load`` for one document, within the budgets; YAMLError otherwise."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise YAMLBudgetError(f"larger than {max_bytes} bytes ({size} bytes)")
    loader = _BudgetLoader(text)
    loader.max_depth, loader.max_aliases = max_depth, max_aliases
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _measure(node, max_nodes, max_depth)
        return loader.construct_document(node)
    except RecursionError:  # a last guard: the budgets above should make this unreachable
        raise YAMLBudgetError(f"nested too deeply (over {max_depth} levels)") from None
    finally:
        loader.dispose()
