"""The engine seam: what kb asks of a search engine, in kb records only.

:class:`KnowledgeBase` (:mod:`kb.api`), the search logic (:mod:`kb.search`) and
the update (:mod:`kb.index`) talk to an engine through the small interface
below: passages (:class:`~kb.models.Passage`), ids, counts, a
:class:`SearchRequest` in and a :class:`Ranking` out.  No engine object (a
Whoosh searcher, reader or query) crosses it.

The first and only engine is Whoosh (:mod:`kb.engine.whoosh_engine`, with the
schema and stored codec in :mod:`kb.engine.schema`, query parsing in
:mod:`kb.engine.query`, the segment writer, the parallel build and the array
ranker); it is the one package that imports ``whoosh``
(``tests/test_engine_boundary.py`` enforces that).  A second engine (an
OpenSearch cluster for an organisation-wide library) would implement
:class:`Engine`, :class:`EngineReader` and :class:`EngineWriter` and be
returned by :func:`get_engine`; the bookkeeping around it (marker, lock, file
table, generations: :mod:`kb.store`) does not depend on the engine.

This module imports nothing heavy: ``import kb`` stays cheap.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..models import Budget, Facets, Filters, Passage, Scoring, SourceFile
from ..query import ParsedQuery

#: progress(done, total, current file id)
Progress = Callable[[int, int, str], None]
#: seal({file name: its path now}) before a commit becomes visible (:meth:`EngineWriter.commit`)
Seal = Callable[[dict[str, str]], None]


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """One ranked search, as kb's query language states it."""

    query: ParsedQuery  #: the query, its concepts' forms resolved (:mod:`kb.search`)
    filters: Filters = field(default_factory=Filters)
    offset: int = 0
    limit: int | None = 10  #: None: every match from ``offset`` on
    group: bool = False  #: the best passage of each document only
    #: identical passages (same words, :mod:`kb.dedup`) are one match, the best
    #: ranked standing for the others (:attr:`Ranked.also`)
    dedup: bool = True
    #: count every full match by document and year (:class:`~kb.models.Facets`),
    #: listing this many documents; 0: no counts
    facets: int = 0
    #: after the full matches, the partial ones (holding some of the query's parts)
    partial: bool = True
    scoring: Scoring = field(default_factory=Scoring)
    #: how long the search may run, and whether its client went away
    budget: Budget = field(default_factory=Budget)


@dataclass(frozen=True, slots=True)
class Ranked:
    """One ranked passage."""

    passage: Passage
    score: float | None  #: None: matched without a score of its own (a symbol's document)
    more_in_doc: int = 0  #: with ``group``: other matching passages of its document
    #: with ``dedup``: the other passages holding the same text, by document and place
    also: tuple[Passage, ...] = ()
    #: a partial match: the indexes of the query's required parts it lacks
    #: (:meth:`~kb.query.ParsedQuery.required`); () for a full match
    missing: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Ranking:
    """The answer to a :class:`SearchRequest`: the requested page, best first."""

    ranked: tuple[Ranked, ...]
    total: int  #: full matches (distinct texts with ``dedup``; documents with ``group``), exact
    highlight_terms: frozenset[str] = frozenset()  #: the index terms the query matched
    facets: Facets | None = None  #: with ``SearchRequest.facets``
    partial: int = 0  #: partial matches (with ``SearchRequest.partial``), likewise
    #: what the user should know about how the query was searched, a line each (a
    #: wildcard that matched more words than are searched)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Added:
    """A file whose passages a writer added (what the file table records of it)."""

    sha256: str
    passages: int
    title: str
    date: str | None
    symbol: str | None = None  #: the document's UN symbol


class OpenFailed(Exception):
    """An engine's generation could not be opened now (a writer switched or removed
    files under the reader, or its files are damaged): the caller retries, and when
    nothing changed in the folder meanwhile, tells damage from a bug
    (:func:`kb.store.damage`).  ``error`` is what failed; ``certain``: it is an error
    that only a damaged file causes (:class:`ReadFailed`)."""

    def __init__(self, message: str, error: BaseException | None = None,
                 certain: bool = False) -> None:
        super().__init__(message)
        self.error = error
        self.certain = certain


