"""Query text -> ranked :class:`~kb.models.Hit` records.

Parts:

* :func:`parse_query` — Whoosh's query parser over ``text``, ``section`` and
  ``title`` (BM25F, weights in :data:`FIELD_BOOSTS`), with phrases,
  ``AND``/``OR``/``NOT``, ``-word``, wildcards, fuzzy ``word~`` (edit
  distance 2 for words of five letters or more, else 1), field filters
  ``title:``, ``section:``, ``doc:`` and ``date:`` ranges.  A query the
  parser rejects, or one that parses into nothing useful (a lone ``AND``, a
  stray ``:``), is searched as its plain words instead.
* :func:`search` — multi-word queries: passages holding every word come
  first (ranked by BM25F), then passages holding only some of them (ranked
  the same way), so long natural-language queries still find the best
  passages.
* snippets with highlight offsets, ``missing_terms`` per hit, and a "did you
  mean" suggestion when a query word is not in the index.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .analysis import _TOKEN, index_terms, iter_terms, query_terms, term
from .errors import QueryError
from .models import Hit, Passage, SearchResult, citation

#: BM25F field weights, K1 and B, the idf and how query words combine: chosen by
#: measurement on SciFact train and on hand-made queries over the bundled corpus; the
#: configurations tried and their figures are in bench/README.md
#: (``python bench/quality.py --sweep`` reproduces them).
FIELD_BOOSTS = {"text": 1.0, "section": 0.5, "title": 0.3}
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
_MINUS = re.compile(r"(?:(?<=\s)|^)-(?=[\w\"(])")
_QUERY_WORD = re.compile(r"[\w'’*?~/.-]+")
_FILTER_FIELDS = ("doc", "date", "symbol")  # filter, never rank
_FILTER_CLAUSE = re.compile(r'(?:(?<=[\s(])|^)-?(?:doc|date|symbol):(?:\[[^\]]*\]|"[^"]*"|[^\s()]+)')


@dataclass(frozen=True, slots=True)
class Filters:
    doc: str | None = None
    section: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None


_PARSERS: dict[tuple[int, str], tuple[Any, Any]] = {}


def make_parser(schema: Any, group: str = "and") -> Any:
    """The query parser for ``schema`` (built once per schema and group)."""
    key = (id(schema), group)
    hit = _PARSERS.get(key)
    if hit is not None and hit[0] is schema:
        return hit[1]
    if len(_PARSERS) > 16:
        _PARSERS.clear()
    p = _make_parser(schema, group)
    _PARSERS[key] = (schema, p)
    return p


def _make_parser(schema: Any, group: str) -> Any:
    from whoosh import qparser
    from whoosh.qparser.dateparse import DateParserPlugin

    if group == "and":
        g = qparser.AndGroup
    else:
        g = qparser.OrGroup.factory(COORD) if COORD else qparser.OrGroup
    fields = [f for f in _FIELDS if FIELD_BOOSTS.get(f, 1.0) > 0]  # a 0 boost: not searched
    p = qparser.MultifieldParser(fields, schema, fieldboosts=FIELD_BOOSTS, group=g)
    p.add_plugin(qparser.FuzzyTermPlugin())
    p.add_plugin(qparser.GtLtPlugin())
    p.add_plugin(DateParserPlugin(free=False))
    return p


def _fix_fuzzy(q: Any) -> Any:
    """Fuzzy terms: analyse the word like the index did (``harrasment`` -> ``harras``),
    with the first letter fixed (typos rarely hit it, and it keeps the term scan small).
    The default edit distance is set in :func:`_prepare`."""
    from whoosh.query import FuzzyTerm

    for leaf in [q] if q.is_leaf() else q.leaves():
        if isinstance(leaf, FuzzyTerm):
            word = leaf.text
            analysed = term(word)
            if analysed:
                leaf.text = analysed
            leaf.prefixlength = max(leaf.prefixlength, 1)
            if len(leaf.text) > MAX_FUZZY_WORD:  # no real word: match it exactly
                leaf.maxdist = 0
    return q


def plain_words(text: str) -> list[str]:
    """The query's words, without operators, field names, quotes or brackets."""
    words = []
    for w in _QUERY_WORD.findall(text.replace(":", " ")):
        w = w.strip(".-/")
        if not w or w in _OPERATORS or w.lower() in _FIELDS or w.lower() in _FILTER_FIELDS:
            continue
        words.append(w)
    return words


