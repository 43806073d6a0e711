"""Mini-German: English -> German sentence pairs with gold word alignments and a length dial.

>>> from utils.data.minigerman import sample_pair
>>> import random
>>> pair = sample_pair(random.Random(0), length=12)
>>> len(pair.src)
12

A sentence starts as a short clause ("he sleeps") and grows by random expansions (an
adjective, a time adverbial, a prepositional phrase, a relative or subordinate clause, a
compound tense...) until its English side has exactly the requested number of tokens.
"""
from __future__ import annotations

import random

from .grammar import NP, PP, Clause, adjective_rank, english_length, render
from .lexicon import (ADJECTIVES, CONJUNCTIONS, LEXICON, PLACES, PREDICATES, PRONOUNS, SPORTS,
                      TIMES, VERBS)
from .pair import Pair

__all__ = ["Pair", "SEED_PAIR", "sample_pair", "sample_tree"]

MIN_LENGTH = 3  # "he is sleeping"
_CONFLICTS = [{"old", "young", "new"}, {"small", "big", "tall"}, {"hot", "cold"},
              {"happy", "sad"}, {"red", "blue", "green", "black", "white", "brown"}]
_CONFLICT_OF = {a: group for group in _CONFLICTS for a in group}
_MASS_NOUNS = {"coffee", "water", "milk", "bread"}  # no "a": *"a milk"
# No possessive: "mein Mann" is "my husband", "mein Freund" / "sein Mädchen" read as a boy- or
# girlfriend; "his street" is "seine Straße" only *in* it ("in seiner Straße", where he lives),
# and "his park" / "his station" are odd in both languages.
_NO_POSSESSIVE = {"man", "woman", "friend", "girl", "street", "park", "station"}
_WITH_OBJECT_VERBS = {"see", "like", "find"}  # "the man with the dog" as their object


SEED_PAIR = Pair(("he", "is", "playing", "football"), ("er", "spielt", "Fußball"),
                 ((0, 0), (1, 1), (2, 1), (3, 2)))


# ------------------------------------------------------------------------ building blocks
def _det(rng: random.Random, noun) -> str:
    weights = [6, 3, 1, 1, 1]
    if noun.en in _MASS_NOUNS:
        weights[1] = 0
    if noun.en in _NO_POSSESSIVE:
        weights[2:] = [0, 0, 0]
    return rng.choices(["the", "a", "my", "his", "her"], weights=weights)[0]


def _np(rng: random.Random, kinds, avoid=frozenset()) -> NP:
    """A noun phrase whose noun fits ``kinds``; nouns in ``avoid`` (English) are not drawn, so
    that no sentence says "the man sees the man" or "the teacher with the teacher"."""
    nouns = [n for n in LEXICON.nouns_for(kinds) if n.en not in avoid]
    noun = rng.choice(nouns)
    return NP(noun=noun, det=_det(rng, noun))


def _nouns_of(c: Clause) -> set:
    """English nouns already in clause ``c`` (its own noun phrases and the head it modifies)."""
    nouns = {np.noun.en for np in _nps(c)}
    return nouns | ({c.head.noun.en} if c.head is not None else set())


def _blocked_adjectives(adjectives) -> set:
    """The adjectives themselves and those that contradict them ("old" blocks "young")."""
    adjectives = set(adjectives)
    return adjectives.union(*(_CONFLICT_OF.get(a, ()) for a in adjectives))


def _pronoun(rng: random.Random, masculine: bool = False) -> NP:
    return NP(pronoun=PRONOUNS[0] if masculine else rng.choice(PRONOUNS))


def _animate_f_or_n(noun) -> bool:
    return noun.gender in ("f", "n") and bool(noun.kinds & {"person", "animal"})


def needs_masculine_object(c: Clause) -> bool:
    """The mirror case: a subject relative on a feminine or neuter person or animal whose
    accusative object is one too. "das Mädchen, das die Katze sucht" reads as "the girl that the
    cat looks for"; a masculine object ("den Hund") leaves one reading."""
    return c.role == "relsubj" and _animate_f_or_n(c.head.noun) and c.verb is not None \
        and c.verb.frame == "acc"