class ReadFailed(Exception):
    """Reading an open generation's files failed (the engine reader's methods raise
    nothing else but kb's own errors).  ``error`` is the engine's exception;
    ``certain``: it is one that only a damaged file causes (a file-format error:
    an unknown header, a truncated pickle, a bad compressed block ...).  Any other
    error may be a bug in kb: :func:`kb.store.damage` verifies the generation's
    checksums before it blames the index, and raises ``error`` itself when they match."""

    def __init__(self, error: BaseException, certain: bool) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.error = error
        self.certain = certain


#: errors that only a damaged file causes, whatever the engine (each engine adds its own)
FORMAT_ERRORS: tuple[type[BaseException], ...] = ()


def format_errors() -> tuple[type[BaseException], ...]:
    """The exception types that mean "a file is not in the format its reader expects"."""
    global FORMAT_ERRORS
    if not FORMAT_ERRORS:
        import json
        import pickle
        import struct
        import zlib

        FORMAT_ERRORS = (struct.error, zlib.error, pickle.UnpicklingError, EOFError,
                         UnicodeDecodeError, json.JSONDecodeError)
    return FORMAT_ERRORS


class EngineReader(ABC):
    """An open, consistent view of one generation of an index.

    One reader serves the threads of a server at once: its methods may be called
    concurrently from several threads (the Whoosh reader reads its files through
    :mod:`kb.engine.sharedfile` for that); :meth:`close` is called only once no call
    is running (:class:`kb.KnowledgeBase` counts its users)."""

    #: the engine's version number of this view (the file table ``files-<N>.json``
    #: that belongs to it, see :mod:`kb.store`)
    version: int

    @abstractmethod
    def search(self, request: SearchRequest) -> Ranking:
        """Rank the passages matching ``request``; :class:`~kb.errors.QueryError` if unreadable."""

    @abstractmethod
    def passage(self, passage_id: str) -> Passage | None:
        """The stored passage with this id, or None."""

    @abstractmethod
    def passages(self) -> Iterator[Passage]:
        """Every live passage, in no particular order."""

    @abstractmethod
    def document_ids(self) -> list[str]:
        """The ids of the documents that have passages, sorted."""

    # Looking passages up by what ``kb show`` is given (:mod:`kb.refs`).  These
    # defaults read every passage; an engine answers them from its index.

    def by_ref(self, ref: str) -> list[Passage]:
        """The passages whose short reference (:func:`kb.models.short_ref`) is ``ref``
        (lower case): one, several holding the same text, or several whose texts'
        fingerprints begin alike."""
        return sorted((p for p in self.passages() if p.ref == ref), key=lambda p: p.id)

    def also(self, p: Passage) -> list[Passage]:
        """The other passages holding the same text as ``p`` (identical passages,
        :mod:`kb.dedup`), by document and place."""
        return [q for q in self.by_ref(p.ref) if q.id != p.id and q.fingerprint == p.fingerprint]

    def document_passages(self, doc_id: str) -> list[Passage]:
        """Every passage of one document, in order ([] when there is no such document)."""
        return sorted((p for p in self.passages() if p.doc == doc_id),
                      key=lambda p: p.ordinal)

    def symbol_documents(self, symbol: str) -> list[str]:
        """The ids of the documents whose UN symbol may be ``symbol`` (a superset: the
        caller compares the symbols), sorted."""
        key = symbol.casefold()
        return sorted({p.doc for p in self.passages()
                       if p.symbol and key in p.symbol.casefold()})

    #: opened ready for ranked searches (``Engine.open(..., ranker=True)``)
    ranks: bool = False

    @abstractmethod
    def has_term(self, term: str) -> bool:
        """Is this index term in a searched field's (text, section, title) dictionary?"""

    def has_symbol(self, term: str) -> bool:
        """Is this (folded) UN symbol some document's symbol?"""
        return False

    @abstractmethod
    def near_words(self, word: str, maxdist: int) -> list[tuple[str, str, int]]:
        """``(word as written, its term, edits)`` for the index's words within
        ``maxdist`` edits of ``word`` (folded): what spelling correction chooses from."""

    @abstractmethod
    def frequency(self, term: str) -> int:
        """How many passages hold this index term in their text (about)."""

    def read_all(self) -> tuple[int, int]:
        """Read everything this view holds (``kb status --check`` of an index without
        checksums): ``(files, bytes)`` read; :class:`ReadFailed` when something cannot be."""
        n = sum(1 for _ in self.passages())
        return 0, n

    @abstractmethod
    def up_to_date(self) -> bool:
        """Is this still the newest committed version?"""

    @abstractmethod
    def close(self) -> None:
        """Release the view's files and memory."""


