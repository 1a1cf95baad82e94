"""The normalised-exact tier's key: one canonical form for the ways agents write one question.

Case, Unicode compatibility forms (NFKC: full-width letters, ligatures, non-breaking
spaces), runs of whitespace, surrounding quotes and trailing punctuation are folded; with
``fillers``, so are politeness and request wrappers at the edges ("please", "can you",
"tell me", "hey,", "thanks"). Two questions with the same key are the same question, so a
match needs no embedding and no verifier: precise by construction. Everything else about
the text (word order, inner punctuation, numbers, negations) is kept as written.
"""

from __future__ import annotations

import re
import unicodedata

# Apostrophe look-alikes folded to "'" so "what’s" and "what's" agree; NFKC leaves them.
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'",
                         "\u201c": '"', "\u201d": '"', "\u00ab": '"', "\u00bb": '"'})
_SPACE = re.compile(r"\s+")
# An apostrophe inside a word is punctuation people leave out: "Bolt's" / "Bolts", "don't" /
# "dont", "employees'" / "employees" ("we'll" / "well" then share a key too, as a typist
# without apostrophes means).
# Only the normalised-exact key drops it (``exact_key``): the structure reads "'s" and "'ll".
_INNER_APOSTROPHE = re.compile(r"(?<=[^\W\d_])'(?=[^\W\d_])|(?<=s)'(?!\w)")  # and "employees'"
# Trailing punctuation of any script (?, ？, 。, …, !) and symbols such as emoji are not
# part of what is asked; inner punctuation is ("C++", "3.12", "e.g.").
_EDGE = "\"' \t"
# Asides that ask for no other answer, at either end: "I'm new to this", "random one but".
_ASIDES = ("i'm new to this", "im new to this", "i am new to this", "new to this",
           "random one", "random one but", "random question but", "random q")
