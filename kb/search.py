"""Query text -> ranked :class:`~kb.models.Hit` records, over any engine.

Parts:

* The ranking settings (:data:`FIELD_BOOSTS`, :data:`K1`, :data:`B`, the idf,
  how words combine): kb's, read by the engine at each search.
* :func:`search` — the query split into its words and its ``doc:``,
  ``date:`` and ``symbol:`` clauses (:func:`split_filter_clauses`; clauses and
  the ``--doc``/``--section``/``--since``/``--until`` options filter, never
  rank), ranked by the engine (:meth:`kb.engine.EngineReader.search`:
  passages holding the exact phrase first, then every word, then some words,
  each tier by BM25F), and the page made into hits; a query that finds
  nothing is retried as its spelling correction.  Parsing the query language
  into engine queries is the engine's (for Whoosh, :mod:`kb.engine.query`).
* compound words in their other spellings (``whistle-blower``,
  ``whistleblower``, ``whistle blower``: :func:`compound_variants`), and
  document path patterns (:func:`doc_pattern`), shared with the engine.
* snippets with highlight offsets, ``missing_terms`` per hit, and a "did you
  mean" suggestion when a query word is not in the index (:func:`suggest`).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .analysis import index_terms, iter_terms, query_terms, term
from .errors import QueryError
from .meta import symbol_base, symbol_query
from .models import Filters, Hit, Passage, SearchResult, citation, short_ref, symbol_citation

if TYPE_CHECKING:
    from .engine import EngineReader

__all__ = ["Filters", "search", "suggest", "snippet", "term_spans", "hit_terms", "make_hit",
           "passage_hit", "doc_pattern", "describe_filters", "compound_variants",
           "split_filter_clauses", "parse_date", "exact_doc_pattern"]

#: BM25F field weights, K1 and B, the idf and how query words combine: chosen by
#: measurement on SciFact train and on hand-made queries over the bundled corpus; the
#: configurations tried and their figures are in bench/README.md
#: (``python bench/quality.py --sweep`` reproduces them).
FIELD_BOOSTS = {"text": 1.0, "section": 0.5, "title": 1.0}
K1 = 0.9
B = 0.5
#: How the words of a query combine: "and-or" (passages holding every word first,
#: then the rest) or "or" (one OR query; ``COORD`` is Whoosh's coordination scale).
COMBINE = "and-or"
COORD: float | None = None
#: Inverse document frequency: "robertson" (log(1 + (N - n + 0.5) / (n + 0.5)), as in
#: Lucene and Anserini) or "whoosh" (Whoosh's log(N / (n + 1)) + 1).
IDF = "robertson"
SNIPPET_WORDS = 40
#: Longer queries are refused (a pasted page still fits); fuzzy matching and
#: spelling suggestions cost grows with the square of a word's length.
MAX_QUERY_CHARS = 5_000
MAX_FUZZY_WORD = 40  #: no suggestion or fuzzy expansion for longer "words"

_FIELDS = ("text", "section", "title")
_OPERATORS = {"AND", "OR", "NOT", "ANDNOT", "ANDMAYBE"}
_QUERY_WORD = re.compile(r"[\w'’*?~/.-]+")
_FILTER_FIELDS = ("doc", "date", "symbol")  # filter, never rank
_FILTER_CLAUSE = re.compile(
    r'(?:(?<=[\s(])|^)-?(?:symbol:[^\s()"\']+\s?\(\d{4}\)'  # symbol:S/RES/2771 (2025)
    r'|(?:doc|date|symbol):(?:[\[{][^\]}]*[\]}]|"[^"]*"|\'[^\']*\'|[^\s()]+))')


def plain_words(text: str) -> list[str]:
    """The query's words, without operators, field names, quotes or brackets."""
    words = []
    for w in _QUERY_WORD.findall(text.replace(":", " ")):
        w = w.strip(".-/")
        if not w or w in _OPERATORS or w.lower() in _FIELDS or w.lower() in _FILTER_FIELDS:
            continue
        words.append(w)
    return words


# --------------------------------------------------------------------------

#: at most this many spellings of one word or phrase (``whistleblower``,
#: ``whistle blower``, ...) are searched
MAX_COMPOUND_VARIANTS = 8
_ALPHA = re.compile(r"^[^\W\d_]+$")