_FUZZY_LONG = re.compile(r"(?<![\w~])(\w{5,})~(?![\d\w])")


def _prepare(text: str) -> str:
    """``-word`` means NOT word (hyphens inside words stay); a bare ``word~`` of five
    or more letters gets edit distance 2 (Whoosh's default 1 would not reach
    "harassment" from "harrasment")."""
    text = _FUZZY_LONG.sub(r"\1~2", text)
    return _MINUS.sub("NOT ", text)


def _useless(q: Any) -> bool:
    from whoosh.query import NullQuery

    if q is None or q is NullQuery:
        return True
    try:
        leaves = list(q.leaves()) if not q.is_leaf() else [q]
    except Exception:  # noqa: BLE001
        return True
    if not leaves:
        return True
    for leaf in leaves:
        if type(leaf).__name__ in ("Every", "NullQuery", "ErrorQuery"):
            return True
        if leaf.field() is None:
            return True
    return False


def parse_query(schema: Any, text: str, group: str = "and") -> Any:
    """Parse user query text; falls back to plain words for malformed input.

    :raises QueryError: the query holds no searchable word at all.
    """
    from whoosh.qparser.common import QueryParserError

    parser = make_parser(schema, group)
    q = None
    try:
        q = parser.parse(_prepare(text))
    except QueryParserError:
        q = None
    except Exception:  # noqa: BLE001 - whoosh can fail in odd ways on odd input
        q = None
    if q is not None and not _useless(q) and _balanced(text):
        return _required_nots(_fix_fuzzy(q))
    words = plain_words(text)
    words = [w.replace("*", "").replace("?", "").replace("~", "") for w in words]
    words = [w for w in words if query_terms(w)]
    if not words:
        raise QueryError(f"nothing to search for in {text!r}: type some words, e.g. kb search "
                         "\"bystander intervention\"")
    safe = " ".join(f'"{w}"' if not w.isalnum() else w for w in words)
    try:
        q = parser.parse(safe)
    except Exception:  # noqa: BLE001
        q = None
    if q is None or _useless(q):
        raise QueryError(f"nothing to search for in {text!r}; try plain words")
    return q


def _required_nots(q: Any) -> Any:
    """In an OR group, ``NOT x`` still excludes x: ``a OR NOT b`` from the OR fallback
    would otherwise match every passage without b."""
    from whoosh import query

    if isinstance(q, query.Or):
        pos = [_required_nots(c) for c in q.subqueries if not isinstance(c, query.Not)]
        neg = [c.query for c in q.subqueries if isinstance(c, query.Not)]
        if not neg:
            return query.Or(pos, boost=q.boost)
        positive = (pos[0] if len(pos) == 1 else query.Or(pos)) if pos else query.Every()
        negative = neg[0] if len(neg) == 1 else query.Or(neg)
        return query.AndNot(positive, negative)
    if isinstance(q, query.BinaryQuery):  # AndNot, AndMaybe, Require, Otherwise: (a, b)
        new = type(q)(_required_nots(q.a), _required_nots(q.b))
        new.boost = q.boost
        return new
    if isinstance(q, query.CompoundQuery):
        return type(q)([_required_nots(c) for c in q.subqueries], boost=q.boost)
    return q


_PLAIN_QUERY = re.compile(r"^[\w'’/ -]+$")
PHRASE_FIRST_MAX_WORDS = 6