# Wrappers at the start, longest first; each may be followed by a comma. Only whole words,
# and none that also starts a real question ("well water ...", "question marks ...").
_LEAD = tuple(sorted((
    "hey", "hi", "hello", "hey there", "hi there", "ok", "okay", "so", "um", "uh",
    "basically", "honestly", "actually", "anyway", "alright",
    "quick question", "quick q", "quick qn", "quick one", "hey, quick one", "quick one guys",
    "just curious", "just wondering",
    "out of curiosity", "real quick", "btw", "by the way", "i'm curious", "i am curious",
    "can someone tell me", "can anyone tell me", "does anyone know", "i have a question",
    "hey all", "hi all", "good morning", "please help", "asking for a friend", "lol",
    "hey team", "hi folks", "hey folks",
    *_ASIDES, "random but",
    # relaying someone else's question
    "my son wants to know", "my daughter wants to know", "my kid wants to know",
    "my kids want to know", "my wife wants to know", "my husband wants to know",
    "my friend wants to know", "my boss wants to know", "my mom wants to know",
    "my dad wants to know", "my son asked me", "my daughter asked me", "my kid asked me",
    "no rush but", "no rush, but", "no rush", "hey so", "so yeah", "umm", "ugh", "ugh sorry",
    "need this asap", "need help asap",
    "pls help", "plz help", "please help asap", "pls help asap", "help asap", "help pls",
    # a voice assistant's wake words, and chat openers
    "hey guys", "hi guys", "hey everyone", "hi everyone", "hey siri", "hey alexa", "ok google",
    "okay google", "hey google", "yo",
    "quick favor", "quick favour", "honestly confused here", "i'm confused", "im confused",
    "hope you can help", "i hope you can help", "hoping you can help",
    "ok seriously", "okay seriously", "sorry to bother you",
    "sorry to bother you but", "sorry to bother you, but", "i was wondering if you could",
    "i was hoping you could", "would you mind", "just wondering",
    # an agent relaying its user's request
    "user asks", "the user asks", "user wants to know", "the user wants to know",
    "user question", "customer asks", "the customer asks",
    "the user would like to know", "user would like to know", "the user needs to know",
    "the customer wants to know", "the customer would like to know",
    # an aside before the question itself ("..., if possible, the cheapest way to ...")
    "if possible",
    # greetings of an e-mail or a support ticket
    "dear support", "dear team", "dear sir or madam", "hello team", "hi team", "hello support",
    "i hope this message finds you well", "i hope this email finds you well",
    "hope this message finds you well", "i hope you are well", "hope you are well",
    "hope you're well", "i hope you're doing well", "hope you're doing well",
    "hope you're having a good week", "hope you are having a good day",
    "kindly advise", "please advise", "kindly let me know", "please let me know",
    "if you don't mind", "if you do not mind", "if you dont mind", "thanks in advance",
    "go ahead and", "please go ahead and",
    "please", "pls", "plz", "kindly",
    "can you", "could you", "would you", "will you", "can u", "could u",
    "can you please", "could you please", "would you please", "please can you",
    "tell me", "please tell me", "can you tell me", "could you tell me",
    "would you tell me", "can you please tell me", "could you please tell me",
    "i want to know", "i'd like to know", "i would like to know", "i wonder",
    "i was wondering", "i was just wondering", "i'm just wondering", "im just wondering",
    "do you know", "any idea", "help me understand",
    "if you could tell me", "i was wondering if you could tell me", "would you mind telling me",
    "can you help me understand", "i need to know", "need to know", "need to know asap",
    "i need to know asap", "asap please", "please asap",
    # an apology or a confession before the question
    "sorry if this is basic", "sorry if this is basic, but", "sorry if this is basic but",
    "sorry if this is a basic question", "sorry if this is a basic question, but",
    "sorry if this is a dumb question", "sorry if this is a dumb question, but",
    "sorry if this is a stupid question", "sorry if this is a stupid question, but",
    "this might be a dumb question", "this might be a dumb question, but",
    "sorry if this is dumb", "sorry if this is stupid", "sorry if this is silly",
    "sorry if this sounds dumb", "sorry if this sounds stupid", "sorry if this sounds silly",
    "sorry if this is a silly question",
    "dumb question", "stupid question", "noob question", "newbie question", "basic question",
    "i've never understood this", "ive never understood this", "i never understood this",
    "never understood this", "i've always wondered", "ive always wondered",
    "i always wondered",
), key=len, reverse=True))
_TAIL = ("please", "pls", "plz", "thanks", "thank you", "thx", "thanks in advance",
         "thank you so much", "thanks so much", "thanks a lot", "thank you very much",
         "much appreciated", "cheers", "ty", "tia", "for me", "if you can", "if possible",
         "no rush", "no worries", "no hurry", "no pressure", "haha", "lol", "just curious",
         "asking for a friend", "if that makes sense", "if that makes any sense",
         "if you don't mind", "if you dont mind", "if you do not mind",
         "if you don't mind me asking", "if you dont mind me asking",
         "if you don't mind explaining", "if you dont mind explaining",
         "if you do not mind me asking",
         "regards", "kind regards", "best regards", "thanks and regards", "many thanks",
         "please advise", "thanks in advance for your help", "thank you for your help",
         # a word about the asker, or an aside, asks for no other answer
         *_ASIDES,
         "sorry if this is a dumb question", "sorry for the dumb question",
         # urgency asks for no other answer
         "asap", "urgent", "kinda urgent", "kind of urgent", "pretty urgent", "quite urgent",
         "it's urgent", "its urgent", "need this asap", "need it asap", "asap please",
         "please asap", "please help asap", "please help", "real quick", "appreciate it",
         "do you think", "what do you think",
         # a word on why or how fast asks for no other answer
         "just checking", "just checking my homework", "i always forget", "i always forget lol",
         "answer fast", "pls answer fast", "please answer fast", "please answer quickly",
         "kinda panicking", "i'm panicking", "im panicking", "panicking",
         "i'm panicking a bit", "im panicking a bit", "panicking a bit", "a bit panicked",
         # how the asker feels, or a plea for any answer, asks for no other answer
         "kinda lost", "so lost", "i'm lost", "im lost", "totally lost", "kinda confused",
         "so confused", "any advice appreciated", "any help appreciated",
         "any advice is appreciated", "any help is appreciated", "any tips appreciated",
         "any advice would be appreciated", "any help would be appreciated",
         "i have a test tomorrow", "i have an exam tomorrow", "test tomorrow", "exam tomorrow",
         "for my homework", "for homework", "i'm desperate", "im desperate", "desperate",
         "in your opinion", "in your view", "in your experience")
