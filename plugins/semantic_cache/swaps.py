"""Two questions that hold the same words with two things exchanged: "from London to Paris"
/ "from Paris to London", "takes X and returns Y" / "takes Y and returns X", "Acme owes us"
/ "we owe Acme", "Fahrenheit in Celsius" / "Celsius in Fahrenheit". ``contrast`` asks these
once the two texts are aligned; a reordering ("in Python, how do I X" / "how do I X in
Python") and a symmetric join ("X or Y" / "Y or X") are no exchange.
"""

from __future__ import annotations

import re

from .question import Text, parse
from .roles import (AUX, BE, DETERMINERS, GENERIC, SYMMETRIC, doer_turned_party,
                    doers_exchanged, object_changed, owner_changed, pronouns_exchanged)
from .word_match import stem
from .wordlists import PERSON, STOP

_SPAN_REACH = 3  # shared words at either end of the differing stretch a moved span may take
_UNIT_REACH = 4  # words from one unit to the other for the two to be one conversion


# Words that change with the other thing put first: articles, and auxiliaries agreeing with
# their subject ("does X reduce Y" / "do Ys reduce X").
_AGREEING = {"does": "do", "has": "have", "is": "are", "was": "were"}
_ARTICLES = frozenset({"a", "an", "the"})
_THIRD_POSSESSIVE = frozenset("his her their its".split())
# Function words that carry a direction of their own: exchanged, they swap roles ("the car
# going [down] yields to the car going [up]").
_PARTICLES = frozenset("up down in out on off over under above below inside outside".split())


def _role_view(t: Text) -> tuple[list[str], frozenset[int]]:
    """``t``'s words without articles, with each pronoun as its person, an auxiliary in one
    number, and each other content word as its stem, and its clause breaks at their places
    there: "Acme owes us" / "we owe Acme", "can a subtenant sue the tenant" / "can the tenant
    sue the subtenant", "exchange my store credit for a gift card" / "… my gift card for
    store credit" and "does rifampicin reduce the pill" / "do pills reduce rifampicin" then
    hold the same words in exchanged places."""
    words: list[str] = []
    breaks = set()
    for k, w in enumerate(t.words):
        # a third person's possessive points back at a party already named, like an article:
        # "does a mother cat recognize [her] kittens" / "do kittens recognize [their] mother"
        owner = w in _THIRD_POSSESSIVE and t.words[k + 1:k + 2] and t.words[k + 1] not in STOP
        if w not in _ARTICLES and not owner:
            words.append(PERSON.get(w) or _AGREEING.get(w) or (w if w in STOP else stem(w)))
        if k in t.breaks and words:
            breaks.add(len(words) - 1)
    return words, frozenset(breaks)


def _letter_names(words: list[str]) -> frozenset[str]:
    """Single letters that name a thing: after a word and before a function word or the
    end ("in branch a but not in branch b", "plan b"); an article comes before its noun."""
    return frozenset(w for k, w in enumerate(words) if len(w) == 1 and w.isalpha() and k and
                     words[k - 1] not in STOP and (k + 1 == len(words) or words[k + 1] in STOP))




def units_exchanged(a: Text, b: Text) -> bool:
    """The same units or languages, two of them in the other order, close together and not
    joined by "and"/"or"/"vs": "Fahrenheit in Celsius" / "Celsius in Fahrenheit", "Python
    to Rust" / "Rust to Python". "Python vs Rust" / "Rust vs Python" asks the same; two
    units far apart in a reordered text ("monthly ... at 300 dpi") are no conversion."""
    if a.units == b.units or sorted(a.units) != sorted(b.units):
        return False
    ta, tb = _target_unit(a), _target_unit(b)
    if ta and ta == tb:
        return False  # "In Fahrenheit, what is 25°C" / "What is 25°C in Fahrenheit"
    at = {w: k for k, w in reversed(list(enumerate(a.words)))}
    order_b = {w: k for k, w in reversed(list(enumerate(b.units)))}
    for i, x in enumerate(a.units):
        for y in a.units[i + 1:]:
            if x == y or order_b[x] < order_b[y]:
                continue
            lo, hi = sorted((at[x], at[y]))
            if hi - lo <= _UNIT_REACH and not SYMMETRIC & set(a.words[lo + 1:hi]):
                return True
    return False


