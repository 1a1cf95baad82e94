"""The word lists the semantic cache's lexical rules read, in one place.

Two readers, with lists of their own: ``contrast`` (the structural comparison; it may change
with its rules and tests) and ``features`` (the verifier's pair features, the ``FEATURE_*``
lists at the end). The verifier's weights (``verifier*.npz``) were fit on feature values
computed from the ``FEATURE_*`` lists as they are, so those stay frozen and apart: folding
them into ``contrast``'s longer lists would change the features, and with them the
verifier's scores and the cache's decisions, without a refit. What the two share exactly
(the negations as written) is written once.

Pure data, built at import; WordNet's pairs come from ``lexicon.json`` (``lexicon``).
"""

from __future__ import annotations

import hashlib
import json

from . import lexicon
from .stemming import STEMMER, stem


def _lines(text: str) -> list[list[str]]:
    """"a b|c d e" (newlines as "|") -> [["a", "b"], ["c", "d", "e"]]."""
    return [line.split() for line in text.replace("\n", "|").split("|")]


def _both_ways(pairs: list[list[str]]) -> dict[str, frozenset[str]]:
    """word -> the words it is paired with, each pair read in both directions."""
    out: dict[str, frozenset[str]] = {}
    for x, y in pairs:
        out[x] = out.get(x, frozenset()) | {y}
        out[y] = out.get(y, frozenset()) | {x}
    return out


# Negations written with an apostrophe (or none needed): the verifier's features read
# exactly these; ``contrast``'s NEGATIONS adds "n't" and the apostrophe-less spellings.
FEATURE_NEGATIONS = frozenset("not no never none nothing nobody neither nor without cannot "
                              "can't won't don't doesn't didn't isn't aren't wasn't weren't "
                              "shouldn't wouldn't couldn't hasn't haven't hadn't mustn't".split())

# -- contrast's lists -----------------------------------------------------------------------

STOP = frozenset(
    "a an the of in on at by with as and or but if so that this these those is are was were "
    "be been being am do does did done have has had having i me my mine we us our you your "
    "he him his she her it its they them their there here about any some all each every "
    "such own same just also too get got can could would should will shall may might must "
    "'s s t ll ve re d m what which how up out off for into than to from then between versus "
    "vs whether because while whilst although though whereas".split())
# Request wrappers and meta words: missing on one side, they do not change the question.
REQUEST = frozenset(
    "tell explain describe show give list name outline define definition instructions "
    "steps way ways method please thanks thank hey hi hello um question just curious wondering "
    "wonder know want like need help understand trying kindly simply briefly walk teach "
    "provide curious basically honestly actually idea sorry dumb stupid silly sec bother "
    "appreciate appreciated apologies anyone someone calculate compute recommend "
    "suggest actual exactly really truly precisely pls plz ty thx tia".split())
# Contractions typed without their apostrophe ("whats the best way", "im flying"): read
# as "what's" and "i'm" are (the word before the apostrophe). Only spellings that are no
# other word: "ill", "id", "were", "lets", "its" and "wed" are left alone.
# Chat interjections that say nothing of what is asked, wherever they stand ("... invited
# us, haha. We barely know them"); the parse drops them, as the key drops them at the edges.
INTERJECTIONS = frozenset("lol lmao rofl haha hahaha hehe tbh imo imho btw fyi ngl omg ugh "
                          "hmm umm um uh yay yikes oops".split())
BARE_CONTRACTIONS = {w: w[:-len(end)] for end, words in (
    ("s", "whats thats hows whos wheres whens whys theres heres hes shes"),
    ("m", "im"), ("ve", "ive youve weve theyve"), ("re", "youre theyre"),
    ("ll", "youll theyll itll thatll")) for w in words.split()}
# Negations as written; "n't" is what ``contrast`` splits off "don't" and the like.
NEGATIONS = FEATURE_NEGATIONS | {"n't"}
# The same contractions as phones and quick typists write them, without the apostrophe
# ("why doesnt it start"). "cant" and "wont" are also rare nouns; in a question they are
# nearly always the negation.
NEGATIONS = NEGATIONS | frozenset(w.replace("'", "") for w in NEGATIONS if "'" in w
                                  and len(w) > 3) | {"aint"}
