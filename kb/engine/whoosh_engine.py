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

import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

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
    SearchRequest,
)
from .schema import document_fields, make_schema, passage_from_stored

_SEARCHED = ("text", "section", "title")
_OWN_FILE = re.compile(r"^(_?MAIN[_.].*|MAIN_WRITELOCK)$")


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
            if ranker and os.environ.get("KB_RANKER", "arrays") != "whoosh":
                from .. import search as _s
                from .ranker import Ranker

                # arrays missing after every retry: derive them from Whoosh (slow, rare)
                rk = Ranker(reader, str(folder), _s.K1, _s.B, derive_missing=last_try)
            return WhooshReader(ix, reader, version, rk, ranks=ranker)
        except (OSError, EmptyIndexError, ValueError, KeyError) as e:
            # a writer switched generations or cleaned files under us
            if reader is not None:
                reader.close()
            if ix is not None:
                ix.close()
            raise OpenFailed(str(e)) from e

    def latest_version(self, folder: Path) -> int | None:
        from whoosh.index import open_dir

        try:
            return open_dir(str(folder)).latest_generation()  # type: ignore[no-any-return]
        except Exception:  # noqa: BLE001
            return None

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

    def search(self, request: SearchRequest) -> Ranking:
        from .. import search as _s
        from .query import (
            highlight_terms,
            make_filter,
            parse_clauses,
            parse_query,
            phrase_query,
            symbol_first,
        )

        searcher, reader = self.searcher, self.reader
        schema = searcher.schema
        words = request.words
        filt = make_filter(request.filters, parse_clauses(schema, list(request.clauses)))
        q_first = None
        if words.strip():
            memo: dict[str, list[str]] = {}  # a wildcard's words, found once per search
            q_or = parse_query(schema, words, "or", reader, memo)
            q_and = parse_query(schema, words, "and", reader, memo) \
                if _s.COMBINE == "and-or" else q_or
            if request.symbol:  # the document with this symbol, then its mentions
                from whoosh.query import Or

                q_first = symbol_first(request.symbol)
                q_or, q_and = Or([q_or, q_first]), Or([q_and, q_first])
        else:
            from whoosh.query import Every

            q_and = q_or = Every()
        offset, limit = request.offset, request.limit
        want = None if limit is None or request.group else offset + limit
        ranked: list[tuple[int, float]] | None = None
        more: dict[int, int] = {}
        hl: set[str] = set()
        if self.ranker is not None:
            from .ranker import Unsupported, rank

            try:
                ranked, total, more, hl, counted = rank(
                    self.ranker, searcher, q_and, q_or, phrase_query(schema, words, reader),
                    filt, want, request.group, q_first, request.dedup, request.facets)
            except Unsupported:
                ranked = None
        ident = self.identical() if request.dedup else None
        if ranked is None:
            # fuzzy words as the array ranker expands them (a swap of two letters is
            # one edit), not as Whoosh does, which differs with the segment count
            q_and, q_or = (_array_fuzzy(q, self._arrays()) for q in (q_and, q_or))
            ranked, total, more = self._rank_whoosh(words, q_and, q_or, filt, want,
                                                    request.group, q_first, ident)
            hl = highlight_terms(q_or, reader)
            counted = None
            if request.facets:  # counted over the whole ungrouped ranking
                full = ranked if not request.group and (want is None or ident is not None) \
                    else self._rank_whoosh(words, q_and, q_or, filt, None, False, q_first,
                                           ident)[0]
                counted = self._facets_whoosh(full, request.facets)
        page = ranked[offset:] if limit is None else ranked[offset: offset + limit]
        out = tuple(Ranked(passage_from_stored(searcher.stored_fields(d)), score,
                           more.get(d, 0), self._also(ident, d)) for d, score in page)
        return Ranking(out, total, frozenset(hl), self._facets(counted))

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

    def _facets_whoosh(self, full: list[tuple[int, float]], n_docs: int) -> Any:
        """The counts of :func:`kb.engine.ranker.facet_counts` when Whoosh's scorer
        ranked: ``full`` is every match in rank order, identical ones collapsed."""
        import numpy as np

        from .ranker import facet_counts

        key = np.full(self.reader.doc_count_all(), -np.inf)
        shown = np.array([d for d, _ in full], np.int64)
        key[shown] = -np.arange(len(shown), dtype=np.float64)
        return facet_counts(self._arrays(), np.sort(shown), key, n_docs)

    def _arrays(self) -> Any:
        """The array ranker's view of this reader (built for this when Whoosh ranks)."""
        if self.ranker is not None:
            return self.ranker
        if self._rk is None:
            from .. import search as _s
            from .ranker import Ranker

            self._rk = Ranker(self.reader, self.ix.storage.folder, _s.K1, _s.B)
        return self._rk

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

    def _rank_whoosh(self, words_text: str, q_and: Any, q_or: Any, filt: Any,
                     want: int | None, group: bool, q_first: Any = None,
                     ident: Any = None
                     ) -> tuple[list[tuple[int, float]], int, dict[int, int]]:
        """The tiers ranked by Whoosh's scorer (for queries the array ranker does not take).
        ``q_first``: the first passage of each document it matches goes on top.

        With ``ident`` (the index holds identical passages), every match is ranked
        and identical ones collapsed as the array ranker does (:meth:`_collapse`)."""
        from .query import phrase_query

        if ident is not None:
            want = None
        searcher, reader = self.searcher, self.reader
        # Whoosh's own optimisations: with a limit, optimize=False still prunes the OR
        # tree as the top hits fill and then trusts its own (too low) count, so the
        # totals were wrong (13,008 for "human rights" where 60,903 passages match at
        # 200k); optimize=True counts in a second pass and is exact.  This path only
        # ranks what the array ranker does not take, and KB_RANKER=whoosh.
        and_results = searcher.search(q_and, limit=want, filter=filt)
        ranked: list[tuple[int, float]] = [(r.docnum, r.score) for r in and_results]
        tier = dict.fromkeys((d for d, _ in ranked), 1)
        total = len(and_results)
        q_phrase = phrase_query(searcher.schema, words_text, reader) if total > 1 else None
        if q_phrase is not None:
            # tiers: the exact phrase, then every word, then some words
            phrase_hits = [(r.docnum, r.score) for r in
                           searcher.search(q_phrase, limit=want, filter=filt)]
            if phrase_hits:
                seen = {d for d, _ in phrase_hits}
                tier.update(dict.fromkeys(seen, 2))
                ranked = phrase_hits + [(d, sc) for d, sc in ranked if d not in seen]
        if q_or != q_and:
            or_results = searcher.search(q_or, limit=None if want is None else want + len(ranked),
                                         filter=filt)
            seen = {d for d, _ in ranked}
            ranked += [(r.docnum, r.score) for r in or_results if r.docnum not in seen]
            total = len(or_results)
        if q_first is not None:
            firsts = self._first_passages(q_first, filt)
            if firsts:
                scores = dict(ranked)
                lifted = set(firsts)
                tier.update(dict.fromkeys(firsts, 3))  # above the phrase tier
                ranked = [(d, scores.get(d, 0.0)) for d in firsts] + \
                    [(d, sc) for d, sc in ranked if d not in lifted]
        if ident is not None:
            ranked = self._collapse(ranked, tier, ident)
            total = len(ranked)
        more: dict[int, int] = {}
        if group:
            by_doc: dict[str, int] = {}
            grouped: list[tuple[int, float]] = []
            doc_of = self._names() if len(ranked) > 200 else None
            for docnum, score in ranked:
                doc = doc_of[docnum] if doc_of is not None else \
                    searcher.stored_fields(docnum)["doc"]
                if doc in by_doc:
                    more[by_doc[doc]] += 1
                    continue
                by_doc[doc] = docnum
                more[docnum] = 0
                grouped.append((docnum, score))
            ranked = grouped
            total = len(grouped)
        return ranked, total, more

    def _first_passages(self, q: Any, filt: Any) -> list[int]:
        """The first passage (lowest number) of each document with a passage matching
        ``q`` (and ``filt``), in passage order."""
        from whoosh.query import And

        ids = sorted(self.searcher.docs_for_query(q if filt is None else And([q, filt])))
        doc_of = self._names()
        seen: set[str] = set()
        out = []
        for d in ids:
            doc = doc_of.get(d)
            if doc is not None and doc not in seen:
                seen.add(doc)
                out.append(d)
        return out

    def _collapse(self, ranked: list[tuple[int, float]], tier: dict[int, int],
                  ident: Any) -> list[tuple[int, float]]:
        """Every match ``ranked``, one passage per text (as
        :meth:`kb.engine.identical.Identical.collapse`): the best ranked (tier,
        then score), ties by document id, then by number; in rank order."""
        names = self._names()
        gid = ident.gid
        best: dict[int, tuple[tuple[int, float, bytes, int], float]] = {}
        out: list[tuple[tuple[int, float, bytes, int], float]] = []
        for d, sc in ranked:
            k = (-tier.get(d, 0), -sc, names.get(d, "").encode("utf-8", "surrogatepass"), d)
            g = int(gid[d])
            if g < 0:
                out.append((k, sc))
            elif g not in best or k < best[g][0]:
                best[g] = (k, sc)
        out += best.values()
        out.sort(key=lambda e: (e[0][0], e[0][1], e[0][3]))
        return [(k[3], sc) for k, sc in out]

    def _names(self) -> dict[int, str]:
        """Passage number -> document id for the whole index, read once from the ``doc``
        field's postings (grouping thousands of matches by reading each one's stored
        fields is the slow part of ``--group``)."""
        if self._doc_names is None:
            reader = self.reader
            names: dict[int, str] = {}
            for t in reader.lexicon("doc"):
                name = t.decode("utf-8") if isinstance(t, bytes) else t
                for d in reader.postings("doc", t).all_ids():
                    names[d] = name
            self._doc_names = names
        return self._doc_names

    def passage(self, passage_id: str) -> Passage | None:
        stored = self.searcher.document(id=passage_id)
        return None if stored is None else passage_from_stored(stored)

    def passages(self) -> Iterator[Passage]:
        for stored in self.searcher.all_stored_fields():
            yield passage_from_stored(stored)

    def by_ref(self, ref: str) -> list[Passage]:
        found = [passage_from_stored(s) for s in self.searcher.documents(ref=ref)]
        return sorted(found, key=lambda p: p.id)

    def document_passages(self, doc_id: str) -> list[Passage]:
        found = [passage_from_stored(s) for s in self.searcher.documents(doc=doc_id)]
        return sorted(found, key=lambda p: p.ordinal)

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

    def document_ids(self) -> list[str]:
        reader = self.reader
        live = reader.has_deletions()
        return sorted(t.decode("utf-8") for t in reader.lexicon("doc")
                      if not live or reader.postings("doc", t).is_active())

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

    def has_symbol(self, term: str) -> bool:
        from .query import lexicon_cache

        known = lexicon_cache(self.reader)
        v = known.get(("symbol", term))
        if v is None:
            v = known[("symbol", term)] = ("symbol", term) in self.reader
        return v

    def correct(self, term: str, maxdist: int) -> str | None:
        corrector = self.reader.corrector("text")
        cands = corrector.suggest(term, limit=5, maxdist=maxdist, prefix=1)
        if not cands:
            return None
        best = max(cands, key=lambda c: self.reader.doc_frequency("text", c))
        return self._surface(best)

    def _surface(self, stem: str) -> str | None:
        """A word in the index text that analyses to ``stem``."""
        from whoosh.query import Term

        from ..analysis import _TOKEN
        from ..analysis import term as analyse

        for r in self.searcher.search(Term("text", stem), limit=3):
            txt = r.get("text") or ""
            for m in _TOKEN.finditer(txt):
                if analyse(m.group()) == stem:
                    return m.group().lower()
        return None

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


