"""A leaner Whoosh segment writer for kb's schema: same index files, less Python per posting.

Whoosh's :class:`~whoosh.writing.SegmentWriter` spends most of an index build
in per-token and per-posting Python calls.  :class:`KbSegmentWriter` writes
exactly the same segment (same terms, positions, weights, lengths, stored
fields and columns), but:

* text fields analysed by :class:`kb.engine.analyzers.KbAnalyzer` with positions are
  analysed with :func:`kb.analysis.index_terms` (a list of terms, no Token
  objects), and a posting's encoded positions are built once per distinct
  position list shape (a term seen once at position p: cached by p); the
  ``words`` field (:class:`kb.engine.analyzers.SurfaceAnalyzer`, existence only) with
  :func:`kb.analysis.surface_entries`;
* postings go into the pool with one size update per document, not per
  posting;
* when the segment is flushed, each field's document lengths are read into a
  list once, instead of one column read per posting;
* postings are pooled by term (:class:`TermPool`): only the distinct terms
  are sorted, not every posting, and runs spilled to disk over the memory
  limit are pickled in chunks and merged by term.

Anything it does not special-case (other field types, boosts, vectors,
spelling fields) goes through Whoosh's own code.
"""

from __future__ import annotations

import os
from typing import Any

from whoosh import formats
from whoosh.codec.whoosh3 import W3FieldWriter
from whoosh.writing import SegmentWriter

from . import rankarrays
from ..analysis import index_terms, surface_entries
from ..dedup import text_key
from .analyzers import KbAnalyzer, SurfaceAnalyzer

_ENC_ONE: dict[int, bytes] = {}


def _positions_postings(terms: list[str], fmt: Any) -> list[tuple[bytes, int, float, bytes]]:
    """``(term bytes, freq, weight, encoded positions)`` per distinct term of ``terms``
    (a field's :func:`~kb.analysis.index_terms`), as
    :meth:`whoosh.formats.Positions.word_values` gives them for this analyzer."""
    poses: dict[str, Any] = {}
    for i, t in enumerate(terms):
        p = poses.get(t)
        if p is None:
            poses[t] = i
        elif type(p) is int:
            poses[t] = [p, i]
        else:
            p.append(i)
    fb = fmt.field_boost
    encode = fmt.encode
    out = []
    for t, p in poses.items():
        if type(p) is int:
            v = _ENC_ONE.get(p)
            if v is None:
                v = _ENC_ONE[p] = encode([p])
            out.append((t.encode("utf-8"), 1, fb, v))
        else:
            n = len(p)
            out.append((t.encode("utf-8"), n, n * fb, encode(p)))
    return out


class _Lengths:
    """Per-document field lengths of the segment being flushed, read once per field."""

    def __init__(self, pdr: Any, doccount: int) -> None:
        self._pdr = pdr
        self._n = doccount

    def doc_field_length_reader(self, fieldname: str, default: int = 0) -> Any:
        get = self._pdr.doc_field_length_reader(fieldname, default)
        return [get(i) for i in range(self._n)].__getitem__

    def doc_field_length(self, docnum: int, fieldname: str, default: int = 0) -> Any:
        return self._pdr.doc_field_length(docnum, fieldname, default)


#: postings per pickled chunk in a run file
RUN_CHUNK = 8192
#: at most this many run files are merged at once
MAX_RUNS = 64
#: PostingPool-like size estimates (bytes): per posting, and per new term
POSTING_BYTES = 80
TERM_BYTES = 200


