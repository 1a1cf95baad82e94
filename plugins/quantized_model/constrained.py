"""Structured output on local models: grammar-constrained decoding with llguidance.

``response_format`` ``json_object`` / ``json_schema`` and ``tool_choice`` ``required`` (or a
named function) become a JSON Schema; llguidance (Rust, imported on the first such request)
compiles it against the model's own tokenizer, and each decoding sequence masks the tokens
that cannot continue a valid document before it picks one (`Constraint`, applied in
``sampling.Sampler.pick``). The mask is per sequence: other slots of the batch pay nothing.

The output then always parses and matches the schema, unless ``max_tokens`` cuts it short,
which the reply says with ``finish_reason: "length"`` (as OpenAI does). A forced tool call is
generated as ``{"name": ..., "arguments": {...}}`` and handed out as an OpenAI ``tool_calls``
message by `ToolCallReply` (whole bodies and streams).
"""
from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from typing import Any, AsyncIterator

import numpy as np

from clawhost.api import BadRequest, ClawhostError, streaming

# compact JSON: no whitespace between tokens (fewer tokens, and a small model cannot wander
# off into endless newlines between fields)
_COMPILE = {"whitespace_flexible": False}
# Digits in a row, at most, unless the grammar allows nothing else. A sampled number never
# "feels" finished to a small model (one ran to 300 digits at temperature 0.7 and was cut by
# max_tokens); a float64 holds 15-17 significant digits, so more would mean nothing anyway.
MAX_DIGITS = 15
# No run of this many tokens is repeated verbatim where the grammar allows another token
# (no_repeat_ngram_size, as in Hugging Face's generate). At temperature 0.2-0.7 SmolLM2
# loops inside a string ("Sicily_Sicily_Sicily_...") until max_tokens cuts the JSON; a
# forced token (the grammar's only choice, e.g. '},{"item":"') is never banned.
NO_REPEAT = 8
# With this many tokens of max_tokens left, the answer heads for its end: where the grammar
# allows them, only tokens that close a string, array or object (a 135M model that loops in
# a string would otherwise be cut mid-document; OpenAI's answer to a cut is the same
# finish_reason "length" that still comes when closing needs more than this). Not for a
# max_tokens under 4 times this: a short limit is cut as OpenAI cuts it, never emptied.
CLOSE_WITHIN = 24


@dataclass
class Structured:
    """What a request asks of the output."""

    schema: dict[str, Any]  # the JSON Schema the answer matches
    instruction: str  # told to the model in the system message: what to write
    tools: list[str] | None = None  # the answer is a call of one of these tools


def structured_request(body: Any) -> Structured | None:
    """The structure a chat request asks for, or None for free text.

    Raises BadRequest for a ``response_format`` or ``tool_choice`` of the wrong shape."""
    fmt = getattr(body, "response_format", None) or {}
    kind = fmt.get("type", "text") if isinstance(fmt, dict) else None
    tools = getattr(body, "tools", None) or []
    choice = getattr(body, "tool_choice", None)
    if tools and (choice == "required" or isinstance(choice, dict)):
        return _tool_call(tools, choice)
    if kind == "text":
        return None
    if kind == "json_object":
        return Structured({"type": "object"}, "Answer with one JSON object.")
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        if not isinstance(spec, dict):
            raise BadRequest("response_format.json_schema: required, an object with 'name' "
                             "and 'schema'", param="response_format")
        schema = spec.get("schema", {"type": "object"})
        if not isinstance(schema, dict):
            raise BadRequest("response_format.json_schema.schema: must be a JSON Schema object",
                             param="response_format")
        what = f" '{spec['name']}'" if spec.get("name") else ""
        about = f" ({spec['description']})" if spec.get("description") else ""
        return Structured(schema, f"Answer with one JSON object{what}{about} matching this "
                          f"JSON Schema:\n{json.dumps(schema, separators=(',', ':'))}")
    raise BadRequest(f"response_format.type: {kind!r} is not one of 'text', 'json_object', "
                     "'json_schema'", param="response_format")


def _tool_call(tools: list[dict[str, Any]], choice: Any) -> Structured:
    functions = {}
    for i, tool in enumerate(tools):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if tool.get("type", "function") != "function" or not isinstance(fn, dict) or \
                not isinstance(fn.get("name"), str):
            raise BadRequest(f"tools[{i}]: a local model calls only tools of type 'function' "
                             "with a function name", param="tools")
        params = fn.get("parameters") or {"type": "object", "properties": {}}
        if not isinstance(params, dict):
            raise BadRequest(f"tools[{i}].function.parameters: must be a JSON Schema object",
                             param="tools")
        functions[fn["name"]] = (fn.get("description") or "", params)
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if name not in functions:
            raise BadRequest(f"tool_choice.function.name: {name!r} is not one of the tools "
                             f"({', '.join(functions)})", param="tool_choice")
        functions = {name: functions[name]}
    calls = [{"type": "object", "properties": {"name": {"const": name}, "arguments": params},
              "required": ["name", "arguments"], "additionalProperties": False}
             for name, (_, params) in functions.items()]
    listing = "\n".join(f"- {name}: {desc} Arguments (JSON Schema): "
                        f"{json.dumps(params, separators=(',', ':'))}"
                        for name, (desc, params) in functions.items())
    return Structured(calls[0] if len(calls) == 1 else {"anyOf": calls},
                      "Call one of these functions. Answer with one JSON object "
                      f'{{"name": <function name>, "arguments": {{...}}}}:\n{listing}',
                      tools=list(functions))