class EngineWriter(ABC):
    """Changes to one generation, visible all at once on :meth:`commit`."""

    @abstractmethod
    def add(self, passages: Sequence[Passage]) -> None:
        """Add one document's passages (in order)."""

    @abstractmethod
    def delete_document(self, doc_id: str) -> None:
        """Delete every passage of a document committed before."""

    def add_files(self, files: list[SourceFile], progress: Progress | None = None
                  ) -> Iterator[tuple[SourceFile, Added | None, str | None]]:
        """Load ``files`` (:func:`kb.load.load_all`) and add their passages; yields
        ``(file, added, reason)`` as each finishes (``added`` None: not indexed,
        ``reason`` says why).  An engine may load in worker processes."""
        from ..load import load_all

        for f, item, reason in load_all(files, progress):
            if item is None:
                yield f, None, reason
                continue
            self.add(item.passages)
            yield f, Added(item.sha256, len(item.passages), item.title, item.date,
                                item.symbol), None

    @abstractmethod
    def next_version(self) -> int:
        """The version number :meth:`commit` will give the generation."""

    @abstractmethod
    def commit(self, seal: Seal | None = None) -> None:
        """Make every change visible at once (atomic), and close the writer.

        ``seal(files)`` is called once everything is written and just before the
        change becomes visible, with every file of the new version as
        ``{name: path now}`` (a file written under a temporary name, such as the one
        whose rename is the commit, is given by that temporary path): :mod:`kb.store`
        records their checksums there.  An exception from ``seal`` cancels the commit."""

    @abstractmethod
    def cancel(self) -> None:
        """Abandon every change and close the writer (never masks the error that stopped it)."""


class Engine(ABC):
    """A search engine kb can keep an index in: one folder per generation."""

    name: str

    @abstractmethod
    def create(self, folder: Path, workers: int = 1) -> EngineWriter:
        """A writer for a new, empty generation in ``folder`` (a full build)."""

    @abstractmethod
    def writer(self, folder: Path) -> EngineWriter:
        """A writer that changes the generation in ``folder`` (an incremental update)."""

    @abstractmethod
    def open(self, folder: Path, ranker: bool = False, last_try: bool = False) -> EngineReader:
        """A reader of the newest version in ``folder``; :class:`OpenFailed` to retry.
        ``ranker``: ready for ranked searches now; ``last_try``: repair what can be."""

    @abstractmethod
    def latest_version(self, folder: Path) -> int | None:
        """The newest committed version in ``folder``, from its files' names (nothing
        is read: a damaged index still has one), or None when there is none."""

    def format_errors(self) -> tuple[type[BaseException], ...]:
        """The exception types that only a damaged file of this engine causes."""
        return format_errors()

    @abstractmethod
    def owns(self, filename: str) -> bool:
        """Is this a file the engine itself writes into a generation folder?"""

    def workers_for(self, files: list[SourceFile]) -> int:
        """How many worker processes a full build of ``files`` should use (1 = serial)."""
        return 1


_ENGINES: dict[str, Callable[[], Engine]] = {}


def register_engine(name: str, factory: Callable[[], Engine]) -> None:
    """Make an engine available to :func:`get_engine` under ``name``."""
    _ENGINES[name] = factory


def _whoosh() -> Engine:
    from .whoosh_engine import WhooshEngine

    return WhooshEngine()


register_engine("whoosh", _whoosh)
_OPEN: dict[str, Engine] = {}


def get_engine(name: str = "whoosh") -> Engine:
    """The engine registered under ``name`` (one instance per process)."""
    eng = _OPEN.get(name)
    if eng is None:
        eng = _OPEN[name] = _ENGINES[name]()
    return eng

