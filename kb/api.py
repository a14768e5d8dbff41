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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import index as _index
from .errors import IndexMissing, PassageNotFound
from .models import DocumentInfo, Hit, IndexReport, Passage, SearchResult, Skipped


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
        }


def display_prefix(corpus: Path, cwd: Path | None = None) -> str:
    """How a user would write the corpus folder: relative to cwd when inside it."""
    cwd = cwd or Path.cwd()
    try:
        rel = os.path.relpath(corpus, cwd)
    except ValueError:
        rel = str(corpus)
    if rel.startswith(".."):
        rel = str(corpus)
    return "" if rel == "." else rel.rstrip("/") + "/"


#: :meth:`KnowledgeBase.quick_staleness` checks every file up to about this many
#: files (estimated from the file table's size, ~250 bytes a file), else folders
QUICK_CHECK_MAX_FILES = 4_000
QUICK_CHECK_TABLE_BYTES = QUICK_CHECK_MAX_FILES * 250


class KnowledgeBase:
    """A corpus folder and its index.

    :param corpus: the folder of reports (default ``./corpus``).
    :param index: the index folder (default ``./index``).
    """

    def __init__(self, corpus: str | os.PathLike[str] = "corpus",
                 index: str | os.PathLike[str] = "index") -> None:
        self.corpus = Path(corpus).absolute()
        self.index = Path(index).absolute()
        self._gen: _index.Generation | None = None
        self._searcher: Any = None

    # -- index --------------------------------------------------------------

    def update(self, rebuild: bool = False,
               progress: _index.Progress | None = None) -> IndexReport:
        """Bring the index in step with the corpus; returns what changed."""
        self.close()
        return _index.update(self.index, self.corpus, rebuild=rebuild, progress=progress)

    def has_index(self) -> bool:
        return _index.read_marker(self.index) is not None

    def close(self) -> None:
        if self._searcher is not None:
            self._searcher.close()
        self._searcher = None
        if self._gen is not None:
            self._gen.ix.close()
        self._gen = None

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open(self) -> tuple[_index.Generation, Any]:
        if self._searcher is not None and self._gen is not None:
            if self._searcher.up_to_date():
                return self._gen, self._searcher
            self.close()
        from .search import weighting

        gen = _index.open_generation(self.index, load_table=False)
        self._gen, self._searcher = gen, gen.searcher(weighting=weighting())
        return gen, self._searcher

    def _open_table(self) -> tuple[_index.Generation, _index.FileTable]:
        """The open generation and its file table (read now if not read yet)."""
        gen, _ = self._open()
        try:
            return gen, gen.table
        except OSError:  # a writer replaced the generation since we opened it
            self.close()
            gen, _ = self._open()
            return gen, gen.table

    # -- queries -------------------------------------------------------------

    def search(self, query: str, limit: int | None = 10, offset: int = 0, *,
               doc: str | None = None, section: str | None = None,
               since: dt.date | None = None, until: dt.date | None = None,
               group: bool = False, correct: bool = True) -> SearchResult:
        """Ranked passages for ``query``.  ``limit=None`` returns every match.

        ``doc`` is a path pattern (:func:`kb.search.doc_pattern`).  When nothing
        matches and a spelling correction does, the result holds the corrected
        query's hits and says so in ``corrected_query`` (``correct=False``: never)."""
        from .search import Filters, search

        _, searcher = self._open()
        return search(searcher, query, limit=limit, offset=offset,
                      filters=Filters(doc=doc, section=section, since=since, until=until),
                      group=group, path_prefix=display_prefix(self.corpus), correct=correct)

    def passage(self, passage_id: str) -> Passage:
        """The passage with this id (``<doc id>#<n>``)."""
        _, searcher = self._open()
        stored = searcher.document(id=passage_id)
        if stored is None:
            raise PassageNotFound(
                f"no passage {passage_id!r}; ids look like 'report.txt#3' "
                "(see `kb search ... --format json`)"
            )
        return _index.passage_from_stored(stored)

    def context(self, passage_id: str, n: int = 1) -> list[Passage]:
        """The passage and up to ``n`` passages before and after it, in order."""
        p = self.passage(passage_id)
        out = []
        for k in range(p.ordinal - n, p.ordinal + n + 1):
            if k < 1:
                continue
            if k == p.ordinal:
                out.append(p)
                continue
            try:
                out.append(self.passage(f"{p.doc}#{k}"))
            except PassageNotFound:
                pass
        return out

    def passages(self) -> list[Passage]:
        """Every passage, in document order."""
        gen, searcher = self._open()
        out = [_index.passage_from_stored(s) for s in searcher.all_stored_fields()]
        out.sort(key=lambda p: (p.doc, p.ordinal))
        return out

    def hit_for(self, p: Passage) -> Hit:
        from .search import passage_hit

        return passage_hit(p, display_prefix(self.corpus))

    def documents(self) -> list[DocumentInfo]:
        """The indexed documents, by id."""
        _, table = self._open_table()
        prefix = display_prefix(self.corpus)
        return [
            DocumentInfo(id=k, title=e.title, date=e.date, format=e.format,
                         passages=e.passages, path=prefix + k)
            for k, e in sorted(table.files.items())
        ]

    def staleness(self) -> Staleness:
        """Files new, changed (by content) or deleted since the last update."""
        from .corpus import walk

        _, table = self._open_table()
        if not self.corpus.is_dir():
            return Staleness(deleted=sorted(table.files))
        files = walk(self.corpus).files
        p = _index.plan(files, table)
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
        gen, _ = self._open()
        if not self.corpus.is_dir():
            return self.staleness()
        try:
            small = gen._table is not None or \
                os.stat(gen.table_path()).st_size <= QUICK_CHECK_TABLE_BYTES
            if small:
                return self.staleness()
            since = _index.table_updated(gen)
        except OSError:
            return self.staleness()
        from .corpus import changed_folders

        return Staleness(folders=changed_folders(self.corpus, since))

    def status(self) -> Status:
        st = Status(corpus=str(self.corpus), index=str(self.index), exists=False)
        try:
            gen, _ = self._open()
        except IndexMissing:
            return st
        gen, t = self._open_table()
        st.exists = True
        st.documents = len(t.files)
        st.passages = sum(e.passages for e in t.files.values())
        st.size_bytes = _index.index_size(self.index)
        st.built, st.updated = t.built, t.updated
        st.schema = gen.marker.get("schema")
        st.generation = gen.marker.get("current")
        st.stale = self.staleness()
        st.skipped = list(t.skipped)
        return st
