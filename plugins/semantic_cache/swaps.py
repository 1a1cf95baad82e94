"""Two questions that hold the same words with two things exchanged: "from London to Paris"
/ "from Paris to London", "takes X and returns Y" / "takes Y and returns X", "Acme owes us"
/ "we owe Acme", "Fahrenheit in Celsius" / "Celsius in Fahrenheit". ``contrast`` asks these
once the two texts are aligned; a reordering ("in Python, how do I X" / "how do I X in
Python") and a symmetric join ("X or Y" / "Y or X") are no exchange.
"""

from __future__ import annotations

import re

from .clauses import asker_turned, condition_swapped, doers_traded, parties_exchanged
from .question import Text, parse
from .roles import (DETERMINERS, GENERIC, POSSESSIVE, SYMMETRIC, doer_changed_among_named,
                    doer_moved, doer_turned_party, doers_exchanged, object_changed,
                    owner_changed, pronouns_exchanged)
from .wh_roles import COPULA, FRONTED_WITH, ROLE_WH, content_at, role_asked_turned
from .word_match import match_stem, same_word_stems, stem
from .wordlists import CONDITIONS, PERSON, STOP

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


def _fold(word: str) -> str:
    """The stem with a doubled last consonant undone, alike on both sides: "getting" and
    "get", "running" and "run" (the stemmer leaves "gett", "runn"). Not l, s, z or f: "fill",
    "pass", "buzz", "staff" keep theirs."""
    s = stem(word)
    return s[:-1] if len(s) > 2 and s[-1] == s[-2] and s[-1] not in "aeioulszf" else s


def _role_view(t: Text, renamed: dict[str, str] | None = None
               ) -> tuple[list[str], frozenset[int]]:
    """``t``'s words without articles, with each pronoun as its person, an auxiliary in one
    number, and each other content word as its stem, and its clause breaks at their places
    there: "Acme owes us" / "we owe Acme", "can a subtenant sue the tenant" / "can the tenant
    sue the subtenant", "exchange my store credit for a gift card" / "… my gift card for
    store credit" and "does rifampicin reduce the pill" / "do pills reduce rifampicin" then
    hold the same words in exchanged places."""
    words: list[str] = []
    breaks = set()
    for k, w in enumerate(t.words):
        w = renamed.get(w, w) if renamed else w
        # a third person's possessive points back at a party already named, like an article:
        # "does a mother cat recognize [her] kittens" / "do kittens recognize [their] mother"
        owner = w in _THIRD_POSSESSIVE and t.words[k + 1:k + 2] and t.words[k + 1] not in STOP
        if w not in _ARTICLES and not owner:
            words.append(PERSON.get(w) or _AGREEING.get(w) or (w if w in STOP else _fold(w)))
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
            # a condition clause moved whole, its opening word with it, even without a comma:
            # "[when the ball hits the net] in volleyball is it a fault" / "is it a fault in
            # volleyball [when the ball hits the net]"
            if at_edge and (i == 0 and x[0] in CONDITIONS or
                            j == len(wa) - 1 and x[n - ly] in CONDITIONS):
                continue
            mid = x[lx:n - ly]
            if y == x[n - ly:] + mid + x[:lx] and \
                    not _joins_symmetrically(mid, wa[:i], wa[j + 1:]) and \
                    not _wh_phrase(x[:lx]) and not _wh_phrase(x[n - ly:]) and \
                    not (len(mid) == 1 and mid[0] in COPULA and
                         (_asks(x[:lx]) or _asks(x[n - ly:]))) and \
                    any(w not in STOP or w in names or w in _PARTICLES for w in x[:lx]) and \
                    any(w not in STOP or w in names or w in _PARTICLES for w in x[n - ly:]):
                return True
    return False


def _asks(span: list[str]) -> bool:
    """``span`` is a question's own phrase: "how many cups", "which country", "who". Moved
    across "is" it asks the same: "how many cups is a liter" / "a liter is how many cups"."""
    return bool(span) and (span[0] in ROLE_WH | {"where", "when", "how"})


def _wh_phrase(span: list[str]) -> bool:
    """``span`` is a preposition and a question word: a question's own phrase, which moves
    to the front without changing its role."""
    return len(span) >= 2 and span[0] in FRONTED_WITH and span[1] in ROLE_WH | {"where"}