class TermPool:
    """Postings grouped by field and term, in document order within each term.

    Whoosh's :class:`~whoosh.writing.PostingPool` keeps one tuple per posting
    and sorts all of them (and spills them one pickle per posting); postings
    added in document order need only their *terms* sorted.  Over the memory
    limit, the pool spills a sorted run (pickled in chunks); at the end the runs
    are merged by term, oldest first, so each term's postings stay in order.
    """

    def __init__(self, tempstore: Any, limitmb: int) -> None:
        self.tempstore = tempstore
        self.limit = limitmb * 1024 * 1024
        self.currentsize = 0
        self.fields: dict[str, dict[bytes, list[tuple[int, float, Any]]]] = {}
        self.fieldnames: set[str] = set()
        self.runs: list[str] = []
        self._unordered = False

    def add(self, item: tuple[str, bytes, int, float, Any]) -> None:
        """Add one ``(fieldname, tbytes, docnum, weight, vbytes)`` posting."""
        fieldname, tbytes, docnum, weight, vbytes = item
        terms = self.fields.get(fieldname)
        if terms is None:
            terms = self.fields[fieldname] = {}
            self.fieldnames.add(fieldname)
        lst = terms.get(tbytes)
        if lst is None:
            terms[tbytes] = [(docnum, weight, vbytes)]
            self.currentsize += TERM_BYTES + len(tbytes)
        else:
            if lst[-1][0] > docnum:
                self._unordered = True
            lst.append((docnum, weight, vbytes))
        self.currentsize += POSTING_BYTES + len(vbytes or b"")
        if self.currentsize > self.limit:
            self.save()

    def _sorted_items(self) -> Any:
        """``((fieldname, tbytes), postings)`` of the in-memory part, sorted."""
        fields, self.fields = self.fields, {}
        self.currentsize = 0
        unordered, self._unordered = self._unordered, False
        for fieldname in sorted(fields):
            terms = fields[fieldname]
            for tbytes in sorted(terms):
                lst = terms[tbytes]
                if unordered:
                    lst.sort(key=lambda p: p[0])
                yield (fieldname, tbytes), lst

    def save(self) -> None:
        if self.fields:
            self._write_run(self._sorted_items())
        if len(self.runs) >= MAX_RUNS:
            # merge the oldest runs into one (kept first: document order)
            old, self.runs = self.runs, []
            self._write_run(self._merge(old))

    def _write_run(self, items: Any) -> None:
        import pickle

        from whoosh.util import random_name

        path = f"{random_name()}.run"
        f = self.tempstore.create_file(path)
        chunk: list[Any] = []
        n = 0
        for key, lst in items:
            chunk.append((key, lst))
            n += len(lst)
            if n >= RUN_CHUNK:
                pickle.dump(chunk, f, pickle.HIGHEST_PROTOCOL)
                chunk, n = [], 0
        if chunk:
            pickle.dump(chunk, f, pickle.HIGHEST_PROTOCOL)
        f.close()
        self.runs.append(path)

    def _read_run(self, path: str) -> Any:
        import pickle

        f = self.tempstore.open_file(path).raw_file()
        try:
            while True:
                try:
                    chunk = pickle.load(f)
                except EOFError:
                    return
                yield from chunk
        finally:
            f.close()
            self.tempstore.delete_file(path)

    def _merge(self, runs: list[str]) -> Any:
        """Merge runs (oldest first) by term; a term's postings stay in run order."""
        from heapq import merge
        from operator import itemgetter

        last = None
        acc: list[Any] = []
        for key, lst in merge(*[self._read_run(r) for r in runs], key=itemgetter(0)):
            if key != last:
                if last is not None:
                    yield last, acc
                last, acc = key, list(lst)
            else:
                acc += lst
        if last is not None:
            yield last, acc

    def iter_terms(self) -> Any:
        """``((fieldname, tbytes), [(docnum, weight, vbytes), ...])``, sorted by term."""
        if self.runs:
            if self.fields:
                self._write_run(self._sorted_items())
            runs, self.runs = self.runs, []
            return self._merge(runs)
        return self._sorted_items()

    def iter_postings(self) -> Any:
        """Every posting as ``(fieldname, tbytes, docnum, weight, vbytes)``, sorted."""
        for (fieldname, tbytes), lst in self.iter_terms():
            for docnum, weight, vbytes in lst:
                yield fieldname, tbytes, docnum, weight, vbytes

    def cleanup(self) -> None:
        for path in self.runs:
            try:
                self.tempstore.delete_file(path)
            except OSError:
                pass
        self.runs = []
        self.fields = {}