def _target_unit(t: Text) -> str | None:
    """The unit asked for: after "how many"/"how much" ("how many cups in a liter"), else
    after "in"/"to"/"into" ("25°C in Fahrenheit")."""
    w = t.words
    for k in range(len(w) - 2):
        if w[k] == "how" and w[k + 1] in ("many", "much") and w[k + 2] in t.units:
            return w[k + 2]
    return next((w[k + 1] for k in range(len(w) - 1)
                 if w[k] in ("in", "to", "into") and w[k + 1] in t.units), None)


def _joins_symmetrically(mid: list[str], before: list[str], after: list[str]) -> bool:
    """``mid`` joins two exchanged spans with "and", "or" or "vs": "X and Y" says what "Y
    and X" says. Content words beside the joining word must be the conjuncts' shared head
    or tail ("brown [rice or white] rice"); "takes X and returns Y" is no such join."""
    k = next((i for i, w in enumerate(mid) if w in SYMMETRIC), None)
    if k is None:
        return False
    head = [w for w in mid[:k] if w not in STOP]
    tail = [w for w in mid[k + 1:] if w not in STOP]
    after_c = [w for w in after if w not in STOP]
    before_c = [w for w in before if w not in STOP]
    # a shared tail repeats its small words too: "breathe [in] oxygen and breathe [out] CO2"
    # gives each conjunct its own role
    whole_tail = mid[k + 1:]
    if tail and before[len(before) - len(whole_tail):] != whole_tail:
        return False
    # so do small words of their own before the second conjunct: "fly [into] Orlando and [out
    # of] Miami" (not "from Paris and from Rome", nor "to Paris and Rome")
    if whole_tail and not tail and before[len(before) - len(whole_tail):] != whole_tail:
        return False
    return head == after_c[:len(head)] and (not tail or tail == before_c[-len(tail):])


def _swapped_around(wa: list[str], wb: list[str], names: frozenset[str] = frozenset(),
                    breaks_a: frozenset[int] = frozenset(),
                    breaks_b: frozenset[int] = frozenset()) -> bool:
    """``wb`` is ``wa`` with two spans exchanged around a middle that stays: "London ahead of
    New York" / "New York ahead of London", "does X affect Y" / "does Y affect X"; the same
    words in the same places otherwise. Two spans exchanged with nothing between them are a
    reordering ("in Python, how do I X" / "how do I X in Python"), and a middle with "and",
    "or" or "vs" joins the two symmetrically ("brown rice or white rice"); neither is a swap."""
    if len(wa) != len(wb) or wa == wb or sorted(wa) != sorted(wb):
        return False
    i = next(k for k, (x, y) in enumerate(zip(wa, wb)) if x != y)
    j = next(k for k in range(len(wa) - 1, -1, -1) if wa[k] != wb[k])
    # A reordering: one stretch of ``wa`` moved in front of the one before it. The stretch
    # may take in a few shared content words ("the derivative of ln x with respect to x"),
    # but not a shared article or preposition: in "is a square a rectangle" / "is a
    # rectangle a square" the "a" belongs to the two names exchanged around "is".
    lo = i
    while lo > max(0, i - _SPAN_REACH) and wa[lo - 1] not in STOP:
        lo -= 1
    hi = j + 1
    while hi < min(len(wa), j + 1 + _SPAN_REACH) and wa[hi] not in STOP:
        hi += 1
    for p in range(lo, i + 1):
        for r in range(j + 1, hi + 1):
            if any(wa[q] == wb[p] and wb[p:r] == wa[q:r] + wa[p:q] for q in range(p + 1, r)):
                return False
    x, y, n = wa[i:j + 1], wb[i:j + 1], j + 1 - i
    # Clauses moved to or from an end of the text around a comma or colon are a reordering
    # ("In chess, can a pawn X if Y?" / "If Y, can a pawn X in chess?"), not two names
    # exchanged; two phrases exchanged inside it, between clauses that stay ("a recipe from
    # [Denver], and I live [at sea level]"), are a swap.
    # A clause is moved only when one of the spans is a whole clause on one side: "[8pm in]
    # Sydney, what time is it in London" / "... London, ... Sydney" exchanges two names
    # between clauses that stay.
    at_edge = i == 0 or j == len(wa) - 1

    def whole(lo: int, hi: int, breaks: frozenset[int]) -> bool:
        return (lo == 0 or lo - 1 in breaks) and (hi == len(wa) - 1 or hi in breaks)

    for lx in range(1, n):
        for ly in range(1, n - lx):
            if at_edge and (whole(i, i + lx - 1, breaks_a) or whole(j - ly + 1, j, breaks_a)
                            or whole(i, i + ly - 1, breaks_b) or whole(j - lx + 1, j, breaks_b)):
                continue
            mid = x[lx:n - ly]
            if y == x[n - ly:] + mid + x[:lx] and \
                    not _joins_symmetrically(mid, wa[:i], wa[j + 1:]) and \
                    not _wh_phrase(x[:lx]) and not _wh_phrase(x[n - ly:]) and \
                    not (len(mid) == 1 and mid[0] in _COPULA and
                         (_asks(x[:lx]) or _asks(x[n - ly:]))) and \
                    any(w not in STOP or w in names or w in _PARTICLES for w in x[:lx]) and \
                    any(w not in STOP or w in names or w in _PARTICLES for w in x[n - ly:]):
                return True
    return False


