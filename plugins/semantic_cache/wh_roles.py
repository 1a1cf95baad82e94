"""Questions that ask for the other side of an act in the same words: "who beat Federer" /
"who did Federer beat", "which team was Gretzky traded to" / "which team traded Gretzky",
"whose mother was Mary Shelley" / "who was Mary Shelley's mother". ``swaps.exchanged`` asks
``role_asked_turned`` beside its exchanges of two named things.
"""

from __future__ import annotations

from .question import Text
from .roles import DETERMINERS, SYMMETRIC, manner_adverb
from .word_match import match_stem, same_word_stems, stem
from .wordlists import AUX, BE, IRREGULAR_VERBS, PERSON, STOP

# Question words whose answer is a doer or a thing done to: "who beat X" / "who did X beat".
ROLE_WH = frozenset("who whom which what".split())
_MAX_MOVED = 4  # content words of the thing that changes sides of the verb
# Prepositions a question word's phrase may carry to the front: "in which country is X" /
# "X is in which country", "to whom did you write" / "you wrote to whom".
FRONTED_WITH = frozenset("in at on to from for with by of".split())


def content_at(words: list[str]) -> list[tuple[int, str]]:
    return [(k, stem(w)) for k, w in enumerate(words) if w not in STOP]


def _after_wh(words: list[str], upto: int) -> str | None:
    """If ``words[:upto]`` is a question word, up to three words of its noun ("which Greek
    god", "which Premier League club"), then at most an auxiliary and determiners: that
    auxiliary ("" for none)."""
    wh = next((k for k in range(upto) if words[k] in ROLE_WH), None)
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
    if not w or w[0] not in ROLE_WH:
        return None
    at = next((k for k, x in enumerate(w[3:], 3) if x in _STRANDABLE and (
        k + 1 == len(w) or k in t.breaks or w[k + 1] in FRONTED_WITH)), None)
    be = any(x in BE for x in w[1:4])
    return (be, "") if at is None else (be and _participle(w[:at]), w[at])


_AFTER_PARTICIPLE = frozenset("over up out back off away down".split())
# Past forms that end in none of -ed/-en/-wn: the listed irregular verbs' ("sent", "sold",
# "held"), and those left out of that list as words of their own too
_IRREGULAR = frozenset(IRREGULAR_VERBS) | {"lost", "left", "made"}


def past_form(word: str) -> bool:
    """``word`` is a past participle or past form: "invited", "beaten", "sold"."""
    return word.endswith(("ed", "en", "wn")) or word in _IRREGULAR


def _participle(words: list[str]) -> bool:
    """``words`` end in a past participle, particles aside ("handed over", "sold"): "what
    is a DNS server for" strands "for" after no act."""
    k = len(words) - 1
    while k > 0 and words[k] in _AFTER_PARTICIPLE:
        k -= 1
    return past_form(words[k])


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
                (w.index(obj) > next((i for i, x in enumerate(w) if x in ROLE_WH), len(w))
                 or _reduced_relative(w, o, w.index(obj))) and \
                not any(x == w[-1] and obj in w[i + 1:i + 3] for i, x in enumerate(w[:-1])):
            return True
    return False


def _reduced_relative(w: list[str], other: list[str], at: int) -> bool:
    """``w[at]`` opens a relative clause with no pronoun, whose noun the other side gives
    one: "the people [Jessica] reports to" / "the people who report to Jessica"."""
    noun = w[at - 1] if at else None
    return noun is not None and noun not in STOP and any(
        x == noun and other[k + 1] in _RELATIVE for k, x in enumerate(other[:-1]))


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
    return any(w == owner and k and t.words[k - 1] in ROLE_WH for k, w in enumerate(t.words))


COPULA = frozenset("is are am be was were".split())  # not "has": "has X beaten" is no relation


def _wh_role_reversed(a: Text, b: Text) -> bool:
    """The same words, one thing moved from one side of the verb (or relation) to the
    other, right after "who"/"which"/"what": the question asks for the other role. "Who
    did Federer beat" / "Who beat Federer", "Which river does the Missouri flow into" /
    "Which river flows into the Missouri", "Which god was Zeus the father of" / "Which god
    was the father of Zeus". The side that asks for the object has an auxiliary between
    the question word and the thing; a passive ("was beaten by X") says the same the other
    way round, and "the meaning of X" is "what X means"."""
    ca, cb = content_at(a.words), content_at(b.words)
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
            if aux in COPULA and mine.words[cm[j][0] + 1:cm[j][0] + 2] != \
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
    return [w for w in words if not manner_adverb(w)]


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
        at = [i for i, w in enumerate(t.words) if w in ROLE_WH]
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
        return sorted(w for _, w in content_at(t.words) if w not in ROLE_WH)
    if content(a) != content(b):
        return False  # other words too: not the same question with its roles turned
    sa, sb = shape(a), shape(b)
    return sa is not None and sb is not None and sa[0] != sb[0] and sa[1] != sb[1]


# Not "is": "who's viewed my page" is "who has viewed" read as "who is viewed".
_PASSIVE_BE = frozenset("was were been being get gets got".split())


def _who_voices(t: Text) -> dict[str, str]:
    """The verb after each "who", by stem, and its voice: "who [was invited]" passive, "who
    [invited]", "who did the [inviting]" active (up to two words between)."""
    w, out = t.words, {}
    for k, x in enumerate(w):
        if x != "who":
            continue
        for j in range(k + 1, min(k + 4, len(w))):
            if w[j] not in STOP:
                passive = w[j - 1] in _PASSIVE_BE and past_form(w[j]) and \
                    "by" not in w[j + 1:j + 2]
                out.setdefault(stem(w[j]), "passive" if passive else "active")
                break
    return out