def track_files(storage: Any, opened: list[Any]) -> None:
    """Record in ``opened`` every file created through ``storage`` or through the
    temporary storages it makes (instance attributes shadowing the class's methods;
    :func:`untrack_files` removes them).  Whoosh does not close a file whose write
    failed; kb closes them with :func:`close_files` (see :meth:`KbSegmentWriter.abandon`)."""
    create, temp = storage.create_file, storage.temp_storage

    def create_file(*args: Any, **kwargs: Any) -> Any:
        f = create(*args, **kwargs)
        opened.append(f)
        return f

    def temp_storage(*args: Any, **kwargs: Any) -> Any:
        st = temp(*args, **kwargs)
        track_files(st, opened)
        return st

    storage.create_file = create_file
    storage.temp_storage = temp_storage


def untrack_files(storage: Any) -> None:
    for name in ("create_file", "temp_storage"):
        storage.__dict__.pop(name, None)


class KbSegmentWriter(SegmentWriter):  # type: ignore[misc]
    """Whoosh's segment writer, leaner, and writing the segment's ranking arrays
    (:mod:`kb.engine.rankarrays`) beside it, for added documents and merged segments alike.
    :meth:`abandon` ends a failed write quietly."""

    def __init__(self, ix: Any, limitmb: int = 128, **kwargs: Any) -> None:
        # every file Whoosh opens for this writer, so that abandon() can close them
        self._opened: list[Any] = []
        track_files(ix.storage, self._opened)
        try:
            super().__init__(ix, limitmb=limitmb, **kwargs)
        except BaseException:
            untrack_files(ix.storage)
            close_files(self._opened)
            raise
        self.pool = TermPool(self._tempstorage, limitmb)
        self.arrays = rankarrays.Builder()
        self._parts = 0  # part files written so far
        self._part_base = self.docnum
        self._merged: list[tuple[Any, int]] = []  # (segment, first docnum) merged in

    #: called as ``seal(toc temporary name, toc name, segments)`` once the new TOC is
    #: written and just before its rename commits it (see :meth:`_commit_toc`)
    seal: Any = None

    def _commit_toc(self, segments: list[Any]) -> None:
        """Whoosh's commit (write the TOC to a temporary file, rename it, delete the
        files no segment uses), calling :attr:`seal` between the write and the rename:
        kb records the checksums of the new version's files there (:mod:`kb.store`)."""
        seal = self.seal
        if seal is None:
            super()._commit_toc(segments)
            return
        from whoosh.index import TOC

        storage = self.storage
        toc_name = TOC._filename(self.indexname, self.generation)
        rename = storage.rename_file

        def rename_file(frm: str, to: str, safe: bool = False) -> Any:
            if to == toc_name:
                seal(frm, to, segments)
            return rename(frm, to, safe=safe)

        storage.rename_file = rename_file
        try:
            super()._commit_toc(segments)
        finally:
            storage.__dict__.pop("rename_file", None)

    def _finish(self) -> None:
        untrack_files(self.storage)
        super()._finish()

    def _cleanup_on_error(self) -> None:
        untrack_files(self.storage)
        super()._cleanup_on_error()

    def abandon(self) -> None:
        """Give up after a failure: cancel, then close every file this writer
        opened.  Never raises, so it cannot mask the error that stopped the
        write.

        A file whose buffered write failed (a full disk, ``RLIMIT_FSIZE``)
        still holds the unwritten bytes; left open, it is flushed again when
        it is garbage-collected, fails again, and Python prints "Exception
        ignored in: <_io.BufferedRandom …>" on stderr (Python 3.13 collects
        it at exit).  Closing it here drops the bytes with the error caught.
        """
        if not self.is_closed:
            try:
                self.cancel()
            except Exception:  # noqa: BLE001 - cancel() raises on a writer a failed commit broke
                pass
        untrack_files(self.storage)
        close_files(self._opened)


    def add_document(self, **fields: Any) -> None:
        if any(name.startswith("_") for name in fields):
            # boosts and custom stored values: Whoosh's general path
            super().add_document(**fields)
            self._add_arrays(fields, {})
            return
        self._check_state()
        schema = self.schema
        fieldnames = sorted(fields)
        self._check_fields(schema, fieldnames)
        pdw = self.perdocwriter
        pool = self.pool
        docnum = self.docnum
        size = 0
        pending: list[tuple[str, Any]] = []
        analysed: dict[str, list[str]] = {}
        pdw.start_doc(docnum)
        try:
            for fieldname in fieldnames:
                value = fields[fieldname]
                if value is None:
                    continue
                field = schema[fieldname]
                if field.separate_spelling() or field.vector:
                    raise _General
                length = 0
                if field.indexed:
                    fmt = field.format
                    if (type(fmt) is formats.Positions and isinstance(value, str)
                            and isinstance(field.analyzer, KbAnalyzer)):
                        terms = analysed[fieldname] = index_terms(value)
                        items = _positions_postings(terms, fmt)
                    elif (type(fmt) is formats.Existence and isinstance(value, str)
                            and type(field.analyzer) is SurfaceAnalyzer):
                        fb = fmt.field_boost
                        entries = analysed["words"] = sorted(surface_entries(value))
                        items = [(e.encode("utf-8"), 1, fb, b"") for e in entries]
                    else:
                        items = list(field.index(value))
                    if field.scorable:
                        length = sum(item[1] for item in items)
                    pending.append((fieldname, items))
                pdw.add_field(fieldname, field, value if field.stored else None, length)
                column = field.column_type
                if column:
                    pdw.add_column_value(fieldname, column, field.to_column_value(value))
        except _General:
            pdw.cancel_doc()
            super().add_document(**fields)
            self._add_arrays(fields, {})
            return
        except ValueError:
            pdw.cancel_doc()
            raise
        pdw.finish_doc()
        for fieldname, items in pending:
            terms = pool.fields.get(fieldname)
            if terms is None:
                terms = pool.fields[fieldname] = {}
                pool.fieldnames.add(fieldname)
            get = terms.get
            for tbytes, _freq, weight, vbytes in items:
                lst = get(tbytes)
                if lst is None:
                    terms[tbytes] = [(docnum, weight, vbytes)]
                    size += TERM_BYTES + len(tbytes) + POSTING_BYTES + len(vbytes or b"")
                else:
                    lst.append((docnum, weight, vbytes))
                    size += POSTING_BYTES + len(vbytes or b"")
        pool.currentsize += size
        if pool.currentsize > pool.limit:
            pool.save()
        self._added = True
        self.docnum += 1
        self._add_arrays(fields, analysed)

    # -- ranking arrays ------------------------------------------------------

    def _add_arrays(self, fields: dict[str, Any], analysed: dict[str, list[str]]) -> None:
        terms = {}
        for f in rankarrays.FIELDS:
            ts = analysed.get(f)
            if ts is None:
                value = fields.get(f)
                ts = index_terms(value) if isinstance(value, str) else []
            terms[f] = ts
        b = self.arrays
        words = analysed.get("words")
        if words is None and isinstance(fields.get("words"), str):
            words = sorted(surface_entries(fields["words"]))
        if words:
            b.add_surface(words)
        text = fields.get("text")
        b.add(terms, fields.get("doc") or "", fields.get("date"),
              text_key(text if isinstance(text, str) else ""))
        if b.ntokens > rankarrays.PART_TOKENS:
            self._write_part(b.table())

    def _write_part(self, table: Any) -> None:
        seg = self.newsegment.segment_id()
        path = os.path.join(self.storage.folder,
                            rankarrays.part_name(seg, self._parts))
        rankarrays.write_part(path, table, seg, self._parts, self._part_base)
        self._parts += 1
        self._part_base += table.ndocs

    def add_reader(self, reader: Any) -> None:
        """Merging a segment (Whoosh's merge policy on commit): its arrays follow."""
        self._merged.append((reader.segment(), self.docnum))
        super().add_reader(reader)

    def _merged_tables(self) -> list[Any]:
        import numpy as np

        out = []
        names = os.listdir(self.storage.folder)
        for seg, _base in self._merged:
            n = seg.doc_count_all()
            parts = rankarrays.open_segment(self.storage.folder, seg.segment_id(), n, names)
            if parts is None:
                from whoosh.reading import SegmentReader

                r = SegmentReader(self.storage, self.schema, seg)
                try:
                    table = rankarrays.table_from_reader(r)
                finally:
                    r.close()
            else:
                table = rankarrays.concat([p.table() for p in parts])
            keep = np.ones(n, bool)
            for d in seg.deleted_docs():
                keep[d] = False
            table = rankarrays.subset(table, keep)
            if not keep.all():
                table.surface = _live_words(self.storage, self.schema, seg, keep)
            out.append(table)
        return out

    def _flush_arrays(self) -> None:
        tables = []
        if self.arrays.ndocs:
            tables.append(self.arrays.table())
        tables += self._merged_tables()
        if tables:
            self._write_part(rankarrays.concat(tables))

    def _flush_segment(self) -> None:
        self._flush_arrays()
        self.perdocwriter.close()
        pdr = self.per_document_reader() if self.codec.length_stats else None
        lengths = _Lengths(pdr, self.docnum) if pdr is not None else None
        fw = self.fieldwriter
        if type(fw) is W3FieldWriter:
            _write_terms(fw, self.schema, lengths, self.pool.iter_terms())
        else:
            fw.add_postings(self.schema, lengths, self.pool.iter_postings())
        fw.close()
        if pdr is not None:
            pdr.close()


