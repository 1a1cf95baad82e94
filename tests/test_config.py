"""config.yaml: interpolation, validation and its one-line errors."""

from __future__ import annotations

import json
import textwrap

import pytest

from clawhost.config import load_config
from clawhost.errors import ConfigError
from clawhost.pluginmanager import discover

from conftest import run_cli


def write(tmp_path, text):
    p = tmp_path / "config.yaml"
    p.write_text(textwrap.dedent(text))
    return p


def test_defaults_and_relative_workspace(tmp_path):
    cfg = load_config(write(tmp_path, "plugins: {}\n"))
    assert cfg.host.server.port == 8787 and cfg.host.server.host == "127.0.0.1"
    assert cfg.workspace == (tmp_path / "workspace").resolve()


def test_env_interpolation_with_default_and_secret_tracking(tmp_path, monkeypatch):
    monkeypatch.setenv("CH_TEST_TOKEN", "s3cret-value")
    cfg = load_config(write(tmp_path, """
        server:
          token: ${CH_TEST_TOKEN}
          port: ${CH_TEST_PORT:-9911}
    """))
    assert cfg.host.server.port == 9911
    assert cfg.host.server.token.get_secret_value() == "s3cret-value"
    assert "s3cret-value" in cfg.secrets
    assert cfg.redact("bearer s3cret-value here") == "bearer *** here"


def test_missing_env_var_names_path_and_var(tmp_path, monkeypatch):
    monkeypatch.delenv("CH_NOPE", raising=False)
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, "server:\n  host: ${CH_NOPE}\n"))
    assert "server.host" in str(err.value) and "CH_NOPE" in str(err.value)


@pytest.mark.parametrize("text, needle", [
    ("server:\n  port: eighty\n", "server.port"),
    ("server:\n  prot: 80\n", "server.prot"),
    ("workspace: [a, b]\n", "workspace"),
    ("server: {port: 1\n", "invalid YAML"),
    ("- just\n- a list\n", "top level must be a mapping"),
    ("plugins:\n  batcher: 5\n", "plugins: batcher must be a mapping of its options, {}, or false"),
    ("server: 5\n", "server: must be an object"),
])
def test_config_errors_are_one_line_with_path(tmp_path, text, needle):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    msg = str(err.value)
    assert needle in msg
    assert "Traceback" not in msg and len(msg.splitlines()) == 1


def test_bad_value_is_shown_but_secret_is_not(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, "server:\n  port: eighty\n"))
    assert "'eighty'" in str(err.value)
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, "server:\n  token: [hunter2-secret]\n"))
    assert "hunter2-secret" not in str(err.value) and "server.token" in str(err.value)
    with pytest.raises(ConfigError) as err:  # a whole object in the wrong place: not shown
        load_config(write(tmp_path, "server:\n  port: {token: hunter2-secret}\n"))
    assert "hunter2-secret" not in str(err.value) and "server.port" in str(err.value)


@pytest.mark.parametrize("text, needle", [
    ("server:\n  prot: 80\n", "server.prot: unknown option; did you mean 'port'?"),
    ("plugins:\n  batcher: {max_wait: 5}\n",
     "plugins.batcher.max_wait: unknown option; did you mean 'max_wait_ms'?"),
    ("plugins:\n  quantized_model:\n    models: {x: {source: a, kind: chat, quantisation: int8}}\n",
     "models.x.quantisation: unknown option; did you mean 'quantization'?"),
    ("plugins:\n  batcher: {zzz: 1}\n", "plugins.batcher.zzz: unknown option"),
])
def test_a_misspelt_option_gets_the_closest_name(tmp_path, text, needle):
    with pytest.raises(ConfigError) as err:
        cfg = load_config(write(tmp_path, text))
        cfg.validate_plugins(discover(plugins_dir=cfg.plugins_dir))
    assert needle in str(err.value) and "(got" not in str(err.value)


def test_a_misspelt_secret_option_never_echoes_its_value(tmp_path):
    text = ("plugins:\n  connection_pool:\n    providers:\n      openai: {base_url: 'http://x',"
            " api_keyy: sk-hunter2-abcdef, models: [a]}\n")
    with pytest.raises(ConfigError) as err:
        cfg = load_config(write(tmp_path, text))
        cfg.validate_plugins(discover(plugins_dir=cfg.plugins_dir))
    assert "did you mean 'api_key'?" in str(err.value) and "hunter2" not in str(err.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_unknown_plugin_lists_installed(tmp_path):
    cfg = load_config(write(tmp_path, "plugins:\n  cahce: {}\n"))
    installed = discover()
    with pytest.raises(ConfigError) as err:
        cfg.validate_plugins(installed)
    assert "unknown plugin 'cahce'" in str(err.value)
    for name in installed:
        assert name in str(err.value)


def test_plugin_options_errors_name_the_yaml_path(tmp_path):
    (tmp_path / "pl").mkdir()
    (tmp_path / "pl" / "greeter.py").write_text(
        "from pydantic import BaseModel\nclass Options(BaseModel):\n    greeting: str\n    times: int = 1\n")
    cfg = load_config(write(tmp_path, "plugins_dir: pl\nplugins:\n  greeter:\n    times: many\n"))
    with pytest.raises(ConfigError) as err:
        cfg.validate_plugins(discover(plugins_dir=cfg.plugins_dir))
    lines = str(err.value).splitlines()
    assert any("plugins.greeter.greeting" in ln and "required" in ln for ln in lines)
    assert any("plugins.greeter.times" in ln and "'many'" in ln for ln in lines)


def test_disabled_plugin_and_list_form(tmp_path):
    cfg = load_config(write(tmp_path, "plugins:\n  monitor: false\n  cache: {}\n"))
    assert cfg.enabled == ["cache"]
    cfg = load_config(write(tmp_path, "plugins: [semantic-cache, cache]\n"))
    assert cfg.enabled == ["semantic_cache", "cache"]


def test_config_check_and_schema_cli(tmp_path):
    good = write(tmp_path, "plugins: {}\n")
    res = run_cli("config", "check", str(good))
    assert res.returncode == 0 and "ok" in res.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("server:\n  port: -1\n")
    res = run_cli("config", "check", "--config", str(bad))
    assert res.returncode != 0
    assert "server.port" in res.stderr and "Traceback" not in res.stderr
    res = run_cli("config", "check", str(tmp_path / "missing.yaml"))
    assert res.returncode != 0 and "config file not found" in res.stderr
    schema = json.loads(run_cli("config", "schema").stdout)
    assert "server" in schema["properties"] and "plugins" in schema["properties"]
