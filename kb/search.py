"""Query text -> ranked :class:`~kb.models.Hit` records.

Parts:

* :func:`parse_query` — Whoosh's query parser over ``text``, ``section`` and
  ``title`` (BM25F, weights in :data:`FIELD_BOOSTS`), with phrases,
  ``AND``/``OR``/``NOT``, ``-word``, wildcards, fuzzy ``word~`` (edit
  distance 2 for words of five letters or more, else 1) and field filters
  ``title:``, ``section:``.  A query the parser rejects, or one that parses
  into nothing useful (a lone ``AND``, a stray ``:``), is searched as its
  plain words instead.
* :func:`expand` — what the parsed query becomes against the index: wildcards
  matched against the words as written (the ``words`` field,
  :func:`surface_terms`), and compound words in their other spellings
  (``whistle-blower``, ``whistleblower``, ``whistle blower``:
  :func:`compound_variants`).
* ``doc:``, ``date:`` and ``symbol:`` clauses and the ``--doc``/``--section``/
  ``--since``/``--until`` options filter, never rank (:func:`date_query`,
  :func:`doc_pattern`).
* :func:`search` — multi-word queries: passages holding every word come
  first (ranked by BM25F), then passages holding only some of them (ranked
  the same way), so long natural-language queries still find the best
  passages; a query that finds nothing is retried as its spelling correction.
* snippets with highlight offsets, ``missing_terms`` per hit, and a "did you
  mean" suggestion when a query word is not in the index.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from .analysis import _TOKEN, index_terms, iter_terms, query_terms, split_entry, term
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
_FILTER_CLAUSE = re.compile(
    r'(?:(?<=[\s(])|^)-?(?:doc|date|symbol):(?:[\[{][^\]}]*[\]}]|"[^"]*"|\'[^\']*\'|[^\s()]+)')


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


_PARSER_CLASS: Any = None


def _parser_class() -> Any:
    """Whoosh's QueryParser, marking each word's query with the word as typed
    (``_kb_src``: the text and its ``(term, start, end)`` tokens), so that
    :func:`expand` can add the word's compound forms."""
    global _PARSER_CLASS
    if _PARSER_CLASS is None:
        from whoosh import qparser
        from whoosh import query as wq

        class KbPhrase(wq.Phrase):  # type: ignore[misc]
            def normalize(self) -> Any:
                q = super().normalize()
                src = getattr(self, "_kb_src", None)
                if src is not None and isinstance(q, (wq.Term, wq.Phrase)):
                    q._kb_src = src
                return q

        class KbParser(qparser.QueryParser):  # type: ignore[misc]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, phraseclass=KbPhrase, **kwargs)

            def term_query(self, fieldname: str, text: str, termclass: Any, boost: float = 1.0,
                           tokenize: bool = True, removestops: bool = True) -> Any:
                q = super().term_query(fieldname, text, termclass, boost=boost,
                                       tokenize=tokenize, removestops=removestops)
                if type(q) in (wq.Term, KbPhrase) and fieldname in _FIELDS and tokenize:
                    q._kb_src = (text, list(iter_terms(text)))
                return q

        _PARSER_CLASS = KbParser
    return _PARSER_CLASS


def _make_parser(schema: Any, group: str) -> Any:
    from whoosh import qparser
    from whoosh.qparser.dateparse import DateParserPlugin

    if group == "and":
        g = qparser.AndGroup
    else:
        g = qparser.OrGroup.factory(COORD) if COORD else qparser.OrGroup
    fields = [f for f in _FIELDS if FIELD_BOOSTS.get(f, 1.0) > 0]  # a 0 boost: not searched
    p = _parser_class()(None, schema, group=g)  # what qparser.MultifieldParser builds
    p.add_plugin(qparser.MultifieldPlugin(fields, fieldboosts=FIELD_BOOSTS))
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