def phrase_query(schema: Any, words_text: str) -> Any:
    """For a short query of plain words, the same words as an exact phrase (or None).

    Passages holding the words as written rank above those holding them apart:
    "prevent sexual exploitation and abuse" first finds the paragraph that says
    exactly that.  Long natural-language queries (more than
    :data:`PHRASE_FIRST_MAX_WORDS` words) are left alone.
    """
    words = words_text.split()
    if not 2 <= len(words) <= PHRASE_FIRST_MAX_WORDS or not _PLAIN_QUERY.match(words_text):
        return None
    if any(w in _OPERATORS for w in words):
        return None
    try:
        q = make_parser(schema, "and").parse('"' + " ".join(words) + '"')
    except Exception:  # noqa: BLE001
        return None
    return None if _useless(q) else q


def _balanced(text: str) -> bool:
    return text.count('"') % 2 == 0 and text.count("(") == text.count(")") and \
        text.count("[") == text.count("]")


def split_filter_clauses(text: str) -> tuple[str, list[str]]:
    """Take ``doc:`` and ``date:`` clauses out of the query: they filter, they do not rank
    (so ``doc:guides* training`` never returns passages outside ``guides/``)."""
    clauses = _FILTER_CLAUSE.findall(text)
    return _FILTER_CLAUSE.sub(" ", text), clauses


def _parse_clauses(schema: Any, clauses: list[str]) -> list[Any]:
    from whoosh import query

    out = []
    for c in clauses:
        neg = c.startswith("-")
        c = c.lstrip("-")
        try:
            q = make_parser(schema).parse(c)
        except Exception:  # noqa: BLE001
            q = None
        if q is None or _useless(q):
            field = c.split(":", 1)[0]
            raise QueryError(f"cannot read {c!r}; write {field}:PATTERN, e.g. "
                             + ("doc:reports/2022*" if field == "doc" else
                                "symbol:S/RES/2771" if field == "symbol" else "date:2022 or "
                                "date:[2021-01 to 2022-06]"))
        out.append(query.Not(q) if neg else q)
    return out


def make_filter(f: Filters, extra: list[Any] | None = None) -> Any:
    from whoosh import query

    parts: list[Any] = list(extra or [])
    if f.doc:
        pat = f.doc
        if not any(c in pat for c in "*?["):
            pat = f"*{pat}*"
        parts.append(query.Wildcard("doc", pat))
    if f.section:
        words = query_terms(f.section)
        if not words:
            raise QueryError(f"--section {f.section!r} has no searchable words")
        parts.append(query.And([query.Term("section", w) for w in words]) if len(words) > 1
                     else query.Term("section", words[0]))
    if f.since or f.until:
        start = dt.datetime.combine(f.since, dt.time.min) if f.since else None
        end = dt.datetime.combine(f.until, dt.time.max) if f.until else None
        parts.append(query.DateRange("date", start, end))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else query.And(parts)


# --------------------------------------------------------------------------
# snippets


def snippet(text: str, terms: set[str], max_words: int = SNIPPET_WORDS
            ) -> tuple[str, tuple[tuple[int, int], ...]]:
    """A window of ``text`` around the densest matches, and the matches' offsets in it."""
    flat = " ".join(text.split())
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", flat)]
    matches = [(s, e) for t, s, e in iter_terms(flat) if t in terms]
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


def weighting() -> Any:
    """The BM25F scorer searchers are opened with."""
    from whoosh import scoring

    if IDF == "whoosh":
        return scoring.BM25F(B=B, K1=K1)
    return _robertson_bm25f()(B=B, K1=K1)


_BM25F_CLASS: Any = None


def _robertson_bm25f() -> Any:
    global _BM25F_CLASS
    if _BM25F_CLASS is None:
        import math

        from whoosh import scoring

        class RobertsonBM25F(scoring.BM25F):  # type: ignore[misc]
            """BM25F with the Robertson-Sparck Jones idf (never negative)."""

            def idf(self, searcher: Any, fieldname: str, text: str) -> float:
                parent = searcher.get_parent()
                n = parent.doc_frequency(fieldname, text)
                dc = parent.doc_count_all()
                return math.log(1.0 + (dc - n + 0.5) / (n + 0.5))

        _BM25F_CLASS = RobertsonBM25F
    return _BM25F_CLASS


