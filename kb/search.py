"""Query text -> ranked :class:`~kb.models.Hit` records, over any engine.

Parts:

* :func:`search` — the query parsed once (:func:`kb.query.parse`), its words'
  spellings resolved against the index (compounds: :func:`kb.query.compound_forms`;
  a misspelled word replaced when one word is clearly meant:
  :func:`choose_correction`), ranked by the engine
  (:meth:`kb.engine.EngineReader.search`: full matches — passages whose own
  text or section holds every part of the query — then partial ones), and the
  page made into hits.
* snippets that show what made the hit (:func:`snippet`: the query's phrase,
  else the most of its concepts), and ``missing_terms`` per partial hit.
* the option filters as written (:func:`describe_filters`), ``--since`` dates
  (:func:`parse_date`) and a document's exact ``--doc`` pattern.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from .analysis import fold, iter_terms
from .errors import QueryError
from .meta import symbol_query
from .models import (
    REF_LENGTH,
    Budget,
    Filters,
    Hit,
    Passage,
    Scoring,
    SearchResult,
    citation,
    symbol_citation,
)
from .query import (
    MAX_FUZZY_WORD,
    Concept,
    ParsedQuery,
    compound_forms,
    doc_pattern,
    joined_pairs,
    parse,
)

if TYPE_CHECKING:
    from .engine import EngineReader

__all__ = ["Filters", "search", "snippet", "term_spans", "make_hit", "passage_hit",
           "doc_pattern", "describe_filters", "parse_date", "exact_doc_pattern",
           "choose_correction", "resolve"]

SNIPPET_WORDS = 40


# --------------------------------------------------------------------------
# spelling

#: a misspelled word is replaced only by a word at least this many times as likely
#: as every other candidate (likelihood: :func:`choose_correction`)
CLEAR_RATIO = 5
#: each edit further from the typed word makes a candidate this many times less likely
EDIT_PENALTY = 1000
#: ... and a replacement is held by at least this many passages
CLEAR_MIN = 3
#: at most this many words of one query are looked up for a correction (a pasted
#: page of unknown words costs no more than a sentence)
MAX_CORRECTED = 8


def choose_correction(word: str, candidates: list[tuple[str, str, int, int]]
                      ) -> tuple[str | None, str | None]:
    """``(replacement, suggestion)`` for a query word the index does not hold, from
    ``candidates``: ``(word as written, its term, edits, passages holding it)``.

    A candidate's likelihood is its frequency divided by :data:`EDIT_PENALTY` for
    each edit, and once more when the edit replaced the first letter (a slip rarely
    does: ``wombat`` is not ``combat``; a dropped or swapped first letter is an
    ordinary slip).  The likeliest is the **replacement** only when it is clearly the
    word meant: one edit away (two for a word of eight letters or more:
    ``harrasment``; a replaced first letter counting as one more), held by at least
    :data:`CLEAR_MIN` passages, and :data:`CLEAR_RATIO` times as likely as every other
    candidate.  Otherwise it is only a **suggestion** ("Did you mean …?"); with no
    candidate, neither."""
    w = fold(word)
    best_of: dict[str, tuple[float, int, int, str]] = {}  # term -> (likelihood, cost, edits, surface)
    for surface, t, edits, freq in candidates:
        cost = edits + _first_letter_replaced(w, surface)
        k = (freq / EDIT_PENALTY ** cost, -cost, -edits, surface)
        if t not in best_of or k > best_of[t]:
            best_of[t] = k
    if not best_of:
        return None, None
    ranked = sorted(best_of.values(), reverse=True)
    like, negcost, negedits, surface = ranked[0]
    cost, edits = -negcost, -negedits
    freq = like * EDIT_PENALTY ** cost
    most = 1 if len(w) < 8 else 2
    clear = (edits <= most and cost <= most and freq >= CLEAR_MIN and len(w) >= 4
             and all(like >= CLEAR_RATIO * r[0] for r in ranked[1:]))
    return (surface if clear else None), surface


def _first_letter_replaced(typed: str, word: str) -> int:
    return int(len(typed) == len(word) and typed[:1] != word[:1] and typed[1:] == word[1:])


def _unknown_words(engine: EngineReader, q: ParsedQuery) -> list[Concept]:
    """The positive plain words of the query that the index holds in none of their
    forms, and that may be misspelled: not written in capitals (an acronym), no
    digits, no symbol, one term."""
    out = []
    for c in q.positive_concepts():
        if c.kind != "word" or len(c.terms) != 1 or len(c.text) > MAX_FUZZY_WORD:
            continue
        if len(c.text) >= 2 and c.text.isupper():
            continue
        if not re.fullmatch(r"[^\W\d_]+(?:['’][^\W\d_]+)*", c.text):
            continue
        if any(all(engine.has_term(t) for t in f) for f in c.all_forms):
            continue
        out.append(c)
    return out


def _correct(engine: EngineReader, q: ParsedQuery, apply: bool, budget: Budget | None = None
             ) -> tuple[ParsedQuery, str | None, str | None]:
    """The query with its clearly misspelled words replaced (when ``apply``), the
    corrected text (None: nothing replaced), and a "did you mean" text for the
    words left as typed (None: no suggestion)."""
    unknown = _unknown_words(engine, q)[:MAX_CORRECTED]
    if not unknown:
        return q, None, None
    fixed_text = suggest_text = q.text
    replaced = suggested = False
    for c in sorted(unknown, key=lambda c: -c.start):  # from the end: offsets stay right
        if budget is not None:
            budget.check()
        w = fold(c.text)
        found = engine.near_words(w, 2 if len(w) >= 5 else 1)
        cands = [(s, t, d, engine.frequency(t)) for s, t, d in found]
        rep, sug = choose_correction(c.text, cands)
        at = c.start  # offsets in the words are offsets in the text (clauses blanked)
        if rep is not None and apply:
            fixed_text = fixed_text[:at] + rep + fixed_text[at + len(c.text):]
            new = parse_word(rep, c)
            if new is not None:
                q = q.replace_concept(c, new)
                replaced = True
        if sug is not None and (rep is None or not apply):
            suggest_text = suggest_text[:at] + sug + suggest_text[at + len(c.text):]
            suggested = True
    if replaced:
        phrase = q.phrase
        if phrase is not None:
            q = replace(q, phrase=parse(fixed_text).phrase)
        q = replace(q, text=fixed_text)
    return q, (fixed_text if replaced else None), (suggest_text if suggested else None)


def parse_word(word: str, like: Concept) -> Concept | None:
    """``word`` as a concept in the place of ``like``."""
    terms = tuple(t for t, _, _ in iter_terms(word))
    if not terms:
        return None
    return replace(like, text=word, terms=terms, forms=(), end=like.start + len(word))


#: the spellings of at most this many of a query's words are looked up (a pasted page
#: is searched as written beyond them)
MAX_RESOLVED = 64


def resolve(engine: EngineReader, q: ParsedQuery, budget: Budget | None = None
            ) -> ParsedQuery:
    """The query with each word's and phrase's spellings found in the index: a
    compound's closed, hyphenated and open forms (:func:`kb.query.compound_forms`),
    and for two words written apart that the index also holds as one closed word
    (``whistle blower``), that word as a form of each."""
    has = engine.has_term
    pairs = {id(a): t for a, _, t in joined_pairs(q)} | {id(b): t for _, b, t in joined_pairs(q)}
    pairs = {k: t for k, t in pairs.items() if has(t)}

    def fix(c: Concept) -> Concept:
        if c.kind == "word":
            forms = compound_forms(c.text, has) if c.text.replace("-", "").isalpha() \
                or "-" in c.text else [c.terms]
        elif c.kind == "phrase":
            forms = compound_forms(_phrase_text(c), has)
        else:
            return c
        forms = [tuple(f) for f in forms] or [c.terms]
        extra = pairs.get(id(c))
        if extra is not None and (extra,) not in forms:
            forms.append((extra,))
        return replace(c, forms=tuple(forms)) if forms != [c.terms] else c

    for c in q.concepts()[:MAX_RESOLVED]:
        if budget is not None:
            budget.check()
        new = fix(c)
        if new is not c:
            q = q.replace_concept(c, new)
    if q.phrase is not None:
        q = replace(q, phrase=fix(q.phrase))
    return q


def _phrase_text(c: Concept) -> str:
    t = c.text
    if t.startswith('"'):
        t = t[1:]
        t = t[:t.rfind('"')] if '"' in t else t
    return t


def _symbol(engine: EngineReader, q: ParsedQuery) -> ParsedQuery:
    """A query that is a UN symbol (``s/res/2771``, ``E/ICEF/2025/26 (2025)``: any
    case, with or without the year) that some document has, or some passage
    mentions: its document first (:attr:`ParsedQuery.symbol`)."""
    sym = symbol_query(q.words)
    if sym is None:
        return q
    t = sym.casefold()
    if not (engine.has_symbol(t) or engine.has_term(t)):
        return q
    c = Concept(sym, "word", (t,), start=0, end=len(q.words))
    return replace(q, root=c, symbol=sym, phrase=None)


# --------------------------------------------------------------------------
# searching

_SURROGATE = re.compile("[\ud800-\udfff]")


def search(
    engine: EngineReader,
    text: str,
    limit: int | None = 10,
    offset: int = 0,
    filters: Filters | None = None,
    group: bool = False,
    path_prefix: str = "",
    correct: bool = True,
    dedup: bool = True,
    facets: int = 0,
    partial: bool = True,
    scoring: Scoring | None = None,
    budget: Budget | None = None,
) -> SearchResult:
    """Run a query and return ranked hits.  ``limit=None`` returns every match.

    **Matching**: a passage matches when its own text or section heading holds
    every concept of the query (a word with its variants, or a phrase; ``OR`` as
    written); the title raises the ranking, it does not make a passage match.
    ``total`` counts the matching passages; after them (``partial``) come the
    passages holding some of the concepts, most first (``Hit.match ==
    "partial"``, ``SearchResult.partial`` counts them).

    Identical passages (the same words, :mod:`kb.dedup`) are one hit, the best
    ranked, listing the others in ``also_in``; counts are of distinct texts
    (``dedup=False``: every passage on its own).

    A word the index does not hold is replaced by the word clearly meant
    (:func:`choose_correction`; ``corrected_query`` says so), else suggested
    (``suggestion``); ``correct=False``: only suggested.

    ``facets``: also count every full match by document and year
    (:class:`~kb.models.Facets`), listing that many documents.  ``budget``: how long
    it may run (:class:`~kb.models.Budget`; :class:`~kb.errors.SearchTooCostly` past it)."""
    from .engine import SearchRequest

    t0 = time.perf_counter()
    if not text or not text.strip():
        raise QueryError("empty query: type some words, e.g. kb search \"bystander intervention\"")
    # bytes of the command line that were not UTF-8 arrive as lone surrogates (PEP
    # 383): they can match no word; as U+FFFD they are shown, and split words
    text = _SURROGATE.sub("\ufffd", text)
    filters = filters or Filters()
    budget = budget or Budget()
    q = _symbol(engine, parse(text))
    q, corrected, suggestion = _correct(engine, q, correct, budget)
    q = resolve(engine, q, budget)
    ranking = engine.search(SearchRequest(q, filters, offset, limit, group, dedup, facets,
                                          partial, scoring or Scoring(), budget))
    parts = q.required()
    labels = [q.label(p) for p in parts]
    groups = _concept_terms(q, ranking.highlight_terms)
    phrases = _phrase_forms(q)
    hits = tuple(make_hit(r.passage, i, r.score, ranking.highlight_terms,
                          tuple(labels[k] for k in r.missing), path_prefix, r.more_in_doc,
                          r.also, groups, phrases, partial=bool(r.missing))
                 for i, r in enumerate(ranking.ranked, start=offset + 1))
    return SearchResult(query=text, total=ranking.total, hits=hits,
                        elapsed=time.perf_counter() - t0, offset=offset,
                        suggestion=suggestion, grouped=group,
                        filters=describe_filters(filters), facets=ranking.facets,
                        corrected_query=corrected, partial=ranking.partial,
                        terms=tuple(sorted(ranking.highlight_terms)), notes=ranking.notes)


def _concept_terms(q: ParsedQuery, found: frozenset[str]) -> list[frozenset[str]]:
    """For each positive concept, the index terms that stand for it in a passage
    (its forms' terms; a wildcard's or fuzzy word's: the found terms no other
    concept claims)."""
    out: list[frozenset[str]] = []
    claimed: set[str] = set()
    loose = False
    for c in q.positive_concepts():
        if c.kind in ("wildcard", "fuzzy"):
            loose = True
            continue
        ts = frozenset(t for f in c.all_forms for t in f)
        claimed |= ts
        out.append(ts)
    if loose:
        rest = frozenset(found - claimed)
        if rest:
            out.append(rest)
    return out


def _phrase_forms(q: ParsedQuery) -> list[tuple[str, ...]]:
    """The term sequences a snippet should show whole: the quoted phrases, and for
    2-6 plain words the words as one phrase."""
    out: list[tuple[str, ...]] = []
    if q.phrase is not None:
        out += q.phrase.all_forms
    for c in q.positive_concepts():
        if c.kind == "phrase" or (c.kind == "word" and len(c.terms) > 1):
            out += [f for f in c.all_forms if len(f) > 1]
    return out


def make_hit(p: Passage, rank: int, score: float | None, hl_terms: Iterable[str],
             missing: tuple[str, ...], path_prefix: str, more: int = 0,
             also: Iterable[Passage] = (), groups: list[frozenset[str]] | None = None,
             phrases: list[tuple[str, ...]] | None = None, partial: bool = False) -> Hit:
    """A ranked passage as a hit.  ``missing``: the query's parts a partial match
    lacks; ``also``: the other passages holding the same text (their citations:
    ``also_in``); ``groups``/``phrases``: what the snippet should show
    (:func:`snippet`)."""
    snip, hl = snippet(p.text, set(hl_terms), groups=groups, phrases=phrases)
    fp = p.fingerprint
    return Hit(
        rank=rank, score=None if score is None else round(float(score), 4), id=p.id,
        doc=p.doc, title=p.title,
        date=p.date, section=p.section, heading_path=p.heading_path,
        line_start=p.line_start, line_end=p.line_end, page=p.page, paragraph=p.paragraph,
        text=p.text, snippet=snip, highlights=hl, missing_terms=missing,
        citation=citation(p.doc, p.line_start, p.line_end, p.page, p.paragraph, path_prefix),
        path=path_prefix + p.doc, more_in_doc=more, symbol=p.symbol,
        symbol_citation=symbol_citation(p.symbol, p.page, p.paragraph), ref=fp[:REF_LENGTH],
        also_in=tuple(citation(q.doc, q.line_start, q.line_end, q.page, q.paragraph, path_prefix)
                      for q in also),
        match="partial" if partial else "full", fingerprint=fp,
    )


def passage_hit(p: Passage, path_prefix: str, also: Iterable[Passage] = ()) -> Hit:
    """A passage as a hit record with no query (for ``kb export`` of everything)."""
    return make_hit(p, p.ordinal, None, (), (), path_prefix, also=also)


def parse_date(text: str, end: bool = False) -> dt.date:
    """A ``--since``/``--until`` date: ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``; ``end``:
    the last day of the year or month (``--until 2022`` is up to 31 December 2022).

    :raises ValueError: not such a date (the message says what is expected).
    """
    s = text.strip()
    try:
        if re.fullmatch(r"\d{4}", s):
            return dt.date(int(s), 12, 31) if end else dt.date(int(s), 1, 1)
        if re.fullmatch(r"\d{4}-\d{1,2}", s):
            y, m = map(int, s.split("-"))
            if end:
                return dt.date(y + (m == 12), m % 12 + 1, 1) - dt.timedelta(days=1)
            return dt.date(y, m, 1)
        return dt.date.fromisoformat(s)
    except ValueError:
        pass
    raise ValueError(f"{text!r} is not a date; use YYYY, YYYY-MM or YYYY-MM-DD")


_GLOB_CHARS = "*?["


def exact_doc_pattern(doc_id: str) -> str:
    """A ``--doc`` pattern that matches the document ``doc_id`` and no other: the
    id itself is a pattern matching every path that *contains* it
    (``report.txt`` also finds ``old-report.txt``), so this is the anchored glob
    ``/[r]eport.txt`` (a ``[`` in the id is matched by ``?``, any one character:
    a set holding ``[`` cannot be written)."""
    out = []
    for c in doc_id:
        out.append("?" if c == "[" else f"[{c}]" if c in "*?" else c)
    if not any(c in doc_id for c in _GLOB_CHARS):  # a glob needs one wildcard to anchor
        i = next((i for i, c in enumerate(doc_id) if c.isalnum()), None)
        if i is None:
            out[0] = "?" if out[0] != "/" else out[0]
        else:
            out[i] = f"[{doc_id[i]}]"
    return "/" + "".join(out)


def describe_filters(f: Filters) -> tuple[str, ...]:
    """The option filters as a reader would write them: ``doc:UNW*``,
    ``section:"closing remarks"``, ``since 2022``, ``until 2023-06``."""
    out = []
    if f.doc:
        out.append(f"doc:{f.doc}")
    if f.section:
        out.append(f'section:"{f.section}"' if " " in f.section else f"section:{f.section}")
    if f.since:
        d = f.since
        out.append("since " + (f"{d.year}" if (d.month, d.day) == (1, 1) else
                               f"{d.year}-{d.month:02d}" if d.day == 1 else d.isoformat()))
    if f.until:
        d = f.until
        month_end = (d + dt.timedelta(days=1)).day == 1
        out.append("until " + (f"{d.year}" if (d.month, d.day) == (12, 31) else
                               f"{d.year}-{d.month:02d}" if month_end else d.isoformat()))
    return tuple(out)


# --------------------------------------------------------------------------
# snippets


def term_spans(text: str, terms: set[str] | frozenset[str]) -> list[tuple[int, int]]:
    """The (start, end) offsets of the words of ``text`` whose term is in ``terms``:
    what a snippet highlights, and the matched words of an annex's full passages."""
    return [(s, e) for t, s, e in iter_terms(text) if t in terms]


def snippet(text: str, terms: set[str], max_words: int = SNIPPET_WORDS,
            groups: list[frozenset[str]] | None = None,
            phrases: list[tuple[str, ...]] | None = None
            ) -> tuple[str, tuple[tuple[int, int], ...]]:
    """A window of ``text`` that shows what made the hit, and the matches' offsets in it.

    The window holds, in this order of preference: a whole occurrence of one of
    ``phrases`` (term sequences: the query's phrase), the most distinct concepts
    (``groups``: each concept's terms), the most matching words."""
    flat = " ".join(text.split())
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", flat)]
    tokens = [(t, s, e) for t, s, e in iter_terms(flat)]
    matches = [(s, e) for t, s, e in tokens if t in terms]
    if len(words) <= max_words:
        return flat, tuple(matches)
    starts = [w[0] for w in words]

    def word_at(offset: int) -> int:
        return bisect_right(starts, offset) - 1

    # what each matched word counts for: its concepts; each phrase occurrence as a span
    marks = []  # (word index, concepts)
    for t, s, _ in tokens:
        if t in terms:
            marks.append((word_at(s), frozenset(k for k, g in enumerate(groups or ()) if t in g)))
    spans = []  # (first word, last word) of each phrase occurrence
    seq = [t for t, _, _ in tokens]
    for form in phrases or ():
        k = len(form)
        for i in range(len(seq) - k + 1):
            if tuple(seq[i:i + k]) == form:
                spans.append((word_at(tokens[i][1]), word_at(tokens[i + k - 1][1])))
    best_i, best = 0, (-1, -1, -1)
    starts_to_try = sorted({max(0, min(i - 5, len(words) - max_words))
                            for i, _ in marks} | {max(0, min(a - 5, len(words) - max_words))
                                                  for a, _ in spans})
    for i in starts_to_try:
        j = i + max_words
        inside = [c for w, c in marks if i <= w < j]
        concepts = frozenset().union(*inside) if inside else frozenset()
        whole = sum(1 for a, b in spans if i <= a and b < j)
        key = (whole, len(concepts), len(inside))
        if key > best:
            best, best_i = key, i
    first = words[best_i][0]
    last_i = min(best_i + max_words, len(words)) - 1
    last = words[last_i][1]
    prefix = "… " if best_i > 0 else ""
    suffix = " …" if last_i < len(words) - 1 else ""
    out = prefix + flat[first:last] + suffix
    shift = len(prefix) - first
    hl = tuple((s + shift, e + shift) for s, e in matches if s >= first and e <= last)
    return out, hl
