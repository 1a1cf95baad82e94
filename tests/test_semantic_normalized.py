"""The normalised-exact tier through a real host and over HTTP; presets; bad input.

The embedder is test_semantic_cache's bag-of-words one: the tier itself needs no
embedding, and the semantic tier's logic is tested there.
"""

from __future__ import annotations

import logging

import aiohttp
import pytest
from test_semantic_cache import answer, ask

from clawhost.plugins import semantic_cache
from clawhost.testing import BagModel, EchoModel
from clawhost.api import CACHE_RESULT
from clawhost.plugins.monitor import STATE as MONITOR_STATE
from clawhost.plugins.semantic_cache import STATE as SEMANTIC_CACHE_STATE
from clawhost.plugins.semantic_cache.normalize import canonical, exact_key


def config(**opts):
    # min_similarity 0.99 and no structure: a reworded question never hits the semantic
    # tier here, so every hit below is the normalised-exact tier's
    base = {"embedding_model": "bag-embed", "verifier": False, "min_similarity": 0.99,
            "structure": False}
    return {"plugins": {"semantic_cache": {**base, **opts}}}


async def make_host(clawhost_host, **opts):
    echo, bag = EchoModel(), BagModel()
    return await clawhost_host(echo, bag, config=config(**opts)), echo, bag


async def test_recased_repunctuated_and_wrapped_repeats_hit_the_normalized_tier(clawhost_host):
    host, echo, bag = await make_host(clawhost_host)
    await ask(host, "What is the capital of France?")
    embeds = bag.engine.calls
    for text in ("What is the capital of France", "what is the capital of france?",
                 "  WHAT is the capital of France ?!", "Please tell me: what is the capital "
                 "of France? Thanks!", "Ｗｈａｔ is the capital of France？"):
        req, reply = await ask(host, text)
        assert reply.source == "semantic", text
        assert reply.headers["x-clawhost-cache"] == "hit-normalized"
        assert req.notes[CACHE_RESULT] == "hit-normalized"
        assert answer(reply) == "What is the capital of France?"
    assert bag.engine.calls == embeds      # no embedding for a normalised-exact hit
    assert echo.calls == 1
    f = host.state[SEMANTIC_CACHE_STATE].figures()
    assert f["hits_normalized"] == 5 and f["hits"] == 5
    # a different question is no hit, even one letter apart
    assert (await ask(host, "What is the capital of Franc?"))[1].source == "model"
    assert (await ask(host, "What is not the capital of France?"))[1].source == "model"


async def test_fillers_fold_only_when_asked(clawhost_host):
    host, echo, _ = await make_host(clawhost_host, normalize_fillers=False)
    await ask(host, "What is the capital of France?")
    assert (await ask(host, "WHAT is the capital of France"))[1].source == "semantic"
    assert (await ask(host, "Please, what is the capital of France?"))[1].source == "model"


async def test_the_normalized_tier_keeps_scopes_and_controls(clawhost_host):
    host, echo, _ = await make_host(clawhost_host)
    await ask(host, "What is the capital of France?")
    _, other_scope = await ask(host, "what is the capital of france", system="Answer in French")
    assert other_scope.source == "model"
    _, other_tenant = await ask(host, "what is the capital of france", tenant="t2")
    assert other_tenant.source == "model"
    _, skipped = await ask(host, "what is the capital of france", cache={"no-cache": True})
    assert skipped.source == "model"
    # that refresh replaced the stored answer; the next repeat gets the new one, not an
    # ambiguous miss
    _, again = await ask(host, "What is the capital of France")
    assert again.source == "semantic" and answer(again) == "what is the capital of france"


