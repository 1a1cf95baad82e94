"""Clauses that keep what they say but trade their doers: "I paid 340 for the Airbnb and my
friend paid 120 for the car" / "I paid 120 for the car and my friend paid 340 for the Airbnb"
(who owes whom turns over), or "my mother-in-law doesn't like me" / "I don't like my
mother-in-law", or a condition and its act exchanged ("when the door opens, turn on the
light" / "when the light turns on, open the door"). Each text is cut into clauses, each clause
read as its doer and the rest of its words; ``swaps.exchanged`` asks ``doers_traded``,
``asker_turned`` and ``condition_swapped`` beside its other exchanges. The same clauses in
another order keep their doers and are no exchange.
"""

from __future__ import annotations

from collections import Counter

from .question import Text
from .word_match import match_stem
from .wordlists import AUX, CONDITIONS, NEGATIONS, PERSON, STOP

_JOINS = frozenset({"and", "but", "while", "whereas"})
_OWNERS = frozenset("my your his her our their the".split())
_ALIKE = 0.6  # share of two clauses' other words in common for them to say the same
_MIN_SAID = 2  # content words each clause with a doer needs


def _parts(t: Text) -> list[list[str]]:
    """``t``'s words cut into clauses at "and"/"but"/"while" and at clause ends."""
    parts: list[list[str]] = [[]]
    for k, x in enumerate(t.words):
        if x in _JOINS:
            parts.append([])
            continue
        parts[-1].append(x)
        if k in t.breaks:
            parts.append([])
    return [p for p in parts if p]


def _share(x: frozenset[str], y: frozenset[str]) -> float:
    return len(x & y) / len(x | y) if x or y else 0.0


def _alike(x: frozenset[str], y: frozenset[str]) -> bool:
    return _share(x, y) >= _ALIKE


def _doer_and_rest(part: list[str]) -> tuple[str | None, frozenset[str]]:
    """A clause's doer (a subject pronoun's person, or the noun after "my"/"the" that opens
    it) and the stems of its other content words."""
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
    ca, cb = [_doer_and_rest(p) for p in _parts(a)], [_doer_and_rest(p) for p in _parts(b)]
    doers_a, doers_b = [d for d, _ in ca if d], [d for d, _ in cb if d]
    if len(doers_a) < 2 or Counter(doers_a) != Counter(doers_b):
        return False
    if any(d and len(words) < _MIN_SAID for d, words in ca + cb):
        return False  # a clause that says little of its own leans on the other: "but my
        # phone will" is "my phone will connect"
    for doer, words in ca:
        if doer is None or not words:
            continue
        best = max(cb, key=lambda c: _share(words, c[1]))
        if best[0] is not None and best[0] != doer and _alike(words, best[1]):
            return True
    return False


# Words that open a clause of its own: "why does my partner get annoyed [when] I'm stressed".
_SUBORDINATE = frozenset("when whenever if because after before since until unless".split())
_OPENING = frozenset("why how what when where who which".split())


def _clauses(t: Text) -> list[list[str]]:
    """``t``'s words cut at joins, subordinating words and clause ends."""
    parts: list[list[str]] = [[]]
    for k, x in enumerate(t.words):
        if x in _JOINS or x in _SUBORDINATE:
            parts.append([])
            continue
        parts[-1].append(x)
        if k in t.breaks:
            parts.append([])
    return parts


def _opening_doer(part: list[str]) -> tuple[str, list[str]] | None:
    """The doer that opens a clause past its question word and auxiliaries ("why does [my
    partner] get", "[I]'m stressed"), and the clause's words after it."""
    while part and (part[0] in _OPENING or part[0] in AUX):
        part = part[1:]
    if len(part) > 1 and part[0] in _OWNERS and part[1] not in STOP and part[2:3] != ["of"]:
        return part[1], part[2:]
    if part and part[0] in _SUBJECTS:
        return PERSON[part[0]], part[1:]
    return None


def _party_clauses(t: Text) -> list[tuple[str, frozenset[str]]]:
    """Each clause's doer and other content stems, where it has both."""
    out = []
    for part in _clauses(t):
        if (opened := _opening_doer(part)) is not None:
            said = frozenset(match_stem(x) for x in opened[1] if x not in STOP)
            if said:
                out.append((opened[0], said))
    return out


_SUBJECTS = frozenset("i we he she they".split())