def needs_masculine_subject(c: Clause) -> bool:
    """Whether clause ``c`` is an object relative on a feminine or neuter head that could itself
    be a subject (a person or an animal). Its relative pronoun ("die", "das") is nominative or
    accusative alike, and so is a feminine or neuter subject ("sie", "das Mädchen"): "das Kind,
    das sie sieht" then reads first as "the child that sees her". A masculine subject ("er",
    "der Mann") leaves one reading, so such a clause only gets one."""
    return c.role == "relobj" and _animate_f_or_n(c.head.noun)


def _subject_np(rng: random.Random, c: Clause) -> NP:
    """A person as the subject of ``c`` (replacing its pronoun)."""
    avoid = _nouns_of(c)
    if needs_masculine_subject(c):
        avoid = avoid | {n.en for n in LEXICON.nouns_for({"person"}) if n.gender != "m"}
    return _np(rng, {"person"}, avoid)


def _fill_objects(c: Clause, rng: random.Random) -> None:
    frame = c.verb.frame if c.verb else "copula"
    avoid = _nouns_of(c)
    if frame == "copula":  # not "the tired man who is tired", nor "the old man who is young"
        blocked = _blocked_adjectives(a.en for a in c.head.adjs) if c.head is not None else set()
        c.pred = ADJECTIVES[rng.choice([a for a in PREDICATES if a not in blocked])]
    elif frame == "sport":
        c.sport = rng.choice(SPORTS)
    elif frame in ("acc", "dat") and c.role != "relobj":
        if needs_masculine_object(c):
            avoid = avoid | {n.en for n in LEXICON.nouns_for(c.verb.objects) if _animate_f_or_n(n)}
        c.obj = _np(rng, c.verb.objects, avoid)
    elif frame == "ditr":
        c.io = _np(rng, {"person"}, avoid)
        c.obj = _np(rng, c.verb.objects, avoid)
    elif frame == "say":
        c.comp = new_clause(rng, "sub", c.depth + 1)


def new_clause(rng: random.Random, role: str, depth: int, head: NP | None = None,
               not_verb: str | None = None) -> Clause:
    """A minimal clause: pronoun subject, present tense, plain objects.

    ``not_verb`` (English base form) is left out: a relative clause does not repeat the verb of
    the clause it hangs in ("she eats the cake that the mother eats")."""
    if role == "relobj":
        verbs = [v for v in VERBS if v.frame == "acc" and v.objects & head.noun.kinds]
    else:
        verbs = [v for v in VERBS if v.frame != "say" or (depth < 2 and role in ("main", "sub"))]
    verbs = [v for v in verbs if v.en_base != not_verb]
    if role == "relobj" or rng.random() > 0.1:
        verb = rng.choice(verbs)
    else:
        verb = None  # "she is tired"
    c = Clause(role=role, subj=None, verb=verb, head=head, depth=depth)
    if role != "relsubj":
        c.subj = _pronoun(rng, masculine=needs_masculine_subject(c))
    _fill_objects(c, rng)
    return c


# ---------------------------------------------------------------------------- expansions
def _walk(c: Clause):
    """Yield every clause in the tree, outermost first."""
    yield c
    for np in _nps(c):
        if np.rel is not None:
            yield from _walk(np.rel)
    for sub in (c.comp, c.adv[1] if c.adv else None):
        if sub is not None:
            yield from _walk(sub)


def _nps(c: Clause):
    for np in (c.subj, c.io, c.obj):
        if np is not None and np.noun is not None:
            yield np
    for pp in (c.place, *(np.mod for np in (c.subj, c.io, c.obj) if np is not None)):
        if pp is not None:
            yield pp.np


def _set(obj, name, value):
    old = getattr(obj, name)
    setattr(obj, name, value)
    return lambda: setattr(obj, name, old)


