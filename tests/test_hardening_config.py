"""Issue 22, item 11: YAML bombs in config.yaml, through the real `clawhost config check`.

Before the fix a billion-laughs config ran 36 s into a MemoryError traceback, and a
recursive alias or a 5,000-deep sequence ended in a RecursionError traceback."""

from __future__ import annotations

import pytest

from clawhost import safeyaml

from conftest import run_cli

LAUGHS = "lol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"lol{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 9))
CASES = {
    "billion-laughs": (LAUGHS + "plugins: {}\nskills:\n  extra_dirs: *l8\n",
                       "expands to more than"),
    # a bomb that the config never even uses is refused the same way, before any walk
    "unused-laughs": (LAUGHS + "plugins: {}\n", "expands to more than"),
    "recursive-alias": ("plugins: {}\nloop: &a [*a]\n", "recursive alias"),
    "recursive-mapping": ("plugins: &p {self: *p}\n", "recursive alias"),
    "deep-flow": ("plugins: {}\nx: " + "[" * 5000 + "]" * 5000 + "\n", "nested deeper than"),
    "deep-block": ("plugins: {}\nx:\n  " + "- " * 5000 + "end\n",
                   "nested deeper than"),
    "deep-through-aliases": (
        "a0: &a0 " + "[" * 40 + "]" * 40 + "\n"
        + "".join(f"a{i}: &a{i} " + "[" * 40 + f"*a{i - 1}" + "]" * 40 + "\n" for i in range(1, 30))
        + "plugins: {}\n", "nested deeper than"),
    "many-aliases": ("x: &x 1\ny: [" + ", ".join(["*x"] * 500) + "]\nplugins: {}\n",
                     "more than 100 aliases"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_yaml_bombs_in_config_check_are_one_quick_line(tmp_path, name):
    text, needle = CASES[name]
    cfg = tmp_path / "config.yaml"
    cfg.write_text(text)
    # timeout=20 is the bound: before the fix the billion laughs ran 36 s (a wall-clock
    # assert here flaked at 5.1 s under load: the CLI's own start-up, not the YAML)
    res = run_cli("config", "check", str(cfg), timeout=20)
    assert res.returncode != 0
    assert "Traceback" not in res.stderr and "Error:" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "config.yaml" in res.stderr and needle in res.stderr


def test_an_oversized_config_is_refused_before_it_is_read(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text("plugins: {}\n# " + "x" * (safeyaml.MAX_BYTES + 10) + "\n")
    res = run_cli("config", "check", str(cfg), timeout=20)
    assert res.returncode != 0 and "larger than" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_ordinary_anchors_and_merge_keys_still_load():
    data = safeyaml.safe_load("base: &b {timeout_s: 5, retries: 2}\n"
                              "a: {<<: *b, retries: 3}\nb: [*b, *b]\n")
    assert data["a"] == {"timeout_s": 5, "retries": 3} and data["b"][1]["timeout_s"] == 5