def negated_party_moved(a: Text, b: Text) -> bool:
    """The same words, the negation in the clause of another doer: "my wife is vegan and I'm
    not" / "I'm vegan and my wife is not"."""
    if Counter(a.words) != Counter(b.words) or \
            not _two_parties(_party_clauses(a), _party_clauses(b)):
        return False
    na, nb = _negated_doers(a), _negated_doers(b)
    return bool(na and nb and na != nb)


def _negated_doers(t: Text) -> frozenset[str]:
    return frozenset(opened[0] for part in _clauses(t) if NEGATIONS.intersection(part)
                     and (opened := _opening_doer(part)) is not None)


# A third person's pronoun may stand for the party the other text names ("if my son misses
# the bus, can [he] ..." / "can my son ..., if [he] misses the bus"): no other party.
_STANDS_FOR = frozenset({PERSON["he"], PERSON["she"], PERSON["they"]})


def _two_parties(ca: list[tuple[str, frozenset[str]]], cb: list[tuple[str, frozenset[str]]]
                 ) -> bool:
    """Both texts open two or more clauses with the same doers, none of them a pronoun that
    may stand for another."""
    doers = Counter(d for d, _ in ca)
    return len(ca) >= 2 and doers == Counter(d for d, _ in cb) and not _STANDS_FOR & set(doers)


def parties_exchanged(a: Text, b: Text) -> bool:
    """Two parties trade the clauses they do: "why does my partner get annoyed when I'm
    stressed" / "why do I get annoyed when my partner is stressed"."""
    ca, cb = _party_clauses(a), _party_clauses(b)
    return _two_parties(ca, cb) and any(rest == rest_b and doer != doer_b
                                        for doer, rest in ca for doer_b, rest_b in cb)


_ASKER = frozenset({"i", "me"})


def _asker_first(t: Text) -> dict[str, tuple[str, bool]]:
    """For each thing "my" names in a clause with one "I" or "me", either opening it: that
    word, and whether it comes first ("[I] don't like my mother-in-law": the asker does it)."""
    out = {}
    for part in _parts(t):
        asker = [j for j, x in enumerate(part) if x in _ASKER]
        for k, x in enumerate(part[:-1]):
            # the clause opens with one of the two: its doer ("[my boss] owes me", "[I] owe
            # my boss"), not "how do I get my brother to ..."
            if x == "my" and part[k + 1] not in STOP and len(asker) == 1 and \
                    0 in (k, asker[0]):
                out[part[k + 1]] = (part[asker[0]], asker[0] < k)
    return out


def asker_turned(a: Text, b: Text) -> bool:
    """In one clause the asker does to a thing of theirs what, in the other text, it does to
    them, "I" and "me" trading places with it: "my mother-in-law doesn't like me" / "I don't
    like my mother-in-law", "my best friend has a crush on me" / "I have a crush on my best
    friend". A clause that names the asker twice ("ask my friend to pay me back") or as the
    same word on both sides (a clause moved: "on my statement there's a charge I don't
    recognise") is left alone."""
    fa, fb = _asker_first(a), _asker_first(b)
    return any(fa[n][0] != fb[n][0] and fa[n][1] != fb[n][1] for n in fa.keys() & fb.keys())


def _condition_and_rest(t: Text) -> tuple[frozenset[str], frozenset[str]] | None:
    """The content stems of ``t``'s one condition (from a condition word to the clause's
    end) and of the rest; None without exactly one."""
    w, starts = t.words, [k for k, x in enumerate(t.words) if x in CONDITIONS]
    if len(starts) != 1:
        return None
    k = starts[0]
    end = next((j for j in sorted(t.breaks) if j >= k), len(w) - 1)
    cond = {match_stem(x) for x in w[k + 1:end + 1] if x not in STOP}
    rest = {match_stem(x) for x in w[:k] + w[end + 1:] if x not in STOP}
    return (frozenset(cond), frozenset(rest)) if cond and rest else None


def condition_swapped(a: Text, b: Text) -> bool:
    """What one text waits for, the other does, and the other way round: "when the back door
    opens, turn on the garden light" / "when the garden light turns on, open the back door".
    The same condition put after its act ("turn on the light when the door opens") keeps it."""
    ca, cb = _condition_and_rest(a), _condition_and_rest(b)
    return ca is not None and cb is not None and not _alike(ca[0], cb[0]) and \
        _alike(ca[0], cb[1]) and _alike(ca[1], cb[0])
