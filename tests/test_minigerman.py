"""Mini-German: hand-checked translations, alignments, determinism and length control."""
import random

import pytest

from utils.data.grammar import NP, PP, Clause, render
from utils.data.lexicon import ADJECTIVES, CONJUNCTIONS, NOUNS, PLACES, SPORTS, TIMES, VERBS
from utils.data.minigerman import SEED_PAIR, sample_pair, sample_tree

V = {v.en_base: v for v in VERBS if v.de_inf != "aufheben"}  # "pick": abholen
LIFT = next(v for v in VERBS if v.de_inf == "aufheben")  # "pick up" a thing from the ground
N = {n.en: n for n in NOUNS}
PLACE = {p.noun.en: p.noun for p in PLACES}
A = ADJECTIVES
TIME = {" ".join(t.en): t for t in TIMES}
SPORT = {" ".join(s[0]): s for s in SPORTS}
CONJ = dict(CONJUNCTIONS)


def he():
    return NP(pronoun=("he", "er"))


def she():
    return NP(pronoun=("she", "sie"))


def np(noun, det="the", *adjs, mod=None):
    return NP(noun=N.get(noun) or PLACE[noun], det=det, adjs=[A[a] for a in adjs], mod=mod)


def clause(subj, verb, role="main", **kw):
    verb = V[verb] if isinstance(verb, str) else verb
    return Clause(role=role, subj=subj, verb=verb, **kw)


def rel(head, verb, role="relsubj", subj=None, **kw):
    head.rel = Clause(role=role, subj=subj, verb=V[verb], head=head, depth=1, **kw)
    return head


def place(prep_en, prep_de, noun, det="the"):
    return PP(tuple(prep_en.split()), prep_de, np(noun, det))


def sub(subj, verb, **kw):
    return clause(subj, verb, role="sub", depth=1, **kw)


