"""The Whoosh engine: :class:`kb.engine.Engine` over a Whoosh index per generation.

* :class:`WhooshReader` — one Whoosh reader and searcher of exactly one
  version, its lazily opened files opened at once (:func:`_open_lazy_files`),
  and the array ranker (:mod:`kb.engine.ranker`) over it.  A search parses the
  query (:mod:`kb.engine.query`), ranks its tiers with the arrays (or with
  Whoosh's scorer for what the arrays do not evaluate) and returns the page
  as stored passages (:mod:`kb.engine.schema`).
* :class:`WhooshWriter` — kb's segment writer (:mod:`kb.engine.segwriter`);
  a full build with several workers writes one segment per worker
  (:mod:`kb.engine.parallel`) and commits one TOC naming them all.

Whoosh's commit is an atomic rename of its TOC file ``MAIN_<N>.toc``; ``N``
is the version that :mod:`kb.store` names the file table after.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ..errors import KbError
from ..models import Facets, Passage, SourceFile
from . import (
    Added,
    Engine,
    EngineReader,
    EngineWriter,
    OpenFailed,
    Progress,
    Ranked,
    Ranking,
    ReadFailed,
    Seal,
    SearchRequest,
    format_errors,
)
from .schema import document_fields, make_schema, passage_from_stored

_SEARCHED = ("text", "section", "title")
_OWN_FILE = re.compile(r"^(_?MAIN[_.].*|MAIN_WRITELOCK)$")
_TOC = re.compile(r"^_MAIN_(\d+)\.toc$")
#: a file of a segment (Whoosh's own and the ranking arrays), by segment id
_SEGMENT_FILE = re.compile(r"^(MAIN_[0-9a-z]+)[.][A-Za-z0-9_.]+$")
_FORMAT_ERRORS: tuple[type[BaseException], ...] = ()


def whoosh_format_errors() -> tuple[type[BaseException], ...]:
    """What only a damaged Whoosh or ranking-array file raises: Whoosh's "unknown file
    header", its index errors (a TOC of another architecture or version, a byte-order
    check that fails), a part file that cannot be read, and the general ones
    (:func:`kb.engine.format_errors`: struct, zlib, pickle, EOF, UTF-8, JSON)."""
    global _FORMAT_ERRORS
    if not _FORMAT_ERRORS:
        from whoosh.filedb.filetables import FileFormatError
        from whoosh.index import IndexError as WhooshIndexError

        from .rankarrays import PartDamaged

        _FORMAT_ERRORS = format_errors() + (FileFormatError, WhooshIndexError, PartDamaged)
    return _FORMAT_ERRORS


_F = TypeVar("_F", bound=Callable[..., Any])


def _reads(method: _F) -> _F:
    """A reader method whose failures (other than kb's own errors) are reported as
    :class:`~kb.engine.ReadFailed`: the store tells damage from a bug."""
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (KbError, ReadFailed):
            raise
        except Exception as e:  # noqa: BLE001 - handed over whole, never swallowed
            raise ReadFailed(e, isinstance(e, whoosh_format_errors())) from e
    return wrapper  # type: ignore[return-value]


class WhooshEngine(Engine):
    name = "whoosh"

    def create(self, folder: Path, workers: int = 1) -> EngineWriter:
        return WhooshWriter(_create_index(folder), folder, workers)

    def writer(self, folder: Path) -> EngineWriter:
        from whoosh.index import open_dir

        return WhooshWriter(open_dir(str(folder)), folder)

    def open(self, folder: Path, ranker: bool = False, last_try: bool = False) -> EngineReader:
        from whoosh.index import EmptyIndexError, FileIndex

        from .sharedfile import MappedStorage

        ix = reader = None
        try:
            # files mapped, read with a position per thread: one reader serves every
            # thread of a server at once (kb/engine/sharedfile.py)
            ix = FileIndex(MappedStorage(str(folder)), indexname="MAIN")
            reader = ix.reader()
            _open_lazy_files(reader)
            version = reader.generation()
            if version is None:  # an empty index has no versioned reader
                version = ix.latest_generation()
            rk = None
            if ranker:
                from ..models import Scoring
                from .ranker import Ranker

                # arrays missing after every retry: derive them from Whoosh (slow, rare)
                d = Scoring()
                rk = Ranker(reader, str(folder), d.k1, d.b, derive_missing=last_try)
            return WhooshReader(ix, reader, version, rk, ranks=ranker)
        except Exception as e:  # noqa: BLE001 - handed over whole (OpenFailed.error)
            # a writer switched generations or cleaned files under us (the caller
            # retries), or a file is damaged, or a bug: kb.store tells which
            if reader is not None:
                reader.close()
            if ix is not None:
                ix.close()
            what = str(e).splitlines()[0] if str(e) else ""
            if isinstance(e, EmptyIndexError):
                what = "no table of contents (_MAIN_<N>.toc)"
            # what a file cut short or gone raises on opening counts as damage too
            # (a seek before the start, a missing key): it is that when it persists
            raise OpenFailed(what or type(e).__name__, e, isinstance(
                e, whoosh_format_errors() + (OSError, ValueError, KeyError))) from e

    def latest_version(self, folder: Path) -> int | None:
        try:
            names = os.listdir(folder)
        except OSError:
            return None
        found = [int(m.group(1)) for m in map(_TOC.match, names) if m]
        return max(found) if found else None

    def format_errors(self) -> tuple[type[BaseException], ...]:
        return whoosh_format_errors()

    def owns(self, filename: str) -> bool:
        return bool(_OWN_FILE.match(filename))

    def workers_for(self, files: list[SourceFile]) -> int:
        from .parallel import workers_for

        return workers_for(files)


# --------------------------------------------------------------------------
# reading


class WhooshReader(EngineReader):
    """A Whoosh reader and searcher of exactly one version (its files already open)."""

    def __init__(self, ix: Any, reader: Any, version: int, ranker: Any, ranks: bool) -> None:
        from whoosh.searching import Searcher

        from .query import weighting

        self.ix = ix
        self.reader = reader
        self.version = version
        self.ranker = ranker  #: the array ranker (:mod:`kb.engine.ranker`), or None
        self.ranks = ranks
        self.searcher = Searcher(reader, fromindex=ix, weighting=weighting())
        self._doc_names: dict[int, str] | None = None
        self._ident: Any = None
        self._rk: Any = None

    @_reads
    def search(self, request: SearchRequest) -> Ranking:
        from .ranker import rank

        q = request.query
        offset, limit = request.offset, request.limit
        want = None if limit is None or request.group else offset + limit
        out = rank(self._arrays(), q, request.filters, request.scoring, want, request.group,
                   request.dedup, request.facets, request.partial, self._symbol_passages,
                   request.budget)
        ident = self.identical() if request.dedup else None
        page = out.page[offset:] if limit is None else out.page[offset: offset + limit]
        stored = self.searcher.stored_fields
        ranked = tuple(Ranked(passage_from_stored(stored(d)), score, out.more.get(d, 0),
                              self._also(ident, d), missing)
                       for d, score, missing in page)
        return Ranking(ranked, out.total, frozenset(out.terms), self._facets(out.counted),
                       out.partial, out.notes)

    def _symbol_passages(self, value: str, pattern: bool) -> Any:
        """The passages of the documents with this UN symbol (folded, any year), or
        with ``pattern``, whose symbol the ``symbol:`` clause ``value`` matches (in any
        case, with or without its year; ``*`` and ``?`` within the symbol)."""
        import numpy as np

        from ..errors import QueryError
        from ..analysis import query_terms

        reader = self.reader
        if "symbol" not in reader.schema:
            return np.zeros(0, np.int64)
        v = " ".join(value.strip().split())
        if pattern and any(c in v for c in "*?"):
            import fnmatch

            if not v.strip("*?"):
                raise QueryError(f"cannot read symbol:{value}; write symbol:SYMBOL, "
                                 "e.g. symbol:S/RES/2771")
            rx = re.compile(fnmatch.translate(v.split("(")[0].strip().casefold()))
            terms = [t for t in reader.lexicon("symbol") if rx.match(t.decode("utf-8"))]
        else:
            words = query_terms(v.upper()) if pattern else [v.casefold()]
            if not words:
                raise QueryError(f"cannot read symbol:{value}; write symbol:SYMBOL, "
                                 "e.g. symbol:S/RES/2771")
            terms = [w.encode("utf-8") for w in words]
        sets = []
        for t in terms:
            ids = list(reader.postings("symbol", t).all_ids()) if ("symbol", t) in reader else []
            sets.append(set(ids))
        if not sets:
            return np.zeros(0, np.int64)
        found = set.union(*sets) if pattern and any(c in v for c in "*?") else \
            set.intersection(*sets)
        return np.array(sorted(found), np.int64)

    def _facets(self, counted: Any) -> Facets | None:
        """:func:`kb.engine.ranker.facet_counts`'s numbers as a record, with titles."""
        if counted is None:
            return None
        from ..models import DocCount

        listed, documents, years, undated = counted
        stored = self.searcher.stored_fields
        docs = []
        for d, n in listed:
            p = passage_from_stored(stored(d))
            docs.append(DocCount(p.doc, p.title, n))
        return Facets(tuple(docs), documents, tuple((f"{y:04d}", n) for y, n in years), undated)

    def _arrays(self) -> Any:
        """The array ranker's view of this reader (built for this when Whoosh ranks)."""
        if self.ranker is not None:
            return self.ranker
        if self._rk is None:
            from ..models import Scoring
            from .ranker import Ranker

            d = Scoring()
            self._rk = Ranker(self.reader, self.ix.storage.folder, d.k1, d.b)
        return self._rk

    @_reads
    def identical(self) -> Any:
        """The groups of identical passages (:class:`kb.engine.identical.Identical`),
        from the ranking arrays (read for this when Whoosh's scorer ranks), or None
        when the index holds no two identical passages."""
        if self._ident is None:
            self._ident = self._arrays().identical()
        return self._ident if self._ident.ngroups else None

    def _also(self, ident: Any, d: int) -> tuple[Passage, ...]:
        """The other passages holding passage ``d``'s text, by document and place."""
        if ident is None:
            return ()
        stored = self.searcher.stored_fields
        out = [passage_from_stored(stored(m)) for m in ident.members(d).tolist() if m != d]
        out.sort(key=lambda p: (p.doc, p.ordinal))
        return tuple(out)

    @_reads
    def passage(self, passage_id: str) -> Passage | None:
        stored = self.searcher.document(id=passage_id)
        return None if stored is None else passage_from_stored(stored)

    def passages(self) -> Iterator[Passage]:
        it = iter(self.searcher.all_stored_fields())
        while True:
            try:
                p = passage_from_stored(next(it))
            except StopIteration:
                return
            except KbError:
                raise
            except Exception as e:  # noqa: BLE001 - as @_reads
                raise ReadFailed(e, isinstance(e, whoosh_format_errors())) from e
            yield p

    @_reads
    def by_ref(self, ref: str) -> list[Passage]:
        found = [passage_from_stored(s) for s in self.searcher.documents(ref=ref)]
        return sorted(found, key=lambda p: p.id)

    @_reads
    def document_passages(self, doc_id: str) -> list[Passage]:
        found = [passage_from_stored(s) for s in self.searcher.documents(doc=doc_id)]
        return sorted(found, key=lambda p: p.ordinal)

    @_reads
    def symbol_documents(self, symbol: str) -> list[str]:
        from whoosh.query import And, Term

        schema = self.searcher.schema
        if "symbol" not in schema:
            return []
        field = schema["symbol"]
        # the symbol's terms as the field indexes them, whatever its analysis
        # (UN symbols are written in capitals: ``s/res/2771`` is looked up as ``S/RES/2771``)
        terms = sorted({t for t in field.process_text(symbol.upper(), mode="query")
                        if isinstance(t, str)})
        if not terms:
            return []
        docs: set[str] = set()
        for d in self.searcher.docs_for_query(And([Term("symbol", t) for t in terms])):
            docs.add(self.searcher.stored_fields(d)["doc"])
        return sorted(docs)

    @_reads
    def document_ids(self) -> list[str]:
        reader = self.reader
        live = reader.has_deletions()
        return sorted(t.decode("utf-8") for t in reader.lexicon("doc")
                      if not live or reader.postings("doc", t).is_active())

    @_reads
    def has_term(self, term: str) -> bool:
        from .query import lexicon_cache

        known = lexicon_cache(self.reader)
        for f in _SEARCHED:
            v = known.get((f, term))
            if v is None:
                v = known[(f, term)] = (f, term) in self.reader
            if v:
                return True
        return False

    @_reads
    def has_symbol(self, term: str) -> bool:
        from .query import lexicon_cache

        known = lexicon_cache(self.reader)
        v = known.get(("symbol", term))
        if v is None:
            v = known[("symbol", term)] = ("symbol", term) in self.reader
        return v

    @_reads
    def near_words(self, word: str, maxdist: int) -> list[tuple[str, str, int]]:
        return self._arrays().near_words(word, maxdist)  # type: ignore[no-any-return]

    @_reads
    def frequency(self, term: str) -> int:
        return self._arrays().frequency(term)  # type: ignore[no-any-return]

    @_reads
    def read_all(self) -> tuple[int, int]:
        """Every stored passage, every posting of every term, every field length and
        every ranking array, read (slow: one posting at a time)."""
        import numpy as np

        reader = self.reader
        for leaf, _base in reader.leaf_readers():
            schema = leaf.schema
            for d in range(leaf.doc_count_all()):
                leaf.stored_fields(d)
                for name in schema.scorable_names():
                    leaf.doc_field_length(d, name)
            for name in schema.names():
                if not schema[name].indexed:
                    continue
                for term in leaf.lexicon(name):
                    m = leaf.postings(name, term)
                    while m.is_active():
                        m.value()
                        m.next()
        for part, _base in self._arrays().parts:
            for a in part.a.values():
                np.asarray(a).tobytes()
        folder = self.ix.storage.folder
        names = [n for n in os.listdir(folder) if _OWN_FILE.match(n)]
        return len(names), sum(os.path.getsize(os.path.join(folder, n)) for n in names)

    def up_to_date(self) -> bool:
        return bool(self.searcher.up_to_date())

    def close(self) -> None:
        """Release the files (unmapped now: never while a search uses this reader,
        which :class:`kb.KnowledgeBase` ensures) and the arrays."""
        self.searcher.close()  # closes the reader
        self.ix.close()
        self.ranker = None  # its arrays map the ranking-array files: unmapped when freed
        self._ident = None
        self._doc_names = None


def _files_of(segments: list[Any], names: list[str]) -> list[str]:
    """The files among ``names`` that belong to ``segments`` (Whoosh's files and the
    ranking arrays; a temporary file being written is not one)."""
    ids = {seg.segment_id() for seg in segments}
    return sorted(n for n in names if not n.endswith(".tmp")
                  and (m := _SEGMENT_FILE.match(n)) is not None and m.group(1) in ids)


def _version_paths(folder: Path, toc_tmp: str, toc_name: str,
                   segments: list[Any]) -> dict[str, str]:
    """Every file of the version a commit is about to make visible: ``{name: path}``,
    the TOC under its temporary name (see :meth:`WhooshWriter.commit`)."""
    out = {n: os.path.join(folder, n) for n in _files_of(segments, os.listdir(folder))}
    out[toc_name] = os.path.join(folder, toc_tmp)
    return out


def _open_lazy_files(reader: Any) -> None:
    """Open the column files Whoosh would open on first use, now.

    Whoosh opens a segment's stored-fields and field-length columns lazily.
    A writer may delete a merged segment's files, or a whole replaced
    generation folder, at any moment; a file that is already open survives
    its deletion, one opened later would not (stored fields would come back
    as ``None``, field lengths silently as 0).  So a reader holds every file
    from the start, or fails here, where :func:`kb.store.open_generation` retries.
    """
    from whoosh.codec.whoosh3 import LENGTHS_COLUMN, STORED_COLUMN, _lenfield

    for leaf, _base in reader.leaf_readers():
        perdoc = getattr(leaf, "_perdoc", None)
        if perdoc is None or not leaf.doc_count_all():
            continue
        if perdoc._cached_reader("_stored", STORED_COLUMN) is None:
            raise FileNotFoundError("a segment's stored fields vanished")
        for name in leaf.schema.scorable_names():
            if leaf.field_length(name) and \
                    perdoc._cached_reader(_lenfield(name), LENGTHS_COLUMN) is None:
                raise FileNotFoundError("a segment's field lengths vanished")


# --------------------------------------------------------------------------
# writing


def _create_index(gen_dir: Path) -> Any:
    """Whoosh's ``create_in``, closing the table of contents it leaves open when
    writing it fails (see :func:`kb.engine.segwriter.track_files`)."""
    from whoosh.filedb.filestore import FileStorage
    from whoosh.index import FileIndex

    from .segwriter import close_files, track_files, untrack_files

    storage = FileStorage(str(gen_dir))
    opened: list[Any] = []
    track_files(storage, opened)
    try:
        return FileIndex.create(storage, make_schema(), "MAIN")
    except BaseException:
        close_files(opened)
        raise
    finally:
        untrack_files(storage)


class WhooshWriter(EngineWriter):
    """kb's Whoosh segment writer over one generation; with ``workers`` > 1,
    :meth:`add_files` loads and writes in worker processes."""

    def __init__(self, ix: Any, folder: Path, workers: int = 1) -> None:
        # No Whoosh WRITELOCK: kb.lock (held for the whole update) already keeps
        # writers out, and Whoosh leaks its lock when the writer's constructor
        # fails (a full disk), blocking every later writer in this process.
        from .segwriter import KbSegmentWriter  # Whoosh's SegmentWriter, leaner (same files)

        self.ix = ix
        self.folder = folder
        self.workers = workers
        self._par: Any = None
        self._closed = False
        try:
            self.w = KbSegmentWriter(ix, limitmb=256, compound=False, _lk=False)
        except BaseException:
            ix.close()
            raise

    def add(self, passages: Sequence[Passage]) -> None:
        add = self.w.add_document
        for fields in document_fields(passages):
            add(**fields)

    def delete_document(self, doc_id: str) -> None:
        self.w.delete_by_term("doc", doc_id)

    def add_files(self, files: list[SourceFile], progress: Progress | None = None
                  ) -> Iterator[tuple[SourceFile, Added | None, str | None]]:
        if self.workers <= 1:
            yield from super().add_files(files, progress)
            return
        from . import parallel

        # workers load the files and write the segments (kb/engine/parallel.py)
        self._par = parallel.ParallelLoad(str(self.folder), files, self.workers)
        done = 0
        for f, summary, reason in self._par:
            done += 1
            if progress:
                progress(done, len(files), f.id)
            yield f, None if summary is None else Added(*summary), reason

    def next_version(self) -> int:
        return int(self.ix.latest_generation()) + 1

    def commit(self, seal: Seal | None = None) -> None:
        if seal is not None:
            folder = self.folder
            self.w.seal = lambda toc_tmp, toc_name, segments: seal(
                _version_paths(folder, toc_tmp, toc_name, segments))
        try:
            if self._par is not None:
                from . import parallel

                parallel.commit(self.w, self._par.segments)
                self._par.close()
                self._par = None
            else:
                self.w.commit(mergetype=tiered_merge)
        except BaseException:
            self.cancel()
            raise
        self._closed = True
        self.ix.close()

    def cancel(self) -> None:
        # Whoosh's ``cancel`` raises on a writer whose failed ``commit`` already
        # closed it: ``abandon`` never masks the error that stopped it
        if self._par is not None:
            self._par.close()  # stop the workers before their folder is removed
            self._par = None
        if not self._closed:
            self._closed = True
            self.w.abandon()
            self.ix.close()


#: :func:`tiered_merge`: segments whose live passages are within a factor of this of
#: each other are one tier; a tier this full is merged into one segment
MERGE_FACTOR = 3
#: an update never merges more live passages than this at once (Whoosh merges posting
#: by posting, about 0.3 s per 1,000 passages here): larger segments stay as they are
MERGE_MAX_PASSAGES = 12_000


def tiered_merge(writer: Any, segments: list[Any]) -> list[Any]:
    """Whoosh merge policy for incremental updates: size-tiered.

    Segments are grouped by the size of their live part (tiers of powers of
    :data:`MERGE_FACTOR`); a tier holding :data:`MERGE_FACTOR` segments is merged
    into one (which then belongs to a higher tier), and a segment that is more than
    half deleted is rewritten.  Each passage is so merged about once per tier, and
    an index holds at most ``MERGE_FACTOR - 1`` segments per tier: a handful,
    whatever the number of updates (Whoosh's default policy let 22 accumulate over
    50 updates of 1-200 files at 200k passages).  A merge never takes more than
    :data:`MERGE_MAX_PASSAGES` live passages, so that a small update never pays
    for merging large segments (Whoosh's policy once took 19 s for a one-file
    update; a cap on each segment alone still let three merge into 20 s).  The ranking arrays follow every merge (see
    :class:`kb.engine.segwriter.KbSegmentWriter`)."""
    import math

    from whoosh.reading import SegmentReader

    tiers: dict[int, list[Any]] = {}
    merge: list[Any] = []
    for seg in segments:
        total, live = seg.doc_count_all(), seg.doc_count()
        if live > MERGE_MAX_PASSAGES:
            continue
        if total and live * 2 < total:
            merge.append(seg)
            continue
        tiers.setdefault(int(math.log(max(live, 1), MERGE_FACTOR)), []).append(seg)
    for segs in tiers.values():
        if len(segs) >= MERGE_FACTOR and \
                sum(seg.doc_count() for seg in segs) <= MERGE_MAX_PASSAGES:
            merge += segs
    for seg in merge:
        reader = SegmentReader(writer.storage, writer.schema, seg)
        try:
            writer.add_reader(reader)
        finally:
            reader.close()
    return [s for s in segments if s not in merge]
