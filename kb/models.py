"""Plain records passed between the pipeline stages.

files (:class:`SourceFile`) -> :class:`Document` (with :class:`Section` and
:class:`Block`) -> :class:`Passage` -> index -> :class:`Hit` in a
:class:`SearchResult`.  Updates report an :class:`IndexReport`.

None of these hold Whoosh, Rich or Click objects; ``to_dict()`` gives the
JSON shape used by every machine-readable output.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

#: A piece of clean text and the 1-based source line (or PDF page line) it came from.
Segment = tuple[int, str]


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file found in the corpus folder."""

    #: path relative to the corpus, ``/`` separators; valid text (bytes of a name
    #: that are not UTF-8 are shown as U+FFFD, see ``corpus.text_name``)
    id: str
    path: str  #: absolute path on disk, the real name (``os`` surrogate escapes kept)
    format: str  #: "markdown", "text", ...
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file that was not indexed, and why."""

    id: str
    reason: str

    @property
    def kind(self) -> str:
        """The reason in one word, for summaries: "unsupported", "unreadable",
        "no-text", "name-clash" or "damaged"."""
        r = self.reason
        if r.startswith("unsupported format"):
            return "unsupported"
        if r.startswith(("cannot read", "permission denied", "file vanished", "too large",
                         "not a regular file", "symlink")):
            return "unreadable"
        if r.startswith("no text layer"):
            return "no-text"
        if r.startswith("the file name is not valid UTF-8"):
            return "name-clash"
        return "damaged"


@dataclass(frozen=True, slots=True)
class Block:
    """One block of a section: a paragraph, a list, a table, a code block."""

    kind: str
    segments: tuple[Segment, ...]
    paragraph: str | None = None  #: UN-style paragraph number ("23", "23(a)")
    page: int | None = None

    @property
    def text(self) -> str:
        sep = " " if self.kind == "paragraph" else "\n"
        return sep.join(t for _, t in self.segments)


@dataclass(frozen=True, slots=True)
class Section:
    heading: str
    heading_path: tuple[str, ...]
    blocks: tuple[Block, ...]


@dataclass(frozen=True, slots=True)
class Document:
    id: str
    title: str
    date: str | None  #: ISO ``YYYY-MM-DD``
    format: str
    sections: tuple[Section, ...]
    symbol: str | None = None  #: UN document symbol, e.g. ``S/RES/2771``
    #: why the document has no date, in one line (``kb docs --undated``)
    date_note: str | None = None


@dataclass(frozen=True, slots=True)
class Passage:
    """The unit that is indexed, ranked, shown and exported."""

    id: str  #: ``<doc id>#<ordinal>``
    doc: str
    ordinal: int
    title: str
    date: str | None
    section: str
    heading_path: tuple[str, ...]
    line_start: int | None
    line_end: int | None
    page: int | None
    paragraph: str | None
    text: str
    format: str = "text"
    symbol: str | None = None  #: the document's UN symbol (indexed as ``symbol:``)

    @property
    def fingerprint(self) -> str:
        """What the passage says, as 13 letters and digits (:func:`fingerprint`)."""
        return fingerprint(self.text)

    @property
    def ref(self) -> str:
        """Its short reference (:func:`short_ref`)."""
        return self.fingerprint[:REF_LENGTH]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["heading_path"] = list(self.heading_path)
        return d


@dataclass(frozen=True, slots=True)
class Loaded:
    """One file read, hashed, parsed and split (:func:`kb.load.load`)."""

    source: SourceFile
    sha256: str
    passages: list[Passage]
    title: str
    date: str | None
    symbol: str | None = None  #: the document's UN symbol


@dataclass(frozen=True, slots=True)
class Filters:
    """The option filters of a search (``--doc``, ``--section``, ``--since``, ``--until``)."""

    doc: str | None = None  #: a path pattern (:func:`kb.search.doc_pattern`)
    section: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None


@dataclass(frozen=True, slots=True)
class Budget:
    """How long a search may run (``deadline``: a ``time.monotonic()`` instant; None:
    no limit) and whether its client went away (``cancelled``: an object with
    ``is_set()``, e.g. a ``threading.Event``).  The ranker calls :meth:`check` as it
    goes; a search that runs out stops with :class:`~kb.errors.SearchTooCostly`."""

    deadline: float | None = None
    cancelled: Any = None
    seconds: float = 0.0  #: the budget as given (for the message)

    @classmethod
    def of(cls, seconds: float | None, cancelled: Any = None) -> Budget:
        import time

        return cls(None if seconds is None else time.monotonic() + seconds, cancelled,
                   seconds or 0.0)

    def check(self) -> None:
        from .errors import SearchTooCostly

        if self.cancelled is not None and self.cancelled.is_set():
            raise SearchTooCostly("the search was stopped: its client went away")
        if self.deadline is not None:
            import time

            if time.monotonic() > self.deadline:
                raise SearchTooCostly(
                    f"the search took more than {self.seconds:g} s and was stopped: use "
                    "fewer wildcard or fuzzy words, or more specific words")


@dataclass(frozen=True, slots=True)
class Scoring:
    """How passages are scored: BM25F's field weights, K1 and B.  Chosen by measurement
    on SciFact train and on hand-made queries (``python bench/quality.py --sweep``;
    the figures are in bench/README.md)."""

    text: float = 1.0  #: weight of the passage text
    section: float = 0.5  #: of its section heading
    title: float = 1.0  #: of its document's title (ranks, never makes a passage match)
    k1: float = 0.9
    b: float = 0.5

    @property
    def weights(self) -> dict[str, float]:
        return {"text": self.text, "section": self.section, "title": self.title}


def own_headings(title: str, heading_path: tuple[str, ...] | list[str], section: str
                 ) -> list[str]:
    """A passage's section headings without a first heading that only repeats its
    document's title (a resolution's title is often its first heading): what a
    passage's "section heading" is, for matching (the title ranks, it never makes a
    passage match) and for display."""
    path = list(heading_path) if heading_path else ([section] if section else [])

    def norm(t: str) -> str:
        return " ".join(t.split()).casefold()

    if path and title and norm(path[0]) == norm(title):
        path = path[1:]
    return path


def citation(doc: str, line_start: int | None, line_end: int | None,
             page: int | None, paragraph: str | None, prefix: str = "") -> str:
    """The human-readable source reference of a passage.

    ``corpus/report.txt:74-76``, ``corpus/report.txt:12 ¶ 7`` or, for paged
    formats, ``corpus/S_RES_2771 (2025).en.pdf p. 7 ¶ 20``.
    """
    ref = f"{prefix}{doc}"
    if page is not None:
        ref += f" p. {page}"
    elif line_start is not None:
        ref += f":{line_start}"
        if line_end is not None and line_end != line_start:
            ref += f"-{line_end}"
    if paragraph:
        ref += f" ¶ {paragraph}"
    return ref


#: the letters of a short reference (:func:`short_ref`): lower case, no 0/o, 1/l/i
_REF_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
REF_LENGTH = 6


#: the letters of a fingerprint: 64 bits in base 31
FINGERPRINT_LENGTH = 13


def fingerprint(text: str) -> str:
    """A passage's content fingerprint: the 64-bit key of its normalised text
    (:func:`kb.dedup.text_key`: case, punctuation, spacing and Unicode forms do not
    count, words, numbers and their order do), as 13 letters and digits.  Identical
    passages share it; an edited one gets another.  References carry it, so that
    what a reference names can be checked, and found again where it moved."""
    from .dedup import text_key

    n = text_key(text) & 0xFFFF_FFFF_FFFF_FFFF
    out = []
    for _ in range(FINGERPRINT_LENGTH):
        n, r = divmod(n, len(_REF_ALPHABET))
        out.append(_REF_ALPHABET[r])
    return "".join(out)


def short_ref(text: str) -> str:
    """A passage's short reference, as printed by ``kb search`` (``[29ktg6]``) and typed
    back to ``kb show`` / ``kb export --ids``: the first 6 letters of its
    :func:`fingerprint`.  It names the passage's *text*: after the file is edited it
    still finds that text wherever it now stands, and names nothing once the text is
    gone; identical passages share it."""
    return fingerprint(text)[:REF_LENGTH]


def symbol_citation(symbol: str | None, page: int | None, paragraph: str | None) -> str | None:
    """The UN citation of a passage of a document with a symbol: the symbol, then the
    paragraph and the page: ``A/RES/74/258, ¶ 10``, ``UNW/2025/1, ¶ 9, p. 18`` (None
    when the document has no symbol).  Citations lead with it (the file's follows)."""
    if not symbol:
        return None
    ref = symbol
    if paragraph:
        ref += f", ¶ {paragraph}"
    if page is not None:
        ref += f", p. {page}"
    return ref


@dataclass(frozen=True, slots=True)
class Hit:
    """A passage that matched a query, with its rank and snippet."""

    rank: int
    score: float | None  #: None: matched without a score of its own (a symbol's document)
    id: str
    doc: str
    title: str
    date: str | None
    section: str
    heading_path: tuple[str, ...]
    line_start: int | None
    line_end: int | None
    page: int | None
    paragraph: str | None
    text: str
    snippet: str
    highlights: tuple[tuple[int, int], ...]  #: (start, end) offsets into ``snippet``
    missing_terms: tuple[str, ...]
    citation: str
    path: str  #: the file as a user would open it (corpus folder + doc id)
    more_in_doc: int = 0  #: with ``group``: how many more passages of this document matched
    symbol: str | None = None  #: the document's UN symbol
    #: the UN citation (:func:`symbol_citation`) when the document has a symbol
    symbol_citation: str | None = None
    ref: str = ""  #: the short reference (:func:`short_ref`): the fingerprint's first letters
    #: citations of the same passage text in other files (identical passages are one hit)
    also_in: tuple[str, ...] = ()
    #: "full": the passage's own text or section holds every part of the query;
    #: "partial": only some (``missing_terms`` names the others)
    match: str = "full"
    #: what the passage says (:func:`fingerprint`): ``kb verify`` and ``--from`` check it
    fingerprint: str = ""
    #: a chosen passage whose text is no longer what was picked (``--allow-changed``):
    #: what the reference named then ("" when unchanged)
    changed: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["heading_path"] = list(self.heading_path)
        d["highlights"] = [list(h) for h in self.highlights]
        d["missing_terms"] = list(self.missing_terms)
        d["also_in"] = list(self.also_in)
        return d


@dataclass(frozen=True, slots=True)
class DocCount:
    """A document and how many of a search's matches it holds."""

    doc: str
    title: str
    count: int


@dataclass(frozen=True, slots=True)
class Facets:
    """A search's matches counted by document and by year, over every match.

    As in the results, a text held by several files (identical passages) counts
    once, for the file whose passage stands for it, so the counts add up to the
    search's total.  Narrowing the search to a document or year can find more: its
    copies of texts that another file stood for are then shown."""

    docs: tuple[DocCount, ...]  #: the documents with the most matches (ties: best hit first)
    documents: int  #: how many documents hold a match (``docs`` lists the first ones)
    years: tuple[tuple[str, int], ...]  #: (year, matches), latest first
    undated: int = 0  #: matches in passages without a date

    def to_dict(self) -> dict[str, Any]:
        return {"documents": self.documents,
                "docs": [{"doc": d.doc, "title": d.title, "count": d.count} for d in self.docs],
                "years": [{"year": y, "count": n} for y, n in self.years],
                "undated": self.undated}


@dataclass(frozen=True, slots=True)
class SearchResult:
    query: str
    total: int
    hits: tuple[Hit, ...]
    elapsed: float
    offset: int = 0
    suggestion: str | None = None  #: "did you mean" query, when one is found
    grouped: bool = False
    #: the spelling-corrected query whose hits these are, when ``query`` found nothing
    corrected_query: str | None = None
    #: the filters given besides the query, as written: ``doc:UNW*``, ``since 2022``
    filters: tuple[str, ...] = ()
    #: counts by document and year, when the search asked for them (``facets=N``)
    facets: Facets | None = None
    #: passages holding only some of the query's parts (shown after the full matches)
    partial: int = 0
    #: the index terms the query matched: what is highlighted beyond the snippets
    terms: tuple[str, ...] = ()
    #: what the user should know, a line each: references whose text was found
    #: elsewhere; a wildcard that matched more words than are searched
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        extra = {"facets": self.facets.to_dict()} if self.facets is not None else {}
        return {
            "query": self.query,
            "corrected_query": self.corrected_query,
            "filters": list(self.filters),
            "total": self.total,
            "partial": self.partial,
            "offset": self.offset,
            "suggestion": self.suggestion,
            "elapsed": round(self.elapsed, 4),
            "results": [h.to_dict() for h in self.hits],
            "notes": list(self.notes),
            **extra,
        }


@dataclass(slots=True)
class IndexReport:
    """What ``kb index`` did."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    passages_added: int = 0
    passages_removed: int = 0
    passages_total: int = 0
    documents_total: int = 0
    elapsed: float = 0.0
    rebuilt: bool = False
    #: things the user should know, one line each (an empty corpus)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["skipped"] = [asdict(s) for s in self.skipped]
        return d


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    """A document as listed by ``kb docs``."""

    id: str
    title: str
    date: str | None
    format: str
    passages: int
    path: str
    symbol: str | None = None  #: the UN document symbol
    #: the id of an earlier document with exactly the same content, when there is one
    duplicate_of: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