def cases():
    c = []
    add = c.append
    add((clause(he(), "play", tense="prog", sport=SPORT["football"]),
         "he is playing football", "er spielt Fußball"))
    add((clause(she(), "read", obj=np("book")), "she reads the book", "sie liest das Buch"))
    add((clause(np("man"), "sleep"), "the man sleeps", "der Mann schläft"))
    add((clause(he(), "call", obj=np("woman")), "he calls the woman", "er ruft die Frau an"))
    add((clause(she(), "pick", obj=np("child")), "she picks up the child", "sie holt das Kind ab"))
    add((clause(he(), "read", tense="perf", obj=np("book")),
         "he has read the book", "er hat das Buch gelesen"))
    add((clause(she(), "run", tense="perf"), "she has run", "sie ist gerannt"))
    add((clause(np("child"), "get", tense="perf"), "the child has got up",
         "das Kind ist aufgestanden"))
    add((clause(he(), "call", tense="can", obj=np("teacher")),
         "he can call the teacher", "er kann den Lehrer anrufen"))
    add((clause(she(), "visit", tense="want", obj=np("doctor")),
         "she wants to visit the doctor", "sie will den Arzt besuchen"))
    add((clause(he(), "help", obj=np("man", "the", "old")),
         "he helps the old man", "er hilft dem alten Mann"))
    add((clause(she(), "give", io=np("child"), obj=np("ball", "a", "red")),
         "she gives the child a red ball", "sie gibt dem Kind einen roten Ball"))
    add((clause(he(), "see", obj=np("dog", "a", "small")),
         "he sees a small dog", "er sieht einen kleinen Hund"))
    add((clause(she(), "buy", obj=np("car", "a", "new")),
         "she buys a new car", "sie kauft ein neues Auto"))
    add((clause(np("woman", "a", "young"), "laugh"), "a young woman laughs",
         "eine junge Frau lacht"))
    add((clause(np("father", "my", "old"), "work"), "my old father works",
         "mein alter Vater arbeitet"))
    add((clause(she(), "eat", obj=np("bread", "the", "fresh")),
         "she eats the fresh bread", "sie isst das frische Brot"))
    add((clause(he(), "drink", obj=np("coffee", "the", "hot")),
         "he drinks the hot coffee", "er trinkt den heißen Kaffee"))
    add((clause(he(), "play", sport=SPORT["chess"], time=TIME["today"], front_time=True),
         "today he plays chess", "heute spielt er Schach"))
    add((clause(he(), "play", sport=SPORT["chess"], time=TIME["today"]),
         "he plays chess today", "er spielt heute Schach"))
    add((clause(he(), "read", obj=np("newspaper"), place=place("in", "in", "kitchen")),
         "he reads the newspaper in the kitchen", "er liest die Zeitung in der Küche"))
    add((clause(she(), "work", place=place("in", "in", "office")),
         "she works in the office", "sie arbeitet im Büro"))
    add((clause(he(), "wait", place=place("at", "an", "station")),
         "he waits at the station", "er wartet am Bahnhof"))
    add((clause(she(), "sing", place=place("in front of", "vor", "house")),
         "she sings in front of the house", "sie singt vor dem Haus"))
    add((clause(he(), "say", comp=sub(she(), "sleep")),
         "he says that she sleeps", "er sagt , dass sie schläft"))
    add((clause(she(), "laugh", adv=(("because", "weil"), sub(he(), "dance"))),
         "she laughs because he dances", "sie lacht , weil er tanzt"))
    add((clause(she(), "sleep", adv=(("because", "weil"), sub(he(), None, pred=A["tired"])),
                front_adv=True),
         "because he is tired , she sleeps", "weil er müde ist , schläft sie"))
    add((clause(he(), "call", obj=rel(np("man"), "read", obj=np("book"))),
         "he calls the man who reads the book", "er ruft den Mann an , der das Buch liest"))
    add((clause(rel(np("woman"), "read", tense="prog", obj=np("newspaper")), None,
                pred=A["tired"]),
         "the woman who is reading the newspaper is tired",
         "die Frau , die die Zeitung liest , ist müde"))
    add((clause(he(), "find", obj=rel(np("key"), "buy", role="relobj", subj=she(), tense="perf")),
         "he finds the key that she has bought", "er findet den Schlüssel , den sie gekauft hat"))
    add((clause(she(), "think", comp=sub(he(), "pick", tense="perf", obj=np("child"))),
         "she thinks that he has picked up the child",
         "sie denkt , dass er das Kind abgeholt hat"))
    add((clause(he(), "dance", tense="want",
                adv=(("although", "obwohl"), sub(she(), None, pred=A["tired"], very=True)),
                front_adv=True),
         "although she is very tired , he wants to dance",
         "obwohl sie sehr müde ist , will er tanzen"))
    add((clause(np("man", mod=PP(("with",), "mit", np("dog"))), "turn", obj=np("radio")),
         "the man with the dog turns on the radio", "der Mann mit dem Hund schaltet das Radio ein"))
    # An object relative on a person with a masculine subject: one reading only.
    add((clause(she(), "visit", obj=rel(np("girl"), "see", role="relobj", subj=he())),
         "she visits the girl that he sees", "sie besucht das Mädchen , das er sieht"))
    add((clause(rel(np("woman"), "call", role="relobj", subj=np("man"), tense="perf"), "laugh"),
         "the woman that the man has called laughs",
         "die Frau , die der Mann angerufen hat , lacht"))
    add((clause(she(), LIFT, obj=np("ball", "the", "red")),
         "she picks up the red ball", "sie hebt den roten Ball auf"))
    add((clause(he(), None, pred=A["sick"], very=True), "he is very sick", "er ist sehr krank"))
    # New information late: an indefinite object after the place, an indefinite subject after
    # the time.
    add((clause(she(), "eat", obj=np("apple", "a"), place=place("in", "in", "park")),
         "she eats an apple in the park", "sie isst im Park einen Apfel"))
    add((clause(she(), "eat", obj=np("apple"), place=place("in", "in", "park")),
         "she eats the apple in the park", "sie isst den Apfel im Park"))
    add((clause(np("sister", "a"), "get", time=TIME["tomorrow"],
                adv=(("although", "obwohl"), sub(she(), "wait", tense="perf")), front_adv=True),
         "although she has waited , a sister gets up tomorrow",
         "obwohl sie gewartet hat , steht morgen eine Schwester auf"))
    add((clause(she(), "laugh", adv=(("because", "weil"), sub(np("man", "a"), "sleep",
                                                               time=TIME["today"]))),
         "she laughs because a man sleeps today", "sie lacht , weil heute ein Mann schläft"))
    add((clause(she(), "give", io=np("teacher", "his"), obj=np("apple", "a"),
                place=place("in", "in", "city")),
         "she gives his teacher an apple in the city",
         "sie gibt seinem Lehrer in der Stadt einen Apfel"))
    add((clause(she(), "laugh", adv=(("because", "weil"), sub(np("man", "a"), "work",
                                                               time=TIME["every day"]))),
         "she laughs because a man works every day", "sie lacht , weil ein Mann jeden Tag arbeitet"))
    add((clause(he(), "see", obj=np("woman", mod=PP(("with",), "mit", np("dog")))),
         "he sees the woman with the dog", "er sieht die Frau mit dem Hund"))
    add((clause(np("brother", "my", "young"), "wait", place=place("on", "auf", "street")),
         "my young brother waits on the street", "mein junger Bruder wartet auf der Straße"))
    add((clause(he(), "come", time=TIME["in the evening"]),
         "he comes back in the evening", "er kommt am Abend zurück"))
    add((clause(he(), "sing", adv=(("if", "wenn"), sub(she(), "play", tense="can",
                                                      sport=SPORT["the piano"])),
                front_adv=True),
         "if she can play the piano , he sings", "wenn sie Klavier spielen kann , singt er"))
    add((clause(she(), "look", obj=np("bag", "her")), "she looks for her bag", "sie sucht ihre Tasche"))
    add((clause(he(), "open", obj=np("window")), "he opens the window", "er macht das Fenster auf"))
    add((clause(she(), "show", io=np("teacher"), obj=np("picture")),
         "she shows the teacher the picture", "sie zeigt dem Lehrer das Bild"))
    add((clause(he(), "know", comp=sub(np("girl"), "see", tense="perf", obj=np("cat"))),
         "he knows that the girl has seen the cat",
         "er weiß , dass das Mädchen die Katze gesehen hat"))
    add((clause(np("teacher"), "like", obj=np("sister", "his", "friendly")),
         "the teacher likes his friendly sister", "der Lehrer mag seine freundliche Schwester"))
    add((clause(she(), "drink", obj=np("milk", "the", "cold"), time=TIME["every day"],
                front_time=True),
         "every day she drinks the cold milk", "jeden Tag trinkt sie die kalte Milch"))
    add((clause(he(), "give", io=np("woman", "a"), obj=np("bag", "the", "heavy")),
         "he gives a woman the heavy bag", "er gibt einer Frau die schwere Tasche"))
    add((clause(she(), "call", obj=rel(np("man"), "see", role="relobj", subj=np("child"))),
         "she calls the man that the child sees", "sie ruft den Mann an , den das Kind sieht"))
    add((clause(he(), "buy", obj=np("apple", "a", "sweet", "big")),
         "he buys a big sweet apple", "er kauft einen großen süßen Apfel"))
    add((clause(np("brother", "her"), "close", tense="perf", obj=np("door")),
         "her brother has closed the door", "ihr Bruder hat die Tür zugemacht"))
    # "pick up" a thing from the ground is aufheben, in every verb position
    add((clause(she(), LIFT, obj=np("ball", "the", "red")), "she picks up the red ball",
         "sie hebt den roten Ball auf"))
    add((clause(he(), LIFT, tense="perf", obj=np("apple")), "he has picked up the apple",
         "er hat den Apfel aufgehoben"))
    add((clause(he(), "laugh", adv=(("because", "weil"), sub(she(), LIFT, obj=np("flower"))),
                front_adv=True),
         "because she picks up the flower , he laughs", "weil sie die Blume aufhebt , lacht er"))
    add((clause(she(), "pick", obj=np("key", "her")), "she picks up her key",
         "sie holt ihren Schlüssel ab"))
    add((clause(he(), "turn", obj=np("lamp", "the", "old")), "he turns on the old lamp",
         "er schaltet die alte Lampe ein"))
    add((clause(she(), "open", tense="prog", obj=np("door")), "she is opening the door",
         "sie macht die Tür auf"))
    add((clause(she(), "sleep", time=TIME["on Sunday"]), "she sleeps on Sunday",
         "sie schläft am Sonntag"))
    add((clause(he(), "read", obj=np("book"), time=TIME["in the morning"], front_time=True),
         "in the morning he reads the book", "am Morgen liest er das Buch"))
    add((clause(she(), "come", tense="perf"), "she has come back", "sie ist zurückgekommen"))
    return c


