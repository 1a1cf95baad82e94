"""The request loop: stage order, chain order, async walks, isolation, the model registry."""

from __future__ import annotations

import asyncio

import pytest

from clawhost.errors import BadRequest, ClawhostError, ModelNotFound
from clawhost.hookspecs import hookimpl
from clawhost.testing import TRACE, EchoModel
from clawhost.types import ChatRequest, EmbeddingRequest, ModelRequest, Reply
from clawhost.api import StashKey

LIFE: StashKey = StashKey("life")
TAGGED: StashKey = StashKey("tagged")


def chat(text="hello there", model="echo", **kw) -> ModelRequest:
    body = ChatRequest.model_validate({"model": model, "messages": [{"role": "user", "content": text}], **kw})
    return ModelRequest(kind="chat", body=body)


class Recorder:
    """Records every request-path hook it sees, in order."""

    def __init__(self, log, tag):
        self.log, self.tag = log, tag

    @hookimpl
    def clawhost_request_started(self, request):
        self.log.append((self.tag, "started"))

    @hookimpl
    async def clawhost_lookup(self, request):
        await asyncio.sleep(0)
        self.log.append((self.tag, "lookup"))
        return None  # an async None must not count as a result

    @hookimpl
    def clawhost_store(self, request, reply):
        self.log.append((self.tag, "store", reply.source))

    @hookimpl
    async def clawhost_request_finished(self, request, reply, error):
        self.log.append((self.tag, "finished", type(error).__name__ if error else None))


async def test_stages_run_in_order_with_timings(clawhost_host):
    log = []
    host = await clawhost_host(Recorder(log, "a"), EchoModel())
    req = chat()
    reply = await host.handle(req)
    assert reply.body["choices"][0]["message"]["content"] == "hello there"
    assert [e[1] for e in log] == ["started", "lookup", "store", "finished"]
    assert set(req.timings) >= {"lookup", "infer", "total"}
    assert req.timings["total"] >= req.timings["infer"] >= 0


async def test_chain_follows_registration_order(clawhost_host):
    log = []
    host = await clawhost_host(Recorder(log, "first"), Recorder(log, "second"), EchoModel())
    await host.handle(chat())
    lookups = [tag for tag, stage, *_ in log if stage == "lookup"]
    assert lookups == ["first", "second"]


async def test_config_order_is_chain_order(tmp_path):
    from clawhost.host import Host
    from clawhost.testing import make_config
    pl = tmp_path / "pl"
    pl.mkdir()
    for name in ("zeta", "alpha"):
        (pl / f"{name}.py").write_text(
            "from clawhost.hookspecs import hookimpl\nfrom clawhost.testing import TRACE\n"
            f"@hookimpl\ndef clawhost_request_started(request):\n    request.notes.setdefault(TRACE, []).append({name!r})\n")
    cfg = make_config(tmp_path / "ws", {"plugins_dir": str(pl), "plugins": {"zeta": {}, "alpha": {}}})
    host = Host(cfg, extra_plugins=[("echo", EchoModel())])
    await host.start()
    req = chat()
    await host.handle(req)
    assert req.notes[TRACE] == ["zeta", "alpha"]
    assert host.chain.names()[:2] == ["zeta", "alpha"]


async def test_lookup_hit_skips_infer_and_store(clawhost_host):
    class Hit:
        @hookimpl
        async def clawhost_lookup(self, request):
            return Reply({"cached": True}, source="l1")

    log, echo = [], EchoModel()
    host = await clawhost_host(Hit(), Recorder(log, "r"), echo)
    reply = await host.handle(chat())
    assert reply.body == {"cached": True} and echo.calls == 0
    assert not any(stage == "store" for _, stage, *_ in log)


async def test_no_cache_is_the_lookup_plugins_decision(clawhost_host):
    """The host calls every lookup plugin; one that honours ``no-cache`` steps aside, one that
    does not (say, a plugin serving canned answers) still answers. The built-in caches honour
    it (tests/test_cache.py, tests/test_semantic_cache.py)."""
    from clawhost.api import RequestCacheFields, directives

    class Honours:
        RequestFields = RequestCacheFields  # declares the body's ``cache`` field

        @hookimpl
        def clawhost_lookup(self, request):
            return None if directives(request).no_cache else Reply({"cached": True}, source="l1")

    class Canned:
        @hookimpl
        def clawhost_lookup(self, request):
            return Reply({"canned": True}, source="canned")

    echo = EchoModel()
    host = await clawhost_host(Honours(), echo)
    reply = await host.handle(chat(cache={"no-cache": True}))
    assert "choices" in reply.body and echo.calls == 1
    assert (await host.handle(chat())).body == {"cached": True}
    host = await clawhost_host(Canned(), EchoModel())
    assert (await host.handle(chat(cache={"no-cache": True}))).body == {"canned": True}


async def test_failing_optional_plugins_are_isolated(clawhost_host, caplog):
    class Broken:
        @hookimpl
        def clawhost_request_started(self, request):
            raise RuntimeError("boom-started")

        @hookimpl
        async def clawhost_lookup(self, request):
            raise RuntimeError("boom-lookup")

        @hookimpl
        def clawhost_store(self, request, reply):
            raise OSError("disk full")

        @hookimpl
        def clawhost_request_finished(self, request, reply, error):
            raise ValueError("boom-finished")

    host = await clawhost_host(Broken(), EchoModel())
    reply = await host.handle(chat("still served"))
    assert reply.body["choices"][0]["message"]["content"] == "still served"
    errors = host.chain.stats.errors
    for hook in ("clawhost_request_started", "clawhost_lookup", "clawhost_store",
                 "clawhost_request_finished"):
        assert errors[("test-plugin-0", hook)] == 1
    assert "test-plugin-0" in caplog.text and "boom-lookup" in caplog.text


