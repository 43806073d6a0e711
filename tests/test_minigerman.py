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
    add((clause(she(), "run", tense="perf"), "she has run", "sie ist gelaufen"))
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
    lifted = {"apple", "ball", "flower", "picture", "cake"}
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