@pytest.mark.parametrize("tree,english,german", cases(), ids=lambda x: x if isinstance(x, str) else "")
def test_hand_checked_pair(tree, english, german):
    src, tgt, _ = render(tree)
    assert " ".join(src) == english
    assert " ".join(tgt) == german


def test_at_least_thirty_hand_checked_pairs():
    assert len(cases()) >= 30


def test_seed_pair_is_generated_by_the_grammar():
    src, tgt, alignment = render(cases()[0][0])
    assert (src, tgt, alignment) == (SEED_PAIR.src, SEED_PAIR.tgt, SEED_PAIR.alignment)
    assert SEED_PAIR.alignment == ((0, 0), (1, 1), (2, 1), (3, 2))  # "is playing" -> "spielt"


def links(tree):
    src, tgt, alignment = render(tree)
    return {(src[i], tgt[j]) for i, j in alignment}


def test_alignment_of_contraction_and_separable_verb():
    tree = clause(she(), "pick", obj=np("child"), place=place("in", "in", "park"))
    assert links(tree) == {("she", "sie"), ("picks", "holt"), ("up", "ab"), ("the", "das"),
                           ("child", "Kind"), ("in", "im"), ("the", "im"), ("park", "Park")}


def test_progressive_is_links_to_the_finite_verb_only():
    tree = clause(she(), "open", tense="prog", obj=np("door"))
    assert links(tree) == {("she", "sie"), ("is", "macht"), ("opening", "macht"),
                           ("opening", "auf"), ("the", "die"), ("door", "Tür")}
    subordinate = links(sub(she(), "open", tense="prog", obj=np("door")))
    assert ("is", "aufmacht") in subordinate and ("opening", "aufmacht") in subordinate


