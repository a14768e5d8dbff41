"""Whoosh index files that several threads can read at once.

Whoosh reads a segment's files through one file object per file, and reads
by seeking then reading (``StructFile.get`` is ``seek(pos); read(n)``, a
posting block is ``seek``, ``read_int``, ``read_pickle``, ...).  A searcher
shared by the threads of a web server would let one thread's ``seek`` move
the position under another's ``read``: wrong passages, wrong totals, or
unpickling errors (``tests/test_concurrency.py`` shows it: eight threads
sharing a plain Whoosh reader got both within a few hundred searches).

:class:`MappedStorage` is the storage kb opens readers with: each file is
memory-mapped once (read-only, shared by every thread) and read through a
read position kept **per thread**, so Whoosh's seek-then-read sequences of
different threads never meet.  A mapping keeps the file's data after a writer
deletes the file (a merged segment, a replaced generation folder), as an open
file did, and holds one descriptor (Python's ``mmap`` keeps a duplicate) until
the reader is closed.  Writers keep Whoosh's own storage.

The rest of a Whoosh searcher's state is safe to share under the GIL: its
caches (idf, filters, column readers, kb's lexicon cache) are dicts filled
with the same value by whichever thread comes first, and every search builds
its own matchers and collector.
"""

from __future__ import annotations

import mmap
import os
import threading
from typing import Any

from whoosh.filedb.filestore import FileStorage
from whoosh.filedb.structfile import StructFile


class _Cursor(threading.local):
    pos = 0


class SharedMap:
    """A read-only file in memory, with a read position per thread (file-like:
    ``read``, ``readline``, ``seek``, ``tell``, for Whoosh and ``pickle.load``)."""

    def __init__(self, path: str) -> None:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            self._mm: mmap.mmap | None = \
                mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else None
        self._buf: Any = self._mm if self._mm is not None else b""
        self.size = size
        self._cur = _Cursor()
        self.closed = False

    def read(self, n: int | None = -1) -> bytes:
        cur = self._cur
        p = cur.pos
        b = self._buf[p:] if n is None or n < 0 else self._buf[p:p + n]
        cur.pos = p + len(b)
        return bytes(b)

    def readline(self, limit: int = -1) -> bytes:
        cur = self._cur
        p = cur.pos
        i = self._buf.find(b"\n", p)
        end = self.size if i < 0 else i + 1
        if limit is not None and limit >= 0:
            end = min(end, p + limit)
        b = self._buf[p:end]
        cur.pos = p + len(b)
        return bytes(b)

    def seek(self, offset: int, whence: int = 0) -> int:
        cur = self._cur
        if whence == 0:
            cur.pos = offset
        elif whence == 1:
            cur.pos += offset
        else:
            cur.pos = self.size + offset
        if cur.pos < 0:
            cur.pos = 0
            raise ValueError("negative seek position")
        return cur.pos

    def tell(self) -> int:
        return self._cur.pos

    def close(self) -> None:
        if self._mm is not None:
            self._mm.close()  # a read after this raises ValueError (mmap closed)
        self.closed = True


class MappedStructFile(StructFile):
    """Whoosh's structured file over a :class:`SharedMap`."""

    def __init__(self, path: str, name: str) -> None:
        super().__init__(SharedMap(path), name=name)  # type: ignore[arg-type]

    def get(self, position: int, length: int) -> bytes:
        # a read that needs no position: straight from the mapping (the cursor
        # moves as StructFile.get would move it)
        f: SharedMap = self.file  # type: ignore[assignment]
        b = f._buf[position:position + length]
        f._cur.pos = position + len(b)
        return bytes(b)


class MappedStorage(FileStorage):  # type: ignore[misc]
    """A read-only Whoosh file storage whose files are :class:`MappedStructFile`."""

    def __init__(self, path: str) -> None:
        super().__init__(path, readonly=True)

    def open_file(self, name: str, **kwargs: Any) -> StructFile:
        return MappedStructFile(self._fpath(name), name)
