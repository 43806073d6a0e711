"""Mini-German sentence trees and how they are spoken in English and in German.

A tree (``Clause`` with ``NP`` and ``PP`` parts) is rendered twice. Every English and German
token carries a set of *concept ids*; two tokens are aligned when their sets intersect. That
gives gold word alignments for free, including many-to-one links such as
"is playing" -> "spielt" or "in the" -> "im".

German word order implemented here:
* main clauses are verb-second: one element (subject, time adverbial or a whole adverbial
  clause) before the finite verb; the rest of the verb (separable prefix, participle,
  infinitive) goes to the end of the clause ("er ruft heute den Mann an");
* subordinate and relative clauses are verb-final ("..., weil er den Mann anruft");
* relative clauses on objects are moved behind the verb (extraposition), subordinate clauses
  are set off by commas.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import count

from .lexicon import (CONTRACTIONS, MODALS, RELATIVE, Adjective, Noun, TimeAdverbial, Verb,
                      adjective_ending, article, indefinite_article, inflect_adjective)

COMMA = ","

# English order of attributive adjectives: opinion, size, quality, age, colour.
_ADJ_RANK = {"beautiful": 0, "friendly": 0, "small": 1, "big": 1, "tall": 1, "heavy": 2,
             "tired": 2, "happy": 2, "hungry": 2, "sad": 2, "sick": 2, "fresh": 2, "sweet": 2,
             "hot": 2, "cold": 2, "old": 3, "young": 3, "new": 3}


def adjective_rank(adj: Adjective) -> int:
    return _ADJ_RANK.get(adj.en, 4)  # colours last


@dataclass
class NP:
    noun: Noun | None = None
    pronoun: tuple | None = None  # ("he", "er")
    det: str = "the"
    adjs: list = field(default_factory=list)
    mod: "PP | None" = None  # "the man with the dog"
    rel: "Clause | None" = None  # "the man who reads the book"


@dataclass
class PP:
    prep_en: tuple
    prep_de: str
    np: NP


@dataclass
class Clause:
    role: str  # "main", "sub" (adverbial or "that" clause), "relsubj", "relobj"
    subj: NP | None  # None in a subject relative clause (the gap)
    verb: Verb | None  # None: copula "is" + predicate adjective
    tense: str = "pres"  # "pres", "prog", "perf", "can", "want"
    io: NP | None = None  # dative object ("gives *the child* a book")
    obj: NP | None = None  # direct object (accusative; dative for "help")
    sport: tuple | None = None  # ("football",), "Fußball", index
    pred: Adjective | None = None
    very: bool = False
    place: PP | None = None
    time: TimeAdverbial | None = None
    front_time: bool = False
    adv: "tuple | None" = None  # (("because", "weil"), Clause)
    front_adv: bool = False
    comp: "Clause | None" = None  # the "that" clause of a verb of saying
    head: NP | None = None  # in a relative clause, the noun phrase it modifies
    depth: int = 0


Token = tuple  # (word, frozenset of concept ids)


class _Ids:
    def __init__(self):
        self._next = count()

    def __call__(self) -> frozenset:
        return frozenset({next(self._next)})


# ----------------------------------------------------------------------------------- English
def en_np(np: NP, ids: _Ids, ctx: dict) -> list:
    """English tokens of a noun phrase; ``ctx`` maps id(node) -> concept ids shared with German."""
    if np.pronoun is not None:
        return [(np.pronoun[0], ctx.setdefault((id(np), "n"), ids()))]
    out = []
    adjs = sorted(np.adjs, key=adjective_rank)
    words = [a.en for a in adjs] + [np.noun.en]
    det = indefinite_article(words[0]) if np.det == "a" else np.det
    out.append((det, ctx.setdefault((id(np), "d"), ids())))
    for a in adjs:
        out.append((a.en, ctx.setdefault((id(np), "a", a.en), ids())))
    out.append((np.noun.en, ctx.setdefault((id(np), "n"), ids())))
    if np.mod is not None:
        out += en_pp(np.mod, ids, ctx)
    if np.rel is not None:
        out += en_clause(np.rel, ids, ctx)
    return out


def en_pp(pp: PP, ids: _Ids, ctx: dict) -> list:
    cid = ctx.setdefault((id(pp), "p"), ids())
    return [(w, cid) for w in pp.prep_en] + en_np(pp.np, ids, ctx)


def en_verb_group(c: Clause, ids: _Ids, ctx: dict) -> list:
    v = ctx.setdefault((id(c), "v"), ids())
    if c.verb is None:  # copula
        out = [("is", v)]
        if c.very:
            out.append(("very", ctx.setdefault((id(c), "very"), ids())))
        return out + [(c.pred.en, ctx.setdefault((id(c), "pred"), ids()))]
    verb = c.verb
    if c.tense == "pres":
        out = [(verb.en_3sg, v)]
    elif c.tense == "prog":  # "is" becomes the finite verb only, never a separable prefix
        out = [("is", ctx.setdefault((id(c), "fin"), ids())), (verb.en_ing, v)]
    elif c.tense == "perf":
        out = [("has", ctx.setdefault((id(c), "aux"), ids())), (verb.en_part, v)]
    else:
        m = ctx.setdefault((id(c), "aux"), ids())
        out = [(w, m) for w in MODALS[c.tense][0]] + [(verb.en_base, v)]
    if verb.en_particle:
        # "picks up": its own concept when German has a separable prefix, else part of the verb.
        p = ctx.setdefault((id(c), "prt"), ids()) if verb.de_prefix else v
        out.append((verb.en_particle, p))
    return out


def en_clause(c: Clause, ids: _Ids, ctx: dict) -> list:
    out = []
    if c.role == "relsubj":
        out.append(("who" if "person" in c.head.noun.kinds else "that",
                    ctx.setdefault((id(c), "rel"), ids())))
    elif c.role == "relobj":
        out.append(("that", ctx.setdefault((id(c), "rel"), ids())))
    if c.adv is not None and c.front_adv:
        (conj_en, _), sub = c.adv
        out.append((conj_en, ctx.setdefault((id(c), "conj"), ids())))
        out += en_clause(sub, ids, ctx)
        out.append((COMMA, ctx.setdefault((id(c), "comma"), ids())))
    if c.time is not None and c.front_time:
        out += en_time(c, ids, ctx)
    if c.subj is not None:
        out += en_np(c.subj, ids, ctx)
    out += en_verb_group(c, ids, ctx)
    if c.sport is not None:
        s = ctx.setdefault((id(c), "sport"), ids())
        out += [(w, s if i == c.sport[2] else frozenset()) for i, w in enumerate(c.sport[0])]
    if c.io is not None:
        out += en_np(c.io, ids, ctx)
    if c.obj is not None:
        out += en_np(c.obj, ids, ctx)
    if c.place is not None:
        out += en_pp(c.place, ids, ctx)
    if c.time is not None and not c.front_time:
        out += en_time(c, ids, ctx)
    if c.comp is not None:
        out.append(("that", ctx.setdefault((id(c), "that"), ids())))
        out += en_clause(c.comp, ids, ctx)
    if c.adv is not None and not c.front_adv:
        (conj_en, _), sub = c.adv
        out.append((conj_en, ctx.setdefault((id(c), "conj"), ids())))
        out += en_clause(sub, ids, ctx)
    return out


def en_time(c: Clause, ids: _Ids, ctx: dict) -> list:
    t = c.time
    cids = [ctx.setdefault((id(c), "time", i), ids()) for i in range(len(t.en))]
    return [(w, cids[i]) for i, w in enumerate(t.en)]


# ------------------------------------------------------------------------------------ German
def de_np(np: NP, case: str, ids: _Ids, ctx: dict, with_rel: bool = True,
          prep: tuple | None = None) -> list:
    """German tokens of a noun phrase in ``case``; ``prep`` = (German preposition, its ids)."""
    if np.pronoun is not None:
        return [(np.pronoun[1], ctx.setdefault((id(np), "n"), ids()))]
    g = np.noun.gender
    det = article(np.det, case, g)
    det_ids = ctx.setdefault((id(np), "d"), ids())
    out = []
    if prep is not None and (prep[0], det) in CONTRACTIONS:
        out.append((CONTRACTIONS[(prep[0], det)], prep[1] | det_ids))
    else:
        if prep is not None:
            out.append(prep)
        out.append((det, det_ids))
    ending = adjective_ending(np.det, case, g)
    for a in sorted(np.adjs, key=adjective_rank):
        out.append((inflect_adjective(a.de, ending), ctx.setdefault((id(np), "a", a.en), ids())))
    out.append((np.noun.de, ctx.setdefault((id(np), "n"), ids())))
    if np.mod is not None:
        out += de_pp(np.mod, ids, ctx)
    if np.rel is not None and with_rel:
        out += [(COMMA, frozenset())] + de_clause(np.rel, ids, ctx) + [(COMMA, frozenset())]
    return out


def de_pp(pp: PP, ids: _Ids, ctx: dict) -> list:
    cid = ctx.setdefault((id(pp), "p"), ids())
    return de_np(pp.np, "dat", ids, ctx, prep=(pp.prep_de, cid))


def _verb_ids(c: Clause, ids: _Ids, ctx: dict) -> tuple:
    """Concept ids of the verb, of its separable particle ("up" ~ "ab") and of the progressive's
    "is" (linked to the finite verb only: "is opening" -> "macht", not "auf")."""
    v = ctx.setdefault((id(c), "v"), ids())
    prt = ctx.setdefault((id(c), "prt"), ids()) if c.verb and c.verb.de_prefix and c.verb.en_particle \
        else frozenset()
    fin = ctx.setdefault((id(c), "fin"), ids()) if c.tense == "prog" else frozenset()
    return v, prt, fin


def de_finite_and_rest(c: Clause, ids: _Ids, ctx: dict) -> tuple:
    """(finite verb for verb-second, list of tokens for the end of the clause)."""
    v, prt, fin = _verb_ids(c, ids, ctx)
    if c.verb is None:
        return ("ist", v), []
    verb = c.verb
    if c.tense in ("pres", "prog"):
        rest = [(verb.de_prefix, prt or v)] if verb.de_prefix else []
        return (verb.de_3sg, v | fin), rest
    aux = ctx.setdefault((id(c), "aux"), ids())
    if c.tense == "perf":
        return (verb.aux, aux), [(verb.de_part, v | prt)]
    return (MODALS[c.tense][1], aux), [(verb.de_inf, v | prt)]


def de_verb_final(c: Clause, ids: _Ids, ctx: dict) -> list:
    """The verb complex at the end of a subordinate clause: "anruft", "angerufen hat"."""
    v, prt, fin = _verb_ids(c, ids, ctx)
    if c.verb is None:
        return [("ist", v)]
    if c.tense in ("pres", "prog"):
        return [(c.verb.de_final, v | prt | fin)]
    finite, rest = de_finite_and_rest(c, ids, ctx)
    return rest + [finite]


def de_middle(c: Clause, ids: _Ids, ctx: dict, subj_here: bool) -> tuple:
    """Middle field (Mittelfeld) tokens, and the relative clause moved to the end, if any."""
    out, moved = [], None
    time = [] if c.time is None or c.front_time else \
        [(w, _time_ids(c, ids, ctx, j)) for j, w in enumerate(c.time.de)]
    # New information goes late: an indefinite subject after the time ("steht morgen eine
    # Schwester auf"; not after "jeden Tag", which would make it "some woman or other every
    # day"), an indefinite object after the place ("isst im Park einen Apfel"); a recipient
    # stays before the place ("gibt seinem Lehrer in der Stadt einen Apfel").
    subject = de_np(c.subj, "nom", ids, ctx) if subj_here and c.subj is not None else []
    if subject and c.subj.det == "a" and c.time is not None and c.time.en != ("every", "day"):
        out += time + subject
    else:
        out += subject + time
    place = de_pp(c.place, ids, ctx) if c.place is not None else []
    late_object = c.obj is not None and c.obj.det == "a"
    if c.io is not None:
        out += de_np(c.io, "dat", ids, ctx)
    if late_object:
        out += place
    if c.obj is not None:
        case = "dat" if c.verb.frame == "dat" else "acc"
        out += de_np(c.obj, case, ids, ctx, with_rel=False)
        moved = c.obj.rel
    if c.verb is None:
        if c.very:
            out.append(("sehr", ctx.setdefault((id(c), "very"), ids())))
        out.append((c.pred.de, ctx.setdefault((id(c), "pred"), ids())))
    if not late_object:
        out += place
    if c.sport is not None:
        out.append((c.sport[1], ctx.setdefault((id(c), "sport"), ids())))
    return out, moved


def _time_ids(c: Clause, ids: _Ids, ctx: dict, j: int) -> frozenset:
    t = c.time
    en_ids = [ctx.setdefault((id(c), "time", i), ids()) for i in range(len(t.en))]
    return frozenset().union(*[en_ids[i] for i, jj in t.links if jj == j])


def de_tail(c: Clause, moved: Clause | None, ids: _Ids, ctx: dict) -> list:
    """After-field (Nachfeld): extraposed relative clause, "dass" clause, adverbial clause."""
    out = []
    if moved is not None:
        out += [(COMMA, frozenset())] + de_clause(moved, ids, ctx)
    if c.comp is not None:
        out += [(COMMA, frozenset()), ("dass", ctx.setdefault((id(c), "that"), ids()))]
        out += de_clause(c.comp, ids, ctx)
    if c.adv is not None and not c.front_adv:
        (_, conj_de), sub = c.adv
        out += [(COMMA, frozenset()), (conj_de, ctx.setdefault((id(c), "conj"), ids()))]
        out += de_clause(sub, ids, ctx)
    return out


def de_clause(c: Clause, ids: _Ids, ctx: dict) -> list:
    if c.role == "main":
        if c.adv is not None and c.front_adv:
            (_, conj_de), sub = c.adv
            first = [(conj_de, ctx.setdefault((id(c), "conj"), ids()))] + de_clause(sub, ids, ctx)
            first.append((COMMA, ctx.setdefault((id(c), "comma"), ids())))
        elif c.front_time:
            first = [(w, _time_ids(c, ids, ctx, j)) for j, w in enumerate(c.time.de)]
        else:
            first = de_np(c.subj, "nom", ids, ctx)
        finite, rest = de_finite_and_rest(c, ids, ctx)
        middle, moved = de_middle(c, ids, ctx, subj_here=c.front_adv or c.front_time)
        return first + [finite] + middle + rest + de_tail(c, moved, ids, ctx)
    out = []
    if c.role in ("relsubj", "relobj"):
        case = "nom" if c.role == "relsubj" else "acc"
        out.append((RELATIVE[(case, c.head.noun.gender)], ctx.setdefault((id(c), "rel"), ids())))
    middle, moved = de_middle(c, ids, ctx, subj_here=True)
    return out + middle + de_verb_final(c, ids, ctx) + de_tail(c, moved, ids, ctx)


def tidy_commas(tokens: list) -> list:
    """Drop commas at the edges and merge runs of commas (a clause ends where another does)."""
    out = []
    for word, cids in tokens:
        if word == COMMA and (not out or out[-1][0] == COMMA):
            if out:
                out[-1] = (COMMA, out[-1][1] | cids)
            continue
        out.append((word, cids))
    while out and out[-1][0] == COMMA:
        out.pop()
    return out


def render(tree: Clause) -> tuple:
    """(English words, German words, alignment as sorted (src_index, tgt_index) pairs)."""
    ids, ctx = _Ids(), {}
    en = en_clause(tree, ids, ctx)
    de = tidy_commas(de_clause(tree, ids, ctx))
    alignment = sorted((i, j) for j, (_, dc) in enumerate(de) for i, (_, ec) in enumerate(en)
                       if dc & ec)
    return tuple(w for w, _ in en), tuple(w for w, _ in de), tuple(alignment)


class _NoConcepts(dict):
    """A context that remembers nothing: counting English tokens needs no concept ids."""

    def setdefault(self, key, default=None):
        return default


_NO_IDS = frozenset()


def english_length(tree: Clause) -> int:
    return len(en_clause(tree, lambda: _NO_IDS, _NoConcepts()))