def test_alignment_of_perfect_and_modal():
    assert ("has", "hat") in links(clause(he(), "read", tense="perf", obj=np("book")))
    assert ("read", "gelesen") in links(clause(he(), "read", tense="perf", obj=np("book")))
    modal = links(clause(she(), "visit", tense="want", obj=np("doctor")))
    assert {("wants", "will"), ("to", "will"), ("visit", "besuchen")} <= modal


def test_fronted_clause_comma_is_aligned_and_other_commas_are_not():
    tree = clause(she(), "sleep", adv=(("because", "weil"), sub(he(), None, pred=A["tired"])),
                  front_adv=True)
    assert (",", ",") in links(tree)
    src, tgt, alignment = render(clause(he(), "say", comp=sub(she(), "sleep")))
    comma = tgt.index(",")
    assert all(j != comma for _, j in alignment)


@pytest.mark.parametrize("seed", range(5))
def test_every_alignment_index_is_valid(seed):
    rng = random.Random(seed)
    for length in range(3, 46, 3):
        pair = sample_pair(rng, length)
        assert len(pair.src) == length
        assert pair.alignment == tuple(sorted(set(pair.alignment)))
        for i, j in pair.alignment:
            assert 0 <= i < len(pair.src) and 0 <= j < len(pair.tgt)
        aligned = {j for _, j in pair.alignment}
        unaligned = [w for j, w in enumerate(pair.tgt) if j not in aligned]
        assert set(unaligned) <= {","}, unaligned  # every German word has a source word


def test_generation_is_deterministic():
    a = [sample_pair(random.Random(42), n) for n in (5, 17, 33)]
    b = [sample_pair(random.Random(42), n) for n in (5, 17, 33)]
    assert a == b
    assert a != [sample_pair(random.Random(43), n) for n in (5, 17, 33)]


def test_no_commas_at_the_edges_or_doubled():
    rng = random.Random(7)
    for _ in range(200):
        tgt = sample_pair(rng, rng.randint(3, 42)).tgt
        assert tgt[0] != "," and tgt[-1] != ","
        assert all(not (a == b == ",") for a, b in zip(tgt, tgt[1:]))


