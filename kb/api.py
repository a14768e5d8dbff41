"""The Python API: :class:`KnowledgeBase` wires the stages together.

    >>> from kb import KnowledgeBase
    >>> kb = KnowledgeBase(corpus="corpus", index="index")
    >>> kb.update()                       # incremental; rebuild=True from scratch
    >>> result = kb.search("bystander intervention", limit=5)
    >>> for hit in result.hits: print(hit.citation, hit.snippet)

The CLI is a thin shell over this class.  Nothing here prints.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import index as _index
from . import store as _store
from .errors import (
    CorpusMismatch,
    CorpusNotFound,
    IndexIncompatible,
    IndexLocked,
    IndexMissing,
    IndexWriteFailed,
    KbError,
    PassageNotFound,
)
from .models import (
    Budget,
    DocumentInfo,
    Hit,
    IndexReport,
    Passage,
    Scoring,
    SearchResult,
    Skipped,
)


@dataclass(slots=True)
class Staleness:
    """How the corpus folder differs from what the index holds."""

    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    #: folders with files added, removed or renamed (the quick check only)
    folders: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.new) + len(self.changed) + len(self.deleted)


@dataclass(slots=True)
class Status:
    corpus: str
    index: str
    exists: bool
    documents: int = 0
    passages: int = 0
    size_bytes: int = 0
    built: float | None = None
    updated: float | None = None
    schema: int | None = None
    generation: str | None = None
    stale: Staleness = field(default_factory=Staleness)
    skipped: list[Skipped] = field(default_factory=list)
    #: the corpus folder the index records (None: built by a kb that did not record it)
    corpus_recorded: str | None = None
    corpus_id: str | None = None
    #: why the index cannot be used with this corpus folder (missing, another
    #: corpus's index), as the error a search would raise; None when it can
    problem: str | None = None
    #: indexed files that are exact copies (same bytes) of another, earlier by id
    duplicates: int = 0

    def to_dict(self) -> dict[str, Any]:
        def iso(t: float | None) -> str | None:
            return dt.datetime.fromtimestamp(t).isoformat(timespec="seconds") if t else None

        return {
            "corpus": self.corpus, "index": self.index, "exists": self.exists,
            "documents": self.documents, "passages": self.passages,
            "size_bytes": self.size_bytes, "built": iso(self.built),
            "updated": iso(self.updated), "schema": self.schema,
            "new": self.stale.new, "changed": self.stale.changed, "deleted": self.stale.deleted,
            "skipped": [{"id": s.id, "reason": s.reason} for s in self.skipped],
            "corpus_recorded": self.corpus_recorded, "corpus_id": self.corpus_id,
            "problem": self.problem, "duplicates": self.duplicates,
        }


@dataclass(slots=True)
class Shown:
    """What :meth:`KnowledgeBase.show` found."""

    named: list[Passage]  #: the passages the references name, in the order given
    passages: list[Passage]  #: those and their context, in order, each once
    #: one line per pinned reference whose text moved ("… is now at …")
    notes: list[str] = field(default_factory=list)
    #: passage id -> what the reference had picked, for passages shown although their
    #: text changed since (``allow_changed``)
    changed: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Refresh:
    """What :meth:`KnowledgeBase.refresh` found and did."""

    stale: Staleness
    #: ``"current"`` nothing to do; ``"updated"`` the index was brought up to date
    #: (:attr:`report`); ``"built"`` there was no index: it was built (:attr:`report`,
    #: :meth:`KnowledgeBase.prepare` only); otherwise the index was left as it is: ``"off"`` updating
    #: was not asked for, ``"too-large"`` more work than ``max_files``/``max_bytes``,
    #: ``"locked"`` another update holds the index, ``"read-only"`` the index
    #: folder cannot be written (:attr:`reason` says why)
    action: str
    report: IndexReport | None = None
    files: int = 0  #: files an update reads (new and changed)
    bytes: int = 0  #: their size
    reason: str = ""


def _first_copies(table: _store.FileTable) -> dict[str, str]:
    """Each indexed file that is an exact copy (same SHA-256) of another -> the
    first of its copies by id."""
    first: dict[str, str] = {}
    out: dict[str, str] = {}
    for k in sorted(table.files):
        h = table.files[k].sha256
        if h in first:
            out[k] = first[h]
        else:
            first[h] = k
    return out


def display_prefix(corpus: Path, cwd: Path | None = None) -> str:
    """How a user would write the corpus folder: relative to cwd when inside it,
    else absolute (see :func:`kb.config.shown_prefix`)."""
    from .config import shown_prefix

    return shown_prefix(corpus, None, cwd)


#: :meth:`KnowledgeBase.quick_staleness` checks every file up to about this many
#: files (estimated from the file table's size, ~250 bytes a file), else folders
QUICK_CHECK_MAX_FILES = 4_000
QUICK_CHECK_TABLE_BYTES = QUICK_CHECK_MAX_FILES * 250

#: :meth:`KnowledgeBase.refresh` updates the index by itself when the update reads
#: at most this many files and bytes (about a second's work; README "kb search")
AUTO_UPDATE_MAX_FILES = 20
AUTO_UPDATE_MAX_BYTES = 1 << 20
#: files whose size or mtime changed are hashed up to this many bytes to tell
#: an edit from a touch; beyond, they count as changed
VERIFY_MAX_BYTES = 32 << 20


class _Held:
    """An open generation and the calls using it now (see :class:`KnowledgeBase`)."""

    __slots__ = ("gen", "users", "retired", "closed", "binding")

    def __init__(self, gen: _store.Generation) -> None:
        self.gen = gen
        self.users = 0  #: calls reading it now
        self.retired = False  #: replaced (or the KnowledgeBase closed): close when unused
        self.closed = False
        #: how the corpus folder matched this generation's index (None: not checked yet)
        self.binding: _store.Binding | None = None


class KnowledgeBase:
    """A corpus folder and its index.

    :param corpus: the folder of reports (default ``./corpus``).
    :param index: the index folder (default ``./index``).
    :param corpus_prefix: how citations name the corpus folder (``Settings.corpus_prefix``
        from :func:`kb.config.resolve`); default: relative to the working directory
        when the corpus is inside it, else absolute.

    **Threads.**  One KnowledgeBase can serve the threads of a web server at once:
    every method may be called from any thread, concurrently, while an update runs
    (here, in another thread or another process).  Each call takes the current
    generation (an open :class:`kb.store.Generation`) under a short lock and
    holds it (a count of users) until it returns, so the whole answer comes from
    one version of the index.  When a call finds that version out of date (an
    update committed), it opens the newest (one thread opens, the others wait for
    it) and the next calls use that: no restart.  The replaced generation is closed
    when the last call using it returns, never under a running search.  The
    engine reader itself is shared by the threads without a lock: kb's Whoosh
    reader reads its files through memory maps with a read position per thread
    (:mod:`kb.engine.sharedfile`; Whoosh's own file objects are not safe to share)
    and its caches fill the same values whichever thread comes first.
    """

    def __init__(self, corpus: str | os.PathLike[str] = "corpus",
                 index: str | os.PathLike[str] = "index", *,
                 corpus_prefix: str | None = None) -> None:
        self.corpus = Path(corpus).absolute()
        self.index = Path(index).absolute()
        self.corpus_prefix = corpus_prefix
        self._held: _Held | None = None  #: the current generation
        self._lock = threading.Lock()  #: guards _held, the users counts, binding
        self._opening = threading.Lock()  #: one thread opens (or checks) a generation
        #: how the corpus folder matched the corpus the open index records
        self.binding: _store.Binding | None = None

    def _prefix(self) -> str:
        if self.corpus_prefix is not None:
            return self.corpus_prefix
        return display_prefix(self.corpus)

    # -- index --------------------------------------------------------------

    def update(self, rebuild: bool = False,
               progress: _index.Progress | None = None) -> IndexReport:
        """Bring the index in step with the corpus; returns what changed.

        Calls in other threads keep reading the generation they hold meanwhile; the
        next call after the update reads the new one (an update that fails leaves the
        index as it was)."""
        report = _index.update(self.index, self.corpus, rebuild=rebuild, progress=progress)
        self._changed()
        return report

    def has_index(self) -> bool:
        return _store.read_marker(self.index) is not None

    def last_updated(self) -> float | None:
        """When the index last changed (the time ``kb status`` shows as updated), read
        from the end of the file table; None when there is no index (a POSIX time).

        :raises CorpusNotFound, CorpusMismatch: as :meth:`search`.
        """
        try:
            with self._using() as gen:
                try:
                    return _store.table_updated(gen) or None
                except OSError:  # a writer replaced that version since: read the newest
                    pass
            with self._using_table() as (_, table):
                return table.updated or None
        except IndexMissing:
            return None

    def close(self) -> None:
        """Release the open generation (at once, or when the calls using it in other
        threads return); a later call opens the index again."""
        self._changed()

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the open generation, shared by threads ---------------------------------

    @property
    def _gen(self) -> _store.Generation | None:
        h = self._held
        return None if h is None else h.gen

    def _changed(self) -> None:
        """The index changed (or is being closed): the current generation is retired."""
        with self._lock:
            h = self._held
            close = h is not None and self._retire_locked(h)
        if close:
            h.gen.close()  # type: ignore[union-attr]

    def _retire_locked(self, h: _Held) -> bool:
        """Retire ``h`` (lock held); True when the caller must close it now (unused)."""
        if self._held is h:
            self._held = None
            self.binding = None
        h.retired = True
        if h.users == 0 and not h.closed:
            h.closed = True
            return True
        return False

    def _release(self, h: _Held) -> None:
        with self._lock:
            h.users -= 1
            close = h.retired and h.users == 0 and not h.closed
            if close:
                h.closed = True
        if close:
            h.gen.close()

    def _acquire(self, bind: bool = True, ranker: bool = False) -> _Held:
        """The current generation for one call (its users counted: :meth:`_release` it).

        Opens the newest generation when there is none, or the current one is out
        of date (an update committed) or not ready for ``ranker``; with ``bind``,
        only if the corpus folder is the one the index was built from (else the
        error says so; see :meth:`_bind`)."""
        while True:
            with self._lock:
                h = self._held
                if h is not None:
                    h.users += 1
            if h is not None:
                try:
                    eng = h.gen.engine
                    fresh = (eng.ranks or not ranker) and eng.up_to_date()
                except BaseException:
                    self._release(h)
                    raise
                if fresh:
                    break
                self._release(h)
            with self._opening:
                if self._held is not h:
                    continue  # another thread opened a newer one meanwhile
                h = self._open_newest(ranker or (h is not None and h.gen.engine.ranks),
                                      bind)
                break
        if bind and h.binding is None:
            try:
                self._bind(h)
            except BaseException:
                self._release(h)
                raise
        return h

    def _open_newest(self, ranker: bool, bind: bool) -> _Held:
        """Open the current generation of the index and make it the one calls use
        (``self._opening`` held); returned with this call counted as a user."""
        try:
            gen = _store.open_generation(self.index, load_table=False, ranker=ranker)
        except IndexMissing:
            if bind:  # "run `kb index`" is no advice without a corpus folder
                _store.require_corpus(self.corpus)
            raise
        new = _Held(gen)
        new.users = 1
        with self._lock:
            old = self._held
            close = old is not None and self._retire_locked(old)
            self._held = new
        if close:
            old.gen.close()  # type: ignore[union-attr]
        return new

    @contextmanager
    def _using(self, bind: bool = True, ranker: bool = False) -> Iterator[_store.Generation]:
        """The current generation, held for the ``with`` block (see :meth:`_acquire`).
        A failure to read it is reported as damage, or raised as the bug it is
        (:meth:`_read_failed`)."""
        from .engine import ReadFailed

        h = self._acquire(bind, ranker)
        try:
            yield h.gen
        except ReadFailed as e:
            self._read_failed(h.gen, e)
        finally:
            self._release(h)

    def _read_failed(self, gen: _store.Generation, e: Any) -> None:
        """Raise what a :class:`~kb.engine.ReadFailed` of ``gen`` is: the damaged-index
        error when its checksums (or the kind of error) say a file is damaged, else
        the engine's error itself (a bug in kb)."""
        from .integrity import damage

        found = damage(self.index, gen.dir, gen.version, e.error, e.certain)
        if found is not None:
            raise found from e.error
        raise e.error

    def _acquire_table(self, bind: bool = True) -> tuple[_Held, _store.FileTable]:
        """:meth:`_acquire` with the generation's file table (read now if not read yet).

        :raises IndexCorrupt: the file table is damaged, or gone from the newest version."""
        h = self._acquire(bind)
        try:
            return h, h.gen.table
        except OSError:  # a writer replaced the generation since it was opened
            with self._lock:
                close = self._retire_locked(h)
            assert not close  # this call still uses it
            self._release(h)
        except BaseException:
            self._release(h)
            raise
        h = self._acquire(bind)
        try:
            return h, h.gen.table
        except OSError as e:  # the newest version has no file table: damaged
            from .integrity import damage, damaged, describe

            self._release(h)
            gen = h.gen
            found = damage(self.index, gen.dir, gen.version, e, certain=True)
            raise (found or damaged(self.index, f"{gen.dir.name}/{gen.table_path().name}: "
                                    f"{describe(e)}")) from None
        except BaseException:
            self._release(h)
            raise

    @contextmanager
    def _using_table(self, bind: bool = True
                     ) -> Iterator[tuple[_store.Generation, _store.FileTable]]:
        from .engine import ReadFailed

        h, table = self._acquire_table(bind)
        try:
            yield h.gen, table
        except ReadFailed as e:
            self._read_failed(h.gen, e)
        finally:
            self._release(h)

    def _open(self, bind: bool = True, ranker: bool = False) -> _store.Generation:
        """The current generation, not held (for a caller in one thread: a call in
        another thread may close it once an update replaced it)."""
        h = self._acquire(bind, ranker)
        self._release(h)
        return h.gen

    def _open_table(self) -> tuple[_store.Generation, _store.FileTable]:
        """The current generation and its file table, not held (as :meth:`_open`)."""
        h, table = self._acquire_table()
        self._release(h)
        return h.gen, table

    def _bind(self, h: _Held) -> None:
        """Check the corpus folder against the index (:func:`kb.store.check_corpus`);
        a corpus moved with its index, or an older kb's index, records its folder
        when the index can be written now (else it is simply checked each time).
        Once per generation (a failed check is made again by the next call)."""
        with self._opening:
            if h.binding is not None:
                return
            gen = h.gen
            b = _store.check_corpus(self.index, gen.marker, self.corpus, lambda: gen.table)
            if b.rerecord:
                rec = _store.record_corpus(self.index, self.corpus)
                if rec is not None:
                    b = _store.Binding(rec["path"], rec["id"], same_path=True)
            h.binding = b
            with self._lock:
                if self._held is h:
                    self.binding = b

    # -- queries -------------------------------------------------------------

    def search(self, query: str, limit: int | None = 10, offset: int = 0, *,
               doc: str | None = None, section: str | None = None,
               since: dt.date | None = None, until: dt.date | None = None,
               group: bool = False, correct: bool = True, dedup: bool = True,
               facets: int = 0, partial: bool = True,
               scoring: Scoring | None = None, budget: Budget | None = None) -> SearchResult:
        """Ranked passages for ``query``.  ``limit=None`` returns every match.

        Identical passages (the same words in several files, :mod:`kb.dedup`) are
        one hit listing the others' citations in ``Hit.also_in``; ``total`` counts
        distinct texts.  ``dedup=False``: every passage on its own.

        A passage **matches** when its own text or section heading holds every
        concept of the query (a word with its variants, or a phrase); ``total``
        counts them.  With ``partial`` (the default) the ranking goes on with the
        passages holding some of the concepts, most first (``Hit.match ==
        "partial"``; ``result.partial`` counts them); ``partial=False``: full
        matches only (what an export of a query holds).

        ``doc`` is a path pattern (:func:`kb.query.doc_pattern`).  A query word the
        index does not hold is replaced by the word clearly meant, and
        ``corrected_query`` says so (``correct=False``: never; ``suggestion``
        names it instead).  ``scoring``: BM25F's weights, K1 and B
        (:class:`kb.models.Scoring`; kb's own by default).  ``budget``: how long the
        search may run and whether its client went away (:class:`kb.models.Budget`).

        ``facets=N``: ``result.facets`` counts every full match by document (the N
        with the most) and by year; a text held by several files counts once, for
        the file whose passage stands for it in the results, so the counts add up
        to ``total``."""
        from .search import Filters, search

        with self._using(ranker=True) as gen:
            return search(gen.engine, query, limit=limit, offset=offset,
                          filters=Filters(doc=doc, section=section, since=since, until=until),
                          group=group, path_prefix=self._prefix(), correct=correct,
                          dedup=dedup, facets=facets, partial=partial, scoring=scoring,
                          budget=budget)

    def query_terms(self, query: str) -> tuple[str, ...]:
        """The index terms ``query`` matches now, taken as written (no spelling
        correction): :attr:`SearchResult.terms`, the words a search marks in bold (the
        query's words with their variants, what its wildcards and close spellings find):
        what an annex marks for a query it did not run (``kb export --from``, passages
        the web page's annex panel picked from a search).

        :raises QueryError: as :meth:`search`.
        """
        return self.search(query, limit=1, correct=False, partial=False).terms

    def passage(self, passage_id: str) -> Passage:
        """The passage with this id (``<doc id>#<n>``)."""
        with self._using() as gen:
            return self._passage(gen, passage_id)

    @staticmethod
    def _passage(gen: _store.Generation, passage_id: str) -> Passage:
        p = gen.engine.passage(passage_id)
        if p is None:
            raise PassageNotFound(
                f"no passage {passage_id!r}; ids look like 'report.txt#3' "
                "(see `kb search ... --format json`)"
            )
        return p

    def context(self, passage_id: str, n: int = 1) -> list[Passage]:
        """The passage and up to ``n`` passages before and after it, in order."""
        with self._using() as gen:
            p = self._passage(gen, passage_id)
            out = []
            for k in range(p.ordinal - n, p.ordinal + n + 1):
                if k < 1:
                    continue
                if k == p.ordinal:
                    out.append(p)
                    continue
                q = gen.engine.passage(f"{p.doc}#{k}")
                if q is not None:
                    out.append(q)
            return out

    # -- references (kb show, kb export --ids / --from) ------------------------

    def _resolver(self, gen: _store.Generation) -> Any:
        from .refs import Resolver

        return Resolver(gen.engine, self._prefix(), self.corpus)

    def resolve(self, ref: str) -> Passage:
        """The passage a reference names: a short ref (``29ktg6``), a passage id
        (``report.txt#21``) or a citation as kb prints it (``corpus/report.txt:72``,
        ``report.pdf p. 7 ¶ 20``, ``S/RES/2771 (2025) ¶ 20``); see :mod:`kb.refs`.
        A citation of several passages (a long paragraph split in two, a page)
        gives the first; :meth:`resolve_all` gives them all.

        :raises PassageNotFound: nothing has that reference (the message names the
            closest match).
        :raises AmbiguousReference: it names passages in several places.
        """
        return self.resolve_all(ref)[0]

    def resolve_all(self, ref: str) -> list[Passage]:
        """Every passage a reference names, in order (consecutive passages of one document)."""
        with self._using() as gen:
            return self._resolver(gen).resolve(ref)  # type: ignore[no-any-return]

    def show(self, refs: list[str] | tuple[str, ...], context: int = 0,
             allow_changed: bool = False) -> Shown:
        """``kb show``: the passages the references name, and with ``context`` up to
        that many passages before and after each, in order, each passage once.

        A reference pinned to the text it named (``report.txt#21@29ktg6``, see
        :mod:`kb.refs`) whose text moved names it where it is now (:attr:`Shown.notes`
        says so); one whose text changed stops everything (:class:`ReferenceChanged`),
        unless ``allow_changed``: then what stands there now is shown, marked."""
        named: list[Passage] = []
        shown: list[Passage] = []
        seen: set[str] = set()
        with self._using() as gen:
            res = self._resolver(gen)
            checked = self._checked(res, refs, allow_changed)
            for c in checked:
                run = list(c.passages)
                if not run:
                    continue
                named += [p for p in run if p.id not in {q.id for q in named}]  # a few at most
                doc = res._passages(run[0].doc)
                lo, hi = run[0].ordinal - context, run[-1].ordinal + context
                for p in doc:
                    if lo <= p.ordinal <= hi and p.id not in seen:
                        seen.add(p.id)
                        shown.append(p)
        return Shown(named=named, passages=shown, notes=self._moved_notes(checked),
                     changed={p.id: c.changed for c in checked if c.changed
                              for p in c.passages})

    def _checked(self, res: Any, refs: list[str] | tuple[str, ...] | list[tuple[str, str | None,
                 str]], allow_changed: bool) -> list[Any]:
        """The references resolved and checked (:meth:`kb.refs.Resolver.resolve_many`);
        changed ones refused unless ``allow_changed`` (then kept, with what stands there
        now, or dropped when nothing does)."""
        from .refs import ReferenceChanged

        checked = res.resolve_many(list(refs))
        changed = [c for c in checked if c.changed]
        if changed and not allow_changed:
            raise ReferenceChanged(changed, self._prefix())
        return checked

    def _moved_notes(self, checked: list[Any]) -> list[str]:
        from .models import citation

        prefix = self._prefix()
        out = []
        for c in checked:
            if c.moved:
                p = c.passages[0]
                out.append(f"{c.reference}: its text is now at {p.id} ("
                           f"{citation(p.doc, p.line_start, p.line_end, p.page, p.paragraph, prefix)})")
        return out

    def chosen(self, refs: list[str] | tuple[str, ...], allow_changed: bool = False
               ) -> SearchResult:
        """``kb export --ids``: the passages the references name, as hits ranked 1..n in
        the order given (each passage once, with the other files holding its text in
        ``also_in``); no query, the filter "chosen passages".  Pinned references are
        checked as :meth:`show` checks them; moved ones are exported where they are
        now (``SearchResult.notes`` says so).

        :raises PassageNotFound, AmbiguousReference, ReferenceChanged: as :meth:`show`,
            before anything is returned.
        """
        import time

        t0 = time.perf_counter()
        with self._using() as gen:
            res = self._resolver(gen)
            checked = self._checked(res, refs, allow_changed)
            return self._selection(gen, checked, [0.0] * len(checked), "", None,
                                   ("chosen passages",), t0)

    def from_results(self, source: str | os.PathLike[str], text: str | None = None,
                     allow_changed: bool = False) -> SearchResult:
        """``kb export --from FILE``: the hits of a saved ``kb search --format json`` (or
        ``kb export --format json``, or ``jsonl``), perhaps edited by hand (hits deleted
        or reordered), each found again by its ``id`` (else its ``ref``, else its
        ``citation``) and checked against what it named (its ``fingerprint``, else its
        saved ``text``), ranked 1..n in the file's order, with the saved query and
        filters.  ``text``: the file's content, already read (``source`` then only names it).

        :raises KbError: the file cannot be read, is not kb's JSON, or a hit has no id;
        :raises PassageNotFound: an id (ref, citation) in it names no passage and its
            text is nowhere;
        :raises ReferenceChanged: saved hits whose text changed (unless ``allow_changed``).
        """
        import time

        from .refs import ReferenceChanged, saved_hits

        t0 = time.perf_counter()
        name = os.fspath(source)
        if text is None:
            try:
                text = Path(source).read_text(encoding="utf-8-sig")
            except UnicodeDecodeError:
                text = "\ufffd"  # not text: reported as not kb's JSON below
            except OSError as e:
                raise KbError(f"cannot read {name}: {e.strerror or e}") from None
        saved = saved_hits(text, name)
        checked, scores = [], []
        with self._using() as gen:
            res = self._resolver(gen)
            for key, score, pin, picked in saved.hits:
                if pin is None:
                    try:
                        checked += res.resolve_many([key])
                    except PassageNotFound as e:
                        raise PassageNotFound(f"{name}: {e}") from None
                else:
                    base = key.rpartition("@")[0] if "@" in key else key
                    checked.append(res.check(base, pin, picked or None))
                scores.append(score)
            changed = [c for c in checked if c.changed]
            if changed and not allow_changed:
                raise ReferenceChanged(changed, self._prefix())
            return self._selection(gen, checked, scores, saved.query, saved.corrected_query,
                                   saved.filters, t0)

    def _selection(self, gen: _store.Generation, checked: list[Any], scores: list[float],
                   query: str, corrected: str | None, filters: tuple[str, ...],
                   t0: float) -> SearchResult:
        import dataclasses
        import time

        from .search import passage_hit

        prefix = self._prefix()
        hits: list[Hit] = []
        seen: set[str] = set()
        for c, score in zip(checked, scores):
            for p in c.passages:
                if p.id in seen:
                    continue
                seen.add(p.id)
                hits.append(dataclasses.replace(
                    passage_hit(p, prefix, gen.engine.also(p)), rank=len(hits) + 1,
                    score=score, changed=c.changed))
        return SearchResult(query=query, total=len(hits), hits=tuple(hits),
                            elapsed=time.perf_counter() - t0, corrected_query=corrected,
                            filters=filters, notes=tuple(self._moved_notes(checked)))

    def passages(self) -> list[Passage]:
        """Every passage, in document order."""
        with self._using() as gen:
            out = list(gen.engine.passages())
        out.sort(key=lambda p: (p.doc, p.ordinal))
        return out

    def verify(self, annex: str | os.PathLike[str], fmt: str | None = None) -> Any:
        """``kb verify``: every passage an annex kb wrote quotes, checked against the
        folder as it is now (:func:`kb.verify.verify`): a :class:`kb.verify.Report`.

        :raises KbError: the file is no annex kb wrote, is damaged, or cites none of
            this folder's documents.
        """
        from .verify import read_annex, verify

        annexed, unread = read_annex(Path(annex), fmt)
        with self._using() as gen:
            report = verify(annexed, self._resolver(gen), self._prefix())
        report.unread = unread
        return report

    def hit_for(self, p: Passage) -> Hit:
        """A passage as a hit (no query), with the other files holding its text."""
        from .search import passage_hit

        with self._using() as gen:
            return passage_hit(p, self._prefix(), gen.engine.also(p))

    def documents(self) -> list[DocumentInfo]:
        """The indexed documents, by id; a file with exactly the same content (bytes)
        as another names the first of them by id in ``duplicate_of``."""
        with self._using_table() as (_, table):
            prefix = self._prefix()
            first = _first_copies(table)
            return [
                DocumentInfo(id=k, title=e.title, date=e.date, format=e.format,
                             passages=e.passages, path=prefix + k, symbol=e.symbol,
                             duplicate_of=first.get(k))
                for k, e in sorted(table.files.items())
            ]

    def undated(self) -> list[tuple[DocumentInfo, str]]:
        """The indexed documents without a date, each with why in one line (the file is
        read again: :attr:`kb.models.Document.date_note`, e.g. "no date written in the
        text"; or that it changed or cannot be read since the last update)."""
        out = []
        for d in self.documents():
            if d.date is None:
                out.append((d, undated_reason(self.corpus, d.id, d.format)))
        return out

    def staleness(self) -> Staleness:
        """Files new, changed (by content) or deleted since the last update."""
        with self._using_table() as (_, table):  # the corpus folder is checked there
            return self._staleness(table)

    def _staleness(self, table: _store.FileTable) -> Staleness:
        from .corpus import walk

        files = walk(self.corpus).files
        p = _store.plan(files, table)
        # files the last update could not index are reported as skipped, not as new
        failed = {s.id for s in table.skipped}
        return Staleness(new=[f.id for f in p.add if f.id not in failed],
                         changed=[f.id for f in p.change], deleted=p.remove)

    def quick_staleness(self) -> Staleness:
        """What ``kb search`` checks before searching, in a few milliseconds at any size.

        Up to about :data:`QUICK_CHECK_MAX_FILES` files this is :meth:`staleness`
        (every file's size and mtime).  In a larger corpus, stating every file and
        reading the whole file table would cost more than the search itself, so
        only folders are checked: a folder modified since the last update had
        files added, removed or renamed (:attr:`Staleness.folders`).  Files edited
        in place are then not noticed here; ``kb status`` and ``kb index`` always
        check every file.
        """
        with self._using() as gen:
            if self._small_table(gen):
                return self.staleness()
            try:
                since = _store.table_updated(gen)
            except OSError:
                return self.staleness()
        from .corpus import changed_folders

        return Staleness(folders=changed_folders(self.corpus, since))

    def prepare(self, update: bool = True, *, progress: _index.Progress | None = None,
                before_build: Callable[[], None] | None = None) -> Refresh:
        """Before a search (the policy of ``kb search`` and ``kb export``): build the
        index when there is none, or rebuild it when an older kb built it (or with
        other analysis settings, :meth:`outdated` says why): ``before_build()`` is
        called first, then the build reports ``progress``; :attr:`Refresh.action` is
        ``"built"``.  Else :meth:`refresh` it (``update``: when that is cheap).  An
        index of a newer kb is left alone (the search then says so).

        :raises CorpusNotFound: no index and no corpus folder to build it from.
        """
        marker = _store.read_marker(self.index)
        if marker is None or _store.rebuild_reason(marker):
            _store.require_corpus(self.corpus)
            if before_build is not None:
                before_build()
            report = self.update(progress=progress)  # an older kb's index: rebuilt
            return Refresh(Staleness(), "built", report=report)
        return self.refresh(update=update, progress=progress)

    def outdated(self) -> str:
        """Why the index must be rebuilt before it can be searched (built by an older
        kb, or with other analysis settings), else "" (also for an index of a newer
        kb, which is refused, never rebuilt, and for no index)."""
        marker = _store.read_marker(self.index)
        return _store.rebuild_reason(marker) if marker is not None else ""

    def export_passages(self, limit: int | None = None, offset: int = 0, *,
                        doc: str | None = None, section: str | None = None,
                        since: dt.date | None = None, until: dt.date | None = None
                        ) -> SearchResult:
        """Every passage that passes the filters (the rules of :meth:`search`), in
        document order, as hits with no query (``kb export`` without a query).
        Identical passages are one, as in :meth:`search`: the first by document id,
        the others' citations in ``also_in``."""
        import time

        from .engine import SearchRequest
        from .query import ParsedQuery
        from .search import Filters, describe_filters, passage_hit

        t0 = time.perf_counter()
        filters = Filters(doc=doc, section=section, since=since, until=until)
        with self._using(ranker=True) as gen:
            ranking = gen.engine.search(SearchRequest(ParsedQuery("", "", None), filters, 0,
                                                      None))
        ranked = sorted(ranking.ranked, key=lambda r: (r.passage.doc, r.passage.ordinal))
        page = ranked[offset:offset + limit if limit else None]
        prefix = self._prefix()
        return SearchResult(query="", total=len(ranked),
                            hits=tuple(passage_hit(r.passage, prefix, r.also) for r in page),
                            offset=offset,
                            elapsed=time.perf_counter() - t0, filters=describe_filters(filters))

    def refresh(self, update: bool = True, *, max_files: int = AUTO_UPDATE_MAX_FILES,
                max_bytes: int = AUTO_UPDATE_MAX_BYTES,
                progress: _index.Progress | None = None) -> Refresh:
        """Before a search: bring the index up to date when that is cheap.

        Finds what changed (as :meth:`quick_staleness` does: in a corpus of more
        than about :data:`QUICK_CHECK_MAX_FILES` files every file is looked at
        only when a folder changed).  With ``update``, the index is updated when
        the update reads at most ``max_files`` new or changed files of at most
        ``max_bytes`` in all (deleted files cost nothing) and the index can be
        written now; otherwise it is left as it is and :attr:`Refresh.action`
        says why.  Never raises for a read-only or locked index.

        :raises IndexMissing, CorpusNotFound, CorpusMismatch: as :meth:`search`.
        """
        with self._using(ranker=True) as gen:  # opened once, for the search that follows
            if not self._small_table(gen):
                from .corpus import changed_folders

                folders = changed_folders(self.corpus, _store.table_updated(gen))
                if not folders:
                    return Refresh(Staleness(), "current")
                if not update:
                    return Refresh(Staleness(folders=folders), "off")
            with self._using_table() as (gen, table):
                out, run = self._refresh_plan(table, update, max_files, max_bytes)
                if not run:
                    return out
                if not (os.access(self.index, os.W_OK) and os.access(gen.dir, os.W_OK)):
                    out.action, out.reason = "read-only", "permission denied"
                    return out
        try:
            out.report = _index.update(self.index, self.corpus, progress=progress,
                                       by_search=True)
        except IndexLocked as e:
            out.action, out.reason = "locked", str(e).split(";")[0]
            return out
        except IndexWriteFailed as e:
            cause = e.__cause__
            out.action = "read-only"
            out.reason = (cause.strerror or str(cause)) if isinstance(cause, OSError) else str(e)
            return out
        self._changed()
        out.action = "updated" if out.stale.count else "current"  # else only mtimes were recorded
        return out

    def _refresh_plan(self, table: _store.FileTable, update: bool, max_files: int,
                      max_bytes: int) -> tuple[Refresh, bool]:
        """What :meth:`refresh` finds, and whether it should update the index."""
        from .corpus import walk

        files = walk(self.corpus).files
        p = _store.plan(files, table, verify=False)
        touched = len(p.change)
        if sum(f.size for f in p.change) <= VERIFY_MAX_BYTES:
            p = _store.plan(files, table)  # hashes the files whose size or mtime changed
        failed = {s.id for s in table.skipped}
        stale = Staleness(new=[f.id for f in p.add if f.id not in failed],
                          changed=[f.id for f in p.change], deleted=p.remove)
        n_files = len(stale.new) + len(stale.changed)
        n_bytes = sum(f.size for f in p.add + p.change)
        out = Refresh(stale, "current", files=n_files, bytes=n_bytes)
        if not stale.count and touched == len(p.change):
            return out, False  # nothing changed (files that failed before are not retried here)
        if not update:
            out.action = "off" if stale.count else "current"
            return out, False
        if n_files > max_files or n_bytes > max_bytes:
            out.action = "too-large"
            return out, False
        return out, True

    def _small_table(self, gen: _store.Generation) -> bool:
        """Is the file table small enough to check every file before each search?"""
        try:
            return gen.table_loaded or \
                os.stat(gen.table_path()).st_size <= QUICK_CHECK_TABLE_BYTES
        except OSError:
            return True

    def check(self) -> Any:
        """``kb status --check``: read every file of the index's current version and
        compare it with the checksums recorded when it was written; returns a
        :class:`kb.integrity.CheckReport` (``sound``, one line per problem).  Needs no
        corpus folder, and never raises for a damaged index: it reports it."""
        from .integrity import check

        return check(self.index)

    def status(self) -> Status:
        """Where things are and what the index holds; never raises for a missing
        corpus or another corpus's index (:attr:`Status.problem` says so)."""
        st = Status(corpus=str(self.corpus), index=str(self.index), exists=False)
        try:
            h, t = self._acquire_table(bind=False)
        except IndexMissing:
            try:
                _store.require_corpus(self.corpus)
            except CorpusNotFound as e:
                st.problem = str(e)
            return st
        except IndexIncompatible as e:  # another kb's index: what its marker says
            marker = _store.read_marker(self.index) or {}
            st.exists = True
            st.schema = marker.get("schema")
            st.generation = marker.get("current")
            st.problem = str(e)
            return st
        try:
            return self._status(st, h, t)
        finally:
            self._release(h)

    def _status(self, st: Status, h: _Held, t: _store.FileTable) -> Status:
        gen = h.gen
        st.exists = True
        st.documents = len(t.files)
        st.passages = sum(e.passages for e in t.files.values())
        st.size_bytes = _store.index_size(self.index)
        st.built, st.updated = t.built, t.updated
        st.schema = gen.marker.get("schema")
        st.generation = gen.marker.get("current")
        st.skipped = list(t.skipped)
        st.duplicates = len(_first_copies(t))
        rec = _store.recorded_corpus(gen.marker)
        st.corpus_recorded, st.corpus_id = (rec["path"], rec.get("id")) if rec else (None, None)
        try:
            self._bind(h)  # checks the corpus folder against the index
        except (CorpusNotFound, CorpusMismatch) as e:
            st.problem = str(e)
            return st
        if h.binding is not None:
            st.corpus_recorded, st.corpus_id = h.binding.recorded, h.binding.corpus_id
        st.stale = self._staleness(t)
        return st


def undated_reason(corpus: Path, doc_id: str, fmt: str) -> str:
    """Why the document ``doc_id`` has no date, in one line, from its file as it is now."""
    from .corpus import open_regular
    from .load import READERS, failure_reason

    try:
        with open_regular(str(corpus / doc_id)) as fh:
            data = fh.read()
        doc = READERS[fmt](data, doc_id, fmt)
    except Exception as e:  # noqa: BLE001 - any failure is the reason
        return f"cannot read the file now: {failure_reason(e)}"
    if doc.date:
        return f"the file changed since the last update (it is now dated {doc.date}): run kb index"
    return doc.date_note or "no date found"