# Question words whose answer is a doer or a thing done to: "who beat X" / "who did X beat".
_ROLE_WH = frozenset("who whom which what".split())
_MAX_MOVED = 4  # content words of the thing that changes sides of the verb
# Prepositions a question word's phrase may carry to the front: "in which country is X" /
# "X is in which country", "to whom did you write" / "you wrote to whom".
_FRONTED_WITH = frozenset("in at on to from for with by of".split())


def _asks(span: list[str]) -> bool:
    """``span`` is a question's own phrase: "how many cups", "which country", "who". Moved
    across "is" it asks the same: "how many cups is a liter" / "a liter is how many cups"."""
    return bool(span) and (span[0] in _ROLE_WH | {"where", "when", "how"})


def _wh_phrase(span: list[str]) -> bool:
    """``span`` is a preposition and a question word: a question's own phrase, which moves
    to the front without changing its role."""
    return len(span) >= 2 and span[0] in _FRONTED_WITH and span[1] in _ROLE_WH | {"where"}


def alternatives(words: list[str], x: str, y: str) -> bool:
    """``x`` and ``y`` are two choices joined by "or", "and" or "vs" within a few words:
    "to [fly] or [take] the train" / "to [take] the train or [fly]"."""
    at = {w: [k for k, v in enumerate(words) if v == w] for w in (x, y)}
    return any(0 < abs(p - q) <= 4 and
               any(w in SYMMETRIC for w in words[min(p, q) + 1:max(p, q)])
               for p in at[x] for q in at[y])


def _content_at(words: list[str]) -> list[tuple[int, str]]:
    return [(k, stem(w)) for k, w in enumerate(words) if w not in STOP]


def _after_wh(words: list[str], upto: int) -> str | None:
    """If ``words[:upto]`` is a question word, up to three words of its noun ("which Greek
    god", "which Premier League club"), then at most an auxiliary and determiners: that
    auxiliary ("" for none)."""
    wh = next((k for k in range(upto) if words[k] in _ROLE_WH), None)
    if wh is None:
        return None
    rest = words[wh + 1:upto]
    k = 0
    while k < min(3, len(rest)) and rest[k] not in STOP:
        k += 1  # the question word's noun
    aux = ""
    if k < len(rest) and rest[k] in AUX:
        aux, k = rest[k], k + 1
    return aux if all(w in DETERMINERS for w in rest[k:]) else None


# Prepositions a passive question leaves at its end for its question word: "which team was
# X traded [to]", "who was the letter sent [to]". Not "by": "who was X written by" asks
# for the doer, as "who wrote X" does.
_STRANDABLE = frozenset("to from with for into onto".split())


