"""kb's query language as Whoosh queries.

:func:`parse_query` — Whoosh's query parser over ``text``, ``section`` and
``title`` (BM25F, weights in :data:`kb.search.FIELD_BOOSTS`), with phrases,
``AND``/``OR``/``NOT``, ``-word``, wildcards, fuzzy ``word~`` (edit distance 2
for words of five letters or more, else 1) and field filters ``title:``,
``section:``.  A query the parser rejects, or one that parses into nothing
useful (a lone ``AND``, a stray ``:``), is searched as its plain words instead.

:func:`expand` — what the parsed query becomes against the index: wildcards
matched against the words as written (the ``words`` field,
:func:`surface_terms`), and compound words in their other spellings
(:func:`kb.search.compound_variants`).

``doc:``, ``date:`` and ``symbol:`` clauses and the option filters become one
filter query (:func:`make_filter`, :func:`date_query`, :func:`doc_query`).

The ranking settings (field boosts, K1, B, the idf) are kb's, not Whoosh's:
they live in :mod:`kb.search` and are read from there at each use.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from .. import search as _s
from ..analysis import iter_terms, query_terms, split_entry, term
from ..errors import QueryError
from ..models import Filters
from ..search import (
    _ALPHA,
    _FIELDS,
    _OPERATORS,
    MAX_FUZZY_WORD,
    _unquote,
    compound_variants,
    doc_pattern,
    plain_words,
)

_MINUS = re.compile(r"(?:(?<=\s)|^)-(?=[\w\"(])")

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
        g = qparser.OrGroup.factory(_s.COORD) if _s.COORD else qparser.OrGroup
    fields = [f for f in _FIELDS if _s.FIELD_BOOSTS.get(f, 1.0) > 0]  # a 0 boost: not searched
    p = _parser_class()(None, schema, group=g)  # what qparser.MultifieldParser builds
    p.add_plugin(qparser.MultifieldPlugin(fields, fieldboosts=_s.FIELD_BOOSTS))
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


def parse_query(schema: Any, text: str, group: str = "and", reader: Any = None,
                memo: dict[str, list[str]] | None = None) -> Any:
    """Parse user query text; falls back to plain words for malformed input.
    With ``reader``, wildcards and compound words are expanded against the index
    (:func:`expand`); ``memo`` keeps the wildcards' words between the parses of
    one search (both groupings, every field: six walks of the dictionary else).

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
        return expand(_required_nots(_fix_fuzzy(q)), reader, prepared, memo)
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
    return expand(q, reader, safe, memo)


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

_LEXICON_CACHES: dict[int, tuple[Any, dict[tuple[str, str], bool]]] = {}


def lexicon_cache(reader: Any) -> dict[tuple[str, str], bool]:
    """``(field, term) -> in the index?`` answers for one reader, kept while it is the
    reader searched: a query's parses (all words, any word, phrase) and its missing-word
    check ask the same questions, and each costs a look-up in every segment.  The
    reader is held weakly: a closed, replaced reader (and its files) is not kept."""
    import weakref

    hit = _LEXICON_CACHES.get(id(reader))
    if hit is not None and hit[0]() is reader:
        return hit[1]
    if len(_LEXICON_CACHES) > 4:
        _LEXICON_CACHES.clear()
    cache: dict[tuple[str, str], bool] = {}
    _LEXICON_CACHES[id(reader)] = (weakref.ref(reader), cache)
    return cache


class _Ctx:
    """What :func:`expand` needs: the reader, the parsed text, a lexicon cache."""

    def __init__(self, reader: Any, text: str, memo: dict[str, list[str]] | None = None
                 ) -> None:
        self.reader = reader
        self.text = text
        self.memo = {} if memo is None else memo
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


def expand(q: Any, reader: Any, text: str, memo: dict[str, list[str]] | None = None) -> Any:
    """The query with its wildcards matched against the words as written
    (:func:`surface_terms`) and its words' compound forms added
    (:func:`compound_variants`).  Without a reader, ``q`` unchanged."""
    if reader is None:
        return q
    return _rewrite(q, _Ctx(reader, text, memo))


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
        terms = ctx.memo.get(pattern)
        if terms is None:
            terms = ctx.memo[pattern] = surface_terms(ctx.reader, pattern)
        return _surface_wildcard(q.fieldname, pattern, terms,
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


def parse_clauses(schema: Any, clauses: list[str]) -> list[Any]:
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
        elif field == "symbol":
            q = symbol_filter(value)
        else:
            try:
                q = make_parser(schema).parse(c)
            except Exception:  # noqa: BLE001
                q = None
            if q is None or _useless(q):
                raise QueryError(f"cannot read {c!r}; write symbol:SYMBOL, e.g. symbol:S/RES/2771")
        out.append(query.Not(q) if neg else q)
    return out


def symbol_filter(value: str) -> Any:
    """A ``symbol:`` clause: the passages of the documents with this UN symbol, in any
    case (``symbol:unw/2025/1``), with or without the year (``symbol:"S/RES/2771
    (2025)"``); ``*`` and ``?`` match within the symbol (``symbol:A/RES/73/*``)."""
    from whoosh import query

    v = " ".join(_unquote(value.strip()).split())
    if any(c in v for c in "*?"):
        if not v.strip("*?"):
            raise QueryError(f"cannot read symbol:{value}; write symbol:SYMBOL, "
                             "e.g. symbol:S/RES/2771")
        return query.Wildcard("symbol", v.split("(")[0].strip().casefold())
    terms = query_terms(v.upper())
    if not terms:
        raise QueryError(f"cannot read symbol:{value}; write symbol:SYMBOL, e.g. symbol:S/RES/2771")
    return query.Term("symbol", terms[0]) if len(terms) == 1 else \
        query.And([query.Term("symbol", t) for t in terms])


def symbol_first(symbol: str) -> Any:
    """What a query that is a UN symbol adds (:attr:`kb.engine.SearchRequest.symbol`):
    the passages of the documents with that symbol, at a constant, negligible score
    (they rank by reading order, after the passages that mention the symbol)."""
    from whoosh import query

    return query.ConstantScoreQuery(query.Term("symbol", symbol.casefold()), SYMBOL_SCORE)


#: the score of a passage matched only as part of the document a symbol query names
SYMBOL_SCORE = 1e-6


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


def weighting() -> Any:
    """The BM25F scorer searchers are opened with."""
    from whoosh import scoring

    if _s.IDF == "whoosh":
        return scoring.BM25F(B=_s.B, K1=_s.K1)
    return _robertson_bm25f()(B=_s.B, K1=_s.K1)


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


def highlight_terms(q: Any, reader: Any) -> set[str]:
    terms: set[str] = set()
    try:
        for field, text in q.existing_terms(reader, phrases=True, expand=True):
            if field in _FIELDS:
                terms.add(text.decode("utf-8") if isinstance(text, bytes) else text)
    except Exception:  # noqa: BLE001
        pass
    return terms


