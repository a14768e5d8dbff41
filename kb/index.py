"""Bringing an index up to date: the bookkeeping of :mod:`kb.store` and an
engine writer (:mod:`kb.engine`), with the safety rules below.  No Whoosh here.

Layout of an index folder::

    index/
      kb-index.json      marker and pointer: schema version, settings, current generation,
                         the corpus it was built from (resolved path, random id)
      kb.lock            held (flock) by the one ``kb index`` that may write
      g000003/           the current generation: the engine's files (Whoosh:
        MAIN_*.toc, *.seg, *.kr0 ...)  plus
        files-<N>.json   the file table (hash, size, mtime, passages per file) that
                         belongs to the engine's version N

Safety (see README "Safety"):

* A **rebuild** writes a new generation folder and switches to it by
  atomically replacing ``kb-index.json`` (``os.replace``); the old folder is
  removed only after the switch.  A crash at any point leaves the previous
  generation current and intact; leftovers are removed by the next update.
* An **incremental update** adds new passages and deletions to the current
  generation.  The file table for the engine's version N+1 is written (to a
  temporary file, then renamed) *before* the engine commits version N+1, and
  the commit is itself atomic (for Whoosh, the rename of its TOC file).
  Readers open the newest version and the file table with that number, so
  passages and the file table always match: the switch to the new state is
  the engine's commit.
* Only one writer at a time: ``kb.lock`` is held with ``flock``, which the
  kernel releases when the holder dies, so a lock left by a killed process
  is taken over, never a permanent block.
* kb never writes into or deletes a folder it did not create: a non-empty
  index folder without ``kb-index.json`` is refused.
* A **rebuild never reads the old index** (marker, file table, engine files): it
  works whatever state that index is in, damaged included, and only reads the
  old file table, when it can, to report what changed.
* **Checksums.**  Every file of a committed version is recorded with its size
  and SHA-256 in ``sums-<N>.json``, written just before the engine's commit
  (:mod:`kb.integrity`); ``kb status --check`` verifies them.  An error while
  reading the index is reported as "the index is damaged" only when the
  checksums (or, without them, the kind of error) say so.
* An index belongs to one corpus (:func:`kb.store.check_corpus`): reading or updating it
  with another corpus folder is refused unless that folder holds the same files
  (the corpus moved or was renamed); ``--rebuild`` re-points it.
"""

from __future__ import annotations

import errno
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import corpus as _corpus
from . import integrity, store
from .engine import EngineWriter, Progress, get_engine
from .errors import IndexWriteFailed, KbError
from .models import IndexReport, Skipped
from .store import FileEntry, FileTable

__all__ = ["Progress", "update"]


@contextmanager
def _write_errors(index_dir: Path) -> Iterator[None]:
    """An OS error while writing (full disk, read-only folder) becomes one clear message."""
    try:
        yield
    except OSError as e:
        what = e.strerror or str(e)
        if e.filename:
            what += f" ({e.filename})"
        todo = ("free some space (or choose another --index) and run `kb index` again"
                if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else
                "fix that and run `kb index` again")
        raise IndexWriteFailed(f"cannot write the index in {index_dir}: {what}; the previous "
                               f"index is unchanged: {todo}") from e


def update(index_dir: Path, corpus_dir: Path, rebuild: bool = False,
           progress: Progress | None = None, by_search: bool = False) -> IndexReport:
    """Bring the index in step with the corpus folder (see the module docstring).

    :param by_search: a search's update before searching (see :func:`kb.store.write_lock`).
    """
    t0 = time.perf_counter()
    if store.corpus_problem(corpus_dir) and not rebuild:
        try:  # name the folder the index was built from, as a search would
            marker = store.read_marker(index_dir)
        except KbError:
            marker = None
        if marker is not None:
            store.check_corpus(index_dir, marker, corpus_dir, FileTable)
    store.require_corpus(corpus_dir)
    marker = store.marker_for_update(index_dir, rebuild)  # refuses foreign folders first
    with _write_errors(index_dir), store.write_lock(index_dir, by_search):
        marker = store.marker_for_update(index_dir, rebuild)
        if marker is not None and not rebuild:
            if store.newer_schema(marker):
                store.check_compatible(marker)  # refused: never rebuilt by an older kb
            rebuild = bool(store.rebuild_reason(marker))  # older: rebuilding is safe
        if marker is None or rebuild:
            walk = _corpus.walk(corpus_dir)
            report = _rebuild(index_dir, corpus_dir, marker, walk, progress)
        else:
            report, walk = _incremental(index_dir, corpus_dir, marker, progress)
        store.remove_stale_generations(index_dir)
    report.warnings += _corpus.warnings(corpus_dir, walk, report.documents_total)
    report.elapsed = time.perf_counter() - t0
    return report


def _add_files(writer: EngineWriter, files: list[Any], table: FileTable, report: IndexReport,
               progress: Progress | None, updated: set[str]) -> None:
    """Add ``files`` through ``writer``, recording each in ``table`` and ``report``
    (as updated when its id is in ``updated``, else added; as skipped when it fails)."""
    for f, added, reason in writer.add_files(files, progress):
        if added is None:
            table.skipped.append(Skipped(f.id, reason or "failed"))
            if f.id in updated:
                report.removed.append(f.id)
            continue
        table.files[f.id] = FileEntry(added.sha256, f.size, f.mtime_ns, added.passages,
                                      added.title, added.date, f.format,
                                      added.symbol)
        report.passages_added += added.passages
        (report.updated if f.id in updated else report.added).append(f.id)