def compound_variants(text: str, tokens: list[tuple[str, int, int]],
                      exists: Any) -> list[list[str]]:
    """The term sequences a word or phrase may be written as, the given one first:
    a hyphenated or open compound also as the closed word (``whistle-blower``,
    ``whistle blower`` -> ``whistleblower``) and a closed word also as two words
    (``whistleblower`` -> ``whistle blower``, which matches ``whistle-blower`` too),
    each only when ``exists(term)`` says the index has the terms."""
    n = len(tokens)
    surf = [text[s:e] for _, s, e in tokens]

    def options(i: int) -> list[tuple[list[str], int]]:
        opts: list[tuple[list[str], int]] = [([tokens[i][0]], i + 1)]
        w = surf[i]
        if i + 1 < n and _ALPHA.match(w) and _ALPHA.match(surf[i + 1]):
            sep = text[tokens[i][2]:tokens[i + 1][1]]
            if sep == "-" or (sep and sep.isspace()):
                t = term(w + surf[i + 1])
                if t and exists(t):
                    opts.append(([t], i + 2))
        if len(w) >= 5 and _ALPHA.match(w):
            for k in range(2, len(w) - 1):
                a, b = term(w[:k]), term(w[k:])
                if a and b and exists(a) and exists(b):
                    opts.append(([a, b], i + 1))
        return opts

    out: list[list[str]] = []

    def walk(i: int, acc: list[str]) -> None:
        if len(out) >= MAX_COMPOUND_VARIANTS:
            return
        if i == n:
            if acc not in out:
                out.append(acc)
            return
        for ts, nxt in options(i):
            walk(nxt, acc + ts)

    walk(0, [])
    return out


def split_filter_clauses(text: str) -> tuple[str, list[str]]:
    """Take ``doc:`` and ``date:`` clauses out of the query: they filter, they do not rank
    (so ``doc:guides* training`` never returns passages outside ``guides/``)."""
    clauses = _FILTER_CLAUSE.findall(text)
    return _FILTER_CLAUSE.sub(" ", text), clauses


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


# -- doc: patterns ------------------------------------------------------------


def doc_pattern(pattern: str) -> re.Pattern[str]:
    """A ``--doc``/``doc:`` pattern as a regular expression over document paths
    (corpus-relative, ``/`` separated), with .gitignore's rules: a pattern without
    wildcards matches paths that contain it; a glob without ``/`` matches a file or
    folder name at any depth (``UNW*`` finds ``reports/UNW_2025.pdf``); a glob with
    ``/`` matches from the corpus folder (a leading ``/`` is allowed), ``*`` and ``?``
    never cross a ``/``, ``**`` does, and a matching folder matches everything in it."""
    if not any(c in pattern for c in "*?["):
        return re.compile(".*" + re.escape(pattern) + ".*", re.S)
    anchored = "/" in pattern.rstrip("/")
    body = _glob_regex(pattern.strip("/"))
    head = "" if anchored else "(?:.*/)?"
    return re.compile(f"{head}{body}(?:/.*)?", re.S)


def _glob_regex(glob: str) -> str:
    out = []
    i = 0
    while i < len(glob):
        c = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = glob.find("]", i + 2 if glob[i + 1:i + 2] in ("!", "]") else i + 1)
            if j < 0:
                out.append(re.escape(c))
            else:
                inner = glob[i + 1:j]
                if inner.startswith("!"):
                    inner = "^" + inner[1:]
                out.append("[" + inner.replace("\\", "\\\\") + "]")
                i = j + 1
                continue
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


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


def hit_terms(query: str, hits: Iterable[Hit]) -> set[str]:
    """The terms the hits of ``query`` highlight, for highlighting beyond their
    snippets: the terms of every snippet highlight (the engine's matched terms,
    wildcard and compound forms included) and the terms of the query's own
    positive words (for a passage whose snippet window shows none of them)."""
    terms: set[str] = set()
    for h in hits:
        for s, e in h.highlights:
            terms.update(t for t, _, _ in iter_terms(h.snippet[s:e]))
    if query:
        for _, ts in _query_word_terms(split_filter_clauses(query)[0]):
            terms.update(ts)
    return terms