# Addressing the assistant by role: "Agent, archive ..." (only before a comma, a colon or a
# spaced dash), or after a greeting ("hey assistant when was ...").
_DASH = r"\s+[-\u2013\u2014]"  # a dash with a space before it: "quick one - what ..."
_VOCATIVE_RE = re.compile(r"^(?:(?:hey|hi|ok) (?:agent|assistant|bot)\b[,:!]?|"
                          r"(?:agent|assistant|bot)(?:\s*[,:]|" + _DASH + r"))\s*")
# A bare wake word only before a question or a command: "Alexa, will it rain", "siri set a
# timer"; "Siri shortcuts for iPhone" and "Alexa skills for kids" ask about the assistant.
_WAKE_RE = re.compile(r"^(?:siri|alexa|google)(?:\s*[,:!.]+\s*|\s+)(?=(?:what|when|where|who|"
                      r"how|why|which|will|is|are|can|could|do|does|did|should|set|play|turn|"
                      r"remind|tell|call|show|find|add|open|give)\b)")
_LEAD_RE = re.compile(r"^(?:" + "|".join(re.escape(p) for p in _LEAD) +
                      r")(?:\s*[,:!.]+\s*|" + _DASH + r"\s+|\s+)(?:but\s+(?=\S))?")  # "..., but"
# "(can you) remind me who/what/when ..." asks the question; "remind me to call mom" does not.
_REMIND_RE = re.compile(r"^remind me (?=(?:what|when|where|who|whom|whose|how|why|which|"
                        r"whether|if)\b)")
_TAIL_RE = re.compile(r"(?:\s*,\s*|\s+)(?:" + "|".join(re.escape(p) for p in _TAIL) + r")$")
# A whole sentence or clause at either end made only of greetings, thanks, apologies and
# talk about asking ("Could you help me with something?", "Good afternoon!", "Random
# question,", "Hey, do you happen to know:", "..., thanks so much in advance") asks nothing:
# it is dropped whole. It needs one such word (``_CHAT_MARKERS``): "In a day, how much ..."
# and "For a small team, which ..." are made of small words too. Any other word in it (a
# name, a number, "not") keeps it.
_CHAT_MARKERS = frozenset(
    "hi hello hey hiya howdy yo morning afternoon evening please thanks thank thx ty cheers "
    "appreciated appreciate sorry excuse pardon bother bothering question questions q ask "
    "asking wondering wonder curious know help advice lads guys folks mate mates friend buddy "
    "pal dude bro ideas idea suggestions tips thoughts".split())
_CHAT_WORDS = _CHAT_MARKERS | frozenset(
    "good there all everyone everybody friends you so much very lot in advance "
    "me mind quick random silly simple one thing something happen helping hand sec got have "
    "has a an i i've ive i'm im i'd can could would will may might let do does to for with "
    "on about out just ok okay um uh hmm well oh ah really real here the this it is my your "
    "be am are any if possible again kindly need needed honestly".split())
_LEAD_SENTENCE = re.compile(r"^([^,:;!?.]{1,60}?)(?:[,:;!?.]+\s+|\s+[-\u2013\u2014]\s+)"
                            r"(?:(?:but|so|and)\s+)?(?=\S)")
_TAIL_SENTENCE = re.compile(r"[,.!?]\s+([^,:;!?.]{1,60})$")
_CHAT_TOKEN = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?|\S")