# The verb of a negated contraction, with or without its apostrophe: "won't" and "wont"
# are "will" + "n't", "don't" and "dont" are "do" + "n't".
NEG_BASE = {"wo": "will", "ca": "can", "sha": "shall"}
BARE_NEGATIONS = {w.replace("'", ""): NEG_BASE.get(w[:-3], w[:-3])
                  for w in NEGATIONS if w.endswith("n't") and len(w) > 3}
# An exclusion on one side only turns the request around as a "not" does: "all columns
# except id" / "only the columns id".
NEGATIONS = NEGATIONS | {"except", "excluding", "ignoring", "unless"}  # "unless" is "if not"
# Words that open a condition or time clause: "[when] the ball hits the net", "[if] he wins".
CONDITIONS = frozenset({"when", "whenever", "if", "once", "after", "before", "until"})
# Question words that ask for different things; what/which/how-to are generic.
SPECIFIC_WH = {"when": "time", "why": "reason", "where": "place", "who": "person",
               "whom": "person", "whose": "person"}
# Every question word, for the "same" verdict: "How are X used?" and "Why are X used?" are
# not the same question even where no rule names the difference (the verifier decides).
FORM_WH = {"how": "how", "why": "why", "when": "when", "where": "where", "who": "who",
           "whom": "who", "whose": "who"}
# The auxiliary of a yes/no question, by class: "Can jellyfish change colour?" and "Do
# jellyfish change colour?" ask different things; "how do I" / "how can I" do not.
AUX_CLASS = {"can": "can", "could": "can", "should": "should", "ought": "should",
             "will": "will", "would": "will", "did": "past", "was": "past", "were": "past",
             "had": "past", "must": "must", "may": "may", "might": "may"}
# Auxiliaries: between a doer and its verb ("is giving", "can claim") or after a question
# word ("who did X beat"); "be" and "have" ones leave a relation's preposition behind.
BE = frozenset("is are am be was were has have had".split())
AUX = frozenset(AUX_CLASS) | BE | {"do", "does"}
HOW_WORDS = frozenset("instructions steps guide tutorial".split())
# What "how" + a word asks for: "how heavy" a weight, "how thick" a thickness, "how long" a
# duration. "how much"/"how many" ask an amount, which may be any of the measures ("how much
# does it weigh" is "how heavy is it"), unless the noun after says which ("how much time").
HOW_ASKS = {"long": "duration", "soon": "duration", "tall": "height", "high": "height",
            "heavy": "weight", "thick": "thickness", "wide": "width", "deep": "depth",
            "big": "size", "large": "size", "old": "age", "far": "distance", "fast": "speed",
            "quickly": "speed", "often": "frequency", "frequently": "frequency",
            "hot": "temperature", "cold": "temperature", "warm": "temperature",
            "expensive": "price", "much": "amount", "many": "amount"}
# The quality a graded adjective compares ("faster than", "the cheapest", "more readable"):
# two adjectives of two qualities ask two things ("is X faster / more readable than Y");
# "tallest" / "highest" ask one. Words with two senses ("hard", "light", "low") are left out.
QUALITIES = {w: q for q, words in (
    ("speed", "fast quick slow rapid speedy"), ("price", "cheap expensive costly pricey affordable"),
    ("size", "big large small tiny huge"), ("height", "tall high"), ("length", "long lengthy"),
    ("weight", "heavy"), ("age", "old young"), ("safety", "safe secure dangerous risky"),
    ("ease", "easy simple difficult"), ("popularity", "popular"),
    ("strength", "strong weak powerful"), ("distance", "far"),
    ("temperature", "hot cold warm"), ("depth", "deep shallow"), ("width", "wide narrow"),
    ("thickness", "thick thin"), ("loudness", "loud quiet"), ("wealth", "rich poor wealthy"),
    ("population", "populous populated"), ("readability", "readable"),
    ("reliability", "reliable"), ("efficiency", "efficient"), ("accuracy", "accurate"),
    ("health", "healthy"), ("comfort", "comfortable"), ("durability", "durable"))
    for w in words.split()}
HOW_NOUNS = {"time": "duration", "hours": "duration", "days": "duration",
             "minutes": "duration", "weeks": "duration", "months": "duration",
             "years": "duration", "times": "frequency", "money": "price"}