def parse_query(schema: Any, text: str, group: str = "and", reader: Any = None) -> Any:
    """Parse user query text; falls back to plain words for malformed input.
    With ``reader``, wildcards and compound words are expanded against the index
    (:func:`expand`).

    :raises QueryError: the query holds no searchable word at all.
    """
    from whoosh.qparser.common import QueryParserError

    parser = make_parser(schema, group)
    q = None
    prepared = _prepare(text)
    try:
        q = parser.parse(prepared)
    except QueryParserError:
        q = None
    except Exception:  # noqa: BLE001 - whoosh can fail in odd ways on odd input
        q = None
    if q is not None and not _useless(q) and _balanced(text):
        return expand(_required_nots(_fix_fuzzy(q)), reader, prepared)
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
    return expand(q, reader, safe)


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


# --------------------------------------------------------------------------
# expansion against the index: wildcards, compound words

#: at most this many spellings of one word or phrase (``whistleblower``,
#: ``whistle blower``, ...) are searched
MAX_COMPOUND_VARIANTS = 8
_ALPHA = re.compile(r"^[^\W\d_]+$")


class _Ctx:
    """What :func:`expand` needs: the reader, the parsed text, a lexicon cache."""

    def __init__(self, reader: Any, text: str) -> None:
        self.reader = reader
        self.text = text
        self._has = lexicon_cache(reader)
        self.words = "words" in reader.schema

    def has(self, field: str, t: str | None) -> bool:
        if not t:
            return False
        key = (field, t)
        v = self._has.get(key)
        if v is None:
            v = self._has[key] = key in self.reader
        return v


_LEXICON_CACHES: dict[int, tuple[Any, dict[tuple[str, str], bool]]] = {}


def lexicon_cache(reader: Any) -> dict[tuple[str, str], bool]:
    """``(field, term) -> in the index?`` answers for one reader, kept while it is the
    reader searched: a query's parses (all words, any word, phrase) and its missing-word
    check ask the same questions, and each costs a look-up in every segment."""
    hit = _LEXICON_CACHES.get(id(reader))
    if hit is not None and hit[0] is reader:
        return hit[1]
    if len(_LEXICON_CACHES) > 4:
        _LEXICON_CACHES.clear()
    cache: dict[tuple[str, str], bool] = {}
    _LEXICON_CACHES[id(reader)] = (reader, cache)
    return cache


def expand(q: Any, reader: Any, text: str) -> Any:
    """The query with its wildcards matched against the words as written
    (:func:`surface_terms`) and its words' compound forms added
    (:func:`compound_variants`).  Without a reader, ``q`` unchanged."""
    if reader is None:
        return q
    return _rewrite(q, _Ctx(reader, text))


def _rewrite(q: Any, ctx: _Ctx) -> Any:
    from whoosh import query

    if q.is_leaf():
        return _expand_leaf(q, ctx)
    if isinstance(q, (query.And, query.Or)) and len(q.subqueries) > 1:
        # the query words in order: a word is one child (the Or of its fields), or in
        # a flattened Or, consecutive Terms with the same place in the query
        groups: list[tuple[list[Any], Any]] = []
        for k in q.subqueries:
            u = _unit(k)
            last = groups[-1][1] if groups else None
            if u is not None and last is not None and isinstance(q, query.Or) \
                    and type(k) is query.Term and last[:3] == u[:3]:
                groups[-1][0].append(k)
                last[3].update(u[3])
            else:
                groups.append(([k], u))
        new: list[Any] = []
        i = 0
        while i < len(groups):
            joined = _joined_pair(groups[i][1], groups[i + 1][1], ctx) \
                if i + 1 < len(groups) else None
            if joined is not None:  # "whistle blower": also "whistleblower"
                a = [_rewrite(k, ctx) for k in groups[i][0]]
                b = [_rewrite(k, ctx) for k in groups[i + 1][0]]
                if isinstance(q, query.And):
                    new.append(query.Or([query.And(a + b), joined]))
                else:
                    new += a + b + [joined]
                i += 2
                continue
            new += [_rewrite(k, ctx) for k in groups[i][0]]
            i += 1
        import copy

        out = copy.copy(q)
        out.subqueries = new
        return out
    return q.apply(lambda c: _rewrite(c, ctx))