def _stranded(t: Text) -> tuple[bool, str] | None:
    """For a question led by "who"/"which"/"what": whether it is passive ("was X <verb>ed"
    before the preposition), and the preposition it leaves stranded (followed by nothing, a
    clause end or another preposition; "" if none), whose object the question word is.
    None for other texts."""
    w = t.words
    if not w or w[0] not in _ROLE_WH:
        return None
    at = next((k for k, x in enumerate(w[3:], 3) if x in _STRANDABLE and (
        k + 1 == len(w) or k in t.breaks or w[k + 1] in _FRONTED_WITH)), None)
    be = any(x in BE for x in w[1:4])
    return (be, "") if at is None else (be and _participle(w[:at]), w[at])


_PARTICLES = frozenset("over up out back off away down".split())
_IRREGULAR = frozenset("sent sold told built bought brought lent lost paid taught left made "
                       "held kept won".split())


def _participle(words: list[str]) -> bool:
    """``words`` end in a past participle, particles aside ("handed over", "sold"): "what
    is a DNS server for" strands "for" after no act."""
    k = len(words) - 1
    while k > 0 and words[k] in _PARTICLES:
        k -= 1
    return words[k].endswith(("ed", "en", "wn")) or words[k] in _IRREGULAR


def _recipient_asked(a: Text, b: Text) -> bool:
    """One question asks who was on the receiving end of an act ("which team was Gretzky
    traded to"), the other, active and with nothing stranded, who did it ("which team
    traded Gretzky"). "What can I use Java for" / "what is Java used for" strands both."""
    sa, sb = _stranded(a), _stranded(b)
    if sa is None or sb is None or a.words[0] != b.words[0]:
        return False
    return any(p[0] and p[1] and not q[0] and not q[1] for p, q in ((sa, sb), (sb, sa)))


def _object_stranded(a: Text, b: Text) -> bool:
    """One side gives a preposition its object ("which teams owe credits [to the platform
    team]"), the other leaves it stranded at the end with that object put before the verb
    as its subject ("which teams [the platform team] owes credits [to]"): the roles turned.
    "To whom do I send it" / "who do I send it to" names no object either way."""
    for t, other in ((a, b), (b, a)):
        w, o = t.words, other.words
        if len(w) < 3 or w[-1] not in _STRANDABLE or o[-1:] == w[-1:] or w[-1] not in o:
            continue
        k = len(o) - 1 - o[::-1].index(w[-1])
        obj = next((x for x in o[k + 1:] if x not in DETERMINERS), None)
        # ... and not given that preposition on the stranded side too: "safe [for cats] and
        # easy to care for" / "easy to care for and safe [for cats]"
        if obj is not None and obj not in STOP and obj in w[:-1] and \
                w.index(obj) > next((i for i, x in enumerate(w) if x in _ROLE_WH), len(w)) and \
                not any(x == w[-1] and obj in w[i + 1:i + 3] for i, x in enumerate(w[:-1])):
            return True
    return False


def _whose_owned(a: Text, b: Text) -> bool:
    """One side asks "whose N" a person is, the other for that person's N: "whose mother was
    Mary Shelley" (her child) / "who was Mary Shelley's mother"."""
    for t, other in ((a, b), (b, a)):
        w = t.words
        if "whose" in w and "whose" not in other.words:
            thing = w[w.index("whose") + 1:w.index("whose") + 2]
            if thing and any(owned == thing[0] for _, owned in other.owned):
                return True
    return False


def _of_stranded(a: Text, b: Text) -> bool:
    """One side asks whose N someone is with "of" left at its end, the other asks for
    someone's N: "who was Alexander the Great the father of" (his child) / "who was
    Alexander the Great's father". "Which country's capital is Paris" owns by its question."""
    for t, other in ((a, b), (b, a)):
        w = t.words
        if len(w) >= 3 and w[-1] == "of" and w[-2] not in STOP and any(
                x == w[-2] and not _asked_owner(other, o) for o, x in other.owned):
            return True
    return False


def _asked_owner(t: Text, owner: str) -> bool:
    """``owner`` follows a question word: "which country's capital"."""
    return any(w == owner and k and t.words[k - 1] in _ROLE_WH for k, w in enumerate(t.words))