# The properties a "how <adjective>" question asks for (``HOW_ASKS``' measures): "how long"
# asks the duration, the time or the length, not the salary. A property not listed here
# ("symptoms", "salary") is asked by no such question.
MEASURED_BY = {
    "duration": "time duration lifespan length deadline latency term timeline timeframe",
    "height": "height altitude elevation",
    "weight": "weight mass",
    "thickness": "thickness", "width": "width", "depth": "depth",
    "size": "size area volume capacity diameter radius circumference length",
    "age": "age lifespan", "distance": "distance length",
    "speed": "speed velocity latency throughput performance",
    "frequency": "frequency", "temperature": "temperature",
    "price": "price pricing cost fee",
}
HOW_AMOUNTS = frozenset("amount price weight size temperature".split())  # "how much" may ask
# The noun of "which city" / "what year" names the kind of answer "what" asks for already.
WH_NOUNS = frozenset("city town country nation person people place thing things year day "
                     "month time one ones animal company kind type sort".split())
# Adverbs that put an act in one setting, wherever they stand beside a reworded rest: "start
# singing [professionally]", "languages [officially] recognized", "work [remotely]". Not
# "permanently": "stop X [permanently]" is said for emphasis.
SCOPE_ADVERBS = frozenset("professionally competitively commercially legally officially publicly "
                          "internationally domestically temporarily remotely manually privately "
                          "jointly separately "
                          # how much of it: "which expenses are [fully] deductible"
                          "fully partially partly".split())
# Adjectives that pick a kind out, when one is the only word added: "what [venomous] snakes
# live in Florida", "a [permanent] residence permit" ("a native speaker" rewords "fluent").
KIND_ADJECTIVES = frozenset("venomous poisonous toxic edible endangered extinct native invasive "
                            "nocturnal wild domesticated deadly organic vegan vegetarian halal "
                            "kosher refurbished unpaid permanent temporary upper lower inner "
                            "outer official severe mild chronic acute "
                            # a colour picks a kind too: "a [red] panda", "[brown] rice"
                            "red black white brown green blue grey gray yellow pink purple "
                            # and whose: "my [personal] emails", "[domestic] flights"
                            "personal private business commercial residential domestic "
                            "international "
                            # and how it was made or kept: "[homemade] hot sauce", "[frozen] peas"
                            "homemade canned frozen raw dried "
                            # and what is left out: "a [virgin] bloody mary", "[decaf] coffee"
                            "virgin decaf alcoholic "
                            # and what state it is in: "exchange [worn] shoes", "[unopened]"
                            "worn unopened opened expired".split())
# The purposes of a stay or a permit: "a visa to [visit] Vietnam" / "to [study] in Vietnam".
PURPOSES = frozenset("visit study work transit live retire immigrate volunteer".split())
# What such a noun asks, in ``SPECIFIC_WH``'s terms: "what year" asks when, "which city" where.
WH_NOUN_ASKS = {"year": "time", "day": "time", "month": "time", "time": "time",
                "city": "place", "town": "place", "country": "place", "nation": "place",
                "place": "place", "person": "person", "people": "person", "price": "price",
                "cost": "price"}
# Markers whose next content word has a role: "from X", "to Y", "X than Y".
DIRECTIONAL = frozenset({"from", "to", "into", "than", "onto", "toward", "towards", "via",
                         "versus_to"})
# Personal and possessive pronouns by person ("you" is subject and object alike, so
# neither): "from her account into mine" / "from my account into hers".
PERSON = {"i": "<i>", "me": "<i>", "my": "<i>", "mine": "<i>", "we": "<we>", "us": "<we>",
           "our": "<we>", "ours": "<we>", "he": "<he>", "him": "<he>", "his": "<he>",
           "she": "<she>", "her": "<she>", "hers": "<she>", "they": "<they>", "them": "<they>",
           "their": "<they>", "theirs": "<they>",
           # one person unnamed, doer or done-to: "someone sends me" / "I send someone"
           "someone": "<someone>", "somebody": "<someone>",
           # the one addressed, in a sentence to translate: "I owe you" / "you owe me"
           "you": "<you>", "your": "<you>", "yours": "<you>"}


TOWARDS = {"into": "to", "onto": "to", "toward": "to", "towards": "to"}
SKIP_AFTER_MARKER = frozenset("a an the my your our their his her its this that these those "
                               "some any".split())
NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty".split())}
NUMBER_WORDS.update({"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60",
                     "seventy": "70", "eighty": "80", "ninety": "90", "hundred": "100",
                     "thousand": "1000", "million": "1e6", "billion": "1e9", "dozen": "12",
                     "half": "0.5", "quarter": "0.25", "double": "x2", "twice": "x2",
                     "triple": "x3", "first": "1st", "second": "2nd", "third": "3rd",
                     "fourth": "4th", "fifth": "5th", "last": "last"})