def snippet(text: str, terms: set[str], max_words: int = SNIPPET_WORDS
            ) -> tuple[str, tuple[tuple[int, int], ...]]:
    """A window of ``text`` around the densest matches, and the matches' offsets in it."""
    flat = " ".join(text.split())
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", flat)]
    matches = term_spans(flat, terms)
    if len(words) <= max_words:
        return flat, tuple(matches)
    starts = [w[0] for w in words]
    from bisect import bisect_right

    best, best_i = -1, 0
    if matches:
        idx = [bisect_right(starts, s) - 1 for s, _ in matches]
        j = 0
        for i in range(len(idx)):
            while idx[i] - idx[j] >= max_words:
                j += 1
            count = i - j + 1
            if count > best:
                best, best_i = count, idx[j]
        # start a few words before the first match in the window
        best_i = max(0, min(best_i - 5, len(words) - max_words))
    first = words[best_i][0]
    last_i = min(best_i + max_words, len(words)) - 1
    last = words[last_i][1]
    prefix = "… " if best_i > 0 else ""
    suffix = " …" if last_i < len(words) - 1 else ""
    out = prefix + flat[first:last] + suffix
    shift = len(prefix) - first
    hl = tuple((s + shift, e + shift) for s, e in matches if s >= first and e <= last)
    return out, hl


# --------------------------------------------------------------------------
# searching


def _query_word_terms(text: str) -> list[tuple[str, list[str]]]:
    """(word, its terms) for the positive plain words of a query."""
    out: list[tuple[str, list[str]]] = []
    tokens = text.replace("(", " ").replace(")", " ").split()
    negate = False
    for tok in tokens:
        if tok in ("NOT", "ANDNOT"):
            negate = True
            continue
        if tok in _OPERATORS:
            continue
        neg = negate or tok.startswith("-")
        negate = False
        if neg:
            continue
        if ":" in tok:
            field, _, tok = tok.partition(":")
            if field.lower() in _FILTER_FIELDS:
                continue
        for w in plain_words(tok):
            if any(c in w for c in "*?~"):
                continue
            ts = query_terms(w)
            if ts and (w, ts) not in out:
                out.append((w, ts))
    return out


def _query_words(text: str, engine: EngineReader | None
                 ) -> list[tuple[str, list[list[str]]]]:
    """(word, the term sequences it may be written as) for the positive plain words
    of a query: its own terms first, then its compound forms the index has
    (``whistleblower``: also ``whistle blower``)."""
    words = _query_word_terms(text)
    out = []
    for w, ts in words:
        alts = [ts]
        if engine is not None:
            alts = compound_variants(w, list(iter_terms(w)), engine.has_term) or [ts]
        out.append((w, alts))
    if engine is not None:  # "whistle blower": either word may be in "whistleblower"
        for i in range(len(words) - 1):
            a, b = words[i][0], words[i + 1][0]
            if not (_ALPHA.match(a) and _ALPHA.match(b)) or \
                    not re.search(rf"(?<![\w'’-]){re.escape(a)}\s+{re.escape(b)}(?![\w'’-])", text):
                continue
            t = term(a + b)
            if t and engine.has_term(t):
                out[i][1].append([t])
                out[i + 1][1].append([t])
    return out


def _known(engine: EngineReader, alts: list[list[str]]) -> bool:
    """Does the index hold every term of one of the word's forms?"""
    return any(all(engine.has_term(t) for t in ts) for ts in alts)


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
) -> SearchResult:
    """Run a query and return ranked hits.  ``limit=None`` returns every match.

    Identical passages (the same words, :mod:`kb.dedup`) are one hit, the best
    ranked, listing the others in ``also_in``; ``total`` counts distinct texts
    (``dedup=False``: every passage on its own).

    When nothing matches and a spelling correction of the query does
    (:func:`suggest`), the corrected query's hits are returned, with
    ``corrected_query`` set; ``correct=False`` turns that off.

    ``facets``: also count every match by document and year
    (:class:`~kb.models.Facets`), listing that many documents."""
    from .engine import SearchRequest

    t0 = time.perf_counter()
    if not text or not text.strip():
        raise QueryError("empty query: type some words, e.g. kb search \"bystander intervention\"")
    # bytes of the command line that were not UTF-8 arrive as lone surrogates (PEP
    # 383): they can match no word; as U+FFFD they are shown, and split words
    text = _SURROGATE.sub("\ufffd", text)
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is {len(text):,} characters long; the limit is "
                         f"{MAX_QUERY_CHARS:,}: search for its key words instead")
    filters = filters or Filters()
    words_text, clauses = split_filter_clauses(text)
    symbol = _symbol_of_query(engine, words_text)
    if symbol is not None:
        words_text = symbol
    ranking = engine.search(SearchRequest(words_text, tuple(clauses), filters, offset, limit,
                                          group, symbol, dedup, facets))
    total = ranking.total
    words = _query_words(words_text, engine)
    hits = tuple(make_hit(r.passage, i, r.score, ranking.highlight_terms,
                          () if _has_symbol(r.passage, symbol) else words, path_prefix,
                          r.more_in_doc, r.also)
                 for i, r in enumerate(ranking.ranked, start=offset + 1))
    suggestion = None
    if total == 0 or any(not _known(engine, alts) for _, alts in words):
        suggestion = suggest(engine, text, words)
    if correct and total == 0 and suggestion:
        fixed = search(engine, suggestion, limit=limit, offset=offset, filters=filters,
                       group=group, path_prefix=path_prefix, correct=False, dedup=dedup,
                       facets=facets)
        if fixed.total:
            return replace(fixed, query=text, corrected_query=suggestion, suggestion=None,
                           elapsed=time.perf_counter() - t0)
    return SearchResult(query=text, total=total, hits=hits,
                        elapsed=time.perf_counter() - t0, offset=offset,
                        suggestion=suggestion, grouped=group,
                        filters=describe_filters(filters), facets=ranking.facets)