_COPULA = frozenset("is are am be was were".split())  # not "has": "has X beaten" is no relation


def _wh_role_reversed(a: Text, b: Text) -> bool:
    """The same words, one thing moved from one side of the verb (or relation) to the
    other, right after "who"/"which"/"what": the question asks for the other role. "Who
    did Federer beat" / "Who beat Federer", "Which river does the Missouri flow into" /
    "Which river flows into the Missouri", "Which god was Zeus the father of" / "Which god
    was the father of Zeus". The side that asks for the object has an auxiliary between
    the question word and the thing; a passive ("was beaten by X") says the same the other
    way round, and "the meaning of X" is "what X means"."""
    ca, cb = _content_at(a.words), _content_at(b.words)
    sa, sb = [w for _, w in ca], [w for _, w in cb]
    if sa == sb or sorted(sa) != sorted(sb):
        return False
    i = next(k for k, (x, y) in enumerate(zip(sa, sb)) if x != y)
    j = next(k for k in range(len(sa) - 1, -1, -1) if sa[k] != sb[k])
    n = j + 1 - i
    if not 2 <= n <= _MAX_MOVED + 1:
        return False
    forms_b = {w: b.words[k] for k, w in cb[i:j + 1]}
    if any(a.words[k].endswith("ing") != forms_b[w].endswith("ing") for k, w in ca[i:j + 1]):
        return False  # a verb against its noun: "what does APR mean" / "the meaning of APR"
    for mine, theirs, cm, ct in ((a, b, ca, cb), (b, a, cb, ca)):
        wm, wt = [w for _, w in cm[i:j + 1]], [w for _, w in ct[i:j + 1]]
        for k in {1, n - 1}:
            if wt != wm[k:] + wm[:k]:
                continue
            # ``mine`` = [thing][verb], ``theirs`` = [verb][thing]
            thing_at, verb_at = cm[i][0], ct[i][0]
            verb_end = ct[i + n - k - 1][0]
            aux = _after_wh(mine.words, thing_at)
            if not aux or _after_wh(theirs.words, verb_at) is None:
                continue
            # after "is"/"was" the relation leaves its preposition behind ("is X the father
            # of"); without one, "what is the president's salary" is "the salary of the
            # president" reordered
            if aux in _COPULA and mine.words[cm[j][0] + 1:cm[j][0] + 2] != \
                    theirs.words[verb_end + 1:verb_end + 2]:
                continue
            if "by" in theirs.words[verb_end + 1:verb_end + 2]:
                continue  # a passive: "which team was beaten by Liverpool"
            if SYMMETRIC & set(mine.words[thing_at:cm[j][0] + 1]) or \
                    any(thing_at <= x < cm[j][0] for x in mine.breaks):
                continue  # "causes and consequences"; "What is X? What does it do?"
            return True
    return False


_PASSIVE_AUX = BE | {"been", "being", "get", "gets", "got"}
_RELATIVE = frozenset({"who", "which", "that"})


def _as_active(words: list[str]) -> list[tuple[list[str], int]]:
    """``words`` with each passive "was defeated by" read as the active "defeated", the
    words around it left in place ("which general was defeated by Hannibal" -> "which
    general defeated Hannibal", which asks for the other side of the act), each with the
    participle's place."""
    out = []
    for k, w in enumerate(words):
        if w not in _PASSIVE_AUX or (k and words[k - 1] in _PASSIVE_AUX):
            continue
        m = k
        while m < len(words) and m - k < 2 and words[m] in _PASSIVE_AUX:
            m += 1
        if m + 1 < len(words) and words[m + 1] == "by" and words[m] not in STOP:
            out.append((words[:k] + [words[m]] + words[m + 2:], k))
        elif k and words[k - 1] in _RELATIVE and m < len(words) and words[m] not in STOP and \
                words[m].endswith("ed"):
            # no "by" after a relative pronoun: "the person who's invited" is the one asked,
            # "the person who invites" the one asking
            out.append((words[:k] + [words[m]] + words[m + 1:], k))
    return out