# Every ordinal up to the twentieth ("the tenth day" / "the twelfth day"), and the decades
# ("the seventies" asks about other years than "the eighties"; "the 70s" is the same).
NUMBER_WORDS.update({w: f"{i}th" for i, w in enumerate(
    "sixth seventh eighth ninth tenth eleventh twelfth thirteenth fourteenth fifteenth "
    "sixteenth seventeenth eighteenth nineteenth twentieth".split(), start=6)})
NUMBER_WORDS.update({f"{w[:-1]}ies": f"{NUMBER_WORDS[w]}s" for w in
                     "twenty thirty forty fifty sixty seventy eighty ninety".split()})
# "one" is as often a pronoun ("which one") as a number: a number only beside another one.
# Month names and their short forms, by the month ("sept" and "sep" are September).
MONTHS = {w: m for m in ("january february march april may june july august september "
                         "october november december").split()
          for w in (m, m[:3], "sept" if m == "september" else m)}
AMBIGUOUS_NUMBERS = frozenset({"one", "second", "last"})
# Multiples written as one word, read as the two words they also are.
MULTIPLES = {"twice": ["two", "times"], "thrice": ["three", "times"]}
UNITS = frozenset(
    "mile miles km kilometer kilometers kilometre kilometres meter meters metre metres m cm "
    "centimeter centimeters mm millimeter millimeters inch inches foot feet ft yard yards "
    "pound pounds lb lbs kg kilogram kilograms gram grams g mg ounce ounces oz ton tons tonne "
    "tonnes stone celsius fahrenheit kelvin liter liters litre litres ml gallon gallons quart "
    "quarts pint pints cup cups tablespoon tablespoons tbsp teaspoon teaspoons tsp second "
    "seconds minute minutes hour hours day days week weeks month months year years decade "
    "decades century centuries millennium millennia mph kph kmh knots mb gb tb kb pb kib mib "
    "gib tib pib byte bytes bit bits "
    "dollar dollars usd euro euros eur gbp yen jpy rupee rupees yuan cad aud percent calorie "
    "calories kcal joule joules watt watts kw kwh volt volts amp amps hz ghz mhz psi bar "
    "pascal acre acres hectare hectares hourly daily weekly biweekly monthly quarterly "
    "yearly annually annual nightly".split())
# Every SI- or byte-prefixed unit, singular and plural ("megabytes", "milliseconds", "kWh").
UNITS = UNITS | frozenset(
    f"{p}{u}{s}" for p in ("kilo", "mega", "giga", "tera", "peta", "milli", "micro", "nano",
                           "centi", "deci", "kibi", "mebi", "gibi", "tebi")
    for u in ("byte", "bit", "meter", "metre", "gram", "second", "liter", "litre", "watt",
              "hertz", "joule", "volt", "amp", "ampere", "calorie", "pascal", "newton")
    for s in ("", "s")) | frozenset("kw kwh mwh gw gwh mw hp nm µm um mm2 cm2 m2 km2 m3 cm3 "
                                    "sq sqft mpg rpm dpi ppi fps bpm mbps gbps kbps".split())
# Units that are no everyday noun: one of these replacing any word changes the question.
UNAMBIGUOUS_UNITS = UNITS - frozenset(
    "m g yard yards foot feet pound pounds stone ton tons cup cups second seconds minute "
    "minutes bar bit bits day days week weeks month months year years century centuries decade "
    "decades dollar dollars".split())