async def test_failing_infer_is_a_500_without_details(clawhost_host):
    class Crashing:
        @hookimpl(tryfirst=True)
        def clawhost_infer(self, request):
            raise KeyError("secret internals")

    seen = []

    class Watch:
        @hookimpl
        def clawhost_request_finished(self, request, reply, error):
            seen.append(error)

    host = await clawhost_host(Crashing(), Watch(), EchoModel())
    with pytest.raises(ClawhostError) as err:
        await host.handle(chat())
    assert err.value.status == 500 and "secret internals" not in err.value.message
    assert isinstance(seen[0], KeyError)
    # the host keeps serving: a plugin answering with a ClawhostError passes it on unchanged
    class Refuses:
        @hookimpl(tryfirst=True)
        def clawhost_infer(self, request):
            raise BadRequest("prompt too long")

    host2 = await clawhost_host(Refuses(), EchoModel())
    with pytest.raises(BadRequest, match="prompt too long"):
        await host2.handle(chat())


async def test_async_first_result_walk_awaits_each(clawhost_host):
    order = []

    class SlowNone:
        @hookimpl(tryfirst=True)
        async def clawhost_infer(self, request):
            await asyncio.sleep(0.01)
            order.append("slow-none")
            return None

    host = await clawhost_host(SlowNone(), EchoModel())
    reply = await host.handle(chat("x y"))
    assert order == ["slow-none"] and reply.body["choices"][0]["message"]["content"] == "x y"


async def test_unknown_model_lists_available(clawhost_host):
    host = await clawhost_host(EchoModel())
    with pytest.raises(ModelNotFound) as err:
        await host.handle(chat(model="gpt-9"))
    assert "gpt-9" in err.value.message and "echo" in err.value.message
    with pytest.raises(ModelNotFound, match="cannot serve embedding"):
        body = EmbeddingRequest(model="echo", input="hi")
        await host.handle(ModelRequest(kind="embedding", body=body))


async def test_no_model_plugin_still_starts_and_says_so(clawhost_host, caplog):
    host = await clawhost_host()
    assert host.ready and host.models == {}
    assert "no model is available" in caplog.text
    with pytest.raises(ModelNotFound, match="no model is available"):
        await host.handle(chat())


async def test_register_models_and_prefix_wildcard(clawhost_host):
    from clawhost.types import Model

    class Provider:
        @hookimpl
        def clawhost_register_models(self, register, host):
            register(Model("remote/*", "chat+completion", owner="provider"))

        @hookimpl
        def clawhost_infer(self, request):
            if request.model.owner == "provider":
                return Reply({"served": request.body.model}, source="upstream")

    host = await clawhost_host(Provider())
    reply = await host.handle(chat(model="remote/any-model"))
    assert reply.body == {"served": "remote/any-model"}


async def test_streamed_reply_is_stored_assembled_and_finished_after_stream(clawhost_host):
    stored, finished = [], []

    class Keep:
        @hookimpl
        def clawhost_store(self, request, reply):
            stored.append(reply.body)

        @hookimpl
        def clawhost_request_finished(self, request, reply, error):
            finished.append(request.timings.get("ttft"))

    host = await clawhost_host(Keep(), EchoModel())
    reply = await host.handle(chat("a b c", stream=True))
    assert stored == [] and finished == []  # nothing happens until the stream is consumed
    chunks = [c async for c in reply.stream]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert stored[0]["choices"][0]["message"]["content"] == "a b c"
    assert finished and finished[0] is not None


async def test_startup_shutdown_readiness_hooks(clawhost_host):
    events = []

    class Life:
        @hookimpl
        async def clawhost_startup(self, host):
            events.append("startup")
            host.state[LIFE] = "open"

        @hookimpl
        def clawhost_shutdown(self, host):
            events.append("shutdown")

        @hookimpl
        def clawhost_readiness(self, host):
            return {"progress": "all loaded"}

    host = await clawhost_host(Life())
    assert events == ["startup"] and host.state[LIFE] == "open"
    assert host.readiness()["progress"] == "all loaded"
    await host.stop()
    assert events == ["startup", "shutdown"]


async def test_register_plugin_fixture_is_scoped_to_one_test(clawhost_host, register_plugin):
    class Tag:
        @hookimpl
        def clawhost_request_started(self, request):
            request.notes[TAGGED] = True

    host = await clawhost_host(EchoModel())
    register_plugin(host, Tag(), name="tag")
    req = chat()
    await host.handle(req)
    assert req.notes.get(TAGGED) is True
    assert "tag" in host.chain.names()


async def test_infer_batch_hook_is_walked_first_result(clawhost_host):
    class Batcher:
        @hookimpl
        def clawhost_infer_batch(self, model, requests):
            return [Reply({"n": i}) for i, _ in enumerate(requests)]

    host = await clawhost_host(Batcher(), EchoModel())
    replies = await host.chain.walk("clawhost_infer_batch", first=True, model=host.models["echo"],
                                    requests=[chat(), chat()])
    assert [r.body["n"] for r in replies] == [0, 1]


def test_workspace_that_cannot_be_written(tmp_path):
    from clawhost.errors import ConfigError
    from clawhost.host import Host
    from clawhost.testing import make_config
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    host = Host(make_config(blocker / "ws"))
    with pytest.raises(ConfigError, match="cannot be written"):
        host.prepare_workspace()