def _who_voice_turned(a: Text, b: Text) -> bool:
    """The person a relative "who" names does the act on one side and undergoes it on the
    other: "should the person who did the inviting pay" / "... who was invited pay"."""
    va, vb = _who_voices(a), _who_voices(b)
    return any(v in vb and vb[v] != voice for v, voice in va.items())


def _agent_turned(a: Text, b: Text) -> bool:
    """A name that does the act ("by" it) on one side is the one the act is done to on the
    other: "songs sampled by Daft Punk" / "songs that sample Daft Punk" (the verb active
    there, not "enabled with"). Said with the name before the verb ("songs Daft Punk
    sampled") it stays the doer."""
    for p, q in ((a, b), (b, a)):
        if "by" in q.words:
            continue
        w = p.words
        for k in range(len(w) - 2):
            if w[k] in STOP or w[k + 1] != "by" or not past_form(w[k]):
                continue  # a participle: "earn money [by] a website" is a means
            at = k + 3 if w[k + 2] in ("the", "a", "an") and k + 3 < len(w) else k + 2
            # an id is its letters and its number: "blocked by [CX-301]" beside "CX-300"
            agent = w[at:at + 2] if w[at + 1:at + 2] and w[at + 1].isdigit() else w[at:at + 1]
            verb = stem(w[k])
            for j, x in enumerate(q.words):
                if stem(x) == verb and not past_form(x) and \
                        _has(q.words[j + 1:j + 3 + len(agent)], agent) and \
                        not _has(q.words[:j], agent):
                    return True
    return False


# A person as the doer and as the one done to: "did [we] pay" / "paid [us]"
_OBJECT_OF = {"i": "me", "we": "us", "they": "them", "he": "him", "she": "her"}
_SUBJECT_OF = {o: s for s, o in _OBJECT_OF.items()}


def _verb_form(x: str, y: str) -> bool:
    """``x`` and ``y`` are forms of one verb, a prefix aside: "pay" / "paid", "overpay" /
    "overpaid", "owe" / "owed"."""
    def one(p: str, q: str) -> bool:  # same_word_stems reads irregular past forms too
        return p == q or match_stem(q) in same_word_stems(p) or q in (p + "d", p + "ed") or \
            p in (q + "d", q + "ed")
    k = 0
    while k < min(len(x), len(y)) and x[k] == y[k]:
        k += 1
    return one(x, y) or any(one(x[j:], y[j:]) for j in range(2, k + 1)
                            if len(x) - j >= 3 and len(y) - j >= 3)


def _pronoun_role_turned(a: Text, b: Text) -> bool:
    """The question word is the one a pronoun's act is done to on one side and the doer
    done to the pronoun on the other: "which vendors did we overpay" / "which vendors
    overpaid us", "who did I email" / "who emailed me"."""
    for p, q in ((a, b), (b, a)):
        w = p.words
        for k in range(len(w) - 3):
            if w[k] not in _DO or w[k + 1] not in _OBJECT_OF or w[k + 2] in STOP or \
                    not any(x in ROLE_WH for x in w[max(0, k - 4):k]):
                continue
            subject, verb = w[k + 1], w[k + 2]
            head = w[:k]
            # the other side: the same words up to the verb, then the object pronoun after it
            n = len(head)
            if q.words[:n] == head and n + 1 < len(q.words) and subject not in q.words and \
                    _verb_form(verb, q.words[n]) and _OBJECT_OF[subject] in q.words[n + 1:n + 3]:
                return True
    return False


_RELATIVE = frozenset({"that", "who", "which"})


def _relative_role_turned(a: Text, b: Text) -> bool:
    """The noun a relative clause hangs on does its act to a name on one side and undergoes
    it from that name on the other: "the accounts that follow @nasa" / "the accounts that
    @nasa follows", "the creators who tagged us" / "the creators we tagged"."""
    for p, q in ((a, b), (b, a)):
        w, v = p.words, q.words
        for k in range(1, len(w) - 2):
            if w[k] not in _RELATIVE or w[k + 1] in STOP or \
                    w[k + 2] in STOP and w[k + 2] not in _SUBJECT_OF:
                continue
            verb, name = w[k + 1], w[k + 2]
            doer = _SUBJECT_OF.get(name, name)  # "who tagged [us]" / "[we] tagged"
            for j in range(1, len(v) - 1):
                # the relative word may go unsaid on the other side: "the creators we tagged"
                at = j + 1 if v[j] in _RELATIVE else j
                if v[j - 1] == w[k - 1] and at + 1 < len(v) and v[at] == doer and \
                        _verb_form(verb, v[at + 1]):
                    return True
    return False


def _has(words: list[str], phrase: list[str]) -> bool:
    """``phrase`` stands in ``words``, word after word."""
    n = len(phrase)
    return any(words[i:i + n] == phrase for i in range(len(words) - n + 1))


def role_asked_turned(a: Text, b: Text) -> bool:
    """The two questions ask for the other role of one act: the question word's role reversed,
    the do-support changed, the voice turned in place, the recipient against the doer, a
    stranded "of", "to" or "whose" against its object or owner."""
    return _wh_role_reversed(a, b) or _do_support_changed(a, b) or _voice_reversed(a, b) or \
        _recipient_asked(a, b) or _of_stranded(a, b) or _object_stranded(a, b) or \
        _whose_owned(a, b) or _who_voice_turned(a, b) or _agent_turned(a, b) or \
        _pronoun_role_turned(a, b) or _relative_role_turned(a, b)