async def test_two_answers_to_one_question_are_ambiguous(clawhost_host):
    """Stored without a refresh, two answers to one question: the tier cannot tell which
    is current, so it misses (as the semantic tier does) rather than guess."""
    from test_semantic_cache import chat

    from clawhost.types import Reply
    host, echo, _ = await make_host(clawhost_host)
    await ask(host, "What is the capital of France?")
    other = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "other"}}]}
    await host.state[SEMANTIC_CACHE_STATE].store(chat("what is the capital of France"),
                                             Reply(body=other))
    _, reply = await ask(host, "WHAT IS THE CAPITAL OF FRANCE")
    assert reply.source == "model"
    assert host.state[SEMANTIC_CACHE_STATE].figures()["ambiguous"] == 1


async def test_the_header_reaches_the_http_client(clawhost_host, clawhost_server):
    host, echo, _ = await make_host(clawhost_host)
    url = await clawhost_server(host)
    body = {"model": "echo", "temperature": 0,
            "messages": [{"role": "user", "content": "How do I reset my password?"}]}
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{url}/v1/chat/completions", json=body) as r:
            assert r.status == 200 and r.headers.get("x-clawhost-cache") == "miss"
        body["messages"][0]["content"] = "how do i reset my password"
        async with s.post(f"{url}/v1/chat/completions", json=body) as r:
            data = await r.json()
            assert r.status == 200
            assert r.headers["x-clawhost-cache"] == "hit-normalized"
            assert data["choices"][0]["message"]["content"] == "How do I reset my password?"
        async with s.get(f"{url}/readyz") as r:
            facts = (await r.json())["semantic_cache"]
            assert facts["tiers"] == ["normalized", "semantic"] and facts["preset"] == "balanced"
    assert echo.calls == 1


async def test_the_monitor_counts_normalized_hits_by_name(clawhost_host):
    cfg = config()
    cfg["plugins"] = {"monitor": {}, **cfg["plugins"]}
    host = await clawhost_host(EchoModel(), BagModel(), config=cfg)
    await ask(host, "How do I reset my password?")
    await ask(host, "how do I reset my password")
    cache = host.state[MONITOR_STATE].cache
    assert cache["hit-normalized"] == 1 and cache["hit-semantic"] == 0


