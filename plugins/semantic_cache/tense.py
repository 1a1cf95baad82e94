"""A question asked of the past against the same question asked of the future: "who won the
Ballon d'Or" / "who will win the Ballon d'Or", "when did the store open" / "when will the store
open". The stemmer folds "hosted" into "host" and the words are otherwise the same, so without
this ``contrast`` reads the pair as one question reworded.
"""

from __future__ import annotations

from collections import Counter

from .question import Text
from .roles import DETERMINERS
from .word_match import match_stem
from .wordlists import IRREGULAR_VERBS

_FUTURE = frozenset({"will", "shall", "gonna"})  # "who'll" is read as "who will"
_PAST_AUX = frozenset({"did", "was", "were"})


def _future(t: Text, extra: Counter) -> bool:
    """``t`` has a future marker the other text lacks: "will"/"shall" as an auxiliary,
    "gonna", or "going to" before a verb."""
    w = t.words
    # "a will", "my will": the document, not the future
    if any(x in _FUTURE and not (k and w[k - 1] in DETERMINERS)
           for k, x in enumerate(w) if extra[x] > 0):
        return True
    return extra["going"] > 0 and any(x == "going" and w[k + 1:k + 2] == ["to"]
                                      for k, x in enumerate(w))


def _past(extra: Counter, other_extra: Counter) -> bool:
    """``extra`` (words one text has over the other) puts the act in the past: "did",
    "was", "were", or a past form whose verb the other text has in its place ("won" /
    "win", "hosted" / "host")."""
    if _PAST_AUX & extra.keys():
        return True
    bases = {match_stem(x) for x in other_extra}
    return any((x in IRREGULAR_VERBS or x.endswith("ed")) and match_stem(x) in bases
               for x in extra)


# "what will you do if…" / "what would you do if…" supposes, in either tense
_SUPPOSING = frozenset({"would", "could", "might", "should"})


def tense_turned(a: Text, b: Text) -> bool:
    """One text asks of the future ("will", "going to") what the other, with no future
    marker of its own and nothing supposed, asks of the past ("did", "was", a past form of
    the same verb), the other words alike."""
    ca, cb = Counter(a.words), Counter(b.words)
    extra_a, extra_b = ca - cb, cb - ca
    for fut, past, extra_f, extra_p in ((a, b, extra_a, extra_b), (b, a, extra_b, extra_a)):
        if _future(fut, extra_f) and not _FUTURE & set(past.words) and \
                not _SUPPOSING & extra_p.keys() and _past(extra_p, extra_f):
            return True
    return False