def _unit(q: Any) -> tuple[int, int, str, dict[str, float]] | None:
    """``(start, end, word, {field: boost})`` when ``q`` is one plain query word
    (a Term, or the Or of its Terms over the searched fields), else None."""
    from whoosh import query

    leaves = q.subqueries if isinstance(q, query.Or) else [q]
    if not leaves:
        return None
    spans = set()
    fields: dict[str, float] = {}
    for leaf in leaves:
        src = getattr(leaf, "_kb_src", None)
        if type(leaf) is not query.Term or src is None or len(src[1]) != 1:
            return None
        start = getattr(leaf, "startchar", None)
        end = getattr(leaf, "endchar", None)
        if start is None or end is None:
            return None
        spans.add((start, end, src[0]))
        fields[leaf.fieldname] = leaf.boost
    if len(spans) != 1:
        return None
    start, end, word = spans.pop()
    return start, end, word, fields


def _joined_pair(a: Any, b: Any, ctx: _Ctx) -> Any:
    """The closed compound of two adjacent query words, when the index has it."""
    from whoosh import query

    if a is None or b is None or not _ALPHA.match(a[2]) or not _ALPHA.match(b[2]):
        return None
    between = ctx.text[a[1]:b[0]]
    if not between or not between.isspace():
        return None
    t = term(a[2] + b[2])
    terms = [query.Term(f, t, boost=boost) for f, boost in a[3].items()
             if f in b[3] and ctx.has(f, t)]
    if not terms:
        return None
    return terms[0] if len(terms) == 1 else query.Or(terms)


def _expand_leaf(q: Any, ctx: _Ctx) -> Any:
    from whoosh import query

    if type(q) in (query.Wildcard, query.Prefix) and q.fieldname in _FIELDS and ctx.words:
        pattern = q.text + "*" if type(q) is query.Prefix else q.text
        return _surface_wildcard(q.fieldname, pattern, surface_terms(ctx.reader, pattern),
                                boost=q.boost, constantscore=q.constantscore)
    if not isinstance(q, (query.Term, query.Phrase)) or q.fieldname not in _FIELDS:
        return q
    src = getattr(q, "_kb_src", None)
    if src is None and isinstance(q, query.Phrase) and q.char_ranges \
            and all(s is not None for s, _ in q.char_ranges) and len(q.char_ranges) == len(q.words):
        src = (ctx.text, [(w, s, e) for w, (s, e) in zip(q.words, q.char_ranges)])
    if src is None and type(q) is query.Term and getattr(q, "startchar", None) is not None \
            and getattr(q, "endchar", None) is not None:  # a quoted single word
        src = (ctx.text, [(q.text, q.startchar, q.endchar)])
    if src is None:
        return q
    variants = compound_variants(src[0], src[1], lambda t: ctx.has(q.fieldname, t))
    if len(variants) <= 1:
        return q
    alts = [q]
    for v in variants[1:]:
        if len(v) == 1:
            alts.append(query.Term(q.fieldname, v[0], boost=q.boost))
        else:
            alts.append(query.Phrase(q.fieldname, v, slop=getattr(q, "slop", 1), boost=q.boost))
    return query.Or(alts)


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


def surface_terms(reader: Any, pattern: str) -> list[str]:
    """The terms of the words as written in the documents (the ``words`` field)
    that match the glob ``pattern`` (``*``, ``?``, ``[...]``; already folded)."""
    import fnmatch

    cut = min([pattern.index(c) for c in "*?[" if c in pattern] or [len(pattern)])
    prefix = pattern[:cut]
    rx = re.compile(fnmatch.translate(pattern))
    check_live = reader.has_deletions()
    out: set[str] = set()
    entries = reader.expand_prefix("words", prefix) if prefix else reader.lexicon("words")
    for b in entries:
        surface, t = split_entry(b.decode("utf-8"))
        if t in out or not rx.match(surface):
            continue
        if check_live and not reader.postings("words", b).is_active():
            continue  # only in deleted documents
        out.add(t)
    return sorted(out)


