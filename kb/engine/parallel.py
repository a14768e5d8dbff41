"""Parallel full builds: worker processes load files and write Whoosh segments.

A full build (``kb index --rebuild``, or the first build) of a large corpus
starts N worker processes (``spawn``, never ``fork``).  Each worker opens the
new, still empty generation, takes every N-th batch of files (a fixed
interleave, so the same corpus always gives the same segments and document
numbers), reads, decodes, parses and splits them, and writes its passages
into its own Whoosh segment (``compound=False``).  The parent only collects
per-file results (for the file table and the progress bar) and, when every
worker has finished, commits one Whoosh TOC that names all the segments.

Safety is the same as for the serial build (see :mod:`kb.index`): nothing is
visible until the parent commits the TOC and then switches the marker; a
worker that fails or dies makes the whole build fail, and the parent stops
the other workers before the half-built generation folder is removed.

``KB_INDEX_WORKERS`` sets the number of workers (``1`` = serial build); by
default it is the number of CPU cores, at most :data:`MAX_WORKERS`, and a
serial build is used when the files total less than :data:`MIN_BYTES`
(starting workers costs more than it saves there).
"""

from __future__ import annotations

import os
import queue
from collections.abc import Iterator
from typing import Any

from ..models import SourceFile

WORKERS_ENV = "KB_INDEX_WORKERS"
MAX_WORKERS = 4
MIN_BYTES = 3_000_000
#: files per batch: the unit of the interleave and of result messages
BATCH = 16
#: Whoosh's in-memory posting pool, in MB, shared out between the workers
POOL_MB = 256


def workers_for(files: list[SourceFile]) -> int:
    """How many worker processes a full build of ``files`` should use (1 = serial)."""
    env = os.environ.get(WORKERS_ENV, "").strip()
    if env:
        try:
            return max(1, min(int(env), 64))
        except ValueError:
            pass
    n = min(os.cpu_count() or 1, MAX_WORKERS)
    if n < 2 or len(files) < 2 * BATCH or sum(f.size for f in files) < MIN_BYTES:
        return 1
    return n


def _share(files: list[SourceFile], k: int, n: int) -> list[SourceFile]:
    return [f for i, f in enumerate(files) if (i // BATCH) % n == k]


def _worker(gen_dir: str, files: list[SourceFile], k: int, n: int, limitmb: int,
            results: Any) -> None:
    """Worker process: index the k-th share of ``files`` into a new segment."""
    writer = None
    try:
        from whoosh.index import open_dir

        from ..load import load_all
        from .schema import document_fields
        from .segwriter import KbSegmentWriter

        ix = open_dir(gen_dir)
        # _lk=False: the parent holds the index's write lock (and kb.lock)
        writer = KbSegmentWriter(ix, _lk=False, limitmb=limitmb, compound=False)
        add = writer.add_document
        out: list[tuple[str, Any, str | None]] = []
        mine = _share(files, k, n)
        for f, item, reason in load_all(mine):
            if item is None:
                out.append((f.id, None, reason))
            else:
                for fields in document_fields(item.passages):
                    add(**fields)
                out.append((f.id, (item.sha256, len(item.passages), item.title, item.date,
                                        item.symbol), None))
            if len(out) >= BATCH:
                results.put(("files", k, out))
                out = []
        if out:
            results.put(("files", k, out))
        if writer._added:
            segment = writer._finalize_segment()
        else:
            writer._close_segment()
            segment = None
        # the parent's writer removes the shared temp folder when it finishes
        results.put(("done", k, segment))
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which raises it
        if writer is not None:
            writer.abandon()  # close its files now: no "Exception ignored" at exit
        import pickle
        import traceback

        try:
            pickle.dumps(e)
            err: BaseException = e
        except Exception:  # noqa: BLE001
            err = RuntimeError(f"{type(e).__name__}: {e}")
        results.put(("error", k, (err, traceback.format_exc())))


class ParallelLoad:
    """Runs the workers; iterate for ``(file, summary, reason)`` as files finish.

    ``summary`` is ``(sha256, passages, title, date, symbol)``, or None with ``reason``
    when the file could not be indexed.  After iteration, :attr:`segments`
    holds the workers' segments in worker order.  Always :meth:`close`.
    """

    def __init__(self, gen_dir: str, files: list[SourceFile], n: int) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self.files = {f.id: f for f in files}
        self.results = ctx.Queue()
        self.segments: list[Any] = []
        limitmb = max(32, POOL_MB // n)
        self.procs = [
            ctx.Process(target=_worker, args=(gen_dir, files, k, n, limitmb, self.results),
                        name=f"kb-index-{k}", daemon=True)
            for k in range(n)
        ]
        for p in self.procs:
            p.start()

    def __iter__(self) -> Iterator[tuple[SourceFile, Any, str | None]]:
        done: dict[int, Any] = {}
        while len(done) < len(self.procs):
            try:
                kind, k, payload = self.results.get(timeout=0.5)
            except queue.Empty:
                dead = [p for i, p in enumerate(self.procs)
                        if i not in done and p.exitcode is not None]
                if not dead:
                    continue
                try:  # a worker that exited may still have a message in the pipe
                    kind, k, payload = self.results.get(timeout=2.0)
                except queue.Empty:
                    raise RuntimeError(f"an index worker stopped unexpectedly "
                                       f"(exit code {dead[0].exitcode})") from None
            if kind == "files":
                for fid, summary, reason in payload:
                    yield self.files[fid], summary, reason
            elif kind == "done":
                done[k] = payload
            else:
                err, tb = payload
                if isinstance(err, KeyboardInterrupt):
                    raise KeyboardInterrupt
                if isinstance(err, Exception):
                    raise err
                raise RuntimeError(f"index worker failed:\n{tb}")
        self.segments = [done[k] for k in sorted(done) if done[k] is not None]

    def close(self) -> None:
        """Stop any worker still running and wait for all of them."""
        for p in self.procs:
            if p.exitcode is None:
                p.terminate()
        for p in self.procs:
            p.join(5)
            if p.exitcode is None:
                p.kill()
                p.join()
        self.results.close()
        self.results.join_thread()


def commit(writer: Any, segments: list[Any]) -> None:
    """Commit the parent's (empty) writer with the workers' segments added to the TOC."""
    writer._check_state()
    try:
        writer._close_segment()
        writer._commit_toc(list(writer.segments) + segments)
    except Exception:
        writer._cleanup_on_error()
        raise
    writer._finish()
