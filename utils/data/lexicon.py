"""The Mini-German lexicon: English and German word forms with the grammar facts we need.

Words are *truecased*, as translation corpora are after preprocessing: every word keeps the case
it has inside a sentence, whatever its position. German nouns are capitalised and everything else
is lower case ("he is playing football" -> "er spielt Fußball"); in English only the day of the
week is ("on Sunday"). Only singular nouns of the strong declension are used, so a noun's form
never changes with case; articles and adjective endings carry the case.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Noun:
    en: str
    de: str
    gender: str  # "m", "f" or "n"
    kinds: frozenset  # semantic classes, e.g. {"person"}, used to pick plausible objects
    adjectives: tuple = ()  # English adjectives that fit this noun


@dataclass(frozen=True)
class Adjective:
    en: str
    de: str  # the uninflected stem: "klein", "müde"


@dataclass(frozen=True)
class Verb:
    """One verb in every form the grammar needs (third person singular only)."""

    en_base: str  # "play"  (after "can" / "wants to")
    en_3sg: str  # "plays"
    en_ing: str  # "playing"
    en_part: str  # "played"
    de_3sg: str  # "spielt" (finite stem without separable prefix: "ruft" for anrufen)
    de_inf: str  # "spielen" (with prefix: "anrufen")
    de_part: str  # "gespielt" (with prefix: "angerufen")
    frame: str  # "intr", "acc", "dat", "ditr", "sport", "say"
    objects: frozenset = frozenset()  # noun kinds allowed as (direct) object
    en_particle: str = ""  # "up" in "picks up", "for" in "looks for"
    de_prefix: str = ""  # "an" in "ruft ... an"
    aux: str = "hat"  # perfect auxiliary: "hat" or "ist"
    progressive: bool = True  # stative verbs ("sees", "knows") have no -ing form here
    modal: bool = True  # whether "can" / "wants to" + verb is allowed
    place: bool = True  # whether "in the park" may follow; a verb of motion needs a direction
    perfect: bool = True  # "hat gemocht", "hat gewusst": German says "mochte", "wusste" instead

    @property
    def de_final(self) -> str:
        """Finite form at the end of a subordinate clause: "anruft", "spielt"."""
        return self.de_prefix + self.de_3sg


ADJECTIVES = {a.en: a for a in [
    Adjective("small", "klein"), Adjective("big", "groß"), Adjective("tall", "groß"),
    Adjective("old", "alt"), Adjective("young", "jung"), Adjective("new", "neu"),
    Adjective("tired", "müde"), Adjective("happy", "glücklich"), Adjective("hungry", "hungrig"),
    Adjective("sad", "traurig"), Adjective("friendly", "freundlich"), Adjective("sick", "krank"),
    Adjective("red", "rot"), Adjective("blue", "blau"), Adjective("green", "grün"),
    Adjective("black", "schwarz"), Adjective("white", "weiß"), Adjective("brown", "braun"),
    Adjective("beautiful", "schön"), Adjective("heavy", "schwer"), Adjective("fresh", "frisch"),
    Adjective("sweet", "süß"), Adjective("hot", "heiß"), Adjective("cold", "kalt"),
]}

_PERSON_ADJ = ("old", "young", "tired", "happy", "tall", "hungry", "friendly", "sad")
# "groß" of a child or a sibling reads as *older* ("ein großer Bruder" is an older brother):
# "tall" is not drawn for them, nor "old" for a child or a girl.
_SIBLING_ADJ = tuple(a for a in _PERSON_ADJ if a != "tall")
_CHILD_ADJ = tuple(a for a in _SIBLING_ADJ if a != "old")
_FRIEND_ADJ = tuple(a for a in _PERSON_ADJ if a != "old")  # "ein alter Freund": long-standing
_ANIMAL_ADJ = ("old", "young", "small", "big", "black", "white", "brown", "hungry")
_THING_ADJ = ("new", "old", "small", "big", "red", "blue", "green", "black", "white", "heavy")
# No colours on paper: "ein blauer Brief" is a school's warning letter, "eine grüne Zeitung" a
# party's paper.
_PAPER_ADJ = tuple(a for a in _THING_ADJ if a not in ("red", "blue", "green", "black", "white"))
_FOOD_ADJ = ("fresh", "sweet", "small", "big")
_DRINK_ADJ = ("hot", "cold", "fresh")
_PLACE_ADJ = ("small", "big", "old", "new", "beautiful")

# Adjectives that may follow "is" ("she is tired") for a person subject. Not "hungry": German
# says "sie hat Hunger", and "sie ist hungrig" is bookish (attributive "der hungrige Hund" is fine).
PREDICATES = ("tired", "happy", "sad", "old", "young", "tall", "sick", "friendly")


def _nouns(kinds, adjectives, rows):
    return [Noun(en, de, g, frozenset(kinds), adjectives) for en, de, g in rows]


NOUNS = (
    _nouns({"person"}, _PERSON_ADJ, [
        ("man", "Mann", "m"), ("woman", "Frau", "f"), ("teacher", "Lehrer", "m"),
        ("doctor", "Arzt", "m"), ("mother", "Mutter", "f"), ("father", "Vater", "m")])
    + _nouns({"person"}, _FRIEND_ADJ, [("friend", "Freund", "m")])
    + _nouns({"person"}, _CHILD_ADJ, [("child", "Kind", "n"), ("girl", "Mädchen", "n")])
    + _nouns({"person"}, _SIBLING_ADJ, [("sister", "Schwester", "f"), ("brother", "Bruder", "m")])
    + _nouns({"animal", "findable", "likeable"}, _ANIMAL_ADJ, [
        ("dog", "Hund", "m"), ("cat", "Katze", "f"), ("horse", "Pferd", "n"),
        ("bird", "Vogel", "m")])
    + _nouns({"readable", "writable", "buyable", "giveable", "findable", "collectable", "likeable",
              "openable"}, _THING_ADJ, [("book", "Buch", "n")])
    + _nouns({"readable", "writable", "buyable", "giveable", "findable", "collectable", "likeable",
              "openable"}, _PAPER_ADJ, [("letter", "Brief", "m")])
    + _nouns({"readable", "buyable", "giveable", "findable", "collectable"}, _PAPER_ADJ,
             [("newspaper", "Zeitung", "f")])
    + _nouns({"buyable", "giveable", "likeable", "collectable"}, _THING_ADJ,
             [("car", "Auto", "n")])
    + _nouns({"buyable", "giveable", "likeable"}, _THING_ADJ, [("picture", "Bild", "n")])
    # "aufheben" is also "keep": "den Kuchen aufheben", "die Blume aufheben" are keeping them,
    # so only a ball, which one plainly lifts from the ground, is "liftable".
    + _nouns({"buyable", "giveable", "likeable"}, _THING_ADJ, [("flower", "Blume", "f")])
    + _nouns({"buyable", "giveable", "likeable", "liftable"}, _THING_ADJ, [("ball", "Ball", "m")])
    + _nouns({"buyable", "giveable", "findable", "collectable", "openable", "closable"}, _THING_ADJ,
             [("bag", "Tasche", "f")])
    + _nouns({"buyable", "giveable", "findable", "collectable"}, _THING_ADJ, [("key", "Schlüssel", "m")])
    + _nouns({"openable", "closable"}, _THING_ADJ,
             [("door", "Tür", "f"), ("window", "Fenster", "n")])
    + _nouns({"switchable", "buyable"}, _THING_ADJ,
             [("radio", "Radio", "n"), ("computer", "Computer", "m")])
    + _nouns({"switchable"}, _THING_ADJ, [("lamp", "Lampe", "f")])
    + _nouns({"food", "buyable", "giveable", "likeable"}, _FOOD_ADJ, [
        ("apple", "Apfel", "m"), ("cake", "Kuchen", "m")])
    + _nouns({"food", "buyable", "giveable", "likeable", "collectable"}, _FOOD_ADJ,
             [("bread", "Brot", "n")])
    + _nouns({"drink", "buyable", "likeable"}, _DRINK_ADJ, [
        ("coffee", "Kaffee", "m"), ("water", "Wasser", "n"), ("milk", "Milch", "f")])
)
NOUNS = tuple(NOUNS)


@dataclass(frozen=True)
class Place:
    """A place noun with the prepositions (English, German) it goes with; all take the dative."""

    noun: Noun
    preps: tuple  # ((("in",), "in"), (("in", "front", "of"), "vor"), ...)


_IN = (("in",), "in")
_BEHIND = (("behind",), "hinter")
_FRONT = (("in", "front", "of"), "vor")
_NEXT = (("next", "to"), "neben")
_ON = (("on",), "auf")
_AT = (("at",), "an")

PLACES = tuple(Place(Noun(en, de, g, frozenset({"place"}), _PLACE_ADJ), preps) for en, de, g, preps in [
    ("park", "Park", "m", (_IN, _NEXT)),
    ("garden", "Garten", "m", (_IN, _BEHIND)),
    ("kitchen", "Küche", "f", (_IN,)),
    ("school", "Schule", "f", (_IN, _BEHIND, _FRONT, _NEXT)),
    ("city", "Stadt", "f", (_IN,)),
    ("office", "Büro", "n", (_IN,)),
    ("library", "Bibliothek", "f", (_IN, _FRONT, _NEXT)),
    ("house", "Haus", "n", (_IN, _BEHIND, _FRONT, _NEXT)),
    ("station", "Bahnhof", "m", (_AT, _BEHIND, _FRONT, _NEXT)),
    ("street", "Straße", "f", (_ON,)),
])

# Preposition + definite dative article contractions that German requires in plain speech.
CONTRACTIONS = {("in", "dem"): "im", ("an", "dem"): "am", ("zu", "dem"): "zum",
                ("zu", "der"): "zur", ("von", "dem"): "vom", ("bei", "dem"): "beim"}

# Fixed time adverbials: English tokens, German tokens, word alignment as (en_i, de_j) pairs,
# and which tenses they combine with in natural English.
_ALL = frozenset({"pres", "prog", "perf", "can", "want"})
_NOT_PERF = frozenset({"pres", "prog", "can", "want"})


@dataclass(frozen=True)
class TimeAdverbial:
    en: tuple
    de: tuple
    links: tuple  # ((en_index, de_index), ...)
    tenses: frozenset


TIMES = (
    TimeAdverbial(("today",), ("heute",), ((0, 0),), _ALL),
    TimeAdverbial(("now",), ("jetzt",), ((0, 0),), _NOT_PERF),  # *"he has worked now"
    TimeAdverbial(("tomorrow",), ("morgen",), ((0, 0),), _NOT_PERF),
    TimeAdverbial(("in", "the", "morning"), ("am", "Morgen"), ((0, 0), (1, 0), (2, 1)), _NOT_PERF),
    TimeAdverbial(("in", "the", "evening"), ("am", "Abend"), ((0, 0), (1, 0), (2, 1)), _NOT_PERF),
    TimeAdverbial(("on", "Sunday"), ("am", "Sonntag"), ((0, 0), (1, 1)), _NOT_PERF),
    TimeAdverbial(("every", "day"), ("jeden", "Tag"), ((0, 0), (1, 1)),
                  frozenset({"pres", "can", "want"})),
)

_V = Verb
VERBS = (
    # transitive, accusative object
    _V("read", "reads", "reading", "read", "liest", "lesen", "gelesen", "acc", frozenset({"readable"})),
    _V("buy", "buys", "buying", "bought", "kauft", "kaufen", "gekauft", "acc", frozenset({"buyable"})),
    _V("eat", "eats", "eating", "eaten", "isst", "essen", "gegessen", "acc", frozenset({"food"})),
    _V("drink", "drinks", "drinking", "drunk", "trinkt", "trinken", "getrunken", "acc",
       frozenset({"drink"})),
    _V("write", "writes", "writing", "written", "schreibt", "schreiben", "geschrieben", "acc",
       frozenset({"writable"})),
    _V("see", "sees", "seeing", "seen", "sieht", "sehen", "gesehen", "acc",
       frozenset({"person", "animal", "buyable"}), progressive=False),
    _V("find", "finds", "finding", "found", "findet", "finden", "gefunden", "acc",
       frozenset({"findable"}), progressive=False),
    # Not people: "sie sucht einen Freund" is looking for a boyfriend.
    _V("look", "looks", "looking", "looked", "sucht", "suchen", "gesucht", "acc",
       frozenset({"findable"}), en_particle="for"),
    _V("visit", "visits", "visiting", "visited", "besucht", "besuchen", "besucht", "acc",
       frozenset({"person"})),
    _V("like", "likes", "liking", "liked", "mag", "mögen", "gemocht", "acc",
       frozenset({"person", "likeable"}), progressive=False, modal=False, place=False,
       perfect=False),
    _V("call", "calls", "calling", "called", "ruft", "anrufen", "angerufen", "acc",
       frozenset({"person"}), de_prefix="an"),
    # "pick up" is two German verbs: abholen (collect a person or a thing from somewhere) and
    # aufheben (lift a thing from the ground); the object decides.
    _V("pick", "picks", "picking", "picked", "holt", "abholen", "abgeholt", "acc",
       frozenset({"person", "collectable"}), en_particle="up", de_prefix="ab"),
    # No place: "hebt den Ball in der Bibliothek auf" reads as keeping it there.
    _V("pick", "picks", "picking", "picked", "hebt", "aufheben", "aufgehoben", "acc",
       frozenset({"liftable"}), en_particle="up", de_prefix="auf", place=False),
    _V("turn", "turns", "turning", "turned", "schaltet", "einschalten", "eingeschaltet", "acc",
       frozenset({"switchable"}), en_particle="on", de_prefix="ein"),
    _V("open", "opens", "opening", "opened", "macht", "aufmachen", "aufgemacht", "acc",
       frozenset({"openable"}), de_prefix="auf"),
    _V("close", "closes", "closing", "closed", "macht", "zumachen", "zugemacht", "acc",
       frozenset({"closable"}), de_prefix="zu"),
    # dative object
    _V("help", "helps", "helping", "helped", "hilft", "helfen", "geholfen", "dat", frozenset({"person"})),
    # indirect (dative, a person) and direct (accusative) object
    _V("give", "gives", "giving", "given", "gibt", "geben", "gegeben", "ditr", frozenset({"giveable"})),
    _V("show", "shows", "showing", "shown", "zeigt", "zeigen", "gezeigt", "ditr", frozenset({"giveable"})),
    # games and instruments, without article in German
    _V("play", "plays", "playing", "played", "spielt", "spielen", "gespielt", "sport"),
    # intransitive
    _V("sleep", "sleeps", "sleeping", "slept", "schläft", "schlafen", "geschlafen", "intr"),
    _V("laugh", "laughs", "laughing", "laughed", "lacht", "lachen", "gelacht", "intr"),
    _V("work", "works", "working", "worked", "arbeitet", "arbeiten", "gearbeitet", "intr"),
    _V("sing", "sings", "singing", "sung", "singt", "singen", "gesungen", "intr"),
    _V("wait", "waits", "waiting", "waited", "wartet", "warten", "gewartet", "intr"),
    _V("dance", "dances", "dancing", "danced", "tanzt", "tanzen", "getanzt", "intr"),
    # "rennen", not "laufen": "sie kann jetzt laufen" reads as "she can walk now".
    _V("run", "runs", "running", "run", "rennt", "rennen", "gerannt", "intr", aux="ist"),
    _V("get", "gets", "getting", "got", "steht", "aufstehen", "aufgestanden", "intr",
       en_particle="up", de_prefix="auf", aux="ist"),
    _V("come", "comes", "coming", "come", "kommt", "zurückkommen", "zurückgekommen", "intr",
       en_particle="back", de_prefix="zurück", aux="ist", place=False),
    # verbs of saying, with a "that"/"dass" clause
    _V("say", "says", "saying", "said", "sagt", "sagen", "gesagt", "say", progressive=False, modal=False),
    _V("think", "thinks", "thinking", "thought", "denkt", "denken", "gedacht", "say",
       progressive=False, modal=False),
    _V("know", "knows", "knowing", "known", "weiß", "wissen", "gewusst", "say",
       progressive=False, modal=False, perfect=False),
)

# Games: (English tokens, German word, index of the English token the German word translates).
SPORTS = ((("football",), "Fußball", 0), (("chess",), "Schach", 0), (("tennis",), "Tennis", 0),
          (("cards",), "Karten", 0), (("the", "piano"), "Klavier", 1))

PRONOUNS = (("he", "er"), ("she", "sie"))

# Determiners: English word -> (German kind, stem). Definite "der"-words decline weakly,
# "ein"-words (ein, mein, sein, ihr) take the mixed adjective endings.
DETERMINERS = {"the": ("def", ""), "a": ("ein", "ein"), "my": ("ein", "mein"),
               "his": ("ein", "sein"), "her": ("ein", "ihr")}

DEFINITE = {("nom", "m"): "der", ("nom", "f"): "die", ("nom", "n"): "das",
            ("acc", "m"): "den", ("acc", "f"): "die", ("acc", "n"): "das",
            ("dat", "m"): "dem", ("dat", "f"): "der", ("dat", "n"): "dem"}
EIN_ENDING = {("nom", "m"): "", ("nom", "f"): "e", ("nom", "n"): "",
              ("acc", "m"): "en", ("acc", "f"): "e", ("acc", "n"): "",
              ("dat", "m"): "em", ("dat", "f"): "er", ("dat", "n"): "em"}
# Adjective endings after a definite article (weak) and after an ein-word (mixed).
WEAK_ENDING = {("nom", "m"): "e", ("nom", "f"): "e", ("nom", "n"): "e",
               ("acc", "m"): "en", ("acc", "f"): "e", ("acc", "n"): "e",
               ("dat", "m"): "en", ("dat", "f"): "en", ("dat", "n"): "en"}
MIXED_ENDING = {("nom", "m"): "er", ("nom", "f"): "e", ("nom", "n"): "es",
                ("acc", "m"): "en", ("acc", "f"): "e", ("acc", "n"): "es",
                ("dat", "m"): "en", ("dat", "f"): "en", ("dat", "n"): "en"}
# Relative pronouns (nominative for subject relatives, accusative for object relatives).
RELATIVE = {("nom", "m"): "der", ("nom", "f"): "die", ("nom", "n"): "das",
            ("acc", "m"): "den", ("acc", "f"): "die", ("acc", "n"): "das"}

# Adverbial subordinating conjunctions that may also open the sentence.
CONJUNCTIONS = (("because", "weil"), ("although", "obwohl"), ("if", "wenn"))
MODALS = {"can": (("can",), "kann"), "want": (("wants", "to"), "will")}


def inflect_adjective(stem: str, ending: str) -> str:
    """Attach an adjective ending: klein+en -> kleinen; müde+e -> müde; müde+en -> müden."""
    if stem.endswith("e") and ending.startswith("e"):
        return stem + ending[1:]
    return stem + ending


def article(en: str, case: str, gender: str) -> str:
    """German form of an English determiner: ("a", "acc", "m") -> "einen"."""
    kind, stem = DETERMINERS[en]
    if kind == "def":
        return DEFINITE[(case, gender)]
    return stem + EIN_ENDING[(case, gender)]


def adjective_ending(det_en: str, case: str, gender: str) -> str:
    kind, _ = DETERMINERS[det_en]
    table = WEAK_ENDING if kind == "def" else MIXED_ENDING
    return table[(case, gender)]


def indefinite_article(next_word: str) -> str:
    """English "a" or "an" before ``next_word`` (our vocabulary has no silent h or 'eu' words)."""
    return "an" if next_word[0] in "aeiou" else "a"


@dataclass
class Lexicon:
    """Look-up tables built once from the lists above."""

    nouns_by_kind: dict = field(default_factory=dict)
    _cache: dict = field(default_factory=dict)

    def __post_init__(self):
        for noun in NOUNS:
            for kind in noun.kinds:
                self.nouns_by_kind.setdefault(kind, []).append(noun)

    def nouns_for(self, kinds) -> list:
        key = frozenset(kinds)
        if key not in self._cache:
            self._cache[key] = self._nouns_for(key)
        return self._cache[key]

    def _nouns_for(self, kinds) -> list:
        seen, out = set(), []
        for kind in sorted(kinds):
            for noun in self.nouns_by_kind.get(kind, []):
                if noun.en not in seen:
                    seen.add(noun.en)
                    out.append(noun)
        return out


LEXICON = Lexicon()
