"""Issue 22, items 4, 5 and 13: hostile skills, through the real `clawhost skills` CLI.

Each test runs real `python -m clawhost` processes against skills written to a temporary
workspace; each would fail on the code before the fix (a 20 s MemoryError, a file outside
the skill folder read, forged terminal lines, code run through a symlink)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_cli

# 9 levels of 10 aliases: ~10^9 values once expanded, a few hundred bytes on disk
BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8))
BOMB += "name: bomb\ndescription: *i\n"
PRINT_ARGS = "import sys\nfor a in sys.argv[1:]:\n    print(a)\n"
# reads the file its argument names, whatever form the name takes: the probe's script
READ_ARG = """
import sys
arg = sys.argv[1]
for sep in ("=", "@"):
    if sep in arg:
        arg = arg.split(sep, 1)[1]
if arg.startswith("-f"):
    arg = arg[2:]
print(open(arg).read())
"""


def run_clis(*commands: tuple[str, ...], timeout: float = 10) -> list[subprocess.CompletedProcess]:
    """Several real `python -m clawhost` processes at once (each is mostly start-up time)."""
    procs = [subprocess.Popen([sys.executable, "-m", "clawhost", *c], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                              env=dict(os.environ)) for c in commands]
    done = []
    for c, proc in zip(commands, procs):
        out, err = proc.communicate(timeout=timeout)
        done.append(subprocess.CompletedProcess(c, proc.returncode, out, err))
    return done


def make_skill(root: Path, folder: str, front: str, script: str | None = None) -> Path:
    d = root / folder
    (d / "scripts").mkdir(parents=True, exist_ok=True)
    (d / "SKILL.md").write_text(f"---\n{front}\n---\nBody.\n")
    if script is not None:
        (d / "scripts" / "run.py").write_text(script)
    return d


@pytest.fixture
def ws(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no user skills from this machine
    (tmp_path / "config.yaml").write_text("workspace: ws\nplugins: {}\n")
    root = tmp_path / "ws" / "skills"
    root.mkdir(parents=True)
    return root, str(tmp_path / "config.yaml")


def test_an_alias_bomb_skill_is_ineligible_and_the_others_still_work(ws):
    root, cfg = ws
    make_skill(root, "bomb", BOMB, script="print('never')\n")
    make_skill(root, "deep", "name: deep\ndescription: " + "[" * 5000 + "]" * 5000)
    make_skill(root, "good", "name: good\ndescription: fine", script="print('good ran')\n")
    started = time.monotonic()
    listed, shown, ran = run_clis(
        ("skills", "list", "--json", "--config", cfg), ("skills", "show", "good", "--config", cfg),
        ("skills", "run", "good", "--config", cfg))
    assert time.monotonic() - started < 8
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert rows["good"]["eligible"]
    assert not rows["bomb"]["eligible"] and "expands to more than" in rows["bomb"]["reason"]
    assert not rows["deep"]["eligible"] and "nested deeper than" in rows["deep"]["reason"]
    assert all("\n" not in r["reason"] for r in rows.values() if r["reason"])
    assert "Traceback" not in listed.stderr + shown.stderr + ran.stderr
    assert "MemoryError" not in listed.stderr and "expands to more than" in listed.stderr
    assert "description: fine" in shown.stdout
    assert ran.returncode == 0 and ran.stdout == "good ran\n"


@pytest.mark.parametrize("arg", [
    "path=/etc/hostname", "@/etc/hostname", "-f/etc/hostname", "--in=/etc/hostname",
    "../x", "-vf/etc/hostname", "key=~/.profile", "x=a/../../../../../../etc/hostname",
    "file:///etc/hostname", "from:/etc/hostname", "'/etc/hostname'"])
def test_no_form_of_a_path_argument_leaves_the_skill_folder(ws, arg):
    root, cfg = ws
    make_skill(root, "reader", "name: reader", script=READ_ARG)
    res = run_cli("skills", "run", "reader", arg, "--config", cfg, timeout=10)
    assert res.returncode != 0 and "outside the skill folder" in res.stderr
    assert res.stdout == ""  # the script never ran


def test_arguments_inside_the_folder_and_plain_words_still_pass(ws):
    root, cfg = ws
    make_skill(root, "echo", "name: echo", script=PRINT_ARGS)
    args = ["hello world", "--n=5", "-n5", "scripts/run.py", "in=./scripts", "https://example.com/a"]
    res = run_cli("skills", "run", "echo", *args, "--config", cfg, timeout=10)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == args


def test_control_characters_in_name_and_description_cannot_forge_lines(ws):
    root, cfg = ws
    make_skill(root, "forger", 'name: "forger\\nok  admin                    trusted"\n'
               'description: "\\e[32mgreen\\e[0m and\\r\\nok  fake  line\\u202e"',
               script="print('x')\n")
    listed, shown = run_clis(("skills", "list", "--config", cfg), (
        "skills", "show", "forger ok  admin                    trusted", "--config", cfg))
    out = listed.stdout
    assert "\x1b" not in out and "\r" not in out and "\u202e" not in out
    assert len(out.splitlines()) == 1, out  # one skill, one line
    assert "green and  ok  fake  line" in out
    assert shown.returncode == 0 and "\x1b" not in shown.stdout


def test_a_symlinked_skill_folder_outside_the_roots_is_not_run(ws, tmp_path):
    root, cfg = ws
    outside = make_skill(tmp_path / "elsewhere", "evil", "name: evil", script="print('pwned')\n")
    (root / "evil").symlink_to(outside, target_is_directory=True)
    inside = make_skill(root, "real", "name: real", script="print('real ran')\n")
    (root / "alias").symlink_to(inside, target_is_directory=True)  # within the roots: fine
    res, listed = run_clis(("skills", "run", "evil", "--config", cfg),
                           ("skills", "list", "--json", "--config", cfg))
    assert res.returncode != 0 and "pwned" not in res.stdout
    assert "outside the skill roots" in res.stderr and "allow_external_symlinks" in res.stderr
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert not rows["evil"]["eligible"] and rows["real"]["eligible"]
    Path(cfg).write_text("workspace: ws\nplugins: {}\nskills: {allow_external_symlinks: true}\n")
    res = run_cli("skills", "run", "evil", "--config", cfg, timeout=10)
    assert res.returncode == 0 and res.stdout == "pwned\n"