# Properties a question asks about: one in place of another asks for another answer ("the
# retrieval time" / "the retrieval cost", "the height of" / "the age of").
ATTRIBUTES = frozenset(
    "time duration cost price fee weight mass size height width length depth thickness "
    "age speed velocity latency throughput bandwidth distance population area capacity "
    "volume temperature pressure density salary wage income revenue profit margin dosage "
    "dose calories protein sugar voltage power resistance frequency wavelength resolution "
    "lifespan diameter radius circumference altitude elevation yield "
    # the aspects a request asks of an agreement, a product, a condition or a language:
    # each its own section of the answer ("the payment terms" / "the liability terms", "the
    # symptoms of" / "the treatment of"). No two of them say the same thing.
    "payment liability warranty termination cancellation confidentiality privacy refund "
    "shipping pricing billing licensing license renewal indemnity penalty penalties "
    "coverage deductible requirements deadline history origin ingredients features "
    "symptoms causes treatment diagnosis prevention syntax performance security legal "
    "effects risks interactions contraindications fine responsibilities duties obligations "
    "qualifications recipients attachments sensitivity specificity expiry expiration issuer "
    # how much against how long: "the refund [amount]" / "the refund [timeline]"
    "amount timeline timeframe "
    # what came of a thing against what led to it: "the [causes] of" / "the [consequences] of"
    "consequences aftermath outcome outcomes "
    "eligibility "
    "financial "
    # what one asks of an error beside its causes: its fix ("the cause of this error" / "the fix")
    "fix workaround "
    # what one asks of a word or an idiom ("definition" is a function word there, as "what is")
    "meaning etymology pronunciation usage "
    # what a review of code or a product looks at
    "readability maintainability usability accessibility scalability reliability "
    "correctness durability portability compatibility "
    # the fields of a listing or a record an agent edits ("update the title of ...")
    "title description "
    # what one asks of a theory or a position: its case, or the case against it
    "argument arguments objection objections criticism criticisms "
    # the people of a book or a film, each a person of their own ("the main character" /
    # "the narrator" of The Great Gatsby are two men)
    "narrator antagonist villain character characters author director "
    "screenwriter composer illustrator publisher "
    # what one asks of a file, and of a policy ("the owner" / "the permissions" of a file;
    # what insurance costs / what it covers)
    "owner owners permissions cover covers "
    # the parts of a study, and what an editor checks of a text ("summarize the methodology"
    # / "the limitations" of one study, "check the tone" / "the grammar" of one email)
    "methodology limitations findings tone grammar spelling "
    # what a loan, a token or a ticket has besides its amount, its expiry or its title ("the
    # repayment [term]", "the [scopes] of a deploy token", "the [labels] of the open PRs", "the
    # refund [status]", "the average [rating] of listings", "the overtime [threshold]", the
    # [budget] of a project against its planned duration)
    "term scopes labels status rating ratings threshold budget "
    # the people a ticket names, each another one ("change the [reviewer]" / "[assignee]")
    "reviewer reviewers assignee assignees approver approvers reporter "
    # how much of a reserved thing is used, beside when it ends ("the [utilization]" / "the
    # [expiration date] of our reserved instances")
    "utilization utilisation".split())
LANGUAGES = frozenset(
    "english french german spanish italian portuguese dutch russian chinese mandarin "
    "cantonese japanese korean arabic hindi bengali urdu turkish greek polish swedish "
    "norwegian danish finnish czech hungarian romanian ukrainian hebrew thai vietnamese "
    "indonesian malay tagalog swahili persian farsi latin "
    # programming languages too ("in Python" / "in Rust"); "C#" and "C++" are read as
    # "csharp" and "cpp" (``question``); "go", "c" and "r" are also plain words
    "javascript typescript python java kotlin swift rust ruby php perl haskell scala "
    "csharp cpp fsharp lua dart elixir erlang clojure julia matlab fortran cobol "
    "powershell golang".split())
