"""kb's query language, parsed once into one typed record.

Everything that reads a query — ranking (:mod:`kb.engine.ranker`), the matching
rule, spelling correction, highlighting, the "missing" report of a hit and the
header — reads the :class:`ParsedQuery` that :func:`parse` makes of it.

Parts:

* :class:`Concept` — one thing a passage must hold to match: a word with its
  variants (``peacekeeping``; ``peace-keeping``: one concept, its parts as a
  phrase), an exact phrase (``"victim-centred approach"``, ``"a b"~3``), a
  wildcard (``interven*``) or a fuzzy word (``harrasment~``), each optionally
  restricted to a field (``title:``, ``section:``).  Question words
  (:data:`QUESTION_WORDS`: "what", "has", "said", "about", …) are *optional*
  concepts: they rank, they are never required.
* :class:`Group` — ``and`` / ``or`` / ``not`` / ``maybe`` over concepts and groups.
  Precedence as before (Whoosh's): ``NOT`` (and ``-word``) binds tightest, then
  ``AND``, then ``OR``, then the words side by side (all required).
* :class:`Clause` — a ``doc:``, ``date:`` or ``symbol:`` filter (never ranked).
* :func:`parse` — text -> :class:`ParsedQuery`; a malformed query (unbalanced
  quotes or brackets, a lone operator) is read as its plain words.

The record is pure: made from the text alone, no index.  The search
(:mod:`kb.search`) resolves each concept's *forms* against the index (compound
spellings; corrections) with :meth:`ParsedQuery.replace_concept`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal, Union

from .analysis import STOP_WORDS, fold, iter_terms, term
from .errors import QueryError

__all__ = ["Concept", "Group", "Clause", "ParsedQuery", "parse", "QUESTION_WORDS",
           "doc_pattern", "MAX_QUERY_CHARS", "MAX_FUZZY_WORD"]

#: Longer queries are refused (a pasted page still fits).
MAX_QUERY_CHARS = 5_000
#: no spelling suggestion or fuzzy expansion for longer "words"
MAX_FUZZY_WORD = 40
#: at most this many wildcard and fuzzy words in one query (each is looked up among
#: every word of the index: a thousand ``*ab*`` took two minutes)
MAX_EXPANDING = 20

#: Words that carry no topic: question words ("what", "has", "said", "about") and the
#: function words the index does not already drop ("against", "between", "all"): a
#: concept made of one of them is optional (it ranks, it is never required), unless
#: the query has nothing else.
QUESTION_WORDS = frozenset("""
    what which who whom whose when where why how whether
    has had having do does did doing done was were been being am
    said say says saying tell tells told describe describes described
    about regarding concerning on against
    there their theirs they them its it's our ours my me i he she his her hers him
    any some can could should would will shall may might must
    mention mentions mentioned discuss discusses discussed talk talks
    document documents text texts know find show give list way ways
    above across after again all also among amongst because before below between
    both but each either few further here into itself just more most no nor not now
    off once only onto other out over own per same so such than then these those
    through too under until up upon very while within without towards toward via