def _no_manner(words: list[str]) -> list[str]:
    """``words`` without "-ly" adverbs, which sit anywhere around a verb ("who influenced X
    musically" / "who was musically influenced by X")."""
    return [w for w in words if not (len(w) > 4 and w.endswith("ly") and w not in STOP)]


def _voice_reversed(a: Text, b: Text) -> bool:
    """The same words in the same order, the verb active on one side and passive with "by"
    on the other: "Which general defeated Hannibal" / "Which general was defeated by
    Hannibal" asks who lost, not who won. (Said the other way round, "Hannibal was defeated
    by which general", the order changes and the question stays.)"""
    for active, passive in ((_no_manner(a.words), _no_manner(b.words)),
                            (_no_manner(b.words), _no_manner(a.words))):
        want = [stem(w) for w in active]
        for words, k in _as_active(passive):
            if len(words) != len(want) or k >= len(want):
                continue
            verb = want[k]  # "beat" / "beaten": a participle that starts with the verb
            if [stem(w) for j, w in enumerate(words) if j != k] == want[:k] + want[k + 1:] \
                    and (stem(words[k]) == verb or len(verb) >= 3 and words[k].startswith(verb)):
                return True
    return False


# A question word and what follows it: "who trained under X" asks for the trainee, "who did
# X train under" for the trainer; "what eats X" / "what does X eat".
_DO = frozenset({"do", "does", "did"})


def _do_support_changed(a: Text, b: Text) -> bool:
    """One question asks for the doer ("who trained under Mr. Miyagi"), the other, in the
    same content words, for the one done to ("who did Mr. Miyagi train under"). Only texts
    with one such question word; an indirect question keeps the direct one's word order
    ("tell me what goblet cells secrete" / "what do goblet cells secrete")."""
    def shape(t: Text) -> tuple[str, list[str]] | None:
        at = [i for i, w in enumerate(t.words) if w in _ROLE_WH]
        if len(at) != 1 or at[0] + 1 >= len(t.words):
            return None
        k = at[0]
        tail = [stem(w) for w in t.words[k + 1:] if w not in STOP and w not in _DO]
        nxt = t.words[k + 1]
        if nxt in _DO:
            return "object", tail
        # a verb right after the question word: no name, article or pronoun ("what
        # Einstein discovered" is an indirect "what did Einstein discover")
        return None if nxt in STOP or nxt in PERSON or nxt in t.caps else ("subject", tail)
    def content(t: Text) -> list[str]:  # "who" / "from whom" ask alike
        return sorted(w for _, w in _content_at(t.words) if w not in _ROLE_WH)
    if content(a) != content(b):
        return False  # other words too: not the same question with its roles turned
    sa, sb = shape(a), shape(b)
    return sa is not None and sb is not None and sa[0] != sb[0] and sa[1] != sb[1]


# A third person's pronoun follows the person it stands for: exchanging two people turns
# "she" into "he" ("how old was Priscilla when she met Elvis" / "... Elvis when he met Priscilla")
_GENDERED = frozenset("he she him her his hers".split())


def _ungendered(words: list[str]) -> list[str]:
    return ["<3rd>" if w in _GENDERED else w for w in words]


# Words right before a verb: "for a host [to] ask guests", "guests [can] bring a dish".
_BEFORE_VERB = frozenset("to can could should must may might will would".split())


def _content_stems(t: Text) -> list[tuple[str, bool]]:
    """Each content word's stem, and whether "to" or a modal comes right before it."""
    return [(s, k > 0 and t.words[k - 1] in _BEFORE_VERB) for k, s in _content_at(t.words)]


def _verb_sides_exchanged(a: Text, b: Text) -> bool:
    """The content words on the two sides of a verb changed places where the function words
    around them do not line up: "for a host to ask guests to bring a dish" / "for guests to
    ask the host if they can bring a dish". The verb is told by the "to" or modal before it
    on both sides; nouns have no such word ("brown rice or white rice")."""
    sa, sb = _content_stems(a), _content_stems(b)
    if len(sa) != len(sb) or sa == sb or sorted(x for x, _ in sa) != sorted(x for x, _ in sb):
        return False
    for i in range(1, len(sa) - 1):
        verb, marked = sa[i]
        if not marked or sa[i - 1][0] == sa[i + 1][0]:
            continue
        if any(sb[j] == (verb, True) and sb[j - 1][0] == sa[i + 1][0] and
               sb[j + 1][0] == sa[i - 1][0] for j in range(1, len(sb) - 1)):
            return True
    return False