def test_no_indefinite_article_before_mass_nouns_and_a_an_agree():
    rng = random.Random(11)
    for _ in range(300):
        src = sample_pair(rng, rng.randint(3, 42)).src
        for det, word in zip(src, src[1:]):
            assert not (det in ("a", "an") and word in ("milk", "water", "coffee", "bread"))
            if det == "a":
                assert word[0] not in "aeiou"
            if det == "an":
                assert word[0] in "aeiou"


GERMAN_NOUNS = ({n.de for n in NOUNS} | {p.noun.de for p in PLACES} | {s[1] for s in SPORTS}
                | {"Morgen", "Abend", "Sonntag", "Tag"})
PREFIXES = {v.de_prefix for v in VERBS if v.de_prefix}


def sampled_trees(n=400, seed=13):
    rng = random.Random(seed)
    return [sample_tree(rng, rng.randint(3, 42)) for _ in range(n)]


def clauses(tree):
    from utils.data.minigerman import _walk
    return list(_walk(tree))


def test_truecasing_capitalises_german_nouns_and_nothing_else():
    rng = random.Random(21)
    for _ in range(300):
        pair = sample_pair(rng, rng.randint(3, 42))
        for word in pair.tgt:
            assert word[0].isupper() == (word in GERMAN_NOUNS), word
            if word == "morgen":  # "tomorrow" is an adverb; "am Morgen" is a noun
                continue
            assert word.lower() not in {w.lower() for w in GERMAN_NOUNS} or word[0].isupper()
        assert all(w.islower() or w in (",", "Sunday") for w in pair.src), pair.src


def test_pick_up_is_aufheben_for_things_one_lifts_and_abholen_otherwise():
    lifted = {"ball"}  # not food, a picture or a flower: "den Kuchen aufheben" is keeping it
    seen = set()
    for tree in sampled_trees():
        for c in clauses(tree):
            if c.verb is not None and c.verb.en_base == "pick" and c.obj is not None:
                lifts = c.obj.noun.en in lifted
                assert (c.verb.de_inf == "aufheben") == lifts, c.obj.noun.en
                seen.add(c.verb.de_inf)
    assert seen == {"aufheben", "abholen"}


def test_come_back_takes_no_place_and_now_takes_no_perfect():
    for tree in sampled_trees():
        for c in clauses(tree):
            if c.verb is not None and c.verb.en_base == "come":
                assert c.place is None
            if c.time is not None and c.time.en == ("now",):
                assert c.tense != "perf"


def test_no_lamp_is_a_light_and_no_is_links_a_separable_prefix():
    rng = random.Random(5)
    for _ in range(300):
        pair = sample_pair(rng, rng.randint(3, 42))
        assert "Licht" not in pair.tgt and "light" not in pair.src
        for i, j in pair.alignment:
            if pair.src[i] == "is":
                assert pair.tgt[j] not in PREFIXES, (pair.src, pair.tgt)


def test_no_noun_repeats_within_a_clause_and_no_predicate_repeats_an_adjective():
    from utils.data.minigerman import _CONFLICT_OF, _nps
    for tree in sampled_trees():
        for c in clauses(tree):
            nouns = [np.noun.en for np in _nps(c) if np.noun.kinds & {"person", "animal"}
                     or np is c.obj or np is c.io or np is c.subj]
            if c.head is not None:
                nouns.append(c.head.noun.en)
            assert len(nouns) == len(set(nouns)), nouns
            if c.verb is None:  # copula: the subject's (or the head's) adjectives vs predicate
                holder = c.subj if c.subj is not None else c.head
                if holder is not None and holder.noun is not None:
                    adjs = {a.en for a in holder.adjs}
                    blocked = adjs.union(*(_CONFLICT_OF.get(a, ()) for a in adjs))
                    assert c.pred.en not in blocked, (adjs, c.pred.en)


def test_a_relative_clause_does_not_repeat_the_verb_of_its_clause():
    for tree in sampled_trees():
        for c in clauses(tree):
            for np in (c.subj, c.io, c.obj):
                if np is not None and np.rel is not None and c.verb is not None:
                    assert np.rel.verb is None or np.rel.verb.en_base != c.verb.en_base