_SURFACE_WILDCARD: Any = None
_SCORED_LIST: Any = None


def _scored_list(ids: list[int], scores: list[float]) -> Any:
    """A matcher over ``ids`` with these scores that the collector never prunes
    (its matches are all counted, as kb's totals need)."""
    global _SCORED_LIST
    if _SCORED_LIST is None:
        from whoosh import matching

        class ScoredList(matching.ListMatcher):  # type: ignore[misc]
            def replace(self, minquality: float = 0) -> Any:
                return self if self.is_active() else matching.NullMatcher()

            def max_quality(self) -> float:
                return float("inf")

        _SCORED_LIST = ScoredList
    return _SCORED_LIST(ids, weights=scores)


def _surface_wildcard(fieldname: str, pattern: str, terms: list[str], boost: float = 1.0,
                     constantscore: bool = True) -> Any:
    """A wildcard whose terms were found by :func:`surface_terms` (scored like
    Whoosh's Wildcard)."""
    global _SURFACE_WILDCARD
    if _SURFACE_WILDCARD is None:
        from whoosh import query

        class SurfaceWildcard(query.Wildcard):  # type: ignore[misc]
            terms: tuple[str, ...] = ()

            def _btexts(self, ixreader: Any) -> Any:
                fn = self.fieldname
                for t in self.terms:
                    b = t.encode("utf-8")
                    if (fn, b) in ixreader:
                        yield b

            def normalize(self) -> Any:
                return self

            def matcher(self, searcher: Any, context: Any = None) -> Any:
                """A passage scores the sum of its matching words' scores (times
                the boost), as Whoosh's union of the terms scores it in a large
                index; but Whoosh gives every match 1.0 in an index of up to 5,000
                passages, and its tree of unions costs seconds for hundreds of
                terms (``*ion``), so the sums are added up here."""
                from whoosh import matching

                btexts = list(self._btexts(searcher.reader()))
                w = context.weighting if context is not None else None
                scores: dict[int, float] = {}
                get = scores.get
                for b in btexts:
                    m = searcher.postings(self.fieldname, b, weighting=w)
                    while m.is_active():
                        d = m.id()
                        scores[d] = get(d, 0.0) + m.score()
                        m.next()
                if not scores:
                    return matching.NullMatcher()
                ids = sorted(scores)
                return _scored_list(ids, [scores[d] * self.boost for d in ids])

            def __eq__(self, other: object) -> bool:
                return (type(other) is type(self) and self.fieldname == other.fieldname
                        and self.text == other.text and self.terms == other.terms
                        and self.boost == other.boost)

            def __hash__(self) -> int:
                return hash((self.fieldname, self.text, self.terms, self.boost))

        _SURFACE_WILDCARD = SurfaceWildcard
    q = _SURFACE_WILDCARD(fieldname, pattern, boost=boost, constantscore=constantscore)
    q.terms = tuple(terms)
    return q


_PLAIN_QUERY = re.compile(r"^[\w'’/ -]+$")
PHRASE_FIRST_MAX_WORDS = 6


def phrase_query(schema: Any, words_text: str, reader: Any = None) -> Any:
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
    text = '"' + " ".join(words) + '"'
    try:
        q = make_parser(schema, "and").parse(text)
    except Exception:  # noqa: BLE001
        return None
    return None if _useless(q) else expand(q, reader, text)


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
        field, _, value = c.partition(":")
        if field == "date":
            q = date_query(value)
        elif field == "doc":
            q = doc_query(_unquote(value))
        else:
            try:
                q = make_parser(schema).parse(c)
            except Exception:  # noqa: BLE001
                q = None
            if q is None or _useless(q):
                raise QueryError(f"cannot read {c!r}; write symbol:SYMBOL, e.g. symbol:S/RES/2771")
        out.append(query.Not(q) if neg else q)
    return out


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


