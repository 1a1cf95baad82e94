"""Skills: discovery in precedence, gating, bad SKILL.md files, and running scripts."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from clawhost import skills
from clawhost.testing import make_config

from conftest import run_cli

REPO_SKILLS = Path(__file__).resolve().parents[1] / "workspace" / "skills"


def skill(root: Path, folder: str, front: str, script: str | None = None, body: str = "Do it.\n"):
    d = root / folder
    (d / "scripts").mkdir(parents=True, exist_ok=True)
    (d / "SKILL.md").write_text(f"---\n{textwrap.dedent(front).strip()}\n---\n{body}" if front is not None else body)
    if script is not None:
        (d / "scripts" / "run.py").write_text(textwrap.dedent(script))
    return d


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    extra = tmp_path / "extra"
    extra.mkdir()
    config = make_config(tmp_path / "ws", {"skills": {"extra_dirs": [str(extra)]},
                                           "plugins": {"cache": {}}})
    (tmp_path / "ws" / "skills").mkdir(parents=True)
    return config, tmp_path / "ws" / "skills", extra


def test_discovery_precedence_and_duplicates(cfg, tmp_path):
    config, ws, extra = cfg
    skill(ws, "a", "name: tool\ndescription: workspace copy")
    skill(extra, "b", "name: tool\ndescription: extra copy")
    managed = tmp_path / "home" / ".openclaw" / "skills"
    skill(managed, "c", "name: managed-only\ndescription: from ~/.openclaw/skills")
    found, problems = skills.discover(config)
    by = {s.name: s for s in found}
    assert by["tool"].description == "workspace copy" and by["managed-only"].eligible
    assert any("shadowed" in p and str(extra / "b" / "SKILL.md") in p for p in problems)


def test_bad_skill_files_are_reported_and_the_rest_load(cfg):
    config, ws, _ = cfg
    skill(ws, "nofront", None, body="# just markdown\n")
    skill(ws, "badyaml", "name: [unclosed\ndescription: x")
    skill(ws, "noname", "description: nameless")
    skill(ws, "good", "name: good\ndescription: fine")
    found, problems = skills.discover(config)
    text = "\n".join(problems)
    assert "nofront/SKILL.md: no YAML frontmatter" in text
    assert "badyaml/SKILL.md: bad YAML in frontmatter" in text
    assert "noname/SKILL.md: frontmatter has no 'name'" in text
    by = {s.name: s for s in found}
    assert by["good"].eligible
    assert not by["nofront"].eligible and "frontmatter" in by["nofront"].reason


def test_gating_bins_env_os_config_and_legacy_metadata(cfg, monkeypatch):
    config, ws, _ = cfg
    monkeypatch.delenv("CH_SKILL_KEY", raising=False)
    skill(ws, "bins", 'name: bins\nmetadata: {"openclaw": {"requires": {"bins": ["definitely-not-a-bin-xyz"]}}}')
    skill(ws, "env", 'name: env\nmetadata: {"openclaw": {"requires": {"env": ["CH_SKILL_KEY"]}}}')
    skill(ws, "os", 'name: os\nmetadata: {"openclaw": {"os": ["win32"]}}')
    skill(ws, "conf", 'name: conf\nmetadata: {"clawdbot": {"requires": {"config": ["plugins.monitor"]}}}')
    skill(ws, "confok", 'name: confok\nmetadata: {"openclaw": {"requires": {"config": ["plugins.cache"]}}}')
    skill(ws, "always", 'name: always\nmetadata: {"openclaw": {"always": true, "requires": {"bins": ["nope-xyz"]}}}')
    skill(ws, "yamlmeta", "name: yamlmeta\nmetadata:\n  openclaw:\n    requires:\n      anyBins: [nope-xyz, python3]")
    by = {s.name: s for s in skills.discover(config)[0]}
    assert "definitely-not-a-bin-xyz" in by["bins"].reason
    assert "CH_SKILL_KEY" in by["env"].reason
    assert "needs os win32" in by["os"].reason
    assert "plugins.monitor" in by["conf"].reason  # legacy metadata.clawdbot is read
    assert by["confok"].eligible and by["always"].eligible and by["yamlmeta"].eligible
    monkeypatch.setenv("CH_SKILL_KEY", "x")
    assert {s.name: s for s in skills.discover(config)[0]}["env"].eligible


def test_run_sets_runtime_env_and_per_skill_env_without_leaking(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    config = make_config(tmp_path / "ws", {"skills": {"entries": {"envy": {"env": {"SKILL_ONLY": "42"}}}}})
    ws = tmp_path / "ws" / "skills"
    skill(ws, "envy", "name: envy", script="""
        import os, sys
        print(os.environ["CLAWHOST_URL"], os.environ.get("CLAWHOST_TOKEN"), os.environ["SKILL_ONLY"], os.getcwd(), sys.argv[1:])
    """)
    s = {x.name: x for x in skills.discover(config)[0]}["envy"]
    res = skills.run(s, ["--flag", "word"], config, url="http://127.0.0.1:1", token="tkn")
    url, token, only, cwd, argv = res.stdout.split(" ", 4)
    assert (url, token, only) == ("http://127.0.0.1:1", "tkn", "42")
    assert Path(cwd) == (ws / "envy").resolve() and "'--flag', 'word'" in argv
    import os
    assert "SKILL_ONLY" not in os.environ  # per-skill env went to the child only


def test_run_timeout_missing_script_and_escapes(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    config = make_config(tmp_path / "ws", {"skills": {"timeout_s": 1}})
    ws = tmp_path / "ws" / "skills"
    skill(ws, "hang", "name: hang", script="import time\nprint('started', flush=True)\ntime.sleep(60)\n")
    skill(ws, "ghost", 'name: ghost\nmetadata: {"clawhost": {"entry": "scripts/missing.py"}}')
    skill(ws, "escape", 'name: escape\nmetadata: {"clawhost": {"entry": "../../outside.py"}}')
    skill(ws, "ok", "name: ok", script="print('fine')\n")
    by = {s.name: s for s in skills.discover(config)[0]}
    res = skills.run(by["hang"], [], config, url="u", token=None)
    assert res.returncode == 124 and "timed out after 1s" in res.stderr and "started" in res.stdout
    with pytest.raises(skills.SkillError, match="does not exist"):
        skills.run(by["ghost"], [], config, url="u", token=None)
    with pytest.raises(skills.SkillError, match="outside its folder"):
        skills.run(by["escape"], [], config, url="u", token=None)
    for arg in ("../../etc/passwd", "/etc/passwd", "--file=../secret"):
        with pytest.raises(skills.SkillError, match="outside the skill folder"):
            skills.run(by["ok"], [arg], config, url="u", token=None)
    assert skills.run(by["ok"], ["scripts/run.py"], config, url="u", token=None).stdout == "fine\n"


def test_skills_cli_list_json_show_and_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "config.yaml").write_text("workspace: ws\nplugins: {}\n")
    ws = tmp_path / "ws" / "skills"
    skill(ws, "alpha", "name: alpha\ndescription: first", script="print('alpha ran')")
    skill(ws, "broken", None, body="no frontmatter\n")
    cfg = str(tmp_path / "config.yaml")
    res = run_cli("skills", "list", "--json", "--config", cfg)
    rows = json.loads(res.stdout)
    assert {"name", "description", "eligible", "reason", "path"} == set(rows[0])
    assert [r["name"] for r in rows if r["eligible"]] == ["alpha"]
    assert "broken/SKILL.md: no YAML frontmatter" in res.stderr
    show = run_cli("skills", "show", "alpha", "--config", cfg)
    assert "entry:       scripts/run.py" in show.stdout
    ran = run_cli("skills", "run", "alpha", "--config", cfg)
    assert ran.returncode == 0 and ran.stdout == "alpha ran\n"
    missing = run_cli("skills", "run", "nope", "--config", cfg)
    assert missing.returncode != 0 and "no skill named 'nope'" in missing.stderr
    (tmp_path / "empty.yaml").write_text("workspace: empty\nplugins: {}\n")
    none = run_cli("skills", "list", "--config", str(tmp_path / "empty.yaml"))
    assert none.returncode == 0 and "no skills found (looked in: " in none.stdout
    assert str(tmp_path / "empty" / "skills") in none.stdout


def test_shipped_skills_against_a_running_host(echo_config, monkeypatch, tmp_path):
    """The two skills in workspace/skills, run through `clawhost skills run` on a live host."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    text = echo_config.read_text().replace(
        "plugins_dir:", f"skills:\n  extra_dirs: [{REPO_SKILLS}]\n  include_user_dirs: false\nplugins_dir:")
    echo_config.write_text(text)
    cfg = str(echo_config)
    assert run_cli("start", "--config", cfg).returncode == 0
    try:
        names = {r["name"]: r for r in json.loads(run_cli("skills", "list", "--json", "--config", cfg).stdout)}
        assert names["clawhost"]["eligible"] and names["summarize"]["eligible"]
        ask = run_cli("skills", "run", "clawhost", "ask", "hello skill", "--config", cfg)
        assert ask.returncode == 0 and ask.stdout.strip() == "hello skill"
        models = run_cli("skills", "run", "clawhost", "models", "--config", cfg)
        assert "echo\tchat+completion\tready" in models.stdout
        emb = run_cli("skills", "run", "clawhost", "embed", "abc", "--config", cfg)
        assert len(json.loads(emb.stdout)) == 8
        stats = run_cli("skills", "run", "clawhost", "stats", "--config", cfg)
        assert stats.returncode == 0 and json.loads(stats.stdout)
        import subprocess, sys
        long_text = "\n\n".join(f"Paragraph {i} talks about topic {i}." * 20 for i in range(4))
        res = subprocess.run([sys.executable, "-m", "clawhost", "skills", "run", "summarize",
                              "--max-words", "20", "--config", cfg], input=long_text,
                             capture_output=True, text=True, timeout=60)
        # the echo model repeats the last prompt: the combining pass over partial summaries
        assert res.returncode == 0 and "Summarise the following text in at most 20 words" in res.stdout
        empty = subprocess.run([sys.executable, "-m", "clawhost", "skills", "run", "summarize",
                                "--config", cfg], input="", capture_output=True, text=True, timeout=60)
        assert empty.returncode == 2 and "no text on stdin" in empty.stderr
    finally:
        run_cli("stop", "--config", cfg)
