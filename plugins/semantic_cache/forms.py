"""One request written as a question and as a command: "How do I reverse a string in Go?" /
"Reverse a string in Go.", "Who were the six wives of Henry VIII?" / "Name the six wives of
Henry VIII". ``contrast`` asks this of two texts with the same words in another form, which
otherwise go to the learned verifier.
"""

from __future__ import annotations

from .question import Text
from .word_match import stem
from .wordlists import AUX_CLASS, STOP

# "how do I" / "how can I" / "how to": what comes between "how" and the verb of the task.
_HOW_PREFIX = frozenset("do does can could should would i you we one to".split())


def _how_to(q: Text, imp: Text) -> bool:
    """``imp`` is the bare imperative of the task ``q`` asks how to do: "How do I reverse a
    string in Go?" / "Reverse a string in Go." (the same words, checked by the caller). The
    imperative starts with the verb that follows "how do I" in the question, and was not
    written as a yes/no question ("Can you get high off X?" asks whether, not how)."""
    if q.form != frozenset({"how"}) or imp.form != frozenset({""}) or not imp.words or \
            q.words[:1] != ["how"] or imp.lead in AUX_CLASS or imp.lead in STOP:
        return False
    k = 1
    while k < min(len(q.words), 4) and q.words[k] in _HOW_PREFIX:
        k += 1
    return 1 < k < len(q.words) and stem(q.words[k]) == stem(imp.words[0])


# Commands that ask what a question asks, in the same words: "Name the six wives of Henry
# VIII" / "Who were the six wives of Henry VIII?"; "Compare X and Y" / "How do X and Y
# compare?".
_NAMING = frozenset({"name", "list", "identify"})
_COMPARING = frozenset({"compare", "rank", "contrast"})


def _command_of(q: Text, imp: Text) -> bool:
    """``imp`` is a command that asks what the question ``q`` asks (the same words, checked
    by the caller): a naming command for a "who" question, or a comparing command for a
    "how do X compare" question."""
    if imp.form != frozenset({""}):
        return False
    if imp.lead in _NAMING:
        return q.form == frozenset({"who"})
    return imp.lead in _COMPARING and q.form == frozenset({"how"}) and \
        q.words[:2] in (["how", "do"], ["how", "does"]) and imp.lead in q.words[2:]


def one_request_in_two_forms(a: Text, b: Text) -> bool:
    """Either text is the other's question said as a command (the same words, checked by the
    caller)."""
    return _how_to(a, b) or _how_to(b, a) or _command_of(a, b) or _command_of(b, a)