# Opposites the prefix rule below does not derive.
_OPPOSITES = """good bad|best worst|better worse|men women|man woman|male female|boy girl
boys girls|husband wife|buy sell|buying selling|bought sold|before after|like dislike
love hate|pros cons|advantages disadvantages|advantage disadvantage|benefits drawbacks
benefits risks|cheap expensive|cheapest expensive|positive negative|rich poor|old new
old young|older younger|oldest youngest|fast slow|faster slower|fastest slowest|start stop
start end|start finish|begin end|open close|win lose|won lost|true false|north south
east west|left right|first last|high low|higher lower|highest lowest|more less|most least
big small|bigger smaller|biggest smallest|large small|larger smaller|largest smallest
hot cold|hotter colder|hottest coldest|warm cool|easy hard|easy difficult|easiest hardest
happy sad|min max|minimum maximum|always never|top bottom|inside outside|strong weak
stronger weaker|safe dangerous|success failure|gain lose|gain loss|profit loss|add remove
add delete|accept reject|accept decline|approve reject|allow deny|allow block|send receive
sent received|sender receiver|encode decode|encoding decoding|encoder decoder|push pull
lend borrow|lending borrowing|deposit withdraw|teach learn|arrive depart|arrival departure
raise lower|rise fall|increase decrease|increase reduce|increasing decreasing|upper lower
uppercase lowercase|enter exit|entry exit|login logout|earlier later|earliest latest
long short|longer shorter|longest shortest|heavy light|dark light|past future|mother father
son daughter|brother sister|king queen|bull bear|asc desc|server client|read write
reading writing|above below|forward backward|forwards backwards|front behind|ahead behind
foreground background|pleased angry|pleased upset|happy angry|happy upset|satisfied angry
satisfied upset|horizontal vertical
horizontally vertically|vertical horizontal|wet dry|full empty|thick thin|wide narrow
broad narrow|broadest narrowest|widest narrowest|approve deny|approval denial
successful failed|succeeded failed|successfully unsuccessfully|benefits harms|benefit harm
mitigating aggravating|join leave|joining leaving|starting leaving|stay leave|staying leaving
strict loose|stricter looser|strictest loosest|fixed variable|fixed floating
count exclude|counts excludes|counting excluding
serious lighthearted|serious playful|serious humorous|serious funny|most fewest
drop grow|dropped grew|dropping growing|drops grows|full partial|fully partially
delay accelerate|delays accelerates|delayed accelerated|delaying accelerating
greater less|greater lesser|greater smaller
deep shallow|tall short|hard soft|harder softer|loud quiet|on off|yes no|pro con|plus minus
sum difference|add subtract|addition subtraction|multiply divide|multiplication division
overweight underweight|overestimate underestimate|win loss|friend enemy|light heavy
attack defend|offense defense|offensive defensive|import export|imports exports
importing exporting|input output|inputs outputs|upload download|uploading downloading
inbound outbound|incoming outgoing|upstream downstream|include exclude|encrypt decrypt
compress decompress|serialize deserialize|zip unzip|expand collapse|maximize minimize
raise drop|lift lower|gain lose|winner loser|pass fail|passed failed|true untrue
cause effect|cause cure|cause prevent|causes prevents|prevent cause|symptom cure
in out|up down|much little|many few|tighten loosen|compress extract|speed slow|more fewer
win draw|under over|inhale exhale|sunrise sunset|spring autumn|summer winter|lock unlock
including except|including excluding|include except|includes excludes|inclusive exclusive
for against|favour against|favor against|support oppose|supporting opposing
supporters opponents|proponents opponents|pro anti|private public|online offline
leading trailing|prefix suffix|inner outer|ascending descending|newest oldest|newer older
credit debit|creditor debtor|lender borrower|buyer seller|landlord tenant|employer employee
parent child|host guest|teacher student|payer payee|allowlist blocklist|whitelist blacklist
warm cold|warmer colder|warmest coldest
pause resume|suspend resume|pause unpause|raise cut|hike cut|aggressive conservative
risky conservative|bullish bearish|overbought oversold|appreciate depreciate
permanent temporary|lot few|lots few|gained lost|away toward|away towards|enter leave
entering leaving|arrive leave|arriving leaving|new used|formal casual|formal informal
front back|well badly|well poorly|drop pick|rise drop|rise fall|increase drop|spike drop
surge drop|jump drop|gain drop|appreciation depreciation|appreciating depreciating
rise decline|grow decline|growth decline|increase decline|rising declining
northbound southbound|eastbound westbound|northward southward|eastward westward|into out
thicken thin|lengthen shorten|soften harden|lighten darken|brighten darken|brighten dim
sharpen dull|sharpen blunt|moisten dry|sweeten sour|fatten slim
show hide|reveal hide|reveal conceal|show conceal
pay charge|paid charged|pays charges|paying charging
victorious defeated|victor vanquished|victorious vanquished|winners defeated
sender recipient|senders recipients|donor recipient|donors recipients|giver receiver
givers receivers|giver recipient
allowed prohibited|allowed banned|allowed forbidden|permitted prohibited|permitted banned
permitted forbidden|allow prohibit|allow ban|allow forbid|permit prohibit|permit forbid
low bright|dim bright|dark bright|sunny shady|sun shade|soft rough|hit miss|hits misses
required optional|compulsory optional|obligatory optional
improve decline|improved declined|improve worsen|improved worsened|improving declining
unique duplicate|unique duplicated
keep exclude|keeping excluding|keeps excludes|simplified traditional
forward back|forward backward|forwards back|forwards backwards
hot cool|hotter cooler|hottest coolest|warm cool|warmer cooler|warmest coolest
local remote|compile runtime|compiletime runtime
received transmitted|receive transmit|receiving transmitting|rx tx
full part|extend shorten|extended shortened|extending shortening|during outside
growing shrinking|grow shrink|grows shrinks
previous next|prev next|preceding following|previous following
rose fell|rose dropped|rose declined|rose sank|grew shrank|grew declined|grew fell
rise descend|rise sink|float sink|climb descend|ascend descend
expand shorten|expand condense|support contradict|supports contradicts|supporting contradicting
forbid require|forbids requires|prohibit require|prohibits requires|disallow require
disallows requires|forbidden required|prohibited required|banned required
tiny huge|tiny big|tiny large|tiny massive|tiny enormous|small huge|small massive|little big
landing taking|land take|landed took|landing takeoff|landing departure|arrival takeoff
morning evening|morning afternoon|morning night|afternoon evening|weekday weekend
weekdays weekends|lent borrowed|lend borrowed|lent borrow
limit expand|limited expanded|limiting expanding|restricted expanded|curbed expanded
reject confirm|rejected confirmed|rejecting confirming"""
# Acts whose reverse (``opposite``) undoes them: a request reworded around one keeps it, so
# one of these against its opposite is another request however the rest is reworded (stems).
DIRECTION_ACTS = frozenset(map(stem, (
    "encode decode encrypt decrypt compress decompress serialize deserialize zip unzip import "
    "export upload download buy sell send receive push pull lend borrow deposit withdraw lock "
    "unlock mount unmount install uninstall").split()))