_ARRAY_FUZZY: Any = None


def _array_fuzzy(q: Any, rk: Any) -> Any:
    """``q`` with its fuzzy words (``FuzzyTerm`` over text, section or title)
    expanded by :meth:`kb.engine.ranker.Ranker.fuzzy_terms`.

    Whoosh's own expansion uses the optimal-string-alignment distance over a
    reader of several segments but plain Levenshtein (no swaps) over one, so the
    Whoosh scorer would match other words than the array ranker."""
    global _ARRAY_FUZZY
    from whoosh.query import FuzzyTerm

    from . import rankarrays

    if _ARRAY_FUZZY is None:
        class ArrayFuzzyTerm(FuzzyTerm):
            rk: Any = None

            def _btexts(self, ixreader: Any) -> list[str]:
                return [t.decode("utf-8") for t in self.rk.fuzzy_terms(
                    self.fieldname, self.text, int(self.maxdist), self.prefixlength, {})]

        _ARRAY_FUZZY = ArrayFuzzyTerm
    if type(q) is FuzzyTerm and q.fieldname in rankarrays.FIELDS:
        import copy

        out = copy.copy(q)
        out.__class__ = _ARRAY_FUZZY
        out.rk = rk
        return out
    if q.is_leaf():
        return q
    return q.apply(lambda c: _array_fuzzy(c, rk))


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

    def commit(self) -> None:
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
