"""Operator ergonomics on real processes: where the config is found (`clawhost config
path`), --port/--host and $CLAWHOST_PORT/$CLAWHOST_HOST, uptime from process start, and
the access log of a detached host."""

from __future__ import annotations

import json
import shutil
import urllib.request

from conftest import free_port, run_cli

NO_CONFIG = {"CLAWHOST_CONFIG": "", "CLAWHOST_PORT": "", "CLAWHOST_HOST": ""}


def test_config_path_says_which_file_and_why(echo_config, tmp_path):
    xdg, elsewhere = tmp_path / "xdg", tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**NO_CONFIG, "XDG_CONFIG_HOME": str(xdg)}
    none = run_cli("config", "path", cwd=elsewhere, env=env)
    assert none.returncode == 1 and none.stderr.count("\n") == 1
    assert (f"looked at --config, $CLAWHOST_CONFIG, {elsewhere / 'config.yaml'}, "
            f"{xdg / 'clawhost' / 'config.yaml'}") in none.stderr

    (xdg / "clawhost").mkdir(parents=True)
    user = xdg / "clawhost" / "config.yaml"
    user.write_text("plugins: {}\n")
    res = run_cli("config", "path", cwd=elsewhere, env=env)
    assert res.stdout.strip() == str(user) and "found via the per-user config" in res.stderr

    shutil.copy(echo_config, elsewhere / "config.yaml")  # ./config.yaml comes before it
    res = run_cli("config", "path", cwd=elsewhere, env=env)
    assert res.stdout.strip() == str(elsewhere / "config.yaml")
    assert "./config.yaml in the current directory" in res.stderr

    res = run_cli("config", "path", cwd=elsewhere, env={**env, "CLAWHOST_CONFIG": str(user)})
    assert res.stdout.strip() == str(user) and "$CLAWHOST_CONFIG" in res.stderr
    res = run_cli("config", "path", "--config", str(echo_config), cwd=elsewhere,
                  env={**env, "CLAWHOST_CONFIG": str(user)})
    assert res.stdout.strip() == str(echo_config) and "--config" in res.stderr
    # a named file that is missing is an error, never a silent fall-through to another one
    res = run_cli("config", "path", cwd=elsewhere, env={**env, "CLAWHOST_CONFIG": "/no/such.yaml"})
    assert res.returncode == 1 and "config file not found: /no/such.yaml (from $CLAWHOST_CONFIG)" \
        in res.stderr


def test_start_status_stop_on_another_port_from_the_user_config(echo_config, tmp_path):
    """The per-user config found from any directory; --port for start, $CLAWHOST_PORT
    for status and stop; uptime counted from process start; the access log written."""
    xdg, elsewhere = tmp_path / "xdg", tmp_path / "elsewhere"
    elsewhere.mkdir()
    (xdg / "clawhost").mkdir(parents=True)
    user = xdg / "clawhost" / "config.yaml"
    user.write_text(echo_config.read_text().replace(
        "server:\n", "server:\n  access_log: logs/access.log\n").replace(
        "workspace: ./ws", f"workspace: {tmp_path / 'ws'}").replace(
        "plugins_dir: ./localplugins", f"plugins_dir: {tmp_path / 'localplugins'}"))
    env = {**NO_CONFIG, "XDG_CONFIG_HOME": str(xdg)}
    port = free_port()
    res = run_cli("start", "--port", str(port), "--host", "127.0.0.1", cwd=elsewhere, env=env)
    assert res.returncode == 0, res.stderr
    assert f"at http://127.0.0.1:{port}" in res.stdout
    try:
        st = run_cli("status", "--json", cwd=elsewhere, env={**env, "CLAWHOST_PORT": str(port)})
        facts = json.loads(st.stdout)
        assert facts["ready"] and facts["url"] == f"http://127.0.0.1:{port}"
        # from process start: at least the time it took to become ready
        assert facts["uptime_s"] >= facts["ready_after_s"] > 0
        human = run_cli("status", "--port", str(port), cwd=elsewhere, env=env)
        assert "(ready after " in human.stdout
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/embeddings", method="POST",
                                     data=b'{"model": "echo-embed", "input": "secret words"}',
                                     headers={"Content-Type": "application/json"})
        assert urllib.request.urlopen(req, timeout=10).status == 200
    finally:
        stop = run_cli("stop", cwd=elsewhere, env={**env, "CLAWHOST_PORT": str(port)})
    assert stop.returncode == 0 and "stopped" in stop.stdout
    log = (xdg / "clawhost" / "logs" / "access.log").read_text()  # relative to the config
    assert "POST /v1/embeddings model=echo-embed status=200 cache=- tokens=" in log
    assert "secret words" not in log and "/readyz" not in log


def test_bad_port_settings_are_one_line_errors(echo_config):
    res = run_cli("status", "--config", str(echo_config), env={"CLAWHOST_PORT": "80a"})
    assert res.returncode == 1
    assert res.stderr.strip() == "Error: CLAWHOST_PORT: must be a port number, 0 to 65535 (got '80a')"
    res = run_cli("start", "--config", str(echo_config), "--port", "70000")
    assert res.returncode == 2 and "70000 is not in the range 0<=x<=65535" in res.stderr
    res = run_cli("start", "--config", str(echo_config), "--host", "0.0.0.0")
    assert res.returncode == 1 and "server.token is required to bind" in res.stderr


def test_flags_beat_the_environment_which_beats_the_config(monkeypatch):
    from clawhost.config import load_config
    text = "server: {host: 127.0.0.1, port: 8787}\n"
    monkeypatch.delenv("CLAWHOST_PORT", raising=False)
    monkeypatch.delenv("CLAWHOST_HOST", raising=False)
    config = load_config(text=text)
    config.override_server()
    assert (config.host.server.host, config.host.server.port) == ("127.0.0.1", 8787)
    monkeypatch.setenv("CLAWHOST_PORT", "9001")
    monkeypatch.setenv("CLAWHOST_HOST", "::1")
    config = load_config(text=text)
    config.override_server()
    assert (config.host.server.host, config.host.server.port) == ("::1", 9001)
    config = load_config(text=text)
    config.override_server(port=9002, host="localhost")
    assert (config.host.server.host, config.host.server.port) == ("localhost", 9002)