""".split())

Kind = Literal["word", "phrase", "wildcard", "fuzzy"]
Form = tuple[str, ...]  #: a sequence of index terms that must stand side by side


@dataclass(frozen=True, slots=True)
class Concept:
    """One thing a passage holds or lacks."""

    text: str  #: as typed: ``peace-keeping``, ``"victim-centred approach"``, ``interven*``
    kind: Kind
    #: the word's or phrase's index terms in order (a wildcard: its folded pattern;
    #: a fuzzy word: the folded word)
    terms: Form
    #: the term sequences it may be written as, its own first (compound spellings,
    #: a correction): filled in against the index by the search; () = just ``terms``
    forms: tuple[Form, ...] = ()
    field: str | None = None  #: "title" or "section" only; None: text, section and title
    slop: int = 1  #: a phrase: at most this many positions between its words (1: adjacent)
    maxdist: int = 0  #: a fuzzy word: edits allowed
    #: a fuzzy word without a number (``word~``): only the nearest spellings, those
    #: one edit away, or two when none is one away (``word~2``: all within two)
    nearest: bool = False
    boost: float = 1.0
    optional: bool = False  #: a question word: ranks, never required
    start: int = 0  #: where it stands in the query's words (for corrections)
    end: int = 0

    @property
    def all_forms(self) -> tuple[Form, ...]:
        return self.forms or ((self.terms,) if self.terms else ())

    @property
    def label(self) -> str:
        """How the concept is named to the user ("missing: …")."""
        return self.text


@dataclass(frozen=True, slots=True)
class Group:
    op: Literal["and", "or", "not", "maybe"]  #: maybe: (required, optional)
    children: tuple[Node, ...]


Node = Union[Concept, Group]


@dataclass(frozen=True, slots=True)
class Clause:
    """A filter written in the query: ``doc:``, ``date:`` or ``symbol:``."""

    field: Literal["doc", "date", "symbol"]
    value: str  #: as written, quotes removed
    negate: bool = False
    text: str = ""  #: the whole clause as written


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    """A query as kb reads it."""

    text: str  #: the query as typed
    words: str  #: the query without its clauses
    root: Node | None  #: None: no words (every passage, filtered by the clauses)
    clauses: tuple[Clause, ...] = ()
    #: the words were read as plain words (the query as written was malformed)
    fallback: bool = False
    #: the query is this UN symbol (capitals, no year): set by the search when the
    #: index knows it; the document with the symbol comes first
    symbol: str | None = None
    #: 2-6 plain words: passages holding them as one exact phrase rank first
    phrase: Concept | None = None

    # -- what the matching rule and the reports read ---------------------------

    def concepts(self) -> list[Concept]:
        """Every concept, in query order (negated ones included)."""
        out: list[Concept] = []

        def walk(n: Node | None) -> None:
            if n is None:
                return
            if isinstance(n, Concept):
                out.append(n)
            else:
                for c in n.children:
                    walk(c)
        walk(self.root)
        return out

    def positive_concepts(self) -> list[Concept]:
        """The concepts a passage is looked for by (not under a ``NOT``)."""
        out: list[Concept] = []

        def walk(n: Node | None, neg: bool) -> None:
            if n is None:
                return
            if isinstance(n, Concept):
                if not neg:
                    out.append(n)
                return
            if n.op == "not":
                for c in n.children:
                    walk(c, not neg)
                return
            for c in n.children:
                walk(c, neg)
        walk(self.root, False)
        return out

    def required(self) -> list[Node]:
        """The parts a full match holds, each counted for partial matches: the
        children of a top-level ``and`` that are not negations and not optional
        (a single part when the query is one word, phrase or ``OR``)."""
        r = self.root
        if r is None:
            return []
        parts = list(r.children) if isinstance(r, Group) and r.op == "and" else [r]
        return [p for p in parts if not _is_negation(p)
                and not (isinstance(p, Concept) and p.optional)]

    def replace_concept(self, old: Concept, new: Concept) -> ParsedQuery:
        """The query with ``old`` (the very object) replaced by ``new``."""

        def sub(n: Node | None) -> Node | None:
            if n is None:
                return None
            if n is old:
                return new
            if isinstance(n, Group):
                return Group(n.op, tuple(sub(c) for c in n.children))  # type: ignore[misc]
            return n
        phrase = self.phrase
        return replace(self, root=sub(self.root), phrase=phrase)

    def label(self, node: Node) -> str:
        """A part of the query as the user would write it."""
        if isinstance(node, Concept):
            return node.label
        if node.op == "not":
            return "NOT " + self.label(node.children[0])
        joiner = {"and": " ", "or": " OR ", "maybe": " ANDMAYBE "}[node.op]
        inner = joiner.join(self.label(c) for c in node.children)
        return f"({inner})"


def _is_negation(n: Node) -> bool:
    return isinstance(n, Group) and n.op == "not"


# --------------------------------------------------------------------------
# clauses

_FILTER_CLAUSE = re.compile(
    r'(?:(?<=[\s(])|^)-?(?:symbol:[^\s()"\']+\s?\(\d{4}\)'  # symbol:S/RES/2771 (2025)
    r'|(?:doc|date|symbol):(?:[\[{][^\]}]*[\]}]|"[^"]*"|\'[^\']*\'|[^\s()]+))')


def split_clauses(text: str) -> tuple[str, tuple[Clause, ...]]:
    """Take ``doc:``, ``date:`` and ``symbol:`` clauses out of the query: they filter,
    they do not rank (so ``doc:guides* training`` never returns passages outside
    ``guides/``)."""
    clauses = []
    for m in _FILTER_CLAUSE.finditer(text):
        c = m.group()
        neg = c.startswith("-")
        f, _, value = c.lstrip("-").partition(":")
        clauses.append(Clause(f, _unquote(value) if f != "date" else value,  # type: ignore[arg-type]
                              neg, c))
    # each clause blanked out, not removed: the words keep their offsets in ``text``
    return _FILTER_CLAUSE.sub(lambda m: " " * len(m.group()), text), tuple(clauses)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


# --------------------------------------------------------------------------
# the parser

_OPS = {"AND", "OR", "NOT", "ANDNOT", "ANDMAYBE"}
_FIELDS = ("title", "section")
_TOKEN = re.compile(r'\s+|(?P<lp>\()|(?P<rp>\))|(?P<q>"[^"]*"(?:~\d+)?(?:\^[\d.]+)?)'
                    r'|(?P<field>(?:title|section|text):)(?=[^\s)])'
                    r'|(?P<w>[^\s()"]+)', re.I)
_FUZZY = re.compile(r"^(?P<w>.+?)~(?P<d>\d)?$")
_BOOST = re.compile(r"^(?P<w>.+?)\^(?P<b>\d+(?:\.\d+)?)$")
_EDGE = re.compile(r"^[^\w*?]+|[^\w*?~^.]+$|(?<=\w)[.]+$")
_ALPHA = re.compile(r"^[^\W\d_]+$")
_DIGIT = re.compile(r"\d")


class _Malformed(Exception):
    pass


#: brackets nested deeper than this are not read as groups (the query is read as
#: its plain words)
MAX_NESTING = 32


@dataclass(slots=True)
class _Tok:
    kind: str  # "(", ")", "op", "field", "phrase", "word", "-"
    text: str
    start: int
    end: int


def _lex(s: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(s):
        m = _TOKEN.match(s, pos)
        if m is None:  # an unbalanced quote
            raise _Malformed
        pos = m.end()
        if m.group("lp"):
            out.append(_Tok("(", "(", m.start(), m.end()))
        elif m.group("rp"):
            out.append(_Tok(")", ")", m.start(), m.end()))
        elif m.group("q"):
            out.append(_Tok("phrase", m.group("q"), m.start(), m.end()))
        elif m.group("field"):
            out.append(_Tok("field", m.group("field")[:-1].lower(), m.start(), m.end()))
        elif m.group("w"):
            w = m.group("w")
            start = m.start()
            if w in _OPS:
                out.append(_Tok("op", w, start, m.end()))
                continue
            # -word, -"phrase", -(group): NOT (a hyphen inside a word stays), only at the
            # start of a word ("(H2A)-histone" is no exclusion) and not before a digit
            # ("E2f-1, -2, -3" lists numbers)
            if w.startswith("-") and len(w) > 1:
                if (start and not s[start - 1].isspace() and s[start - 1] != "(") or \
                        w[1].isdigit():
                    w, start = w.lstrip("-"), start + len(w) - len(w.lstrip("-"))
                    if not w:
                        continue
                else:
                    out.append(_Tok("-", "-", start, start + 1))
                    w, start = w[1:], start + 1
            elif w == "-":
                nxt = s[m.end():m.end() + 1]
                if nxt in ('"', "("):
                    out.append(_Tok("-", "-", start, m.end()))
                continue
            out.append(_Tok("word", w, start, start + len(w)))
    return out


class _Parser:
    def __init__(self, text: str, toks: list[_Tok]) -> None:
        self.text = text
        self.toks = toks
        self.i = 0
        self.depth = 0

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> _Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def seq(self, closing: bool = False) -> list[Node]:
        items: list[Node] = []
        while True:
            t = self.peek()
            if t is None:
                if closing:
                    raise _Malformed
                return items
            if t.kind == ")":
                if not closing:
                    raise _Malformed
                self.take()
                return items
            n = self.or_expr()
            if n is not None:
                items.append(n)

    # an operand that is a stop word ("a OR b") is nothing: the operator joins what is left

    def or_expr(self) -> Node | None:
        left = self.and_expr()
        while (t := self.peek()) is not None and t.kind == "op" and t.text == "OR":
            self.take()
            right = self.and_expr()
            if left is None or right is None:
                left = left if right is None else right
                continue
            left = _join("or", left, right)
        return left

    def and_expr(self) -> Node | None:
        left = self.unary()
        while (t := self.peek()) is not None and t.kind == "op" and \
                t.text in ("AND", "ANDNOT", "ANDMAYBE"):
            self.take()
            right = self.unary()
            if right is None:
                continue
            if t.text == "ANDNOT":
                right = Group("not", (right,))
            if left is None:
                left = right if t.text != "ANDMAYBE" else None
                continue
            if t.text == "ANDMAYBE":
                left = Group("maybe", (left, right))
            else:
                left = _join("and", left, right)
        return left

    def unary(self, field: str | None = None) -> Node | None:
        t = self.peek()
        if t is None:
            raise _Malformed
        if t.kind == "op":
            if t.text == "NOT":
                self.take()
                inner = self.unary(field)
                return None if inner is None else Group("not", (inner,))
            raise _Malformed  # a lone AND / OR
        if t.kind == "-":
            self.take()
            if self.peek() is None:
                return None
            inner = self.unary(field)
            return None if inner is None else Group("not", (inner,))
        if t.kind == "field":
            self.take()
            f = None if t.text == "text" else t.text
            if self.peek() is None or self.peek().kind in (")", "op"):  # type: ignore[union-attr]
                raise _Malformed
            return self.unary(f)
        if t.kind == "(":
            self.take()
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise _Malformed
            items = self.seq_in_field(field)
            self.depth -= 1
            return _and(items)
        if t.kind == ")":
            raise _Malformed
        self.take()
        if t.kind == "phrase":
            return _phrase(t, field)
        return _word(t, field)

    def seq_in_field(self, field: str | None) -> list[Node]:
        if field is None:
            return self.seq(closing=True)
        items = self.seq(closing=True)
        return [_with_field(n, field) for n in items]


def _with_field(n: Node, field: str) -> Node:
    if isinstance(n, Concept):
        return n if n.field else replace(n, field=field)
    return Group(n.op, tuple(_with_field(c, field) for c in n.children))


def _join(op: Literal["and", "or"], a: Node, b: Node) -> Node:
    kids: list[Node] = []
    for x in (a, b):
        if isinstance(x, Group) and x.op == op:
            kids += x.children
        else:
            kids.append(x)
    return Group(op, tuple(kids))


def _and(items: list[Node]) -> Node | None:
    if not items:
        return None
    if len(items) == 1:
        return items[0]
    kids: list[Node] = []
    for x in items:
        if isinstance(x, Group) and x.op == "and":
            kids += x.children
        else:
            kids.append(x)
    return Group("and", tuple(kids))


def _phrase(t: _Tok, field: str | None) -> Concept | None:
    raw = t.text
    boost = 1.0
    m = re.search(r"\^(\d+(?:\.\d+)?)$", raw)
    if m:
        boost = float(m.group(1))
        raw = raw[:m.start()]
    slop = 1
    m = re.search(r"~(\d+)$", raw)
    if m:
        slop = max(1, int(m.group(1)))
        raw = raw[:m.start()]
    inner = raw[1:-1]
    terms = tuple(t_ for t_, _, _ in iter_terms(inner))
    if not terms:
        return None
    kind: Kind = "phrase" if len(terms) > 1 else "word"
    return Concept(raw, kind, terms, field=field, slop=slop, boost=boost,
                   start=t.start, end=t.end)


def _word(t: _Tok, field: str | None) -> Node | None:
    w = t.text
    if "-" in w.strip("-") and "/" not in w and _DIGIT.search(w) and \
            not any(c in w for c in "*?~\"^"):
        # "Rad53-dependent", "E2f-1", "COVID-19": codes and numbers joined by a hyphen
        # are no compound (never written closed): each part is a word of its own
        parts = []
        pos = t.start
        for part in w.split("-"):
            if part:
                c = _word(_Tok("word", part, pos, pos + len(part)), field)
                if c is not None:
                    parts.append(c)
            pos += len(part) + 1
        return _and(parts)
    boost = 1.0
    m = _BOOST.match(w)
    if m:
        w, boost = m.group("w"), float(m.group("b"))
    start = t.start
    # punctuation around a word is not part of it ("(see", "harassment,", "A/RES/1.")
    lead = len(w) - len(w.lstrip(".,;:!'\"’‘“”«»[]{}<>|\\/&+=#@$%-"))
    w = w[lead:]
    start += lead
    w = w.rstrip(",;:!'\"’‘“”«»[]{}<>|\\&+=#@$%-/")
    w = re.sub(r"(?<=[^\W\d_]{2})[.]+$", "", w)  # a sentence's full stop, not "U.S."
    if not w:
        return None
    end = start + len(w)
    m = _FUZZY.match(w)
    if m and not any(c in m.group("w") for c in "*?"):
        word = m.group("w")
        folded = fold(word)
        if not term(word) and not (len(word) >= 2 and word.isupper()):
            return None  # a stop word: nothing to be near
        d = m.group("d")
        maxdist = int(d) if d is not None else (2 if len(folded) >= 5 else 1)
        if len(folded) > MAX_FUZZY_WORD:
            maxdist = 0
        return Concept(w, "fuzzy", (folded,), field=field, maxdist=min(maxdist, 3),
                       boost=boost, start=start, end=end, nearest=d is None)
    w = w.replace("~", "")
    if not w:
        return None
    if any(c in w for c in "*?"):
        pattern = fold(w)
        if not pattern.strip("*?"):
            return None  # a lone "*" is no word
        return Concept(w, "wildcard", (pattern,), field=field, boost=boost,
                       start=start, end=end)
    terms = tuple(t_ for t_, _, _ in iter_terms(w))
    if not terms:
        return None  # a stop word
    optional = len(terms) == 1 and fold(w) in QUESTION_WORDS and not w.isupper()
    return Concept(w, "word", terms, field=field, boost=boost, optional=optional,
                   start=start, end=end)


_PLAIN_QUERY = re.compile(r"^[\w'’/ -]+$")
PHRASE_FIRST_MAX_WORDS = 6


def parse(text: str) -> ParsedQuery:
    """The query ``text`` as kb reads it.

    :raises QueryError: the query is too long, or holds nothing to search for and
        no filter.
    """
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is {len(text):,} characters long; the limit is "
                         f"{MAX_QUERY_CHARS:,}: search for its key words instead")
    words, clauses = split_clauses(text)
    fallback = False
    try:
        root = _and(_Parser(words, _lex(words)).seq())
    except _Malformed:
        root = _plain(words)
        fallback = True
    root = _fix_optional(root)
    # distinct ones: the same pattern twice is looked up once
    expanding = {(c.kind, c.terms, c.maxdist) for c in _leaves(root)
                 if c.kind in ("wildcard", "fuzzy")}
    if len(expanding) > MAX_EXPANDING:
        raise QueryError(f"the query has {len(expanding):,} wildcard or fuzzy words; at most "
                         f"{MAX_EXPANDING} are searched at once: split it into several searches")
    if root is None and words.strip() and not clauses:
        raise QueryError(f"nothing to search for in {text!r}: type some words, e.g. kb search "
                         "\"bystander intervention\"")
    if root is not None and _only_negative(root):
        raise QueryError(f"{text!r} only excludes words: say what to look for as well, e.g. "
                         "harassment -online")
    return ParsedQuery(text, words, root, clauses, fallback, phrase=_phrase_tier(words, root))


def _plain(words: str) -> Node | None:
    """The query's plain words, every operator and bracket ignored."""
    items: list[Node] = []
    for m in re.finditer(r"[^\s()\"]+", words):
        w = m.group()
        if w in _OPS:
            continue
        c = _word(_Tok("word", w.lstrip("-").replace("*", "").replace("?", "")
                       .replace("~", ""), m.start(), m.end()), None)
        if c is not None and (not items or c not in items):
            items.append(c)
    return _and(items)