def alternatives(words: list[str], x: str, y: str) -> bool:
    """``x`` and ``y`` are two choices joined by "or", "and" or "vs" within a few words:
    "to [fly] or [take] the train" / "to [take] the train or [fly]"."""
    at = {w: [k for k, v in enumerate(words) if v == w] for w in (x, y)}
    return any(0 < abs(p - q) <= 4 and
               any(w in SYMMETRIC for w in words[min(p, q) + 1:max(p, q)])
               for p in at[x] for q in at[y])


# A third person's pronoun follows the person it stands for: exchanging two people turns
# "she" into "he" ("how old was Priscilla when she met Elvis" / "... Elvis when he met Priscilla")
_GENDERED = frozenset("he she him her his hers".split())


def _ungendered(words: list[str]) -> list[str]:
    return ["<3rd>" if w in _GENDERED else w for w in words]


# Words right before a verb: "for a host [to] ask guests", "guests [can] bring a dish".
_BEFORE_VERB = frozenset("to can could should must may might will would".split())


def _content_stems(t: Text) -> list[tuple[str, bool]]:
    """Each content word's stem, and whether "to" or a modal comes right before it."""
    return [(s, k > 0 and t.words[k - 1] in _BEFORE_VERB) for k, s in content_at(t.words)]


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
    ca, cb = content_at(a.words), content_at(b.words)
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


def _synonyms_renamed(a: Text, b: Text) -> dict[str, str]:
    """Each content word of ``b`` that ``a`` lacks, renamed to the one word ``a`` has in
    its place as a listed synonym or irregular form ("dog" -> "puppy"), so that two things
    exchanged are seen as such however one of them is worded."""
    stems_a, stems_b = {match_stem(w) for w in a.words}, {match_stem(w) for w in b.words}
    left_a = [x for x in a.content if match_stem(x) not in stems_b]
    out = {}
    for y in b.content:
        if match_stem(y) in stems_a:
            continue
        same = [x for x in left_a if match_stem(y) in same_word_stems(x)]
        if len(same) == 1:
            out[y] = same[0]
    return out


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
    renamed = _synonyms_renamed(a, b)
    if renamed and _swapped_around(ra, _role_view(b, renamed)[0], names, breaks_a, breaks_b):
        return True  # "a new [puppy] to my resident cat" / "a new cat to my resident [dog]"
    return _swapped_around(ra, rb, names, breaks_a, breaks_b) or pronouns_exchanged(a, b) or \
        role_asked_turned(a, b) or owner_changed(a, b) or _verb_sides_exchanged(a, b) or \
        doers_exchanged(a, b) or _agreement_moved(a, b) or object_changed(a, b) or \
        doer_turned_party(a, b) or doers_traded(a, b) or several_exchanged(a, b) or \
        asker_turned(a, b) or condition_swapped(a, b) or _possessive_traded(a, b) or \
        doer_moved(a, b) or doer_changed_among_named(a, b) or parties_exchanged(a, b)


def _transposed(wa: list[str], wb: list[str]) -> list[tuple[int, int]] | None:
    """The pairs of places whose words ``wb`` has the other way round, when that is all that
    differs (None otherwise)."""
    if len(wa) != len(wb):
        return None
    apart = [k for k, (x, y) in enumerate(zip(wa, wb)) if x != y]
    pairs, taken = [], set()
    for i in apart:
        if i in taken:
            continue
        j = next((j for j in apart if j not in taken and j != i and wa[i] == wb[j] and
                  wa[j] == wb[i]), None)
        if j is None:
            return None
        taken |= {i, j}
        pairs.append((i, j))
    return pairs


def several_exchanged(a: Text, b: Text) -> bool:
    """Two or more pairs of content words exchanged and nothing else changed, none of them
    joined by "and"/"or"/"vs": "a right-to-left Arabic layout to left-to-right for the
    English version" / "a left-to-right English layout to right-to-left for the Arabic
    version". (One pair alone is ``_swapped_around``'s, with its exceptions.)"""
    pairs = _transposed(a.words, b.words)
    # pairs all as far apart are two stretches moved past each other: "after Mao died, who
    # led China" / "who led China after Mao died", "nike shoes men size 10" / "men size 10
    # nike shoes"
    return bool(pairs) and len(pairs) >= 2 and len({j - i for i, j in pairs}) > 1 and all(
        a.words[i] not in STOP and a.words[j] not in STOP and
        not SYMMETRIC & set(a.words[min(i, j) + 1:max(i, j)]) for i, j in pairs)


