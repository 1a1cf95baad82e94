"""Where the words that carry a question's polarity moved or traded places among otherwise
the same words: a negation in the other clause ("why can I hear them but they can't hear me"
/ "why can't I hear them but they can hear me"), two opposites exchanged ("thin a soup that's
too thick" / "thicken a soup that's too thin"), or opposites standing where their partners
stood ("buys more from China than it sells to China" / "sells more to China …"). ``contrast``
asks these of texts whose words are otherwise matched.
"""
from __future__ import annotations

from .question import Text
from .roles import SYMMETRIC
from .word_match import opposite
from .wordlists import AUX, NEGATIONS, STOP


def _opposite_pairs(t: Text) -> list[tuple[str, str]]:
    """Each two words of ``t`` that are opposites, in order, not joined by "and"/"or"/"vs"."""
    w = t.words
    return [(w[i], w[j]) for i in range(len(w)) for j in range(i + 1, len(w))
            if opposite(w[i], w[j]) and not SYMMETRIC & set(w[i + 1:j])]


def opposites_exchanged(a: Text, b: Text) -> bool:
    """Two opposites that changed places, each turned into its opposite: "how to thin out a
    soup that's too thick" / "how to thicken a soup that's too thin". "Too hot or too cold" /
    "too cold or too hot" is one question."""
    return any(opposite(p, r) and opposite(q, s)
               for p, q in _opposite_pairs(a) for r, s in _opposite_pairs(b))


def opposites_traded_in_place(a: Text, b: Text) -> bool:
    """Word for word the same text but for opposites standing where their partners stood,
    two content words among them: "[buys] more [from] China than it [sells] [to] China" /
    "[sells] more [to] China than it [buys] [from] China". A clause moved to the other end
    ("If the tenant leaves, can the landlord keep …" / "Can the landlord keep … if the
    tenant leaves") moves its words along: nothing stands in place."""
    if len(a.words) != len(b.words):
        return False
    apart = [k for k, (x, y) in enumerate(zip(a.words, b.words)) if x != y]
    acts = [k for k in apart if a.words[k] not in STOP]
    # small words may trade too ("from"/"to"), the rest must be opposites, two of them not
    # joined by "or"/"and" ("making us dumber or smarter" / "smarter or dumber")
    return len(acts) >= 2 and \
        sorted(a.words[k] for k in apart) == sorted(b.words[k] for k in apart) and \
        all(opposite(a.words[k], b.words[k]) or a.words[k] in STOP and b.words[k] in STOP
            for k in apart) and not SYMMETRIC & set(a.words[acts[0] + 1:acts[-1]])


_CLAUSE_JOINS = frozenset("but and or while whereas although though if when because".split())


def negation_moved(a: Text, b: Text) -> bool:
    """The same words in the same order, with a negation moved past another auxiliary or
    clause: "why can I hear them but they can't hear me" / "why can't I hear them but they
    can hear me". Within one clause it is the same question: "why doesn't my laptop charge"
    / "why does my laptop not charge"."""
    at_a = [k for k, w in enumerate(a.words) if w in NEGATIONS]
    at_b = [k for k, w in enumerate(b.words) if w in NEGATIONS]
    if not at_a or len(at_a) != len(at_b):
        return False
    others = [w for w in a.words if w not in NEGATIONS]
    if others == [w for w in b.words if w not in NEGATIONS]:
        for i, (x, y) in enumerate(zip(at_a, at_b)):
            lo, hi = sorted((x - i, y - i))  # places among the other words
            if any(w in AUX or w in _CLAUSE_JOINS for w in others[lo:hi]):
                return True
        return False
    # The second clause may leave its auxiliary out: "why can it ping X but [not] resolve Y"
    # / "why [can't] it ping X but can resolve Y". Without auxiliaries, the words are the
    # same and the negation sits in the other clause.
    plain_a, plain_b = _without_aux(a.words), _without_aux(b.words)
    if [w for w in plain_a if w not in NEGATIONS] != [w for w in plain_b if w not in NEGATIONS]:
        return False
    places_a, places_b = _negation_places(plain_a), _negation_places(plain_b)
    rest = [w for w in plain_a if w not in NEGATIONS]
    return any(_CLAUSE_JOINS.intersection(rest[min(x, y):max(x, y)])
               for x, y in zip(places_a, places_b))


def _without_aux(words: list[str]) -> list[str]:
    return [w for w in words if w not in AUX]


def _negation_places(words: list[str]) -> list[int]:
    """For each negation, how many other words come before it."""
    out, seen = [], 0
    for w in words:
        if w in NEGATIONS:
            out.append(seen)
        else:
            seen += 1
    return out