# A letter's salutation and its sign-off with a name: "Dear Financial Aid Office, ...",
# "... Kind regards, Maya".
_SALUTATION = re.compile(r"^dear [^,:;!?.]{1,40}[,:!]\s+")
_SIGN_OFF = re.compile(r"[.!?]\s+(?:kind regards|best regards|warm regards|regards|cheers|"
                       r"thanks|thank you|many thanks|sincerely|best wishes|all the best)"
                       r"[,.!]?\s+[^\W\d_]+(?: [^\W\d_]+)?\.?$")


def _chat_only(part: str) -> bool:
    words = _CHAT_TOKEN.findall(part)
    return all(w in _CHAT_WORDS for w in words) and any(w in _CHAT_MARKERS for w in words)


# "please" or "asap" closing a clause inside the text: "Cancel my subscription asap please, I
# don't use it anymore" asks what "Cancel my subscription, I don't ..." asks.
_INNER_PLEASE = re.compile(r"\s+(?:asap please|please asap|asap|please|pls|plz)(?=\s*[,;])")


def _drop_chat(text: str) -> str:
    """``text`` without a chat-only first or last sentence or clause (``_CHAT_WORDS``), a
    salutation or a signed sign-off."""
    text = _INNER_PLEASE.sub("", _SIGN_OFF.sub("", _SALUTATION.sub("", text)))
    m = _LEAD_SENTENCE.match(text)
    if m and _chat_only(m.group(1)):
        text = text[m.end():]
    m = _TAIL_SENTENCE.search(text)
    if m and _chat_only(m.group(1)):
        text = text[:m.start()]
    return text


MAX_CHARS = 4000  # longer texts are not cached at all (``max_query_chars``); this bounds work


def _strip_end(text: str) -> str:
    """Drop trailing punctuation and symbols (any script) and surrounding quotes."""
    end = len(text)
    while end and (unicodedata.category(text[end - 1])[0] in "PSZ" or text[end - 1] in _EDGE):
        end -= 1
    start = 0
    while start < end and (text[start] in _EDGE or unicodedata.category(text[start]) in
                           ("Pi", "Ps", "Zs", "So")):
        start += 1  # opening quotes and brackets, and an emoji before the words ("👋 ...")
    return text[start:end]


# Symbols whose meaning case folding, end stripping or a word split would lose: currencies
# ("$1,500" / "£1,500"), degrees ("200°C" / "200°F"), "C#" and "C++" beside "C", and bits
# beside bytes ("60 Mb/s" / "60 MB/s": an upper-case prefix with a lower-case "b" is bits;
# "MB", "mb" and "kB" are bytes, as people write them).
_DEGREES = {"c": "celsius", "f": "fahrenheit", "k": "kelvin", "℃": "celsius",
            "℉": "fahrenheit"}
_CURRENCY = {"$": "dollar", "£": "pound", "€": "euro", "¥": "yen", "₹": "rupee"}
_MICRO = {"s": "microsecond", "g": "microgram", "m": "micrometre", "l": "microlitre"}
_PREFIX = {"K": "kilo", "M": "mega", "G": "giga", "T": "tera", "P": "peta"}


def _data_unit(m: re.Match) -> str:
    prefix, b = m.group(1), m.group(2)
    return f" {_PREFIX[prefix.upper()]}{'bit' if prefix.isupper() and b == 'b' else 'byte'} "


def _data_rate(m: re.Match) -> str:
    """"Mbps" (bits, however the prefix is cased) and "MBps" (bytes) as "Mb/s", "MB/s" read."""
    return f" {_PREFIX[m.group(1).upper()]}{'bit' if m.group(2) == 'b' else 'byte'} /s "