def _leaves(n: Node | None) -> list[Concept]:
    if n is None:
        return []
    if isinstance(n, Concept):
        return [n]
    return [c for k in n.children for c in _leaves(k)]


def _fix_optional(root: Node | None) -> Node | None:
    """Question words are optional only beside something required: a query of
    nothing but question words requires them."""
    if root is None:
        return None
    parts = list(root.children) if isinstance(root, Group) and root.op == "and" else [root]
    if any(not (isinstance(p, Concept) and p.optional) and not _is_negation(p) for p in parts):
        return root
    fixed = [replace(p, optional=False) if isinstance(p, Concept) else p for p in parts]
    return fixed[0] if len(fixed) == 1 else Group("and", tuple(fixed))


def _only_negative(root: Node) -> bool:
    parts = list(root.children) if isinstance(root, Group) and root.op == "and" else [root]
    return all(_is_negation(p) for p in parts)


def _phrase_tier(words: str, root: Node | None) -> Concept | None:
    """For 2-6 plain words (no operator, quote, wildcard or field), the words as one
    exact phrase: passages holding it rank first."""
    ws = words.split()
    if not 2 <= len(ws) <= PHRASE_FIRST_MAX_WORDS or not _PLAIN_QUERY.match(words.strip()):
        return None
    if any(w in _OPS or w.startswith("-") for w in ws):
        return None
    if not isinstance(root, Group) or root.op != "and":
        return None
    terms = tuple(t for t, _, _ in iter_terms(words))
    if len(terms) < 2:
        return None
    return Concept(f'"{" ".join(ws)}"', "phrase", terms)