def with_instruction(messages: list[dict[str, str]], text: str) -> list[dict[str, str]]:
    """The chat with `text` added to its system message (a new one first if it has none)."""
    if messages and messages[0]["role"] == "system":
        first = messages[0]["content"].rstrip()
        return [{"role": "system", "content": f"{first}\n\n{text}" if first else text},
                *messages[1:]]
    return [{"role": "system", "content": text}, *messages]


class Grammars:
    """One model's compiler: its tokenizer as llguidance sees it, built on first use."""

    def __init__(self, tokenizer, eos_ids: list[int]):
        self._tokenizer, self._eos = tokenizer, eos_ids
        self._ll = None
        self._digits: np.ndarray | None = None  # per token id: how many digits it is (0: not all digits)
        self._closers: tuple[np.ndarray, np.ndarray] | None = None  # see `Constraint.mask`
        self._texts: list[str] = []  # per token id: its vocabulary entry
        self._lock = threading.Lock()  # the event loop and a worker may both ask first

    def _llg_tokenizer(self):
        with self._lock:
            if self._ll is None:
                import llguidance  # ~30 ms; only when a constrained request arrives
                self._ll = llguidance.LLTokenizer(self._tokenizer.to_str(), eos_token=self._eos)
                digits = np.zeros(self._ll.vocab_size, np.int32)
                ends, quotes = np.zeros_like(digits, bool), np.zeros_like(digits, bool)
                texts = [""] * digits.shape[0]
                # byte-level BPE keeps printable ASCII as itself: a token's vocabulary entry
                # holds its digits, quotes and brackets as they decode
                for text, i in self._tokenizer.get_vocab(with_added_tokens=True).items():
                    if i >= digits.shape[0]:
                        continue
                    texts[i] = text
                    if _ALL_DIGITS.fullmatch(text):
                        digits[i] = len(text)
                    opens = "{" in text or "[" in text or "," in text
                    ends[i] = not opens and ("}" in text or "]" in text)
                    quotes[i] = not opens and '"' in text
                self._digits, self._closers, self._texts = digits, (ends, quotes), texts
            return self._ll

    def constraint(self, schema: dict[str, Any], param: str, budget: int) -> "Constraint":
        """A fresh matcher for one sequence; BadRequest naming what llguidance refuses."""
        import llguidance
        try:
            grammar = llguidance.LLMatcher.grammar_from_json_schema(schema, defaults=_COMPILE)
        except ValueError as exc:
            raise BadRequest(f"{param}: {_first_line(exc)}", param=param) from None
        tok = self._llg_tokenizer()
        matcher = llguidance.LLMatcher(tok, grammar, log_level=0)
        if matcher.is_error():
            raise BadRequest(f"{param}: unsupported JSON Schema: "
                             f"{_first_line(matcher.get_error())}", param=param)
        return Constraint(matcher, self._digits, self._closers, self._texts, self._eos[0],
                          budget)


_ALL_DIGITS = re.compile("[0-9]+")


def _first_line(err: Any) -> str:
    return " ".join(str(err).split())[:300]