@pytest.mark.parametrize("a,b", [
    # asides and relays at the edges
    ("what is a normal BMI range", "what is a normal BMI range, if you don't mind me asking"),
    ("how soon after a c-section can I start exercising",
     "quick q - how soon after a c-section can I start exercising?"),
    ("The user would like to know the cheapest way to get from the airport to downtown Bangkok.",
     "Hello, the user would like to know, if possible, the cheapest way to get from the "
     "airport to downtown Bangkok. Thank you."),
    # apologies and panic
    ("how do I find which deploy broke prod",
     "ugh sorry, how do I find which deploy broke prod asap"),
    ("what happens to my stocks if my broker goes bankrupt",
     "um, what happens to my stocks if my broker goes bankrupt, asap please, kinda panicking"),
    ("When did the Soviet Union dissolve?", "need this asap: when did the Soviet Union dissolve?"),
    # a question a wrapper made indirect is the direct one
    ("Hey, I was wondering if you could tell me whether I should lock in a rate now?",
     "Should I lock in a rate now?"),
    ("Hello! Would you mind telling me what a CD ladder is?", "What is a CD ladder?"),
    ("Could you tell me who the president of France is", "who is the president of France"),
    # a voice assistant's wake words and chat openers
    ("fastest way to the airport", "hey siri fastest way to the airport asap"),
    ("how much is 150 pesos in dollars", "okay google how much is 150 pesos in dollars thanks"),
    ("nearest ev charging station", "yo nearest ev charging station real quick"),
    ("what plug adapter do I need for UK", "hey guys what plug adapter do I need for UK? thx"),
    ("Should I get an electrician to check the wiring before we move in?",
     "Hello, hope you can help. Should I get an electrician to check the wiring before we "
     "move in, do you think?"),
    ("where is my order?? it's been 3 weeks",
     "ok seriously, where is my order?? it's been 3 weeks. please help asap"),
    ("Can I add an item to an order that's already placed?",
     "Hi! Sorry to bother you, but can I add an item to an order that's already placed?"),
    ("Remind me to water the plants at 6pm",
     "I was hoping you could remind me to water the plants at 6pm"),
    # an acronym written with dots, an apostrophe left out
    ("what does BPM mean in music production", "what does B.P.M. mean in music production?"),
    ("Usain Bolt's 100m world record time?", "Usain Bolts 100m world record time"),
    ("how does the doubling cube work in backgammon",
     "how does the doubling cube work in backgammon, if you don't mind explaining"),
    # session 18: more indirect forms, tails, separators and possessives left out
    ("I was wondering whether I need to notify my insurer before replacing my windshield",
     "Do I need to notify my insurer before replacing my windshield?"),
    ("tell me if there are any direct flights to Oslo", "Are there any direct flights to Oslo?"),
    ("I wonder whether it's safe to eat raw cookie dough", "is it safe to eat raw cookie dough"),
    ("Which Final Fantasy should I start with?",
     "Honestly which Final Fantasy should I start with? kinda lost lol"),
    ("How do I explain divorce to a 6 year old",
     "Hi, um, how do I explain divorce to a 6 year old? any advice appreciated"),
    ("What's a fair deposit on a $400,000 house?", "whats a fair deposit on a $400000 house"),
    ("What is HR's policy on employees' phones?", "What is HRs policy on employees phones"),
    ("What is a star schema?", "Sorry if this is basic, but what is a star schema?"),
    ("what's the difference between a modem and a router",
     "honestly I've never understood this, what's the difference between a modem and a router"),
    ("explain Snell's law", "explain Snell's law please, I have a test tomorrow"),
    ("how do I soothe a colicky baby", "how do I soothe a colicky baby, thanks so much in advance"),
    ("How to potty train a 2 year old", "Please, how to potty train a 2 year old, I'm desperate lol"),
    ("What's a good number of interview rounds?",
     "Okay so what's a good number of interview rounds, in your opinion?"),
    # a first or last sentence of nothing but chat
    ("How do I zoom in on a Mac?", "Could you help me with something? How do I zoom in on a Mac?"),
    ("What is 15% of 240?", "Random question, what is 15% of 240?"),
    ("Is 97 a prime number?", "Hey, do you happen to know: is 97 a prime number?"),
    ("What are the advantages of nuclear energy?",
     "Good afternoon! What are the advantages of nuclear energy? Much appreciated, thanks."),
    ("Does a text count as written notice?",
     "Hey, sorry to bother you, I was just wondering, does a text count as written notice? "
     "lol I'm panicking a bit"),
    ("how to rotate logs with logrotate", "hey team, how to rotate logs with logrotate? need it asap"),
    ("How do whales breathe underwater?", "my son wants to know, how do whales breathe underwater?"),
    ("Could you tell me when the library opens?",
     "Dear Library Services, could you tell me when the library opens? Kind regards, Maya"),
    ("who has the most Ballon d'Or wins", "quick one lads: who has the most Ballon d'Or wins"),
    ("How do accruals work at month end?",
     "I'm new to this, so basically how do accruals work at month end?"),
    ("Where does the Rhine flow into the sea?",
     "lol random one but where does the Rhine flow into the sea?"),
    ("How do I handle a team member who is always late?",
     "Honestly just need advice here: how do I handle a team member who is always late?"),
    ("what's a 529 plan used for", "hey friend, what's a 529 plan used for? thx"),
    ("Cancel my subscription asap please, I don't use it anymore",
     "Cancel my subscription, I don't use it anymore"),
])
def test_wrappers_asides_indirect_forms_and_dotted_acronyms_share_the_key(a, b):
    assert exact_key(a) == exact_key(b) != ""


def test_a_sign_off_needs_a_sentence_end_and_roman_numerals_need_a_name():
    assert exact_key("how do I say thank you maria") == "how do i say thank you maria"
    assert exact_key("Type II diabetes symptoms") == exact_key("type 2 diabetes symptoms")
    assert canonical("When I was young") == "when i was young"
    assert canonical("Malcolm X speeches") == "malcolm x speeches"


