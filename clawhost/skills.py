"""OpenClaw-style skills: discovery, gating and running a skill's entry script.

A skill is a folder with a ``SKILL.md`` whose YAML frontmatter has ``name``, ``description``
and optional ``metadata.openclaw`` (legacy ``metadata.clawdbot``) gates: ``requires.bins``,
``requires.anyBins``, ``requires.env``, ``requires.config``, ``os``, ``always``. Roots are
searched in OpenClaw's precedence, highest first; the first skill of a name wins.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import safeyaml
from .config import Config

OS_NAMES = {"linux": "linux", "darwin": "darwin", "win32": "win32"}
ENTRY_NAMES = ("main", "run")
# Frontmatter is a few hundred bytes; one hostile SKILL.md must not cost the whole
# listing more than a moment (see safeyaml for the alias, depth and expansion budgets).
FRONTMATTER_MAX_BYTES = 64 * 1024
FRONTMATTER_MAX_NODES = 10_000

# Terminal escape sequences (CSI, OSC, two-byte ESC x), then single control characters:
# a skill's name or description must not be able to forge lines or recolour the terminal.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?")
_LINE_BREAKS = set("\t\n\r\v\f\x85\u2028\u2029")
_BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def clean(text: str) -> str:
    """``text`` safe to print on one terminal line: escapes and control characters removed,
    line breaks and tabs turned into spaces, bidi overrides dropped."""
    text = _ESCAPES.sub("", text)
    return "".join(" " if ch in _LINE_BREAKS else ch for ch in text
                   if ch in _LINE_BREAKS or not (unicodedata.category(ch) == "Cc" or ch in _BIDI))


@dataclass
class Skill:
    name: str
    path: Path
    description: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    entry: str | None = None
    eligible: bool = True
    reason: str | None = None
    shadows: list[str] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "eligible": self.eligible,
                "reason": self.reason, "path": str(self.path)}


class SkillError(RuntimeError):
    """A skill cannot be run; the message names the skill and the problem."""


def roots(config: Config) -> list[tuple[str, Path]]:
    """Skill roots, highest precedence first (OpenClaw's order, then extra_dirs)."""
    ws, opts, home = config.workspace, config.host.skills, Path.home()
    found = [("workspace", ws / "skills"), ("workspace-agents", ws / ".agents" / "skills")]
    if opts.include_user_dirs:
        found += [("user-agents", home / ".agents" / "skills"), ("managed", home / ".openclaw" / "skills")]
    base = config.path.parent if config.path else Path.cwd()
    found += [("extra", (d if d.is_absolute() else base / d)) for d in opts.extra_dirs]
    return found


def parse_frontmatter(path: Path) -> dict[str, Any]:
    """The YAML between the leading ``---`` lines of a SKILL.md; ValueError when malformed."""
    with path.open("rb") as f:  # only the head: the frontmatter is at the top, the body can be huge
        head = f.read(FRONTMATTER_MAX_BYTES + 1024)
        truncated = bool(f.read(1))
    lines = head.decode("utf-8", errors="replace").splitlines()
    if not lines or lines[0].strip() != "---":
        raise ValueError("no YAML frontmatter (the file must start with a '---' line)")
    try:
        end = next(i for i, line in enumerate(lines[1:], 1) if line.strip() == "---")
    except StopIteration:
        if truncated:
            raise ValueError(f"frontmatter is larger than {FRONTMATTER_MAX_BYTES} bytes "
                             "(or not closed by a '---' line)") from None
        raise ValueError("frontmatter is not closed by a '---' line") from None
    try:
        data = safeyaml.safe_load("\n".join(lines[1:end]), max_bytes=FRONTMATTER_MAX_BYTES,
                                  max_nodes=FRONTMATTER_MAX_NODES) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark else ""
        raise ValueError(f"bad YAML in frontmatter{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise ValueError("frontmatter must be a mapping")
    return data


def _gates(data: dict[str, Any]) -> dict[str, Any]:
    meta = data.get("metadata") or {}
    if isinstance(meta, str):  # OpenClaw writes metadata as one line of JSON
        try:
            meta = json.loads(meta)
        except ValueError:
            meta = {}
    return meta.get("openclaw") or meta.get("clawdbot") or {}


def _config_value(config: Config, dotted: str) -> Any:
    node: Any = config.host.model_dump()
    node["plugins"] = {k: (v if v is not None else {}) for k, v in config.host.plugins.items()}
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def check_gates(gates: dict[str, Any], config: Config, env: dict[str, str]) -> str | None:
    """Why the skill is not eligible here, or None when it is."""
    if gates.get("always"):
        return None
    req = gates.get("requires") or {}
    oses = gates.get("os")
    if oses and OS_NAMES.get(sys.platform, sys.platform) not in oses:
        return f"needs os {', '.join(oses)} (this is {sys.platform})"
    missing = [b for b in req.get("bins") or [] if shutil.which(b) is None]
    if missing:
        return f"missing binaries on PATH: {', '.join(missing)}"
    any_bins = req.get("anyBins") or []
    if any_bins and not any(shutil.which(b) for b in any_bins):
        return f"needs one of these binaries on PATH: {', '.join(any_bins)}"
    unset = [e for e in req.get("env") or [] if not env.get(e)]
    if unset:
        return f"missing environment variables: {', '.join(unset)}"
    off = [k for k in req.get("config") or [] if _config_value(config, k) in (None, False, "", 0)]
    if off:
        return f"config keys not set: {', '.join(off)}"
    return None


def find_entry(folder: Path, declared: str | None) -> str | None:
    if declared:
        return declared
    scripts = folder / "scripts"
    if not scripts.is_dir():
        return None
    files = sorted(p for p in scripts.iterdir() if p.is_file() and not p.name.startswith("."))
    for p in files:
        if p.stem in ENTRY_NAMES:
            return f"scripts/{p.name}"
    return f"scripts/{files[0].name}" if len(files) == 1 else None


def _within(path: Path, bases: list[Path]) -> bool:
    return any(path == b or b in path.parents for b in bases)


def discover(config: Config) -> tuple[list[Skill], list[str]]:
    """Every skill found (eligible or not), and one-line problems (file: what is wrong).

    One broken or hostile skill never stops the others from being listed: whatever is
    wrong with it becomes its one-line, printable ``reason``."""
    skills: dict[str, Skill] = {}
    problems: list[str] = []
    opts = config.host.skills
    entries = opts.entries
    env = {**os.environ}
    found_roots = [(source, root) for source, root in roots(config) if root.is_dir()]
    real_roots = [root.resolve() for _, root in found_roots]
    for source, root in found_roots:
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            md = folder / "SKILL.md"
            if not md.is_file():
                continue
            try:
                data = parse_frontmatter(md)
                name = data.get("name")
                if not isinstance(name, str) or not clean(name).strip():
                    raise ValueError("frontmatter has no 'name'")
            except (OSError, ValueError) as exc:
                reason = clean(str(exc))
                problems.append(clean(f"{md}: {reason}"))
                label = clean(folder.name)
                skills.setdefault(f"{label} (invalid)", Skill(
                    label, folder, eligible=False, reason=reason))
                continue
            name = clean(name).strip()
            entry_opts = entries.get(name)
            try:  # frontmatter of the wrong shapes (a list where a mapping goes...) lands here
                gates = _gates(data)
                meta = data.get("metadata")
                declared = ((meta.get("clawhost") or {}).get("entry")
                            if isinstance(meta, dict) else None)
                if declared is not None and not isinstance(declared, str):
                    raise TypeError("metadata.clawhost.entry must be a path (a string)")
                skill = Skill(name, folder, clean(str(data.get("description") or "")).strip(),
                              data, find_entry(folder, declared))
            except (AttributeError, TypeError, ValueError) as exc:
                skill = Skill(name, folder, eligible=False,
                              reason=clean(f"malformed frontmatter: {exc}"))
                gates = None
            if name in skills:
                winner = skills[name]
                winner.shadows.append(str(folder))
                problems.append(clean(f"{md}: skill {name!r} is shadowed by {winner.path} "
                                      f"({source} has lower precedence)"))
                continue
            real = folder.resolve()
            if gates is None:
                pass  # already not eligible, with its reason
            elif not opts.allow_external_symlinks and not _within(real, real_roots):
                # a link out of the roots would run code from wherever it points
                skill.eligible, skill.reason = False, clean(
                    f"its folder links to {real}, outside the skill roots (set "
                    "skills.allow_external_symlinks: true to allow)")
            elif entry_opts is not None and not entry_opts.enabled:
                skill.eligible, skill.reason = False, "disabled in config (skills.entries)"
            else:
                merged_env = {**env, **(entry_opts.env if entry_opts else {})}
                try:
                    skill.reason = check_gates(gates, config, merged_env)
                except (AttributeError, TypeError, ValueError) as exc:
                    skill.reason = f"malformed requirements in frontmatter: {exc}"
                skill.reason = clean(skill.reason) if skill.reason else None
                skill.eligible = skill.reason is None
            skills[name] = skill
    return list(skills.values()), problems


def _inside(folder: Path, candidate: str) -> bool:
    target = (folder / candidate).resolve()
    return target == folder or folder in target.parents


# Where a path can start inside one argument: after '=', '@', ',', ';', a quote, whitespace,
# or ':' (but not the '://' of a URL, whose path is not a local one).
_PATH_START = re.compile(r"""[=@,;\s'"]|:(?!//)""")
_SHORT_OPT = re.compile(r"-[A-Za-z0-9]+")


def _path_candidates(arg: str) -> list[str]:
    """Every substring of ``arg`` that a script could take for a path."""
    found = [arg, *_PATH_START.split(arg)]
    m = _SHORT_OPT.match(arg)
    if m and not arg.startswith("--"):  # -f/etc/x, -vf/etc/x: getopt's attached values
        found += [arg[i:] for i in range(2, m.end() + 1)]
    found += [re.sub(r"^file:(//)?", "", c, flags=re.I) for c in found
              if c.lower().startswith("file:")]
    return [c for c in found if c]


def check_args(folder: Path, args: list[str]) -> None:
    """No argument may name a path outside the skill's folder, in any form a path can
    take in it: whole, after '=', '@', ',', ';', ':' or a quote, attached to a short
    option (-f/etc/x), or as a file: URL. A candidate that is absolute, starts with '~'
    or '.', or contains '/' must resolve (symlinks followed) inside the folder."""
    for arg in args:
        for value in _path_candidates(arg):
            if not (value.startswith(("/", "~", ".")) or "/" in value):
                continue
            if not _inside(folder, os.path.expanduser(value)):
                raise SkillError(clean(f"argument {arg!r} points outside the skill folder "
                                       f"{folder}"))


def command_for(script: Path) -> list[str]:
    if script.suffix == ".py":
        return [sys.executable, str(script)]
    if script.suffix == ".sh":
        return ["bash", str(script)]
    return [str(script)]


def run(skill: Skill, args: list[str], config: Config, *, url: str, token: str | None,
        timeout: float | None = None, stdin=None) -> subprocess.CompletedProcess:
    """Run the skill's entry script in its folder with the runtime's address in its env."""
    folder = skill.path.resolve()
    if not skill.eligible:
        raise SkillError(f"skill {skill.name!r} is not eligible: {skill.reason}")
    if not skill.entry:
        raise SkillError(f"skill {skill.name!r} has no entry script (add scripts/run.py or "
                         "metadata.clawhost.entry)")
    if not _inside(folder, skill.entry):
        raise SkillError(f"skill {skill.name!r}: entry {skill.entry!r} points outside its folder")
    script = (folder / skill.entry).resolve()
    if not script.is_file():
        raise SkillError(f"skill {skill.name!r}: entry script {skill.entry} does not exist")
    check_args(folder, args)
    opts = config.host.skills
    entry = opts.entries.get(skill.name)
    # A fresh env for the child: per-skill variables never leak into this process.
    env = {**os.environ, "CLAWHOST_URL": url, "CLAWHOST_SKILL": skill.name,
           **(entry.env if entry else {})}
    if token:
        env["CLAWHOST_TOKEN"] = token
    limit = timeout or (entry.timeout_s if entry and entry.timeout_s else opts.timeout_s)
    proc = subprocess.Popen(command_for(script) + list(args), cwd=folder, env=env,
                            stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        err += f"\nskill {skill.name!r} timed out after {limit:g}s and was killed\n"
        return subprocess.CompletedProcess(proc.args, 124, out, err)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