def _live_words(storage: Any, schema: Any, seg: Any, keep: Any) -> list[str]:
    """The ``words`` entries of a segment that a live document still holds (a merge
    drops the words of its deleted documents from the ranking arrays, as Whoosh
    drops them from the ``words`` field)."""
    from whoosh.reading import SegmentReader

    r = SegmentReader(storage, schema, seg)
    try:
        if "words" not in schema:
            return []
        out = []
        for b in r.lexicon("words"):
            m = r.postings("words", b)
            while m.is_active():
                if keep[m.id()]:
                    out.append(b.decode("utf-8"))
                    break
                m.next()
        return out
    finally:
        r.close()


def _write_terms(fw: Any, schema: Any, lengths: _Lengths | None, terms: Any) -> None:
    """:meth:`whoosh.codec.base.FieldWriter.add_postings` for whole posting lists:
    each block of postings is added at once instead of one posting per call (the
    per-posting work of ``W3PostingsWriter.add_posting``, done in bulk)."""
    lastfn = None
    dfl: Any = None
    for (fieldname, tbytes), lst in terms:
        if fieldname != lastfn:
            if lastfn is not None:
                fw.finish_field()
            fw.start_field(fieldname, schema[fieldname])
            lastfn = fieldname
            dfl = lengths.doc_field_length_reader(fieldname) if lengths is not None else None
        fw.start_term(tbytes)
        pw = fw._postwriter
        limit = pw._blocklimit
        for i in range(0, len(lst), limit):
            if i:
                pw._write_block()  # a full block, not the last one
            block = lst[i:i + limit] if len(lst) > limit else lst
            ids = [p[0] for p in block]
            weights = [p[1] for p in block]
            pw._ids.extend(ids)
            pw._weights.extend(weights)
            pw._values.extend([v for _, _, v in block if v])
            mw = max(weights)
            if mw > pw._maxweight:
                pw._maxweight = mw
            if dfl is not None:
                lens = [n for n in map(dfl, ids) if n]
                if lens:
                    lo, hi = min(lens), max(lens)
                    if pw._minlength is None or lo < pw._minlength:
                        pw._minlength = lo
                    if hi > pw._maxlength:
                        pw._maxlength = hi
        fw.finish_term()
    if lastfn is not None:
        fw.finish_field()


class _General(Exception):
    """A document this writer leaves to Whoosh's general code."""


def close_files(files: list[Any]) -> None:
    """Close the real files behind Whoosh ``StructFile`` objects, ignoring errors
    (a close that fails to flush still closes the descriptor)."""
    for f in files:
        raw = getattr(f, "file", None)
        if raw is None or getattr(raw, "closed", True):
            continue
        try:
            raw.close()
        except Exception:  # noqa: BLE001
            pass
    files.clear()