def test_a_first_clause_of_small_words_without_chat_is_kept():
    """"For a small team," and "In a day," narrow the question: no greeting, thanks or
    question talk in them, so they stay in the key."""
    assert exact_key("For a small team, which CI tool is best?") == \
        "for a small team, which ci tool is best"
    assert exact_key("in a day, how much caffeine is too much") == \
        "in a day, how much caffeine is too much"
    assert exact_key("Sorry, is it not safe?") == "is it not safe"
    assert exact_key("Is it safe? Not really?") == "is it safe? not really"


def test_a_condition_before_a_question_is_not_made_a_question():
    assert exact_key("If I can work remotely, do I need a visa?") != \
        exact_key("Can I work remotely, do I need a visa?")
    assert exact_key("I was wondering whether I should refinance") == exact_key("Should I refinance?")


def test_a_bare_wake_word_is_a_wrapper_only_before_a_question_or_command():
    assert exact_key("alexa will it be windy in chicago saturday") == \
        exact_key("will it be windy in chicago saturday")
    assert exact_key("Siri shortcuts for iPhone") != exact_key("shortcuts for iPhone")


def test_the_exact_key_reads_a_hyphen_between_letters_as_a_space():
    assert exact_key("Is reply-all safe if I was bcc'd?") == exact_key("Is reply all safe if I was bccd?")
    assert exact_key("pages 5-10") != exact_key("pages 5 10")  # digits keep theirs


def test_only_the_exact_key_drops_inner_apostrophes():
    """The structure reads "'s" (whose is it) and "'ll" ("we'll" is no "well")."""
    assert canonical("we'll meet at Dev's") == "we'll meet at dev's"
    assert exact_key("we'll meet at Dev's") == "well meet at devs"


def test_dots_are_kept_where_they_are_no_acronym():
    assert canonical("Is 5 p.m. e.g. too late?") == "is 5 p.m. e.g. too late"
    assert canonical("what is python 3.12") != canonical("what is python 312")


@pytest.mark.parametrize("text", [
    "", "   ", "?", "x" * 50_000, "How do I say 'thank you' in 日本語? 🙏🙂",
    "Привет, how are you? مرحبا 👋", "🙂🙂🙂", "\u200b\u200b", "a\x00b",
])
async def test_bad_input_is_a_miss_or_a_pass_through_never_an_error(clawhost_host, caplog, text):
    host, echo, _ = await make_host(clawhost_host, structure=True, min_similarity=0.75)
    await ask(host, "How do I say 'thank you' in Japanese?")
    with caplog.at_level(logging.WARNING):
        _, first = await ask(host, text)
        _, second = await ask(host, text)
    assert first.status == 200 and first.source == "model"
    assert second.status == 200
    assert not [r for r in caplog.records if "failed in" in r.getMessage()]  # no plugin error


def test_presets_fill_what_the_config_leaves_unset():
    o = semantic_cache.Options()
    assert o.preset == "balanced" and o.normalized and o.normalize_fillers and o.structure
    s = semantic_cache.Options(preset="strict")
    assert not s.normalize_fillers and s.same_floor > o.same_floor
    assert s.verifier_threshold is not None and s.typo_floor > o.typo_floor
    # an explicit option wins over the preset's
    assert semantic_cache.Options(preset="strict", normalize_fillers=True).normalize_fillers
    assert semantic_cache.Options(preset="strict", verifier_threshold=0.9).verifier_threshold == 0.9
    with pytest.raises(Exception):
        semantic_cache.Options(preset="loose")
    assert set(semantic_cache.PRESET_MEANINGS) == set(semantic_cache.PRESETS)


async def test_preset_off_loads_nothing_and_answers_nothing(clawhost_host):
    host, echo, bag = await make_host(clawhost_host, preset="off")
    assert "semantic_cache" not in host.state
    await ask(host, "What is the capital of France?")
    assert (await ask(host, "What is the capital of France?"))[1].source == "model"
    assert bag.engine.calls == 0


