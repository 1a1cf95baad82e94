"""The CLI on real processes: start, status, ask, embed, stop, and their failure modes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from conftest import run_cli, wait_for


def test_lifecycle_start_status_ask_stop(echo_config, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cfg = str(echo_config)
    res = run_cli("start", "--config", cfg, cwd=elsewhere)  # works from any directory
    assert res.returncode == 0, res.stderr
    pidfile = echo_config.parent / "ws" / "clawhost.pid"
    pid = int(pidfile.read_text())
    try:
        status = json.loads(run_cli("status", "--json", "--config", cfg).stdout)
        assert status["running"] and status["ready"] and status["pid"] == pid
        assert status["models"] == {"echo": "ready", "echo-embed": "ready"}
        assert "echo" in status["plugins"] and status["uptime_s"] >= 0
        human = run_cli("status", "--config", cfg)
        assert f"pid {pid}" in human.stdout and "model echo: ready" in human.stdout

        again = run_cli("start", "--config", cfg)
        assert again.returncode != 0 and "already running" in again.stderr

        ask = run_cli("ask", "what is two plus two", "--config", cfg)
        assert ask.returncode == 0 and ask.stdout.strip() == "what is two plus two"
        streamed = run_cli("ask", "--stream", "one two", "--config", cfg)
        assert streamed.stdout.strip() == "one two"
        emb = run_cli("embed", "hello", "--config", cfg)
        assert len(json.loads(emb.stdout)) == 8
        missing = run_cli("ask", "x", "--model", "nope", "--config", cfg)
        assert missing.returncode != 0 and "not found" in missing.stderr
        log = (echo_config.parent / "ws" / "logs" / "clawhost.log").read_text()
        assert "ready: plugins echo" in log
    finally:
        stop = run_cli("stop", "--config", cfg)
    assert stop.returncode == 0 and f"stopped (pid {pid})" in stop.stdout
    assert not pidfile.exists()
    assert _gone(pid)
    again = run_cli("stop", "--config", cfg)
    assert again.returncode == 0 and "not running" in again.stdout
    st = run_cli("status", "--config", cfg)
    assert st.returncode == 3 and "not running" in st.stdout


def _gone(pid: int) -> bool:
    """Exited: no such process, or a zombie nobody reaped yet (its parent, `start`, is gone)."""
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def test_stale_pidfile_is_cleaned(echo_config):
    ws = echo_config.parent / "ws"
    ws.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (ws / "clawhost.pid").write_text(f"{dead.pid}\n")
    st = json.loads(run_cli("status", "--json", "--config", str(echo_config)).stdout)
    assert st["running"] is False and not (ws / "clawhost.pid").exists()
    res = run_cli("start", "--config", str(echo_config))
    try:
        assert res.returncode == 0, res.stderr
    finally:
        run_cli("stop", "--config", str(echo_config))


def test_sigterm_drains_an_in_flight_request(echo_config):
    """A request in flight when SIGTERM arrives still gets its answer."""
    text = echo_config.read_text().replace("_echo = EchoModel()", "_echo = EchoModel(delay=1.0)")
    plugin = echo_config.parent / "localplugins" / "echo.py"
    plugin.write_text(plugin.read_text().replace("EchoModel()", "EchoModel(delay=1.0)"))
    echo_config.write_text(text)
    cfg = str(echo_config)
    proc = subprocess.Popen([sys.executable, "-m", "clawhost", "run", "--config", cfg],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_for(lambda: json.loads(run_cli("status", "--json", "--config", cfg).stdout)
                        .get("ready"), timeout=20)
        import http.client
        port = int(text.split("port: ")[1].split()[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        conn.request("POST", "/v1/chat/completions", body=json.dumps({
            "model": "echo", "messages": [{"role": "user", "content": "drained answer"}]}),
            headers={"Content-Type": "application/json"})
        time.sleep(0.3)  # the request is in the server's hands (the echo model takes 1 s)
        proc.send_signal(signal.SIGTERM)
        resp = conn.getresponse()
        assert resp.status == 200
        assert json.loads(resp.read())["choices"][0]["message"]["content"] == "drained answer"
        assert proc.wait(timeout=20) == 0
        log = proc.stdout.read()
        assert "draining" in log and "stopped" in log
    finally:
        if proc.poll() is None:
            proc.kill()


def test_start_fails_with_the_logged_cause(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text("plugins:\n  no_such_plugin: {}\n")
    res = run_cli("start", "--config", str(cfg))
    assert res.returncode != 0
    assert "unknown plugin 'no_such_plugin'" in res.stderr and "Traceback" not in res.stderr


def test_port_in_use_fails_start_with_last_log_error(echo_config):
    import socket
    port = int(echo_config.read_text().split("port: ")[1].split()[0])
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        res = run_cli("start", "--config", str(echo_config), "--timeout", "20")
        fg = run_cli("run", "--config", str(echo_config), timeout=20)
    # the cause, named, in one line (it used to be "the log is empty" and a traceback)
    assert res.returncode != 0 and "failed to start: cannot listen on" in res.stderr
    assert f"127.0.0.1:{port}: address already in use" in res.stderr
    assert fg.returncode != 0 and "address already in use" in fg.stderr
    assert "Traceback" not in res.stderr + fg.stderr


def test_plugins_lists_builtins_and_local(echo_config):
    res = run_cli("plugins", "--json", "--config", str(echo_config))
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert rows["echo"]["enabled"] is True
    assert "clawhost_infer" in rows["echo"]["hooks"]
    assert rows["cache"]["dist"] == "clawhost" and rows["cache"]["builtin"] is True


def test_load_plugins_env_limits_third_party(echo_config):
    import pytest
    pytest.importorskip("clawhost_budget", reason="examples/clawhost-budget is not installed")
    names = lambda env: {r["name"] for r in json.loads(run_cli("plugins", "--json", env=env).stdout)}
    assert "budget" in names({})
    assert "budget" in names({"CLAWHOST_LOAD_PLUGINS": "budget,other"})
    only_builtins = names({"CLAWHOST_LOAD_PLUGINS": ""})
    assert "budget" not in only_builtins and "cache" in only_builtins


def test_plugin_commands_hook_adds_cli_commands(tmp_path):
    """clawhost_commands: an installed plugin's command shows up in the CLI."""
    from click.testing import CliRunner

    from clawhost import cli as cli_module
    from clawhost.hookspecs import hookimpl
    from clawhost.pluginmanager import Chain
    import click

    class Hello:
        @hookimpl
        def clawhost_commands(self, cli):
            @cli.command(name="hello-test")
            @cli_module.config_option
            def hello(config_path):
                """Say hello."""
                click.echo(f"hello from a plugin ({config_path})")

    chain = Chain()
    chain.register(Hello())
    chain.walk_sync("clawhost_commands", cli=cli_module.cli)
    try:
        res = CliRunner().invoke(cli_module.cli, ["hello-test", "--config", "x.yaml"])
        assert res.exit_code == 0 and "hello from a plugin (x.yaml)" in res.output
        assert "hello-test" in CliRunner().invoke(cli_module.cli, ["--help"]).output
    finally:
        cli_module.cli.commands.pop("hello-test", None)