# -- date: clauses ------------------------------------------------------------

_DATE_HELP = ("write date:2022, date:2022-05, date:2022-05-26, date:>2021, date:<=2022-06 "
              "or date:[2021-01 to 2022-06]")
_DATE_OP = re.compile(r"^(>=|=>|<=|=<|>|<)?(.*)$", re.S)
_DATE_RANGE = re.compile(r"^([\[{])\s*(.*?)\s*\bto\b\s*(.*?)\s*([\]}])$", re.S | re.I)
_ISO_PERIOD = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")


def date_period(text: str) -> tuple[dt.datetime, dt.datetime]:
    """The first and last instant of the period a date names: ``2022`` is all of
    2022, ``2022-05`` all of May 2022, ``2022-05-26`` that day; other forms Whoosh's
    English date parser reads (``yesterday``, ``may 2022``) likewise.

    :raises QueryError: not a date.
    """
    value = _unquote(text.strip()).strip()
    m = _ISO_PERIOD.match(value)
    try:
        if m:
            y, mo, d = int(m.group(1)), m.group(2), m.group(3)
            if mo is None:
                first, last = dt.date(y, 1, 1), dt.date(y, 12, 31)
            elif d is None:
                first = dt.date(y, int(mo), 1)
                last = dt.date(y + (first.month == 12), first.month % 12 + 1, 1) - \
                    dt.timedelta(days=1)
            else:
                first = last = dt.date(y, int(mo), int(d))
            return (dt.datetime.combine(first, dt.time.min),
                    dt.datetime.combine(last, dt.time.max))
        if value and not value.isdigit():
            from whoosh.qparser.dateparse import English

            now = dt.datetime.now(tz=dt.timezone.utc)
            got = English().date_from(value, now)
            if isinstance(got, dt.datetime):
                got = got.replace(tzinfo=None)
                return got, got
            if got is not None and got.start is not None and got.end is not None:
                return got.start.replace(tzinfo=None), got.end.replace(tzinfo=None)
    except (ValueError, OverflowError, TypeError, AttributeError):
        pass
    except Exception:  # noqa: BLE001 - Whoosh's date grammar fails in odd ways
        pass
    raise QueryError(f"cannot read the date {value!r}; {_DATE_HELP}")


def date_query(value: str) -> Any:
    """A ``date:`` clause as a date range.  ``>`` and ``<`` exclude the whole period
    named (``date:>2024`` is 2025-01-01 onwards, ``date:<2022-05`` before
    2022-05-01); ``>=``, ``<=``, a bare date and ``[a to b]`` include it; in a range,
    ``{`` or ``}`` exclude the period at that end."""
    from whoosh import query

    tick = dt.timedelta(microseconds=1)
    v = value.strip()
    m = _DATE_RANGE.match(v)
    if m:
        lo_text, hi_text = m.group(2).strip(), m.group(3).strip()
        if not lo_text and not hi_text:
            raise QueryError(f"cannot read date:{value}; {_DATE_HELP}")
        start = end = None
        if lo_text:
            first, last = date_period(lo_text)
            start = first if m.group(1) == "[" else last + tick
        if hi_text:
            first, last = date_period(hi_text)
            end = last if m.group(4) == "]" else first - tick
        if start is not None and end is not None and start > end:
            raise QueryError(f"date:{value} is an empty range: its start is after its end")
        return query.DateRange("date", start, end)
    m = _DATE_OP.match(v)
    op, rest = (m.group(1) or "", m.group(2)) if m else ("", v)
    if not rest.strip():
        raise QueryError(f"cannot read date:{value}; {_DATE_HELP}")
    first, last = date_period(rest)
    if op == ">":
        return query.DateRange("date", last + tick, None)
    if op in (">=", "=>"):
        return query.DateRange("date", first, None)
    if op == "<":
        return query.DateRange("date", None, first - tick)
    if op in ("<=", "=<"):
        return query.DateRange("date", None, last)
    return query.DateRange("date", first, last)


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