def test_a_lower_case_dotted_acronym_and_a_greeted_assistant_share_the_key():
    assert exact_key("what does d.n.a. stand for?") == exact_key("what does dna stand for")
    assert exact_key("hey assistant when was google founded thanks") == \
        exact_key("when was google founded")
    # "assistant" that is what is asked about stays
    assert exact_key("assistant manager salary in Ohio") == "assistant manager salary in ohio"


def test_quotes_abbreviation_dots_and_lower_case_numerals_share_the_key():
    assert exact_key("Does 'alot' have a space in it?") == exact_key("Does alot have a space in it")
    assert exact_key("What does e.g. stand for?") == exact_key("What does eg stand for")
    assert exact_key("is 5 p.m. too late") == exact_key("is 5 pm too late")
    assert exact_key("Summarize the causes of World War I") == \
        exact_key("summarize the causes of world war i")
    assert exact_key("type ii diabetes") == exact_key("Type 2 diabetes")
    # a height keeps its marks, a pronoun stays a pronoun, a version keeps its dot
    assert exact_key("is he 5'10\" tall") != exact_key("is he 510 tall")
    assert exact_key("the part i missed") == "the part i missed"
    assert exact_key("what is python 3.12") != exact_key("what is python 312")


def test_random_but_before_a_question_is_chat():
    assert exact_key("lol random but is Venus hotter than Mercury?") == \
        exact_key("Is Venus hotter than Mercury?")


def test_but_after_a_leading_wrapper_is_part_of_it():
    assert exact_key("sorry if this is a dumb question but what is a meme") == \
        exact_key("what is a meme")
    assert exact_key("but why is the sky blue") == "but why is the sky blue"


def test_remind_me_before_a_question_and_a_monarchs_lone_i_in_lower_case():
    assert exact_key("hey can you remind me who acquired Whole Foods? thank you") == \
        exact_key("Who acquired Whole Foods?")
    assert exact_key("remind me to call mom at 5") != exact_key("call mom at 5")
    assert exact_key("who did elizabeth i succeed?") == exact_key("Who did Elizabeth I succeed?")
    assert canonical("the part i missed in chapter two") == "the part i missed in chapter two"


@pytest.mark.parametrize("a,b", [
    ("How much does Coinbase charge to buy Bitcoin?",
     "Need to know asap: how much does Coinbase charge to buy Bitcoin?"),
    ("How to get into a PhD program in economics",
     "um, how to get into a PhD program in economics, any ideas?"),
    ("Can my Xbox friends see what game I'm playing?",
     "sorry if this is dumb but can my Xbox friends see what game I'm playing?"),
])
def test_need_to_know_any_ideas_and_an_apology_are_wrappers(a, b):
    assert exact_key(a) == exact_key(b)


def test_any_ideas_that_starts_the_request_stays():
    assert exact_key("Any ideas for a 5 year old's birthday party?") != \
        exact_key("ideas for a 5 year old's birthday party")


def test_any_ideas_as_a_sentence_of_its_own_at_either_end_is_a_wrapper():
    assert exact_key("Toddler won't eat vegetables, any ideas?") == \
        exact_key("Any ideas? Toddler won't eat vegetables")


@pytest.mark.parametrize("a,b", [
    ("How do I say 'where is the bathroom' in Mandarin",
     "asap please: how do I say 'where is the bathroom' in Mandarin"),
    ("can parrots eat avocado", "umm can parrots eat avocado? pls answer fast"),
    ("Who did Napoleon lose to at Waterloo?", "Who did Napoleon lose to at Waterloo? I always forget lol"),
    ("What is the least common multiple of 12 and 18?",
     "Um, what is the least common multiple of 12 and 18? Just checking my homework"),
])
def test_hurry_and_a_word_on_why_one_asks_are_wrappers(a, b):
    assert exact_key(a) == exact_key(b)


def test_asap_alone_before_a_noun_stays():
    assert exact_key("asap delivery options in London") != exact_key("delivery options in London")