def test_too_short_length_is_rejected():
    with pytest.raises(ValueError, match="at least 3"):
        sample_tree(random.Random(0), 2)


# ------------------------------------------------ readings a native speaker would choose
def many_trees():
    return sampled_trees(n=1500, seed=31)


def test_object_relatives_on_people_and_animals_have_a_masculine_subject():
    """"das Kind, das sie sieht" reads first as "the child that sees her": an object relative
    on a feminine or neuter person or animal gets "er" or a masculine noun as its subject."""
    from utils.data.minigerman import needs_masculine_subject
    checked = 0
    for tree in many_trees():
        for c in clauses(tree):
            if needs_masculine_subject(c):
                subj = c.subj
                assert subj.pronoun == ("he", "er") or subj.noun.gender == "m", \
                    (c.head.noun.en, subj.pronoun or subj.noun.en)
                checked += 1
    assert checked >= 20  # the construction is generated, with a noun subject too


def test_the_rule_covers_exactly_the_ambiguous_heads():
    from utils.data.minigerman import needs_masculine_subject
    for head, verb, expected in [("girl", "see", True), ("woman", "call", True),
                                 ("cat", "find", True), ("man", "see", False),
                                 ("dog", "find", False), ("book", "read", False),
                                 ("bag", "find", False)]:
        c = rel(np(head), verb, role="relobj", subj=she()).rel
        assert needs_masculine_subject(c) is expected, head
    assert not needs_masculine_subject(rel(np("girl"), "see", obj=np("dog")).rel)  # subject relative


def test_with_on_a_subject_only_where_it_stands_alone_before_the_verb():
    """"weil der Bruder mit dem Mädchen schläft" reads as "sleeps with the girl"."""
    seen = 0
    for tree in many_trees():
        for c in clauses(tree):
            if c.subj is not None and c.subj.mod is not None:
                assert c.role == "main" and not (c.front_time or c.front_adv), c.role
                seen += 1
    assert seen >= 20


def test_with_on_a_subject_opens_the_german_sentence():
    rng = random.Random(8)
    seen = 0
    for _ in range(600):
        tree = sample_tree(rng, rng.randint(6, 30))
        if tree.subj is not None and tree.subj.mod is not None:
            en, de, _ = render(tree)
            assert de.index("mit") < 5 and not de[0] in CONJ.values(), de
            seen += 1
    assert seen >= 10


def test_no_possessive_that_changes_the_meaning():
    """"mein Freund" (boyfriend), "sein Mädchen" (girlfriend), "mein Mann" (husband), "auf
    seiner Straße" (German says "in seiner Straße"), "his park", "his station"."""
    possessives = {"my", "his", "her"}
    for tree in many_trees():
        for c in clauses(tree):
            for np_ in _all_nps(c):
                if np_.det in possessives:
                    assert np_.noun.en not in {"man", "woman", "friend", "girl", "street",
                                               "park", "station"}, np_.noun.en


def test_gross_never_makes_a_child_or_a_sibling_older_and_no_predicate_is_hungry():
    for tree in many_trees():
        for c in clauses(tree):
            assert c.pred is None or c.pred.en != "hungry"  # "sie hat Hunger", not "ist hungrig"
            for np_ in _all_nps(c):
                adjs = {a.en for a in np_.adjs}
                if np_.noun.en in {"child", "girl", "brother", "sister"}:
                    assert "tall" not in adjs and "big" not in adjs, (np_.noun.en, adjs)
                if np_.noun.en in {"child", "girl"}:
                    assert "old" not in adjs


def _all_nps(c):
    from utils.data.minigerman import _nps
    return [np_ for np_ in _nps(c) if np_.noun is not None]


def test_at_most_one_adjective_of_opinion_size_or_quality():
    """Two of them need a comma in German ("der glückliche, müde Freund"); age and colour after
    one do not ("die glückliche alte Frau")."""
    from utils.data.grammar import adjective_rank
    pairs = 0
    for tree in many_trees():
        for c in clauses(tree):
            for np_ in _all_nps(c):
                ranks = [adjective_rank(a) for a in np_.adjs]
                assert sum(r <= 2 for r in ranks) <= 1, [a.en for a in np_.adjs]
                pairs += len(ranks) == 2
    assert pairs >= 50