def test_plugins_new_writes_a_package_that_passes_its_own_tests(tmp_path):
    res = run_cli("plugins", "new", "shout", "--dir", str(tmp_path))
    assert res.returncode == 0, res.stderr
    root = tmp_path / "clawhost-shout"
    assert (root / "pyproject.toml").is_file() and (root / "clawhost_shout" / "__init__.py").is_file()
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                           cwd=root, capture_output=True, text=True, timeout=120)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "1 passed" in tests.stdout
    again = run_cli("plugins", "new", "shout", "--dir", str(tmp_path))
    assert again.returncode != 0 and "already exists" in again.stderr
    bad = run_cli("plugins", "new", "Bad Name!", "--dir", str(tmp_path))
    assert bad.returncode != 0 and "must be lowercase" in bad.stderr


def test_broken_plugin_is_listed_and_fatal_only_when_enabled(echo_config):
    broken = echo_config.parent / "localplugins" / "broken.py"
    broken.write_text("import not_a_real_module_xyz\n")
    res = run_cli("plugins", "--config", str(echo_config))
    assert res.returncode == 0 and "BROKEN: ModuleNotFoundError" in res.stdout
    assert run_cli("config", "check", str(echo_config)).returncode == 0  # not enabled: skipped
    echo_config.write_text(echo_config.read_text() + "  broken: {}\n")
    res = run_cli("config", "check", str(echo_config))
    assert res.returncode != 0
    assert "plugin 'broken' cannot load: ModuleNotFoundError" in res.stderr
    assert "not_a_real_module_xyz" in res.stderr and "Traceback" not in res.stderr


def test_a_bad_clawhost_url_is_one_line_for_every_client_command(tmp_path):
    for args in (("ask", "hi"), ("embed", "x"), ("stats",)):
        res = run_cli(*args, env={"CLAWHOST_URL": "localhost:1"}, cwd=tmp_path)
        assert res.returncode != 0 and "Traceback" not in res.stderr, args
        assert "must start with http:// or https://, got 'localhost:1'" in res.stderr, args


def test_an_unusable_workspace_fails_start_and_run_in_one_line(tmp_path):
    (tmp_path / "a-file").write_text("x")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"workspace: {tmp_path / 'a-file'}\nplugins: {{}}\n")
    for cmd in ("start", "run"):
        res = run_cli(cmd, "--config", str(cfg), timeout=30)
        assert res.returncode != 0 and "Traceback" not in res.stderr, cmd
        assert f"workspace {tmp_path / 'a-file'} is not a directory" in res.stderr, cmd