# WordNet's synonyms (a shared most-frequent sense) and antonyms, by rule (``lexicon``),
# beside the hand-written lists: they cover words nobody thought to list.
# Pairs with a function word, number, unit or language are left out: rules of their own
# decide those.
_RULED = STOP | NEGATIONS | UNITS | LANGUAGES | frozenset(NUMBER_WORDS)
_WN_SYNONYMS, _WN_ANTONYMS = ([q for q in pairs if not _RULED & set(q)] for pairs in lexicon.load())
OPPOSITES = _both_ways(_lines(_OPPOSITES) + _WN_ANTONYMS)
# Prefix pairs that turn a word into its opposite: install/uninstall, legal/illegal,
# encode/decode, import/export, upload/download, overestimate/underestimate.
OPPOSITE_PREFIXES = (("", "un"), ("", "dis"), ("", "in"), ("", "im"), ("", "il"), ("", "ir"),
                 ("", "non"), ("", "de"), ("en", "dis"), ("en", "de"), ("in", "de"), ("in", "ex"),
                 ("im", "ex"), ("in", "out"), ("up", "down"), ("over", "under"),
                 ("pre", "post"), ("max", "min"), ("inc", "dec"), ("", "anti"), ("exo", "endo"),
                 ("hyper", "hypo"), ("inter", "intra"), ("micro", "macro"), ("under", "over"),
                 ("", "off"),  # "peak" / "off-peak" (read as one word: question.py)
                 ("ab", "ad"))  # "abduct" / "adduct"
