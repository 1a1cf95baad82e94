"""Two clauses that keep what each says but trade their doers: "I paid 340 for the Airbnb and
my friend paid 120 for the car" / "I paid 120 for the car and my friend paid 340 for the
Airbnb" (who owes whom turns over). Each text is cut into clauses, each clause read as its doer
and the rest of its words; ``swaps.exchanged`` asks ``doers_traded`` beside its other
exchanges. The same clauses in another order keep their doers and are no exchange.
"""

from __future__ import annotations

from collections import Counter

from .question import Text
from .word_match import match_stem
from .wordlists import PERSON, STOP

_JOINS = frozenset({"and", "but", "while", "whereas"})
_OWNERS = frozenset("my your his her our their the".split())
_ALIKE = 0.6  # share of two clauses' other words in common for them to say the same
_MIN_SAID = 2  # content words each clause with a doer needs


def _clauses(t: Text) -> list[tuple[str | None, frozenset[str]]]:
    """Each clause of ``t`` (cut at "and"/"but"/"while" and at clause ends): its doer (a
    subject pronoun's person, or the noun after "my"/"the" that opens it) and the stems of
    its other content words."""
    parts: list[list[str]] = [[]]
    for k, x in enumerate(t.words):
        if x in _JOINS:
            parts.append([])
            continue
        parts[-1].append(x)
        if k in t.breaks:
            parts.append([])
    return [_doer_and_rest(p) for p in parts if p]


def _doer_and_rest(part: list[str]) -> tuple[str | None, frozenset[str]]:
    doer, rest = None, part
    if len(part) > 2 and part[0] in _OWNERS and part[1] not in STOP and part[2] not in STOP:
        # "[my friend] paid": not "my" as the asker; "the time [of] the interview" names
        # a thing asked for, no doer
        doer, rest = part[1], part[2:]
    elif part[0] in PERSON:
        doer, rest = PERSON[part[0]], part[1:]
    return doer, frozenset(match_stem(x) for x in rest if x not in STOP)


def doers_traded(a: Text, b: Text) -> bool:
    """The same doers in both texts, and a clause of ``a`` whose words are most like a clause
    of ``b`` with the other doer."""
    ca, cb = _clauses(a), _clauses(b)
    doers_a, doers_b = [d for d, _ in ca if d], [d for d, _ in cb if d]
    if len(doers_a) < 2 or Counter(doers_a) != Counter(doers_b):
        return False
    if any(d and len(words) < _MIN_SAID for d, words in ca + cb):
        return False  # a clause that says little of its own leans on the other: "but my
        # phone will" is "my phone will connect"
    for doer, words in ca:
        if doer is None or not words:
            continue
        best = max(cb, key=lambda c: len(words & c[1]) / len(words | c[1]))
        if best[0] is not None and best[0] != doer and \
                len(words & best[1]) / len(words | best[1]) >= _ALIKE:
            return True
    return False