def doc_query(pattern: str) -> Any:
    """Passages of the documents whose path matches ``pattern`` (:func:`doc_pattern`)."""
    if not pattern:
        raise QueryError("an empty doc: pattern; write doc:PATTERN, e.g. doc:reports/2022* "
                         "or doc:'UNW*'")
    return _doc_query(pattern)


_DOC_QUERY: Any = None


def _doc_query(pattern: str) -> Any:
    global _DOC_QUERY
    if _DOC_QUERY is None:
        from whoosh import query

        class DocQuery(query.Wildcard):  # type: ignore[misc]
            """The document ids that :func:`doc_pattern` matches."""

            def _btexts(self, ixreader: Any) -> Any:
                rx = doc_pattern(self.text)
                for b in ixreader.lexicon("doc"):
                    if rx.fullmatch(b.decode("utf-8")):
                        yield b

            def normalize(self) -> Any:
                return self

        _DOC_QUERY = DocQuery
    return _DOC_QUERY("doc", pattern)


def make_filter(f: Filters, extra: list[Any] | None = None) -> Any:
    from whoosh import query

    parts: list[Any] = list(extra or [])
    if f.doc:
        parts.append(doc_query(f.doc))
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


def _query_words(text: str, reader: Any) -> list[tuple[str, list[list[str]]]]:
    """(word, the term sequences it may be written as) for the positive plain words
    of a query: its own terms first, then its compound forms the index has
    (``whistleblower``: also ``whistle blower``)."""
    known = lexicon_cache(reader) if reader is not None else {}

    def exists(t: str) -> bool:
        for f in _FIELDS:
            v = known.get((f, t))
            if v is None:
                v = known[(f, t)] = (f, t) in reader
            if v:
                return True
        return False

    words = _query_word_terms(text)
    out = []
    for w, ts in words:
        alts = [ts]
        if reader is not None:
            alts = compound_variants(w, list(iter_terms(w)), exists) or [ts]
        out.append((w, alts))
    if reader is not None:  # "whistle blower": either word may be in "whistleblower"
        for i in range(len(words) - 1):
            a, b = words[i][0], words[i + 1][0]
            if not (_ALPHA.match(a) and _ALPHA.match(b)) or \
                    not re.search(rf"(?<![\w'’-]){re.escape(a)}\s+{re.escape(b)}(?![\w'’-])", text):
                continue
            t = term(a + b)
            if t and exists(t):
                out[i][1].append([t])
                out[i + 1][1].append([t])
    return out


def _known(reader: Any, alts: list[list[str]]) -> bool:
    """Does the index hold every term of one of the word's forms?"""
    return any(all(any((f, t) in reader for f in _FIELDS) for t in ts) for ts in alts)


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
    correct: bool = True,
    ranker: Any = None,
) -> SearchResult:
    """Run a query and return ranked hits.  ``limit=None`` returns every match.

    When nothing matches and a spelling correction of the query does
    (:func:`suggest`), the corrected query's hits are returned, with
    ``corrected_query`` set; ``correct=False`` turns that off."""
    t0 = time.perf_counter()
    if not text or not text.strip():
        raise QueryError("empty query: type some words, e.g. kb search \"bystander intervention\"")
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is {len(text):,} characters long; the limit is "
                         f"{MAX_QUERY_CHARS:,}: search for its key words instead")
    schema = searcher.schema
    reader = searcher.reader()
    filters = filters or Filters()
    words_text, clauses = split_filter_clauses(text)
    filt = make_filter(filters, _parse_clauses(schema, clauses))
    if words_text.strip():
        q_or = parse_query(schema, words_text, "or", reader)
        q_and = parse_query(schema, words_text, "and", reader) if COMBINE == "and-or" else q_or
    else:
        from whoosh.query import Every

        q_and = q_or = Every()
    want = None if limit is None or group else offset + limit
    ranked: list[tuple[int, float]] | None = None
    more: dict[int, int] = {}
    if ranker is not None:
        from .ranker import Unsupported, rank

        try:
            ranked, total, more, hl_terms = rank(
                ranker, searcher, q_and, q_or, phrase_query(schema, words_text, reader), filt,
                want, group)
        except Unsupported:
            ranked = None
    if ranked is None:
        ranked, total, more = _rank_whoosh(searcher, schema, reader, words_text, q_and, q_or,
                                           filt, want, group)
        hl_terms = _highlight_terms(q_or, reader)
    words = _query_words(words_text, reader)
    page = ranked[offset:] if limit is None else ranked[offset: offset + limit]
    hits = []
    for i, (docnum, score) in enumerate(page, start=offset + 1):
        stored = searcher.stored_fields(docnum)
        from .index import passage_from_stored

        p = passage_from_stored(stored)
        hits.append(make_hit(p, i, score, hl_terms, words, path_prefix, more.get(docnum, 0)))
    suggestion = None
    if total == 0 or any(not _known(reader, alts) for _, alts in words):
        suggestion = suggest(searcher, text, words)
    if correct and total == 0 and suggestion:
        fixed = search(searcher, suggestion, limit=limit, offset=offset, filters=filters,
                       group=group, path_prefix=path_prefix, correct=False, ranker=ranker)
        if fixed.total:
            return replace(fixed, query=text, corrected_query=suggestion, suggestion=None,
                           elapsed=time.perf_counter() - t0)
    return SearchResult(query=text, total=total, hits=tuple(hits),
                        elapsed=time.perf_counter() - t0, offset=offset,
                        suggestion=suggestion, grouped=group,
                        filters=describe_filters(filters))