def _possessive_traded(a: Text, b: Text) -> bool:
    """The same words but a possessive and another determiner traded places, so the other
    thing is the owned one: "what if a big dog attacks [my] small dog" / "what if [my] big
    dog attacks a small dog"."""
    pairs = _transposed(a.words, b.words)
    if not pairs or len(pairs) != 1:
        return False
    traded = {a.words[pairs[0][0]], a.words[pairs[0][1]]}
    return traded <= DETERMINERS and len(traded & POSSESSIVE) == 1


def marker_flipped(a: Text, b: Text) -> bool:
    """A word after "to" on one side follows "from" on the other (and not the other way round
    on the same side): "cheap flights to Paris" / "cheap flights from Paris", "subletting my
    apartment to a student" / "... from a student". "from London to Paris" / "to Paris from
    London" keeps each word's marker."""
    to_a, from_a = a.roles.get("to", set()), a.roles.get("from", set())
    to_b, from_b = b.roles.get("to", set()), b.roles.get("from", set())
    return bool((to_a - from_a) & (from_b - to_b) or (from_a - to_a) & (to_b - from_b))


# Acts whose "out" gives the thing to another for pay: "rent out my flat" is the landlord's
# act, "rent a flat" the tenant's.
_LETTING = frozenset(map(stem, "rent lease hire charter".split()))


def _let_out(t: Text) -> frozenset[str]:
    """The letting verbs ``t`` gives an "out" within three words ("rent out", "rent my
    flat out"), not "out of" ("rent a car out of town")."""
    w = t.words
    return frozenset(stem(x) for k, x in enumerate(w) if stem(x) in _LETTING and any(
        y == "out" and w[j + 1:j + 2] != ["of"] for j, y in enumerate(w[k + 1:k + 4], k + 1)))


def letting_turned(a: Text, b: Text) -> bool:
    """The same letting verb on both sides, given out on one only: "I'm renting out my
    apartment" (to a tenant) / "I'm renting an apartment" (from a landlord)."""
    verbs = {stem(x) for x in a.words if stem(x) in _LETTING} & \
        {stem(x) for x in b.words if stem(x) in _LETTING}
    return bool(verbs & (_let_out(a) ^ _let_out(b)))


def _put(text: str, word: str, by: str) -> str:
    """``text`` with its first ``word`` (a whole word, any case) replaced by ``by``."""
    return re.sub(rf"\b{re.escape(word)}\b", lambda _: by, text, count=1, flags=re.IGNORECASE)


def exchanged_besides(longer: str, other: Text, word: str, names: frozenset[str]) -> bool:
    """``longer`` with its one extra ``word`` left out exchanges two things of ``other``:
    "does the buyer get the money [back] if the seller backs out" / "does the seller get the
    money if the buyer backs out"."""
    if word in GENERIC:
        return False  # "how can [one] improve his eyesight": anybody, the asker too
    without = _put(longer, word, "")
    return without != longer and exchanged(parse(without), other, names)


def exchanged_replacing(cached: str, new: str, old: str, word: str,
                        names: frozenset[str]) -> bool:
    """``new`` with its one other ``word`` put back as ``old`` exchanges two things of the
    cached text, away from that word: "the bakery thanks the farm for [supplying] its flour"
    / "the farm thanks the bakery for [buying] its flour" (each act said from its own side).
    Not when the word put back is inside what moved: "the function to apply X is `f()`" /
    "`f()` is used to apply X" is reworded around it."""
    put_back = _put(new, word, old)
    if put_back == new:
        return False
    a, b = parse(cached), parse(put_back)
    ra, rb = _role_view(a)[0], _role_view(b)[0]
    apart = [k for k, (x, y) in enumerate(zip(ra, rb)) if x != y]
    at = [k for k, x in enumerate(rb) if x == _fold(old)]
    return len(ra) == len(rb) and bool(apart) and bool(at) and \
        all(k < apart[0] or k > apart[-1] for k in at) and exchanged(a, b, names)