_SYMBOLS = [(re.compile(r"(?<![\w#+])([cf])#", re.I), lambda m: f" {m.group(1).lower()}sharp "),
            (re.compile(r"(?<![\w+])c\+\+", re.I), lambda m: " cpp "),
            (re.compile(r"[$£€¥₹]"), lambda m: f" {_CURRENCY[m.group(0)]} "),
            (re.compile(r"[°º]\s?([CFK])\b|([℃℉])", re.I),
             lambda m: f" {_DEGREES[(m.group(1) or m.group(2)).lower()]} "),
            (re.compile(r"(?<![A-Za-z])([KkMmGgTtPp])([Bb])(?![A-Za-z])"), _data_unit),
            # "100 Mbps" is "100 Mb/s", and "MBps" bytes: the same unit as with "/s"
            # ("mbps" typed lower-case is still bits: only "B" is bytes there)
            (re.compile(r"(?<![A-Za-z])([KkMmGgTtPp])([Bb])ps\b"), _data_rate),
            # the micro sign (NFKC makes "µ" the Greek "μ"): "40 μs" is not "40 ms"
            (re.compile(r"μ([sgml])(?![A-Za-z])"), lambda m: f" {_MICRO[m.group(1)]} "),
            # chat shorthand: "w/o foreign key checks" asks "without ...", "w/ milk" "with"
            (re.compile(r"\bw/o\b", re.I), lambda m: " without "),
            (re.compile(r"\bw/(?=\s)", re.I), lambda m: " with ")]


def spell_symbols(text: str) -> str:
    """``text`` with those symbols written as words ("$5" -> " dollar 5", "C#" -> " csharp ")."""
    for pattern, word in _SYMBOLS:
        text = pattern.sub(word, text)
    return text


# A greeting typed with its letters drawn out ("hiii", "heyyy", "hellooo"), read as itself.
_DRAWN_GREETING = re.compile(r"^(?:h+i+|h+e+y+|h+e+l+o+)\b")


def _greeting(text: str) -> str:
    m = _DRAWN_GREETING.match(text)
    if m is None or m.group(0) in ("hi", "hey", "hello"):  # as written: "hey siri", "hey so"
        return text
    return "hi" + text[m.end():]


# An acronym written with dots ("B.P.M.", "U.S.A.", "d.n.a."): the same letters as "BPM". In
# lower case only three letters or more, so "e.g." and "a.m." stay as written.
_DOTTED = re.compile(r"(?<![\w.])((?:[A-Z]\.){2,}|(?:[a-z]\.){3,})(?![\w])")


def _undot(m: re.Match) -> str:
    return m.group(1).replace(".", "")


# A question a wrapper turned indirect, read as the direct one it asks: "(I was wondering)
# whether I should X" is "should I X"; "(tell me) what a CD ladder is" is "what is a CD
# ladder".
_INDIRECT = (
    # one clause only: "if I can work remotely, do I need a visa" is a condition, not a question
    (re.compile(r"^(?:whether|if) (i|we|you|they|he|she|it) (should|can|could|would|will|must|"
                r"may) (?=[^,;:?]+$)"), r"\2 \1 "),
    # "whether I need to X" asks "do I need to X"; "whether it is X", "is it X"
    (re.compile(r"^(?:whether|if) (i|we|you|they) (need|have) to (?=[^,;:?]+$)"), r"do \1 \2 to "),
    (re.compile(r"^(?:whether|if) (it|this|that|there|he|she)(?: is|'s) (?=[^,;:?]+$)"),
     r"is \1 "),
    (re.compile(r"^(?:whether|if) (we|you|they|there) (?:are|'re) (?=[^,;:?]+$)"), r"are \1 "),
    (re.compile(r"^(?:whether|if) (?:i am|i'm) (?=[^,;:?]+$)"), r"am i "),
    (re.compile(r"^(what|who|where|which|how much|how many) ((?:a|an|the|my|your|our|their|his|"
                r"her|this|that) [^,;:?]+) (is|are|was|were)$"), r"\1 \3 \2"),
)


def _direct(text: str) -> str:
    for pattern, direct in _INDIRECT:
        text = pattern.sub(direct, text)
    return text


# A Roman numeral after a name is a number: "World War II" is "World War 2", "Type II" is
# "Type 2". Two letters or more after any capitalised word; a lone "I" only after the names
# that take it ("World War I", "Henry I", "Part I"): elsewhere it is the pronoun.
_ROMAN = {r: str(n) for n, r in enumerate(
    "I II III IV V VI VII VIII IX X XI XII XIII XIV XV XVI XVII XVIII XIX XX".split(), 1)}