def _highlight_terms(q: Any, reader: Any) -> set[str]:
    terms: set[str] = set()
    try:
        for field, text in q.existing_terms(reader, phrases=True, expand=True):
            if field in _FIELDS:
                terms.add(text.decode("utf-8") if isinstance(text, bytes) else text)
    except Exception:  # noqa: BLE001
        pass
    return terms


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


def _doc_names(searcher: Any) -> dict[int, str]:
    """Passage number -> document id for the whole index, read once per searcher from
    the ``doc`` field's postings (grouping thousands of matches by reading each one's
    stored fields is the slow part of ``--group``)."""
    cached = getattr(searcher, "_kb_doc_names", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    reader = searcher.reader()
    names: dict[int, str] = {}
    for t in reader.lexicon("doc"):
        name = t.decode("utf-8") if isinstance(t, bytes) else t
        for d in reader.postings("doc", t).all_ids():
            names[d] = name
    searcher._kb_doc_names = names
    return names


def search(
    searcher: Any,
    text: str,
    limit: int | None = 10,
    offset: int = 0,
    filters: Filters | None = None,
    group: bool = False,
    path_prefix: str = "",
    ranker: Any = None,
) -> SearchResult:
    """Run a query and return ranked hits.  ``limit=None`` returns every match."""
    t0 = time.perf_counter()
    if not text or not text.strip():
        raise QueryError("empty query: type some words, e.g. kb search \"bystander intervention\"")
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is {len(text):,} characters long; the limit is "
                         f"{MAX_QUERY_CHARS:,}: search for its key words instead")
    schema = searcher.schema
    words_text, clauses = split_filter_clauses(text)
    filt = make_filter(filters or Filters(), _parse_clauses(schema, clauses))
    if words_text.strip():
        q_or = parse_query(schema, words_text, "or")
        q_and = parse_query(schema, words_text, "and") if COMBINE == "and-or" else q_or
    else:
        from whoosh.query import Every

        q_and = q_or = Every()
    want = None if limit is None or group else offset + limit
    ranked: list[tuple[int, float]] | None = None
    more: dict[int, int] = {}
    if ranker is not None:
        from .ranker import Unsupported, rank

        try:
            ranked, total, more, hl_terms = rank(ranker, searcher, q_and, q_or,
                                                 phrase_query(schema, words_text), filt,
                                                 want, group)
        except Unsupported:
            ranked = None
    if ranked is None:
        ranked, total, more = _rank_whoosh(searcher, schema, words_text, q_and, q_or, filt,
                                           want, group)
        hl_terms = _highlight_terms(q_or, searcher.reader())
    words = _query_word_terms(text)
    page = ranked[offset:] if limit is None else ranked[offset: offset + limit]
    hits = []
    for i, (docnum, score) in enumerate(page, start=offset + 1):
        stored = searcher.stored_fields(docnum)
        from .index import passage_from_stored

        p = passage_from_stored(stored)
        hits.append(make_hit(p, i, score, hl_terms, words, path_prefix, more.get(docnum, 0)))
    suggestion = None
    if total == 0:
        suggestion = suggest(searcher, text)
    return SearchResult(query=text, total=total, hits=tuple(hits),
                        elapsed=time.perf_counter() - t0, offset=offset,
                        suggestion=suggestion, grouped=group)


