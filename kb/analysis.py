"""Text analysis, the same at index and query time.

Parts:

* :func:`iter_terms` — the pure pipeline: text -> ``(term, start, end)``.
  Tokenise (words, with apostrophes kept inside them; hyphens and slashes
  split compounds into consecutive words, so ``peer-to-peer`` matches as a
  phrase and by its parts) -> UN document symbols kept whole
  (``A/HRC/50/12`` is one term and matches only itself) -> Unicode
  normalisation (NFKC, accents folded, curly quotes straightened) -> case
  folding -> stop words dropped, except when written in capitals (``US``,
  ``IT``, ``SEA`` stay) -> British/American spelling variants mapped to one
  form -> English Snowball stemming (PyStemmer).  Results are cached per
  surface token, so each distinct word is analysed once.
* The same pipeline as Whoosh analyzers (``KbAnalyzer``, ``SurfaceAnalyzer``)
  lives in :mod:`kb.engine.analyzers`; this module imports no Whoosh.
* :func:`query_terms` — the terms a query word analyses to.
* :func:`surface_entries` — the words as written
  (folded, not stemmed), each with the term it is indexed as: the ``words``
  field, against which wildcards are matched (``harass?ent`` must see
  "harassment", not the stem ``harass``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache
from importlib import resources
from typing import Any

#: Bump when the analysis changes in a way that changes indexed terms.
ANALYSIS_VERSION = 3

STOP_WORDS = frozenset(
    """a an and are as at be by for from have if in is it of on or that the this to us we
    with yet you your""".split()
)

_TOKEN = re.compile(
    r"(?P<sym>[A-Z][A-Z0-9]{0,9}(?:/[A-Za-z0-9]+(?:[.\-][A-Za-z0-9]+)*)+)"
    r"|(?P<w>\w+(?:['’]\w+)*)(?P<h>-(?=\w))?"  # h: a hyphen joins it to the next word
)
_WORD = re.compile(r"\w+(?:['’]\w+)*")
_DIGIT = re.compile(r"\d")

_MISSING = object()
_CACHE: dict[str, Any] = {}
_CACHE_MAX = 500_000


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer  # PyStemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1)
def _variant_table() -> tuple[dict[str, str], frozenset[str]]:
    pairs: dict[str, str] = {}
    word_only: set[str] = set()
    try:
        text = resources.files("kb").joinpath("data/uk_us.tsv").read_text(encoding="utf-8")
    except (FileNotFoundError, OSError):
        text = ""
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        uk, _, rest = line.partition("\t")
        us, _, flag = rest.partition("\t")
        uk, us = uk.strip().casefold(), us.strip().casefold()
        if uk and us and uk != us:
            pairs[uk] = us
            if flag.strip() == "word":
                word_only.add(uk)
    return pairs, frozenset(word_only)


def variants() -> dict[str, str]:
    """British -> American spelling map, applied to words and to their stems.

    Loaded from ``kb/data/uk_us.tsv`` (``british<TAB>american[<TAB>word]`` per line;
    generated from SCOWL by ``tools/make_uk_us.py``).
    """
    return _variant_table()[0]


@lru_cache(maxsize=1)
def _stem_variants() -> dict[str, str]:
    """Stem-level map: stem(british) -> stem(american), so inflections follow.

    Left out: pairs marked ``word`` (their British stem is also the stem of a word
    spelled alike in both varieties: ``analyses``) and British stems that are an
    American stem."""
    stem = _stemmer().stemWord
    pairs, word_only = _variant_table()
    us_stems = {stem(us) for us in pairs.values()}
    out: dict[str, str] = {}
    for uk, us in pairs.items():
        if uk in word_only:
            continue
        a, b = stem(uk), stem(us)
        if a != b and a not in us_stems:
            out[a] = b
    return out


def fold(token: str) -> str:
    """Unicode-normalise and case-fold one token (no stemming)."""
    w = token.replace("’", "'").replace("‘", "'")
    if not w.isascii():
        w = unicodedata.normalize("NFKD", w)
        w = "".join(ch for ch in w if not unicodedata.combining(ch))
        w = unicodedata.normalize("NFKC", w)
    return w.casefold()


def _analyse(token: str) -> str | None:
    w = fold(token)
    if w in STOP_WORDS and not (len(token) >= 2 and token.isupper()):
        return None
    if "'" in w:
        w = w.split("'", 1)[0] if w.endswith("'s") or w.endswith("'") else w.replace("'", "")
        if not w:
            return None
    w = variants().get(w, w)
    if _DIGIT.search(w):
        return w
    s = _stemmer().stemWord(w)
    return _stem_variants().get(s, s)


def term(token: str) -> str | None:
    """The indexed term of one surface token, or None for a stop word."""
    t = _CACHE.get(token, _MISSING)
    if t is _MISSING:
        if len(_CACHE) > _CACHE_MAX:
            _CACHE.clear()
        t = _CACHE[token] = _analyse(token)
    return t  # type: ignore[return-value]


def _joined_stop(token: str) -> str | None:
    """A stop word that a hyphen joins to another word (``by-catch``, ``on-going``,
    ``in-depth``) is kept, as itself: the compound then has the same parts written
    closed (``bycatch``) or hyphenated."""
    w = fold(token)
    return w if w in STOP_WORDS else None


def iter_terms(text: str) -> Iterator[tuple[str, int, int]]:
    """Yield ``(term, start, end)`` for each indexed term of ``text``."""
    joined = False  # the previous word ends in a hyphen joined to this one
    for m in _TOKEN.finditer(text):
        sym = m.group("sym")
        if sym is not None:
            joined = False
            if _DIGIT.search(sym):
                yield sym.casefold(), m.start(), m.end()
                continue
            base = m.start()
            for w in _WORD.finditer(sym):
                t = term(w.group())
                if t is not None:
                    yield t, base + w.start(), base + w.end()
            continue
        w = m.group("w")
        t = term(w)
        hy = m.group("h") is not None
        if t is None and (hy or joined):
            t = _joined_stop(w)
        joined = hy
        if t is not None:
            yield t, m.start(), m.start() + len(w)


def index_terms(text: str) -> list[str]:
    """The terms of ``text`` in order: :func:`iter_terms` without offsets, faster
    (the index writer's path, see :mod:`kb.engine.segwriter`)."""
    out: list[str] = []
    append = out.append
    get = _CACHE.get
    joined = False
    for sym, w, h in _TOKEN.findall(text):
        if sym:
            out += [t for t, _, _ in iter_terms(sym)]
            joined = False
            continue
        t = get(w, _MISSING)
        if t is _MISSING:
            t = term(w)
        if t is None and (h or joined):
            t = _joined_stop(w)
        joined = bool(h)
        if t is not None:
            append(t)
    return out


#: separates a surface word from its term in a ``words`` entry (``harassment harass``)
SURFACE_SEP = " "
_ENTRY: dict[str, str | None] = {}


def _entry(token: str) -> str | None:
    """The ``words`` entry of one surface word token: ``surface`` when the word is
    indexed as itself, else ``surface<SURFACE_SEP>term``; None for a stop word."""
    e = _ENTRY.get(token, _MISSING)  # type: ignore[arg-type]
    if e is _MISSING:
        t = term(token)
        if t is None:
            e = None
        else:
            w = fold(token)
            e = w if w == t else f"{w}{SURFACE_SEP}{t}"
        if len(_ENTRY) > _CACHE_MAX:
            _ENTRY.clear()
        _ENTRY[token] = e
    return e  # type: ignore[return-value]


def surface_entries(text: str) -> set[str]:
    """The distinct ``words`` entries of ``text``: each indexed word as written
    (case and accents folded, not stemmed) with the term it is indexed as."""
    out: set[str] = set()
    add = out.add
    get = _ENTRY.get
    for sym, w, _ in set(_TOKEN.findall(text)):  # distinct tokens first: a document repeats them
        if sym:
            if _DIGIT.search(sym):
                add(sym.casefold())
            else:
                for m in _WORD.finditer(sym):
                    e = _entry(m.group())
                    if e is not None:
                        add(e)
            continue
        e = get(w, _MISSING)  # type: ignore[arg-type]
        if e is _MISSING:
            e = _entry(w)
        if e is not None:
            add(e)
    return out


def split_entry(entry: str) -> tuple[str, str]:
    """``(surface, term)`` of a ``words`` entry."""
    surface, _, t = entry.partition(SURFACE_SEP)
    return surface, t or surface


def query_terms(text: str) -> list[str]:
    """The terms a piece of query text analyses to."""
    return [t for t, _, _ in iter_terms(text)]