def _ops(tree: Clause, rng: random.Random) -> list:
    """Candidate expansions as (weight, apply) where apply() mutates the tree, returns undo."""
    ops = []
    for c in _walk(tree):
        clausal = c.role in ("main", "sub")
        if c.subj is not None and c.subj.pronoun is not None:
            ops.append((2.0, lambda c=c: _set(c, "subj", _subject_np(rng, c))))
        for np in _nps(c):
            ops += _np_ops(c, np, rng)
        if c.verb is None and not c.very:
            ops.append((0.5, lambda c=c: _set(c, "very", True)))
        if c.verb is not None and c.tense == "pres":
            tenses = (["perf"] * c.verb.perfect + ["prog"] * c.verb.progressive
                      + ["can", "want"] * c.verb.modal)
            if c.time is not None:
                tenses = [t for t in tenses if t in c.time.tenses]
            if tenses:  # the choice is drawn now, while collecting (part of the seeded stream)
                choice = rng.choice(tenses)
                ops.append((1.5, lambda c=c, t=choice: _set(c, "tense", t)))
        # English would hang a place or time after "the book that he reads" on the relative
        # clause; keep such sentences unambiguous by not combining the two.
        obj_rel = c.obj is not None and c.obj.rel is not None
        if clausal and c.time is None and c.comp is None and not obj_rel:
            choice = rng.choice([t for t in TIMES if c.tense in t.tenses])
            ops.append((1.0, lambda c=c, t=choice: _add_time(c, t, rng)))
        if (clausal and c.place is None and c.verb is not None and c.verb.place
                and c.comp is None and not obj_rel):
            ops.append((1.0, lambda c=c: _set(c, "place", _place(rng))))
        # Nor an adverbial clause after it: German reads "..., die er mag, weil sie wartet" as
        # part of the relative clause.
        if clausal and c.adv is None and c.comp is None and c.depth < 2 and not obj_rel:
            ops.append((1.5, lambda c=c: _add_adverbial_clause(c, rng)))
    return ops


def _np_ops(c: Clause, np: NP, rng: random.Random) -> list:
    ops = []
    if len(np.adjs) < 2:
        ops.append((1.0, lambda np=np, c=c: _add_adjective(c, np, rng)))
    top_level = np is c.subj or np is c.obj
    plain = np.mod is None and np.rel is None
    # "with the dog" on a subject only where German puts the subject alone before the verb:
    # in the middle field, "weil der Bruder mit dem Mädchen schläft" reads as "sleeps with".
    # On an object only after a verb with no "together with" or "by means of" reading ("er
    # ruft die Frau mit dem Hund an": they call together). Only animals: "die Mutter mit dem
    # Mann" reads as her husband.
    modifiable = ((np is c.obj and c.verb.en_base in _WITH_OBJECT_VERBS)
                  or (np is c.subj and c.role == "main" and not (c.front_time or c.front_adv)))
    if top_level and plain and modifiable and "person" in np.noun.kinds:
        ops.append((0.7, lambda np=np, c=c: _set(np, "mod", PP(
            ("with",), "mit", _np(rng, {"animal"}, _nouns_of(c))))))
    # Nor on the object after a recipient of its gender: "dem Freund den Schlüssel geben, den
    # sie sucht" can take "den" for the friend.
    same_gender_io = np is c.obj and c.io is not None and c.io.noun is not None \
        and c.io.noun.gender == np.noun.gender
    if top_level and plain and c.role in ("main", "sub") and not same_gender_io:
        subject_fronted = np is c.subj and (c.front_time or c.front_adv)
        ambiguous = np is c.obj and (c.place is not None or (c.time and not c.front_time)
                                     or (c.adv is not None and not c.front_adv))
        if not subject_fronted and not ambiguous:
            ops.append((1.5, lambda np=np, c=c: _add_relative(c, np, rng)))
    return ops