def _rank_whoosh(searcher: Any, schema: Any, words_text: str, q_and: Any, q_or: Any,
                 filt: Any, want: int | None, group: bool
                 ) -> tuple[list[tuple[int, float]], int, dict[int, int]]:
    """The tiers ranked by Whoosh's scorer (for queries the array ranker does not take)."""
    # optimize=False: Whoosh's block skipping makes it count the matches in a second
    # pass over every posting (len(results)); scoring them all in one pass is faster
    and_results = searcher.search(q_and, limit=want, filter=filt, optimize=False)
    ranked: list[tuple[int, float]] = [(r.docnum, r.score) for r in and_results]
    total = len(and_results)
    q_phrase = phrase_query(schema, words_text) if total > 1 else None
    if q_phrase is not None:
        # tiers: the exact phrase, then every word, then some words
        phrase_hits = [(r.docnum, r.score) for r in
                       searcher.search(q_phrase, limit=want, filter=filt, optimize=False)]
        if phrase_hits:
            seen = {d for d, _ in phrase_hits}
            ranked = phrase_hits + [(d, sc) for d, sc in ranked if d not in seen]
    if q_or != q_and:
        or_results = searcher.search(q_or, limit=None if want is None else want + len(ranked),
                                     optimize=False,
                                     filter=filt)
        seen = {d for d, _ in ranked}
        ranked += [(r.docnum, r.score) for r in or_results if r.docnum not in seen]
        total = len(or_results)
    more: dict[int, int] = {}
    if group:
        by_doc: dict[str, int] = {}
        grouped: list[tuple[int, float]] = []
        doc_of = _doc_names(searcher) if len(ranked) > 200 else None
        for docnum, score in ranked:
            doc = doc_of[docnum] if doc_of is not None else searcher.stored_fields(docnum)["doc"]
            if doc in by_doc:
                more[by_doc[doc]] += 1
                continue
            by_doc[doc] = docnum
            more[docnum] = 0
            grouped.append((docnum, score))
        ranked = grouped
        total = len(grouped)
    return ranked, total, more


def make_hit(p: Passage, rank: int, score: float, hl_terms: set[str],
             words: Iterable[tuple[str, list[str]]], path_prefix: str, more: int = 0) -> Hit:
    snip, hl = snippet(p.text, hl_terms)
    missing: tuple[str, ...] = ()
    if words:
        present = set(index_terms(f"{p.text}\n{p.section}\n{p.title}"))
        missing = tuple(w for w, ts in words if not all(t in present for t in ts))
    return Hit(
        rank=rank, score=round(float(score), 4), id=p.id, doc=p.doc, title=p.title,
        date=p.date, section=p.section, heading_path=p.heading_path,
        line_start=p.line_start, line_end=p.line_end, page=p.page, paragraph=p.paragraph,
        text=p.text, snippet=snip, highlights=hl, missing_terms=missing,
        citation=citation(p.doc, p.line_start, p.line_end, p.page, p.paragraph, path_prefix),
        path=path_prefix + p.doc, more_in_doc=more,
    )


def passage_hit(p: Passage, path_prefix: str) -> Hit:
    """A passage as a hit record with no query (for ``kb export`` of everything)."""
    return make_hit(p, p.ordinal, 0.0, set(), (), path_prefix)


# --------------------------------------------------------------------------
# did you mean


def _surface(searcher: Any, stem: str) -> str | None:
    """A word in the index text that analyses to ``stem``."""
    from whoosh.query import Term

    for r in searcher.search(Term("text", stem), limit=3):
        txt = r.get("text") or ""
        for m in _TOKEN.finditer(txt):
            if term(m.group()) == stem:
                return m.group().lower()
    return None


def suggest(searcher: Any, text: str) -> str | None:
    """A corrected query when a query word is not in the index, else None."""
    reader = searcher.reader()
    corrector = reader.corrector("text")
    new = text
    changed = False
    for word, ts in _query_word_terms(text):
        if len(ts) != 1 or "/" in ts[0] or len(ts[0]) > MAX_FUZZY_WORD:
            continue
        t = ts[0]
        if reader.doc_frequency("text", t) > 0:
            continue
        maxdist = 2 if len(word) >= 5 else 1
        cands = corrector.suggest(t, limit=5, maxdist=maxdist, prefix=1)
        if not cands:
            continue
        best = max(cands, key=lambda c: reader.doc_frequency("text", c))
        surface = _surface(searcher, best)
        if surface and surface != word.lower():
            new = re.sub(rf"(?<![\w]){re.escape(word)}(?![\w])", surface, new, count=1)
            changed = True
    return new if changed else None