class Constraint:
    """One sequence's grammar state: masks logits before a pick, follows the token picked."""

    def __init__(self, matcher, digits: np.ndarray, closers, texts: list[str], eos: int,
                 budget: int):
        self.matcher, self.digits, self.closers, self.eos = matcher, digits, closers, eos
        self.texts = texts
        self.in_string = self.escaped = False  # where the answer so far ends
        self.budget = budget  # max_tokens of the answer
        self.bits = np.zeros((digits.shape[0] + 31) // 32, np.int32)
        self.run = 0  # digits in a row at the end of the answer so far
        self.ids: list[int] = []  # the answer's tokens
        self.followers: dict[tuple[int, ...], set[int]] = {}  # (NO_REPEAT-1) tokens -> next ones seen

    def mask(self, logits: np.ndarray) -> np.ndarray:
        """`logits` with every token the grammar forbids at -inf (in place)."""
        m = self.matcher
        n = logits.shape[0]
        if m.is_error() or m.is_stopped():
            allowed = None  # nothing more may follow: only the end of the answer
        else:
            m.unsafe_compute_mask_ptr(self.bits.ctypes.data, self.bits.nbytes)
            allowed = np.unpackbits(self.bits.view(np.uint8), bitorder="little")[:n] != 0
            if self.run >= MAX_DIGITS:
                fewer = allowed & (self.digits[:n] == 0)
                allowed = fewer if fewer.any() else allowed
            banned = self.followers.get(tuple(self.ids[1 - NO_REPEAT:]))
            if banned:
                fewer = allowed.copy()
                fewer[[t for t in banned if t < n]] = False
                allowed = fewer if fewer.any() else allowed
            if self.budget >= 4 * CLOSE_WITHIN and self.budget - len(self.ids) <= CLOSE_WITHIN:
                # in a string a closing quote (a bracket there is just a character); else a
                # closing bracket, else a token that is not a digit (that ends a number)
                ends, quotes = self.closers
                order = (quotes,) if self.in_string else (ends, self.digits == 0)
                for closing in order:
                    fewer = allowed & closing[:n]
                    if fewer.any():
                        allowed = fewer
                        break
        if allowed is None or not allowed.any():
            logits[:] = -np.inf
            logits[self.eos] = 0.0
            return logits
        logits[~allowed] = -np.inf
        return logits

    def accept(self, token: int) -> None:
        if not self.matcher.is_stopped():
            self.matcher.consume_token(token)
        d = int(self.digits[token]) if token < self.digits.shape[0] else 0
        self.run = self.run + d if d else 0
        self.ids.append(token)
        for ch in self.texts[token] if token < len(self.texts) else "":
            if self.escaped:
                self.escaped = False
            elif self.in_string and ch == "\\":
                self.escaped = True
            elif ch == '"':
                self.in_string = not self.in_string
        if len(self.ids) >= NO_REPEAT:
            self.followers.setdefault(tuple(self.ids[-NO_REPEAT:-1]), set()).add(token)


_CALL_HEAD = re.compile(r'\{"name":("(?:[^"\\]|\\.)*"),"arguments":')


def _split_call(text: str) -> tuple[str, str] | None:
    """``(name, arguments)`` of a whole generated call, None if it does not parse."""
    try:
        call = json.loads(text)
    except ValueError:
        return None
    if not isinstance(call, dict) or "name" not in call:
        return None
    return call["name"], json.dumps(call.get("arguments", {}), ensure_ascii=False,
                                    separators=(",", ":"))


class ToolCallReply:
    """Turns a generated ``{"name": ..., "arguments": ...}`` into OpenAI ``tool_calls``
    (the host applies it to what the model plugin or the batcher answered: `REPLY_SHAPE`)."""

    def __init__(self):
        self.call_id = "call_" + streaming.new_id("")[1:]

    def body(self, body: dict[str, Any]) -> dict[str, Any]:
        choice = body["choices"][0]
        message = choice["message"]
        if choice.get("finish_reason") != "stop":
            return body  # cut short: the partial text as content, finish_reason "length"
        split = _split_call(message.get("content") or "")
        if split is None:  # the grammar guarantees it: reaching here is a bug, not bad input
            raise ClawhostError("the local model's constrained tool call did not parse")
        message["content"] = None
        message["tool_calls"] = [self._call(*split)]
        choice["finish_reason"] = "tool_calls"
        return body

    def _call(self, name: str, arguments: str) -> dict[str, Any]:
        return {"id": self.call_id, "type": "function",
                "function": {"name": name, "arguments": arguments}}

    async def chunks(self, chunks: AsyncIterator[dict]) -> AsyncIterator[dict]:
        """Content deltas become the call's name, then its arguments as they decode; the
        call's closing brace is held back and dropped."""
        text, sent, head = "", 0, None  # sent: characters of `text` handed out as arguments
        async for chunk in chunks:
            choices = chunk.get("choices") or []
            if not choices:  # the usage chunk
                yield chunk
                continue
            delta = choices[0].setdefault("delta", {})
            finish = choices[0].get("finish_reason")
            text += delta.pop("content", None) or ""
            out: list[dict] = []
            if head is None and (m := _CALL_HEAD.match(text)):
                head, sent = m.end(), m.end()
                out.append({"index": 0, "id": self.call_id, "type": "function",
                            "function": {"name": json.loads(m.group(1)), "arguments": ""}})
            if head is not None:
                upto = len(text) if finish == "length" else max(sent, len(text) - 1)
                if finish == "stop":
                    upto = len(text.rstrip()) - 1  # drop the call's "}"
                if upto > sent:
                    out.append({"index": 0, "function": {"arguments": text[sent:upto]}})
                    sent = upto
            elif finish is not None and text:  # cut before the name was whole: say what came
                delta["content"] = text
            if out:
                delta["tool_calls"] = out
            if finish == "stop" and head is not None:
                choices[0]["finish_reason"] = "tool_calls"
            if delta or finish is not None:
                yield chunk