def _agreement_moved(a: Text, b: Text) -> bool:
    """The same content words, one verb of them inflected for another subject and standing
    elsewhere among them: "which users [follow] user 42" / "which users user 42 [follows]"
    (the users follow, or are followed). A reordered duplicate keeps its verb's form."""
    ca, cb = _content_at(a.words), _content_at(b.words)
    sa, sb = [x for _, x in ca], [x for _, x in cb]
    if sa == sb or sorted(sa) != sorted(sb):
        return False
    for i, (ka, x) in enumerate(ca):
        for j, (kb, y) in enumerate(cb):
            wa, wb = a.words[ka], b.words[kb]
            if x == y and i != j and wa != wb and {wa + "s", wb + "s"} & {wa, wb} and \
                    sa[:i] + sa[i + 1:] == sb[:j] + sb[j + 1:]:
                # the bare form after a plural subject ("users follow"): a verb; a noun
                # that only changed number ("the best [books]" / "the best [book] for")
                # follows no such word
                words, k = (a.words, ka) if len(wa) < len(wb) else (b.words, kb)
                before = words[k - 1] if k else ""
                if before.endswith("s") and before not in STOP and not before.endswith("ss"):
                    return True
    return False


def exchanged(a: Text, b: Text, names: frozenset[str]) -> bool:
    """``b`` asks ``a`` with two of its things in each other's place: as written (he or
    she alike), with pronouns read as persons and words as stems, told by pronouns alone, a
    question word's role reversed ("who did X beat" / "who beat X", "what eats X" / "what does X
    eat"), the verb turned passive in place ("which team beat X" / "which team was beaten
    by X"), or the possessive moved to the other name ("X's manager" / "Y's manager" with
    both named)."""
    names = names | _letter_names(a.words) | _letter_names(b.words)
    if _swapped_around(a.words, b.words, names, a.breaks, b.breaks) or \
            _GENDERED.intersection(a.words + b.words) and _swapped_around(
                _ungendered(a.words), _ungendered(b.words), names, a.breaks, b.breaks):
        return True
    (ra, breaks_a), (rb, breaks_b) = _role_view(a), _role_view(b)
    return _swapped_around(ra, rb, names, breaks_a, breaks_b) or pronouns_exchanged(a, b) or \
        _wh_role_reversed(a, b) or _do_support_changed(a, b) or _voice_reversed(a, b) or \
        owner_changed(a, b) or _recipient_asked(a, b) or _of_stranded(a, b) or \
        _object_stranded(a, b) or _whose_owned(a, b) or \
        _verb_sides_exchanged(a, b) or doers_exchanged(a, b) or _agreement_moved(a, b) or \
        object_changed(a, b) or doer_turned_party(a, b)


def marker_flipped(a: Text, b: Text) -> bool:
    """A word after "to" on one side follows "from" on the other (and not the other way round
    on the same side): "cheap flights to Paris" / "cheap flights from Paris", "subletting my
    apartment to a student" / "... from a student". "from London to Paris" / "to Paris from
    London" keeps each word's marker."""
    to_a, from_a = a.roles.get("to", set()), a.roles.get("from", set())
    to_b, from_b = b.roles.get("to", set()), b.roles.get("from", set())
    return bool((to_a - from_a) & (from_b - to_b) or (from_a - to_a) & (to_b - from_b))


def exchanged_besides(longer: str, other: Text, word: str, names: frozenset[str]) -> bool:
    """``longer`` with its one extra ``word`` left out exchanges two things of ``other``:
    "does the buyer get the money [back] if the seller backs out" / "does the seller get the
    money if the buyer backs out"."""
    if word in GENERIC:
        return False  # "how can [one] improve his eyesight": anybody, the asker too
    pattern = re.compile(rf"\b{re.escape(word)}\b", re.IGNORECASE)
    without = pattern.sub("", longer, count=1)
    return without != longer and exchanged(parse(without), other, names)