def test_with_takes_an_animal_and_an_object_only_after_see_like_or_find():
    """"er ruft die Frau mit ihrem Vater an" reads as calling together; "die Mutter mit dem Mann"
    as her husband; "jemandem mit etwas helfen" is helping with it."""
    on_objects = 0
    for tree in many_trees():
        for c in clauses(tree):
            for np_ in (c.subj, c.obj, c.io):
                if np_ is not None and np_.mod is not None:
                    assert np_.mod.np.noun.kinds & {"animal"}, np_.mod.np.noun.en
                    assert np_ is not c.io
                    if np_ is c.obj:
                        assert c.verb.en_base in {"see", "like", "find"}, c.verb.en_base
                        on_objects += 1
    assert on_objects >= 10


def test_no_unfronted_adverbial_clause_after_an_object_relative():
    """"er sucht die Katze, die er mag, weil sie wartet" reads as liking the cat because it waits."""
    for tree in many_trees():
        for c in clauses(tree):
            if c.obj is not None and c.obj.rel is not None and c.adv is not None:
                assert c.front_adv


def test_subject_relatives_on_people_and_animals_have_no_ambiguous_object():
    """"das Mädchen, das die Katze sucht" reads as "the girl that the cat looks for"."""
    from utils.data.minigerman import needs_masculine_object
    checked = 0
    for tree in many_trees():
        for c in clauses(tree):
            if needs_masculine_object(c):
                noun = c.obj.noun
                assert noun.gender == "m" or not noun.kinds & {"person", "animal"}, noun.en
                checked += 1
    assert checked >= 20


def test_verbs_whose_german_reads_otherwise_are_avoided():
    """"laufen" (walk) for run, "mögen" with a place, "hat gemocht" / "hat gewusst", "sucht
    einen Freund" (a boyfriend), "ein alter Freund" (long-standing)."""
    for tree in many_trees():
        en, de, _ = render(tree)
        assert not {"läuft", "laufen", "gelaufen", "gemocht", "gewusst"} & set(de), de
        for c in clauses(tree):
            if c.verb is not None and c.verb.en_base == "like":
                assert c.place is None
            if c.verb is not None and c.verb.en_base == "look" and c.obj is not None:
                assert "person" not in c.obj.noun.kinds
            for np_ in _all_nps(c):
                if np_.noun.en == "friend":
                    assert "old" not in {a.en for a in np_.adjs}


def test_an_indefinite_object_follows_the_place_and_a_definite_one_precedes_it():
    rng = random.Random(12)
    seen = 0
    for _ in range(1500):
        tree = sample_tree(rng, rng.randint(5, 25))
        for c in clauses(tree):
            if c.obj is not None and c.place is not None and c.obj.rel is None:
                alone = Clause(role="main", subj=NP(pronoun=("he", "er")), verb=c.verb,
                               tense=c.tense, io=c.io, obj=c.obj, place=c.place)
                words = render(alone)[1]
                before = words.index(c.place.np.noun.de) < words.index(c.obj.noun.de)
                assert before == (c.obj.det == "a"), words
                seen += 1
    assert seen >= 30


def test_no_keeping_readings_no_colour_on_paper_no_former_people():
    """"hebt den Ball in der Bibliothek auf" (keeps it there), "ein blauer Brief" (a school's
    warning), "mein alter Lehrer" (my former teacher)."""
    for tree in many_trees():
        for c in clauses(tree):
            if c.verb is not None and c.verb.de_inf == "aufheben":
                assert c.place is None
            for np_ in _all_nps(c):
                adjs = {a.en for a in np_.adjs}
                if np_.noun.en in ("letter", "newspaper"):
                    assert not adjs & {"red", "blue", "green", "black", "white"}, adjs
                if np_.det in ("my", "his", "her") and "person" in np_.noun.kinds:
                    assert "old" not in adjs, np_.noun.en


def test_no_object_relative_after_a_recipient_of_the_same_gender():
    """"dem Freund den Schlüssel geben, den sie sucht": "den" could be the friend."""
    for tree in many_trees():
        for c in clauses(tree):
            if c.io is not None and c.obj is not None and c.obj.rel is not None:
                assert c.io.noun.gender != c.obj.noun.gender