# --------------------------------------------------------------------------
# doc: patterns


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


# --------------------------------------------------------------------------
# compounds

#: at most this many spellings of one word or phrase are searched
MAX_COMPOUND_VARIANTS = 8


def compound_forms(text: str, exists: object) -> list[Form]:
    """The term sequences a word or phrase may be written as, its own first: a
    hyphenated or open compound also as the closed word (``whistle-blower``,
    ``whistle blower`` -> ``whistleblower``) and a closed word also as two words
    (``whistleblower`` -> ``whistle blower``, which matches ``whistle-blower`` too),
    each only when ``exists(term)`` says the index has the terms."""
    tokens = list(iter_terms(text))
    n = len(tokens)
    surf = [text[s:e] for _, s, e in tokens]
    has = exists  # type: ignore[assignment]

    def options(i: int) -> list[tuple[list[str], int]]:
        opts: list[tuple[list[str], int]] = [([tokens[i][0]], i + 1)]
        w = surf[i]
        if i + 1 < n and _ALPHA.match(w) and _ALPHA.match(surf[i + 1]):
            sep = text[tokens[i][2]:tokens[i + 1][1]]
            if sep == "-" or (sep and sep.isspace()):
                t = term(w + surf[i + 1])
                if t and has(t):  # type: ignore[operator]
                    opts.append(([t], i + 2))
        if len(w) >= 4 and _ALPHA.match(w):
            for k in range(1, len(w) - 1):  # from one letter: "email" is "e-mail"
                # a stop word is a part only where a hyphen joins it ("by-catch")
                a, b = term(w[:k]) or _stop(w[:k]), term(w[k:]) or _stop(w[k:])
                if a and b and has(a) and has(b):  # type: ignore[operator]
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
    forms = [tuple(f) for f in out]
    if forms and n:
        own = forms[0]
        if any(t in STOP_WORDS for t in own):
            # "peer-to-peer" keeps its "to"; written apart, "peer to peer" does not
            bare = tuple(t for t in own if t not in STOP_WORDS)
            if len(bare) >= 2 and bare not in forms:
                forms.append(bare)
        elif n >= 2 and len(text.split()) <= 4 and re.search(r"\s", text.strip()):
            # "peer to peer": also as hyphenated, its stop words kept ("peer-to-peer")
            joined = tuple(t for t, _, _ in iter_terms("-".join(text.split())))
            if len(joined) > n and joined not in forms and \
                    all(has(t) for t in joined):  # type: ignore[operator]
                forms.append(joined)
    return forms


def _stop(word: str) -> str | None:
    w = fold(word)
    return w if w in STOP_WORDS else None


def joined_pairs(q: ParsedQuery) -> list[tuple[Concept, Concept, str]]:
    """Adjacent plain words of a top-level ``and`` written apart (``whistle
    blower``), each with the closed word's term (``whistleblow``): either word may
    be found inside the closed one."""
    r = q.root
    parts = list(r.children) if isinstance(r, Group) and r.op == "and" else []
    out = []
    for a, b in zip(parts, parts[1:]):
        if not (isinstance(a, Concept) and isinstance(b, Concept)) or a.kind != "word" \
                or b.kind != "word" or a.field != b.field:
            continue
        if not (_ALPHA.match(a.text) and _ALPHA.match(b.text)):
            continue
        between = q.words[a.end:b.start]
        if not between or not between.isspace():
            continue
        t = term(a.text + b.text)
        if t:
            out.append((a, b, t))
    return out

