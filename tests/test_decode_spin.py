"""A decoding chat model's ORT workers spin-wait a bounded time between the ops of one step
(`quantized_model.spin_us`, clawhost/engines/ort_session.py), and never after the step.
A real engine on the tiny random llama of test_local_chat."""
from __future__ import annotations

import pytest

from clawhost.engines import DECODE_SPIN_US
from clawhost.engines.ort_session import session_options


def entries(so) -> dict[str, str]:
    """The spin settings among ``so``'s config entries (an absent key raises in ORT)."""
    out = {}
    for key in ("session.intra_op.allow_spinning", "session.force_spinning_stop",
                "session.intra_op.spin_duration_us"):
        try:
            out[key] = so.get_session_config_entry(key)
        except RuntimeError:
            pass
    return out


def test_a_bounded_spin_stops_with_each_run_and_zero_never_spins():
    assert entries(session_options(2, spin_us=250)) == {
        "session.intra_op.allow_spinning": "1", "session.force_spinning_stop": "1",
        "session.intra_op.spin_duration_us": "250"}
    assert entries(session_options(2)) == {"session.intra_op.allow_spinning": "0"}
    # the embedding engines' unbounded spin stays what it was
    assert entries(session_options(2, spin=True)) == {"session.intra_op.allow_spinning": "1"}


def test_the_option_defaults_to_the_engines_value_and_is_bounded():
    from pydantic import ValidationError

    from clawhost.plugins.quantized_model.options import Options
    assert Options().spin_us == DECODE_SPIN_US > 0
    assert Options(spin_us=0).spin_us == 0
    with pytest.raises(ValidationError, match="spin_us"):
        Options(spin_us=-1)


def test_the_engine_session_spins_as_asked_and_decodes_the_same_tokens(tiny_chat_dir):
    from clawhost.plugins.quantized_model.chat_engine import ChatEngine, SamplingParams

    spinning = ChatEngine.load(tiny_chat_dir, threads=2, kv_cache="int8", spin_us=300)
    still = ChatEngine.load(tiny_chat_dir, threads=2, kv_cache="int8", spin_us=0)
    assert entries(spinning.model.session.get_session_options())[
        "session.intra_op.spin_duration_us"] == "300"
    assert entries(still.model.session.get_session_options()) == {
        "session.intra_op.allow_spinning": "0"}
    # the shipped default reaches an engine loaded without the argument
    default = ChatEngine.load(tiny_chat_dir, threads=2, kv_cache="int8")
    assert entries(default.model.session.get_session_options())[
        "session.intra_op.spin_duration_us"] == str(DECODE_SPIN_US)
    ids = spinning.encode_chat([{"role": "user", "content": "hello world"}])
    p = SamplingParams(max_tokens=12, temperature=0)
    assert spinning.generate(ids, p).complete().token_ids == \
        still.generate(ids, p).complete().token_ids