def _rebuild(index_dir: Path, corpus_dir: Path, marker: dict[str, Any] | None,
             walk: _corpus.WalkResult, progress: Progress | None) -> IndexReport:
    old_table = store.previous_table(index_dir, marker)  # for the report only
    gen_name, gen_dir = store.new_generation(index_dir, marker)
    report = IndexReport(rebuilt=True)
    table = FileTable(built=time.time(), updated=time.time())
    table.skipped = list(walk.skipped)
    engine = get_engine()
    writer = None
    try:
        writer = engine.create(gen_dir, engine.workers_for(walk.files))
        failed: list[Skipped] = []
        for f, added, reason in writer.add_files(walk.files, progress):
            if added is None:
                failed.append(Skipped(f.id, reason or "failed"))
                continue
            table.files[f.id] = FileEntry(added.sha256, f.size, f.mtime_ns, added.passages,
                                          added.title, added.date, f.format,
                                          added.symbol)
            report.passages_added += added.passages
        report.added = [k for k in sorted(table.files) if k not in old_table.files]
        report.updated = [k for k in sorted(table.files) if k in old_table.files]
        table.skipped += sorted(failed, key=lambda s: s.id)  # in file order
        version = writer.next_version()
        store.write_json_atomic(store.table_path(gen_dir, version), table.to_json())
        writer.commit(seal=lambda files: integrity.seal(gen_dir, version, files))
    except BaseException:
        if writer is not None:
            writer.cancel()
        shutil.rmtree(gen_dir, ignore_errors=True)
        raise
    report.removed = sorted(set(old_table.files) - set(table.files))
    report.skipped = table.skipped
    report.passages_removed = sum(e.passages for e in old_table.files.values())
    store.switch(index_dir, corpus_dir, marker, gen_name)
    report.passages_total = report.passages_added
    report.documents_total = len(table.files)
    return report


def _damage(index_dir: Path, gen: store.Generation, e: BaseException) -> KbError | None:
    """The damaged-index error when ``e``, raised by an update, comes from reading a
    damaged file of the generation it updates (deletions and merges read the old
    segments), else None (a full disk, a Ctrl-C, a bug: raised as they are)."""
    import errno

    if isinstance(e, KbError) or not isinstance(e, Exception):
        return None
    if isinstance(e, OSError) and e.errno != errno.ENOENT:
        return None  # a write that failed: IndexWriteFailed says so
    certain = isinstance(e, get_engine().format_errors() + (FileNotFoundError,))
    return integrity.damage(index_dir, gen.dir, gen.version, e, certain)


def _incremental(index_dir: Path, corpus_dir: Path, marker: dict[str, Any],
                 progress: Progress | None) -> tuple[IndexReport, _corpus.WalkResult]:
    """An incremental update; returns its report and the corpus walk it compared."""
    gen = store.open_generation(index_dir)
    try:
        # an index is updated only from its own corpus (`--rebuild` re-points it)
        if store.check_corpus(index_dir, marker, corpus_dir, lambda: gen.table).rerecord:
            # moved with its index, or an earlier kb's index: record where it is now
            store.write_json_atomic(index_dir / store.MARKER,
                                    store.with_corpus(marker, index_dir, corpus_dir))
        table = gen.table
        walk = _corpus.walk(corpus_dir)
    finally:
        gen.close()  # the writer reads what it needs itself
    p = store.plan(walk.files, table)
    report = IndexReport(unchanged=len(p.unchanged))
    new_table = FileTable(files=dict(p.unchanged), built=table.built, updated=time.time())
    new_table.skipped = list(walk.skipped)
    todo = p.add + p.change
    changed_meta = any(
        table.files[k].mtime_ns != v.mtime_ns or table.files[k].size != v.size
        for k, v in p.unchanged.items()
    ) or [(s.id, s.reason) for s in table.skipped] != [(s.id, s.reason) for s in walk.skipped]
    if not todo and not p.remove:
        if changed_meta:
            new_table.skipped = list(walk.skipped)
            integrity.rewrite_table(gen.dir, gen.version, new_table.to_json())
        report.skipped = new_table.skipped
        report.passages_total = sum(e.passages for e in new_table.files.values())
        report.documents_total = len(new_table.files)
        return report, walk
    engine = get_engine()
    writer = None
    try:
        writer = engine.writer(gen.dir)
        for doc_id in p.remove:
            writer.delete_document(doc_id)
            report.removed.append(doc_id)
            report.passages_removed += table.files[doc_id].passages
        changed = {f.id for f in p.change}
        for doc_id in sorted(changed):
            writer.delete_document(doc_id)
            report.passages_removed += table.files[doc_id].passages
        _add_files(writer, todo, new_table, report, progress, changed)
        version = writer.next_version()
        store.write_json_atomic(store.table_path(gen.dir, version), new_table.to_json())
        writer.commit(seal=lambda files: integrity.seal(gen.dir, version, files))
    except BaseException as e:
        if writer is not None:
            writer.cancel()
        found = _damage(index_dir, gen, e)
        if found is not None:
            raise found from e
        raise
    store.remove_stale_tables(gen.dir, engine.latest_version(gen.dir))
    report.skipped = new_table.skipped
    report.passages_total = sum(e.passages for e in new_table.files.values())
    report.documents_total = len(new_table.files)
    return report, walk