def _add_adjective(c: Clause, np: NP, rng: random.Random) -> callable:
    said = {a.en for a in np.adjs}  # and what a predicate says of the noun: *"the tired man is tired"
    if np is c.subj and c.verb is None:
        said.add(c.pred.en)
    if np.rel is not None and np.rel.role == "relsubj" and np.rel.verb is None:
        said.add(np.rel.pred.en)
    blocked = _blocked_adjectives(said)
    if np.det in ("my", "his", "her") and "person" in np.noun.kinds:
        blocked.add("old")  # "mein alter Lehrer" is my former teacher
    # At most one of opinion, size or quality: two of them ("der glückliche, müde Freund") need a
    # comma in German; age and colour after one do not ("die glückliche alte Frau").
    if any(adjective_rank(a) <= 2 for a in np.adjs):
        blocked |= {a for a in np.noun.adjectives if adjective_rank(ADJECTIVES[a]) <= 2}
    free = [a for a in np.noun.adjectives if a not in blocked]
    if not free:
        return lambda: None
    return _append_adj(np, ADJECTIVES[rng.choice(free)])


def _append_adj(np: NP, adj) -> callable:
    np.adjs.append(adj)
    return lambda: np.adjs.remove(adj)


def _add_time(c: Clause, t, rng: random.Random) -> callable:
    can_front = c.role == "main" and not c.front_adv and c.subj.rel is None and c.subj.mod is None
    undo_t = _set(c, "time", t)
    undo_f = _set(c, "front_time", can_front and rng.random() < 0.35)
    return lambda: (undo_f(), undo_t())


def _place(rng: random.Random) -> PP:
    place = rng.choice(PLACES)
    prep_en, prep_de = rng.choice(place.preps)
    return PP(prep_en, prep_de, NP(noun=place.noun, det=_det(rng, place.noun)))


def _add_relative(c: Clause, np: NP, rng: random.Random) -> callable:
    not_verb = c.verb.en_base if c.verb is not None else None
    roles = ["relsubj"] if "person" in np.noun.kinds else []
    if any(v.frame == "acc" and v.objects & np.noun.kinds and v.en_base != not_verb
           for v in VERBS):
        roles.append("relobj")
    if not roles:  # "the lamp that he turns on" inside "he turns on ...": nothing else fits
        return lambda: None
    rel = new_clause(rng, rng.choice(roles), c.depth + 1, head=np, not_verb=not_verb)
    return _set(np, "rel", rel)


def _add_adverbial_clause(c: Clause, rng: random.Random) -> callable:
    sub = new_clause(rng, "sub", c.depth + 1)
    undo_a = _set(c, "adv", (rng.choice(CONJUNCTIONS), sub))
    can_front = (c.role == "main" and not c.front_time and c.subj.rel is None
                 and c.subj.mod is None)
    undo_f = _set(c, "front_adv", can_front and rng.random() < 0.4)
    return lambda: (undo_f(), undo_a())


# ---------------------------------------------------------------------------- sampling
def sample_tree(rng: random.Random, length: int, max_tries: int = 1000) -> Clause:
    """A random sentence tree whose English side has exactly ``length`` tokens."""
    if length < MIN_LENGTH:
        raise ValueError(f"length must be at least {MIN_LENGTH}, got {length}")
    for _ in range(max_tries):
        tree = new_clause(rng, "main", 0)
        n = english_length(tree)
        misses = 0
        steps = 0
        while n < length and misses < 12 and steps < 4 * length:
            steps += 1
            ops = _ops(tree, rng)
            if not ops:
                break
            weights, actions = zip(*ops)
            undo = rng.choices(actions, weights=weights)[0]()
            m = english_length(tree)
            if m > length:
                undo()
                misses += 1
            else:
                n = m
        if n == length:
            return tree
    raise RuntimeError(f"could not build a sentence of length {length}")


def sample_pair(rng: random.Random, length: int) -> Pair:
    """One English -> German pair whose English side has exactly ``length`` tokens."""
    return Pair(*render(sample_tree(rng, length)))