# Synonyms a reader takes as the same request; one-word only, both directions.
_SYNONYMS = """fine penalty|delete remove erase|largest biggest|large big|small little tiny|quick fast rapid
quickest fastest|begin start|fix repair resolve solve|kill terminate end|main key primary
major principal|common typical usual|easy simple|smart wise clever|create make build
car automobile vehicle|purchase buy|show display|choose pick select|error exception
get obtain acquire|use utilize|help assist|gift present|coworker colleague|sea ocean
country nation|speed velocity|job occupation|photo picture image|film movie|recover heal
invented created|shut close|near close|wrong incorrect|correct right|happen occur
stop halt|dog puppy|kid child|kids children|fall autumn|sick ill|hard difficult
advantages benefits|advantage benefit|disadvantages drawbacks downsides|learn study
symptoms signs|cost price|cheap inexpensive|reduce lower lowering reducing|eliminate remove
endlessly infinitely|efficiently effectively|describe explain|aim goal purpose
well good|role purpose|mistake error|exercise workout|maybe perhaps|buy get
slow sluggish|short brief|collapse fall|invent devise|ocean sea|big huge|important crucial
fix mend|begin commence|end finish|answer reply|ask inquire|enough sufficient|often frequently
house home|shop store|rich wealthy|angry mad|hard tough|smart intelligent|trip journey
start launch|set configure|setup configure|install set|cheap affordable|couch sofa
guide tutorial|method way|look seem|need require|allowed permitted|fix troubleshoot
go golang|javascript js|typescript ts|yearly annual annually|launch release|buyer purchaser
expiry expiration|timeline timeframe|consequences effects|outcome result|outcomes results"""
# Irregular past forms, read as their verb when words are matched ("who bought X" / "who
# purchased X", "who began X" / "who started X"). Not the forms that are words of their own
# too ("left", "found", "saw", "rose", "made in", "frozen", "led", "lost").
IRREGULAR_VERBS = {f: v for v, forms in (
    ("begin", "began begun"), ("buy", "bought"), ("bring", "brought"), ("build", "built"),
    ("choose", "chose chosen"), ("get", "got gotten"), ("give", "gave given"),
    ("send", "sent"), ("sell", "sold"), ("spend", "spent"), ("teach", "taught"),
    ("tell", "told"), ("take", "took taken"), ("think", "thought"), ("win", "won"),
    ("write", "wrote written"), ("pay", "paid"), ("know", "knew known"),
    ("understand", "understood"), ("catch", "caught"), ("fight", "fought"), ("hold", "held"),
    ("keep", "kept"), ("steal", "stole stolen"), ("drive", "drove driven"), ("eat", "ate eaten"),
    ("forget", "forgot forgotten"), ("speak", "spoke spoken"), ("break", "broke broken"),
    ("grow", "grew grown"), ("throw", "threw thrown"), ("draw", "drew drawn"),
    ("swim", "swam"), ("sing", "sang sung"), ("run", "ran"), ("meet", "met"),
    ("lend", "lent"), ("seek", "sought"),
) for f in forms.split()}
SYNONYMS: dict[str, frozenset[str]] = {}
for _group in _lines(_SYNONYMS) + _WN_SYNONYMS:
    for _w in _group:
        SYNONYMS[_w] = SYNONYMS.get(_w, frozenset()) | (frozenset(_group) - {_w})
for _w in list(SYNONYMS):  # an opposite is never a synonym, whichever list says so
    SYNONYMS[_w] -= OPPOSITES.get(_w, frozenset())


# -- the verifier's feature lists (frozen: the verifier's weights were fit on them) ---------

FEATURE_STOP = frozenset(
    "a an the of to in on for at by with from as and or but if then so than that this these "
    "those is are was were be been being am do does did done have has had having i me my we "
    "our you your he him his she her it its they them their what which who whom whose when "
    "where why how can could would should will shall may might must there here about into "
    "over under up down out off any some all each every more most other such only own same "
    "very just also too get got one ones way ways".split())
FEATURE_WH = ("what", "how", "why", "when", "where", "who", "which", "whom", "whose")
# Shorter than OPPOSITES and not a subset of it (legal/illegal, enable/disable,
# private/public are here; contrast derives the prefixed ones by rule).
FEATURE_ANTONYMS = _both_ways(_lines("""good bad|best worst|better worse|men women|man woman
male female|boy girl|boys girls
husband wife|buy sell|buying selling|before after|increase decrease|like dislike|love hate
pros cons|advantages disadvantages|advantage disadvantage|cheap expensive|positive negative
rich poor|old new|old young|fast slow|start stop|open close|win lose|true false|north south
east west|left right|first last|high low|more less|most least|big small|large small
hot cold|easy hard|easy difficult|happy sad|import export|input output|min max
minimum maximum|always never|legal illegal|possible impossible|top bottom|inside outside
strong weak|safe dangerous|healthy unhealthy|success failure|gain lose|gain loss
increase reduce|add remove|enable disable|include exclude|accept reject|agree disagree
upload download|encrypt decrypt|private public|internal external|online offline|long short
heavy light|dark light|past future|mother father|son daughter|brother sister|king queen
bull bear|asc desc|ascending descending|server client|read write|send receive"""))


def feature_words_digest() -> str:
    """sha256 of the FEATURE_* lists above and the name of the stemmer that folds the
    features' words (``stemming.STEMMER``), stored with the verifier weights fit on them: an
    edit to a list, or another stemmer, without refitting is refused at load (and fails the
    tests)."""
    lists = {"stop": sorted(FEATURE_STOP), "wh": list(FEATURE_WH),
             "antonyms": sorted([k, sorted(v)] for k, v in FEATURE_ANTONYMS.items()),
             "negations": sorted(FEATURE_NEGATIONS), "stemmer": STEMMER}
    return hashlib.sha256(json.dumps(lists, sort_keys=True).encode()).hexdigest()