def _rank_whoosh(searcher: Any, schema: Any, reader: Any, words_text: str, q_and: Any,
                 q_or: Any, filt: Any, want: int | None, group: bool
                 ) -> tuple[list[tuple[int, float]], int, dict[int, int]]:
    """The tiers ranked by Whoosh's scorer (for queries the array ranker does not take)."""
    # optimize=False: Whoosh's block skipping makes it count the matches in a second
    # pass over every posting (len(results)); scoring them all in one pass is faster
    and_results = searcher.search(q_and, limit=want, filter=filt, optimize=False)
    ranked: list[tuple[int, float]] = [(r.docnum, r.score) for r in and_results]
    total = len(and_results)
    q_phrase = phrase_query(schema, words_text, reader) if total > 1 else None
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
             words: Iterable[tuple[str, list[list[str]]]], path_prefix: str,
             more: int = 0) -> Hit:
    """``words``: (query word, its forms as term sequences), see :func:`_query_words`;
    a word is missing from the passage when none of its forms is all there."""
    snip, hl = snippet(p.text, hl_terms)
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


def suggest(searcher: Any, text: str,
            words: list[tuple[str, list[list[str]]]] | None = None) -> str | None:
    """A corrected query when a query word is not in the index (in none of its
    forms), else None."""
    reader = searcher.reader()
    corrector = reader.corrector("text")
    new = text
    changed = False
    if words is None:
        words = _query_words(split_filter_clauses(text)[0], reader)
    for word, alts in words:
        ts = alts[0]
        if len(ts) != 1 or "/" in ts[0] or len(ts[0]) > MAX_FUZZY_WORD:
            continue
        t = ts[0]
        if _known(reader, alts):
            continue
        maxdist = 2 if len(word) >= 5 else 1
        cands = corrector.suggest(t, limit=5, maxdist=maxdist, prefix=1)
        if not cands:
            continue
        best = max(cands, key=lambda c: reader.doc_frequency("text", c))
        surface = _surface(searcher, best)
        if surface and surface != word.lower():
            # the first time the word stands outside a doc:/date:/symbol: clause
            clauses = [m.span() for m in _FILTER_CLAUSE.finditer(new)]
            for m in re.finditer(rf"(?<![\w]){re.escape(word)}(?![\w])", new):
                if not any(a <= m.start() < b for a, b in clauses):
                    new = new[:m.start()] + surface + new[m.end():]
                    changed = True
                    break
    return new if changed else None
