"""Chat template rendering without a template engine for the common ChatML case.

SmolLM2 (and Qwen, Hermes ...) use ChatML: ``<|im_start|>{role}\\n{content}<|im_end|>\\n`` per
message, a default system message when none is given, and ``<|im_start|>assistant\\n`` to
prompt the answer. That is rendered natively (no jinja2 needed at serve time). Any other
template is rendered with jinja2's sandbox when jinja2 is installed, else refused clearly.
"""
from __future__ import annotations

import re
from typing import Any

_DEFAULT_SYSTEM = re.compile(r"<\|im_start\|>system\\n(.*?)<\|im_end\|>", re.S)


class TemplateError(ValueError):
    """The chat template cannot be rendered here."""


class ChatTemplate:
    def __init__(self, template: str | None):
        self.source = template or ""
        self.chatml = (not template) or ("<|im_start|>" in template and "<|im_end|>" in template)
        self.default_system: str | None = None
        if template and self.chatml:
            m = _DEFAULT_SYSTEM.search(template.replace("\n", "\\n"))
            if m and "messages[0]['role'] != 'system'" in template.replace('"', "'"):
                self.default_system = m.group(1).replace("\\n", "\n")

    def render(self, messages: list[dict[str, Any]], add_generation_prompt: bool = True) -> str:
        """Render `messages` ({"role", "content"} dicts) to the prompt text."""
        for m in messages:
            if m.get("role") not in ("system", "user", "assistant", "tool"):
                raise TemplateError(f"unknown message role {m.get('role')!r}")
        if self.chatml:
            return self._chatml(messages, add_generation_prompt)
        return self._jinja(messages, add_generation_prompt)

    def _chatml(self, messages: list[dict], add_generation_prompt: bool) -> str:
        parts = []
        if self.default_system and (not messages or messages[0]["role"] != "system"):
            parts.append(f"<|im_start|>system\n{self.default_system}<|im_end|>\n")
        for m in messages:
            parts.append(f"<|im_start|>{m['role']}\n{_text(m.get('content'))}<|im_end|>\n")
        if add_generation_prompt:
            parts.append("<|im_start|>assistant\n")
        return "".join(parts)

    def _jinja(self, messages: list[dict], add_generation_prompt: bool) -> str:
        try:
            from jinja2.sandbox import ImmutableSandboxedEnvironment
        except ImportError:
            raise TemplateError("this model's chat template is not ChatML and needs jinja2 "
                                "(pip install jinja2)") from None
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        msgs = [{**m, "content": _text(m.get("content"))} for m in messages]
        return env.from_string(self.source).render(messages=msgs,
                                                   add_generation_prompt=add_generation_prompt)


def _text(content: Any) -> str:
    """OpenAI content may be a string or a list of parts; keep the text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content if isinstance(p, dict))
