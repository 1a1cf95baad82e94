"""The quoted text an instruction works on, apart from the instruction.

Why: an agent's request is often a short task and a longer quoted text ("Extract the event
venue: "The awards dinner is at the Grand Mercure on 22 November, dress code black tie.""). Two
such requests with the same quote and another task ("... the dress code: ...") embed almost
alike, and the learned verifier, reading mostly the shared quote, scored them as duplicates:
blind sets in that register served 3–6% of their near-misses (session 21). With the quote taken
out of both, the tasks are compared on their own.
"""
from __future__ import annotations

import re

from .normalize import canonical

# Words a quote needs to be a text worked on: shorter ones are names, titles or phrases the
# task is about ("answer "Tell me about yourself"", "the "dollar shortage"", a code call).
MIN_WORDS = 6
# A quote in double or curly quotes anywhere, or in single quotes after a colon or a question
# mark to the end ("What's the tone of this email? '…'"; single quotes inside a text are
# apostrophes, or a list of quoted names, as often).
_QUOTED = re.compile(r'"([^"]+)"|\u201c([^\u201d]+)\u201d'
                     r'|(?<=[:?])\s*\'((?:(?!\',\s*\').)+)\'(?=[\s.?!]*$)', re.S)


def split(text: str) -> tuple[str, str] | None:
    """(the text with its longest quote taken out, that quote), or None without a quote of
    ``MIN_WORDS`` words or more."""
    found = [(m, next(g for g in m.groups() if g is not None)) for m in _QUOTED.finditer(text)]
    found = [f for f in found if len(f[1].split()) >= MIN_WORDS]
    if not found:
        return None
    m, quote = max(found, key=lambda f: len(f[1]))
    return f"{text[:m.start()]} {text[m.end():]}".strip(), quote


# Code in backticks (`head -n 20 access.log`, `revisionHistoryLimit`): exact text, where one
# flag, argument or name more or less is another command or another setting. So is a quoted
# text that reads as code: a flag ("-L", "--dport"), an assignment, a path, an address (IP or
# e-mail), a "host:port" or a negating "!" ('ssh -L 8080:localhost:80 …', 'iptables … !
# --dport 53', 'permit tcp 10.1.1.0 0.0.0.255 host 172.16.5.10'). So is a call written
# out, quoted or not: "P(A|B)" / "P(B|A)", "log(2, 8)" / "log(8, 2)" (the word view keeps
# their letters and loses the order that makes them another call).
_CODE = re.compile(r"`([^`]+)`|\b([A-Za-z_]\w*\([^()]*\))")
_CODE_LIKE = re.compile(r"(?:^|\s)--?[A-Za-z]|[=/@|{}\[\]]|\w:\w|(?:^|\s)!|\d\.\d+\.\d")


def code_spans(text: str) -> frozenset[str]:
    """The text's code: backticked spans, calls, and quoted texts that read as code; case, spacing
    and end punctuation aside (a lower-cased request writes its error message in lower case
    too). Their order is the rules' business ("convert `String` to `&str`")."""
    found = [x or y for x, y in _CODE.findall(text)]
    found += [q for m in _QUOTED.finditer(text)
              for q in m.groups() if q is not None and _CODE_LIKE.search(q)]
    return frozenset(" ".join(m.split()).strip(" .,;!?").casefold() for m in found)


# Comparison operators, which the word view drops with the punctuation: "up == 0" / "up != 0"
# are opposite rules. A bare "<" or ">" counts only between spaces ("x > 5"), not in markup
# ("<div>") or arrows ("->", "=>").
_OPERATORS = re.compile(r"==|!=|<=|>=|=~|!~|(?<=\s)[<>](?=\s)")


def operators(text: str) -> tuple[str, ...]:
    """The text's comparison operators, in order."""
    return tuple(_OPERATORS.findall(text))


# Openings that only ask to find something in the quote: "extract the job title" / "pick out
# the job title" / "what's the job title" ask one thing. Another act ("summarise", "translate",
# "classify", "count") is another task and stays.
_FIND = re.compile(r"^\s*(?:please\s+)?(?:extract|pick out|pull out|pick|find|locate|identify|"
                   r"determine|get|give me|tell me|state|list|show me|what(?:'s| is| are)|which)\b",
                   re.I)


def tasks_of_one_quote(a: str, b: str) -> tuple[str, str] | None:
    """The two tasks without their quote, when both texts quote the same text (as the
    normalised-exact tier reads it: case, spacing and end punctuation aside) and the quote is
    the larger part of each; else None. A statement that mentions a command in quotes
    ("install it by running "conda install ..."") is about the statement, not the command."""
    sa, sb = split(a), split(b)
    if sa is None or sb is None or \
            canonical(sa[1], fillers=False) != canonical(sb[1], fillers=False):
        return None
    quote = len(sa[1].split())
    if not sa[0] or not sb[0] or max(len(sa[0].split()), len(sb[0].split())) > quote:
        return None
    ta, tb = _FIND.sub("", sa[0]).strip(), _FIND.sub("", sb[0]).strip()
    # both or neither: a misspelt "extarct" against "extract" is a typo, not an added word
    return (ta, tb) if ta and tb and ta != sa[0] and tb != sb[0] else (sa[0], sb[0])