_ROMAN_RE = re.compile(r"\b([A-Z][a-z]+) ([IVX]+)\b")
_MONARCHS = frozenset("Henry Elizabeth Charles George Edward James William Richard Louis "
                      "Peter Catherine Mary Alexander Nicholas Frederick Philip".split())
_TAKES_I = _MONARCHS | frozenset("War Part Chapter Phase Type Level Class Stage Book Volume Act "
                                 "Episode Season".split())
# In lower case a lone "i" is a numeral only after "war" and a monarch's name ("elizabeth
# i"): "the part i missed" keeps its pronoun.
_LOWER_TAKES_I = frozenset(n.lower() for n in _MONARCHS) | {"war"}


# Typed all in lower case ("world war ii", "type ii diabetes"), a numeral counts only after
# those names, and a lone "i" only after the ones above.
_ROMAN_LOWER_RE = re.compile(r"\b(" + "|".join(n.lower() for n in _TAKES_I) + r") ([ivx]+)\b")


def _arabic(m: re.Match) -> str:
    """Either regex's match with its numeral in digits. One letter only as "I" after a name
    that takes it ("Malcolm X" stays), and typed in lower case only after "war" or a monarch."""
    name, numeral = m.group(1), m.group(2).upper()
    if numeral not in _ROMAN or len(numeral) == 1 and not (
            numeral == "I" and (name in _TAKES_I if name[0].isupper() else name in _LOWER_TAKES_I)):
        return m.group(0)
    return f"{name} {_ROMAN[numeral]}"


# A thousands separator is punctuation people leave out: "$400,000" / "$400000". Only a
# comma before exactly three digits ("3,5" and "1,2,3" stay as written).
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")


def canonical(text: str, fillers: bool = True) -> str:
    """The key two texts must share to be the same question; '' for an empty one."""
    text = unicodedata.normalize("NFKC", text[:MAX_CHARS])
    text = _ROMAN_RE.sub(_arabic, _DOTTED.sub(_undot, text).translate(_QUOTES))
    text = _ROMAN_LOWER_RE.sub(_arabic, text)
    text = spell_symbols(_THOUSANDS.sub("", text))
    text = _SPACE.sub(" ", text).strip().casefold()
    text = _strip_end(text)
    if fillers:
        # Peel wrappers repeatedly: "hey, can you please tell me ..." has three.
        for _ in range(6):
            before = text
            lead = _LEAD_RE.sub("", _greeting(_WAKE_RE.sub("", _VOCATIVE_RE.sub("", text))))
            text = _strip_end(_drop_chat(_TAIL_RE.sub("", _REMIND_RE.sub("", lead))))
            if text == before:
                break
        text = _direct(text)
    return text


# A hyphen between two letters is a space people type either way: "reply-all" / "reply all".
_INNER_HYPHEN = re.compile(r"(?<=[^\W\d_])-(?=[^\W\d_])")


# Quote marks around a word ("does 'alot' have a space") and the dots of a short abbreviation
# ("e.g.", "p.m.") are punctuation people leave out too.
_EDGE_QUOTE = re.compile(r"(?<!\w)['\"](?=[^\W\d_])|(?<=[^\W\d_])['\"](?!\w)")  # not 5'10"
_ABBREVIATION = re.compile(r"(?<![\w.])[a-z](?:\.[a-z])+\.?(?![\w.])")


def exact_key(text: str, fillers: bool = True) -> str:
    """The normalised-exact tier's key: ``canonical`` without apostrophes inside words, quote
    marks around them or dots inside abbreviations, and with a space for a hyphen between
    letters."""
    key = _INNER_APOSTROPHE.sub("", canonical(text, fillers))
    key = _ABBREVIATION.sub(lambda m: m.group(0).replace(".", ""), _EDGE_QUOTE.sub("", key))
    return _INNER_HYPHEN.sub(" ", key)