def _symbol_of_query(engine: EngineReader, words_text: str) -> str | None:
    """The UN symbol a query is (``s/res/2771``, ``E/ICEF/2025/26 (2025)``: capitals, no
    year), when some document has it as its symbol or some passage mentions it; else
    None (an ordinary query: one substring test)."""
    sym = symbol_query(words_text)
    if sym is None:
        return None
    t = sym.casefold()
    return sym if engine.has_symbol(t) or engine.has_term(t) else None


def _has_symbol(p: Passage, symbol: str | None) -> bool:
    """Is ``p`` a passage of the document with this symbol (not missing the query)?"""
    return bool(symbol and p.symbol and symbol_base(p.symbol).upper() == symbol)


def make_hit(p: Passage, rank: int, score: float, hl_terms: set[str] | frozenset[str],
             words: Iterable[tuple[str, list[list[str]]]], path_prefix: str,
             more: int = 0, also: Iterable[Passage] = ()) -> Hit:
    """``words``: (query word, its forms as term sequences), see :func:`_query_words`;
    a word is missing from the passage when none of its forms is all there.
    ``also``: the other passages holding the same text (their citations: ``also_in``)."""
    snip, hl = snippet(p.text, set(hl_terms))
    missing: tuple[str, ...] = ()
    if words:
        present = set(index_terms(f"{p.text}\n{p.section}\n{p.title}"))
        missing = tuple(w for w, alts in words
                        if not any(all(t in present for t in ts) for ts in alts))
    return Hit(
        rank=rank, score=round(float(score), 4), id=p.id, doc=p.doc, title=p.title,
        date=p.date, section=p.section, heading_path=p.heading_path,
        line_start=p.line_start, line_end=p.line_end, page=p.page, paragraph=p.paragraph,
        text=p.text, snippet=snip, highlights=hl, missing_terms=missing,
        citation=citation(p.doc, p.line_start, p.line_end, p.page, p.paragraph, path_prefix),
        path=path_prefix + p.doc, more_in_doc=more, symbol=p.symbol,
        symbol_citation=symbol_citation(p.symbol, p.page, p.paragraph), ref=short_ref(p.id),
        also_in=tuple(citation(q.doc, q.line_start, q.line_end, q.page, q.paragraph, path_prefix)
                      for q in also),
    )


def passage_hit(p: Passage, path_prefix: str, also: Iterable[Passage] = ()) -> Hit:
    """A passage as a hit record with no query (for ``kb export`` of everything)."""
    return make_hit(p, p.ordinal, 0.0, set(), (), path_prefix, also=also)


# --------------------------------------------------------------------------
# did you mean


def suggest(engine: EngineReader, text: str,
            words: list[tuple[str, list[list[str]]]] | None = None) -> str | None:
    """A corrected query when a query word is not in the index (in none of its
    forms), else None."""
    new = text
    changed = False
    if words is None:
        words = _query_words(split_filter_clauses(text)[0], engine)
    for word, alts in words:
        ts = alts[0]
        if len(ts) != 1 or "/" in ts[0] or len(ts[0]) > MAX_FUZZY_WORD:
            continue
        if _known(engine, alts):
            continue
        surface = engine.correct(ts[0], maxdist=2 if len(word) >= 5 else 1)
        if surface and surface != word.lower():
            # the first time the word stands outside a doc:/date:/symbol: clause
            clauses = [m.span() for m in _FILTER_CLAUSE.finditer(new)]
            for m in re.finditer(rf"(?<![\w]){re.escape(word)}(?![\w])", new):
                if not any(a <= m.start() < b for a, b in clauses):
                    new = new[:m.start()] + surface + new[m.end():]
                    changed = True
                    break
    return new if changed else None
